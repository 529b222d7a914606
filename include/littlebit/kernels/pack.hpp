// littlebit/kernels/pack.hpp: packing the signs of float matrices fast (the training layer packs
// sign(U) and sign(V) at every forward).
//
//   out(i, j) = bit of sign(in(i, j)): 1 for negative values, 0 for +0, -0 and positive ones
//
// (reference: core/pack.hpp pack_signs, the same bits and the same error on NaN). The AVX-512 path
// compares 16 floats per instruction into a mask (vcmpps: less than zero, ordered; unordered
// flags NaN) and stores four masks as one 64-bit word. Rows are split between threads.
#pragma once

#include <cstdint>
#include <string_view>

#include "littlebit/core/bit_layout.hpp"
#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/matrix_view.hpp"
#include "littlebit/core/pack.hpp"
#include "littlebit/kernels/arch.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

LITTLEBIT_KERNELS_BEGIN_IGNORE_PR105593
namespace littlebit::kernels {

namespace detail {

#if LITTLEBIT_KERNELS_HAS_AVX512
/// Packs one contiguous row of `cols` floats; returns false when it holds a NaN.
LITTLEBIT_TARGET_AVX512 inline bool pack_row_avx512(const float* in, Index cols, layout::Word* out) {
  const __m512 zero = _mm512_setzero_ps();
  __mmask16 nan = 0;
  for (Index w = 0; w < layout::words_for(cols); ++w) {
    layout::Word word = 0;
    for (int q = 0; q < 4; ++q) {
      const Index j = w * 64 + q * 16;
      if (j >= cols) break;
      const __mmask16 m = cols - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (cols - j)) - 1);
      const __m512 v = _mm512_maskz_loadu_ps(m, in + j);
      nan |= _mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q);
      word |= static_cast<layout::Word>(_mm512_mask_cmp_ps_mask(m, v, zero, _CMP_LT_OQ)) << (16 * q);
    }
    out[w] = word;
  }
  return nan == 0;
}
#endif

}  // namespace detail

/// Packs the signs of `in` (float, contiguous rows) into `out` (same shape), padding bits zero;
/// raises littlebit::Error naming `what` and the element on NaN. threads = 0: all of OpenMP's.
inline void pack_signs_fast(MatrixView<const float> in, BitMatrix& out, std::string_view what = "pack_signs",
                            int threads = 0, Arch arch = default_arch()) {
  if (out.rows() != in.rows() || out.cols() != in.cols()) out = BitMatrix(in.rows(), in.cols());
  const bool fast = arch == Arch::kAvx512 && arch_supported(Arch::kAvx512) && in.rows_contiguous();
  if (!fast) {
    pack_signs(in, out, what);
    return;
  }
#if LITTLEBIT_KERNELS_HAS_AVX512
  Index bad_row = -1;
#if defined(_OPENMP)
  const int nt = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for schedule(static) num_threads(nt) if (in.rows() * in.cols() > 65536)
#else
  (void)threads;
#endif
  for (Index i = 0; i < in.rows(); ++i) {
    layout::Word* row = out.row_data(i);
    if (!detail::pack_row_avx512(in.row(i), in.cols(), row)) {
#if defined(_OPENMP)
#pragma omp critical(littlebit_pack_nan)
#endif
      if (bad_row < 0 || i < bad_row) bad_row = i;
    }
    for (Index w = layout::words_for(in.cols()); w < out.stride_words(); ++w) row[w] = 0;
  }
  if (bad_row >= 0)  // the same message as core's pack_signs
    for (Index j = 0; j < in.cols(); ++j)
      if (in(bad_row, j) != in(bad_row, j))
        littlebit::detail::fail(what, ": element (", bad_row, ", ", j, ") is NaN and has no sign");
#endif
}

}  // namespace littlebit::kernels
LITTLEBIT_KERNELS_END_IGNORE_PR105593
