// kernels::popcount_gemm / bitserial_gemm against the references, exactly (integer results),
// on every ISA path compiled in and supported here.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "littlebit/core/pack.hpp"
#include "littlebit/kernels/popcount_gemm.hpp"
#include "littlebit/ref/popcount_gemm.hpp"
#include "littlebit/ref/sign_gemm.hpp"
#include "support/test_util.hpp"

using namespace littlebit;
using littlebit::test::RowMatrixXi;
using kernels::Arch;

TEST_CASE("kernels::popcount_gemm equals ref::popcount_gemm on every path") {
  std::vector<Index> ks = {1, 31, 33, 63, 64, 65, 127, 128, 129, 511, 512, 513, 1000, 1024, 1025, 4097, 32768};
  for (Index k : ks) {
    CAPTURE(k);
    const BitMatrix a = pack_signs(littlebit::test::random_sign_source(7, k, static_cast<std::uint64_t>(k)));
    const BitMatrix b = pack_signs(littlebit::test::random_sign_source(3, k, static_cast<std::uint64_t>(k) + 1));
    RowMatrixXi want(7, 3);
    ref::popcount_gemm(a, b, view(want));
    for (Arch arch : kernels::supported_archs()) {
      CAPTURE(std::string(kernels::arch_name(arch)));
      RowMatrixXi c(7, 3);
      kernels::popcount_gemm(a, b, view(c), arch);
      REQUIRE(c == want);
      std::vector<std::int32_t> v(7);
      kernels::popcount_gemv(a, b.view().middle_rows(1, 1), std::span<std::int32_t>(v), arch);
      for (Index i = 0; i < 7; ++i) REQUIRE(v[static_cast<std::size_t>(i)] == want(i, 1));
    }
  }
}

TEST_CASE("kernels::popcount_gemm masks foreign padding in views") {
  BitMatrix a(1, 70), b(1, 70);
  a.data()[1] = ~std::uint64_t{0} << 6;  // garbage past column 70
  for (Arch arch : kernels::supported_archs()) {
    RowMatrixXi c(1, 1);
    kernels::popcount_gemm(a, b, view(c), arch);
    CHECK(c(0, 0) == 70);
  }
}

TEST_CASE("kernels::bitserial_gemm equals the reference product with int8 activations, exactly") {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int> u(-128, 127);
  for (Index k : {1, 7, 64, 65, 200, 4097}) {
    for (Index batch : {1, 2, 3}) {
      CAPTURE(k);
      CAPTURE(batch);
      const BitMatrix a = pack_signs(littlebit::test::random_matrix(9, k, static_cast<std::uint64_t>(k)));
      std::vector<std::int8_t> x(static_cast<std::size_t>(batch * k));
      for (auto& v : x) v = static_cast<std::int8_t>(u(rng));
      x.at(0) = -128;  // the sign plane's weight
      RowMatrixXi want(batch, 9);
      ref::sign_gemm(a, MatrixView<const std::int8_t>(x.data(), batch, k), view(want));
      for (Arch arch : kernels::supported_archs()) {
        RowMatrixXi y(batch, 9);
        kernels::bitserial_gemm(a, MatrixView<const std::int8_t>(x.data(), batch, k), view(y), arch);
        REQUIRE(y == want);
      }
    }
  }
  const BitMatrix a(2, 10);
  std::vector<std::int8_t> x(9);
  RowMatrixXi y(1, 2);
  CHECK_THROWS_AS(kernels::bitserial_gemm(a, MatrixView<const std::int8_t>(x.data(), 1, 9), view(y)), Error);
}
