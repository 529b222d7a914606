// pack_layer: quantize one synthetic linear layer with LittleBit and report what it costs and
// how close it stays. Everything runs on the reference (ref/) code path.
//
//   pack_layer [--out M] [--in N] [--bpw B] [--no-residual] [--batch K] [--seed S]
//
// Steps: a weight W (M x N) with a decaying spectrum, like a trained layer's; the rank for the
// BPW target (official rule); Dual-SVID with exact SVDs (primary + residual path); scales
// rounded to FP16 as stored; then the reference forward y = sum_p h . (U_sign (ell . (V_sign^T
// (g . x)))) on a random batch, compared with the dense y = W x; then the same forward through
// the CPU kernels (exact and fast paths), timed. The last line is a JSON summary.
#include <CLI/CLI.hpp>
#include <Eigen/Dense>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <span>
#include <vector>

#include "littlebit/littlebit.hpp"

namespace {

using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// W = G1 diag(s) G2^T / sqrt(M N) with Gaussian G1 (M x p), G2 (N x p), s_k = (1 + k)^-0.75:
/// singular values decay like a pretrained projection's.
RowMatrixXd synthetic_weight(littlebit::Index m, littlebit::Index n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  const littlebit::Index p = std::min(m, n);
  Eigen::MatrixXd g1(m, p), g2(n, p);
  for (auto* g : {&g1, &g2})
    for (littlebit::Index k = 0; k < g->size(); ++k) g->data()[k] = normal(rng);
  Eigen::VectorXd s(p);
  for (littlebit::Index k = 0; k < p; ++k) s(k) = std::pow(1.0 + static_cast<double>(k), -0.75);
  return g1 * s.asDiagonal() * g2.transpose() / std::sqrt(static_cast<double>(m * n));
}

/// A path with its scales rounded to FP16, as the packed form stores them.
struct StoredPath {
  std::vector<littlebit::Float16> h, ell, g;
  const littlebit::ref::DualSvidPath* source;
  littlebit::ref::FactorizedPath<littlebit::Float16> view() const {
    return {std::span<const littlebit::Float16>(h), source->u_sign.view(), std::span<const littlebit::Float16>(ell),
            source->v_sign.view(), std::span<const littlebit::Float16>(g)};
  }
};

StoredPath store(const littlebit::ref::DualSvidPath& p) {
  return {littlebit::to_float16(p.h, "h"), littlebit::to_float16(p.ell, "ell"), littlebit::to_float16(p.g, "g"), &p};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Quantize one synthetic linear layer with LittleBit (reference code path)"};
  littlebit::Index m = 256, n = 512, batch = 8;
  double bpw = 0.55;
  bool no_residual = false;
  std::uint64_t seed = 1;
  app.add_option("--out", m, "output features (rows of W)")->check(CLI::PositiveNumber);
  app.add_option("--in", n, "input features (columns of W)")->check(CLI::PositiveNumber);
  app.add_option("--bpw", bpw, "bits-per-weight target")->check(CLI::PositiveNumber);
  app.add_flag("--no-residual", no_residual, "one path instead of primary + residual");
  app.add_option("--batch", batch, "activation rows for the forward check")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "random seed");
  CLI11_PARSE(app, argc, argv);

  try {
    const bool residual = !no_residual;
    const auto t0 = std::chrono::steady_clock::now();
    const RowMatrixXd w = synthetic_weight(m, n, seed);
    const littlebit::RankChoice choice = littlebit::rank_for_bpw({m, n}, bpw, {.residual = residual});
    std::printf("layer %ld x %ld, target %.4f bits/weight%s\n", static_cast<long>(m), static_cast<long>(n), bpw,
                residual ? " (primary + residual)" : "");
    std::printf("rank %ld: %.4f bits/weight achieved (%s)\n", static_cast<long>(choice.rank), choice.bits_per_weight,
                littlebit::to_string(choice.status));
    if (!choice.meets_target())
      std::printf("warning: the target cannot be met at this shape; the FP16 scales alone cost %.4f bits/weight\n",
                  littlebit::scale_cost_bpw({m, n}, residual));
    if (choice.rank > std::min(m, n)) {
      std::printf("error: rank %ld exceeds min(M, N) = %ld; choose a lower --bpw\n", static_cast<long>(choice.rank),
                  static_cast<long>(std::min(m, n)));
      return 2;
    }

    const littlebit::ref::DualSvid d = littlebit::ref::dual_svid(w, choice.rank, residual);
    std::vector<StoredPath> stored = {store(d.primary)};
    if (d.residual) stored.push_back(store(*d.residual));
    std::vector<littlebit::ref::FactorizedPath<littlebit::Float16>> paths;
    for (const auto& s : stored) paths.push_back(s.view());
    const std::span<const littlebit::ref::FactorizedPath<littlebit::Float16>> ps(paths);

    // The weight the packed layer represents (FP16 scales), its error, and the forward.
    RowMatrixXd w_hat(m, n);
    littlebit::ref::reconstruct(ps, littlebit::view(w_hat));
    const double weight_err = (w - w_hat).norm() / w.norm();
    std::mt19937_64 rng(seed + 1);
    std::normal_distribution<double> normal;
    RowMatrixXd x(batch, n);
    for (littlebit::Index k = 0; k < x.size(); ++k) x.data()[k] = normal(rng);
    RowMatrixXd y(batch, m);
    littlebit::ref::factorized_forward(ps, littlebit::view(std::as_const(x)), littlebit::view(y));
    const RowMatrixXd y_dense = x * w.transpose();
    const double output_err = (y - y_dense).norm() / y_dense.norm();
    const double consistency = (y - x * w_hat.transpose()).norm() / y.norm();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // The same forward through the CPU kernels (exact and fast paths), against the reference.
    const RowMatrixXf xf = x.cast<float>();
    double kernel_us[2] = {0, 0}, kernel_err[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
      const auto precision = k == 0 ? littlebit::kernels::Precision::kExact : littlebit::kernels::Precision::kFast;
      std::vector<littlebit::kernels::PreparedPath> prepared;
      for (const auto& p : paths) prepared.push_back(littlebit::kernels::PreparedPath::from(p, precision));
      littlebit::kernels::ForwardWorkspace ws;
      RowMatrixXf yk(batch, m);
      auto run = [&] {
        littlebit::kernels::factorized_forward(std::span<const littlebit::kernels::PreparedPath>(prepared),
                                               littlebit::view(std::as_const(xf)), littlebit::view(yk), ws);
      };
      run();
      const int reps = 200;
      const auto k0 = std::chrono::steady_clock::now();
      for (int r = 0; r < reps; ++r) run();
      kernel_us[k] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - k0).count() / reps;
      kernel_err[k] = (yk.cast<double>() - y).norm() / y.norm();
    }

    const auto bits = littlebit::storage_bits({m, n}, choice.rank, residual);
    std::printf("storage %.1f KiB packed vs %.1f KiB dense FP16 (%.1fx smaller)\n", static_cast<double>(bits) / 8192.0,
                static_cast<double>(m * n * 2) / 1024.0, static_cast<double>(m * n * 16) / static_cast<double>(bits));
    std::printf("weight error ||W - W_hat|| / ||W||: primary path %.4f, %s %.4f (FP64 scales), %.4f (FP16 scales)\n",
                d.rel_err_primary, residual ? "with residual" : "same", d.rel_err_total, weight_err);
    std::printf("forward error ||y - W x|| / ||W x|| on %ld inputs: %.4f\n", static_cast<long>(batch), output_err);
    std::printf("forward vs dense reconstruction: %.2e (the factorized forward computes W_hat x)\n", consistency);
    std::printf("CPU kernels (%s): exact path %.1f us per batch, %.1e from the reference; fast path %.1f us, %.1e\n",
                std::string(littlebit::kernels::arch_name(littlebit::kernels::default_arch())).c_str(), kernel_us[0],
                kernel_err[0], kernel_us[1], kernel_err[1]);
    std::printf("{\"out\": %ld, \"in\": %ld, \"rank\": %ld, \"bpw\": %.6f, \"target_bpw\": %.6f, \"residual\": %s, "
                "\"meets_target\": %s, \"weight_error\": %.6f, \"output_error\": %.6f, \"kernel_exact_us\": %.1f, "
                "\"kernel_fast_us\": %.1f, \"seconds\": %.3f}\n",
                static_cast<long>(m), static_cast<long>(n), static_cast<long>(choice.rank), choice.bits_per_weight, bpw,
                residual ? "true" : "false", choice.meets_target() ? "true" : "false", weight_err, output_err, kernel_us[0],
                kernel_us[1], seconds);
    return 0;
  } catch (const littlebit::Error& e) {
    std::fprintf(stderr, "pack_layer: %s\n", e.what());
    return 2;
  }
}
