#!/usr/bin/env python3
"""Writes the decomposition benchmark's matrices (safetensors, float32) with their exact singular
values (float64), deterministically:

  decay_<m>x<n>.safetensors   W = Q1 diag(s) Q2^T, s_i = i^-0.5 (Q1, Q2 orthonormal from the QR of
                              Gaussian matrices), then 8 "heavy" columns scaled by 8 (outlier
                              input features, as in LLM weights)
  gauss_<m>x<n>.safetensors   W Gaussian, entries N(0, 1/n): a flat spectrum

    make_matrices.py OUT_DIR [--shapes 4096x4096,11008x4096] [--seed 1234]
Existing files are kept (the generation takes about a minute per shape).
"""
import argparse
import json
import os
import struct

import torch


def write(path, tensors, meta):
    header = {"__metadata__": {k: str(v) for k, v in meta.items()}}
    blobs, offset = [], 0
    for name, t in tensors.items():
        raw = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": {torch.float32: "F32", torch.float64: "F64"}[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--shapes", default="4096x4096,11008x4096")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    for shape in args.shapes.split(","):
        m, n = map(int, shape.split("x"))
        k = min(m, n)
        gen = torch.Generator().manual_seed(args.seed + m * 7 + n)
        path = os.path.join(args.out, f"decay_{m}x{n}.safetensors")
        if not os.path.exists(path):
            q1, _ = torch.linalg.qr(torch.randn(m, k, generator=gen, dtype=torch.float64))
            q2, _ = torch.linalg.qr(torch.randn(n, k, generator=gen, dtype=torch.float64))
            s = torch.arange(1, k + 1, dtype=torch.float64) ** -0.5
            w = (q1 * s) @ q2.T
            heavy = torch.randperm(n, generator=gen)[:8]
            w[:, heavy] *= 8.0
            sv = torch.linalg.svdvals(w)
            write(path, {"W": w.float(), "singular_values": sv},
                  {"kind": "decomposition_bench", "spectrum": "i^-0.5, 8 heavy columns x8", "seed": args.seed})
            print("wrote", path)
        path = os.path.join(args.out, f"gauss_{m}x{n}.safetensors")
        if not os.path.exists(path):
            w = torch.randn(m, n, generator=gen, dtype=torch.float64) / n ** 0.5
            sv = torch.linalg.svdvals(w)
            write(path, {"W": w.float(), "singular_values": sv},
                  {"kind": "decomposition_bench", "spectrum": "Gaussian N(0, 1/n)", "seed": args.seed})
            print("wrote", path)


if __name__ == "__main__":
    main()
