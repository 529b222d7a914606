#!/usr/bin/env python3
"""Official LittleBit state-dict layout of one layer, written and read with PyTorch alone.

  official_layer.py make OUT_DIR    writes OUT_DIR/layer.safetensors (the layout of the official
                                    LittleBitLinear.state_dict(): BF16 scales shaped [1, k], int32
                                    packed signs, int64 shapes, the three buffers, a bias) and
                                    OUT_DIR/expected.safetensors (x and the float64 forward y)
  official_layer.py check DIR       reads DIR/layer.safetensors (written by littlebit) and
                                    DIR/io.safetensors (x, littlebit's y), unpacks the signs with
                                    its own code and checks y against the official formula

The packer and the safetensors codec here are this script's own (the layout is documented in
docs/format.md), so the C++ reader and writer are checked against an independent implementation.
Fails (exit 1), naming the module, when torch is missing.
"""
import json
import struct
import sys

try:
    import torch
except ImportError as e:
    sys.exit(f"FAIL: {sys.executable} cannot import {e.name}: needs python3-torch (scripts/setup.sh)")

PREFIX = "model.layers.0.mlp.up_proj"
DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8}
NAMES = {v: k for k, v in DTYPES.items()}


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        raw = bytearray(data[8 + n + b:8 + n + en])
        t = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
        out[name] = t.view(DTYPES[e["dtype"]]).reshape(e["shape"])
    return out, meta


def pack(signs):
    """+1/-1 (rows x cols) -> int32 words, LSB first, -1 -> bit 1, padded with +1."""
    rows, cols = signs.shape
    words = (cols + 31) // 32
    bits = torch.zeros(rows, words * 32, dtype=torch.int64)
    bits[:, :cols] = (signs < 0).to(torch.int64)
    value = (bits.reshape(rows, words, 32) << torch.arange(32)).sum(-1)  # 0 .. 2^32 - 1
    value = torch.where(value >= 2**31, value - 2**32, value)
    return value.to(torch.int32)


def unpack(words, rows, cols):
    w = words.to(torch.int64) & 0xFFFFFFFF
    bits = (w.unsqueeze(-1) >> torch.arange(32)) & 1
    bits = bits.reshape(rows, -1)
    assert bool((bits[:, cols:] == 0).all()), "padding bits set"
    return 1.0 - 2.0 * bits[:, :cols].to(torch.float64)


def forward(x, paths, bias):
    y = 0
    for U, V, u1, u2, v1, v2 in paths:
        y = y + ((((x * v2) @ V.t()) * (v1 * u2)) @ U.t()) * u1
    return y + (bias if bias is not None else 0)


def make(out_dir):
    g = torch.Generator().manual_seed(20251124)
    m, n, r = 48, 80, 40  # r and n not multiples of 32: padded words
    sd, paths = {}, []
    for sfx in ("", "_R"):
        U = torch.where(torch.rand(m, r, generator=g) < 0.5, -1.0, 1.0)
        V = torch.where(torch.rand(r, n, generator=g) < 0.5, -1.0, 1.0)
        scales = [(torch.rand(1, k, generator=g) * 0.2 + 0.01).to(torch.bfloat16) for k in (m, r, r, n)]
        sd[f"{PREFIX}.U{sfx}_packed"] = pack(U)
        sd[f"{PREFIX}.U{sfx}_shape"] = torch.tensor([m, r], dtype=torch.int64)
        sd[f"{PREFIX}.V{sfx}_packed"] = pack(V)
        sd[f"{PREFIX}.V{sfx}_shape"] = torch.tensor([r, n], dtype=torch.int64)
        for name, s in zip(("u1", "u2", "v1", "v2"), scales):
            sd[f"{PREFIX}.{name}{sfx}"] = s
        paths.append((U.double(), V.double()) + tuple(s.double() for s in scales))
    bias = (torch.rand(m, generator=g) - 0.5).to(torch.bfloat16)
    sd[f"{PREFIX}.bias"] = bias
    sd[f"{PREFIX}._eff_bit_target"] = torch.tensor(1.0)
    sd[f"{PREFIX}._split_dim_final"] = torch.tensor(r)
    sd[f"{PREFIX}._eff_bit_actual"] = torch.tensor((r * 2 * (m + n + 16) + 32 * (m + n)) / (m * n))
    write_safetensors(f"{out_dir}/layer.safetensors", sd, {"format": "pt"})
    x = (torch.rand(3, n, generator=g) * 2 - 1).float()
    y = forward(x.double(), paths, bias.double())
    write_safetensors(f"{out_dir}/expected.safetensors", {"x": x, "y": y}, {"prefix": PREFIX})


def check(d):
    sd, _ = read_safetensors(f"{d}/layer.safetensors")
    io, _ = read_safetensors(f"{d}/io.safetensors")
    x, y = io["x"].double(), io["y"].double()
    paths, mags = [], []
    for sfx in ("", "_R"):
        if f"U{sfx}_packed" not in sd:
            continue
        m, r = sd[f"U{sfx}_shape"].tolist()
        r2, n = sd[f"V{sfx}_shape"].tolist()
        assert r == r2, "U and V ranks differ"
        U, V = unpack(sd[f"U{sfx}_packed"], m, r), unpack(sd[f"V{sfx}_packed"], r, n)
        s = [sd[f"{k}{sfx}"].double() for k in ("u1", "u2", "v1", "v2")]
        for t, k in zip(s, (m, r, r, n)):
            assert tuple(t.shape) == (1, k), f"scale shape {tuple(t.shape)}, expected (1, {k})"
        paths.append((U, V, *s))
        mags.append((U.abs(), V.abs(), *[t.abs() for t in s]))
    bias = sd["bias"].double() if "bias" in sd else None
    want = forward(x, paths, bias)
    # littlebit's float kernel: within gamma_D * M of the exact value, M on magnitudes.
    depth = x.shape[1] + paths[0][0].shape[1] + want.shape[1] + 10
    u = 2.0 ** -24
    mag = forward(x.abs(), mags, bias.abs() if bias is not None else None)
    bound = depth * u / (1 - depth * u) * mag + 1e-300
    ratio = ((y - want).abs() / bound).max().item()
    print(f"official forward of littlebit's file: worst |diff| / bound = {ratio:.3g}")
    if ratio > 1:
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "check"):
        print(__doc__)
        sys.exit(2)
    (make if sys.argv[1] == "make" else check)(sys.argv[2])
