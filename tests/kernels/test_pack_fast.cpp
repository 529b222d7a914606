// kernels::pack_signs_fast against core's pack_signs: the same bits (zeros of either sign pack as
// +1), padding zero, and the same error on NaN, over tail shapes, every path it implements
// (scalar and AVX-512; AVX2 has no kernel of its own) and thread counts, below and above the size
// from which it runs in parallel.
#include <doctest/doctest.h>

#include <cmath>

#include "littlebit/core/pack.hpp"
#include "littlebit/kernels/pack.hpp"
#include "support/arch_cases.hpp"
#include "support/test_util.hpp"

using namespace littlebit;

namespace {
constexpr Index kParallelFrom = 65536;  // kernels/pack.hpp threads matrices with more elements
}

TEST_CASE("kernels::pack_signs_fast equals pack_signs over tail shapes, every path and thread count") {
  std::uint64_t seed = 11;
  const auto archs = littlebit::test::arch_cases({kernels::Arch::kScalar, kernels::Arch::kAvx512});
  for (Index rows : {1, 3, 70, 300})
    for (Index cols : littlebit::test::kTailLengths) {
      const littlebit::test::RowMatrixXf m = littlebit::test::random_sign_source(rows, cols, seed++).cast<float>();
      const BitMatrix want = pack_signs(m);
      for (kernels::Arch arch : archs)
        for (int threads : {1, 2}) {
          BitMatrix got(1, 1);  // wrong shape: reallocated
          kernels::pack_signs_fast(view(std::as_const(m)), got, "m", threads, arch);
          CHECK(got == want);
          CHECK(got.padding_is_zero());
        }
    }
  CHECK(Index{300} * 513 > kParallelFrom);  // the parallel branch is among the shapes above
}

TEST_CASE("kernels::pack_signs_fast raises on NaN naming the first element, on every path, serial and parallel") {
  for (auto [rows, cols] : {std::pair<Index, Index>{40, 100}, std::pair<Index, Index>{400, 1000}}) {
    CAPTURE(rows);
    littlebit::test::RowMatrixXf m = littlebit::test::random_matrix(rows, cols, 5).cast<float>();
    m(rows - 1, 2) = std::nanf("");  // a later row first, so the smallest row must win across threads
    m(17, 93) = std::nanf("");
    m(30, 2) = std::nanf("");
    for (kernels::Arch arch : littlebit::test::arch_cases({kernels::Arch::kScalar, kernels::Arch::kAvx512}))
      for (int threads : {1, 2}) {
        BitMatrix out;
        CHECK_THROWS_WITH_AS(kernels::pack_signs_fast(view(std::as_const(m)), out, "U", threads, arch),
                             "U: element (17, 93) is NaN and has no sign", Error);
      }
  }
}
