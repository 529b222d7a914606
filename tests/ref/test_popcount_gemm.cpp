// ref::popcount_gemv / popcount_gemm (K - 2 popcount(a XOR b)) against integer products of the
// unpacked +1/-1 matrices: exact.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "littlebit/core/pack.hpp"
#include "littlebit/ref/popcount_gemm.hpp"
#include "support/test_util.hpp"

using namespace littlebit;
using littlebit::test::RowMatrixXi;

namespace {
RowMatrixXi dense_signs(const BitMatrix& b) { return littlebit::test::dense_signs<int>(b); }
}  // namespace

TEST_CASE("ref::popcount_gemm equals the integer product at tail and deep lengths") {
  std::vector<Index> ks = littlebit::test::kTailLengths;
  ks.insert(ks.end(), {4095, 4096, 4097});
  for (Index k : ks) {
    CAPTURE(k);
    for (Index m : {1, 3, 17}) {
      const BitMatrix a = pack_signs(littlebit::test::random_sign_source(m, k, static_cast<std::uint64_t>(k * 3 + m)));
      const BitMatrix b = pack_signs(littlebit::test::random_sign_source(5, k, static_cast<std::uint64_t>(k * 5 + m)));
      RowMatrixXi c(m, 5);
      ref::popcount_gemm(a, b, view(c));
      CHECK(c == dense_signs(a) * dense_signs(b).transpose());

      std::vector<std::int32_t> v(static_cast<std::size_t>(m));
      ref::popcount_gemv(a, b.view().middle_rows(2, 1), std::span<std::int32_t>(v));
      for (Index i = 0; i < m; ++i) REQUIRE(v[static_cast<std::size_t>(i)] == c(i, 2));
    }
  }
}

TEST_CASE("ref::popcount_gemm: extremes and foreign padding") {
  BitMatrix ones(1, 100), minus(1, 100);
  for (Index j = 0; j < 100; ++j) minus.set_bit(0, j, 1);
  RowMatrixXi c(1, 1);
  ref::popcount_gemm(ones, ones, view(c));
  CHECK(c(0, 0) == 100);
  ref::popcount_gemm(ones, minus, view(c));
  CHECK(c(0, 0) == -100);
  minus.data()[1] |= ~std::uint64_t{0} << 40;  // garbage past column 100 in a view's padding
  ref::popcount_gemm(ones, minus, view(c));
  CHECK(c(0, 0) == -100);
}

TEST_CASE("ref::popcount_gemm rejects mismatched reduction lengths") {
  const BitMatrix a(2, 64), b(2, 65);
  RowMatrixXi c(2, 2);
  CHECK_THROWS_AS(ref::popcount_gemm(a, b, view(c)), Error);
  std::vector<std::int32_t> v(2);
  CHECK_THROWS_AS(ref::popcount_gemv(a, b.view().middle_rows(0, 1), std::span<std::int32_t>(v)), Error);
}
