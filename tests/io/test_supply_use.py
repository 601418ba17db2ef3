"""Tests of lab.supply_use against independent references.

References: hand-solved 2×2 tables (derived below), dense NumPy formulas written
directly from Eurostat's *Manual of Supply, Use and Input-Output Tables* (2008),
ch. 11 (models A, B, D) and Miller & Blair, *Input-Output Analysis* (2009), ch. 5,
and dense ``numpy.linalg.solve`` for labour values. Orientation everywhere:
supply S and use U are products × industries, q = S·1, g = Sᵀ·1.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lab
from lab.exceptions import InvalidEconomyError
from lab.io.supply_use import (
    ASSUMPTIONS,
    NegativeCoefficientsError,
    NegativeCoefficientsWarning,
    SupplyUseResult,
    from_supply_use,
    rectangular,
)

# --------------------------------------------------------------------------- 2 × 2 by hand
#
# Two products (a, b), two industries (1, 2); each industry mainly makes "its"
# product and 10 units of the other (a secondary product), in the layout of
# Miller & Blair §5.2 / Eurostat Manual Table 11.1 (numbers our own):
#
#   supply S (products × industries)   use U (products × industries)   labour T
#             ind1  ind2    q                    ind1  ind2                    ind1 ind2
#      a       90    10   100             a       20    30                      10   20
#      b       10    90   100             b       10    40
#      g      100   100
#
# B_ind = U·diag(1/g) = [[.2, .3], [.1, .4]];  D = Sᵀ·diag(1/q) = [[.9, .1], [.1, .9]].
# Model B (industry technology): A = B_ind·D
#     = [[.2·.9 + .3·.1, .2·.1 + .3·.9], [.1·.9 + .4·.1, .1·.1 + .4·.9]] = [[.21, .29], [.13, .37]]
#   labour per product: l = (T/g)·D = [.1, .2]·D = [.1·.9 + .2·.1, .1·.1 + .2·.9] = [.11, .19]
#   (total l·q = 11 + 19 = 30 = 10 + 20 ✓)
#   values (I − Aᵀ)v = l, I − Aᵀ = [[.79, −.13], [−.29, .63]], det = .4977 − .0377 = .46,
#   v = (1/.46)·[[.63, .13], [.29, .79]]·[.11, .19] = [.094, .182]/.46 = [47/230, 91/230].
# Model D (fixed product sales): A = D·B_ind
#     = [[.9·.2 + .1·.1, .9·.3 + .1·.4], [.1·.2 + .9·.1, .1·.3 + .9·.4]] = [[.19, .31], [.11, .39]]
#   R = T/g = [.1, .2]; (I − Aᵀ) = [[.81, −.11], [−.31, .61]], det = .4941 − .0341 = .46,
#   µ = (1/.46)·[[.61, .11], [.31, .81]]·[.1, .2] = [.083, .193]/.46 = [83/460, 193/460];
#   and Dᵀµ = [.9·83 + .1·193, .1·83 + .9·193]/460 = [94, 182]/460 = v of model B ✓.
# Model A (product technology): U = A·S ⇒ A = U·S⁻¹, S⁻¹ = [[90, −10], [−10, 90]]/8000
#   A = [[20·90 − 30·10, −20·10 + 30·90], [10·90 − 40·10, −10·10 + 40·90]]/8000
#     = [[1500, 2500], [500, 3500]]/8000 = [[.1875, .3125], [.0625, .4375]]
#   R = T·S⁻¹ = [10·90 − 20·10, −10·10 + 20·90]/8000 = [700, 1700]/8000 = [.0875, .2125]

S2 = np.array([[90.0, 10.0], [10.0, 90.0]])
U2 = np.array([[20.0, 30.0], [10.0, 40.0]])
T2 = np.array([10.0, 20.0])


def test_hand_solved_industry_technology():
    res = from_supply_use(S2, U2, resource_totals=T2, codes=["a", "b"])
    assert isinstance(res, SupplyUseResult)
    assert res.assumption == "industry-technology"
    np.testing.assert_allclose(res.economy.A.toarray(), [[0.21, 0.29], [0.13, 0.37]], atol=1e-15)
    np.testing.assert_allclose(res.economy.labour, [0.11, 0.19], atol=1e-15)
    np.testing.assert_allclose(res.total_output, [100.0, 100.0])
    A = res.economy.A.toarray()
    v = np.linalg.solve(np.eye(2) - A.T, res.economy.labour)
    np.testing.assert_allclose(v, [47 / 230, 91 / 230], rtol=1e-13)
    assert list(res.economy.codes) == ["a", "b"]
    assert not res.negative_coefficients and res.negative_coefficients.count == 0


def test_hand_solved_fixed_product_sales():
    res = from_supply_use(S2, U2, resource_totals=T2, assumption="fixed-product-sales",
                          industry_codes=["ind1", "ind2"])
    np.testing.assert_allclose(res.economy.A.toarray(), [[0.19, 0.31], [0.11, 0.39]], atol=1e-15)
    np.testing.assert_allclose(res.economy.labour, [0.1, 0.2], atol=1e-15)
    assert list(res.economy.codes) == ["ind1", "ind2"]
    mu = np.linalg.solve(np.eye(2) - res.economy.A.toarray().T, res.economy.labour)
    np.testing.assert_allclose(mu, [83 / 460, 193 / 460], rtol=1e-13)
    # model B's product values are the market-share average of model D's industry values
    np.testing.assert_allclose(np.array([[0.9, 0.1], [0.1, 0.9]]).T @ mu,
                               [47 / 230, 91 / 230], rtol=1e-13)


def test_hand_solved_product_technology():
    res = from_supply_use(S2, U2, resource_totals=T2, assumption="product-technology")
    np.testing.assert_allclose(res.economy.A.toarray(), [[0.1875, 0.3125], [0.0625, 0.4375]],
                               atol=1e-15)
    np.testing.assert_allclose(res.economy.labour, [0.0875, 0.2125], atol=1e-15)
    assert res.negative == "error" and res.negative_coefficients.action == "none"


# --------------------------------------------------------------------------- random tables


def random_sut(rng, m, n, *, density=0.3, secondary=0.2):
    """A random SUT, products × industries, every product and industry with output."""
    S = rng.random((m, n)) * (rng.random((m, n)) < secondary)
    for i in range(m):  # every product has a principal producer
        S[i, i % n] += 5 + 10 * rng.random()
    for k in range(n):
        S[k % m, k] += 1.0
    U = rng.random((m, n)) * (rng.random((m, n)) < density)
    # scale use so that each industry uses about half of its output value
    g = S.sum(axis=0)
    U *= 0.5 * g / np.maximum(U.sum(axis=0), 1e-12)
    T = rng.random((2, n)) * g
    return S, U, T


def dense_reference(S, U, T, assumption):
    """(A, R, x) straight from the Eurostat formulas, dense NumPy."""
    q, g = S.sum(axis=1), S.sum(axis=0)
    if assumption == "industry-technology":
        A = U @ np.diag(1 / g) @ S.T @ np.diag(1 / q)
        R = T @ np.diag(1 / g) @ S.T @ np.diag(1 / q)
        return A, R, q
    if assumption == "fixed-product-sales":
        A = S.T @ np.diag(1 / q) @ U @ np.diag(1 / g)
        return A, T @ np.diag(1 / g), g
    Sinv = np.linalg.inv(S)
    return U @ Sinv, T @ Sinv, q


@pytest.mark.parametrize("assumption", ASSUMPTIONS)
@pytest.mark.parametrize("fmt", ["dense", "csc", "csr", "coo", "frame"])
def test_random_matches_dense_formulas(assumption, fmt):
    rng = np.random.default_rng(7)
    m, n = (12, 12) if assumption == "product-technology" else (13, 9)
    S, U, T = random_sut(rng, m, n)
    if assumption == "product-technology":  # near-diagonal S and dense U keep A ≥ 0
        S = np.diag(S.sum(axis=0)) + 0.001 * rng.random((m, n)) * (rng.random((m, n)) < 0.2)
        U = U + 0.5 + rng.random((m, n))
    A_ref, R_ref, x_ref = dense_reference(S, U, T, assumption)
    conv = {
        "dense": lambda M: M,
        "csc": sp.csc_array,
        "csr": sp.csr_matrix,
        "coo": sp.coo_array,
        "frame": lambda M: pd.DataFrame(M),
    }[fmt]
    S_in, U_in = conv(S), conv(U)
    res = from_supply_use(S_in, U_in, resource_totals=T, assumption=assumption,
                          resource_names=["hours", "energy"])
    np.testing.assert_allclose(res.economy.A.toarray(), A_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.economy.R, R_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.total_output, x_ref, rtol=1e-13)
    assert res.economy.resource_names == ("hours", "energy")
    assert res.assumption == assumption


@pytest.mark.parametrize("assumption", ASSUMPTIONS)
def test_totals_conserved(assumption):
    rng = np.random.default_rng(11)
    m, n = (10, 10) if assumption == "product-technology" else (15, 8)
    S, U, T = random_sut(rng, m, n)
    if assumption == "product-technology":
        S = np.diag(S.sum(axis=0)) + 0.001 * rng.random((m, n))
        U = U + 0.5 + rng.random((m, n))
    S0, U0, T0 = S.copy(), U.copy(), T.copy()
    res = from_supply_use(S, U, resource_totals=T, assumption=assumption)
    A, R, x = res.economy.A.toarray(), res.economy.R, res.total_output
    Z = A * x  # flows Z = A·diag(x)
    # inputs not mutated
    np.testing.assert_array_equal(S, S0)
    np.testing.assert_array_equal(U, U0)
    np.testing.assert_array_equal(T, T0)
    # every resource's national total is kept
    np.testing.assert_allclose(R @ x, T.sum(axis=1), rtol=1e-12)
    # total intermediate use is kept
    np.testing.assert_allclose(Z.sum(), U.sum(), rtol=1e-12)
    if assumption == "fixed-product-sales":
        np.testing.assert_allclose(x, S.sum(axis=0), rtol=1e-14)  # industry output g
        np.testing.assert_allclose(Z.sum(axis=0), U.sum(axis=0), rtol=1e-12)  # inputs by industry
    else:
        np.testing.assert_allclose(x, S.sum(axis=1), rtol=1e-14)  # product output q
        np.testing.assert_allclose(Z.sum(axis=1), U.sum(axis=1), rtol=1e-12)  # use by product


# --------------------------------------------------------------------------- negatives


# Industry 2 makes 30 of product a as a by-product of 70 of product b, but uses only 5
# of a, while a's own technology (industry 1: 30 of a for 90 of a) needs 1/3 per unit:
#   S = [[90, 30], [0, 70]], U = [[30, 5], [6, 20]], S⁻¹ = [[1/90, −30/6300], [0, 1/70]]
#   A = U·S⁻¹: column a = U[:, 0]/90 = [1/3, 1/15];
#              column b = (U[:, 1] − U[:, 0]/3)/70 = [(5 − 10)/70, (20 − 2)/70] = [−1/14, 9/35]
#   R = T·S⁻¹ with T = [9, 7]: [9/90, (7 − 3)/70] = [0.1, 2/35] (no negative)
SN = np.array([[90.0, 30.0], [0.0, 70.0]])
UN = np.array([[30.0, 5.0], [6.0, 20.0]])
TN = np.array([9.0, 7.0])


def test_product_technology_negative_error_reports():
    with pytest.raises(NegativeCoefficientsError) as ei:
        from_supply_use(SN, UN, resource_totals=TN, assumption="product-technology",
                        codes=["a", "b"])
    err = ei.value
    assert isinstance(err, InvalidEconomyError)
    rep = err.report
    assert rep.count == 1 and rep.action == "error"
    e = rep.smallest
    assert (e.matrix, e.row, e.col) == ("A", "a", "b")
    assert e.value == pytest.approx(-1 / 14, rel=1e-13)
    assert rep.total == pytest.approx(-1 / 14, rel=1e-13)
    assert "A['a', 'b']" in str(err) and "clip" in str(err)


def test_product_technology_negative_clip():
    with pytest.warns(NegativeCoefficientsWarning, match="1 negative coefficient"):
        res = from_supply_use(SN, UN, resource_totals=TN, assumption="product-technology",
                              codes=["a", "b"], negative="clip")
    assert res.negative == "clip"
    rep = res.negative_coefficients
    assert rep.action == "clip" and rep.count == 1
    assert rep.entries[0].value == pytest.approx(-1 / 14)
    np.testing.assert_allclose(res.economy.A.toarray(), [[1 / 3, 0.0], [1 / 15, 9 / 35]],
                               rtol=1e-13)
    np.testing.assert_allclose(res.economy.labour, [0.1, 2 / 35], rtol=1e-13)
    assert any("clipped" in note for note in res.notes)
    # the other assumptions never create negatives on the same table
    for a in ("industry-technology", "fixed-product-sales"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            r = from_supply_use(SN, UN, resource_totals=TN, assumption=a)
        assert r.negative_coefficients.count == 0 and r.economy.A.min() >= 0


def test_product_technology_negative_resources_reported():
    # industry 2's labour is lower than its by-product's technology implies: R < 0
    T = np.array([9.0, 2.0])  # R = [0.1, (2 − 3)/70]
    S, U = SN, np.array([[30.0, 20.0], [6.0, 20.0]])  # A ≥ 0 now: (20 − 10)/70
    with pytest.raises(NegativeCoefficientsError) as ei:
        from_supply_use(S, U, resource_totals=T, assumption="product-technology",
                        resource_names=["hours"])
    (e,) = ei.value.report.entries
    assert (e.matrix, e.row, e.col) == ("R", "hours", "P1")
    assert e.value == pytest.approx(-1 / 70)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(supply=np.ones((3, 2)), use=np.ones((2, 3))), r"use has shape \(2, 3\) but supply"
                                                            r" has shape \(3, 2\).*transposed"),
        (dict(supply=np.ones((3, 2)), use=np.ones((3, 3))), r"use has shape \(3, 3\)"),
        (dict(supply=np.ones(3), use=np.ones(3)), r"supply must be 2-D"),
        (dict(supply=np.ones((3, 2)), use=np.ones((3, 2)), resource_totals=np.ones(3)),
         r"resource_totals has shape \(3,\) but supply has shape \(3, 2\)"),
        (dict(supply=np.ones((3, 2)), use=np.ones((3, 2)), codes=["a", "b"]),
         r"codes has length 2 but there are 3 products"),
        (dict(supply=np.ones((3, 2)), use=np.ones((3, 2)), industry_codes=["a", "a"]),
         r"industry_codes must be unique"),
        (dict(supply=[[1.0, -2.0], [0.0, 1.0]], use=np.ones((2, 2))),
         r"supply has 1 negative entries.*supply\['P0', 'I1'\] = -2.0"),
        (dict(supply=np.eye(2), use=[[np.nan, 0.0], [0.0, 1.0]]), r"use has 1 NaN"),
        (dict(supply=np.eye(2), use=np.eye(2), resource_totals=[1.0, np.inf]),
         r"resource_totals has 1 NaN or infinite"),
        (dict(supply=np.eye(2), use=np.eye(2), resource_totals=[1.0, -1.0]),
         r"resource_totals has 1 negative"),
        (dict(supply=np.eye(2), use=np.eye(2), assumption="commodity-technology"),
         r"assumption"),
        (dict(supply=np.eye(2), use=np.eye(2), negative="ignore"), r"negative"),
        (dict(supply=np.ones((3, 2)), use=np.ones((3, 2)), assumption="product-technology"),
         r"needs a square supply table.*\(3, 2\)"),
        (dict(supply=[[1.0, 2.0], [2.0, 4.0]], use=np.eye(2), assumption="product-technology"),
         r"supply is (numerically )?singular"),
        (dict(supply=[[1.0, 2.0], [0.0, 0.0]], use=np.eye(2), assumption="product-technology",
              codes=["a", "b"]),
         r"supply is singular.*made by no industry: 'b'"),
        (dict(supply=[[1.0, 0.0], [1.0, 0.0]], use=np.ones((2, 2)), industry_codes=["x", "y"]),
         r"industry 'y' uses products but has zero output"),
        (dict(supply=[[1.0, 0.0], [0.0, 0.0]], use=[[0.1, 0.0], [0.2, 0.0]],
              resource_totals=[1.0, 0.0], codes=["a", "imp"]),
         r"product 'imp' is used as an input but no industry supplies it.*drop_use"),
    ],
)
def test_errors(kwargs, match):
    with pytest.raises(InvalidEconomyError, match=match):
        from_supply_use(**kwargs)


def test_singular_supply_nonzero_rows():
    # full rows and columns, but rank 2 of 3
    S = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    with pytest.raises(InvalidEconomyError, match="singular"):
        from_supply_use(S, np.ones((3, 3)), assumption="product-technology")


def test_zero_output_products_and_industries():
    # product "imp" is used but made by nobody; product "z" and industry "I2" are empty
    S = np.array([[10.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    U = np.array([[1.0, 2.0, 0.0], [3.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])
    codes = ["a", "b", "imp", "z"]
    res = from_supply_use(S, U, resource_totals=[5.0, 4.0, 0.0], codes=codes,
                          zero_output="drop_use")
    e = res.economy
    assert list(e.codes) == ["a", "b"]
    assert set(e.dropped) == {"imp", "z"}
    assert "non-produced" in e.dropped_reasons["imp"]
    np.testing.assert_allclose(e.A.toarray(), [[0.1, 0.25], [0.3, 0.125]])
    assert any("total 1" in n for n in res.notes)
    # an unused zero-output product alone is dropped by default
    U2_ = U.copy()
    U2_[2] = 0
    res = from_supply_use(S, U2_, codes=codes)
    assert list(res.economy.codes) == ["a", "b"]
    assert res.economy.resource_names == ("none",) and not res.economy.R.any()
    with pytest.raises(InvalidEconomyError, match="zero_output='error'"):
        from_supply_use(S, U2_, codes=codes, zero_output="error")
    # industry × industry: the empty industry is dropped
    res = from_supply_use(S, U, zero_output="drop_use", assumption="fixed-product-sales",
                          industry_codes=["x", "y", "empty"])
    assert list(res.economy.codes) == ["x", "y"] and res.economy.dropped == ("empty",)
    np.testing.assert_allclose(res.economy.A.toarray(), [[0.1, 0.25], [0.3, 0.125]])


def test_dataframe_labels():
    S = pd.DataFrame(S2, index=["a", "b"], columns=["ind1", "ind2"])
    res = from_supply_use(S, U2, assumption="fixed-product-sales")
    assert list(res.economy.codes) == ["ind1", "ind2"]
    res = from_supply_use(S, U2, names=["apples", "bread"])
    assert list(res.economy.codes) == ["a", "b"] and list(res.economy.names) == ["apples", "bread"]


# --------------------------------------------------------------------------- realistic SUT


def realistic_sut(seed=2016, n=40):
    """n industries, each with a principal product and 1–2 secondary products (by-products).

    m = 2n + something products: every industry has its own principal product, and
    a pool of by-products (scrap, waste heat, by-product chemicals) is made by
    several industries at once. Use is sparse and column-stochastic-ish (about
    45 % of output value is intermediate use), labour in hours.
    """
    rng = np.random.default_rng(seed)
    m = n + n // 2
    S = np.zeros((m, n))
    for k in range(n):
        S[k, k] = 100 + 900 * rng.random()  # principal product
        for _ in range(rng.integers(1, 3)):  # 1–2 secondary products → 2–3 products each
            i = rng.integers(0, m)
            S[i, k] += 0.05 * S[k, k] * rng.random()
    for i in range(n, m):  # every by-product has a producer
        if S[i].sum() == 0:
            S[i, rng.integers(0, n)] = 20 * rng.random() + 1
    g = S.sum(axis=0)
    U = sp.random_array((m, n), density=0.15, random_state=rng).toarray()
    U *= (0.45 * g) / np.maximum(U.sum(axis=0), 1e-12)
    hours = g * (0.5 + rng.random(n)) * 10
    return S, U, hours


def test_realistic_industry_technology_values():
    S, U, hours = realistic_sut()
    m, n = S.shape
    res = from_supply_use(sp.csc_array(S), sp.csr_array(U), resource_totals=hours)
    e = res.economy
    assert e.n_products == m
    # direct computation (Sweden README / Eurostat model B): Z = U diag(1/g) Sᵀ, l = L diag(1/g) Sᵀ
    q, g = S.sum(axis=1), S.sum(axis=0)
    Z = U @ (S / g).T
    L = (hours / g) @ S.T
    A = Z / q
    v_ref = np.linalg.solve(np.eye(m) - A.T, L / q)
    from lab.values import labour_values

    v = labour_values(e).values
    np.testing.assert_allclose(v, v_ref, rtol=1e-9)
    # independent characterisation: a product's value is the market-share-weighted value
    # of its producers, µ_k = (hours_k + Σ_i U[i, k] v_i) / g_k, v = Dᵀµ
    mu = (hours + U.T @ v_ref) / g
    np.testing.assert_allclose((S / q[:, None]) @ mu, v_ref, rtol=1e-12)
    # labour embodied in final demand = total labour
    f = q - Z.sum(axis=1)
    assert v_ref @ f == pytest.approx(hours.sum(), rel=1e-10)
    # the industry × industry values give the same product values (v_B = Dᵀ µ_D)
    rd = from_supply_use(S, U, resource_totals=hours, assumption="fixed-product-sales")
    mu_d = np.linalg.solve(np.eye(n) - rd.economy.A.toarray().T, rd.economy.labour)
    np.testing.assert_allclose(mu_d, mu, rtol=1e-10)
    # and the rectangular form satisfies the same industry balance
    A_r, B_r, R_r, act, pc, tc, rn = rectangular(S, U, resource_totals=hours)
    assert A_r.shape == B_r.shape == (m, n) and R_r.shape == (1, n)
    np.testing.assert_allclose(B_r @ act, q, rtol=1e-13)
    np.testing.assert_allclose(A_r @ act, U.sum(axis=1), rtol=1e-13)
    np.testing.assert_allclose(R_r @ act, [hours.sum()], rtol=1e-13)
    # per industry, labour + value of inputs = µ_k (its industry-technology value) ...
    np.testing.assert_allclose(R_r[0] + v_ref @ A_r, mu, rtol=1e-12)
    # ... and at activity g the value of all outputs = all labour + value of all inputs
    assert v_ref @ (B_r @ act) == pytest.approx(R_r[0] @ act + v_ref @ (A_r @ act), rel=1e-12)


def test_rectangular_drops_empty_industries():
    S = np.array([[10.0, 0.0, 2.0], [0.0, 0.0, 8.0]])
    U = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 1.0]])
    A, B, R, act, pc, tc, rn = rectangular(S, U, resource_totals=[1.0, 0.0, 5.0],
                                           industry_codes=["x", "empty", "y"])
    assert tc == ("x", "y") and pc == ("P0", "P1") and rn == ("labour",)
    np.testing.assert_allclose(B.toarray(), [[1.0, 0.2], [0.0, 0.8]])
    np.testing.assert_allclose(A.toarray(), [[0.1, 0.2], [0.3, 0.1]])
    np.testing.assert_allclose(R, [[0.1, 0.5]])
    with pytest.raises(InvalidEconomyError, match="industry 'empty' uses resources"):
        rectangular(S, U, resource_totals=[1.0, 1.0, 5.0], industry_codes=["x", "empty", "y"])


def test_sweden_as_diagonal_supply_reproduces_the_table():
    """Real data: the Sweden product × product table as a SUT with one product per industry.

    With S = diag(q) every assumption must return the published A = Z·diag(1/q) and
    the published labour coefficients.
    """
    d = Path(lab.datasets.__file__).parent / "sweden-2016"  # shipped with lab
    dt = {"code": str, "input_code": str, "output_code": str}
    p = pd.read_csv(d / "products.csv", dtype=dt, keep_default_na=False)
    f = pd.read_csv(d / "flows.csv", dtype=dt, keep_default_na=False)
    ix = pd.Index(p.code)
    x = p.total_output.to_numpy(float)
    m = len(p)
    Z = sp.coo_array((f.value.to_numpy(float), (ix.get_indexer(f.input_code),
                                                 ix.get_indexer(f.output_code))), shape=(m, m))
    Z = Z.toarray()
    hours = p.hours_worked.to_numpy(float)
    A_ref, l_ref = Z / x, hours / x
    for assumption in ASSUMPTIONS:
        res = from_supply_use(np.diag(x), Z, resource_totals=hours, assumption=assumption,
                              codes=list(p.code), industry_codes=list(p.code))
        np.testing.assert_allclose(res.economy.A.toarray(), A_ref, rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(res.economy.labour, l_ref, rtol=1e-12)
        assert list(res.economy.codes) == list(p.code)


# --------------------------------------------------------------------------- labels (issue 11)
# Item 4: tables are matched by label, never by position; duplicated labels are errors.

S3 = np.array([[50.0, 5.0], [3.0, 40.0], [7.0, 11.0]])      # products p, q, r × industries x, y
U3 = np.array([[9.0, 4.0], [2.0, 12.0], [6.0, 1.0]])
T3 = np.array([[30.0, 15.0], [2.0, 9.0]])                    # labour, energy × x, y


def industry_technology_reference(S, U, T):
    """Eurostat model B, dense NumPy: A = U·diag(1/g)·Sᵀ·diag(1/q), R = T·diag(1/g)·Sᵀ·diag(1/q)."""
    q, g = S.sum(axis=1), S.sum(axis=0)
    W = np.diag(1 / g) @ S.T @ np.diag(1 / q)
    return U @ W, T @ W


def labelled(M, rows, cols, row_order, col_order):
    frame = pd.DataFrame(M, index=rows, columns=cols)
    return frame.loc[row_order, col_order]


@pytest.mark.parametrize("use_rows, use_cols", [(["r", "p", "q"], ["x", "y"]),
                                                 (["p", "q", "r"], ["y", "x"]),
                                                 (["q", "r", "p"], ["y", "x"])])
def test_use_table_in_another_order_is_matched_by_label(use_rows, use_cols):
    supply = labelled(S3, list("pqr"), list("xy"), list("pqr"), list("xy"))
    use = labelled(U3, list("pqr"), list("xy"), use_rows, use_cols)
    totals = labelled(T3, ["labour", "energy"], list("xy"), ["energy", "labour"], ["y", "x"])
    res = from_supply_use(supply, use, resource_totals=totals)
    A, R = industry_technology_reference(S3, U3, T3)
    assert list(res.economy.codes) == list("pqr")
    assert res.economy.resource_names == ("energy", "labour")   # the frame's own order
    np.testing.assert_allclose(res.economy.A.toarray(), A, rtol=1e-13)
    np.testing.assert_allclose(res.economy.R, R[::-1], rtol=1e-13)


def test_resource_totals_series_in_another_order_is_matched_by_label():
    series = pd.Series({"y": T3[0, 1], "x": T3[0, 0]})
    res = from_supply_use(S3, U3, resource_totals=series, industry_codes=["x", "y"])
    _, R = industry_technology_reference(S3, U3, T3[:1])
    np.testing.assert_allclose(res.economy.R, R, rtol=1e-13)
    frame = pd.DataFrame(T3, index=["labour", "energy"], columns=["x", "y"])
    named = from_supply_use(S3, U3, resource_totals=frame.loc[:, ["y", "x"]],
                            industry_codes=["x", "y"], resource_names=["energy", "labour"])
    _, R2 = industry_technology_reference(S3, U3, T3[::-1])
    np.testing.assert_allclose(named.economy.R, R2, rtol=1e-13)


@pytest.mark.parametrize("case, match", [
    ("use labels differ", r"use\.index is labelled.*not product codes: 's'; missing: 'r'"),
    ("use industries differ", r"use\.columns.*not industry codes: 'z'"),
    ("duplicated supply rows", r"supply\.index has duplicated labels: 'p'"),
    ("duplicated use columns", r"use\.columns has duplicated labels: 'x'"),
    ("series unknown industry", r"resource_totals.*not industry codes: 'w'"),
    ("series duplicated", r"resource_totals\.index has duplicated labels: 'x'"),
    ("codes disagree with the frame", r"supply\.index.*not product codes: 'p'"),
])
def test_mismatched_or_duplicated_labels_are_errors_naming_them(case, match):
    supply = pd.DataFrame(S3, index=list("pqr"), columns=list("xy"))
    use = pd.DataFrame(U3, index=list("pqr"), columns=list("xy"))
    totals, codes = None, None
    if case == "use labels differ":
        use.index = list("pqs")
    elif case == "use industries differ":
        use.columns = list("xz")
    elif case == "duplicated supply rows":
        supply.index = list("pqp")
    elif case == "duplicated use columns":
        use.columns = list("xx")
    elif case == "series unknown industry":
        totals = pd.Series({"x": 1.0, "w": 2.0})
    elif case == "series duplicated":
        totals = pd.Series([1.0, 2.0], index=["x", "x"])
    else:
        codes = list("abc")
    with pytest.raises(InvalidEconomyError, match=match):
        from_supply_use(supply, use, resource_totals=totals, codes=codes)


def test_plain_arrays_with_duplicated_codes_are_errors():
    with pytest.raises(InvalidEconomyError, match="codes must be unique.*'p'"):
        from_supply_use(S3, U3, codes=list("ppr"))
