// The reference kernels' cost, against a dense Eigen GEMV of the same weight in the same run:
// the baseline every fast kernel must beat by a wide margin. The reference
// is the spec, not a fast path; these numbers say how slow the spec is, nothing more.
#include <benchmark/benchmark.h>

#include <Eigen/Dense>
#include <random>
#include <span>
#include <vector>

#include "littlebit/core/pack.hpp"
#include "littlebit/ref/popcount_gemm.hpp"
#include "littlebit/ref/sign_gemm.hpp"

namespace {

using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

RowMatrixXf random_matrix(long rows, long cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n;
  RowMatrixXf m(rows, cols);
  for (long k = 0; k < m.size(); ++k) m.data()[k] = n(rng);
  return m;
}

// V_sign^T x for a 544 x 4096 V (4096 x 4096 at 0.55 BPW, residual): y = S x.
void ref_sign_gemv(benchmark::State& state) {
  const auto s = littlebit::pack_signs(random_matrix(state.range(0), state.range(1), 1));
  const RowMatrixXf x = random_matrix(1, state.range(1), 2);
  std::vector<float> y(static_cast<std::size_t>(state.range(0)));
  const std::span<const float> xs(x.data(), static_cast<std::size_t>(x.size()));
  // Validate once: against the dense product of the unpacked signs.
  RowMatrixXf dense(s.rows(), s.cols());
  littlebit::unpack_signs(s.view(), littlebit::view(dense));
  littlebit::ref::sign_gemv(s.view(), xs, std::span<float>(y));
  const Eigen::VectorXf want = dense * x.transpose();
  // Eigen sums K float products: within gamma_K (float) of exact times sum |x|; the reference
  // rounds a double sum once. Twice gamma_K sum|x| bounds the difference.
  const double k = static_cast<double>(s.cols()), u = 0x1p-24;
  const double bound = 2 * k * u / (1 - k * u) * static_cast<double>(x.cwiseAbs().sum());
  if (static_cast<double>((Eigen::Map<const Eigen::VectorXf>(y.data(), s.rows()) - want).cwiseAbs().maxCoeff()) > bound)
    state.SkipWithError("ref::sign_gemv disagrees with the dense product");
  for (auto _ : state) {
    littlebit::ref::sign_gemv(s.view(), xs, std::span<float>(y));
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(s.size_bytes()));
}

void dense_eigen_gemv(benchmark::State& state) {
  const RowMatrixXf w = random_matrix(state.range(0), state.range(1), 1);
  const Eigen::VectorXf x = random_matrix(state.range(1), 1, 2);
  Eigen::VectorXf y(state.range(0));
  for (auto _ : state) {
    y.noalias() = w * x;
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * w.size() * static_cast<int64_t>(sizeof(float)));
}

void ref_popcount_gemv(benchmark::State& state) {
  const auto a = littlebit::pack_signs(random_matrix(state.range(0), state.range(1), 3));
  const auto b = littlebit::pack_signs(random_matrix(1, state.range(1), 4));
  std::vector<std::int32_t> c(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    littlebit::ref::popcount_gemv(a.view(), b.view(), std::span<std::int32_t>(c));
    benchmark::DoNotOptimize(c.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(a.size_bytes()));
}

}  // namespace

BENCHMARK(ref_sign_gemv)->ArgNames({"out", "in"})->Args({544, 4096})->Unit(benchmark::kMicrosecond);
BENCHMARK(dense_eigen_gemv)->ArgNames({"out", "in"})->Args({544, 4096})->Args({4096, 4096})->Unit(benchmark::kMicrosecond);
BENCHMARK(ref_popcount_gemv)->ArgNames({"out", "in"})->Args({4096, 4096})->Unit(benchmark::kMicrosecond);
