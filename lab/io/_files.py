"""Opening input files safely, and the integrity manifest of the folders lab writes.

Every reader of :mod:`lab.io` opens its files through :func:`open_regular`, which
refuses what is not a regular file: a FIFO or a character device (``/dev/zero``,
a terminal) would make a reader wait forever or read without end, a folder or a
socket cannot be parsed. The file is opened without blocking and checked with
``fstat`` on the open descriptor, so a symbolic link to any of them is refused
too, and nothing can be swapped in between the check and the read.

Declared sizes are checked before anything is allocated: :func:`check_allocation`
compares what a header asks for with the size of the file (a few bytes per entry
at least) and with the machine's memory, so that a corrupt size line is an error
naming the file, not a ``MemoryError`` (or worse, an allocation that succeeds and
is then filled).

Truncation. A text table whose last line has no line end was cut off (lab and
every common writer end a text file with a newline): :func:`check_text_end`.
Folders that lab writes also carry ``lab-manifest.json``, the byte count, row
count and sha256 of every file; :func:`verify_manifest` checks them on read, so a
file cut at a line boundary, or changed since, is an error too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from pathlib import Path

from lab._atomic import atomic_path
from lab._validation import fmt_bytes as _fmt_bytes
from lab._validation import physical_memory
from lab.exceptions import DataFormatError

__all__ = ["MANIFEST", "check_allocation", "check_regular", "check_text_end", "file_digest",
           "open_regular", "remove_manifest", "verify_manifest", "write_manifest"]

#: The integrity manifest of a folder lab writes.
MANIFEST = "lab-manifest.json"
_MANIFEST_FORMAT = "lab folder manifest"

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"  # pragma: no cover - no other kinds on POSIX


def _not_regular(path, mode) -> DataFormatError:
    return DataFormatError(f"is {_kind(mode)}, not a regular file; lab reads economies and "
                           "tables from regular files only", path=path)


def _os_error(path, exc: OSError) -> DataFormatError:
    if isinstance(exc, FileNotFoundError):
        return DataFormatError("file not found", path=path)
    return DataFormatError(f"cannot open: {exc.strerror or exc}", path=path)


def check_regular(path) -> os.stat_result:
    """``os.stat`` of ``path`` (links followed); an error unless it is a regular file.

    For libraries that open the path themselves (Arrow); lab's own readers use
    :func:`open_regular`, which checks the descriptor they read from.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _os_error(path, exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st.st_mode)
    return st


def open_regular(path, mode: str = "rb", **kwargs):
    """Open ``path`` for reading if it is a regular file (after following links).

    ``mode`` is ``"rb"`` or ``"r"`` (text; ``kwargs`` go to :func:`open`, e.g.
    ``encoding``). A FIFO is opened without blocking and refused, like a device,
    a folder or a socket; the check is made on the open descriptor.
    """
    if mode not in ("r", "rb"):
        raise ValueError(f"open_regular reads only, got mode {mode!r}")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _os_error(path, exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st.st_mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def check_text_end(fh, path, line: int | None = None) -> None:
    """Raise unless the binary file ``fh`` is empty or ends with a line end.

    A table cut off in the middle of its last line (a value ``0.123`` of
    ``0.12345``, a code ``P1`` of ``P17``) can still parse; its missing line end
    is what shows it. ``line``: the number of that last line, for the message. The
    position of ``fh`` is restored.
    """
    pos = fh.tell()
    try:
        end = fh.seek(0, os.SEEK_END)
        if end == 0:
            return
        fh.seek(end - 1)
        last = fh.read(1)
    finally:
        fh.seek(pos)
    if last not in (b"\n", b"\r"):
        raise DataFormatError("the last line has no line end: the file looks truncated "
                              "(if it is complete, end it with a newline)", path=path,
                              line=line)


#: A reader may allocate at most this many bytes per byte of its file (plus
#: :data:`ALLOCATION_SLACK`): generous for every real table (a flow takes about 16
#: bytes in memory and 10 to 40 in a text file, 2 or more in Parquet), and a size
#: line of a few bytes cannot ask for gigabytes.
ALLOCATION_RATIO = 64
ALLOCATION_SLACK = 64 << 20


def check_allocation(path, what: str, need_bytes: float, *, file_bytes: int,
                     min_file_bytes: float | None = None) -> None:
    """Refuse a declared size before allocating for it.

    ``what`` says what the file declares (``"the size line declares a 2000000000 ×
    2000000000 matrix"``) and ``need_bytes`` the memory it takes. Refused when the
    file, of ``file_bytes`` bytes, is smaller than ``min_file_bytes`` (the least a
    file holding that much can have), when ``need_bytes`` exceeds
    ``ALLOCATION_RATIO`` bytes per byte of file (plus ``ALLOCATION_SLACK``), or the
    machine's physical memory: the file is corrupt (or the economy does not fit), and
    that is said, naming the file, not left to a ``MemoryError``.
    """
    if min_file_bytes is not None and file_bytes < min_file_bytes:
        raise DataFormatError(f"{what}, which needs at least {_fmt_bytes(min_file_bytes)} of "
                              f"file, but the file has {_fmt_bytes(file_bytes)}: it is corrupt "
                              "or truncated", path=path)
    if need_bytes > ALLOCATION_RATIO * file_bytes + ALLOCATION_SLACK:
        raise DataFormatError(f"{what}: reading it would need {_fmt_bytes(need_bytes)} of "
                              f"memory for a file of {_fmt_bytes(file_bytes)}; the declared "
                              "size is corrupt", path=path)
    memory = physical_memory()
    if memory is not None and need_bytes > memory:
        raise DataFormatError(f"{what}: reading it needs {_fmt_bytes(need_bytes)} of memory, "
                              f"more than this machine's {_fmt_bytes(memory)}", path=path)


# --------------------------------------------------------------------------- manifest


def file_digest(path) -> tuple[int, int, str]:
    """(bytes, lines, sha256 hex) of a regular file, read in blocks."""
    h = hashlib.sha256()
    size = lines = 0
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            size += len(block)
            lines += block.count(b"\n")
    return size, lines, h.hexdigest()


def remove_manifest(directory) -> None:
    """Before a folder is rewritten: its old manifest no longer describes it."""
    with contextlib.suppress(FileNotFoundError):
        (Path(directory) / MANIFEST).unlink()


def write_manifest(directory, files: dict) -> Path:
    """Write ``lab-manifest.json`` for ``files`` (name -> data rows) of ``directory``.

    Written last and atomically: a folder whose writing was interrupted has no
    manifest (the writers remove the old one first), never a wrong one.
    """
    from lab._version import __version__

    directory = Path(directory)
    entries = {}
    for name, rows in files.items():
        size, _, digest = file_digest(directory / name)
        entries[name] = {"bytes": size, "rows": int(rows), "sha256": digest}
    path = directory / MANIFEST
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"format": _MANIFEST_FORMAT, "version": 1,
                                   "lab_version": __version__, "files": entries},
                                  indent=1) + "\n", encoding="utf-8")
    return path


def read_manifest(directory) -> dict | None:
    """The ``files`` table of a folder's manifest, or None when it has none."""
    path = Path(directory) / MANIFEST
    if not os.path.lexists(path):
        return None
    with open_regular(path) as fh:
        raw = fh.read(1 << 20)
    try:
        data = json.loads(raw.decode("utf-8"))
        files = data["files"]
        if data.get("format") != _MANIFEST_FORMAT or not isinstance(files, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("bytes"), int)
                and isinstance(v.get("rows"), int) and isinstance(v.get("sha256"), str)
                for v in files.values()):
            raise ValueError("unexpected content")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"corrupt manifest ({exc}); it describes the files lab wrote "
                              "here: delete it to read the folder without the check",
                              path=path) from None
    return files


def verify_manifest(directory, names) -> None:
    """Check the files ``names`` of ``directory`` against its manifest, if it has one.

    Sizes first (a truncated file says how much is missing), then the sha256 (a
    file changed since lab wrote it); before any parsing, so that a truncated
    file is reported as such rather than as whatever its last line looks like.
    """
    files = read_manifest(directory)
    if files is None:
        return
    hint = (f"if it was edited on purpose, delete {MANIFEST} to read the folder without the "
            "check")
    for name in names:
        path = Path(directory) / name
        entry = files.get(name)
        if entry is None:
            raise DataFormatError(f"{name} is not listed in {MANIFEST} ({hint})", path=path)
        size, lines, digest = file_digest(path)
        if size != entry["bytes"]:
            cut = "truncated" if size < entry["bytes"] else "changed"
            raise DataFormatError(f"has {size} bytes and {max(lines - 1, 0)} data rows but lab "
                                  f"wrote {entry['bytes']} bytes and {entry['rows']} rows "
                                  f"({cut}; {hint})", path=path)
        if digest != entry["sha256"]:
            raise DataFormatError(f"its sha256 differs from the one lab wrote (the file is "
                                  f"corrupt or was changed; {hint})", path=path)
