"""The evidence sidecar: what a result file needs to be checked by someone else.

``lab plan -o plan.csv`` and ``lab values -o values.csv`` write, beside the result,
``plan.csv.evidence.json`` (atomically, after the result), one JSON object:

``schema``
    ``"lab-evidence/1"``.
``kind``
    ``"plan"``, ``"multiyear"`` or ``"values"``.
``result``
    ``{"file": name, "sha256": ...}``: the result file it belongs to (same folder).
``lab_version``, ``created`` (UTC, ISO 8601), ``python``, ``platform``
``command``
    ``{"argv": [...], "line": "lab plan ..."}``: the command that reproduces the result,
    run in the folder it was run in (``null`` for results made in Python).
``inputs``
    One entry per input file: ``{"role", "path", "sha256"}`` (``path`` relative to the
    evidence file's folder where possible; a folder economy lists each of its files;
    a shipped table also has ``"dataset": name``), so that anyone can check with
    ``sha256sum`` that they have the same inputs.
``economy``
    ``{"products", "resources", "nnz", "sha256"}``: the digest of the economy's arrays
    (:func:`lab.batch.economy_digest`, the one batch records hold).
``economy_source``
    How to load the economy again: the fields of :class:`lab.batch.EconomySource`
    (``{"dataset": "uk-2010"}`` or ``{"path": ..., "labour": ...}``, a path relative to
    the evidence file's folder), or ``null``.
``certificate``
    The result's own proof: for a plan its status, method, objective, bound, gap,
    relative gap, harmony, smallest fulfilment, infeasibility, iterations and timings;
    for values the status, method, residual, rtol, iterations and the productivity
    proof.
``resources`` (plans)
    ``[{"resource", "use", "available", "price"}]`` (with ``"year"`` for multi-year
    plans): the resource limits and their shadow prices, which the plan file does not
    hold.

Non-finite numbers are written as the strings ``"inf"``, ``"-inf"`` and ``"nan"``
(JSON has none). :func:`read_evidence` refuses anything else than such an object
(size, schema, types), naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from lab._atomic import atomic_path
from lab._version import __version__
from lab.exceptions import DataFormatError, InvalidTypeError

__all__ = ["SCHEMA", "SUFFIX", "evidence_path", "file_sha256", "input_files", "plain",
           "plan_certificate", "read_evidence", "values_certificate", "write_evidence"]

SCHEMA = "lab-evidence/1"
SUFFIX = ".evidence.json"
KINDS = ("plan", "multiyear", "values")
#: An evidence file is small; a larger one is not one.
MAX_BYTES = 16 << 20


def evidence_path(result_path) -> Path:
    """``<result>.evidence.json`` beside ``result_path``."""
    path = Path(result_path)
    return path.with_name(path.name + SUFFIX)


def file_sha256(path) -> str:
    """sha256 of a regular file's bytes (a FIFO or device is refused, not read)."""
    from lab.io._files import open_regular

    h = hashlib.sha256()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def plain(value):
    """``value`` as JSON-ready Python data: NumPy scalars and arrays become numbers and
    lists, enums their names, non-finite floats the strings 'inf', '-inf', 'nan'."""
    if isinstance(value, dict) or hasattr(value, "items") and not isinstance(value, np.ndarray):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and not hasattr(value, "name"):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isfinite(v):
            return v
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if hasattr(value, "name") and hasattr(value, "value"):  # an enum: its name
        return str(value.name)
    if value is None or isinstance(value, str):
        return value
    return str(value)


def number(value) -> float:
    """A number of an evidence file back as a float ('inf' and 'nan' included)."""
    if isinstance(value, str) and value in ("inf", "-inf", "nan"):
        return float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.nan


def plan_certificate(result) -> dict:
    """The proof a :class:`~lab.PlanResult` carries, as plain data."""
    fields = ("status", "converged", "message", "method", "method_reason", "solver",
              "objective", "bound", "gap", "relative_gap", "harmony", "min_fulfilment",
              "infeasibility", "iterations", "backend", "n_threads", "timings")
    return {f: plain(getattr(result, f)) for f in fields if hasattr(result, f)}


def values_certificate(result) -> dict:
    """The proof a :class:`~lab.ValuesResult` carries, as plain data."""
    fields = ("status", "converged", "message", "method", "method_reason", "residual", "rtol",
              "iterations", "matvecs", "productivity", "resource_names", "precision",
              "backend", "n_threads", "timings")
    return {f: plain(getattr(result, f)) for f in fields}


def input_files(role: str, files, *, base=None, dataset: str | None = None) -> list[dict]:
    """Evidence entries for the existing regular files among ``files``: ``{"role", "path",
    "sha256"}`` with ``path`` relative to ``base`` (the evidence file's folder) where it
    can be, or ``{"role", "dataset", "file", "sha256"}`` for a shipped table's files."""
    out = []
    for f in files:
        f = Path(f)
        if not f.is_file():
            continue
        digest = file_sha256(f)
        if dataset is not None:
            out.append({"role": role, "dataset": dataset, "file": f.name, "sha256": digest})
            continue
        shown = str(f)
        if base is not None:
            try:
                shown = os.path.relpath(f.resolve(), Path(base).resolve())
            except ValueError:  # another drive
                shown = str(f.resolve())
        out.append({"role": role, "path": shown, "sha256": digest})
    return out


def economy_summary(economy) -> dict:
    from lab.batch import economy_digest

    return {"products": int(economy.n_products), "resources": list(economy.resource_names),
            "nnz": int(economy.nnz), "sha256": economy_digest(economy)}


def write_evidence(result_path, result, *, kind: str | None = None, inputs=(), argv=None,
                   economy=None, economy_source: dict | None = None) -> Path:
    """Write ``<result_path>.evidence.json`` for a result already written to ``result_path``.

    Parameters
    ----------
    result_path : path
        The result file (it must exist: its sha256 is recorded).
    result : PlanResult, MultiYearResult or ValuesResult
    kind : {"plan", "multiyear", "values"}, optional
        Default: from the type of ``result``.
    inputs : iterable of dict
        Entries made by :func:`input_files`.
    argv : sequence of str, optional
        The command that reproduces the result (``["lab", "plan", ...]``).
    economy : Economy, optional
        Its digest is recorded (default: the plan's economy, if any).
    economy_source : dict, optional
        How to load the economy again, as the fields of :class:`lab.batch.EconomySource`
        (``{"dataset": "uk-2010"}``, ``{"path": ..., "labour": ...}``; a path relative to
        the evidence file's folder), so that ``lab report`` can show labour values and
        supply chains.

    Returns
    -------
    Path of the evidence file.
    """
    result_path = Path(result_path)
    if kind is None:
        kind = ("multiyear" if hasattr(result, "investment") else
                "plan" if hasattr(result, "fulfilment") else "values")
    if kind == "multiyear":
        from lab.report._sources import years_resources

        certificate = plan_certificate(result)
        economy = economy if economy is not None else result.problem.economies[0]
        resources = years_resources(result)
    elif kind == "plan":
        certificate = plan_certificate(result)
        economy = economy if economy is not None else getattr(result.problem, "economy", None)
        names = result.problem.resource_names
        resources = [{"resource": str(names[q]), "use": plain(result.resource_use[q]),
                      "available": plain(result.available[q]),
                      "price": plain(result.resource_prices[q])} for q in range(len(names))]
    elif kind == "values":
        certificate, resources = values_certificate(result), None
    else:
        raise InvalidTypeError(f"kind must be 'plan', 'multiyear' or 'values', got {kind!r}")
    data = {
        "schema": SCHEMA, "kind": kind,
        "result": {"file": result_path.name, "sha256": file_sha256(result_path)},
        "lab_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0], "platform": platform.platform(terse=True),
        "command": None if argv is None else {"argv": [str(a) for a in argv],
                                              "line": shlex.join(str(a) for a in argv)},
        "inputs": list(inputs),
        "economy": None if economy is None else economy_summary(economy),
        "economy_source": economy_source,
        "certificate": certificate,
    }
    if resources is not None:
        data["resources"] = resources
    target = evidence_path(result_path)
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(plain(data), indent=1) + "\n", encoding="utf-8")
    return target


def read_evidence(path) -> dict:
    """An evidence file, checked: a JSON object of schema ``lab-evidence/1`` with a
    known kind, a result entry and lists where lists belong.

    Raises
    ------
    DataFormatError
        Not readable, too large, not JSON, or not such an object (naming the file).
    """
    from lab.io._files import open_regular

    path = Path(path)
    try:
        with open_regular(path) as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise DataFormatError(f"cannot read the evidence file ({exc.strerror or exc})",
                              path=path) from None
    if len(raw) > MAX_BYTES:
        raise DataFormatError(f"larger than {MAX_BYTES >> 20} MiB: not an evidence file",
                              path=path)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataFormatError(f"not JSON ({exc})", path=path) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise DataFormatError(f"not a {SCHEMA} evidence file (schema "
                              f"{data.get('schema') if isinstance(data, dict) else None!r})",
                              path=path)
    if data.get("kind") not in KINDS:
        raise DataFormatError(f"kind must be one of {KINDS}, got {data.get('kind')!r}",
                              path=path)
    result = data.get("result")
    if not (isinstance(result, dict) and isinstance(result.get("file"), str)
            and isinstance(result.get("sha256"), str)):
        raise DataFormatError("'result' must name the result file and its sha256", path=path)
    for key, kind in (("inputs", list), ("certificate", dict), ("resources", list),
                      ("command", dict), ("economy", dict), ("economy_source", dict)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise DataFormatError(f"'{key}' must be a {kind.__name__}", path=path)
    for entry in data.get("inputs") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise DataFormatError("every input needs a sha256", path=path)
    return data
