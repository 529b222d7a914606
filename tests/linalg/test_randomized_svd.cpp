// linalg::randomized_svd, subspace_svd, exact_truncated_svd and rank_one_nonnegative on matrices
// with a known spectrum: errors against the Eckart-Young optimum and the randomized range
// finder's proven bound, orthonormality, determinism, the kinds of matrix argument, bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "littlebit/linalg/randomized_svd.hpp"
#include "support/test_util.hpp"

using namespace littlebit;
using linalg::RandomizedSvdOptions;

namespace {

/// Q1 diag(s) Q2^T with Haar-like orthonormal Q1 (m x s) and Q2 (n x s), in double.
Eigen::MatrixXd with_spectrum(Index m, Index n, const Eigen::VectorXd& s, std::uint64_t seed) {
  const Eigen::MatrixXd a = test::random_matrix(m, s.size(), seed), b = test::random_matrix(n, s.size(), seed + 1);
  const Eigen::MatrixXd q1 = Eigen::HouseholderQR<Eigen::MatrixXd>(a).householderQ() * Eigen::MatrixXd::Identity(m, s.size());
  const Eigen::MatrixXd q2 = Eigen::HouseholderQR<Eigen::MatrixXd>(b).householderQ() * Eigen::MatrixXd::Identity(n, s.size());
  return q1 * s.asDiagonal() * q2.transpose();
}

/// sigma_i = i^-0.5 (the benchmark's decaying spectrum), i = 1..count.
Eigen::VectorXd power_law(Index count) {
  Eigen::VectorXd s(count);
  for (Index i = 0; i < count; ++i) s(i) = 1.0 / std::sqrt(static_cast<double>(i + 1));
  return s;
}

/// sqrt(sum_{j > r} s_j^2): the Eckart-Young optimum of a rank-r approximation in Frobenius norm.
double optimum(const Eigen::VectorXd& s, Index r) { return s.tail(s.size() - r).norm(); }

template <class Scalar>
double approximation_error(const Eigen::MatrixXd& a, const linalg::TruncatedSvd<Scalar>& t) {
  const Eigen::MatrixXd u = t.U.template cast<double>(), v = t.V.template cast<double>();
  return (a - u * t.S.template cast<double>().asDiagonal() * v.transpose()).norm();
}

/// max |X^T X - I| for a matrix with (supposedly) orthonormal columns.
template <class Scalar>
double orthogonality_loss(const linalg::Matrix<Scalar>& x) {
  const Eigen::MatrixXd xd = x.template cast<double>();
  return (xd.transpose() * xd - Eigen::MatrixXd::Identity(x.cols(), x.cols())).cwiseAbs().maxCoeff();
}

}  // namespace

TEST_CASE_TEMPLATE("randomized_svd: a matrix of rank <= k is recovered to rounding", Scalar, float, double) {
  // rank(A) = 12 <= k = 8 + 6: range(A Omega) = range(A) (Omega Gaussian, almost surely), so the
  // only error is rounding: u ||A|| times a modest factor (kappa of the 12 nonzero sigmas is 4).
  Eigen::VectorXd s(12);
  for (Index i = 0; i < 12; ++i) s(i) = 1.0 - 0.065 * static_cast<double>(i);
  const Eigen::MatrixXd a = with_spectrum(150, 90, s, 3);
  const linalg::Matrix<Scalar> as = a.cast<Scalar>();
  for (int q : {0, 1, 2}) {
    CAPTURE(q);
    const auto t = linalg::randomized_svd(as, RandomizedSvdOptions{.rank = 12, .oversampling = 2, .power_iterations = q, .seed = 5});
    const double u = double(std::numeric_limits<Scalar>::epsilon());
    CHECK(approximation_error(a, t) <= 100.0 * u * a.norm());
    for (Index i = 0; i < 12; ++i) CHECK(std::abs(double(t.S(i)) - s(i)) <= 100.0 * u);
  }
}

TEST_CASE_TEMPLATE("randomized_svd: decaying spectrum, within the proven bound and near the optimum", Scalar, float,
                   double) {
  const Index m = 300, n = 200, r = 20, p = 10;
  const Eigen::VectorXd s = power_law(n);
  const Eigen::MatrixXd a = with_spectrum(m, n, s, 7);
  const linalg::Matrix<Scalar> as = a.cast<Scalar>();
  const double opt = optimum(s, r);
  for (int q : {0, 1, 2, 4}) {
    CAPTURE(q);
    const auto t = linalg::randomized_svd(as, RandomizedSvdOptions{.rank = r, .oversampling = p, .power_iterations = q, .seed = 11});
    const double err = approximation_error(a, t);
    // Never better than Eckart-Young (up to rounding).
    CHECK(err >= opt * (1.0 - 1e-5));
    // HMT (Theorem 10.5 with the truncation argument of their Section 9.3): E ||A - Q Q^T A||_F^2 <=
    // (1 + r / (p - 1)) opt^2 for q = 0, truncating B = Q^T A to rank r adds at most opt^2, and power
    // iterations only sharpen it. HMT Theorem 10.7 puts the chance of exceeding the expectation
    // bound by 3x below 1e-6 at these sizes: a failure means a broken sketch, not bad luck.
    CHECK(err <= 3.0 * std::sqrt(2.0 + double(r) / double(p - 1)) * opt);
    // sigma_j(B) <= sigma_j(A): the computed singular values never exceed the true ones.
    for (Index i = 0; i < r; ++i) CHECK(double(t.S(i)) <= s(i) * (1.0 + 1e-5));
    CHECK(orthogonality_loss(t.U) <= 10.0 * double(r + p) * double(std::numeric_limits<Scalar>::epsilon()));
    CHECK(orthogonality_loss(t.V) <= 10.0 * double(r + p) * double(std::numeric_limits<Scalar>::epsilon()));
    for (Index i = 1; i < r; ++i) CHECK(t.S(i) <= t.S(i - 1));
  }
  // The documented promise of the defaults: within 1% of the optimum on this spectrum.
  const auto t = linalg::randomized_svd(as, RandomizedSvdOptions{.rank = r});
  CHECK(approximation_error(a, t) <= 1.01 * opt);
  MESSAGE("error / optimum with the defaults: " << approximation_error(a, t) / opt);
}

TEST_CASE("randomized_svd: deterministic for a seed, different across seeds, on any Eigen argument") {
  const Eigen::MatrixXd ad = with_spectrum(120, 80, power_law(80), 13);
  const Eigen::MatrixXf a = ad.cast<float>();
  const RandomizedSvdOptions o{.rank = 10, .oversampling = 5, .power_iterations = 1, .seed = 42};
  const auto t1 = linalg::randomized_svd(a, o), t2 = linalg::randomized_svd(a, o);
  CHECK(t1.U == t2.U);
  CHECK(t1.S == t2.S);
  CHECK(t1.V == t2.V);
  RandomizedSvdOptions other = o;
  other.seed = 43;
  const auto t3 = linalg::randomized_svd(a, other);
  CHECK(t3.S != t1.S);
  // Mapped memory, a Ref and a block of a larger matrix see the same numbers.
  std::vector<float> storage(a.data(), a.data() + a.size());
  const Eigen::Map<const Eigen::MatrixXf> map(storage.data(), a.rows(), a.cols());
  const auto tm = linalg::randomized_svd(map, o);
  CHECK(tm.S == t1.S);
  CHECK(tm.U == t1.U);
  const Eigen::Ref<const Eigen::MatrixXf> ref(a);
  CHECK(linalg::randomized_svd(ref, o).S == t1.S);
  Eigen::MatrixXf big = Eigen::MatrixXf::Zero(130, 90);
  big.block(3, 4, 120, 80) = a;
  const auto tb = linalg::randomized_svd(big.block(3, 4, 120, 80), o);
  CHECK(approximation_error(ad, tb) == doctest::Approx(approximation_error(ad, t1)).epsilon(1e-4));
  // Row-major storage (the layout safetensors files map to) works too.
  const test::RowMatrixXf rows = a;
  CHECK(approximation_error(ad, linalg::randomized_svd(rows, o)) ==
        doctest::Approx(approximation_error(ad, t1)).epsilon(1e-4));
}

TEST_CASE("randomized_svd: oversampling is capped at min(m, n), a full-rank request is exact") {
  const Eigen::MatrixXd a = test::random_matrix(40, 25, 17);
  const auto t = linalg::randomized_svd(a, RandomizedSvdOptions{.rank = 25, .oversampling = 10, .power_iterations = 0, .seed = 1});
  CHECK(t.U.cols() == 25);
  CHECK(approximation_error(a, t) <= 1e-12 * a.norm() * 100);
}

TEST_CASE("subspace_svd: a starting basis that spans the top subspace gives the truncated SVD") {
  const Eigen::VectorXd s = power_law(60);
  const Eigen::MatrixXd a = with_spectrum(100, 60, s, 19);
  const auto exact = linalg::exact_truncated_svd(a, 8);
  // The exact top-8 left basis plus 4 random columns, no power iteration: exact to rounding.
  Eigen::MatrixXd y(100, 12);
  y.leftCols(8) = exact.U;
  y.rightCols(4) = test::random_matrix(100, 4, 23);
  const auto t = linalg::subspace_svd(a, y, 8, 0);
  for (Index i = 0; i < 8; ++i) CHECK(t.S(i) == doctest::Approx(s(i)).epsilon(1e-12));
  CHECK(approximation_error(a, t) == doctest::Approx(optimum(s, 8)).epsilon(1e-10));
  CHECK_THROWS_WITH_AS(linalg::subspace_svd(a, Eigen::MatrixXd(99, 12), 8, 0), doctest::Contains("starting basis is 99 x 12"),
                       Error);
  CHECK_THROWS_AS(linalg::subspace_svd(a, Eigen::MatrixXd(100, 7), 8, 0), Error);
}

TEST_CASE("orthonormalize: Cholesky-QR2 on well-conditioned input, Householder when the Gram matrix is singular") {
  Eigen::MatrixXf y = test::random_matrix(500, 30, 29).cast<float>();
  linalg::detail::orthonormalize(y, 2);
  CHECK(orthogonality_loss(y) <= 10.0 * 30 * double(std::numeric_limits<float>::epsilon()));
  // Two equal columns: the Gram matrix is singular; the fallback still returns an orthonormal basis
  // whose span contains the input's.
  Eigen::MatrixXd z = test::random_matrix(50, 6, 31);
  z.col(5) = z.col(2);
  const Eigen::MatrixXd original = z;
  linalg::detail::orthonormalize(z, 2);
  CHECK(orthogonality_loss(z) <= 1e-13);
  CHECK((original - z * (z.transpose() * original)).norm() <= 1e-12 * original.norm());
}

TEST_CASE_TEMPLATE("exact_truncated_svd: the leading singular triplets, Eckart-Young error", Scalar, float, double) {
  const Eigen::VectorXd s = power_law(40);
  const Eigen::MatrixXd a = with_spectrum(70, 40, s, 37);
  const auto t = linalg::exact_truncated_svd(linalg::Matrix<Scalar>(a.cast<Scalar>()), 9);
  const double u = double(std::numeric_limits<Scalar>::epsilon());
  for (Index i = 0; i < 9; ++i) CHECK(std::abs(double(t.S(i)) - s(i)) <= 50.0 * u);
  CHECK(approximation_error(a, t) == doctest::Approx(optimum(s, 9)).epsilon(200.0 * u));
  CHECK(orthogonality_loss(t.U) <= 50.0 * 9 * u);
}

TEST_CASE("rank_one_nonnegative: the Perron pair, nonnegative, equal to the top singular pair") {
  // A nonnegative matrix: its top singular pair, from a full SVD, up to the pair's sign.
  const Eigen::MatrixXd a = test::random_matrix(60, 45, 41).cwiseAbs();
  const auto [x, y] = linalg::rank_one_nonnegative(a);
  CHECK(x.minCoeff() >= 0.0);
  CHECK(y.minCoeff() >= 0.0);
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(a, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Eigen::MatrixXd top = svd.singularValues()(0) * svd.matrixU().col(0) * svd.matrixV().col(0).transpose();
  CHECK((x * y.transpose() - top).norm() <= 1e-10 * top.norm());
  CHECK(x.norm() == doctest::Approx(y.norm()).epsilon(1e-12));  // sqrt(sigma) in each
  // An exactly rank-1 nonnegative matrix is recovered exactly, in float too.
  Eigen::VectorXf p = test::random_matrix(30, 1, 43).cwiseAbs().cast<float>(), q = test::random_matrix(20, 1, 47).cwiseAbs().cast<float>();
  const Eigen::MatrixXf b = p * q.transpose();
  const auto [xf, yf] = linalg::rank_one_nonnegative(b);
  CHECK((xf * yf.transpose() - b).norm() <= 10.0f * std::numeric_limits<float>::epsilon() * b.norm());
  // The zero matrix gives zero factors.
  const auto [x0, y0] = linalg::rank_one_nonnegative(Eigen::MatrixXd::Zero(4, 3));
  CHECK(x0.isZero());
  CHECK(y0.isZero());
}

TEST_CASE("linalg: bad input raises littlebit::Error naming the problem") {
  Eigen::MatrixXf a = test::random_matrix(12, 10, 53).cast<float>();
  const RandomizedSvdOptions o{.rank = 11};
  CHECK_THROWS_WITH_AS(linalg::randomized_svd(a, o), doctest::Contains("rank 11 is outside [1, min(m, n) = 10]"), Error);
  CHECK_THROWS_AS(linalg::randomized_svd(a, RandomizedSvdOptions{.rank = 0}), Error);
  CHECK_THROWS_WITH_AS(linalg::randomized_svd(a, RandomizedSvdOptions{.rank = 2, .oversampling = -1}),
                       doctest::Contains("nonnegative"), Error);
  CHECK_THROWS_WITH_AS(linalg::randomized_svd(Eigen::MatrixXf(0, 5), RandomizedSvdOptions{.rank = 1}),
                       doctest::Contains("empty matrix 0 x 5"), Error);
  CHECK_THROWS_WITH_AS(linalg::exact_truncated_svd(a, 11), doctest::Contains("rank 11"), Error);
  a(3, 4) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(linalg::randomized_svd(a, RandomizedSvdOptions{.rank = 2}), doctest::Contains("NaN or Inf"), Error);
  CHECK_THROWS_WITH_AS(linalg::exact_truncated_svd(a, 2), doctest::Contains("NaN or Inf"), Error);
  a(3, 4) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(linalg::randomized_svd(a, RandomizedSvdOptions{.rank = 2}), Error);
  CHECK_THROWS_WITH_AS(linalg::rank_one_nonnegative(Eigen::MatrixXd::Constant(2, 2, -1.0)), doctest::Contains("negative"),
                       Error);
  CHECK_THROWS_AS(linalg::rank_one_nonnegative(Eigen::MatrixXd(0, 2)), Error);
  CHECK_THROWS_AS(linalg::rank_one_nonnegative(a.cwiseAbs()), Error);
}
