"""Child process of ``lab bench``: peak memory of one fresh labour-value solve.

Usage: ``python -m lab.bench._child N_PRODUCTS SEED [SOLVES]``. Prints one JSON line:

* ``csr_bytes``: bytes of one CSR copy of A (indptr + indices + data);
* ``rss_after_generate``: resident set once the economy is built (A included);
* ``peak_rss_solve``: the resident-set high-water mark (``VmHWM``) during the
  solve, after resetting it with ``/proc/self/clear_refs`` (Linux ≥ 4.0): the
  whole process, A and the interpreter included; ``peak_method`` says "VmHWM"
  when the reset worked, "ru_maxrss" (which then includes generation) if not;
* ``peak_over_csr``: ``peak_rss_solve / csr_bytes``;
* the first solve's time (``solve_s``), method, residual and timings;
* ``solve_times_s``: that and SOLVES − 1 more cold solves in the same process (the
  structure analysis dropped before each: ``Economy._cache``), and their median
  ``solve_median_s``: one cold solve on a shared host is one sample of its noise (the
  same 10⁷-product solve read 3.9–5.4 s within an hour).
"""

from __future__ import annotations

import gc
import json
import resource
import statistics
import sys
import time

from lab._memory import reset_peak_rss, status_kib


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    n, seed = int(float(argv[0])), int(argv[1])
    solves = int(argv[2]) if len(argv) > 2 else 1
    from lab.generate import generate_economy
    from lab.values import labour_values

    t0 = time.perf_counter()
    economy = generate_economy(n, seed=seed, mean_inputs=12.0, spectral_radius=0.9)
    generate_s = time.perf_counter() - t0
    A = economy.A
    csr_bytes = int(A.indptr.nbytes + A.indices.nbytes + A.data.nbytes)
    gc.collect()
    rss_after = (status_kib("VmRSS") or 0) * 1024
    reset = reset_peak_rss()
    t0 = time.perf_counter()
    result = labour_values(economy, method="auto", rtol=1e-10)
    solve_s = time.perf_counter() - t0
    if reset and status_kib("VmHWM") is not None:
        peak, how = status_kib("VmHWM") * 1024, "VmHWM"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak, how = (peak if sys.platform == "darwin" else peak * 1024), "ru_maxrss"
    times = [solve_s]
    for _ in range(solves - 1):
        economy._cache.clear()
        t0 = time.perf_counter()
        labour_values(economy, method="auto", rtol=1e-10)
        times.append(time.perf_counter() - t0)
    print(json.dumps({
        "n_products": n, "nnz": int(economy.nnz), "index_dtype": str(A.indices.dtype),
        "csr_bytes": csr_bytes, "generate_s": generate_s, "rss_after_generate": rss_after,
        "peak_rss_solve": peak, "peak_method": how, "peak_over_csr": peak / csr_bytes,
        "solve_s": solve_s, "solve_times_s": times,
        "solve_median_s": statistics.median(times), "method": result.method,
        "residual": result.residual, "converged": bool(result.converged),
        "timings": dict(result.timings),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
