// kernels::factorized_forward (fused, one or two paths) against ref::factorized_forward.
//
// Exact path bound: the V stage's output t_k carries the sign_gemm bound gamma_D1 sum_j |g_j x_j|
// (times ell_k); the U stage adds its own over t. Propagated on magnitudes (all signs +1):
//     |y - y_ref| <= gamma_{D1 + D2 + 2} * M,   M = sum_p |h| . (1 (|ell| . (1 |g . x|)))
// where D1, D2 are the stages' depths (see test_sign_gemm.cpp). Fast path: measured relative
// error, which must stay below 1% (the fast path's accuracy target), and a twin check that every ISA path gives
// the same numbers.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "littlebit/core/pack.hpp"
#include "littlebit/kernels/factorized_forward.hpp"
#include "littlebit/ref/factorized.hpp"
#include "support/test_util.hpp"

using namespace littlebit;
using littlebit::test::RowMatrixXd;
using littlebit::test::RowMatrixXf;
using kernels::Arch;
using kernels::Precision;

namespace {

struct Layer {
  std::vector<BitMatrix> u, v;
  std::vector<std::vector<Float16>> h, ell, g;  // FP16 as stored
  std::vector<ref::FactorizedPath<Float16>> views() const {
    std::vector<ref::FactorizedPath<Float16>> out;
    for (std::size_t p = 0; p < u.size(); ++p) out.push_back({h[p], u[p].view(), ell[p], v[p].view(), g[p]});
    return out;
  }
};

Layer random_layer(Index m, Index r, Index n, int paths, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> scale(0.01f, 0.2f);
  Layer l;
  for (int p = 0; p < paths; ++p) {
    l.u.push_back(pack_signs(littlebit::test::random_matrix(m, r, seed + 10 * static_cast<std::uint64_t>(p))));
    l.v.push_back(pack_signs(littlebit::test::random_matrix(r, n, seed + 10 * static_cast<std::uint64_t>(p) + 1)));
    for (auto* vec : {&l.h, &l.ell, &l.g}) vec->emplace_back();
    for (Index i = 0; i < m; ++i) l.h.back().emplace_back(scale(rng));
    for (Index k = 0; k < r; ++k) l.ell.back().emplace_back(scale(rng));
    for (Index j = 0; j < n; ++j) l.g.back().emplace_back(scale(rng));
  }
  return l;
}

RowMatrixXf forward(const Layer& l, const RowMatrixXf& x, Precision p, Arch arch, int threads,
                    kernels::ForwardWorkspace& ws) {
  std::vector<kernels::PreparedPath> prepared;
  for (const auto& v : l.views()) prepared.push_back(kernels::PreparedPath::from(v, p));
  RowMatrixXf y(x.rows(), l.u[0].rows());
  kernels::factorized_forward(std::span<const kernels::PreparedPath>(prepared), view(x), view(y), ws, {arch, threads});
  return y;
}

/// The reference forward and the same on magnitudes (all signs +1, |x|; the scales are positive):
/// M, the yardstick of the exact path's bound gamma_D M.
std::pair<RowMatrixXd, RowMatrixXd> reference_and_magnitudes(const Layer& l, const RowMatrixXf& x) {
  const Index m = l.u[0].rows();
  RowMatrixXd want(x.rows(), m), mag(x.rows(), m);
  const auto views = l.views();
  ref::factorized_forward(std::span<const ref::FactorizedPath<Float16>>(views), view(x), view(want));
  Layer plus = l;
  for (auto& b : plus.u) b = BitMatrix(b.rows(), b.cols());
  for (auto& b : plus.v) b = BitMatrix(b.rows(), b.cols());
  const auto plus_views = plus.views();
  const RowMatrixXf x_abs = x.cwiseAbs();
  ref::factorized_forward(std::span<const ref::FactorizedPath<Float16>>(plus_views), view(x_abs), view(mag));
  return {want, mag};
}

Index depth(Index k) {
  const Index steps = (k + 7) / 8;
  return 1 + 3 + steps + (steps + kernels::kChunkSteps - 1) / kernels::kChunkSteps + 3;
}

}  // namespace

TEST_CASE("kernels::factorized_forward exact path: within the derived bound of the reference on every path") {
  struct Shape {
    Index m, r, n, batch;
    int paths;
  };
  for (const Shape& sh : {Shape{33, 5, 70, 4, 2}, Shape{1, 8, 1, 1, 1}, Shape{17, 8, 65, 3, 2}, Shape{100, 24, 300, 9, 2},
                          Shape{64, 16, 129, 8, 1}, Shape{40, 8, 4097, 2, 2}, Shape{512, 64, 512, 5, 2},
                          // a real layer: 4096 x 11008 at its 0.1 BPW rank, both paths
                          Shape{4096, 128, 11008, 2, 2}}) {
    CAPTURE(sh.m);
    CAPTURE(sh.n);
    CAPTURE(sh.batch);
    const Layer l = random_layer(sh.m, sh.r, sh.n, sh.paths, static_cast<std::uint64_t>(sh.m * 31 + sh.n));
    const RowMatrixXf x = littlebit::test::random_matrix(sh.batch, sh.n, 5).cast<float>();
    const auto [want, mag] = reference_and_magnitudes(l, x);
    const double g = littlebit::test::gamma<float>(depth(sh.n) + depth(sh.r) + 2) +
                     littlebit::test::gamma(sh.n + sh.r + 4);
    RowMatrixXf first;
    for (Arch arch : kernels::supported_archs()) {
      CAPTURE(std::string(kernels::arch_name(arch)));
      kernels::ForwardWorkspace ws;
      const RowMatrixXf y = forward(l, x, Precision::kExact, arch, 1, ws);
      for (Index b = 0; b < sh.batch; ++b)
        for (Index i = 0; i < sh.m; ++i)
          REQUIRE(std::abs(static_cast<double>(y(b, i)) - want(b, i)) <= g * mag(b, i));
      if (first.size() == 0) {
        first = y;
      } else {
        REQUIRE(y == first);
      }
      // Threads and a reused workspace change nothing.
      CHECK(forward(l, x, Precision::kExact, arch, 3, ws) == y);
    }
  }
}

TEST_CASE("kernels::factorized_forward fast path: below 1% relative error, identical on every path and thread count") {
  const Layer l = random_layer(256, 64, 1024, 2, 77);
  std::mt19937_64 rng(78);
  std::normal_distribution<float> normal;
  RowMatrixXf x(8, 1024);
  for (Index k = 0; k < x.size(); ++k) x.data()[k] = normal(rng);
  const auto views = l.views();
  RowMatrixXd want(8, 256);
  ref::factorized_forward(std::span<const ref::FactorizedPath<Float16>>(views), view(x), view(want));
  RowMatrixXf first;
  for (Arch arch : kernels::supported_archs()) {
    kernels::ForwardWorkspace ws;
    const RowMatrixXf y = forward(l, x, Precision::kFast, arch, 1, ws);
    const double rel = (y.cast<double>() - want).norm() / want.norm();
    std::printf("kernels: fused forward fast path (%s), 256 x 1024 rank 64, two paths: relative error %.2e\n",
                std::string(kernels::arch_name(arch)).c_str(), rel);
    CHECK(rel < 0.01);
    if (first.size() == 0) {
      first = y;
    } else {
      CHECK(y == first);
    }
    CHECK(forward(l, x, Precision::kFast, arch, 2, ws) == y);
  }
}

TEST_CASE("kernels::factorized_forward: Float16 activations and input validation") {
  const Layer l = random_layer(20, 8, 40, 2, 99);
  std::vector<kernels::PreparedPath> prepared;
  for (const auto& v : l.views()) prepared.push_back(kernels::PreparedPath::from(v, Precision::kExact));
  const std::span<const kernels::PreparedPath> ps(prepared);
  kernels::ForwardWorkspace ws;
  RowMatrixXf xf = littlebit::test::random_matrix(2, 40, 1).cast<float>();
  std::vector<Float16> xh;
  for (Index k = 0; k < xf.size(); ++k) {
    xh.emplace_back(xf.data()[k]);
    xf.data()[k] = static_cast<float>(xh.back());
  }
  RowMatrixXf yh(2, 20), yf(2, 20);
  kernels::factorized_forward(ps, MatrixView<const Float16>(xh.data(), 2, 40), view(yh), ws);
  kernels::factorized_forward(ps, view(std::as_const(xf)), view(yf), ws);
  CHECK(yh == yf);

  RowMatrixXf bad(2, 41);
  CHECK_THROWS_WITH_AS(kernels::factorized_forward(ps, view(std::as_const(bad)), view(yf), ws),
                       doctest::Contains("X: expected shape 2 x 40"), Error);
  CHECK_THROWS_AS(kernels::factorized_forward(std::span<const kernels::PreparedPath>(), view(std::as_const(xf)), view(yf), ws),
                  Error);
  std::vector<kernels::PreparedPath> mixed;
  mixed.push_back(kernels::PreparedPath::from(l.views()[0], Precision::kExact));
  mixed.push_back(kernels::PreparedPath::from(l.views()[1], Precision::kFast));
  CHECK_THROWS_WITH_AS(kernels::factorized_forward(std::span<const kernels::PreparedPath>(mixed), view(std::as_const(xf)),
                                                   view(yf), ws),
                       doctest::Contains("different precisions"), Error);
}

namespace {

/// Gaussian activations with a few outlier channels 100x the rest, as real LLM activations have
/// (the same channels in every row): what stretches a per-row quantization step delta = max|u| / Q.
RowMatrixXf outlier_activations(Index batch, Index n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  RowMatrixXf x(batch, n);
  for (Index k = 0; k < x.size(); ++k) x.data()[k] = normal(rng);
  for (Index c : {Index{3}, n / 3, n / 2 + 1, n - 2}) x.col(c) *= 100.0f;
  return x;
}

RowMatrixXd dense_signs(const BitMatrix& b) {
  RowMatrixXd d(b.rows(), b.cols());
  for (Index i = 0; i < b.rows(); ++i)
    for (Index j = 0; j < b.cols(); ++j) d(i, j) = b.sign(i, j);
  return d;
}

}  // namespace

// The fast path's bound, derived per path p and batch row (Q = kFastQuantMax, u = 2^-24):
//   stage 1: s = g . x, delta1 = max|s| / Q; each quantized s_j moves by <= delta1 / 2, so the
//            V-stage sum S_k = (V_sign s)_k is off by <= n delta1 / 2, plus 4u (|S_k| + n delta1 / 2)
//            for the float conversions (the sign_gemm bound), and t_k = ell_k S_k carries
//            E1_k = |ell_k| (that);
//   stage 2: delta2 = max|t| / Q <= max_k (|t_k| + E1_k) / Q; y_i = h_i (U_sign t)_i is off by
//            |h_i| (sum_k E1_k + r delta2 / 2 + 4u (|(U_sign t)_i| + sum_k E1_k + r delta2 / 2));
// summed over the paths, plus the exact path's float bound gamma_D on the magnitudes for the
// products by g, ell, h and the sum of the paths. Nothing in it is measured: an int16 overflow or
// a step taken from the wrong values breaks it at once, since outliers make delta 100x larger.
TEST_CASE("kernels::factorized_forward with outlier activation channels: both precisions within their derived bounds") {
  const Index m = 300, r = 64, n = 1024, batch = 5;
  const Layer l = random_layer(m, r, n, 2, 1234);
  const RowMatrixXf x = outlier_activations(batch, n, 99);
  const auto [want, mag] = reference_and_magnitudes(l, x);
  const double gamma = littlebit::test::gamma<float>(depth(n) + depth(r) + 2) + littlebit::test::gamma(n + r + 4);
  const double u = littlebit::test::unit_roundoff<float>(), q = kernels::kFastQuantMax;

  // The fast path's quantization bound, from the reference's exact intermediates.
  RowMatrixXd quant = RowMatrixXd::Zero(batch, m);
  for (std::size_t p = 0; p < l.u.size(); ++p) {
    const RowMatrixXd us = dense_signs(l.u[p]), vs = dense_signs(l.v[p]);
    Eigen::VectorXd h(m), ell(r), g(n);
    for (Index i = 0; i < m; ++i) h(i) = to_double(l.h[p][static_cast<std::size_t>(i)]);
    for (Index k = 0; k < r; ++k) ell(k) = to_double(l.ell[p][static_cast<std::size_t>(k)]);
    for (Index j = 0; j < n; ++j) g(j) = to_double(l.g[p][static_cast<std::size_t>(j)]);
    for (Index b = 0; b < batch; ++b) {
      const Eigen::VectorXd s = x.row(b).transpose().cast<double>().cwiseProduct(g);
      const double delta1 = s.cwiseAbs().maxCoeff() / q;
      const Eigen::VectorXd big_s = vs * s;
      const Eigen::VectorXd e1 =
          ell.cwiseAbs().cwiseProduct(((n * delta1 / 2) + 4 * u * (big_s.array().abs() + n * delta1 / 2)).matrix());
      const Eigen::VectorXd t = ell.cwiseProduct(big_s);
      const double delta2 = (t.cwiseAbs() + e1).maxCoeff() / q;
      const double carried = e1.sum() + static_cast<double>(r) * delta2 / 2;
      const Eigen::VectorXd ut = us * t;
      for (Index i = 0; i < m; ++i) quant(b, i) += std::abs(h(i)) * (carried + 4 * u * (std::abs(ut(i)) + carried));
    }
  }
  for (Arch arch : kernels::supported_archs()) {
    CAPTURE(std::string(kernels::arch_name(arch)));
    kernels::ForwardWorkspace ws;
    const RowMatrixXf exact = forward(l, x, Precision::kExact, arch, 1, ws);
    const RowMatrixXf fast = forward(l, x, Precision::kFast, arch, 1, ws);
    double worst = 0;
    for (Index b = 0; b < batch; ++b)
      for (Index i = 0; i < m; ++i) {
        REQUIRE(std::abs(static_cast<double>(exact(b, i)) - want(b, i)) <= gamma * mag(b, i));
        const double err = std::abs(static_cast<double>(fast(b, i)) - want(b, i));
        const double bound = quant(b, i) + gamma * (mag(b, i) + quant(b, i));
        REQUIRE(err <= bound);
        worst = std::max(worst, err / bound);
      }
    const double rel = (fast.cast<double>() - want).norm() / want.norm();
    std::printf("kernels: fused forward fast path (%s) with outlier channels: relative error %.2e, worst error / bound %.3f\n",
                std::string(kernels::arch_name(arch)).c_str(), rel, worst);
  }
}
