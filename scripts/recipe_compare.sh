#!/usr/bin/env bash
# Quality in the same wall time (issue 14, item 3): the official recipe in PyTorch
# (bench/official_torch.py) beside littlebit's trainer with one or more option sets, each run with
# the same --minutes budget (load, init, evaluations and training all inside it), on the same
# machine, one after the other (never two at once), 2 threads, seq 512, batch 1, trained on
# wiki_train. Every model is then scored on the first 8,192 tokens (8,176 predicted) of wiki_eval,
# c4_eval and austen_eval (eval's protocol: windows of 512, stride 512), outside the budget.
#
#   scripts/recipe_compare.sh                                  0.55 BPW for 20 minutes
#   RUNS="0.55:10 1.0:10" scripts/recipe_compare.sh            BPW:minutes pairs
#   VARIANTS="lr1e-3=--recipe littlebit;hn=--recipe littlebit --hidden-norm layer --l2l-scale 2500" \
#     scripts/recipe_compare.sh                                littlebit's option sets, label=options
#   NO_TORCH=1, APPEND=1                                       skip the PyTorch runs; append to the results
#
# Writes bench/results/recipe_compare.jsonl (one line per run: implementation, label, options,
# the run's own summary JSON, perplexities) and bench/results/recipe_compare.md (bench/train/recipe_report.py).
# Expects scripts/setup.sh and scripts/fetch_data.sh to have run. Takes the sum of the budgets plus
# ~2 minutes of scoring per run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
data=${LITTLEBIT_DATA:-$(pwd)/data}
runs=${RUNS:-0.55:20}
variants=${VARIANTS:-littlebit=--recipe littlebit}
model=$data/model/SmolLM2-135M-Instruct.Q4_1.gguf
bin=build/release/examples
work=build/recipe-compare
res=bench/results
mkdir -p "$work" "$res"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release --target train eval
[ "${APPEND:-0}" = 1 ] || : > "$res/recipe_compare.jsonl"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
isa=${LITTLEBIT_ARCH:-$(grep -qw avx512f /proc/cpuinfo && echo avx512 || (grep -qw avx2 /proc/cpuinfo && echo avx2 || echo portable))}
texts=(wiki c4 austen)

ppl_of() { tail -1 "$1" | awk '{print $2}'; }   # eval's last line: "perplexity P over N tokens ..."

# The scored tokens of each text (eval --save-tokens), and the dense model's perplexity on them.
dense="{}"
for t in "${texts[@]}"; do
  "$bin/eval" --model "$model" --text "$data/text/${t}_eval.txt" --max-tokens 8192 --threads 2 \
    --save-tokens "$work/$t.i32" > "$work/dense.$t.txt" 2>/dev/null
  dense=$("$PYTHON" -c "import json,sys; d=json.loads(sys.argv[1]); d[sys.argv[2]]=float(sys.argv[3]); print(json.dumps(d))" \
    "$dense" "$t" "$(ppl_of "$work/dense.$t.txt")")
done
echo "dense perplexities (first 8,192 tokens): $dense"

# Make sure the training token cache exists (the PyTorch baseline reads the same stream).
"$bin/train" --model "$model" --bpw 0.55 --train "$data/text/wiki_train.txt" --steps 1 --threads 2 \
  --cache build/train-cache > "$work/cache.txt"
tokens=$(ls build/train-cache/tokens-*.i32 | head -1)

record() {  # impl label options summary-json ppl-json bpw minutes
  "$PYTHON" - "$@" "$cpu" "$isa" "$dense" >> "$res/recipe_compare.jsonl" <<'EOF'
import json, sys
impl, label, opts, summary, ppl, bpw, minutes, cpu, isa, dense = sys.argv[1:11]
s = json.loads(summary)
s.pop("step_seconds", None); s.pop("losses", None)  # the per-step lists stay in the run's own output
print(json.dumps({"impl": impl, "label": label, "options": opts, "bpw_target": float(bpw), "minutes": float(minutes),
                  "cpu": cpu, "isa": isa if impl == "littlebit" else "torch", "ppl": json.loads(ppl),
                  "ppl_dense": json.loads(dense), "summary": s}))
EOF
}

for spec in $runs; do
  bpw=${spec%%:*} minutes=${spec##*:}
  if [ "${NO_TORCH:-0}" != 1 ]; then
    log=$work/torch-$bpw-$minutes
    echo "=== PyTorch, the official recipe: $bpw BPW, $minutes minutes"
    PYTHONPATH=$data/pylib "$PYTHON" bench/official_torch.py --model "$model" --bpw "$bpw" --tokens "$tokens" \
      --minutes "$minutes" --seq 512 --batch 1 --threads 2 --eval-tokens "$work/wiki.i32" --eval-n 8192 \
      --also-eval "c4=$work/c4.i32" --also-eval "austen=$work/austen.i32" > "$log.out" 2>&1
    summary=$(tail -1 "$log.out")
    ppl=$("$PYTHON" -c "import json,sys; s=json.loads(sys.argv[1]); print(json.dumps({'wiki': s['ppl_after'], **s['ppl_also']}))" "$summary")
    echo "    $ppl"
    record torch official "" "$summary" "$ppl" "$bpw" "$minutes"
  fi
  IFS=';' read -ra vs <<< "$variants"
  for v in "${vs[@]}"; do
    label=${v%%=*} opts=${v#*=}
    log=$work/littlebit-$label-$bpw-$minutes
    echo "=== littlebit, $label ($opts): $bpw BPW, $minutes minutes"
    # shellcheck disable=SC2086  # the options are words
    "$bin/train" --model "$model" --bpw "$bpw" --train "$data/text/wiki_train.txt" --eval "$data/text/wiki_eval.txt" \
      --eval-tokens 8192 --minutes "$minutes" --threads 2 --seq 512 --batch 1 --cache build/train-cache \
      --log-every 10 --output "$log.safetensors" --log "$log.jsonl" $opts > "$log.out" 2>&1
    summary=$(tail -1 "$log.out")
    ppl="{}"
    for t in "${texts[@]}"; do
      "$bin/eval" --model "$log.safetensors" --text "$data/text/${t}_eval.txt" --max-tokens 8192 --threads 2 \
        > "$log.eval.$t.txt" 2>/dev/null
      ppl=$("$PYTHON" -c "import json,sys; d=json.loads(sys.argv[1]); d[sys.argv[2]]=float(sys.argv[3]); print(json.dumps(d))" \
        "$ppl" "$t" "$(ppl_of "$log.eval.$t.txt")")
    done
    echo "    $ppl"
    record littlebit "$label" "$opts" "$summary" "$ppl" "$bpw" "$minutes"
  done
done
"$PYTHON" bench/train/recipe_report.py "$res/recipe_compare.jsonl" | tee "$res/recipe_compare.md"
