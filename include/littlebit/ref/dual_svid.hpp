// littlebit/ref/dual_svid.hpp: Dual-SVID initialization with exact SVDs, in double.
//
// The spec for quant/dual_svid (which adds randomized SVD and refinements). For W (m x n) and
// a rank r:
//   W ~ U_r S_r V_r^T                          truncated SVD (exact: Eigen JacobiSVD, the most
//                                              accurate Eigen has; speed is quant/linalg's job)
//   U' = U_r sqrt(S_r)        (m x r)          sqrt(S) split into both factors
//   V' = sqrt(S_r) V_r^T      (r x n)          the official r x n orientation of V
//   U_sign = sign(U'), V_sign = sign(V')       sign(0) = +1
//   |U'| ~ h ell_u^T,  |V'| ~ ell_v g^T        rank-1 by SVD, Perron vectors taken nonnegative,
//                                              sqrt of the singular value split into both
//   ell = ell_u . ell_v
//   W_pri = diag(h) U_sign diag(ell) V_sign diag(g)
// and the residual path is the same construction on W - W_pri. Official names: h = u1,
// ell_u = u2, ell_v = v1, g = v2.
#pragma once

#include <Eigen/Dense>
#include <Eigen/SVD>
#include <optional>
#include <span>

#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/pack.hpp"
#include "littlebit/ref/factorized.hpp"

namespace littlebit::ref {

/// One Dual-SVID path, with the latent real factors a trainer starts from.
struct DualSvidPath {
  Eigen::MatrixXd u_latent;  // m x r, U'
  Eigen::MatrixXd v_latent;  // r x n, V'
  BitMatrix u_sign;          // m x r
  BitMatrix v_sign;          // r x n
  Eigen::VectorXd h;         // m   (u1)
  Eigen::VectorXd ell_u;     // r   (u2)
  Eigen::VectorXd ell_v;     // r   (v1)
  Eigen::VectorXd ell;       // r   ell_u . ell_v
  Eigen::VectorXd g;         // n   (v2)

  FactorizedPath<double> path() const {
    return {std::span<const double>(h.data(), static_cast<std::size_t>(h.size())), u_sign.view(),
            std::span<const double>(ell.data(), static_cast<std::size_t>(ell.size())), v_sign.view(),
            std::span<const double>(g.data(), static_cast<std::size_t>(g.size()))};
  }

  /// diag(h) U_sign diag(ell) V_sign diag(g), m x n.
  Eigen::MatrixXd reconstruct() const {
    Eigen::MatrixXd w(u_sign.rows(), v_sign.cols());
    const FactorizedPath<double> p = path();
    ref::reconstruct(std::span<const FactorizedPath<double>>(&p, 1), view(w));
    return w;
  }
};

struct DualSvid {
  DualSvidPath primary;
  std::optional<DualSvidPath> residual;
  double rel_err_primary = 0.0;  // ||W - W_pri||_F / ||W||_F
  double rel_err_total = 0.0;    // ||W - W_pri - W_res||_F / ||W||_F (= primary without residual)
};

/// Rank-1 approximation a ~ x y^T of a nonnegative matrix by its top singular pair, with
/// sqrt(sigma) in each factor and both factors nonnegative (Perron vectors; the sign of a
/// singular pair is arbitrary, so the pair is flipped to make its sum positive).
inline std::pair<Eigen::VectorXd, Eigen::VectorXd> rank_one_nonnegative(const Eigen::MatrixXd& a) {
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(a, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const double root = std::sqrt(svd.singularValues()(0));
  Eigen::VectorXd x = svd.matrixU().col(0) * root;
  Eigen::VectorXd y = svd.matrixV().col(0) * root;
  if (x.sum() < 0.0) {
    x = -x;
    y = -y;
  }
  return {x, y};
}

/// One Dual-SVID path of w at the given rank.
inline DualSvidPath dual_svid_path(const Eigen::MatrixXd& w, Index rank) {
  const Index m = w.rows(), n = w.cols();
  if (m == 0 || n == 0) littlebit::detail::fail("ref::dual_svid: empty matrix ", m, " x ", n);
  if (rank < 1 || rank > std::min(m, n))
    littlebit::detail::fail("ref::dual_svid: rank ", rank, " is outside [1, min(m, n) = ", std::min(m, n),
                            "] for a ", m, " x ", n, " matrix");
  if (!w.allFinite()) littlebit::detail::fail("ref::dual_svid: the ", m, " x ", n, " matrix has NaN or Inf entries");

  Eigen::JacobiSVD<Eigen::MatrixXd> svd(w, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Eigen::VectorXd root = svd.singularValues().head(rank).cwiseSqrt();
  DualSvidPath p;
  p.u_latent = svd.matrixU().leftCols(rank) * root.asDiagonal();
  p.v_latent = root.asDiagonal() * svd.matrixV().leftCols(rank).transpose();
  p.u_sign = pack_signs(p.u_latent, "dual_svid U'");
  p.v_sign = pack_signs(p.v_latent, "dual_svid V'");
  std::tie(p.h, p.ell_u) = rank_one_nonnegative(p.u_latent.cwiseAbs());
  std::tie(p.ell_v, p.g) = rank_one_nonnegative(p.v_latent.cwiseAbs());
  p.ell = p.ell_u.cwiseProduct(p.ell_v);
  return p;
}

/// Dual-SVID of w, and of its residual when `residual` is set.
inline DualSvid dual_svid(const Eigen::MatrixXd& w, Index rank, bool residual) {
  DualSvid out{dual_svid_path(w, rank), std::nullopt, 0.0, 0.0};
  const double norm = w.norm();
  Eigen::MatrixXd rest = w - out.primary.reconstruct();
  out.rel_err_primary = rest.norm() / norm;
  out.rel_err_total = out.rel_err_primary;
  if (residual) {
    out.residual = dual_svid_path(rest, rank);
    rest -= out.residual->reconstruct();
    out.rel_err_total = rest.norm() / norm;
  }
  return out;
}

}  // namespace littlebit::ref
