"""Plans and values of a shipped table for the report tests (made once per session).

Plain cached functions, not fixtures in a conftest.py: other folders import
tests/conftest.py as ``conftest``, and a second conftest.py would shadow it."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import lab
from lab.datasets import dataset_files


def _folder(name: str) -> Path:
    return next(p for p in dataset_files(name) if p.name == "products.csv").parent


@functools.cache
def uk_inputs():
    """uk-2010's final demand × 1.1 as targets (positive entries) and today's labour
    (the compensation column's total) as the one limit."""
    folder = _folder("uk-2010")
    with open(folder / "final_demand.csv", newline="", encoding="utf-8") as fh:
        targets = {r["code"]: 1.1 * float(r["value"]) for r in csv.DictReader(fh)
                   if float(r["value"]) > 0}
    with open(folder / "products.csv", newline="", encoding="utf-8") as fh:
        labour = sum(float(r["compensation"]) for r in csv.DictReader(fh))
    return targets, {"compensation": labour}


@functools.cache
def uk():
    return lab.datasets.load("uk-2010")


@functools.cache
def uk_plan():
    targets, available = uk_inputs()
    return lab.plan(lab.PlanningProblem(uk(), targets, available=available))


@functools.cache
def uk_uniform_plan():
    """The plan with unit weights: 15 targets get nothing (issue 12), a varied page."""
    targets, available = uk_inputs()
    return lab.plan(lab.PlanningProblem(uk(), targets, available=available,
                                        weights="uniform"))


@functools.cache
def uk_values():
    return lab.labour_values(uk())


def write_inputs(folder: Path) -> tuple[Path, Path]:
    """targets.csv and resources.csv of uk_inputs() in ``folder`` (for `lab plan`)."""
    targets, available = uk_inputs()
    t, r = folder / "targets.csv", folder / "resources.csv"
    t.write_text("code,target\n" + "".join(f"{c},{v!r}\n" for c, v in targets.items()))
    r.write_text("resource,available\n" + "".join(f"{k},{v!r}\n" for k, v in available.items()))
    return t, r
