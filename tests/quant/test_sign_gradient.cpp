// apply_sign_gradient (AVX-512 and portable Eigen paths) against the surrogate derivatives
// evaluated in double (ref/sign_gradient.hpp).
//
// Bound (float): d(z) = 4 alpha e / (1 + e)^2 with e = exp(-y), y = 2 alpha |z|. Rounding y costs
// a relative y u in e (d ln d / d ln e = (1 - e) / (1 + e) <= 1), exp is within 3 ulps, and the
// four operations after it (1 + e, square, product, quotient) and the product with the gradient
// add 5 u: |ours - exact| <= (y + 10) u |g d|. Beyond the cutoff (y >= 64) ours is 0 and the
// exact value below 4 alpha e^-64 |g|.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <vector>

#include "littlebit/quant/sign_gradient.hpp"
#include "littlebit/ref/sign_gradient.hpp"
#include "support/arch_cases.hpp"
#include "support/test_util.hpp"

using namespace littlebit;

namespace {

std::vector<float> test_inputs() {
  static const float special[] = {0.0f,    -0.0f,  1e-30f, -1e-7f, 0.005f, -1.0f, 1.0f, 0.999999f, -1.000001f,
                                  0.3199f, 0.32f,  0.3201f, 3.0f,  -50.0f};
  const auto r = littlebit::test::random_matrix(1, 997, 3);  // odd length: masked tails
  std::vector<float> z(std::size(special) + static_cast<std::size_t>(r.cols()));
  std::copy(std::begin(special), std::end(special), z.begin());
  for (Index i = 0; i < r.cols(); ++i)
    z[std::size(special) + static_cast<std::size_t>(i)] = static_cast<float>(r(0, i) * (i % 3 == 0 ? 0.02 : 0.5));
  return z;
}

}  // namespace

TEST_CASE("apply_sign_gradient: SmoothSign and STE within the derived bound of the double formulas, both paths") {
  const auto z = test_inputs();
  const auto n = static_cast<Index>(z.size());
  std::vector<float> grad(z.size());
  for (std::size_t i = 0; i < z.size(); ++i) grad[i] = (i % 2 ? -1.0f : 1.0f) * (0.5f + static_cast<float>(i % 7));
  const double u = littlebit::test::unit_roundoff<float>();
  for (kernels::Arch arch : littlebit::test::arch_cases({kernels::Arch::kScalar, kernels::Arch::kAvx512}))
    for (double alpha : {100.0, 3.0, 1000.0}) {
      CAPTURE(kernels::arch_name(arch));
      CAPTURE(alpha);
      const SignGradientRule smooth{SignGradient::kSmoothSign, alpha}, ste{SignGradient::kSte, 0.0};
      std::vector<float> out(z.size(), 0.25f), out_ste(z.size());
      apply_sign_gradient(smooth, z.data(), grad.data(), out.data(), n, true, arch);
      apply_sign_gradient(ste, z.data(), grad.data(), out_ste.data(), n, false, arch);
      for (std::size_t i = 0; i < z.size(); ++i) {
        const double zz = z[i], y = 2 * static_cast<double>(static_cast<float>(alpha)) * std::abs(zz);
        const double exact = static_cast<double>(grad[i]) * ref::smoothsign_derivative(zz, alpha);
        const double got = static_cast<double>(out[i]) - 0.25;  // accumulated onto 0.25 (one more rounding)
        const double bound = y < kSmoothSignCutoff ? (y + 10) * u * std::abs(exact) + u * 0.25
                                                   : 4 * alpha * std::exp(-kSmoothSignCutoff) * std::abs(static_cast<double>(grad[i])) + u * 0.25;
        CHECK_MESSAGE(std::abs(got - exact) <= bound, "z = " << zz << ": got " << got << ", exact " << exact);
        CHECK(static_cast<double>(out_ste[i]) == static_cast<double>(grad[i]) * ref::ste_derivative(zz));
      }
    }
}

TEST_CASE("apply_sign_gradient: double SmoothSign within (y + 10) u of the tanh form, and bad alpha") {
  const auto zf = test_inputs();
  const auto n = static_cast<Index>(zf.size());
  const Eigen::VectorXd z = Eigen::Map<const Eigen::VectorXf>(zf.data(), n).cast<double>();
  const Eigen::VectorXd g = Eigen::VectorXd::Ones(n);
  Eigen::VectorXd out(n);
  apply_sign_gradient(SignGradientRule{}, z.data(), g.data(), out.data(), n, false);
  const double u = littlebit::test::unit_roundoff<double>();
  for (Index i = 0; i < n; ++i) {
    const double y = 200 * std::abs(z[i]), exact = ref::smoothsign_derivative(z[i]);
    // The tanh form itself is within 13 alpha u of exact (1 - t^2 cancels near |t| = 1).
    const double bound = y < kSmoothSignCutoff ? (y + 10) * u * exact + 13 * 100 * u : 400 * std::exp(-64.0) + 13 * 100 * u;
    CHECK(std::abs(out[i] - exact) <= bound);
  }
  CHECK_THROWS_AS(apply_sign_gradient(SignGradientRule{SignGradient::kSmoothSign, 0.0}, z.data(), g.data(), out.data(), Index{1}, false),
                  Error);
}
