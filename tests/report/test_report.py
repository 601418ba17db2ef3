"""What a report shows, read back from the page in Python and checked against the result,
independent references (scipy for labour values, lab.explain's own identity for the
supply chains) and hand computations. The browser tests (test_browser.py) check that
a browser shows it."""

from __future__ import annotations

import math

import _fixtures as fx
import numpy as np
import pytest
import scipy.sparse as sp
from _page import columns, document, external_references
from scipy.sparse.linalg import spsolve

import lab
import lab._html
import lab.report
from lab.exceptions import InvalidOptionError, InvalidTypeError


def _reference_values(economy):
    """v = l + Aᵀv by a direct sparse solve (not lab's solvers)."""
    m = economy.n_products
    M = sp.identity(m, format="csc") - sp.csc_array(economy.A).T.tocsc()
    return spsolve(M.tocsc(), economy.R[0])


def _targets(plan):
    return [str(plan.problem.product_codes[i]) for i in plan.problem.target_index]


def test_plan_report_shows_every_target_and_its_numbers(tmp_path):
    uk_plan = fx.uk_plan()
    uk = fx.uk()
    path = lab.report.to_html(uk_plan, tmp_path / "plan.html")
    doc, cols = document(path), columns(path)
    codes = _targets(uk_plan)
    assert doc["kind"] == "plan" and doc["table"]["rows"] == len(codes) == 122
    assert cols["code"] == codes
    np.testing.assert_allclose(cols["fulfilment"], uk_plan.fulfilment, rtol=1e-6)
    idx = uk_plan.problem.target_index
    np.testing.assert_allclose(cols["target"], uk_plan.problem.targets[idx], rtol=1e-6)
    np.testing.assert_allclose(cols["price"], uk_plan.prices[idx], rtol=1e-6)
    np.testing.assert_allclose(cols["value"], _reference_values(uk)[idx], rtol=1e-6)
    assert cols["name"] == [str(uk.names[i]) for i in idx]
    # headline: certified, the proven gap, harmony, the worst-fulfilled targets
    head = doc["headline"]
    assert head["certified"] is True and head["status"] == "OPTIMAL"
    cards = {c["label"]: c["value"] for c in head["cards"]}
    assert cards["proven gap"] == f"{uk_plan.relative_gap:.1e}"
    assert float(cards["harmony"].replace(",", "")) == pytest.approx(uk_plan.harmony, rel=1e-7)
    assert [w["code"] for w in head["worst"]] == [c for c, _ in uk_plan.worst_targets(5)]
    # the distribution: every target in one bar or another
    bars = doc["charts"][0]["spec"]["data"]["values"]
    assert sum(b["count"] for b in bars) == len(codes)


def test_plan_report_says_what_limits_the_plan_in_words(tmp_path):
    uk_plan = fx.uk_plan()
    doc = document(lab.report.to_html(uk_plan, tmp_path / "plan.html"))
    (row,) = doc["limits"]["resources"]
    price = float(uk_plan.resource_prices[0])
    assert row["binding"] and row["price"] == pytest.approx(price)
    assert row["words"].startswith("One more unit of compensation would raise harmony by about")
    assert f"{price:.3e}" in row["words"]
    # 1 % more labour: the first-order effect, λ·ρ/100
    effect = 0.01 * uk_plan.available[0] * price
    assert f"{effect:,.4g}" in row["words"]
    assert doc["limits"]["capacities"] == []            # no capacities in this problem


def test_shadow_prices_below_the_certificate_are_zero_and_not_binding(tmp_path):
    # labour binds; water, a million times more than the plan can use, must read as not
    # binding, its price 0
    A = np.array([[0.0, 0.2], [0.5, 0.0]])
    two = lab.Economy(A, np.array([[1.0, 2.0], [0.1, 0.1]]), codes=["corn", "iron"],
                      resource_names=["labour", "water"])
    problem = lab.PlanningProblem(two, {"corn": 10.0}, available={"labour": 30.0,
                                                                   "water": 1e6})
    plan = lab.plan(problem)
    doc = document(lab.report.to_html(plan, tmp_path / "p.html"))
    rows = {r["resource"]: r for r in doc["limits"]["resources"]}
    assert rows["labour"]["binding"] and rows["labour"]["words"].startswith(
        "One more hour of labour would raise harmony")
    assert not rows["water"]["binding"] and rows["water"]["price"] == 0.0
    assert "does not limit the plan" in rows["water"]["words"]


def test_supply_chains_of_every_target_add_up_to_its_value(tmp_path):
    uk_plan = fx.uk_plan()
    uk = fx.uk()
    doc = document(lab.report.to_html(uk_plan, tmp_path / "plan.html"))
    chains = doc["chains"]
    assert set(chains) == set(_targets(uk_plan))          # 122 targets ≤ 200: all of them
    v = _reference_values(uk)
    index = {str(c): i for i, c in enumerate(uk.codes)}
    for code, chain in chains.items():
        assert chain["value"] == pytest.approx(v[index[code]], rel=1e-8)
        assert sum(chain["contribution"]) + chain["remainder"] == pytest.approx(
            chain["value"], rel=1e-9)
        assert all(p[0] == code for p in chain["paths"])
    code = _targets(uk_plan)[0]
    paths = lab.explain(uk, code, top=8)
    assert chains[code]["paths"] == [list(p) for p in paths["path"]]
    np.testing.assert_allclose(chains[code]["contribution"], paths["contribution"])


def test_chains_are_limited_to_the_worst_and_largest_targets(tmp_path):
    uk_plan = fx.uk_plan()
    doc = document(lab.report.to_html(uk_plan, tmp_path / "plan.html", chains=12))
    worst = [c for c, _ in uk_plan.worst_targets(10)]
    assert len(doc["chains"]) == 12 and set(worst) <= set(doc["chains"])
    assert "12 of 122 targets" in doc["chains_note"]
    none = document(lab.report.to_html(uk_plan, tmp_path / "none.html", chains=0))
    assert none["chains"] == {}


def test_targets_that_get_nothing_are_said_plainly(tmp_path):
    uk_uniform_plan = fx.uk_uniform_plan()
    doc = document(lab.report.to_html(uk_uniform_plan, tmp_path / "plan.html"))
    nothing = int(np.count_nonzero(uk_uniform_plan.fulfilment < 1e-9))
    assert nothing == 15 and doc["headline"]["nothing"] == nothing
    assert all(w["fulfilment"] < 1e-9 for w in doc["headline"]["worst"])
    note = doc["charts"][0]["note"]
    assert note.startswith("the last bar holds every value above")   # 405× outliers


def test_values_report_distribution_highest_values_and_chains(tmp_path):
    uk_values = fx.uk_values()
    uk = fx.uk()
    path = lab.report.to_html(uk_values, tmp_path / "values.html", economy=uk)
    doc, cols = document(path), columns(path)
    v = _reference_values(uk)
    assert doc["kind"] == "values" and doc["table"]["rows"] == uk.n_products
    assert cols["code"] == [str(c) for c in uk.codes]
    np.testing.assert_allclose(cols["v0"], v, rtol=1e-6)
    top = doc["charts"][1]["spec"]["data"]["values"]
    order = np.argsort(-v, kind="stable")[:20]
    assert [r["code"] for r in top] == [str(uk.codes[i]) for i in order]
    bars = doc["charts"][0]["spec"]["data"]["values"]
    assert sum(b["count"] for b in bars) == int(np.count_nonzero(v > 0))
    assert set(doc["chains"]) == {str(c) for c in uk.codes}    # 127 ≤ 200
    assert doc["headline"]["certified"] and "residual" in doc["headline"]["verdict"]


def test_values_report_without_economy_has_no_chains(tmp_path):
    uk_values = fx.uk_values()
    doc = document(lab.report.to_html(uk_values, tmp_path / "values.html"))
    assert doc["chains"] == {} and "no economy" in doc["chains_note"]


def test_the_page_fetches_nothing(tmp_path):
    uk_plan = fx.uk_plan()
    path = lab.report.to_html(uk_plan, tmp_path / "plan.html")
    assert external_references(path) == []
    text = path.read_text(encoding="utf-8")
    assert "<script src" not in text and "<link" not in text


def test_result_to_html_goes_through_the_registry(tmp_path):
    """result.to_html(path, **kw) calls lab._html.render(result, path, **kw)."""
    uk_plan = fx.uk_plan()
    uk_values = fx.uk_values()
    uk = fx.uk()
    assert {"PlanResult", "ValuesResult", "MultiYearResult"} <= set(lab._html.registered())
    plan_page = uk_plan.to_html(tmp_path / "plan.html")
    assert document(plan_page)["table"]["rows"] == 122
    assert plan_page.read_bytes() == lab.report.to_html(uk_plan, tmp_path / "p2.html").read_bytes()
    values_page = uk_values.to_html(tmp_path / "values.html", economy=uk)
    assert document(values_page)["kind"] == "values"
    multiyear_page = lab.plan(_two_year_problem()).to_html(tmp_path / "years.html")
    assert document(multiyear_page)["kind"] == "multiyear"
    with pytest.raises(TypeError, match="no HTML report for a object"):
        lab._html.render(object(), tmp_path / "x.html")


def _two_year_problem(**kw):
    """MultiYearProblem's docstring economy: grain, tractors (2 per unit of grain, half
    wear out a year), 30 hours a year."""
    economy = lab.Economy(np.zeros((2, 2)), [1.0, 3.0], codes=["grain", "tractor"])
    return lab.MultiYearProblem(
        economy, years=2, targets=[[10.0, 0.0], [10.0, 0.0]], available=[[30.0], [30.0]],
        capital=[[0.0, 0.0], [2.0, 0.0]], depreciation=0.5,
        initial_stocks=[[0.0, 0.0], [20.0, 0.0]], **kw)


def test_multiyear_report_shows_the_trajectories(tmp_path):
    result = lab.plan(_two_year_problem(), method="plan-ray")
    path = lab._html.render(result, tmp_path / "years.html")
    doc, cols = document(path), columns(path)
    assert doc["kind"] == "multiyear" and doc["table"]["rows"] == 2    # grain in years 1, 2
    assert cols["code"] == ["grain", "grain"] and list(cols["year"]) == [1.0, 2.0]
    np.testing.assert_allclose(cols["consumption"], result.consumption[:, 0], rtol=1e-6)
    v = np.array([1.0, 3.0])                                       # no inputs: v = l
    series = {(r["series"], r["year"]): r["hours"]
              for r in doc["charts"][0]["spec"]["data"]["values"]}
    for y in range(2):
        assert series[("output", y + 1)] == pytest.approx(result.output[y] @ v)
        assert series[("consumption", y + 1)] == pytest.approx(result.consumption[y] @ v)
        invested = np.asarray(result.investment[y].sum(axis=1)).ravel()
        assert series[("investment", y + 1)] == pytest.approx(invested @ v, abs=1e-9)
    for y in range(3):
        held = np.asarray(result.stocks[y].sum(axis=1)).ravel()
        assert series[("stocks (start of year)", y + 1)] == pytest.approx(held @ v, abs=1e-9)
    assert series[("stocks (start of year)", 1)] == pytest.approx(20.0 * 3.0)
    np.testing.assert_allclose(cols["traj:output"].reshape(2, 2), result.output, rtol=1e-6)
    phi = {r["year"]: r["phi"] for r in doc["charts"][1]["spec"]["data"]["values"]}
    assert phi[1] == pytest.approx(result.phi[0]) and phi[2] == pytest.approx(result.phi[1])
    assert doc["headline"]["certified"] == bool(result.converged)


def test_bad_arguments_are_clear_errors(tmp_path):
    uk_plan = fx.uk_plan()
    with pytest.raises(InvalidOptionError, match="must end in .html"):
        lab.report.to_html(uk_plan, tmp_path / "plan.txt")
    with pytest.raises(InvalidOptionError, match="chains"):
        lab.report.to_html(uk_plan, tmp_path / "plan.html", chains=-1)
    with pytest.raises(InvalidTypeError, match="PlanResult"):
        lab.report.to_html({"x": 1}, tmp_path / "plan.html")
    assert not (tmp_path / "plan.html").exists()


def test_a_large_generated_plan_aggregates_and_pages(tmp_path):
    problem = lab.generate.generate_planning_problem(20_000, seed=1)
    plan = lab.plan(problem)
    path = lab.report.to_html(plan, tmp_path / "big.html", chains=5)
    doc, cols = document(path), columns(path)
    n = len(problem.target_codes)
    assert doc["table"]["rows"] == n and len(cols["code"]) == n
    np.testing.assert_allclose(cols["fulfilment"], plan.fulfilment, rtol=1e-6)
    assert len(doc["chains"]) == 5
    assert len(doc["charts"][0]["spec"]["data"]["values"]) <= 40     # bars, not points
    assert math.isfinite(sum(b["count"] for b in doc["charts"][0]["spec"]["data"]["values"]))


def test_values_of_several_resources_and_chains_of_the_highest(tmp_path):
    economy = lab.generate_economy(300, seed=2)            # labour, energy, co2
    values = lab.labour_values(economy, resources="all")
    path = lab.report.to_html(values, tmp_path / "v.html", economy=economy, chains=30)
    doc, cols = document(path), columns(path)
    for q in range(3):
        np.testing.assert_allclose(cols[f"v{q}"], values.values[q], rtol=1e-6)
    highest = np.argsort(-values.values[0], kind="stable")[:30]
    assert set(doc["chains"]) == {str(economy.codes[i]) for i in highest}
    assert "the 30 products with the highest values" in doc["chains_note"]


def test_cockshott_plans_claim_nothing(tmp_path):
    problem = lab.generate.generate_planning_problem(300, seed=1)
    plan = lab.plan(problem, method="cockshott")
    doc = document(lab.report.to_html(plan, tmp_path / "c.html"))
    assert not doc["headline"]["certified"] and "no optimality claim" in doc["headline"][
        "verdict"]
    assert doc["limits"]["resources"][0]["words"] == (
        "This method computes no shadow price for labour.")


def test_codes_and_names_cannot_inject_markup(tmp_path):
    """Codes and names are data: escaped in the HTML, JSON-escaped in the scripts, and
    written into the page by textContent only."""
    evil = "</script><script>window.pwned=1</script><b>"
    A = np.array([[0.0, 0.2], [0.5, 0.0]])
    economy = lab.Economy(A, [1.0, 2.0], codes=[evil, "iron"], names=[evil, "<i>iron</i>"])
    plan = lab.plan(lab.PlanningProblem(economy, {evil: 10.0, "iron": 1.0},
                                        available={"labour": 30.0}))
    path = lab.report.to_html(plan, tmp_path / "p.html")
    text = path.read_text(encoding="utf-8")
    n_columns = len(columns(path))
    assert text.count("<script") == 1 + n_columns + 2      # document, columns, Vega, lab
    assert "<script>window.pwned" not in text
    assert document(path)["headline"]["worst"][0]["code"] in (evil, "iron")
    assert columns(path)["code"] == [evil, "iron"]
