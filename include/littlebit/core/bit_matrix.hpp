// littlebit/core/bit_matrix.hpp: the owning packed sign matrix and its non-owning views.
//
// Storage follows core/bit_layout.hpp: one row after another, each row_stride_words(cols)
// words long and 64-byte aligned, padding bits zero. A BitMatrix always keeps its padding
// zero; a view does not enforce it (it may look at foreign memory) but every kernel reads
// only the logical `cols` bits of a row.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

#include "littlebit/core/bit_layout.hpp"
#include "littlebit/core/config.hpp"
#include "littlebit/core/error.hpp"

namespace littlebit {

using layout::Word;

/// Non-owning view of a packed rows x cols sign matrix. W is Word or const Word.
template <class W>
class BasicBitMatrixView {
  static_assert(std::is_same_v<std::remove_const_t<W>, Word>, "BasicBitMatrixView holds Words");

 public:
  constexpr BasicBitMatrixView() = default;
  /// `stride_words` is the distance between rows in words; at least words_for(cols).
  constexpr BasicBitMatrixView(W* data, Index rows, Index cols, Index stride_words)
      : data_(data), rows_(rows), cols_(cols), stride_(stride_words) {
    if (rows < 0 || cols < 0) detail::fail("BitMatrixView: negative shape ", rows, " x ", cols);
    if (stride_words < layout::words_for(cols))
      detail::fail("BitMatrixView: row stride of ", stride_words, " words is shorter than the ",
                   layout::words_for(cols), " words of a ", cols, "-column row");
  }
  /// A const view of a mutable one.
  template <class U>
    requires(std::is_const_v<W> && std::is_same_v<U, Word>)
  constexpr BasicBitMatrixView(const BasicBitMatrixView<U>& other)  // NOLINT(google-explicit-constructor)
      : data_(other.data()), rows_(other.rows()), cols_(other.cols()), stride_(other.stride_words()) {}

  constexpr W* data() const { return data_; }
  constexpr Index rows() const { return rows_; }
  constexpr Index cols() const { return cols_; }
  constexpr Index stride_words() const { return stride_; }
  /// Words holding the logical bits of one row: words_for(cols).
  constexpr Index row_words() const { return layout::words_for(cols_); }
  constexpr bool empty() const { return rows_ == 0 || cols_ == 0; }

  constexpr W* row_data(Index i) const { return data_ + i * stride_; }
  /// The logical words of row i (padding words after them excluded).
  constexpr std::span<W> row(Index i) const { return {row_data(i), static_cast<std::size_t>(row_words())}; }

  /// Bit of element (i, j): 1 for -1, 0 for +1.
  constexpr Word bit(Index i, Index j) const { return layout::get_bit(row_data(i), j); }
  /// Element (i, j) as +1 or -1.
  constexpr int sign(Index i, Index j) const { return layout::sign_of_bit(bit(i, j)); }

  /// Rows [begin, begin + count), no copy.
  constexpr BasicBitMatrixView middle_rows(Index begin, Index count) const {
    if (begin < 0 || count < 0 || begin + count > rows_)
      detail::fail("BitMatrixView: rows [", begin, ", ", begin + count, ") out of range for ", rows_, " rows");
    return BasicBitMatrixView(data_ + begin * stride_, count, cols_, stride_);
  }

 private:
  W* data_ = nullptr;
  Index rows_ = 0;
  Index cols_ = 0;
  Index stride_ = 0;
};

using BitMatrixView = BasicBitMatrixView<const Word>;
using MutableBitMatrixView = BasicBitMatrixView<Word>;

/// Owning packed sign matrix, rows padded to 64 bytes, all bits zero (+1) at construction.
class BitMatrix {
 public:
  BitMatrix() = default;
  BitMatrix(Index rows, Index cols) : rows_(rows), cols_(cols), stride_(layout::row_stride_words(cols)) {
    if (rows < 0 || cols < 0) detail::fail("BitMatrix: negative shape ", rows, " x ", cols);
    if (rows > 0 && stride_ > 0 && rows > kMaxWords / stride_)
      detail::fail("BitMatrix: ", rows, " x ", cols, " is too large to allocate");
    const Index n = rows_ * stride_;
    if (n > 0) {
      words_.reset(static_cast<Word*>(
          ::operator new[](static_cast<std::size_t>(n) * sizeof(Word), std::align_val_t{layout::kRowAlignBytes})));
      std::fill_n(words_.get(), n, Word{0});
    }
  }

  BitMatrix(const BitMatrix& other) : BitMatrix(other.rows_, other.cols_) {
    if (other.size_words() > 0) std::memcpy(words_.get(), other.words_.get(), size_bytes());
  }
  BitMatrix& operator=(const BitMatrix& other) {
    if (this != &other) *this = BitMatrix(other);
    return *this;
  }
  BitMatrix(BitMatrix&& other) noexcept
      : words_(std::move(other.words_)), rows_(other.rows_), cols_(other.cols_), stride_(other.stride_) {
    other.rows_ = other.cols_ = other.stride_ = 0;
  }
  BitMatrix& operator=(BitMatrix&& other) noexcept {
    words_ = std::move(other.words_);
    rows_ = std::exchange(other.rows_, 0);
    cols_ = std::exchange(other.cols_, 0);
    stride_ = std::exchange(other.stride_, 0);
    return *this;
  }
  ~BitMatrix() = default;

  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  Index stride_words() const { return stride_; }
  Index row_words() const { return layout::words_for(cols_); }
  bool empty() const { return rows_ == 0 || cols_ == 0; }
  /// Words of storage, padding included: rows * stride_words.
  Index size_words() const { return rows_ * stride_; }
  std::size_t size_bytes() const { return static_cast<std::size_t>(size_words()) * sizeof(Word); }

  const Word* data() const { return words_.get(); }
  Word* data() { return words_.get(); }
  const Word* row_data(Index i) const { return words_.get() + i * stride_; }
  Word* row_data(Index i) { return words_.get() + i * stride_; }

  Word bit(Index i, Index j) const { return layout::get_bit(row_data(i), j); }
  int sign(Index i, Index j) const { return layout::sign_of_bit(bit(i, j)); }
  /// Sets element (i, j) to -1 (bit = 1) or +1 (bit = 0).
  void set_bit(Index i, Index j, Word bit) { layout::set_bit(row_data(i), j, bit); }

  BitMatrixView view() const { return {data(), rows_, cols_, stride_}; }
  MutableBitMatrixView mutable_view() { return {data(), rows_, cols_, stride_}; }
  operator BitMatrixView() const { return view(); }  // NOLINT(google-explicit-constructor)

  /// True when every padding bit (after `cols` in each row, up to the stride) is zero.
  bool padding_is_zero() const {
    const Index used = row_words();
    for (Index i = 0; i < rows_; ++i) {
      const Word* r = row_data(i);
      if (used > 0 && (r[used - 1] & ~layout::tail_mask(cols_)) != 0) return false;
      for (Index w = used; w < stride_; ++w)
        if (r[w] != 0) return false;
    }
    return true;
  }

  /// Clears the padding bits of every row (after writing whole words into a row).
  void clear_padding() {
    const Index used = row_words();
    for (Index i = 0; i < rows_; ++i) {
      Word* r = row_data(i);
      if (used > 0) r[used - 1] &= layout::tail_mask(cols_);
      std::fill(r + used, r + stride_, Word{0});
    }
  }

  friend bool operator==(const BitMatrix& a, const BitMatrix& b) {
    if (a.rows_ != b.rows_ || a.cols_ != b.cols_) return false;
    return a.size_words() == 0 || std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
  }

 private:
  struct AlignedDelete {
    void operator()(Word* p) const { ::operator delete[](p, std::align_val_t{layout::kRowAlignBytes}); }
  };
  static constexpr Index kMaxWords = Index{1} << 56;

  std::unique_ptr<Word[], AlignedDelete> words_;
  Index rows_ = 0;
  Index cols_ = 0;
  Index stride_ = 0;
};

}  // namespace littlebit
