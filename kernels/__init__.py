"""Hot loops of lab, built into the private package ``lab._kernels``.

Two interchangeable implementations with identical signatures:

* ``_cy`` (``_cy.pyx``): Cython with OpenMP ``prange``; optional at build time.
* ``numba_kernels`` (``numba_kernels.py``): Numba with ``parallel=True``.

Nothing here imports from ``lab``; ``lab._ops`` chooses between them.
"""
