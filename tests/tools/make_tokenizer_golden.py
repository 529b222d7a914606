#!/usr/bin/env python3
"""Golden token ids for examples/llm/tokenizer.hpp, from the Python `tokenizers` package (Hugging
Face's Rust BPE) built from the same vocabulary and merges as SmolLM2's GGUF. Run once; outputs
are committed:

    pip install gguf tokenizers
    python3 tests/tools/make_tokenizer_golden.py MODEL.gguf DATA_DIR/text tests/data/tokenizer

Writes vocab.gguf (only the tokenizer.* metadata of the model, no tensors: what the tokenizer
reads) and golden.jsonl ({"text": ..., "ids": [...]} per line): the first lines of every prepared
corpus (docs/data.md) and hand-picked edge cases (digits, contractions, whitespace runs, accents,
CJK, emoji, special tokens).
"""
import json
import sys

import gguf
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

model, text_dir, out = sys.argv[1:]
r = gguf.GGUFReader(model)


def strings(name):
    f = r.fields[name]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


tokens = strings("tokenizer.ggml.tokens")
merges = strings("tokenizer.ggml.merges")
types = [int(r.fields["tokenizer.ggml.token_type"].parts[i][0]) for i in r.fields["tokenizer.ggml.token_type"].data]
assert r.fields["tokenizer.ggml.pre"].parts[-1].tobytes().decode() == "smollm"

tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=[tuple(m.split(" ", 1)) for m in merges]))
tok.pre_tokenizer = pre_tokenizers.Sequence(
    [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
tok.decoder = decoders.ByteLevel()
tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == 3])

w = gguf.GGUFWriter(f"{out}/vocab.gguf", arch="llama")
w.add_tokenizer_model("gpt2")
w.add_tokenizer_pre("smollm")
w.add_token_list(tokens)
w.add_token_merges(merges)
w.add_token_types(types)
w.add_bos_token_id(1)
w.add_eos_token_id(2)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()

lines = []
for name, count in (("wiki_eval.txt", 120), ("c4_eval.txt", 40), ("tiny_train.txt", 40), ("bible_eval.txt", 40)):
    got = [l for l in open(f"{text_dir}/{name}", encoding="utf-8").read().split("\n") if l.strip()][:count]
    lines += [l[:600] for l in got]
lines += [
    "", " ", "  leading and trailing  ", "a\n\nb\n", "tabs\tand\r\nwindows", "1234567890", "pi is 3.14159, e 2.718",
    "I'll we've they'd she's it's you're I'm", "'s 'S 'LL", "naïve café résumé Ærøskøbing", "日本語のテキストです。",
    "emoji 🙂👍🏽 and ½ ² Ⅻ ٣", "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n", "a<|endoftext|>b",
    "x" * 300, "    def f(x):\n        return x  # comment\n", "Ġ literally", "\u00a0nbsp\u2003em space",
]
with open(f"{out}/golden.jsonl", "w", encoding="utf-8") as f:
    for l in lines:
        ids = tok.encode(l).ids
        assert tok.decode(ids, skip_special_tokens=False) == l, l
        f.write(json.dumps({"text": l, "ids": ids}, ensure_ascii=False) + "\n")
print(f"{len(lines)} lines, vocab {len(tokens)}, merges {len(merges)}")
