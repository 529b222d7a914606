// littlebit/core/sign_gradient_rule.hpp: which surrogate derivative of sign(z) training uses (the
// official SmoothSign and STEBinary rules), shared by the reference and the training code.
//
// Forward always uses sign(z) with sign(0) = +1. Backward multiplies the gradient with respect
// to the sign by
//   SmoothSign:  d/dz tanh(alpha z) = alpha (1 - tanh(alpha z)^2),   alpha = 100 by default;
//   STE:         1[|z| < 1]  (strict: z = +-1 gives 0).
// The scalar rules are ref/sign_gradient.hpp; whole matrices, quant/sign_gradient.hpp.
#pragma once

#include "littlebit/core/error.hpp"

namespace littlebit {

enum class SignGradient { kSmoothSign, kSte };

inline constexpr double kDefaultSmoothSignAlpha = 100.0;

/// Which surrogate, and SmoothSign's sharpness.
struct SignGradientRule {
  SignGradient kind = SignGradient::kSmoothSign;
  double alpha = kDefaultSmoothSignAlpha;

  void validate(const char* what = "SignGradientRule") const {
    if (kind == SignGradient::kSmoothSign && !(alpha > 0.0 && alpha < 1e30))
      littlebit::detail::fail(what, ": SmoothSign alpha must be positive and finite, found ", alpha);
  }
};

}  // namespace littlebit
