// littlebit/ref/popcount_gemm.hpp: products of two packed sign matrices, exact in int32.
//
// For +1/-1 vectors a, b of length K packed as bits (1 = -1):
//     dot(a, b) = (#agreeing) - (#disagreeing) = K - 2 * popcount(a XOR b).
// Both operands' padding bits beyond K are zero (BitMatrix keeps them so), but a view may look
// at foreign memory: the last word is masked to the logical K bits here.
#pragma once

#include <bit>
#include <cstdint>
#include <span>

#include "littlebit/core/bit_layout.hpp"
#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/matrix_view.hpp"

namespace littlebit::ref {

/// dot of row i of a with row j of b, both of length a.cols() == b.cols().
inline std::int32_t sign_dot(BitMatrixView a, Index i, BitMatrixView b, Index j) {
  const Index k = a.cols();
  const Index words = layout::words_for(k);
  std::int64_t ones = 0;
  for (Index w = 0; w < words; ++w) {
    Word x = a.row_data(i)[w] ^ b.row_data(j)[w];
    if (w == words - 1) x &= layout::tail_mask(k);
    ones += std::popcount(x);
  }
  return static_cast<std::int32_t>(k - 2 * ones);  // K - 2 popcount(a XOR b)
}

/// c[i] = sum_k A(i, k) b(k): b is one packed row of a.cols() signs.
inline void popcount_gemv(BitMatrixView a, BitMatrixView b, std::span<std::int32_t> c) {
  if (b.rows() != 1 || b.cols() != a.cols())
    littlebit::detail::fail("ref::popcount_gemv: b must be 1 x ", a.cols(), ", found ", b.rows(), " x ", b.cols());
  if (static_cast<Index>(c.size()) != a.rows())
    littlebit::detail::fail("ref::popcount_gemv c: expected length ", a.rows(), ", found ", c.size());
  for (Index i = 0; i < a.rows(); ++i) c[static_cast<std::size_t>(i)] = sign_dot(a, i, b, 0);
}

/// C(i, j) = sum_k A(i, k) B(j, k): both operands packed along the reduction dimension K;
/// C is a.rows() x b.rows().
inline void popcount_gemm(BitMatrixView a, BitMatrixView b, MatrixView<std::int32_t> c) {
  if (b.cols() != a.cols())
    littlebit::detail::fail("ref::popcount_gemm: reduction lengths differ, a has ", a.cols(), " columns, b has ",
                            b.cols());
  littlebit::detail::check_shape(c, a.rows(), b.rows(), "ref::popcount_gemm C");
  for (Index i = 0; i < a.rows(); ++i)
    for (Index j = 0; j < b.rows(); ++j) c(i, j) = sign_dot(a, i, b, j);
}

}  // namespace littlebit::ref
