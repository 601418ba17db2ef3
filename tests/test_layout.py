"""The folder tree is the architecture: imports flow one way, and every folder says what it holds.

Every ``import`` in ``lab/`` and ``kernels/``, including the ones inside functions, is
checked against the layers of README's "Where things are":
cli → batch → bench → generate → planning, analysis, datasets → values, io → economy →
plumbing → kernels. A module may import its own folder and any lower layer, never a higher one
or a sibling of its own layer; so no circle is possible.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Layer of each unit of lab; a unit may import only units of a strictly lower layer.
LAYERS = {
    "lab._kernels": 0,
    "lab.exceptions": 0, "lab._version": 0, "lab._atomic": 0, "lab._memory": 0,
    "lab._html": 0, "lab._progress": 0,
    "lab._validation": 1, "lab._ops": 1,
    "lab.economy": 2,
    "lab.values": 3, "lab.io": 3,
    "lab.planning": 4, "lab.datasets": 4, "lab.analysis": 4,
    "lab.generate": 5,
    "lab.batch": 6,
    "lab.bench": 7, "lab.report": 7,
    "lab.cli": 8,
    "lab": 9,
}


def _unit(module: str) -> str:
    """The unit of LAYERS that ``module`` belongs to (its longest listed prefix)."""
    best = "lab"
    for unit in LAYERS:
        if (module == unit or module.startswith(unit + ".")) and len(unit) > len(best):
            best = unit
    return best


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "kernels":
        parts[0:1] = ["lab", "_kernels"]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path):
    """(line, imported module) for every lab import in the file, lazy ones included."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "lab" or alias.name.startswith("lab."):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module == "lab" or node.module.startswith("lab.")):
            if node.module == "lab":  # from lab import _ops, datasets: each is a module
                for alias in node.names:
                    yield node.lineno, f"lab.{alias.name}"
            else:
                yield node.lineno, node.module


SOURCES = sorted([*ROOT.joinpath("lab").rglob("*.py"), *ROOT.joinpath("kernels").glob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_flow_one_way(path):
    unit = _unit(_module_of(path))
    bad = []
    for line, target in _imports(path):
        target_unit = _unit(target)
        if target_unit != unit and LAYERS[target_unit] >= LAYERS[unit]:
            bad.append(f"line {line}: {unit} (layer {LAYERS[unit]}) imports {target} "
                       f"(layer {LAYERS[target_unit]})")
    assert not bad, "\n".join(bad)


def test_every_module_has_a_layer():
    for path in SOURCES:
        module = _module_of(path)
        if module not in ("lab", "lab.__main__"):
            assert _unit(module) != "lab", f"{module} is in no layer of LAYERS"


@pytest.mark.parametrize("folder", sorted(p.parent for p in ROOT.joinpath("lab").glob(
    "*/__init__.py")), ids=lambda p: p.name)
def test_every_folder_says_what_it_holds(folder):
    doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
    assert doc and len(doc.splitlines()) >= 3, f"{folder.name}/__init__.py needs a docstring"


def test_tests_mirror_the_folders():
    folders = {p.parent.name for p in ROOT.joinpath("lab").glob("*/__init__.py")}
    missing = sorted(f for f in folders if not any(ROOT.joinpath("tests", f).glob("test_*.py")))
    assert not missing, f"no tests/<folder>/test_*.py for {missing}"
