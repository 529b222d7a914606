#!/bin/sh
# quantize end to end on the first two blocks of SmolLM2 (skipped until scripts/fetch_data.sh ran):
# a checkpoint and an official-layout export are written; the packed model matches its dense
# reconstruction and the export matches the checkpoint (quantized_model); eval reads it; a rerun
# keeps every layer and writes the same bytes; a lost part is redone alone; other settings redo
# every part; --exclude keeps layers dense (an invalid pattern is named); an impossible target
# fails naming it and leaves no output behind.
#   quantize_check.sh QUANTIZE EVAL QUANTIZED_MODEL DATA_DIR WORK_DIR
set -eu
quantize=$1 eval=$2 check=$3 data=${LITTLEBIT_DATA:-$4} work=$5
model=$data/model/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$model" ] || { echo "no $model (scripts/fetch_data.sh): skipped"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work"; mkdir -p "$work"
q() { "$quantize" --model "$model" --layers 2 --threads 2 --output "$work/q.safetensors" "$@"; }

q --bpw 0.55 --keep-parts --official "$work/official.safetensors" > "$work/run1.txt" 2>&1 || { cat "$work/run1.txt"; fail "quantize"; }
cat "$work/run1.txt"
grep -q "plan: 14 layers quantized (0 kept dense), target 0.5500" "$work/run1.txt" || fail "plan line"
grep -q "^blk.1.ffn_down  *576x1536  *[0-9]" "$work/run1.txt" || fail "per-layer table"
grep -q "^size: quantized layers 0.5[0-9]* bits/weight" "$work/run1.txt" || fail "size line"
[ "$(ls "$work/q.safetensors.parts" | wc -l)" = 14 ] || fail "14 parts kept"
"$check" "$work/q.safetensors" "$work/official.safetensors" || fail "quantized_model"
"$eval" --model "$work/q.safetensors" --text "$data/text/wiki_eval.txt" --ctx 64 --max-tokens 129 > "$work/eval.txt" 2>&1
grep -q "littlebit checkpoint, 14 packed layers" "$work/eval.txt" && tail -1 "$work/eval.txt" | grep -q "^ppl [0-9.]* tokens 126$" ||
  { cat "$work/eval.txt"; fail "eval on the checkpoint"; }

cp "$work/q.safetensors" "$work/first.safetensors"
q --bpw 0.55 --keep-parts > "$work/run2.txt" 2>&1 || { cat "$work/run2.txt"; fail "resume"; }
grep -q "0 layers Dual-SVID'd .*(14 kept from an earlier run)" "$work/run2.txt" || fail "resume keeps 14 layers"
cmp "$work/q.safetensors" "$work/first.safetensors" || fail "resumed checkpoint differs"

rm "$work/q.safetensors.parts/blk.1.attn_v.safetensors" "$work/q.safetensors"
q --bpw 0.55 --keep-parts > "$work/run3.txt" 2>&1 || { cat "$work/run3.txt"; fail "interrupted run"; }
grep -q "1 layers Dual-SVID'd .*(13 kept from an earlier run)" "$work/run3.txt" || fail "a lost part is redone alone"

q --bpw 0.55 --seed 7 > "$work/run4.txt" 2>&1 || { cat "$work/run4.txt"; fail "other seed"; }
grep -q "14 layers Dual-SVID'd .*(0 kept from an earlier run)" "$work/run4.txt" || fail "other settings redo every part"
[ ! -e "$work/q.safetensors.parts" ] || fail "parts removed without --keep-parts"

# Excluded layers stay dense in the checkpoint, and the model built from it still matches.
q --bpw 0.55 --exclude 'attn_[kv]$' > "$work/run6.txt" 2>&1 || { cat "$work/run6.txt"; fail "--exclude"; }
grep -q "plan: 10 layers quantized (4 kept dense)" "$work/run6.txt" || fail "--exclude plan"
grep -q "^blk.1.attn_v .*dense (excluded)" "$work/run6.txt" || fail "--exclude table"
"$check" "$work/q.safetensors" || fail "quantized_model with dense layers"
if q --bpw 0.55 --exclude 'ffn_(' > "$work/run7.txt" 2>&1; then fail "an invalid --exclude accepted"; fi
grep -q "quantize: --exclude 'ffn_(' is not a valid regular expression" "$work/run7.txt" || fail "invalid --exclude message"

rm "$work/q.safetensors"
if q --bpw 0.05 > "$work/run5.txt" 2>&1; then fail "0.05 bits per weight accepted"; fi
grep -q "quantize: a target of 0.05.* bits per weight is below what the minimum ranks" "$work/run5.txt" || { cat "$work/run5.txt"; fail "impossible target message"; }
[ ! -e "$work/q.safetensors" ] || fail "output left behind by a failed run"
echo "quantize_check: all passed"
