#!/usr/bin/env bash
# The results of docs/results.md, "QAT at each BPW": for every bits-per-weight target given, the
# Dual-SVID initialization (quantize, the official rank rule, k/v x 4) and TRAIN_MINUTES (default
# 20) of QAT with distillation from it (train, RECIPE: littlebit by default, or official; 2 threads), each evaluated on
# the first 8,192 tokens of the wiki, C4 and Austen evaluation splits (eval: context 512, stride
# 512), beside the dense model. Expects scripts/setup.sh to have run; fetches the data and builds
# what it needs. Outputs in build/results/ (the table in build/results/table.md, each run's log,
# curves and summary next to it).
#
#   scripts/train_results.sh 1.0 0.55 0.3 0.25 0.2223    TRAIN_MINUTES=M for another budget,
#                                                        RECIPE=official for the official recipe,
#                                                        OUT=DIR for another output directory
#   (0.2223: the lowest target the official rule reaches, just above the k/v layers' scale cost)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${LITTLEBIT_DATA:-$(pwd)/data}
export LITTLEBIT_DATA=$data
. scripts/env.sh
littlebit_openblas_env
[ $# -ge 1 ] || { echo "usage: scripts/train_results.sh BPW..." >&2; exit 2; }
threads=$(nproc)
minutes=${TRAIN_MINUTES:-20}
recipe=${RECIPE:-littlebit}
case "$recipe" in official|littlebit) ;; *) echo "train_results.sh: RECIPE must be official or littlebit, not '$recipe'" >&2; exit 2;; esac
scripts/fetch_data.sh "$data"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$threads" --target quantize eval train
bin=build/release/examples
out=${OUT:-build/results}
mkdir -p "$out"
model=$data/model/SmolLM2-135M-Instruct.Q4_1.gguf
texts=(wiki_eval c4_eval austen_eval)
ppl() {  # model text -> perplexity on the first 8,192 tokens
  "$bin/eval" --model "$1" --text "$data/text/$2.txt" --max-tokens 8192 --threads "$threads" 2>/dev/null | tail -1 | awk '{print $2}'
}
row() {  # label file extra columns...
  local label=$1 file=$2; shift 2
  local cells=""
  for t in "${texts[@]}"; do cells="$cells | $(printf '%.4g' "$(ppl "$file" "$t")")"; done
  rows+=("| $label$cells | $* |")
}
rows=()
row "dense (Q4_1 GGUF)" "$model" "- | - | - | - | -"
for bpw in "$@"; do
  name=smollm2-$bpw
  echo "=== $bpw bits per weight: Dual-SVID, then $minutes minutes of QAT"
  "$bin/quantize" --model "$model" --bpw "$bpw" --rank-rule official --threads "$threads" --output "$out/$name-init.safetensors" \
    > "$out/$name-init.txt"
  actual=$(sed -n 's/^size: quantized layers \([0-9.]*\) bits\/weight.*/\1/p' "$out/$name-init.txt")
  row "Dual-SVID $bpw ($actual)" "$out/$name-init.safetensors" "- | - | - | - | -"
  rm -rf "$out/$name-state"
  "$bin/train" --model "$model" --bpw "$bpw" --train "$data/text/wiki_train.txt" --eval "$data/text/wiki_eval.txt" \
    --eval-tokens 8192 --eval-every 25 --minutes "$minutes" --threads "$threads" --seq 512 --batch 1 --log-every 10 --recipe "$recipe" \
    --output "$out/$name-qat.safetensors" --state "$out/$name-state" --log "$out/$name-qat.jsonl" --plot "$out/$name-qat.png" \
    | tee "$out/$name-qat.txt" | grep -v '^init:'
  s=$(tail -1 "$out/$name-qat.txt")
  j() { "$PYTHON" -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$s" "$1"; }
  row "QAT $bpw ($actual), $minutes min, recipe $recipe" "$out/$name-qat.safetensors" \
    "$(j steps) | $(j tokens) | $(printf '%.1f' "$(j tokens_per_s)") | $(printf '%.0f' "$(j peak_rss_mb)") | $(printf '%.4g' "$(j loss_first)") -> $(printf '%.4g' "$(j loss_last)")"
done
{
  echo "SmolLM2-135M-Instruct, perplexity on the first 8,192 tokens (8,176 predicted) of each evaluation split, context 512, $threads threads"
  echo
  echo "| model (target BPW (as stored)) | wiki | C4 | Austen | steps | tokens trained | tokens/s | peak RSS MB | loss first -> last |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
} | tee "$out/table.md"
