#!/bin/sh
# The Hugging Face input end to end (fails until scripts/fetch_data.sh ran): SmolLM2's first two
# blocks written as a Hugging Face directory (tests/tools/make_hf_model.py), read like the GGUF
# (hf_vs_gguf), quantized from it with an official export (checked by quantized_model), and
# evaluated by eval.
#   hf_check.sh HF_VS_GGUF QUANTIZE QUANTIZED_MODEL EVAL DATA_DIR WORK_DIR MAKE_HF_MODEL_PY
set -eu
cmp_bin=$1 quantize=$2 check=$3 eval=$4 data=${LITTLEBIT_DATA:-$5} work=$6 make=$7
model=$data/model/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$model" ] && [ -d "$data/pylib/gguf" ] || { echo "FAIL: no $model or $data/pylib/gguf: run scripts/fetch_data.sh"; exit 1; }
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work"; mkdir -p "$work"
PYTHONPATH="$data/pylib" "${LITTLEBIT_PYTHON:-/usr/bin/python3}" "$make" "$model" "$work/hf" 2 || fail "make_hf_model.py"
"$cmp_bin" "$model" "$work/hf" || fail "hf_vs_gguf"
"$quantize" --model "$work/hf" --bpw 0.55 --threads 2 --output "$work/q.safetensors" --official "$work/official.safetensors" \
  > "$work/quantize.txt" 2>&1 || { cat "$work/quantize.txt"; fail "quantize from the Hugging Face directory"; }
grep -q "plan: 14 layers quantized" "$work/quantize.txt" || fail "plan line"
"$check" "$work/q.safetensors" "$work/official.safetensors" || fail "quantized_model"
"$eval" --model "$work/hf/model.safetensors" --text "$data/text/wiki_eval.txt" --ctx 64 --max-tokens 129 > "$work/eval.txt" 2>&1
grep -q "dense Hugging Face safetensors" "$work/eval.txt" && tail -1 "$work/eval.txt" | grep -q "^ppl [0-9.]* tokens 126$" ||
  { cat "$work/eval.txt"; fail "eval on the Hugging Face directory"; }
echo "hf_check: all passed"
