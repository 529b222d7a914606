#!/usr/bin/env sh
# factorize_layer on a golden Dual-SVID file's W (exact SVD, the golden rank: 1.0 BPW gives rank 8
# at 96 x 160), then check_output.py reads the packed file back independently with PyTorch.
#   check_output.sh FACTORIZE_LAYER_EXE GOLDEN_FILE OUT_DIR
# The interpreter is $LITTLEBIT_PYTHON (CMake's LITTLEBIT_PYTHON, /usr/bin/python3 by default);
# without torch there it fails, naming what is missing (scripts/setup.sh installs python3-torch).
set -eu
exe=$1
golden=$2
out=$3
here=$(dirname "$0")
py=${LITTLEBIT_PYTHON:-/usr/bin/python3}
mkdir -p "$out"
"$exe" --input "$golden" --tensor W --bpw 1.0 --exact --output "$out/layer.safetensors"
"$py" -c "import torch" 2>/dev/null || { echo "FAIL: $py cannot import torch (scripts/setup.sh installs python3-torch)"; exit 1; }
exec "$py" "$here/check_output.py" "$out/layer.safetensors" "$golden"
