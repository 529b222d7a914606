// Packing: core pack_signs (word at a time) against ref::pack_signs (bit at a time), and the
// official-layout export, at real layer shapes (the latent U' of 4096 x 4096 at rank 544 and V').
#include <benchmark/benchmark.h>

#include <Eigen/Dense>
#include <random>

#include "littlebit/core/pack.hpp"
#include "littlebit/ref/pack.hpp"

namespace {

using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

RowMatrixXf random_matrix(long rows, long cols) {
  std::mt19937 rng(7);
  std::normal_distribution<float> n;
  RowMatrixXf m(rows, cols);
  for (long k = 0; k < m.size(); ++k) m.data()[k] = n(rng);
  return m;
}

void set_bytes(benchmark::State& state, const RowMatrixXf& m) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * m.size() * static_cast<int64_t>(sizeof(float)));
}

void pack_signs(benchmark::State& state) {
  const RowMatrixXf m = random_matrix(state.range(0), state.range(1));
  littlebit::BitMatrix out(m.rows(), m.cols());
  const auto v = littlebit::MatrixView<const float>(m.data(), m.rows(), m.cols());
  littlebit::pack_signs(v, out);
  if (!(out == littlebit::ref::pack_signs(v))) state.SkipWithError("pack_signs differs from ref::pack_signs");
  for (auto _ : state) {
    littlebit::pack_signs(v, out);
    benchmark::DoNotOptimize(out.data());
  }
  set_bytes(state, m);
}

void ref_pack_signs(benchmark::State& state) {
  const RowMatrixXf m = random_matrix(state.range(0), state.range(1));
  const auto v = littlebit::MatrixView<const float>(m.data(), m.rows(), m.cols());
  for (auto _ : state) {
    auto out = littlebit::ref::pack_signs(v);
    benchmark::DoNotOptimize(out.data());
  }
  set_bytes(state, m);
}

void export_official(benchmark::State& state) {
  const RowMatrixXf m = random_matrix(state.range(0), state.range(1));
  const auto b = littlebit::pack_signs(m);
  if (!(littlebit::import_official(littlebit::export_official(b), b.rows(), b.cols()) == b))
    state.SkipWithError("export/import round trip failed");
  for (auto _ : state) {
    auto words = littlebit::export_official(b);
    benchmark::DoNotOptimize(words.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(b.rows() * ((b.cols() + 31) / 32) * 4));
}

}  // namespace

BENCHMARK(pack_signs)->ArgNames({"rows", "cols"})->Args({4096, 544})->Args({544, 4096})->Unit(benchmark::kMicrosecond);
BENCHMARK(ref_pack_signs)->ArgNames({"rows", "cols"})->Args({4096, 544})->Args({544, 4096})->Unit(benchmark::kMicrosecond);
BENCHMARK(export_official)->ArgNames({"rows", "cols"})->Args({4096, 544})->Args({544, 4096})->Unit(benchmark::kMicrosecond);
