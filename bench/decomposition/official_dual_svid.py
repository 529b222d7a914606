#!/usr/bin/env python3
"""Times the official LittleBit initialization (Dual-SVID + residual, as SamsungLabs/LittleBit's
_decompose_matrix computes it, here written out independently) on the benchmark matrices, with
PyTorch CPU float32, and prints one JSON object per case:

    official_dual_svid.py DATA_DIR [--shapes 4096x4096,11008x4096] [--bpw 0.1,0.3,0.55,1.0]
                          [--threads 2] [--repeat 1] [--matrix decay]

"seconds" is the median over --repeat runs (each with its own seed), "times" all of them; the
errors are those of the last run.

The math: U, S, V = torch.svd_lowrank(W, q=r) (its default niter=2, no oversampling);
U' = U sqrt(S), V' = sqrt(S) V^T; rank-1 fits of |U'| and |V'| by svd_lowrank(q=1); signs with
sign(0) = +1; W_pri = (sign(U') * (u1^T u2)) @ (sign(V') * (v1^T v2)); the residual path is the same
on W - W_pri. Run it with OPENBLAS_CORETYPE set (Debian's OpenBLAS misdetects this CPU otherwise).
"""
import argparse
import json
import os
import statistics
import struct
import time

import torch


def read_w(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        info = header["W"]
        f.seek(base + info["data_offsets"][0])
        raw = f.read(info["data_offsets"][1] - info["data_offsets"][0])
    return torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(info["shape"])


def rank_for_bpw(m, n, bpw):  # the official rule with residual
    est = (m * n * bpw - 32 * (m + n)) / (2 * (m + n + 16))
    r = (int(est) // 8) * 8
    return max(r if r != 0 else 8, 8)


def sign(x):
    return torch.where(x < 0, -torch.ones_like(x), torch.ones_like(x))


def rank_one(x):
    u, s, v = torch.svd_lowrank(x, q=1)
    root = torch.sqrt(s[0])
    return (u[:, :1] * root).t(), root * v.t()[:1, :]


def decompose(x, r):
    u, s, v = torch.svd_lowrank(x, q=r)
    root = torch.sqrt(torch.diag(s))[:, :r]
    up, vp = u @ root, root.t() @ v.t()
    v1, v2 = rank_one(vp.abs())
    u1, u2 = rank_one(up.abs())
    return (sign(up) * (u1.t() @ u2)) @ (sign(vp) * (v1.t() @ v2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--shapes", default="4096x4096,11008x4096")
    ap.add_argument("--bpw", default="0.1,0.3,0.55,1.0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--matrix", default="decay")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for shape in args.shapes.split(","):
        m, n = map(int, shape.split("x"))
        w = read_w(os.path.join(args.data, f"{args.matrix}_{m}x{n}.safetensors"))
        norm = w.double().norm().item()
        for bpw in map(float, args.bpw.split(",")):
            r = rank_for_bpw(m, n, bpw)
            times = []
            for rep in range(args.repeat):
                torch.manual_seed(rep)
                t0 = time.perf_counter()
                w_pri = decompose(w, r)
                rest = w - w_pri
                w_res = decompose(rest, r)
                times.append(time.perf_counter() - t0)
            e1 = (w.double() - w_pri.double()).norm().item() / norm
            e2 = (rest.double() - w_res.double()).norm().item() / norm
            print(json.dumps({"case": f"official/{m}x{n}/bpw:{bpw:g}/threads:{args.threads}", "matrix": args.matrix,
                              "rank": r, "seconds": statistics.median(times), "times": times, "rel_err_primary": e1, "rel_err_total": e2}), flush=True)


if __name__ == "__main__":
    main()
