"""The planning problem of MATH.md §3: techniques, targets, capacities and resources.

A :class:`PlanningProblem` is the technology (use matrix A, make matrix B,
resource coefficients R, all m products × k techniques) together with what a
plan must respect and aim for:

* targets t > 0 for the products society wants, with harmony weights w ≥ 0;
* resource availabilities ρ (``inf`` = not limited);
* technique capacities c (``inf`` = no capacity limit);
* initial stocks s⁰ ≥ 0.

A plan is a vector of intensities x with 0 ≤ x ≤ c, R x ≤ ρ and net output
n = s⁰ + (B − A) x ≥ 0. The plan x = 0 always satisfies these, so a planning
problem is never infeasible; it can be unbounded (a target can grow without
limit when no resource or capacity limits the techniques that make it).

The square case (one technique per product, B = I) comes from an
:class:`~lab.economy.Economy`; the general case, with technique choice and
joint production, from :meth:`PlanningProblem.from_techniques`. The problem is
validated once, and is immutable, so one problem can be solved many times by
different methods.

Examples
--------
>>> import numpy as np, lab
>>> economy = lab.Economy(np.array([[0.0, 0.5], [0.2, 0.0]]), [1.0, 2.0],
...                       codes=["corn", "iron"])
>>> problem = lab.PlanningProblem(economy, {"corn": 10.0}, available={"labour": 30.0})
>>> problem
PlanningProblem(2 products, 2 techniques, 1 resource, 1 target)
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from lab._validation import (
    check_labels,
    check_resource_names,
    check_sparse_matrix,
    dense_from_sparse,
    readonly,
)
from lab.economy import Economy
from lab.exceptions import InvalidEconomyError, InvalidProblemError, InvalidTypeError
from lab.planning._weights import cheapest_values, value_weights

__all__ = ["PlanningProblem", "WEIGHTINGS"]

#: The weight schemes that can be named (see :class:`PlanningProblem`).
WEIGHTINGS = ("value", "uniform")


def _labour_values(A, B, R, economy) -> np.ndarray:
    """Labour values of the products: exact for a square economy, of the cheapest
    technique otherwise (lab.planning._weights)."""
    if economy is not None:
        from lab.planning._exact import integrated

        return integrated(economy, np.array([0]), "auto", None)[0]
    return cheapest_values(A, B, np.asarray(R[0], dtype=np.float64))


def _labels(name: str, labels, n: int, default_prefix: str, what: str) -> np.ndarray:
    if labels is None:
        out = np.array([f"{default_prefix}{i}" for i in range(n)], dtype=object)
        out.flags.writeable = False
        return out
    try:
        return check_labels(name, labels, n)
    except InvalidProblemError:
        raise
    except InvalidEconomyError as exc:
        raise InvalidProblemError(str(exc).replace("products", what)) from None


def _entries(name: str, value, labels: np.ndarray, what: str, *, allow_inf: bool,
             default: float) -> np.ndarray:
    """A per-label vector from a mapping {label: value}, a pandas Series or an array.

    Labels missing from a mapping get ``default``. Values must be ≥ 0 and not NaN;
    ``inf`` only where ``allow_inf``.
    """
    n = labels.shape[0]
    out = np.full(n, default, dtype=np.float64)
    if value is None:
        return out
    if hasattr(value, "index") and hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):
        keys = value.index.tolist()
        if len(set(keys)) != len(keys):
            seen, twice = set(), []
            for key in keys:
                if key in seen and key not in twice:
                    twice.append(key)
                seen.add(key)
            shown = ", ".join(repr(k) for k in twice[:5]) + (", ..." if len(twice) > 5 else "")
            raise InvalidProblemError(f"{name} names {len(twice)} {what[:-1]}"
                                      f"{'s' if len(twice) > 1 else ''} more than once: {shown}")
        value = dict(zip(keys, value.to_numpy().tolist(), strict=True))
    if isinstance(value, Mapping):
        position = {c: i for i, c in enumerate(labels.tolist())} if len(value) else {}
        unknown = [k for k in value if k not in position]
        if unknown:
            shown = ", ".join(repr(k) for k in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
            valid = ", ".join(repr(str(c)) for c in labels[:10]) + (
                f", ... ({n} in all)" if n > 10 else "")
            raise InvalidProblemError(f"{name} names {len(unknown)} unknown {what}: {shown}; "
                                      f"the {what} are {valid}")
        for key, v in value.items():
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                raise InvalidProblemError(
                    f"{name}[{key!r}] must be a number, got {type(v).__name__}")
            out[position[key]] = float(v)
        where = {i: repr(c) for c, i in position.items()}
    else:
        arr = np.asarray(value)
        if arr.dtype.kind not in "iuf":
            raise InvalidProblemError(f"{name} must be numeric, got dtype {arr.dtype}")
        if arr.ndim == 0 and n:
            arr = np.full(n, float(arr))
        if arr.ndim != 1 or arr.shape[0] != n:
            raise InvalidProblemError(
                f"{name} must have one entry per {what[:-1]} ({n}), got shape {arr.shape}")
        out = arr.astype(np.float64, copy=True)
        where = None
    bad = np.isnan(out) | (out < 0) | (~np.isfinite(out) if not allow_inf else False)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        label = where[i] if where else repr(str(labels[i]))
        rule = "≥ 0" + ("" if allow_inf else " and finite")
        raise InvalidProblemError(
            f"{name} must be {rule}; {int(bad.sum())} entr{'y is' if bad.sum() == 1 else 'ies are'}"
            f" not, the first is {name}[{label}] = {float(out[i])!r}")
    return out


def _labour_alias(available, rnames):
    """``available`` with the name ``"labour"`` standing for resource row 0 (lab's labour
    row) when no resource is called so, as in :func:`lab.footprint` and
    :func:`lab.explain`: ``{"labour": h}`` then limits ``compensation`` of a table whose
    labour row is compensation."""
    if "labour" in rnames or not isinstance(available, Mapping) or "labour" not in available:
        return available
    if rnames[0] in available:
        raise InvalidProblemError(f"available names both 'labour' and {rnames[0]!r}, which "
                                  "is the labour row (row 0)")
    return {rnames[0] if k == "labour" else k: v for k, v in available.items()}


class PlanningProblem:
    """A harmony planning problem: technology, targets and limits (MATH.md §3).

    Parameters
    ----------
    economy : Economy
        The square technology: one technique per product (B = I), use matrix
        ``economy.A``, resource rows ``economy.R``. Techniques carry the
        product codes. For technique choice and joint production use
        :meth:`from_techniques`.
    targets : mapping {product code: t > 0}, pandas Series, or array of length m
        Final outputs society wants. In array form, 0 means "no target".
    weights : {"value", "uniform"}, mapping, Series or array of length m
        Harmony weights w ≥ 0 of the target products. ``"value"`` (the default)
        balances the plan: w_i ∝ v_i·t_i, the labour cost of each target at the
        labour values v of the economy (of the cheapest technique where there is a
        choice), normalised to mean 1. Where labour is the binding resource every
        target is then met in the same proportion, the plan ray's φ (MATH.md §4):
        on ``uk-2010`` with targets 1.1 × final demand and today's labour, unit
        weights leave 15 of 122 targets (public administration, retail, health,
        construction, wholesale) with nothing and overfill small ones up to 405×;
        value weights meet every target at 0.91. ``"uniform"`` gives every target
        weight 1, the literal Σ H(s) of Cockshott's published code. Given weights are
        used as they are; a weight for a product without a target is an error.
    available : mapping {resource name: amount}, Series or array of length r, optional
        Availability ρ ≥ 0 of each resource; ``inf`` or missing = not limited. In a
        mapping, ``"labour"`` names resource row 0 when no resource is called so
        (``{"labour": h}`` limits ``compensation`` on a table whose labour row is
        compensation); unknown names are an error listing the resources.
    capacities : mapping {technique code: c}, Series or array of length k, optional
        Upper bound on each technique's intensity; ``inf`` or missing = none.
    initial_stocks : mapping {product code: s⁰}, Series or array of length m, optional
        Stocks available at the start (default 0).

    Raises
    ------
    InvalidProblemError
        A target or weight for an unknown product, a non-positive target, a
        negative or NaN capacity, availability or stock, a resource name that
        does not exist, a vector of the wrong length, no target at all.
    """

    __slots__ = ("_A", "_B", "_R", "_codes", "_technique_codes", "_resource_names",
                 "_t", "_w", "_rho", "_c", "_s0", "_economy", "_cache", "_weighting",
                 "_required")

    def __init__(self, economy: Economy, targets, *, weights="value", available=None,
                 capacities=None, initial_stocks=None):
        if not isinstance(economy, Economy):
            raise InvalidTypeError(
                f"economy must be a lab.Economy, got {type(economy).__name__}; for "
                "techniques that differ from products use PlanningProblem.from_techniques")
        by_code = economy._as_codes  # pymrio's (region, sector) labels work as codes
        self._init(economy.A, None, economy.R, economy.codes, economy.codes,
                   economy.resource_names, by_code(targets), by_code(weights), available,
                   by_code(capacities), by_code(initial_stocks), economy)

    @classmethod
    def from_techniques(cls, use, make, resources, targets, *, product_codes=None,
                        technique_codes=None, resource_names=None, weights="value",
                        available=None, capacities=None, initial_stocks=None
                        ) -> PlanningProblem:
        """A problem with k techniques making m products (technique choice, joint production).

        Parameters
        ----------
        use : sparse or dense, shape (m, k)
            A[i, j] ≥ 0 units of product i used by technique j at unit intensity.
        make : sparse or dense, shape (m, k)
            B[i, j] ≥ 0 units of product i made by technique j at unit intensity.
            Every technique must make something; several non-zeros in a column are
            joint production, several columns making one product technique choice.
        resources : array_like, shape (k,) or (r, k)
            R[q, j] ≥ 0 units of resource q used by technique j; row 0 is labour.
        targets, weights, available, capacities, initial_stocks
            As for :class:`PlanningProblem`.
        product_codes : sequence of m str, optional
            Default ``"P0", "P1", ...``.
        technique_codes : sequence of k str, optional
            Default ``"T0", "T1", ...``.
        resource_names : sequence of r str, optional
            Default ``("labour", "R1", ...)``.

        Examples
        --------
        Two ways to make corn (joint production of straw by the second):

        >>> import numpy as np, lab
        >>> problem = lab.PlanningProblem.from_techniques(
        ...     use=np.zeros((2, 2)), make=[[1.0, 2.0], [0.0, 1.0]],
        ...     resources=[[1.0, 3.0]], targets={"corn": 4.0},
        ...     product_codes=["corn", "straw"], technique_codes=["hand", "tractor"],
        ...     available={"labour": 6.0})
        >>> problem.n_techniques, problem.target_codes
        (2, ['corn'])
        """
        self = cls.__new__(cls)
        make_sparse = sp.issparse(make)
        arr = make if make_sparse else np.asarray(make, dtype=np.float64)
        if arr.ndim != 2:
            raise InvalidProblemError(f"make must be 2-D (products × techniques), got shape "
                                      f"{arr.shape}")
        m, k = arr.shape
        codes = _labels("product_codes", product_codes, m, "P", "products")
        tcodes = _labels("technique_codes", technique_codes, k, "T", "techniques")
        try:
            A = check_sparse_matrix("use", use, (m, k), label=lambda i: str(codes[i]),
                                    col_label=lambda j: str(tcodes[j]))
            B = check_sparse_matrix("make", make, (m, k), label=lambda i: str(codes[i]),
                                    col_label=lambda j: str(tcodes[j]))
            # a sparse resources matrix is checked before scipy converts it
            R = np.asarray(dense_from_sparse("resources", resources)
                           if sp.issparse(resources) else resources)
        except InvalidProblemError:
            raise
        except InvalidEconomyError as exc:
            raise InvalidProblemError(str(exc)) from None
        if R.dtype.kind not in "iuf":
            raise InvalidProblemError(f"resources must be numeric, got dtype {R.dtype}")
        R = R.reshape(1, -1) if R.ndim == 1 else R
        if R.ndim != 2 or R.shape[1] != k:
            raise InvalidProblemError(
                f"resources must have one column per technique: make has shape {(m, k)} "
                f"but resources has shape {np.shape(resources)}")
        self._init(A, B, R, codes, tcodes, resource_names, targets, weights, available,
                   capacities, initial_stocks, None)
        return self

    def _init(self, A, B, R, codes, tcodes, resource_names, targets, weights, available,
              capacities, initial_stocks, economy):
        set_ = object.__setattr__
        R = np.ascontiguousarray(R, dtype=np.float64)
        if R.shape[0] < 1:
            raise InvalidProblemError("resources must have at least one row (labour)")
        bad = ~np.isfinite(R) | (R < 0)
        if bad.any():
            q, j = np.argwhere(bad)[0]
            raise InvalidProblemError(
                f"resources must be finite and ≥ 0; resources[{q}, {tcodes[j]!r}] = {R[q, j]!r}")
        try:
            rnames = check_resource_names(resource_names, R.shape[0], other="resources",
                                          shape=R.shape)
        except InvalidEconomyError as exc:
            raise InvalidProblemError(str(exc)) from None
        if B is not None:
            makes = np.diff(B.indptr) > 0
            if makes.size and not makes.all():
                # a stored zero does not make anything either
                made = np.zeros(B.shape[1], dtype=bool)
                cols = np.repeat(np.arange(B.shape[1]), np.diff(B.indptr))
                made[cols[B.data > 0]] = True
                makes = made
            if not makes.all():
                idle = np.flatnonzero(~makes)
                shown = ", ".join(repr(str(tcodes[j])) for j in idle[:5])
                raise InvalidProblemError(
                    f"{idle.size} technique(s) make nothing (an all-zero column of make): "
                    f"{shown}{', ...' if idle.size > 5 else ''}")
        if isinstance(targets, Mapping):
            for key, v in targets.items():
                if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) \
                        and not v > 0:
                    raise InvalidProblemError(
                        f"targets must be > 0; targets[{key!r}] = {float(v)!r} (leave a "
                        "product out to give it no target)")
        t = _entries("targets", targets, codes, "products", allow_inf=False, default=0.0)
        if not (t > 0).any():
            raise InvalidProblemError("targets must give at least one product a target > 0")
        if weights is None:
            weights = "uniform"
        if isinstance(weights, str):
            if weights not in WEIGHTINGS:
                raise InvalidProblemError(
                    f"weights must be one of {WEIGHTINGS}, a mapping, a Series or an array, "
                    f"got {weights!r}")
            weighting = weights
            w = np.where(t > 0, 1.0, 0.0)
            if weighting == "value":
                w = value_weights(t, _labour_values(A, B, R, economy))
        else:
            weighting = "given"
            w = _entries("weights", weights, codes, "products", allow_inf=False, default=1.0)
            series = hasattr(weights, "index") and hasattr(weights, "to_numpy") and \
                not isinstance(weights, np.ndarray)
            if isinstance(weights, Mapping) or series:
                position = {c: i for i, c in enumerate(codes.tolist())}
                keys = weights.index.tolist() if series else list(weights)
                stray = [key for key in keys if t[position[key]] == 0]
                if stray:
                    raise InvalidProblemError(
                        f"weights names product {stray[0]!r}, which has no target")
            w = np.where(t > 0, w, 0.0)
        rho = _entries("available", _labour_alias(available, rnames),
                       np.asarray(rnames, dtype=object), "resources", allow_inf=True,
                       default=np.inf)
        c = _entries("capacities", capacities, tcodes, "techniques", allow_inf=True,
                     default=np.inf)
        s0 = _entries("initial_stocks", initial_stocks, codes, "products", allow_inf=False,
                      default=0.0)
        for name, value in (("_A", A), ("_B", B), ("_R", readonly(R)), ("_codes", codes),
                            ("_technique_codes", tcodes), ("_resource_names", rnames),
                            ("_t", readonly(t)), ("_w", readonly(w)), ("_rho", readonly(rho)),
                            ("_c", readonly(c)), ("_s0", readonly(s0)), ("_economy", economy),
                            ("_cache", {}), ("_weighting", weighting), ("_required", None)):
            set_(self, name, value)

    @classmethod
    def _from_arrays(cls, A, B, R, t, w, rho, c, s0, *, codes, technique_codes,
                     resource_names, required=None, economy=None,
                     weighting="given") -> PlanningProblem:
        """A problem from arrays that lab built itself (no validation).

        ``required`` (m,), ≥ 0: net outputs that every plan must reach (n ≥ required),
        used internally for the terminal stocks of multi-year plans; with it, x = 0
        may not be a plan.
        """
        self = cls.__new__(cls)
        for name, value in (("_A", A), ("_B", B), ("_R", readonly(np.asarray(R, float))),
                            ("_codes", codes), ("_technique_codes", technique_codes),
                            ("_resource_names", tuple(resource_names)),
                            ("_t", readonly(t)), ("_w", readonly(w)), ("_rho", readonly(rho)),
                            ("_c", readonly(c)), ("_s0", readonly(s0)), ("_economy", economy),
                            ("_cache", {}), ("_weighting", weighting),
                            ("_required", None if required is None or not np.any(required)
                             else readonly(required))):
            object.__setattr__(self, name, value)
        return self

    def __setattr__(self, name, value):
        raise AttributeError(f"PlanningProblem is immutable; cannot set {name!r}")

    # ------------------------------------------------------------------ technology

    @property
    def A(self) -> sp.csc_array:
        """Use matrix (m × k), read-only canonical CSC."""
        return self._A

    @property
    def B(self) -> sp.csc_array | None:
        """Make matrix (m × k); ``None`` in the square case, meaning B = I."""
        return self._B

    @property
    def R(self) -> np.ndarray:
        """Resource coefficients (r × k), read-only; row 0 is labour."""
        return self._R

    @property
    def economy(self) -> Economy | None:
        """The square economy the problem was built from, if any."""
        return self._economy

    @property
    def is_square(self) -> bool:
        """True when there is one technique per product and B = I."""
        return self._B is None

    @property
    def n_products(self) -> int:
        return self._A.shape[0]

    @property
    def n_techniques(self) -> int:
        return self._A.shape[1]

    @property
    def n_resources(self) -> int:
        return self._R.shape[0]

    @property
    def product_codes(self) -> np.ndarray:
        return self._codes

    @property
    def technique_codes(self) -> np.ndarray:
        return self._technique_codes

    @property
    def resource_names(self) -> tuple[str, ...]:
        return self._resource_names

    # ------------------------------------------------------------------ plan data

    @property
    def targets(self) -> np.ndarray:
        """t (m,), 0 for products without a target."""
        return self._t

    @property
    def weights(self) -> np.ndarray:
        """w (m,), 0 for products without a target."""
        return self._w

    @property
    def weighting(self) -> str:
        """How the weights were chosen: ``"value"``, ``"uniform"`` or ``"given"``."""
        return self._weighting

    @property
    def available(self) -> np.ndarray:
        """ρ (r,), ``inf`` where a resource is not limited."""
        return self._rho

    @property
    def capacities(self) -> np.ndarray:
        """c (k,), ``inf`` where a technique has no capacity limit."""
        return self._c

    @property
    def initial_stocks(self) -> np.ndarray:
        """s⁰ (m,)."""
        return self._s0

    @property
    def target_index(self) -> np.ndarray:
        """Positions of the products with a target."""
        if "target_index" not in self._cache:
            self._cache["target_index"] = readonly(np.flatnonzero(self._t > 0))
        return self._cache["target_index"]

    @property
    def target_codes(self) -> list[str]:
        return [str(c) for c in self._codes[self.target_index]]

    def net_matrix(self) -> sp.csr_array:
        """B − A as CSR (m × k), computed once and cached."""
        if "net" not in self._cache:
            self._cache["net"] = sp.csr_array(self._net_csc())
        return self._cache["net"]

    def _net_matrix_T(self) -> sp.csr_array:
        """(B − A)ᵀ as CSR (k × m): the arrays of B − A in CSC, cached (no conversion:
        at 10⁶ products with 2·10⁶ techniques a CSR copy of the transpose took 0.8 s)."""
        if "net_T" not in self._cache:
            D = self._net_csc()
            self._cache["net_T"] = sp.csr_array((D.data, D.indices, D.indptr),
                                                shape=(D.shape[1], D.shape[0]))
        return self._cache["net_T"]

    def _net_csc(self) -> sp.csc_array:
        """B − A in canonical CSC, cached (both orientations are made from it)."""
        if "net_csc" not in self._cache:
            B = sp.identity(self.n_products, format="csc") if self._B is None else self._B
            D = sp.csc_array(B - self._A)
            D.sum_duplicates()
            self._cache["net_csc"] = D
        return self._cache["net_csc"]

    def net_output(self, x) -> np.ndarray:
        """n = s⁰ + (B − A) x for intensities ``x`` (k,)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.n_techniques,):
            raise InvalidProblemError(
                f"x must have one entry per technique ({self.n_techniques}), got shape {x.shape}")
        return self._s0 + self.net_matrix() @ x

    def harmony(self, x) -> float:
        """Σ w·H(s) at intensities ``x`` (MATH.md §3)."""
        from lab.planning._harmony import harmony

        n = self.net_output(x)
        idx = self.target_index
        s = (n[idx] - self._t[idx]) / self._t[idx]
        return float(np.dot(self._w[idx], harmony(s)))

    def __repr__(self) -> str:
        r = self.n_resources
        nt = int(self.target_index.size)
        return (f"PlanningProblem({self.n_products} products, {self.n_techniques} techniques, "
                f"{r} resource{'s' if r != 1 else ''}, {nt} target{'s' if nt != 1 else ''})")
