// littlebit_bench_decomposition: the randomized SVD and the whole Dual-SVID initialization
// (primary + residual) on the benchmark matrices of bench/decomposition/make_matrices.py, against a
// full Eigen BDCSVD; the official implementation's math is timed by
// bench/decomposition/official_dual_svid.py in the same run (scripts/bench_decomposition.sh).
//
// Cases (each time is one call, wall clock; --benchmark_repetitions gives the median):
//   rsvd/<out>x<in>/rank:<r>/threads:<t>/matrix:<decay|gauss>         (gauss: two threads only)
//   dual_svid/<out>x<in>/bpw:<b>/threads:<t>/matrix:<decay|gauss>[/refine:<scales|signs|itq|all>]
//   bdcsvd/<out>x<in>/threads:<t>/matrix:decay         the full SVD the randomized one replaces
// Counters: rel_err = ||W - approximation||_F / ||W||_F (dual_svid: primary + residual), opt_err =
// the Eckart-Young optimum at the same rank from the file's exact singular values, vs_opt =
// rel_err / opt_err, rank; dual_svid adds rel_err_primary.
//
// This is its own program because it is built with EIGEN_USE_BLAS (Eigen's products go to
// OpenBLAS) and LITTLEBIT_USE_LAPACK, which must hold for every translation unit of a program
// (Eigen's product kernels would otherwise have two definitions), while littlebit_bench keeps
// Eigen's own kernels for its dense_eigen baseline.
#include <benchmark/benchmark.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "littlebit/io/safetensors.hpp"
#include "littlebit/linalg/randomized_svd.hpp"
#include "littlebit/quant/dual_svid.hpp"
#include "littlebit/quant/rank_solver.hpp"

extern "C" void openblas_set_num_threads(int);

namespace {

using littlebit::Index;
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct BenchMatrix {
  Eigen::MatrixXf w;
  Eigen::VectorXd sigma;  // exact singular values, descending
  double norm = 0.0;
  /// The Eckart-Young optimum of a rank-r approximation, relative to ||W||_F.
  double optimum(Index r) const { return sigma.tail(sigma.size() - r).norm() / sigma.norm(); }
};

/// The matrix `<kind>_<m>x<n>.safetensors` from LITTLEBIT_BENCH_DATA (default bench/data), loaded
/// once; nullptr when the file is missing.
const BenchMatrix* bench_matrix(const std::string& kind, Index m, Index n) {
  static std::map<std::string, BenchMatrix> cache;
  const std::string name = kind + "_" + std::to_string(m) + "x" + std::to_string(n);
  if (const auto it = cache.find(name); it != cache.end()) return &it->second;
  const char* dir = std::getenv("LITTLEBIT_BENCH_DATA");
  const std::filesystem::path path = std::filesystem::path(dir ? dir : LITTLEBIT_BENCH_DATA_DEFAULT) / (name + ".safetensors");
  if (!std::filesystem::exists(path)) return nullptr;
  // Only the last-used matrix stays in memory (11008 x 4096 floats is 180 MB).
  cache.clear();
  const auto file = littlebit::io::SafetensorsFile::open(path);
  BenchMatrix b;
  const auto& t = file.tensor("W");
  t.require_shape({m, n});
  RowMatrixXf rw(m, n);
  t.copy_to(std::span<float>(rw.data(), static_cast<std::size_t>(rw.size())));
  b.w = rw;
  b.sigma = Eigen::Map<const Eigen::VectorXd>(file.tensor("singular_values").to_vector<double>().data(), std::min(m, n));
  b.norm = b.w.cast<double>().norm();
  return &cache.emplace(name, std::move(b)).first->second;
}

void set_threads(int threads) {
  openblas_set_num_threads(threads);
  Eigen::setNbThreads(threads);
}

void missing(benchmark::State& st) {
  st.SkipWithError("benchmark matrix missing: run bench/decomposition/make_matrices.py bench/data");
}

void rsvd(benchmark::State& st, const std::string& kind, Index m, Index n, Index rank, int threads) {
  const BenchMatrix* b = bench_matrix(kind, m, n);
  if (b == nullptr) return missing(st);
  set_threads(threads);
  const littlebit::linalg::RandomizedSvdOptions o{.rank = rank};  // the library's defaults
  littlebit::linalg::TruncatedSvd<float> t;
  for (auto _ : st) {
    t = littlebit::linalg::randomized_svd(b->w, o);
    benchmark::DoNotOptimize(t.S.data());
  }
  const Eigen::MatrixXf approx = (t.U * t.S.asDiagonal()) * t.V.transpose();
  const double err = (b->w - approx).cast<double>().norm() / b->norm;
  st.counters["rel_err"] = err;
  st.counters["opt_err"] = b->optimum(rank);
  st.counters["vs_opt"] = err / b->optimum(rank);
  st.counters["rank"] = static_cast<double>(rank);
}

void dual_svid(benchmark::State& st, const std::string& kind, Index m, Index n, double bpw, int threads,
               const littlebit::DualSvidRefine& refine) {
  const BenchMatrix* b = bench_matrix(kind, m, n);
  if (b == nullptr) return missing(st);
  set_threads(threads);
  littlebit::DualSvidOptions o;
  o.refine = refine;
  littlebit::DualSvidResult<float> d;
  for (auto _ : st) {
    d = littlebit::dual_svid_for_bpw(b->w, bpw, o);
    benchmark::DoNotOptimize(d.rel_err_total);
  }
  st.counters["rel_err"] = d.rel_err_total;
  st.counters["rel_err_primary"] = d.rel_err_primary;
  st.counters["opt_err"] = b->optimum(d.rank);
  st.counters["vs_opt"] = d.rel_err_total / b->optimum(d.rank);
  st.counters["rank"] = static_cast<double>(d.rank);
}

void bdcsvd(benchmark::State& st, const std::string& kind, Index m, Index n, int threads) {
  const BenchMatrix* b = bench_matrix(kind, m, n);
  if (b == nullptr) return missing(st);
  set_threads(threads);
  Eigen::VectorXf s;
  for (auto _ : st) {
    Eigen::BDCSVD<Eigen::MatrixXf> svd(b->w, Eigen::ComputeThinU | Eigen::ComputeThinV);
    s = svd.singularValues();
    benchmark::DoNotOptimize(s.data());
  }
  st.counters["sigma_rel_err"] = (s.cast<double>() - b->sigma).norm() / b->sigma.norm();
}

std::string fmt(double v) {
  char s[16];
  std::snprintf(s, sizeof s, "%g", v);
  return s;
}

const bool registered = [] {
  const std::vector<std::pair<Index, Index>> shapes = {{4096, 4096}, {11008, 4096}};
  const std::vector<double> bpws = {0.1, 0.3, 0.55, 1.0};
  for (const std::string kind : {"decay", "gauss"})
    for (auto [m, n] : shapes) {
      const std::string shape = std::to_string(m) + "x" + std::to_string(n);
      for (int threads : {1, 2}) {
        if (kind == "gauss" && threads == 1) continue;  // the flat spectrum: two threads only
        const std::string tail = "/threads:" + std::to_string(threads) + "/matrix:" + kind;
        for (double bpw : bpws) {
          const Index rank = littlebit::rank_for_bpw({m, n}, bpw, {.residual = true}).rank;
          benchmark::RegisterBenchmark(("rsvd/" + shape + "/rank:" + std::to_string(rank) + tail).c_str(), rsvd, kind, m,
                                       n, rank, threads)
              ->UseRealTime()
              ->Iterations(1)
              ->Unit(benchmark::kMillisecond);
        }
        for (double bpw : bpws)
          benchmark::RegisterBenchmark(("dual_svid/" + shape + "/bpw:" + fmt(bpw) + tail).c_str(), dual_svid, kind, m, n,
                                       bpw, threads, littlebit::DualSvidRefine{})
              ->UseRealTime()
              ->Iterations(1)
              ->Unit(benchmark::kMillisecond);
      }
    }
  // Refinements on the decaying spectrum, two threads: each alone at 4096 x 4096, all at both shapes.
  using littlebit::DualSvidRefine;
  const std::vector<std::pair<std::string, DualSvidRefine>> refinements = {
      {"scales", DualSvidRefine{.scales = true}},
      {"signs", DualSvidRefine{.signs = true}},
      {"itq", DualSvidRefine{.itq = true}},
      {"all", DualSvidRefine::recommended()}};
  for (auto [m, n] : shapes)
    for (double bpw : {0.55, 1.0})
      for (const auto& [name, refine] : refinements) {
        if (name != "all" && m != n) continue;
        benchmark::RegisterBenchmark(("dual_svid/" + std::to_string(m) + "x" + std::to_string(n) + "/bpw:" + fmt(bpw) +
                                      "/threads:2/matrix:decay/refine:" + name)
                                         .c_str(),
                                     dual_svid, "decay", m, n, bpw, 2, refine)
            ->UseRealTime()
            ->Iterations(1)
            ->Unit(benchmark::kMillisecond);
      }
  for (auto [m, n] : shapes)
    for (int threads : {1, 2})
      benchmark::RegisterBenchmark(
          ("bdcsvd/" + std::to_string(m) + "x" + std::to_string(n) + "/threads:" + std::to_string(threads) + "/matrix:decay")
              .c_str(),
          bdcsvd, "decay", m, n, threads)
          ->UseRealTime()
          ->Iterations(1)
          ->Repetitions(1)
          ->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace
