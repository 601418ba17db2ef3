"""Just-in-time plan rays of multi-year plans, and the prices that prove them.

For a plan ray (one rate φ for every target of every year) the year-indexed plan of
:mod:`lab.planning._multiyear` has an obvious candidate, the plan a planning office
would draw up first: consume exactly φ·t_y each year and invest, each year, exactly
what next year's production ties up beyond the depreciated stock it inherits,

    x_y = (B_y − A_y)⁻¹ (φ·t_y + Σ_p I_y[·, p]),
    I_y = max(0, C ∘ x_{y+1} − (1 − δ)·K_y),     K_{y+1} = (1 − δ)·K_y + I_y,

(in the last year, what the terminal stocks need). Production and investment feed each
other; the fixed point is reached by sweeps over the years (each one value solve per
year, the analysis of the Leontief solve cached), in 5–20 sweeps on generated plans.
Every year after the first then has exactly the capital it uses; what limits φ is
the first year's given stocks and each year's resources. The load (largest use over
availability) is piecewise linear in φ and, on generated plans, grows with it, so the
largest φ with load ≤ 1 is found by regula falsi in a few plans. (It need not grow:
with terminal stocks, more production now leaves more capital later. The search
keeps a plan with load ≤ 1 as its lower end, so what it returns is always a plan.)

This plan is optimal when nothing is gained by investing earlier than needed, which
its prices tell. Take the constraint that limits φ at price 1 and make every
technique the plan runs break even (complementary slackness of the plan-ray LP,
MATH.md §4): a year's goods cost their inputs and the capital they tie up net of
the depreciated capital returned,

    (B_y − A_y)ᵀ p_y = Σ_p C·(q_y − (1 − δ)·q_{y+1}) + R_yᵀ λ_y,

a stock that is invested in is worth what it costs, q_{y+1} = p_{y,s}, and one that is
not what it is worth a year later, q_y = (1 − δ)·q_{y+1}. These are solved by sweeps too
(one transposed value solve per year), normalised so that the targets cost one unit
of φ. Nothing here is trusted: the plan is made exactly feasible by the forward
repair and the prices count only through the dual bound of
:mod:`lab.planning._certificate`. Where investing earlier would pay, some technique
shows a profit, the bound stays above the plan, and the primal-dual method takes over
from both.

Measured (``generate_multiyear_problem(n, years=5, seed=1)``, plan ray, where the first
year's capital binds): at 10³, 10⁴ and 10⁵ products the just-in-time plan is the
optimum and its prices prove it (gaps 2e-8 to 1e-7, the forward repair's margins), in
0.3 s, 2.5 s and 32 s. It does not prove plans where a later year is short of labour
(investing in an earlier year then pays: φ = 1/2 against 2/3 in the three-year
tractor economy of the tests) and finds none where building the terminal stocks in
the last year alone is out of reach; both go to the primal-dual method.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lab.planning import _certificate

__all__ = ["JustInTime", "Schedule"]

#: Most sweeps of the fixed point between investment and next year's production.
MAX_SWEEPS = 200
#: The sweeps stop when no investment (price) moved by more than this, relative to the
#: largest (the forward repair absorbs what is left: at most this share of a stock).
SWEEP_TOL = 1e-12
#: Most plans tried in the search for the largest feasible φ.
MAX_STEPS = 60
#: The search stops at a plan whose load is within this of 1.
LOAD_TOL = 1e-12
#: Doublings of φ tried to find a rate at which the plan is infeasible.
MAX_DOUBLINGS = 60
#: A bound more than this above the schedule's φ (relative) is evaluated again after
#: lowering the prices.
LOWERED = 1e-9


@dataclass
class Schedule:
    """A just-in-time plan at rate ``phi`` (the year-indexed plan's units).

    ``make`` (T, m), ``hold`` and ``invest`` (T, E): intensities; ``stocks``: K_y at the
    start of each year (T + 1, E); ``load``: the largest use over availability of the
    first year's stocks and of every year's limited resources; ``binding``: which one
    (``("stock", e)`` or ``("resource", y, row)``, row among the year's limited ones).
    """

    phi: float
    make: np.ndarray
    hold: np.ndarray
    invest: np.ndarray
    stocks: np.ndarray
    load: float
    binding: tuple
    converged: bool

    def intensities(self) -> np.ndarray:
        return np.concatenate([self.make.ravel(), self.hold.ravel(), self.invest.ravel()])


class JustInTime:
    """The just-in-time plan ray of a year-indexed plan and its prices.

    ``repair`` is the :class:`lab.planning._multiyear.ForwardRepair` of the plan (its
    per-year pieces and cached Leontief solves are shared).
    """

    def __init__(self, repair):
        self.repair = repair
        self._limited = []
        for y in range(repair.T):
            year = repair.years[y][0]
            lim = np.isfinite(year.available)
            rows = _certificate.limited_rows(year, lim) if lim.any() else None
            self._limited.append((rows, year.available[lim]))

    # ------------------------------------------------------------ the plan

    def schedule(self, phi: float, invest: np.ndarray | None = None) -> Schedule:
        """The just-in-time plan at rate φ; ``invest`` (T, E) warm-starts the sweeps."""
        rp = self.repair
        m, T, E, s, p = rp.m, rp.T, rp.E, rp.s, rp.p
        invest = np.zeros((T, E)) if invest is None else invest.copy()
        make = np.zeros((T, m))
        hold = np.zeros((T, E))
        stocks = np.zeros((T + 1, E))
        converged = False
        for _ in range(MAX_SWEEPS):
            for y in range(T):
                year, spent = rp.years[y][0], rp.years[y][6]
                demand = phi * year.targets + np.bincount(s, weights=spent * invest[y],
                                                          minlength=m)
                make[y] = rp._leontief(y, demand)
            K = rp.K1
            moved = 0.0
            for y in range(T):
                _, _, tied, back, held_use, held_back, _, built = rp.years[y]
                stocks[y] = K
                with np.errstate(divide="ignore", invalid="ignore"):
                    hold[y] = np.where(held_use > 0,
                                       np.maximum(K - tied * make[y][p], 0.0) / held_use, 0.0)
                    carried = back * make[y][p] + held_back * hold[y]
                    need = rp.years[y + 1][2] * make[y + 1][p] if y + 1 < T else rp.terminal
                    new = np.where(built > 0, np.maximum(need - carried, 0.0) / built, 0.0)
                moved = max(moved, float(np.max(np.abs(new - invest[y]), initial=0.0)))
                invest[y] = new
                K = carried + built * new
            stocks[T] = K
            if not (np.all(np.isfinite(make)) and np.all(np.isfinite(invest))):
                break
            if moved <= SWEEP_TOL * max(float(np.max(invest, initial=0.0)), 1e-300):
                converged = True
                break
        load, binding = self._load(make, stocks[0])
        return Schedule(phi=float(phi), make=make, hold=hold, invest=invest, stocks=stocks,
                        load=load if converged else np.inf, binding=binding,
                        converged=converged)

    def _load(self, make: np.ndarray, K1: np.ndarray) -> tuple[float, tuple]:
        rp = self.repair
        load, binding = 0.0, ()
        if rp.E:
            use = rp.years[0][2] * make[0][rp.p]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(use > 0, use / K1, 0.0)
            e = int(np.argmax(ratio))
            load, binding = float(ratio[e]), ("stock", e)
        for y, (rows, rho) in enumerate(self._limited):
            if rows is None:
                continue
            use = rows @ make[y]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(use > 0, use / rho, 0.0)
            q = int(np.argmax(ratio))
            if ratio[q] > load:
                load, binding = float(ratio[q]), ("resource", y, q)
        return load, binding

    def best(self) -> Schedule | None:
        """The just-in-time plan with the largest feasible φ, or None (no feasible one:
        the terminal stocks are out of its reach, or its sweeps did not converge)."""
        low = self.schedule(0.0)
        if not low.load <= 1.0:
            return None
        phi = 1.0
        for _ in range(MAX_DOUBLINGS):
            high = self.schedule(phi, low.invest)
            if not high.converged:
                return None
            if high.load > 1.0:
                break
            low, phi = high, 2.0 * phi
        else:
            return None
        # regula falsi (Illinois) on load(φ) − 1, piecewise linear; ``low`` is always a plan
        f_low, f_high = low.load - 1.0, high.load - 1.0
        side = 0
        for _ in range(MAX_STEPS):
            if f_low >= -LOAD_TOL or high.phi - low.phi <= 4e-16 * high.phi:
                break
            phi = low.phi - f_low * (high.phi - low.phi) / (f_high - f_low)
            if not low.phi < phi < high.phi:
                phi = 0.5 * (low.phi + high.phi)
            # investment is piecewise linear in φ too: start from the interpolation
            w = (phi - low.phi) / (high.phi - low.phi)
            trial = self.schedule(phi, (1.0 - w) * low.invest + w * high.invest)
            f = trial.load - 1.0
            if f <= 0.0:
                low, f_low = trial, f
                if side == -1:
                    f_high *= 0.5
                side = -1
            else:
                high, f_high = trial, f
                if side == 1:
                    f_low *= 0.5
                side = 1
        return low

    # ------------------------------------------------------------ its prices

    def prices(self, plan: Schedule) -> tuple[np.ndarray, np.ndarray]:
        """Prices of every product of the year-indexed plan and of its limited resources
        (the year-indexed problem's order) at which the techniques ``plan`` runs break
        even, the binding constraint priced 1 (see the module docstring)."""
        rp = self.repair
        m, T, E, s, p = rp.m, rp.T, rp.E, rp.s, rp.p
        goods = np.zeros((T, m))
        q = np.zeros((T + 1, E))
        lam = [np.zeros(rho.size) for _, rho in self._limited]
        invested = plan.invest > 0
        fixed = np.zeros(E, dtype=bool)
        if plan.binding[0] == "stock":
            q[0, plan.binding[1]] = 1.0
            fixed[plan.binding[1]] = True
        elif plan.binding:
            lam[plan.binding[1]][plan.binding[2]] = 1.0
        for _ in range(MAX_SWEEPS):
            before = goods.copy()
            for y in range(T):
                _, _, tied, back, _, _, spent, built = rp.years[y]
                cost = (np.bincount(p, weights=tied * q[y], minlength=m)
                        - np.bincount(p, weights=back * q[y + 1], minlength=m))
                rows = self._limited[y][0]
                if rows is not None:
                    cost = cost + rows.T @ lam[y]
                goods[y] = rp.solve(y, cost, transpose=True)
                with np.errstate(divide="ignore", invalid="ignore"):
                    q[y + 1] = np.where(invested[y], spent * goods[y][s] / built, q[y + 1])
            for y in range(T - 1, -1, -1):
                _, _, _, _, held_use, held_back, _, _ = rp.years[y]
                # a stock not invested in is worth what it is worth a year later (held
                # idle, it is; exactly used up, holding it must not pay either)
                keep = invested[y - 1] if y > 0 else fixed
                with np.errstate(divide="ignore", invalid="ignore"):
                    q[y] = np.where(keep, q[y], held_back * q[y + 1] / held_use)
            top = float(np.max(np.abs(goods), initial=0.0))
            if not np.all(np.isfinite(goods)) or \
                    float(np.max(np.abs(goods - before), initial=0.0)) <= SWEEP_TOL * top:
                break
        prices = np.concatenate([goods.ravel(), q.ravel()])
        lam_all = np.concatenate(lam) if lam else np.zeros(0)
        return prices, lam_all


def presolve(problem, objective, limited, ub, repair):
    """Evidence of the just-in-time plan ray and its prices, or None.

    The ``presolve`` hook of :func:`lab.planning._solve.solve_general` for plan rays
    with one rate; ``problem`` is the year-indexed plan in the solver's units and
    ``repair`` its :class:`~lab.planning._multiyear.ForwardRepair`. The plan goes
    through the repair (exact feasibility) and the prices through the dual bound, like
    any certificate.
    """
    if objective.mode != "plan-ray" or objective.groups is not None:
        return None
    jit = JustInTime(repair)
    plan = jit.best()
    if plan is None or not plan.phi > 0:
        return None
    prices, lam = jit.prices(plan)
    lam_limited = lam if lam.size == int(limited.sum()) else np.zeros(int(limited.sum()))
    # exact prices need none of the bound's price-lowering sweeps (15 s at 10⁵ products);
    # they are spent only where the bound is above the schedule's own φ
    ev = _certificate.evidence(problem, objective, plan.intensities(), prices, lam_limited,
                               limited, ub, repair_fn=repair, sweeps=0)
    if not ev.bound <= plan.phi * (1.0 + LOWERED):
        bound, p, lam_l, profit, _ = _certificate.dual_bound(problem, objective, prices,
                                                             lam_limited, limited, ub)
        if bound < ev.bound:
            lam_all = np.zeros(problem.n_resources)
            lam_all[limited] = lam_l
            ev = replace(ev, bound=bound, gap=bound - ev.objective,
                         relative_gap=_certificate.relative_gap(objective.mode, ev.objective,
                                                                bound)
                         if ev.infeasibility <= _certificate.FEASIBILITY_TOL else np.inf,
                         prices=p, resource_prices=lam_all, profit=profit)
    return ev
