"""Read a report page back in Python: its JSON document and its table's columns.

An independent decoder of what ``lab.report._render`` writes (base64, gzip, byte
shuffle, little-endian floats), so the content tests check the numbers a browser would
show without a browser; the browser tests check the page itself.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

COLUMN = re.compile(r'<script type="application/octet-stream" class="lab-column" '
                    r'data-key="([^"]*)" data-type="([^"]*)">([^<]*)</script>')
META = re.compile(r'<script type="application/json" id="lab-meta">(.*?)</script>', re.S)


def document(path) -> dict:
    text = Path(path).read_text(encoding="utf-8")
    return json.loads(META.search(text).group(1))


def columns(path) -> dict:
    """{key: list of str or float64 array} of every packed column of the page."""
    out = {}
    for key, kind, b64 in COLUMN.findall(Path(path).read_text(encoding="utf-8")):
        raw = gzip.decompress(base64.b64decode(b64))
        key = html.unescape(key)
        if kind == "str":
            out[key] = json.loads(raw.decode("utf-8"))
            continue
        width = {"f4": 4, "f8": 8}[kind]
        data = np.frombuffer(raw, dtype=np.uint8).reshape(width, -1).T.copy()
        out[key] = data.view("<f4" if width == 4 else "<f8").ravel().astype(np.float64)
    return out


class _External(HTMLParser):
    """Every attribute of the page that could make the browser fetch something."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster", "action") and value and \
                    not value.startswith("#"):
                self.found.append((tag, name, value))


def external_references(path) -> list:
    parser = _External()
    parser.feed(Path(path).read_text(encoding="utf-8"))
    return parser.found
