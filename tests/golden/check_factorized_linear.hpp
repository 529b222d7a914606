// Golden kind "factorized_linear": forward and backward of a LittleBit linear layer in the
// official parameterization, against ref::factorized_forward / factorized_backward in double.
//
// Tensors: x (B x n), dy (B x m), y, dx, and for each path (suffix "" and, when metadata
// residual = 1, "_R"): U (m x r), V (r x n), u1 (m), u2 (r), v1 (r), v2 (n) and their gradients
// dU, dV, du1, du2, dv1, dv2. Metadata: quant = smoothsign | ste, alpha.
// Mapping to the paper's form: h = u1, ell = v1 . u2, g = v2; du1 = dh, du2 = dell . v1,
// dv1 = dell . u2, dv2 = dg; dU = dU_sign . sign'(U), dV = dV_sign . sign'(V).
//
// Bound (derived, not tuned). Every output is a chain of sums of products of the inputs; by
// Higham's Lemma 3.1 along the chain, a double evaluation in any order is within gamma_D * M of
// the exact value, where M is the same computation on magnitudes (|x|, |dy|, |scales|, every
// sign +1) and D >= the longest chain: D = n + r + m + B + 10 bounds them all. The golden file
// and we each carry that error, so |ours - golden| <= 2 gamma_D M. For SmoothSign the factor
// alpha (1 - tanh(alpha z)^2) is evaluated by two libraries: with tanh within kTanhUlps ulps
// (glibc documents 2, PyTorch's vectorized tanh 1; we allow 4) plus one ulp for rounding alpha z,
// each evaluation is within alpha (2 (kTanhUlps + 1) + 3) u of exact, so the two differ by twice
// that, multiplied by the magnitude of the sign gradient.
//
// The same file is then run through layer::FactorizedLinear<double> (its GEMM path and its
// exp-form SmoothSign, within alpha (1 + 10) u of exact: see layer/test_factorized_linear.cpp),
// against the same bounds: the library's training layer reproduces the official gradients.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "golden_util.hpp"
#include "littlebit/core/pack.hpp"
#include "littlebit/layer/factorized_linear.hpp"
#include "littlebit/ref/factorized.hpp"
#include "littlebit/ref/sign_gradient.hpp"

namespace littlebit::golden {

namespace detail_fl {

struct PathData {
  RowMatrixXd u, v;  // latent, m x r and r x n
  std::vector<double> u1, u2, v1, v2, h, ell, g;
  BitMatrix u_sign, v_sign;
};

inline std::vector<double> as_vector(const RowMatrixXd& m) { return {m.data(), m.data() + m.size()}; }

inline PathData read_path(const io::SafetensorsFile& f, const std::string& sfx, Index m, Index n) {
  PathData p;
  p.u = read_matrix(f, "U" + sfx);
  if (p.u.rows() != m) littlebit::detail::fail("tensor 'U", sfx, "': expected ", m, " rows, found ", p.u.rows());
  const Index r = p.u.cols();
  p.v = read_matrix(f, "V" + sfx, r, n);
  p.u1 = as_vector(read_matrix(f, "u1" + sfx, 1, m));
  p.u2 = as_vector(read_matrix(f, "u2" + sfx, 1, r));
  p.v1 = as_vector(read_matrix(f, "v1" + sfx, 1, r));
  p.v2 = as_vector(read_matrix(f, "v2" + sfx, 1, n));
  p.h = p.u1;
  p.g = p.v2;
  for (Index k = 0; k < r; ++k) p.ell.push_back(p.v1[static_cast<std::size_t>(k)] * p.u2[static_cast<std::size_t>(k)]);
  p.u_sign = pack_signs(p.u, "U" + sfx);
  p.v_sign = pack_signs(p.v, "V" + sfx);
  return p;
}

inline ref::FactorizedPath<double> view_of(const PathData& p, const BitMatrix& u_sign, const BitMatrix& v_sign,
                                           const std::vector<double>& h, const std::vector<double>& ell,
                                           const std::vector<double>& g) {
  (void)p;
  return {std::span<const double>(h), u_sign.view(), std::span<const double>(ell), v_sign.view(),
          std::span<const double>(g)};
}

inline std::vector<double> abs_of(std::vector<double> v) {
  for (double& e : v) e = std::abs(e);
  return v;
}

inline RowMatrixXd row(const std::vector<double>& v) {
  return Eigen::Map<const RowMatrixXd>(v.data(), 1, static_cast<Index>(v.size()));
}

}  // namespace detail_fl

inline constexpr double kTanhUlps = 4.0;

inline std::string check_factorized_linear(const io::SafetensorsFile& f) {
  using namespace detail_fl;
  const std::string quant = meta(f, "quant");
  if (quant != "smoothsign" && quant != "ste") littlebit::detail::fail("metadata quant = '", quant, "' is unknown");
  const bool smooth = quant == "smoothsign";
  const double alpha = f.metadata_value("alpha") ? meta_number(f, "alpha") : ref::kDefaultSmoothSignAlpha;
  const bool residual = meta_number(f, "residual") != 0.0;

  const RowMatrixXd x = read_matrix(f, "x");
  const Index batch = x.rows(), n = x.cols();
  const RowMatrixXd dy = read_matrix(f, "dy");
  if (dy.rows() != batch) littlebit::detail::fail("tensor 'dy': expected ", batch, " rows, found ", dy.rows());
  const Index m = dy.cols();

  std::vector<std::string> suffixes = {""};
  if (residual) suffixes.push_back("_R");
  std::vector<PathData> paths;
  for (const auto& s : suffixes) paths.push_back(read_path(f, s, m, n));
  const Index r = paths[0].u.cols();
  for (const auto& p : paths)
    if (p.u.cols() != r) littlebit::detail::fail("the residual path's rank ", p.u.cols(), " differs from ", r);

  // Our computation, and the same on magnitudes (all signs +1) for the bound.
  const BitMatrix plus_u(m, r), plus_v(r, n);
  std::vector<ref::FactorizedPath<double>> ours, mags;
  std::vector<std::vector<double>> abs_store;
  for (const auto& p : paths) {
    ours.push_back(view_of(p, p.u_sign, p.v_sign, p.h, p.ell, p.g));
    abs_store.push_back(abs_of(p.h));
    abs_store.push_back(abs_of(p.ell));
    abs_store.push_back(abs_of(p.g));
  }
  for (std::size_t i = 0; i < paths.size(); ++i)
    mags.push_back(view_of(paths[i], plus_u, plus_v, abs_store[3 * i], abs_store[3 * i + 1], abs_store[3 * i + 2]));
  const RowMatrixXd x_abs = x.cwiseAbs(), dy_abs = dy.cwiseAbs();

  RowMatrixXd y(batch, m), y_mag(batch, m), dx(batch, n), dx_mag(batch, n);
  const std::span<const ref::FactorizedPath<double>> ours_span(ours), mags_span(mags);
  ref::factorized_forward(ours_span, view(x), view(y));
  ref::factorized_forward(mags_span, view(x_abs), view(y_mag));
  const auto grads = ref::factorized_backward(ours_span, view(x), view(dy), view(dx));
  const auto grads_mag = ref::factorized_backward(mags_span, view(x_abs), view(dy_abs), view(dx_mag));

  const double u = 0x1p-53;
  const double d = static_cast<double>(n + r + m + batch + 10);
  const double two_gamma = 2 * d * u / (1 - d * u);
  const double tanh_term = smooth ? 2 * alpha * (2 * (kTanhUlps + 1) + 3) * u : 0.0;

  BoundCheck check;
  check.compare("y", y, read_matrix(f, "y", batch, m), two_gamma * y_mag);
  check.compare("dx", dx, read_matrix(f, "dx", batch, n), two_gamma * dx_mag);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const auto& p = paths[i];
    const auto& gr = grads[i];
    const auto& gm = grads_mag[i];
    const std::string sfx = suffixes[i];
    RowMatrixXd du2(1, r), dv1(1, r), du2_b(1, r), dv1_b(1, r);
    for (Index k = 0; k < r; ++k) {
      const auto kk = static_cast<std::size_t>(k);
      du2(0, k) = gr.dell[kk] * p.v1[kk];
      dv1(0, k) = gr.dell[kk] * p.u2[kk];
      du2_b(0, k) = two_gamma * gm.dell[kk] * std::abs(p.v1[kk]);
      dv1_b(0, k) = two_gamma * gm.dell[kk] * std::abs(p.u2[kk]);
    }
    check.compare("du1" + sfx, row(gr.dh), read_matrix(f, "du1" + sfx, 1, m), two_gamma * row(gm.dh));
    check.compare("du2" + sfx, du2, read_matrix(f, "du2" + sfx, 1, r), du2_b);
    check.compare("dv1" + sfx, dv1, read_matrix(f, "dv1" + sfx, 1, r), dv1_b);
    check.compare("dv2" + sfx, row(gr.dg), read_matrix(f, "dv2" + sfx, 1, n), two_gamma * row(gm.dg));

    // Latent gradients: the sign gradient times the surrogate derivative.
    auto latent = [&](const RowMatrixXd& z, const std::vector<double>& ds, const std::vector<double>& ds_mag,
                      const std::string& name) {
      RowMatrixXd g(z.rows(), z.cols()), b(z.rows(), z.cols());
      for (Index a = 0; a < z.rows(); ++a)
        for (Index c = 0; c < z.cols(); ++c) {
          const auto at = static_cast<std::size_t>(a * z.cols() + c);
          const double deriv = ref::sign_derivative(smooth ? ref::SignGradient::kSmoothSign : ref::SignGradient::kSte,
                                                    z(a, c), alpha);
          g(a, c) = ds[at] * deriv;
          b(a, c) = (two_gamma * deriv + tanh_term) * ds_mag[at];
        }
      check.compare(name, g, read_matrix(f, name, z.rows(), z.cols()), b);
    };
    latent(p.u, gr.du_sign, gm.du_sign, "dU" + sfx);
    latent(p.v, gr.dv_sign, gm.dv_sign, "dV" + sfx);
  }
  // The training layer on the same parameters, against the same golden values and bounds.
  {
    std::vector<FactorizedPathParams<double>> params;
    for (const auto& p : paths) {
      auto vec = [](const std::vector<double>& v) { return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Index>(v.size())); };
      params.push_back({p.u, p.v, vec(p.u1), vec(p.u2), vec(p.v1), vec(p.v2)});
    }
    FactorizedLinearOptions o;
    o.gradient = {smooth ? SignGradient::kSmoothSign : SignGradient::kSte, alpha};
    FactorizedLinear<double> layer(params, Eigen::VectorXd(), o);
    RowMatrixXd ly(batch, m), ldx(batch, n);
    layer.forward(x, ly);
    layer.backward(dy, ldx);
    check.compare("layer y", ly, read_matrix(f, "y", batch, m), two_gamma * y_mag);
    check.compare("layer dx", ldx, read_matrix(f, "dx", batch, n), two_gamma * dx_mag);
    for (std::size_t i = 0; i < paths.size(); ++i) {
      const int pi = static_cast<int>(i);
      const auto& gm = grads_mag[i];
      const auto& p = paths[i];
      const std::string sfx = suffixes[i];
      RowMatrixXd du2_b(1, r), dv1_b(1, r);
      for (Index k = 0; k < r; ++k) {
        const auto kk = static_cast<std::size_t>(k);
        du2_b(0, k) = (two_gamma + u) * gm.dell[kk] * std::abs(p.v1[kk]);
        dv1_b(0, k) = (two_gamma + u) * gm.dell[kk] * std::abs(p.u2[kk]);
      }
      check.compare("layer du1" + sfx, RowMatrixXd(layer.grad_u1(pi).transpose()), read_matrix(f, "du1" + sfx, 1, m), two_gamma * row(gm.dh));
      check.compare("layer du2" + sfx, RowMatrixXd(layer.grad_u2(pi).transpose()), read_matrix(f, "du2" + sfx, 1, r), du2_b);
      check.compare("layer dv1" + sfx, RowMatrixXd(layer.grad_v1(pi).transpose()), read_matrix(f, "dv1" + sfx, 1, r), dv1_b);
      check.compare("layer dv2" + sfx, RowMatrixXd(layer.grad_v2(pi).transpose()), read_matrix(f, "dv2" + sfx, 1, n), (two_gamma + u) * row(gm.dg));
      auto latent = [&](const RowMatrixXd& z, const RowMatrixXd& got, const std::vector<double>& ds_mag, const std::string& name) {
        RowMatrixXd b(z.rows(), z.cols());
        for (Index a = 0; a < z.rows(); ++a)
          for (Index c = 0; c < z.cols(); ++c) {
            const double deriv = ref::sign_derivative(smooth ? ref::SignGradient::kSmoothSign : ref::SignGradient::kSte, z(a, c), alpha);
            b(a, c) = ((two_gamma + u) * deriv + tanh_term) * ds_mag[static_cast<std::size_t>(a * z.cols() + c)];
          }
        check.compare(name, got, read_matrix(f, name.substr(6), z.rows(), z.cols()), b);
      };
      latent(p.u, RowMatrixXd(layer.grad_U(pi)), gm.du_sign, "layer dU" + sfx);
      latent(p.v, RowMatrixXd(layer.grad_V(pi)), gm.dv_sign, "layer dV" + sfx);
    }
  }
  if (!check.ok()) throw CheckFailed(check.failures());
  char worst[32];
  std::snprintf(worst, sizeof worst, "%.3g", check.worst_ratio());
  return quant + (residual ? ", residual, " : ", ") + std::to_string(m) + " x " + std::to_string(n) + " rank " +
         std::to_string(r) + " batch " + std::to_string(batch) + ": " + std::to_string(check.count()) +
         " values within bound (worst |diff|/bound " + worst + ")";
}

}  // namespace littlebit::golden
