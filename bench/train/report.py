#!/usr/bin/env python3
"""The table of scripts/bench_train.sh: littlebit's training step beside the official recipe in
PyTorch, from bench/results/train_step.jsonl (one record per run: the summary JSON of
examples/train or of bench/official_torch.py).

Tokens per second are batch x seq over the median steady step (every step after the first two, in
both). The teacher bound is littlebit's own dense teacher forward alone (the median of its
`teacher` phase): no step can beat it without skipping the teacher. Goal (issue 14): 3x the
reference at 1.0 BPW, 4x at 0.55 and 0.3.

    report.py bench/results/train_step.jsonl
"""
import json
import statistics
import sys


def main():
    runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    cells = {}
    for r in runs:
        cells.setdefault((r["bpw_target"], r["batch"]), {})[r["impl"]] = r
    cpu = next((r["cpu"] for r in runs if "cpu" in r), "?")
    isa = next((r["isa"] for r in runs if r.get("impl") == "littlebit"), "?")
    print(f"CPU: {cpu}; littlebit path {isa}; 2 threads, seq 512; medians of the steady steps\n")
    print("| BPW target (as stored) | batch | littlebit tokens/s | PyTorch tokens/s | ratio | goal | "
          "teacher-forward bound tokens/s | step / teacher forward | littlebit phases s (teacher, student fwd, loss, backward, update) | "
          "peak RSS MB littlebit / PyTorch |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for (bpw, b), c in sorted(cells.items(), key=lambda k: (-k[0][0], k[0][1])):
        lb, pt = c.get("littlebit"), c.get("torch")
        tok = b * 512
        lb_tps = tok / lb["step_seconds_median"] if lb and lb.get("step_seconds_median") else None
        pt_tps = None
        if pt and "step_seconds" in pt:
            steady = pt["step_seconds"][2:] or pt["step_seconds"]
            pt_tps = tok / statistics.median(steady)
        ratio = f"{lb_tps / pt_tps:.2f}x" if lb_tps and pt_tps else "-"
        goal = "3x" if bpw >= 0.9 else "4x"
        ph = lb.get("phases_median") if lb else None
        bound = f"{tok / ph['teacher']:.0f}" if ph else "-"
        rel = f"{lb['step_seconds_median'] / ph['teacher']:.2f}" if ph else "-"
        phases = ", ".join(f"{ph[k]:.2f}" for k in ("teacher", "student_forward", "loss", "backward", "update")) if ph else "-"
        stored = f" ({lb['bpw']:.4f})" if lb else ""
        rss = f"{lb['peak_rss_mb']:.0f}" if lb else "-"
        rss += " / " + (f"{pt['peak_rss_mb']:.0f}" if pt and "peak_rss_mb" in pt else
                        f"failed (exit {pt['failed']})" if pt and "failed" in pt else "-")
        print(f"| {bpw}{stored} | {b} | {lb_tps:.1f} | {f'{pt_tps:.1f}' if pt_tps else '-'} | {ratio} | {goal} | {bound} | {rel} | "
              f"{phases} | {rss} |" if lb_tps else f"| {bpw} | {b} | - | - | - | {goal} | - | - | - | {rss} |")


if __name__ == "__main__":
    main()
