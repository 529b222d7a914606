// littlebit/linalg/randomized_svd.hpp: truncated SVDs and the rank-1 fit of a nonnegative matrix.
//
// randomized_svd: the randomized range finder of Halko, Martinsson and Tropp (SIAM Review 2011,
// Algorithms 4.3/4.4 and 5.1). For A (m x n), rank r, oversampling p, k = r + p, q power iterations:
//     Y = A Omega              Omega Gaussian n x k (seeded)
//     Q = orth(Y)
//     q times: Z = A^T Q, Q = orth(A Z)            (subspace iteration, re-orthonormalized)
//     B^T = A^T Q  (n x k);  B B^T = V_B L V_B^T  (k x k, eigen-decomposition in double)
//     sigma = sqrt(L), U = Q V_B, V = B^T V_B / sigma, truncated to r.
// orth() is Cholesky-QR (Q = Y R^-1 with R^T R = Y^T Y): once between power iterations, twice
// (CholeskyQR2) for the final basis, with a Householder QR when the Gram matrix is not
// numerically positive definite. Every heavy step is an
// Eigen product, so defining EIGEN_USE_BLAS (and linking a BLAS) routes them to the BLAS.
// Expected error (HMT Theorem 10.6, for q = 0): E||A - U S V^T|| <= (1 + sqrt(r / (p - 1))) *
// sqrt(sum_{j > r} sigma_j^2) + ..., and power iterations drive it to the Eckart-Young optimum.
//
// exact_truncated_svd: Eigen's BDCSVD, truncated: for small matrices and for checking.
// rank_one_nonnegative: the top singular pair of a nonnegative matrix by power iteration on A^T A;
// by Perron-Frobenius it can be taken nonnegative, and is returned so, with sqrt(sigma) in each.
// The matrix may be any Eigen dense expression: a Matrix, a Map of mapped memory, a Ref, a block.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Dense>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "littlebit/core/config.hpp"
#include "littlebit/core/error.hpp"

#if defined(LITTLEBIT_USE_LAPACK)
// LAPACK's divide-and-conquer symmetric eigensolver (Fortran ABI, 32-bit integers, hidden string
// lengths last), from the BLAS/LAPACK the consumer links (OpenBLAS exports it).
extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                        double* work, const int* lwork, int* iwork, const int* liwork, int* info, std::size_t,
                        std::size_t);
#endif

namespace littlebit::linalg {

template <class Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <class Scalar>
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

/// A truncated SVD A ~ U diag(S) V^T: U m x r and V n x r with orthonormal columns, S descending.
template <class Scalar>
struct TruncatedSvd {
  Matrix<Scalar> U;
  Vector<Scalar> S;
  Matrix<Scalar> V;
};

/// The defaults (oversampling max(10, rank / 5), three power iterations) put the error within
/// 0.5% of the Eckart-Young optimum on a slowly decaying spectrum (sigma_i ~ i^-0.5, 4096 x 4096,
/// ranks 80..1024; docs/decomposition.md), at 3-5x less time than a full BDCSVD at those ranks.
/// Faster spectral decay needs less; a flat (Gaussian) spectrum more.
struct RandomizedSvdOptions {
  Index rank = 0;
  std::optional<Index> oversampling = std::nullopt;  // default max(10, rank / 5)
  int power_iterations = 3;
  std::uint64_t seed = 0;

  Index oversampling_or_default() const { return oversampling ? *oversampling : std::max<Index>(10, rank / 5); }
};

namespace detail {

template <class Derived>
void check_matrix(const Eigen::MatrixBase<Derived>& a, Index rank, const char* what) {
  if (a.rows() == 0 || a.cols() == 0) littlebit::detail::fail(what, ": empty matrix ", a.rows(), " x ", a.cols());
  if (rank < 1 || rank > std::min<Index>(a.rows(), a.cols()))
    littlebit::detail::fail(what, ": rank ", rank, " is outside [1, min(m, n) = ", std::min<Index>(a.rows(), a.cols()),
                            "] for a ", a.rows(), " x ", a.cols(), " matrix");
  if (!a.allFinite()) littlebit::detail::fail(what, ": the ", a.rows(), " x ", a.cols(), " matrix has NaN or Inf entries");
}

/// n x k standard Gaussian entries from one seeded stream (the same for every thread count).
template <class Scalar>
Matrix<Scalar> gaussian(Index n, Index k, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Matrix<Scalar> g(n, k);
  for (Index j = 0; j < k; ++j)
    for (Index i = 0; i < n; ++i) g(i, j) = static_cast<Scalar>(normal(rng));
  return g;
}

/// Orthonormalizes the columns of y in place: Cholesky-QR `passes` times (2: CholeskyQR2, columns
/// orthonormal to working precision; 1 is enough between power iterations, which only need a
/// well-conditioned basis), Householder QR as the fallback.
template <class Scalar>
void orthonormalize(Matrix<Scalar>& y, int passes = 2) {
  for (int pass = 0; pass < passes; ++pass) {
    // The Gram matrix (a symmetric rank-k update: half a GEMM), then in double: its condition
    // number is that of y squared.
    Matrix<Scalar> gs = Matrix<Scalar>::Zero(y.cols(), y.cols());
    gs.template selfadjointView<Eigen::Lower>().rankUpdate(y.transpose());
    const Eigen::MatrixXd gram = gs.template selfadjointView<Eigen::Lower>().toDenseMatrix().template cast<double>();
    Eigen::LLT<Eigen::MatrixXd> llt(gram);
    if (llt.info() != Eigen::Success || !(llt.matrixLLT().diagonal().minCoeff() > 1e-6 * std::sqrt(gram.diagonal().maxCoeff()))) {
      Eigen::HouseholderQR<Matrix<Scalar>> qr(y);
      y = qr.householderQ() * Matrix<Scalar>::Identity(y.rows(), y.cols());
      return;
    }
    // y <- y R^-1, R = L^T upper triangular: solve y^T from R^T (y^T)_new = y^T.
    const Matrix<Scalar> r_inv_t = llt.matrixU().solve(Eigen::MatrixXd::Identity(y.cols(), y.cols())).template cast<Scalar>();
    y = y * r_inv_t.template triangularView<Eigen::Upper>();
  }
}

/// Eigenvalues (ascending) and eigenvectors of a symmetric matrix: LAPACK dsyevd when
/// LITTLEBIT_USE_LAPACK is defined (4-6x faster at k ~ 500-1000), Eigen otherwise.
inline std::pair<Eigen::VectorXd, Eigen::MatrixXd> symmetric_eigen(const Eigen::MatrixXd& g) {
#if defined(LITTLEBIT_USE_LAPACK)
  const int n = static_cast<int>(g.rows());
  Eigen::MatrixXd z = g;
  Eigen::VectorXd w(n);
  int info = 0, lwork = -1, liwork = -1, iwork_query = 0;
  double work_query = 0;
  dsyevd_("V", "U", &n, z.data(), &n, w.data(), &work_query, &lwork, &iwork_query, &liwork, &info, 1, 1);
  lwork = static_cast<int>(work_query);
  liwork = iwork_query;
  std::vector<double> work(static_cast<std::size_t>(std::max(1, lwork)));
  std::vector<int> iwork(static_cast<std::size_t>(std::max(1, liwork)));
  dsyevd_("V", "U", &n, z.data(), &n, w.data(), work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  if (info != 0) littlebit::detail::fail("symmetric_eigen: LAPACK dsyevd failed with info = ", info);
  return {w, z};
#else
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(g);
  if (eig.info() != Eigen::Success) littlebit::detail::fail("symmetric_eigen: the eigen-decomposition failed");
  return {eig.eigenvalues(), eig.eigenvectors()};
#endif
}

}  // namespace detail

/// The truncated SVD of a (rank r) within the span of a starting basis y (m x k, k >= r), refined
/// by `power_iterations` subspace iterations: the machinery of randomized_svd for a caller that
/// knows a good starting subspace (e.g. the residual path of Dual-SVID: the primary's basis). y is
/// consumed.
template <class Derived>
TruncatedSvd<typename Derived::Scalar> subspace_svd(const Eigen::MatrixBase<Derived>& a,
                                                    Matrix<typename Derived::Scalar> y, Index rank,
                                                    int power_iterations) {
  using Scalar = typename Derived::Scalar;
  detail::check_matrix(a, rank, "subspace_svd");
  if (y.rows() != a.rows() || y.cols() < rank)
    littlebit::detail::fail("subspace_svd: the starting basis is ", y.rows(), " x ", y.cols(), ", expected ", a.rows(),
                            " rows and at least ", rank, " columns");
  Matrix<Scalar> q = std::move(y);
  detail::orthonormalize(q, power_iterations > 0 ? 1 : 2);
  Matrix<Scalar> z;
  for (int it = 0; it < power_iterations; ++it) {
    // Z = A^T Q has condition number sigma_1 / sigma_k at most (Q is orthonormal): no need to
    // re-orthonormalize it before the next product; A Z is, every time.
    z = a.transpose() * q;  // n x k
    q = a * z;
    detail::orthonormalize(q, it + 1 == power_iterations ? 2 : 1);
  }
  const Index k = q.cols();
  const Matrix<Scalar> bt = a.transpose() * q;  // n x k = B^T
  // SVD of B through the eigen-decomposition of B B^T in double: k x k, ascending eigenvalues.
  const auto [values, vectors] = detail::symmetric_eigen((bt.transpose() * bt).template cast<double>());
  TruncatedSvd<Scalar> out;
  Eigen::MatrixXd vb(k, rank);
  Vector<double> sigma(rank);
  for (Index j = 0; j < rank; ++j) {
    vb.col(j) = vectors.col(k - 1 - j);
    sigma(j) = std::sqrt(std::max(0.0, values(k - 1 - j)));
  }
  const Matrix<Scalar> vbs = vb.cast<Scalar>();
  out.S = sigma.cast<Scalar>();
  out.U = q * vbs;
  out.V = bt * vbs;  // B^T V_B = V diag(sigma)
  for (Index j = 0; j < rank; ++j) {
    if (sigma(j) > 0) {
      out.V.col(j) /= static_cast<Scalar>(sigma(j));
    } else {
      out.V.col(j).setZero();
    }
  }
  return out;
}

/// The randomized truncated SVD of a (see the file comment). Deterministic for a given seed and
/// thread count. k = rank + oversampling is capped at min(m, n).
template <class Derived>
TruncatedSvd<typename Derived::Scalar> randomized_svd(const Eigen::MatrixBase<Derived>& a, const RandomizedSvdOptions& o) {
  using Scalar = typename Derived::Scalar;
  detail::check_matrix(a, o.rank, "randomized_svd");
  if (o.oversampling_or_default() < 0 || o.power_iterations < 0)
    littlebit::detail::fail("randomized_svd: oversampling and power_iterations must be nonnegative");
  const Index m = a.rows(), n = a.cols();
  const Index k = std::min<Index>(o.rank + o.oversampling_or_default(), std::min(m, n));
  return subspace_svd(a, Matrix<Scalar>(a * detail::gaussian<Scalar>(n, k, o.seed)), o.rank, o.power_iterations);
}

/// The exact truncated SVD (Eigen BDCSVD), for small matrices and for checking.
template <class Derived>
TruncatedSvd<typename Derived::Scalar> exact_truncated_svd(const Eigen::MatrixBase<Derived>& a, Index rank) {
  using Scalar = typename Derived::Scalar;
  detail::check_matrix(a, rank, "exact_truncated_svd");
  Eigen::BDCSVD<Matrix<Scalar>> svd(a, Eigen::ComputeThinU | Eigen::ComputeThinV);
  return {svd.matrixU().leftCols(rank), svd.singularValues().head(rank), svd.matrixV().leftCols(rank)};
}

/// a ~ x y^T for a nonnegative a (m x n): the top singular pair by power iteration on a^T a,
/// x = sqrt(sigma) u, y = sqrt(sigma) v, both nonnegative. Stops when the direction changes by
/// less than `tol` (relative) or after `max_iterations`. The iteration runs in double; the
/// error in the direction shrinks by (sigma_2 / sigma_1)^2 per step, and the magnitude matrices
/// Dual-SVID feeds it have a dominant Perron pair (5-10 steps to 1e-12 on LLM-sized layers).
template <class Derived>
std::pair<Vector<typename Derived::Scalar>, Vector<typename Derived::Scalar>> rank_one_nonnegative(
    const Eigen::MatrixBase<Derived>& a, int max_iterations = 500, double tol = 1e-12) {
  using Scalar = typename Derived::Scalar;
  if (a.rows() == 0 || a.cols() == 0) littlebit::detail::fail("rank_one_nonnegative: empty matrix");
  if (!a.allFinite()) littlebit::detail::fail("rank_one_nonnegative: the matrix has NaN or Inf entries");
  if ((a.array() < Scalar(0)).any()) littlebit::detail::fail("rank_one_nonnegative: the matrix has negative entries");
  const Eigen::MatrixXd ad = a.template cast<double>();
  // Start from the column sums: nonnegative, and close to the Perron vector for such matrices.
  Vector<double> v = ad.colwise().sum().transpose();
  if (!(v.norm() > 0)) return {Vector<Scalar>::Zero(a.rows()), Vector<Scalar>::Zero(a.cols())};
  v.normalize();
  Vector<double> u;
  for (int it = 0; it < max_iterations; ++it) {
    u = ad * v;
    Vector<double> next = ad.transpose() * u;
    const double norm = next.norm();
    if (!(norm > 0)) break;
    next /= norm;
    const double change = (next - v).norm();
    v = next;
    if (change < tol) break;
  }
  u = ad * v;  // = sigma * u_unit
  const double sigma = u.norm();
  if (!(sigma > 0)) return {Vector<Scalar>::Zero(a.rows()), Vector<Scalar>::Zero(a.cols())};
  const double root = std::sqrt(sigma);
  Vector<double> x = u / sigma * root, y = v * root;
  // Nonnegative by Perron-Frobenius; clear rounding residue below zero.
  return {x.cwiseMax(0.0).template cast<Scalar>(), y.cwiseMax(0.0).template cast<Scalar>()};
}

}  // namespace littlebit::linalg
