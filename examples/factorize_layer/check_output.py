#!/usr/bin/env python3
"""Reads factorize_layer's packed output (official LittleBit layout) independently with PyTorch and
checks it against the golden Dual-SVID file it came from.

    check_output.py PACKED.safetensors GOLDEN.safetensors

Unpacks U_packed / V_packed (int32 words, row-major, least significant bit first, bit 1 = -1),
rebuilds W_pri = diag(u1) sign(U) diag(u2 v1) sign(V) diag(v2) (and W_res from the _R names) from
the FP16 scales, and requires:
  * shapes and metadata consistent (U_shape, V_shape, rank, out/in features);
  * W_pri and W_res equal the golden reconstructions within the FP16 rounding bound
    |dW_ij| <= delta * sum_k |u1_i u2_k v1_k v2_j|, delta = (1 + 2^-11)^4 - 1 (four rounded factors),
    plus 1e-6 relative (the exact-SVD tolerance of the golden check);
  * the total error of the file's layer equals the reported rel_err_total within the same bound.
"""
import json
import struct
import sys

import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "I32": torch.int32, "I64": torch.int64}
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        buf = bytearray(raw[8 + n + a:8 + n + b])
        t = torch.frombuffer(buf, dtype=dtypes[h["dtype"]]) if b > a else torch.empty(0, dtype=dtypes[h["dtype"]])
        out[name] = t.reshape(h["shape"])
    return out, meta


def unpack(words, rows, cols):
    w = words.to(torch.int64) & 0xFFFFFFFF  # as uint32
    bits = (w.unsqueeze(-1) >> torch.arange(32)) & 1  # rows x words x 32, LSB first
    bits = bits.reshape(rows, -1)[:, :cols]
    return 1.0 - 2.0 * bits.to(torch.float64)


def path(t, sfx):
    # The official module's names: U_packed / U_R_packed, u1 / u1_R, scales shaped [1, k].
    m, r = t[f"U{sfx}_shape"].tolist()
    r2, n = t[f"V{sfx}_shape"].tolist()
    assert r == r2, f"U{sfx}_shape and V{sfx}_shape disagree on the rank"
    assert tuple(t[f"U{sfx}_packed"].shape) == (m, (r + 31) // 32), "U_packed shape"
    assert tuple(t[f"V{sfx}_packed"].shape) == (r, (n + 31) // 32), "V_packed shape"
    su, sv = unpack(t[f"U{sfx}_packed"], m, r), unpack(t[f"V{sfx}_packed"], r, n)
    for k, size in zip(("u1", "u2", "v1", "v2"), (m, r, r, n)):
        assert tuple(t[k + sfx].shape) == (1, size), f"{k}{sfx} shape {tuple(t[k + sfx].shape)}, expected (1, {size})"
    u1, u2, v1, v2 = (t[k + sfx].to(torch.float64).reshape(-1) for k in ("u1", "u2", "v1", "v2"))
    w = (u1[:, None] * su * (u2 * v1)[None, :]) @ (sv * v2[None, :])
    bound = (u1.abs()[:, None] * (u2 * v1).abs()[None, :]) @ (torch.ones_like(sv) * v2.abs()[None, :])
    return w, bound, r


def main():
    packed, meta = read_safetensors(sys.argv[1])
    golden, gmeta = read_safetensors(sys.argv[2])
    delta = (1 + 2.0 ** -11) ** 4 - 1
    w = golden["W"].to(torch.float64)
    pri, bound_pri, r = path(packed, "")
    assert r == int(meta["rank"]) == int(float(gmeta["rank"])), "rank"
    assert tuple(w.shape) == (int(meta["out_features"]), int(meta["in_features"])), "shape"
    worst = 0.0

    def close(name, ours, want, bound):
        nonlocal worst
        diff = (ours - want).norm().item()
        allowed = delta * bound.norm().item() + 1e-6 * want.norm().item()
        worst = max(worst, diff / allowed)
        assert diff <= allowed, f"{name}: differs by {diff:.3g}, bound {allowed:.3g}"

    close("W_pri", pri, golden["W_pri"].to(torch.float64), bound_pri)
    total, bound = pri, bound_pri
    if meta["residual"] == "1":
        res, bound_res, _ = path(packed, "_R")
        close("W_res", res, golden["W_res"].to(torch.float64), bound_res)
        total, bound = pri + res, bound_pri + bound_res
    err = (w - total).norm().item()
    reported = float(meta["rel_err_total"]) * w.norm().item()
    allowed = delta * bound.norm().item() + 1e-6 * w.norm().item()
    assert abs(err - reported) <= allowed, f"total error {err:.6g} vs reported {reported:.6g} (bound {allowed:.3g})"
    print(f"packed layer: rank {r}, reconstructions within {worst:.3f} of the FP16 bound, "
          f"total error {err / w.norm().item():.6f} (reported {meta['rel_err_total']})")


if __name__ == "__main__":
    main()
