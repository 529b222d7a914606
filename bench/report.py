#!/usr/bin/env python3
"""Turns littlebit_bench's JSON (--benchmark_out, --benchmark_repetitions with aggregates) into the
tables of docs/benchmarks.md and the speedup plot.

    python3 bench/report.py bench/results/forward.json [--plot docs/speedup.png] > tables.md

Pairs cases by name (docs/benchmarks.md lists the scheme): every LittleBit case against the dense
OpenBLAS case of the same shape, batch, threads and cache state, and reports medians, speedups,
and the fraction of the machine's limit measured in the same run (limits/*): the lookup issue
rate of the path for warm runs, the DRAM read bandwidth for cold ones.
"""
import argparse
import json
import re
import sys

NAME = re.compile(r"^(forward|forward_fast)/(\d+)x(\d+)/bpw:([\d.]+)/batch:(\d+)/threads:(\d+)(/f16)?(/cold)?$")
DENSE = re.compile(r"^(dense_openblas|dense_eigen)/(\d+)x(\d+)/batch:(\d+)/threads:(\d+)(/cold)?$")
SHAPES = [(4096, 4096), (11008, 4096), (4096, 11008), (28672, 8192)]
BPWS = [0.1, 0.3, 0.55, 1.0]


def load(path):
    with open(path) as f:
        data = json.load(f)
    med = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name", "median") != "median" or b.get("error_occurred"):
            continue
        name = b.get("run_name", b["name"])
        med[name] = b
    return data["context"], med


def us(b):
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
    return b["real_time"] * scale


def fmt_us(t):
    return f"{t:,.0f}" if t >= 100 else f"{t:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    ap.add_argument("--plot", help="write the speedup plot (PNG) here")
    args = ap.parse_args()
    context, med = load(args.json)

    lb, dense = {}, {}
    for name, b in med.items():
        m = NAME.match(name)
        if m:
            kind, out, inp, bpw, batch, threads, f16, cold = m.groups()
            lb[(kind, int(out), int(inp), float(bpw), int(batch), int(threads), bool(f16), bool(cold))] = b
            continue
        m = DENSE.match(name)
        if m:
            kind, out, inp, batch, threads, cold = m.groups()
            dense[(kind, int(out), int(inp), int(batch), int(threads), bool(cold))] = b

    lim = {k: med[k] for k in med if k.startswith("limits/")}
    dram = {t: lim[f"limits/dram_read/threads:{t}"]["bytes_per_second"] for t in (1, 2) if f"limits/dram_read/threads:{t}" in lim}
    lookup = {"forward": lim.get("limits/lookup_f32", {}).get("sign_adds"),
              "forward_fast": lim.get("limits/lookup_i16", {}).get("sign_adds")}

    out = sys.stdout
    out.write(f"Run: {context.get('date', '?')}, {context.get('num_cpus', '?')} CPUs at "
              f"{context.get('mhz_per_cpu', '?')} MHz (nominal).\n\n")
    out.write("Limits measured in the same run: DRAM read "
              + ", ".join(f"{dram[t] / 1e9:.1f} GB/s ({t} thread{'s' if t > 1 else ''})" for t in sorted(dram))
              + (f"; lookup issue rate (one core): exact path {lookup['forward'] / 1e9:.0f} G sign-additions/s "
                 f"(vpermps, 64 per instruction), fast path {lookup['forward_fast'] / 1e9:.0f} G/s "
                 f"(vpermw, 160 per instruction)" if lookup["forward"] else "") + ".\n\n")

    def row_for(kind, o, i, bpw, batch, threads, f16=False, cold=False):
        return lb.get((kind, o, i, bpw, batch, threads, f16, cold))

    def dense_for(o, i, batch, threads, cold, lib="dense_openblas"):
        return dense.get((lib, o, i, batch, threads, cold))

    # Table 1: batch 1, the decode case, per shape and BPW.
    for threads in (1, 2):
        out.write(f"#### Batch 1, {threads} thread{'s' if threads > 1 else ''}: time (us), speedup over dense FP32 "
                  f"`cblas_sgemv` in the same cache state, fraction of the limit\n\n")
        out.write("| shape (out x in) | BPW | rank | dense cold | exact warm | exact cold | fast warm | fast cold | "
                  "exact cold speedup | fast cold speedup | exact warm / lookup limit | fast warm / lookup limit | "
                  "fast cold / DRAM |\n|" + "---|" * 13 + "\n")
        for o, i in SHAPES:
            d_cold = dense_for(o, i, 1, threads, True)
            for bpw in BPWS:
                ew, ec = row_for("forward", o, i, bpw, 1, threads), row_for("forward", o, i, bpw, 1, threads, cold=True)
                fw, fc = row_for("forward_fast", o, i, bpw, 1, threads), row_for("forward_fast", o, i, bpw, 1, threads, cold=True)
                if not (ew and ec and fw and fc and d_cold):
                    continue
                frac = lambda b, k: b["sign_adds"] / (lookup[k] * threads) if lookup[k] else float("nan")
                out.write(f"| {o} x {i} | {bpw:g} | {int(ew['rank'])} | {fmt_us(us(d_cold))} | {fmt_us(us(ew))} | "
                          f"{fmt_us(us(ec))} | {fmt_us(us(fw))} | {fmt_us(us(fc))} | "
                          f"{us(d_cold) / us(ec):.0f}x | {us(d_cold) / us(fc):.0f}x | {frac(ew, 'forward'):.0%} | "
                          f"{frac(fw, 'forward_fast'):.0%} | {fc['bytes_per_second'] / dram.get(threads, float('nan')):.0%} |\n")
        out.write("\n")

    # Table 2: batches 8 and 512.
    out.write("#### Batches 8 and 512 (warm weights): time per token (us) and speedup over dense FP32 "
              "`cblas_sgemm` of the same batch\n\n")
    out.write("| shape | BPW | threads | batch 8 exact | batch 8 fast | batch 8 fast / batch 1 fast (per token) | "
              "dense sgemm 512 | batch 512 exact | batch 512 fast | speedup exact | speedup fast |\n|" + "---|" * 11 + "\n")
    for o, i in SHAPES:
        for bpw in BPWS:
            for threads in (1, 2):
                e8, f8 = row_for("forward", o, i, bpw, 8, threads), row_for("forward_fast", o, i, bpw, 8, threads)
                f1 = row_for("forward_fast", o, i, bpw, 1, threads)
                e512, f512 = row_for("forward", o, i, bpw, 512, threads), row_for("forward_fast", o, i, bpw, 512, threads)
                d512 = dense_for(o, i, 512, threads, False)
                if not (e8 and f8 and f1 and e512 and f512 and d512):
                    continue
                out.write(f"| {o} x {i} | {bpw:g} | {threads} | {us(e8) / 8:.1f} | {us(f8) / 8:.1f} | "
                          f"{us(f8) / 8 / us(f1):.0%} | {us(d512) / 512:.1f} | {us(e512) / 512:.1f} | {us(f512) / 512:.1f} | "
                          f"{us(d512) / us(e512):.1f}x | {us(d512) / us(f512):.1f}x |\n")
    out.write("\n")

    # Table 3: dense baselines, OpenBLAS against Eigen.
    out.write("#### Dense FP32 baselines (us per call)\n\n| shape | batch | threads | OpenBLAS warm | OpenBLAS cold | "
              "Eigen warm | Eigen cold |\n|---|---|---|---|---|---|---|\n")
    for o, i in SHAPES:
        for batch in (1, 8, 512):
            for threads in (1, 2):
                cells = [dense_for(o, i, batch, threads, c, lib) for lib in ("dense_openblas", "dense_eigen") for c in (False, True)]
                out.write(f"| {o} x {i} | {batch} | {threads} | "
                          + " | ".join(fmt_us(us(c)) if c else "-" for c in cells) + " |\n")
    out.write("\n")

    # Per-call fixed cost.
    fixed = {k: v for k, v in med.items() if k.startswith("fixed_cost/")}
    if fixed:
        out.write("#### Per-call fixed cost: a rank-8 two-path layer, batch 1, warm (us)\n\n"
                  "| shape | exact, 1 thread | exact, 2 threads | fast, 1 thread | fast, 2 threads |\n|---|---|---|---|---|\n")
        for o, i in SHAPES:
            cells = [fixed.get(f"fixed_cost/{o}x{i}/{p}/threads:{t}") for p in ("exact", "fast") for t in (1, 2)]
            out.write(f"| {o} x {i} | " + " | ".join(f"{us(c):.1f}" if c else "-" for c in cells) + " |\n")
        out.write("\n")

    # The kernel targets (docs/benchmarks.md).
    t = []
    o, i = 4096, 11008
    d1 = dense_for(o, i, 1, 1, True)
    for kind, targets in (("forward", {0.1: 100, 0.55: 20, 1.0: 10}), ("forward_fast", {0.1: 200, 0.55: 40, 1.0: 24})):
        for bpw, want in targets.items():
            b = row_for(kind, o, i, bpw, 1, 1, cold=True)
            if b and d1:
                got = us(d1) / us(b)
                t.append((f"{'exact' if kind == 'forward' else 'fast'} path, {o}x{i}, {bpw:g} BPW, batch 1, 1 thread, cold: "
                          f">= {want}x over cblas_sgemv cold", f"{got:.0f}x", got >= want))
    for bpw in (0.55, 1.0):
        fw = row_for("forward_fast", o, i, bpw, 1, 1)
        if fw:
            g = fw["sign_adds"] / 1e9
            t.append((f"fast path >= 150 G sign-additions/s warm ({bpw:g} BPW, 1 thread)", f"{g:.0f} G/s", g >= 150))
    for kind in ("forward", "forward_fast"):
        b1, b8 = row_for(kind, o, i, 0.55, 1, 1, cold=True), row_for(kind, o, i, 0.55, 8, 1, cold=True)
        if b1 and b8:
            r = us(b8) / 8 / us(b1)
            t.append((f"{'exact' if kind == 'forward' else 'fast'} path batch 8 time per token <= 40% of batch 1 "
                      f"(0.55 BPW, cold, 1 thread)", f"{r:.0%}", r <= 0.40))
    for kind, targets in (("forward", {0.55: 1.5, 0.1: 8}), ("forward_fast", {0.55: 1.5, 0.1: 8})):
        for bpw, want in targets.items():
            for threads in (1, 2):
                b, d = row_for(kind, o, i, bpw, 512, threads), dense_for(o, i, 512, threads, False)
                if b and d:
                    got = us(d) / us(b)
                    t.append((f"{'exact' if kind == 'forward' else 'fast'} path batch 512 vs cblas_sgemm, {bpw:g} BPW, "
                              f"{threads} thread(s): >= {want}x", f"{got:.1f}x", got >= want))
    for kind in ("forward", "forward_fast"):
        for cold in (False, True):
            a, b = row_for(kind, o, i, 1.0, 1, 1, cold=cold), row_for(kind, o, i, 1.0, 1, 2, cold=cold)
            if a and b:
                s = us(a) / us(b)
                t.append((f"{'exact' if kind == 'forward' else 'fast'} path, 1.0 BPW batch 1, 2 threads >= 1.8x one thread "
                          f"({'cold' if cold else 'warm'})", f"{s:.2f}x", s >= 1.8))
    for o2, i2 in ((4096, 4096), (4096, 11008)):
        for p in ("exact", "fast"):
            c = fixed.get(f"fixed_cost/{o2}x{i2}/{p}/threads:1")
            if c:
                t.append((f"{p} path per-call fixed cost <= 10 us ({o2}x{i2}, 1 thread)", f"{us(c):.1f} us", us(c) <= 10))
    out.write("#### The kernel targets (4096 x 11008 unless stated)\n\n| target | measured | met |\n|---|---|---|\n")
    for name, got, ok in t:
        out.write(f"| {name} | {got} | {'yes' if ok else '**no**'} |\n")
    out.write("\n")

    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
        for ax, cold in zip(axes, (False, True)):
            for o, i in SHAPES:
                d = dense_for(o, i, 1, 1, cold)
                for kind, style in (("forward", "-o"), ("forward_fast", "--s")):
                    pts = [(bpw, us(d) / us(b)) for bpw in BPWS if (b := row_for(kind, o, i, bpw, 1, 1, cold=cold)) and d]
                    if pts:
                        ax.plot(*zip(*pts), style, label=f"{o}x{i} {'exact' if kind == 'forward' else 'fast'}")
            ax.set_xlabel("bits per weight (primary + residual path)")
            ax.set_title(f"batch 1, 1 thread, {'cold' if cold else 'warm'} weights")
            ax.set_yscale("log")
            ax.set_yticks([10, 20, 50, 100, 200, 400])
            ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.grid(True, which="both", alpha=0.3)
        axes[0].set_ylabel("speedup over dense FP32 (OpenBLAS sgemv)")
        axes[1].legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
