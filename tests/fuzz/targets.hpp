// tests/fuzz/targets.hpp: the bodies of the fuzz targets, shared by the libFuzzer entry points
// (tests/fuzz/fuzz_*.cpp, clang, `slow` tests) and the regression test that replays every input in
// tests/data/fuzz/<target>/ in the ordinary builds (tests/fuzz/test_fuzz_regressions.cpp).
//
// Contract under test: any bytes either parse (and then everything reachable from the parsed
// object works) or raise littlebit::Error. A crash, a sanitizer report, a hang or any other
// exception is a bug.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "littlebit/io/checkpoint.hpp"
#include "littlebit/io/gguf.hpp"
#include "littlebit/io/official_linear.hpp"
#include "littlebit/io/safetensors.hpp"
#include "llm/model.hpp"
#include "llm/tokenizer.hpp"

namespace littlebit::fuzz {

inline std::span<const std::byte> bytes_of(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const std::byte*>(data), size};
}

/// Tensors larger than this are not converted (the fuzzer's memory limit, not a format limit).
inline constexpr Index kMaxElements = Index(1) << 22;

/// GGUF: parse; read every metadata value and dequantize every (small enough) tensor; the Llama
/// config and tokenizer readers on whatever metadata is there.
inline void gguf(std::span<const std::byte> b) {
  try {
    const auto f = io::GgufFile::from_bytes(b, "fuzz.gguf");
    for (const auto& t : f.tensors())
      if (t.numel() <= kMaxElements) (void)io::dequantize(t);
    try {
      (void)llm::LlamaConfig::from_gguf(f);
    } catch (const Error&) {
    }
    (void)llm::Tokenizer::from_gguf(f);
  } catch (const Error&) {
  }
}

/// safetensors: parse; convert every small tensor to double; read the file as an official layer
/// and as a littlebit packed layer.
inline void safetensors(std::span<const std::byte> b) {
  try {
    const auto f = io::SafetensorsFile::from_bytes(b, "fuzz.safetensors");
    for (const auto& t : f.tensors())
      if (t.numel() <= kMaxElements && io::is_floating(t.dtype)) (void)t.to_vector<double>();
    try {
      (void)io::to_packed(io::read_official_linear(f, ""));
    } catch (const Error&) {
    }
    (void)io::read_packed_linear(f, "");
  } catch (const Error&) {
  }
}

/// Checkpoint: parse; every layer, every dense tensor, the model config and tokenizer; a model
/// of the first block when everything is there.
inline void checkpoint(std::span<const std::byte> b) {
  try {
    const auto c = io::Checkpoint::from_bytes(b, "fuzz.checkpoint");
    for (const auto& name : c.layer_names()) {
      try {
        (void)c.layer(name);
      } catch (const Error&) {
      }
    }
    for (const auto& name : c.dense_names())
      if (c.dense_tensor(name).numel() <= kMaxElements) (void)c.dense(name);
    if (const auto tok = c.metadata_value("llm.tokenizer")) {
      try {
        (void)llm::Tokenizer::from_json(*tok, "fuzz");
      } catch (const Error&) {
      }
    }
    if (const auto cfg = c.metadata_value("llm.config")) {
      const auto config = llm::LlamaConfig::from_json(*cfg, "fuzz");
      if (static_cast<double>(config.vocab) * config.d_model <= static_cast<double>(kMaxElements))
        (void)llm::LlamaModel<float>::from_checkpoint(c, 1);
    }
  } catch (const Error&) {
  }
}

/// The tokenizer on arbitrary text: valid UTF-8 encodes and decodes back to itself; invalid
/// UTF-8 raises littlebit::Error.
inline void tokenizer(const llm::Tokenizer& tok, std::span<const std::byte> b) {
  const std::string_view text(reinterpret_cast<const char*>(b.data()), b.size());
  std::vector<int> ids;
  try {
    ids = tok.encode(text);
  } catch (const Error&) {
    return;
  }
  if (tok.decode(ids) != text) __builtin_trap();  // the round trip is the tokenizer's contract
}

inline const llm::Tokenizer& smollm2_tokenizer(const std::filesystem::path& source_dir) {
  static const llm::Tokenizer tok =
      llm::Tokenizer::from_gguf(io::GgufFile::open(source_dir / "tests/data/tokenizer/vocab.gguf"));
  return tok;
}

}  // namespace littlebit::fuzz
