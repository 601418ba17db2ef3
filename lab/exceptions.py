"""Exceptions and warnings raised by lab.

"The call was wrong" raises at once (subclasses of ``ValueError``/``TypeError``);
"the maths did not converge" sets a status and emits :class:`ConvergenceWarning`.
"""

from __future__ import annotations

__all__ = [
    "BackendWarning",
    "ConvergenceWarning",
    "DataFormatError",
    "EfficiencyWarning",
    "InvalidEconomyError",
    "InvalidOptionError",
    "InvalidTypeError",
    "LabError",
    "NotConvergedError",
    "NotProductiveError",
]


class LabError(Exception):
    """Base class of every exception lab raises on purpose."""


class InvalidEconomyError(LabError, ValueError):
    """An argument describing an economy is malformed (shape, sign, NaN, index, ...)."""


class DataFormatError(InvalidEconomyError):
    """A file could not be read as an economy: truncated, corrupt or inconsistent.

    The message names the file and, where known, the line or product code.
    """

    def __init__(self, message: str, *, path=None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line


class InvalidProblemError(InvalidEconomyError):
    """A planning problem is malformed: unknown target product, negative capacity,
    a technique that makes nothing, a resource row of the wrong length, ..."""


class NotProductiveError(LabError, ValueError):
    """The economy cannot reproduce itself: the spectral radius of A is at least 1.

    Attributes
    ----------
    codes : list of str
        Codes of the smallest strongly connected group of products found responsible.
    indices : numpy.ndarray
        Their positions in the economy.
    spectral_radius : float or None
        Estimate of the spectral radius of A restricted to that group, when computed.
    """

    def __init__(self, message: str, *, codes=(), indices=None, spectral_radius=None):
        super().__init__(message)
        self.codes = list(codes)
        self.indices = indices
        self.spectral_radius = spectral_radius


class NotConvergedError(LabError, RuntimeError):
    """Raised instead of a :class:`ConvergenceWarning` when the caller asks for it.

    The unconverged result is kept in :attr:`result`.
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class ConvergenceWarning(UserWarning):
    """An iterative method stopped before meeting its tolerance."""


class EfficiencyWarning(UserWarning):
    """lab had to make a costly conversion or copy of an input."""


class BackendWarning(RuntimeWarning):
    """The requested or preferred kernel backend is unavailable; another one is used."""


class InvalidTypeError(LabError, TypeError):
    """An argument is of the wrong type (a string where options are expected, an array
    where an economy is, ...); the message names the argument and the type it got."""


class InvalidOptionError(LabError, ValueError):
    """An option has a value outside its range (a gap of 0, a negative iteration limit,
    an unknown method); the message names the option and the value it got."""
