"""A report document becomes one self-contained HTML file.

The page is a Jinja2 template (``assets/report.html.j2``) with everything inlined:
the style sheet, lab's script (``assets/report.js``: table, search, sort, pages, the
product panel), Vega-Embed with Vega and Vega-Lite (taken from the ``vl-convert-python``
package, so no JavaScript is vendored into lab), the document as JSON (the charts as
Vega-Lite specifications of aggregated data), and the table's columns as compressed
binary blobs. Nothing is fetched: the page makes no network
request at all.

The table's columns are packed for size: numbers as little-endian float32 (float64
where a value would not survive float32), byte-shuffled (all first bytes, then all
second bytes, ...: the exponents then compress well) and gzip-compressed; text as a
gzip-compressed JSON list. Each blob is base64 text in a ``<script
type="application/octet-stream">`` element that the browser decodes with
``DecompressionStream``. The headline, the limits and the evidence are plain HTML, so
the first screen needs no script.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
from pathlib import Path

import numpy as np

from lab._atomic import atomic_path
from lab.exceptions import InvalidOptionError
from lab.report._evidence import plain

__all__ = ["render_html", "vega_bundle"]

ASSETS = Path(__file__).resolve().parent / "assets"
F32_MAX = float(np.finfo(np.float32).max)
F32_TINY = float(np.finfo(np.float32).tiny)


def _vl_convert():
    try:
        import vl_convert
    except ImportError:
        raise ImportError("lab report needs the 'report' extra: pip install 'lab[report]' "
                          "(jinja2, vl-convert-python)") from None
    return vl_convert


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega-Embed with Vega and Vega-Lite as one script that sets ``window.vegaEmbed``.

    Built by vl-convert (the Vega project's converter, the one Altair uses for inline
    HTML) from the library versions it ships: about 0.9 MB. Cached for the process: the
    first call starts vl-convert's bundler (1–3 s). (Its bundles of Vega alone set
    ``window.vega`` to null in vl-convert 1.9, so Vega-Embed it is.)"""
    return _script_safe(_vl_convert().javascript_bundle("window.vegaEmbed = vegaEmbed;"))


def _script_safe(text: str) -> str:
    """Text that cannot end the <script> element it is inlined in."""
    return text.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def _pack_numbers(a: np.ndarray) -> tuple[str, bytes]:
    a = np.asarray(a, dtype=np.float64)
    finite = np.abs(a[np.isfinite(a) & (a != 0)])
    f32 = finite.size == 0 or (float(finite.max()) < F32_MAX and float(finite.min()) > F32_TINY)
    arr = a.astype("<f4" if f32 else "<f8")
    width = arr.dtype.itemsize
    shuffled = np.ascontiguousarray(arr.view(np.uint8).reshape(-1, width).T).tobytes()
    return ("f4" if f32 else "f8"), gzip.compress(shuffled, compresslevel=6, mtime=0)


def _pack_text(a) -> tuple[str, bytes]:
    data = json.dumps([str(x) for x in a], ensure_ascii=False, separators=(",", ":"))
    return "str", gzip.compress(data.encode("utf-8"), compresslevel=6, mtime=0)


def pack_columns(columns, extra=None) -> list[dict]:
    """Each column as {key, type, b64}; ``extra`` maps more keys to arrays (of numbers, or
    of strings as an object array)."""
    blobs = []
    for col in columns:
        kind, raw = _pack_text(col.data) if col.kind == "text" else _pack_numbers(col.data)
        blobs.append({"key": col.key, "type": kind, "b64": base64.b64encode(raw).decode()})
    for key, arr in (extra or {}).items():
        arr = np.asarray(arr)
        if arr.dtype == object:
            kind, raw = _pack_text(arr)
        else:
            kind, raw = _pack_numbers(arr.ravel())
        blobs.append({"key": key, "type": kind, "b64": base64.b64encode(raw).decode()})
    return blobs


@functools.lru_cache(maxsize=1)
def _environment():
    try:
        import jinja2
    except ImportError:
        raise ImportError("lab report needs the 'report' extra: pip install 'lab[report]' "
                          "(jinja2, vl-convert-python)") from None
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ASSETS)),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    return env


def _num(x, digits: int = 6) -> str:
    from lab.report._document import _fmt

    return _fmt(x, digits)


def check_html_path(path) -> Path:
    """``path`` as a Path, if it names an .html (or .htm) file."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InvalidOptionError(f"the report file must end in .html, got {str(path)!r}")
    return path


def render_html(doc: dict, columns, path, *, extra=None) -> Path:
    """Write the report page of ``doc`` (and its table ``columns``) to ``path`` atomically."""
    import markupsafe

    path = check_html_path(path)
    env = _environment()
    template = env.get_template("report.html.j2")
    doc = plain(doc)
    html = template.render(
        doc=doc, meta=doc, blobs=pack_columns(columns, extra),
        style=markupsafe.Markup((ASSETS / "report.css").read_text(encoding="utf-8")),
        script=markupsafe.Markup(_script_safe((ASSETS / "report.js").read_text(
            encoding="utf-8"))),
        vega=markupsafe.Markup(vega_bundle()))
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path
