// examples/llm/model.hpp: a Llama-style decoder (SmolLM2, Llama) read from GGUF, forward in Eigen.
// Shared by the examples; not part of the library.
//
// Per layer, for a window of T tokens (rows are positions):
//   h  = x + Wo · attn(rope(Wq · rms(x)), rope(Wk · rms(x)), Wv · rms(x))      causal, grouped-query
//   x' = h + Wdown · (silu(Wgate · rms(h)) ⊙ (Wup · rms(h)))
// then logits = Wout · rms(x_L), with Wout = the token embedding when the file has no output.weight
// (tied). rms(x) = x / sqrt(mean(x²) + eps) ⊙ w. Rotary embeddings in the layout llama.cpp's
// conversion writes for the `llama` architecture: adjacent pairs (x[2i], x[2i+1]) of each head
// rotated by pos · base^(-2i / head_dim). Every hyper-parameter comes from the file's metadata.
// Scalar is float for use and double for cross-checking.
//
// Every linear layer is either dense (out x in) or a littlebit PackedFactorizedLinear; weights
// come from a GGUF file (all dense) or a littlebit checkpoint (io/checkpoint.hpp: the layers
// `quantize` packed, the rest dense). Names are GGUF's: "blk.N.attn_q" is layer N's query
// projection, stored as "blk.N.attn_q.weight" when dense.
#pragma once

#include <cmath>
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include "littlebit/core/error.hpp"
#include "littlebit/io/checkpoint.hpp"
#include "littlebit/io/gguf.hpp"
#include "littlebit/layer/packed_factorized_linear.hpp"
#include "littlebit/ref/factorized.hpp"

namespace llm {

struct LlamaConfig {
  int n_layer = 0, d_model = 0, n_head = 0, n_head_kv = 0, d_ff = 0, vocab = 0, head_dim = 0;
  int n_ctx = 0;  // the context length the model was trained for (0: unknown, no limit enforced)
  double rms_eps = 1e-5, rope_base = 10000.0;
  // Rotary pairs: adjacent (x[2i], x[2i+1]), the row order of GGUF `llama` files, or halves
  // (x[i], x[i + hd/2]), Hugging Face's rotate_half order.
  bool rope_adjacent = true;

  static LlamaConfig from_gguf(const littlebit::io::GgufFile& f) {
    const std::string arch = f.get_string("general.architecture");
    if (arch != "llama")
      littlebit::detail::fail(f.source(), ": general.architecture '", arch, "' is not supported (llama)");
    LlamaConfig c;
    c.n_layer = static_cast<int>(f.get_int("llama.block_count"));
    c.d_model = static_cast<int>(f.get_int("llama.embedding_length"));
    c.n_head = static_cast<int>(f.get_int("llama.attention.head_count"));
    c.n_head_kv = f.find("llama.attention.head_count_kv") ? static_cast<int>(f.get_int("llama.attention.head_count_kv")) : c.n_head;
    c.d_ff = static_cast<int>(f.get_int("llama.feed_forward_length"));
    c.rms_eps = f.get_double("llama.attention.layer_norm_rms_epsilon");
    if (f.find("llama.rope.freq_base")) c.rope_base = f.get_double("llama.rope.freq_base");
    if (f.find("llama.context_length")) c.n_ctx = static_cast<int>(f.get_int("llama.context_length"));
    if (f.find("llama.rope.scaling.type") && f.get_string("llama.rope.scaling.type") != "none")
      littlebit::detail::fail(f.source(), ": llama.rope.scaling.type '", f.get_string("llama.rope.scaling.type"),
                              "' is not supported");
    if (c.n_layer <= 0 || c.d_model <= 0 || c.n_head <= 0 || c.n_head_kv <= 0 || c.d_ff <= 0 ||
        c.d_model % c.n_head != 0 || c.n_head % c.n_head_kv != 0)
      littlebit::detail::fail(f.source(), ": inconsistent hyper-parameters (layers ", c.n_layer, ", width ", c.d_model,
                              ", heads ", c.n_head, "/", c.n_head_kv, ", ffn ", c.d_ff, ")");
    c.head_dim = c.d_model / c.n_head;
    for (const char* key : {"llama.attention.key_length", "llama.attention.value_length"})
      if (f.find(key) && f.get_int(key) != c.head_dim)
        littlebit::detail::fail(f.source(), ": ", key, " ", f.get_int(key), " differs from embedding_length / head_count = ",
                                c.head_dim, ": not supported");
    if (c.n_ctx < 0) littlebit::detail::fail(f.source(), ": llama.context_length ", c.n_ctx, " is negative");
    const auto& embd = f.tensor("token_embd.weight");
    if (embd.dims.size() != 2 || embd.dims.at(0) != c.d_model)
      littlebit::detail::fail(f.source(), ": token_embd.weight is not a vocabulary x ", c.d_model, " matrix");
    c.vocab = static_cast<int>(embd.dims.at(1));
    return c;
  }

  std::string to_json() const {
    return nlohmann::json{{"architecture", "llama"}, {"n_layer", n_layer},  {"d_model", d_model},   {"n_head", n_head},
                          {"n_head_kv", n_head_kv},  {"d_ff", d_ff},        {"vocab", vocab},       {"rms_eps", rms_eps},
                          {"rope_base", rope_base}, {"rope", rope_adjacent ? "adjacent" : "half"}, {"n_ctx", n_ctx}}
        .dump();
  }
  static LlamaConfig from_json(const std::string& text, const std::string& source) {
    const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) littlebit::detail::fail(source, ": the model config is not a JSON object");
    LlamaConfig c;
    try {
      if (j.at("architecture").get<std::string>() != "llama")
        littlebit::detail::fail(source, ": architecture '", j.at("architecture").get<std::string>(), "' is not supported (llama)");
      c.n_layer = j.at("n_layer").get<int>();
      c.d_model = j.at("d_model").get<int>();
      c.n_head = j.at("n_head").get<int>();
      c.n_head_kv = j.at("n_head_kv").get<int>();
      c.d_ff = j.at("d_ff").get<int>();
      c.vocab = j.at("vocab").get<int>();
      c.rms_eps = j.at("rms_eps").get<double>();
      c.rope_base = j.at("rope_base").get<double>();
      const std::string rope = j.value("rope", std::string("adjacent"));
      if (rope != "adjacent" && rope != "half") littlebit::detail::fail(source, ": rope '", rope, "' is neither adjacent nor half");
      c.rope_adjacent = rope == "adjacent";
      c.n_ctx = j.value("n_ctx", 0);  // checkpoints written before it was recorded: unknown
    } catch (const nlohmann::json::exception& e) {
      littlebit::detail::fail(source, ": model config JSON: ", e.what());
    }
    if (c.n_layer <= 0 || c.d_model <= 0 || c.n_head <= 0 || c.n_head_kv <= 0 || c.d_ff <= 0 || c.vocab <= 0 ||
        c.d_model % c.n_head != 0 || c.n_head % c.n_head_kv != 0 || !(c.rms_eps > 0) || !(c.rope_base > 0) || c.n_ctx < 0)
      littlebit::detail::fail(source, ": inconsistent model config ", text);
    c.head_dim = c.d_model / c.n_head;
    return c;
  }
};

/// One linear layer's name (GGUF's, without ".weight") and shape.
struct LinearInfo {
  std::string name;
  int out = 0, in = 0;
  bool is_kv() const { return name.ends_with(".attn_k") || name.ends_with(".attn_v"); }
};

/// The model's linear layers in order: per block q, k, v, output, gate, up, down.
inline std::vector<LinearInfo> linear_layers(const LlamaConfig& c) {
  const int kv = c.n_head_kv * c.head_dim;
  std::vector<LinearInfo> out;
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    out.push_back({p + "attn_q", c.d_model, c.d_model});
    out.push_back({p + "attn_k", kv, c.d_model});
    out.push_back({p + "attn_v", kv, c.d_model});
    out.push_back({p + "attn_output", c.d_model, c.d_model});
    out.push_back({p + "ffn_gate", c.d_ff, c.d_model});
    out.push_back({p + "ffn_up", c.d_ff, c.d_model});
    out.push_back({p + "ffn_down", c.d_model, c.d_ff});
  }
  return out;
}

/// A linear layer y = W x, dense (a view into the model's weight arena) or packed.
template <class Scalar>
struct Linear {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using MatMap = Eigen::Map<Matrix>;
  using CMatMap = Eigen::Map<const Matrix>;
  const Scalar* w = nullptr;                                  // out x in, when dense (in the arena)
  int out = 0, in = 0;
  std::shared_ptr<littlebit::PackedFactorizedLinear> packed;  // when packed (not for concurrent use)

  CMatMap weight() const { return CMatMap(w, out, in); }
  /// Y (T x out) = X (T x in) W^T, rows contiguous.
  void apply(const Eigen::Ref<const Matrix>& x, Eigen::Ref<Matrix> y) const {
    if (!packed) {
      y.noalias() = x * weight().transpose();
      return;
    }
    if constexpr (std::is_same_v<Scalar, float>) {
      packed->forward(littlebit::MatrixView<const float>(x.data(), x.rows(), x.cols()),
                      littlebit::MatrixView<float>(y.data(), y.rows(), y.cols()));
    } else {
      using RowF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
      const RowF xf = x.template cast<float>();
      RowF yf(x.rows(), out);
      packed->forward(littlebit::MatrixView<const float>(xf.data(), xf.rows(), xf.cols()),
                      littlebit::MatrixView<float>(yf.data(), yf.rows(), yf.cols()));
      y = yf.template cast<Scalar>();
    }
  }
  /// Bytes the weights take in memory.
  std::int64_t memory_bytes() const {
    return packed ? static_cast<std::int64_t>(packed->memory_bytes())
                  : static_cast<std::int64_t>(out) * in * static_cast<std::int64_t>(sizeof(Scalar));
  }
};

/// The decoder, llm.c style: every dense weight lives in one arena (weights_) and every
/// activation of a forward pass in another (acts_, grown to the largest window seen, then reused
/// without allocation); layers hold views into them. Packed layers keep their own storage (the
/// kernels' layout). Move-only: the views point into the arenas.
template <class Scalar>
class LlamaModel {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using MatMap = Eigen::Map<Matrix>;
  using CMatMap = Eigen::Map<const Matrix>;
  using CVecMap = Eigen::Map<const Vector>;

  struct Layer {
    const Scalar* attn_norm = nullptr;             // d
    const Scalar* ffn_norm = nullptr;              // d
    Linear<Scalar> wq, wk, wv, wo;                 // d x d, kv x d, kv x d, d x d   (out x in)
    Linear<Scalar> w_gate, w_up, w_down;           // ff x d, ff x d, d x ff
  };

  /// Keys and values of the positions seen so far, per layer (capacity x kv, the first `length`
  /// rows filled), for decoding one token at a time. make_cache(capacity) allocates it once for
  /// the context a caller will use; forward grows it (doubling) only past that capacity.
  struct KvCache {
    std::vector<Matrix> k, v;
    Eigen::Index length = 0;
    Eigen::Index capacity() const { return k.empty() ? 0 : k[0].rows(); }
  };
  KvCache make_cache(Eigen::Index capacity) const {
    KvCache c;
    const Eigen::Index kv = static_cast<Eigen::Index>(cfg_.n_head_kv) * cfg_.head_dim;
    c.k.assign(layers_.size(), Matrix(capacity, kv));
    c.v.assign(layers_.size(), Matrix(capacity, kv));
    return c;
  }

  LlamaModel() = default;
  LlamaModel(LlamaModel&&) noexcept = default;
  LlamaModel& operator=(LlamaModel&&) noexcept = default;
  LlamaModel(const LlamaModel&) = delete;
  LlamaModel& operator=(const LlamaModel&) = delete;

  /// Dequantized dense weights of the first `layers` layers (all when < 0).
  static LlamaModel from_gguf(const littlebit::io::GgufFile& f, int layers = -1) {
    const LlamaConfig cfg = LlamaConfig::from_gguf(f);
    auto dense = [&](const std::string& name, std::vector<littlebit::Index>& shape) {
      const auto& t = f.tensor(name);
      shape = t.shape();
      return littlebit::io::dequantize(t);
    };
    auto packed = [](const std::string&) { return std::shared_ptr<littlebit::PackedFactorizedLinear>(); };
    auto has = [&](const std::string& name) { return f.contains(name); };
    return build(cfg, layers, f.source(), dense, packed, has);
  }

  /// A Hugging Face model directory (examples/llm/hf.hpp): weights under Hugging Face names,
  /// q/k rows in its order (rope on halves).
  template <class Hf>
  static LlamaModel from_hf(const Hf& hf, int layers = -1) {
    auto dense = [&](const std::string& name, std::vector<littlebit::Index>& shape) {
      const auto& t = hf.tensor(name);
      shape = t.shape;
      return t.template to_vector<float>();
    };
    auto packed = [](const std::string&) { return std::shared_ptr<littlebit::PackedFactorizedLinear>(); };
    auto has = [&](const std::string& name) { return hf.contains(name); };
    return build(hf.config(), layers, hf.source(), dense, packed, has);
  }

  /// A littlebit checkpoint written by `quantize`: metadata "llm.config" (LlamaConfig JSON);
  /// each linear layer packed under its name or dense as "<name>.weight".
  static LlamaModel from_checkpoint(const littlebit::io::Checkpoint& c, int layers = -1,
                                    littlebit::kernels::Precision precision = littlebit::kernels::Precision::kExact) {
    const auto json = c.metadata_value("llm.config");
    if (!json) littlebit::detail::fail(c.source(), ": checkpoint metadata has no 'llm.config' (not written by quantize?)");
    const LlamaConfig cfg = LlamaConfig::from_json(*json, c.source());
    auto dense = [&](const std::string& name, std::vector<littlebit::Index>& shape) {
      shape = c.dense_tensor(name).shape;
      return c.dense(name);
    };
    auto packed = [&](const std::string& name) {
      return c.has_layer(name) ? std::make_shared<littlebit::PackedFactorizedLinear>(c.layer(name, precision))
                               : std::shared_ptr<littlebit::PackedFactorizedLinear>();
    };
    auto has = [&](const std::string& name) { return c.has_dense(name); };
    return build(cfg, layers, c.source(), dense, packed, has);
  }

  /// A model from tensors by GGUF name: dense(name, shape&) returns a tensor's values and sets its
  /// shape, packed(name) a linear layer's packed form (or null: dense), has(name) whether a dense
  /// tensor exists (output.weight: untied head). For programs that hold the weights in memory
  /// (the trainer's packed student).
  template <class Dense, class Packed, class Has>
  static LlamaModel from_tensors(const LlamaConfig& cfg, const std::string& source, Dense&& dense, Packed&& packed,
                                 Has&& has) {
    return build(cfg, -1, source, dense, packed, has);
  }

  const LlamaConfig& config() const { return cfg_; }
  int layers() const { return static_cast<int>(layers_.size()); }
  const Layer& layer(int l) const { return layers_.at(static_cast<std::size_t>(l)); }
  /// The token embedding (vocab x d, row-major), the head (vocab x d: the embedding when tied)
  /// and the final norm's gain (d).
  const Scalar* embedding() const { return embd_; }
  const Scalar* head() const { return tied_ ? embd_ : output_; }
  bool tied() const { return tied_; }
  const Scalar* output_norm() const { return output_norm_; }

  /// The same model in S2 with every packed layer replaced by its dense reconstruction
  /// sum_p diag(h) U diag(ell) V diag(g) (ref::reconstruct, in double, on the stored FP16 scales).
  template <class S2>
  LlamaModel<S2> dequantized() const {
    auto dense = [&](const std::string& name, std::vector<littlebit::Index>& shape) {
      const auto it = index_.find(name);
      if (it != index_.end()) {
        const auto& [offset, rows, cols] = it->second;
        shape = cols < 0 ? std::vector<littlebit::Index>{rows} : std::vector<littlebit::Index>{rows, cols};
        const auto n = static_cast<std::size_t>(rows * std::max<littlebit::Index>(cols, 1));
        return std::vector<double>(weights_.begin() + static_cast<std::ptrdiff_t>(offset),
                                   weights_.begin() + static_cast<std::ptrdiff_t>(offset + n));
      }
      const Linear<Scalar>* l = packed_by_weight(name);
      if (!l) littlebit::detail::fail("LlamaModel::dequantized: no weight '", name, "'");
      const auto paths = l->packed->paths();
      std::vector<littlebit::ref::FactorizedPath<littlebit::Float16>> views;
      for (const auto& p : paths) views.push_back(p.view());
      std::vector<double> w(static_cast<std::size_t>(l->out) * static_cast<std::size_t>(l->in));
      littlebit::ref::reconstruct(std::span<const littlebit::ref::FactorizedPath<littlebit::Float16>>(views),
                                  littlebit::MatrixView<double>(w.data(), l->out, l->in));
      shape = {l->out, l->in};
      return w;
    };
    auto packed = [](const std::string&) { return std::shared_ptr<littlebit::PackedFactorizedLinear>(); };
    auto has = [&](const std::string& name) { return index_.count(name) != 0; };
    return LlamaModel<S2>::build(cfg_, layers(), "dequantized", dense, packed, has);
  }

  /// Bytes of every weight in memory (the dense arena, plus the packed layers as they hold them).
  std::int64_t memory_bytes() const {
    auto b = static_cast<std::int64_t>(weights_.size()) * static_cast<std::int64_t>(sizeof(Scalar));
    for (const Layer& L : layers_)
      for (const auto* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
        if (w->packed) b += w->memory_bytes();
    return b;
  }

  /// Logits (T x vocab) of every position of `tokens`. Without a cache, one causal window from
  /// position 0; with one, the tokens continue the cached positions (and are added to it).
  /// Not for concurrent calls on one model (the activation arena is shared).
  Matrix forward(const std::vector<int>& tokens, KvCache* cache = nullptr) const {
    const auto T = static_cast<Eigen::Index>(tokens.size());
    const int d = cfg_.d_model, hd = cfg_.head_dim, nh = cfg_.n_head, nkv = cfg_.n_head_kv, ff = cfg_.d_ff;
    const int kv = nkv * hd;
    const Eigen::Index p0 = cache ? cache->length : 0;    // position of tokens[0]
    const Eigen::Index S = p0 + T;                        // keys: positions 0 .. S - 1
    if (cfg_.n_ctx > 0 && S > cfg_.n_ctx)
      littlebit::detail::fail("LlamaModel::forward: position ", S - 1, " is beyond the model's context length of ",
                              cfg_.n_ctx, " tokens");
    if (cache && cache->capacity() < S) {  // first use, or past the capacity made for
      if (cache->k.empty()) *cache = make_cache(S);
      const Eigen::Index grown = std::max(S, 2 * cache->capacity());
      for (std::size_t l = 0; l < layers_.size(); ++l) {
        cache->k[l].conservativeResize(grown, Eigen::NoChange);
        cache->v[l].conservativeResize(grown, Eigen::NoChange);
      }
    }
    // The activation arena, carved in this order.
    const Eigen::Index need = T * (4 * d + 2 * kv + 2 * ff) + T * S;
    if (static_cast<Eigen::Index>(acts_.size()) < need) acts_.resize(static_cast<std::size_t>(need));
    Scalar* p = acts_.data();
    auto take = [&](Eigen::Index rows, Eigen::Index cols) {
      MatMap m(p, rows, cols);
      p += rows * cols;
      return m;
    };
    MatMap x = take(T, d);                                // T x d    the residual stream
    MatMap a = take(T, d);                                // T x d    rms(x), then rms(h)
    MatMap q = take(T, d);                                // T x d    queries, heads side by side
    MatMap k_new = take(T, kv);                           // T x kv   this window's keys
    MatMap v_new = take(T, kv);                           // T x kv   this window's values
    MatMap att = take(T, d);                              // T x d    attention output, heads side by side
    MatMap gate = take(T, ff);                            // T x ff   silu(gate) * up
    MatMap up = take(T, ff);                              // T x ff
    MatMap s = take(T, S);                                // T x S    one head's scores, then probabilities

    for (Eigen::Index t = 0; t < T; ++t) {
      const int id = tokens[static_cast<std::size_t>(t)];
      if (id < 0 || id >= cfg_.vocab) littlebit::detail::fail("LlamaModel::forward: token ", id, " outside the vocabulary");
      x.row(t) = CMatMap(embd_, cfg_.vocab, d).row(id);
    }
    const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(hd));
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const Layer& L = layers_[l];
      rms(x, L.attn_norm, a);
      L.wq.apply(a, q);
      L.wk.apply(a, k_new);
      L.wv.apply(a, v_new);
      rope(q, nh, p0);
      rope(k_new, nkv, p0);
      if (cache) {                                        // rows p0 .. S - 1 of the row-major cache
        cache->k[l].middleRows(p0, T) = k_new;
        cache->v[l].middleRows(p0, T) = v_new;
      }
      const CMatMap k(cache ? cache->k[l].data() : k_new.data(), S, kv);   // S x kv
      const CMatMap v(cache ? cache->v[l].data() : v_new.data(), S, kv);   // S x kv
      for (int h = 0; h < nh; ++h) {
        const int g = h / (nh / nkv);                     // the key/value head of query head h
        s.noalias() = q.middleCols(h * hd, hd) * k.middleCols(g * hd, hd).transpose();
        s *= scale;
        for (Eigen::Index i = 0; i < T; ++i) {            // causal softmax over keys 0 .. p0 + i
          const Eigen::Index n = p0 + i + 1;
          auto row = s.row(i);
          const Scalar mx = row.head(n).maxCoeff();
          row.head(n) = (row.head(n).array() - mx).exp();
          row.head(n) /= row.head(n).sum();
          row.tail(S - n).setZero();
        }
        att.middleCols(h * hd, hd).noalias() = s * v.middleCols(g * hd, hd);
      }
      L.wo.apply(att, q);                                 // q reused: T x d attention projection
      x += q;
      rms(x, L.ffn_norm, a);
      L.w_gate.apply(a, gate);
      L.w_up.apply(a, up);
      gate = gate.unaryExpr([](Scalar z) { return z / (Scalar(1) + std::exp(-z)); }).cwiseProduct(up);
      L.w_down.apply(gate, q);                            // q reused: T x d MLP output
      x += q;
    }
    if (cache) cache->length = S;
    rms(x, output_norm_, a);
    return a * CMatMap(tied_ ? embd_ : output_, cfg_.vocab, d).transpose();  // T x vocab
  }

 private:
  template <class>
  friend class LlamaModel;

  /// The packed layer whose dense weight would be called `name` ("blk.0.attn_q.weight").
  const Linear<Scalar>* packed_by_weight(const std::string& name) const {
    const auto infos = linear_layers(cfg_);
    for (std::size_t i = 0; i < infos.size() && i / 7 < layers_.size(); ++i) {
      if (infos[i].name + ".weight" != name) continue;
      const Layer& L = layers_[i / 7];
      const Linear<Scalar>* all[] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
      return all[i % 7]->packed ? all[i % 7] : nullptr;
    }
    return nullptr;
  }

  template <class Dense, class Packed, class Has>
  static LlamaModel build(const LlamaConfig& cfg, int layers, const std::string& source, Dense&& dense, Packed&& packed,
                          Has&& has) {
    LlamaModel m;
    m.cfg_ = cfg;
    const int n = layers < 0 ? cfg.n_layer : std::min(layers, cfg.n_layer);
    const auto infos = linear_layers(cfg);
    m.tied_ = !has("output.weight");
    // Which linear layers are packed decides the arena's size: vocab x d (embedding), vocab x d
    // (untied head), d (final norm), per block 2 d (norms) and every dense linear layer's out x in.
    std::vector<std::shared_ptr<littlebit::PackedFactorizedLinear>> pk(static_cast<std::size_t>(7 * n));
    std::size_t total = static_cast<std::size_t>(cfg.vocab) * static_cast<std::size_t>(cfg.d_model) * (m.tied_ ? 1 : 2) +
                        static_cast<std::size_t>(cfg.d_model) * static_cast<std::size_t>(1 + 2 * n);
    for (std::size_t i = 0; i < pk.size(); ++i) {
      pk[i] = packed(infos[i].name);
      if (!pk[i]) total += static_cast<std::size_t>(infos[i].out) * static_cast<std::size_t>(infos[i].in);
    }
    m.weights_.resize(total);
    std::size_t used = 0;
    // Copies tensor `name` (checked: shape, finite) into the arena; returns its first element.
    auto place = [&](const std::string& name, littlebit::Index rows, littlebit::Index cols) -> const Scalar* {
      std::vector<littlebit::Index> shape;
      const auto v = dense(name, shape);
      const std::vector<littlebit::Index> want = cols < 0 ? std::vector<littlebit::Index>{rows} : std::vector<littlebit::Index>{rows, cols};
      if (shape != want)
        littlebit::detail::fail(source, ": tensor '", name, "' has shape ", shape_string(shape), ", the config says ",
                                shape_string(want));
      Scalar* out = m.weights_.data() + used;
      for (std::size_t i = 0; i < v.size(); ++i) {
        out[i] = static_cast<Scalar>(v[i]);
        if (!std::isfinite(static_cast<double>(v[i])))
          littlebit::detail::fail(source, ": tensor '", name, "' holds NaN or infinite values");
      }
      m.index_[name] = {static_cast<littlebit::Index>(used), rows, cols};
      used += v.size();
      return out;
    };
    auto linear = [&](std::size_t i) {
      const LinearInfo& info = infos[i];
      Linear<Scalar> lin;
      lin.out = info.out;
      lin.in = info.in;
      lin.packed = pk[i];
      if (lin.packed) {
        if (lin.packed->out_features() != info.out || lin.packed->in_features() != info.in)
          littlebit::detail::fail(source, ": packed layer '", info.name, "' is ", lin.packed->out_features(), " x ",
                                  lin.packed->in_features(), ", the config says ", info.out, " x ", info.in);
        if (lin.packed->has_bias())
          littlebit::detail::fail(source, ": packed layer '", info.name, "' has a bias; Llama's linear layers have none");
      } else {
        lin.w = place(info.name + ".weight", info.out, info.in);
      }
      return lin;
    };
    m.embd_ = place("token_embd.weight", cfg.vocab, cfg.d_model);
    if (!m.tied_) m.output_ = place("output.weight", cfg.vocab, cfg.d_model);
    m.output_norm_ = place("output_norm.weight", cfg.d_model, -1);
    for (int l = 0; l < n; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      const auto i = static_cast<std::size_t>(7 * l);
      Layer L;
      L.attn_norm = place(p + "attn_norm.weight", cfg.d_model, -1);
      L.ffn_norm = place(p + "ffn_norm.weight", cfg.d_model, -1);
      L.wq = linear(i);
      L.wk = linear(i + 1);
      L.wv = linear(i + 2);
      L.wo = linear(i + 3);
      L.w_gate = linear(i + 4);
      L.w_up = linear(i + 5);
      L.w_down = linear(i + 6);
      m.layers_.push_back(std::move(L));
    }
    if (used != total) littlebit::detail::fail(source, ": weight arena holds ", used, " of ", total, " values");
    return m;
  }
  static std::string shape_string(const std::vector<littlebit::Index>& s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
  }
  /// y = x / sqrt(mean(x²) + eps) ⊙ w, row by row (x, y: T x d; w: d).
  void rms(const Eigen::Ref<const Matrix>& x, const Scalar* w, Eigen::Ref<Matrix> y) const {
    const CVecMap wv(w, x.cols());
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
      const Scalar ms = x.row(t).squaredNorm() / static_cast<Scalar>(x.cols());
      y.row(t) = x.row(t).cwiseProduct(wv.transpose()) / std::sqrt(ms + static_cast<Scalar>(cfg_.rms_eps));
    }
  }
  /// Rotary embedding of every head of x (T x heads·head_dim), position = p0 + row, on adjacent
  /// pairs (2i, 2i+1) or halves (i, i + hd/2) as the config says.
  void rope(MatMap& x, int heads, Eigen::Index p0) const {
    const int hd = cfg_.head_dim;
    for (Eigen::Index t = 0; t < x.rows(); ++t)
      for (int i = 0; i < hd / 2; ++i) {
        const double theta = static_cast<double>(p0 + t) * std::pow(cfg_.rope_base, -2.0 * i / hd);
        const auto c = static_cast<Scalar>(std::cos(theta)), s = static_cast<Scalar>(std::sin(theta));
        for (int h = 0; h < heads; ++h) {
          const int ia = cfg_.rope_adjacent ? 2 * i : i, ib = cfg_.rope_adjacent ? 2 * i + 1 : i + hd / 2;
          Scalar& a = x(t, h * hd + ia);
          Scalar& b = x(t, h * hd + ib);
          const Scalar a0 = a, b0 = b;
          a = a0 * c - b0 * s;
          b = a0 * s + b0 * c;
        }
      }
  }

  struct Placed {
    littlebit::Index offset, rows, cols;  // cols < 0: a vector
  };

  LlamaConfig cfg_;
  std::vector<Scalar> weights_;                 // the weight arena (see build)
  std::map<std::string, Placed> index_;         // tensor name -> place in the arena
  const Scalar* embd_ = nullptr;                // vocab x d
  const Scalar* output_ = nullptr;              // vocab x d, when not tied
  const Scalar* output_norm_ = nullptr;         // d
  bool tied_ = true;
  std::vector<Layer> layers_;
  mutable std::vector<Scalar> acts_;            // the activation arena (see forward)
};

}  // namespace llm
