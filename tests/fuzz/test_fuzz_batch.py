"""Fuzzing ``lab batch`` job files: economies from paths (good, corrupt, FIFO), datasets
and the generator; jobs and grids with valid and invalid names, kinds, options,
resources, time limits and scenario changes; then random edits of the TOML text. Each
file goes through read_batch and run_batch in the sandbox (``_cases.batch``): a
JobFileError, or a batch whose done jobs pass a residual or feasibility check and whose
failed jobs carry lab's own errors."""

from __future__ import annotations

import json

from _fuzz import check, fuzz_settings
from _strategies import mutate_text
from hypothesis import given
from hypothesis import strategies as st

GOOD_SOURCES = ['path = "e.npz"', 'path = "folder"', 'path = "e.mtx"',
                'dataset = "germany-1995"', "generate = { n_products = 30, seed = 1 }",
                "generate = { n_products = 12, seed = 2, spectral_radius = 0.99 }"]
BAD_SOURCES = ['path = "fifo"', 'path = "missing.npz"', 'dataset = "atlantis"',
               "generate = { n_products = 0 }", "generate = { n_prods = 5 }",
               "generate = { n_products = 8, spectral_radius = 1.5 }",
               'path = "e.npz"\ngenerate = { n_products = 5 }']
GOOD_NAMES, BAD_NAMES = ["a", "b-1", "c.2", "x=3"], ["../up", "/abs", "", "a" * 130, "con:",
                                                    "é", "a..b"]
GOOD_CODES, BAD_CODES = ["P0", "P1", "P3", "P5", "P11"], ["ZZ", "01", ""]
GOOD_NUMBERS = ["0", "1", "0.5", "2", "1.25", "1e-320"]
BAD_NUMBERS = ["1e308", "-1", "nan", "inf", '"x"', "true"]
GOOD_OPTIONS = ["{}", '{ method = "jacobi" }', '{ method = "krylov", rtol = 1e-8 }',
                '{ method = "blocks" }', '{ maxiter = 1, method = "jacobi" }']
BAD_OPTIONS = ["{ rtol = 0 }", '{ method = "bogus" }', "{ rtoll = 1e-3 }"]
PLAN_OPTIONS = ["{}", '{ method = "plan-ray" }', "{ gap = 1e-3 }",
                '{ method = "cockshott", cockshott = { rounds = 5 } }']


def pick(draw, good, bad, odds=10):
    """Mostly a valid value; one time in ``odds`` an invalid one."""
    return draw(st.sampled_from(bad if bad and draw(st.integers(0, odds - 1)) == 0 else good))


@st.composite
def change(draw, kind):
    resource = pick(draw, ["labour", "energy", "co2"], ["water"])
    code = pick(draw, GOOD_CODES, BAD_CODES)
    other = pick(draw, GOOD_CODES, BAD_CODES)
    value = pick(draw, GOOD_NUMBERS, BAD_NUMBERS)
    if kind == "scale_resource":
        extra = f', products = ["{code}"]' if draw(st.booleans()) else ""
        return f'{{ type = "scale_resource", resource = "{resource}", factor = {value}{extra} }}'
    if kind == "set_resource":
        fill = f", fill = {pick(draw, GOOD_NUMBERS, BAD_NUMBERS)}" if draw(st.booleans()) else ""
        return (f'{{ type = "set_resource", resource = "{resource}", '
                f'values = {{ "{code}" = {value} }}{fill} }}')
    if kind == "coefficients":
        how = draw(st.sampled_from(["values", "factors", "factor"]))
        body = f"factor = {value}" if how == "factor" else f'{how} = {{ "{other}" = {value} }}'
        return f'{{ type = "coefficients", product = "{code}", {body} }}'
    if kind == "targets":
        return f'{{ type = "targets", values = {{ "{code}" = {value} }} }}'
    if kind == "availability":
        amount = pick(draw, ["10", "100", "1e6", "0"], BAD_NUMBERS)
        return f'{{ type = "availability", values = {{ "{resource}" = {amount} }} }}'
    return '{ type = "bogus" }'


@st.composite
def job_files(draw):
    lines = []
    if draw(st.booleans()):
        lines += ["[batch]", f'format = "{pick(draw, ["csv", "parquet"], ["xlsx"])}"']
    n_econ = draw(st.integers(1, 2))
    econ_names = ["e", "f"][:n_econ]
    for name in econ_names:
        lines += [f"[economies.{name}]", pick(draw, GOOD_SOURCES, BAD_SOURCES, 6)]
    n_jobs = draw(st.integers(0 if draw(st.booleans()) else 1, 3))
    for k in range(n_jobs):
        kind = pick(draw, ["values", "values", "plan"], ["other"], 20)
        lines += ["[[jobs]]", f'name = "{pick(draw, GOOD_NAMES, BAD_NAMES, 20)}{k}"']
        if n_econ > 1 or draw(st.booleans()):
            lines.append(f'economy = "{pick(draw, econ_names, ["nope"], 20)}"')
        if kind != "values" or draw(st.integers(0, 4)) == 0:
            lines.append(f'kind = "{kind}"')
        if draw(st.booleans()):
            good = PLAN_OPTIONS if kind == "plan" else GOOD_OPTIONS
            lines.append(f"options = {pick(draw, good, BAD_OPTIONS)}")
        if kind == "values" and draw(st.integers(0, 3)) == 0:
            lines.append("resources = " + pick(draw, ['"all"', '"energy"', '["co2", "labour"]'],
                                               ['"water"', "[]", "3"]))
        if draw(st.integers(0, 4)) == 0:
            lines.append(f"time_limit = {pick(draw, ['600', '30'], ['0', '-1', '1e-9'])}")
        kinds = ["scale_resource", "set_resource", "coefficients"]
        if kind == "plan":
            kinds += ["targets", "availability", "availability"]
        changes = [draw(change(pick(draw, kinds, ["bogus"], 30)))
                   for _ in range(draw(st.integers(0, 3)))]
        if kind == "plan" and draw(st.integers(0, 4)):
            changes.append('{ type = "targets", values = { P1 = 2.0, P3 = 1.0 } }')
        if changes:
            lines.append(f"changes = [{', '.join(changes)}]")
    if draw(st.booleans()) or n_jobs == 0:
        values = [pick(draw, GOOD_NUMBERS, BAD_NUMBERS) for _ in range(draw(st.integers(1, 3)))]
        lines += ["[[grids]]", 'name = "g-{f}"', f"parameters = {{ f = [{', '.join(values)}] }}",
                  'changes = [{ type = "scale_resource", resource = "labour", factor = "{f}" }]']
        if n_econ > 1:
            lines.append('economy = "e"')
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 9)) == 0:
        text = mutate_text(draw, text)
    return text


@fuzz_settings(weight=0.048, small=40)
@given(text=job_files())
def test_fuzz_job_files(text):
    check("lab batch job files", "batch", {"text": text}, timeout=300)
    assert json.dumps(text)  # the file is text the sandbox can receive
