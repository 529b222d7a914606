#!/usr/bin/env sh
# Generates a fresh golden set with PyTorch (make_golden.py) and checks it with the golden program.
#   golden_crosscheck.sh GOLDEN_EXE OUT_DIR
# The interpreter is $LITTLEBIT_PYTHON (CMake's LITTLEBIT_PYTHON, /usr/bin/python3 by default);
# without torch there it fails, naming what is missing (scripts/setup.sh installs python3-torch).
set -eu
golden=$1
out=$2
here=$(dirname "$0")
py=${LITTLEBIT_PYTHON:-/usr/bin/python3}
"$py" -c "import torch" 2>/dev/null || { echo "FAIL: $py cannot import torch (scripts/setup.sh installs python3-torch)"; exit 1; }
rm -rf "$out"
"$py" "$here/make_golden.py" "$out"
LITTLEBIT_GOLDEN_DIR="$out" exec "$golden"
