#!/usr/bin/env python3
"""Tables of docs/benchmarks.md#the-factorized-layer from littlebit_bench's JSON (medians of
--benchmark_repetitions), as written by scripts/bench_layer.sh:

    python3 bench/layer/report.py TRAIN.json TRAIN_PTHREAD.json TRAIN_TUNED.json FORWARD.json > layer.md

Pairs train_step / train_step_fast with dense_train_step of the same shape and batch (same run),
packed_forward with kernel_forward of the same layer, and reports the packed form's storage
against the rank solver's count.
"""
import json
import re
import sys

TRAIN = re.compile(r"^(train_step|train_step_fast)/(\d+)x(\d+)/bpw:([\d.]+)/batch:(\d+)$")
DENSE = re.compile(r"^dense_train_step/(\d+)x(\d+)/batch:(\d+)$")
FWD = re.compile(r"^(packed_forward|kernel_forward)/(\d+)x(\d+)/bpw:([\d.]+)/batch:(\d+)(/fast)?$")


def load(path):
    with open(path) as f:
        data = json.load(f)
    med = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median" or b.get("error_occurred"):
            continue
        med[b["run_name"]] = b
    return data["context"], med


def ms(b):
    return b["real_time"] * {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]


def train_table(med, title):
    rows = {}
    for name, b in med.items():
        m = TRAIN.match(name)
        if m:
            kind, o, i, bpw, batch = m.groups()
            rows.setdefault((int(o), int(i), float(bpw), int(batch)), {})[kind] = b
    out = [f"#### {title}", "",
           "| shape (out x in) | batch | BPW | rank | dense FP32 step (ms) | factorized step, exact (ms) | speedup | "
           "factorized step, fast (ms) | speedup |",
           "|---|---|---|---|---|---|---|---|---|"]
    for (o, i, bpw, batch) in sorted(rows):
        r = rows[(o, i, bpw, batch)]
        dense = med.get(f"dense_train_step/{o}x{i}/batch:{batch}")
        if dense is None or "train_step" not in r:
            continue
        d = ms(dense)
        ex = ms(r["train_step"])
        fa = ms(r["train_step_fast"]) if "train_step_fast" in r else float("nan")
        out.append(f"| {o} x {i} | {batch} | {bpw:g} | {int(r['train_step']['rank'])} | {d:.1f} | {ex:.1f} | "
                   f"{d / ex:.2f}x | {fa:.1f} | {d / fa:.2f}x |")
    return out


def forward_tables(med):
    rows = {}
    for name, b in med.items():
        m = FWD.match(name)
        if m:
            kind, o, i, bpw, batch, fast = m.groups()
            rows.setdefault((int(o), int(i), float(bpw), int(batch), bool(fast)), {})[kind] = b
    out = ["#### Packed forward through the layer API vs. the fused kernel called directly (same layer, same run)", "",
           "| shape (out x in) | BPW | batch | exact: layer (us) | kernel (us) | layer / kernel | fast: layer (us) | "
           "kernel (us) | layer / kernel |",
           "|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({k[:4] for k in rows})
    for k in keys:
        cells = []
        for fast in (False, True):
            r = rows.get(k + (fast,), {})
            if "packed_forward" in r and "kernel_forward" in r:
                lay, ker = ms(r["packed_forward"]) * 1e3, ms(r["kernel_forward"]) * 1e3
                cells += [f"{lay:.1f}", f"{ker:.1f}", f"{lay / ker:.3f}"]
            else:
                cells += ["-", "-", "-"]
        o, i, bpw, batch = k
        out.append(f"| {o} x {i} | {bpw:g} | {batch} | " + " | ".join(cells) + " |")
    out += ["", "#### Storage of the packed form against the rank solver", "",
            "| shape (out x in) | BPW | rank | storage_bits() | solver's storage_bits | difference | "
            "memory_bytes() (exact layout) | memory / solver bytes |",
            "|---|---|---|---|---|---|---|---|"]
    for k in keys:
        r = rows.get(k + (False,), {}).get("packed_forward")
        if r is None or k[3] != 1:
            continue
        o, i, bpw, _ = k
        st, so, mem = r["storage_bits"], r["solver_bits"], r["memory_bytes"]
        rank = round((so / 2 - 16 * (o + i)) / (o + i + 16))
        out.append(f"| {o} x {i} | {bpw:g} | {rank} | {st:,.0f} | {so:,.0f} | {100 * (st - so) / so:+.2f}% | "
                   f"{mem:,.0f} | {mem * 8 / so:.3f} |")
    return out


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        sys.exit(2)
    ctx, openmp = load(sys.argv[1])
    _, pthread = load(sys.argv[2])
    _, tuned = load(sys.argv[3])
    _, fwd = load(sys.argv[4])
    lines = [f"Run: {ctx['date']}, {ctx['num_cpus']} CPUs at {ctx['mhz_per_cpu']} MHz (nominal); medians of the "
             "repetitions; all threads (2).", ""]
    lines += train_table(openmp, "Training step (forward + backward), OpenBLAS's OpenMP build (one thread pool), "
                                 "default environment")
    lines += [""]
    lines += train_table(pthread, "Training step, Debian's default OpenBLAS (pthreads pool), default environment")
    lines += [""]
    lines += train_table(tuned, "Training step, pthreads OpenBLAS, OMP_WAIT_POLICY=passive OPENBLAS_THREAD_TIMEOUT=4")
    lines += [""]
    lines += forward_tables(fwd)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
