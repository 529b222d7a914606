#!/usr/bin/env python3
"""Decodes a littlebit checkpoint with numpy alone, following docs/format.md (the safetensors
header, U8 rows of ceil(k/8) bytes with the first sign in the least significant bit, bit 1 = -1,
F16 scales), and checks each packed layer's relative error against its source tensor (the GGUF,
dequantized by the `gguf` package) equals what quantize reported in quantize.summary:

    decode_checkpoint.py CHECKPOINT.safetensors MODEL.gguf

Both sides are double computations of the same numbers in different orders; 1e-9 relative is far
above their rounding (~1e-13) and far below any decoding mistake (a wrong bit order or sign
convention changes the error by O(0.1)).
"""
import json
import struct
import sys

try:
    import numpy as np
    import gguf
except ImportError as e:
    sys.exit(f"FAIL: {sys.executable} cannot import {e.name}: needs python3-numpy (scripts/setup.sh) and gguf (scripts/fetch_data.sh, on PYTHONPATH)")

DTYPES = {"U8": np.uint8, "F16": np.float16, "BF16": None, "F32": np.float32}


def main(path, model):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__")
    base = 8 + n

    def tensor(name):
        e = header[name]
        b = data[base + e["data_offsets"][0]:base + e["data_offsets"][1]]
        return np.frombuffer(b, dtype=DTYPES[e["dtype"]]).reshape(e["shape"])

    def signs(u8, k):
        bits = np.unpackbits(u8, axis=1, bitorder="little")[:, :k]
        return 1.0 - 2.0 * bits

    reader = gguf.GGUFReader(model)
    source = {t.name: t for t in reader.tensors}
    reported = {l["name"]: l for l in json.loads(meta["quantize.summary"])["layers"]}
    failures = 0
    for layer in json.loads(meta["littlebit.layers"]):
        total = None
        for sfx in ("", "_R"):
            if layer + ".U_sign" + sfx not in header:
                continue
            h, ell, g = (tensor(layer + "." + s + sfx).astype(np.float64) for s in ("h", "ell", "g"))
            u = signs(tensor(layer + ".U_sign" + sfx), ell.shape[0])
            v = signs(tensor(layer + ".V_sign" + sfx), g.shape[0])
            w_path = (h[:, None] * u) @ (ell[:, None] * v * g[None, :])
            if total is None:
                primary = w_path
                total = w_path.copy()
            else:
                total += w_path
        t = source[layer + ".weight"]
        w = gguf.quants.dequantize(t.data, t.tensor_type).reshape(total.shape).astype(np.float64)
        norm = np.linalg.norm(w)
        got = (np.linalg.norm(w - primary) / norm, np.linalg.norm(w - total) / norm)
        want = (reported[layer]["err_primary"], reported[layer]["err_total"])
        if max(abs(a - b) for a, b in zip(got, want)) > 1e-9 * max(want):
            print(f"FAIL {layer}: decoded errors {got[0]:.6f} / {got[1]:.6f}, reported {want[0]:.6f} / {want[1]:.6f}")
            failures += 1
    print(f"{len(reported)} layers decoded with numpy from docs/format.md: "
          f"{'all match' if failures == 0 else str(failures) + ' differ'} the reported errors")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
