// littlebit/core/float16.hpp: IEEE binary16 and bfloat16 storage types.
//
// Scales (h, g, ell) are stored as FP16 and count in the bits per weight; activations may be
// FP16 or BF16. These are storage types only: arithmetic converts to float (exactly) first.
// Conversions from float round to nearest, ties to even, as hardware (F16C, CUDA __float2half)
// and PyTorch's .half()/.bfloat16() do; NaN stays NaN (quiet), overflow gives infinity.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <vector>

#include "littlebit/core/error.hpp"

namespace littlebit {

namespace detail {

constexpr std::uint16_t float_to_half_bits(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  std::uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u)  // NaN: keep the top payload bits, force the quiet bit.
    return static_cast<std::uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u)  // >= 65520 = 65504 + half an ulp: rounds to infinity.
    return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (a >= 0x38800000u) {  // >= 2^-14: a normal half.
    // Rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even; a carry
    // out of the mantissa correctly bumps the exponent.
    a += 0xc8000fffu + ((a >> 13) & 1u);
    return static_cast<std::uint16_t>(sign | (a >> 13));
  }
  // Subnormal half or zero: adding 0.5f (whose ulp is 2^-24, the subnormal half's step) lets
  // the float adder round the value to a multiple of 2^-24, ties to even.
  const float r = std::bit_cast<float>(a) + 0.5f;
  return static_cast<std::uint16_t>(sign | (std::bit_cast<std::uint32_t>(r) - 0x3f000000u));
}

constexpr float half_bits_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float v = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

constexpr std::uint16_t float_to_bfloat16_bits(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  return static_cast<std::uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

constexpr float bfloat16_bits_to_float(std::uint16_t b) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

}  // namespace detail

/// IEEE 754 binary16: 1 sign, 5 exponent, 10 mantissa bits.
struct Float16 {
  std::uint16_t bits = 0;

  constexpr Float16() = default;
  explicit constexpr Float16(float f) : bits(detail::float_to_half_bits(f)) {}
  static constexpr Float16 from_bits(std::uint16_t b) {
    Float16 h;
    h.bits = b;
    return h;
  }
  explicit constexpr operator float() const { return detail::half_bits_to_float(bits); }
  friend constexpr bool operator==(Float16, Float16) = default;  // bitwise
};

/// bfloat16: the top 16 bits of an IEEE binary32.
struct BFloat16 {
  std::uint16_t bits = 0;

  constexpr BFloat16() = default;
  explicit constexpr BFloat16(float f) : bits(detail::float_to_bfloat16_bits(f)) {}
  static constexpr BFloat16 from_bits(std::uint16_t b) {
    BFloat16 h;
    h.bits = b;
    return h;
  }
  explicit constexpr operator float() const { return detail::bfloat16_bits_to_float(bits); }
  friend constexpr bool operator==(BFloat16, BFloat16) = default;  // bitwise
};

static_assert(sizeof(Float16) == 2 && sizeof(BFloat16) == 2);
static_assert(static_cast<float>(Float16(1.0f)) == 1.0f && Float16(65504.0f).bits == 0x7bff);
static_assert(Float16(65520.0f).bits == 0x7c00 && Float16(0x1p-24f).bits == 0x0001);
static_assert(BFloat16(1.0f).bits == 0x3f80);

/// Exact widening of any storage or floating type to double (used by the reference code).
constexpr double to_double(double v) { return v; }
constexpr double to_double(float v) { return static_cast<double>(v); }
constexpr double to_double(Float16 v) { return static_cast<double>(static_cast<float>(v)); }
constexpr double to_double(BFloat16 v) { return static_cast<double>(static_cast<float>(v)); }
template <class I>
  requires std::is_integral_v<I>
constexpr double to_double(I v) {
  return static_cast<double>(v);
}

/// Narrowing from double to a storage type: float rounds once; Float16/BFloat16 go through
/// float (double rounding, the same as PyTorch's double -> half conversion); integer types
/// truncate (used for integer-valued results).
template <class T>
constexpr T from_double(double v) {
  if constexpr (std::is_same_v<T, double>) {
    return v;
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(v);  // for integer results, which the double holds exactly
  } else if constexpr (std::is_same_v<T, float>) {
    return static_cast<float>(v);
  } else {
    return T(static_cast<float>(v));
  }
}

/// The scales as stored: every entry of `v` (std::vector, Eigen vector, AlignedBuffer: anything
/// with size() and operator[]) rounded to FP16 through from_double. Raises littlebit::Error
/// naming `what`, the entry and its value when one is not finite or overflows FP16 (the one
/// conversion every writer of FP16 scales uses).
template <class Vector>
std::vector<Float16> to_float16(const Vector& v, std::string_view what) {
  std::vector<Float16> out;
  out.reserve(static_cast<std::size_t>(v.size()));
  for (std::size_t i = 0; i < static_cast<std::size_t>(v.size()); ++i) {
    const double x = to_double(v[static_cast<decltype(v.size())>(i)]);
    const Float16 h = from_double<Float16>(x);
    if (!std::isfinite(static_cast<float>(h)))
      littlebit::detail::fail(what, ": entry ", i, " = ", x, " does not fit FP16");
    out.push_back(h);
  }
  return out;
}

}  // namespace littlebit
