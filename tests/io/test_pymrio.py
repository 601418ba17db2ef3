"""pymrio interop: lab's multipliers against pymrio's own on its bundled test system.

The reference is pymrio's calculation, independent of lab: after ``calc_all()``
each extension's multipliers are ``M = S·L`` with ``L = (I − A)⁻¹`` (pymrio
inverts I − A densely). lab's vertically integrated coefficients
``labour_values(economy, resources="all").values`` must match them row by row to
1e-9 relative.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

import lab
from lab.exceptions import InvalidEconomyError
from lab.io._pymrio import from_pymrio

pymrio = pytest.importorskip("pymrio")

RTOL = 1e-9
LABOUR = ("factor_inputs", "Value Added")


@pytest.fixture(scope="module")
def reference():
    """pymrio's own results on its test system (a separate object, fully calculated)."""
    io = pymrio.load_test()
    io.calc_all()
    return io


@pytest.fixture
def io():
    """A fresh, uncalculated test system (Z, Y and the extensions' F only)."""
    return pymrio.load_test()


def _reference_rows(ref):
    """(resource name, multiplier row of pymrio's M) for every extension row, in order."""
    out = []
    for ext in ref.get_extensions():
        M = getattr(ref, ext).M
        for label in M.index:
            row = "/".join(label) if isinstance(label, tuple) else str(label)
            out.append((f"{ext}:{row}", M.loc[label].to_numpy(dtype=float)))
    return out


def _max_rel(values, expected):
    return float(np.max(np.abs(values - expected) / np.abs(expected)))


def _snapshot(io_system):
    """Everything observable about an IOSystem: its attributes and its extensions'."""
    def attrs(obj):
        return {k: copy.deepcopy(v) for k, v in vars(obj).items()}

    return attrs(io_system), {e: attrs(getattr(io_system, e)) for e in io_system.get_extensions()}


def _same(a, b):
    if isinstance(a, (pd.DataFrame, pd.Series)) or isinstance(b, (pd.DataFrame, pd.Series)):
        return type(a) is type(b) and a.equals(b)
    if isinstance(a, pymrio.Extension):  # compared attribute by attribute separately
        return True
    if isinstance(a, pymrio.MRIOMetaData):  # no __eq__: compare its content and history
        return a._content == b._content
    return a == b


def _assert_unchanged(before, io_system):
    top, exts = _snapshot(io_system)
    assert top.keys() == before[0].keys()
    for k in top:
        assert _same(top[k], before[0][k]), f"IOSystem.{k} changed"
    for e, d in exts.items():
        assert d.keys() == before[1][e].keys()
        for k in d:
            assert _same(d[k], before[1][e][k]), f"IOSystem.{e}.{k} changed"


# ------------------------------------------------------------------ agreement


def test_multipliers_agree_with_pymrio(io, reference):
    economy = from_pymrio(io, labour=LABOUR)
    result = lab.labour_values(economy, resources="all")
    assert result.converged
    expected = _reference_rows(reference)
    assert economy.resource_names == tuple(name for name, _ in expected)
    assert result.resource_names == economy.resource_names
    worst = 0.0
    for q, (name, row) in enumerate(expected):
        rel = _max_rel(result.values[q], row)
        assert rel <= RTOL, f"{name}: max relative difference {rel:.3e}"
        worst = max(worst, rel)
    print(f"\nmax relative difference lab vs pymrio M over all rows: {worst:.3e}")


def test_labour_row_alone_agrees(io, reference):
    economy = from_pymrio(io, labour="factor_inputs:Value Added")
    v = lab.labour_values(economy).values
    expected = reference.factor_inputs.M.loc["Value Added"].to_numpy()
    assert _max_rel(v, expected) <= RTOL


@pytest.mark.parametrize("method", ["jacobi", "gauss-seidel", "krylov", "blocks"])
def test_every_method_agrees(io, reference, method):
    economy = from_pymrio(io, labour=LABOUR)
    result = lab.labour_values(economy, resources="all", method=method, rtol=1e-13)
    for q, (name, row) in enumerate(_reference_rows(reference)):
        assert _max_rel(result.values[q], row) <= RTOL, (method, name)


def test_coefficients_agree_with_pymrio(io, reference):
    economy = from_pymrio(io, labour=LABOUR)
    np.testing.assert_allclose(economy.A.toarray(), reference.A.to_numpy(), rtol=1e-12, atol=0)
    S = np.vstack([reference.factor_inputs.S.to_numpy(), reference.emissions.S.to_numpy()])
    np.testing.assert_allclose(economy.R, S, rtol=1e-12, atol=0)


def test_coefficients_only_system(reference):
    """A system holding A, x and S but no Z is taken as it is."""
    io = reference.copy()
    io.Z = None
    economy = from_pymrio(io, labour=LABOUR)
    result = lab.labour_values(economy, resources="all")
    for q, (name, row) in enumerate(_reference_rows(reference)):
        assert _max_rel(result.values[q], row) <= RTOL, name


def test_coefficients_only_system_calculated_on_a_copy(reference):
    """A, Y and F but no x, S or Z: pymrio calculates the rest on a copy."""
    io = pymrio.load_test()
    io.A = reference.A.copy()
    io.Z = None
    before = _snapshot(io)
    economy = from_pymrio(io, labour=LABOUR)
    _assert_unchanged(before, io)
    assert io.x is None and io.emissions.S is None
    result = lab.labour_values(economy, resources="all")
    for q, (name, row) in enumerate(_reference_rows(reference)):
        assert _max_rel(result.values[q], row) <= RTOL, name


# ------------------------------------------------------------------ labels and selection


def test_codes_names_and_order_follow_pymrio(io):
    economy = from_pymrio(io)
    index = io.get_index()
    assert economy.codes.tolist() == [f"{r}.{s}" for r, s in index]
    assert economy.names.tolist() == [f"{s} ({r})" for r, s in index]
    assert economy.codes[0] == "reg1.food" and economy.codes[-1] == "reg6.other"
    assert economy.index_of("reg2.mining")[0] == index.get_loc(("reg2", "mining"))


def test_default_labour_is_first_row(io):
    economy = from_pymrio(io)
    assert economy.resource_names == (
        "factor_inputs:Value Added",
        "emissions:emission_type1/air",
        "emissions:emission_type2/water",
    )


def test_labour_moves_its_row_first(io, reference):
    economy = from_pymrio(io, labour=("emissions", ("emission_type2", "water")))
    assert economy.resource_names[0] == "emissions:emission_type2/water"
    assert len(economy.resource_names) == 3
    v = lab.labour_values(economy).values
    assert _max_rel(v, reference.emissions.M.iloc[1].to_numpy()) <= RTOL


def test_select_extensions_and_rows(io, reference):
    economy = from_pymrio(io, extensions="emissions")
    assert economy.resource_names == ("emissions:emission_type1/air",
                                      "emissions:emission_type2/water")
    economy = from_pymrio(io, rows=["emissions:emission_type2/water",
                                    ("factor_inputs", "Value Added")])
    assert economy.resource_names == ("emissions:emission_type2/water",
                                      "factor_inputs:Value Added")
    economy = from_pymrio(io, rows={"emissions": "emission_type1/air"})
    assert economy.resource_names == ("factor_inputs:Value Added",
                                      "emissions:emission_type1/air")
    # labour is included even when the selection left it out
    economy = from_pymrio(io, extensions=["emissions"], labour=LABOUR)
    assert economy.resource_names[0] == "factor_inputs:Value Added"
    assert len(economy.resource_names) == 3


def test_caller_system_not_mutated(io):
    before = _snapshot(io)
    from_pymrio(io, labour=LABOUR)
    _assert_unchanged(before, io)
    assert io.x is None and io.A is None and io.emissions.S is None
    # the check itself sees a calculation done in place
    io.calc_all()
    with pytest.raises(AssertionError, match="changed"):
        _assert_unchanged(before, io)


# ------------------------------------------------------------------ errors


def test_unknown_extension_names_valid_ones(io):
    with pytest.raises(InvalidEconomyError, match="unknown extension 'employment'.*"
                       "'factor_inputs', 'emissions'"):
        from_pymrio(io, extensions=["employment"])
    with pytest.raises(InvalidEconomyError, match="unknown extension 'nope' in labour"):
        from_pymrio(io, labour=("nope", "x"))


def test_unknown_row_names_valid_ones(io):
    with pytest.raises(InvalidEconomyError,
                       match="unknown row 'CO2' of extension 'emissions'.*emission_type1/air"):
        from_pymrio(io, rows={"emissions": "CO2"})
    with pytest.raises(InvalidEconomyError, match="unknown row 'Wages'.*'Value Added'"):
        from_pymrio(io, labour=("factor_inputs", "Wages"))
    with pytest.raises(InvalidEconomyError, match="not among the selected extensions"):
        from_pymrio(io, extensions="emissions", rows={"factor_inputs": "Value Added"})
    with pytest.raises(InvalidEconomyError, match="'extension:row'"):
        from_pymrio(io, labour="Value Added")
    with pytest.raises(InvalidEconomyError, match=r"\(extension, row\)"):
        from_pymrio(io, labour=["factor_inputs"])


def test_bad_arguments(io):
    with pytest.raises(TypeError, match="pymrio.IOSystem"):
        from_pymrio(io.Z)
    with pytest.raises(ValueError, match="negative"):
        from_pymrio(io, negative="clip")
    empty = pymrio.load_test()
    empty.Z = None
    with pytest.raises(InvalidEconomyError, match="neither flows Z nor coefficients A"):
        from_pymrio(empty)
    no_y = pymrio.load_test()
    no_y.Y = None
    with pytest.raises(InvalidEconomyError, match="neither total output x nor final demand Y"):
        from_pymrio(no_y)


def _with_negative_emissions():
    io = pymrio.load_test()
    F = io.emissions.F.copy()
    F.iloc[0, 3] = -1000.0  # e.g. a carbon removal booked as a negative emission
    io.emissions.F = F
    return io


def test_negative_satellite_rows_error_by_default():
    io = _with_negative_emissions()
    with pytest.raises(InvalidEconomyError,
                       match=r"'emissions:emission_type1/air' \(1 negative\).*negative='split'"):
        from_pymrio(io)
    with pytest.raises(InvalidEconomyError, match="labour row cannot be split"):
        from_pymrio(io, labour=("emissions", "emission_type1/air"), negative="split")


def test_negative_satellite_rows_split():
    io = _with_negative_emissions()
    ref = io.copy()
    ref.calc_all()
    economy = from_pymrio(io, labour=LABOUR, negative="split")
    assert economy.resource_names == (
        "factor_inputs:Value Added",
        "emissions:emission_type1/air (+)",
        "emissions:emission_type1/air (-)",
        "emissions:emission_type2/water",
    )
    values = lab.labour_values(economy, resources="all").values
    net = values[1] - values[2]
    expected = ref.emissions.M.iloc[0].to_numpy()
    assert np.max(np.abs(net - expected)) <= RTOL * np.max(np.abs(expected))


def test_zero_output_product_dropped():
    """A region × sector with no output, flows or satellite entries is left out."""
    io = pymrio.load_test()
    label = ("reg3", "mining")
    Z, Y = io.Z.copy(), io.Y.copy()
    Z.loc[label, :] = 0.0
    Z.loc[:, label] = 0.0
    Y.loc[label, :] = 0.0
    io.Z, io.Y = Z, Y
    for ext in io.get_extensions():
        F = getattr(io, ext).F.copy()
        F.loc[:, label] = 0.0
        getattr(io, ext).F = F
    economy = from_pymrio(io, labour=LABOUR)
    assert economy.dropped == ("reg3.mining",)
    assert economy.n_products == 47
    with pytest.raises(InvalidEconomyError, match="zero total output"):
        from_pymrio(io, zero_output="error")


def test_pymrio_imported_lazily_with_a_clear_error(io, monkeypatch):
    import subprocess
    import sys

    code = "import sys, lab, lab.io._pymrio; print('pymrio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    monkeypatch.setitem(sys.modules, "pymrio", None)  # as if it were not installed
    with pytest.raises(ImportError, match="pip install pymrio"):
        from_pymrio(io)


# --------------------------------------------------------------------------- issue 11


@pytest.mark.parametrize("where", ["Z.index", "Z.columns", "x.index", "emissions.F.index",
                                   "emissions.F.columns"])
def test_duplicated_labels_are_lab_errors_naming_them(io, where):
    """Issue 11, item 14: pymrio input with duplicate labels gave a raw pandas error."""
    io.x = pymrio.calc_x(io.Z, io.Y)
    frame_name, axis = where.rsplit(".", 1)
    frame = io.emissions.F if frame_name == "emissions.F" else getattr(io, frame_name)
    labels = list(getattr(frame, axis))
    labels[1] = labels[0]
    new = pd.MultiIndex.from_tuples(labels) if isinstance(labels[0], tuple) else \
        pd.Index(labels)
    setattr(frame, axis, new)
    with pytest.raises(InvalidEconomyError, match="duplicated labels"):
        from_pymrio(io)
