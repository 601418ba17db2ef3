"""Values written by ``lab batch`` carry the product names, as ``lab.write_values(result,
path, names=economy.names)`` writes them (issue 15: names go into written files).

Reference: the same economy's values written by :func:`lab.write_values`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lab


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("names", [["bread", "steel", "coal"], ["bread, white", "steel", "coal"],
                                   None])
def test_batch_values_files_are_those_of_write_values(tmp_path, fmt, names):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    economy = lab.Economy(np.array([[0.0, 0.2, 0.1], [0.1, 0.0, 0.3], [0.2, 0.1, 0.0]]),
                          [1.0, 2.0, 0.5], codes=["b", "s", "c"], names=names)
    lab.write_economy(economy, tmp_path / "e.npz")
    (tmp_path / "jobs.toml").write_text(f'[batch]\nformat = "{fmt}"\n[economies.e]\n'
                                        'path = "e.npz"\n[[jobs]]\nname = "v"\n')
    assert lab.run_batch(tmp_path / "jobs.toml", out=tmp_path / "out").ok
    got = tmp_path / "out" / "jobs" / "v" / f"values.{fmt}"
    ref = lab.write_values(lab.labour_values(economy), tmp_path / f"ref.{fmt}", names=names)
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    a, b = read(got), read(ref)
    assert list(a.columns) == list(b.columns)
    assert ("name" in a.columns) == (names is not None)
    if names is not None:
        assert list(a["name"]) == names
    np.testing.assert_allclose(a["value"], b["value"], rtol=1e-12)
