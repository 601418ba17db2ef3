"""Units that do not depend on the user's: the planner's internal, balanced units.

A plan must not depend on whether a table is in € or € million, labour in hours or
thousand persons. The primal-dual method, its preconditioner and the certificate's
feasibility floor all see magnitudes, so the general route first divides out the
units of each group of quantities, with factors that every such rescaling maps to
the same place:

* products: κ_P, the geometric mean of the targets (and required outputs), so that
  targets are of order one;
* techniques: κ_T = κ_P / (geometric mean of the make coefficients B), so that a
  technique makes products of order one at intensity one (κ_T = κ_P in the square
  case, where B = I);
* each limited resource q: its availability ρ_q (the largest coefficient R_qj when
  ρ_q = 0), so that availabilities are one;
* harmony weights: their mean (money and weight units drop out; the objective is
  multiplied back).

Rescaling every product by c (money), every technique by d or resource q by e_q
multiplies κ_P, κ_T, ρ_q by exactly that factor, so the scaled problem is the same
problem up to rounding (1e-16 relative) and the method takes the same steps. The
relative units of products among themselves are kept as the user gave them (the
primal-dual method's own equilibration takes care of them, see
:mod:`lab.planning._pdhg`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["Units", "balanced_units", "flow_scaling", "mean_weight", "scaled_problem"]

#: Flows below this share of the largest are scaled as if they were this large (see
#: :func:`flow_scaling`; measured with unrounded flows): 1e-2 and 1e-3 both helped every
#: generated problem tried, 1e-3 more on the plan ray with technique choice and
#: capacities at 10⁴ products (certified in 50,383 iterations; 1e-2 at gap 3.1e-5 after
#: 60,000), 1e-6 slowed the square plan ray (gap 1.5e-2 after 5,000 iterations; 2,986
#: in all with 1e-3). The flows of generated economies span many orders: the median
#: is 3e-5 to 7e-5 of the largest at 10⁴ and 10⁵ products, so 92–95 % of the products
#: sit on this floor and the scaling mostly takes weight off the few with large flows.
#: At 10⁵ products with technique choice and capacities 1e-5 did better (φ 0.887
#: against 0.697 after 12,000 iterations), at 10⁴ square worse (gap 5.4e-5 after 5,000
#: against certified in 2,098): no one floor wins everywhere yet.
FLOW_FLOOR = 1e-3


@dataclass(frozen=True)
class Units:
    """Internal quantity = ``product`` × user quantity; user intensity = ``technique`` ×
    internal intensity; internal resource = ``resource`` × user resource; internal
    weight = user weight / ``weight``."""

    product: np.ndarray
    technique: np.ndarray
    resource: np.ndarray
    weight: float


def mean_weight(problem) -> float:
    """The mean of the positive harmony weights (1 if there are none)."""
    w = problem.weights[problem.target_index]
    w = w[w > 0]
    if not w.size:
        return 1.0
    top = float(w.max())
    return float(np.mean(w / top)) * top


def _geometric_mean(values: np.ndarray) -> float:
    values = np.abs(values[values != 0])
    return float(np.exp(np.mean(np.log(values)))) if values.size else 1.0


def balanced_units(problem, limited: np.ndarray) -> Units:
    """The group factors of the module docstring."""
    quantities = problem.targets[problem.targets > 0]
    if problem._required is not None:
        quantities = np.concatenate([quantities, problem._required[problem._required > 0]])
    kappa_p = _geometric_mean(quantities)
    made = np.ones(1) if problem.B is None else problem.B.data
    kappa_t = kappa_p / _geometric_mean(made)
    resource = np.ones(problem.n_resources)
    for q in np.flatnonzero(limited):
        rho = float(problem.available[q])
        top = float(np.max(problem.R[q])) if problem.R.shape[1] else 0.0
        scale = rho if rho > 0 else top
        resource[q] = 1.0 / scale if scale > 0 else 1.0
    return Units(product=np.full(problem.n_products, 1.0 / kappa_p),
                 technique=np.full(problem.n_techniques, kappa_t), resource=resource,
                 weight=mean_weight(problem))


def _scale_columns_rows(M, row_scale, col_scale):
    M = sp.csc_array(M)
    cols = np.repeat(np.arange(M.shape[1]), np.diff(M.indptr))
    return sp.csc_array((M.data * row_scale[M.indices] * col_scale[cols], M.indices,
                         M.indptr), shape=M.shape)


def scaled_problem(problem, units: Units):
    """The problem in internal units (a private PlanningProblem, no validation)."""
    from lab.planning._problem import PlanningProblem

    a, g = units.product, units.technique
    m = problem.n_products
    B = sp.identity(m, format="csc") if problem.B is None else problem.B
    with np.errstate(over="ignore"):
        cap = np.where(np.isfinite(problem.capacities), problem.capacities / g, np.inf)
        rho = np.where(np.isfinite(problem.available), problem.available * units.resource,
                       np.inf)
    q = problem._required
    return PlanningProblem._from_arrays(
        _scale_columns_rows(problem.A, a, g), _scale_columns_rows(B, a, g),
        problem.R * units.resource[:, None] * g[None, :],
        problem.targets * a, problem.weights / units.weight, rho, cap,
        problem.initial_stocks * a, codes=problem.product_codes,
        technique_codes=problem.technique_codes, resource_names=problem.resource_names,
        required=None if q is None else q * a, weighting=problem.weighting)


def flow_scaling(problem, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """Row and column factors that put the primal-dual method's matrix (``shape``:
    products' balance rows first, then others; techniques' columns first) in the units
    of a reference plan, or None where there is none.

    The reference plan makes the targets with the cheapest technique of every product
    (labour values with technique choice; one value solve for its gross outputs q):
    a product's balance row is divided by its flow q_i, a technique's column multiplied
    by the intensity at which it would make its product's flow (at most its capacity),
    so that the method measures every balance relative to its own flow (at least
    :data:`FLOW_FLOOR` of the largest). Equilibration alone (:mod:`lab.planning._pdhg`)
    sees only the coefficients, and the few products with large flows dominated: at
    10⁵ products with technique choice and capacities, products with small flows were
    overused 2-fold by the iterate after 17,000 iterations, and their repair cost the
    plan 70 %. The
    factors are rounded to eighths of an octave (the same under rounding-level changes
    of the problem, so plans stay unit-free and deterministic). None for joint
    production or where the reference economy cannot be solved.
    """
    from lab.economy import Economy
    from lab.exceptions import LabError
    from lab.planning._choice import _make_csc, _Technology
    from lab.planning._exact import gross_outputs
    from lab.values import labour_values

    m = problem.n_products
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if problem.B is None:
                owner, coef = np.arange(m), np.ones(m)
                reference = Economy(problem.A, np.ones((1, m)))
            else:
                B = _make_csc(problem)
                if np.any(np.diff(B.indptr) != 1):  # joint production
                    return None
                owner, coef = B.indices, B.data
                chosen = np.asarray(labour_values(problem).techniques)
                reference = _Technology(problem, options=None).economy(chosen)
            q = gross_outputs(reference, problem.targets)
    except LabError:
        return None
    top = float(q.max(initial=0.0))
    if not (np.all(np.isfinite(q)) and top > 0):
        return None
    q = np.maximum(q, FLOW_FLOOR * top)
    rows = np.ones(shape[0])
    rows[:m] = 1.0 / q
    cols = np.ones(shape[1])
    cols[:owner.size] = np.minimum(q[owner] / coef,
                                   np.maximum(problem.capacities, 1e-6 * top))
    return _octave_eighths(rows), _octave_eighths(cols)


def _octave_eighths(x: np.ndarray) -> np.ndarray:
    """x rounded to the nearest 2^(k/8): the same factors for problems equal up to
    rounding, within 4.5 % of x. Of 16 generated problems of 10³ products (seeds 1–4;
    plan rays with technique choice and capacities, with capacities, square; harmony
    with choice and capacities), PDHG certified 15 within 100,000 iterations with
    these factors, 15 with the unrounded flows, 13 with whole powers of two and 9
    without the flow scaling."""
    return np.exp2(np.round(8.0 * np.log2(x)) / 8.0)
