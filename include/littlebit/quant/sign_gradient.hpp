// littlebit/quant/sign_gradient.hpp: the surrogate derivative of sign(z) applied to whole
// matrices in training (reference: ref/sign_gradient.hpp, the scalar rules).
//
//   out (+)= grad_sign . sign'(z)
//   SmoothSign:  sign'(z) = alpha (1 - tanh(alpha z)^2)
//   STE:         sign'(z) = 1[|z| < 1]
//
// SmoothSign is evaluated as alpha * 4e / (1 + e)^2 with e = exp(-2 alpha |z|), the same function
// (1 - tanh(y)^2 = sech(y)^2 = 4 e^{-2|y|} / (1 + e^{-2|y|})^2) without the cancellation of 1 - t^2
// near |t| = 1: relative error a few ulps plus the rounding of 2 alpha |z| (relative 2 alpha |z| u),
// where the tanh form has absolute error ~ alpha * ulp(1); zero beyond kSmoothSignCutoff.
// Vectorized through Eigen's exp.
#pragma once

#include <Eigen/Core>

#include "littlebit/core/config.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/kernels/arch.hpp"
#include "littlebit/kernels/smoothsign.hpp"
#include "littlebit/core/sign_gradient_rule.hpp"

namespace littlebit {

/// SmoothSign's derivative is taken as 0 where 2 alpha |z| >= this: the true value is below
/// 4 alpha e^-64 (6.4e-26 at alpha = 100), and products with it would otherwise run on subnormal
/// floats (tens of times slower on x86). The tanh form gives 0 there too (tanh rounds to 1).
inline constexpr double kSmoothSignCutoff = 64.0;

/// out[i] (+)= grad_sign[i] * sign'(z[i]) for i < count (accumulate: add to out; else assign).
/// out may alias grad_sign. Float SmoothSign runs on kernels/smoothsign.hpp where `arch` is
/// AVX-512 and the CPU has it; everything else through Eigen.
template <class Scalar>
void apply_sign_gradient(const SignGradientRule& rule, const Scalar* z, const Scalar* grad_sign, Scalar* out,
                         Index count, bool accumulate, kernels::Arch arch = kernels::default_arch()) {
  static_assert(std::is_floating_point_v<Scalar>, "apply_sign_gradient works on float or double");
  using Array = Eigen::Array<Scalar, Eigen::Dynamic, 1>;
  using Map = Eigen::Map<Array>;
  using ConstMap = Eigen::Map<const Array>;
  rule.validate("apply_sign_gradient");
  // Chunks keep the temporaries in cache; each is independent (OpenMP splits them).
  constexpr Index kChunk = 4096;
  const Index chunks = (count + kChunk - 1) / kChunk;
  const auto alpha = static_cast<Scalar>(rule.alpha);
  const bool smooth = rule.kind == SignGradient::kSmoothSign;
  const bool use_avx512 = std::is_same_v<Scalar, float> && arch == kernels::Arch::kAvx512 &&
                          kernels::arch_supported(kernels::Arch::kAvx512);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (chunks > 8)
#endif
  for (Index c = 0; c < chunks; ++c) {
    const Index b = c * kChunk, len = std::min(kChunk, count - b);
    const ConstMap zc(z + b, len), gc(grad_sign + b, len);
    Map oc(out + b, len);
    if (smooth && use_avx512) {
#if LITTLEBIT_KERNELS_HAS_AVX512
      if constexpr (std::is_same_v<Scalar, float>)
        kernels::smoothsign_gradient_avx512(alpha, static_cast<float>(kSmoothSignCutoff), z + b, grad_sign + b, out + b,
                                            len, accumulate);
#endif
    } else if (smooth) {
      const Array y = (Scalar(2) * alpha) * zc.abs();
      const Array e = (-y.min(Scalar(kSmoothSignCutoff))).exp();
      const auto d = (y < Scalar(kSmoothSignCutoff))
                         .select((Scalar(4) * alpha) * e / ((Scalar(1) + e) * (Scalar(1) + e)), Scalar(0));
      if (accumulate) oc += gc * d; else oc = gc * d;
    } else {
      const auto d = (zc.abs() < Scalar(1)).template cast<Scalar>();
      if (accumulate) oc += gc * d; else oc = gc * d;
    }
  }
}

}  // namespace littlebit
