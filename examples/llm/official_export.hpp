// examples/llm/official_export.hpp: a model's packed layers in the official LittleBit state-dict
// layout (io/official_linear.hpp) with Hugging Face names, q/k rows back in Hugging Face order,
// next to the checkpoint's dense tensors; written by quantize and train (--official).
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "littlebit/io/checkpoint.hpp"
#include "littlebit/io/official_linear.hpp"
#include "littlebit/io/safetensors.hpp"
#include "llm/hf_names.hpp"
#include "llm/model.hpp"

namespace llm {

/// Writes `path` atomically: every dense tensor of checkpoint `ck` and the `layers` (GGUF name,
/// packed layer); the metadata names the head size and head counts the q/k row order depends on.
inline void write_official(const littlebit::io::Checkpoint& ck, const LlamaConfig& cfg,
                           const std::vector<std::pair<std::string, const littlebit::PackedFactorizedLinear*>>& layers,
                           const std::string& path, const std::string& source) {
  littlebit::io::SafetensorsBuilder ob;
  for (const auto& name : ck.dense_names()) ob.add(hf_name(name), ck.dense(name), ck.dense_tensor(name).shape);
  for (const auto& [name, packed] : layers) {
    const bool qk = cfg.rope_adjacent && (name.ends_with(".attn_q") || name.ends_with(".attn_k"));
    const int heads = name.ends_with(".attn_q") ? cfg.n_head : cfg.n_head_kv;
    const auto layer = qk ? rows_to_hf(*packed, heads, cfg.head_dim) : *packed;
    littlebit::io::add_official_linear(ob, hf_name(name), littlebit::io::to_official(layer));
  }
  ob.write(path, {{"format", "littlebit-official-model"},
                  {"source", source},
                  {"head_dim", std::to_string(cfg.head_dim)},
                  {"num_attention_heads", std::to_string(cfg.n_head)},
                  {"num_key_value_heads", std::to_string(cfg.n_head_kv)},
                  {"qk_row_order", "huggingface"}});
  std::printf("official layout: %s (%.3f MB)\n", path.c_str(), static_cast<double>(std::filesystem::file_size(path)) / 1e6);
}

}  // namespace llm
