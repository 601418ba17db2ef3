"""Cockshott's harmony balancing heuristic, reproduced as published (MATH.md appendix).

The historical baseline: a fixed number of rounds of multiplicative
adjustments with fixed constants and no convergence test. Each round is O(nnz).
It is kept faithful on purpose, including its weaknesses (it can stop well
short of the optimum); :func:`lab.plan` with ``method="harmony"`` is the method
that reaches the optimum and proves it.

Conventions of the reproduction
-------------------------------
* A technique's *main product* is the product it makes most of (its largest
  entry of B); its other outputs are co-products. In the square case every
  technique makes one unit of its own product.
* Non-produced resources are the limited resource rows (availability ρ_q, use
  R[q, j] per unit of intensity); a technique capacity c_j counts as one more
  non-produced resource used only by technique j.
* "Intermediate products" (step 4) are the products without a target.
* Where the published arithmetic divides by zero (a target with zero net
  output in step 5, a technique with no valued inputs in step 6) the limit of
  the squashing function σ(d) = d / (1 + |d|) is used (σ(±∞) = ±1).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lab.exceptions import InvalidOptionError
from lab.planning import _harmony

__all__ = ["CockshottOptions", "balance"]


@dataclass(frozen=True)
class CockshottOptions:
    """The constants of Cockshott's published code (defaults are his).

    Parameters
    ----------
    rounds : int
        Number of rounds (there is no convergence test).
    initial_intensity : float
        Starting intensity of every technique (before the first rescaling).
    temperature : float
        Step of the harmony equalisation (never annealed).
    phase2adjust : float
        Factor of the reallocation step (with the temperature: ≈ ±9 % a round).
    capacity_target : float
        Fraction of the tightest resource the rescaling aims at.
    useweight : float
        Weight of the users' marginal value in the backward propagation.
    propagation_passes : int
        Passes of the backward propagation per round.
    epsilon : float
        Forward-difference step of the numerical derivative of the harmony.
    """

    rounds: int = 100
    initial_intensity: float = 0.1
    temperature: float = 0.23
    phase2adjust: float = 0.4
    capacity_target: float = 0.98
    useweight: float = 5.0
    propagation_passes: int = 2
    epsilon: float = 1e-6

    def __post_init__(self):
        # NumPy scalars are numbers too; they are stored as Python numbers
        for name in ("initial_intensity", "temperature", "phase2adjust", "capacity_target",
                     "useweight", "epsilon"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
                    or not np.isfinite(value) or value <= 0:
                raise InvalidOptionError(f"cockshott option {name} must be a positive number, "
                                 f"got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("rounds", "propagation_passes"):
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
                    or value < 0:
                raise InvalidOptionError(f"cockshott option {name} must be an integer ≥ 0, "
                                 f"got {value!r}")
            object.__setattr__(self, name, int(value))


def _sigma(d):
    with np.errstate(invalid="ignore"):
        out = d / (1.0 + np.abs(d))
    return np.where(np.isposinf(d), 1.0, np.where(np.isneginf(d), -1.0, out))


def _row_max(indptr, values):
    """Max of each CSR row's entries (0 for empty rows)."""
    out = np.zeros(indptr.size - 1)
    nonempty = np.diff(indptr) > 0
    if values.size:
        out[nonempty] = np.maximum.reduceat(values, indptr[:-1][nonempty])
    return out


class _Technology:
    def __init__(self, problem):
        m, k = problem.n_products, problem.n_techniques
        self.A_csc = problem.A
        self.A_csr = sp.csr_array(problem.A)
        self.B = sp.identity(m, format="csc") if problem.B is None else problem.B
        self.B_csr = sp.csr_array(self.B)
        self.limited = np.flatnonzero(np.isfinite(problem.available))
        self.R = problem.R[self.limited]
        self.rho = problem.available[self.limited]
        self.capped = np.flatnonzero(np.isfinite(problem.capacities))
        self.cap = problem.capacities[self.capped]
        self.s0 = problem.initial_stocks
        self.t_idx = problem.target_index
        self.t = problem.targets[self.t_idx]
        self.m, self.k = m, k
        # entries of A by row (products used), columns = users
        self.user_cols = self.A_csr.indices
        self.user_vals = self.A_csr.data
        # B's pattern with unit entries: which techniques make which products
        maker = sp.csr_array(self.B)
        maker.data = np.ones_like(maker.data)
        self.makes = maker
        # entries of A (CSC order) where the using technique also makes that product
        cols_a = np.repeat(np.arange(k), np.diff(self.A_csc.indptr))
        B_csc = sp.csc_array(self.B)
        cols_b = np.repeat(np.arange(k), np.diff(B_csc.indptr))
        self.self_supplied = np.isin(cols_a * m + self.A_csc.indices.astype(np.int64),
                                     cols_b * m + B_csc.indices.astype(np.int64))

    def rescale(self, x, opts: CockshottOptions):
        frac = []
        if self.limited.size:
            with np.errstate(divide="ignore", invalid="ignore"):
                use = self.R @ x
                frac.append(np.where(self.rho > 0, use / self.rho, np.where(use > 0, np.inf, 0)))
        if self.capped.size:
            # a technique with capacity 0 cannot run at all; the others count as resources
            x = x.copy()
            x[self.capped[self.cap == 0]] = 0.0
            usable = self.cap > 0
            frac.append(x[self.capped[usable]] / self.cap[usable])
        if frac:
            worst = float(np.max(np.concatenate(frac)))
            if worst > 0 and np.isfinite(worst):
                x = x * (opts.capacity_target / worst)
            elif not np.isfinite(worst):
                x = np.zeros_like(x)
        supply = self.s0 + self.B @ x
        use = self.A_csc @ x
        short = use > supply
        if short.any():
            f = np.ones(self.m)
            f[short] = opts.capacity_target * supply[short] / use[short]
            # a technique that makes the short product is not shrunk for it
            factor_entries = np.where(self.self_supplied, 1.0, f[self.A_csc.indices])
            tech = np.ones(self.k)
            nonempty = np.diff(self.A_csc.indptr) > 0
            if factor_entries.size:
                tech[nonempty] = np.minimum.reduceat(factor_entries,
                                                     self.A_csc.indptr[:-1][nonempty])
            x = x * tech
        return x


def balance(problem, opts: CockshottOptions, callback=None):
    """Run the rounds; return (x, marginal harmonies dH per product, history of harmony)."""
    tech = _Technology(problem)
    x = np.full(tech.k, opts.initial_intensity)
    x = tech.rescale(x, opts)
    history = []
    dH = np.zeros(tech.m)
    idx, t = tech.t_idx, tech.t
    w = problem.weights[idx]
    for round_ in range(1, opts.rounds + 1):
        n = tech.s0 + tech.B @ x - tech.A_csc @ x
        nt = n[idx]
        s = (nt - t) / t
        h = _harmony.harmony(s)
        history.append(float(np.dot(w, h)))
        dH = np.zeros(tech.m)
        dH[idx] = (_harmony.harmony((nt + opts.epsilon - t) / t) - h) / opts.epsilon
        intermediate = np.ones(tech.m, dtype=bool)
        intermediate[idx] = False
        for _ in range(opts.propagation_passes):
            value = tech.B.T @ dH  # Σ over outputs of dH · gross output per unit intensity
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = value[tech.user_cols] / tech.user_vals
            best = _row_max(tech.A_csr.indptr, np.where(np.isfinite(ratio), ratio, 0.0))
            dH = np.where(intermediate, (dH + opts.useweight * best) / (opts.useweight + 1.0),
                          dH)
        # equalise harmony among final products
        mean_h = float(np.mean(h))
        with np.errstate(divide="ignore", invalid="ignore"):
            delta = opts.temperature * (h - mean_h) / dH[idx]
            f = _sigma(np.where(nt > 0, delta / nt, np.sign(delta) * np.inf))
        f = np.where(np.isnan(f), 0.0, f)
        shrink = np.ones(tech.m)
        shrink[idx] = 1.0 - f
        # every technique producing k is multiplied by (1 - f_k)
        log_factor = tech.makes.T @ np.log(np.maximum(shrink, 1e-300))
        x = x * np.exp(log_factor)
        # reallocate towards techniques whose output is worth more than their inputs
        out_value = tech.B.T @ dH
        in_value = tech.A_csc.T @ dH
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = (out_value - in_value) / in_value
        rate = np.where(in_value > 0, rate,
                        np.where(out_value > 0, np.inf, np.where(out_value < 0, -np.inf, 0.0)))
        x = x * (1.0 + _sigma(rate) * opts.temperature * opts.phase2adjust)
        x = tech.rescale(x, opts)
        if callback is not None and callback(round_, history[-1]) is False:
            break
    return x, dH, history
