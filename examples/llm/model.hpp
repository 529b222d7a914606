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
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "littlebit/core/error.hpp"
#include "littlebit/io/gguf.hpp"

namespace llm {

struct LlamaConfig {
  int n_layer = 0, d_model = 0, n_head = 0, n_head_kv = 0, d_ff = 0, vocab = 0, head_dim = 0;
  double rms_eps = 1e-5, rope_base = 10000.0;

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
};

template <class Scalar>
class LlamaModel {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  struct Layer {
    Vector attn_norm, ffn_norm;          // d
    Matrix wq, wk, wv, wo;               // d x d, kv x d, kv x d, d x d   (out x in)
    Matrix w_gate, w_up, w_down;         // ff x d, ff x d, d x ff
  };

  /// Dequantized dense weights of the first `layers` layers (all when < 0).
  static LlamaModel from_gguf(const littlebit::io::GgufFile& f, int layers = -1) {
    LlamaModel m;
    m.cfg_ = LlamaConfig::from_gguf(f);
    const int n = layers < 0 ? m.cfg_.n_layer : std::min(layers, m.cfg_.n_layer);
    const int kv = m.cfg_.n_head_kv * m.cfg_.head_dim;
    m.embd_ = load(f, "token_embd.weight", m.cfg_.vocab, m.cfg_.d_model);
    m.output_norm_ = load_vector(f, "output_norm.weight", m.cfg_.d_model);
    m.tied_ = !f.contains("output.weight");
    if (!m.tied_) m.output_ = load(f, "output.weight", m.cfg_.vocab, m.cfg_.d_model);
    for (int l = 0; l < n; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      Layer L;
      L.attn_norm = load_vector(f, p + "attn_norm.weight", m.cfg_.d_model);
      L.ffn_norm = load_vector(f, p + "ffn_norm.weight", m.cfg_.d_model);
      L.wq = load(f, p + "attn_q.weight", m.cfg_.d_model, m.cfg_.d_model);
      L.wk = load(f, p + "attn_k.weight", kv, m.cfg_.d_model);
      L.wv = load(f, p + "attn_v.weight", kv, m.cfg_.d_model);
      L.wo = load(f, p + "attn_output.weight", m.cfg_.d_model, m.cfg_.d_model);
      L.w_gate = load(f, p + "ffn_gate.weight", m.cfg_.d_ff, m.cfg_.d_model);
      L.w_up = load(f, p + "ffn_up.weight", m.cfg_.d_ff, m.cfg_.d_model);
      L.w_down = load(f, p + "ffn_down.weight", m.cfg_.d_model, m.cfg_.d_ff);
      m.layers_.push_back(std::move(L));
    }
    return m;
  }

  const LlamaConfig& config() const { return cfg_; }
  int layers() const { return static_cast<int>(layers_.size()); }

  /// Logits (T x vocab) of every position of `tokens` (one causal window).
  Matrix forward(const std::vector<int>& tokens) const {
    const auto T = static_cast<Eigen::Index>(tokens.size());
    const int d = cfg_.d_model, hd = cfg_.head_dim, nh = cfg_.n_head, nkv = cfg_.n_head_kv;
    Matrix x(T, d);  // T x d: the residual stream
    for (Eigen::Index t = 0; t < T; ++t) {
      const int id = tokens[static_cast<std::size_t>(t)];
      if (id < 0 || id >= cfg_.vocab) littlebit::detail::fail("LlamaModel::forward: token ", id, " outside the vocabulary");
      x.row(t) = embd_.row(id);
    }
    for (const Layer& L : layers_) {
      const Matrix a = rms(x, L.attn_norm);                 // T x d
      Matrix q = a * L.wq.transpose();                      // T x d
      Matrix k = a * L.wk.transpose();                      // T x kv
      const Matrix v = a * L.wv.transpose();                // T x kv
      rope(q, nh);
      rope(k, nkv);
      Matrix att(T, d);                                     // T x d: heads side by side
      const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(hd));
      for (int h = 0; h < nh; ++h) {
        const int g = h / (nh / nkv);                       // the key/value head of query head h
        const Matrix s = (q.middleCols(h * hd, hd) * k.middleCols(g * hd, hd).transpose()) * scale;  // T x T
        Matrix p(T, T);
        for (Eigen::Index i = 0; i < T; ++i) {              // causal softmax over keys 0..i
          const Scalar mx = s.row(i).head(i + 1).maxCoeff();
          Scalar sum = 0;
          for (Eigen::Index j = 0; j < T; ++j) {
            p(i, j) = j <= i ? std::exp(s(i, j) - mx) : Scalar(0);
            sum += p(i, j);
          }
          p.row(i) /= sum;
        }
        att.middleCols(h * hd, hd) = p * v.middleCols(g * hd, hd);
      }
      x += att * L.wo.transpose();
      const Matrix b = rms(x, L.ffn_norm);                  // T x d
      Matrix gate = b * L.w_gate.transpose();               // T x ff
      const Matrix up = b * L.w_up.transpose();             // T x ff
      gate = gate.unaryExpr([](Scalar z) { return z / (Scalar(1) + std::exp(-z)); }).cwiseProduct(up);
      x += gate * L.w_down.transpose();
    }
    const Matrix out = rms(x, output_norm_);
    return out * (tied_ ? embd_ : output_).transpose();    // T x vocab
  }

 private:
  static Matrix load(const littlebit::io::GgufFile& f, const std::string& name, int rows, int cols) {
    const auto& t = f.tensor(name);
    if (t.shape() != std::vector<littlebit::Index>{rows, cols})
      littlebit::detail::fail(f.source(), ": tensor '", name, "' has shape ", t.shape()[0], " x ", t.shape().back(),
                              ", the metadata says ", rows, " x ", cols);
    const auto v = littlebit::io::dequantize(t);
    Matrix m = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(v.data(), rows, cols)
                   .template cast<Scalar>();
    if (!m.allFinite()) littlebit::detail::fail(f.source(), ": tensor '", name, "' holds NaN or infinite values");
    return m;
  }
  static Vector load_vector(const littlebit::io::GgufFile& f, const std::string& name, int n) {
    const auto& t = f.tensor(name);
    if (t.shape() != std::vector<littlebit::Index>{n})
      littlebit::detail::fail(f.source(), ": tensor '", name, "' has ", t.numel(), " entries in ", t.shape().size(),
                              " dimensions, expected a vector of ", n);
    const auto v = littlebit::io::dequantize(t);
    Vector out = Eigen::Map<const Eigen::VectorXf>(v.data(), n).template cast<Scalar>();
    if (!out.allFinite()) littlebit::detail::fail(f.source(), ": tensor '", name, "' holds NaN or infinite values");
    return out;
  }
  Matrix rms(const Matrix& x, const Vector& w) const {
    Matrix y(x.rows(), x.cols());
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
      const Scalar ms = x.row(t).squaredNorm() / static_cast<Scalar>(x.cols());
      y.row(t) = x.row(t).cwiseProduct(w.transpose()) / std::sqrt(ms + static_cast<Scalar>(cfg_.rms_eps));
    }
    return y;
  }
  /// Adjacent-pair rotary embedding of every head of x (T x heads·head_dim), position = row.
  void rope(Matrix& x, int heads) const {
    const int hd = cfg_.head_dim;
    for (Eigen::Index t = 0; t < x.rows(); ++t)
      for (int i = 0; i < hd / 2; ++i) {
        const double theta = static_cast<double>(t) * std::pow(cfg_.rope_base, -2.0 * i / hd);
        const auto c = static_cast<Scalar>(std::cos(theta)), s = static_cast<Scalar>(std::sin(theta));
        for (int h = 0; h < heads; ++h) {
          Scalar& a = x(t, h * hd + 2 * i);
          Scalar& b = x(t, h * hd + 2 * i + 1);
          const Scalar a0 = a, b0 = b;
          a = a0 * c - b0 * s;
          b = a0 * s + b0 * c;
        }
      }
  }

  LlamaConfig cfg_;
  Matrix embd_, output_;
  Vector output_norm_;
  bool tied_ = true;
  std::vector<Layer> layers_;
};

}  // namespace llm
