// examples/llm/hf_names.hpp: Hugging Face names and row order of GGUF Llama tensors, for the
// official-layout export (quantize --official). Shared by the examples; not part of the library.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "littlebit/layer/packed_factorized_linear.hpp"

namespace llm {

/// GGUF rows of q/k are permuted for adjacent-pair RoPE (llama.cpp's conversion); Hugging Face
/// row h*hd + j*hd/2 + i is GGUF row h*hd + 2i + j. Returns the layer with its rows in HF order.
inline littlebit::PackedFactorizedLinear rows_to_hf(const littlebit::PackedFactorizedLinear& l, int heads, int hd) {
  std::vector<littlebit::PackedPath> paths;
  for (int p = 0; p < l.num_paths(); ++p) {
    littlebit::PackedPath q = l.path(p), o = q;
    for (int h = 0; h < heads; ++h)
      for (int j = 0; j < 2; ++j)
        for (int i = 0; i < hd / 2; ++i) {
          const littlebit::Index hf = h * hd + j * (hd / 2) + i, gg = h * hd + 2 * i + j;
          for (littlebit::Index c = 0; c < q.rank(); ++c) o.u_sign.set_bit(hf, c, q.u_sign.bit(gg, c));
          o.h[static_cast<std::size_t>(hf)] = q.h[static_cast<std::size_t>(gg)];
        }
    paths.push_back(std::move(o));
  }
  return littlebit::PackedFactorizedLinear(paths, l.bias());
}

/// GGUF name -> Hugging Face Llama name.
inline std::string hf_name(const std::string& gguf) {
  static const std::vector<std::pair<std::string, std::string>> map = {
      {"attn_q", "self_attn.q_proj"},   {"attn_k", "self_attn.k_proj"},       {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"},     {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"},    {"attn_norm", "input_layernorm"},     {"ffn_norm", "post_attention_layernorm"}};
  if (gguf == "token_embd.weight") return "model.embed_tokens.weight";
  if (gguf == "output_norm.weight") return "model.norm.weight";
  if (gguf == "output.weight") return "lm_head.weight";
  if (gguf.rfind("blk.", 0) == 0) {
    const auto dot = gguf.find('.', 4);
    const std::string layer = gguf.substr(4, dot - 4), rest = gguf.substr(dot + 1);
    for (const auto& [g, h] : map)
      if (rest == g || rest.rfind(g + ".", 0) == 0) return "model.layers." + layer + "." + h + rest.substr(g.size());
  }
  return gguf;
}

}  // namespace llm
