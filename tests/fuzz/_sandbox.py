"""A child interpreter that runs fuzz cases, so that a crash or a hang fails one example.

The parent (:class:`Sandbox`) sends ``(case name, payload)`` pickled over a pipe; the
child runs ``_cases.CASES[name](payload)`` and sends back an :class:`Outcome`. If the
child dies (a segmentation fault, an abort: a negative return code) or does not answer
within the timeout (a hang), the parent records that as the example's outcome (class
"crash" or "hang"), starts a fresh child and goes on. ``faulthandler`` writes the
Python stack of a crash to the child's log, which the outcome quotes.

Run as ``python _sandbox.py REQUEST_FD RESPONSE_FD`` by :class:`Sandbox` only.
"""

from __future__ import annotations

import io
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

#: The outcome classes: "lab" (lab's own error), "ok" (a result that passed an
#: independent check), "honest" (a reported non-convergence, checked as such), and the
#: failures: "wrong" (a wrong answer or a raw exception), "crash", "hang".
FAILURES = ("wrong", "crash", "hang")


@dataclass
class Outcome:
    kind: str
    detail: str = ""


def _rebuild(cls, state):
    """A scipy.sparse object from its raw attributes, without any of scipy's checks."""
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    return obj


class _Pickler(pickle.Pickler):
    """Sends scipy.sparse objects as their raw attributes: their own pickling (and a DOK
    array's ``__setitem__`` on unpickling) would check, or trip over, the very
    corruptions the fuzz cases are made of."""

    def reducer_override(self, obj):
        if type(obj).__module__.startswith("scipy.sparse"):
            return _rebuild, (type(obj), dict(vars(obj)))
        return NotImplemented


def _send(fh, obj) -> None:
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    data = buf.getvalue()
    fh.write(struct.pack("<Q", len(data)) + data)
    fh.flush()


def _recv(fh):
    head = fh.read(8)
    if len(head) < 8:
        raise EOFError
    (n,) = struct.unpack("<Q", head)
    data = fh.read(n)
    if len(data) < n:
        raise EOFError
    return pickle.loads(data)


class Sandbox:
    """The parent side: one child at a time, restarted after a crash or a hang."""

    def __init__(self, timeout: float = 120.0):
        self.timeout = timeout
        self.proc = None
        self.log = None
        self.starts = 0

    def _start(self):
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        self.log = tempfile.NamedTemporaryFile(prefix="lab-fuzz-sandbox-", suffix=".log",
                                               delete=False)
        env = {**os.environ, "PYTHONFAULTHANDLER": "1",
               "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE),
                                              os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_sandbox.py"), str(req_r), str(resp_w)],
            pass_fds=(req_r, resp_w), stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=self.log, env=env, cwd=tempfile.gettempdir(), start_new_session=True)
        os.close(req_r)
        os.close(resp_w)
        self.requests = os.fdopen(req_w, "wb")
        self.responses = os.fdopen(resp_r, "rb")
        self.starts += 1

    def _log_tail(self) -> str:
        try:
            return Path(self.log.name).read_text(errors="replace")[-3000:]
        except OSError:  # pragma: no cover
            return ""

    def _kill(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            for fh in (self.requests, self.responses):
                try:
                    fh.close()
                except OSError:
                    pass
        self.proc = None

    def run(self, case: str, payload, timeout: float | None = None) -> Outcome:
        if self.proc is None or self.proc.poll() is not None:
            self._kill()
            self._start()
        limit = self.timeout if timeout is None else timeout
        try:
            _send(self.requests, (case, payload))
        except (BrokenPipeError, OSError):
            code = self.proc.poll()
            tail = self._log_tail()
            self._kill()
            return Outcome("crash", f"the sandbox died before the case (return code {code}): "
                                    f"{tail}")
        deadline = time.monotonic() + limit
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                tail = self._log_tail()
                self._kill()
                return Outcome("hang", f"no answer within {limit:g} s: {tail}")
            ready, _, _ = select.select([self.responses], [], [], min(left, 1.0))
            if ready:
                try:
                    return Outcome(*_recv(self.responses))
                except (EOFError, pickle.UnpicklingError):
                    self.proc.wait()
                    code = self.proc.returncode
                    tail = self._log_tail()
                    self._kill()
                    return Outcome("crash", f"the sandbox died (return code {code}): {tail}")

    def close(self):
        self._kill()
        if self.log is not None:
            try:
                os.unlink(self.log.name)
            except OSError:
                pass


def _main(req_fd: int, resp_fd: int) -> None:
    import faulthandler
    import traceback
    import warnings

    faulthandler.enable()
    warnings.simplefilter("ignore")
    import _cases  # the child has this folder on its path
    from _sandbox import Outcome  # the module, not __main__: the one _cases uses

    requests, responses = os.fdopen(req_fd, "rb"), os.fdopen(resp_fd, "wb")
    while True:
        try:
            case, payload = _recv(requests)
        except EOFError:
            return
        try:
            outcome = _cases.CASES[case](payload)
        except AssertionError as exc:  # an independent check failed: a wrong answer
            outcome = Outcome("wrong", f"{exc}\n{traceback.format_exc(limit=6)}")
        except Exception as exc:  # a raw exception escaped lab
            outcome = Outcome("wrong", f"raw {type(exc).__name__}: {exc}\n"
                                       f"{traceback.format_exc(limit=12)}")
        _send(responses, (outcome.kind, outcome.detail))


if __name__ == "__main__":
    _main(int(sys.argv[1]), int(sys.argv[2]))
