#!/usr/bin/env python3
"""Writes a fresh set of golden files of the four kinds the `golden` program checks, computed
independently of littlebit with PyTorch (float64, autograd) on the official LittleBit formulas:

  pack               official packed layout: int32 words, LSB first, +1 -> 0, -1 -> 1, pad +1
  ranks              official rank rule (estimate * ratio, int(), // 8 * 8, min 8) and achieved BPW
  factorized_linear  y = ((((x*v2) @ sign(V)^T) * (v1*u2)) @ sign(U)^T) * u1 (+ residual path _R),
                     loss sum(y*dy), SmoothSign (alpha (1 - tanh(alpha z)^2)) or STE (1[|z| < 1])
  dual_svid          exact SVD, sqrt(S) into both factors, signs, rank-1 of |U'| and |V'|, residual

Shapes, ranks, alpha and batch differ from tests/data/golden, so a pass shows the golden program
reads everything from the files. Usage: make_golden.py OUT_DIR [--seed N]
"""
import argparse
import json
import os
import struct

import torch

DTYPES = {torch.float64: "F64", torch.int32: "I32", torch.int8: "I8"}


def write(path, meta, tensors):
    header = {"__metadata__": {k: str(v) for k, v in meta.items()}}
    blobs, offset = [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def sign(z):
    return torch.where(z < 0, -torch.ones_like(z), torch.ones_like(z))


def pack_rows(signs):
    """signs: (rows, cols) of +-1 -> (rows, ceil(cols/32)) int32, bit j%32 of word j//32 is 1 for -1."""
    rows, cols = signs.shape
    words = (cols + 31) // 32
    out = torch.zeros(rows, words, dtype=torch.int64)
    for j in range(cols):
        out[:, j // 32] |= (signs[:, j] < 0).long() << (j % 32)
    out = torch.where(out >= 2**31, out - 2**32, out)  # as int32 two's complement
    return out.to(torch.int32)


def rank_rule(a, b, bpw, residual, ratio, min_rank=8):
    if residual:
        est = (a * b * bpw - 32 * (a + b)) / (2 * (a + b + 16))
    else:
        est = (a * b * bpw - 16 * (a + b)) / (a + b + 16)
    if est:
        est *= ratio
    r = (int(est) // 8) * 8
    if r == 0:
        r = min_rank
    r = max(r, min_rank)
    bits = r * 2 * (a + b + 16) + 32 * (a + b) if residual else r * (a + b + 16) + 16 * (a + b)
    return r, bits / (a * b)


class SmoothSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, alpha):
        ctx.save_for_backward(z)
        ctx.alpha = alpha
        return sign(z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * ctx.alpha * (1 - torch.tanh(ctx.alpha * z) ** 2), None


class Ste(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return sign(z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * ((z > -1) & (z < 1)).to(g.dtype)


def linear_case(path, gen, m, n, r, batch, residual, quant, alpha):
    q = (lambda z: SmoothSign.apply(z, alpha)) if quant == "smoothsign" else Ste.apply
    t = {"x": torch.randn(batch, n, generator=gen, dtype=torch.float64),
         "dy": torch.randn(batch, m, generator=gen, dtype=torch.float64)}
    params = {}
    for sfx in ([""] + (["_R"] if residual else [])):
        # Latent entries near 0 and near +-1 exercise both surrogate gradients.
        params["U" + sfx] = (torch.rand(m, r, generator=gen, dtype=torch.float64) * 2.4 - 1.2)
        params["V" + sfx] = (torch.rand(r, n, generator=gen, dtype=torch.float64) * 0.06 - 0.03)
        for name, size in (("u1", m), ("u2", r), ("v1", r), ("v2", n)):
            params[name + sfx] = torch.randn(1, size, generator=gen, dtype=torch.float64)
    for p in params.values():
        p.requires_grad_(True)
    x = t["x"].clone().requires_grad_(True)
    y = 0
    for sfx in ([""] + (["_R"] if residual else [])):
        P = lambda k: params[k + sfx]
        y = y + ((((x * P("v2")) @ q(P("V")).t()) * (P("v1") * P("u2"))) @ q(P("U")).t()) * P("u1")
    (y * t["dy"]).sum().backward()
    out = {"x": t["x"], "dy": t["dy"], "y": y.detach(), "dx": x.grad}
    for k, p in params.items():
        out[k] = p.detach()
        out["d" + k] = p.grad
    write(path, {"kind": "factorized_linear", "d_out": m, "d_in": n, "rank": r, "batch": batch,
                 "residual": int(residual), "quant": quant, "alpha": alpha}, out)


def rank_one(a):
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    x, y = u[:, 0] * s[0].sqrt(), vh[0, :] * s[0].sqrt()
    return (-x, -y) if x.sum() < 0 else (x, y)


def dual_svid_path(w, r):
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    up = u[:, :r] * s[:r].sqrt()
    vp = s[:r].sqrt()[:, None] * vh[:r, :]
    h, ell_u = rank_one(up.abs())
    ell_v, g = rank_one(vp.abs())
    ell = ell_u * ell_v
    return h[:, None] * sign(up) * ell[None, :] @ sign(vp) * g[None, :], h, g, ell


def dual_svid_case(path, gen, m, n, r, bpw, residual):
    q1, _ = torch.linalg.qr(torch.randn(m, m, generator=gen, dtype=torch.float64))
    q2, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    k = min(m, n)
    spectrum = torch.tensor([0.85 ** i for i in range(k)], dtype=torch.float64)
    w = q1[:, :k] * spectrum @ q2[:, :k].t()
    w_pri, h, g, ell = dual_svid_path(w, r)
    tensors = {"W": w, "W_pri": w_pri, "h": h, "g": g, "ell": ell}
    meta = {"kind": "dual_svid", "d_out": m, "d_in": n, "rank": r,
            "rel_err_primary": repr(((w - w_pri).norm() / w.norm()).item())}
    if bpw is not None:
        meta["bpw"] = bpw
    if residual:
        w_res, h_r, g_r, ell_r = dual_svid_path(w - w_pri, r)
        tensors.update({"W_res": w_res, "h_res": h_r, "g_res": g_r, "ell_res": ell_r})
        meta["rel_err_total"] = repr(((w - w_pri - w_res).norm() / w.norm()).item())
    write(path, meta, tensors)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=2025)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    gen = torch.Generator().manual_seed(args.seed)

    for i, (rows, cols) in enumerate([(1, 1), (3, 32), (5, 97), (2, 256), (17, 33)]):
        signs = sign(torch.randn(rows, cols, generator=gen)).to(torch.int8)
        write(os.path.join(args.out, f"pack_x{i}.safetensors"),
              {"kind": "pack", "rows": rows, "cols": cols}, {"signs": signs, "packed": pack_rows(signs)})

    rows = []
    shapes = [(576, 192), (192, 576), (1536, 576), (100, 37), (8192, 1024), (3000, 7001), (40, 40)]
    for a, b in shapes:
        for bpw in (0.05, 0.1, 0.25, 0.55, 0.8, 1.0, 1.7, 3.0):
            for residual in (0, 1):
                for ratio in (1.0, 2.0, 0.5):
                    r, actual = rank_rule(a, b, bpw, residual, ratio)
                    rows.append([a, b, bpw, residual, ratio, r, actual])
    # columns in another order than the shipped file: the checker must read the metadata
    order = ["rank", "in_features", "out_features", "target_bpw", "residual", "ratio_factor", "actual_bpw"]
    src = ["in_features", "out_features", "target_bpw", "residual", "ratio_factor", "rank", "actual_bpw"]
    table = torch.tensor([[row[src.index(c)] for c in order] for row in rows], dtype=torch.float64)
    write(os.path.join(args.out, "ranks_x.safetensors"), {"kind": "ranks", "columns": ",".join(order)}, {"table": table})

    linear_case(os.path.join(args.out, "linear_x0.safetensors"), gen, 21, 50, 3, 5, True, "smoothsign", 37.0)
    linear_case(os.path.join(args.out, "linear_x1.safetensors"), gen, 70, 9, 12, 2, False, "ste", 100.0)
    linear_case(os.path.join(args.out, "linear_x2.safetensors"), gen, 64, 129, 8, 1, True, "ste", 100.0)
    linear_case(os.path.join(args.out, "linear_x3.safetensors"), gen, 1, 65, 1, 7, False, "smoothsign", 100.0)

    dual_svid_case(os.path.join(args.out, "dualsvid_x0.safetensors"), gen, 48, 80, 4, None, True)
    dual_svid_case(os.path.join(args.out, "dualsvid_x1.safetensors"), gen, 90, 60, 8, 1.0, False)


if __name__ == "__main__":
    main()
