#!/usr/bin/env python3
"""The official LittleBit QAT math in PyTorch autograd, independent of littlebit's trainer, checked
against the numbers tests/examples/train_dump wrote:

    train_reference.py MODEL.gguf DUMP.safetensors

From the dump's init (Dual-SVID, exact SVD, rounded to float) and its token batches, this builds
the official student (every projection ((((x v2) sign(V)^T) (v1 u2)) sign(U)^T) u1, primary +
residual, sign with SmoothSign's backward alpha (1 - tanh(alpha z)^2), alpha = 100; RMSNorm gains
trainable; embedding and tied head frozen), the dense teacher from the GGUF (weights dequantized
by the `gguf` package), and the official loss: kl_div(log_softmax(student), softmax(teacher),
"batchmean") + lambda * sum over hidden_states[1:] of mse_loss. It runs it twice, in float64 and
in float32, with torch.optim.AdamW (0.9, 0.999, 1e-8, no decay), clip_grad_norm_(1.0) and the
cosine schedule with warm-up (first update at lr 0), and checks:

  1. littlebit in double against PyTorch in float64: the loss and every gradient tensor agree to
     1e-9 relative (norm-wise per tensor). Both compute the same sums in double over at most
     ~5e4 terms (the vocabulary): rounding is ~1e-12 relative; 1e-9 leaves room for the
     conditioning of 2 blocks and is far below any wrong term.
  2. littlebit in float against PyTorch in float64 within 8 x the distance of PyTorch's own
     float32 run from float64, tensor by tensor (floor 1e-6): an independent float32 computation
     of the same math measures what float32 rounding does to each quantity; 8x allows for other
     summation orders (BLAS blocking, the lookup kernels' table sums).
  3. The losses of every optimizer step: double within 1e-9 relative of float64; float within
     8 x PyTorch float32's distance from float64 (floor 1e-5 relative: once AdamW has stepped, a
     latent within one step of 0 may flip sign in one precision and not the other).
Prints the measured figures; exits 1 naming the first quantity outside its bound. Fails (exit 1),
naming the module, when torch, numpy or gguf is missing.
"""
import json
import math
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import gguf
except ImportError as e:
    sys.exit(f"FAIL: {sys.executable} cannot import {e.name}: needs python3-torch, python3-numpy (scripts/setup.sh) "
             f"and gguf (scripts/fetch_data.sh, on PYTHONPATH)")


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    h = json.loads(data[8:8 + n])
    meta = h.pop("__metadata__", {})
    dt = {"F64": "<f8", "I64": "<i8", "F32": "<f4"}
    out = {k: np.frombuffer(data[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]], dtype=dt[e["dtype"]]).reshape(e["shape"])
           for k, e in h.items()}
    return out, meta


class SmoothSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))

    @staticmethod
    def backward(ctx, g):
        z, = ctx.saved_tensors
        return g * 100.0 * (1 - torch.tanh(100.0 * z) ** 2)


PROJ = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
BLOCKS = ["U", "V", "u1", "u2", "v1", "v2"]


def run(dtype, W, cfg, dump, meta):
    nh, nkv, eps, base, L = cfg["nh"], cfg["nkv"], cfg["eps"], cfg["base"], meta["layers"]
    d = W["token_embd.weight"].shape[1]
    hd = d // nh
    B, T, steps = meta["batch"], meta["seq"], meta["steps"]
    lam = meta["lambda"]
    t = lambda a: torch.tensor(np.asarray(a, dtype=np.float64), dtype=dtype)
    E = t(W["token_embd.weight"])
    teacher = {k: t(v) for k, v in W.items()}
    params = {}
    for k, v in dump.items():
        if k.startswith("init."):
            params[k[5:]] = torch.nn.Parameter(t(v))
    inv = base ** (-2.0 * np.arange(hd // 2) / hd)
    ang = np.arange(T)[:, None] * inv
    cos, sin = t(np.cos(ang)), t(np.sin(ang))

    def rms(x, w):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w

    def rope(x, heads):  # adjacent pairs (GGUF row order)
        x = x.view(B, T, heads, hd // 2, 2)
        a, b = x[..., 0], x[..., 1]
        c, s = cos[None, :, None, :], sin[None, :, None, :]
        return torch.stack([a * c - b * s, a * s + b * c], -1).reshape(B, T, heads * hd)

    mask = torch.triu(torch.full((T, T), float("-inf"), dtype=dtype), 1)

    def attn(q, k, v):
        q = q.view(B, T, nh, hd).transpose(1, 2)
        k = k.view(B, T, nkv, hd).transpose(1, 2).repeat_interleave(nh // nkv, dim=1)
        v = v.view(B, T, nkv, hd).transpose(1, 2).repeat_interleave(nh // nkv, dim=1)
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1)
        return (p @ v).transpose(1, 2).reshape(B, T, nh * hd)

    def little(x, name):
        y = 0
        for sfx in ["", "_R"]:
            P = {b: params[f"{name}.{b}{sfx}"] for b in BLOCKS}
            y = y + ((((x * P["v2"]) @ SmoothSign.apply(P["V"]).t()) * (P["v1"] * P["u2"])) @ SmoothSign.apply(P["U"]).t()) * P["u1"]
        return y

    def forward(tokens, lin, norm):
        x = E[tokens]
        hidden = []
        for l in range(L):
            p = f"blk.{l}."
            a = rms(x, norm(l, 0))
            q, k, v = rope(lin(a, p + "attn_q"), nh), rope(lin(a, p + "attn_k"), nkv), lin(a, p + "attn_v")
            h = x + lin(attn(q, k, v), p + "attn_output")
            a = rms(h, norm(l, 1))
            x = h + lin(F.silu(lin(a, p + "ffn_gate")) * lin(a, p + "ffn_up"), p + "ffn_down")
            if l < L - 1:
                hidden.append(x)
        y = rms(x, norm(L, 0))
        hidden.append(y)
        return y @ E.t(), hidden

    def t_lin(x, name):
        return x @ teacher[name + ".weight"].t()

    def t_norm(l, i):
        return teacher["output_norm.weight"] if l == L else teacher[f"blk.{l}." + ("attn_norm" if i == 0 else "ffn_norm") + ".weight"]

    def s_norm(l, i):
        return params["norms"][(2 * l + i) * d:(2 * l + i + 1) * d]

    opt = torch.optim.AdamW(list(params.values()), lr=meta["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    warm = math.ceil(meta["warmup_ratio"] * steps)

    def sched(s):
        if s < warm:
            return s / max(1, warm)
        return max(0.0, 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm))))

    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, sched)
    losses, grads = [], None
    for s in range(steps):
        tokens = torch.tensor(dump["tokens"][s].astype(np.int64))
        with torch.no_grad():
            zt, ht = forward(tokens, t_lin, t_norm)
        zs, hs = forward(tokens, little, s_norm)
        kl = F.kl_div(F.log_softmax(zs, -1), F.softmax(zt, -1), reduction="batchmean")
        mse = sum(F.mse_loss(a, b) for a, b in zip(hs, ht))
        loss = kl + lam * mse
        opt.zero_grad()
        loss.backward()
        losses.append(loss.item())
        if s == 0:
            grads = {k: p.grad.detach().to(torch.float64).numpy().copy() for k, p in params.items()}
            first = (kl.item(), mse.item())
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()
        lr_sched.step()
    return losses, grads, first


def rel(a, b):
    nb = np.linalg.norm(b)
    return np.linalg.norm(a - b) / nb if nb > 0 else np.linalg.norm(a - b)


def main():
    model, path = sys.argv[1:]
    dump, m = read_safetensors(path)
    meta = json.loads(m["dump"])
    r = gguf.GGUFReader(model)
    f = r.fields

    def field(k):
        fld = f[k]
        return fld.parts[fld.data[0]][0]

    cfg = {"nh": int(field("llama.attention.head_count")), "nkv": int(field("llama.attention.head_count_kv")),
           "eps": float(field("llama.attention.layer_norm_rms_epsilon")), "base": float(field("llama.rope.freq_base"))}
    keep = ["token_embd.weight", "output_norm.weight"] + [f"blk.{l}." for l in range(meta["layers"])]
    W = {}
    for tn in r.tensors:
        if any(tn.name == k or (k.endswith(".") and tn.name.startswith(k)) for k in keep):
            W[tn.name] = gguf.quants.dequantize(tn.data, tn.tensor_type).astype(np.float64).reshape([int(s) for s in reversed(tn.shape)])
    torch.set_num_threads(2)
    l64, g64, first64 = run(torch.float64, W, cfg, dump, meta)
    l32, g32, _ = run(torch.float32, W, cfg, dump, meta)
    bad = []

    # 1. double against float64
    rl = abs(meta["losses64"][0] - l64[0]) / abs(l64[0])
    print(f"step-0 loss: PyTorch float64 {l64[0]:.12g} (KL {first64[0]:.8g}, MSE sum {first64[1]:.8g}); "
          f"littlebit double {meta['losses64'][0]:.12g} (rel {rl:.2e}); littlebit float {meta['losses32'][0]:.10g}")
    if not rl <= 1e-9:
        bad.append(f"double loss differs by {rl:.3e} relative")
    worst64, worst32 = (0.0, ""), (0.0, "")
    for k in g64:
        e = rel(dump["grad64." + k], g64[k])
        if e > worst64[0]:
            worst64 = (e, k)
        if not e <= 1e-9:
            bad.append(f"double gradient of {k} differs by {e:.3e} relative")
        # 2. float against float64, bounded by PyTorch float32's own distance
        e32, ref = rel(dump["grad32." + k].astype(np.float64), g64[k]), rel(g32[k], g64[k])
        bound = max(8 * ref, 1e-6)
        if e32 / bound > worst32[0]:
            worst32 = (e32 / bound, f"{k}: littlebit float {e32:.2e}, PyTorch float32 {ref:.2e}")
        if not e32 <= bound:
            bad.append(f"float gradient of {k} differs by {e32:.3e} relative (bound {bound:.3e})")
    print(f"gradients: {len(g64)} tensors; double worst {worst64[0]:.2e} ({worst64[1]}); float worst {worst32[0]:.3f} of its bound ({worst32[1]})")
    # 3. the losses of every step
    for s in range(meta["steps"]):
        e64 = abs(meta["losses64"][s] - l64[s]) / abs(l64[s])
        e32, ref = abs(meta["losses32"][s] - l64[s]) / abs(l64[s]), abs(l32[s] - l64[s]) / abs(l64[s])
        print(f"step {s}: loss PyTorch float64 {l64[s]:.10g} float32 {l32[s]:.10g}; littlebit double {meta['losses64'][s]:.10g} "
              f"(rel {e64:.1e}) float {meta['losses32'][s]:.10g} (rel {e32:.1e})")
        if not e64 <= 1e-9:
            bad.append(f"step {s}: double loss differs by {e64:.3e} relative")
        if not e32 <= max(8 * ref, 1e-5):
            bad.append(f"step {s}: float loss differs by {e32:.3e} relative (bound {max(8 * ref, 1e-5):.3e})")
    if bad:
        print("FAIL: " + "; ".join(bad[:8]) + (f" (and {len(bad) - 8} more)" if len(bad) > 8 else ""))
        sys.exit(1)
    print("PASS: littlebit's trainer follows the official math in PyTorch autograd")


if __name__ == "__main__":
    main()
