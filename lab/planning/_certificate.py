"""The proof that comes with a plan: an exactly feasible plan and a dual bound.

An iterative method ends near, not at, the feasible set and the optimum. This
module turns any intensities x and any prices into evidence that needs no trust
in the method:

* :func:`repair` makes x feasible: clip to 0 ≤ x ≤ c; while some product is
  used more than it is made, run the technique that makes most of it among those
  below their capacity a little more (within its capacity; after a few rounds, what
  is still short is made at once by a value solve on those makers' economy) or
  scale every technique that uses it down by the
  product's supply/use ratio (the rescaling step of Cockshott's algorithm, used
  here only to remove the small violations of a converging iterate); finally
  scale x by one factor so that no resource is over-used. With s⁰ ≥ 0 the last
  step cannot create a negative net output. Where a plan must reach required net
  outputs (the terminal stocks of a multi-year plan, so x = 0 is not a plan), the
  repaired x is blended with a known feasible plan, just enough to reach them.
* :func:`dual_bound` evaluates the Lagrangian dual of the harmony programme or of
  the plan-ray LP at prices p ≥ 0 (products) and λ ≥ 0 (resources). By weak
  duality it is an upper bound on every feasible plan's objective, so
  bound − objective(repaired x) is a certified optimality gap.

Technique intensities are bounded in the dual by their capacity, by what the
limited resources allow them (ρ_q / R[q, j]) and, for techniques with neither
(holding or investing a stock, a technique that needs only produced inputs), by
what their inputs allow: a technique can use no more of a product than all its
makers together can supply (:func:`implied_bounds`). So the bound stays finite
on every bounded problem, whatever prices the method has reached.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lab.planning import _harmony

__all__ = ["Evidence", "Objective", "dot", "repair", "dual_bound", "evidence", "implied_bounds",
           "supply_bounds", "feasibility", "objective_value", "relative_gap",
           "FEASIBILITY_TOL"]

#: Largest relative violation (of a product's gross flow, a resource limit or a
#: capacity) with which a plan still counts as feasible.
FEASIBILITY_TOL = 1e-9

#: Rounds of :func:`repair` after which shortages still present are made at once by a
#: value solve on the makers' economy (:func:`_produce`).
SOLVE_AFTER = 8

#: Sweeps of implied_bounds that only tighten bounds already finite.
TIGHTEN = 5

#: Most value solves of :func:`rebalance` (the first, then one for each shrinking of
#: fixed techniques whose product the new makers' intensities would over-supply).
REBALANCE_ROUNDS = 8
#: Plan rays are rebalanced (:func:`rebalance`) only where the repaired plan is further
#: than this from the bound (relative): closer, it is already certified to rounding.
REBALANCE_FROM = 1e-12
#: After rebalanced plans lost, one certificate in at most this many rebalances.
REBALANCE_BACKOFF = 4

#: Flows below this share of the largest gross flow are judged against that share:
#: a shortage of 10⁻¹⁵ of the plan's largest flow is rounding, however small the
#: product's own flow is.
FLOW_FLOOR = 1e-6


@dataclass(frozen=True)
class Objective:
    """What a plan maximises.

    ``mode`` is ``"harmony"`` (Σ w·H(s) over the targets) or ``"plan-ray"``
    (Σ over groups g of φ_g, φ_g = min over the group's targets of n_i / t_i).
    ``groups`` gives each target (in the order of ``problem.target_index``) its
    group, numbered 0 … G − 1; ``None`` is one group (the plan ray of MATH.md §3).
    """

    mode: str
    groups: np.ndarray | None = None

    @property
    def n_groups(self) -> int:
        return 1 if self.groups is None else int(self.groups.max()) + 1


def dot(a: np.ndarray, b: np.ndarray) -> float:
    """aᵀb by NumPy's own (pairwise) summation: no BLAS call, whose threads would
    compete with the planner's kernels (a 60,000-long ddot took 2.7 ms instead of
    0.16 ms beside a busy process), and the same sum whatever BLAS does. Products
    beyond the float range give ±inf without a warning (as a bound, inf proves nothing,
    and the callers treat it so)."""
    with np.errstate(over="ignore"):
        return float(np.add.reduce(np.multiply(a, b)))


def limited_rows(problem, limited: np.ndarray) -> sp.csr_array:
    """R[limited] as CSR, cached: a sparse product instead of a dense BLAS one (the
    resource rows of a multi-year plan are mostly zeros)."""
    key = ("limited_R", tuple(np.flatnonzero(limited)))
    if key not in problem._cache:
        problem._cache[key] = without_zeros(sp.csr_array(problem.R[limited]))
    return problem._cache[key]


def without_zeros(M):
    """``M`` without stored zeros (a copy only where it has some; inputs are read-only)."""
    if M.nnz and not np.all(M.data != 0):
        M = M.copy()
        M.eliminate_zeros()
    return M


def _make(problem) -> sp.csr_array:
    """B as CSR without stored zeros (the identity in the square case), cached."""
    if "make_csr" not in problem._cache:
        if problem.B is None:
            B = sp.identity(problem.n_products, format="csr")
        else:
            B = without_zeros(sp.csr_array(problem.B))
        problem._cache["make_csr"] = B
    return problem._cache["make_csr"]


def _column_min(indptr, indices, values_at_rows, k, empty=1.0):
    """min over each column's stored rows of ``values_at_rows[row]`` (``empty`` if none)."""
    out = np.full(k, empty)
    counts = np.diff(indptr)
    nonempty = counts > 0
    if indices.size:
        g = values_at_rows[indices]
        out[nonempty] = np.minimum.reduceat(g, indptr[:-1][nonempty])
    return out


def implied_bounds(problem, limited: np.ndarray, *, max_sweeps: int | None = None
                   ) -> np.ndarray:
    """Upper bound on each intensity that every feasible plan respects.

    Directly: the capacity and ρ_q / R[q, j] for every limited resource. Through the
    product balances: technique j uses A_ij units of product i per unit, and no plan
    uses more of i than s⁰_i plus all its makers' largest output, so
    x_j ≤ (s⁰_i + Σ_l B_il·ub_l) / A_ij. Sweeps of this propagation run while bounds
    become finite (at most m + 1 sweeps, each O(nnz)), then at most ``TIGHTEN`` more
    while one falls by more than 0.1 %; every iterate is valid, so stopping early only
    loosens the bound (which matters only where prices leave a positive profit).
    Cached on the problem.
    """
    key = ("implied_bounds", tuple(np.flatnonzero(limited)), max_sweeps)
    if key in problem._cache:
        return problem._cache[key]
    ub = np.array(problem.capacities, dtype=np.float64)
    R = problem.R[limited]
    rho = problem.available[limited]
    with np.errstate(divide="ignore"):
        per = np.where(R > 0, rho[:, None] / np.where(R > 0, R, 1.0), np.inf)
    if per.size:
        ub = np.minimum(ub, per.min(axis=0))
    A = without_zeros(sp.csc_array(problem.A))
    B = _make(problem)
    s0 = problem.initial_stocks
    k = problem.n_techniques
    sweeps = problem.n_products + 1 + TIGHTEN if max_sweeps is None else max_sweeps
    tightening = 0
    for _ in range(sweeps):
        if not A.nnz:
            break
        supply = s0 + B @ ub
        with np.errstate(divide="ignore", invalid="ignore"):
            per_input = supply[A.indices] / A.data
        through = _column_min(A.indptr, np.arange(A.nnz), per_input, k, empty=np.inf)
        new = np.minimum(ub, through)
        newly_finite = int(np.isfinite(new).sum() - np.isfinite(ub).sum())
        both = np.isfinite(new) & np.isfinite(ub) & (ub > 0)
        fell = float(np.max(1.0 - new[both] / ub[both])) if both.any() else 0.0
        ub = new
        if newly_finite == 0:
            tightening += 1
            if fell <= 1e-3 or tightening >= TIGHTEN:
                break
    ub.flags.writeable = False
    problem._cache[key] = ub
    return ub


def supply_bounds(problem, ub: np.ndarray) -> np.ndarray:
    """Largest amount of each product any feasible plan can make: s⁰ + B·ub."""
    return problem.initial_stocks + _make(problem) @ ub


def _flow_scale(gross: np.ndarray) -> np.ndarray:
    """Per product, the flow a shortage is measured against: its gross flow, but at
    least ``FLOW_FLOOR`` times the largest gross flow of the plan."""
    top = float(gross.max()) if gross.size else 0.0
    return np.maximum(gross, FLOW_FLOOR * top)


def _required(problem) -> np.ndarray | None:
    return problem._required


def _makers(problem, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each product, the technique with the most room to make more of it at ``x``
    (the uncapped ones first, then the most output left under the capacity), the one
    that makes most of it among equals, and its B entry. (The technique making most
    had been chosen while below its capacity at all: at 10⁴ products with capacities,
    makers a hair below theirs capped the repair of a plan by PDHG at φ = 0.84 of
    1.058.)"""
    if problem.B is None:
        return np.arange(problem.n_products), np.ones(problem.n_products)
    Bc = _make(problem)
    room = Bc.data * np.maximum(problem.capacities[Bc.indices] - x[Bc.indices], 0.0)
    return _best_per_product(problem, Bc, x, room)


def _best_per_product(problem, Bc: sp.csr_array, x: np.ndarray, first):
    """(maker, coef): for each product the technique with the largest ``first`` (one
    value per entry of ``Bc``), among equals the one making most at ``x`` (ties at
    x = 0: the largest coefficient), and its B entry; -1 where no technique makes it."""
    m = problem.n_products
    maker = np.full(m, -1, dtype=np.intp)
    coef = np.zeros(m)
    rows = np.repeat(np.arange(m), np.diff(Bc.indptr))
    out = Bc.data * (x[Bc.indices] + 1e-300)
    order = np.lexsort((out, first, rows))
    last = np.flatnonzero(np.diff(np.append(rows[order], m)) != 0)
    picked = order[last]
    maker[rows[picked]] = Bc.indices[picked]
    coef[rows[picked]] = Bc.data[picked]
    return maker, coef


def repair(problem, x: np.ndarray, *, anchor: np.ndarray | None = None,
           rtol: float = 0.5 * FEASIBILITY_TOL, max_rounds: int = 2000
           ) -> tuple[np.ndarray, int]:
    """A plan near ``x`` that meets every constraint, and the rounds it took.

    Shortages (use above supply by more than ``rtol`` of the gross flow) are first
    produced: the technique with most room to make the short product runs a little
    more (within its capacity), which moves the shortage upstream where it shrinks
    geometrically in a productive economy; what is still short after
    :data:`SOLVE_AFTER` rounds is made at once (:func:`_produce`), together with what
    the targets' net outputs at ``x`` lost on the way. Shortages that remain (a
    product no technique can make, a joint maker) are then removed by scaling down
    the techniques that use the product. Resource limits are met last, by scaling
    every intensity by one factor ≤ 1. Where the problem requires net outputs
    (n ≥ q) that this leaves short, x is blended with ``anchor``, a feasible plan:
    x ← (1 − a)·x + a·anchor with the smallest a that reaches them (every other
    constraint holds for both, so for the blend too).
    """
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, problem.capacities)
    x = np.where(np.isfinite(x), x, 0.0)
    A = problem.A
    B = None if problem.B is None else _make(problem)
    s0 = problem.initial_stocks
    q = _required(problem)
    cap = problem.capacities
    rounds = 0
    maker = maker_coef = None
    # a target's net output must be ≥ 0 exactly: for a target far below the flows
    # that make it, a shortage at the rounding level is a large negative fulfilment
    strict = problem.targets > 0
    # the targets' net outputs at x, kept when shortages are made at once: made only up
    # to 0, targets that the growth rounds had used up stayed at n = 0 (the plan ray at
    # 10³ products with technique choice and capacities, 2,000 PDHG iterations, bound
    # 1.29: 0.918 without this, 1.074 with it; 0 when users were also cut back early)
    keep = np.zeros(problem.n_products)
    if strict.any():
        keep[strict] = np.maximum(problem.net_output(x)[strict], 0.0) * (1.0 - 1e-9)
    for rounds in range(1, max_rounds + 1):  # noqa: B007 - rounds is reported
        supply = s0 + (x if B is None else B @ x)
        use = A @ x if q is None else A @ x + q
        short = use - supply > np.where(strict, 0.0, rtol * _flow_scale(supply + use))
        if not short.any():
            rounds -= 1
            break
        if rounds > max_rounds // 10:
            # growing makers has not settled it (a cycle through a technique at its
            # capacity): from here on only shrink, which decreases x monotonically
            f = np.ones(problem.n_products)
            with np.errstate(divide="ignore", invalid="ignore"):
                f[short] = np.clip(supply[short] / use[short], 0.0, 1.0) * (1.0 - rtol)
            x = x * _column_min(A.indptr, A.indices, f, problem.n_techniques)
            continue
        if maker is None:
            maker, maker_coef = _makers(problem, x)
        if rounds == SOLVE_AFTER:
            grown = _produce(problem, x, maker, maker_coef, use + keep - supply)
            if grown is not None:
                x = grown
                continue
        f = np.ones(problem.n_products)
        # produce what is missing where the main maker has room (within its capacity) ...
        i = np.flatnonzero(short & (maker >= 0))
        if i.size:
            # the maker may use some of its own product: grow by the net coefficient
            net = np.asarray(problem.net_matrix()[i, maker[i]]).ravel()
            i, net = i[net > 0], net[net > 0]
            # at least a little above the rounding of the product's own balance
            need = np.maximum((use[i] - supply[i]) * (1.0 + 1e-9),
                              64 * np.finfo(float).eps * (use[i] + supply[i])) / net
            room = cap[maker[i]] - x[maker[i]]
            can = need <= room
            grow = np.zeros(problem.n_techniques)
            np.add.at(grow, maker[i[can]], need[can])
            x = np.minimum(x + grow, cap)
            short[i[can]] = False
        # ... and use less of it where it cannot be made, once making it at once
        # (round SOLVE_AFTER) has not settled it: cutting users back before then
        # cascades down the supply chains and takes the targets with it
        if short.any() and rounds > SOLVE_AFTER:
            with np.errstate(divide="ignore", invalid="ignore"):
                f[short] = np.clip(supply[short] / use[short], 0.0, 1.0) * (1.0 - rtol)
            x = x * _column_min(A.indptr, A.indices, f, problem.n_techniques)
    limited = np.isfinite(problem.available)
    if limited.any():
        used = limited_rows(problem, limited) @ x
        rho = problem.available[limited]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(used > rho, rho / used, 1.0)
        alpha = float(ratio.min()) if ratio.size else 1.0
        if alpha < 1.0:
            x = x * alpha
    if q is not None and anchor is not None:
        x = _blend(problem, x, anchor, q)
    return x, rounds


def _makers_solver(problem, products: np.ndarray, maker: np.ndarray, coef: np.ndarray):
    """A value solver of the makers' economy: z = A_P z + d gives the extra outputs z that
    meet net outputs d when each product p of ``products`` is made by its technique
    ``maker[p]`` (B entry ``coef[p]``)."""
    from lab.economy import Economy
    from lab.values._solver import ValueSolver

    m = problem.n_products
    # S maps product p to 1/β_p units of its maker: A @ S holds the inputs per unit of p
    S = sp.csc_array((1.0 / coef[products], (maker[products], products)),
                     shape=(problem.n_techniques, m))
    inputs = sp.csc_array(sp.csc_array(problem.A) @ S)
    return ValueSolver(Economy(sp.csc_array(inputs.T), np.zeros((1, m))), rtol=1e-13)


def _produce(problem, x: np.ndarray, maker: np.ndarray, coef: np.ndarray,
             shortage: np.ndarray) -> np.ndarray | None:
    """``x`` with every product's shortage made at once by its maker, or None.

    Growing each short product's maker moves the shortage to its inputs, where it
    shrinks by the economy's spectral radius per round: on a plan whose products are
    balanced exactly (a simplex vertex, every intermediate product's net output 0)
    that takes hundreds of rounds, and scaling users down instead only moves the
    shortage around a cycle of balanced products (it never ends: 2,000 rounds, 0.9 s,
    per certificate of a 3,000-product harmony plan). The extra outputs z that meet
    every shortage d at once solve z = A_P z + d on the economy of the makers P (one
    value solve with the transposed matrix, as :func:`lab.planning._exact.gross_outputs`
    does); the net output of every product then rises by d_i. None where that does
    not apply: a maker that also makes another product, a makers' economy that is not
    productive or whose solve does not converge. The grown plan is scaled into the
    capacities. The makers' solver is kept on the problem for the next certificate
    with the same makers (building it took 0.6 of the 1.3 s of a repair at 10⁵
    products).
    """
    from lab.exceptions import LabError

    m = problem.n_products
    B = None if problem.B is None else _make(problem)
    has = maker >= 0
    if B is not None and np.any(
            np.bincount(B.indices, minlength=problem.n_techniques)[maker[has]] != 1):
        return None
    d = np.where(has & (shortage > 0), shortage * (1.0 + 1e-9), 0.0)
    if not d.any():
        return None
    products = np.flatnonzero(has)
    key = (products.tobytes(), maker[products].tobytes(), coef[products].tobytes())
    kept = problem._cache.get("makers_solver")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proven = kept is not None and kept[0] == key
            if proven:
                solver = kept[1]
            else:
                solver = _makers_solver(problem, products, maker, coef)
            # d is 0 where nothing is short, so its solution proves nothing about ρ, and
            # the block-wise proof factorises the cyclic blocks (9.7 s per certificate
            # of the 10⁵-product square plan ray by PDHG, against 0.2 s for the solve);
            # a row of ones solved with it proves ρ < 1 from its own values, and the
            # solver keeps that proof for its later solves
            solved = solver.solve(rhs=d if proven else np.vstack([d, np.ones(m)]))
    except LabError:
        return None
    z = np.atleast_2d(solved.values)[0]
    if not solved.converged or not np.all(np.isfinite(z)) or z.min() < 0:
        return None
    problem._cache["makers_solver"] = (key, solver)  # solved, and so proven
    grow = np.zeros(problem.n_techniques)
    np.add.at(grow, maker[products], z[products] / coef[products])
    # Makers at their capacity cannot grow, and cutting their users back instead moves
    # the shortage round a cycle (a plan by PDHG 8e-4 from feasible fell from φ = 1.058
    # to 0.38 in 2,000 rounds at 10⁴ products with capacities). Scaling x + grow by
    # s ≤ 1 scales its shortages (all ≤ 0 now) and frees s-fold room under every
    # capacity: the largest s with s·(x + grow) within the capacities keeps it feasible.
    cap = problem.capacities
    tight = (grow > 0) & np.isfinite(cap)
    scale = 1.0
    if tight.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = float(min(1.0, np.min(cap[tight] / (x[tight] + grow[tight]))))
    if not scale > 0.0:
        return None
    return np.minimum(scale * (x + grow), cap)


def rebalance(problem, x: np.ndarray, phi_max: float) -> tuple[np.ndarray | None, int]:
    """A plan ray from ``x`` with every product's net output exactly φ·t: one maker per
    product (the technique making most of it below its capacity) gets new intensities,
    every other technique keeps its own, and φ is the largest up to ``phi_max`` that the
    makers' capacities and the limited resources allow. Returns (plan, value-solve
    passes); the plan is None where this does not apply (required outputs, joint
    production, a product nobody makes) or gives no plan.

    Why: the primal-dual iterate of a plan ray with binding capacities meets its targets
    unevenly (10⁴ products with technique choice and capacities on 30 % of the
    techniques: target ratios from 1.039 to a median of 1.109 while the bound had
    reached 1.05788, so its repaired plans stayed at 1.03–1.055 and only the 184,050th
    iteration certified the gap), and a plan ray is only as good as its worst target.
    Here the makers' intensities m solve (I − A_P)(β m) = φ t − s, with s the net output
    of the techniques kept (one value solve of the makers' economy, as
    :func:`_produce`), affine in φ, so each capacity and resource limit is a ratio. A
    maker the solve would run below zero means its product is over-supplied by the
    techniques kept: those are scaled down by the surplus and the solve repeated
    (at most :data:`REBALANCE_ROUNDS` solves; their intensities only fall, so the
    shrinking ends).
    """
    from lab.exceptions import LabError

    m, k = problem.n_products, problem.n_techniques
    if problem._required is not None or not math.isfinite(phi_max) or phi_max <= 0:
        return None, 0
    B = _make(problem)
    made_by = np.bincount(B.indices, minlength=k)
    if np.any(made_by > 1):
        return None, 0  # joint production
    x = np.clip(np.where(np.isfinite(x), x, 0.0), 0.0, problem.capacities)
    # the technique making most of each product among those below their capacity
    below = x[B.indices] < problem.capacities[B.indices] * (1.0 - 1e-9)
    maker, coef = _best_per_product(problem, B, x, below)
    if np.any(maker < 0):
        return None, 0
    t = problem.targets
    cap = problem.capacities[maker]
    limited = np.isfinite(problem.available)
    R = limited_rows(problem, limited)
    R_makers = R[:, maker]
    rho = problem.available[limited]
    maker_of = np.empty(k, dtype=np.intp)  # the product each technique makes
    maker_of[B.indices] = np.repeat(np.arange(m), np.diff(B.indptr))
    passes = 0
    a = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            solver = _makers_solver(problem, np.arange(m), maker, coef)
            for _ in range(REBALANCE_ROUNDS):
                fixed = x.copy()
                fixed[maker] = 0.0
                s = problem.net_output(fixed)
                # the first solve proves ρ < 1 from a row of ones as _produce does
                rhs = np.vstack([t, s, np.ones(m)]) if a is None else s
                solved = solver.solve(rhs=rhs)
                passes += int(math.ceil(solved.matvecs))
                z = np.atleast_2d(solved.values)
                if not solved.converged or not np.all(np.isfinite(z)):
                    return None, passes
                if a is None:
                    a = np.maximum(z[0], 0.0) / coef  # (I − A_P)⁻¹ ≥ 0: rounding only
                    b = z[1] / coef
                else:
                    b = z[0] / coef
                # the makers run φ a − b: the largest φ within capacities and resources
                phi = phi_max
                rising = a > 0
                capped = np.isfinite(cap)
                if np.any(capped & ~rising & (-b > cap)):
                    return None, passes
                sel = capped & rising
                if sel.any():
                    phi = min(phi, float(np.min((cap[sel] + b[sel]) / a[sel])))
                if R.shape[0]:
                    c1 = R_makers @ a
                    c0 = R @ fixed - R_makers @ b - rho
                    if np.any((c1 <= 0) & (c0 > 0)):
                        return None, passes
                    up = c1 > 0
                    if up.any():
                        phi = min(phi, float(np.min(-c0[up] / c1[up])))
                if not phi > 0:
                    return None, passes
                xm = phi * a - b
                negative = xm < -1e-12 * float(np.max(np.abs(xm)))
                if not negative.any():
                    plan = fixed
                    plan[maker] = np.maximum(xm, 0.0)
                    return np.minimum(plan, problem.capacities), passes
                # over-supplied products: scale the techniques kept that make them
                surplus = np.zeros(m)
                surplus[negative] = -xm[negative] * coef[negative]
                supply = B @ fixed
                if np.any(supply[negative] <= 0):
                    return None, passes
                factor = np.ones(m)
                factor[negative] = np.clip(1.0 - surplus[negative] / supply[negative],
                                           0.0, 1.0)
                x = x * factor[maker_of]
    except LabError:
        return None, passes
    return None, passes


def _rebalance_due(problem) -> bool:
    """Whether this certificate rebalances (:func:`evidence`): every one while the
    rebalanced plans win, then after each loss one certificate in twice as many (up to
    :data:`REBALANCE_BACKOFF`), so that where the bound, not the plan, decides the gap
    its solves cost little. A rule on counts, kept on the problem."""
    state = problem._cache.setdefault("rebalance", {"wait": 0, "interval": 1})
    if state["wait"] > 0:
        state["wait"] -= 1
        return False
    return True


def _rebalanced(problem, better: bool) -> None:
    state = problem._cache["rebalance"]
    state["interval"] = 1 if better else min(2 * state["interval"], REBALANCE_BACKOFF)
    state["wait"] = state["interval"] - 1


def _blend(problem, x: np.ndarray, anchor: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(1 − a)·x + a·anchor with the smallest a ∈ [0, 1] for which n ≥ q holds."""
    n = problem.net_output(x)
    na = problem.net_output(anchor)
    rows = np.flatnonzero(q > 0)
    short = q[rows] - n[rows]
    need = short > FEASIBILITY_TOL * 0.25 * np.maximum(q[rows], 1e-300)
    if not need.any():
        return x
    room = na[rows] - n[rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(room > 0, short / room, np.inf)
    # a little more than needed, so that rounding does not leave a shortage
    a = float(np.max(a[need])) * (1.0 + 1e-12) + 1e-15
    if not a < 1.0:
        return np.array(anchor, dtype=np.float64)
    return (1.0 - a) * x + a * anchor


def feasibility(problem, x: np.ndarray, n: np.ndarray) -> float:
    """Largest relative violation of n ≥ q, R x ≤ ρ and 0 ≤ x ≤ c (0 = feasible).

    A shortage counts relative to :func:`_flow_scale` of the product's gross flow
    (for a required net output q_i > 0, at least q_i).
    """
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(n))):
        return np.inf
    worst = 0.0
    q = _required(problem)
    gross = problem.initial_stocks + (x if problem.B is None else _make(problem) @ x) \
        + problem.A @ x
    short = np.maximum(-n, 0.0) if q is None else np.maximum(q - n, 0.0)
    if short.any():
        scale = _flow_scale(gross) if q is None else np.maximum(_flow_scale(gross), q)
        worst = max(worst, float(np.max(short / np.maximum(scale, 1e-300))))
    limited = np.isfinite(problem.available)
    if limited.any():
        used = limited_rows(problem, limited) @ x
        rho = problem.available[limited]
        over = np.maximum(used - rho, 0.0)
        if over.any():
            worst = max(worst, float(np.max(over / np.maximum(rho, 1e-300))))
    capped = np.isfinite(problem.capacities)
    over = np.maximum(x[capped] - problem.capacities[capped], 0.0)
    if over.any():
        worst = max(worst, float(np.max(over / np.maximum(problem.capacities[capped], 1e-300))))
    if (x < 0).any():
        worst = max(worst, float(np.max(-x[x < 0] / max(float(np.abs(x).max()), 1e-300))))
    return worst


def _lower_prices(problem, p: np.ndarray, resource_cost: np.ndarray, sweeps: int
                  ) -> tuple[np.ndarray, int]:
    """Lower product prices where a technique would earn more than its costs.

    Sweeps of p_i ← p_i·min over the techniques j making i of cost_j / revenue_j
    (those with a capacity keep their gain: it is the capacity's rent). In the square
    case this is p_i ← cost_i: value iteration from above; with joint production
    every output of a gaining technique is cut in proportion. It moves approximate
    prices towards dual feasibility, so that few reduced profits remain for the bound
    to pay for. Any p ≥ 0 gives a valid bound; this only makes it tighter. Returns
    the prices and the sweeps done.
    """
    if sweeps <= 0:
        return p, 0
    B = _make(problem)
    BT = problem._cache.get("make_T")
    if BT is None:
        BT = problem._cache["make_T"] = sp.csr_array(B.T)
    AT = problem._cache.get("use_T")
    if AT is None:
        AT = problem._cache["use_T"] = sp.csr_array(problem.A.T)
    uncapped = ~np.isfinite(problem.capacities)
    done = 0
    for done in range(1, sweeps + 1):  # noqa: B007 - reported
        revenue = BT @ p
        cost = AT @ p + resource_cost
        gain = np.where(uncapped, revenue - cost, 0.0)
        gaining = gain > 16 * np.finfo(float).eps * (cost + np.abs(revenue))
        if not gaining.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(gaining, cost / np.where(revenue > 0, revenue, 1.0), 1.0)
        p = p * _row_min(B, ratio)
    return p, done


def _row_min(B: sp.csr_array, values_at_cols: np.ndarray) -> np.ndarray:
    """min over each row's stored columns of ``values_at_cols[col]`` (1 for empty rows)."""
    out = np.ones(B.shape[0])
    counts = np.diff(B.indptr)
    nonempty = counts > 0
    if B.indices.size:
        g = values_at_cols[B.indices]
        out[nonempty] = np.minimum.reduceat(g, B.indptr[:-1][nonempty])
    return np.minimum(out, 1.0)


def dual_bound(problem, objective: Objective, p: np.ndarray, lam: np.ndarray,
               limited: np.ndarray, ub: np.ndarray, *, sweeps: int = 60):
    """Upper bound on the objective at prices p ≥ 0, λ ≥ 0 (λ over ``limited`` resources).

    Returns (bound, p, λ, reduced profit per technique, sweeps of price lowering) after
    the normalisation that makes the bound finite where possible (plan rays:
    Σ_{i ∈ g} p_i·t_i ≥ 1 for every group g, by one common factor).
    """
    p = np.where(np.isfinite(p), np.maximum(p, 0.0), 0.0)
    lam = np.where(np.isfinite(lam), np.maximum(lam, 0.0), 0.0)
    t = problem.targets
    R = limited_rows(problem, limited)
    RT = problem._cache.get(("limited_RT", R.shape))
    if RT is None:
        RT = problem._cache[("limited_RT", R.shape)] = sp.csr_array(R.T)
    rho = problem.available[limited]
    p, done = _lower_prices(problem, p, RT @ lam, sweeps)
    if objective.mode == "plan-ray":  # the column of each φ_g requires p·t_g ≥ 1
        idx = problem.target_index
        per_group = np.zeros(objective.n_groups)
        groups = np.zeros(idx.size, dtype=np.intp) if objective.groups is None \
            else objective.groups
        np.add.at(per_group, groups, p[idx] * t[idx])
        scale = float(per_group.min())
        if not scale > 0 or not np.isfinite(scale):
            return np.inf, p, lam, np.zeros(problem.n_techniques), done
        p = p / scale
        lam = lam / scale
    AT = problem._cache.get("use_T")
    if AT is None:
        AT = problem._cache["use_T"] = sp.csr_array(problem.A.T)
    NT = problem._net_matrix_T()
    resource_cost = RT @ lam
    cost = AT @ p + resource_cost
    profit = NT @ p - resource_cost
    # a reduced profit at the rounding level of its own terms is no evidence of a
    # better plan (it would make the bound infinite for techniques without limits)
    profit = np.where(np.abs(profit) <= 16 * np.finfo(float).eps * (cost + np.abs(profit)),
                      0.0, profit)
    lam = lam.copy()
    for q in range(lam.size):  # one pass of coordinate descent on the resource prices
        gain = np.maximum(profit, 0.0)
        r_q = R[[q]].toarray().ravel()
        delta = _best_raise(gain, r_q, ub, rho[q])
        if delta > 0:
            lam[q] += delta
            profit = profit - delta * r_q
    gain = np.maximum(profit, 0.0)
    positive = gain > 0
    if np.any(positive & ~np.isfinite(ub)):
        return np.inf, p, lam, profit, done
    stocks = problem.initial_stocks
    q_req = _required(problem)
    bound = (dot(p, stocks if q_req is None else stocks - q_req) + dot(lam, rho)
             + dot(ub[positive], gain[positive]))
    if objective.mode == "harmony":
        idx = problem.target_index
        bound += float(np.sum(_harmony.conjugate(p[idx], t[idx], problem.weights[idx])))
    return bound, p, lam, profit, done


def _best_raise(gain: np.ndarray, r_q: np.ndarray, ub: np.ndarray, rho_q: float) -> float:
    """δ ≥ 0 minimising δ·ρ_q + Σ_j ub_j·max(0, gain_j − δ·r_qj).

    Raising one resource price by δ lowers every technique's reduced profit by
    δ·r_qj; the function is convex and piecewise linear in δ, with breakpoints
    gain_j / r_qj, so the minimum is found by sorting them.
    """
    active = (gain > 0) & (r_q > 0)
    if not active.any():
        return 0.0
    brk = gain[active] / r_q[active]
    weight = ub[active] * r_q[active]  # slope contribution while δ < breakpoint
    order = np.argsort(-brk, kind="stable")
    brk, weight = brk[order], weight[order]
    # slope at δ just below brk[i] is ρ_q − Σ_{j ≤ i} weight_j (techniques still gaining)
    cum = np.cumsum(weight)
    over = np.flatnonzero(cum >= rho_q)
    if over.size == 0:
        return 0.0  # the slope is positive everywhere: do not raise
    return float(brk[over[0]])


@dataclass
class Evidence:
    """A feasible plan (x, n, objective) and a bound proven by prices (p, λ)."""

    x: np.ndarray
    n: np.ndarray
    objective: float
    bound: float
    gap: float
    relative_gap: float
    prices: np.ndarray
    resource_prices: np.ndarray
    profit: np.ndarray
    infeasibility: float
    repair_rounds: int
    price_sweeps: int = 0
    rebalance_passes: int = 0

    @property
    def work(self) -> int:
        """What making this evidence cost, in iterations of the primal-dual method: each
        repair round and each price sweep is about two sparse products over A, as an
        iteration is two over K (a round took 1.25 ms against 0.57 ms an iteration at
        10⁴ products with technique choice and capacities); a pass of the rebalancing
        value solves is one product over the makers' part of A, counted as a round."""
        return 2 * (self.repair_rounds + self.price_sweeps) + self.rebalance_passes


def objective_value(problem, objective: Objective, n: np.ndarray) -> float:
    """Σ w·H(s) (harmony) or Σ_g min_{i ∈ g} n_i / t_i (plan rays) at net output n."""
    idx = problem.target_index
    t = problem.targets[idx]
    if objective.mode == "plan-ray":
        with np.errstate(over="ignore"):
            ratio = n[idx] / t
        if objective.groups is None:
            return float(np.min(ratio))
        per = np.full(objective.n_groups, np.inf)
        np.minimum.at(per, objective.groups, ratio)
        return float(np.sum(per))
    return dot(problem.weights[idx], _harmony.harmony_of(n[idx], t))


def relative_gap(mode: str, objective_value: float, bound: float) -> float:
    gap = bound - objective_value
    if not np.isfinite(gap):
        return np.inf
    if mode == "plan-ray":
        scale = max(abs(objective_value), abs(bound))
        return 0.0 if scale == 0 else max(gap, 0.0) / scale
    return max(gap, 0.0) / max(1.0, abs(objective_value))


def evidence(problem, objective: Objective, x: np.ndarray, p: np.ndarray,
             lam_limited: np.ndarray, limited: np.ndarray, ub: np.ndarray, *,
             anchor: np.ndarray | None = None, sweeps: int = 60,
             repair_fn=None, rebalanced: bool = False) -> Evidence:
    """Repair ``x``, bound with (p, λ), and measure everything a result reports.

    ``repair_fn(x) -> (x, rounds)`` replaces :func:`repair` where the problem's
    structure allows a better one (the forward pass of multi-year plans); required
    outputs are then reached by blending with ``anchor`` as in :func:`repair`.
    ``rebalanced``: a single plan ray's ``x`` is also rebalanced on its makers
    (:func:`rebalance`; for iterates, whose targets are met unevenly), and the better
    plan is kept.
    """
    if repair_fn is None:
        xf, rounds = repair(problem, x, anchor=anchor)
    else:
        xf, rounds = repair_fn(x)
        if problem._required is not None and anchor is not None:
            xf = _blend(problem, xf, anchor, problem._required)
    n = problem.net_output(xf)
    obj = objective_value(problem, objective, n)
    bound, p, lam, profit, swept = dual_bound(problem, objective, p, lam_limited, limited,
                                              ub, sweeps=sweeps)
    lam_all = np.zeros(problem.n_resources)
    lam_all[limited] = lam
    infeasibility = feasibility(problem, xf, n)
    passes = 0
    if rebalanced and repair_fn is None and objective.mode == "plan-ray" \
            and objective.groups is None \
            and math.isfinite(bound) and (infeasibility > FEASIBILITY_TOL or relative_gap(
                objective.mode, obj, bound) > REBALANCE_FROM) and _rebalance_due(problem):
        # a second plan: x's makers rebalanced so that every target gets the same ratio
        xr, passes = rebalance(problem, x, bound)
        better = False
        if xr is not None:
            xr, more = repair(problem, xr, anchor=anchor)
            rounds += more
            nr = problem.net_output(xr)
            obj_r = objective_value(problem, objective, nr)
            infeasible_r = feasibility(problem, xr, nr)
            better = infeasible_r <= FEASIBILITY_TOL and (infeasibility > FEASIBILITY_TOL
                                                          or obj_r > obj)
            if better:
                xf, n, obj, infeasibility = xr, nr, obj_r, infeasible_r
        _rebalanced(problem, better)
    # a plan that could not be made feasible proves nothing
    rel = relative_gap(objective.mode, obj, bound) \
        if infeasibility <= FEASIBILITY_TOL else np.inf
    return Evidence(x=xf, n=n, objective=obj, bound=bound, gap=bound - obj,
                    relative_gap=rel, prices=p, resource_prices=lam_all, profit=profit,
                    infeasibility=infeasibility, repair_rounds=rounds, price_sweeps=swept,
                    rebalance_passes=passes)
