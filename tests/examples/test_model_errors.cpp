// The examples' model loaders on bad input: NaN weights, missing tensors, wrong shapes, other
// architectures, truncated files, tokens outside the vocabulary, Hugging Face directories with
// missing or foreign parts; each raises littlebit::Error naming what is wrong. A small valid
// one-block checkpoint is built here and broken one piece at a time.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "littlebit/io/checkpoint.hpp"
#include "llm/hf.hpp"
#include "llm/model.hpp"

namespace {

llm::LlamaConfig tiny_config() {
  llm::LlamaConfig c;
  c.n_layer = 1, c.d_model = 8, c.n_head = 2, c.n_head_kv = 1, c.d_ff = 16, c.vocab = 16, c.head_dim = 4;
  return c;
}

/// Every tensor of the tiny model, dense, with `change` applied to the named one.
std::vector<std::byte> checkpoint(const std::string& config_json, const std::string& drop = "", const std::string& nan = "",
                                  const std::string& reshape = "") {
  const auto c = tiny_config();
  littlebit::io::CheckpointWriter w;
  auto add = [&](const std::string& name, littlebit::Index rows, littlebit::Index cols) {
    if (name == drop) return;
    if (name == reshape) cols -= 1;
    std::vector<float> v(static_cast<std::size_t>(rows * std::max<littlebit::Index>(cols, 1)));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.01f * static_cast<float>(i % 13) - 0.05f;
    if (name == nan) v[v.size() / 2] = std::numeric_limits<float>::quiet_NaN();
    w.add_dense_as(name, v, cols < 0 ? std::vector<littlebit::Index>{rows} : std::vector<littlebit::Index>{rows, cols},
                   littlebit::io::DType::kF32);
  };
  add("token_embd.weight", c.vocab, c.d_model);
  add("output_norm.weight", c.d_model, -1);
  add("blk.0.attn_norm.weight", c.d_model, -1);
  add("blk.0.ffn_norm.weight", c.d_model, -1);
  for (const auto& l : llm::linear_layers(c)) add(l.name + ".weight", l.out, l.in);
  w.set_metadata("llm.config", config_json);
  return w.serialize();
}

std::string load_error(const std::vector<std::byte>& bytes) {
  try {
    const auto ck = littlebit::io::Checkpoint::from_bytes(bytes, "tiny.ckpt");
    (void)llm::LlamaModel<float>::from_checkpoint(ck);
  } catch (const littlebit::Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("model loaders: a valid tiny checkpoint runs; NaN, missing, misshapen tensors and other architectures are named") {
  const std::string cfg = tiny_config().to_json();
  {
    const auto bytes = checkpoint(cfg);
    const auto ck = littlebit::io::Checkpoint::from_bytes(bytes, "tiny.ckpt");
    const auto m = llm::LlamaModel<float>::from_checkpoint(ck);
    const auto logits = m.forward({1, 2, 3});
    CHECK(logits.rows() == 3);
    CHECK(logits.cols() == 16);
    CHECK(logits.allFinite());
    CHECK_THROWS_WITH_AS(m.forward({1, 16}), doctest::Contains("token 16 outside the vocabulary"), littlebit::Error);
    // Truncated anywhere: an error, never a crash.
    for (std::size_t cut : {std::size_t{0}, std::size_t{7}, std::size_t{100}, bytes.size() / 2, bytes.size() - 1}) {
      const std::vector<std::byte> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
      CHECK(load_error(part) != "<no error>");
    }
  }
  CHECK(load_error(checkpoint(cfg, "", "blk.0.ffn_norm.weight")).find("tensor 'blk.0.ffn_norm.weight' holds NaN") != std::string::npos);
  CHECK(load_error(checkpoint(cfg, "", "blk.0.ffn_up.weight")).find("tensor 'blk.0.ffn_up.weight' holds NaN") != std::string::npos);
  CHECK(load_error(checkpoint(cfg, "blk.0.attn_k.weight")).find("no dense tensor 'blk.0.attn_k.weight'") != std::string::npos);
  CHECK(load_error(checkpoint(cfg, "", "", "blk.0.attn_q.weight")).find("'blk.0.attn_q.weight' has shape [8, 7], the config says [8, 8]") !=
        std::string::npos);
  std::string other = cfg;
  other.replace(other.find("\"llama\""), 7, "\"gpt2\"");
  CHECK(load_error(checkpoint(other)).find("architecture 'gpt2' is not supported") != std::string::npos);
  CHECK(load_error(checkpoint(R"({"architecture": "llama"})")).find("model config JSON") != std::string::npos);
  CHECK(load_error(checkpoint("not json")).find("the model config is not a JSON object") != std::string::npos);
}

TEST_CASE("model loaders: a GGUF of another architecture and broken Hugging Face directories are named") {
  // A GGUF whose general.architecture is gpt2 (hand-made: header, one string key, no tensors).
  std::vector<std::byte> g;
  auto put = [&](auto v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    g.insert(g.end(), p, p + sizeof(v));
  };
  auto str = [&](const std::string& s) {
    put(std::uint64_t{s.size()});
    for (char ch : s) g.push_back(static_cast<std::byte>(ch));
  };
  put(std::uint32_t{0x46554747u});
  put(std::uint32_t{3});
  put(std::uint64_t{0});
  put(std::uint64_t{1});
  str("general.architecture");
  put(std::uint32_t{8});  // string
  str("gpt2");
  const auto f = littlebit::io::GgufFile::from_bytes(g, "gpt2.gguf");
  CHECK_THROWS_WITH_AS(llm::LlamaConfig::from_gguf(f), doctest::Contains("general.architecture 'gpt2' is not supported"),
                       littlebit::Error);

  const auto dir = std::filesystem::temp_directory_path() / "littlebit_test_hf_errors";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  CHECK_THROWS_WITH_AS(llm::HfModel::open(dir), doctest::Contains("config.json: cannot open"), littlebit::Error);
  std::ofstream(dir / "config.json") << R"({"model_type": "mistral"})";
  CHECK_THROWS_WITH_AS(llm::HfModel::open(dir), doctest::Contains("model_type 'mistral' is not supported"), littlebit::Error);
  std::ofstream(dir / "config.json") << R"({"model_type": "llama", "hidden_size": 8})";
  CHECK_THROWS_WITH_AS(llm::HfModel::open(dir), doctest::Contains("config.json: "), littlebit::Error);
  std::ofstream(dir / "config.json") << R"({"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 16, "vocab_size": 16})";
  CHECK_THROWS_WITH_AS(llm::HfModel::open(dir), doctest::Contains("model.safetensors: cannot open"), littlebit::Error);
  std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map": {"a": "../x.safetensors"}})";
  CHECK_THROWS_WITH_AS(llm::HfModel::open(dir), doctest::Contains("leaves the model directory"), littlebit::Error);
  std::filesystem::remove_all(dir);
}
