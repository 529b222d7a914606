// examples/train/ops.hpp: the forward/backward pairs of a Llama block's non-linear-layer stages,
// llm.c style: plain functions on row-major buffers, N = B x T rows (sequence b's positions are
// rows b T .. b T + T - 1). Every backward adds into the parameter gradient it is given and
// writes (or adds, where it says so) the input gradient.
//
//   RMSNorm   y = x r w,  r = 1 / sqrt(mean(x^2) + eps)                      (per row)
//             dx = r (dy w) - x r^3 / d * sum(dy w x),  dw += sum_rows dy x r
//   RoPE      each head's pairs (a, b) rotated by theta = pos base^(-2i / hd): adjacent pairs
//             (x[2i], x[2i+1]) for GGUF rows, halves (x[i], x[i + hd/2]) for Hugging Face's;
//             backward rotates by -theta
//   attention causal, grouped-query: query head h reads key/value head h / (H / Hkv);
//             S = Q K^T / sqrt(hd), P = softmax(S) per row over keys <= the row, O = P V.
//             Forward keeps each row's log-sum-exp, so backward recomputes P = exp(S - lse) one
//             head at a time instead of storing B H T T probabilities:
//             dV += P^T dO,  dP = dO V^T,  dS = P (dP - rowsum(dO O)),  dQ = dS K / sqrt(hd),
//             dK += dS^T Q / sqrt(hd)
//   SwiGLU    a = silu(g) u,  silu(g) = g sigma(g):
//             dg = da u sigma(g) (1 + g (1 - sigma(g))),  du = da silu(g)
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Core>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace train {

using Index = Eigen::Index;
template <class S>
using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class S>
using Vec = Eigen::Matrix<S, Eigen::Dynamic, 1>;
template <class S>
using MatMap = Eigen::Map<Mat<S>>;
template <class S>
using CMatMap = Eigen::Map<const Mat<S>>;
template <class S>
using VecMap = Eigen::Map<Vec<S>>;
template <class S>
using CVecMap = Eigen::Map<const Vec<S>>;

/// Rows [0, n) split over the OpenMP threads, f(r0, r1) per thread.
template <class F>
void parallel_for(Index n, F&& f) {
#ifdef _OPENMP
  const int nt = std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(n)));
  if (nt > 1 && n > 1) {
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), k = omp_get_num_threads();
      f(n * t / k, n * (t + 1) / k);
    }
    return;
  }
#endif
  f(Index{0}, n);
}

// ---- RMSNorm --------------------------------------------------------------------------------

/// y (N x d) = rms(x) w; rstd (N) = 1 / sqrt(mean(x^2) + eps).
template <class S>
void rmsnorm_forward(const Mat<S>& x, const S* w, double eps, Mat<S>& y, Vec<S>& rstd) {
  const Index n = x.rows(), d = x.cols();
  y.resize(n, d);
  rstd.resize(n);
  const CVecMap<S> wv(w, d);
  parallel_for(n, [&](Index r0, Index r1) {
    for (Index t = r0; t < r1; ++t) {
      const S ms = x.row(t).squaredNorm() / static_cast<S>(d);
      rstd(t) = S(1) / std::sqrt(ms + static_cast<S>(eps));
      y.row(t) = x.row(t).cwiseProduct(wv.transpose()) * rstd(t);
    }
  });
}

/// dx (N x d) = (or +=, when accumulate) the input gradient; dw (d) += the gain's gradient.
template <class S>
void rmsnorm_backward(const Mat<S>& dy, const Mat<S>& x, const S* w, const Vec<S>& rstd, Mat<S>& dx, S* dw,
                      bool accumulate, std::vector<S>& scratch) {
  const Index n = x.rows(), d = x.cols();
  if (!accumulate) dx.setZero(n, d);
  const CVecMap<S> wv(w, d);
#ifdef _OPENMP
  const int nt = std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(n)));
#else
  const int nt = 1;
#endif
  scratch.assign(static_cast<std::size_t>(nt * d), S(0));
  auto body = [&](int th, Index r0, Index r1) {
    VecMap<S> part(scratch.data() + th * d, d);
    for (Index t = r0; t < r1; ++t) {
      const S r = rstd(t);
      const S dot = (dy.row(t).cwiseProduct(wv.transpose())).dot(x.row(t));
      dx.row(t) += (dy.row(t).cwiseProduct(wv.transpose())) * r - x.row(t) * (r * r * r * dot / static_cast<S>(d));
      part += dy.row(t).cwiseProduct(x.row(t)).transpose() * r;
    }
  };
#ifdef _OPENMP
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num(), k = omp_get_num_threads();
      body(t, n * t / k, n * (t + 1) / k);
    }
  } else {
    body(0, 0, n);
  }
#else
  body(0, 0, n);
#endif
  VecMap<S> g(dw, d);
  for (int t = 0; t < nt; ++t) g += VecMap<S>(scratch.data() + t * d, d);
}

// ---- RoPE -----------------------------------------------------------------------------------

/// cos and sin of pos base^(-2i / hd) for pos < T, i < hd / 2 (T x hd/2 each), computed in double.
template <class S>
struct RopeTable {
  Mat<S> cos, sin;
  bool adjacent = true;
  int head_dim = 0;
  RopeTable() = default;
  RopeTable(Index T, int hd, double base, bool adjacent_pairs) : adjacent(adjacent_pairs), head_dim(hd) {
    cos.resize(T, hd / 2);
    sin.resize(T, hd / 2);
    for (Index t = 0; t < T; ++t)
      for (int i = 0; i < hd / 2; ++i) {
        const double th = static_cast<double>(t) * std::pow(base, -2.0 * i / hd);
        cos(t, i) = static_cast<S>(std::cos(th));
        sin(t, i) = static_cast<S>(std::sin(th));
      }
  }
};

/// Rotates every head of x (N x heads hd) in place, position = row mod T; by -theta when inverse
/// (the backward: the rotation's transpose).
template <class S>
void rope_apply(Mat<S>& x, Index T, int heads, const RopeTable<S>& rt, bool inverse) {
  const int hd = rt.head_dim;
  parallel_for(x.rows(), [&](Index r0, Index r1) {
    for (Index row = r0; row < r1; ++row) {
      const Index t = row % T;
      for (int h = 0; h < heads; ++h) {
        S* p = x.data() + row * x.cols() + h * hd;
        for (int i = 0; i < hd / 2; ++i) {
          const S c = rt.cos(t, i), s = inverse ? -rt.sin(t, i) : rt.sin(t, i);
          S& a = p[rt.adjacent ? 2 * i : i];
          S& b = p[rt.adjacent ? 2 * i + 1 : i + hd / 2];
          const S a0 = a, b0 = b;
          a = a0 * c - b0 * s;
          b = a0 * s + b0 * c;
        }
      }
    }
  });
}

// ---- causal grouped-query attention ---------------------------------------------------------

struct AttnShape {
  Index B = 0, T = 0;
  int heads = 0, kv_heads = 0, head_dim = 0;
};

/// out (N x H hd) from q (N x H hd), k, v (N x Hkv hd); lse (N x H) the rows' log-sum-exp.
/// One task per (sequence, key/value head): its query heads in order.
template <class S>
void attention_forward(const AttnShape& a, const Mat<S>& q, const Mat<S>& k, const Mat<S>& v, Mat<S>& out, Mat<S>& lse) {
  const Index T = a.T;
  const int hd = a.head_dim, group = a.heads / a.kv_heads;
  out.resize(a.B * T, static_cast<Index>(a.heads) * hd);
  lse.resize(a.B * T, a.heads);
  const S scale = S(1) / std::sqrt(static_cast<S>(hd));
  parallel_for(a.B * a.kv_heads, [&](Index j0, Index j1) {
    Mat<S> s(T, T);
    for (Index j = j0; j < j1; ++j) {
      const Index b = j / a.kv_heads;
      const int g = static_cast<int>(j % a.kv_heads);
      const auto kg = k.block(b * T, g * hd, T, hd);
      const auto vg = v.block(b * T, g * hd, T, hd);
      for (int h = g * group; h < (g + 1) * group; ++h) {
        s.noalias() = q.block(b * T, h * hd, T, hd) * kg.transpose();
        for (Index i = 0; i < T; ++i) {
          auto row = s.row(i);
          const S mx = row.head(i + 1).maxCoeff() * scale;
          row.head(i + 1) = (row.head(i + 1).array() * scale - mx).exp();
          const S sum = row.head(i + 1).sum();
          row.head(i + 1) /= sum;
          row.tail(T - i - 1).setZero();
          lse(b * T + i, h) = mx + std::log(sum);
        }
        out.block(b * T, h * hd, T, hd).noalias() = s * vg;
      }
    }
  });
}

/// dq (N x H hd), dk, dv (N x Hkv hd), written, from dout; recomputes P from q, k and lse.
template <class S>
void attention_backward(const AttnShape& a, const Mat<S>& q, const Mat<S>& k, const Mat<S>& v, const Mat<S>& out,
                        const Mat<S>& lse, const Mat<S>& dout, Mat<S>& dq, Mat<S>& dk, Mat<S>& dv) {
  const Index T = a.T;
  const int hd = a.head_dim, group = a.heads / a.kv_heads;
  dq.setZero(q.rows(), q.cols());
  dk.setZero(k.rows(), k.cols());
  dv.setZero(v.rows(), v.cols());
  const S scale = S(1) / std::sqrt(static_cast<S>(hd));
  parallel_for(a.B * a.kv_heads, [&](Index j0, Index j1) {
    Mat<S> p(T, T), dp(T, T);
    Vec<S> rowdot(T);
    for (Index j = j0; j < j1; ++j) {
      const Index b = j / a.kv_heads;
      const int g = static_cast<int>(j % a.kv_heads);
      const auto kg = k.block(b * T, g * hd, T, hd);
      const auto vg = v.block(b * T, g * hd, T, hd);
      auto dkg = dk.block(b * T, g * hd, T, hd);
      auto dvg = dv.block(b * T, g * hd, T, hd);
      for (int h = g * group; h < (g + 1) * group; ++h) {
        const auto qh = q.block(b * T, h * hd, T, hd);
        const auto oh = out.block(b * T, h * hd, T, hd);
        const auto doh = dout.block(b * T, h * hd, T, hd);
        p.noalias() = qh * kg.transpose();
        for (Index i = 0; i < T; ++i) {
          auto row = p.row(i);
          row.head(i + 1) = (row.head(i + 1).array() * scale - lse(b * T + i, h)).exp();
          row.tail(T - i - 1).setZero();
          rowdot(i) = doh.row(i).dot(oh.row(i));
        }
        dvg.noalias() += p.transpose() * doh;
        dp.noalias() = doh * vg.transpose();
        for (Index i = 0; i < T; ++i) dp.row(i) = p.row(i).cwiseProduct((dp.row(i).array() - rowdot(i)).matrix()) * scale;
        dq.block(b * T, h * hd, T, hd).noalias() = dp * kg;
        dkg.noalias() += dp.transpose() * qh;
      }
    }
  });
}

// ---- SwiGLU ---------------------------------------------------------------------------------

/// act (N x ff) = silu(gate) up.
template <class S>
void swiglu_forward(const Mat<S>& gate, const Mat<S>& up, Mat<S>& act) {
  act.resize(gate.rows(), gate.cols());
  parallel_for(gate.rows(), [&](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r)
      for (Index c = 0; c < gate.cols(); ++c) {
        const S g = gate(r, c);
        act(r, c) = g / (S(1) + std::exp(-g)) * up(r, c);
      }
  });
}

/// dgate, dup (N x ff), written, from dact.
template <class S>
void swiglu_backward(const Mat<S>& gate, const Mat<S>& up, const Mat<S>& dact, Mat<S>& dgate, Mat<S>& dup) {
  dgate.resize(gate.rows(), gate.cols());
  dup.resize(gate.rows(), gate.cols());
  parallel_for(gate.rows(), [&](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r)
      for (Index c = 0; c < gate.cols(); ++c) {
        const S g = gate(r, c), sg = S(1) / (S(1) + std::exp(-g));
        dgate(r, c) = dact(r, c) * up(r, c) * sg * (S(1) + g * (S(1) - sg));
        dup(r, c) = dact(r, c) * g * sg;
      }
  });
}

}  // namespace train
