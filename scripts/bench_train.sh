#!/usr/bin/env bash
# The training-step benchmark of issue 14 (docs/benchmarks.md#the-training-step): one optimizer
# step of littlebit's trainer (examples/train, its timed mode: --steps N, per-phase timings) beside
# the official recipe in PyTorch (bench/official_torch.py) in the same run, on the same machine,
# model (SmolLM2-135M), ranks (official rule, k/v x 4), data and loss: seq 512, 2 threads, at each
# BPW and batch. Tokens per second are medians over the steady steps (the first two excluded, in
# both). Writes
#   bench/results/train_step.jsonl   one record per run (littlebit's and PyTorch's summaries)
#   bench/results/train_step.md      the table (bench/train/report.py)
#
#   scripts/bench_train.sh                      1.0 0.55 0.3 BPW, batch 1 and 4 (about 30 minutes)
#   BATCHES="1" scripts/bench_train.sh 0.55     one cell
#   STEPS=8 STEPS_B4=5 ...                      steps per run (default 8 at batch 1, 5 above)
#   APPEND=1 ...                                add to the records instead of starting afresh (a
#                                               repetition: the report gives each cell's median run)
# Expects scripts/setup.sh and scripts/fetch_data.sh to have run. Never run two benchmarks at once.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
littlebit_openblas_env   # the same OpenBLAS core type for both sides
data=${LITTLEBIT_DATA:-$(pwd)/data}
model=$data/model/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$model" ] || { echo "bench_train.sh: no $model: run scripts/fetch_data.sh" >&2; exit 1; }
bpws=("$@"); [ ${#bpws[@]} -gt 0 ] || bpws=(1.0 0.55 0.3)
batches=${BATCHES:-1 4}
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target train
out=bench/results
mkdir -p "$out" build/bench-train
[ "${APPEND:-0}" = 1 ] || : > "$out/train_step.jsonl"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
isa=$(grep -qw avx512f /proc/cpuinfo && echo avx512 || (grep -qw avx2 /proc/cpuinfo && echo avx2 || echo portable))
for bpw in "${bpws[@]}"; do
  for b in $batches; do
    steps=${STEPS:-8}; [ "$b" -gt 1 ] && steps=${STEPS_B4:-5}
    log=build/bench-train/train-$bpw-b$b
    echo "=== littlebit: $bpw BPW, batch $b, $steps steps"
    build/release/examples/train --model "$model" --bpw "$bpw" --train "$data/text/wiki_train.txt" --steps "$steps" \
      --seq 512 --batch "$b" --threads 2 --cache build/train-cache --log "$log.jsonl" > "$log.out"
    tail -1 "$log.out" | "$PYTHON" -c "import json,sys; j=json.load(sys.stdin); print(json.dumps({'impl':'littlebit','bpw_target':$bpw,'batch':$b,'cpu':'$cpu','isa':'${LITTLEBIT_ARCH:-$isa}',**j}))" >> "$out/train_step.jsonl"
    tokens=$(ls build/train-cache/tokens-*.i32 | head -1)
    echo "=== PyTorch (official recipe): $bpw BPW, batch $b, $steps steps"
    if PYTHONPATH=$data/pylib "$PYTHON" bench/official_torch.py --model "$model" --bpw "$bpw" --tokens "$tokens" --steps "$steps" \
         --seq 512 --batch "$b" --threads 2 --log-every 1 > "$log.torch.out" 2>&1; then
      tail -1 "$log.torch.out" | "$PYTHON" -c "import json,sys; j=json.load(sys.stdin); print(json.dumps({'impl':'torch','bpw_target':$bpw,'batch':$b,'cpu':'$cpu',**j}))" >> "$out/train_step.jsonl"
    else
      rc=$?
      echo "bench_train.sh: PyTorch at $bpw BPW, batch $b failed (exit $rc; 137: out of memory?), see $log.torch.out" >&2
      # the steps it finished before failing (an out-of-memory kill comes mid-run), tokens/s each
      done_tps=$(sed -n 's/^step [0-9]*\/[0-9]* .*  \([0-9.]*\) tokens\/s$/\1/p' "$log.torch.out" | paste -sd, -)
      echo "{\"impl\":\"torch\",\"bpw_target\":$bpw,\"batch\":$b,\"failed\":$rc,\"steps_done_tokens_per_s\":[${done_tps}]}" >> "$out/train_step.jsonl"
    fi
  done
done
"$PYTHON" bench/train/report.py "$out/train_step.jsonl" | tee "$out/train_step.md"
