// Golden kind "dual_svid": Dual-SVID with exact SVDs (ref::dual_svid, and quant::dual_svid with
// SvdMethod::kExact in double) against the golden reconstructions, and quant::dual_svid with the
// randomized SVD in float (the default options) against the golden errors.
//
// Tensors: W (m x n), W_pri, and when present W_res, plus the scales h, g, ell (and h_res,
// g_res, ell_res). Metadata: rank (used as is; the rank rule has its own kind, "ranks"), and
// optionally rel_err_primary, rel_err_total.
// Factor signs and the orientation of singular pairs are not unique; reconstructions and the
// magnitudes of the (Perron, single-signed) scale vectors are.
//
// The tolerance is derived, per file, from the golden matrix itself (dual_svid_tolerance below).
// Both sides compute exact SVDs in double (LAPACK through PyTorch there, Eigen here); each is
// backward stable, the exact SVD of W + E with ||E||_2 <= p u ||W||_2, p = max(m, n), u = 2^-53.
// First order (Wedin): the rank-r factors U' sqrt(S) move by delta_1 = p u k_W relatively,
// k_W = s_1 / (s_r - s_r+1); their signs stay put when every entry is farther than that from 0
// (checked: otherwise the file is ill-posed for this check and says so); the Perron vector of |U'|
// (m x r, nonnegative) moves by delta_1 k_U, k_U = t_1 / (t_1 - t_2) of |U'|'s singular values,
// likewise for V'; so h, g, ell and the product W_pri = diag(h) S_U diag(ell) S_V^T diag(g) move by
// at most delta_pri = delta_1 (1 + 2 (k_U + k_V)). The residual path starts from W - W_pri, off by
// delta_pri ||W_pri|| / ||W - W_pri|| plus its own p u, and goes through the same chain. The
// Frobenius norms of these rank <= 2r perturbations add sqrt(2 r), and a factor 2 covers the
// second-order terms (the first-order bound is required to be below 1e-3, where they are smaller).
// The randomized SVD is not the exact one: its errors must be within 1% (relative) of the golden
// ones (the decomposition's accuracy target), which bounds how far its subspace and rounding move it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "golden_util.hpp"
#include "littlebit/quant/dual_svid.hpp"
#include "littlebit/ref/dual_svid.hpp"

namespace littlebit::golden {

inline constexpr double kDualSvidRandomizedErrorTolerance = 0.01;

/// One path's first-order relative perturbation (see the file comment), from the perturbation
/// `delta0` of the matrix it starts from; raises CheckFailed when a sign is not determined.
inline double dual_svid_path_perturbation(const Eigen::MatrixXd& a, Index rank, double delta0, const char* what) {
  const Eigen::JacobiSVD<Eigen::MatrixXd> svd(a, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Eigen::VectorXd s = svd.singularValues();
  const double gap = rank < s.size() ? s(rank - 1) - s(rank) : s(rank - 1);
  if (!(gap > 0)) throw CheckFailed(std::string(what) + ": no gap at the rank, the truncated SVD is not unique");
  const double delta1 = delta0 * s(0) / gap;
  const Eigen::VectorXd root = s.head(rank).cwiseSqrt();
  const Eigen::MatrixXd uf = svd.matrixU().leftCols(rank) * root.asDiagonal();
  const Eigen::MatrixXd vf = svd.matrixV().leftCols(rank) * root.asDiagonal();
  // An entry moves by at most delta1 ||factor||_2 = delta1 sqrt(s_1): its sign is safe when farther from 0.
  const double entry_move = delta1 * std::sqrt(s(0));
  if (!(uf.cwiseAbs().minCoeff() > entry_move && vf.cwiseAbs().minCoeff() > entry_move))
    throw CheckFailed(std::string(what) + ": a factor entry is within its perturbation of 0, its sign is not determined");
  auto perron_condition = [](const Eigen::MatrixXd& f) {
    const Eigen::VectorXd t = Eigen::JacobiSVD<Eigen::MatrixXd>(f.cwiseAbs()).singularValues();
    return t.size() < 2 ? 1.0 : t(0) / (t(0) - t(1));
  };
  return delta1 * (1 + 2 * (perron_condition(uf) + perron_condition(vf)));
}

/// The relative Frobenius tolerance of the exact-SVD reconstructions of one golden file.
inline double dual_svid_tolerance(const RowMatrixXd& w, Index rank, bool residual, const Eigen::MatrixXd& w_pri) {
  const double u = 0x1p-53, p = static_cast<double>(std::max(w.rows(), w.cols()));
  double first_order = dual_svid_path_perturbation(w, rank, p * u, "W");
  if (residual) {
    const Eigen::MatrixXd r = w - w_pri;
    const double delta0 = first_order * w_pri.norm() / r.norm() + p * u;
    first_order = std::max(first_order, dual_svid_path_perturbation(r, rank, delta0, "W - W_pri"));
  }
  if (!(first_order < 1e-3)) throw CheckFailed("the first-order perturbation bound " + std::to_string(first_order) +
                                               " is too large for a first-order tolerance");
  return 2 * std::sqrt(2.0 * static_cast<double>(rank)) * first_order;
}

inline std::string check_dual_svid(const io::SafetensorsFile& f) {
  const RowMatrixXd w = read_matrix(f, "W");
  const Index m = w.rows(), n = w.cols();
  const auto rank = static_cast<Index>(meta_number(f, "rank"));
  const bool residual = f.contains("W_res");
  const ref::DualSvid d = ref::dual_svid(w, rank, residual);
  const double tolerance = dual_svid_tolerance(w, rank, residual, read_matrix(f, "W_pri", m, n));

  double worst = 0.0;
  std::string failures;
  auto compare = [&](const std::string& name, const Eigen::MatrixXd& ours, const Eigen::MatrixXd& want) {
    const double rel = (ours - want).norm() / std::max(want.norm(), 1e-300);
    worst = std::max(worst, rel);
    if (!(rel <= tolerance))
      failures += (failures.empty() ? "" : "; ") + name + " differs by " + std::to_string(rel) + " relative";
  };
  auto compare_scalar = [&](const std::string& key, double ours) {
    if (!f.metadata_value(key)) return;
    const double want = meta_number(f, key);
    const double rel = std::abs(ours - want) / std::abs(want);
    worst = std::max(worst, rel);
    if (!(rel <= tolerance))
      failures += (failures.empty() ? "" : "; ") + key + ": ours " + std::to_string(ours) + ", golden " + std::to_string(want);
  };
  auto compare_path = [&](const ref::DualSvidPath& p, const std::string& sfx) {
    // Perron vectors are single-signed; the golden file may hold either sign.
    compare("|h" + sfx + "|", p.h, read_matrix(f, "h" + sfx, 1, m).transpose().cwiseAbs());
    compare("|g" + sfx + "|", p.g, read_matrix(f, "g" + sfx, 1, n).transpose().cwiseAbs());
    compare("|ell" + sfx + "|", p.ell, read_matrix(f, "ell" + sfx, 1, rank).transpose().cwiseAbs());
  };

  compare("W_pri", d.primary.reconstruct(), read_matrix(f, "W_pri", m, n));
  if (f.contains("h")) compare_path(d.primary, "");
  if (residual) {
    compare("W_res", d.residual->reconstruct(), read_matrix(f, "W_res", m, n));
    if (f.contains("h_res")) compare_path(*d.residual, "_res");
  }
  compare_scalar("rel_err_primary", d.rel_err_primary);
  if (residual) compare_scalar("rel_err_total", d.rel_err_total);

  // quant::dual_svid, exact SVD, double: the same reconstructions.
  DualSvidOptions exact;
  exact.residual = residual;
  exact.svd = SvdMethod::kExact;
  const Eigen::MatrixXd wd = w;
  const DualSvidResult<double> q = dual_svid(wd, rank, exact);
  compare("quant W_pri", q.primary.reconstruct(), read_matrix(f, "W_pri", m, n));
  if (residual) compare("quant W_res", q.residual->reconstruct(), read_matrix(f, "W_res", m, n));

  // quant::dual_svid, randomized SVD, float: errors within 1% of the golden ones.
  DualSvidOptions randomized;
  randomized.residual = residual;
  const Eigen::MatrixXf wf = w.cast<float>();
  const DualSvidResult<float> r = dual_svid(wf, rank, randomized);
  double worst_randomized = 0.0;
  auto compare_error = [&](const char* key, double ours) {
    const double want = f.metadata_value(key) ? meta_number(f, key) : (key == std::string("rel_err_total") ? d.rel_err_total : d.rel_err_primary);
    const double rel = std::abs(ours - want) / want;
    worst_randomized = std::max(worst_randomized, rel);
    if (!(rel <= kDualSvidRandomizedErrorTolerance))
      failures += (failures.empty() ? "" : "; ") + std::string("randomized ") + key + ": ours " + std::to_string(ours) +
                  ", golden " + std::to_string(want);
  };
  compare_error("rel_err_primary", r.rel_err_primary);
  if (residual) compare_error("rel_err_total", r.rel_err_total);
  if (!failures.empty()) throw CheckFailed(failures);

  const Eigen::VectorXd s = Eigen::JacobiSVD<Eigen::MatrixXd>(w).singularValues();
  char buf[240];
  std::snprintf(buf, sizeof buf,
                "%ld x %ld rank %ld%s: errors %.6f / %.6f, max relative difference %.2g (derived tolerance %.2g, "
                "gap %.3g); randomized errors within %.2g%%",
                static_cast<long>(m), static_cast<long>(n), static_cast<long>(rank), residual ? " + residual" : "",
                d.rel_err_primary, d.rel_err_total, worst, tolerance,
                rank < s.size() ? s(rank - 1) - s(rank) : s(rank - 1), 100.0 * worst_randomized);
  return buf;
}

}  // namespace littlebit::golden
