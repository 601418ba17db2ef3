"""The fuzz cases, run inside the sandbox child (see ``_sandbox.py``).

Each case calls lab's public API on one generated input and classifies the outcome:

* ``lab``: lab raised one of its own errors (:class:`lab.LabError`, a ValueError or
  TypeError), or a command ended with its one-line error;
* ``ok``: lab returned a result, and an independent check passed (a reference from
  ``_reference`` built without lab, a residual or feasibility test with NumPy/scipy);
* ``honest``: lab reported a non-convergence, and the recomputed residual agrees;
* ``wrong``: anything else: a wrong answer, an accepted input that the reference
  refuses, a raw exception (raised by the sandbox from an AssertionError or any
  exception escaping here).

Crashes and hangs are the sandbox's to detect.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _reference import Rejected, dense_of, productive_exactly, residual, spectral_radius
from _sandbox import Outcome

import lab
from lab.exceptions import ConvergenceWarning, LabError, NotProductiveError

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def lab_error(exc) -> Outcome:
    return Outcome("lab", f"{type(exc).__name__}: {exc}"[:400])


def _same(got, want, what, rtol=1e-12):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = np.maximum(np.abs(want), np.finfo(float).tiny)
    bad = np.abs(got - want) > rtol * scale
    assert not bad.any(), f"{what}: {got[bad][:3]} != {want[bad][:3]}"


# --------------------------------------------------------------------------- economies


@case
def economy(payload) -> Outcome:
    """``Economy(A, R, **kwargs)`` with A and R of any format, possibly corrupted."""
    A, R, kwargs = payload["A"], payload["R"], payload.get("kwargs", {})
    try:
        e = lab.Economy(A, R, **kwargs)
    except LabError as exc:
        return lab_error(exc)
    try:
        DA = dense_of(A)
        DR = dense_of(R, allow_1d=True)
        if DA.shape[0] != DA.shape[1] or DR.shape[1] != DA.shape[0] or DR.shape[0] < 1:
            raise Rejected("shapes")
    except Rejected as why:
        raise AssertionError(f"lab accepted an input the reference refuses ({why})") from None
    _same(e.A.toarray(), DA, "A")
    _same(e.R, DR, "R")
    assert e.A.has_canonical_format and not e.A.data.flags.writeable
    return Outcome("ok")


@case
def from_flows(payload) -> Outcome:
    """``Economy.from_flows(Z, x, T)``: A = Z·diag(1/x), R = T·diag(1/x), zero outputs dropped."""
    Z, x, T = payload["Z"], payload["x"], payload["T"]
    try:
        e = lab.Economy.from_flows(Z, x, T)
    except LabError as exc:
        return lab_error(exc)
    try:
        DZ = dense_of(Z)
        xs = np.asarray(x, dtype=float)
        DT = dense_of(T, allow_1d=True)
        m = DZ.shape[0]
        if DZ.shape != (m, m) or xs.shape != (m,) or DT.shape[1] != m or \
                not np.isfinite(xs).all() or (xs < 0).any():
            raise Rejected("shapes or outputs")
        keep = [k for k in range(m) if xs[k] != 0]
        for k in set(range(m)) - set(keep):
            if DZ[:, k].any() or DZ[k, :].any() or DT[:, k].any():
                raise Rejected("zero output with flows")
    except Rejected as why:
        raise AssertionError(f"lab accepted an input the reference refuses ({why})") from None
    with np.errstate(over="ignore"):
        A = DZ[np.ix_(keep, keep)] / xs[keep]
        R = DT[:, keep] / xs[keep]
    assert np.isfinite(A).all() and np.isfinite(R).all(), "accepted coefficients that overflow"
    _same(e.A.toarray(), A, "A", 1e-14)
    _same(e.R, R, "R", 1e-14)
    return Outcome("ok")


@case
def labels(payload) -> Outcome:
    """pandas arguments: matched by label to the codes (or refused naming the labels)."""
    D, R = payload["A"], payload["R"]
    rows, cols, rlabels = payload["rows"], payload["cols"], payload["rlabels"]
    codes = payload.get("codes")
    A = pd.DataFrame(D, index=rows, columns=cols)
    Rs = pd.Series(R, index=rlabels)
    try:
        e = lab.Economy(A, Rs, codes=codes)
    except LabError as exc:
        return lab_error(exc)
    want = list(codes) if codes is not None else list(rows)
    ok = (len(set(rows)) == len(rows) == len(set(cols)) and set(rows) == set(cols) ==
          set(want) == set(rlabels) and len(set(rlabels)) == len(rlabels) and
          len(set(want)) == len(want))
    assert ok, "labelled arguments with duplicated or mismatched labels were accepted"
    r = {c: k for k, c in enumerate(rows)}
    c = {c: k for k, c in enumerate(cols)}
    q = {c: k for k, c in enumerate(rlabels)}
    expect = np.array([[D[r[a], c[b]] for b in want] for a in want])
    assert list(e.codes) == want
    _same(e.A.toarray(), expect, "A by label", 0)
    _same(e.labour, [R[q[a]] for a in want], "R by label", 0)
    return Outcome("ok")


# --------------------------------------------------------------------------- values


@case
def values(payload) -> Outcome:
    """``labour_values``: converged results are checked by their recomputed residual,
    a not-productive verdict by the spectral radius, non-convergence by its residual."""
    A, l, options = payload["A"], payload["l"], payload["options"]
    try:
        e = lab.Economy(A, l)
    except LabError as exc:
        return lab_error(exc)
    DA = np.asarray(A, dtype=float)
    lv = np.asarray(l, dtype=float).reshape(-1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = lab.labour_values(e, **options)
        except NotProductiveError as exc:
            # small economies are decided exactly, larger ones by LAPACK's eigenvalues
            productive = productive_exactly(DA) if DA.shape[0] <= 12 \
                else spectral_radius(DA) < 1 - 1e-9
            if "can be shown neither" in str(exc):
                return Outcome("honest", str(exc)[:200])  # undecided in float64: said so
            assert not productive, f"productive economy refused: {exc}"
            return lab_error(exc)
        except LabError as exc:
            return lab_error(exc)
    v = np.asarray(res.values, dtype=float)
    rtol = float(options.get("rtol", 1e-10))
    if res.converged:
        assert np.isfinite(v).all(), f"converged with non-finite values {v}"
        with np.errstate(all="ignore"):
            r = residual(DA, lv, v)
        assert r <= 10 * rtol + 1e-13, f"converged but the residual is {r!r} (rtol {rtol!r})"
        # v ≥ 0 in theory (A ≥ 0, l ≥ 0, v = Σ (Aᵀ)^k l); within lab's own rule a value
        # may be off by rtol·‖v‖∞, so only what lies below that is wrong
        floor = -(10 * rtol + 1e-13) * max(np.abs(v).max(initial=0), 1e-300)
        assert (v >= floor).all(), f"negative values: {v.min()!r} (max |v| {np.abs(v).max()!r})"
        return Outcome("ok")
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught), \
        "non-convergence without a ConvergenceWarning"
    return Outcome("honest", res.message[:200])


# --------------------------------------------------------------------------- files


def _materialise(folder: Path, files: dict, fifos: list) -> None:
    for rel, data in files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    for rel in fifos:
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
        os.mkfifo(p)


def _expect_equal(e, codes, A, R, names, what):
    assert list(e.codes) == list(codes), f"{what}: codes {list(e.codes)[:5]} != {codes[:5]}"
    _same(e.A.toarray(), A, f"{what}: A", 1e-14)
    _same(e.R, R, f"{what}: R", 1e-14)
    assert tuple(e.resource_names) == tuple(names), f"{what}: resource names"


@case
def read(payload) -> Outcome:
    """``read_economy`` on files lab wrote, then edited: an error, or exactly what the
    reference reads (the original for npz and parquet, and for a csv folder whose data
    files are unchanged; an independent parser for text files without a manifest)."""
    from _reference import dense_csv, folder, mtx

    fmt, files, original = payload["fmt"], payload["files"], payload["original"]
    with tempfile.TemporaryDirectory(prefix="lab-fuzz-read-") as tmp:
        tmp = Path(tmp)
        _materialise(tmp, files, payload.get("fifos", []))
        target = tmp / payload["target"]
        try:
            e = lab.read_economy(target, format=fmt if payload.get("explicit") else None)
        except LabError as exc:
            return lab_error(exc)
    assert not payload.get("fifos"), "a FIFO was read"
    codes, A, R, names = original
    unchanged = payload["unchanged"]
    cells = payload.get("reference_text")
    if cells is not None:  # Parquet tables with edited cells
        try:
            rc, rA, rR, rn = folder(cells["products"], cells["flows"])
        except Rejected as why:
            raise AssertionError(f"lab accepted tables the reference refuses ({why})") from None
        _expect_equal(e, rc, rA, rR, rn, "edited Parquet cells")
        return Outcome("ok")
    if fmt in ("npz", "parquet") or set(unchanged) >= set(payload["data_files"]):
        _expect_equal(e, codes, A, R, names, "unchanged data or a checksummed format")
        return Outcome("ok")
    try:
        text = {k: v.decode("utf-8") for k, v in files.items()
                if k.endswith((".csv", ".mtx"))}
        if fmt == "csv":
            assert "e/lab-manifest.json" not in files, "a csv folder changed under its manifest"
            ref = folder(text["e/products.csv"], text["e/flows.csv"])
        elif fmt == "dense-csv":
            ref = dense_csv(text["e.csv"])
        else:
            ref = mtx(text["e.mtx"], text.get("e.resources.csv"))
    except (Rejected, KeyError, UnicodeDecodeError) as why:
        raise AssertionError(f"lab accepted a file the reference refuses ({why!r})") from None
    rc, rA, rR, rn = ref
    if rc is None:
        rc = [f"P{i}" for i in range(rA.shape[0])]
    _expect_equal(e, rc, rA, rR, rn, "edited text file")
    return Outcome("ok")


# --------------------------------------------------------------------------- CLI and batch

_WORKSPACE: dict = {}


def workspace() -> dict:
    """Files the CLI and batch cases refer to, made once per sandbox child."""
    if _WORKSPACE:
        return _WORKSPACE
    tmp = Path(tempfile.mkdtemp(prefix="lab-fuzz-ws-"))
    econ = lab.generate_economy(40, seed=1)
    paths = {
        "npz": lab.write_economy(econ, tmp / "e.npz"),
        "folder": lab.write_economy(econ, tmp / "folder", format="csv"),
        "parquet": lab.write_economy(econ, tmp / "pq", format="parquet"),
        "mtx": lab.write_economy(econ, tmp / "e.mtx"),
        "dense": lab.write_economy(econ, tmp / "e.csv"),
    }
    cycle = np.zeros((3, 3))
    cycle[0, 1], cycle[1, 2], cycle[2, 0] = 1.2, 1.0, 1.0
    paths["nonproductive"] = lab.write_economy(lab.Economy(cycle, [1.0, 1, 1]), tmp / "np.npz")
    paths["overflow"] = lab.write_economy(
        lab.Economy(np.array([[0, 1e308], [0, 0.0]]), [1e10, 1.0]), tmp / "big.npz")
    (tmp / "huge.mtx").write_text("%%MatrixMarket matrix coordinate real general\n"
                                  "2000000000 2000000000 1\n1 1 0.5\n")
    paths["huge"] = tmp / "huge.mtx"
    os.mkfifo(tmp / "fifo")
    paths["fifo"] = tmp / "fifo"
    paths["missing"] = tmp / "missing.npz"
    (tmp / "targets.csv").write_text("code,target,weight\nP3,1.5,1\nP10,2.0,2\n")
    (tmp / "bad-targets.csv").write_text("code,target\nP3,x\n")
    (tmp / "unknown-targets.csv").write_text("code,target\nZZ,1\n")
    (tmp / "resources.csv").write_text("resource,available\nlabour,40\n")
    (tmp / "caps.csv").write_text("code,capacity\nP3,0.2\nP5,inf\n")
    for name in ("targets", "bad-targets", "unknown-targets", "resources", "caps"):
        paths[name] = tmp / f"{name}.csv"
    _WORKSPACE.update(root=tmp, paths=paths, economy=econ, economies={
        k: lab.read_economy(paths[k]) for k in ("npz", "nonproductive")})
    return _WORKSPACE


def linked_workspace(ws, folder: Path) -> dict:
    """Symbolic links in ``folder`` to the workspace's files: a command that writes over
    one (``lab generate -o @npz``) replaces the link, never the shared file."""
    links = {}
    for name, target in ws["paths"].items():
        link = folder / f"ws-{name}{target.suffix}"
        if target.exists() or name == "fifo":
            link.symlink_to(target, target_is_directory=target.is_dir())
        links[name] = link
    return links


def _cli_path(token, links, out_dir: Path):
    """``@name`` names a workspace file; ``>name`` a fresh output path."""
    if isinstance(token, str) and token.startswith("@"):
        return str(links[token[1:]])
    if isinstance(token, str) and token.startswith(">"):
        return str(out_dir / token[1:])
    return str(token)


def _check_values_output(path: Path, economy, rows, rtol):
    frame = pd.read_csv(path, dtype={"code": str}, keep_default_na=False) \
        if path.suffix == ".csv" else pd.read_parquet(path).reset_index()
    assert frame["code"].astype(str).tolist() == [str(c) for c in economy.codes]
    A = economy.A.toarray()
    cols = [c for c in frame.columns if c != "code"]
    assert len(cols) == len(rows), (cols, rows)
    for col, q in zip(cols, rows, strict=True):
        v = frame[col].to_numpy(dtype=float)
        r = residual(A, economy.R[q], v)
        assert r <= 10 * rtol + 1e-13, f"written values have residual {r!r} (rtol {rtol!r})"


def _check_plan_output(path: Path, economy, available: float):
    frame = pd.read_csv(path, dtype={"code": str}, keep_default_na=False).set_index("code")
    x = frame["intensity"].to_numpy(dtype=float)
    assert np.isfinite(x).all() and (x >= 0).all(), "plan intensities not finite or negative"
    n = x - economy.A.toarray() @ x
    scale = max(float(np.abs(x).max(initial=0)), 1.0)
    assert (n >= -1e-9 * scale).all(), f"plan consumes more than it makes: {n.min()!r}"
    assert economy.labour @ x <= available * (1 + 1e-9) + 1e-12, "plan uses too much labour"


@case
def cli(payload) -> Outcome:
    """One ``lab`` command via click's CliRunner: exit 0 with outputs that pass an
    independent check, or 1/2 with lab's one error line (or click's usage error)."""
    from click.testing import CliRunner

    from lab.cli import cli as command

    ws = workspace()
    with tempfile.TemporaryDirectory(prefix="lab-fuzz-cli-") as out:
        out = Path(out)
        links = linked_workspace(ws, out)
        argv = [_cli_path(t, links, out) for t in payload["argv"]]
        result = CliRunner().invoke(command, argv, catch_exceptions=True)
        text = result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            f"{argv}: raw {type(result.exception).__name__}: {result.exception}"
        assert "Traceback" not in text, f"{argv}: traceback in the output"
        code = result.exit_code
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("lab: error: ")]
        if code == 2:  # lab's one error line, or click's usage error ("Error: ...")
            assert len(errors) == 1 or "Usage:" in result.stderr or \
                result.stderr.startswith("Error: "), f"{argv}: {result.stderr!r}"
            return Outcome("lab", (errors or result.stderr.splitlines())[-1][:200])
        if code == 1:
            assert len(errors) == 1 or "not converged" in result.stdout or \
                "not certified" in result.stdout or result.stdout, f"{argv}: {result.stderr!r}"
            return Outcome("lab" if errors else "honest", result.stderr[-200:])
        assert code == 0, f"{argv}: exit status {code}: {result.stderr!r}"
        _verify_success(payload, argv, result, ws, out)
        return Outcome("ok")


def _option(argv, *names, default=None):
    for k, a in enumerate(argv[:-1]):
        if a in names:
            return argv[k + 1]
    return default


def _verify_success(payload, argv, result, ws, out):
    cmd = argv[0]
    if cmd == "values":
        econ_key = payload.get("economy")
        if econ_key is None or "--dataset" in argv:
            return  # printed only; the datasets have their own golden tests
        labour, negative = _option(argv, "--labour"), _option(argv, "--negative")
        economy = lab.read_economy(ws["paths"][econ_key], labour=labour,
                                   negative=negative or "error")
        rtol = float(_option(argv, "--rtol", default=1e-10))
        resources = _option(argv, "--resources")
        rows = list(range(economy.n_resources)) if resources == "all" else \
            [list(economy.resource_names).index(resources)] if resources else [0]
        target = _option(argv, "-o", "--out")
        if target is not None:
            _check_values_output(Path(target), economy, rows, rtol)
        if "--json" in argv:
            info = json.loads(result.stdout)
            assert info["converged"] is True and info["residual"] <= rtol
    elif cmd == "generate":
        target = Path(_option(argv, "-o", "--out"))
        e = lab.read_economy(target)
        assert e.n_products == int(argv[1])
        rho = float(_option(argv, "--spectral-radius", default=0.9))
        if e.n_products <= 300:
            assert abs(spectral_radius(e.A.toarray()) - rho) <= 1e-8 * max(rho, 1)
    elif cmd == "plan":
        target = _option(argv, "-o", "--out")
        if target is not None and target.endswith(".csv"):
            res = _option(argv, "--resources")
            available = 40.0 if res and res.endswith("resources.csv") else math.inf
            _check_plan_output(Path(target), ws["economy"], available)


def _scenario(economy, job):
    """A and R of a batch job's scenario, built with NumPy edits (not lab's code)."""
    from lab.batch import ChangeCoefficients, ScaleResource, SetResource

    A = economy.A.toarray()
    R = np.array(economy.R)
    names = list(economy.resource_names)
    index = {c: k for k, c in enumerate(economy.codes)}
    for c in job.changes:
        if isinstance(c, ScaleResource):
            cols = list(range(A.shape[0])) if c.products is None else \
                [index[p] for p in c.products]
            R[names.index(c.resource), cols] *= c.factor
        elif isinstance(c, SetResource):
            if c.fill is not None:
                R[names.index(c.resource), :] = c.fill
            for code, value in c.values:
                R[names.index(c.resource), index[code]] = value
        elif isinstance(c, ChangeCoefficients):
            j = index[c.product]
            for code, f in c.factors:
                A[index[code], j] *= f
            if c.factor is not None:
                A[:, j] *= c.factor
            for code, value in c.values:
                A[index[code], j] = value
    return A, R, names


def _result_table(folder: Path, stem: str, fmt: str) -> pd.DataFrame:
    """A job's result file as a frame with a ``code`` column."""
    if fmt == "csv":
        return pd.read_csv(folder / f"{stem}.csv", dtype={"code": str}, keep_default_na=False)
    frame = pd.read_parquet(folder / f"{stem}.parquet")
    return frame.reset_index() if "code" not in frame.columns else frame


_LAB_ERRORS = {"TimeLimitExceeded"}


def _lab_error_names():
    if not _LAB_ERRORS - {"TimeLimitExceeded"}:
        stack = [LabError]
        while stack:
            cls = stack.pop()
            _LAB_ERRORS.add(cls.__name__)
            stack.extend(cls.__subclasses__())
    return _LAB_ERRORS


@case
def batch(payload) -> Outcome:
    """A TOML job file through ``read_batch`` and ``run_batch``: a JobFileError, or a
    summary whose done jobs pass a residual (values) or feasibility (plans) check and
    whose failed jobs carry lab's own errors."""
    from lab.batch import SetAvailability, SetTargets, read_batch, run_batch

    ws = workspace()
    with tempfile.TemporaryDirectory(prefix="lab-fuzz-batch-") as tmp:
        tmp = Path(tmp)
        for name in ("npz", "folder", "mtx"):
            src = ws["paths"][name]
            (tmp / src.name).symlink_to(src, target_is_directory=src.is_dir())
        (tmp / "fifo").symlink_to(ws["paths"]["fifo"])
        path = tmp / "jobs.toml"
        path.write_text(payload["text"])
        try:
            spec = read_batch(path)
            summary = run_batch(spec, out=tmp / "out", workers=1)
        except LabError as exc:
            return lab_error(exc)
        economies = {}
        for job, outcome in zip(spec.jobs, summary.jobs, strict=True):
            folder = tmp / "out" / "jobs" / job.name
            record = json.loads((folder / "record.json").read_text())
            if outcome.status == "failed":
                kind = record["error"]["type"]
                assert kind in _lab_error_names(), f"job {job.name}: raw {kind}: {record}"
                continue
            assert outcome.status == "done", outcome
            if job.economy not in economies:
                economies[job.economy] = spec.economies[job.economy].load()
            economy = economies[job.economy]
            A, R, names = _scenario(economy, job)
            if job.kind == "values":
                rows = [0] if job.resources is None else list(range(len(names))) \
                    if job.resources == "all" else [names.index(job.resources)] \
                    if isinstance(job.resources, str) else [names.index(r)
                                                            for r in job.resources]
                frame = _result_table(folder, "values", spec.format)
                cols = [c for c in frame.columns if c != "code"]
                for col, q in zip(cols, rows, strict=True):
                    r = residual(A, R[q], frame[col].to_numpy(dtype=float))
                    assert r <= 10 * job.options.rtol + 1e-13, f"{job.name}: residual {r!r}"
            else:
                plan = _result_table(folder, "plan", spec.format)
                x = plan["intensity"].to_numpy(dtype=float)
                assert np.isfinite(x).all() and (x >= 0).all()
                n = x - A @ x
                assert (n >= -1e-9 * max(float(np.abs(x).max(initial=0)), 1.0)).all()
                limits = {}
                for c in job.changes:
                    if isinstance(c, SetAvailability):
                        limits.update(c.values)
                for name, amount in limits.items():
                    use = R[names.index(name)] @ x
                    assert use <= amount * (1 + 1e-9) + 1e-12, f"{job.name}: {name} {use}"
                assert any(isinstance(c, SetTargets) for c in job.changes)
        return Outcome("ok" if summary.n_done else "lab",
                       f"{summary.n_done} done, {summary.n_failed} failed")


@case
def ping(payload) -> Outcome:
    return Outcome("ok", repr(payload))
