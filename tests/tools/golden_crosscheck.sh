#!/usr/bin/env sh
# Generates a fresh golden set with PyTorch (make_golden.py) and checks it with the golden program.
#   golden_crosscheck.sh GOLDEN_EXE OUT_DIR
# Exits 77 (CTest: skipped) when no Python with torch is found.
set -eu
golden=$1
out=$2
here=$(dirname "$0")
for py in /usr/bin/python3 python3; do
  if "$py" -c "import torch" 2>/dev/null; then
    rm -rf "$out"
    "$py" "$here/make_golden.py" "$out"
    LITTLEBIT_GOLDEN_DIR="$out" "$golden"
    exit $?
  fi
done
echo "no python3 with torch: skipped (scripts/setup.sh installs python3-torch)"
exit 77
