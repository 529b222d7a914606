// examples/train/loss.hpp: the official LittleBit distillation loss and its gradient.
//
//   L = KL + lambda L_inter
//   KL      = (1 / B) sum_{positions} sum_v p_t (log p_t - log p_s)
//             PyTorch's kl_div(log_softmax(z_s), softmax(z_t), "batchmean") on B x T x V logits
//             (divided by the number of sequences B), temperature 1, z = y E^T
//   L_inter = sum_{i=1..L} mean(w_i (h_s,i - h_t,i)^2)
//             over Hugging Face's hidden_states[1:]: x_1 .. x_{L-1} and y (element means), with
//             the weights of --hidden-norm (HiddenNorm; the teacher's, constants of the step):
//               none     w = 1, the official
//               layer    w = 1 / mean(h_t,i^2): each term is the relative squared error of its
//                        hidden state, so the residual stream's scale (|h| ~ 3e4 in SmolLM2's
//                        outlier channels) no longer sets the weight of the term
//               channel  w_c = 1 / max(mean_rows(h_t,i[:, c]^2), 1e-3 mean(h_t,i^2)): every channel
//                        its own scale, so the few outlier channels no longer dominate the rest
//                        (the floor keeps near-silent channels from getting unbounded weights)
// Gradients: d z_s = (p_s - p_t) / B; d h_s,i = 2 lambda w (h_s,i - h_t,i) / (N d). The logits are
// never held whole: rows go `chunk` at a time through z_t, z_s, the softmaxes and d y += dz E,
// so memory is chunk x V, not N x V. Sums accumulate in double.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "littlebit/core/error.hpp"
#include "train/ops.hpp"

namespace train {

/// The weights of the hidden-state term (the header comment).
enum class HiddenNorm { kNone, kLayer, kChannel };

inline HiddenNorm parse_hidden_norm(const std::string& s) {
  if (s == "none") return HiddenNorm::kNone;
  if (s == "layer") return HiddenNorm::kLayer;
  if (s == "channel") return HiddenNorm::kChannel;
  littlebit::detail::fail("hidden-state normalization '", s, "': expected none, layer or channel");
}

/// mean(w (hs - ht)^2) over the N x d elements (w of `norm`, from ht), and its gradient times
/// `coef` into d (resized): d = coef 2 w (hs - ht) / (N d). Sums in double.
template <class S>
double hidden_mse(const Mat<S>& hs, const Mat<S>& ht, HiddenNorm norm, double coef, Mat<S>& d) {
  if (hs.rows() != ht.rows() || hs.cols() != ht.cols())
    littlebit::detail::fail("hidden_mse: student ", hs.rows(), " x ", hs.cols(), ", teacher ", ht.rows(), " x ", ht.cols());
  const Index N = hs.rows(), C = hs.cols();
  const double count = static_cast<double>(hs.size());
  std::vector<double> w(static_cast<std::size_t>(C), 1.0);
  if (norm != HiddenNorm::kNone) {
    std::vector<double> ms(static_cast<std::size_t>(C), 0.0);
    double all = 0;
    for (Index i = 0; i < N; ++i)
      for (Index c = 0; c < C; ++c) ms[static_cast<std::size_t>(c)] += static_cast<double>(ht(i, c)) * static_cast<double>(ht(i, c));
    for (double& m : ms) {
      m /= static_cast<double>(N);
      all += m;
    }
    all /= static_cast<double>(C);
    if (!(all > 0)) littlebit::detail::fail("hidden_mse: the teacher's hidden state is all zero (or not finite)");
    for (Index c = 0; c < C; ++c)
      w[static_cast<std::size_t>(c)] = norm == HiddenNorm::kLayer ? 1.0 / all : 1.0 / std::max(ms[static_cast<std::size_t>(c)], 1e-3 * all);
  }
  d.resize(N, C);
  double sum = 0;
  for (Index i = 0; i < N; ++i)
    for (Index c = 0; c < C; ++c) {
      const double e = static_cast<double>(hs(i, c)) - static_cast<double>(ht(i, c));
      const double we = w[static_cast<std::size_t>(c)] * e;
      sum += we * e;
      d(i, c) = static_cast<S>(2.0 * coef * we / count);
    }
  return sum / count;
}

struct LossParts {
  double loss = 0, kl = 0, mse = 0;  // loss = kl + lambda mse (mse: the unweighted sum of the terms)
};

/// The loss of one micro-batch and, scaled by grad_scale (1 / accumulation steps), its gradient
/// with respect to every student hidden state into d_hidden (resized and overwritten).
/// student, teacher: L hidden states of N x d (the last is y); head: V x d.
template <class S>
LossParts kd_loss(const std::vector<const Mat<S>*>& student, const std::vector<Mat<S>>& teacher, const S* head,
                  Index vocab, Index B, double lambda, double grad_scale, std::vector<Mat<S>>& d_hidden,
                  Index chunk = 128, HiddenNorm norm = HiddenNorm::kNone) {
  const std::size_t L = student.size();
  if (teacher.size() != L) littlebit::detail::fail("kd_loss: ", L, " student and ", teacher.size(), " teacher hidden states");
  LossParts r;
  d_hidden.resize(L);
  for (std::size_t i = 0; i < L; ++i) r.mse += hidden_mse(*student[i], teacher[i], norm, lambda * grad_scale, d_hidden[i]);
  const Mat<S>& ys = *student.back();
  const Mat<S>& yt = teacher.back();
  const Index N = ys.rows(), d = ys.cols();
  const CMatMap<S> E(head, vocab, d);
  Mat<S> zs, zt;
  std::vector<double> kl_rows(static_cast<std::size_t>(N), 0.0);
  const double gscale = grad_scale / static_cast<double>(B);
  for (Index r0 = 0; r0 < N; r0 += chunk) {
    const Index n = std::min(chunk, N - r0);
    zs.noalias() = ys.middleRows(r0, n) * E.transpose();  // n x V
    zt.noalias() = yt.middleRows(r0, n) * E.transpose();
    parallel_for(n, [&](Index i0, Index i1) {
      for (Index i = i0; i < i1; ++i) {
        auto s = zs.row(i);
        auto t = zt.row(i);
        const S ms = s.maxCoeff(), mt = t.maxCoeff();
        double ss = 0, st = 0;
        for (Index v = 0; v < vocab; ++v) {
          ss += std::exp(static_cast<double>(s(v) - ms));
          st += std::exp(static_cast<double>(t(v) - mt));
        }
        const double lse_s = static_cast<double>(ms) + std::log(ss), lse_t = static_cast<double>(mt) + std::log(st);
        double kl = 0;
        for (Index v = 0; v < vocab; ++v) {
          const double lps = static_cast<double>(s(v)) - lse_s, lpt = static_cast<double>(t(v)) - lse_t;
          const double pt = std::exp(lpt), ps = std::exp(lps);
          kl += pt * (lpt - lps);
          s(v) = static_cast<S>((ps - pt) * gscale);  // zs becomes d z_s
        }
        kl_rows[static_cast<std::size_t>(r0 + i)] = kl;
      }
    });
    d_hidden.back().middleRows(r0, n).noalias() += zs * E;  // n x d
  }
  for (double k : kl_rows) r.kl += k;
  r.kl /= static_cast<double>(B);
  r.loss = r.kl + lambda * r.mse;
  return r;
}

}  // namespace train
