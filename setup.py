"""Build script: compiles the Cython kernels in ``kernels/`` into ``lab._kernels``.

The Cython extension is optional. If it cannot be compiled (no C compiler, no
OpenMP), installation still succeeds and lab runs on the Numba kernels, warning
once that the compiled backend is missing.

Environment switches
--------------------
LAB_NO_EXTENSION=1   skip the Cython extension entirely (tests the fallback path).
LAB_BOUNDSCHECK=1    compile with bounds and wraparound checks on (debug test run).
LAB_NO_OPENMP=1      compile without OpenMP (serial Cython kernels).
"""

import os
import sys

from setuptools import find_packages, setup

# every folder of lab/ with an __init__.py, and the kernels built into lab._kernels
packages = [*find_packages(include=["lab", "lab.*"]), "lab._kernels"]
package_dir = {"lab": "lab", "lab._kernels": "kernels"}
# The real tables shipped with lab (lab.datasets): one folder per table, plus the
# attribution and terms of the data.
package_data = {"lab": ["py.typed"], "lab.report": ["assets/*"],
                "lab.datasets": ["README.md", "LICENSE-DATA", "*/*.csv", "*/*.csv.gz"]}


def _flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _extensions():
    if _flag("LAB_NO_EXTENSION"):
        return []
    try:
        import numpy
        from Cython.Build import cythonize
    except ImportError as exc:  # pragma: no cover - build isolation provides both
        print(f"lab: not building the Cython kernels ({exc})", file=sys.stderr)
        return []
    from setuptools import Extension

    openmp = [] if _flag("LAB_NO_OPENMP") else ["-fopenmp"]
    debug = _flag("LAB_BOUNDSCHECK")
    ext = Extension(
        "lab._kernels._cy",
        ["kernels/_cy.pyx"],
        include_dirs=[numpy.get_include()],
        extra_compile_args=["-O3", *openmp],
        extra_link_args=openmp,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        optional=True,
    )
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": debug,
        "initializedcheck": debug,
        "cdivision": True,
        "nonecheck": False,
    }
    return cythonize([ext], compiler_directives=directives, quiet=True)


setup(packages=packages, package_dir=package_dir, package_data=package_data,
      ext_modules=_extensions())
