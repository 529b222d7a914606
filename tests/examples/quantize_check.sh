#!/bin/sh
# quantize end to end on the first two blocks of SmolLM2 (fails until scripts/fetch_data.sh ran):
# a checkpoint and an official-layout export are written; the packed model matches its dense
# reconstruction and the export matches the checkpoint (quantized_model); eval reads it; a rerun
# keeps every layer and writes the same bytes; a lost part is redone alone; other settings redo
# every part; --exclude keeps layers dense (an invalid pattern is named); an impossible target
# fails naming it and leaves no output behind.
# The reported errors are recomputed from the checkpoint and the source tensors by name
# (quantize_errors; and by numpy from docs/format.md alone, decode_checkpoint.py), for 14 layers and
# for all 210 of the whole model, and two wiring errors
# (swapped layers, a transposed square layer) are shown to fail that check; a corrupt part (bad
# bytes, bad JSON in its metadata) is redone on resume, not fatal.
# generate runs on the checkpoint and stops at the context limit it is given, saying so.
#   quantize_check.sh QUANTIZE EVAL QUANTIZED_MODEL QUANTIZE_ERRORS GENERATE DATA_DIR WORK_DIR
set -eu
quantize=$1 eval=$2 check=$3 errors=$4 gen=$5 data=${LITTLEBIT_DATA:-$6} work=$7
py=${LITTLEBIT_PYTHON:-/usr/bin/python3}
model=$data/model/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$model" ] || { echo "FAIL: no $model: run scripts/fetch_data.sh"; exit 1; }
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
"$errors" "$work/q.safetensors" "$model" --expect-layers 14 || fail "recomputed errors of the 14 layers"
# ... and decoded by numpy alone, from docs/format.md, to the same errors.
PYTHONPATH="$data/pylib" "$py" "$(dirname "$0")/../tools/decode_checkpoint.py" "$work/q.safetensors" "$model" ||
  fail "decoding the checkpoint from docs/format.md"
"$eval" --model "$work/q.safetensors" --text "$data/text/wiki_eval.txt" --ctx 64 --max-tokens 129 > "$work/eval.txt" 2>&1
grep -q "littlebit checkpoint, 14 packed layers" "$work/eval.txt" && tail -1 "$work/eval.txt" | grep -q "^ppl [0-9.]* tokens 126$" ||
  { cat "$work/eval.txt"; fail "eval on the checkpoint"; }

"$gen" --model "$work/q.safetensors" --prompt "The capital of France is" --tokens 6 > "$work/gen.txt" 2> "$work/gen.err" ||
  { cat "$work/gen.err"; fail "generate on the checkpoint"; }
grep -q "^The capital of France is" "$work/gen.txt" && grep -q "generated [1-6] tokens" "$work/gen.err" ||
  { cat "$work/gen.txt" "$work/gen.err"; fail "generate output"; }
"$gen" --model "$work/q.safetensors" --prompt "The capital of France is" --tokens 100 --ctx 12 > "$work/gen2.txt" 2> "$work/gen2.err" ||
  { cat "$work/gen2.err"; fail "generate with --ctx"; }
grep -q "generate: stopped at the context limit of 12 tokens (--ctx)" "$work/gen2.err" &&
  grep -q "5 prompt tokens" "$work/gen2.err" && grep -q "generated 8 tokens" "$work/gen2.err" ||
  { cat "$work/gen2.err"; fail "generate stops at the context limit"; }
if "$gen" --model "$work/q.safetensors" --prompt "x" --ctx 9000 > "$work/gen3.txt" 2>&1; then fail "--ctx beyond the model accepted"; fi
grep -q "generate: --ctx 9000 exceeds the model's context length of 8192 tokens" "$work/gen3.txt" || fail "--ctx message"

cp "$work/q.safetensors" "$work/first.safetensors"
q --bpw 0.55 --keep-parts > "$work/run2.txt" 2>&1 || { cat "$work/run2.txt"; fail "resume"; }
grep -q "0 layers Dual-SVID'd .*(14 kept from an earlier run)" "$work/run2.txt" || fail "resume keeps 14 layers"
cmp "$work/q.safetensors" "$work/first.safetensors" || fail "resumed checkpoint differs"

rm "$work/q.safetensors.parts/blk.1.attn_v.safetensors" "$work/q.safetensors"
q --bpw 0.55 --keep-parts > "$work/run3.txt" 2>&1 || { cat "$work/run3.txt"; fail "interrupted run"; }
grep -q "1 layers Dual-SVID'd .*(13 kept from an earlier run)" "$work/run3.txt" || fail "a lost part is redone alone"

# Corrupt parts: truncated bytes, and a well-formed file whose result metadata is not JSON.
head -c 1000 "$work/q.safetensors.parts/blk.0.ffn_up.safetensors" > "$work/trunc" && mv "$work/trunc" "$work/q.safetensors.parts/blk.0.ffn_up.safetensors"
"$py" - "$work/q.safetensors.parts/blk.1.ffn_gate.safetensors" <<'PY' || fail "rewriting a part's metadata"
import json, struct, sys
path = sys.argv[1]
data = open(path, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
header["__metadata__"]["quantize.result"] = "{not json"
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(path, "wb").write(struct.pack("<Q", len(text)) + text + data[8 + n:])
PY
rm "$work/q.safetensors"
q --bpw 0.55 --keep-parts > "$work/run8.txt" 2>&1 || { cat "$work/run8.txt"; fail "resume over corrupt parts"; }
grep -q "2 layers Dual-SVID'd .*(12 kept from an earlier run)" "$work/run8.txt" || { cat "$work/run8.txt"; fail "corrupt parts redone"; }
grep -q "blk.0.ffn_up.safetensors: unusable, redone" "$work/run8.txt" || fail "truncated part named"
grep -q "blk.1.ffn_gate.safetensors: unusable, redone" "$work/run8.txt" || fail "bad-JSON part named"
cmp "$work/q.safetensors" "$work/first.safetensors" || fail "checkpoint after redoing corrupt parts differs"

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
# The whole model: the errors of all 210 layers recomputed; wiring errors are caught.
"$quantize" --model "$model" --bpw 0.55 --threads 2 --output "$work/full.safetensors" > "$work/full.txt" 2>&1 ||
  { cat "$work/full.txt"; fail "quantize of the whole model"; }
"$errors" "$work/full.safetensors" "$model" --expect-layers 210 || fail "recomputed errors of the 210 layers"
if "$errors" "$work/full.safetensors" "$model" --swap blk.3.attn_q blk.4.attn_q > "$work/swap.txt" 2>&1; then
  cat "$work/swap.txt"; fail "two swapped layers pass the error check"; fi
cat "$work/swap.txt"
grep -q "^FAIL blk.3.attn_q: recomputed errors" "$work/swap.txt" && grep -q "^FAIL blk.4.attn_q: recomputed errors" "$work/swap.txt" ||
  fail "swapped layers not named"
if "$errors" "$work/full.safetensors" "$model" --transpose blk.5.attn_output > "$work/transpose.txt" 2>&1; then
  cat "$work/transpose.txt"; fail "a transposed square layer passes the error check"; fi
cat "$work/transpose.txt"
grep -q "^FAIL blk.5.attn_output: recomputed errors" "$work/transpose.txt" || fail "transposed layer not named"
echo "quantize_check: all passed"
