#!/usr/bin/env python3
"""Exits 0 when two safetensors files hold the same tensors, byte for byte (metadata ignored),
else 1 naming the first tensor that differs and by how much (standard library only):

    compare_tensors.py A.safetensors B.safetensors
"""
import json
import struct
import sys


def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    h = json.loads(data[8:8 + n])
    h.pop("__metadata__", None)
    return {k: (e["dtype"], e["shape"], data[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]]) for k, e in h.items()}


def main():
    a, b = (tensors(p) for p in sys.argv[1:3])
    if sorted(a) != sorted(b):
        sys.exit(f"FAIL: the files hold different tensors: only in the first {sorted(set(a) - set(b))[:5]}, "
                 f"only in the second {sorted(set(b) - set(a))[:5]}")
    for k in sorted(a):
        if a[k] != b[k]:
            if a[k][0] == "F32" and a[k][1] == b[k][1]:
                import array
                x, y = array.array("f", a[k][2]), array.array("f", b[k][2])
                diff = [i for i in range(len(x)) if x[i] != y[i]]
                sys.exit(f"FAIL: tensor {k}: {len(diff)} of {len(x)} values differ (first at {diff[0]}: {x[diff[0]]!r} vs {y[diff[0]]!r})")
            sys.exit(f"FAIL: tensor {k} differs ({a[k][0]} {a[k][1]} vs {b[k][0]} {b[k][1]})")
    print(f"identical: {len(a)} tensors")


if __name__ == "__main__":
    main()
