"""Labour values with technique choice: the cheapest technique for every product.

With several techniques making a product (MATH.md §2), the labour value of product p is
that of its cheapest technique,

    v_p = min over techniques j making p of (l_j + Σᵢ vᵢ A[i, j]) / B[p, j].

**Policy iteration** (Howard) finds it: fix one technique per product (a *policy*), solve
that square economy for its values with lab's value solver, switch every product whose
cheapest technique at those values is cheaper than its current one by more than rounding,
and repeat until no product switches. Values never increase from one round to the next,
and the policy space is finite, so it ends; on generated economies it takes a handful of
rounds. The answer is proven by the Bellman residual, recomputed from A, B and l:
max_p |v_p − min_j c_j(v)| / ‖v‖∞ ≤ rtol, where c_j(v) is technique j's unit cost at v.

Every round solves the same structure: the square economy is held with the *union* of
the input patterns of each product's techniques (a technique's coefficients in its
product's column, zeros in the slots of the others). The strongly connected components
of the union graph are valid for every policy, so they are computed once, and each round
changes coefficients only (:meth:`ValueSolver.update`), starting warm from the last
values.

**The first policy** comes from one pass over those components in dependency order
(:func:`_swept_policy`): a product outside cycles takes its cheapest technique at its
inputs' values, which are final by then (exact, as in a shortest-path search on a
DAG); a small cyclic component is swept Gauss–Seidel until its values settle; a large
one gets its own policy iteration, each choice evaluated by BiCGSTAB on the component
alone. On large economies the pass follows the component search, which runs on a
thread of its own. Policy iteration over the whole economy still proves the answer: on
generated economies of 10⁶ products it confirms the pass's choice in one round, where
from the cheapest techniques by direct cost it took four. That round needs no value
solver where the pass's values prove themselves: the Bellman residual at them is the
value solver's residual for the policy that is cheapest at them, so when that policy is
the pass's own, the residual meets the rule and a Collatz–Wielandt bound from the values
proves the policy's economy productive, they are the answer.

By the non-substitution theorem (Samuelson; Arrow; Koopmans), when every technique makes
one product and labour is the only resource, the chosen techniques are optimal for every
target vector: the cheapest plan for any targets uses them only.

Behaviour at the edges
----------------------
* **Joint production** (a technique making several products) is not covered by the
  theorem, and values are then not determined by a cost-minimising choice alone:
  :func:`cheapest_values` raises :class:`~lab.exceptions.InvalidProblemError` naming the
  techniques (use :func:`lab.plan` for such problems).
* **A product that no technique makes** has no value: the error names it.
* **Ties**: products whose best techniques cost the same to within rounding (relative
  ``10·rtol``) keep their current technique, else take the first one in technique order
  (``ties="first"``, deterministic); ``ties="error"`` raises, naming them.
* **No productive choice**: if the first policy (the cheapest by direct labour) is not
  productive, the first rounds are value iteration from below (v⁰ = 0,
  vᵗ⁺¹ = min_j c_j(vᵗ)) until a productive policy appears; if none appears,
  :class:`~lab.exceptions.NotProductiveError` is raised.
"""

from __future__ import annotations

import math
import time
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from lab import _ops
from lab.exceptions import (
    ConvergenceWarning,
    InvalidProblemError,
    NotConvergedError,
    NotProductiveError,
)

__all__ = ["cheapest_values", "PolicyIteration", "is_technology", "MAX_ROUNDS"]

#: Policy-iteration rounds before giving up (each round strictly lowers some value).
MAX_ROUNDS = 200
#: Value-iteration sweeps tried to find a productive first policy.
MAX_VALUE_SWEEPS = 200
#: Gauss–Seidel sweeps at most over a small cyclic component in the first pass, and
#: over a large one before its own policy iteration (the 50,000-product core of 10⁶
#: generated products: 1 sweep and the component's choice 257 ms, 6 sweeps 379 ms).
SMALL_BLOCK_SWEEPS = 50
LARGE_BLOCK_SWEEPS = 1
#: Relative residuals of the inner solves that choose a large component's techniques,
#: the next once the choice settles at the last (that core: BiCGSTAB 108 ms in all
#: against 197 ms at 1e-8 throughout, the same choice).
COMPONENT_TOLS = (1e-4, 1e-8)


def is_technology(obj) -> bool:
    """Whether ``obj`` describes techniques: use ``A``, make ``B``, resources ``R`` and
    ``product_codes``/``technique_codes`` (a :class:`~lab.PlanningProblem`, say)."""
    return all(hasattr(obj, name) for name in ("A", "B", "R", "product_codes",
                                                 "technique_codes"))


class _Technology:
    """Use, make and labour of the techniques, grouped by the product each one makes."""

    def __init__(self, problem):
        A = sp.csc_array(problem.A)
        R = np.atleast_2d(np.asarray(problem.R, dtype=np.float64))
        m, k = A.shape
        self.m, self.k = m, k
        self.product_codes = np.asarray(problem.product_codes, dtype=object)
        self.technique_codes = np.asarray(problem.technique_codes, dtype=object)
        if R.shape[1] != k:
            raise InvalidProblemError(f"resources have {R.shape[1]} columns but there are "
                                      f"{k} techniques")
        B = problem.B
        if B is None:  # square: technique j makes product j
            makes = np.arange(k)
            beta = np.ones(k)
        else:
            B = sp.csc_array(B, copy=True)  # the problem's arrays are read-only
            B.eliminate_zeros()
            counts = np.diff(B.indptr)
            joint = np.flatnonzero(counts > 1)
            if joint.size:
                shown = ", ".join(repr(str(self.technique_codes[j])) for j in joint[:5])
                raise InvalidProblemError(
                    f"technique choice values need one product per technique, but "
                    f"{joint.size} technique(s) make several (joint production): {shown}"
                    f"{', ...' if joint.size > 5 else ''}. The non-substitution theorem does "
                    "not cover joint production; use lab.plan for such problems")
            if (counts == 0).any():
                idle = np.flatnonzero(counts == 0)
                raise InvalidProblemError(
                    f"{idle.size} technique(s) make nothing: "
                    + ", ".join(repr(str(self.technique_codes[j])) for j in idle[:5]))
            makes = B.indices.astype(np.int64)
            beta = B.data.astype(np.float64)
        made = np.bincount(makes, minlength=m)
        if (made == 0).any():
            orphans = np.flatnonzero(made == 0)
            raise InvalidProblemError(
                f"{orphans.size} product(s) are made by no technique, so they have no "
                f"labour value: "
                + ", ".join(repr(str(self.product_codes[p])) for p in orphans[:5])
                + (", ..." if orphans.size > 5 else ""))
        self.makes = makes
        self.beta = beta
        self.labour = R[0]
        # techniques sorted by product: product p has techniques by_product[ptr[p]:ptr[p+1]]
        idx = np.int32 if k < np.iinfo(np.int32).max else np.int64
        self.by_product = np.argsort(makes, kind="stable").astype(idx)
        self.ptr = np.zeros(m + 1, dtype=idx)
        np.cumsum(made, out=self.ptr[1:])
        # the union's kernels merge sorted rows; a problem's A says so without a look
        source = problem.A
        if getattr(source, "format", None) == "csc" and source.has_sorted_indices:
            A.has_sorted_indices = True
        elif not A.has_sorted_indices:
            A = A.sorted_indices()
        self.A = A
        # Aᵀ as CSR arrays for the unit costs c = (l + Aᵀv) / β of every technique
        self.At = (A.indptr, A.indices, A.data)

    def costs(self, K, v, *, inputs=None) -> np.ndarray:
        """Unit cost of every technique at values v; ``inputs`` (length k), if given,
        receives Aᵀv, each technique's inputs at v before its labour."""
        if not v.any() and inputs is None:  # direct costs, no pass over A
            return self.labour / self.beta
        product = np.empty(self.k) if inputs is None else inputs
        K.csr_matvec(*self.At, v, product)
        c = product if inputs is None else np.empty(self.k)  # the caller keeps ``inputs``
        np.add(product, self.labour, out=c)
        c /= self.beta
        return c

    def best(self, K, costs, current, tol_rel):
        """(cheapest technique per product, its cost, products tied to within rounding);
        the current technique is kept unless another is cheaper beyond rounding."""
        idx = self.by_product.dtype
        best = np.empty(self.m, dtype=idx)
        low = np.empty(self.m)
        tied = np.empty(self.m, dtype=np.uint8)
        keep = np.zeros(0, dtype=idx) if current is None else current.astype(idx, copy=False)
        K.cheapest_techniques(costs, self.by_product, self.ptr, keep, tol_rel, best, low, tied)
        return best.astype(np.int64), low, np.flatnonzero(tied)


def cheapest_values(problem, options, *, callback=None, ties: str = "first"):
    """Values of the cheapest techniques by policy iteration (see the module docstring).

    Parameters
    ----------
    problem : planning problem (``A``, ``B``, ``R``, codes)
    options : ValuesOptions
        For every policy evaluation (its ``rtol`` is also the Bellman tolerance).
    callback : callable, optional
        ``callback(round, bellman_residual)`` after each round.
    ties : {"first", "error"}

    Returns
    -------
    ValuesResult
        With ``techniques`` and ``technique_codes``; ``method`` names the value solver's
        method, ``iterations`` counts policy rounds, ``residual`` is the Bellman residual.
    """
    return PolicyIteration(problem, options).solve(callback=callback, ties=ties)


class PolicyIteration:
    """The cheapest techniques of ``problem`` at unit costs that change from call to call.

    The exact plan routes price several resources at once: they need the cheapest
    techniques at costs λᵀR for a sequence of prices λ. Between calls this keeps the
    union pattern, its structure analysis and the last policy with its values, so each
    :meth:`solve` starts from the last policy (a few products switch when λ moves a
    little) with a warm value solve, instead of from the cheapest techniques by direct
    cost with a new analysis.
    """

    def __init__(self, problem, options):
        self.tech = _Technology(problem)
        self.options = options
        self.backend = _ops.resolve_backend(options.backend)
        self.K = _ops.kernels(self.backend)
        self.union = _UnionEconomy(self.tech, self.backend)
        self.policy = None
        self.values = None  # the last policy's values
        self.structure = None  # the union graph's components (None: not analysed)
        self.solver = None

    def solve(self, costs=None, *, callback=None, ties: str = "first"):
        """:func:`cheapest_values` at direct unit costs ``costs`` (one per technique,
        finite and ≥ 0; the problem's first resource row by default)."""
        from lab.values import _update
        from lab.values._solver import _choice

        _choice("ties", ties, ("first", "error"))
        t0 = time.perf_counter()
        tech, K, union, options = self.tech, self.K, self.union, self.options
        if costs is not None:
            tech.labour = np.asarray(costs, dtype=np.float64)
        m = tech.m
        tol_rel = 10.0 * options.rtol
        sweeps = 0
        with _ops.thread_limit(options.n_threads, self.backend, yield_to_load=True):
            checked = None  # (best, low, tied) at the first values, where computed
            if self.policy is None:
                # first policy: the cheapest by direct cost, improved by one pass over the
                # components when the union has a block structure; value iteration if it is
                # not productive
                policy, _, _ = tech.best(K, tech.costs(K, np.zeros(m)), None, tol_rel)
                structure, policy, start = _swept_policy(tech, K, union, policy, options,
                                                         tol_rel)
                self.structure = structure
                result = None
                if start is not None:
                    if np.all(np.isfinite(start)):
                        result, checked = self._swept_result(policy, start, tol_rel)
                    else:
                        start = None
                if result is None:
                    try:
                        solver = union.solver(union.economy(policy, structure=structure),
                                              options)
                        # the pass's values, when they meet the rule, need one check only
                        result = solver.solve(x0=start)
                    except NotProductiveError:
                        policy, sweeps = _productive_policy(tech, K, self.backend, tol_rel)
                        solver = union.solver(union.economy(policy), options)
                        result = solver.solve()
                    self.solver = solver
            elif self.solver is None:  # the first call's pass proved its answer alone
                policy, solver = self.policy, self.policy_solver()
                result = solver.solve(x0=self.values)
            else:  # the last policy (productive whatever the costs), its values warm
                policy, solver = self.policy, self.solver
                _update.apply_indices(solver, *(np.zeros(0, dtype=np.intp),) * 2, np.zeros(0),
                                      np.arange(m, dtype=np.intp),
                                      tech.labour[policy] / tech.beta[policy])
                result = solver.solve()
            setup = time.perf_counter() - t0
            rounds = 1
            history = []
            matvecs = result.matvecs
            while True:
                v = result.values
                if checked is None:
                    costs_now = tech.costs(K, v)
                    matvecs += union.cost_passes
                    best, low, tied = tech.best(K, costs_now, policy, tol_rel)
                else:
                    (best, low, tied), checked = checked, None
                bellman = _bellman_residual(v, low)
                history.append(bellman)
                if callback is not None:
                    callback(rounds, bellman)
                switch = np.flatnonzero(best != policy)
                if switch.size == 0 or rounds >= MAX_ROUNDS or not result.converged:
                    break
                union.switch(solver, best, switch)
                policy = best
                result = solver.solve()
                matvecs += result.matvecs
                rounds += 1
        self.values = result.values
        self.policy = policy
        if ties == "error" and tied.size:
            shown = ", ".join(repr(str(tech.product_codes[p])) for p in tied[:5])
            raise InvalidProblemError(
                f"{tied.size} product(s) have several techniques equally cheap to within "
                f"rounding (relative {tol_rel:.1e}): {shown}{', ...' if tied.size > 5 else ''}")
        return self._result(result, policy, rounds, bellman, switch, history, matvecs,
                            sweeps, setup, time.perf_counter() - t0)

    def policy_solver(self):
        """The value solver of the last policy's economy, built now where the first
        call's pass proved its answer without one (None before the first call)."""
        if self.solver is None and self.policy is not None:
            self.solver = self.union.solver(
                self.union.economy(self.policy, structure=self.structure), self.options)
        return self.solver

    def _swept_result(self, policy, values, tol_rel):
        """The first pass's values as the evaluation of its policy, where they prove
        themselves: the policy is the cheapest at them (to within rounding), they meet
        the Bellman rule, which for that policy is the value solver's rule, and a
        Collatz–Wielandt bound from them proves its economy productive. Then neither the
        policy's economy nor its value solver is built (at 10⁶ generated products the
        economy's coefficients alone cost 0.1–0.2 s). Returns (result, the policy
        check's (best, low, tied)), or (None, None) for the value solver to take over."""
        from lab.values import _structure
        from lab.values._solver import Status, ValuesResult

        tech, K, options = self.tech, self.K, self.options
        inputs = np.empty(tech.k)
        checked = tech.best(K, tech.costs(K, values, inputs=inputs), policy, tol_rel)
        bellman = _bellman_residual(values, checked[1])
        if not (bellman <= options.rtol and np.array_equal(checked[0], policy)):
            return None, None
        beta = tech.beta[policy]
        bound = _structure.certify(tech.labour[policy] / beta, values, inputs[policy] / beta,
                                   _structure.longest_row(tech.A.indptr))
        if bound is None:  # a product without direct labour: the solver's proofs go further
            return None, None
        proof = _structure.ProductivityReport(bound, "Collatz–Wielandt bound from the "
                                                     "computed values")
        result = ValuesResult(
            values=values, converged=True, status=Status.CONVERGED, message="",
            iterations=1, residual=bellman, residual_history=np.array([bellman]),
            rtol=options.rtol, method="blocks",
            method_reason="one pass over the components of the techniques' union graph in "
                          "dependency order, its values proven by the Bellman residual",
            backend=self.backend, n_threads=int(K.get_num_threads()),
            matvecs=2 * self.union.cost_passes, timings=MappingProxyType({}),
            resource_names=("labour",), productivity=str(proof),
            precision=options.precision)
        return result, checked

    def _result(self, result, policy, rounds, bellman, switch, history, matvecs, sweeps,
                setup, total):
        from lab.values._solver import Status, ValuesResult

        tech, options = self.tech, self.options
        rtol = options.rtol
        converged = bool(result.converged and bellman <= rtol and switch.size == 0)
        if not result.converged:
            status, why = result.status, (f"the policy evaluation did not converge: "
                                          f"{result.message}")
        elif converged:
            status, why = Status.CONVERGED, "no product has a cheaper technique"
        else:
            status, why = Status.MAXITER, f"policy iteration stopped after {rounds} rounds"
        message = (f"{'converged' if converged else 'not converged'}: {why}; Bellman "
                   f"residual {bellman:.3e} (rtol {rtol:.3e}) after {rounds} policy round(s)"
                   + (f" and {sweeps} value-iteration sweeps" if sweeps else "")
                   + f" of {result.method}")
        out = ValuesResult(
            values=result.values.copy(), converged=converged, status=status, message=message,
            iterations=rounds, residual=max(bellman, result.residual),
            residual_history=np.asarray(history), rtol=rtol,
            method=result.method, method_reason=(f"policy iteration over {tech.k} "
                                                 f"techniques; each policy by "
                                                 f"{result.method}: {result.method_reason}"),
            backend=result.backend, n_threads=result.n_threads, matvecs=matvecs,
            timings=MappingProxyType({"setup": setup, "solve": total - setup, "check": 0.0,
                                      "total": total}),
            resource_names=(result.resource_names[0],), productivity=result.productivity,
            precision=result.precision, techniques=policy.copy(),
            technique_codes=tech.technique_codes[policy],
            _codes=lambda: tech.product_codes)
        if not converged:
            if options.raise_on_failure:
                raise NotConvergedError(message, out)
            import warnings

            warnings.warn(message, ConvergenceWarning, stacklevel=5)
        return out


def _bellman_residual(v, low) -> float:
    """max_p |v_p − min_j c_j(v)| / ‖v‖∞ (0 for v = 0 = low)."""
    scale = float(np.max(np.abs(v), initial=0.0))
    gap = float(np.max(np.abs(v - low), initial=0.0))
    if not (math.isfinite(scale) and math.isfinite(gap)):
        return math.nan
    return gap / scale if scale > 0 else (0.0 if gap == 0 else math.inf)


def _productive_policy(tech, K, backend, tol_rel):
    """Value iteration from below until its greedy policy is productive (or raise)."""
    from lab.values._structure import diagnose

    union = _UnionEconomy(tech, backend)
    v = np.zeros(tech.m)
    for sweep in range(1, MAX_VALUE_SWEEPS + 1):
        policy, low, _ = tech.best(K, tech.costs(K, v), None, tol_rel)
        if not np.all(np.isfinite(low)):
            break
        if sweep % 10 == 0 or np.array_equal(low, v):
            try:
                diagnose(union.economy(policy), backend)
                return policy, sweep
            except NotProductiveError:
                pass
        v = low
    raise NotProductiveError(
        "no choice of techniques was found that makes the economy productive: value "
        f"iteration from below did not give one in {MAX_VALUE_SWEEPS} sweeps")


def _ranges(starts, lengths) -> np.ndarray:
    """The integers of the ranges [starts[i], starts[i] + lengths[i]), concatenated."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(
        int(lengths.sum()))


def _swept_policy(tech, K, union, policy, options, tol_rel):
    """The components of the union graph, and a first policy with its values from one
    pass over them in dependency order, starting from ``policy`` where nothing is
    learnt; (None, policy, None) when ``options.method`` is neither ``auto`` nor
    ``blocks``. ``auto`` takes the components even where the value solver would skip its
    own analysis (no chains, or one giant block): the pass then runs policy iteration on
    the giant component, the work that the rounds over the whole economy would do.

    A product outside cycles takes the cheapest technique at its inputs' values, which
    are final by then: exact. A small cyclic component is swept Gauss–Seidel until its
    values settle (at most ``SMALL_BLOCK_SWEEPS`` times). A large cyclic component gets
    its own policy iteration, each choice evaluated by BiCGSTAB on the component alone
    (:func:`_component_choice`). With exact inner solves this would be the cheapest
    policy itself; policy iteration on the whole economy then proves it (or corrects
    what the sweeps of small cycles left), usually in one round instead of four.

    Where the value solver would follow its own search (:data:`FOLLOW_MIN_PRODUCTS`),
    the pass follows the component search running on another thread (both are bound by
    memory latency: at 10⁶ generated products the search took 0.15–0.3 s and the pass
    0.45 s one after the other).
    """
    from lab.values import _structure
    from lab.values._solver import DENSE_BLOCK, FOLLOW_MIN_PRODUCTS

    if options.method not in ("auto", "blocks") or tech.m == 0:
        return None, policy, None
    A = tech.A
    idx = A.indptr.dtype  # the other index arrays fit it: all are counts of A's size
    arrays = (A.indptr, A.indices, np.asarray(A.data, dtype=np.float64), tech.labour,
              tech.beta, tech.by_product.astype(idx, copy=False),
              tech.ptr.astype(idx, copy=False))
    values = np.zeros(tech.m)
    best = policy.astype(idx)
    small = (SMALL_BLOCK_SWEEPS, 0.1 * options.rtol, values, best)

    def choose(S, k):
        """The large component k: a few sweeps, then its own policy iteration."""
        K.cheapest_sweep(*arrays, S.order, S.block_ptr, k, k + 1, LARGE_BLOCK_SWEEPS, 0.0,
                         values, best)
        s, e = int(S.block_ptr[k]), int(S.block_ptr[k + 1])
        _component_choice(tech, K, S.order[s:e], S.position, s, values, best,
                          options.rtol, tol_rel)

    if (union.backend == "cython" and tech.m >= FOLLOW_MIN_PRODUCTS
            and K.get_num_threads() >= 2):
        search = _structure.FollowedSearch(union.indptr, union.indices, K, idx)
        k = 0
        try:
            while True:
                k, why = K.cheapest_sweep_follow(*arrays, search.order, search.block_ptr,
                                                 search.progress, k, DENSE_BLOCK, *small)
                if why != 1:
                    break
                # the search holds one core: the component's solves take the other
                with _ops.thread_limit(1 if search.searching else None, union.backend):
                    choose(search.partial, k)
                k += 1
        finally:
            search.join()
        S = search.result()
    else:
        S = union.structure()
        first = 0
        for k in [*np.flatnonzero(S.block_sizes > DENSE_BLOCK), S.n_blocks]:
            if k > first:
                K.cheapest_sweep(*arrays, S.order, S.block_ptr, first, k, *small)
            if k == S.n_blocks:
                break
            choose(S, k)
            first = k + 1
    return S, best.astype(np.int64), values


def _component_choice(tech, K, members, position, s, values, best, rtol, tol_rel):
    """Policy iteration on one cyclic component (``members``, at positions s, s + 1, …),
    its inputs from earlier components final in ``values``: evaluate the members'
    techniques in ``best`` by BiCGSTAB on the component alone, switch the members to
    their cheapest techniques at those values, until none switches. Writes the values and
    the choice back; stops early, keeping the last evaluated choice, if a solve fails."""
    from lab.values import _krylov
    from lab.values._solver import _default_maxiter

    A = tech.A
    n = members.size
    idx = A.indptr.dtype
    counts = tech.ptr[members + 1] - tech.ptr[members]
    techniques = tech.by_product[_ranges(tech.ptr[members], counts)].astype(np.int64)
    n_tech = techniques.size
    local_ptr = np.zeros(n + 1, dtype=idx)
    np.cumsum(counts, out=local_ptr[1:])
    # inputs inside (local positions, A[i, t] / β) and the direct cost with the inputs
    # from earlier components: fixed while the component is solved
    room = int(np.sum(A.indptr[techniques + 1] - A.indptr[techniques]))
    in_ptr, fixed = np.empty(n_tech + 1, dtype=np.int64), np.empty(n_tech)
    local_in, coef_in = np.empty(room, dtype=np.int64), np.empty(room)
    inside = K.component_techniques(A.indptr, A.indices, np.asarray(A.data, dtype=np.float64),
                                    tech.labour, tech.beta, techniques, position, s, n,
                                    values, in_ptr, local_in, coef_in, fixed)
    local_in, coef_in = local_in[:inside], coef_in[:inside]
    costs = np.empty(n_tech)
    current = np.flatnonzero(techniques == np.repeat(best[members], counts)).astype(idx)
    y = values[members]
    new, low, tied = np.empty(n, dtype=idx), np.empty(n), np.empty(n, dtype=np.uint8)
    everything = np.arange(n_tech, dtype=idx)
    maxiter = _default_maxiter("krylov", n)

    def system(choice):
        """The component's own matrix under ``choice``: its members' inside entries."""
        own = in_ptr[choice + 1] - in_ptr[choice]
        picked = _ranges(in_ptr[choice], own)
        sub_ptr = np.zeros(n + 1, dtype=idx)
        np.cumsum(own, out=sub_ptr[1:])
        return (sub_ptr, local_in[picked].astype(idx), coef_in[picked]), fixed[choice]

    # Choosing needs the values only to the precision of the choice: COMPONENT_TOLS, the
    # next one once the choice settles at the last, and last the rule's (so that the
    # whole pass can meet it), where the choice is checked once more. A failed solve
    # stops the rounds and keeps the last values.
    tols = iter((*COMPONENT_TOLS, 0.1 * rtol))
    tol = next(tols)
    sub, rhs = system(current)
    evaluated = current
    for _ in range(MAX_ROUNDS):
        trial = y.copy()
        if _krylov.bicgstab(K, sub, rhs, trial, tol=tol, maxiter=maxiter).failure is not None:
            break
        y, evaluated = trial, current
        K.csr_matvec(in_ptr, local_in, coef_in, y, costs)
        costs += fixed
        K.cheapest_techniques(costs, everything, local_ptr, current, tol_rel, new, low, tied)
        if np.array_equal(new, current):
            tol = next(tols, None)
            if tol is None:
                break
        else:
            current = new.copy()
            sub, rhs = system(current)
    values[members] = y
    best[members] = techniques[evaluated]


class _UnionEconomy:
    """The square economy of a policy, stored with the union pattern of every product's
    techniques (see the module docstring)."""

    def __init__(self, tech, backend):
        self.tech = tech
        A = tech.A
        m = tech.m
        idx = np.int32 if max(m, A.nnz) < np.iinfo(np.int32).max else np.int64
        u_indptr = np.empty(m + 1, dtype=idx)
        u_indices = np.empty(A.nnz, dtype=idx)
        self.backend = backend
        self.K = _ops.kernels(backend)
        nnz = int(self.K.technique_union(
            A.indptr, A.indices, tech.by_product.astype(idx, copy=False),
            tech.ptr.astype(idx, copy=False), u_indptr, u_indices, np.empty(m, dtype=idx)))
        # a view, not a copy: the pages past the union's end are never touched, so they
        # cost no memory, and a copy would fault in fresh ones
        self.indptr, self.indices = u_indptr, u_indices[:nnz]
        self.nnz = nnz
        #: a pass over every technique's coefficients, in passes over the union's
        self.cost_passes = A.nnz / max(nnz, 1)
        # A[i, j] / B[p, j] of every stored entry (A's own array when every B[p, j] = 1)
        self.values = np.asarray(A.data if np.all(tech.beta == 1.0)
                                 else A.data / np.repeat(tech.beta, np.diff(A.indptr)),
                                 dtype=np.float64)

    def entries(self, techniques) -> np.ndarray:
        """The stored entries (of A) of the given techniques, concatenated."""
        indptr = self.tech.A.indptr
        return _ranges(indptr[techniques], indptr[techniques + 1] - indptr[techniques])

    def data(self, policy) -> np.ndarray:
        """The union's coefficients under ``policy``."""
        out = np.empty(self.nnz)  # every entry written by the kernel
        A = self.tech.A
        self.K.policy_coefficients(A.indptr, A.indices, self.values, self.indptr,
                                   self.indices, policy.astype(self.indptr.dtype), out)
        return out

    def structure(self):
        """The strongly connected components of the union graph (valid for every
        policy)."""
        from lab.values import _structure

        return _structure.components(self.indptr, self.indices, self.backend)

    def economy(self, policy, *, structure=None):
        """The economy of ``policy`` (its coefficients array is kept as ``self.owned``);
        ``structure``, the components of the union graph, is valid for it."""
        from lab.economy import Economy

        tech = self.tech
        self.owned = self.data(policy)
        A = sp.csc_array((self.owned, self.indices, self.indptr), shape=(tech.m, tech.m))
        A.has_canonical_format = True
        labour = tech.labour[policy] / tech.beta[policy]
        economy = Economy._from_valid(A, labour[None, :], codes=tech.product_codes,
                                      names=None, resource_names=None)
        if structure is not None:
            economy._cache["blocks"] = structure
        return economy

    def solver(self, economy, options):
        """A ValueSolver of ``economy`` that changes this object's own coefficients in
        place on updates (the economy is private here, so its copy is not needed)."""
        from lab.values._solver import ValueSolver

        solver = ValueSolver(economy, options)
        indptr, indices, _ = solver._M
        solver._M = (indptr, indices, self.owned)
        return solver

    def switch(self, solver, new, products):
        """Change the solver's coefficients and labour to the new techniques of
        ``products``: their whole union columns, the new technique's coefficients in its
        slots and zeros in the others."""
        from lab.values import _update

        tech = self.tech
        starts = self.indptr[products].astype(np.int64)
        lengths = self.indptr[products + 1] - starts
        offsets = np.cumsum(lengths) - lengths  # where each column starts in the change list
        vals = np.zeros(int(lengths.sum()))
        techniques = new[products]
        came = self.entries(techniques)
        per = np.diff(tech.A.indptr)[techniques]
        idx = self.indptr.dtype
        slots = np.empty(came.size, dtype=idx)
        self.K.technique_slots(tech.A.indptr, tech.A.indices, self.indptr, self.indices,
                               products.astype(idx), techniques.astype(idx), slots)
        vals[np.repeat(offsets - starts, per) + slots] = self.values[came]
        # the solver holds this union pattern: a product's column is its row of Aᵀ there
        _update.replace_rows(solver, products, lengths, vals,
                             tech.labour[new[products]] / tech.beta[new[products]])
