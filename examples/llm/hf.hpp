// examples/llm/hf.hpp: a Hugging Face Llama model directory (config.json, model.safetensors or
// sharded model-*.safetensors with model.safetensors.index.json, tokenizer.json) as the examples'
// second input format. Tensors are looked up by GGUF-style names (llm/hf_names.hpp maps them), so
// the model code is shared; q/k rows are in Hugging Face's order and the config says rope on halves.
// Shared by the examples; not part of the library.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "littlebit/core/error.hpp"
#include "littlebit/io/safetensors.hpp"
#include "llm/hf_names.hpp"
#include "llm/model.hpp"
#include "llm/tokenizer.hpp"

namespace llm {

class HfModel {
 public:
  /// `path`: the model directory, or any file inside it (e.g. its model.safetensors).
  static HfModel open(const std::filesystem::path& path) {
    using littlebit::detail::fail;
    HfModel m;
    m.dir_ = std::filesystem::is_directory(path) ? path : path.parent_path();
    if (m.dir_.empty()) m.dir_ = ".";
    m.source_ = m.dir_.string();
    m.config_json_ = read_json(m.dir_ / "config.json");
    const auto& c = m.config_json_;
    try {
      const std::string type = c.value("model_type", std::string());
      if (type != "llama")
        fail(m.source_, "/config.json: model_type '", type, "' is not supported (llama)");
      m.cfg_.n_layer = c.at("num_hidden_layers").get<int>();
      m.cfg_.d_model = c.at("hidden_size").get<int>();
      m.cfg_.n_head = c.at("num_attention_heads").get<int>();
      m.cfg_.n_head_kv = c.value("num_key_value_heads", m.cfg_.n_head);
      m.cfg_.d_ff = c.at("intermediate_size").get<int>();
      m.cfg_.vocab = c.at("vocab_size").get<int>();
      m.cfg_.rms_eps = c.value("rms_norm_eps", 1e-6);
      m.cfg_.rope_base = c.value("rope_theta", 10000.0);
      m.cfg_.n_ctx = c.value("max_position_embeddings", 0);
      // What this Llama forward does not compute is refused, not ignored.
      const int hd = m.cfg_.d_model / std::max(1, m.cfg_.n_head);
      if (c.contains("head_dim") && !c["head_dim"].is_null() && c["head_dim"].get<int>() != hd)
        fail(m.source_, "/config.json: head_dim ", c["head_dim"].get<int>(), " differs from hidden_size / num_attention_heads = ",
             hd, ": not supported");
      for (const char* key : {"attention_bias", "mlp_bias"})
        if (c.value(key, false)) fail(m.source_, "/config.json: ", key, " true is not supported (no bias in this Llama forward)");
      m.tied_ = c.value("tie_word_embeddings", true);
      if (c.contains("hidden_act") && c["hidden_act"] != "silu")
        fail(m.source_, "/config.json: hidden_act ", c["hidden_act"].dump(), " is not supported (silu)");
    } catch (const nlohmann::json::exception& e) {
      fail(m.source_, "/config.json: ", e.what());
    }
    if (c.contains("rope_scaling") && !c["rope_scaling"].is_null())
      fail(m.source_, "/config.json: rope_scaling is not supported");
    m.cfg_.rope_adjacent = false;
    m.cfg_ = LlamaConfig::from_json(m.cfg_.to_json(), m.source_ + "/config.json");  // the same checks as checkpoints
    // Weights: one file, or shards named by the index.
    const auto index = m.dir_ / "model.safetensors.index.json";
    std::vector<std::string> shards;
    if (std::filesystem::exists(index)) {
      const auto j = read_json(index);
      if (!j.contains("weight_map") || !j["weight_map"].is_object()) fail(index.string(), ": no weight_map object");
      for (const auto& [name, file] : j["weight_map"].items()) {
        if (!file.is_string()) fail(index.string(), ": weight_map['", name, "'] is not a file name");
        if (std::find(shards.begin(), shards.end(), file.get<std::string>()) == shards.end())
          shards.push_back(file.get<std::string>());
      }
    } else {
      shards.push_back("model.safetensors");
    }
    for (const auto& s : shards) {
      if (s.find('/') != std::string::npos || s.find("..") != std::string::npos)
        fail(m.source_, ": shard name '", s, "' leaves the model directory");
      m.files_.push_back(littlebit::io::SafetensorsFile::open(m.dir_ / s));
      for (const auto& t : m.files_.back().tensors())
        if (!m.where_.emplace(t.name, m.files_.size() - 1).second) fail(m.source_, ": tensor '", t.name, "' is in two shards");
    }
    // Every tensor is one the model reads: an unknown or unused one (a bias, rotary buffers, a head
    // the config says is tied) means the config and the weights disagree, and is not dropped.
    std::map<std::string, bool> used;
    used[hf_name("token_embd.weight")] = true;
    used[hf_name("output_norm.weight")] = true;
    if (!m.tied_) used[hf_name("output.weight")] = true;
    for (int b = 0; b < m.cfg_.n_layer; ++b)
      for (const char* n : {"attn_norm", "ffn_norm"}) used[hf_name("blk." + std::to_string(b) + "." + n + ".weight")] = true;
    for (const auto& l : linear_layers(m.cfg_)) used[hf_name(l.name + ".weight")] = true;
    for (const auto& [name, file] : m.where_)
      if (!used.count(name))
        fail(m.source_, ": tensor '", name, "' is not used by a ", m.cfg_.n_layer, "-block Llama",
             name == hf_name("output.weight") ? " with tie_word_embeddings (config.json)" : "");
    if (!m.tied_ && !m.where_.count(hf_name("output.weight")))
      fail(m.source_, ": tie_word_embeddings is false but there is no tensor '", hf_name("output.weight"), "'");
    return m;
  }

  const LlamaConfig& config() const { return cfg_; }
  const std::string& source() const { return source_; }
  const nlohmann::json& config_json() const { return config_json_; }

  /// The tensor that GGUF calls `gguf_name` ("blk.0.attn_q.weight" -> model.layers.0.self_attn.q_proj.weight).
  bool contains(const std::string& gguf_name) const { return where_.count(hf_name(gguf_name)) != 0; }
  const littlebit::io::TensorView& tensor(const std::string& gguf_name) const {
    const std::string name = hf_name(gguf_name);
    const auto it = where_.find(name);
    if (it == where_.end()) littlebit::detail::fail(source_, ": no tensor '", name, "' (GGUF name '", gguf_name, "')");
    const auto& t = files_[it->second].tensor(name);
    if (!littlebit::io::is_floating(t.dtype))
      littlebit::detail::fail(source_, ": tensor '", name, "' has dtype ", littlebit::io::dtype_name(t.dtype), ", not floating point");
    return t;
  }

  /// The byte-level BPE of tokenizer.json (model.type BPE, ByteLevel pre-tokenizer, with or
  /// without Digits(individual_digits) before it); special added tokens become control tokens.
  Tokenizer tokenizer() const {
    using littlebit::detail::fail;
    const auto path = dir_ / "tokenizer.json";
    const auto j = read_json(path);
    Tokenizer::Spec s;
    try {
      const auto& model = j.at("model");
      if (model.at("type").get<std::string>() != "BPE") fail(path.string(), ": model.type is not BPE");
      std::map<int, std::string> by_id;
      for (const auto& [tok, id] : model.at("vocab").items()) by_id[id.get<int>()] = tok;
      std::map<int, bool> special;
      if (j.contains("added_tokens"))
        for (const auto& a : j["added_tokens"]) {
          by_id[a.at("id").get<int>()] = a.at("content").get<std::string>();
          special[a.at("id").get<int>()] = a.value("special", false);
        }
      int expect = 0;
      for (const auto& [id, tok] : by_id) {
        if (id != expect) fail(path.string(), ": token ids are not 0..", by_id.size() - 1, " (", expect, " is missing)");
        s.tokens.push_back(tok);
        s.token_types.push_back(special.count(id) && special[id] ? 3 : 1);
        ++expect;
      }
      for (const auto& m : model.at("merges")) {
        if (m.is_string()) s.merges.push_back(m.get<std::string>());
        else if (m.is_array() && m.size() == 2) s.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
        else fail(path.string(), ": a merge is neither \"a b\" nor [a, b]");
      }
      // Pre-tokenizer: ByteLevel alone ("gpt2") or after Digits(individual_digits) ("smollm").
      const auto& pre = j.at("pre_tokenizer");
      std::vector<nlohmann::json> steps;
      if (pre.at("type") == "Sequence") for (const auto& p : pre.at("pretokenizers")) steps.push_back(p);
      else steps.push_back(pre);
      if (steps.size() == 1 && steps[0].at("type") == "ByteLevel") s.pre = "gpt2";
      else if (steps.size() == 2 && steps[0].at("type") == "Digits" && steps[0].value("individual_digits", false) &&
               steps[1].at("type") == "ByteLevel") s.pre = "smollm";
      else fail(path.string(), ": pre-tokenizer ", pre.dump().substr(0, 200), " is not supported (ByteLevel, optionally after Digits)");
      for (const auto& st : steps)
        if (st.at("type") == "ByteLevel" && st.value("add_prefix_space", false))
          fail(path.string(), ": ByteLevel add_prefix_space is not supported");
    } catch (const nlohmann::json::exception& e) {
      fail(path.string(), ": ", e.what());
    }
    auto id = [&](const char* key) { return config_json_.contains(key) && config_json_[key].is_number_integer() ? config_json_[key].get<int>() : -1; };
    s.bos = id("bos_token_id");
    s.eos = id("eos_token_id");
    if (config_json_.contains("eos_token_id") && config_json_["eos_token_id"].is_array()) {  // e.g. Llama 3: several
      for (const auto& e : config_json_["eos_token_id"]) {
        if (!e.is_number_integer()) fail(source_, "/config.json: eos_token_id holds ", e.dump(), ", not a token id");
        s.eos_ids.push_back(e.get<int>());
      }
      if (!s.eos_ids.empty()) s.eos = s.eos_ids.front();
    }
    return Tokenizer::from_spec(std::move(s), path.string());
  }

 private:
  static nlohmann::json read_json(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) littlebit::detail::fail(p.string(), ": cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) littlebit::detail::fail(p.string(), ": not a JSON object");
    return j;
  }

  std::filesystem::path dir_;
  std::string source_;
  nlohmann::json config_json_;
  LlamaConfig cfg_;
  bool tied_ = true;
  std::vector<littlebit::io::SafetensorsFile> files_;
  std::map<std::string, std::size_t> where_;
};

}  // namespace llm
