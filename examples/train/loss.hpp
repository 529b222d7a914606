// examples/train/loss.hpp: the official LittleBit distillation loss and its gradient.
//
//   L = KL + lambda L_inter
//   KL      = (1 / B) sum_{positions} sum_v p_t (log p_t - log p_s)
//             PyTorch's kl_div(log_softmax(z_s), softmax(z_t), "batchmean") on B x T x V logits
//             (divided by the number of sequences B), temperature 1, z = y E^T
//   L_inter = sum_{i=1..L} mean((h_s,i - h_t,i)^2)
//             over Hugging Face's hidden_states[1:]: x_1 .. x_{L-1} and y (element means)
// Gradients: d z_s = (p_s - p_t) / B; d h_s,i = 2 lambda (h_s,i - h_t,i) / (N d). The logits are
// never held whole: rows go `chunk` at a time through z_t, z_s, the softmaxes and d y += dz E,
// so memory is chunk x V, not N x V. Sums accumulate in double.
#pragma once

#include <cmath>
#include <vector>

#include "littlebit/core/error.hpp"
#include "train/ops.hpp"

namespace train {

struct LossParts {
  double loss = 0, kl = 0, mse = 0;  // loss = kl + lambda mse (mse: the unweighted sum of the terms)
};

/// The loss of one micro-batch and, scaled by grad_scale (1 / accumulation steps), its gradient
/// with respect to every student hidden state into d_hidden (resized and overwritten).
/// student, teacher: L hidden states of N x d (the last is y); head: V x d.
template <class S>
LossParts kd_loss(const std::vector<const Mat<S>*>& student, const std::vector<Mat<S>>& teacher, const S* head,
                  Index vocab, Index B, double lambda, double grad_scale, std::vector<Mat<S>>& d_hidden,
                  Index chunk = 128) {
  const std::size_t L = student.size();
  if (teacher.size() != L) littlebit::detail::fail("kd_loss: ", L, " student and ", teacher.size(), " teacher hidden states");
  LossParts r;
  d_hidden.resize(L);
  for (std::size_t i = 0; i < L; ++i) {
    const Mat<S>& hs = *student[i];
    const Mat<S>& ht = teacher[i];
    if (hs.rows() != ht.rows() || hs.cols() != ht.cols()) littlebit::detail::fail("kd_loss: hidden state ", i, " shapes differ");
    const double count = static_cast<double>(hs.size());
    double sum = 0;
    d_hidden[i].resize(hs.rows(), hs.cols());
    const S g = static_cast<S>(2.0 * lambda * grad_scale / count);
    for (Index k = 0; k < hs.size(); ++k) {
      const S e = hs.data()[k] - ht.data()[k];
      sum += static_cast<double>(e) * static_cast<double>(e);
      d_hidden[i].data()[k] = g * e;
    }
    r.mse += sum / count;
  }
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
