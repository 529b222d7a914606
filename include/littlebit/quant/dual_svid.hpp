// littlebit/quant/dual_svid.hpp: Dual-SVID initialization of a LittleBit layer, with the residual
// path, on a randomized (or exact) truncated SVD, and optional refinements beyond the official
// init. Reference: ref::dual_svid (exact SVDs, double, no refinement), which this equals with
// SvdMethod::kExact and no refinement (up to the SVD's and float rounding).
//
// One path of W (m x n) at rank r (the official construction, DESIGN.md):
//   W ~ U_r S_r V_r^T, U' = U_r sqrt(S_r) (m x r), V' = sqrt(S_r) V_r^T (r x n)
//   u_sign = sign(U'), v_sign = sign(V')                          (sign(0) = +1)
//   |U'| ~ h ell_u^T, |V'| ~ ell_v g^T (Perron pairs), ell = ell_u . ell_v
//   W_p = diag(h) u_sign diag(ell) v_sign diag(g)
// and the residual path is the same on W - W_p. Official names: u1 = h, u2 = ell_u, v1 = ell_v, v2 = g.
//
// Refinements (DualSvidRefine), each optional:
//   itq     Joint-ITQ (LittleBit-2): an orthogonal R (r x r) maximizing the agreement of X R with
//           sign(X R), X = [U'; V'^T], by B = sign(X R), B^T X = P S Q^T, R = Q P^T, repeated;
//           then U' <- U' R, V' <- R^T V' (U' V' is unchanged).
//   scales  least-squares scales for fixed signs: ell from its r x r normal equations
//           ((A^T A) . (B B^T)) ell = diag(A^T W B^T) with A = diag(h) u_sign, B = v_sign diag(g);
//           then h_i = <W_i, K_i . g> / ||K_i . g||^2 and g_j likewise, K = u_sign diag(ell) v_sign.
//   signs   least-squares sign steps for fixed scales: u_sign <- sign(W B^T D (D B B^T D)^-1 / h),
//           then v_sign likewise (D = diag(ell)); a step is kept only when the error,
//           ||W||^2 - 2 <A^T W, B> + <A^T A, B B^T>, goes down.
// The latent factors a trainer starts from keep |U'| and |V'| with the final signs.
#pragma once

#include <Eigen/Dense>
#include <chrono>
#include <cmath>
#include <optional>
#include <span>
#include <tuple>
#include <vector>

#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/core/pack.hpp"
#include "littlebit/linalg/randomized_svd.hpp"
#include "littlebit/quant/rank_solver.hpp"
#include "littlebit/core/factorized_path.hpp"

namespace littlebit {

enum class SvdMethod { kRandomized, kExact };

/// Refinements beyond the official init (the file comment); all off by default, so that
/// dual_svid() is the official Dual-SVID. recommended() is what the measurements in
/// docs/decomposition.md favour: about 0.75x the official error at 0.55 and 1.0 BPW, in about
/// 2-3x its time.
struct DualSvidRefine {
  bool itq = false;
  int itq_iterations = 5;
  bool scales = false;
  bool signs = false;
  int rounds = 2;  // rounds of (signs, scales) when either is on

  static constexpr DualSvidRefine recommended() {
    return {.itq = true, .itq_iterations = 5, .scales = true, .signs = true, .rounds = 2};
  }
};

struct DualSvidOptions {
  bool residual = true;
  SvdMethod svd = SvdMethod::kRandomized;
  // The primary's randomized SVD: cheaper than randomized_svd's defaults, and still more accurate
  // than the official init's (torch.svd_lowrank: no oversampling, two power iterations); the
  // binarization, not the subspace, dominates the error (docs/decomposition.md).
  Index oversampling = 10;
  int power_iterations = 2;
  // The residual's range finder starts from the primary's left basis plus this many random
  // directions of the residual, refined by residual_power_iterations (randomized method only).
  Index residual_oversampling = 40;
  int residual_power_iterations = 1;
  std::uint64_t seed = 0;
  DualSvidRefine refine;
};

/// One path: packed signs, scales in the official parameterization, and the latent factors.
template <class Scalar>
struct DualSvidPath {
  linalg::Matrix<Scalar> u_latent;  // m x r (U')
  linalg::Matrix<Scalar> v_latent;  // r x n (V')
  BitMatrix u_sign;                 // m x r
  BitMatrix v_sign;                 // r x n
  linalg::Vector<Scalar> h;         // m   u1
  linalg::Vector<Scalar> ell_u;     // r   u2
  linalg::Vector<Scalar> ell_v;     // r   v1
  linalg::Vector<Scalar> ell;       // r   ell_u . ell_v
  linalg::Vector<Scalar> g;         // n   v2

  Index rank() const { return u_sign.cols(); }
  FactorizedPath<Scalar> path() const {
    return {std::span<const Scalar>(h.data(), static_cast<std::size_t>(h.size())), u_sign.view(),
            std::span<const Scalar>(ell.data(), static_cast<std::size_t>(ell.size())), v_sign.view(),
            std::span<const Scalar>(g.data(), static_cast<std::size_t>(g.size()))};
  }
  /// diag(h) u_sign diag(ell) v_sign diag(g), m x n (one GEMM).
  linalg::Matrix<Scalar> reconstruct() const;
  /// x -= reconstruct(), as one GEMM accumulating into x (no m x n temporary).
  template <class Derived>
  void subtract_from(Eigen::MatrixBase<Derived>& x) const;
};

template <class Scalar>
struct DualSvidResult {
  DualSvidPath<Scalar> primary;
  std::optional<DualSvidPath<Scalar>> residual;
  double rel_err_primary = 0.0;  // ||W - W_pri||_F / ||W||_F
  double rel_err_total = 0.0;    // ||W - W_pri - W_res||_F / ||W||_F (= primary without residual)
  Index rank = 0;
  double bits_per_weight = 0.0;  // storage_bits / (m n)
  double seconds = 0.0;
};

namespace detail {

template <class Scalar>
using Mat = linalg::Matrix<Scalar>;
template <class Scalar>
using Vec = linalg::Vector<Scalar>;

/// +1/-1 of the latent matrix (sign(0) = +1).
template <class Scalar>
Mat<Scalar> signs_of(const Mat<Scalar>& x) {
  return x.unaryExpr([](Scalar v) { return v < Scalar(0) ? Scalar(-1) : Scalar(1); });
}

/// The path's factors as dense A = diag(h) S_u diag(ell) (m x r) and B = S_v diag(g) (r x n).
template <class Scalar>
struct Factors {
  Mat<Scalar> su, sv;  // +1/-1
  Vec<Scalar> h, ell, g;
  Mat<Scalar> a() const { return h.asDiagonal() * su * ell.asDiagonal(); }
  Mat<Scalar> b() const { return sv * g.asDiagonal(); }
};

/// ||W - A B||_F^2 = ||W||^2 - 2 <A^T W, B> + <A^T A, B B^T>, from A^T W (given).
template <class Scalar>
double error2(double w2, const Mat<Scalar>& atw, const Mat<Scalar>& a, const Mat<Scalar>& b) {
  const Eigen::MatrixXd ata = (a.transpose() * a).template cast<double>();
  const Eigen::MatrixXd bbt = (b * b.transpose()).template cast<double>();
  return w2 - 2.0 * (atw.template cast<double>().array() * b.template cast<double>().array()).sum() +
         (ata.array() * bbt.array()).sum();
}

/// Least-squares scales for fixed signs (see the file comment).
template <class Scalar, class Derived>
void refine_scales(const Eigen::MatrixBase<Derived>& w, Factors<Scalar>& f) {
  // ell: ((A0^T A0) . (B B^T)) ell = diag(A0^T W B^T), A0 = diag(h) S_u.
  const Mat<Scalar> a0 = f.h.asDiagonal() * f.su;
  const Mat<Scalar> b = f.b();
  const Eigen::MatrixXd gram =
      ((a0.transpose() * a0).template cast<double>().array() * (b * b.transpose()).template cast<double>().array()).matrix();
  const Mat<Scalar> a0tw = a0.transpose() * w;  // r x n
  const Eigen::VectorXd rhs = (a0tw.template cast<double>().array() * b.template cast<double>().array()).rowwise().sum();
  Eigen::LDLT<Eigen::MatrixXd> ldlt(gram);
  if (ldlt.info() == Eigen::Success) {
    const Eigen::VectorXd ell = ldlt.solve(rhs);
    if (ell.allFinite()) f.ell = ell.cast<Scalar>();
  }
  // h and g from K = S_u diag(ell) S_v: h_i = <W_i, K_i . g> / ||K_i . g||^2, then g likewise.
  const Mat<Scalar> k = f.su * f.ell.asDiagonal() * f.sv;  // m x n
  const Mat<Scalar> wk = w.cwiseProduct(k);
  const Mat<Scalar> k2 = k.cwiseAbs2();
  Vec<Scalar> num = wk * f.g, den = k2 * f.g.cwiseAbs2();
  for (Index i = 0; i < f.h.size(); ++i)
    if (den(i) > Scalar(0)) f.h(i) = num(i) / den(i);
  num = wk.transpose() * f.h;
  den = k2.transpose() * f.h.cwiseAbs2();
  for (Index j = 0; j < f.g.size(); ++j)
    if (den(j) > Scalar(0)) f.g(j) = num(j) / den(j);
}

/// Least-squares sign steps for fixed scales, U then V, each kept only when the error drops.
/// Returns the squared error after the steps.
template <class Scalar, class Derived>
double refine_signs(const Eigen::MatrixBase<Derived>& w, double w2, Factors<Scalar>& f) {
  auto sign_times = [](const Mat<Scalar>& x, const Vec<Scalar>& s, bool rows) {
    Mat<Scalar> out = signs_of<Scalar>(x);
    if (rows) {
      for (Index i = 0; i < out.rows(); ++i)
        if (s(i) < Scalar(0)) out.row(i) *= Scalar(-1);
    } else {
      for (Index j = 0; j < out.cols(); ++j)
        if (s(j) < Scalar(0)) out.col(j) *= Scalar(-1);
    }
    return out;
  };
  double best = error2<Scalar>(w2, f.a().transpose() * w, f.a(), f.b());
  {  // U: the unconstrained optimum of A given B, then its signs (h > 0 keeps them).
    const Mat<Scalar> b = f.b();
    const Mat<Scalar> db = f.ell.asDiagonal() * b;  // D B, r x n
    const Eigen::MatrixXd gram = (db * db.transpose()).template cast<double>();
    Eigen::LDLT<Eigen::MatrixXd> ldlt(gram);
    if (ldlt.info() == Eigen::Success) {
      const Mat<Scalar> wdbt = w * db.transpose();  // m x r
      const Mat<Scalar> ureal = ldlt.solve(wdbt.template cast<double>().transpose()).transpose().template cast<Scalar>();
      Factors<Scalar> t = f;
      t.su = sign_times(ureal, f.h, true);
      const Mat<Scalar> a = t.a();
      const double e = error2<Scalar>(w2, a.transpose() * w, a, b);
      if (e < best) {
        best = e;
        f = std::move(t);
      }
    }
  }
  {  // V: the unconstrained optimum of B given A, then its signs (g > 0 keeps them).
    const Mat<Scalar> a = f.a();
    const Eigen::MatrixXd gram = (a.transpose() * a).template cast<double>();
    Eigen::LDLT<Eigen::MatrixXd> ldlt(gram);
    if (ldlt.info() == Eigen::Success) {
      const Mat<Scalar> atw = a.transpose() * w;  // r x n
      const Mat<Scalar> breal = ldlt.solve(atw.template cast<double>()).template cast<Scalar>();
      Factors<Scalar> t = f;
      t.sv = sign_times(breal, f.g, false);
      const double e = error2<Scalar>(w2, atw, a, t.b());
      if (e < best) {
        best = e;
        f = std::move(t);
      }
    }
  }
  return best;
}

/// Joint-ITQ: rotates U' (m x r) and V' (r x n) by the same orthogonal R (see the file comment).
/// Each step minimizes ||B - X R||_F over B (B = sign(X R)), then over orthogonal R: R is the
/// orthogonal polar factor of M = X^T B, M (M^T M)^(-1/2) (= P Q^T for M = P S Q^T), from the
/// symmetric eigen-decomposition of M^T M. The loss never increases. The (m + n) x r products run
/// in Scalar, the r x r algebra in double.
template <class Scalar>
void joint_itq(Mat<Scalar>& up, Mat<Scalar>& vp, int iterations) {
  const Index r = up.cols();
  Mat<Scalar> x(up.rows() + vp.cols(), r);
  x.topRows(up.rows()) = up;
  x.bottomRows(vp.cols()) = vp.transpose();
  Eigen::MatrixXd rot = Eigen::MatrixXd::Identity(r, r);
  for (int it = 0; it < iterations; ++it) {
    const Mat<Scalar> b = signs_of<Scalar>(Mat<Scalar>(x * rot.cast<Scalar>()));
    const Eigen::MatrixXd m = (x.transpose() * b).template cast<double>();  // r x r
    const auto [values, vectors] = linalg::detail::symmetric_eigen(m.transpose() * m);
    const Eigen::VectorXd inv = values.unaryExpr([](double v) { return v > 0 ? 1.0 / std::sqrt(v) : 0.0; });
    rot = m * (vectors * inv.asDiagonal() * vectors.transpose());
  }
  const Mat<Scalar> rs = rot.cast<Scalar>();
  up = up * rs;
  vp = rs.transpose() * vp;
}

/// One path of w from its truncated SVD (the file comment), refined as asked.
template <class Scalar, class Derived>
DualSvidPath<Scalar> dual_svid_path(const Eigen::MatrixBase<Derived>& w, const linalg::TruncatedSvd<Scalar>& svd,
                                    const DualSvidOptions& o) {
  const Vec<Scalar> root = svd.S.cwiseSqrt();
  Mat<Scalar> up = svd.U * root.asDiagonal();
  Mat<Scalar> vp = root.asDiagonal() * svd.V.transpose();
  if (o.refine.itq) joint_itq(up, vp, o.refine.itq_iterations);

  DualSvidPath<Scalar> p;
  std::tie(p.h, p.ell_u) = linalg::rank_one_nonnegative(up.cwiseAbs());
  std::tie(p.ell_v, p.g) = linalg::rank_one_nonnegative(vp.cwiseAbs());
  p.ell = p.ell_u.cwiseProduct(p.ell_v);

  if (o.refine.scales || o.refine.signs) {
    Factors<Scalar> f{signs_of<Scalar>(up), signs_of<Scalar>(vp), p.h, p.ell, p.g};
    const double w2 = w.template cast<double>().squaredNorm();
    for (int round = 0; round < o.refine.rounds; ++round) {
      if (o.refine.signs) refine_signs(w, w2, f);
      if (o.refine.scales) refine_scales(w, f);
    }
    // Latent factors keep their magnitudes and take the refined signs.
    up = up.cwiseAbs().cwiseProduct(f.su);
    vp = vp.cwiseAbs().cwiseProduct(f.sv);
    p.h = f.h;
    p.g = f.g;
    p.ell = f.ell;
    // Split ell into the official pair: ell_u = sqrt|ell|, ell_v = sign(ell) sqrt|ell|.
    p.ell_u = p.ell.cwiseAbs().cwiseSqrt();
    p.ell_v = p.ell.unaryExpr([](Scalar v) { return v < Scalar(0) ? -std::sqrt(-v) : std::sqrt(v); });
  }
  p.u_latent = std::move(up);
  p.v_latent = std::move(vp);
  p.u_sign = pack_signs(p.u_latent, "dual_svid U'");
  p.v_sign = pack_signs(p.v_latent, "dual_svid V'");
  return p;
}

}  // namespace detail

namespace detail {
template <class Scalar>
Factors<Scalar> factors_of(const DualSvidPath<Scalar>& p) {
  return {signs_of<Scalar>(p.u_latent), signs_of<Scalar>(p.v_latent), p.h, p.ell, p.g};
}
}  // namespace detail

template <class Scalar>
linalg::Matrix<Scalar> DualSvidPath<Scalar>::reconstruct() const {
  const detail::Factors<Scalar> f = detail::factors_of(*this);
  return f.a() * f.b();
}

template <class Scalar>
template <class Derived>
void DualSvidPath<Scalar>::subtract_from(Eigen::MatrixBase<Derived>& x) const {
  const detail::Factors<Scalar> f = detail::factors_of(*this);
  x.noalias() -= f.a() * f.b();
}

namespace detail {

/// The path of an all-zero matrix: every scale 0 (so W_path = 0 exactly), signs +1, latents 0.
/// An SVD of a zero matrix has no singular directions to take signs from.
template <class Scalar>
DualSvidPath<Scalar> zero_path(Index m, Index n, Index rank) {
  DualSvidPath<Scalar> p;
  p.u_latent = linalg::Matrix<Scalar>::Zero(m, rank);
  p.v_latent = linalg::Matrix<Scalar>::Zero(rank, n);
  p.u_sign = BitMatrix(m, rank);
  p.v_sign = BitMatrix(rank, n);
  p.h = linalg::Vector<Scalar>::Zero(m);
  p.ell_u = linalg::Vector<Scalar>::Zero(rank);
  p.ell_v = linalg::Vector<Scalar>::Zero(rank);
  p.ell = linalg::Vector<Scalar>::Zero(rank);
  p.g = linalg::Vector<Scalar>::Zero(n);
  return p;
}

}  // namespace detail

/// Dual-SVID of w (m x n) at `rank`, with the residual path unless options say otherwise.
/// An all-zero w (or residual) gets the zero path (detail::zero_path): W_hat = 0, errors 0.
template <class Derived>
DualSvidResult<typename Derived::Scalar> dual_svid(const Eigen::MatrixBase<Derived>& w, Index rank,
                                                   const DualSvidOptions& o = {}) {
  using Scalar = typename Derived::Scalar;
  const auto t0 = std::chrono::steady_clock::now();
  linalg::detail::check_matrix(w, rank, "dual_svid");
  DualSvidResult<Scalar> out;
  out.rank = rank;
  out.bits_per_weight = bpw_for_rank({w.rows(), w.cols()}, rank, o.residual);
  const double norm = w.template cast<double>().norm();
  if (norm == 0.0) {
    out.primary = detail::zero_path<Scalar>(w.rows(), w.cols(), rank);
    if (o.residual) out.residual = detail::zero_path<Scalar>(w.rows(), w.cols(), rank);
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
  }
  const bool exact = o.svd == SvdMethod::kExact;
  const linalg::TruncatedSvd<Scalar> svd =
      exact ? linalg::exact_truncated_svd(w, rank)
            : linalg::randomized_svd(w, linalg::RandomizedSvdOptions{rank, o.oversampling, o.power_iterations, o.seed});
  out.primary = detail::dual_svid_path<Scalar>(w, svd, o);
  linalg::Matrix<Scalar> rest = w;
  out.primary.subtract_from(rest);
  out.rel_err_primary = rest.template cast<double>().norm() / norm;
  out.rel_err_total = out.rel_err_primary;
  if (o.residual && rest.template cast<double>().norm() == 0.0) {
    out.residual = detail::zero_path<Scalar>(w.rows(), w.cols(), rank);
  } else if (o.residual) {
    linalg::TruncatedSvd<Scalar> rsvd;
    if (exact) {
      rsvd = linalg::exact_truncated_svd(rest, rank);
    } else {
      // The residual W - W_pri lives mostly where W's top subspace and the primary's binarization
      // error do: start from the primary's left basis plus random directions of the residual.
      const Index extra = std::min<Index>(o.residual_oversampling, std::min(w.rows(), w.cols()) - rank);
      linalg::Matrix<Scalar> y(w.rows(), rank + extra);
      y.leftCols(rank) = svd.U;
      if (extra > 0) y.rightCols(extra) = rest * linalg::detail::gaussian<Scalar>(w.cols(), extra, o.seed + 1);
      rsvd = linalg::subspace_svd(rest, std::move(y), rank, o.residual_power_iterations);
    }
    out.residual = detail::dual_svid_path<Scalar>(rest, rsvd, o);
    out.residual->subtract_from(rest);
    out.rel_err_total = rest.template cast<double>().norm() / norm;
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

/// Dual-SVID at the official rank for a bits-per-weight target (quant/rank_solver.hpp); raises
/// littlebit::Error when the target cannot be met (below the scales' cost, or the rank would
/// exceed min(m, n)).
template <class Derived>
DualSvidResult<typename Derived::Scalar> dual_svid_for_bpw(const Eigen::MatrixBase<Derived>& w, double bpw,
                                                           const DualSvidOptions& o = {}) {
  const RankChoice c = rank_for_bpw({w.rows(), w.cols()}, bpw, {.residual = o.residual});
  c.require_target("dual_svid_for_bpw");
  if (c.rank > std::min<Index>(w.rows(), w.cols()))
    detail::fail("dual_svid_for_bpw: ", bpw, " bits per weight needs rank ", c.rank, ", more than min(m, n) = ",
                 std::min<Index>(w.rows(), w.cols()));
  return dual_svid(w, c.rank, o);
}

}  // namespace littlebit
