// Writes littlebit's LlamaModel<double> logits of a short passage of the real model, for
// tests/tools/llama_reference.py to compare with an independent NumPy forward.
//   llm_logits MODEL.gguf OUT.safetensors
#include <cstdio>

#include "littlebit/io/safetensors.hpp"
#include "llm/model.hpp"
#include "llm/tokenizer.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL.gguf OUT.safetensors\n", argv[0]);
    return 2;
  }
  const auto f = littlebit::io::GgufFile::open(argv[1]);
  const auto tok = llm::Tokenizer::from_gguf(f);
  const auto ids = tok.encode("The capital of France is Paris. It has 2,161,000 residents and");
  const auto model = llm::LlamaModel<double>::from_gguf(f);
  const auto logits = model.forward(ids);
  std::vector<std::int64_t> t(ids.begin(), ids.end());
  std::vector<double> l(logits.data(), logits.data() + logits.size());
  littlebit::io::SafetensorsBuilder b;
  b.add("tokens", t, {static_cast<littlebit::Index>(t.size())});
  b.add("logits", l, {logits.rows(), logits.cols()});
  b.write(argv[2]);
  std::printf("%zu tokens; next token after the passage: '%s'\n", ids.size(),
              tok.decode(std::vector<int>{static_cast<int>(
                  [&] { Eigen::Index i; logits.row(logits.rows() - 1).maxCoeff(&i); return i; }())}).c_str());
  return 0;
}
