"""Resident memory of this process (Linux ``/proc``; ``ru_maxrss`` elsewhere), the
memory the machine has available and the size of its last-level cache."""

from __future__ import annotations

import functools
import glob
import os

__all__ = ["available_bytes", "last_level_cache_bytes", "status_kib", "reset_peak_rss",
           "peak_rss_bytes"]

_CACHES = "/sys/devices/system/cpu/cpu0/cache"


def status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``), or None."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the peak resident memory of this process (Linux ≥ 4.0); True if it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int | None:
    """Peak resident memory in bytes (since the last reset, on Linux)."""
    hwm = status_kib("VmHWM")
    if hwm is not None:
        return hwm * 1024
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, OSError):  # pragma: no cover - not Linux
        return None


def available_bytes() -> int | None:
    """Memory available to new allocations without swapping (``MemAvailable`` of
    ``/proc/meminfo``), or None where that is not known."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@functools.cache
def last_level_cache_bytes() -> int | None:
    """Size of the highest-level cache of the first CPU (Linux sysfs: ``level`` and
    ``size`` such as ``32768K``), or None where that is not known."""
    best = None
    for folder in glob.glob(os.path.join(_CACHES, "index*")):
        try:
            with open(os.path.join(folder, "level")) as fh:
                level = int(fh.read())
            with open(os.path.join(folder, "size")) as fh:
                text = fh.read().strip()
        except (OSError, ValueError):
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
        digits = text[:-1] if scale > 1 else text
        if not digits.isdigit():
            continue
        if best is None or level > best[0]:
            best = (level, int(digits) * scale)
    return None if best is None else best[1]
