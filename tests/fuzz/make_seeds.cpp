// Writes seed inputs for the fuzz targets into DIR/{checkpoint,safetensors,tokenizer}: a small but
// complete checkpoint (a one-block Llama with packed layers, config and tokenizer metadata), a
// packed-layer file and a text with every kind of piece the tokenizer splits.
//   make_seeds DIR
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "littlebit/io/checkpoint.hpp"
#include "littlebit/io/packed_linear.hpp"
#include "llm/model.hpp"
#include "llm/tokenizer.hpp"

namespace {

littlebit::PackedFactorizedLinear layer(littlebit::Index m, littlebit::Index r, littlebit::Index n, int paths, unsigned seed) {
  std::vector<littlebit::PackedPath> ps;
  for (int p = 0; p < paths; ++p) {
    littlebit::PackedPath q{littlebit::BitMatrix(m, r), littlebit::BitMatrix(r, n), {}, {}, {}};
    for (littlebit::Index i = 0; i < m; ++i)
      for (littlebit::Index j = 0; j < r; ++j) q.u_sign.set_bit(i, j, (i * 7 + j * 3 + seed) % 5 < 2);
    for (littlebit::Index i = 0; i < r; ++i)
      for (littlebit::Index j = 0; j < n; ++j) q.v_sign.set_bit(i, j, (i * 5 + j + seed) % 3 == 0);
    for (littlebit::Index i = 0; i < m; ++i) q.h.push_back(littlebit::Float16(0.5f + 0.01f * static_cast<float>(i)));
    for (littlebit::Index i = 0; i < r; ++i) q.ell.push_back(littlebit::Float16(0.25f));
    for (littlebit::Index i = 0; i < n; ++i) q.g.push_back(littlebit::Float16(1.0f - 0.01f * static_cast<float>(i)));
    ps.push_back(std::move(q));
  }
  return littlebit::PackedFactorizedLinear(ps);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  for (const char* d : {"checkpoint", "safetensors", "tokenizer", "gguf"}) std::filesystem::create_directories(dir / d);

  llm::LlamaConfig c;
  c.n_layer = 1, c.d_model = 8, c.n_head = 2, c.n_head_kv = 1, c.d_ff = 16, c.vocab = 16, c.head_dim = 4;
  littlebit::io::CheckpointWriter w;
  std::vector<float> embd(16 * 8), norm(8, 1.0f);
  for (std::size_t i = 0; i < embd.size(); ++i) embd[i] = static_cast<float>(i % 7) * 0.1f - 0.3f;
  w.add_dense_as("token_embd.weight", embd, {16, 8}, littlebit::io::DType::kF16);
  w.add_dense_as("output_norm.weight", norm, {8}, littlebit::io::DType::kF32);
  w.add_dense_as("blk.0.attn_norm.weight", norm, {8}, littlebit::io::DType::kF32);
  w.add_dense_as("blk.0.ffn_norm.weight", norm, {8}, littlebit::io::DType::kBF16);
  unsigned seed = 0;
  for (const auto& info : llm::linear_layers(c)) w.add_layer(info.name, layer(info.out, 8, info.in, 2, seed++));
  w.set_metadata("llm.config", c.to_json());
  llm::Tokenizer::Spec s;
  s.pre = "smollm";
  for (const char* t : {"a", "b", "c", "ab", "abc", "Ġ", "<|im_start|>", "1", "2", "é"}) s.tokens.push_back(t);
  s.merges = {"a b", "ab c"};
  s.token_types = {1, 1, 1, 1, 1, 1, 3, 1, 1, 1};
  s.bos = 6;
  w.set_metadata("llm.tokenizer", llm::Tokenizer::from_spec(s, "seed").to_json());
  w.write(dir / "checkpoint" / "model.safetensors");

  littlebit::io::save_packed_linear(dir / "safetensors" / "packed_linear.safetensors", layer(12, 9, 17, 2, 3));

  std::ofstream(dir / "tokenizer" / "text.txt")
      << "Hello, world! It's 2,161,000 people... caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\n\t  spaces "
         "<|im_start|>user\nhi<|im_end|>";
  return 0;
}
