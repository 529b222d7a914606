// littlebit/kernels/lut_gemm.hpp: sign-matrix products by table lookup, the inner kernels.
//
// For activation rows bt < nbat (a batch tile) and matrix rows i of blocks [block_begin,
// block_end), the kernels add one chunk of steps (lut_layout.hpp) of the lookup sum
//     acc_bt,i = sum_g T_bt[g][e_ig]                  (ref: ref::sign_gemv on u_bt)
// into a partial sum per row (or start it, when `first`), and store_rows() finishes a row:
//     y[i] = alpha[i] * (scale * acc_i)  (+ y[i] when accumulating)
// with the layouts of lut_layout.hpp and the tables of lut_tables.hpp; alpha folds a diagonal
// (h or ell of the factorization) into the store, scale is the fast path's delta.
//
// Why chunks: a table row is 16 floats per 4 columns, 176 KB for 11008 columns; a batch tile's
// tables would stream from L2 once per row block. Taking kChunkSteps steps at a time keeps the
// tile's tables in L1 (4-6 KB per activation row) while every row block passes over them, and
// the chunk-major layout makes that order a sequential read of the weights.
//
// Summation order, the same on every path for a given chunking (so the exact path gives
// identical floats whatever the ISA): per chunk, even groups and odd groups in two float sums
// s0, s1 (step order); the row's sum is ((0 + (s0 + s1)_chunk0) + (s0 + s1)_chunk1) + ... The fast path sums integers
// (three lookups per step in int16 for kFastAccumSteps steps, widened into int32): exact.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "littlebit/core/config.hpp"
#include "littlebit/kernels/arch.hpp"
#include "littlebit/kernels/lut_layout.hpp"
#include "littlebit/kernels/lut_tables.hpp"

#include <xsimd/xsimd.hpp>

LITTLEBIT_KERNELS_BEGIN_IGNORE_PR105593
namespace littlebit::kernels {

/// Where one activation row's results go.
struct LutOutput {
  float* y = nullptr;             // y[i] for matrix row i
  const float* alpha = nullptr;   // per-row factor, or nullptr for 1
  float scale = 1.0f;             // factor of the whole row (the fast path's delta)
  bool accumulate = false;        // y[i] += ... instead of y[i] = ...
};

/// Largest batch tile the kernels take at once.
inline constexpr int kMaxBatchTile = 4;
/// Software prefetch distance along the weight stream, in bytes: enough lines in flight to
/// cover DRAM latency at the rate the kernels consume them (measured: the fast path's cold time
/// at 4096 x 11008 fell from 345 to 250 us with 8 KB into L2).
inline constexpr Index kPrefetchBytes = 8192;

namespace detail {

inline float finish(const LutOutput& o, Index i, float acc) {
  const float a = o.alpha != nullptr ? o.alpha[i] : 1.0f;
  const float v = a * (o.scale * acc);
  return o.accumulate ? o.y[i] + v : v;
}

// ---- exact path -------------------------------------------------------------------------------

inline void lut4_scalar(const Lut4Signs& s, const float* const* tables, float* const* partial, int nbat,
                        Index block_begin, Index block_end, Index c, bool first) {
  const Index len = s.chunk_length(c), p0 = c * kChunkSteps;
  for (Index b = block_begin; b < block_end; ++b) {
    const std::uint8_t* idx = s.chunk(c, b);
    for (int bt = 0; bt < nbat; ++bt) {
      const float* t = tables[bt] + 32 * p0;
      for (Index k = 0; k < 16; ++k) {
        float s0 = 0.0f, s1 = 0.0f;
        for (Index p = 0; p < len; ++p) {
          const std::uint8_t e = idx[16 * p + k];
          s0 += t[32 * p + (e & 15)];
          s1 += t[32 * p + 16 + (e >> 4)];
        }
        float& acc = partial[bt][16 * b + k];
        acc = (first ? 0.0f : acc) + (s0 + s1);
      }
    }
  }
}

#if LITTLEBIT_KERNELS_HAS_AVX2
LITTLEBIT_TARGET_AVX2 inline __m256 lookup16_avx2(__m256i e, __m256 lo, __m256 hi) {
  // vpermps takes 3 index bits: look up in both halves, pick by bit 3 (moved to the sign bit).
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, e), _mm256_permutevar8x32_ps(hi, e),
                          _mm256_castsi256_ps(_mm256_slli_epi32(e, 28)));
}

LITTLEBIT_TARGET_AVX2 inline void lut4_avx2(const Lut4Signs& s, const float* const* tables, float* const* partial,
                                            int nbat, Index block_begin, Index block_end, Index c, bool first) {
  const __m256i nib = _mm256_set1_epi32(15);
  const Index len = s.chunk_length(c), p0 = c * kChunkSteps;
  for (Index b = block_begin; b < block_end; ++b) {
    const std::uint8_t* idx = s.chunk(c, b);
    for (int bt = 0; bt < nbat; ++bt) {
      const float* t = tables[bt] + 32 * p0;
      __m256 a0l = _mm256_setzero_ps(), a0h = _mm256_setzero_ps(), a1l = _mm256_setzero_ps(),
             a1h = _mm256_setzero_ps();
      for (Index p = 0; p < len; ++p) {
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(idx + 16 * p));
        const __m256i vl = _mm256_cvtepu8_epi32(raw), vh = _mm256_cvtepu8_epi32(_mm_srli_si128(raw, 8));
        const __m256 t0l = _mm256_load_ps(t + 32 * p), t0h = _mm256_load_ps(t + 32 * p + 8),
                     t1l = _mm256_load_ps(t + 32 * p + 16), t1h = _mm256_load_ps(t + 32 * p + 24);
        a0l = _mm256_add_ps(a0l, lookup16_avx2(_mm256_and_si256(vl, nib), t0l, t0h));
        a0h = _mm256_add_ps(a0h, lookup16_avx2(_mm256_and_si256(vh, nib), t0l, t0h));
        a1l = _mm256_add_ps(a1l, lookup16_avx2(_mm256_srli_epi32(vl, 4), t1l, t1h));
        a1h = _mm256_add_ps(a1h, lookup16_avx2(_mm256_srli_epi32(vh, 4), t1l, t1h));
      }
      float* acc = partial[bt] + 16 * b;
      const __m256 sl = _mm256_add_ps(a0l, a1l), sh = _mm256_add_ps(a0h, a1h);
      _mm256_storeu_ps(acc, first ? sl : _mm256_add_ps(_mm256_loadu_ps(acc), sl));
      _mm256_storeu_ps(acc + 8, first ? sh : _mm256_add_ps(_mm256_loadu_ps(acc + 8), sh));
    }
  }
}
#endif

#if LITTLEBIT_KERNELS_HAS_AVX512
/// Blocks b..b+NBLK-1 of chunk c for NBAT activation rows. The tile's indices are contiguous
/// (chunk-major layout): prefetch runs kPrefetchBytes ahead of the read position.
template <int NBLK, int NBAT>
LITTLEBIT_TARGET_AVX512 inline void lut4_avx512_tile(const Lut4Signs& s, const float* const* tables,
                                                     float* const* partial, Index b, Index c, bool first) {
  const Index len = s.chunk_length(c), p0 = c * kChunkSteps;
  const std::uint8_t* idx[NBLK];
  LITTLEBIT_UNROLL
  for (int k = 0; k < NBLK; ++k) idx[k] = s.chunk(c, b + k);
  const char* ahead = reinterpret_cast<const char*>(idx[0]) + kPrefetchBytes;
  const float* t[NBAT];
  LITTLEBIT_UNROLL
  for (int bt = 0; bt < NBAT; ++bt) t[bt] = tables[bt] + 32 * p0;
  __m512 a0[NBLK][NBAT], a1[NBLK][NBAT];
  LITTLEBIT_UNROLL
  for (int k = 0; k < NBLK; ++k)
    LITTLEBIT_UNROLL
    for (int bt = 0; bt < NBAT; ++bt) a0[k][bt] = a1[k][bt] = _mm512_setzero_ps();
  for (Index p = 0; p < len; ++p) {
    // The tile reads 16 * NBLK bytes per step: one line ahead per 64 bytes read.
    if (NBLK >= 4 || (p % (4 / NBLK)) == 0) _mm_prefetch(ahead + 16 * NBLK * p, _MM_HINT_T1);
    __m512i lo[NBLK], hi[NBLK];
    LITTLEBIT_UNROLL
    for (int k = 0; k < NBLK; ++k) {
      lo[k] = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(idx[k] + 16 * p)));
      hi[k] = _mm512_srli_epi32(lo[k], 4);  // vpermps reads only the low 4 index bits
    }
    LITTLEBIT_UNROLL
    for (int bt = 0; bt < NBAT; ++bt) {
      const __m512 t0 = _mm512_load_ps(t[bt] + 32 * p), t1 = _mm512_load_ps(t[bt] + 32 * p + 16);
      LITTLEBIT_UNROLL
      for (int k = 0; k < NBLK; ++k) {
        a0[k][bt] = _mm512_add_ps(a0[k][bt], _mm512_permutexvar_ps(lo[k], t0));
        a1[k][bt] = _mm512_add_ps(a1[k][bt], _mm512_permutexvar_ps(hi[k], t1));
      }
    }
  }
  LITTLEBIT_UNROLL
  for (int k = 0; k < NBLK; ++k)
    LITTLEBIT_UNROLL
    for (int bt = 0; bt < NBAT; ++bt) {
      float* acc = partial[bt] + 16 * (b + k);
      const __m512 sum = _mm512_add_ps(a0[k][bt], a1[k][bt]);
      _mm512_storeu_ps(acc, first ? sum : _mm512_add_ps(_mm512_loadu_ps(acc), sum));
    }
}

template <int NBAT>
LITTLEBIT_TARGET_AVX512 inline void lut4_avx512_batch(const Lut4Signs& s, const float* const* tables,
                                                      float* const* partial, Index block_begin, Index block_end,
                                                      Index c, bool first) {
  // Several blocks per table load when few activation rows leave registers free.
  constexpr int kBlocks = NBAT == 1 ? 4 : NBAT == 2 ? 2 : 1;
  Index b = block_begin;
  for (; b + kBlocks <= block_end; b += kBlocks) lut4_avx512_tile<kBlocks, NBAT>(s, tables, partial, b, c, first);
  for (; b < block_end; ++b) lut4_avx512_tile<1, NBAT>(s, tables, partial, b, c, first);
}

LITTLEBIT_TARGET_AVX512 inline void lut4_avx512(const Lut4Signs& s, const float* const* tables, float* const* partial,
                                                int nbat, Index block_begin, Index block_end, Index c, bool first) {
  switch (nbat) {
    case 1: return lut4_avx512_batch<1>(s, tables, partial, block_begin, block_end, c, first);
    case 2: return lut4_avx512_batch<2>(s, tables, partial, block_begin, block_end, c, first);
    case 3: return lut4_avx512_batch<3>(s, tables, partial, block_begin, block_end, c, first);
    default: return lut4_avx512_batch<4>(s, tables, partial, block_begin, block_end, c, first);
  }
}
#endif

// ---- fast path --------------------------------------------------------------------------------

inline void lut5_scalar(const Lut5Signs& s, const std::int16_t* const* tables, std::int32_t* const* partial, int nbat,
                        Index block_begin, Index block_end, Index c, bool first) {
  const Index len = s.chunk_length(c), p0 = c * kChunkSteps;
  for (Index b = block_begin; b < block_end; ++b) {
    const std::uint16_t* idx = s.chunk(c, b);
    for (int bt = 0; bt < nbat; ++bt) {
      const std::int16_t* t = tables[bt] + 96 * p0;
      for (Index k = 0; k < 32; ++k) {
        std::int32_t acc = first ? 0 : partial[bt][32 * b + k];
        for (Index p = 0; p < len; ++p) {
          const unsigned w = idx[32 * p + k];
          acc += t[96 * p + (w & 31)] + t[96 * p + 32 + ((w >> 5) & 31)] + t[96 * p + 64 + ((w >> 10) & 31)];
        }
        partial[bt][32 * b + k] = acc;
      }
    }
  }
}

#if LITTLEBIT_KERNELS_HAS_AVX512
template <int NBAT>
LITTLEBIT_TARGET_AVX512 inline void lut5_avx512_tile(const Lut5Signs& s, const std::int16_t* const* tables,
                                                     std::int32_t* const* partial, Index b, Index c, bool first) {
  const Index len = s.chunk_length(c), p0 = c * kChunkSteps;
  const std::uint16_t* idx = s.chunk(c, b);
  const char* ahead = reinterpret_cast<const char*>(idx) + kPrefetchBytes;
  const std::int16_t* t[NBAT];
  LITTLEBIT_UNROLL
  for (int bt = 0; bt < NBAT; ++bt) t[bt] = tables[bt] + 96 * p0;
  // Widening: vpdpwssd adds adjacent int16 pairs; multiplying by (1, 0) or (0, 1) keeps one of
  // each pair, so even lanes (rows 0, 2, ..) and odd lanes (rows 1, 3, ..) go to their own sums.
  const __m512i even = _mm512_set1_epi32(1), odd = _mm512_set1_epi32(1 << 16);
  __m512i ae[NBAT], ao[NBAT];
  LITTLEBIT_UNROLL
  for (int bt = 0; bt < NBAT; ++bt) ae[bt] = ao[bt] = _mm512_setzero_si512();
  for (Index p = 0; p < len;) {
    const Index end = std::min<Index>(len, p + kFastAccumSteps);
    __m512i s16[NBAT];
    LITTLEBIT_UNROLL
    for (int bt = 0; bt < NBAT; ++bt) s16[bt] = _mm512_setzero_si512();
    for (; p < end; ++p) {
      _mm_prefetch(ahead + 64 * p, _MM_HINT_T1);  // one 64-byte line per step
      const __m512i v0 = _mm512_loadu_si512(idx + 32 * p);
      const __m512i v1 = _mm512_srli_epi16(v0, 5), v2 = _mm512_srli_epi16(v0, 10);  // vpermw: low 5 bits
      LITTLEBIT_UNROLL
      for (int bt = 0; bt < NBAT; ++bt) {
        const std::int16_t* tp = t[bt] + 96 * p;
        const __m512i l0 = _mm512_permutexvar_epi16(v0, _mm512_load_si512(tp));
        const __m512i l1 = _mm512_permutexvar_epi16(v1, _mm512_load_si512(tp + 32));
        const __m512i l2 = _mm512_permutexvar_epi16(v2, _mm512_load_si512(tp + 64));
        s16[bt] = _mm512_add_epi16(s16[bt], _mm512_add_epi16(l0, _mm512_add_epi16(l1, l2)));
      }
    }
    LITTLEBIT_UNROLL
    for (int bt = 0; bt < NBAT; ++bt) {
      ae[bt] = _mm512_dpwssd_epi32(ae[bt], s16[bt], even);
      ao[bt] = _mm512_dpwssd_epi32(ao[bt], s16[bt], odd);
    }
  }
  const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  LITTLEBIT_UNROLL
  for (int bt = 0; bt < NBAT; ++bt) {
    std::int32_t* acc = partial[bt] + 32 * b;
    // Interleave back to row order: rows 0..15 and 16..31.
    __m512i lo = _mm512_permutex2var_epi32(ae[bt], ilo, ao[bt]);
    __m512i hi = _mm512_permutex2var_epi32(ae[bt], ihi, ao[bt]);
    if (!first) {
      lo = _mm512_add_epi32(lo, _mm512_loadu_si512(acc));
      hi = _mm512_add_epi32(hi, _mm512_loadu_si512(acc + 16));
    }
    _mm512_storeu_si512(acc, lo);
    _mm512_storeu_si512(acc + 16, hi);
  }
}

LITTLEBIT_TARGET_AVX512 inline void lut5_avx512(const Lut5Signs& s, const std::int16_t* const* tables,
                                                std::int32_t* const* partial, int nbat, Index block_begin,
                                                Index block_end, Index c, bool first) {
  for (Index b = block_begin; b < block_end; ++b) {
    switch (nbat) {
      case 1: lut5_avx512_tile<1>(s, tables, partial, b, c, first); break;
      case 2: lut5_avx512_tile<2>(s, tables, partial, b, c, first); break;
      case 3: lut5_avx512_tile<3>(s, tables, partial, b, c, first); break;
      default: lut5_avx512_tile<4>(s, tables, partial, b, c, first); break;
    }
  }
}
#endif

}  // namespace detail

/// Exact path: adds chunk c of blocks [block_begin, block_end) into the partial sums (16 per
/// block, padded rows included) of nbat <= kMaxBatchTile activation rows (starts them if first).
inline void lut4_accumulate(Arch arch, const Lut4Signs& s, const float* const* tables, float* const* partial, int nbat,
                            Index block_begin, Index block_end, Index c, bool first) {
#if LITTLEBIT_KERNELS_HAS_AVX512
  if (arch == Arch::kAvx512) return detail::lut4_avx512(s, tables, partial, nbat, block_begin, block_end, c, first);
#endif
#if LITTLEBIT_KERNELS_HAS_AVX2
  if (arch == Arch::kAvx2) return detail::lut4_avx2(s, tables, partial, nbat, block_begin, block_end, c, first);
#endif
  (void)arch;
  detail::lut4_scalar(s, tables, partial, nbat, block_begin, block_end, c, first);
}

/// Fast path: the same with int16 tables and int32 partial sums (32 per block). Every path
/// computes the same integers; AVX-512 is the one built for speed.
inline void lut5_accumulate(Arch arch, const Lut5Signs& s, const std::int16_t* const* tables,
                            std::int32_t* const* partial, int nbat, Index block_begin, Index block_end, Index c,
                            bool first) {
#if LITTLEBIT_KERNELS_HAS_AVX512
  if (arch == Arch::kAvx512) return detail::lut5_avx512(s, tables, partial, nbat, block_begin, block_end, c, first);
#endif
  (void)arch;
  detail::lut5_scalar(s, tables, partial, nbat, block_begin, block_end, c, first);
}

namespace detail {

/// The portable epilogue: xsimd batches of the translation unit's ISA, scalars for the tail.
template <class Acc>
void store_rows_scalar(const LutOutput& o, const Acc* acc, Index row_begin, Index row_end) {
  Index i = row_begin;
#if !defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
  using B = xsimd::batch<float>;
  constexpr Index kLanes = static_cast<Index>(B::size);
  const B scale(o.scale);
  alignas(64) float a[kLanes];
  for (; i + kLanes <= row_end; i += kLanes) {
    for (Index l = 0; l < kLanes; ++l) a[l] = static_cast<float>(acc[i + l]);
    B v = scale * B::load_aligned(a);  // the order of finish(): alpha * (scale * acc) (+ y)
    if (o.alpha != nullptr) v = B::load_unaligned(o.alpha + i) * v;
    if (o.accumulate) v = B::load_unaligned(o.y + i) + v;
    v.store_unaligned(o.y + i);
  }
#endif
  for (; i < row_end; ++i) o.y[i] = finish(o, i, static_cast<float>(acc[i]));
}

#if LITTLEBIT_KERNELS_HAS_AVX512
template <class Acc>
LITTLEBIT_TARGET_AVX512 void store_rows_avx512(const LutOutput& o, const Acc* acc, Index row_begin, Index row_end) {
  const __m512 scale = _mm512_set1_ps(o.scale);
  for (Index i = row_begin; i < row_end; i += 16) {
    const __mmask16 m = static_cast<__mmask16>(row_end - i >= 16 ? 0xffff : (1u << (row_end - i)) - 1);
    __m512 a;
    if constexpr (std::is_same_v<Acc, float>) {
      a = _mm512_maskz_loadu_ps(m, acc + i);
    } else {
      a = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, acc + i));
    }
    __m512 v = _mm512_mul_ps(scale, a);  // the order of finish(): alpha * (scale * acc) (+ y)
    if (o.alpha != nullptr) v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, o.alpha + i), v);
    if (o.accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, o.y + i), v);
    _mm512_mask_storeu_ps(o.y + i, m, v);
  }
}
#endif

}  // namespace detail

/// y[i] = alpha[i] * (scale * acc[i]) (+ y[i]) for rows [row_begin, row_end): the epilogue.
template <class Acc>
void store_rows(Arch arch, const LutOutput& o, const Acc* acc, Index row_begin, Index row_end) {
#if LITTLEBIT_KERNELS_HAS_AVX512
  if (arch == Arch::kAvx512) return detail::store_rows_avx512(o, acc, row_begin, row_end);
#endif
  (void)arch;
  detail::store_rows_scalar(o, acc, row_begin, row_end);
}

}  // namespace littlebit::kernels
LITTLEBIT_KERNELS_END_IGNORE_PR105593
