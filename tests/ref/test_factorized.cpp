// ref::reconstruct / factorized_forward / factorized_backward:
//  * reconstruction against a dense Eigen product (exact on dyadic data);
//  * forward against the dense reconstruction times X;
//  * dU_sign, dV_sign against the dense closed forms;
//  * dh, dell, dg, dX against central differences. The loss L = sum(dY . Y) is linear in each
//    of these coordinates, so a difference with step 1 has no truncation error: only rounding,
//    bounded by gamma_D times the loss evaluated on magnitudes (Higham 3.1 along the chain).
#include <doctest/doctest.h>

#include <span>
#include <vector>

#include "littlebit/core/pack.hpp"
#include "littlebit/ref/factorized.hpp"
#include "support/test_util.hpp"

using namespace littlebit;
using littlebit::test::RowMatrixXd;

namespace {

struct Path {
  std::vector<double> h, ell, g;
  BitMatrix u, v;
  ref::FactorizedPath<double> view() const {
    return {std::span<const double>(h), u.view(), std::span<const double>(ell), v.view(), std::span<const double>(g)};
  }
};

std::vector<double> random_vector(Index n, std::uint64_t seed, bool dyadic) {
  const RowMatrixXd m = dyadic ? RowMatrixXd(littlebit::test::random_integer_matrix(1, n, 16, seed) / 8.0)
                               : littlebit::test::random_matrix(1, n, seed);
  return {m.data(), m.data() + n};
}

Path random_path(Index m, Index r, Index n, std::uint64_t seed, bool dyadic = false) {
  return {random_vector(m, seed, dyadic), random_vector(r, seed + 1, dyadic), random_vector(n, seed + 2, dyadic),
          pack_signs(littlebit::test::random_matrix(m, r, seed + 3)),
          pack_signs(littlebit::test::random_matrix(r, n, seed + 4))};
}

RowMatrixXd dense(const BitMatrix& b) { return littlebit::test::dense_signs(b); }

Eigen::Map<const Eigen::VectorXd> vec(const std::vector<double>& v) {
  return {v.data(), static_cast<Index>(v.size())};
}

RowMatrixXd dense_path(const Path& p) {
  return vec(p.h).asDiagonal() * dense(p.u) * vec(p.ell).asDiagonal() * dense(p.v) * vec(p.g).asDiagonal();
}

std::vector<ref::FactorizedPath<double>> views(const std::vector<Path>& ps) {
  std::vector<ref::FactorizedPath<double>> v;
  for (const auto& p : ps) v.push_back(p.view());
  return v;
}

double loss(const std::vector<Path>& ps, const RowMatrixXd& x, const RowMatrixXd& dy) {
  RowMatrixXd y(x.rows(), dy.cols());
  const auto v = views(ps);
  ref::factorized_forward(std::span<const ref::FactorizedPath<double>>(v), littlebit::view(x), littlebit::view(y));
  return (y.array() * dy.array()).sum();
}

/// The loss with every input replaced by its magnitude and every sign by +1: an upper bound on
/// the sum of the magnitudes of all terms, which is what rounding errors scale with.
double magnitude_loss(const std::vector<Path>& ps, const RowMatrixXd& x, const RowMatrixXd& dy) {
  std::vector<Path> abs_ps;
  for (const auto& p : ps) {
    Path a{p.h, p.ell, p.g, BitMatrix(p.u.rows(), p.u.cols()), BitMatrix(p.v.rows(), p.v.cols())};
    for (auto* v : {&a.h, &a.ell, &a.g})
      for (double& e : *v) e = std::abs(e);
    abs_ps.push_back(std::move(a));
  }
  return loss(abs_ps, x.cwiseAbs(), dy.cwiseAbs());
}

}  // namespace

TEST_CASE("ref::reconstruct equals the dense product on dyadic data (exact)") {
  for (Index n : {1, 33, 65, 130}) {
    std::vector<Path> ps = {random_path(17, 8, n, 100, true), random_path(17, 8, n, 200, true)};
    const auto v = views(ps);
    RowMatrixXd w(17, n);
    ref::reconstruct(std::span<const ref::FactorizedPath<double>>(v), littlebit::view(w));
    // Every term is a product of multiples of 1/8 bounded by 8: exact in double, as are sums of 16.
    CHECK(w == dense_path(ps[0]) + dense_path(ps[1]));
  }
}

TEST_CASE("ref::factorized_forward equals the dense reconstruction times X") {
  for (Index batch : {1, 4}) {
    std::vector<Path> ps = {random_path(33, 5, 70, 300), random_path(33, 5, 70, 400)};
    const auto v = views(ps);
    const RowMatrixXd x = littlebit::test::random_matrix(batch, 70, 500);
    RowMatrixXd y(batch, 33);
    ref::factorized_forward(std::span<const ref::FactorizedPath<double>>(v), littlebit::view(x), littlebit::view(y));
    const RowMatrixXd want = x * (dense_path(ps[0]) + dense_path(ps[1])).transpose();
    // Two evaluation orders of sums over n * r products, each within gamma_D of exact on magnitudes.
    const double bound = 2 * littlebit::test::gamma(70 + 5 + 8) * magnitude_loss(ps, x, RowMatrixXd::Ones(batch, 33));
    CHECK((y - want).cwiseAbs().maxCoeff() <= bound);
  }
}

TEST_CASE("ref::factorized_backward: sign gradients equal their dense closed forms") {
  std::vector<Path> ps = {random_path(20, 8, 24, 600), random_path(20, 8, 24, 700)};
  const auto v = views(ps);
  const RowMatrixXd x = littlebit::test::random_matrix(3, 24, 800), dy = littlebit::test::random_matrix(3, 20, 801);
  RowMatrixXd dx(3, 24);
  const auto grads =
      ref::factorized_backward(std::span<const ref::FactorizedPath<double>>(v), littlebit::view(x), littlebit::view(dy),
                               littlebit::view(dx));
  REQUIRE(grads.size() == 2);
  const double bound = 2 * littlebit::test::gamma(24 + 20 + 3 + 8) * magnitude_loss(ps, x, dy);
  for (std::size_t p = 0; p < 2; ++p) {
    // L = sum(dY . (X G V^T E U^T H)) => dL/dU = H dY^T X G V^T E, dL/dV = E U^T H dY^T X G.
    const auto h = vec(ps[p].h).asDiagonal();
    const auto e = vec(ps[p].ell).asDiagonal();
    const auto g = vec(ps[p].g).asDiagonal();
    const RowMatrixXd du = h * dy.transpose() * x * g * dense(ps[p].v).transpose() * e;
    const RowMatrixXd dv = e * dense(ps[p].u).transpose() * h * dy.transpose() * x * g;
    const Eigen::Map<const RowMatrixXd> got_du(grads[p].du_sign.data(), 20, 8), got_dv(grads[p].dv_sign.data(), 8, 24);
    CHECK((got_du - du).cwiseAbs().maxCoeff() <= bound);
    CHECK((got_dv - dv).cwiseAbs().maxCoeff() <= bound);
  }
}

TEST_CASE("ref::factorized_backward: dh, dell, dg, dX equal central differences") {
  const Index m = 12, r = 8, n = 20, batch = 3;
  std::vector<Path> ps = {random_path(m, r, n, 900), random_path(m, r, n, 1000)};
  RowMatrixXd x = littlebit::test::random_matrix(batch, n, 1100);
  const RowMatrixXd dy = littlebit::test::random_matrix(batch, m, 1101);
  const auto v = views(ps);
  RowMatrixXd dx(batch, n);
  const auto grads = ref::factorized_backward(std::span<const ref::FactorizedPath<double>>(v), littlebit::view(x),
                                              littlebit::view(dy), littlebit::view(dx));
  const double gamma = littlebit::test::gamma(n + r + batch * m + 8);

  // Checks d loss / d coordinate against (L(c + 1) - L(c - 1)) / 2, which is exact for a loss
  // linear in the coordinate up to rounding: 3 gamma_D times the magnitude loss with the
  // coordinate at |c| + 1 bounds the two evaluations' errors and the gradient's own.
  auto check = [&](double& coordinate, double grad, std::vector<Path>& paths, RowMatrixXd& xs) {
    const double c = coordinate;
    coordinate = c + 1;
    const double plus = loss(paths, xs, dy);
    coordinate = c - 1;
    const double minus = loss(paths, xs, dy);
    coordinate = std::abs(c) + 1;
    const double bound = 3 * gamma * magnitude_loss(paths, xs, dy);
    coordinate = c;
    REQUIRE(std::abs((plus - minus) / 2 - grad) <= bound);
  };
  for (std::size_t p = 0; p < 2; ++p) {
    for (Index i = 0; i < m; ++i) check(ps[p].h[static_cast<std::size_t>(i)], grads[p].dh[static_cast<std::size_t>(i)], ps, x);
    for (Index k = 0; k < r; ++k)
      check(ps[p].ell[static_cast<std::size_t>(k)], grads[p].dell[static_cast<std::size_t>(k)], ps, x);
    for (Index j = 0; j < n; ++j) check(ps[p].g[static_cast<std::size_t>(j)], grads[p].dg[static_cast<std::size_t>(j)], ps, x);
  }
  for (Index b = 0; b < batch; ++b)
    for (Index j = 0; j < n; ++j) check(x(b, j), dx(b, j), ps, x);
}

TEST_CASE("ref factorized functions reject inconsistent paths") {
  Path p = random_path(6, 8, 10, 1200);
  p.ell.pop_back();
  const auto v = p.view();
  RowMatrixXd w(6, 10);
  CHECK_THROWS_WITH_AS(ref::reconstruct(std::span<const ref::FactorizedPath<double>>(&v, 1), littlebit::view(w)),
                       doctest::Contains("ell must have 8 entries, found 7"), Error);
  Path q = random_path(6, 8, 10, 1300);
  const auto vq = q.view();
  RowMatrixXd x(2, 11), y(2, 6);
  CHECK_THROWS_AS(ref::factorized_forward(std::span<const ref::FactorizedPath<double>>(&vq, 1), littlebit::view(std::as_const(x)),
                                          littlebit::view(y)),
                  Error);
}
