// kernels::sign_gemm (table lookups, exact and fast) against ref::sign_gemm, on every ISA path
// compiled in and supported here, over shapes that break kernels.
//
// Exact path bound (derived): each product term u_j = x_j * scale_j is rounded once, a table
// entry adds 4 of them (3 roundings), the two running sums add ceil(K / 8) entries each, chunk
// sums add ceil(steps / kChunkSteps) more, the row scale one more: every u_j passes through at
// most D = 1 + 3 + ceil(K/8) + ceil(K/256) + 3 roundings, so (Higham 3.1)
//     |y - y_ref| <= gamma_D * |alpha_i| * sum_j |u_j|        (+ the reference's own, in double)
// Fast path bound: quantization moves each u_j by at most delta / 2, so
//     |y - y_ref| <= |alpha_i| (K delta / 2 + 4 u (|y_ref| + K delta / 2))
// where the second term covers the float conversions of the exact integer sum.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "littlebit/core/pack.hpp"
#include "littlebit/kernels/sign_gemm.hpp"
#include "littlebit/ref/sign_gemm.hpp"
#include "support/test_util.hpp"

using namespace littlebit;
using littlebit::test::RowMatrixXd;
using littlebit::test::RowMatrixXf;
using kernels::Arch;
using kernels::Precision;

namespace {

struct Case {
  Index rows, cols, batch;
};

std::vector<Case> cases() {
  std::vector<Case> c;
  for (Index cols : {1, 7, 8, 9, 14, 15, 16, 31, 33, 63, 65, 127, 128, 129, 255, 257, 4097})
    c.push_back({19, cols, 3});
  for (Index rows : {1, 15, 16, 17, 31, 32, 33, 63, 65, 100})
    c.push_back({rows, 70, 2});
  for (Index batch : {1, 2, 3, 4, 5, 7, 8, 9}) c.push_back({40, 300, batch});
  c.push_back({5, 32768, 1});   // deep
  c.push_back({1, 32768, 2});   // deep, one row
  c.push_back({37, 130, 511});  // batch tails at prefill sizes
  c.push_back({37, 130, 512});
  c.push_back({544, 1024, 2});  // a real V_sign^T shape (1024 x 1024 at 0.55 BPW) and U_sign shape
  c.push_back({1024, 544, 2});
  c.push_back({800, 11008, 3});  // the V stage of 4096 x 11008 at 0.55 BPW
  return c;
}

BitMatrix random_signs(Index rows, Index cols, std::uint64_t seed) {
  return pack_signs(littlebit::test::random_matrix(rows, cols, seed));
}

std::vector<float> random_floats(Index n, std::uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = u(rng);
  return v;
}

/// Runs the kernel; returns Y.
template <class T>
RowMatrixXf run(const kernels::PreparedSigns& s, const std::vector<T>& x, Index batch, Arch arch, int threads,
                const float* col_scale, const float* row_scale) {
  RowMatrixXf y(batch, s.rows());
  kernels::LutWorkspace ws;
  kernels::sign_gemm(s, MatrixView<const T>(x.data(), batch, s.cols()), view(y), ws, {arch, threads}, col_scale,
                     row_scale);
  return y;
}

std::string covered() {
  std::string s;
  for (Arch a : kernels::supported_archs()) s += std::string(kernels::arch_name(a)) + " ";
  return s;
}

}  // namespace

TEST_CASE("kernels: the paths compiled in and supported here") {
  const auto archs = kernels::supported_archs();
  std::printf("kernels: paths covered by these tests: %s(best: %s)\n", covered().c_str(),
              std::string(kernels::arch_name(kernels::best_arch())).c_str());
  CHECK(archs.front() == Arch::kScalar);
  CHECK(kernels::arch_supported(kernels::best_arch()));
}

TEST_CASE("kernels: a path is forced by name or by set_default_arch, and one the CPU lacks is refused") {
  CHECK(kernels::parse_arch("avx512") == Arch::kAvx512);
  CHECK(kernels::parse_arch("avx2") == Arch::kAvx2);
  CHECK(kernels::parse_arch("scalar") == Arch::kScalar);
  CHECK(kernels::parse_arch("portable") == Arch::kScalar);
  CHECK_FALSE(kernels::parse_arch("sse2").has_value());
  CHECK_FALSE(kernels::parse_arch("").has_value());
  const Arch before = kernels::default_arch();  // LITTLEBIT_ARCH (when the run sets it) or best_arch()
  for (Arch a : {Arch::kScalar, Arch::kAvx2, Arch::kAvx512}) {
    CAPTURE(kernels::arch_name(a));
    if (kernels::arch_supported(a)) {
      kernels::set_default_arch(a);
      CHECK(kernels::default_arch() == a);
    } else {
      CHECK_THROWS_WITH_AS(kernels::set_default_arch(a), doctest::Contains("needs instructions this CPU lacks"), Error);
      CHECK(kernels::default_arch() != a);
    }
  }
  kernels::reset_default_arch();
  CHECK(kernels::default_arch() == before);
}

TEST_CASE("kernels::sign_gemm exact path: every ISA path within the derived bound of the reference, and identical") {
  for (const Case& c : cases()) {
    CAPTURE(c.rows);
    CAPTURE(c.cols);
    CAPTURE(c.batch);
    const BitMatrix bits = random_signs(c.rows, c.cols, static_cast<std::uint64_t>(c.rows * 7919 + c.cols));
    const kernels::PreparedSigns s(bits, Precision::kExact);
    const auto x = random_floats(c.batch * c.cols, 11, -1.0f, 1.0f);
    const auto col_scale = random_floats(c.cols, 12, 0.5f, 2.0f);
    const auto row_scale = random_floats(c.rows, 13, -2.0f, 2.0f);

    // Reference on u = x . scale in double, then alpha.
    RowMatrixXd u(c.batch, c.cols), want(c.batch, c.rows);
    for (Index b = 0; b < c.batch; ++b)
      for (Index j = 0; j < c.cols; ++j)
        u(b, j) = static_cast<double>(x[static_cast<std::size_t>(b * c.cols + j)]) *
                  static_cast<double>(col_scale[static_cast<std::size_t>(j)]);
    ref::sign_gemm(bits.view(), view(std::as_const(u)), view(want));
    const Index steps = (c.cols + 7) / 8;
    const Index depth = 1 + 3 + steps + (steps + kernels::kChunkSteps - 1) / kernels::kChunkSteps + 3;
    const double g = littlebit::test::gamma<float>(depth) + littlebit::test::gamma(c.cols);

    RowMatrixXf first;
    for (Arch arch : kernels::supported_archs()) {
      CAPTURE(std::string(kernels::arch_name(arch)));
      const RowMatrixXf y = run(s, x, c.batch, arch, 1, col_scale.data(), row_scale.data());
      for (Index b = 0; b < c.batch; ++b) {
        const double abs_sum = u.row(b).cwiseAbs().sum();
        for (Index i = 0; i < c.rows; ++i) {
          const double alpha = static_cast<double>(row_scale[static_cast<std::size_t>(i)]);
          REQUIRE(std::abs(static_cast<double>(y(b, i)) - alpha * want(b, i)) <= g * std::abs(alpha) * abs_sum);
        }
      }
      // One summation order on every path: identical floats (built without FP contraction).
      if (first.size() == 0) {
        first = y;
      } else {
        REQUIRE(y == first);
      }
    }
  }
}

TEST_CASE("kernels::sign_gemm exact path: Float16 and BFloat16 activations equal float activations of the same values") {
  const BitMatrix bits = random_signs(33, 515, 3);
  const kernels::PreparedSigns s(bits, Precision::kExact);
  const auto xf = random_floats(4 * 515, 4, -3.0f, 3.0f);
  std::vector<Float16> xh;
  std::vector<BFloat16> xb;
  std::vector<float> xhf, xbf;
  for (float v : xf) {
    xh.emplace_back(v);
    xb.emplace_back(v);
    xhf.push_back(static_cast<float>(xh.back()));
    xbf.push_back(static_cast<float>(xb.back()));
  }
  for (Arch arch : kernels::supported_archs()) {
    CAPTURE(std::string(kernels::arch_name(arch)));
    CHECK(run(s, xh, 4, arch, 1, nullptr, nullptr) == run(s, xhf, 4, arch, 1, nullptr, nullptr));
    CHECK(run(s, xb, 4, arch, 1, nullptr, nullptr) == run(s, xbf, 4, arch, 1, nullptr, nullptr));
  }
}

TEST_CASE("kernels::sign_gemm fast path: every ISA path gives the same integers, within the quantization bound") {
  // outliers: a few channels 100x the rest (the same in every row), as real LLM activations have;
  // they make the quantization step 100x coarser for every other channel, which the bound follows.
  for (bool outliers : {false, true})
  for (const Case& c : cases()) {
    CAPTURE(outliers);
    CAPTURE(c.rows);
    CAPTURE(c.cols);
    CAPTURE(c.batch);
    const BitMatrix bits = random_signs(c.rows, c.cols, static_cast<std::uint64_t>(c.rows * 131 + c.cols));
    const kernels::PreparedSigns s(bits, Precision::kFast);
    auto x = random_floats(c.batch * c.cols, 21, -1.0f, 1.0f);
    if (outliers)
      for (Index b = 0; b < c.batch; ++b)
        for (Index j : {c.cols / 2, c.cols - 1}) x[static_cast<std::size_t>(b * c.cols + j)] *= 100.0f;
    const auto row_scale = random_floats(c.rows, 23, -2.0f, 2.0f);
    RowMatrixXd xd(c.batch, c.cols), want(c.batch, c.rows);
    for (Index k = 0; k < xd.size(); ++k) xd.data()[k] = static_cast<double>(x[static_cast<std::size_t>(k)]);
    ref::sign_gemm(bits.view(), view(std::as_const(xd)), view(want));

    RowMatrixXf first;
    for (Arch arch : kernels::supported_archs()) {
      CAPTURE(std::string(kernels::arch_name(arch)));
      const RowMatrixXf y = run(s, x, c.batch, arch, 1, nullptr, row_scale.data());
      for (Index b = 0; b < c.batch; ++b) {
        const double delta = xd.row(b).cwiseAbs().maxCoeff() / kernels::kFastQuantMax;
        const double quant = static_cast<double>(c.cols) * delta / 2;
        for (Index i = 0; i < c.rows; ++i) {
          const double alpha = static_cast<double>(row_scale[static_cast<std::size_t>(i)]);
          const double bound = std::abs(alpha) * (quant + 4 * littlebit::test::unit_roundoff<float>() *
                                                              (std::abs(want(b, i)) + quant));
          REQUIRE(std::abs(static_cast<double>(y(b, i)) - alpha * want(b, i)) <= bound);
        }
      }
      if (first.size() == 0) {
        first = y;
      } else {
        REQUIRE(y == first);
      }
    }
  }
}

TEST_CASE("kernels::sign_gemm fast path: relative error on Gaussian activations is far below 1%") {
  const BitMatrix bits = random_signs(512, 4096, 5);
  const kernels::PreparedSigns fast(bits, Precision::kFast);
  std::mt19937_64 rng(6);
  std::normal_distribution<float> normal;
  std::vector<float> x(8 * 4096);
  for (auto& v : x) v = normal(rng);
  RowMatrixXd xd(8, 4096), want(8, 512);
  for (Index k = 0; k < xd.size(); ++k) xd.data()[k] = static_cast<double>(x[static_cast<std::size_t>(k)]);
  ref::sign_gemm(bits.view(), view(std::as_const(xd)), view(want));
  const RowMatrixXf y = run(fast, x, 8, kernels::best_arch(), 1, nullptr, nullptr);
  const double rel = (y.cast<double>() - want).norm() / want.norm();
  std::printf("kernels: fast path relative error, 512 x 4096, Gaussian inputs: %.2e\n", rel);
  CHECK(rel < 0.01);  // the fast path's accuracy target (docs/kernels.md)
}

TEST_CASE("kernels::sign_gemm: every thread count gives identical results") {
  const BitMatrix bits = random_signs(300, 777, 7);
  const auto x = random_floats(5 * 777, 8, -1.0f, 1.0f);
  for (Precision p : {Precision::kExact, Precision::kFast}) {
    const kernels::PreparedSigns s(bits, p);
    const RowMatrixXf one = run(s, x, 5, kernels::best_arch(), 1, nullptr, nullptr);
    for (int threads : {2, 3, 7}) CHECK(run(s, x, 5, kernels::best_arch(), threads, nullptr, nullptr) == one);
  }
  // Large batches split whole batch tiles between threads instead of matrix-row blocks (a tail
  // tile of 3 rows included).
  const auto xb = random_floats(67 * 777, 9, -1.0f, 1.0f);
  for (Precision p : {Precision::kExact, Precision::kFast}) {
    const kernels::PreparedSigns s(bits, p);
    const RowMatrixXf one = run(s, xb, 67, kernels::best_arch(), 1, nullptr, nullptr);
    for (int threads : {2, 3, 4}) CHECK(run(s, xb, 67, kernels::best_arch(), threads, nullptr, nullptr) == one);
  }
}

TEST_CASE("kernels::sign_gemm: accumulate adds to Y; a workspace is reused across shapes") {
  kernels::LutWorkspace ws;
  for (Index cols : {1000, 40, 3000}) {
    const BitMatrix bits = random_signs(50, cols, static_cast<std::uint64_t>(cols));
    const kernels::PreparedSigns s(bits, Precision::kExact);
    const auto x = random_floats(2 * cols, 9, -1.0f, 1.0f);
    RowMatrixXf plain(2, 50), acc = RowMatrixXf::Constant(2, 50, 0.25f);
    kernels::sign_gemm(s, MatrixView<const float>(x.data(), 2, cols), view(plain), ws);
    kernels::sign_gemm(s, MatrixView<const float>(x.data(), 2, cols), view(acc), ws, {}, nullptr, nullptr, true);
    CHECK(acc == (plain.array() + 0.25f).matrix());
    CHECK(plain == run(s, x, 2, kernels::best_arch(), 1, nullptr, nullptr));
  }
}

TEST_CASE("kernels::sign_gemm: NaN activations give NaN outputs, never garbage") {
  const BitMatrix bits = random_signs(20, 100, 10);
  auto x = random_floats(100, 11, -1.0f, 1.0f);
  x[37] = std::numeric_limits<float>::quiet_NaN();
  for (Precision p : {Precision::kExact, Precision::kFast}) {
    const kernels::PreparedSigns s(bits, p);
    for (Arch arch : kernels::supported_archs()) {
      const RowMatrixXf y = run(s, x, 1, arch, 1, nullptr, nullptr);
      for (Index i = 0; i < 20; ++i) CHECK(std::isnan(y(0, i)));
    }
  }
}

TEST_CASE("kernels::sign_gemm: bad shapes, strided rows and unavailable paths raise littlebit::Error") {
  const kernels::PreparedSigns s(random_signs(10, 20, 12), Precision::kExact);
  kernels::LutWorkspace ws;
  RowMatrixXf x(2, 21), y(2, 10);
  CHECK_THROWS_WITH_AS(kernels::sign_gemm(s, view(std::as_const(x)), view(y), ws),
                       doctest::Contains("kernels::sign_gemm X: expected shape 2 x 20, found 2 x 21"), Error);
  Eigen::MatrixXf xc(2, 20);  // column-major: rows are not contiguous
  CHECK_THROWS_WITH_AS(kernels::sign_gemm(s, view(std::as_const(xc)), view(y), ws), doctest::Contains("contiguous"),
                       Error);
  for (Arch a : {Arch::kAvx2, Arch::kAvx512})
    if (!kernels::arch_supported(a)) {
      RowMatrixXf xg(2, 20);
      CHECK_THROWS_AS(kernels::sign_gemm(s, view(std::as_const(xg)), view(y), ws, {a, 1}), Error);
    }
}
