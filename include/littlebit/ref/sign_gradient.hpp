// littlebit/ref/sign_gradient.hpp: the surrogate derivatives of sign(z) used in training (the rule
// itself, SignGradient, is core/sign_gradient_rule.hpp).
//
// Forward always uses sign(z) with sign(0) = +1. Backward multiplies the gradient with respect
// to the sign by one of (the official SmoothSign and STEBinary rules):
//   SmoothSign:  d/dz tanh(alpha z) = alpha (1 - tanh(alpha z)^2),   alpha = 100 by default;
//   STE:         1[|z| < 1]  (strict: z = +-1 gives 0).
#pragma once

#include <cmath>

#include "littlebit/core/sign_gradient_rule.hpp"

namespace littlebit::ref {

using littlebit::kDefaultSmoothSignAlpha;
using littlebit::SignGradient;

inline double smoothsign_derivative(double z, double alpha = kDefaultSmoothSignAlpha) {
  const double t = std::tanh(alpha * z);
  return alpha * (1.0 - t * t);
}

inline double ste_derivative(double z) { return (z > -1.0 && z < 1.0) ? 1.0 : 0.0; }

inline double sign_derivative(SignGradient rule, double z, double alpha = kDefaultSmoothSignAlpha) {
  return rule == SignGradient::kSmoothSign ? smoothsign_derivative(z, alpha) : ste_derivative(z);
}

}  // namespace littlebit::ref
