// examples/llm/load.hpp: a model and its tokenizer from either file the examples take: a GGUF
// model (dense) or a littlebit checkpoint written by `quantize` (recognized by its first bytes).
#pragma once

#include <cstring>
#include <fstream>
#include <string>

#include "littlebit/io/checkpoint.hpp"
#include "littlebit/io/gguf.hpp"
#include "llm/model.hpp"
#include "llm/tokenizer.hpp"

namespace llm {

struct LoadedModel {
  LlamaModel<float> model;
  Tokenizer tokenizer;
  std::string kind;  // "dense GGUF" or "littlebit checkpoint, N packed layers"
};

inline LoadedModel load_model(const std::string& path,
                              littlebit::kernels::Precision precision = littlebit::kernels::Precision::kExact) {
  std::ifstream in(path, std::ios::binary);
  if (!in) littlebit::detail::fail(path, ": cannot open");
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0) {
    const auto f = littlebit::io::GgufFile::open(path);
    return {LlamaModel<float>::from_gguf(f), Tokenizer::from_gguf(f), "dense GGUF"};
  }
  const auto ck = [&] {
    try {
      return littlebit::io::Checkpoint::open(path);
    } catch (const littlebit::Error& e) {
      littlebit::detail::fail("neither a GGUF model nor a littlebit checkpoint: ", e.what());
    }
  }();
  const auto tok = ck.metadata_value("llm.tokenizer");
  if (!tok) littlebit::detail::fail(path, ": checkpoint metadata has no 'llm.tokenizer' (not written by quantize?)");
  return {LlamaModel<float>::from_checkpoint(ck, -1, precision), Tokenizer::from_json(*tok, path),
          "littlebit checkpoint, " + std::to_string(ck.layer_names().size()) + " packed layers"};
}

}  // namespace llm
