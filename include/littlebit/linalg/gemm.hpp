// littlebit/linalg/gemm.hpp: the one dense matrix product the layer code calls.
//
//   C = alpha * op(A) * op(B) + beta * C        op(X) = X or X^T,  float or double,  row-major
//
// (reference: the textbook triple loop; any summation order is within gamma_K * |A||B| of it).
// By default Eigen's own product kernels run it. A program that defines LITTLEBIT_USE_CBLAS
// (for every translation unit, and links a CBLAS such as OpenBLAS) sends it to cblas_sgemm /
// cblas_dgemm instead: Eigen without -march runs SSE2 kernels, several times slower than an
// AVX-512 BLAS. Unlike EIGEN_USE_BLAS this leaves Eigen's other products alone, so one program
// can still time Eigen's kernels as a baseline.
#pragma once

#include <Eigen/Core>

#include "littlebit/core/config.hpp"
#include "littlebit/core/error.hpp"

#if defined(LITTLEBIT_USE_CBLAS)
#include <cblas.h>
#endif

namespace littlebit::linalg {

template <class Scalar>
using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class Scalar>
using RowMap = Eigen::Map<RowMatrix<Scalar>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class Scalar>
using ConstRowMap = Eigen::Map<const RowMatrix<Scalar>, Eigen::Unaligned, Eigen::OuterStride<>>;

enum class Op { kNone, kTranspose };

/// C = alpha op(A) op(B) + beta C for row-major operands with unit column stride; C must not
/// alias A or B. Raises littlebit::Error when the shapes do not agree.
template <class Scalar>
void gemm(Op op_a, const ConstRowMap<Scalar>& a, Op op_b, const ConstRowMap<Scalar>& b, RowMap<Scalar> c,
          Scalar alpha = Scalar(1), Scalar beta = Scalar(0)) {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>, "gemm is float or double");
  const Index m = op_a == Op::kNone ? a.rows() : a.cols();
  const Index k = op_a == Op::kNone ? a.cols() : a.rows();
  const Index kb = op_b == Op::kNone ? b.rows() : b.cols();
  const Index n = op_b == Op::kNone ? b.cols() : b.rows();
  if (k != kb || c.rows() != m || c.cols() != n)
    littlebit::detail::fail("linalg::gemm: op(A) is ", m, " x ", k, ", op(B) is ", kb, " x ", n, ", C is ", c.rows(),
                            " x ", c.cols());
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta == Scalar(0)) c.setZero(); else c *= beta;
    return;
  }
#if defined(LITTLEBIT_USE_CBLAS)
  const auto ta = op_a == Op::kNone ? CblasNoTrans : CblasTrans;
  const auto tb = op_b == Op::kNone ? CblasNoTrans : CblasTrans;
  const auto lda = static_cast<blasint>(std::max<Index>(1, a.outerStride()));
  const auto ldb = static_cast<blasint>(std::max<Index>(1, b.outerStride()));
  const auto ldc = static_cast<blasint>(std::max<Index>(1, c.outerStride()));
  if constexpr (std::is_same_v<Scalar, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha,
                a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha,
                a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  }
#else
  auto run = [&](const auto& opa, const auto& opb) {
    if (beta == Scalar(0)) {
      c.noalias() = alpha * (opa * opb);
    } else {
      if (beta != Scalar(1)) c *= beta;
      c.noalias() += alpha * (opa * opb);
    }
  };
  if (op_a == Op::kNone && op_b == Op::kNone) run(a, b);
  else if (op_a == Op::kNone) run(a, b.transpose());
  else if (op_b == Op::kNone) run(a.transpose(), b);
  else run(a.transpose(), b.transpose());
#endif
}

/// A row-major map of `rows x cols` elements at `data` (contiguous rows).
template <class Scalar>
RowMap<Scalar> row_map(Scalar* data, Index rows, Index cols) {
  return RowMap<Scalar>(data, rows, cols, Eigen::OuterStride<>(cols));
}
template <class Scalar>
ConstRowMap<Scalar> row_map(const Scalar* data, Index rows, Index cols) {
  return ConstRowMap<Scalar>(data, rows, cols, Eigen::OuterStride<>(cols));
}

}  // namespace littlebit::linalg
