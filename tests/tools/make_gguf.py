#!/usr/bin/env python3
"""Writes tests/data/gguf/tiny.gguf with the `gguf` package (llama.cpp's own Python writer and
quantizers, an implementation independent of littlebit's reader) and tiny_expected.safetensors
holding every tensor dequantized by gguf.quants.dequantize, as F32 with the GGUF shape reversed
(PyTorch order). Run once; the outputs are committed:

    pip install gguf && python3 tests/tools/make_gguf.py tests/data/gguf
"""
import json
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

out = sys.argv[1]
rng = np.random.default_rng(20251124)
w = gguf.GGUFWriter(f"{out}/tiny.gguf", arch="llama")
# One value of every metadata type (the reader must parse them all).
w.add_uint8("test.u8", 200)
w.add_int8("test.i8", -100)
w.add_uint16("test.u16", 60000)
w.add_int16("test.i16", -30000)
w.add_uint32("test.u32", 4000000000)
w.add_int32("test.i32", -2000000000)
w.add_float32("test.f32", 0.15625)
w.add_bool("test.bool", True)
w.add_string("test.string", "héllo, wörld")
w.add_uint64("test.u64", 2**63 + 5)
w.add_int64("test.i64", -(2**62))
w.add_float64("test.f64", -1.0e300)
w.add_array("test.int_array", [1, -2, 3])
w.add_array("test.string_array", ["a", "", "Ġthe"])
w.add_block_count(2)
w.add_context_length(512)

expected = {}


def add(name, data, qtype):
    raw = gguf.quants.quantize(data, qtype) if qtype not in (T.F32,) else data
    w.add_tensor(name, raw, raw_dtype=qtype)
    expected[name] = gguf.quants.dequantize(raw, qtype).astype(np.float32) if qtype != T.F32 else data


add("f32", rng.standard_normal((3, 5)).astype(np.float32), T.F32)
add("f16", rng.standard_normal((7,)).astype(np.float32), T.F16)
add("bf16", rng.standard_normal((2, 9)).astype(np.float32), T.BF16)
add("q8_0", (rng.standard_normal((4, 64)) * 3).astype(np.float32), T.Q8_0)
add("q4_0", rng.standard_normal((3, 32)).astype(np.float32), T.Q4_0)
add("q4_1", (rng.standard_normal((2, 96)) + 0.5).astype(np.float32), T.Q4_1)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()

# safetensors by hand (no extra package): F32, shapes as numpy has them (PyTorch order).
header, blobs, offset = {}, [], 0
for name, a in expected.items():
    b = np.ascontiguousarray(a, dtype="<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
    blobs.append(b)
    offset += len(b)
text = json.dumps(header).encode()
text += b" " * ((8 - len(text) % 8) % 8)
with open(f"{out}/tiny_expected.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
print("wrote", f"{out}/tiny.gguf", f"{out}/tiny_expected.safetensors")
