// reconstruction_error (layer/packed_factorized_linear.hpp) against ref::reconstruct in double:
// the same W_hat from the stored signs and FP16 scales, so the errors agree to the rounding of
// two double computations (bound: 2 gamma_{2r+4} (||W|| + sum_p ||h|| ||ell||_1 ||g||) / ||W||).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "littlebit/core/pack.hpp"
#include "littlebit/layer/packed_factorized_linear.hpp"
#include "littlebit/ref/factorized.hpp"
#include "support/test_util.hpp"

using namespace littlebit;
using littlebit::test::RowMatrixXd;
using littlebit::test::RowMatrixXf;

namespace {

PackedPath random_path(Index m, Index r, Index n, std::uint64_t seed) {
  PackedPath p{pack_signs(littlebit::test::random_matrix(m, r, seed)), pack_signs(littlebit::test::random_matrix(r, n, seed + 1)),
               {}, {}, {}};
  const RowMatrixXd s = littlebit::test::random_matrix(1, m + r + n, seed + 2);
  for (Index i = 0; i < m; ++i) p.h.emplace_back(static_cast<float>(0.1 + 0.05 * s(0, i)));
  for (Index k = 0; k < r; ++k) p.ell.emplace_back(static_cast<float>(0.1 + 0.05 * s(0, m + k)));
  for (Index j = 0; j < n; ++j) p.g.emplace_back(static_cast<float>(0.1 + 0.05 * s(0, m + r + j)));
  return p;
}

}  // namespace

TEST_CASE("reconstruction_error equals the reference reconstruction's errors, over shapes and one or two paths") {
  struct Shape {
    Index m, r, n;
  };
  for (const Shape& sh : {Shape{1, 8, 1}, Shape{33, 8, 70}, Shape{300, 16, 257}, Shape{257, 24, 513}, Shape{64, 64, 64}})
    for (int paths : {1, 2}) {
      CAPTURE(sh.m);
      CAPTURE(sh.n);
      CAPTURE(paths);
      std::vector<PackedPath> ps;
      for (int p = 0; p < paths; ++p) ps.push_back(random_path(sh.m, sh.r, sh.n, static_cast<std::uint64_t>(7 * sh.m + p)));
      const PackedFactorizedLinear layer(ps);
      const RowMatrixXf w = littlebit::test::random_matrix(sh.m, sh.n, 99).cast<float>();
      // The reference: W_pri and W_pri + W_res in double.
      std::vector<FactorizedPath<Float16>> views;
      for (const auto& p : ps) views.push_back(p.view());
      RowMatrixXd pri(sh.m, sh.n), all(sh.m, sh.n);
      ref::reconstruct(std::span<const FactorizedPath<Float16>>(views.data(), 1), view(pri));
      ref::reconstruct(std::span<const FactorizedPath<Float16>>(views), view(all));
      const RowMatrixXd wd = w.cast<double>();
      const double want_pri = (wd - pri).norm() / wd.norm(), want_all = (wd - all).norm() / wd.norm();
      const ReconstructionError e = reconstruction_error(layer, MatrixView<const float>(w.data(), sh.m, sh.n));
      double scales = 0;
      for (const auto& p : ps) {
        double h2 = 0, ell1 = 0, g2 = 0;
        for (auto v : p.h) h2 += to_double(v) * to_double(v);
        for (auto v : p.ell) ell1 += std::abs(to_double(v));
        for (auto v : p.g) g2 += to_double(v) * to_double(v);
        scales += std::sqrt(h2) * ell1 * std::sqrt(g2);
      }
      const double tol = 2 * littlebit::test::gamma(2 * sh.r + 4) * (wd.norm() + scales) / wd.norm();
      CHECK(std::abs(e.primary - want_pri) <= tol);
      CHECK(std::abs(e.total - want_all) <= tol);
      if (paths == 1) CHECK(e.total == e.primary);
    }
}

TEST_CASE("reconstruction_error: an all-zero W gives the absolute errors, never NaN; a wrong shape is named") {
  const PackedFactorizedLinear zero({PackedPath{BitMatrix(10, 8), BitMatrix(8, 12), std::vector<Float16>(10, Float16(0.0f)),
                                                std::vector<Float16>(8, Float16(0.0f)), std::vector<Float16>(12, Float16(0.0f))}});
  const RowMatrixXf w = RowMatrixXf::Zero(10, 12);
  const ReconstructionError e = reconstruction_error(zero, MatrixView<const float>(w.data(), 10, 12));
  CHECK(e.primary == 0.0);
  CHECK(e.total == 0.0);
  const RowMatrixXf bad = RowMatrixXf::Zero(12, 10);
  CHECK_THROWS_WITH_AS(reconstruction_error(zero, MatrixView<const float>(bad.data(), 12, 10)),
                       doctest::Contains("reconstruction_error W: expected shape 10 x 12"), Error);
}
