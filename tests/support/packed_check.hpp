// tests/support/packed_check.hpp: doctest checks shared by the tests of packed-layer files.
#pragma once

#include <doctest/doctest.h>

#include "littlebit/layer/packed_factorized_linear.hpp"

namespace littlebit::test {

/// Two packed layers hold the same signs, FP16 scales and bias, path by path.
inline void check_same(const PackedFactorizedLinear& a, const PackedFactorizedLinear& b) {
  REQUIRE(a.num_paths() == b.num_paths());
  for (int p = 0; p < a.num_paths(); ++p) {
    const PackedPath x = a.path(p), y = b.path(p);
    CHECK(x.u_sign == y.u_sign);
    CHECK(x.v_sign == y.v_sign);
    CHECK(x.h == y.h);
    CHECK(x.ell == y.ell);
    CHECK(x.g == y.g);
  }
  CHECK(a.bias() == b.bias());
}

}  // namespace littlebit::test
