"""What a report is made from: a result object in Python, or files on disk.

Every source becomes the same few pieces, so that one document builder serves all:

* :class:`PlanParts`: the product balances (net output, target, fulfilment, shadow
  price), the techniques (intensity, capacity use and price), the resources (use,
  availability, price) and the certificate, from a :class:`~lab.PlanResult` or from a
  plan file (``lab plan -o``, a batch job) with its evidence;
* :class:`ValuesParts`: the values of every product (one column per resource row) and
  the certificate, from a :class:`~lab.ValuesResult` or a values file.

Files are read as text and parsed as numbers (never executed, never unpickled); a
malformed one raises :class:`~lab.exceptions.DataFormatError` naming it. A batch job
folder is read through its ``record.json`` and the batch's ``manifest.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab.economy import index_codes, product_index
from lab.exceptions import DataFormatError, InvalidOptionError
from lab.report._evidence import (
    MAX_BYTES,
    evidence_path,
    file_sha256,
    plan_certificate,
    read_evidence,
    values_certificate,
)

__all__ = ["PlanParts", "ValuesParts", "YearsParts", "Provenance", "read_source"]


@dataclass
class Provenance:
    """Where a result came from and what can be checked about it (all optional)."""

    origin: str = "python"             # "python", "file" or "batch"
    result_file: str | None = None
    result_sha256: str | None = None   # recorded by lab
    result_sha256_now: str | None = None
    command: str | None = None
    inputs: list = field(default_factory=list)    # evidence entries, with "status" added
    economy: dict | None = None        # products, resources, nnz, sha256 recorded
    economy_source: dict | None = None  # how to load it (EconomySource fields)
    lab_version: str | None = None
    created: str | None = None
    extra: dict = field(default_factory=dict)     # further recorded fields, shown as they are
    notices: list = field(default_factory=list)   # what does not check out, for the reader


@dataclass
class PlanParts:
    codes: np.ndarray                  # products
    net_output: np.ndarray
    target: np.ndarray                 # NaN where the product has no target
    fulfilment: np.ndarray
    price: np.ndarray
    techniques: dict | None            # codes, intensity, capacity, capacity_use, capacity_price
    resources: list | None             # [{resource, use, available, price}]
    certificate: dict
    provenance: Provenance
    names: np.ndarray | None = None
    square: bool = True
    weights: np.ndarray | None = None


@dataclass
class ValuesParts:
    codes: np.ndarray
    values: np.ndarray                 # (r, m)
    resource_names: list
    certificate: dict
    provenance: Provenance
    names: np.ndarray | None = None


@dataclass
class YearsParts:
    """A multi-year plan: arrays (years, m) of the products, stocks (years + 1, m) of each
    good held at the start of each year (the last: what the plan leaves)."""

    codes: np.ndarray
    output: np.ndarray
    consumption: np.ndarray
    target: np.ndarray                 # 0 where the product has no target that year
    fulfilment: np.ndarray             # NaN where it has none
    investment: np.ndarray             # units of each good invested, by year
    stocks: np.ndarray
    price: np.ndarray
    resources: list | None             # [{year, resource, use, available, price}]
    certificate: dict
    provenance: Provenance
    names: np.ndarray | None = None

    @property
    def phi(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.array([np.nanmin(f) if np.isfinite(f).any() else np.nan
                             for f in self.fulfilment])


# --------------------------------------------------------------------------- results


def plan_parts(result, economy=None) -> PlanParts:
    """The pieces of a :class:`~lab.PlanResult`."""
    p = result.problem
    target = np.where(p.targets > 0, p.targets, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        fulfilment = result.net_output / target
    techniques = {"codes": np.asarray(p.technique_codes, dtype=object), "intensity": result.x,
                  "capacity": p.capacities, "capacity_use": result.capacity_use,
                  "capacity_price": result.capacity_prices}
    names = None
    econ = economy if economy is not None else p.economy
    if econ is not None and econ.names is not None:
        names = np.asarray(econ.names, dtype=object)
    resources = [{"resource": str(p.resource_names[q]), "use": float(result.resource_use[q]),
                  "available": float(result.available[q]),
                  "price": float(result.resource_prices[q])} for q in range(p.n_resources)]
    return PlanParts(codes=np.asarray(p.product_codes, dtype=object),
                     net_output=np.asarray(result.net_output, dtype=float), target=target,
                     fulfilment=fulfilment, price=np.asarray(result.prices, dtype=float),
                     techniques=techniques, resources=resources,
                     certificate=plan_certificate(result), provenance=Provenance(),
                     names=names, square=bool(p.is_square), weights=p.weights)


def years_resources(result) -> list:
    """The yearly resource limits of a multi-year result, with their shadow prices."""
    names = result.problem.resource_names
    T = result.resource_use.shape[0]
    return [{"year": y + 1, "resource": str(names[q]),
             "use": float(result.resource_use[y, q]),
             "available": float(result.available[y, q]),
             "price": float(result.resource_prices[y, q])}
            for y in range(T) for q in range(len(names))]


def years_parts(result) -> YearsParts:
    """The pieces of a :class:`~lab.MultiYearResult`."""
    problem = result.problem
    economy = problem.economies[0]
    certificate = plan_certificate(result)
    return YearsParts(
        codes=np.asarray([str(c) for c in problem.product_codes], dtype=object),
        output=result.output, consumption=result.consumption, target=problem.targets,
        fulfilment=result.fulfilment,
        investment=np.stack([np.asarray(I.sum(axis=1)).ravel() for I in result.investment]),
        stocks=np.stack([np.asarray(K.sum(axis=1)).ravel() for K in result.stocks]),
        price=result.prices, resources=years_resources(result), certificate=certificate,
        provenance=Provenance(),
        names=None if economy.names is None else np.asarray(economy.names, dtype=object))


def values_parts(result, economy=None, problem=None) -> ValuesParts:
    """The pieces of a :class:`~lab.ValuesResult`."""
    values = result.values if result.values.ndim == 2 else result.values[None, :]
    codes = np.asarray(index_codes(product_index(result._codes())), dtype=object) \
        if result._codes is not None else \
        np.asarray([f"P{i}" for i in range(values.shape[1])], dtype=object)
    names = None
    if economy is not None and economy.names is not None:
        names = np.asarray(economy.names, dtype=object)
    elif problem is not None and getattr(problem, "economy", None) is not None \
            and problem.economy.names is not None:
        names = np.asarray(problem.economy.names, dtype=object)
    return ValuesParts(codes=codes, values=np.asarray(values, dtype=float),
                       resource_names=[str(n) for n in result.resource_names],
                       certificate=values_certificate(result), provenance=Provenance(),
                       names=names)


# --------------------------------------------------------------------------- files


def _read_frame(path: Path):
    """A plan or values file as (index codes, {column: float array}); strings are parsed
    as numbers here, so a malformed cell names its column."""
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
            if "code" in frame.columns:
                frame = frame.set_index("code")
            codes = np.asarray([str(c) for c in frame.index], dtype=object)
            cols = {c: frame[c].to_numpy(dtype=float) for c in frame.columns if c != "name"}
            return codes, cols
        if suffix != ".csv":
            raise DataFormatError("a result file ends in .csv or .parquet", path=path)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except DataFormatError:
        raise
    except (OSError, ValueError, ImportError) as exc:
        raise DataFormatError(f"cannot read the result file ({exc})", path=path) from None
    if "code" not in frame.columns:
        raise DataFormatError(f"no 'code' column; the header is {','.join(frame.columns)}",
                              path=path, line=1)
    codes = frame["code"].to_numpy(dtype=object)
    cols = {}
    for c in frame.columns:
        if c in ("code", "name"):  # product names: text, not numbers
            continue
        text = frame[c].to_numpy(dtype=object)
        text = np.where(text == "", "nan", text)
        # a flag column (a plan's `binding`) is True/False: read as 1/0
        text = np.where(text == "True", "1", np.where(text == "False", "0", text))
        try:
            cols[c] = text.astype(float)
        except ValueError:
            bad = next(i for i, t in enumerate(text) if not _is_number(t))
            raise DataFormatError(f"{c} {text[bad]!r} of {codes[bad]!r} is not a number",
                                  path=path, line=bad + 2) from None
    return codes, cols


def _is_number(text) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_hash(prov: Provenance, path: Path) -> None:
    prov.result_sha256_now = file_sha256(path)
    if prov.result_sha256 and prov.result_sha256 != prov.result_sha256_now:
        prov.notices.append(
            f"{path.name} has changed since lab wrote it (its sha256 is not the one "
            f"recorded): the certificate below belongs to another file.")


def _check_inputs(prov: Provenance, base: Path) -> None:
    """Re-hash every recorded input that is still there (status: same, changed, missing)."""
    from lab import datasets

    for entry in prov.inputs:
        if not isinstance(entry, dict):
            continue
        if entry.get("dataset"):
            try:
                folder = datasets.dataset_files(entry["dataset"])
            except ValueError:
                entry["status"] = "unknown dataset"
                continue
            path = next((p for p in folder if p.name == entry.get("file") and p.is_file()),
                        None)
        else:
            path = base / str(entry.get("path", ""))
        if path is None or not Path(path).is_file():
            entry["status"] = "not found here"
            continue
        entry["status"] = "same" if file_sha256(path) == entry["sha256"] else "changed"
        if entry["status"] == "changed":
            where = entry.get("path") or f"{entry.get('dataset')}/{entry.get('file')}"
            prov.notices.append(f"input {where} has changed since the result was made.")


def _provenance_from_evidence(ev: dict, path: Path) -> Provenance:
    prov = Provenance(origin="file", result_file=path.name,
                      result_sha256=ev["result"]["sha256"],
                      command=(ev.get("command") or {}).get("line"),
                      inputs=[dict(e) for e in ev.get("inputs") or []],
                      economy=ev.get("economy"),
                      economy_source=_source_beside(ev.get("economy_source"), path.parent),
                      lab_version=ev.get("lab_version"), created=ev.get("created"),
                      extra={k: ev[k] for k in ("python", "platform") if k in ev})
    if ev["result"]["file"] != path.name:
        prov.notices.append(f"the evidence file names {ev['result']['file']!r}, not "
                            f"{path.name!r}.")
    return prov


def _source_beside(source, base: Path) -> dict | None:
    """An evidence file's economy source, its path taken relative to the evidence file."""
    if not isinstance(source, dict):
        return None
    source = {k: source[k] for k in ("path", "dataset", "generate", "labour", "negative",
                                     "format") if k in source}
    if isinstance(source.get("path"), str):
        source["path"] = str(base / source["path"])
    return source


def _plan_from_columns(codes, cols, path, certificate, resources, prov, products=None):
    if products is not None:  # techniques ≠ products: the balances are in a second file
        pcodes, pcols = products
    else:
        pcodes, pcols = codes, cols
    need = ("net_output", "target", "fulfilment", "price")
    missing = [c for c in need if c not in pcols]
    if missing:
        raise DataFormatError(f"not a plan file: no column(s) {', '.join(missing)}", path=path)
    techniques = None
    if "intensity" in cols:
        techniques = {"codes": codes, "intensity": cols["intensity"],
                      "capacity": cols.get("capacity", np.full(len(codes), np.inf)),
                      "capacity_use": cols.get("capacity_use", np.zeros(len(codes))),
                      "capacity_price": cols.get("capacity_price", np.zeros(len(codes)))}
    return PlanParts(codes=pcodes, net_output=pcols["net_output"], target=pcols["target"],
                     fulfilment=pcols["fulfilment"], price=pcols["price"],
                     techniques=techniques, resources=resources, certificate=certificate,
                     provenance=prov, square=products is None)


def _values_from_columns(codes, cols, path, certificate, prov) -> ValuesParts:
    if not cols:
        raise DataFormatError("not a values file: no value column", path=path)
    names = list(cols)
    resource_names = certificate.get("resource_names") if certificate else None
    if names == ["value"] and isinstance(resource_names, list) and len(resource_names) == 1:
        names = [str(resource_names[0])]
    return ValuesParts(codes=codes, values=np.vstack([cols[c] for c in cols]),
                       resource_names=[str(n) for n in names], certificate=certificate,
                       provenance=prov)


def _years_from_columns(codes, cols, path, certificate, resources, prov) -> YearsParts:
    """A multi-year plan file (one row per (year, code), years 1 … T, the same codes in the
    same order every year) and its capital file (year, good, industry, investment, stock)."""
    need = ("year", "output", "consumption", "target", "fulfilment", "investment", "price")
    missing = [c for c in need if c not in cols]
    if missing:
        raise DataFormatError(f"not a multi-year plan file: no column(s) {', '.join(missing)}",
                              path=path)
    year = cols["year"]
    T = int(np.nanmax(year)) if year.size else 0
    m = len(codes) // T if T else 0
    if T < 1 or m * T != len(codes) or not np.array_equal(
            year, np.repeat(np.arange(1, T + 1, dtype=float), m)) or any(
            list(codes[y * m:(y + 1) * m]) != list(codes[:m]) for y in range(1, T)):
        raise DataFormatError("a multi-year plan file has one row per product for each year "
                              "1 … T, in the same order every year", path=path)

    def grid(name):
        return cols[name].reshape(T, m)

    first = np.asarray(codes[:m], dtype=object)
    stocks = np.zeros((T + 1, m))
    capital = path.with_name(path.stem + ".capital" + path.suffix)
    if capital.exists():
        stocks = _stocks_of(capital, first, T)
    else:
        prov.notices.append(f"no capital file {capital.name}: stocks are not shown.")
    target = np.nan_to_num(grid("target"), nan=0.0)
    return YearsParts(codes=first, output=grid("output"), consumption=grid("consumption"),
                      target=target, fulfilment=grid("fulfilment"),
                      investment=grid("investment"), stocks=stocks, price=grid("price"),
                      resources=resources, certificate=certificate, provenance=prov)


def _stocks_of(path: Path, codes, T: int) -> np.ndarray:
    """Stock of each good at the start of each year 1 … T + 1, summed over industries."""
    import pandas as pd

    try:
        frame = (pd.read_parquet(path).reset_index() if path.suffix.lower() == ".parquet"
                 else pd.read_csv(path, dtype=str, keep_default_na=False))
    except (OSError, ValueError, ImportError) as exc:
        raise DataFormatError(f"cannot read the capital file ({exc})", path=path) from None
    missing = [c for c in ("year", "good", "stock") if c not in frame.columns]
    if missing:
        raise DataFormatError(f"no column(s) {', '.join(missing)}", path=path, line=1)
    index = {str(c): i for i, c in enumerate(codes)}
    out = np.zeros((T + 1, len(codes)))
    try:
        years = frame["year"].astype(float).to_numpy()
        stock = frame["stock"].replace("", "nan").astype(float).to_numpy()
    except ValueError as exc:
        raise DataFormatError(f"a year or stock is not a number ({exc})", path=path) from None
    goods = [index.get(str(g), -1) for g in frame["good"]]
    for k, (y, g) in enumerate(zip(years, goods, strict=True)):
        if g < 0 or not (1 <= y <= T + 1) or y != int(y):
            raise DataFormatError(f"unknown good {frame['good'].iloc[k]!r} or year {y!r}",
                                  path=path, line=k + 2)
        out[int(y) - 1, g] += stock[k]
    return out


def _products_file(path: Path) -> Path:
    return path.with_name(path.stem + ".products" + path.suffix)


def read_file(path: Path):
    """A ``lab plan`` or ``lab values`` output file and its evidence sidecar (if any)."""
    ev_path = evidence_path(path)
    ev = read_evidence(ev_path) if ev_path.exists() else None
    codes, cols = _read_frame(path)
    if ev is None:
        prov = Provenance(origin="file", result_file=path.name)
        prov.notices.append(f"no evidence file {ev_path.name} beside {path.name}: where this "
                            "result came from cannot be checked (lab plan and lab values "
                            "write one with every result).")
        kind = "plan" if "fulfilment" in cols or "intensity" in cols else "values"
        certificate, resources = {}, None
    else:
        prov = _provenance_from_evidence(ev, path)
        kind, certificate, resources = ev["kind"], ev.get("certificate") or {}, \
            ev.get("resources")
    _check_hash(prov, path)
    _check_inputs(prov, ev_path.parent)
    if kind == "multiyear" or (ev is None and "year" in cols and "investment" in cols):
        return _years_from_columns(codes, cols, path, certificate, resources, prov)
    if kind == "plan":
        products = None
        if "fulfilment" not in cols and _products_file(path).exists():
            products = _read_frame(_products_file(path))
        return _plan_from_columns(codes, cols, path, certificate, resources, prov, products)
    return _values_from_columns(codes, cols, path, certificate, prov)


def _read_json(path: Path, what: str) -> dict:
    from lab.io._files import open_regular

    try:
        with open_regular(path) as fh:
            data = json.loads(fh.read(MAX_BYTES).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"cannot read the {what} ({exc})", path=path) from None
    if not isinstance(data, dict):
        raise DataFormatError(f"the {what} is not a JSON object", path=path)
    return data


def read_job(folder: Path):
    """A batch job folder (``OUT/jobs/NAME``): its record, result file and, from the
    batch's manifest, where its economy came from."""
    record = _read_json(folder / "record.json", "job record")
    if record.get("status") != "done":
        raise InvalidOptionError(f"{folder}: the job did not finish (status "
                                 f"{record.get('status')!r}): there is no result to report")
    name = record.get("result")
    if not isinstance(name, str) or Path(name).name != name or name.startswith("."):
        raise DataFormatError("the record names no result file of its own folder",
                              path=folder / "record.json")
    path = folder / name
    prov = Provenance(origin="batch", result_file=name, result_sha256=record.get("result_sha256"),
                      lab_version=record.get("lab_version"), created=record.get("finished"))
    inputs = record.get("inputs") if isinstance(record.get("inputs"), dict) else {}
    prov.economy = {"sha256": inputs.get("economy")} if inputs.get("economy") else None
    prov.extra = {k: record[k] for k in ("job", "economy", "run", "worker", "seconds",
                                         "peak_rss_bytes") if k in record}
    if inputs.get("scenario"):
        prov.extra["scenario sha256"] = inputs["scenario"]
    manifest_path = folder.parent.parent / "manifest.json"
    if manifest_path.exists():
        manifest = _read_json(manifest_path, "batch manifest")
        described = (manifest.get("economies") or {}).get(record.get("economy"))
        if isinstance(described, dict):
            source = {k: described[k] for k in ("path", "dataset", "generate", "labour",
                                                 "negative", "format") if k in described}
            job_file = manifest.get("job_file")
            if "path" in source and isinstance(job_file, str) and Path(job_file).exists():
                source["path"] = str(Path(job_file).resolve().parent / source["path"])
            prov.economy_source = source
            prov.extra["job file"] = job_file
    _check_hash(prov, path)
    codes, cols = _read_frame(path)
    if record.get("kind") == "multiyear":
        certificate = {k: record.get(k) for k in (
            "converged", "message", "method", "method_reason", "objective", "bound",
            "harmony", "min_fulfilment", "infeasibility", "iterations")}
        certificate.update(status=record.get("plan_status") or (
            "OPTIMAL" if record.get("converged") else "NOT CERTIFIED"),
            relative_gap=record.get("gap"))
        capital = folder / str(record.get("capital_result", ""))
        recorded = record.get("capital_result_sha256")
        if capital.is_file() and recorded and file_sha256(capital) != recorded:
            prov.notices.append(f"{capital.name} has changed since lab wrote it (its sha256 "
                                "is not the one recorded): the stocks shown may not be the "
                                "plan's.")
        prov.notices.append("batch records hold no resource shadow prices: what limits the "
                            "plan is shown from the plan file alone.")
        return _years_from_columns(codes, cols, path, certificate, None, prov)
    if record.get("kind") == "plan":
        certificate = {"status": "OPTIMAL" if record.get("converged") else "NOT CERTIFIED",
                       "converged": bool(record.get("converged")),
                       "message": record.get("message"), "relative_gap": record.get("gap"),
                       "harmony": record.get("harmony"),
                       "min_fulfilment": record.get("min_fulfilment"),
                       "infeasibility": record.get("infeasibility"),
                       "iterations": record.get("iterations")}
        prov.notices.append("batch records hold no resource shadow prices: what limits the "
                            "plan is shown from the plan file alone.")
        return _plan_from_columns(codes, cols, path, certificate, None, prov)
    certificate = {k: record.get(k) for k in ("converged", "residual", "rtol", "iterations",
                                              "method", "method_reason", "backend",
                                              "n_threads", "productivity")}
    certificate["status"] = "CONVERGED" if record.get("converged") else "NOT CONVERGED"
    certificate["resource_names"] = record.get("resources")
    return _values_from_columns(codes, cols, path, certificate, prov)


def read_source(path):
    """PlanParts or ValuesParts from a result file or a batch job folder."""
    path = Path(path)
    if path.is_dir():
        if not (path / "record.json").exists():
            raise InvalidOptionError(f"{path} is a folder without record.json: give a plan or "
                                     "values file, or a batch job folder (OUT/jobs/NAME)")
        return read_job(path)
    if not path.exists():
        raise InvalidOptionError(f"{path} does not exist")
    return read_file(path)
