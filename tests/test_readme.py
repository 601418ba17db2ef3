"""README.md opens with the two set-up commands, .ci/run runs the second one, and every
Python example of README.md runs (issue 15)."""

import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("```bash\n") + len("```bash\n")
    block = text[start:text.index("```", start)]
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_readme_opens_with_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    before = text[:text.index("```bash")]
    assert before.count("\n") <= 4, "the set-up commands must open the README"
    demo, tests = _setup_commands()
    assert demo.endswith("lab demo") and "pip install" in demo
    assert tests.endswith("python -m pytest") and '".[test]"' in tests


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _setup_commands()[1] in [line.strip() for line in ci]


# ---------------------------------------------------------------- the Python examples

NEEDS = "# needs:"

#: Small stand-ins for the reader's own files that a block names after ``# needs:``
#: (a two-product, two-industry supply-use table), so that every block runs.
STAND_INS = {
    "supply.csv": "product,A,B\na,10,1\nb,0,20\n",
    "use.csv": "product,A,B\na,2,4\nb,3,2\n",
    "hours.csv": "industry,hours\nA,5\nB,8\n",
}


def _python_blocks() -> list[tuple[str, str]]:
    """(id, code) of every ```python block of README.md, id = the heading above it and
    the block's first line number."""
    lines = (ROOT / "README.md").read_text().splitlines()
    blocks, heading, start = [], "top", None
    for number, line in enumerate(lines, start=1):
        if start is None and line.startswith("#"):
            heading = line.lstrip("#").strip().lower().replace(" ", "-")
        elif start is None and line.strip() == "```python":
            start = number
        elif start is not None and line.strip() == "```":
            blocks.append((f"{heading}-L{start}", "\n".join(lines[start:number - 1])))
            start = None
    return blocks


def test_the_readme_has_python_examples_and_marks_what_it_cannot_run():
    blocks = _python_blocks()
    assert len(blocks) >= 4
    marked = [name for name, code in blocks if NEEDS in code]
    # only examples on the reader's own files are marked (they run on stand-ins)
    assert all("your own" in dict(blocks)[name] for name in marked), marked


@pytest.mark.parametrize("code", [code for _, code in _python_blocks()],
                         ids=[name for name, _ in _python_blocks()])
def test_readme_python_example_runs(code, tmp_path, monkeypatch):
    """Each block runs on its own (a fresh namespace, in an empty folder), as a reader
    would paste it; blocks that read the reader's own files say so with '# needs:' and
    run on the small stand-ins of ``STAND_INS``."""
    if NEEDS in code:
        needed = code[code.index(NEEDS):].splitlines()[0]
        missing = [name for name in needed.replace(",", " ").split()
                   if name.endswith(".csv") and name not in STAND_INS]
        assert not missing, f"no stand-in for {missing} ({needed})"
        for name, text in STAND_INS.items():
            (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the heuristic, clipped flows
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
