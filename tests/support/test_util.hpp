// Helpers shared by littlebit's tests: deterministic random data, the shapes that break
// kernels, and the rounding-error bounds the comparisons use.
#pragma once

#include <Eigen/Dense>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/config.hpp"
#include "littlebit/core/pack.hpp"

namespace littlebit::test {

using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixXi = Eigen::Matrix<int, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Column counts around word (64 bits) and official word (32 bits) boundaries, and a 64-byte
/// row (512 bits) boundary.
inline const std::vector<Index> kTailLengths = {1, 2, 31, 32, 33, 63, 64, 65, 127, 128, 129, 511, 512, 513};

/// Uniform in [-1, 1).
inline RowMatrixXd random_matrix(Index rows, Index cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  RowMatrixXd m(rows, cols);
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) m(i, j) = u(rng);
  return m;
}

/// Integers in [-range, range]: sums of them are exact in float and double.
inline RowMatrixXd random_integer_matrix(Index rows, Index cols, int range, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> u(-range, range);
  RowMatrixXd m(rows, cols);
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) m(i, j) = u(rng);
  return m;
}

/// +1/-1 entries, with a share of exact zeros (which must pack as +1) when zeros is set.
inline RowMatrixXd random_sign_source(Index rows, Index cols, std::uint64_t seed, bool zeros = true) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> u(0, zeros ? 4 : 1);
  RowMatrixXd m(rows, cols);
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) {
      const int v = u(rng);
      m(i, j) = v == 0 ? -1.5 : v == 1 ? 0.75 : v == 2 ? 0.0 : v == 3 ? -0.0 : 2.0;
    }
  return m;
}

/// The +1/-1 matrix a BitMatrix packs, as a dense row-major Eigen matrix.
template <class T = double>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> dense_signs(const BitMatrix& b) {
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> s(b.rows(), b.cols());
  unpack_signs(b.view(), view(s));
  return s;
}

/// Unit roundoff of T.
template <class T>
constexpr double unit_roundoff() {
  return std::numeric_limits<T>::epsilon() / 2;
}

/// gamma_k = k u / (1 - k u): the relative error bound of a length-k recursive sum of products
/// (Higham, Accuracy and Stability of Numerical Algorithms, Lemma 3.1).
template <class T = double>
constexpr double gamma(Index k) {
  const double ku = static_cast<double>(k) * unit_roundoff<T>();
  return ku / (1.0 - ku);
}

}  // namespace littlebit::test
