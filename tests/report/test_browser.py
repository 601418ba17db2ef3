"""Reports in a real browser: Debian's Chromium, headless, driven by Playwright.

Every non-file request is aborted and recorded (there must be none), and every console
error or warning and page error is collected (there must be none). `.ci/run` installs
Chromium when it is missing; outside CI a machine without it skips these tests.
Screenshots are kept under the test's tmp folder and in tests/report/artifacts/
(git-ignored).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import _fixtures as fx
import numpy as np
import pytest
from _page import document

import lab
import lab.report

CHROMIUM = "/usr/bin/chromium"
#: The flags this machine's notes give for headless Chromium without network noise.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


class Page:
    """A report opened with the network blocked, recording requests and errors."""

    def __init__(self, browser, path: Path):
        self.requests, self.errors = [], []
        self.page = browser.new_page(viewport={"width": 1300, "height": 1100})
        self.page.on("console", lambda m: self.errors.append(f"{m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("request", lambda r: None if r.url.startswith("file:")
                     else self.requests.append(r.url))
        self.page.route("**/*", lambda route: route.continue_()
                        if route.request.url.startswith("file:") else route.abort())
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_function("window.labReport && window.labReport.ready",
                                    timeout=30_000)

    def rows(self) -> list[list[str]]:
        return self.page.eval_on_selector_all(
            "#targets tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")

    def status(self) -> str:
        return self.page.text_content("#status")

    def search(self, text: str) -> None:
        before = self.status()
        self.page.fill("#search", text)
        self.page.wait_for_function("s => document.getElementById('status').textContent !== s",
                                    arg=before)

    def marks(self, chart: str, mark: str) -> int:
        return self.page.locator(f"#chart-{chart} svg g.mark-{mark} path").count()

    def clean(self) -> None:
        report = self.page.evaluate("window.labReport")
        assert report["errors"] == [] and self.errors == [] and self.requests == []

    def screenshot(self, tmp_path: Path, name: str) -> Path:
        path = tmp_path / name
        self.page.screenshot(path=str(path))
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(path, ARTIFACTS / name)
        print(f"screenshot: {ARTIFACTS / name}")
        return path


def test_plan_report_of_uk_2010_in_chromium(browser, tmp_path):
    uk_plan = fx.uk_plan()
    uk = fx.uk()
    path = lab.report.to_html(uk_plan, tmp_path / "plan.html")
    page = Page(browser, path)
    doc = document(path)
    codes = [str(uk_plan.problem.product_codes[i]) for i in uk_plan.problem.target_index]
    names = {str(c): str(n) for c, n in zip(uk.codes, uk.names, strict=True)}
    # the headline is there without any script
    assert "Certified" in page.page.text_content("#headline")
    # every row: all of them on one page
    page.page.select_option("#page-size", "all")
    rows = page.rows()
    assert len(rows) == len(codes) == 122 and sorted(r[0] for r in rows) == sorted(codes)
    assert page.status() == "rows 1–122 of 122"
    # search filters by code or name, case-insensitive
    page.search("Services")
    expected = [c for c in codes if "services" in c.lower() or "services" in names[c].lower()]
    assert sorted(r[0] for r in page.rows()) == sorted(expected) and 0 < len(expected) < 122
    page.search("NM_8")
    assert sorted(r[0] for r in page.rows()) == sorted(c for c in codes if "nm_8" in c.lower())
    page.search("")
    assert len(page.rows()) == 122
    # sorting: by target, up then down
    order = np.argsort(uk_plan.problem.targets[uk_plan.problem.target_index], kind="stable")
    header = page.page.locator("#targets th[data-key=target]")
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert [r[0] for r in page.rows()] == [codes[i] for i in order]
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    assert [r[0] for r in page.rows()][0] == codes[order[-1]]
    # the chart drew its bars
    assert page.marks("fulfilment", "rect") >= 1
    # a product: its value and supply chains
    page.page.click("#targets tbody tr:first-child")
    first = page.rows()[0][0]
    panel = page.page.text_content("#product")
    assert "Main supply chains" in panel and first in panel
    assert page.page.locator("#product .path").count() == len(doc["chains"][first]["paths"])
    page.clean()
    page.page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(tmp_path, "report-uk-2010.png")


def test_values_report_in_chromium(browser, tmp_path):
    uk_values = fx.uk_values()
    uk = fx.uk()
    path = lab.report.to_html(uk_values, tmp_path / "values.html", economy=uk)
    page = Page(browser, path)
    assert page.page.evaluate("window.labReport.charts") == 2
    assert page.marks("values", "rect") >= 1 and page.marks("top", "rect") == 20
    assert page.status() == "rows 1–100 of 127"
    page.page.click("#next")
    assert page.status() == "rows 101–127 of 127" and len(page.rows()) == 27
    # sorted by value, highest first
    values = [float(r[2].replace(",", "")) for r in page.rows()]
    assert values == sorted(values, reverse=True)
    page.clean()
    page.screenshot(tmp_path, "report-uk-2010-values.png")


def test_multiyear_report_in_chromium(browser, tmp_path):
    economy = lab.Economy(np.zeros((2, 2)), [1.0, 3.0], codes=["grain", "tractor"])
    problem = lab.MultiYearProblem(
        economy, years=2, targets=[[10.0, 0.0], [10.0, 0.0]], available=[[30.0], [30.0]],
        capital=[[0.0, 0.0], [2.0, 0.0]], depreciation=0.5,
        initial_stocks=[[0.0, 0.0], [20.0, 0.0]])
    result = lab.plan(problem, method="plan-ray")
    page = Page(browser, lab._html.render(result, tmp_path / "years.html"))
    assert page.marks("trajectories", "line") == 4     # output, consumption, investment, stocks
    page.page.click("#targets tbody tr:first-child")
    page.page.wait_for_selector("#chart-product svg g.mark-line path", state="attached")
    assert "By year" in page.page.text_content("#product")
    page.clean()


def test_codes_are_shown_as_text_not_run(browser, tmp_path):
    evil = "</script><script>window.pwned=1</script><img src=x onerror=window.pwned=2>"
    A = np.array([[0.0, 0.2], [0.5, 0.0]])
    economy = lab.Economy(A, [1.0, 2.0], codes=[evil, "iron"], names=[evil, "iron"])
    plan = lab.plan(lab.PlanningProblem(economy, {evil: 10.0, "iron": 1.0},
                                        available={"labour": 30.0}))
    page = Page(browser, lab.report.to_html(plan, tmp_path / "p.html"))
    page.page.click("#targets tbody tr:first-child")
    assert page.page.evaluate("window.pwned") is None
    assert evil in [r[0] for r in page.rows()]
    page.clean()
