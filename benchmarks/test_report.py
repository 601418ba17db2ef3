"""HTML reports of large plans: the file's size and the time to first render in Chromium.

Problem: ``lab.generate.generate_planning_problem(n, seed=1)`` (30 % of the products
targeted, labour at 80 % of what the targets need), planned with ``lab.plan`` (harmony,
decoupled: certified in seconds at 10⁶). Sizes: ``LAB_BENCH_SIZES`` (default 10⁴, 10⁵;
10⁶ under ``-m large``).

Timed (pytest-benchmark, ``LAB_BENCH_ROUNDS`` rounds, after one untimed call that also
builds the inlined Vega bundle): ``lab.report.to_html(plan, path)``, the default 200
supply chains up to 10⁵ products and 20 above. ``extra_info``:

* ``bytes``: the report's size; ``table_bytes``: the packed table inside it;
* ``first_paint_s``: first contentful paint in headless Chromium (Debian's, the flags of
  tests/report), from the navigation's start, median of 3 loads of the page;
* ``ready_s``: the table decoded and drawn and the charts drawn (``window.labReport``);
* ``requests``: requests other than the file itself (must be 0).

Peer (the page a user would otherwise make, up to ``LAB_BENCH_REPORT_PEER_MAX``
products, default 10⁵): pandas' ``DataFrame.to_html`` of the same targets table (code,
target, net output, fulfilment, price), its size and its load time in the same browser
(``load`` event: the whole table laid out), as ``peer_bytes``, ``peer_first_paint_s``,
``peer_load_s``.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import pytest
from _params import env_sizes, rounds, size_params

import lab
import lab.report

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PEER_MAX = int(float(os.environ.get("LAB_BENCH_REPORT_PEER_MAX", "100000")))


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _open(browser, path: Path, ready: str | None) -> dict:
    """Load ``path`` three times; medians of first paint and of ``ready`` (or load)."""
    paints, readies, requests = [], [], []
    for _ in range(3):
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.on("request", lambda r: None if r.url.startswith("file:")
                else requests.append(r.url))
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith("file:") else route.abort())
        page.goto(path.resolve().as_uri(), wait_until="load", timeout=600_000)
        if ready:
            page.wait_for_function(ready, timeout=600_000)
            readies.append(page.evaluate("window.labReport.readyAt"))
        else:
            readies.append(page.evaluate(
                "performance.getEntriesByType('navigation')[0].loadEventEnd / 1000"))
        paints.append(page.evaluate(
            "(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: NaN})"
            ".startTime / 1000"))
        page.close()
    return {"first_paint_s": statistics.median(paints), "ready_s": statistics.median(readies),
            "requests": len(requests)}


@pytest.mark.parametrize("n", size_params(env_sizes()))
def test_report_of_a_large_plan(benchmark, browser, tmp_path, n):
    problem = lab.generate.generate_planning_problem(n, seed=1)
    plan = lab.plan(problem)
    path = tmp_path / "plan.html"
    lab.report.to_html(plan, path)                      # warm-up: the Vega bundle, imports
    benchmark.group = f"report n={n}"
    benchmark.pedantic(lab.report.to_html, args=(plan, path), rounds=rounds(), iterations=1)
    text = path.read_text(encoding="utf-8")
    info = benchmark.extra_info
    info.update(products=n, targets=len(problem.target_codes), bytes=path.stat().st_size,
                table_bytes=sum(len(line) for line in text.splitlines()
                                if 'class="lab-column"' in line),
                plan_status=plan.status.name, plan_seconds=plan.timings["total"])
    info.update(_open(browser, path, "window.labReport && window.labReport.ready"))
    assert info["requests"] == 0
    if n <= PEER_MAX:
        import numpy as np

        frame = plan.products_frame()
        frame = frame[np.isfinite(frame["target"])]
        peer = tmp_path / "pandas.html"
        frame.to_html(peer)
        opened = _open(browser, peer, None)
        info.update(peer_bytes=peer.stat().st_size, peer_first_paint_s=opened["first_paint_s"],
                    peer_load_s=opened["ready_s"])
