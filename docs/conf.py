"""Sphinx configuration: the API reference is built from lab's numpydoc docstrings.

Build (CI builds it too, warnings as errors, in tests/test_docs.py)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import lab

project = "lab"
author = "the lab developers"
copyright = "2026, the lab developers"
release = lab.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath"]
# A link to a heading inside a page that is shown as text elsewhere is fine.
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"           # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False  # autosummary lists them
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_static_path = []
html_title = f"lab {release}"
