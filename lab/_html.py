"""Which function writes the HTML report of which result: a registry at the bottom layer.

Results live in low layers (``lab.planning``, ``lab.values``) and the report writer in a
high one (``lab.report``), which imports them; a result's ``to_html`` method therefore
cannot import the writer. It calls :func:`render` here instead, and ``lab.report``
registers its renderers when it is imported (``import lab`` imports it). This module
imports nothing from lab, so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["register", "render", "registered"]

_RENDERERS: dict[str, Callable] = {}


def register(type_name: str, renderer: Callable) -> None:
    """Make ``renderer(result, path, **options)`` the report writer of results whose
    class (or a base class) is named ``type_name``."""
    if not isinstance(type_name, str) or not type_name:
        raise TypeError(f"type_name must be a class name, got {type_name!r}")
    if not callable(renderer):
        raise TypeError(f"renderer must be callable, got {renderer!r}")
    _RENDERERS[type_name] = renderer


def registered() -> tuple[str, ...]:
    """The class names that have a report writer."""
    return tuple(sorted(_RENDERERS))


def render(result, path, **options):
    """Write the HTML report of ``result`` to ``path`` with its registered writer.

    Returns what the writer returns (``lab.report`` returns the path written).

    Raises
    ------
    TypeError
        No writer is registered for the type of ``result`` (the message lists those
        that are).
    """
    for cls in type(result).__mro__:
        renderer = _RENDERERS.get(cls.__name__)
        if renderer is not None:
            return renderer(result, path, **options)
    known = ", ".join(registered()) or "none (import lab.report)"
    raise TypeError(f"no HTML report for a {type(result).__name__}; reports exist for {known}")
