"""BiCGSTAB on (I − M)x = b for the value solvers, on lab's fused kernels.

:func:`bicgstab` solves one right-hand side with five kernel calls per iteration, each
one pass over memory: the two products with I − M carry the inner products that follow
them (``bicgstab_matvec_dot``, ``bicgstab_matvec_dot2``), and the vector updates of an
iteration are three fused sweeps (``bicgstab_update_s``, ``_xr``, ``_p``) instead of a
dozen NumPy expressions. Per iteration that is two matrix passes and 19 vector reads or
writes (NumPy needed about 40). Where the backend has ``bicgstab_iterations``
(Cython) and M is CSR, the five steps run in one parallel region with a barrier between
them, the same chunks and sums in the same order (the same bits), instead of waking the
sleeping thread for three of them. On large economies the search directions p and s
are stored in float32 (:data:`FLOAT32_DIRECTIONS_FROM`): a pass gathers them at every
input, and half the bytes is half the cache lines pulled in at random, without changing
the residual's rule (see :func:`bicgstab`). Several right-hand sides
(``resources="all"``) are solved one after the other (:func:`bicgstab_columns`).

:func:`refine` is mixed-precision iterative refinement: the corrections are solved with
the coefficients stored in float32 (8 bytes per non-zero instead of 12 with int32
indices; products still accumulate in float64), the residual of each refined answer is
computed with the float64 coefficients, so the answer meets the same rule as a float64
solve.

Why BiCGSTAB: on generated economies of 10⁵ products it reached lab's rule (relative
∞-norm residual 1e-10) in 22 matrix passes on an unstructured economy (12 random inputs
per product, column sums 0.9) and 46 on the cyclic core of ``lab.generate_economy``,
against 21 and 42 for full GMRES (whose orthogonalisation reads every earlier vector
again), 24–139 for Anderson-accelerated Jacobi with 1–5 vectors of memory and 196–197
for Jacobi. No preconditioner: a Gauss–Seidel sweep saved about 30 % of the iterations
but cost as much as a matrix pass itself.

:func:`deflated_richardson` serves warm starts (re-solves after ``update``): on these
economies a large cyclic block's spectrum is one outlier, ρ(M), and a disc of the other
eigenvalues well inside it (radius 0.60 on the 10⁶ generated core, 0.30 without
structure); with the Perron direction removed after every pass, Richardson converges at
the disc's radius, which no polynomial method beats, in one pass and one vector sweep a
step. Cold, the Perron vector's own passes would cost what it saves.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from lab import _ops
from lab.values._colors import Colored
from lab.values._tiles import Tiles

__all__ = ["MAX_RESTARTS", "bicgstab", "bicgstab_columns", "column_max_abs",
           "deflated_gauss_seidel", "deflated_richardson", "perron_vector", "refine",
           "relative_norms", "residual_norms"]

#: :func:`bicgstab` stores its search directions in float32 on CSR arrays of at least
#: this many rows. On the 10⁶-product economy without supply chains one product
#: gathering a float32 vector took 12.3–13.9 ms against 16.9–22.2 ms for float64 on two
#: threads (``python /tmp/s41/k/tg.py 1e6 15``). Whole solves (``method="krylov"``,
#: alternated in one process, ``python /tmp/s41/ab_dir.py N 11 u krylov``), float64
#: against float32 directions: 3·10⁴ products 1.03×, 10⁵ 1.06×, 3·10⁵ 1.05×, 5·10⁵
#: 1.10×, 10⁶ 1.27×, 2·10⁶ 1.64×, the same iterations and residuals to 4 digits. Below
#: the threshold the directions stay in the caches either way, and float64 keeps
#: BiCGSTAB's finite termination on tiny systems (a 3-product system with values
#: 4e-3 to 3e2 met rtol 1e-12 with its smallest value 1.8e-9 off in float32).
FLOAT32_DIRECTIONS_FROM = 1 << 18


def csr_directions(n: int) -> type:
    """How :func:`bicgstab` stores its search directions on n × n CSR arrays."""
    return np.float32 if n >= FLOAT32_DIRECTIONS_FROM else np.float64


#: Restarts from the true residual allowed after a breakdown of the recurrence.
MAX_RESTARTS = 10
#: A float32 correction solve is asked for at most this reduction of its residual: the
#: rounding of the coefficients (about 6e-8 relative) limits what one refinement gains.
FLOAT32_STEP = 1e-6
#: Refinements of a float32 solve before it reports failure.
MAX_REFINEMENTS = 8

_EPS = np.finfo(float).eps
#: Power steps of :func:`perron_vector` (from the ones vector; the deflation needs the
#: direction only roughly: 3 steps served the 10⁶ generated core as well as 40).
PERRON_STEPS = 10
#: :func:`deflated_richardson` gives up when the 2-norm of its residual fell by less than
#: this factor over the last RICHARDSON_WINDOW passes (0.84 a pass; it fell by about 0.6
#: a pass on the 10⁶ generated core and 0.3 on the unstructured economy): another
#: eigenvalue is near ρ(M), where BiCGSTAB does better. The 2-norm, because the ∞-norm
#: of the core's residual jumped by up to 3.5× from one pass to the next.
RICHARDSON_SLOW = 0.25
RICHARDSON_WINDOW = 8
#: Passes per call of a backend's fused ``richardson_iterations`` (one where the thread
#: governor probes), as :data:`FUSED_STEPS` for BiCGSTAB.
FUSED_PASSES = 8


class Outcome:
    """How a Krylov solve ended: ``failure`` is None (converged), "MAXITER",
    "BREAKDOWN" or "NOT_FINITE"; ``passes`` counts matrix passes (float64 ones, and
    float32 ones separately for :func:`refine`); ``product``: M x of the answer where
    the solve's last pass computed it (:func:`deflated_gauss_seidel`), else None."""

    __slots__ = ("failure", "passes", "passes32", "iterations", "product")

    def __init__(self):
        self.failure = None
        self.passes = 0.0
        self.passes32 = 0.0
        self.iterations = 0
        self.product = None


def _products(K, M):
    """The products with I − M that BiCGSTAB needs, for M stored as CSR arrays or as
    :class:`~lab.values._tiles.Tiles`: (y = x − Mx; y = x − Mx returning w·y; y = x − Mx
    returning (y·x, y·y)), each called with the vectors only."""
    if isinstance(M, Tiles):
        tiled = M.arrays

        def minus(x, y):
            K.tiled_matvec_dots(*tiled, x, x, y, True)

        def minus_dot(x, w, y):
            return K.tiled_matvec_dots(*tiled, x, w, y, True)[0]

        def minus_dot2(x, y):
            return K.tiled_matvec_dots(*tiled, x, x, y, True)[1:]

        return minus, minus_dot, minus_dot2
    return (lambda x, y: K.identity_minus_matvec(*M, x, y),
            lambda x, w, y: K.bicgstab_matvec_dot(*M, x, w, y),
            lambda x, y: K.bicgstab_matvec_dot2(*M, x, y))


def bicgstab(K, M, b, x, *, tol: float, maxiter: int, atol: float = 0.0,
             directions: type | None = None,
             governor: _ops.ThreadGovernor | None = None,
             on_iteration: Callable[[float], None] | None = None) -> Outcome:
    """BiCGSTAB for (I − M)x = b, one right-hand side, x updated in place.

    Parameters
    ----------
    K : kernel module
    M : tuple of (indptr, indices, data), or Tiles
        Square CSR matrix, or the same cut into tiles; coefficients float64 or float32.
    b, x : ndarray of float64, shape (n,)
        Right-hand side and start (x is overwritten with the answer).
    tol : float
        Stop when the recursively updated residual has ‖r‖∞ ≤ tol·‖x‖∞ (the caller
        checks the true residual afterwards).
    maxiter : int
    atol : float
        Also stop when ‖r‖∞ ≤ atol (used by :func:`refine`).
    directions : np.float32 or np.float64, optional
        How the search directions p and s are stored: by default float32 on CSR arrays
        of at least :data:`FLOAT32_DIRECTIONS_FROM` rows, else float64 (the only choice
        for Tiles).
    governor : ThreadGovernor, optional
        Chooses the thread count of each iteration.
    on_iteration : callable, optional
        Called with ‖r‖∞ / ‖x‖∞ after each iteration.

    Notes
    -----
    The system is scaled to ‖b‖∞ = 1 (no underflow for tiny right-hand sides). A
    breakdown (ρ or ω vanishing relative to the vectors, a non-finite step) restarts
    from the true residual, up to :data:`MAX_RESTARTS` times.

    Float32 directions: the products gather p and s at the inputs of every row, at
    random on an economy without supply chains, and those gathers, not the matrix's
    stream, bound a pass; half the bytes a direction takes is half the cache lines they
    pull in. The rounding does not enter the residual: each product is computed from the
    rounded direction itself (in float64), and x moves along that same rounded direction,
    so the recursively updated residual stays b − (I − M)x to float64 rounding and the
    rule is met as before. Only the directions differ from BiCGSTAB's by 6e-8 relative,
    which cost at most one iteration on the economies measured. Passes to lab's rule,
    simulated with rounded directions in NumPy (``python /tmp/s41/mixed.py N u|g``): 22
    either way without structure (10⁵ and 10⁶ products), 62 either way on the generated
    10⁵ economy, 67 against 66 at 10⁶; lab's ``method="krylov"`` on that economy made 34
    iterations against 33 (``python /tmp/s41/ab_dir.py 1e6 7 g krylov``).
    """
    out = Outcome()
    n = b.shape[0]
    scale = float(np.max(np.abs(b), initial=0.0))
    if scale == 0.0:
        x[:] = 0.0
        return out
    bs = b / scale
    x /= scale
    atol_s = atol / scale
    if directions is None:
        directions = np.float64 if isinstance(M, Tiles) else csr_directions(n)
    elif isinstance(M, Tiles) and directions is not np.float64:
        raise ValueError("tiled products gather float64 directions only")
    r, rhat, v, t = (np.empty(n) for _ in range(4))
    p = np.empty(n, dtype=directions)
    s = r if directions is np.float64 else np.empty(n, dtype=directions)
    minus, minus_dot, minus_dot2 = _products(K, M)
    # the iterations in one parallel region (Cython, CSR arrays), else kernel by kernel
    fused = None if isinstance(M, Tiles) else getattr(K, "bicgstab_iterations", None)
    step = governor.step if governor is not None else _no_governor
    restarts = 0

    def restart():
        if x.any():
            minus(x, t)
            out.passes += 1
            np.subtract(bs, t, out=r)
        else:  # from zero the residual is b itself: no pass needed
            r[:] = bs
        rhat[:] = r
        p[:] = r
        with np.errstate(over="ignore", invalid="ignore"):  # checked by the caller
            return float(r @ r)

    rho = restart()
    rhat_norm = math.sqrt(rho)
    rmax = float(np.max(np.abs(r)))
    xmax = float(np.max(np.abs(x)))
    if not (math.isfinite(rmax) and math.isfinite(xmax)):
        out.failure = "NOT_FINITE"
    elif rmax <= max(tol * xmax, atol_s):
        pass
    elif fused is not None:
        out.failure = _fused_iterations(fused, M, x, r, rhat, p, s, v, t, out, restart,
                                        governor,
                                        rho=rho, xmax=xmax, tol=tol, atol=atol_s,
                                        rhat_norm=rhat_norm, maxiter=maxiter,
                                        on_iteration=on_iteration)
    else:
        out.failure = "MAXITER"
        for _ in range(maxiter):
            with step():
                d = minus_dot(p, rhat, v)
                out.passes += 1
                ok = math.isfinite(d) and d != 0.0
                if ok:
                    alpha = rho / d
                    smax = K.bicgstab_update_s(r, v, alpha, s)
                    if smax <= max(tol * xmax, atol_s):  # the half step is good enough
                        x += np.multiply(p, alpha, dtype=np.float64)
                        out.iterations += 1
                        xmax = float(np.max(np.abs(x)))
                        rel = smax / xmax if xmax > 0 else math.inf
                        if on_iteration is not None:
                            on_iteration(rel)
                        out.failure = None if math.isfinite(xmax) else "NOT_FINITE"
                        break
                    ts, tt = minus_dot2(s, t)
                    out.passes += 1
                    omega = ts / tt if tt > 0 and math.isfinite(ts / tt) else 0.0
                    rho_new, rmax, xmax = K.bicgstab_update_xr(x, p, r, s, t, rhat, alpha, omega)
                    out.iterations += 1
                    rel = rmax / xmax if xmax > 0 else math.inf
                    if on_iteration is not None:
                        on_iteration(rel)
                    if not (math.isfinite(rmax) and math.isfinite(xmax)):
                        out.failure = "NOT_FINITE"
                        break
                    if rmax <= max(tol * xmax, atol_s):
                        out.failure = None
                        break
                    size = rhat_norm * rmax * math.sqrt(n)  # ≥ ‖r̂‖₂‖r‖₂
                    ok = omega != 0.0 and abs(rho_new) > _EPS * _EPS * size
                if ok:
                    beta = (rho_new / rho) * (alpha / omega)
                    K.bicgstab_update_p(p, r, v, beta, omega)
                    rho = rho_new
                    continue
                restarts += 1
                if restarts > MAX_RESTARTS:
                    out.failure = "BREAKDOWN"
                    break
                rho = restart()
                rhat_norm = math.sqrt(rho)
                if not math.isfinite(rho):
                    out.failure = "NOT_FINITE"
                    break
    x *= scale
    return out


def perron_vector(K, M, n: int, *, steps: int = PERRON_STEPS,
                  governor: _ops.ThreadGovernor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(u, z): an approximate Perron vector u of the n × n matrix M ≥ 0 (the eigenvector
    of ρ(M)) by ``steps`` power steps from the ones vector, each scaled to maximum 1, and
    z = (I − M)u. Costs ``steps`` + 1 passes."""
    minus = _products(K, M)[0]
    u, t = np.ones(n), np.empty(n)
    for _ in range(steps):
        with _pass(governor):
            minus(u, t)  # t = u − Mu
        np.subtract(u, t, out=u)  # Mu
        top = float(np.max(u, initial=0.0))
        if not (math.isfinite(top) and top > 0.0):
            break
        u /= top
    with _pass(governor):
        minus(u, t)
    return u, t


def deflated_richardson(K, M, b, x, *, perron: Callable[[], tuple[np.ndarray, np.ndarray]],
                        tol: float, maxiter: int, atol: float = 0.0,
                        Mx: np.ndarray | None = None,
                        governor: _ops.ThreadGovernor | None = None,
                        on_iteration: Callable[[float], None] | None = None) -> Outcome:
    """Richardson's iteration for (I − M)x = b with the Perron direction u deflated, x
    updated in place.

    Each pass is x ← x + r, r ← M r (one product, a few vector sweeps); after each, the
    error along u is removed: x += c u, r −= c z with z = (I − M)u and c = Σr / Σz, which
    leaves Σr = 0. Richardson alone converges at the rate ρ(M) (0.9 on lab's generated
    economies), the error ending along u; with u deflated the rate is that of the rest of
    the spectrum. On the 10⁶ generated economy's cyclic core (50,000 products, ρ = 0.9,
    every other eigenvalue within 0.60 of 0) that is 0.53–0.59 a pass, and a warm
    re-solve after 10³ changed coefficients took 30–33 passes against BiCGSTAB's 37–39
    (`python /tmp/s34/defl3.py`): for a disc of eigenvalues of radius R no polynomial
    method beats R a pass, and BiCGSTAB's two-pass steps came to about 0.67. u need
    only be rough: ``perron()`` gives (u, z) (:func:`perron_vector`; z with the current
    M), called only where the start does not already meet the rule. ``Mx``: M x of the
    start where the caller knows it (the last solve's, corrected for changed
    coefficients), which saves the start's pass.

    Stops when ‖r‖∞ ≤ max(tol·‖x‖∞, atol) (the recursively updated residual; the caller
    checks the true one), with failure "SLOW" when the residual fell by less than
    :data:`RICHARDSON_SLOW` over the last :data:`RICHARDSON_WINDOW` passes or Σz is not
    positive (x then holds the progress made, a start for BiCGSTAB), "NOT_FINITE", or
    "MAXITER" after ``maxiter`` passes.
    """
    out = Outcome()
    n = b.shape[0]
    minus = _products(K, M)[0]
    r, t = np.empty(n), np.empty(n)
    if Mx is None:
        with _pass(governor):
            minus(x, r)
        out.passes += 1
        np.subtract(b, r, out=r)
    else:
        np.subtract(b, x, out=r)
        r += Mx
    rmax = float(np.max(np.abs(r)))
    xmax = float(np.max(np.abs(x)))
    if rmax <= max(tol * xmax, atol):
        return out
    u, z = perron()
    zsum = float(z.sum())
    if not (math.isfinite(zsum) and zsum > 0.0):
        out.failure = "SLOW"
        return out
    c = float(r.sum()) / zsum  # the start's error along u
    x += c * u
    r -= c * z
    rmax = float(np.max(np.abs(r)))
    xmax = float(np.max(np.abs(x)))
    if not (math.isfinite(rmax) and math.isfinite(xmax)):
        out.failure = "NOT_FINITE"
        return out
    if rmax <= max(tol * xmax, atol):
        return out
    fused = None if isinstance(M, Tiles) else getattr(K, "richardson_iterations", None)
    state = np.array([zsum, tol, atol])
    history = np.empty((2, FUSED_PASSES))
    window = [float(r @ r)]
    out.failure = "MAXITER"
    while out.iterations < maxiter:
        steps = min(FUSED_PASSES if fused is not None else 1, maxiter - out.iterations)
        if fused is not None and governor is not None and governor.probes_next():
            steps = 1
        with _pass(governor, steps):
            if fused is not None:
                status, done = fused(*M, x, r, t, u, z, state, history, steps)
            else:
                status, done = _richardson_pass(minus, x, r, t, u, z, state, history)
            if governor is not None:
                governor.made(max(done, 1) * 0.5 * governor.work)
        out.passes += done
        out.iterations += done
        if on_iteration is not None:
            for rel in history[0, :done]:
                on_iteration(float(rel))
        if status == 1:
            out.failure = None
            break
        if status == 2:
            out.failure = "NOT_FINITE"
            break
        window.extend(history[1, :done].tolist())
        if len(window) > RICHARDSON_WINDOW and \
                window[-1] > RICHARDSON_SLOW ** 2 * window[-1 - RICHARDSON_WINDOW]:
            out.failure = "SLOW"
            break
        del window[:-RICHARDSON_WINDOW - 1]
    return out


def deflated_gauss_seidel(K, M, b, x, *, colored: Callable[[], Colored],
                          perron: Callable[[], tuple[np.ndarray, np.ndarray]], tol: float,
                          maxiter: int, atol: float = 0.0, Mx: np.ndarray | None = None,
                          governor: _ops.ThreadGovernor | None = None) -> Outcome:
    """Gauss–Seidel sweeps for (I − M)x = b in colour order, the Perron direction u
    deflated after each, x updated in place (M CSR arrays; ``colored()`` gives M in
    colour order, :func:`lab.values._colors.build`, called only where the start does
    not meet the rule).

    A sweep recomputes every x_i = (b_i + Σ_{j≠i} m_ij x_j) / (1 − m_ii) from the newest
    values, colour by colour, the rows of a colour in parallel (no two are linked); then
    the error along u is removed as :func:`deflated_richardson` removes it, x += c u with
    c = Σr / Σz, the residual's sum read as Σb − Σ_j (1 − Σ_i m_ij) x_j without a pass
    (the backend's ``gauss_seidel_sweeps``, up to :data:`FUSED_PASSES` sweeps in one
    parallel region). A sweep's largest change is about the residual it started from:
    once it meets the rule, one product checks the true residual (and is kept as
    ``product``), and the sweeps go on if that does not. The rule, the start's check
    through ``Mx`` and the failures are :func:`deflated_richardson`'s ("SLOW" when the
    change fell by less than :data:`RICHARDSON_SLOW` over :data:`RICHARDSON_WINDOW`
    sweeps).
    """
    out = Outcome()
    n = b.shape[0]

    def checked(M, b, x):  # (max|b − (I − M)x|, M x), one pass
        product = np.empty(n)
        with _pass(governor):
            K.csr_matvec(*M, x, product)
        out.passes += 1
        return float(np.max(np.abs(b - x + product))), product

    rmax, product = checked(M, b, x) if Mx is None else \
        (float(np.max(np.abs(b - x + Mx))), Mx)
    if rmax <= max(tol * float(np.max(np.abs(x))), atol):
        out.product = product
        return out
    u, z = perron()
    zsum = float(z.sum())
    if not (math.isfinite(zsum) and zsum > 0.0):
        out.failure = "SLOW"
        return out
    C = colored()
    order = C.order
    bc, xc, uc = b[order], x[order], u[order]
    state = np.array([float(bc.sum()), zsum, tol, atol])
    history = np.empty(FUSED_PASSES)
    changes = []
    out.failure = "MAXITER"
    while out.iterations < maxiter:
        steps = min(FUSED_PASSES, maxiter - out.iterations)
        if governor is not None and governor.probes_next():
            steps = 1
        with _pass(governor, steps):
            status, done = K.gauss_seidel_sweeps(*C.M, bc, xc, C.color_ptr, uc,
                                                 C.complement, state, history, steps)
            if governor is not None:
                governor.made(max(done, 1) * 0.5 * governor.work)
        out.passes += done
        out.iterations += done
        if status == 2:
            out.failure = "NOT_FINITE"
            break
        if status == 1:
            rmax, product = checked(C.M, bc, xc)
            if rmax <= max(tol * float(np.max(np.abs(xc))), atol):
                out.failure = None
                out.product = product[C.position]  # the block's own numbering
                break
        changes.extend(history[:done].tolist())
        if len(changes) > RICHARDSON_WINDOW and \
                changes[-1] > RICHARDSON_SLOW * changes[-1 - RICHARDSON_WINDOW]:
            out.failure = "SLOW"
            break
        del changes[:-RICHARDSON_WINDOW - 1]
    x[order] = xc
    return out


def _richardson_pass(minus, x, r, t, u, z, state, history):
    """One pass of :func:`deflated_richardson` kernel by kernel (the arithmetic of the
    Cython backend's ``richardson_iterations``, NumPy's sums): (status, passes) as it
    returns them."""
    zsum, tol, atol = state
    minus(r, t)
    np.subtract(r, t, out=t)  # t = M r
    c = float(t.sum()) / zsum
    x += r
    x += c * u
    np.multiply(z, c, out=r)
    np.subtract(t, r, out=r)
    rmax = float(np.max(np.abs(r)))
    xmax = float(np.max(np.abs(x)))
    history[0, 0] = rmax / xmax if xmax > 0 else math.inf
    history[1, 0] = float(r @ r)
    if not (math.isfinite(rmax) and math.isfinite(xmax) and math.isfinite(c)):
        return 2, 1
    return (1 if rmax <= max(tol * xmax, atol) else 0), 1


#: Iterations per call of a backend's fused ``bicgstab_iterations``: each call is one
#: step of the thread governor and one wake-up of the sleeping thread (three an
#: iteration kernel by kernel). A step that the governor makes a probe (one thread
#: timed against several, or back) stays one iteration: with 8 iterations in every
#: call, the probes on one thread were 8 iterations long, and BiCGSTAB at 10⁶ products
#: without locality took 455–479 ms for a first solve against 383–414 ms with 1 (fresh
#: processes, interleaved; ``python /tmp/s32/fs.py STEPS``).
FUSED_STEPS = 4


def _fused_iterations(fused, M, x, r, rhat, p, s, v, t, out, restart, governor, *, rho,
                      xmax, tol, atol, rhat_norm, maxiter, on_iteration):
    """:func:`bicgstab`'s loop by the kernel ``fused`` (``bicgstab_iterations``), up to
    :data:`FUSED_STEPS` iterations a call (one where the governor probes); a breakdown
    restarts from the true residual here, as the loop does. Returns the failure (None
    if converged)."""
    state = np.empty(5)
    history = np.empty(FUSED_STEPS)
    attempts = restarts = 0
    while attempts < maxiter:
        state[:] = (rho, xmax, tol, atol, rhat_norm)
        if governor is None:
            status, done, passes = fused(*M, x, r, rhat, p, s, v, t, state, history,
                                         min(FUSED_STEPS, maxiter - attempts))
        else:
            steps = min(1 if governor.probes_next() else FUSED_STEPS, maxiter - attempts)
            with governor.step(work=steps * governor.work):
                status, done, passes = fused(*M, x, r, rhat, p, s, v, t, state, history,
                                             steps)
                governor.made(max(done, 1) * governor.work)  # it may stop early
        out.passes += passes
        out.iterations += done
        attempts += done
        rho, xmax = float(state[0]), float(state[1])
        if on_iteration is not None:
            for rel in history[:done]:
                on_iteration(float(rel))
        if status == 0:
            continue
        if status == 1:
            return None
        if status == 2:
            return "NOT_FINITE"
        attempts += 1  # the breakdown's own attempt, as the loop counts it
        restarts += 1
        if restarts > MAX_RESTARTS:
            return "BREAKDOWN"
        rho = restart()
        rhat_norm = math.sqrt(rho)
        if not math.isfinite(rho):
            return "NOT_FINITE"
    return "MAXITER"


def refine(K, M64, M32, b, x, *, tol: float, maxiter: int,
           governor: _ops.ThreadGovernor | None = None,
           on_iteration: Callable[[float], None] | None = None) -> Outcome:
    """Mixed-precision iterative refinement for (I − M)x = b, x updated in place.

    The residual r = b − (I − M)x is computed with ``M64`` (float64 coefficients); the
    correction d of (I − M)d = r is solved by :func:`bicgstab` with ``M32`` (the same
    indices, float32 coefficients), down to ‖r_d‖∞ ≤ max(tol·‖x‖∞ / 4,
    FLOAT32_STEP·‖r‖∞); then x += d. It stops when the float64 residual meets
    ‖r‖∞ ≤ tol·‖x‖∞. ``passes`` counts the float64 passes, ``passes32`` the float32 ones.
    """
    out = Outcome()
    n = b.shape[0]
    r = np.empty(n)
    d = np.empty(n)
    used = 0
    minus = _products(K, M64)[0]
    out.failure = "MAXITER"
    for _ in range(MAX_REFINEMENTS + 1):
        minus(x, r)
        out.passes += 1
        np.subtract(b, r, out=r)
        rmax = float(np.max(np.abs(r), initial=0.0))
        xmax = float(np.max(np.abs(x), initial=0.0))
        if not (math.isfinite(rmax) and math.isfinite(xmax)):
            out.failure = "NOT_FINITE"
            break
        if rmax <= tol * xmax or rmax == 0.0:
            out.failure = None
            break
        if used >= maxiter:
            break
        d[:] = 0.0
        inner = bicgstab(K, M32, r, d, tol=0.0, maxiter=maxiter - used,
                         atol=max(0.25 * tol * xmax, FLOAT32_STEP * rmax),
                         governor=governor, on_iteration=on_iteration)
        out.passes32 += inner.passes
        out.iterations += inner.iterations
        used += max(inner.iterations, 1)
        x += d
        if inner.failure in ("BREAKDOWN", "NOT_FINITE"):
            out.failure = inner.failure
            break
    return out


def bicgstab_columns(K, M, b, x, *, tol: float, maxiter: int,
                     governor: _ops.ThreadGovernor | None = None,
                     on_iteration: Callable[[float], None] | None = None) -> Outcome:
    """BiCGSTAB on (I − M)X = B for several columns, one after the other, each by
    :func:`bicgstab` (``b`` and ``x`` of shape (n, k); x updated in place).

    Each column stops once ‖r‖∞ ≤ tol·‖x‖∞; a zero column's answer is 0. Passes add up,
    the iterations are the most any column needed, the first failure is the outcome's;
    ``on_iteration`` gets, after the solves, the largest of the columns' relative
    residuals at each iteration. One solve at a time on the fused kernels beats one
    NumPy iteration for all columns, although that reads M once for every column:
    random blocks with 12 inputs a row, 2 or 3 columns, 500 to 10⁶ rows, 2.8–6.6× (same
    iterations and residuals; 8 and 16 columns at 5·10⁴ rows 2.1× and 3.3×;
    ``python /tmp/s43/bcol.py``).
    """
    out = Outcome()
    histories = []
    for q in range(b.shape[1]):
        if not b[:, q].any():
            x[:, q] = 0.0
            continue
        column = np.ascontiguousarray(x[:, q])
        history: list[float] = []
        one = bicgstab(K, M, np.ascontiguousarray(b[:, q]), column, tol=tol,
                       maxiter=maxiter, governor=governor,
                       on_iteration=None if on_iteration is None else history.append)
        x[:, q] = column
        histories.append(history)
        out.passes += one.passes
        out.iterations = max(out.iterations, one.iterations)
        if out.failure is None:
            out.failure = one.failure
    if on_iteration is not None:
        for i in range(out.iterations):
            on_iteration(max(h[i] for h in histories if len(h) > i))
    return out


def column_max_abs(a) -> np.ndarray:
    """max |a[:, q]| of each column of an (n, k) array (0 for no rows; NaN propagates).

    Column by column: NumPy's reduction along axis 0 of a C-ordered array with few
    columns walks it row by row (925 µs for 50,000 × 2 against 39 µs this way)."""
    return np.array([np.abs(a[:, q]).max(initial=0.0) for q in range(a.shape[1])])


def residual_norms(K, b, Av, v) -> tuple[np.ndarray, np.ndarray]:
    """Per column max|b + Av − v| and max|v| of (m,) or (m, r) arrays, in one kernel pass
    without temporaries (two of 80 MB at 10⁷ products took 0.35 s); NaN propagates."""
    m = v.shape[0]
    r = 1 if v.ndim == 1 else v.shape[1]
    res, vmax = np.empty(r), np.empty(r)
    K.residual_norms(*(np.ascontiguousarray(a).reshape(m, r) for a in (b, Av, v)), res, vmax)
    return res, vmax


def relative_norms(res, vmax):
    """res / vmax elementwise, with 0/0 = 0 (a zero right-hand side has the exact answer 0)
    and NaN wherever res or vmax is not finite (never a small number)."""
    res = np.asarray(res, dtype=float)
    vmax = np.asarray(vmax, dtype=float)
    safe = np.where(vmax > 0, vmax, 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.where(vmax > 0, res / safe, np.where(res > 0, np.inf, 0.0))
    return np.where(np.isfinite(res) & np.isfinite(vmax), out, np.nan)


class _NoGovernor:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _no_governor():
    return _NoGovernor()


def _pass(governor, passes: int = 1):
    """``passes`` matrix passes as a step of ``governor`` (each half a BiCGSTAB
    iteration's work)."""
    return _NoGovernor() if governor is None else \
        governor.step(work=0.5 * passes * governor.work)
