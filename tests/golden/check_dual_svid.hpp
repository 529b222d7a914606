// Golden kind "dual_svid": Dual-SVID with exact SVDs against ref::dual_svid.
//
// Tensors: W (m x n), W_pri, and when present W_res, plus the scales h, g, ell (and h_res,
// g_res, ell_res). Metadata: rank (used as is; the rank rule has its own kind, "ranks"), and
// optionally rel_err_primary, rel_err_total.
// Factor signs and the orientation of singular pairs are not unique; reconstructions and the
// magnitudes of the (Perron, single-signed) scale vectors are. The tolerance, 1e-6 relative in
// the Frobenius norm, is the one the project fixed for exact-SVD reconstructions (issue 4): an
// SVD perturbs the factors by about u ||W|| / (sigma_r - sigma_r+1), far below it unless an
// entry of U' lies that close to 0 and its sign flips; the measured gap is printed.
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>

#include "golden_util.hpp"
#include "littlebit/ref/dual_svid.hpp"

namespace littlebit::golden {

inline constexpr double kDualSvidTolerance = 1e-6;

inline std::string check_dual_svid(const io::SafetensorsFile& f) {
  const RowMatrixXd w = read_matrix(f, "W");
  const Index m = w.rows(), n = w.cols();
  const auto rank = static_cast<Index>(meta_number(f, "rank"));
  const bool residual = f.contains("W_res");
  const ref::DualSvid d = ref::dual_svid(w, rank, residual);

  double worst = 0.0;
  std::string failures;
  auto compare = [&](const std::string& name, const Eigen::MatrixXd& ours, const Eigen::MatrixXd& want) {
    const double rel = (ours - want).norm() / std::max(want.norm(), 1e-300);
    worst = std::max(worst, rel);
    if (!(rel <= kDualSvidTolerance))
      failures += (failures.empty() ? "" : "; ") + name + " differs by " + std::to_string(rel) + " relative";
  };
  auto compare_scalar = [&](const std::string& key, double ours) {
    if (!f.metadata_value(key)) return;
    const double want = meta_number(f, key);
    const double rel = std::abs(ours - want) / std::abs(want);
    worst = std::max(worst, rel);
    if (!(rel <= kDualSvidTolerance))
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
  if (!failures.empty()) throw CheckFailed(failures);

  const Eigen::VectorXd s = Eigen::JacobiSVD<Eigen::MatrixXd>(w).singularValues();
  char buf[160];
  std::snprintf(buf, sizeof buf, "%ld x %ld rank %ld%s: errors %.6f / %.6f, max relative difference %.2g (gap %.3g)",
                static_cast<long>(m), static_cast<long>(n), static_cast<long>(rank), residual ? " + residual" : "",
                d.rel_err_primary, d.rel_err_total, worst,
                rank < s.size() ? s(rank - 1) - s(rank) : s(rank - 1));
  return buf;
}

}  // namespace littlebit::golden
