#!/bin/sh
# A GGUF whose metadata holds a 64 MB array (64 Mi u8 elements) and 4 Mi empty strings (32 MB),
# read by eval under a 2 GB address-space limit: the reader must keep memory in proportion to the
# file (the file is 96 MB) and end with the ordinary error of a file that is not a Llama model,
# never with std::bad_alloc.
#   big_metadata.sh EVAL WORK_DIR
set -eu
eval_bin=$1 work=$2
py=${LITTLEBIT_PYTHON:-/usr/bin/python3}
mkdir -p "$work"
"$py" - "$work/big_metadata.gguf" <<'PY'
import struct, sys
def s(t):
    b = t.encode()
    return struct.pack("<Q", len(b)) + b
with open(sys.argv[1], "wb") as f:
    f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, 2))
    f.write(s("test.bytes") + struct.pack("<IIQ", 9, 0, 64 << 20))
    f.write(bytes(64 << 20))
    f.write(s("test.strings") + struct.pack("<IIQ", 9, 8, 4 << 20))
    f.write(bytes(8 * (4 << 20)))
PY
ulimit -v 2097152
echo "some text" > "$work/text.txt"
exec "$eval_bin" --model "$work/big_metadata.gguf" --text "$work/text.txt"
