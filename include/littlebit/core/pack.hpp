// littlebit/core/pack.hpp: float/integer matrices <-> packed sign matrices, and the official
// checkpoint's int32 layout <-> BitMatrix.
//
// Reference semantics: bit(i, j) = 1 iff value(i, j) < 0, so sign(0) = sign(-0) = +1 as in the
// official implementation (x.sign() with 0 mapped to +1). NaN has no sign: packing one raises
// littlebit::Error naming the element. ref/pack.hpp is the element-by-element twin.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "littlebit/core/bit_layout.hpp"
#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/core/matrix_view.hpp"

namespace littlebit {

namespace detail {

/// The value whose sign is packed: floating types as themselves, FP16/BF16 widened to float,
/// integers as themselves.
template <class T>
auto sign_source(T v) {
  if constexpr (std::is_arithmetic_v<T>) {
    return v;
  } else {
    return static_cast<float>(v);
  }
}

template <class V>
bool is_nan(V v) {
  if constexpr (std::is_floating_point_v<V>) {
    return v != v;
  } else {
    return false;
  }
}

}  // namespace detail

/// Packs the signs of a dense matrix into `out` (same shape), padding bits zero.
template <class T>
void pack_signs(MatrixView<const T> in, BitMatrix& out, std::string_view what = "pack_signs") {
  if (out.rows() != in.rows() || out.cols() != in.cols())
    detail::fail(what, ": output is ", out.rows(), " x ", out.cols(), ", input is ", in.rows(), " x ", in.cols());
  const Index cols = in.cols();
  for (Index i = 0; i < in.rows(); ++i) {
    Word* row = out.row_data(i);
    for (Index w = 0; w < layout::words_for(cols); ++w) {
      const Index j0 = w * layout::kWordBits;
      const Index j1 = std::min(cols, j0 + layout::kWordBits);
      // NaN is flagged over the word and located only when present.
      Word word = 0;
      bool nan = false;
      for (Index j = j0; j < j1; ++j) {
        const auto v = detail::sign_source(in(i, j));
        nan |= detail::is_nan(v);
        word |= layout::sign_bit(v) << static_cast<unsigned>(j - j0);
      }
      if (nan) {
        for (Index j = j0; j < j1; ++j)
          if (detail::is_nan(detail::sign_source(in(i, j))))
            detail::fail(what, ": element (", i, ", ", j, ") is NaN and has no sign");
      }
      row[w] = word;
    }
    std::fill(row + layout::words_for(cols), row + out.stride_words(), Word{0});
  }
}

/// Packs the signs of a dense matrix into a new BitMatrix of the same shape.
template <class T>
BitMatrix pack_signs(MatrixView<const T> in, std::string_view what = "pack_signs") {
  BitMatrix out(in.rows(), in.cols());
  pack_signs(in, out, what);
  return out;
}
template <class T>
  requires(!std::is_const_v<T>)
BitMatrix pack_signs(MatrixView<T> in, std::string_view what = "pack_signs") {
  return pack_signs(MatrixView<const T>(in), what);
}

/// Packs the signs of an Eigen dense object (any storage order).
template <EigenDenseLike M>
BitMatrix pack_signs(const M& m, std::string_view what = "pack_signs") {
  return pack_signs(view(m), what);
}

/// Writes the +1/-1 values of `in` into `out` (same shape).
template <class T>
void unpack_signs(BitMatrixView in, MatrixView<T> out) {
  static_assert(!std::is_const_v<T>, "unpack_signs writes into its output");
  detail::check_shape(out, in.rows(), in.cols(), "unpack_signs output");
  for (Index i = 0; i < in.rows(); ++i)
    for (Index j = 0; j < in.cols(); ++j) out(i, j) = static_cast<T>(in.sign(i, j));
}

/// The +1/-1 values of `in`, row-major.
template <class T>
std::vector<T> unpack_signs(BitMatrixView in) {
  std::vector<T> out(static_cast<std::size_t>(in.rows() * in.cols()));
  unpack_signs(in, MatrixView<T>(out.data(), in.rows(), in.cols()));
  return out;
}

/// Reads the official LittleBit packed layout: rows x ceil(cols / 32) int32 words, row-major,
/// least significant bit first, bit 1 = -1, padding bits 0 (+1). Raises littlebit::Error naming
/// `what` when the word count does not match the shape or a padding bit is set.
inline BitMatrix import_official(std::span<const std::int32_t> words, Index rows, Index cols,
                                 std::string_view what = "packed signs") {
  if (rows < 0 || cols < 0) detail::fail(what, ": negative shape ", rows, " x ", cols);
  const Index per_row = layout::official_words_for(cols);
  if (per_row > 0 && rows > static_cast<Index>(words.size()) / per_row + 1)
    detail::fail(what, ": a ", rows, " x ", cols, " sign matrix needs more than the ", words.size(), " int32 words given");
  if (static_cast<Index>(words.size()) != rows * per_row)
    detail::fail(what, ": a ", rows, " x ", cols, " sign matrix packs into ", rows * per_row, " int32 words (", rows,
                 " x ", per_row, "), found ", words.size());
  BitMatrix out(rows, cols);
  const Index tail_bits = cols % layout::kOfficialWordBits;
  for (Index i = 0; i < rows; ++i) {
    const std::int32_t* src = words.data() + i * per_row;
    if (tail_bits != 0) {
      const auto last = static_cast<std::uint32_t>(src[per_row - 1]);
      if ((last >> tail_bits) != 0)
        detail::fail(what, ": row ", i, " has padding bits set after column ", cols,
                     " (the official layout pads with +1, bit 0)");
    }
    // Little-endian: the bytes of the official row are the bytes of our row.
    std::memcpy(out.row_data(i), src, static_cast<std::size_t>(per_row) * sizeof(std::int32_t));
  }
  return out;
}

/// Writes the official LittleBit packed layout (see import_official).
inline std::vector<std::int32_t> export_official(BitMatrixView in) {
  const Index per_row = layout::official_words_for(in.cols());
  std::vector<std::int32_t> out(static_cast<std::size_t>(in.rows() * per_row));
  const Index tail_bits = in.cols() % layout::kOfficialWordBits;
  for (Index i = 0; i < in.rows(); ++i) {
    std::int32_t* dst = out.data() + i * per_row;
    std::memcpy(dst, in.row_data(i), static_cast<std::size_t>(per_row) * sizeof(std::int32_t));
    if (tail_bits != 0)  // a view's padding is not guaranteed zero: mask it
      dst[per_row - 1] = static_cast<std::int32_t>(static_cast<std::uint32_t>(dst[per_row - 1]) &
                                                   ((std::uint32_t{1} << tail_bits) - 1));
  }
  return out;
}

}  // namespace littlebit
