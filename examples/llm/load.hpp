// examples/llm/load.hpp: a model and its tokenizer from any input the examples take: a GGUF
// model (dense), a Hugging Face model directory (dense safetensors + config.json +
// tokenizer.json; the directory or its model.safetensors), or a littlebit checkpoint written by
// `quantize` (safetensors whose metadata says so).
#pragma once

#include <cstring>
#include <fstream>
#include <string>

#include "littlebit/io/checkpoint.hpp"
#include "littlebit/io/gguf.hpp"
#include "llm/hf.hpp"
#include "llm/model.hpp"
#include "llm/tokenizer.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(LITTLEBIT_HAVE_OPENBLAS)
extern "C" void openblas_set_num_threads(int);
#endif

namespace llm {

/// Threads for Eigen's products, OpenBLAS (when Eigen's products go to it) and littlebit's
/// OpenMP kernels (n <= 0: leave OMP_NUM_THREADS and OpenBLAS's default).
inline void set_threads(int n) {
  if (n <= 0) return;
  Eigen::setNbThreads(n);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
#if defined(LITTLEBIT_HAVE_OPENBLAS)
  openblas_set_num_threads(n);
#endif
}

struct LoadedModel {
  LlamaModel<float> model;
  Tokenizer tokenizer;
  std::string kind;  // "dense GGUF", "dense Hugging Face safetensors" or "littlebit checkpoint, N packed layers"
};

/// `layers` >= 0: only the first that many blocks (a test setting).
inline LoadedModel load_model(const std::string& path,
                              littlebit::kernels::Precision precision = littlebit::kernels::Precision::kExact,
                              int layers = -1) {
  const auto hf = [&] {
    const auto m = HfModel::open(path);
    return LoadedModel{LlamaModel<float>::from_hf(m, layers), m.tokenizer(), "dense Hugging Face safetensors"};
  };
  if (std::filesystem::is_directory(path)) return hf();
  std::ifstream in(path, std::ios::binary);
  if (!in) littlebit::detail::fail(path, ": cannot open");
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0) {
    const auto f = littlebit::io::GgufFile::open(path);
    return {LlamaModel<float>::from_gguf(f, layers), Tokenizer::from_gguf(f), "dense GGUF"};
  }
  const auto open_checkpoint = [&] {
    try {
      return littlebit::io::Checkpoint::open(path);
    } catch (const littlebit::Error& e) {
      littlebit::detail::fail("neither a GGUF model, a Hugging Face model nor a littlebit checkpoint: ", e.what());
    }
  };
  {
    // A safetensors file that is not a checkpoint, next to a config.json: a Hugging Face model.
    std::optional<littlebit::io::SafetensorsFile> f;
    try {
      f = littlebit::io::SafetensorsFile::open(path);
    } catch (const littlebit::Error&) {
    }
    const auto dir = std::filesystem::path(path).parent_path();
    if (f && f->metadata_value("format") != std::optional<std::string>(littlebit::io::kCheckpointFormat) &&
        std::filesystem::exists((dir.empty() ? std::filesystem::path(".") : dir) / "config.json"))
      return hf();
  }
  const auto ck = open_checkpoint();
  const auto tok = ck.metadata_value("llm.tokenizer");
  if (!tok) littlebit::detail::fail(path, ": checkpoint metadata has no 'llm.tokenizer' (not written by quantize?)");
  return {LlamaModel<float>::from_checkpoint(ck, layers, precision), Tokenizer::from_json(*tok, path),
          "littlebit checkpoint, " + std::to_string(ck.layer_names().size()) + " packed layers"};
}

}  // namespace llm
