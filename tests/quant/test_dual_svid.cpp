// quant::dual_svid against ref::dual_svid (exact SVDs), the randomized path's errors, the result's
// internal consistency, the refinements' guarantees, and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "littlebit/quant/dual_svid.hpp"
#include "littlebit/ref/dual_svid.hpp"
#include "littlebit/ref/factorized.hpp"
#include "support/test_util.hpp"

using namespace littlebit;

namespace {

/// Q1 diag(s) Q2^T with s_i = i^-0.5 and a few heavy columns (the benchmark matrix, small).
Eigen::MatrixXd decaying(Index m, Index n, std::uint64_t seed) {
  const Index k = std::min(m, n);
  const Eigen::MatrixXd q1 = Eigen::HouseholderQR<Eigen::MatrixXd>(test::random_matrix(m, k, seed)).householderQ() *
                             Eigen::MatrixXd::Identity(m, k);
  const Eigen::MatrixXd q2 = Eigen::HouseholderQR<Eigen::MatrixXd>(test::random_matrix(n, k, seed + 1)).householderQ() *
                             Eigen::MatrixXd::Identity(n, k);
  Eigen::VectorXd s(k);
  for (Index i = 0; i < k; ++i) s(i) = 1.0 / std::sqrt(static_cast<double>(i + 1));
  Eigen::MatrixXd w = q1 * s.asDiagonal() * q2.transpose();
  for (Index j = 0; j < n; j += 17) w.col(j) *= 4.0;
  return w;
}

template <class Scalar>
double rel_err(const Eigen::MatrixXd& w, const linalg::Matrix<Scalar>& approx) {
  return (w - approx.template cast<double>()).norm() / w.norm();
}

}  // namespace

TEST_CASE("dual_svid, exact SVD in double: the reconstructions of ref::dual_svid") {
  // ref uses JacobiSVD, quant BDCSVD: the factors agree to u ||W|| / gap, far below 1e-9 here
  // unless an entry of U' sits that close to 0 (the printed minimum shows it does not).
  for (auto [m, n, r, residual] : {std::tuple{96, 160, 8, true}, std::tuple{128, 128, 16, true}, std::tuple{70, 33, 5, false},
                                   std::tuple{50, 40, 1, true}}) {
    CAPTURE(m);
    CAPTURE(r);
    const Eigen::MatrixXd w = decaying(m, n, static_cast<std::uint64_t>(m + r));
    const ref::DualSvid want = ref::dual_svid(w, r, residual);
    DualSvidOptions o;
    o.residual = residual;
    o.svd = SvdMethod::kExact;
    const DualSvidResult<double> got = dual_svid(w, r, o);
    CHECK((got.primary.reconstruct() - want.primary.reconstruct()).norm() <= 1e-9 * w.norm());
    CHECK(got.primary.u_sign.rows() == m);
    CHECK(got.primary.u_sign.cols() == r);
    CHECK(got.primary.v_sign.rows() == r);
    CHECK(got.primary.v_sign.cols() == n);
    CHECK(got.residual.has_value() == residual);
    if (residual) CHECK((got.residual->reconstruct() - want.residual->reconstruct()).norm() <= 1e-9 * w.norm());
    CHECK(got.rel_err_primary == doctest::Approx(want.rel_err_primary).epsilon(1e-9));
    CHECK(got.rel_err_total == doctest::Approx(want.rel_err_total).epsilon(1e-9));
    CHECK(got.rank == r);
    CHECK(got.bits_per_weight == bpw_for_rank({m, n}, r, residual));
  }
}

TEST_CASE("dual_svid, randomized SVD in float: errors within 1% of the exact init, consistent result") {
  const Eigen::MatrixXd w = decaying(256, 192, 3);
  const ref::DualSvid want = ref::dual_svid(w, 24, true);
  const Eigen::MatrixXf wf = w.cast<float>();
  const DualSvidResult<float> got = dual_svid(wf, 24);
  CHECK(std::abs(got.rel_err_primary - want.rel_err_primary) <= 0.01 * want.rel_err_primary);
  CHECK(std::abs(got.rel_err_total - want.rel_err_total) <= 0.01 * want.rel_err_total);
  REQUIRE(got.residual.has_value());
  // The reported errors are those of the returned factors (float rounding of the reconstructions).
  const Eigen::MatrixXf pri = got.primary.reconstruct(), res = got.residual->reconstruct();
  CHECK(rel_err(w, pri) == doctest::Approx(got.rel_err_primary).epsilon(1e-5));
  CHECK(rel_err(w, Eigen::MatrixXf(pri + res)) == doctest::Approx(got.rel_err_total).epsilon(1e-5));
  for (const DualSvidPath<float>* p : {&got.primary, &*got.residual}) {
    // Packed signs are those of the latent factors; Perron scales are nonnegative; ell = ell_u ell_v.
    CHECK(pack_signs(p->u_latent) == p->u_sign);
    CHECK(pack_signs(p->v_latent) == p->v_sign);
    CHECK(p->h.minCoeff() >= 0.0f);
    CHECK(p->g.minCoeff() >= 0.0f);
    CHECK(p->ell.isApprox(p->ell_u.cwiseProduct(p->ell_v)));
    // reconstruct() is the reference reconstruction of the packed path.
    const Eigen::MatrixXf dense = p->reconstruct();
    test::RowMatrixXf via_ref(dense.rows(), dense.cols());
    const ref::FactorizedPath<float> path = p->path();
    ref::reconstruct(std::span<const ref::FactorizedPath<float>>(&path, 1), view(via_ref));
    CHECK((dense - via_ref).norm() <= 1e-5f * dense.norm());
  }
  // Deterministic for a seed.
  const DualSvidResult<float> again = dual_svid(wf, 24);
  CHECK(again.primary.u_sign == got.primary.u_sign);
  CHECK(again.rel_err_total == got.rel_err_total);
  // No residual: the total error is the primary's.
  DualSvidOptions single;
  single.residual = false;
  const DualSvidResult<float> one = dual_svid(wf, 24, single);
  CHECK(!one.residual.has_value());
  CHECK(one.rel_err_total == one.rel_err_primary);
}

TEST_CASE("dual_svid: least-squares scales and sign steps never raise the primary's error") {
  // Each scale update is an exact block least-squares minimizer and a sign step is kept only when
  // it lowers the error, so from the same SVD the refined primary is no worse than the plain one
  // (up to float rounding of the error evaluation).
  const Eigen::MatrixXf w = decaying(200, 160, 5).cast<float>();
  const DualSvidResult<float> plain = dual_svid(w, 16);
  for (DualSvidRefine r : {DualSvidRefine{.scales = true, .rounds = 1}, DualSvidRefine{.signs = true, .rounds = 1},
                           DualSvidRefine{.scales = true, .signs = true, .rounds = 3}}) {
    CAPTURE(r.scales);
    CAPTURE(r.signs);
    DualSvidOptions o;
    o.refine = r;
    const DualSvidResult<float> refined = dual_svid(w, 16, o);
    CHECK(refined.rel_err_primary <= plain.rel_err_primary * (1.0 + 1e-5));
    MESSAGE("primary " << plain.rel_err_primary << " -> " << refined.rel_err_primary << ", total " << plain.rel_err_total
                       << " -> " << refined.rel_err_total);
    // Still consistent: reported errors are the returned factors' errors; ell = ell_u ell_v.
    CHECK(rel_err(w.cast<double>(), refined.primary.reconstruct()) == doctest::Approx(refined.rel_err_primary).epsilon(1e-5));
    CHECK(refined.primary.ell.isApprox(refined.primary.ell_u.cwiseProduct(refined.primary.ell_v)));
    CHECK(pack_signs(refined.primary.u_latent) == refined.primary.u_sign);
  }
  // The recommended preset lowers the total error clearly on this matrix.
  DualSvidOptions best;
  best.refine = DualSvidRefine::recommended();
  const DualSvidResult<float> refined = dual_svid(w, 16, best);
  CHECK(refined.rel_err_total < 0.95 * plain.rel_err_total);
}

TEST_CASE("joint_itq: an orthogonal rotation that keeps U'V' and lowers the quantization loss") {
  const Eigen::MatrixXd w = decaying(90, 70, 9);
  const auto svd = linalg::exact_truncated_svd(w, 12);
  const Eigen::VectorXd root = svd.S.cwiseSqrt();
  Eigen::MatrixXd up = svd.U * root.asDiagonal(), vp = root.asDiagonal() * svd.V.transpose();
  const Eigen::MatrixXd product = up * vp;
  auto loss = [](const Eigen::MatrixXd& u, const Eigen::MatrixXd& v) {
    // min over a per-column scale is not ITQ's loss; ITQ's is ||sign(X) - X||_F on X = [U'; V'^T].
    return (detail::signs_of<double>(u) - u).squaredNorm() + (detail::signs_of<double>(v) - v).squaredNorm();
  };
  const double before = loss(up, vp);
  Eigen::MatrixXd u2 = up, v2 = vp;
  detail::joint_itq(u2, v2, 30);
  CHECK((u2 * v2 - product).norm() <= 1e-12 * product.norm());
  // R = (U'^T U')^-1 U'^T U'_rotated is orthogonal.
  const Eigen::MatrixXd rot = up.colPivHouseholderQr().solve(u2);
  CHECK((rot.transpose() * rot - Eigen::MatrixXd::Identity(12, 12)).cwiseAbs().maxCoeff() <= 1e-10);
  CHECK(loss(u2, v2) <= before);
}

TEST_CASE("dual_svid: bad input raises littlebit::Error naming the problem") {
  Eigen::MatrixXf w = test::random_matrix(12, 10, 61).cast<float>();
  CHECK_THROWS_WITH_AS(dual_svid(w, 11), doctest::Contains("rank 11 is outside [1, min(m, n) = 10]"), Error);
  CHECK_THROWS_AS(dual_svid(w, 0), Error);
  CHECK_THROWS_WITH_AS(dual_svid(Eigen::MatrixXf(0, 3), 1), doctest::Contains("empty matrix"), Error);
  CHECK_THROWS_WITH_AS(dual_svid_for_bpw(w, 0.01), doctest::Contains("dual_svid_for_bpw"), Error);
  CHECK_THROWS_WITH_AS(dual_svid_for_bpw(w, 8.0), doctest::Contains("below the minimum"), Error);
  const Eigen::MatrixXf wide = test::random_matrix(40, 30, 63).cast<float>();
  CHECK_THROWS_WITH_AS(dual_svid_for_bpw(wide, 30.0), doctest::Contains("needs rank 192, more than min(m, n) = 30"), Error);
  w(0, 0) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(dual_svid(w, 2), doctest::Contains("NaN or Inf"), Error);
  w(0, 0) = -std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(dual_svid(w, 2), doctest::Contains("NaN or Inf"), Error);
}

TEST_CASE("dual_svid_for_bpw: the official rank, and the achieved bits per weight") {
  const Eigen::MatrixXf w = decaying(256, 512, 67).cast<float>();
  const DualSvidResult<float> d = dual_svid_for_bpw(w, 1.0);
  const RankChoice c = rank_for_bpw({256, 512}, 1.0, {.residual = true});
  CHECK(d.rank == c.rank);
  CHECK(d.bits_per_weight == doctest::Approx(c.bits_per_weight));
  CHECK(d.bits_per_weight <= 1.0);
}

TEST_CASE("dual_svid of an all-zero matrix: the zero layer, errors 0, no NaN, on every SVD method and precision") {
  for (SvdMethod method : {SvdMethod::kExact, SvdMethod::kRandomized})
    for (bool residual : {false, true}) {
      CAPTURE(residual);
      DualSvidOptions o;
      o.svd = method;
      o.residual = residual;
      const DualSvidResult<float> f = dual_svid(Eigen::MatrixXf::Zero(40, 24), 8, o);
      const DualSvidResult<double> d = dual_svid(Eigen::MatrixXd::Zero(24, 40), 8, o);
      CHECK(f.rel_err_primary == 0.0);
      CHECK(f.rel_err_total == 0.0);
      CHECK(d.rel_err_total == 0.0);
      CHECK(f.residual.has_value() == residual);
      CHECK(f.primary.reconstruct().isZero(0.0));
      CHECK(d.primary.reconstruct().isZero(0.0));
      CHECK(f.primary.u_sign == BitMatrix(40, 8));  // all +1
      CHECK(f.primary.rank() == 8);
      CHECK(f.bits_per_weight == bpw_for_rank({40, 24}, 8, residual));
      if (residual) CHECK(f.residual->reconstruct().isZero(0.0));
    }
}
