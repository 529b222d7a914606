// examples/train/model.hpp: the Llama decoder as a trainable student of LittleBit layers, and
// the same forward with frozen dense layers as its teacher.
//
// For B sequences of T tokens (N = B T rows), block l maps the residual stream x_l to x_{l+1}:
//   a1 = rms(x_l) w1;  q = rope(Wq a1), k = rope(Wk a1), v = Wv a1;  o = attn(q, k, v)
//   h  = x_l + Wo o;   a2 = rms(h) w2;  x_{l+1} = h + Wdown (silu(Wgate a2) . (Wup a2))
// and the output is y = rms(x_L) w_f, logits = y E^T (E the frozen head: the tied embedding).
// The loss (train/loss.hpp) reads Hugging Face's hidden_states[1:]: x_1 .. x_{L-1} and y.
//
// Student: the seven projections of every block are FactorizedLinear layers (their latent U, V
// and scales train; the library's forward/backward, SmoothSign or STE); the gains w1, w2 of every
// block and w_f train, in one arena (norms: [w1, w2] per block, then w_f); the embedding and head
// are frozen views. Forward keeps what backward needs per block (BlockActs); the projections
// keep their own inputs (FactorizedLinear caches X). Scalar is float to train and double for
// the finite-difference checks.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "littlebit/layer/factorized_linear.hpp"
#include "llm/model.hpp"
#include "train/loss.hpp"
#include "train/ops.hpp"

namespace train {

/// What block l's backward needs, kept by the forward (N = B T; kv = Hkv hd).
template <class S>
struct BlockActs {
  Mat<S> x;       // N x d    block input x_l
  Vec<S> rstd1;   // N        attention norm's 1 / rms
  Mat<S> q;       // N x d    queries after rope
  Mat<S> k, v;    // N x kv   keys after rope, values
  Mat<S> lse;     // N x H    attention rows' log-sum-exp
  Mat<S> att;     // N x d    attention output (heads side by side)
  Mat<S> h;       // N x d    x_l + Wo att
  Vec<S> rstd2;   // N        MLP norm's 1 / rms
  Mat<S> gate;    // N x ff   Wgate a2 (before silu)
  Mat<S> up;      // N x ff   Wup a2
};

/// Reused buffers of one forward or backward (any block).
template <class S>
struct Scratch {
  Mat<S> a;                 // N x d    a1, then a2
  Mat<S> o, act;            // N x d,  N x ff
  Mat<S> d_act, d_gate, d_up, da, tmp_d, d_att, dq, dk, dv, tmp_kv;
  std::vector<S> reduce;
};

/// A frozen dense projection: Y (N x out) = X W^T, W (out x in) row-major.
template <class S>
struct DenseLinear {
  const S* w = nullptr;
  Index out = 0, in = 0;
  void forward(const Mat<S>& x, Mat<S>& y) const {
    y.resize(x.rows(), out);
    y.noalias() = x * CMatMap<S>(w, out, in).transpose();
  }
};

/// y = the projection of x, y resized to N x out.
template <class S>
void project(littlebit::FactorizedLinear<S>& l, const Mat<S>& x, Mat<S>& y) {
  y.resize(x.rows(), l.out_features());
  l.forward(x, y);
}
template <class S>
void project(DenseLinear<S>& l, const Mat<S>& x, Mat<S>& y) {
  l.forward(x, y);
}

/// Block forward with any projection type (FactorizedLinear or DenseLinear); fills `a`.
template <class S, class Lin>
void block_forward(const llm::LlamaConfig& c, Index B, Index T, const RopeTable<S>& rope, const S* w1, const S* w2,
                   const std::array<Lin*, 7>& lin, const Mat<S>& x_in, BlockActs<S>& a, Scratch<S>& s, Mat<S>& x_out) {
  const AttnShape as{B, T, c.n_head, c.n_head_kv, c.head_dim};
  a.x = x_in;
  rmsnorm_forward(a.x, w1, c.rms_eps, s.a, a.rstd1);
  project(*lin[0], s.a, a.q);
  project(*lin[1], s.a, a.k);
  project(*lin[2], s.a, a.v);
  rope_apply(a.q, T, c.n_head, rope, false);
  rope_apply(a.k, T, c.n_head_kv, rope, false);
  attention_forward(as, a.q, a.k, a.v, a.att, a.lse);
  project(*lin[3], a.att, s.o);
  a.h = a.x + s.o;
  rmsnorm_forward(a.h, w2, c.rms_eps, s.a, a.rstd2);
  project(*lin[4], s.a, a.gate);
  project(*lin[5], s.a, a.up);
  swiglu_forward(a.gate, a.up, s.act);
  project(*lin[6], s.act, s.o);
  x_out = a.h + s.o;
}

template <class S>
class Student {
 public:
  using Linear = littlebit::FactorizedLinear<S>;
  static constexpr const char* kProj[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

  Student() = default;
  /// cfg.n_layer blocks; `embedding` and `head` (vocab x d, frozen, not owned; the same for a
  /// tied head) must outlive the student; norms = [w1, w2] per block then w_f ((2 L + 1) d);
  /// layers: 7 per block in kProj order.
  Student(const llm::LlamaConfig& cfg, const S* embedding, const S* head, Vec<S> norms, std::vector<Linear> layers)
      : cfg_(cfg), embd_(embedding), head_(head), norms_(std::move(norms)), layers_(std::move(layers)) {
    const Index d = cfg.d_model;
    if (norms_.size() != (2 * cfg.n_layer + 1) * d)
      littlebit::detail::fail("Student: ", norms_.size(), " norm gains for ", cfg.n_layer, " blocks of width ", d);
    if (layers_.size() != static_cast<std::size_t>(7 * cfg.n_layer))
      littlebit::detail::fail("Student: ", layers_.size(), " projections for ", cfg.n_layer, " blocks (7 each)");
    const auto infos = llm::linear_layers(cfg);
    for (std::size_t i = 0; i < layers_.size(); ++i)
      if (layers_[i].out_features() != infos[i].out || layers_[i].in_features() != infos[i].in)
        littlebit::detail::fail("Student: ", infos[i].name, " is ", layers_[i].out_features(), " x ",
                                layers_[i].in_features(), ", the config says ", infos[i].out, " x ", infos[i].in);
    norm_grads_.setZero(norms_.size());
    acts_.resize(static_cast<std::size_t>(cfg.n_layer));
  }

  const llm::LlamaConfig& config() const { return cfg_; }
  int n_layer() const { return cfg_.n_layer; }
  Vec<S>& norms() { return norms_; }
  const Vec<S>& norms() const { return norms_; }
  Vec<S>& norm_grads() { return norm_grads_; }
  std::vector<Linear>& layers() { return layers_; }
  const std::vector<Linear>& layers() const { return layers_; }
  Linear& layer(int block, int proj) { return layers_[static_cast<std::size_t>(7 * block + proj)]; }
  const S* head() const { return head_; }
  const S* w1(int l) const { return norms_.data() + 2 * l * cfg_.d_model; }
  const S* w2(int l) const { return norms_.data() + (2 * l + 1) * cfg_.d_model; }
  const S* wf() const { return norms_.data() + 2 * cfg_.n_layer * cfg_.d_model; }

  void zero_grad() {
    norm_grads_.setZero();
    for (auto& l : layers_) l.zero_grad();
  }
  void set_layer_options(const littlebit::FactorizedLinearOptions& o) {
    for (auto& l : layers_) l.set_options(o);
  }

  /// Forward of B sequences of T tokens (row-major B x T): keeps the activations; returns the
  /// hidden states the loss reads (x_1 .. x_{L-1}, then y), valid until the next forward.
  /// `poison` (a test of the NaN stop) makes the embedding rows NaN.
  std::vector<const Mat<S>*> forward(const std::vector<int>& tokens, Index B, Index T, bool poison = false) {
    const Index N = B * T, d = cfg_.d_model;
    if (static_cast<Index>(tokens.size()) != N)
      littlebit::detail::fail("Student::forward: ", tokens.size(), " tokens for ", B, " x ", T);
    if (rope_.cos.rows() != T) rope_ = RopeTable<S>(T, cfg_.head_dim, cfg_.rope_base, cfg_.rope_adjacent);
    B_ = B;
    T_ = T;
    xs_.resize(static_cast<std::size_t>(cfg_.n_layer + 1));
    xs_[0].resize(N, d);
    for (Index i = 0; i < N; ++i) {
      const int id = tokens[static_cast<std::size_t>(i)];
      if (id < 0 || id >= cfg_.vocab) littlebit::detail::fail("Student::forward: token ", id, " outside the vocabulary");
      xs_[0].row(i) = CMatMap<S>(embd_, cfg_.vocab, d).row(id);
    }
    if (poison) xs_[0].setConstant(std::numeric_limits<S>::quiet_NaN());
    for (int l = 0; l < cfg_.n_layer; ++l) {
      std::array<Linear*, 7> lin;
      for (int j = 0; j < 7; ++j) lin[static_cast<std::size_t>(j)] = &layer(l, j);
      block_forward(cfg_, B, T, rope_, w1(l), w2(l), lin, xs_[static_cast<std::size_t>(l)], acts_[static_cast<std::size_t>(l)],
                    scratch_, xs_[static_cast<std::size_t>(l + 1)]);
    }
    rmsnorm_forward(xs_.back(), wf(), cfg_.rms_eps, y_, rstd_f_);
    std::vector<const Mat<S>*> out;
    for (int l = 1; l < cfg_.n_layer; ++l) out.push_back(&xs_[static_cast<std::size_t>(l)]);
    out.push_back(&y_);
    return out;
  }

  /// Block-wise distillation, one pass over all blocks: block l runs from `input` (kTeacher: the
  /// teacher's x_l; kStudent: the student's own block l-1 output of this pass, x_0 the embeddings)
  /// and is pulled toward the teacher's x_{l+1} by hidden_mse with `norm`; its gradient stays
  /// inside the block (no head, no softmax, nothing flows into block l-1). Each block's backward
  /// follows its forward at once. teacher_x: x_0 .. x_L (L + 1 of N x d; Teacher::forward's xs).
  /// Adds grad_scale d(sum of the L terms) into the blocks' parameters (w_f gets none); returns
  /// the L terms.
  enum class BlockInput { kTeacher, kStudent };
  std::vector<double> blockwise(const std::vector<Mat<S>>& teacher_x, Index B, Index T, BlockInput input, HiddenNorm norm,
                                double grad_scale) {
    const int L = cfg_.n_layer;
    if (static_cast<int>(teacher_x.size()) != L + 1)
      littlebit::detail::fail("Student::blockwise: ", teacher_x.size(), " teacher states for ", L, " blocks (needs x_0 .. x_L)");
    if (teacher_x[0].rows() != B * T || teacher_x[0].cols() != cfg_.d_model)
      littlebit::detail::fail("Student::blockwise: teacher states of ", teacher_x[0].rows(), " x ", teacher_x[0].cols(),
                              " for ", B, " x ", T, " tokens of width ", cfg_.d_model);
    if (rope_.cos.rows() != T) rope_ = RopeTable<S>(T, cfg_.head_dim, cfg_.rope_base, cfg_.rope_adjacent);
    B_ = B;
    T_ = T;
    std::vector<double> terms;
    Mat<S> out, prev, d;
    for (int l = 0; l < L; ++l) {
      std::array<Linear*, 7> lin;
      for (int j = 0; j < 7; ++j) lin[static_cast<std::size_t>(j)] = &layer(l, j);
      const Mat<S>& in = input == BlockInput::kTeacher || l == 0 ? teacher_x[static_cast<std::size_t>(l)] : prev;
      block_forward(cfg_, B, T, rope_, w1(l), w2(l), lin, in, acts_[static_cast<std::size_t>(l)], scratch_, out);
      terms.push_back(hidden_mse(out, teacher_x[static_cast<std::size_t>(l + 1)], norm, grad_scale, d));
      block_backward(l, d);  // d: d x_{l+1} in, d x_l out (unused)
      std::swap(prev, out);
    }
    return terms;
  }

  /// Backward of the last forward from the loss gradients of its hidden states (same order as
  /// forward returned: d x_1 .. d x_{L-1}, d y); adds into every parameter's gradient.
  void backward(const std::vector<Mat<S>>& d_hidden) {
    const int L = cfg_.n_layer;
    if (static_cast<int>(d_hidden.size()) != L) littlebit::detail::fail("Student::backward: ", d_hidden.size(), " gradients for ", L, " hidden states");
    Mat<S> dx;
    S* dwf = norm_grads_.data() + 2 * L * cfg_.d_model;
    rmsnorm_backward(d_hidden.back(), xs_.back(), wf(), rstd_f_, dx, dwf, false, scratch_.reduce);
    for (int l = L - 1; l >= 0; --l) {
      if (l < L - 1) dx += d_hidden[static_cast<std::size_t>(l)];  // d x_{l+1} from the loss
      block_backward(l, dx);
    }
  }

 private:
  /// dx: d x_{l+1} in, d x_l out.
  void block_backward(int l, Mat<S>& dx) {
    const llm::LlamaConfig& c = cfg_;
    BlockActs<S>& a = acts_[static_cast<std::size_t>(l)];
    Scratch<S>& s = scratch_;
    const Index N = a.x.rows(), d = c.d_model;
    S* dw1 = norm_grads_.data() + 2 * l * d;
    S* dw2 = norm_grads_.data() + (2 * l + 1) * d;
    const AttnShape as{B_, T_, c.n_head, c.n_head_kv, c.head_dim};
    // MLP: x_{l+1} = h + Wdown act
    s.d_act.resize(N, c.d_ff);
    layer(l, 6).backward(dx, s.d_act);
    swiglu_backward(a.gate, a.up, s.d_act, s.d_gate, s.d_up);
    s.da.resize(N, d);
    s.tmp_d.resize(N, d);
    layer(l, 4).backward(s.d_gate, s.da);
    layer(l, 5).backward(s.d_up, s.tmp_d);
    s.da += s.tmp_d;
    rmsnorm_backward(s.da, a.h, w2(l), a.rstd2, dx, dw2, true, s.reduce);  // dx is now d h
    // attention: h = x_l + Wo att
    s.d_att.resize(N, d);
    layer(l, 3).backward(dx, s.d_att);
    attention_backward(as, a.q, a.k, a.v, a.att, a.lse, s.d_att, s.dq, s.dk, s.dv);
    rope_apply(s.dq, T_, c.n_head, rope_, true);
    rope_apply(s.dk, T_, c.n_head_kv, rope_, true);
    layer(l, 0).backward(s.dq, s.da);
    layer(l, 1).backward(s.dk, s.tmp_d);
    s.da += s.tmp_d;
    layer(l, 2).backward(s.dv, s.tmp_d);
    s.da += s.tmp_d;
    rmsnorm_backward(s.da, a.x, w1(l), a.rstd1, dx, dw1, true, s.reduce);  // dx is now d x_l
  }

  llm::LlamaConfig cfg_;
  const S* embd_ = nullptr;
  const S* head_ = nullptr;
  Vec<S> norms_, norm_grads_;
  std::vector<Linear> layers_;
  // activations of the last forward
  Index B_ = 0, T_ = 0;
  RopeTable<S> rope_;
  std::vector<Mat<S>> xs_;         // L + 1 of N x d: x_0 (embeddings) .. x_L
  std::vector<BlockActs<S>> acts_; // per block
  Mat<S> y_;                       // N x d   rms(x_L) w_f
  Vec<S> rstd_f_;                  // N
  Scratch<S> scratch_;
};

/// The dense model's hidden states for the loss (x_1 .. x_{L-1}, then y), frozen; float to
/// train, double for the cross-checks.
template <class S>
class Teacher {
 public:
  explicit Teacher(const llm::LlamaModel<S>& m) : m_(&m) {
    const auto infos = llm::linear_layers(m.config());
    for (int l = 0; l < m.layers(); ++l) {
      const auto& L = m.layer(l);
      const llm::Linear<S>* all[] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
      std::array<DenseLinear<S>, 7> b;
      for (int j = 0; j < 7; ++j) {
        if (all[j]->packed) littlebit::detail::fail("Teacher: layer ", infos[static_cast<std::size_t>(7 * l + j)].name, " is packed; the teacher must be dense");
        b[static_cast<std::size_t>(j)] = {all[j]->w, all[j]->out, all[j]->in};
      }
      lins_.push_back(b);
    }
  }

  /// Fills hidden (L entries of N x d) for B x T tokens; and, where `xs` is given, the whole
  /// residual stream x_0 (the embeddings) .. x_L (L + 1 of N x d) for block-wise distillation.
  void forward(const std::vector<int>& tokens, Index B, Index T, std::vector<Mat<S>>& hidden,
               std::vector<Mat<S>>* xs = nullptr) {
    llm::LlamaConfig c = m_->config();
    const int L = m_->layers();
    const Index N = B * T, d = c.d_model;
    if (rope_.cos.rows() != T) rope_ = RopeTable<S>(T, c.head_dim, c.rope_base, c.rope_adjacent);
    hidden.resize(static_cast<std::size_t>(L));
    Mat<S> x(N, d), next;
    for (Index i = 0; i < N; ++i) x.row(i) = CMatMap<S>(m_->embedding(), c.vocab, d).row(tokens[static_cast<std::size_t>(i)]);
    if (xs != nullptr) {
      xs->resize(static_cast<std::size_t>(L + 1));
      (*xs)[0] = x;
    }
    for (int l = 0; l < L; ++l) {
      std::array<DenseLinear<S>*, 7> lin;
      for (int j = 0; j < 7; ++j) lin[static_cast<std::size_t>(j)] = &lins_[static_cast<std::size_t>(l)][static_cast<std::size_t>(j)];
      block_forward(c, B, T, rope_, m_->layer(l).attn_norm, m_->layer(l).ffn_norm, lin, x, acts_, scratch_, next);
      std::swap(x, next);
      if (l < L - 1) hidden[static_cast<std::size_t>(l)] = x;
      if (xs != nullptr) (*xs)[static_cast<std::size_t>(l + 1)] = x;
    }
    Vec<S> rstd;
    rmsnorm_forward(x, m_->output_norm(), c.rms_eps, hidden.back(), rstd);
  }

 private:
  const llm::LlamaModel<S>* m_;
  std::vector<std::array<DenseLinear<S>, 7>> lins_;
  RopeTable<S> rope_;
  BlockActs<S> acts_;
  Scratch<S> scratch_;
};

}  // namespace train
