#!/usr/bin/env python3
"""Writes a GGUF Llama model (SmolLM2) as a Hugging Face model directory, to test littlebit's
safetensors input against the GGUF input of the same weights:

    make_hf_model.py MODEL.gguf OUT_DIR [BLOCKS]

OUT_DIR gets config.json (LlamaForCausalLM), model.safetensors (F32, Hugging Face names, the first
BLOCKS blocks, default 2) and tokenizer.json (BPE: vocab, merges, control tokens as special added
tokens, the Digits + ByteLevel pre-tokenizer SmolLM2 uses). Weights are the `gguf` package's
dequantization; q/k rows are put back in Hugging Face's order (the inverse of llama.cpp's
conversion permute: GGUF row h*hd + 2i + j <- HF row h*hd + j*hd/2 + i). Standard library, numpy
and gguf only (no torch, transformers or tokenizers). Fails (exit 1), naming the module, when numpy or gguf is missing.
"""
import json
import os
import struct
import sys

try:
    import numpy as np
    import gguf
except ImportError as e:
    sys.exit(f"FAIL: {sys.executable} cannot import {e.name}: needs python3-numpy (scripts/setup.sh) and gguf (scripts/fetch_data.sh, on PYTHONPATH)")


def field(r, key):
    f = r.fields[key]
    if f.types[0] == gguf.GGUFValueType.ARRAY:
        if f.types[1] == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        return [f.parts[i][0].item() for i in f.data]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode("utf-8")
    return f.parts[f.data[0]][0].item()


def unpermute(w, heads):
    rows, cols = w.shape
    hd = rows // heads
    # GGUF row h*hd + 2i + j holds HF row h*hd + j*hd/2 + i.
    return w.reshape(heads, hd // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def main():
    src, out = sys.argv[1], sys.argv[2]
    blocks = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    r = gguf.GGUFReader(src)
    tensors = {t.name: t for t in r.tensors}

    def weight(name):
        t = tensors[name]
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        return w.reshape([int(d) for d in reversed(t.shape)]) if w.ndim == 1 and len(t.shape) > 1 else w

    n_head, n_kv = field(r, "llama.attention.head_count"), field(r, "llama.attention.head_count_kv")
    embd = weight("token_embd.weight")
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": field(r, "llama.embedding_length"), "intermediate_size": field(r, "llama.feed_forward_length"),
        "num_hidden_layers": blocks, "num_attention_heads": n_head, "num_key_value_heads": n_kv,
        "rms_norm_eps": field(r, "llama.attention.layer_norm_rms_epsilon"), "rope_theta": field(r, "llama.rope.freq_base"),
        "vocab_size": int(embd.shape[0]), "tie_word_embeddings": "output.weight" not in tensors,
        "bos_token_id": field(r, "tokenizer.ggml.bos_token_id"), "eos_token_id": field(r, "tokenizer.ggml.eos_token_id"),
        "torch_dtype": "float32",
    }
    out_t = {"model.embed_tokens.weight": embd, "model.norm.weight": weight("output_norm.weight")}
    names = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
             "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
    for b in range(blocks):
        for g, h in names.items():
            w = weight(f"blk.{b}.{g}.weight")
            if g == "attn_q":
                w = unpermute(w, n_head)
            elif g == "attn_k":
                w = unpermute(w, n_kv)
            out_t[f"model.layers.{b}.{h}.weight"] = w
    os.makedirs(out, exist_ok=True)
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for k, v in out_t.items():
        b = np.ascontiguousarray(v, dtype="<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)

    tokens, merges = field(r, "tokenizer.ggml.tokens"), field(r, "tokenizer.ggml.merges")
    types = field(r, "tokenizer.ggml.token_type")
    tok = {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, t in enumerate(tokens) if types[i] == 3],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges},
    }
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    print(f"{out}: {blocks} blocks, {len(out_t)} tensors, vocabulary {len(tokens)}")


if __name__ == "__main__":
    main()
