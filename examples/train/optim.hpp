// examples/train/optim.hpp: the official optimizer of LittleBit's QAT (Hugging Face Trainer with
// adamw_torch and the cosine schedule): global gradient-norm clipping, then AdamW.
//
//   clip:     n = ||g||_2 over every parameter; g *= min(1, max_norm / (n + 1e-6))   (torch's
//             clip_grad_norm_)
//   AdamW:    p -= lr wd p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//             p -= lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps)      (torch.optim.AdamW)
//   schedule: warm = ceil(ratio total); lr(s) = peak s / warm for s < warm, then
//             peak (1 + cos(pi (s - warm) / (total - warm))) / 2, for the update of step s = 0, 1, ..
//             (get_cosine_schedule_with_warmup: the first update has lr 0 when warm > 0)
// The moments live in one arena, laid out as the parameter segments are registered.
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "littlebit/core/error.hpp"

namespace train {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0, max_grad_norm = 1.0;
};

inline double cosine_lr(double peak, long step, long total, long warmup) {
  if (step < warmup) return peak * static_cast<double>(step) / static_cast<double>(std::max(1L, warmup));
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max(1L, total - warmup));
  return std::max(0.0, 0.5 * peak * (1.0 + std::cos(M_PI * progress)));
}

inline long warmup_steps(double ratio, long total) { return static_cast<long>(std::ceil(ratio * static_cast<double>(total))); }

template <class S>
class AdamW {
 public:
  struct Segment {
    std::string name;
    std::span<S> param, grad;
    std::size_t offset = 0;  // in the moment arena
  };

  explicit AdamW(AdamWOptions o = {}) : o_(o) {}
  void add(std::string name, std::span<S> param, std::span<S> grad) {
    if (param.size() != grad.size()) littlebit::detail::fail("AdamW: ", name, ": ", param.size(), " parameters, ", grad.size(), " gradients");
    segments_.push_back({std::move(name), param, grad, size_});
    size_ += param.size();
  }
  std::size_t size() const { return size_; }
  const std::vector<Segment>& segments() const { return segments_; }
  std::vector<S>& m() { return m_; }
  std::vector<S>& v() { return v_; }
  const std::vector<S>& m() const { return m_; }
  const std::vector<S>& v() const { return v_; }
  long step() const { return t_; }
  void set_step(long t) { t_ = t; }

  /// The gradients' global 2-norm (in double).
  double grad_norm() const {
    double s = 0;
    for (const auto& g : segments_)
      for (S x : g.grad) s += static_cast<double>(x) * static_cast<double>(x);
    return std::sqrt(s);
  }

  /// Clips, then one AdamW update at learning rate lr. Returns the norm before clipping.
  double update(double lr) {
    if (m_.empty()) {  // the first update allocates the state
      m_.assign(size_, S(0));
      v_.assign(size_, S(0));
    }
    const double norm = grad_norm();
    const S coef = static_cast<S>(std::min(1.0, o_.max_grad_norm / (norm + 1e-6)));
    ++t_;
    const double bc1 = 1.0 - std::pow(o_.beta1, static_cast<double>(t_));
    const double bc2 = std::sqrt(1.0 - std::pow(o_.beta2, static_cast<double>(t_)));
    const S b1 = static_cast<S>(o_.beta1), b2 = static_cast<S>(o_.beta2);
    const S step = static_cast<S>(lr / bc1), eps = static_cast<S>(o_.eps), decay = static_cast<S>(lr * o_.weight_decay);
    const S sbc2 = static_cast<S>(bc2);
    for (const auto& sg : segments_) {
      S* m = m_.data() + sg.offset;
      S* v = v_.data() + sg.offset;
      for (std::size_t i = 0; i < sg.param.size(); ++i) {
        const S g = sg.grad[i] * coef;
        S& p = sg.param[i];
        p -= decay * p;
        m[i] = b1 * m[i] + (S(1) - b1) * g;
        v[i] = b2 * v[i] + (S(1) - b2) * g * g;
        p -= step * m[i] / (std::sqrt(v[i]) / sbc2 + eps);
      }
    }
    return norm;
  }

 private:
  AdamWOptions o_;
  std::vector<Segment> segments_;
  std::size_t size_ = 0;
  std::vector<S> m_, v_;
  long t_ = 0;
};

}  // namespace train
