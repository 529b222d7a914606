#!/usr/bin/env python3
"""Markdown tables of the decomposition benchmark (docs/benchmarks.md) from one run:

    report.py DECOMPOSITION.json OFFICIAL.jsonl > decomposition.md

DECOMPOSITION.json is littlebit_bench_decomposition's Google Benchmark output (medians of the
repetitions where there are several), OFFICIAL.jsonl official_dual_svid.py's lines. Every ratio is
between numbers of the same run.
"""
import json
import re
import sys

CASE = re.compile(r"^(rsvd|dual_svid|bdcsvd)/(\d+)x(\d+)/(?:rank:(\d+)/|bpw:([\d.]+)/)?threads:(\d+)/matrix:(\w+)"
                  r"(?:/refine:(\w+))?$")


def load_ours(path):
    runs = json.load(open(path))["benchmarks"]
    out = {}
    for r in runs:
        if r.get("run_type") == "aggregate" and r.get("aggregate_name") != "median":
            continue
        name = r["run_name"] if r.get("run_type") == "aggregate" else r["name"]
        m = CASE.match(name)
        if not m or r.get("error_occurred"):
            continue
        kind, rows, cols, rank, bpw, threads, matrix, refine = m.groups()
        seconds = r["real_time"] / {"ms": 1e3, "us": 1e6, "ns": 1e9, "s": 1.0}[r["time_unit"]]
        key = (kind, f"{rows}x{cols}", int(rank) if rank else (float(bpw) if bpw else None), int(threads), matrix,
               refine or "")
        out[key] = dict(r, seconds=seconds)
    return out


def load_official(path):
    out = {}
    try:
        lines = open(path).read().splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        if not line.strip().startswith("{"):
            continue
        d = json.loads(line)
        _, shape, bpw, threads = d["case"].split("/")
        out[(shape, float(bpw.split(":")[1]), int(threads.split(":")[1]), d["matrix"])] = d
    return out


def fmt_s(x):
    return f"{x:.2f} s" if x >= 0.995 else f"{x * 1000:.0f} ms"


def main():
    ours, official = load_ours(sys.argv[1]), load_official(sys.argv[2])
    shapes = ["4096x4096", "11008x4096"]
    bpws = [0.1, 0.3, 0.55, 1.0]
    print("### Dual-SVID (primary + residual) against the official init, two threads\n")
    for matrix in ("decay", "gauss"):
        print(f"Matrix `{matrix}`. Target (decay): at least 2x faster, total error within 0.5% of the official's.\n")
        print("| shape | BPW | rank | official | littlebit | speedup | official error | littlebit error | "
              "difference | optimum |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for shape in shapes:
            for bpw in bpws:
                o = official.get((shape, bpw, 2, matrix))
                c = ours.get(("dual_svid", shape, bpw, 2, matrix, ""))
                if not c:
                    continue
                cells = [shape, f"{bpw:g}", f"{int(c['rank'])}"]
                if o:
                    cells += [fmt_s(o["seconds"]), fmt_s(c["seconds"]), f"{o['seconds'] / c['seconds']:.2f}x",
                              f"{o['rel_err_total']:.4f}", f"{c['rel_err']:.4f}",
                              f"{100 * (c['rel_err'] / o['rel_err_total'] - 1):+.2f}%"]
                else:
                    cells += ["-", fmt_s(c["seconds"]), "-", "-", f"{c['rel_err']:.4f}", "-"]
                cells.append(f"{c['opt_err']:.4f}")
                print("| " + " | ".join(cells) + " |")
        print()

    print("### Dual-SVID, one thread against two (littlebit)\n")
    print("| shape | BPW | matrix | 1 thread | 2 threads | scaling |")
    print("|---|---|---|---|---|---|")
    for matrix in ("decay", "gauss"):
        for shape in shapes:
            for bpw in bpws:
                a, b = (ours.get(("dual_svid", shape, bpw, t, matrix, "")) for t in (1, 2))
                if a and b:
                    print(f"| {shape} | {bpw:g} | {matrix} | {fmt_s(a['seconds'])} | {fmt_s(b['seconds'])} | "
                          f"{a['seconds'] / b['seconds']:.2f}x |")
    print()

    print("### Refinements (decaying spectrum, two threads)\n")
    print("Target with all refinements: total error at most 0.80x the official's at 0.55 and 1.0 BPW, in at most "
          "3x its time.\n")
    print("| shape | BPW | refinement | time | time / official | primary error | total error | error / official |")
    print("|---|---|---|---|---|---|---|---|")
    for shape in shapes:
        for bpw in (0.55, 1.0):
            o = official.get((shape, bpw, 2, "decay"))
            for refine in ("", "scales", "signs", "itq", "all"):
                c = ours.get(("dual_svid", shape, bpw, 2, "decay", refine))
                if not c:
                    continue
                t_ratio = f"{c['seconds'] / o['seconds']:.2f}x" if o else "-"
                e_ratio = f"{c['rel_err'] / o['rel_err_total']:.3f}x" if o else "-"
                print(f"| {shape} | {bpw:g} | {refine or 'none'} | {fmt_s(c['seconds'])} | {t_ratio} | "
                      f"{c['rel_err_primary']:.4f} | {c['rel_err']:.4f} | {e_ratio} |")
    print()

    print("### Randomized SVD (library defaults) against the Eckart-Young optimum and a full BDCSVD\n")
    print("Target (decay): error within 1% of the optimum at every rank; at the ranks of 0.1-0.55 BPW at least 3x "
          "faster than BDCSVD (same threads).\n")
    print("| shape | rank | matrix | threads | time | BDCSVD | speedup | error | optimum | error / optimum |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for matrix in ("decay", "gauss"):
        for shape in shapes:
            for threads in (1, 2):
                full = ours.get(("bdcsvd", shape, None, threads, "decay", ""))
                for key in sorted(k for k in ours if k[0] == "rsvd" and k[1] == shape and k[3] == threads and k[4] == matrix):
                    c = ours[key]
                    cells = [shape, str(key[2]), matrix, str(threads), fmt_s(c["seconds"])]
                    cells += [fmt_s(full["seconds"]), f"{full['seconds'] / c['seconds']:.1f}x"] if full else ["-", "-"]
                    cells += [f"{c['rel_err']:.4f}", f"{c['opt_err']:.4f}", f"{c['vs_opt']:.4f}"]
                    print("| " + " | ".join(cells) + " |")
    print()


if __name__ == "__main__":
    main()
