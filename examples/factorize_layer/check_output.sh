#!/usr/bin/env sh
# factorize_layer on a golden Dual-SVID file's W (exact SVD, the golden rank: 1.0 BPW gives rank 8
# at 96 x 160), then check_output.py reads the packed file back independently.
#   check_output.sh FACTORIZE_LAYER_EXE GOLDEN_FILE OUT_DIR
# Exits 77 (CTest: skipped) when no Python with torch is found.
set -eu
exe=$1
golden=$2
out=$3
here=$(dirname "$0")
mkdir -p "$out"
"$exe" --input "$golden" --tensor W --bpw 1.0 --exact --output "$out/layer.safetensors"
for py in /usr/bin/python3 python3; do
  if "$py" -c "import torch" 2>/dev/null; then
    exec "$py" "$here/check_output.py" "$out/layer.safetensors" "$golden"
  fi
done
echo "no python3 with torch: skipped (scripts/setup.sh installs python3-torch)"
exit 77
