"""The output folder of a batch: per-job folders, records, the manifest.

Layout::

    OUT/manifest.json            state of every job (rewritten atomically)
    OUT/jobs/NAME/values.csv     the job's result (or values.parquet)
    OUT/jobs/NAME/record.json    status, residual, iterations, time, memory, hashes

The per-job records are the truth; the manifest is a summary rebuilt from them
at every start. A record is written (atomically, after the result file) only
when the job has finished, so a job either has a complete record and result or
counts as not done; a run killed at any moment loses no finished job, and the
temporary files an atomic write may leave behind are removed at the next start.
Job names are checked to stay inside ``OUT/jobs`` (no ``..``, no absolute paths,
no symbolic link leading out).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from lab._atomic import atomic_path
from lab.batch._spec import NAME_RE, JobFileError

__all__ = ["MANIFEST", "RECORD", "WORK", "OutputFolder"]

RECORD = "record.json"
MANIFEST = "manifest.json"
#: Records are small; a larger file is not one.
MAX_RECORD_BYTES = 1 << 20
#: Scratch folder of a run (the economies the pool workers read); removed at the end.
WORK = ".work"


def file_sha256(path) -> str:
    from lab.io._files import open_regular

    h = hashlib.sha256()
    with open_regular(path) as fh:  # a FIFO put in place of a result is refused
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json(path: Path, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=False, default=str) + "\n")


class OutputFolder:
    """One batch output folder (see the module docstring)."""

    def __init__(self, root):
        self.root = Path(root)
        self.jobs = self.root / "jobs"

    # -- paths --------------------------------------------------------------------

    def job_dir(self, name: str) -> Path:
        """``OUT/jobs/NAME``, refusing any name or link that would lead outside OUT/jobs."""
        if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
            raise JobFileError(f"job name {name!r} cannot name a folder inside the output folder")
        path = self.jobs / name
        base = self.jobs.resolve()
        real = path.resolve()
        if real.parent != base:
            raise JobFileError(f"job {name!r}: {path} leads outside the output folder "
                               f"{self.root} (a symbolic link?)")
        return path

    # -- start ----------------------------------------------------------------------

    def prepare(self, *, resume: bool) -> None:
        """Create the folder; without ``resume``, refuse one that holds an earlier batch."""
        if self.root.exists() and not self.root.is_dir():
            raise JobFileError(f"output folder {self.root} is a file")
        if not resume and ((self.root / MANIFEST).exists() or self.has_records()):
            raise JobFileError(f"output folder {self.root} holds results of an earlier batch; "
                               "pass --resume (resume=True) to continue it, or choose another "
                               "output folder")
        self.jobs.mkdir(parents=True, exist_ok=True)
        if self.jobs.resolve().parent != self.root.resolve():
            raise JobFileError(f"{self.jobs} leads outside the output folder {self.root}")
        self.remove_temporary()
        shutil.rmtree(self.root / WORK, ignore_errors=True)  # left by a killed run

    def has_records(self) -> bool:
        if not self.jobs.is_dir():
            return False
        return any((d / RECORD).exists() for d in self.jobs.iterdir() if d.is_dir())

    def remove_temporary(self) -> list[Path]:
        """Delete the ``.NAME.*.tmp`` files that a killed atomic write leaves behind."""
        removed = []
        candidates = [self.root, *(d for d in self.jobs.iterdir() if d.is_dir()
                                   and not d.is_symlink())] if self.jobs.is_dir() else []
        for folder in candidates:
            for p in folder.iterdir():
                if p.name.startswith(".") and p.name.endswith(".tmp") and p.is_file():
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
                        removed.append(p)
        return removed

    # -- records --------------------------------------------------------------------

    def read_record(self, name: str) -> dict | None:
        """The job's record, or None if it has none (or one that cannot be read)."""
        from lab.io._files import open_regular

        try:
            with open_regular(self.job_dir(name) / RECORD) as fh:  # never a FIFO
                record = json.loads(fh.read(MAX_RECORD_BYTES).decode("utf-8"))
        except (OSError, ValueError):  # DataFormatError and JSON errors are ValueErrors
            return None
        return record if isinstance(record, dict) else None

    def finished(self, name: str, economy_hash: str, scenario_hash: str) -> dict | None:
        """The job's record if it finished for exactly these inputs and its result is intact."""
        record = self.read_record(name)
        if record is None or record.get("status") != "done":
            return None
        inputs = record.get("inputs")
        if not isinstance(inputs, dict) or inputs.get("economy") != economy_hash or \
                inputs.get("scenario") != scenario_hash:
            return None
        result = record.get("result")
        if result:
            if not isinstance(result, str) or Path(result).name != result or \
                    result.startswith("."):
                return None  # a record names a file of its own folder, nothing else
            path = self.job_dir(name) / result
            try:
                if file_sha256(path) != record.get("result_sha256"):
                    return None
            except (OSError, ValueError):  # missing, not a regular file
                return None
        return record

    def write_record(self, name: str, record: dict) -> None:
        write_json(self.job_dir(name) / RECORD, record)

    def remove_stale(self, name: str) -> None:
        """Before re-running a job: drop its old record and results (not finished anyway)."""
        folder = self.job_dir(name)
        if folder.is_dir():
            # The record goes first: a job is finished only if its record says so.
            for p in sorted(folder.iterdir(), key=lambda p: p.name != RECORD):
                if p.is_file():
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()

    # -- manifest -------------------------------------------------------------------

    def write_manifest(self, info: dict, jobs: dict) -> None:
        counts: dict[str, int] = {}
        for state in jobs.values():
            counts[state["status"]] = counts.get(state["status"], 0) + 1
        write_json(self.root / MANIFEST, {**info, "updated": time.strftime(
            "%Y-%m-%dT%H:%M:%S%z"), "counts": counts, "jobs": jobs})


def worker_id() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"
