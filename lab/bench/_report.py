"""Report files of ``lab bench``: the printed table, JSON, Markdown and PNG plots.

Every file is written atomically (:func:`lab._atomic.atomic_path`). The JSON
holds the raw numbers (non-finite floats become ``null``); the Markdown report
states the machine, the versions, the tables and embeds the plots by relative
path, so the output folder can be moved or committed as it is.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from lab._atomic import atomic_path

#: Said of a thread row whose method iterates on one thread at any count.
_SEQUENTIAL_NOTE = " (sequential sweeps: one thread at any count)"

__all__ = ["markdown", "text_table", "to_json", "write_all"]

PLOTS = {
    "scaling": "scaling.png",
    "convergence": "convergence.png",
    "bandwidth": "bandwidth.png",
}


# --------------------------------------------------------------------------- formatting

def _plain(obj):
    """JSON-ready copy: NumPy scalars and arrays to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_plain(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def to_json(report: dict) -> str:
    return json.dumps(_plain(report), indent=1, allow_nan=False)


def _ms(s) -> str:
    if s is None:
        return "–"
    return f"{s * 1e3:,.1f} ms" if s < 10 else f"{s:,.2f} s"


def _sci(x) -> str:
    return "–" if x is None else f"{x:.1e}"


def _mib(b) -> str:
    if b is None:
        return "–"
    return f"{b / 2**20:,.1f} MiB" if b < 2**30 else f"{b / 2**30:.2f} GiB"


def _ratio(r) -> str:
    return "–" if r is None else f"{r:.2f}×"


def _exp10(n: int) -> str:
    e = math.log10(n) if n > 0 else 0
    if abs(e - round(e)) < 1e-9:
        return f"10^{int(round(e))}"
    return f"{n:,}"


COMPARISON_HEADER = ["suite", "products", "nnz", "lab", "peer", "lab median", "peer median",
                     "ratio", "lab residual", "peer residual", "lab peak", "peer peak"]


def _comparison_rows(report) -> list:
    rows = []
    for c in report.get("comparisons", []):
        rows.append([c["suite"], f"{c['n_products']:,}", f"{c['nnz']:,}", c["lab"], c["peer"],
                     _ms(c["lab_median_s"]), _ms(c["peer_median_s"]), _ratio(c["ratio"]),
                     _sci(c["lab_residual"]), _sci(c["peer_residual"]),
                     _mib(c["lab_peak_bytes"]), _mib(c["peer_peak_bytes"])])
    return rows


def _align(header, rows) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    text = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
            "  ".join("-" * w for w in widths)]
    text += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(text)


def _md_table(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def text_table(report: dict) -> str:
    """Plain-text comparison table plus the headline figures (what ``lab bench`` prints)."""
    lines = [_align(COMPARISON_HEADER, _comparison_rows(report)),
             "ratio = peer median / lab median (> 1: lab faster); residual = "
             "‖l + Aᵀv − v‖∞ / ‖v‖∞ for values, plan infeasibility for plans; "
             "peak = tracemalloc peak of one call"]
    lines += [""] + _headline_lines(report)
    return "\n".join(lines)


def _headline_lines(report) -> list:
    s = report.get("summary", {})
    out = []
    bw = ", ".join(f"{b['best_GBps']:.1f} GB/s with {b['threads']} thread(s)"
                   for b in report.get("bandwidth", []))
    out.append(f"streaming read bandwidth (measured in this run): {bw}")
    for key, what in (("spmv_default", "SpMV as lab runs it"), ("spmv", "best SpMV")):
        k = s.get(key)
        if not k or (key == "spmv" and k == s.get("spmv_default")):
            continue
        out.append(f"{what} ({k['backend']}, {k['index']} indices, {k['data']} data, "
                   f"{k['threads']} thread(s)): {k['GBps']:.1f} GB/s = "
                   f"{100 * k['fraction_of_stream']:.0f} % of the {k['stream_GBps']:.1f} GB/s "
                   f"streaming read bandwidth ({k['bytes_per_nnz']:.1f} B per non-zero moved)")
    for name, e in s.get("scaling_exponent", {}).items():
        fit = report["scaling"][name]
        out.append(f"scaling of lab {name}: time ∝ nnz^{e:.2f} "
                   f"({_exp10(fit['fit_from_products'])} to "
                   f"{_exp10(max(fit['n_products']))} products)")
    if "peak_memory_huge" in s:
        h = s["peak_memory_huge"]
        out.append(f"peak memory of a fresh solve at {h['n_products']:,} products: "
                   f"{_mib(h['peak_rss_solve'])} = {h['peak_over_csr']:.2f}× one CSR copy of A "
                   f"({_mib(h['csr_bytes'])}), whole process ({h['peak_method']})")
    if "cold_start_s" in s:
        out.append(f"cold start, `lab values` on {report['cold_start']['n_products']:,} "
                   f"products, second run on: {s['cold_start_s']:.2f} s "
                   f"(first run {report['cold_start']['first_s']:.2f} s); "
                   f"`import lab`: {s.get('import_s', float('nan')):.2f} s")
    for f in s.get("bandwidth_floor", []):
        out.append(f"{f['suite']} {f['workload']} at {f['n_products']:,} products "
                   f"({f['method']}): {_ms(f['median_s'])} = {f['over_floor']:.2f}× its "
                   f"bandwidth floor ({f['matvecs']:.1f} passes × "
                   f"{f['bytes_per_pass'] / 1e6:.0f} MB at the stream rate of "
                   f"{f['threads_used']} thread(s): {_ms(f['floor_s'])})")
    for g in s.get("gather_floor", []):
        line = (f"values-unstructured at {g['n_products']:,} products, {g['threads']} "
                f"thread(s): a pass of x − Aᵀx ({g['gathered']} x) "
                f"{_ms(g['random_pass_s'])} with its random "
                f"inputs, {_ms(g['in_order_pass_s'])} with the same bytes read in order")
        if g["stream_pass_s"]:
            line += f", {_ms(g['stream_pass_s'])} at the stream rate"
        if g["gmres_passes"]:
            line += (f"; full GMRES needs {g['gmres_passes']} passes" if g["gmres_rule_met"]
                     else f"; full GMRES misses lab's rule after {g['gmres_passes']} passes")
        if "over_gather_floor" in g:
            line += (f" (lab's auto-warm {g['lab_matvecs']:.0f}): at the random-gather rate "
                     f"those take {_ms(g['gather_floor_s'])}, lab's auto-warm "
                     f"{_ms(g['lab_median_s'])} = {g['over_gather_floor']:.2f}× that")
        out.append(line)
    if "update" in s:
        u = s["update"]
        out.append(f"real-time: {u['changes']:,} changed coefficients of {u['n_products']:,} "
                   f"products re-solved in {_ms(u['median_s'])} (median); answer within "
                   f"{u['difference_from_cold']:.1e} of a cold solve (relative), residual "
                   f"{u['residual']:.1e}")
    threads = report.get("threads", [])
    if threads:
        low = min(t["threads"] for t in threads)
        for t in threads:
            if t.get("speedup") and (t["threads"] != low or t.get("governed")):
                out.append(f"{t['workload']} at {t['n_products']:,} products, "
                           f"{t.get('load', 'quiet')}: speed-up {t['speedup']:.2f}× from "
                           f"{low} to {_thread_label(t)} threads"
                           + (_SEQUENTIAL_NOTE if t.get("sequential") else ""))
    huge = report.get("huge")
    if huge and "error" not in huge:
        timings = huge.get("timings") or {}
        times = huge.get("solve_times_s") or [huge["solve_s"]]
        again = (f" (median of {len(times)} cold solves in that process "
                 f"{huge['solve_median_s']:.2f} s)" if len(times) > 1 else "")
        out.append(f"cold solve at {huge['n_products']:,} products ({huge.get('method')}): "
                   f"{huge['solve_s']:.2f} s{again}, of which set-up (structure analysis) "
                   f"{timings.get('setup', float('nan')):.2f} s")
    return out


# --------------------------------------------------------------------------- markdown

def markdown(report: dict, plots: list) -> str:
    m, v = report["machine"], report["versions"]
    cores = (f"{m['cores_usable']} usable of {m['cores_logical']} logical"
             + (f", {m['cores_physical']} physical" if m.get("cores_physical") else ""))
    bw = "; ".join(f"{b['best_GBps']:.1f} GB/s with {b['threads']} thread(s)"
                   for b in report.get("bandwidth", []))
    versions = ", ".join(f"{k} {val}" for k, val in v.items() if val)
    be = report["lab_backend"]
    lines = [
        f"# lab benchmark report ({report['profile']})", "",
        f"Created {report['created']} by `{report['command']}` in "
        f"{report.get('seconds', 0):.0f} s.", "",
        "## Machine", "",
        f"* CPU: {m['processor']}; cores: {cores}",
        f"* memory: {_mib(m['memory_bytes'])}; platform: {m['platform']}",
        f"* streaming read bandwidth, measured in this run (NumPy sums over "
        f"{_mib(report['bandwidth'][0]['bytes']) if report.get('bandwidth') else '–'}, "
        f"best of 5): {bw}",
        f"* load average at start {m.get('load_average')}, at end "
        f"{m.get('load_average_end')} (other processes make timings noisy)",
        f"* lab backend: {be['backend']} (available {', '.join(be['available'])}; "
        f"{be['threads']} threads)",
        f"* versions: {versions}", "",
        "## How to read this report", "",
        "Every workload runs once untimed (compilation, caches; its answer is the one "
        "checked), then is timed several times; medians are shown. *ratio* is the peer's "
        "median over lab's (above 1: lab is faster). *residual* is lab's rule "
        "‖l + Aᵀv − v‖∞ / ‖v‖∞ recomputed with scipy for every answer (for *pymrio*: the "
        "largest over the resource rows; for *plans*: the plan's largest relative "
        "infeasibility). scipy's solvers stop on a 2-norm, so their rtol is the loosest "
        "that meets lab's rule on each economy. *peak* is "
        f"{report['peak_memory_method']}.", "",
        "## lab against its peers", "",
        _md_table(COMPARISON_HEADER, _comparison_rows(report)), "",
        "## Headline figures", "",
        *[f"* {line}" for line in _headline_lines(report)], "",
    ]
    plans = [c for c in report.get("comparisons", []) if c["suite"].startswith("plans")]
    if plans:
        lines += ["Plans, the objective of each answer (φ, the smallest target fulfilment, for "
                  "plan-ray; Σ w·H(s) for harmony): "
                  + "; ".join(f"{c['suite']} {c['n_products']:,}: {c['lab']} "
                              f"{c.get('lab_' + key, float('nan')):.6g} vs {c['peer']} "
                              f"{c.get('peer_' + key, float('nan')):.6g}"
                              for c in plans
                              for key in ["phi" if c["lab"] == "plan-ray" else "harmony"]), ""]
    lines += ["## SpMV and fused kernels", "",
              "Bytes moved = indptr + indices + data + x + y (+ b and v_new for the Jacobi "
              "step), each counted once: the compulsory traffic. GB/s = bytes / median "
              "time; share = GB/s / streaming read bandwidth at the same thread count.", "",
              _md_table(["kernel", "backend", "index", "data", "threads", "B/nnz", "median",
                         "GB/s", "share of stream"],
                        [[k["kernel"], k["backend"], k["index"], k["data"], str(k["threads"]),
                          f"{k['bytes_per_nnz']:.1f}", _ms(k.get("median_s")),
                          "–" if "GBps" not in k else f"{k['GBps']:.1f}",
                          "–" if k.get("fraction_of_stream") is None
                          else f"{100 * k['fraction_of_stream']:.0f} %"]
                         for k in report.get("kernels", [])]), ""]
    floors = report.get("summary", {}).get("bandwidth_floor", [])
    if floors:
        lines += ["## Bandwidth floor", "",
                  "The floor of a solve is its matrix passes (float32 passes count 2/3) × "
                  "the bytes of one float64 pass (indptr, indices, coefficients, x read and "
                  "y written once) ÷ the streaming read bandwidth measured in this run at "
                  "the thread count the solve ended on. Vector updates, the structure "
                  "analysis of a cold solve and the final residual check are above it.", "",
                  _md_table(["suite", "workload", "products", "method", "passes",
                             "MB per pass", "threads", "median", "floor", "× floor"],
                            [[f["suite"], f["workload"], f"{f['n_products']:,}",
                              str(f["method"]), f"{f['matvecs']:.1f}",
                              f"{f['bytes_per_pass'] / 1e6:.0f}", str(f["threads_used"]),
                              _ms(f["median_s"]), _ms(f["floor_s"]),
                              f"{f['over_floor']:.2f}"] for f in floors]), ""]
    gathers = report.get("summary", {}).get("gather_floor", [])
    if gathers:
        lines += ["## Gather floor (economies without structure)", "",
                  "One pass of x − Aᵀx (x stored as lab's BiCGSTAB stores its directions "
                  "at that size) with the economy's own (random) inputs, and with the "
                  "same bytes read in order (row i reads x at i, i + 1, …); the passes full "
                  "GMRES needs for lab's rule, which no Krylov method undercuts; and those "
                  "passes at the random-gather pass time, the least a Krylov solve of this "
                  "economy can take.", "",
                  _md_table(["products", "x", "threads", "random inputs", "in order",
                             "stream rate", "GMRES passes", "lab passes", "gather floor",
                             "lab auto-warm", "× gather floor"],
                            [[f"{g['n_products']:,}", g["gathered"], str(g["threads"]),
                              _ms(g["random_pass_s"]), _ms(g["in_order_pass_s"]),
                              "–" if g["stream_pass_s"] is None else _ms(g["stream_pass_s"]),
                              str(g["gmres_passes"]), f"{g.get('lab_matvecs') or 0:.0f}",
                              _ms(g["gather_floor_s"]) if "gather_floor_s" in g else "–",
                              _ms(g["lab_median_s"]) if "lab_median_s" in g else "–",
                              f"{g['over_gather_floor']:.2f}" if "over_gather_floor" in g
                              else "–"] for g in gathers]), ""]
    if report.get("threads"):
        lines += ["## Threads", "",
                  "Every method at each thread count, quiet and beside one busy process "
                  "(a spinning Python child started by the benchmark); speed-up against "
                  "the fewest threads under the same load (below 1: slower), the median "
                  "over rounds of the ratio of the two calls timed in the same round. "
                  "\"≤ k (governor)\" is lab's default, n_threads=None: up to k threads, no "
                  "more than other processes leave cores free, each step's count chosen "
                  "from measured times.", "",
                  _md_table(["workload", "products", "load", "threads", "median",
                             "speed-up"],
                            [[t["workload"] + (_SEQUENTIAL_NOTE if t.get("sequential") else ""),
                              f"{t['n_products']:,}", t.get("load", "quiet"),
                              _thread_label(t), _ms(t.get("median_s")),
                              _ratio(t.get("speedup"))]
                             for t in report["threads"]]), ""]
    lines += ["## Scaling", "",
              _md_table(["workload", "side", "products", "fitted exponent (time ∝ nnz^e)"],
                        [[name, s["side"], ", ".join(_exp10(n) for n in s["n_products"]),
                          "–" if s["exponent"] is None else f"{s['exponent']:.2f}"]
                         for name, s in report.get("scaling", {}).items()]), ""]
    lines += ["## All workloads", "",
              _md_table(["suite", "workload", "side", "products", "nnz", "median", "min",
                         "residual", "peak", "note"],
                        [[r["suite"], r["workload"], r["side"], f"{r['n_products']:,}",
                          f"{r['nnz']:,}", _ms(r.get("median_s")), _ms(r.get("min_s")),
                          _sci(r.get("residual")), _mib(r.get("peak_bytes")),
                          _note(r)]
                         for r in report.get("records", [])]), ""]
    if report.get("errors"):
        lines += ["Errors: " + "; ".join(f"{e['suite']} n={e['n_products']}: {e['error']}"
                                         for e in report["errors"]), ""]
    if plots:
        lines += ["## Plots", ""]
        titles = {"scaling": "Time against non-zeros (log-log, fitted slope per solver)",
                  "convergence": "Residual against matrix passes, every method, one economy",
                  "bandwidth": "SpMV throughput beside the measured streaming bandwidth"}
        for p in plots:
            key = Path(p).stem
            lines += [f"### {titles.get(key, key)}", "", f"![{key}]({Path(p).name})", ""]
    lines += [f"Raw numbers: `bench.json` (schema `{report['schema']}`)."]
    return "\n".join(lines) + "\n"


def _note(r) -> str:
    if r.get("error"):
        return r["error"]
    if "difference_from_cold" in r:
        return (f"{r['changes']:,} changes; {r['difference_from_cold']:.1e} from a cold solve "
                f"(its residual {r['cold_residual']:.1e})")
    if "rounds" in r:
        return f"{r['techniques']:,} techniques, {r['rounds']} policy rounds ({r['method']})"
    if "over_floor" in r:
        return f"{r['method']}, {r['matvecs']:.1f} passes, {r['over_floor']:.2f}× floor"
    if "peer_rtol" in r:
        return f"scipy rtol {r['peer_rtol']:g}" + ("" if r.get("rule_met") else
                                                     " (lab's rule NOT met)")
    if "phi" in r:
        text = f"φ = {r['phi']:.6g}, harmony {r['harmony']:.6g}"
        if "status" in r:
            text += f", {r['status']}, certified gap {_sci(r.get('relative_gap'))}"
        return text
    return ""


# --------------------------------------------------------------------------- plots

def _plot_scaling(report, ax):
    markers = {"lab": "o", "peer": "s"}
    for name, s in report.get("scaling", {}).items():
        if len(s["nnz"]) < 1:
            continue
        e = s["exponent"]
        label = f"{s['side']} {name}" + ("" if e is None else f" (slope {e:.2f})")
        ax.loglog(s["nnz"], s["median_s"], marker=markers.get(s["side"], "o"),
                  linestyle="-" if s["side"] == "lab" else "--", label=label)
    ax.set_xlabel("non-zeros of A")
    ax.set_ylabel("median time (s)")
    ax.set_title("Labour values: time against nnz")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def _plot_convergence(report, ax):
    conv = report.get("convergence") or {}
    for name, c in conv.get("curves", {}).items():
        res = np.asarray([np.nan if r is None else r for r in c["residual"]], dtype=float)
        res = np.where(res > 0, res, np.nan)
        if res.size:
            ax.loglog(c["passes"], res, marker="." if res.size < 50 else None, label=name,
                      linestyle="--" if name.startswith("scipy") else "-")
    if conv.get("rtol"):
        ax.axhline(conv["rtol"], color="k", linestyle=":", linewidth=1, label="rtol")
    ax.set_xlabel("passes over A (matrix–vector products)")
    ax.set_ylabel("‖l + Aᵀv − v‖∞ / ‖v‖∞")
    n = conv.get("n_products")
    ax.set_title(f"Residual against iteration ({n:,} products)" if n else "Residual")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def _plot_bandwidth(report, ax):
    ks = [k for k in report.get("kernels", []) if "GBps" in k]
    labels = [f"{k['kernel']}\n{k['backend']} {k['index']}\n{k['data']} ×{k['threads']}"
              for k in ks]
    colors = ["tab:gray" if k["backend"] == "scipy" else
              ("tab:blue" if k["kernel"] == "csr_matvec" else "tab:green") for k in ks]
    ax.bar(range(len(ks)), [k["GBps"] for k in ks], color=colors)
    styles = iter(["--", ":", "-.", "-"])
    for b in report.get("bandwidth", []):
        ax.axhline(b["best_GBps"], color="tab:red", linestyle=next(styles, "--"),
                   label=f"stream read, {b['threads']} thread(s): {b['best_GBps']:.1f} GB/s")
        ax.axhline(0.6 * b["best_GBps"], color="tab:red", alpha=0.3, linewidth=0.8)
    ax.set_xticks(range(len(ks)))
    ax.set_xticklabels(labels, fontsize=5)
    ax.set_ylabel("GB/s (compulsory bytes / median time)")
    ax.set_title("SpMV and Jacobi step throughput (faint lines: 60 % of stream)")
    ax.legend(fontsize=7)


def write_plots(report: dict, out_dir: Path) -> list:
    """Write the PNG plots (matplotlib, Agg backend); returns their paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    paths = []
    for key, draw, size in (("scaling", _plot_scaling, (7, 5)),
                            ("convergence", _plot_convergence, (7, 5)),
                            ("bandwidth", _plot_bandwidth, (11, 5))):
        fig, ax = plt.subplots(figsize=size)
        try:
            draw(report, ax)
            fig.tight_layout()
            path = out_dir / PLOTS[key]
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png", dpi=110)
            paths.append(path)
        finally:
            plt.close(fig)
    return paths


def write_all(report: dict, out_dir: Path, *, plots: bool = True) -> dict:
    """bench.json, the plots, then bench.md (which embeds them)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "bench.json"
    with atomic_path(json_path) as tmp:
        tmp.write_text(to_json(report), encoding="utf-8")
    plot_paths = write_plots(report, out_dir) if plots else []
    md_path = out_dir / "bench.md"
    with atomic_path(md_path) as tmp:
        tmp.write_text(markdown(report, plot_paths), encoding="utf-8")
    return {"json": json_path, "markdown": md_path, "plots": plot_paths}


def _thread_label(row) -> str:
    """"2", or "≤ 2 (governor)" for lab's default thread count (n_threads=None)."""
    return f"≤ {row['threads']} (governor)" if row.get("governed") else str(row["threads"])
