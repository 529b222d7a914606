// littlebit/core/matrix_view.hpp: a non-owning strided view of a dense matrix.
//
// The library's kernels take dense operands as MatrixView<T> (T may be const), so they work on
// Eigen matrices (either storage order), mapped files and plain buffers alike without copying.
#pragma once

#include <concepts>
#include <type_traits>

#include "littlebit/core/config.hpp"
#include "littlebit/core/error.hpp"

namespace littlebit {

/// View of a rows x cols matrix: element (i, j) is data[i * row_stride + j * col_stride].
/// A row-major contiguous matrix has (row_stride, col_stride) = (cols, 1).
template <class T>
class MatrixView {
 public:
  using value_type = std::remove_const_t<T>;

  constexpr MatrixView() = default;
  constexpr MatrixView(T* data, Index rows, Index cols, Index row_stride, Index col_stride = 1)
      : data_(data), rows_(rows), cols_(cols), row_stride_(row_stride), col_stride_(col_stride) {
    if (rows < 0 || cols < 0) detail::fail("MatrixView: negative shape ", rows, " x ", cols);
  }
  /// Row-major contiguous.
  constexpr MatrixView(T* data, Index rows, Index cols) : MatrixView(data, rows, cols, cols, 1) {}

  /// A const view of a mutable one.
  template <class U>
    requires(std::is_const_v<T> && std::same_as<std::remove_const_t<T>, U>)
  constexpr MatrixView(const MatrixView<U>& other)  // NOLINT(google-explicit-constructor)
      : MatrixView(other.data(), other.rows(), other.cols(), other.row_stride(), other.col_stride()) {}

  constexpr T* data() const { return data_; }
  constexpr Index rows() const { return rows_; }
  constexpr Index cols() const { return cols_; }
  constexpr Index row_stride() const { return row_stride_; }
  constexpr Index col_stride() const { return col_stride_; }
  constexpr Index size() const { return rows_ * cols_; }
  constexpr bool empty() const { return rows_ == 0 || cols_ == 0; }
  /// True when each row is contiguous (col_stride == 1).
  constexpr bool rows_contiguous() const { return col_stride_ == 1; }

  constexpr T& operator()(Index i, Index j) const { return data_[i * row_stride_ + j * col_stride_]; }
  constexpr T* row(Index i) const { return data_ + i * row_stride_; }

  /// Rows [begin, begin + count).
  constexpr MatrixView middle_rows(Index begin, Index count) const {
    return MatrixView(data_ + begin * row_stride_, count, cols_, row_stride_, col_stride_);
  }
  /// The transpose, without copying.
  constexpr MatrixView transposed() const { return MatrixView(data_, cols_, rows_, col_stride_, row_stride_); }

 private:
  T* data_ = nullptr;
  Index rows_ = 0;
  Index cols_ = 0;
  Index row_stride_ = 0;
  Index col_stride_ = 1;
};

/// Anything with data(), rows(), cols(), rowStride() and colStride(): Eigen's dense matrices,
/// maps, blocks and Refs, in either storage order.
template <class M>
concept EigenDenseLike = requires(M& m) {
  m.data();
  { m.rows() } -> std::convertible_to<Index>;
  { m.cols() } -> std::convertible_to<Index>;
  { m.rowStride() } -> std::convertible_to<Index>;
  { m.colStride() } -> std::convertible_to<Index>;
};

/// A view of an Eigen dense object (no copy). The object must outlive the view.
template <EigenDenseLike M>
auto view(M& m) {
  using P = std::remove_pointer_t<decltype(m.data())>;
  return MatrixView<P>(m.data(), static_cast<Index>(m.rows()), static_cast<Index>(m.cols()),
                       static_cast<Index>(m.rowStride()), static_cast<Index>(m.colStride()));
}

namespace detail {

/// Throws unless `v` is rows x cols; `what` names the operand in the message.
template <class T>
void check_shape(const MatrixView<T>& v, Index rows, Index cols, const char* what) {
  if (v.rows() != rows || v.cols() != cols)
    fail(what, ": expected shape ", rows, " x ", cols, ", found ", v.rows(), " x ", v.cols());
}

}  // namespace detail
}  // namespace littlebit
