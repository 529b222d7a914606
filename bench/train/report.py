#!/usr/bin/env python3
"""The table of scripts/bench_train.sh: littlebit's training step beside the official recipe in
PyTorch, from bench/results/train_step.jsonl (one record per run: the summary JSON of
examples/train or of bench/official_torch.py).

Tokens per second are batch x seq over the median steady step (every step after the first two, in
both). The teacher bound is littlebit's own dense teacher forward alone (the median of its
`teacher` phase): no step can beat it without skipping the teacher. Goal (issue 14): 3x the
reference at 1.0 BPW, 4x at 0.55 and 0.3.

A cell measured more than once (APPEND=1) shows its median run per side, and every run's tokens/s in
the last column. A PyTorch run that failed (137: killed for memory) shows the tokens/s of the steps it
finished (not steady: the first steps).

    report.py bench/results/train_step.jsonl
"""
import json
import statistics
import sys


def main():
    runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    def tps(r):
        if r.get("impl") == "littlebit":
            return r["batch"] * 512 / r["step_seconds_median"] if r.get("step_seconds_median") else 0.0
        if "step_seconds" in r:
            return r["batch"] * 512 / statistics.median(r["step_seconds"][2:] or r["step_seconds"])
        return 0.0

    groups = {}
    for r in runs:
        groups.setdefault((r["bpw_target"], r["batch"]), {}).setdefault(r["impl"], []).append(r)
    cells, every = {}, {}
    for key, g in groups.items():
        cells[key] = {}
        for impl, rs in g.items():
            ok = sorted([r for r in rs if "failed" not in r], key=tps)
            cells[key][impl] = ok[(len(ok) - 1) // 2] if ok else rs[-1]
            every.setdefault(key, []).append(f"{impl} " + ", ".join(f"{tps(r):.1f}" for r in ok) if ok else f"{impl} failed")
    cpu = next((r["cpu"] for r in runs if "cpu" in r), "?")
    isa = next((r["isa"] for r in runs if r.get("impl") == "littlebit"), "?")
    print(f"CPU: {cpu}; littlebit path {isa}; 2 threads, seq 512; medians of the steady steps\n")
    print("| BPW target (as stored) | batch | littlebit tokens/s | PyTorch tokens/s | ratio | goal | "
          "teacher-forward bound tokens/s | step / teacher forward | littlebit phases s (teacher, student fwd, loss, backward, update) | "
          "peak RSS MB littlebit / PyTorch | runs (tokens/s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for (bpw, b), c in sorted(cells.items(), key=lambda k: (-k[0][0], k[0][1])):
        lb, pt = c.get("littlebit"), c.get("torch")
        tok = b * 512
        lb_tps = tps(lb) if lb else None
        pt_tps = tps(pt) if pt and "step_seconds" in pt else None
        ratio = f"{lb_tps / pt_tps:.2f}x" if lb_tps and pt_tps else "-"
        goal = "3x" if bpw >= 0.9 else "4x"
        ph = lb.get("phases_median") if lb else None
        bound = f"{tok / ph['teacher']:.0f}" if ph else "-"
        rel = f"{lb['step_seconds_median'] / ph['teacher']:.2f}" if ph else "-"
        phases = ", ".join(f"{ph[k]:.2f}" for k in ("teacher", "student_forward", "loss", "backward", "update")) if ph else "-"
        stored = f" ({lb['bpw']:.4f})" if lb else ""
        rss = f"{lb['peak_rss_mb']:.0f}" if lb else "-"
        failed = ""
        if pt and "failed" in pt:
            done = pt.get("steps_done_tokens_per_s", [])
            failed = f"failed (exit {pt['failed']}" + (f" after {len(done)} steps at {', '.join(f'{x:g}' for x in done)} tokens/s" if done else "") + ")"
        rss += " / " + (f"{pt['peak_rss_mb']:.0f}" if pt and "peak_rss_mb" in pt else failed or "-")
        runs_col = "; ".join(every[(bpw, b)])
        print(f"| {bpw}{stored} | {b} | {lb_tps:.1f} | {f'{pt_tps:.1f}' if pt_tps else '-'} | {ratio} | {goal} | {bound} | {rel} | "
              f"{phases} | {rss} | {runs_col} |" if lb_tps else f"| {bpw} | {b} | - | - | - | {goal} | - | - | - | {rss} | {runs_col} |")


if __name__ == "__main__":
    main()
