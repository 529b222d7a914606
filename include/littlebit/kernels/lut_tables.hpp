// littlebit/kernels/lut_tables.hpp: the per-group lookup tables of an input vector.
//
// For an input u (length K, u_j = x_j * scale_j, or x_j without a scale):
//   FP32 tables, groups of 4 (exact path):  T[16 g + e] = sum_{q<4} (bit q of e ? -u : +u)[4g + q]
//     evaluated as ((s0 u0 + s1 u1) + s2 u2) + s3 u3 in float (s = +-1: exact sign flips).
//   int16 tables, groups of 5 (fast path): u is first quantized per tensor,
//     q_j = round(u_j / delta),  delta = max_j |u_j| / kFastQuantMax,
//     T[32 g + e] = sum_{q<5} (bit q of e ? -q : +q)[5g + q]   (exact in int16: |T| <= 5 kFastQuantMax)
//     and the caller multiplies integer results by delta.
// Entries of u past K are 0, so padded columns contribute nothing whatever their sign bits.
// Activations may be float, Float16 or BFloat16 (converted exactly to float first).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "littlebit/core/config.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/kernels/arch.hpp"

#include <xsimd/xsimd.hpp>

LITTLEBIT_KERNELS_BEGIN_IGNORE_PR105593
namespace littlebit::kernels {

/// Largest |q| of the fast path's quantized inputs. The fast kernel sums up to
/// kFastAccumSteps * 3 table entries (each |T| <= 5 kFastQuantMax) in int16 before widening:
/// 2 * 3 * 5 * 1092 = 32760 <= 32767.
inline constexpr int kFastQuantMax = 1092;
inline constexpr int kFastAccumSteps = 2;
static_assert(kFastAccumSteps * 3 * 5 * kFastQuantMax <= 32767, "int16 accumulation must not overflow");

namespace detail {

template <class T>
inline float load_float(const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return *p;
  } else {
    return static_cast<float>(*p);
  }
}

/// u_j = x_j * scale_j (or x_j), 0 past k.
template <class T>
inline float input_at(const T* x, const float* scale, Index j, Index k) {
  if (j >= k) return 0.0f;
  const float v = load_float(x + j);
  return scale != nullptr ? v * scale[j] : v;
}

// Sign patterns of the 16 table entries for the 4 inputs of a group: bit q of entry e.
inline constexpr float kSign4[4][16] = {
    {1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1},
    {1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1},
    {1, 1, 1, 1, -1, -1, -1, -1, 1, 1, 1, 1, -1, -1, -1, -1},
    {1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1}};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// FP32 tables, groups of 4: `tables` holds 16 * groups floats, 64-byte aligned.

template <class T>
void build_tables_f32(Arch, const T* x, const float* scale, Index k, Index groups, float* tables);

namespace detail {

/// The portable path: xsimd batches of the translation unit's own ISA (SSE2 on a baseline x86-64
/// build, NEON on ARM), plain scalars where xsimd has no architecture.
template <class T>
void build_tables_f32_scalar(const T* x, const float* scale, Index k, Index groups, float* tables) {
#if !defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
  using B = xsimd::batch<float>;
  constexpr std::size_t kLanes = B::size;
  if constexpr (16 % kLanes == 0) {
    constexpr std::size_t kParts = 16 / kLanes;
    B s[4][kParts];
    for (int q = 0; q < 4; ++q)
      for (std::size_t h = 0; h < kParts; ++h) s[q][h] = B::load_unaligned(kSign4[q] + h * kLanes);
    for (Index g = 0; g < groups; ++g) {
      const B u0(input_at(x, scale, 4 * g, k)), u1(input_at(x, scale, 4 * g + 1, k)),
          u2(input_at(x, scale, 4 * g + 2, k)), u3(input_at(x, scale, 4 * g + 3, k));
      for (std::size_t h = 0; h < kParts; ++h) {
        // u * s is an exact sign flip: the order ((s0 u0 + s1 u1) + s2 u2) + s3 u3 of every path.
        B t = u0 * s[0][h];
        t = t + u1 * s[1][h];
        t = t + u2 * s[2][h];
        t = t + u3 * s[3][h];
        t.store_unaligned(tables + 16 * g + static_cast<Index>(h * kLanes));
      }
    }
    return;
  }
#endif
  for (Index g = 0; g < groups; ++g) {
    const float u0 = input_at(x, scale, 4 * g, k), u1 = input_at(x, scale, 4 * g + 1, k),
                u2 = input_at(x, scale, 4 * g + 2, k), u3 = input_at(x, scale, 4 * g + 3, k);
    float* t = tables + 16 * g;
    for (int e = 0; e < 16; ++e) {
      float v = (e & 1) ? -u0 : u0;
      v += (e & 2) ? -u1 : u1;
      v += (e & 4) ? -u2 : u2;
      v += (e & 8) ? -u3 : u3;
      t[e] = v;
    }
  }
}

#if LITTLEBIT_KERNELS_HAS_AVX2
template <class T>
LITTLEBIT_TARGET_AVX2 inline __m256 load8_avx2(const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm256_loadu_ps(p);
  } else if constexpr (std::is_same_v<T, Float16>) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else {
    static_assert(std::is_same_v<T, BFloat16>);
    return _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
  }
}

template <class T>
LITTLEBIT_TARGET_AVX2 void build_tables_f32_avx2(const T* x, const float* scale, Index k, Index groups,
                                                 float* tables) {
  const __m256 s[4][2] = {{_mm256_loadu_ps(kSign4[0]), _mm256_loadu_ps(kSign4[0] + 8)},
                          {_mm256_loadu_ps(kSign4[1]), _mm256_loadu_ps(kSign4[1] + 8)},
                          {_mm256_loadu_ps(kSign4[2]), _mm256_loadu_ps(kSign4[2] + 8)},
                          {_mm256_loadu_ps(kSign4[3]), _mm256_loadu_ps(kSign4[3] + 8)}};
  // u staged 256 inputs at a time (see build_tables_f32_avx512).
  constexpr Index kStage = 256;
  alignas(32) float u[kStage];
  for (Index g0 = 0; g0 < groups; g0 += kStage / 4) {
    const Index j0 = 4 * g0;
    const Index ng = std::min<Index>(kStage / 4, groups - g0);
    for (Index j = 0; j < 4 * ng; j += 8) {
      if (j0 + j + 8 <= k) {
        __m256 v = load8_avx2(x + j0 + j);
        if (scale != nullptr) v = _mm256_mul_ps(v, _mm256_loadu_ps(scale + j0 + j));
        _mm256_store_ps(u + j, v);
      } else {
        for (Index q = 0; q < 8; ++q) u[j + q] = input_at(x, scale, j0 + j + q, k);
      }
    }
    for (Index h = 0; h < ng; ++h) {
      const float* uu = u + 4 * h;
      for (int half = 0; half < 2; ++half) {
        __m256 t = _mm256_mul_ps(_mm256_set1_ps(uu[0]), s[0][half]);
        t = _mm256_add_ps(t, _mm256_mul_ps(_mm256_set1_ps(uu[1]), s[1][half]));
        t = _mm256_add_ps(t, _mm256_mul_ps(_mm256_set1_ps(uu[2]), s[2][half]));
        t = _mm256_add_ps(t, _mm256_mul_ps(_mm256_set1_ps(uu[3]), s[3][half]));
        _mm256_store_ps(tables + 16 * (g0 + h) + 8 * half, t);
      }
    }
  }
}
#endif

#if LITTLEBIT_KERNELS_HAS_AVX512
template <class T>
LITTLEBIT_TARGET_AVX512 inline __m512 load16_avx512(const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_loadu_ps(p);
  } else if constexpr (std::is_same_v<T, Float16>) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  } else {
    static_assert(std::is_same_v<T, BFloat16>);
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
  }
}

template <class T>
LITTLEBIT_TARGET_AVX512 void build_tables_f32_avx512(const T* x, const float* scale, Index k, Index groups,
                                                     float* tables) {
  const __m512 s0 = _mm512_loadu_ps(kSign4[0]), s1 = _mm512_loadu_ps(kSign4[1]), s2 = _mm512_loadu_ps(kSign4[2]),
               s3 = _mm512_loadu_ps(kSign4[3]);
  // u = x . scale is staged 256 inputs at a time, so that the broadcasts read values stored well
  // before (a broadcast right after the 64-byte store it reads from stalls on store forwarding).
  constexpr Index kStage = 256;
  alignas(64) float u[kStage];
  for (Index g0 = 0; g0 < groups; g0 += kStage / 4) {
    const Index j0 = 4 * g0;
    const Index ng = std::min<Index>(kStage / 4, groups - g0);
    for (Index j = 0; j < 4 * ng; j += 16) {
      if (j0 + j + 16 <= k) {
        __m512 v = load16_avx512(x + j0 + j);
        if (scale != nullptr) v = _mm512_mul_ps(v, _mm512_loadu_ps(scale + j0 + j));
        _mm512_store_ps(u + j, v);
      } else {
        for (Index q = 0; q < 16; ++q) u[j + q] = input_at(x, scale, j0 + j + q, k);
      }
    }
    for (Index h = 0; h < ng; ++h) {
      const float* uu = u + 4 * h;
      // s * u is an exact sign flip and fma(u, s, t) = round(t +- u): the scalar evaluation order.
      __m512 t = _mm512_mul_ps(_mm512_set1_ps(uu[0]), s0);
      t = _mm512_fmadd_ps(_mm512_set1_ps(uu[1]), s1, t);
      t = _mm512_fmadd_ps(_mm512_set1_ps(uu[2]), s2, t);
      t = _mm512_fmadd_ps(_mm512_set1_ps(uu[3]), s3, t);
      _mm512_store_ps(tables + 16 * (g0 + h), t);
    }
  }
}
#endif

}  // namespace detail

template <class T>
void build_tables_f32(Arch arch, const T* x, const float* scale, Index k, Index groups, float* tables) {
#if LITTLEBIT_KERNELS_HAS_AVX512
  if (arch == Arch::kAvx512) return detail::build_tables_f32_avx512(x, scale, k, groups, tables);
#endif
#if LITTLEBIT_KERNELS_HAS_AVX2
  if (arch == Arch::kAvx2) return detail::build_tables_f32_avx2(x, scale, k, groups, tables);
#endif
  (void)arch;
  detail::build_tables_f32_scalar(x, scale, k, groups, tables);
}

// ---------------------------------------------------------------------------------------------
// int16 tables, groups of 5: `quantized` holds 5 * groups int16 of scratch, `tables` holds
// 32 * groups int16; both 64-byte aligned. build_tables_i16 returns delta (0 when u is all zero;
// NaN when u has a NaN or an infinity, which then reaches every output).

namespace detail {

/// Sign patterns of the 32 entries for the 5 inputs of a group, as int16 +-1.
struct Sign5 {
  std::int16_t s[5][32];
  constexpr Sign5() : s{} {
    for (int q = 0; q < 5; ++q)
      for (int e = 0; e < 32; ++e) s[q][e] = static_cast<std::int16_t>(((e >> q) & 1) ? -1 : 1);
  }
};
inline constexpr Sign5 kSign5{};

inline std::int16_t quantize_one(float u, float inv) {
  float v = std::nearbyint(u * inv);
  v = v > static_cast<float>(kFastQuantMax) ? static_cast<float>(kFastQuantMax) : v;
  v = v < -static_cast<float>(kFastQuantMax) ? -static_cast<float>(kFastQuantMax) : v;
  return static_cast<std::int16_t>(v);
}

template <class T>
float quantize_scalar(const T* x, const float* scale, Index k, Index padded, std::int16_t* q) {
  float amax = 0.0f;
  bool nan = false;
  for (Index j = 0; j < k; ++j) {
    const float u = input_at(x, scale, j, k);
    nan |= std::isnan(u);
    amax = std::fmax(amax, std::fabs(u));
  }
  if (nan || !(amax > 0.0f) || !std::isfinite(amax)) {
    for (Index j = 0; j < padded; ++j) q[j] = 0;
    return amax == 0.0f && !nan ? 0.0f : std::numeric_limits<float>::quiet_NaN();
  }
  const float inv = static_cast<float>(kFastQuantMax) / amax;
  for (Index j = 0; j < padded; ++j) q[j] = quantize_one(input_at(x, scale, j, k), inv);
  return amax / static_cast<float>(kFastQuantMax);
}

inline void tables_i16_scalar(const std::int16_t* q, Index groups, std::int16_t* tables) {
  for (Index g = 0; g < groups; ++g)
    for (int e = 0; e < 32; ++e) {
      int v = 0;
      for (int s = 0; s < 5; ++s) v += kSign5.s[s][e] * q[5 * g + s];
      tables[32 * g + e] = static_cast<std::int16_t>(v);
    }
}

#if LITTLEBIT_KERNELS_HAS_AVX512
template <class T>
LITTLEBIT_TARGET_AVX512 float quantize_avx512(const T* x, const float* scale, Index k, Index padded,
                                              std::int16_t* q) {
  const Index whole = k / 16 * 16;
  __m512 amax = _mm512_setzero_ps();
  __mmask16 nan = 0;
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (Index j = 0; j < whole; j += 16) {
    __m512 v = load16_avx512(x + j);
    if (scale != nullptr) v = _mm512_mul_ps(v, _mm512_loadu_ps(scale + j));
    nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    amax = _mm512_max_ps(amax, _mm512_and_ps(v, abs_mask));
  }
  float m = _mm512_reduce_max_ps(amax);
  for (Index j = whole; j < k; ++j) {
    const float u = input_at(x, scale, j, k);
    if (std::isnan(u)) nan = 1;
    m = std::fmax(m, std::fabs(u));
  }
  if (nan != 0 || !(m > 0.0f) || !std::isfinite(m)) {
    for (Index j = 0; j < padded; ++j) q[j] = 0;
    return m == 0.0f && nan == 0 ? 0.0f : std::numeric_limits<float>::quiet_NaN();
  }
  const float inv = static_cast<float>(kFastQuantMax) / m;
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512i hi = _mm512_set1_epi32(kFastQuantMax), lo = _mm512_set1_epi32(-kFastQuantMax);
  for (Index j = 0; j < whole; j += 16) {
    __m512 v = load16_avx512(x + j);
    if (scale != nullptr) v = _mm512_mul_ps(v, _mm512_loadu_ps(scale + j));
    // Round to nearest even, as std::nearbyint in the default rounding mode.
    __m512i r = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v, vinv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_min_epi32(_mm512_max_epi32(r, lo), hi);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + j), _mm512_cvtepi32_epi16(r));
  }
  for (Index j = whole; j < padded; ++j) q[j] = quantize_one(input_at(x, scale, j, k), inv);
  return m / static_cast<float>(kFastQuantMax);
}

LITTLEBIT_TARGET_AVX512 inline void tables_i16_avx512(const std::int16_t* q, Index groups, std::int16_t* tables) {
  const __m512i s0 = _mm512_loadu_si512(kSign5.s[0]), s1 = _mm512_loadu_si512(kSign5.s[1]),
                s2 = _mm512_loadu_si512(kSign5.s[2]), s3 = _mm512_loadu_si512(kSign5.s[3]),
                s4 = _mm512_loadu_si512(kSign5.s[4]);
  for (Index g = 0; g < groups; ++g) {
    const std::int16_t* u = q + 5 * g;
    __m512i t = _mm512_mullo_epi16(_mm512_set1_epi16(u[0]), s0);
    t = _mm512_add_epi16(t, _mm512_mullo_epi16(_mm512_set1_epi16(u[1]), s1));
    t = _mm512_add_epi16(t, _mm512_mullo_epi16(_mm512_set1_epi16(u[2]), s2));
    t = _mm512_add_epi16(t, _mm512_mullo_epi16(_mm512_set1_epi16(u[3]), s3));
    t = _mm512_add_epi16(t, _mm512_mullo_epi16(_mm512_set1_epi16(u[4]), s4));
    _mm512_store_si512(tables + 32 * g, t);
  }
}
#endif

}  // namespace detail

template <class T>
float build_tables_i16(Arch arch, const T* x, const float* scale, Index k, Index groups, std::int16_t* quantized,
                       std::int16_t* tables) {
#if LITTLEBIT_KERNELS_HAS_AVX512
  if (arch == Arch::kAvx512) {
    const float delta = detail::quantize_avx512(x, scale, k, 5 * groups, quantized);
    detail::tables_i16_avx512(quantized, groups, tables);
    return delta;
  }
#endif
  (void)arch;
  const float delta = detail::quantize_scalar(x, scale, k, 5 * groups, quantized);
  detail::tables_i16_scalar(quantized, groups, tables);
  return delta;
}

}  // namespace littlebit::kernels
LITTLEBIT_KERNELS_END_IGNORE_PR105593
