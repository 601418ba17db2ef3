"""Synthetic economies: the one place where lab's test problems live.

Tests, benchmarks and the command line all draw their problems from here, so
that a problem is named by its parameters and seed alone.

The main entry point is :func:`generate_economy`, which builds a large sparse
economy with a realistic structure (one big cyclic core, long acyclic supply
chains with small local cycles, heavy-tailed numbers of inputs and supplier
popularity) and an *exactly* known spectral radius.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:  # pragma: no cover
    from lab.economy import Economy

__all__ = ["generate_economy", "generate_planning_problem"]

# Products per chunk. Fixed (not tuned to the machine) so that a seed gives the
# same economy everywhere: every chunk draws from its own child seed.
_CHUNK = 1 << 16
# Probability that a non-lateral input of a supply-chain product comes from the
# core (otherwise from a uniformly chosen lower tier).
_CORE_INPUT_SHARE = 0.4
# Standard deviation of log(number of inputs) and of log(price).
_SIGMA_INPUTS = 1.0
_SIGMA_PRICES = 1.0
# Value-added share used for the labour row when spectral_radius >= 1.
_VALUE_ADDED_NONPRODUCTIVE = 0.1
_RESOURCE_NAMES = ("labour", "energy", "co2", "land")


class _Generated(NamedTuple):
    """Everything the generator knows; only A, R and resource_names go public."""

    A: sp.csc_array
    R: np.ndarray
    resource_names: list[str]
    prices: np.ndarray  # positive left eigenvector: prices @ A == rho * prices
    perm: np.ndarray  # perm[g] = product index of generator position g
    n_core: int  # generator positions [0, n_core) are the core
    tier_start: np.ndarray  # chain tier s holds positions [tier_start[s], tier_start[s+1])


def _check_params(n_products, mean_inputs, max_inputs, depth, core_share, cyclic_share,
                  group_size, spectral_radius, allow_nonproductive, n_resources,
                  supplier_concentration, index_dtype, seed=None):
    from lab.exceptions import InvalidOptionError

    if not (seed is None or isinstance(seed, (np.random.SeedSequence, np.random.Generator))
            or (isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_))
                and seed >= 0)):
        raise InvalidOptionError(f"seed must be None, an integer >= 0, a SeedSequence or a "
                                 f"Generator, got {seed!r}")

    def is_int(x):
        return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))

    if not is_int(n_products) or n_products < 1:
        raise InvalidOptionError(f"n_products must be an integer >= 1, got {n_products!r}")
    if not is_int(depth) or depth < 1:
        raise InvalidOptionError(f"depth must be an integer >= 1, got {depth!r}")
    if not is_int(group_size) or group_size < 1:
        raise InvalidOptionError(f"group_size must be an integer >= 1, got {group_size!r}")
    if not is_int(n_resources) or n_resources < 1:
        raise InvalidOptionError(f"n_resources must be an integer >= 1, got {n_resources!r}")
    if max_inputs is not None and (not is_int(max_inputs) or max_inputs < 1):
        raise InvalidOptionError(
            f"max_inputs must be None or an integer >= 1, got {max_inputs!r}")
    for name, x in (("mean_inputs", mean_inputs), ("core_share", core_share),
                    ("cyclic_share", cyclic_share), ("spectral_radius", spectral_radius),
                    ("supplier_concentration", supplier_concentration)):
        if not isinstance(x, (int, float, np.integer, np.floating)) or isinstance(
                x, (bool, np.bool_)):
            raise InvalidOptionError(f"{name} must be a real number, got {x!r}")
    if not (np.isfinite(mean_inputs) and mean_inputs >= 1.0):
        raise InvalidOptionError(f"mean_inputs must be finite and >= 1, got {mean_inputs!r}")
    # Every product draws about mean_inputs suppliers (repeats are merged afterwards):
    # the draws, not the products, bound the memory, and a product's count is an int32.
    draws = float(n_products) * float(mean_inputs)
    from lab._validation import physical_memory

    memory = physical_memory()
    if mean_inputs > 2**31 / 50 or (memory is not None and 64.0 * draws > memory):
        raise InvalidOptionError(
            f"mean_inputs={mean_inputs!r} is too large for {n_products} products: about "
            f"{draws:.3g} supplier draws (each product draws about mean_inputs suppliers; "
            f"a product can have at most {n_products} distinct ones), more than this "
            "machine's memory holds; use a mean_inputs below the number of products")
    cap = int(max_inputs) if max_inputs is not None else max(1, int(round(50 * mean_inputs)))
    if not mean_inputs <= cap:
        raise InvalidOptionError(
            f"mean_inputs must be finite and in [1, max_inputs={cap}], got {mean_inputs!r}")
    if not (np.isfinite(core_share) and 0.0 < core_share <= 1.0):
        raise InvalidOptionError(f"core_share must be in (0, 1], got {core_share!r}")
    if not (np.isfinite(cyclic_share) and 0.0 <= cyclic_share < 1.0):
        raise InvalidOptionError(f"cyclic_share must be in [0, 1), got {cyclic_share!r}")
    if not (np.isfinite(supplier_concentration) and supplier_concentration >= 1.0):
        raise InvalidOptionError(
            f"supplier_concentration must be finite and >= 1, got {supplier_concentration!r}")
    if not (np.isfinite(spectral_radius) and spectral_radius > 0.0):
        raise InvalidOptionError(
            f"spectral_radius must be positive and finite, got {spectral_radius!r}")
    if spectral_radius >= 1.0 and not allow_nonproductive:
        raise InvalidOptionError(
            f"spectral_radius must be < 1 for a productive economy, got {spectral_radius!r}; "
            "pass allow_nonproductive=True to generate a non-productive economy on purpose")
    if index_dtype is not None:
        try:
            index_dtype = np.dtype(index_dtype)
        except TypeError as exc:
            raise InvalidOptionError(
                f"index_dtype must be None, int32 or int64, got {index_dtype!r}") from exc
        if index_dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
            raise InvalidOptionError(
                f"index_dtype must be None, int32 or int64, got {index_dtype!r}")
    return cap, index_dtype


def _lognormal_mu(mean: float, sigma: float, cap: int) -> float:
    """mu such that E[clip(exp(mu + sigma Z), 1, cap)] == mean (exact, via normal CDFs)."""
    from scipy.optimize import brentq  # imported here: `import lab` stays light
    from scipy.special import ndtr

    def clipped_mean(mu):
        a, b = 0.0, math.log(cap)  # log of the clip bounds 1 and cap
        below = ndtr((a - mu) / sigma)
        above = 1.0 - ndtr((b - mu) / sigma)
        middle = math.exp(mu + 0.5 * sigma**2) * (
            ndtr((b - mu - sigma**2) / sigma) - ndtr((a - mu - sigma**2) / sigma))
        return below + middle + cap * above

    return brentq(lambda mu: clipped_mean(mu) - mean, -60.0, math.log(cap) + 60.0,
                  xtol=1e-12)


def _draw_input_counts(rng, n, mean, cap):
    """Heavy-tailed (clipped lognormal, stochastically rounded) inputs per product, int32."""
    if mean <= 1.0 or cap == 1:
        return np.ones(n, dtype=np.int32)
    mu = _lognormal_mu(mean, _SIGMA_INPUTS, cap)
    x = rng.lognormal(mu, _SIGMA_INPUTS, size=n)
    np.clip(x, 1.0, cap, out=x)
    fl = np.floor(x)
    x -= fl  # fractional part: round up with that probability, so E[k] == E[x]
    k = fl.astype(np.int32)
    k += rng.random(n) < x
    return k


def _chunk_columns(rng, g, k, *, n, n_core, tier_start, group_size, cyclic_share,
                   alpha, perm):
    """Inputs of the products at generator positions g (one chunk, product order).

    Returns (col, rows): local column number and product index of every input,
    sorted by (col, rows) with duplicates removed.
    """
    c = g.size
    colptr = np.zeros(c + 1, dtype=np.int64)
    np.cumsum(k, out=colptr[1:])
    e = int(colptr[-1])
    col = np.repeat(np.arange(c, dtype=np.int64), k)
    first = np.zeros(e, dtype=bool)
    first[colptr[:-1]] = True

    is_core = g < n_core
    n_tiers = tier_start.size - 1
    tier = np.searchsorted(tier_start, g, side="right") - 1  # -1 for core positions
    tier_e = tier[col]
    ge = g[col]

    u_pool = rng.random(e)
    u_pick = rng.random(e)

    # Default: a core supplier, rank drawn from a power law (popular products first).
    pool_start = np.zeros(e, dtype=np.int64)
    pool_size = np.full(e, n_core, dtype=np.int64)

    chain = tier_e >= 0
    lateral = np.zeros(e, dtype=bool)
    if n_tiers > 0 and chain.any():
        # Non-lateral chain inputs: core with prob q, else a uniform lower tier.
        q = _CORE_INPUT_SHARE
        lower = chain & (tier_e > 0) & (u_pool >= q)
        s = np.floor((u_pool[lower] - q) / (1.0 - q) * tier_e[lower]).astype(np.int64)
        np.minimum(s, tier_e[lower] - 1, out=s)
        pool_start[lower] = tier_start[s]
        pool_size[lower] = tier_start[s + 1] - tier_start[s]
        # Lateral links: same tier, same group of group_size consecutive positions.
        if cyclic_share > 0.0 and group_size > 1:
            lateral = chain & ~first & (rng.random(e) < cyclic_share)
            if lateral.any():
                gl = ge[lateral]
                tl = tier_e[lateral]
                ts = tier_start[tl]
                te = tier_start[tl + 1]
                gstart = ts + ((gl - ts) // group_size) * group_size
                gsize = np.minimum(group_size, te - gstart)
                ok = gsize > 1
                off = 1 + np.floor(u_pick[lateral] * (gsize - 1)).astype(np.int64)
                partner = gstart + (gl - gstart + off) % np.maximum(gsize, 1)
                idx = np.flatnonzero(lateral)
                # A lone product at the end of a tier has no partner: keep it non-lateral.
                lateral[idx[~ok]] = False
                idx = idx[ok]
                partner = partner[ok]

    rank = np.floor(pool_size * u_pick**alpha).astype(np.int64)
    np.minimum(rank, pool_size - 1, out=rank)
    rows_gen = pool_start + rank
    del rank, pool_start, pool_size, u_pool, u_pick
    if lateral.any():
        rows_gen[idx] = partner
    # The core's Hamiltonian cycle: core position g uses position g - 1 (mod n_core).
    core_first = colptr[:-1][is_core]
    rows_gen[core_first] = (g[is_core] - 1) % n_core

    key = col * n + perm[rows_gen]
    del rows_gen, col
    key.sort()
    keep = np.empty(e, dtype=bool)
    keep[0] = True
    np.not_equal(key[1:], key[:-1], out=keep[1:])
    key = key[keep]
    col = key // n
    rows = key - col * n
    return col, rows


def _generate(n_products, *, mean_inputs=12.0, max_inputs=None, depth=10, core_share=0.05,
              cyclic_share=0.05, group_size=64, spectral_radius=0.9, allow_nonproductive=False,
              n_resources=3, supplier_concentration=2.0, seed=None, index_dtype=None):
    """Build the economy; return a :class:`_Generated` with the generator's extras."""
    cap, index_dtype = _check_params(
        n_products, mean_inputs, max_inputs, depth, core_share, cyclic_share, group_size,
        spectral_radius, allow_nonproductive, n_resources, supplier_concentration,
        index_dtype, seed)
    n = int(n_products)
    rho = float(spectral_radius)
    rng = np.random.default_rng(seed)

    # --- layout in generator positions: core, then tiers 0..D-1 of the chain ---
    n_core = min(n, max(1, int(round(core_share * n))))
    n_chain = n - n_core
    n_tiers = min(int(depth), n_chain)
    tier_start = n_core + (np.arange(n_tiers + 1, dtype=np.int64) * n_chain) // max(n_tiers, 1)
    if n_tiers == 0:
        tier_start = np.array([n_core], dtype=np.int64)

    perm = rng.permutation(n).astype(np.int64)  # position -> product
    invperm = np.empty(n, dtype=np.int64)
    invperm[perm] = np.arange(n, dtype=np.int64)
    prices = np.exp(_SIGMA_PRICES * rng.standard_normal(n))  # by product
    k_all = _draw_input_counts(rng, n, float(mean_inputs), cap)  # by product
    nnz_max = int(k_all.sum(dtype=np.int64))

    fits32 = max(n, nnz_max) <= np.iinfo(np.int32).max
    if index_dtype is None:
        index_dtype = np.dtype(np.int32) if fits32 else np.dtype(np.int64)
    elif index_dtype == np.int32 and not fits32:
        raise ValueError(
            f"index_dtype=int32 cannot hold {nnz_max} non-zeros; use index_dtype=np.int64")

    indptr = np.zeros(n + 1, dtype=index_dtype)
    indices = np.empty(nnz_max, dtype=index_dtype)
    data = np.empty(nnz_max, dtype=np.float64)

    n_chunks = -(-n // _CHUNK)
    child_seeds = np.random.SeedSequence(rng.integers(2**63)).spawn(n_chunks)
    alpha = float(supplier_concentration)
    pos = 0
    for ci in range(n_chunks):
        j0, j1 = ci * _CHUNK, min(n, (ci + 1) * _CHUNK)
        crng = np.random.default_rng(child_seeds[ci])
        col, rows = _chunk_columns(
            crng, invperm[j0:j1], k_all[j0:j1], n=n, n_core=n_core, tier_start=tier_start,
            group_size=int(group_size), cyclic_share=float(cyclic_share), alpha=alpha,
            perm=perm)
        m = rows.size
        counts = np.bincount(col, minlength=j1 - j0)
        np.cumsum(counts, out=indptr[j0 + 1:j1 + 1])
        indptr[j0 + 1:j1 + 1] += pos
        # Cost shares: squared exponentials give a few dominant inputs per product.
        w = crng.standard_exponential(m)
        w *= w
        colsum = np.bincount(col, weights=w, minlength=j1 - j0)
        pj = prices[j0:j1]
        # A[i, j] = rho * p_j * share_ij / p_i, so that sum_i p_i A[i, j] = rho * p_j.
        w *= (rho * pj / colsum)[col]
        w /= prices[rows]
        indices[pos:pos + m] = rows
        data[pos:pos + m] = w
        pos += m
        del col, rows, w
    if pos < nnz_max:  # duplicates were merged: shrink in place (no copy, usually)
        indices.resize(pos, refcheck=False)
        data.resize(pos, refcheck=False)

    A = sp.csc_array((n, n), dtype=np.float64)
    # Assign the arrays directly: the constructor would down-cast int64 indices.
    A.indptr, A.indices, A.data = indptr, indices, data
    A.has_sorted_indices = True
    A.has_canonical_format = True

    R, names = _resources(rng, n, int(n_resources), rho, prices, invperm, n_core,
                          tier_start)
    return _Generated(A, R, names, prices, perm, n_core, tier_start)


def _resources(rng, n, r, rho, prices, invperm, n_core, tier_start):
    """Dense (r, n) resource matrix: labour hours, energy, CO2, land, then generic rows."""
    R = np.zeros((r, n), dtype=np.float64)
    va = 1.0 - rho if rho < 1.0 else _VALUE_ADDED_NONPRODUCTIVE
    # Labour: a share (between 1/2 and 1) of each product's value added, paid at wage 1.
    R[0] = prices * va * rng.uniform(0.5, 1.0, n)
    if r > 1:  # energy: most products use some directly
        R[1] = prices * 0.05 * rng.lognormal(0.0, 1.0, n) * (rng.random(n) < 0.8)
    if r > 2:  # CO2: proportional to energy, zero for a third of products (clean energy)
        R[2] = R[1] * rng.uniform(0.2, 2.0, n) * (rng.random(n) >= 1.0 / 3.0)
    if r > 3:  # land: raw materials (lowest chain tier) and a few others
        raw = (invperm >= tier_start[0]) & (invperm < tier_start[min(1, tier_start.size - 1)])
        uses = raw | (rng.random(n) < 0.05)
        R[3] = prices * rng.lognormal(-2.0, 1.0, n) * uses
    for q in range(4, r):  # generic scarce resources: half the products use each
        R[q] = prices * rng.lognormal(-3.0, 1.0, n) * (rng.random(n) < 0.5)
    names = [*_RESOURCE_NAMES[:r], *(f"resource_{q}" for q in range(4, r))]
    return R, names


def generate_economy(n_products: int, *, mean_inputs: float = 12.0, depth: int = 10,
                     core_share: float = 0.05, cyclic_share: float = 0.05,
                     group_size: int = 64, spectral_radius: float = 0.9,
                     n_resources: int = 3, seed=None, index_dtype=None,
                     max_inputs: int | None = None, supplier_concentration: float = 2.0,
                     allow_nonproductive: bool = False) -> Economy:
    """Generate a large sparse economy with a realistic structure and exact spectral radius.

    Parameters
    ----------
    n_products : int
        Number of products m (>= 1).
    mean_inputs : float, default 12.0
        Mean number of direct inputs per product, in [1, max_inputs]. The number of
        inputs is heavy-tailed (a lognormal law with log-standard deviation 1, clipped to
        [1, max_inputs] and stochastically rounded; its location is solved so that the
        clipped mean is exactly ``mean_inputs``). Repeated draws of the same supplier are
        merged, so ``A.nnz`` is slightly below ``n_products * mean_inputs`` (about 2 % at
        10⁶ products, more for small economies whose pools of suppliers are small).
    depth : int, default 10
        Number of tiers of the supply chain (raw materials -> intermediates -> final
        products); capped at the number of non-core products.
    core_share : float, default 0.05
        Share of products in the core, in (0, 1]; the core has at least one product.
    cyclic_share : float, default 0.05
        Share, in [0, 1), of a supply-chain product's inputs that are lateral links to
        products of the same tier and group; these create the small cycles.
    group_size : int, default 64
        Size of the groups of consecutive products within a tier; bounds the size of
        every strongly connected component outside the core. 1 disables lateral links.
    spectral_radius : float, default 0.9
        The exact spectral radius ρ(A). Must be in (0, 1) unless ``allow_nonproductive``.
    n_resources : int, default 3
        Number of resource rows r >= 1: ``labour`` (hours, positive for every product),
        ``energy`` (zero for about 20 % of products), ``co2`` (energy times an emission
        factor, zero for a further third), ``land`` (raw materials and 5 % of others),
        then ``resource_4``, ... (used by about half the products each).
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Seed; the same seed gives the identical economy (on any machine).
    index_dtype : None, numpy.int32 or numpy.int64
        Integer type of ``A.indices`` and ``A.indptr``. None: int32 when it can hold the
        number of products and non-zeros, else int64.
    max_inputs : int or None, default None
        Largest number of inputs of one product; None means ``round(50 * mean_inputs)``.
        (Extra parameter: it sets how heavy the tail is allowed to be.)
    supplier_concentration : float, default 2.0
        Exponent α >= 1 of supplier popularity: within a pool of N candidate suppliers,
        the supplier of rank ``floor(N u**α)`` (u uniform) is drawn, so the expected
        number of users of the rank-r supplier falls like r**(1/α - 1) and the most
        popular supplier (think electricity) gets a share of about N**(-1/α) of all draws
        from its pool. α = 1 is uniform. (Extra parameter.)
    allow_nonproductive : bool, default False
        Allow ``spectral_radius >= 1`` to generate non-productive economies on purpose
        (useful to test error paths). (Extra parameter.)

    Returns
    -------
    lab.economy.Economy
        ``A`` is a canonical ``scipy.sparse.csc_array`` (float64, sorted indices, no
        duplicates): column j lists the inputs of product j. ``R`` is a dense (r, m)
        float64 array. Default product codes.

    Raises
    ------
    ValueError
        If a parameter is out of range; the message names it.

    Notes
    -----
    **Structure.** The generator lays out products in *positions*: first the core, a
    share ``core_share`` of all products (machinery, energy, chemicals: everything uses
    everything), then ``depth`` tiers of equal size. A core product takes its inputs only
    from the core; the core's position g uses position g - 1 (cyclically), a Hamiltonian
    cycle, so the core is one strongly connected component (SCC). A chain product of
    tier t takes each input, independently, as a lateral link with probability
    ``cyclic_share`` (never its first input) to another product of the same tier and the
    same group of ``group_size`` consecutive positions; otherwise from the core with
    probability 0.4 and else from a uniformly chosen lower tier (tier 0, raw materials,
    takes its non-lateral inputs from the core). Every edge between different groups
    points from the core or a lower tier to a higher one, so every SCC outside the core
    lies inside a group. Within a pool of candidate suppliers the supplier is drawn with
    a power-law popularity (see ``supplier_concentration``).

    Finally products are numbered by a seeded random permutation of the positions, so
    neither the core, the tiers nor the groups are visible in the product order.
    Nothing about the layout is stored in the returned economy.

    **Exact spectral radius.** Positive prices p are drawn (lognormal). Every product j
    gets positive cost shares s_ij (summing to 1 over its inputs i) and
    ``A[i, j] = ρ p_j s_ij / p_i``, so that ``Σ_i p_i A[i, j] = ρ p_j`` for every column:
    inputs cost the share ρ of output value everywhere, i.e. ``pᵀ A = ρ pᵀ``.
    The core block A_cc is irreducible (Hamiltonian cycle) and has no inputs from
    outside the core, so pᵀ_c A_cc = ρ pᵀ_c with p_c > 0; by Perron–Frobenius a positive
    left eigenvector belongs to the Perron root, so ρ(A_cc) = ρ. Every other irreducible
    diagonal block A_SS (an SCC inside a group) satisfies pᵀ_S A_SS <= ρ pᵀ_S with strict
    inequality in at least one column (each chain product's first input lies outside its
    tier), hence ρ(A_SS) < ρ (Perron–Frobenius, strict monotonicity for irreducible
    matrices). The spectrum of A is the union of the spectra of its diagonal blocks in
    the block-triangular (SCC) order, so ρ(A) = ρ exactly, attained only by the core.

    **Resources.** Labour ``R[0, j] = p_j (1 - ρ) h_j`` with h_j uniform in [0.5, 1]:
    labour is paid a share h_j of value added at wage 1 (for ρ >= 1, 0.1 stands in for
    1 - ρ). The other rows are proportional to p_j times lognormal factors.

    **Cost.** O(nnz) time and memory, vectorised NumPy, in chunks of 65 536 products so
    that temporaries stay small; the CSC arrays are written directly (the only other
    arrays of length m are the permutation, prices and R). About 10⁶ products in a few
    seconds; 10⁷ products (1.2·10⁸ non-zeros) in under a minute with a peak memory of a
    few GB.

    Examples
    --------
    >>> import numpy as np
    >>> from lab.generate import generate_economy
    >>> eco = generate_economy(2000, spectral_radius=0.8, seed=42)
    >>> eco.A.shape, eco.R.shape
    ((2000, 2000), (3, 2000))
    >>> list(eco.resource_names)
    ['labour', 'energy', 'co2']
    >>> bool(abs(max(abs(np.linalg.eigvals(eco.A.toarray()))) - 0.8) < 1e-10)
    True
    """
    from lab.economy import Economy

    gen = _generate(
        n_products, mean_inputs=mean_inputs, max_inputs=max_inputs, depth=depth,
        core_share=core_share, cyclic_share=cyclic_share, group_size=group_size,
        spectral_radius=spectral_radius, allow_nonproductive=allow_nonproductive,
        n_resources=n_resources, supplier_concentration=supplier_concentration, seed=seed,
        index_dtype=index_dtype)
    return Economy(gen.A, gen.R, resource_names=gen.resource_names)


def _capacities(need: np.ndarray, share: float, rng) -> np.ndarray:
    """Capacities between 0.5 and 1.5 times ``need`` on about ``share`` of the techniques.

    Techniques whose need is at most 10⁻¹⁰ of the largest stay uncapped: the gross outputs
    are solved to a residual of 10⁻¹³ of the largest, so such a need may be mostly
    rounding, and a capacity drawn from it (exactly 0 for products a target needs through
    a long chain of small coefficients) would forbid the plan outright: φ = 0 at 10⁴
    products, where φ ≥ 0.5 holds by construction (half the plan that meets the targets
    with the original techniques fits every capacity and resource).
    """
    capped = rng.random(need.size) < share
    cap = np.full(need.size, np.inf)
    cap[capped] = need[capped] * rng.uniform(0.5, 1.5, int(capped.sum()))
    cap[need <= 1e-10 * need.max(initial=0.0)] = np.inf
    return cap


def generate_planning_problem(n_products: int, *, seed=None, alternatives: float = 0.0,
                              joint: float = 0.0, capacities: float = 0.0,
                              target_share: float = 0.3, labour_share: float = 0.8,
                              limit_resources: int = 1, economy=None, **economy_kwargs):
    """A planning problem on a generated economy, with optional technique choice.

    Parameters
    ----------
    n_products : int
        Products m (ignored when ``economy`` is given).
    seed : int, optional
    alternatives : float, default 0
        Share of products that get a second technique: a copy of their technique
        with every input coefficient and resource coefficient multiplied by an
        independent lognormal factor (σ = 0.3), so neither technique dominates.
    joint : float, default 0
        Share of the additional techniques that also make a co-product (a random
        product, 0.1–0.5 units per unit of intensity).
    capacities : float, default 0
        Share of techniques with a capacity, drawn between 0.5 and 1.5 times the
        gross output that meeting the targets exactly would need (techniques whose
        need is at most 10⁻¹⁰ of the largest stay uncapped).
    target_share : float, default 0.3
        Share of products with a target (at least one); targets are lognormal
        around 1, weights 1.
    labour_share : float, default 0.8
        The limited resources are available at this share of what meeting the
        targets exactly with the original techniques needs, so the plan must
        balance shortfalls.
    limit_resources : int, default 1
        How many resource rows (from labour on) are limited.
    economy : Economy, optional
        Use this economy instead of generating one.
    **economy_kwargs
        Passed to :func:`generate_economy`.

    Returns
    -------
    PlanningProblem
        Square (``problem.economy`` is the economy) when ``alternatives == 0``.

    Examples
    --------
    >>> from lab.generate import generate_planning_problem
    >>> p = generate_planning_problem(500, seed=1, alternatives=0.2, joint=0.5, capacities=0.1)
    >>> p.n_products, p.n_techniques > p.n_products
    (500, True)
    """
    import scipy.sparse as sp

    from lab.planning import PlanningProblem
    from lab.planning._exact import gross_outputs
    from lab.values import labour_values

    for name, share in (("alternatives", alternatives), ("joint", joint),
                        ("capacities", capacities), ("labour_share", labour_share)):
        if not 0 <= share <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {share!r}")
    if not 0 < target_share <= 1:
        raise ValueError(f"target_share must be in (0, 1], got {target_share!r}")
    rng = np.random.default_rng(seed)
    if economy is None:
        economy = generate_economy(n_products, seed=rng.integers(2**31), **economy_kwargs)
    m = economy.n_products
    if not 1 <= limit_resources <= economy.n_resources:
        raise ValueError(f"limit_resources must be in [1, {economy.n_resources}], "
                         f"got {limit_resources!r}")
    n_targets = max(1, int(round(target_share * m)))
    idx = np.sort(rng.choice(m, n_targets, replace=False))
    t = np.zeros(m)
    t[idx] = rng.lognormal(0.0, 0.5, n_targets)
    # resources needed to meet the targets exactly with the original techniques
    V = np.atleast_2d(labour_values(economy, resources=list(range(limit_resources)),
                                    rtol=1e-12).values)
    available = np.full(economy.n_resources, np.inf)
    available[:limit_resources] = labour_share * (V @ t)
    names = economy.resource_names
    avail = {names[q]: available[q] for q in range(limit_resources)}
    if alternatives == 0:
        cap = None
        if capacities > 0:
            cap = _capacities(gross_outputs(economy, t), capacities, rng)
        return PlanningProblem(economy, t, available=avail, capacities=cap)
    extra = np.flatnonzero(rng.random(m) < alternatives)
    A = economy.A
    cols = A[:, extra].tocsc()
    cols.data = cols.data * rng.lognormal(0.0, 0.3, cols.data.size)
    R_extra = economy.R[:, extra] * rng.lognormal(0.0, 0.3, (economy.n_resources, extra.size))
    use = sp.hstack([A, cols], format="csc")
    k = m + extra.size
    rows = np.concatenate([np.arange(m), extra])
    vals = np.ones(k)
    co_rows, co_cols, co_vals = [], [], []
    if joint > 0 and extra.size:
        with_co = np.flatnonzero(rng.random(extra.size) < joint)
        co = rng.integers(0, m, with_co.size)
        keep = co != extra[with_co]
        co_rows, co_cols = co[keep], m + with_co[keep]
        co_vals = rng.uniform(0.1, 0.5, co_rows.size)
    make = sp.csc_array((np.concatenate([vals, co_vals]),
                         (np.concatenate([rows, co_rows]),
                          np.concatenate([np.arange(k), co_cols]))), shape=(m, k))
    R = np.hstack([economy.R, R_extra])
    cap = None
    if capacities > 0:
        x_need = gross_outputs(economy, t)
        cap = _capacities(np.concatenate([x_need, x_need[extra]]), capacities, rng)
    codes = economy.codes
    tcodes = np.concatenate([codes, np.array([f"{codes[j]}/alt" for j in extra], dtype=object)])
    return PlanningProblem.from_techniques(
        use, make, R, t, product_codes=codes, technique_codes=tcodes,
        resource_names=economy.resource_names, available=avail, capacities=cap)


def generate_multiyear_problem(n_products: int, *, years: int = 5, seed=None,
                               capital_goods: float = 0.05, capital_per_product: float = 3.0,
                               capital_ratio: float = 2.0, depreciation: float = 0.1,
                               growth: float = 0.03, target_share: float = 0.3,
                               labour_share: float = 0.8, initial_capacity: float = 1.0,
                               capacity_spread: float = 0.15, terminal_stocks=None,
                               weights="value", economy=None, **economy_kwargs):
    """A multi-year plan (MATH.md §4) on a generated economy, with capital and depreciation.

    Parameters
    ----------
    n_products : int
        Products m (ignored when ``economy`` is given).
    years : int, default 5
    seed : int, optional
    capital_goods : float, default 0.05
        Share of the products that serve as capital goods (at least one).
    capital_per_product : float, default 3
        Mean number of capital goods an industry needs (1 + Poisson, at most all of them).
    capital_ratio : float, default 2
        Mean value of an industry's capital per value of its yearly output, split among
        its capital goods: C[s, p] = share · capital_ratio · v_p / v_s with the labour
        values v (so C is in the economy's physical units).
    depreciation : float, default 0.1
        Mean yearly depreciation; each capital good draws its rate uniformly in
        [0.5, 1.5] times this (at most 1).
    growth : float, default 0.03
        Yearly growth of the targets.
    target_share : float, default 0.3
        Share of products with a target in every year (lognormal around 1 in year 1).
    labour_share : float, default 0.8
        Labour each year is this share of what meeting the year's targets and its
        replacement and growth investment needs.
    initial_capacity : float, default 1
        K₁ is on average this multiple of the capital that year 1's needs tie up.
    capacity_spread : float, default 0.15
        Each entry of K₁ is multiplied by a uniform factor in [1 − spread, 1 + spread], so
        that some industries have spare capacity and others are short (with a spread of
        0 every capacity binds at once: a very degenerate plan).
    terminal_stocks : None or float
        As for :class:`lab.MultiYearProblem` (a fraction of K₁).
    weights : {"value", "uniform"}
    economy : Economy, optional
        Use this economy instead of generating one.
    **economy_kwargs
        Passed to :func:`generate_economy`.

    Returns
    -------
    MultiYearProblem
        Labour (resource row 0) is limited each year; other resources are not.

    Examples
    --------
    >>> from lab.generate import generate_multiyear_problem
    >>> p = generate_multiyear_problem(300, years=3, seed=1)
    >>> p.years, p.n_products, p.capital.nnz > 300
    (3, 300, True)
    """
    import scipy.sparse as sp

    from lab.planning import MultiYearProblem
    from lab.planning._exact import gross_outputs
    from lab.values import labour_values

    if not isinstance(years, (int, np.integer)) or isinstance(years, bool) or years < 1:
        raise ValueError(f"years must be an integer >= 1, got {years!r}")
    for name, share in (("capital_goods", capital_goods), ("depreciation", depreciation),
                        ("labour_share", labour_share)):
        if not 0 <= share <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {share!r}")
    if not 0 < target_share <= 1:
        raise ValueError(f"target_share must be in (0, 1], got {target_share!r}")
    for name, value in (("capital_per_product", capital_per_product),
                        ("capital_ratio", capital_ratio), ("growth", growth),
                        ("initial_capacity", initial_capacity)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    if not 0 <= capacity_spread < 1:
        raise ValueError(f"capacity_spread must be in [0, 1), got {capacity_spread!r}")
    rng = np.random.default_rng(seed)
    if economy is None:
        economy = generate_economy(n_products, seed=rng.integers(2**31), **economy_kwargs)
    m = economy.n_products
    v = labour_values(economy, rtol=1e-12).values
    v = np.where(v > 0, v, float(v[v > 0].min()) if (v > 0).any() else 1.0)
    goods = np.sort(rng.choice(m, max(1, int(round(capital_goods * m))), replace=False))
    counts = np.minimum(1 + rng.poisson(max(capital_per_product - 1.0, 0.0), m), goods.size)
    cols = np.repeat(np.arange(m), counts)
    rows = np.concatenate([rng.choice(goods, c, replace=False) for c in counts]) \
        if m else np.zeros(0, dtype=np.intp)
    split = rng.uniform(0.5, 1.5, rows.size)
    split /= np.bincount(cols, weights=split, minlength=m)[cols]
    C = sp.csc_array((split * capital_ratio * v[cols] / v[rows], (rows, cols)), shape=(m, m))
    rate = np.minimum(rng.uniform(0.5, 1.5, m) * depreciation, 1.0)
    n_targets = max(1, int(round(target_share * m)))
    idx = np.sort(rng.choice(m, n_targets, replace=False))
    t1 = np.zeros(m)
    t1[idx] = rng.lognormal(0.0, 0.5, n_targets)
    targets = np.stack([t1 * (1.0 + growth) ** y for y in range(years)])
    # what each year needs: the targets plus replacement and growth investment
    Cc = C.tocoo()
    yearly_rate = rate[Cc.row] + growth

    def needs(t):
        x = gross_outputs(economy, t)
        invest = np.bincount(Cc.row, weights=yearly_rate * Cc.data * x[Cc.col], minlength=m)
        return gross_outputs(economy, t + invest), invest

    labour = np.empty(years)
    for y in range(years):
        _, invest = needs(targets[y])
        labour[y] = labour_share * float(v @ (targets[y] + invest))
    x1, _ = needs(targets[0])
    spread = rng.uniform(1.0 - capacity_spread, 1.0 + capacity_spread, Cc.data.size)
    K1 = sp.csc_array((initial_capacity * spread * Cc.data * x1[Cc.col], (Cc.row, Cc.col)),
                      shape=(m, m))
    available = np.full((years, economy.n_resources), np.inf)
    available[:, 0] = labour
    return MultiYearProblem(economy, years=years, targets=targets, available=available,
                            capital=C, depreciation=rate, initial_stocks=K1,
                            terminal_stocks=terminal_stocks, weights=weights)
