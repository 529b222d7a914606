// littlebit/ref/sign_gemm.hpp: products of a packed sign matrix with real vectors and matrices.
//
// S is the rows x cols matrix of +1/-1 that `a` packs. Plain loops, double accumulation; the
// result is rounded once into the output type. These define what the fast kernels compute.
// Inputs may be views of const or mutable data (T may be const); outputs are mutable.
#pragma once

#include <span>

#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/core/matrix_view.hpp"

namespace littlebit::ref {

namespace detail {
inline void check_length(std::size_t found, Index expected, const char* what) {
  if (static_cast<Index>(found) != expected)
    littlebit::detail::fail(what, ": expected length ", expected, ", found ", found);
}
}  // namespace detail

/// y = S x:  y[i] = sum_j S(i, j) x[j].  x has a.cols() entries, y a.rows().
/// (The forward's V_sign^T (g . x) with V packed r x n, and U_sign t with U packed m x r.)
template <class T, class Out>
void sign_gemv(BitMatrixView a, std::span<T> x, std::span<Out> y) {
  detail::check_length(x.size(), a.cols(), "ref::sign_gemv x");
  detail::check_length(y.size(), a.rows(), "ref::sign_gemv y");
  for (Index i = 0; i < a.rows(); ++i) {
    double acc = 0.0;
    for (Index j = 0; j < a.cols(); ++j) acc += a.sign(i, j) * to_double(x[static_cast<std::size_t>(j)]);
    y[static_cast<std::size_t>(i)] = from_double<Out>(acc);
  }
}

/// y = S^T x:  y[j] = sum_i S(i, j) x[i].  x has a.rows() entries, y a.cols().
/// (The backward's U_sign^T dy and V_sign dt.)
template <class T, class Out>
void sign_gemv_transposed(BitMatrixView a, std::span<T> x, std::span<Out> y) {
  detail::check_length(x.size(), a.rows(), "ref::sign_gemv_transposed x");
  detail::check_length(y.size(), a.cols(), "ref::sign_gemv_transposed y");
  for (Index j = 0; j < a.cols(); ++j) {
    double acc = 0.0;
    for (Index i = 0; i < a.rows(); ++i) acc += a.sign(i, j) * to_double(x[static_cast<std::size_t>(i)]);
    y[static_cast<std::size_t>(j)] = from_double<Out>(acc);
  }
}

/// Y = X S^T for a batch of activations stored as rows:  Y(b, i) = sum_j S(i, j) X(b, j).
/// X is batch x a.cols(), Y is batch x a.rows().
template <class T, class Out>
void sign_gemm(BitMatrixView a, MatrixView<T> x, MatrixView<Out> y) {
  littlebit::detail::check_shape(x, x.rows(), a.cols(), "ref::sign_gemm X");
  littlebit::detail::check_shape(y, x.rows(), a.rows(), "ref::sign_gemm Y");
  for (Index b = 0; b < x.rows(); ++b)
    for (Index i = 0; i < a.rows(); ++i) {
      double acc = 0.0;
      for (Index j = 0; j < a.cols(); ++j) acc += a.sign(i, j) * to_double(x(b, j));
      y(b, i) = from_double<Out>(acc);
    }
}

/// Y = X S:  Y(b, j) = sum_i S(i, j) X(b, i).  X is batch x a.rows(), Y is batch x a.cols().
template <class T, class Out>
void sign_gemm_transposed(BitMatrixView a, MatrixView<T> x, MatrixView<Out> y) {
  littlebit::detail::check_shape(x, x.rows(), a.rows(), "ref::sign_gemm_transposed X");
  littlebit::detail::check_shape(y, x.rows(), a.cols(), "ref::sign_gemm_transposed Y");
  for (Index b = 0; b < x.rows(); ++b)
    for (Index j = 0; j < a.cols(); ++j) {
      double acc = 0.0;
      for (Index i = 0; i < a.rows(); ++i) acc += a.sign(i, j) * to_double(x(b, i));
      y(b, j) = from_double<Out>(acc);
    }
}

}  // namespace littlebit::ref
