// Float16 / BFloat16 conversions against Eigen's half and bfloat16, exhaustively where the
// domain is small (every 16-bit pattern, every rounding midpoint) and on a dense float sweep.
#include <doctest/doctest.h>

#include <Eigen/Core>
#include <bit>
#include <cmath>
#include <cstdint>

#include "littlebit/core/float16.hpp"

using littlebit::BFloat16;
using littlebit::Float16;

namespace {

bool same_float(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

std::uint16_t eigen_half_bits(float f) { return Eigen::numext::bit_cast<std::uint16_t>(Eigen::half(f)); }
std::uint16_t eigen_bf16_bits(float f) { return Eigen::numext::bit_cast<std::uint16_t>(Eigen::bfloat16(f)); }

bool same_half(std::uint16_t a, std::uint16_t b) {
  const bool nan_a = (a & 0x7c00) == 0x7c00 && (a & 0x3ff) != 0;
  const bool nan_b = (b & 0x7c00) == 0x7c00 && (b & 0x3ff) != 0;
  return (nan_a && nan_b) || a == b;
}

}  // namespace

TEST_CASE("Float16: every bit pattern widens exactly and narrows back to itself") {
  for (std::uint32_t b = 0; b <= 0xffff; ++b) {
    const auto h = Float16::from_bits(static_cast<std::uint16_t>(b));
    const float f = static_cast<float>(h);
    REQUIRE(same_float(f, static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(static_cast<std::uint16_t>(b)))));
    REQUIRE(same_half(Float16(f).bits, static_cast<std::uint16_t>(b)));
  }
}

TEST_CASE("Float16: rounding at every midpoint and its neighbours matches Eigen (ties to even)") {
  for (std::uint32_t b = 0; b < 0x7c00; ++b) {  // every finite nonnegative half
    const float lo = static_cast<float>(Float16::from_bits(static_cast<std::uint16_t>(b)));
    const float hi = static_cast<float>(Float16::from_bits(static_cast<std::uint16_t>(b + 1)));
    const float mid = lo + (hi - lo) / 2;  // exact: one more mantissa bit than half has
    for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f), lo, -mid, -lo}) {
      CAPTURE(b);
      REQUIRE(Float16(f).bits == eigen_half_bits(f));
    }
  }
}

TEST_CASE("Float16: a dense sweep of floats matches Eigen") {
  for (std::uint64_t b = 0; b <= 0xffffffffull; b += 997) {
    const float f = std::bit_cast<float>(static_cast<std::uint32_t>(b));
    REQUIRE(same_half(Float16(f).bits, eigen_half_bits(f)));
  }
}

TEST_CASE("BFloat16: widening is exact, rounding matches Eigen") {
  for (std::uint32_t b = 0; b <= 0xffff; ++b) {
    const float f = static_cast<float>(BFloat16::from_bits(static_cast<std::uint16_t>(b)));
    REQUIRE(same_float(f, std::bit_cast<float>(b << 16)));
  }
  for (std::uint64_t b = 0; b <= 0xffffffffull; b += 997) {
    const float f = std::bit_cast<float>(static_cast<std::uint32_t>(b));
    if (std::isnan(f)) {
      REQUIRE(std::isnan(static_cast<float>(BFloat16(f))));
    } else {
      REQUIRE(BFloat16(f).bits == eigen_bf16_bits(f));
    }
  }
}
