// littlebit/kernels/popcount_gemm.hpp: products with binarized and int8 activations, on the
// canonical packed layout (both operands packed along the reduction dimension K).
//
//   popcount_gemm:  C(i, j) = sum_k A(i, k) B(j, k) = K - 2 popcount(a_i XOR b_j)   (+1/-1 x +1/-1)
//       reference: ref::popcount_gemm. Padding bits are zero in both operands (BitMatrix keeps
//       them so), so their XOR is zero: whole words are popcounted without masking, except that
//       the last word of a row is masked, as views may show foreign padding.
//   bitserial_gemm: Y(b, i) = sum_k A(i, k) X(b, k) for int8 X, bit-serially. With x_k's two's
//       complement bits x_k = -128 x_k7 + sum_{p<7} 2^p x_kp and P_p the bit-plane of p (packed
//       like a sign row),
//           sum_k s_ik x_kp = popcount(P_p) - 2 popcount(P_p AND a_i)       (s = -1 where a = 1)
//       so Y(b, i) = sum_p w_p (popcount(P_p) - 2 popcount(P_p AND a_i)), w_p = 2^p, w_7 = -128.
//       Exact in int32 for K < 2^23. Reference: ref::sign_gemv on the int8 values.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <span>

#include "littlebit/core/bit_layout.hpp"
#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/matrix_view.hpp"
#include "littlebit/kernels/arch.hpp"

LITTLEBIT_KERNELS_BEGIN_IGNORE_PR105593
namespace littlebit::kernels {

namespace detail {

/// popcount over `words` words of (a XOR b), or (a AND b) with And, the last word masked.
template <bool And>
inline std::int64_t popcount_words_scalar(const layout::Word* a, const layout::Word* b, Index words,
                                          layout::Word last_mask) {
  std::int64_t n = 0;
  for (Index w = 0; w + 1 < words; ++w) n += std::popcount(And ? (a[w] & b[w]) : (a[w] ^ b[w]));
  if (words > 0) n += std::popcount((And ? (a[words - 1] & b[words - 1]) : (a[words - 1] ^ b[words - 1])) & last_mask);
  return n;
}

#if LITTLEBIT_KERNELS_HAS_AVX2
template <bool And>
LITTLEBIT_TARGET_AVX2 std::int64_t popcount_words_avx2(const layout::Word* a, const layout::Word* b, Index words,
                                                       layout::Word last_mask) {
  // Hardware POPCNT, four independent sums.
  std::int64_t n0 = 0, n1 = 0, n2 = 0, n3 = 0;
  Index w = 0;
  for (; w + 4 < words; w += 4) {
    n0 += _mm_popcnt_u64(And ? (a[w] & b[w]) : (a[w] ^ b[w]));
    n1 += _mm_popcnt_u64(And ? (a[w + 1] & b[w + 1]) : (a[w + 1] ^ b[w + 1]));
    n2 += _mm_popcnt_u64(And ? (a[w + 2] & b[w + 2]) : (a[w + 2] ^ b[w + 2]));
    n3 += _mm_popcnt_u64(And ? (a[w + 3] & b[w + 3]) : (a[w + 3] ^ b[w + 3]));
  }
  for (; w + 1 < words; ++w) n0 += _mm_popcnt_u64(And ? (a[w] & b[w]) : (a[w] ^ b[w]));
  if (words > 0) n0 += _mm_popcnt_u64((And ? (a[words - 1] & b[words - 1]) : (a[words - 1] ^ b[words - 1])) & last_mask);
  return n0 + n1 + n2 + n3;
}
#endif

#if LITTLEBIT_KERNELS_HAS_AVX512
/// VPOPCNTDQ: 8 words per instruction; a masked load covers the tail.
template <bool And>
LITTLEBIT_TARGET_AVX512 std::int64_t popcount_words_avx512(const layout::Word* a, const layout::Word* b, Index words,
                                                           layout::Word last_mask) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
  Index w = 0;
  for (; w + 16 <= words; w += 16) {
    const __m512i x0 = And ? _mm512_and_si512(_mm512_loadu_si512(a + w), _mm512_loadu_si512(b + w))
                           : _mm512_xor_si512(_mm512_loadu_si512(a + w), _mm512_loadu_si512(b + w));
    const __m512i x1 = And ? _mm512_and_si512(_mm512_loadu_si512(a + w + 8), _mm512_loadu_si512(b + w + 8))
                           : _mm512_xor_si512(_mm512_loadu_si512(a + w + 8), _mm512_loadu_si512(b + w + 8));
    acc0 = _mm512_add_epi64(acc0, _mm512_popcnt_epi64(x0));
    acc1 = _mm512_add_epi64(acc1, _mm512_popcnt_epi64(x1));
  }
  for (; w < words; w += 8) {
    const Index n = words - w < 8 ? words - w : 8;
    const __mmask8 m = static_cast<__mmask8>((1u << n) - 1);
    __m512i x = And ? _mm512_and_si512(_mm512_maskz_loadu_epi64(m, a + w), _mm512_maskz_loadu_epi64(m, b + w))
                    : _mm512_xor_si512(_mm512_maskz_loadu_epi64(m, a + w), _mm512_maskz_loadu_epi64(m, b + w));
    if (w + n == words)  // the row's last word: keep only its logical bits
      x = _mm512_mask_and_epi64(x, static_cast<__mmask8>(1u << (n - 1)), x,
                                _mm512_set1_epi64(static_cast<long long>(last_mask)));
    acc0 = _mm512_add_epi64(acc0, _mm512_popcnt_epi64(x));
  }
  return _mm512_reduce_add_epi64(_mm512_add_epi64(acc0, acc1));
}
#endif

template <bool And>
std::int64_t popcount_words(Arch arch, const layout::Word* a, const layout::Word* b, Index words,
                            layout::Word last_mask) {
#if LITTLEBIT_KERNELS_HAS_AVX512
  if (arch == Arch::kAvx512) return popcount_words_avx512<And>(a, b, words, last_mask);
#endif
#if LITTLEBIT_KERNELS_HAS_AVX2
  if (arch == Arch::kAvx2) return popcount_words_avx2<And>(a, b, words, last_mask);
#endif
  (void)arch;
  return popcount_words_scalar<And>(a, b, words, last_mask);
}

inline void check_k(Index ka, Index kb, const char* what) {
  if (ka != kb) littlebit::detail::fail(what, ": reduction lengths differ, ", ka, " vs ", kb);
}

}  // namespace detail

/// C(i, j) = dot(a_i, b_j) for +1/-1 rows packed along K; C is a.rows() x b.rows().
inline void popcount_gemm(BitMatrixView a, BitMatrixView b, MatrixView<std::int32_t> c, Arch arch = default_arch()) {
  detail::check_k(a.cols(), b.cols(), "kernels::popcount_gemm");
  littlebit::detail::check_shape(c, a.rows(), b.rows(), "kernels::popcount_gemm C");
  if (!arch_supported(arch)) littlebit::detail::fail("kernels::popcount_gemm: path ", arch_name(arch), " unavailable");
  const Index k = a.cols(), words = layout::words_for(k);
  const layout::Word mask = k > 0 ? layout::tail_mask(k) : 0;
  for (Index i = 0; i < a.rows(); ++i)
    for (Index j = 0; j < b.rows(); ++j)
      c(i, j) = static_cast<std::int32_t>(
          k - 2 * detail::popcount_words<false>(arch, a.row_data(i), b.row_data(j), words, mask));
}

/// c[i] = dot(a_i, b) for one packed row b (1 x K).
inline void popcount_gemv(BitMatrixView a, BitMatrixView b, std::span<std::int32_t> c, Arch arch = default_arch()) {
  if (b.rows() != 1) littlebit::detail::fail("kernels::popcount_gemv: b must have 1 row, found ", b.rows());
  if (static_cast<Index>(c.size()) != a.rows())
    littlebit::detail::fail("kernels::popcount_gemv c: expected length ", a.rows(), ", found ", c.size());
  popcount_gemm(a, b, MatrixView<std::int32_t>(c.data(), a.rows(), 1), arch);
}

/// The 8 bit-planes of an int8 vector, each packed like a sign row of length x.size().
class BitPlanes {
 public:
  BitPlanes() = default;
  explicit BitPlanes(std::span<const std::int8_t> x) : planes_(8, static_cast<Index>(x.size())) {
    for (Index j = 0; j < static_cast<Index>(x.size()); ++j) {
      const auto v = static_cast<std::uint8_t>(x[static_cast<std::size_t>(j)]);
      for (Index p = 0; p < 8; ++p)
        if ((v >> p) & 1u) {
          planes_.set_bit(p, j, 1);
          ++counts_[static_cast<std::size_t>(p)];
        }
    }
  }
  const BitMatrix& planes() const { return planes_; }
  /// popcount of plane p (the number of k with bit p of x_k set).
  std::int64_t count(Index p) const { return counts_[static_cast<std::size_t>(p)]; }
  Index size() const { return planes_.cols(); }

 private:
  BitMatrix planes_;
  std::array<std::int64_t, 8> counts_{};
};

/// y[i] = sum_k A(i, k) x_k for int8 x given as its bit-planes (see the file comment).
inline void bitserial_gemv(BitMatrixView a, const BitPlanes& x, std::span<std::int32_t> y, Arch arch = default_arch()) {
  detail::check_k(a.cols(), x.size(), "kernels::bitserial_gemv");
  if (static_cast<Index>(y.size()) != a.rows())
    littlebit::detail::fail("kernels::bitserial_gemv y: expected length ", a.rows(), ", found ", y.size());
  if (!arch_supported(arch)) littlebit::detail::fail("kernels::bitserial_gemv: path ", arch_name(arch), " unavailable");
  const Index k = a.cols(), words = layout::words_for(k);
  const layout::Word mask = k > 0 ? layout::tail_mask(k) : 0;
  for (Index i = 0; i < a.rows(); ++i) {
    std::int64_t acc = 0;
    for (Index p = 0; p < 8; ++p) {
      const std::int64_t w = p == 7 ? -128 : (std::int64_t{1} << p);
      const std::int64_t neg = detail::popcount_words<true>(arch, x.planes().row_data(p), a.row_data(i), words, mask);
      acc += w * (x.count(p) - 2 * neg);
    }
    y[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(acc);
  }
}

/// Y(b, i) = sum_k A(i, k) X(b, k) for int8 activations X (batch x K, contiguous rows).
inline void bitserial_gemm(BitMatrixView a, MatrixView<const std::int8_t> x, MatrixView<std::int32_t> y,
                           Arch arch = default_arch()) {
  littlebit::detail::check_shape(x, x.rows(), a.cols(), "kernels::bitserial_gemm X");
  littlebit::detail::check_shape(y, x.rows(), a.rows(), "kernels::bitserial_gemm Y");
  if (!x.rows_contiguous() || !y.rows_contiguous())
    littlebit::detail::fail("kernels::bitserial_gemm: X and Y rows must be contiguous");
  for (Index b = 0; b < x.rows(); ++b) {
    const BitPlanes planes(std::span<const std::int8_t>(x.row(b), static_cast<std::size_t>(a.cols())));
    bitserial_gemv(a, planes, std::span<std::int32_t>(y.row(b), static_cast<std::size_t>(a.rows())), arch);
  }
}

}  // namespace littlebit::kernels
LITTLEBIT_KERNELS_END_IGNORE_PR105593
