#!/usr/bin/env python3
"""The table of scripts/recipe_compare.sh: for each BPW target and budget, the official recipe in
PyTorch and each littlebit option set, with steps, tokens/s and perplexities on the first 8,192
tokens of wiki, c4 and austen, and littlebit's ratio to the PyTorch run of the same budget
(the issue-14 goal: wiki perplexity at most a tenth of the official's).

    recipe_report.py bench/results/recipe_compare.jsonl > bench/results/recipe_compare.md
"""
import json
import sys


def fmt(x):
    return "-" if x is None else f"{x:,.0f}" if x >= 100 else f"{x:.2f}"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: recipe_report.py RESULTS.jsonl")
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    if not rows:
        sys.exit(f"recipe_report.py: {sys.argv[1]} holds no runs")
    texts = ["wiki", "c4", "austen"]
    dense = rows[0]["ppl_dense"]
    print(f"CPU: {rows[0]['cpu']}; 2 threads, seq 512, batch 1, trained on wiki_train; perplexity on the first "
          f"8,192 tokens (8,176 predicted) of each text; dense: "
          + ", ".join(f"{t} {dense[t]:.2f}" for t in texts if t in dense))
    print()
    print("| BPW target (as stored) | minutes | implementation, recipe | options | steps | tokens/s | init (wiki) | "
          "wiki | c4 | austen | official / this (wiki, c4, austen) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    keys = sorted({(r["bpw_target"], r["minutes"]) for r in rows}, key=lambda k: (-k[0], k[1]))
    for bpw, minutes in keys:
        group = [r for r in rows if (r["bpw_target"], r["minutes"]) == (bpw, minutes)]
        base = next((r for r in group if r["impl"] == "torch"), None)
        for r in group:
            s, p = r["summary"], r["ppl"]
            name = "PyTorch, official" if r["impl"] == "torch" else f"littlebit, {r['label']}"
            ratio = "-"
            if base is not None and r is not base:
                ratio = ", ".join(f"{base['ppl'][t] / p[t]:.1f}x" for t in texts if t in p and t in base["ppl"])
            print(f"| {bpw:g} ({s.get('bpw', 0):.4f}) | {minutes:g} | {name} | {r['options'] or '-'} | {s['steps']} | "
                  f"{s['tokens_per_s']:.1f} | {fmt(s.get('ppl_init'))} | "
                  + " | ".join(fmt(p.get(t)) for t in texts) + f" | {ratio} |")


if __name__ == "__main__":
    main()
