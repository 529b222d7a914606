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

namespace {

/// A complete one-block Hugging Face directory of the tiny model: config.json (with `extra`
/// members), model.safetensors (every tensor, plus `more`, minus `drop`), tokenizer.json.
std::filesystem::path tiny_hf(const std::string& name, const std::string& extra, const std::vector<std::string>& more = {},
                              const std::string& drop = "") {
  const auto c = tiny_config();
  const auto dir = std::filesystem::temp_directory_path() / ("littlebit_test_hf_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 16, "vocab_size": 16,
    "max_position_embeddings": 32)" << extra << "}";
  littlebit::io::SafetensorsBuilder b;
  auto add = [&](const std::string& n, littlebit::Index rows, littlebit::Index cols) {
    if (n == drop) return;
    std::vector<float> v(static_cast<std::size_t>(rows * cols));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.01f * static_cast<float>((i * 7) % 13) - 0.05f;
    std::vector<littlebit::Index> shape{rows};
    if (cols > 1) shape.push_back(cols);
    b.add(n, v, shape);
  };
  add("model.embed_tokens.weight", c.vocab, c.d_model);
  add("model.norm.weight", c.d_model, 1);
  add("model.layers.0.input_layernorm.weight", c.d_model, 1);
  add("model.layers.0.post_attention_layernorm.weight", c.d_model, 1);
  for (const auto& l : llm::linear_layers(c)) add(llm::hf_name(l.name + ".weight"), l.out, l.in);
  for (const auto& n : more) add(n, 16, 8);
  b.write(dir / "model.safetensors");
  const std::string vocab = R"("a": 0, "b": 1, "c": 2, "d": 3, "e": 4, "f": 5, "g": 6, "h": 7, "i": 8, "j": 9, "k": 10,
    "l": 11, "m": 12, "n": 13, "o": 14, "p": 15)";
  std::ofstream(dir / "tokenizer.json") << R"({"model": {"type": "BPE", "vocab": {)" << vocab
                                        << R"(}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}})";
  return dir;
}

}  // namespace

TEST_CASE("Hugging Face directories: head_dim, biases, tied embeddings, eos lists and unused tensors are honoured or refused") {
  using llm::HfModel;
  const auto ok = tiny_hf("ok", R"(, "tie_word_embeddings": true, "eos_token_id": [3, 5], "bos_token_id": 1)");
  const auto m = HfModel::open(ok);
  CHECK(m.config().n_ctx == 32);
  const auto tok = m.tokenizer();
  CHECK(tok.eos() == 3);
  CHECK(tok.is_eos(3));
  CHECK(tok.is_eos(5));
  CHECK_FALSE(tok.is_eos(4));
  CHECK(llm::Tokenizer::from_json(tok.to_json(), "json").is_eos(5));  // checkpoints keep the list
  const auto model = llm::LlamaModel<float>::from_hf(m);
  CHECK(model.forward({1, 2, 3}).rows() == 3);
  std::vector<int> too_long(33, 1);
  CHECK_THROWS_WITH_AS(model.forward(too_long), doctest::Contains("beyond the model's context length of 32 tokens"),
                       littlebit::Error);
  // A separate head: used when the config says so, refused when it says the head is tied.
  CHECK_NOTHROW(HfModel::open(tiny_hf("untied", R"(, "tie_word_embeddings": false)", {"lm_head.weight"})));
  CHECK_THROWS_WITH_AS(HfModel::open(tiny_hf("tied_head", R"(, "tie_word_embeddings": true)", {"lm_head.weight"})),
                       doctest::Contains("tensor 'lm_head.weight' is not used by a 1-block Llama with tie_word_embeddings"),
                       littlebit::Error);
  CHECK_THROWS_WITH_AS(HfModel::open(tiny_hf("no_head", R"(, "tie_word_embeddings": false)")),
                       doctest::Contains("tie_word_embeddings is false but there is no tensor 'lm_head.weight'"), littlebit::Error);
  CHECK_THROWS_WITH_AS(HfModel::open(tiny_hf("head_dim", R"(, "head_dim": 8)")),
                       doctest::Contains("head_dim 8 differs from hidden_size / num_attention_heads = 4: not supported"),
                       littlebit::Error);
  CHECK_NOTHROW(HfModel::open(tiny_hf("head_dim_ok", R"(, "head_dim": 4)")));
  CHECK_THROWS_WITH_AS(HfModel::open(tiny_hf("attn_bias", R"(, "attention_bias": true)")),
                       doctest::Contains("attention_bias true is not supported"), littlebit::Error);
  CHECK_THROWS_WITH_AS(HfModel::open(tiny_hf("mlp_bias", R"(, "mlp_bias": true)")),
                       doctest::Contains("mlp_bias true is not supported"), littlebit::Error);
  CHECK_THROWS_WITH_AS(HfModel::open(tiny_hf("extra", "", {"model.layers.0.self_attn.q_proj.bias"})),
                       doctest::Contains("tensor 'model.layers.0.self_attn.q_proj.bias' is not used"), littlebit::Error);
  CHECK_THROWS_WITH_AS(HfModel::open(tiny_hf("eos_bad", R"(, "eos_token_id": [3, "x"])")).tokenizer(),
                       doctest::Contains("eos_token_id holds \"x\""), littlebit::Error);
  for (const char* n : {"ok", "untied", "tied_head", "no_head", "head_dim", "head_dim_ok", "attn_bias", "mlp_bias", "extra", "eos_bad"})
    std::filesystem::remove_all(std::filesystem::temp_directory_path() / (std::string("littlebit_test_hf_") + n));
}
