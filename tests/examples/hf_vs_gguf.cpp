// The Hugging Face input (examples/llm/hf.hpp) against the GGUF input of the same weights: a
// directory written from the GGUF by tests/tools/make_hf_model.py (F32 weights = the GGUF's
// dequantized values, q/k rows in Hugging Face order, tokenizer.json) must give the same token ids
// and, in double, the same logits up to rounding (rope on halves of HF rows is the same rotation
// as rope on adjacent pairs of GGUF rows; only summation orders differ): max |diff| <= 1e-9 of the
// largest logit, as for the NumPy cross-check.
//   hf_vs_gguf MODEL.gguf HF_DIR
#include <cstdio>

#include "llm/hf.hpp"
#include "llm/model.hpp"
#include "llm/tokenizer.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL.gguf HF_DIR\n", argv[0]);
    return 2;
  }
  try {
    const auto f = littlebit::io::GgufFile::open(argv[1]);
    const auto hf = llm::HfModel::open(argv[2]);
    const auto tok_g = llm::Tokenizer::from_gguf(f);
    const auto tok_h = hf.tokenizer();
    const std::string text = "The capital of France is Paris. It has 2,161,000 residents and <|im_start|>user";
    const auto ids = tok_g.encode(text);
    if (tok_h.encode(text) != ids || tok_h.spec().merges != tok_g.spec().merges || tok_h.bos() != tok_g.bos() ||
        tok_h.eos() != tok_g.eos()) {
      std::printf("FAIL: the tokenizers differ\n");
      return 1;
    }
    const auto blocks = hf.config().n_layer;
    using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const MatD a = llm::LlamaModel<double>::from_gguf(f, blocks).forward(ids);
    const MatD b = llm::LlamaModel<double>::from_hf(hf).forward(ids);
    const double scale = a.cwiseAbs().maxCoeff(), diff = (a - b).cwiseAbs().maxCoeff();
    std::printf("%zu tokens, %d blocks: max |logit| %.3f, GGUF vs Hugging Face input %.3g (bound %.3g)\n", ids.size(), blocks,
                scale, diff, 1e-9 * scale);
    if (!(diff <= 1e-9 * scale)) return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hf_vs_gguf: %s\n", e.what());
    return 1;
  }
  return 0;
}
