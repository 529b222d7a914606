#!/usr/bin/env python3
"""An independent float64 NumPy forward of a Llama GGUF model (weights dequantized by the `gguf`
package), checked against littlebit's examples/llm/model.hpp:

    llama_reference.py MODEL.gguf LOGITS.safetensors

LOGITS.safetensors (written by tests/examples/llm_logits) holds `tokens` (I64) and `logits` (F64,
littlebit's LlamaModel<double>). Both sides compute in double from the same dequantized weights,
so they agree to rounding: the check is max |diff| <= 1e-9 * max |logit| (float64 rounding over
30 layers of sums of at most 1536 terms is ~1e-12 relative; 1e-9 leaves room for the different
summation orders of NumPy's BLAS and Eigen, and is far below any real discrepancy, which shows
at 1e-3 and up). Fails (exit 1), naming the module, when numpy or gguf is missing.
"""
import json
import struct
import sys

try:
    import numpy as np
    import gguf
except ImportError as e:
    sys.exit(f"FAIL: {sys.executable} cannot import {e.name}: needs python3-numpy (scripts/setup.sh) and gguf (scripts/fetch_data.sh, on PYTHONPATH)")


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    h = json.loads(data[8:8 + n])
    h.pop("__metadata__", None)
    dt = {"F64": "<f8", "I64": "<i8", "F32": "<f4"}
    return {k: np.frombuffer(data[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]], dtype=dt[e["dtype"]]).reshape(e["shape"])
            for k, e in h.items()}


def main():
    model, path = sys.argv[1:]
    io = read_safetensors(path)
    tokens, want = io["tokens"].astype(np.int64), io["logits"]
    r = gguf.GGUFReader(model)
    f = r.fields

    def meta(k):
        fld = f[k]
        v = fld.parts[fld.data[0]]
        return v.tobytes().decode() if fld.types[0] == gguf.GGUFValueType.STRING else v[0]

    W = {t.name: gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64).reshape([int(s) for s in reversed(t.shape)])
         for t in r.tensors}
    n_layer = int(meta("llama.block_count"))
    nh, nkv = int(meta("llama.attention.head_count")), int(meta("llama.attention.head_count_kv"))
    eps, base = float(meta("llama.attention.layer_norm_rms_epsilon")), float(meta("llama.rope.freq_base"))
    d = W["token_embd.weight"].shape[1]
    hd = d // nh

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    T = len(tokens)
    pos = np.arange(T)[:, None]
    inv = base ** (-2.0 * np.arange(hd // 2) / hd)
    cos, sin = np.cos(pos * inv), np.sin(pos * inv)

    def rope(x, heads):
        x = x.reshape(T, heads, hd // 2, 2)
        a, b = x[..., 0], x[..., 1]
        c, s = cos[:, None, :], sin[:, None, :]
        return np.stack([a * c - b * s, a * s + b * c], -1).reshape(T, heads * hd)

    x = W["token_embd.weight"][tokens]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(n_layer):
        p = f"blk.{l}."
        if p + "attn_q.weight" not in W:
            break
        a = rms(x, W[p + "attn_norm.weight"])
        q, k, v = rope(a @ W[p + "attn_q.weight"].T, nh), rope(a @ W[p + "attn_k.weight"].T, nkv), a @ W[p + "attn_v.weight"].T
        out = np.zeros((T, d))
        for h in range(nh):
            g = h // (nh // nkv)
            s = q[:, h * hd:(h + 1) * hd] @ k[:, g * hd:(g + 1) * hd].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            out[:, h * hd:(h + 1) * hd] = (s / s.sum(-1, keepdims=True)) @ v[:, g * hd:(g + 1) * hd]
        x = x + out @ W[p + "attn_output.weight"].T
        b = rms(x, W[p + "ffn_norm.weight"])
        gt = b @ W[p + "ffn_gate.weight"].T
        x = x + (gt / (1 + np.exp(-gt)) * (b @ W[p + "ffn_up.weight"].T)) @ W[p + "ffn_down.weight"].T
    logits = rms(x, W["output_norm.weight"]) @ W.get("output.weight", W["token_embd.weight"]).T
    diff = np.abs(logits - want).max()
    scale = np.abs(logits).max()
    print(f"logits of {T} tokens: max |diff| {diff:.3g}, max |logit| {scale:.3g}, argmax agree "
          f"{(logits.argmax(-1) == want.argmax(-1)).mean():.3f}")
    sys.exit(0 if diff <= 1e-9 * scale else 1)


if __name__ == "__main__":
    main()
