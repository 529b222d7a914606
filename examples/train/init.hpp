// examples/train/init.hpp: a layer's Dual-SVID initialization as the trainer's parameters, in a
// translation unit of its own (init.cpp: the decomposition's templates are the costliest code
// to compile, and the trainer and its cross-check share one compiled copy).
#pragma once

#include <cstdint>
#include <vector>

#include "littlebit/layer/factorized_linear.hpp"

namespace train {

struct InitOptions {
  bool residual = true;
  bool exact_svd = false;  // Dual-SVID's SVD: exact, or randomized (the default)
  bool refine = false;     // littlebit's refinements (DualSvidRefine::recommended())
  std::uint64_t seed = 0;
};

/// The paths (primary, and residual unless !residual) of W (out x in, row-major) at `rank`,
/// in the official parameterization: U, V the latent factors U', V', u1 = h, u2 = ell_u,
/// v1 = ell_v, v2 = g.
std::vector<littlebit::FactorizedPathParams<float>> dual_svid_init(const float* w, Eigen::Index out, Eigen::Index in,
                                                                   Eigen::Index rank, const InitOptions& o);

}  // namespace train
