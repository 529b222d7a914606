// kernels::pack_signs_fast against core's pack_signs: the same bits (zeros of either sign pack as
// +1), padding zero, and the same error on NaN, over tail shapes and both paths.
#include <doctest/doctest.h>

#include <cmath>

#include "littlebit/core/pack.hpp"
#include "littlebit/kernels/pack.hpp"
#include "support/test_util.hpp"

using namespace littlebit;

TEST_CASE("kernels::pack_signs_fast equals pack_signs over tail shapes, every path and thread count") {
  std::uint64_t seed = 11;
  for (Index rows : {1, 3, 70})
    for (Index cols : littlebit::test::kTailLengths) {
      const littlebit::test::RowMatrixXf m = littlebit::test::random_sign_source(rows, cols, seed++).cast<float>();
      const BitMatrix want = pack_signs(m);
      for (kernels::Arch arch : {kernels::Arch::kScalar, kernels::Arch::kAvx512})
        for (int threads : {1, 2}) {
          BitMatrix got(1, 1);  // wrong shape: reallocated
          kernels::pack_signs_fast(view(std::as_const(m)), got, "m", threads, arch);
          CHECK(got == want);
          CHECK(got.padding_is_zero());
        }
    }
}

TEST_CASE("kernels::pack_signs_fast raises on NaN naming the first element, on every path") {
  littlebit::test::RowMatrixXf m = littlebit::test::random_matrix(40, 100, 5).cast<float>();
  m(17, 93) = std::nanf("");
  m(30, 2) = std::nanf("");
  for (kernels::Arch arch : {kernels::Arch::kScalar, kernels::Arch::kAvx512}) {
    BitMatrix out;
    CHECK_THROWS_WITH_AS(kernels::pack_signs_fast(view(std::as_const(m)), out, "U", 2, arch),
                         "U: element (17, 93) is NaN and has no sign", Error);
  }
}
