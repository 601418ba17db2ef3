"""README.md opens with the two set-up commands, and .ci/run runs the second one."""

from pathlib import Path

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
