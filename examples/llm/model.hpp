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
    if (c.n_layer <= 0 || c.d_model <= 0 || c.n_head <= 0 || c.n_head_kv <= 0 || c.d_ff <= 0 ||
        c.d_model % c.n_head != 0 || c.n_head % c.n_head_kv != 0)
      littlebit::detail::fail(f.source(), ": inconsistent hyper-parameters (layers ", c.n_layer, ", width ", c.d_model,
                              ", heads ", c.n_head, "/", c.n_head_kv, ", ffn ", c.d_ff, ")");
    c.head_dim = c.d_model / c.n_head;
    const auto& embd = f.tensor("token_embd.weight");
    if (embd.dims.size() != 2 || embd.dims.at(0) != c.d_model)
      littlebit::detail::fail(f.source(), ": token_embd.weight is not a vocabulary x ", c.d_model, " matrix");
    c.vocab = static_cast<int>(embd.dims.at(1));
    return c;
  }

  std::string to_json() const {
    return nlohmann::json{{"architecture", "llama"}, {"n_layer", n_layer},  {"d_model", d_model},   {"n_head", n_head},
                          {"n_head_kv", n_head_kv},  {"d_ff", d_ff},        {"vocab", vocab},       {"rms_eps", rms_eps},
                          {"rope_base", rope_base}, {"rope", rope_adjacent ? "adjacent" : "half"}}
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
    } catch (const nlohmann::json::exception& e) {
      littlebit::detail::fail(source, ": model config JSON: ", e.what());
    }
    if (c.n_layer <= 0 || c.d_model <= 0 || c.n_head <= 0 || c.n_head_kv <= 0 || c.d_ff <= 0 || c.vocab <= 0 ||
        c.d_model % c.n_head != 0 || c.n_head % c.n_head_kv != 0 || !(c.rms_eps > 0) || !(c.rope_base > 0))
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

/// A linear layer y = W x, dense or packed. apply() maps rows: X (T x in) -> Y (T x out).
template <class Scalar>
struct Linear {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Matrix w;                                                   // out x in, when dense
  std::shared_ptr<littlebit::PackedFactorizedLinear> packed;  // when packed (not for concurrent use)

  Matrix apply(const Matrix& x) const {
    if (!packed) return x * w.transpose();
    using RowF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    RowF xf = x.template cast<float>();                        // T x in
    RowF y(x.rows(), packed->out_features());                  // T x out
    packed->forward(littlebit::MatrixView<const float>(xf.data(), xf.rows(), xf.cols()),
                    littlebit::MatrixView<float>(y.data(), y.rows(), y.cols()));
    if constexpr (std::is_same_v<Scalar, float>) return y;
    else return y.template cast<Scalar>();
  }
  /// Bytes the weights take in memory.
  std::int64_t memory_bytes() const {
    return packed ? static_cast<std::int64_t>(packed->memory_bytes()) : static_cast<std::int64_t>(w.size()) * static_cast<std::int64_t>(sizeof(Scalar));
  }
};

template <class Scalar>
class LlamaModel {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  struct Layer {
    Vector attn_norm, ffn_norm;                    // d
    Linear<Scalar> wq, wk, wv, wo;                 // d x d, kv x d, kv x d, d x d   (out x in)
    Linear<Scalar> w_gate, w_up, w_down;           // ff x d, ff x d, d x ff
  };

  /// Keys and values of the positions seen so far, per layer (positions x kv), for decoding one
  /// token at a time.
  struct KvCache {
    std::vector<Matrix> k, v;
    Eigen::Index length = 0;
  };

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

  const LlamaConfig& config() const { return cfg_; }
  int layers() const { return static_cast<int>(layers_.size()); }
  const Layer& layer(int l) const { return layers_.at(static_cast<std::size_t>(l)); }

  /// The same model in S2 with every packed layer replaced by its dense reconstruction
  /// sum_p diag(h) U diag(ell) V diag(g) (ref::reconstruct, in double, on the stored FP16 scales).
  template <class S2>
  LlamaModel<S2> dequantized() const {
    LlamaModel<S2> m;
    m.cfg_ = cfg_;
    m.embd_ = embd_.template cast<S2>();
    m.output_ = output_.template cast<S2>();
    m.output_norm_ = output_norm_.template cast<S2>();
    m.tied_ = tied_;
    auto lin = [](const Linear<Scalar>& l) {
      Linear<S2> o;
      if (!l.packed) {
        o.w = l.w.template cast<S2>();
        return o;
      }
      const auto paths = l.packed->paths();
      std::vector<littlebit::ref::FactorizedPath<littlebit::Float16>> views;
      for (const auto& p : paths) views.push_back(p.view());
      Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> w(l.packed->out_features(), l.packed->in_features());
      littlebit::ref::reconstruct(std::span<const littlebit::ref::FactorizedPath<littlebit::Float16>>(views),
                                  littlebit::MatrixView<double>(w.data(), w.rows(), w.cols()));
      o.w = w.template cast<S2>();
      return o;
    };
    for (const Layer& L : layers_) {
      typename LlamaModel<S2>::Layer D;
      D.attn_norm = L.attn_norm.template cast<S2>();
      D.ffn_norm = L.ffn_norm.template cast<S2>();
      D.wq = lin(L.wq);
      D.wk = lin(L.wk);
      D.wv = lin(L.wv);
      D.wo = lin(L.wo);
      D.w_gate = lin(L.w_gate);
      D.w_up = lin(L.w_up);
      D.w_down = lin(L.w_down);
      m.layers_.push_back(std::move(D));
    }
    return m;
  }

  /// Bytes of every weight in memory (dense as Scalar, packed as the layers hold them).
  std::int64_t memory_bytes() const {
    std::int64_t b = static_cast<std::int64_t>(embd_.size() + output_.size() + output_norm_.size()) *
                     static_cast<std::int64_t>(sizeof(Scalar));
    for (const Layer& L : layers_) {
      b += static_cast<std::int64_t>(L.attn_norm.size() + L.ffn_norm.size()) * static_cast<std::int64_t>(sizeof(Scalar));
      for (const auto* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) b += w->memory_bytes();
    }
    return b;
  }

  /// Logits (T x vocab) of every position of `tokens`. Without a cache, one causal window from
  /// position 0; with one, the tokens continue the cached positions (and are added to it).
  Matrix forward(const std::vector<int>& tokens, KvCache* cache = nullptr) const {
    const auto T = static_cast<Eigen::Index>(tokens.size());
    const int d = cfg_.d_model, hd = cfg_.head_dim, nh = cfg_.n_head, nkv = cfg_.n_head_kv;
    const Eigen::Index p0 = cache ? cache->length : 0;    // position of tokens[0]
    if (cache && cache->k.empty()) {
      cache->k.assign(layers_.size(), Matrix(0, nkv * hd));
      cache->v.assign(layers_.size(), Matrix(0, nkv * hd));
    }
    Matrix x(T, d);  // T x d: the residual stream
    for (Eigen::Index t = 0; t < T; ++t) {
      const int id = tokens[static_cast<std::size_t>(t)];
      if (id < 0 || id >= cfg_.vocab) littlebit::detail::fail("LlamaModel::forward: token ", id, " outside the vocabulary");
      x.row(t) = embd_.row(id);
    }
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const Layer& L = layers_[l];
      const Matrix a = rms(x, L.attn_norm);                 // T x d
      Matrix q = L.wq.apply(a);                             // T x d
      Matrix k_new = L.wk.apply(a);                         // T x kv
      Matrix v_new = L.wv.apply(a);                         // T x kv
      rope(q, nh, p0);
      rope(k_new, nkv, p0);
      Matrix k_all, v_all;                                  // (p0 + T) x kv with a cache
      if (cache) {
        Matrix& kc = cache->k[l];
        Matrix& vc = cache->v[l];
        kc.conservativeResize(p0 + T, Eigen::NoChange);
        vc.conservativeResize(p0 + T, Eigen::NoChange);
        kc.bottomRows(T) = k_new;
        vc.bottomRows(T) = v_new;
      }
      const Matrix& k = cache ? cache->k[l] : k_new;
      const Matrix& v = cache ? cache->v[l] : v_new;
      const Eigen::Index S = k.rows();                      // keys: positions 0 .. p0 + T - 1
      Matrix att(T, d);                                     // T x d: heads side by side
      const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(hd));
      for (int h = 0; h < nh; ++h) {
        const int g = h / (nh / nkv);                       // the key/value head of query head h
        const Matrix s = (q.middleCols(h * hd, hd) * k.middleCols(g * hd, hd).transpose()) * scale;  // T x S
        Matrix p(T, S);
        for (Eigen::Index i = 0; i < T; ++i) {              // causal softmax over keys 0 .. p0 + i
          const Eigen::Index last = p0 + i;
          const Scalar mx = s.row(i).head(last + 1).maxCoeff();
          Scalar sum = 0;
          for (Eigen::Index j = 0; j < S; ++j) {
            p(i, j) = j <= last ? std::exp(s(i, j) - mx) : Scalar(0);
            sum += p(i, j);
          }
          p.row(i) /= sum;
        }
        att.middleCols(h * hd, hd) = p * v.middleCols(g * hd, hd);
      }
      x += L.wo.apply(att);
      const Matrix b = rms(x, L.ffn_norm);                  // T x d
      Matrix gate = L.w_gate.apply(b);                      // T x ff
      const Matrix up = L.w_up.apply(b);                    // T x ff
      gate = gate.unaryExpr([](Scalar z) { return z / (Scalar(1) + std::exp(-z)); }).cwiseProduct(up);
      x += L.w_down.apply(gate);
    }
    if (cache) cache->length = p0 + T;
    const Matrix out = rms(x, output_norm_);
    return out * (tied_ ? embd_ : output_).transpose();    // T x vocab
  }

 private:
  template <class Dense, class Packed, class Has>
  static LlamaModel build(const LlamaConfig& cfg, int layers, const std::string& source, Dense&& dense, Packed&& packed,
                          Has&& has) {
    LlamaModel m;
    m.cfg_ = cfg;
    const int n = layers < 0 ? cfg.n_layer : std::min(layers, cfg.n_layer);
    auto matrix = [&](const std::string& name, int rows, int cols) {
      std::vector<littlebit::Index> shape;
      const std::vector<float> v = dense(name, shape);
      if (shape != std::vector<littlebit::Index>{rows, cols})
        littlebit::detail::fail(source, ": tensor '", name, "' has shape ", shape_string(shape), ", the config says [", rows,
                                ", ", cols, "]");
      Matrix out = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(v.data(), rows, cols)
                       .template cast<Scalar>();
      if (!out.allFinite()) littlebit::detail::fail(source, ": tensor '", name, "' holds NaN or infinite values");
      return out;
    };
    auto vector = [&](const std::string& name, int size) {
      std::vector<littlebit::Index> shape;
      const std::vector<float> v = dense(name, shape);
      if (shape != std::vector<littlebit::Index>{size})
        littlebit::detail::fail(source, ": tensor '", name, "' has shape ", shape_string(shape), ", expected a vector of ", size);
      Vector out = Eigen::Map<const Eigen::VectorXf>(v.data(), size).template cast<Scalar>();
      if (!out.allFinite()) littlebit::detail::fail(source, ": tensor '", name, "' holds NaN or infinite values");
      return out;
    };
    auto linear = [&](const LinearInfo& info) {
      Linear<Scalar> lin;
      lin.packed = packed(info.name);
      if (lin.packed) {
        if (lin.packed->out_features() != info.out || lin.packed->in_features() != info.in)
          littlebit::detail::fail(source, ": packed layer '", info.name, "' is ", lin.packed->out_features(), " x ",
                                  lin.packed->in_features(), ", the config says ", info.out, " x ", info.in);
        if (lin.packed->has_bias())
          littlebit::detail::fail(source, ": packed layer '", info.name, "' has a bias; Llama's linear layers have none");
      } else {
        lin.w = matrix(info.name + ".weight", info.out, info.in);
      }
      return lin;
    };
    m.embd_ = matrix("token_embd.weight", cfg.vocab, cfg.d_model);
    m.output_norm_ = vector("output_norm.weight", cfg.d_model);
    m.tied_ = !has("output.weight");
    if (!m.tied_) m.output_ = matrix("output.weight", cfg.vocab, cfg.d_model);
    const auto infos = linear_layers(cfg);
    for (int l = 0; l < n; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      const LinearInfo* info = &infos[static_cast<std::size_t>(7 * l)];
      Layer L;
      L.attn_norm = vector(p + "attn_norm.weight", cfg.d_model);
      L.ffn_norm = vector(p + "ffn_norm.weight", cfg.d_model);
      L.wq = linear(info[0]);
      L.wk = linear(info[1]);
      L.wv = linear(info[2]);
      L.wo = linear(info[3]);
      L.w_gate = linear(info[4]);
      L.w_up = linear(info[5]);
      L.w_down = linear(info[6]);
      m.layers_.push_back(std::move(L));
    }
    return m;
  }
  static std::string shape_string(const std::vector<littlebit::Index>& s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
  }
  Matrix rms(const Matrix& x, const Vector& w) const {
    Matrix y(x.rows(), x.cols());
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
      const Scalar ms = x.row(t).squaredNorm() / static_cast<Scalar>(x.cols());
      y.row(t) = x.row(t).cwiseProduct(w.transpose()) / std::sqrt(ms + static_cast<Scalar>(cfg_.rms_eps));
    }
    return y;
  }
  /// Rotary embedding of every head of x (T x heads·head_dim), position = p0 + row, on adjacent
  /// pairs (2i, 2i+1) or halves (i, i + hd/2) as the config says.
  void rope(Matrix& x, int heads, Eigen::Index p0) const {
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

  template <class>
  friend class LlamaModel;

  LlamaConfig cfg_;
  Matrix embd_, output_;
  Vector output_norm_;
  bool tied_ = true;
  std::vector<Layer> layers_;
};

}  // namespace llm
