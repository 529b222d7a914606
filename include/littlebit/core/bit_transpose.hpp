// littlebit/core/bit_transpose.hpp: the transpose of a packed sign matrix, without unpacking.
//
//   transpose(S)(j, i) = S(i, j)
//
// (reference: get/set every bit, which the tests compare against). Works on 64 x 64 bit tiles:
// a tile's 64 words are transposed in place by log2(64) = 6 rounds of block swaps (round j swaps
// the upper j columns of row k with the lower j columns of row k + j, for every pair of j-blocks),
// ~400 word operations per 4096 bits. The training layer needs U_sign^T and V_sign^T for its
// backward products every step; re-packing them from the latent floats would cost a pass over
// each latent matrix.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "littlebit/core/bit_layout.hpp"
#include "littlebit/core/bit_matrix.hpp"

namespace littlebit {

namespace detail {

/// In place: bit c of word r becomes bit r of word c (bits least significant first).
inline void transpose_64x64(std::array<layout::Word, 64>& a) {
  layout::Word mask = 0x00000000FFFFFFFFull;
  for (unsigned j = 32; j != 0; j >>= 1, mask ^= mask << j) {
    for (unsigned k = 0; k < 64; k = ((k | j) + 1) & ~j) {
      const layout::Word t = ((a[k] >> j) ^ a[k | j]) & mask;
      a[k] ^= t << j;
      a[k | j] ^= t;
    }
  }
}

}  // namespace detail

/// The cols x rows transpose of `s`, padding bits zero.
inline BitMatrix transpose(BitMatrixView s) {
  BitMatrix out(s.cols(), s.rows());
  std::array<layout::Word, 64> tile{};
  for (Index i0 = 0; i0 < s.rows(); i0 += 64) {
    const Index ni = std::min<Index>(64, s.rows() - i0);
    for (Index w = 0; w < s.row_words(); ++w) {
      const Index j0 = w * layout::kWordBits;
      const Index nj = std::min<Index>(64, s.cols() - j0);
      const layout::Word keep = layout::tail_mask(nj);  // a view's padding bits are not guaranteed zero
      for (Index k = 0; k < 64; ++k) tile[static_cast<std::size_t>(k)] = k < ni ? s.row_data(i0 + k)[w] & keep : 0;
      detail::transpose_64x64(tile);
      // Row j0 + c of the output gets bits [i0, i0 + ni) = tile[c], in word i0 / 64.
      for (Index c = 0; c < nj; ++c) out.row_data(j0 + c)[i0 / layout::kWordBits] = tile[static_cast<std::size_t>(c)];
    }
  }
  return out;
}

}  // namespace littlebit
