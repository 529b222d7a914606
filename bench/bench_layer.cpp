// The factorized layer through its public API: a training step (forward + backward) of
// FactorizedLinear<float> against the dense nn.Linear step with OpenBLAS in the same run, and the
// packed inference form's forward against the fused kernel called directly (the layer adds
// nothing but a bias check and a call).
//
// Case names (bench/report_layer.py pairs them):
//   train_step/<out>x<in>/bpw:<b>/batch:<k>        FactorizedLinear<float>: forward + backward,
//                                                   both paths, exact (FP32) sign products
//   train_step_fast/<out>x<in>/bpw:<b>/batch:<k>   the same with the int16 (fast) sign products
//   dense_train_step/<out>x<in>/batch:<k>          Y = X W^T, dX = dY W, dW += dY^T X: three
//                                                   cblas_sgemm calls (what nn.Linear runs)
//   packed_forward/<out>x<in>/bpw:<b>/batch:<k>[/fast]   PackedFactorizedLinear::forward
//   kernel_forward/<out>x<in>/bpw:<b>/batch:<k>[/fast]   kernels::factorized_forward, same layer
// Threads: all the machine's (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS set them). Every layer is
// validated once against ref::factorized_forward before timing. Counters: tokens (per second);
// packed_forward also reports storage_bits, solver_bits (quant::storage_bits at that rank) and
// memory_bytes.
//
// Built with LITTLEBIT_USE_CBLAS (bench/CMakeLists.txt): the layer's real products run on the
// same OpenBLAS as the dense baseline.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "littlebit/core/pack.hpp"
#include "littlebit/layer/factorized_linear.hpp"
#include "littlebit/layer/packed_factorized_linear.hpp"
#include "littlebit/quant/rank_solver.hpp"
#include "littlebit/ref/factorized.hpp"

namespace {

using littlebit::Index;
using littlebit::kernels::Precision;
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

RowMatrixXf gaussian(Index rows, Index cols, std::uint64_t seed, float sigma = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  RowMatrixXf m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

/// Two paths at the solver's rank for the target (residual on), Gaussian latents, positive scales.
std::vector<littlebit::FactorizedPathParams<float>> random_params(Index m, Index n, double bpw) {
  const Index r = littlebit::rank_for_bpw({m, n}, bpw).rank;
  std::vector<littlebit::FactorizedPathParams<float>> out;
  for (std::uint64_t p = 0; p < 2; ++p) {
    const std::uint64_t s = static_cast<std::uint64_t>(m * 31 + n) + 1000 * p + static_cast<std::uint64_t>(bpw * 100);
    auto positive = [&](Index k, std::uint64_t seed) {
      Eigen::VectorXf v = gaussian(k, 1, seed).cwiseAbs();
      return Eigen::VectorXf((v.array() * 0.05f + 0.01f).matrix());
    };
    out.push_back({gaussian(m, r, s, 0.05f), gaussian(r, n, s + 1, 0.05f), positive(m, s + 2), positive(r, s + 3),
                   positive(r, s + 4), positive(n, s + 5)});
  }
  return out;
}

/// A layer's paths as the reference sees them (scales widened to double), and the same on
/// magnitudes (every sign +1) for the bound.
struct RefPaths {
  std::vector<littlebit::BitMatrix> signs, plus;
  std::vector<std::vector<double>> scales, mags;
  std::vector<littlebit::ref::FactorizedPath<double>> paths, magnitude_paths;
  Index m = 0, n = 0, r = 0;

  void add(littlebit::BitMatrix u, littlebit::BitMatrix v, std::vector<double> h, std::vector<double> ell,
           std::vector<double> g) {
    m = u.rows();
    r = u.cols();
    n = v.cols();
    plus.emplace_back(m, r);
    plus.emplace_back(r, n);
    signs.push_back(std::move(u));
    signs.push_back(std::move(v));
    for (auto* s : {&h, &ell, &g}) {
      std::vector<double> a;
      for (double e : *s) a.push_back(std::abs(e));
      scales.push_back(std::move(*s));
      mags.push_back(std::move(a));
    }
  }
  void finish() {
    for (std::size_t p = 0; p < signs.size() / 2; ++p) {
      paths.push_back({scales[3 * p], signs[2 * p].view(), scales[3 * p + 1], signs[2 * p + 1].view(), scales[3 * p + 2]});
      magnitude_paths.push_back({mags[3 * p], plus[2 * p].view(), mags[3 * p + 1], plus[2 * p + 1].view(), mags[3 * p + 2]});
    }
  }
};

RefPaths ref_paths(const littlebit::PackedFactorizedLinear& l) {
  RefPaths out;
  auto wide = [](const std::vector<littlebit::Float16>& v) {
    std::vector<double> o;
    for (auto h : v) o.push_back(littlebit::to_double(h));
    return o;
  };
  for (const auto& p : l.paths()) out.add(p.u_sign, p.v_sign, wide(p.h), wide(p.ell), wide(p.g));
  out.finish();
  return out;
}

RefPaths ref_paths(const littlebit::FactorizedLinear<float>& l) {
  RefPaths out;
  for (int p = 0; p < l.num_paths(); ++p) {
    std::vector<double> h, ell, g;
    for (Index i = 0; i < l.out_features(); ++i) h.push_back(static_cast<double>(l.u1(p)(i)));
    for (Index k = 0; k < l.rank(); ++k) ell.push_back(static_cast<double>(l.v1(p)(k) * l.u2(p)(k)));  // as the layer forms it
    for (Index j = 0; j < l.in_features(); ++j) g.push_back(static_cast<double>(l.v2(p)(j)));
    out.add(littlebit::pack_signs(l.U(p)), littlebit::pack_signs(l.V(p)), h, ell, g);
  }
  out.finish();
  return out;
}

/// |Y - ref| within gamma_D M on the first rows (tests/layer/test_factorized_linear.cpp), or the
/// fast path within 1% relative. Returns an error message or "".
std::string validate(const RefPaths& r, const RowMatrixXf& x, const RowMatrixXf& y, bool fast) {
  const Index rows = std::min<Index>(3, x.rows());
  const RowMatrixXd xd = x.topRows(rows).cast<double>(), xa = xd.cwiseAbs();
  RowMatrixXd want(rows, r.m), mag(rows, r.m);
  using Span = std::span<const littlebit::ref::FactorizedPath<double>>;
  littlebit::ref::factorized_forward(Span(r.paths), littlebit::view(xd), littlebit::view(want));
  littlebit::ref::factorized_forward(Span(r.magnitude_paths), littlebit::view(xa), littlebit::view(mag));
  const RowMatrixXd got = y.topRows(rows).cast<double>();
  if (fast) {
    const double rel = (got - want).norm() / want.norm();
    return rel < 0.01 ? "" : "fast path relative error " + std::to_string(rel) + " >= 1%";
  }
  const double d = static_cast<double>(r.n + r.r + r.m + rows + 10);
  const double k = 2 * d * 0x1p-24 / (1 - d * 0x1p-24);
  for (Index b = 0; b < rows; ++b)
    for (Index i = 0; i < r.m; ++i)
      if (std::abs(got(b, i) - want(b, i)) > k * mag(b, i))
        return "y(" + std::to_string(b) + ", " + std::to_string(i) + ") off the reference beyond the derived bound";
  return "";
}

void train_step(benchmark::State& st, Index m, Index n, double bpw, Index batch, Precision precision) {
  littlebit::FactorizedLinearOptions o;
  o.precision = precision;
  littlebit::FactorizedLinear<float> layer(random_params(m, n, bpw), Eigen::VectorXf(), o);
  const RowMatrixXf x = gaussian(batch, n, 7), dy = gaussian(batch, m, 8, 1e-3f);
  RowMatrixXf y(batch, m), dx(batch, n);
  layer.forward(x, y);
  const bool fast = precision == Precision::kFast;
  if (auto err = validate(ref_paths(layer), x, y, fast); !err.empty()) return st.SkipWithError(err.c_str());
  for (auto _ : st) {
    layer.forward(x, y);
    layer.backward(dy, dx);
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  st.counters["rank"] = static_cast<double>(layer.rank());
  st.counters["tokens"] = benchmark::Counter(static_cast<double>(st.iterations() * batch), benchmark::Counter::kIsRate);
}

void dense_train_step(benchmark::State& st, Index m, Index n, Index batch) {
  const RowMatrixXf w = gaussian(m, n, 1, 0.02f), x = gaussian(batch, n, 7), dy = gaussian(batch, m, 8, 1e-3f);
  RowMatrixXf y(batch, m), dx(batch, n), dw = RowMatrixXf::Zero(m, n);
  const auto M = static_cast<int>(m), N = static_cast<int>(n), B = static_cast<int>(batch);
  for (auto _ : st) {
    // Y (B x m) = X W^T;  dX (B x n) = dY W;  dW (m x n) += dY^T X
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, M, N, 1.0f, x.data(), N, w.data(), N, 0.0f, y.data(), M);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, N, M, 1.0f, dy.data(), M, w.data(), N, 0.0f, dx.data(), N);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, B, 1.0f, dy.data(), M, x.data(), N, 1.0f, dw.data(), N);
    benchmark::DoNotOptimize(dw.data());
    benchmark::ClobberMemory();
  }
  // One-time check of the first product against Eigen in double.
  const RowMatrixXd want = x.topRows(1).cast<double>() * w.cast<double>().transpose();
  if ((want - y.topRows(1).cast<double>()).cwiseAbs().maxCoeff() > 1e-3 * want.cwiseAbs().maxCoeff() + 1e-6)
    st.SkipWithError("cblas_sgemm disagrees with the double product");
  st.counters["tokens"] = benchmark::Counter(static_cast<double>(st.iterations() * batch), benchmark::Counter::kIsRate);
}

/// One packed layer per (shape, bpw, precision), shared by packed_forward and kernel_forward.
littlebit::PackedFactorizedLinear& packed_layer(Index m, Index n, double bpw, Precision p) {
  static std::map<std::tuple<Index, Index, double, Precision>, std::unique_ptr<littlebit::PackedFactorizedLinear>> cache;
  auto& slot = cache[{m, n, bpw, p}];
  if (!slot)
    slot = std::make_unique<littlebit::PackedFactorizedLinear>(
        littlebit::FactorizedLinear<float>(random_params(m, n, bpw)).pack(p));
  return *slot;
}

void packed_forward(benchmark::State& st, Index m, Index n, double bpw, Index batch, Precision p, bool through_layer) {
  auto& layer = packed_layer(m, n, bpw, p);
  const RowMatrixXf x = gaussian(batch, n, 9);
  RowMatrixXf y(batch, m);
  littlebit::kernels::ForwardWorkspace ws;
  layer.forward(littlebit::view(x), littlebit::view(y), ws);
  if (auto err = validate(ref_paths(layer), x, y, p == Precision::kFast); !err.empty()) return st.SkipWithError(err.c_str());
  const auto xv = littlebit::view(x);
  const auto yv = littlebit::view(y);
  const std::span<const littlebit::kernels::PreparedPath> paths(layer.prepared());
  for (auto _ : st) {
    if (through_layer) {
      layer.forward(xv, yv, ws);
    } else {
      littlebit::kernels::factorized_forward(paths, xv, yv, ws);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  st.counters["tokens"] = benchmark::Counter(static_cast<double>(st.iterations() * batch), benchmark::Counter::kIsRate);
  if (through_layer) {
    st.counters["storage_bits"] = static_cast<double>(layer.storage_bits());
    st.counters["solver_bits"] = static_cast<double>(littlebit::storage_bits({m, n}, layer.rank(), true));
    st.counters["memory_bytes"] = static_cast<double>(layer.memory_bytes());
  }
}

std::string fmt_bpw(double b) {
  char s[16];
  std::snprintf(s, sizeof s, "%g", b);
  return s;
}

const bool registered = [] {
  for (auto [m, n] : {std::pair<Index, Index>{4096, 4096}, {11008, 4096}}) {
    const std::string shape = std::to_string(m) + "x" + std::to_string(n);
    for (Index batch : {512}) {
      for (double bpw : {0.1, 0.55, 1.0})
        for (Precision p : {Precision::kExact, Precision::kFast})
          benchmark::RegisterBenchmark(((p == Precision::kExact ? "train_step/" : "train_step_fast/") + shape + "/bpw:" +
                                        fmt_bpw(bpw) + "/batch:" + std::to_string(batch))
                                           .c_str(),
                                       train_step, m, n, bpw, batch, p)
              ->UseRealTime()
              ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("dense_train_step/" + shape + "/batch:" + std::to_string(batch)).c_str(),
                                   dense_train_step, m, n, batch)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (auto [m, n] : {std::pair<Index, Index>{4096, 4096}, {11008, 4096}, {4096, 11008}})
    for (double bpw : {0.1, 0.55, 1.0})
      for (Index batch : {1, 8})
        for (Precision p : {Precision::kExact, Precision::kFast})
          for (bool through_layer : {true, false}) {
            const std::string name = std::string(through_layer ? "packed_forward/" : "kernel_forward/") +
                                     std::to_string(m) + "x" + std::to_string(n) + "/bpw:" + fmt_bpw(bpw) +
                                     "/batch:" + std::to_string(batch) + (p == Precision::kFast ? "/fast" : "");
            benchmark::RegisterBenchmark(name.c_str(), packed_forward, m, n, bpw, batch, p, through_layer)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
          }
  return true;
}();

}  // namespace
