// ref::dual_svid: invariants on matrices with a known spectrum, and bad input.
#include <doctest/doctest.h>

#include <limits>

#include "littlebit/ref/dual_svid.hpp"
#include "support/test_util.hpp"

using namespace littlebit;

namespace {
// Q1 diag(s) Q2^T with s_k = 0.9^k: a decaying spectrum.
Eigen::MatrixXd decaying(Index m, Index n, std::uint64_t seed) {
  const Eigen::MatrixXd a = littlebit::test::random_matrix(m, m, seed), b = littlebit::test::random_matrix(n, n, seed + 1);
  const Eigen::MatrixXd q1 = Eigen::HouseholderQR<Eigen::MatrixXd>(a).householderQ();
  const Eigen::MatrixXd q2 = Eigen::HouseholderQR<Eigen::MatrixXd>(b).householderQ();
  Eigen::VectorXd s(std::min(m, n));
  for (Index k = 0; k < s.size(); ++k) s(k) = std::pow(0.9, static_cast<double>(k));
  return q1.leftCols(s.size()) * s.asDiagonal() * q2.leftCols(s.size()).transpose();
}
}  // namespace

TEST_CASE("ref::dual_svid: factors have the right shapes, scales are nonnegative, the residual helps") {
  const Eigen::MatrixXd w = decaying(40, 56, 1);
  const auto d = ref::dual_svid(w, 8, true);
  REQUIRE(d.residual.has_value());
  for (const auto* p : {&d.primary, &*d.residual}) {
    CHECK(p->u_sign.rows() == 40);
    CHECK(p->u_sign.cols() == 8);
    CHECK(p->v_sign.rows() == 8);
    CHECK(p->v_sign.cols() == 56);
    CHECK(p->h.minCoeff() >= 0.0);
    CHECK(p->g.minCoeff() >= 0.0);
    CHECK(p->ell.minCoeff() >= 0.0);
    // The signs are those of the latent factors.
    CHECK(pack_signs(p->u_latent) == p->u_sign);
    CHECK(pack_signs(p->v_latent) == p->v_sign);
    // h ell_u^T is the best rank-1 fit of |U'|: no worse than the mean-value rank-1 fit.
    const Eigen::MatrixXd a = p->u_latent.cwiseAbs();
    const double best = (a - p->h * p->ell_u.transpose()).norm();
    const double mean_fit = (a - Eigen::MatrixXd::Constant(a.rows(), a.cols(), a.mean())).norm();
    CHECK(best <= mean_fit);
  }
  CHECK(d.rel_err_primary < 1.0);
  CHECK(d.rel_err_total < d.rel_err_primary);
  const Eigen::MatrixXd rest = w - d.primary.reconstruct() - d.residual->reconstruct();
  CHECK(rest.norm() / w.norm() == doctest::Approx(d.rel_err_total).epsilon(1e-12));
}

TEST_CASE("ref::dual_svid: an exactly rank-1 sign-structured matrix is recovered") {
  // W = h s t^T g with s, t +1/-1 vectors: rank 1 with |U'|, |V'| rank 1, so one path is exact.
  Eigen::VectorXd h(5), g(7), s(5), t(7);
  h << 1, 2, 3, 4, 5;
  g << 0.5, 1, 1.5, 2, 2.5, 3, 3.5;
  s << 1, -1, 1, 1, -1;
  t << -1, 1, 1, -1, 1, 1, -1;
  const Eigen::MatrixXd w = h.cwiseProduct(s) * t.cwiseProduct(g).transpose();
  const auto d = ref::dual_svid(w, 1, false);
  CHECK(d.rel_err_primary < 1e-12);
}

TEST_CASE("ref::dual_svid: bad input raises littlebit::Error") {
  Eigen::MatrixXd w = decaying(10, 12, 3);
  CHECK_THROWS_WITH_AS(ref::dual_svid(w, 11, true), doctest::Contains("rank 11 is outside [1, min(m, n) = 10]"), Error);
  CHECK_THROWS_AS(ref::dual_svid(w, 0, true), Error);
  CHECK_THROWS_AS(ref::dual_svid(Eigen::MatrixXd(0, 5), 1, true), Error);
  w(3, 4) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(ref::dual_svid(w, 2, true), doctest::Contains("NaN or Inf"), Error);
  w(3, 4) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(ref::dual_svid(w, 2, true), Error);
}
