// The fused factorized forward at real layer shapes against dense FP32 layers (OpenBLAS and
// Eigen) in the same run, and the machine limits the fractions in docs/benchmarks.md refer to.
//
// Case names (pair them from --benchmark_format=json with bench/report.py):
//   forward/<out>x<in>/bpw:<b>/batch:<k>/threads:<t>[/f16][/cold]       exact path (FP32 sums)
//   forward_fast/<out>x<in>/bpw:<b>/batch:<k>/threads:<t>[/f16][/cold]  fastest path (int16 tables)
//   forward[_fast]/<out>x<in>/bpw:<b>/batch:<k>/threads:1[/cold]/arch:<path>
//       the same on another ISA path this CPU runs (avx2, scalar; one thread, FP32 activations);
//       the cases without /arch: run the default path (LITTLEBIT_ARCH, else the best one here),
//       which the report's context names (littlebit_kernel_path)
//   dense_openblas/<out>x<in>/batch:<k>/threads:<t>[/cold]              cblas_sgemv / cblas_sgemm
//   dense_eigen/<out>x<in>/batch:<k>/threads:<t>[/cold]                 Eigen GEMV / GEMM (FP32)
//   fixed_cost/<out>x<in>/<exact|fast>/threads:<t>                       per-call cost at rank 8
//   limits/dram_read/threads:<t>, limits/lookup_f32, limits/lookup_i16   the machine's limits
// Cold variants rotate over copies of the weights totalling more than 4x the last-level cache,
// so every call streams its weights from DRAM; warm variants reuse one copy. Every (layer,
// path, activation type) is validated once against ref::factorized_forward before timing.
// Counters: bytes_per_second (weight bytes a call reads), sign_adds (per second),
// tokens (per second).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "littlebit/core/pack.hpp"
#include "littlebit/kernels/factorized_forward.hpp"
#include "littlebit/quant/rank_solver.hpp"
#include "littlebit/ref/factorized.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace {

using littlebit::Index;
using littlebit::kernels::Precision;
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr double kLastLevelCacheBytes = 32.0 * 1024 * 1024;  // this machine's L3 (lscpu)

// ---- layers -----------------------------------------------------------------------------------

/// A random two-path layer at the solver's rank for a BPW target, FP16 scales as stored.
struct Layer {
  Index m = 0, n = 0, rank = 0;
  std::vector<littlebit::BitMatrix> u, v;
  std::vector<std::vector<littlebit::Float16>> h, ell, g;
  double bytes = 0;  // what a call reads: packed signs and FP16 scales
  std::map<Precision, std::vector<littlebit::kernels::PreparedPath>> prepared;

  std::vector<littlebit::ref::FactorizedPath<littlebit::Float16>> views() const {
    std::vector<littlebit::ref::FactorizedPath<littlebit::Float16>> out;
    for (std::size_t p = 0; p < u.size(); ++p) out.push_back({h[p], u[p].view(), ell[p], v[p].view(), g[p]});
    return out;
  }
  const std::vector<littlebit::kernels::PreparedPath>& prepare(Precision p) {
    auto it = prepared.find(p);
    if (it == prepared.end()) {
      std::vector<littlebit::kernels::PreparedPath> ps;
      for (const auto& view : views()) ps.push_back(littlebit::kernels::PreparedPath::from(view, p));
      it = prepared.emplace(p, std::move(ps)).first;
    }
    return it->second;
  }
};

Layer& layer(Index m, Index n, double bpw) {
  static std::map<std::tuple<Index, Index, double>, std::unique_ptr<Layer>> cache;
  auto& slot = cache[{m, n, bpw}];
  if (!slot) {
    slot = std::make_unique<Layer>();
    Layer& l = *slot;
    l.m = m;
    l.n = n;
    l.rank = littlebit::rank_for_bpw({m, n}, bpw).rank;
    std::mt19937_64 rng(static_cast<std::uint64_t>(m * 131 + n) ^ static_cast<std::uint64_t>(bpw * 1000));
    std::uniform_real_distribution<float> scale(0.005f, 0.05f);
    for (int p = 0; p < 2; ++p) {
      l.u.emplace_back(m, l.rank);
      l.v.emplace_back(l.rank, n);
      for (auto* b : {&l.u.back(), &l.v.back()}) {
        for (Index w = 0; w < b->size_words(); ++w) b->data()[w] = rng();
        b->clear_padding();
      }
      for (auto* s : {&l.h, &l.ell, &l.g}) s->emplace_back();
      for (Index i = 0; i < m; ++i) l.h.back().emplace_back(scale(rng));
      for (Index k = 0; k < l.rank; ++k) l.ell.back().emplace_back(scale(rng));
      for (Index j = 0; j < n; ++j) l.g.back().emplace_back(scale(rng));
    }
    l.bytes = static_cast<double>(littlebit::storage_bits({m, n}, l.rank, true)) / 8;
  }
  return *slot;
}

/// Gaussian activations, batch x n, as float and as Float16.
struct Activations {
  std::vector<float> f32;
  std::vector<littlebit::Float16> f16;
};

const Activations& activations(Index batch, Index n) {
  static std::map<std::pair<Index, Index>, Activations> cache;
  auto& a = cache[{batch, n}];
  if (a.f32.empty()) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(batch * 7 + n));
    std::normal_distribution<float> normal;
    for (Index k = 0; k < batch * n; ++k) {
      a.f16.emplace_back(normal(rng));
      a.f32.push_back(static_cast<float>(a.f16.back()));  // same values in both types
    }
  }
  return a;
}

/// Checks the forward once per (layer, path, activation type) against the reference on 3 rows
/// (a batch tile). Exact path: the derived bound of tests/kernels/test_factorized_forward.cpp;
/// fast path: relative error below 1%. Returns an error message or "".
std::string validate(Layer& l, Precision p, bool f16, littlebit::kernels::Arch arch) {
  static std::map<std::tuple<Layer*, Precision, bool, littlebit::kernels::Arch>, std::string> done;
  const auto key = std::make_tuple(&l, p, f16, arch);
  if (auto it = done.find(key); it != done.end()) return it->second;
  const Index rows = 3;
  const Activations& a = activations(rows, l.n);
  RowMatrixXf y(rows, l.m);
  littlebit::kernels::ForwardWorkspace ws;
  const auto& prepared = l.prepare(p);
  if (f16) {
    littlebit::kernels::factorized_forward(std::span<const littlebit::kernels::PreparedPath>(prepared),
                                           littlebit::MatrixView<const littlebit::Float16>(a.f16.data(), rows, l.n),
                                           littlebit::view(y), ws, {arch, 0});
  } else {
    littlebit::kernels::factorized_forward(std::span<const littlebit::kernels::PreparedPath>(prepared),
                                           littlebit::MatrixView<const float>(a.f32.data(), rows, l.n),
                                           littlebit::view(y), ws, {arch, 0});
  }
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> want(rows, l.m), mag(rows, l.m);
  const auto views = l.views();
  const littlebit::MatrixView<const float> x(a.f32.data(), rows, l.n);
  littlebit::ref::factorized_forward(std::span<const littlebit::ref::FactorizedPath<littlebit::Float16>>(views), x,
                                     littlebit::view(want));
  std::string error;
  if (p == Precision::kFast) {
    const double rel = (y.cast<double>() - want).norm() / want.norm();
    if (!(rel < 0.01)) error = "fast path relative error " + std::to_string(rel) + " >= 1%";
  } else {
    Layer plus;  // magnitudes: signs +1, scales are positive
    plus.u = {littlebit::BitMatrix(l.m, l.rank), littlebit::BitMatrix(l.m, l.rank)};
    plus.v = {littlebit::BitMatrix(l.rank, l.n), littlebit::BitMatrix(l.rank, l.n)};
    plus.h = l.h;
    plus.ell = l.ell;
    plus.g = l.g;
    std::vector<float> x_abs(a.f32.size());
    for (std::size_t k = 0; k < x_abs.size(); ++k) x_abs[k] = std::abs(a.f32[k]);
    const auto plus_views = plus.views();
    littlebit::ref::factorized_forward(std::span<const littlebit::ref::FactorizedPath<littlebit::Float16>>(plus_views),
                                       littlebit::MatrixView<const float>(x_abs.data(), rows, l.n), littlebit::view(mag));
    auto depth = [](Index k) {
      const Index steps = (k + 7) / 8;
      return static_cast<double>(1 + 3 + steps + (steps + 31) / 32 + 3);
    };
    const double d = depth(l.n) + depth(l.rank) + 2, u = 0x1p-24;
    const double gamma = d * u / (1 - d * u) + 1e-12;
    for (Index b = 0; b < rows && error.empty(); ++b)
      for (Index i = 0; i < l.m; ++i)
        if (!(std::abs(static_cast<double>(y(b, i)) - want(b, i)) <= gamma * mag(b, i))) {
          error = "exact path exceeds its bound at row " + std::to_string(i);
          break;
        }
  }
  done[key] = error;
  return error;
}

// ---- LittleBit forward ------------------------------------------------------------------------

void forward(benchmark::State& st, Index m, Index n, double bpw, Index batch, int threads, Precision p, bool f16,
             bool cold, littlebit::kernels::Arch arch) {
  Layer& l = layer(m, n, bpw);
  if (const std::string e = validate(l, p, f16, arch); !e.empty()) {
    st.SkipWithError(e.c_str());
    return;
  }
  const auto& prepared = l.prepare(p);
  // Cold: copies of the prepared weights totalling more than 4x the last-level cache (this L3 is a
  // victim cache whose replacement keeps some lines of a 2x rotation).
  std::vector<std::vector<littlebit::kernels::PreparedPath>> copies;
  if (cold) {
    double total = 0;
    while (total < 4 * kLastLevelCacheBytes || copies.size() < 2) {
      copies.push_back(prepared);
      total += l.bytes;
    }
  }
  const Activations& a = activations(batch, n);
  RowMatrixXf y(batch, m);
  littlebit::kernels::ForwardWorkspace ws;
  const littlebit::kernels::ForwardOptions o{arch, threads};
  std::size_t k = 0;
  auto run = [&] {
    const auto& ps = cold ? copies[k++ % copies.size()] : prepared;
    if (f16) {
      littlebit::kernels::factorized_forward(std::span<const littlebit::kernels::PreparedPath>(ps),
                                             littlebit::MatrixView<const littlebit::Float16>(a.f16.data(), batch, n),
                                             littlebit::view(y), ws, o);
    } else {
      littlebit::kernels::factorized_forward(std::span<const littlebit::kernels::PreparedPath>(ps),
                                             littlebit::MatrixView<const float>(a.f32.data(), batch, n),
                                             littlebit::view(y), ws, o);
    }
  };
  run();  // grow the workspace outside the timed loop
  for (auto _ : st) {
    run();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double calls = static_cast<double>(st.iterations());
  st.counters["bytes_per_second"] = benchmark::Counter(calls * l.bytes, benchmark::Counter::kIsRate);
  st.counters["sign_adds"] = benchmark::Counter(
      calls * 2.0 * static_cast<double>(l.rank) * static_cast<double>(m + n) * static_cast<double>(batch),
      benchmark::Counter::kIsRate);
  st.counters["tokens"] = benchmark::Counter(calls * static_cast<double>(batch), benchmark::Counter::kIsRate);
  st.counters["rank"] = static_cast<double>(l.rank);
}

/// The per-call fixed cost: a rank-8 two-path layer, whose products are negligible, so what
/// remains is tables of the input (both paths), thread start-up and barriers, and the epilogues.
void fixed_cost(benchmark::State& st, Index m, Index n, int threads, Precision p) {
  static std::map<std::pair<Index, Index>, std::unique_ptr<Layer>> cache;
  auto& slot = cache[{m, n}];
  if (!slot) {
    slot = std::make_unique<Layer>();
    slot->m = m;
    slot->n = n;
    slot->rank = 8;
    for (int k = 0; k < 2; ++k) {
      slot->u.emplace_back(m, 8);
      slot->v.emplace_back(8, n);
      slot->h.emplace_back(static_cast<std::size_t>(m), littlebit::Float16(0.01f));
      slot->ell.emplace_back(std::size_t{8}, littlebit::Float16(0.01f));
      slot->g.emplace_back(static_cast<std::size_t>(n), littlebit::Float16(0.01f));
    }
  }
  const auto& prepared = slot->prepare(p);
  const Activations& a = activations(1, n);
  RowMatrixXf y(1, m);
  littlebit::kernels::ForwardWorkspace ws;
  const littlebit::kernels::ForwardOptions o{littlebit::kernels::default_arch(), threads};
  auto run = [&] {
    littlebit::kernels::factorized_forward(std::span<const littlebit::kernels::PreparedPath>(prepared),
                                           littlebit::MatrixView<const float>(a.f32.data(), 1, n), littlebit::view(y), ws, o);
  };
  run();
  for (auto _ : st) {
    run();
    benchmark::DoNotOptimize(y.data());
  }
}

// ---- dense baselines --------------------------------------------------------------------------

const RowMatrixXf& dense_weight(Index m, Index n, int copy) {
  static std::map<std::tuple<Index, Index, int>, RowMatrixXf> cache;
  auto& w = cache[{m, n, copy}];
  if (w.size() == 0) {
    w.resize(m, n);
    std::mt19937 rng(static_cast<unsigned>(m + n + copy));
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (Index k = 0; k < w.size(); ++k) w.data()[k] = normal(rng);
  }
  return w;
}

int dense_copies(Index m, Index n, bool cold) {
  const double bytes = 4.0 * static_cast<double>(m * n);
  return cold ? std::max(1, static_cast<int>(std::ceil(4 * kLastLevelCacheBytes / bytes))) : 1;
}

void dense_counters(benchmark::State& st, Index m, Index n, Index batch) {
  const double calls = static_cast<double>(st.iterations());
  st.counters["bytes_per_second"] = benchmark::Counter(calls * 4.0 * static_cast<double>(m * n), benchmark::Counter::kIsRate);
  st.counters["tokens"] = benchmark::Counter(calls * static_cast<double>(batch), benchmark::Counter::kIsRate);
}

void dense_openblas(benchmark::State& st, Index m, Index n, Index batch, int threads, bool cold) {
  openblas_set_num_threads(threads);
  const int copies = dense_copies(m, n, cold);
  for (int c = 0; c < copies; ++c) dense_weight(m, n, c);
  const Activations& a = activations(batch, n);
  RowMatrixXf y(batch, m);
  int k = 0;
  const auto mi = static_cast<blasint>(m), ni = static_cast<blasint>(n), bi = static_cast<blasint>(batch);
  for (auto _ : st) {
    const RowMatrixXf& w = dense_weight(m, n, k++ % copies);
    if (batch == 1) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, mi, ni, 1.0f, w.data(), ni, a.f32.data(), 1, 0.0f, y.data(), 1);
    } else {  // Y = X W^T
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi, mi, ni, 1.0f, a.f32.data(), ni, w.data(), ni, 0.0f,
                  y.data(), mi);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  dense_counters(st, m, n, batch);
}

void dense_eigen(benchmark::State& st, Index m, Index n, Index batch, int threads, bool cold) {
  Eigen::setNbThreads(threads);
  const int copies = dense_copies(m, n, cold);
  for (int c = 0; c < copies; ++c) dense_weight(m, n, c);
  const Activations& a = activations(batch, n);
  const Eigen::Map<const RowMatrixXf> x(a.f32.data(), batch, n);
  RowMatrixXf y(batch, m);
  int k = 0;
  for (auto _ : st) {
    const RowMatrixXf& w = dense_weight(m, n, k++ % copies);
    y.noalias() = x * w.transpose();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  dense_counters(st, m, n, batch);
}

// ---- machine limits ---------------------------------------------------------------------------

/// Streaming read of 512 MiB with 16-float vector loads: the DRAM bandwidth a cold call can at
/// best use.
#if LITTLEBIT_KERNELS_HAS_AVX512
LITTLEBIT_KERNELS_BEGIN_IGNORE_PR105593
LITTLEBIT_TARGET_AVX512 float sum_avx512(const float* p, Index n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (Index i = 0; i + 64 <= n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/// The issue rate of a path's lookup instruction, on one core, as sign-additions per second: a
/// 16-lane vpermps covers 16 rows x 4 signs, a 32-lane vpermw 32 rows x 5 signs. Independent
/// lookups (no chain through the permute), folded by XOR on another port.
template <bool I16>
LITTLEBIT_TARGET_AVX512 void lookup_rate_avx512(benchmark::State& st) {
  __m512i idx[8], acc[8];
  for (int k = 0; k < 8; ++k) {
    idx[k] = _mm512_set1_epi32(k);
    acc[k] = _mm512_setzero_si512();
  }
  __m512i table = _mm512_set1_epi32(7);
  const long n = 1 << 20;
  for (auto _ : st) {
    for (long it = 0; it < n; ++it) {
      LITTLEBIT_UNROLL
      for (int k = 0; k < 8; ++k) {
        const __m512i r = I16 ? _mm512_permutexvar_epi16(idx[k], table)
                              : _mm512_castps_si512(_mm512_permutexvar_ps(idx[k], _mm512_castsi512_ps(table)));
        acc[k] = _mm512_xor_si512(acc[k], r);
      }
      asm volatile("" : "+v"(table));
    }
  }
  for (int k = 1; k < 8; ++k) acc[0] = _mm512_xor_si512(acc[0], acc[k]);
  benchmark::DoNotOptimize(acc[0]);
  st.counters["sign_adds"] = benchmark::Counter(static_cast<double>(st.iterations()) * n * 8 * (I16 ? 160.0 : 64.0),
                                                benchmark::Counter::kIsRate);
}
LITTLEBIT_KERNELS_END_IGNORE_PR105593
#endif

void limit_dram_read(benchmark::State& st, int threads) {
  static littlebit::AlignedBuffer<float> buf(Index{128} << 20);
  if (!littlebit::kernels::arch_supported(littlebit::kernels::Arch::kAvx512)) {
    st.SkipWithError("needs AVX-512");
    return;
  }
  const Index n = buf.size();
  for (auto _ : st) {
    float total = 0;
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const Index per = n / nt / 64 * 64;
      total += sum_avx512(buf.data() + t * per, t == nt - 1 ? n - t * per : per);
    }
#else
    total = sum_avx512(buf.data(), n);
#endif
    benchmark::DoNotOptimize(total);
  }
  (void)threads;
  st.counters["bytes_per_second"] = benchmark::Counter(static_cast<double>(st.iterations()) * static_cast<double>(buf.bytes()),
                                                       benchmark::Counter::kIsRate);
}

void limit_lookup(benchmark::State& st, bool i16) {
#if LITTLEBIT_KERNELS_HAS_AVX512
  if (littlebit::kernels::arch_supported(littlebit::kernels::Arch::kAvx512))
    return i16 ? lookup_rate_avx512<true>(st) : lookup_rate_avx512<false>(st);
#endif
  (void)i16;
  st.SkipWithError("no AVX-512 on this machine");
}

// ---- registration -----------------------------------------------------------------------------

std::string fmt_bpw(double b) {
  char s[16];
  std::snprintf(s, sizeof s, "%g", b);
  return s;
}

const bool registered = [] {
  const std::vector<std::pair<Index, Index>> shapes = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {28672, 8192}};
  for (auto [m, n] : shapes) {
    const std::string shape = std::to_string(m) + "x" + std::to_string(n);
    for (double bpw : {0.1, 0.3, 0.55, 1.0})
      for (Index batch : {1, 8, 512})
        for (int threads : {1, 2})
          for (Precision p : {Precision::kExact, Precision::kFast})
            for (bool f16 : {false, true})
              for (bool cold : {false, true}) {
                if (cold && batch == 512) continue;  // prefill is compute-bound: cache state is moot
                const std::string name = std::string(p == Precision::kExact ? "forward/" : "forward_fast/") + shape +
                                         "/bpw:" + fmt_bpw(bpw) + "/batch:" + std::to_string(batch) +
                                         "/threads:" + std::to_string(threads) + (f16 ? "/f16" : "") +
                                         (cold ? "/cold" : "");
                benchmark::RegisterBenchmark(name.c_str(), forward, m, n, bpw, batch, threads, p, f16, cold,
                                             littlebit::kernels::default_arch())
                    ->UseRealTime()
                    ->Unit(benchmark::kMicrosecond);
                // The other paths this CPU runs, in the same run (one thread, FP32 activations).
                if (threads != 1 || f16) continue;
                for (littlebit::kernels::Arch arch : littlebit::kernels::supported_archs()) {
                  if (arch == littlebit::kernels::default_arch()) continue;
                  benchmark::RegisterBenchmark((name + "/arch:" + std::string(littlebit::kernels::arch_name(arch))).c_str(),
                                               forward, m, n, bpw, batch, threads, p, f16, cold, arch)
                      ->UseRealTime()
                      ->Unit(benchmark::kMicrosecond);
                }
              }
    for (Index batch : {1, 8, 512})
      for (int threads : {1, 2})
        for (bool cold : {false, true}) {
          if (cold && batch == 512) continue;
          const std::string tail = shape + "/batch:" + std::to_string(batch) + "/threads:" + std::to_string(threads) +
                                   (cold ? "/cold" : "");
          benchmark::RegisterBenchmark(("dense_openblas/" + tail).c_str(), dense_openblas, m, n, batch, threads, cold)
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond);
          benchmark::RegisterBenchmark(("dense_eigen/" + tail).c_str(), dense_eigen, m, n, batch, threads, cold)
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond);
        }
  }
  for (auto [m, n] : shapes)
    for (Precision p : {Precision::kExact, Precision::kFast})
      for (int threads : {1, 2})
        benchmark::RegisterBenchmark(("fixed_cost/" + std::to_string(m) + "x" + std::to_string(n) + "/" +
                                      (p == Precision::kExact ? "exact" : "fast") + "/threads:" + std::to_string(threads))
                                         .c_str(),
                                     fixed_cost, m, n, threads, p)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
  for (int threads : {1, 2})
    benchmark::RegisterBenchmark(("limits/dram_read/threads:" + std::to_string(threads)).c_str(), limit_dram_read, threads)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("limits/lookup_f32", limit_lookup, false)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("limits/lookup_i16", limit_lookup, true)->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace
