"""The README's "Footprints and supply chains" example runs as it is written."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Footprints and supply chains"):]
    start = section.index("```python\n") + len("```python\n")
    return section[start:section.index("```", start)]


def test_readme_footprint_example_runs():
    namespace: dict = {}
    exec(compile(_example(), "README.md", "exec"), namespace)
    result, paths = namespace["result"], namespace["paths"]
    assert result.converged and result.gross_output.shape == (10_000, 100)
    assert paths.attrs["certified"] and len(paths) == 20
    assert paths["path"].iloc[0][0] == "P9999"
