// ref::sign_gemv / sign_gemm and their transposes against dense Eigen products of the unpacked
// +1/-1 matrix: exact on integer data, within a derived bound on random data.
#include <doctest/doctest.h>

#include <span>
#include <vector>

#include "littlebit/core/pack.hpp"
#include "littlebit/ref/sign_gemm.hpp"
#include "support/test_util.hpp"

using namespace littlebit;
using littlebit::test::RowMatrixXd;
using littlebit::test::RowMatrixXf;

namespace {

struct Shape {
  Index rows, cols, batch;
};

std::vector<Shape> shapes() {
  std::vector<Shape> s;
  for (Index cols : littlebit::test::kTailLengths) s.push_back({3, cols, 2});
  for (Index rows : {1, 31, 65}) s.push_back({rows, 33, 3});
  s.push_back({1, 1, 1});
  s.push_back({2, 4097, 1});  // deep
  s.push_back({130, 8, 5});   // shallow: a U_sign at rank 8
  return s;
}

RowMatrixXd dense_signs(const BitMatrix& b) { return littlebit::test::dense_signs(b); }

}  // namespace

TEST_CASE("ref::sign_gemv and sign_gemv_transposed are exact on integer data") {
  for (const Shape& sh : shapes()) {
    CAPTURE(sh.rows);
    CAPTURE(sh.cols);
    const BitMatrix a = pack_signs(littlebit::test::random_sign_source(sh.rows, sh.cols, 1 + static_cast<std::uint64_t>(sh.cols)));
    const RowMatrixXd s = dense_signs(a);
    const Eigen::VectorXd x = littlebit::test::random_integer_matrix(sh.cols, 1, 100, 2).col(0);
    const Eigen::VectorXd xt = littlebit::test::random_integer_matrix(sh.rows, 1, 100, 3).col(0);
    std::vector<float> y(static_cast<std::size_t>(sh.rows)), yt(static_cast<std::size_t>(sh.cols));
    ref::sign_gemv(a, std::span<const double>(x.data(), static_cast<std::size_t>(x.size())), std::span<float>(y));
    ref::sign_gemv_transposed(a, std::span<const double>(xt.data(), static_cast<std::size_t>(xt.size())),
                              std::span<float>(yt));
    const Eigen::VectorXd want = s * x, want_t = s.transpose() * xt;  // |sums| < 2^24: exact in float
    for (Index i = 0; i < sh.rows; ++i) REQUIRE(static_cast<double>(y[static_cast<std::size_t>(i)]) == want(i));
    for (Index j = 0; j < sh.cols; ++j) REQUIRE(static_cast<double>(yt[static_cast<std::size_t>(j)]) == want_t(j));
  }
}

TEST_CASE("ref::sign_gemm and sign_gemm_transposed are exact on integer data") {
  for (const Shape& sh : shapes()) {
    CAPTURE(sh.rows);
    CAPTURE(sh.cols);
    const BitMatrix a = pack_signs(littlebit::test::random_sign_source(sh.rows, sh.cols, 7 + static_cast<std::uint64_t>(sh.rows)));
    const RowMatrixXd s = dense_signs(a);
    const RowMatrixXd x = littlebit::test::random_integer_matrix(sh.batch, sh.cols, 50, 4);
    const RowMatrixXd xt = littlebit::test::random_integer_matrix(sh.batch, sh.rows, 50, 5);
    RowMatrixXd y(sh.batch, sh.rows), yt(sh.batch, sh.cols);
    ref::sign_gemm(a, view(x), view(y));
    ref::sign_gemm_transposed(a, view(xt), view(yt));
    CHECK(y == x * s.transpose());
    CHECK(yt == xt * s);
  }
}

TEST_CASE("sign products on random data: within 2 gamma_K sum|x| of Eigen, then one float rounding") {
  // The reference and Eigen each sum K products of +1/-1 and x in double, in different orders:
  // each is within gamma_K sum_k |x_k| of the exact sum (Higham, Lemma 3.1), so they differ by at
  // most twice that. The float output adds half an ulp of the reference's double result, whose
  // magnitude is at most |exact| + gamma_K sum|x| <= |want| + 2 gamma_K sum|x|.
  auto check = [](const RowMatrixXf& got, const RowMatrixXd& x, const RowMatrixXd& want, Index k) {
    const double g = littlebit::test::gamma(k), uf = littlebit::test::unit_roundoff<float>();
    for (Index b = 0; b < want.rows(); ++b) {
      const double abs_sum = x.row(b).cwiseAbs().sum();
      for (Index i = 0; i < want.cols(); ++i) {
        const double bound = 2 * g * abs_sum + uf * (std::abs(want(b, i)) + 2 * g * abs_sum);
        REQUIRE(std::abs(static_cast<double>(got(b, i)) - want(b, i)) <= bound);
      }
    }
  };
  for (const Shape& sh : shapes()) {
    CAPTURE(sh.rows);
    CAPTURE(sh.cols);
    const BitMatrix a = pack_signs(littlebit::test::random_matrix(sh.rows, sh.cols, 9));
    const RowMatrixXd s = dense_signs(a);
    const RowMatrixXd x = littlebit::test::random_matrix(sh.batch, sh.cols, 10);
    const RowMatrixXd xt = littlebit::test::random_matrix(sh.batch, sh.rows, 11);
    RowMatrixXf y(sh.batch, sh.rows), yt(sh.batch, sh.cols), yv(1, sh.rows), yvt(1, sh.cols);
    ref::sign_gemm(a, view(x), view(y));
    check(y, x, x * s.transpose(), sh.cols);
    ref::sign_gemm_transposed(a, view(xt), view(yt));
    check(yt, xt, xt * s, sh.rows);
    ref::sign_gemv(a, std::span<const double>(x.data(), static_cast<std::size_t>(sh.cols)),
                   std::span<float>(yv.data(), static_cast<std::size_t>(sh.rows)));
    check(yv, x.topRows(1), x.topRows(1) * s.transpose(), sh.cols);
    ref::sign_gemv_transposed(a, std::span<const double>(xt.data(), static_cast<std::size_t>(sh.rows)),
                              std::span<float>(yvt.data(), static_cast<std::size_t>(sh.cols)));
    check(yvt, xt.topRows(1), xt.topRows(1) * s, sh.rows);
  }
}

TEST_CASE("ref::sign_gemm accepts strided operands (a column-major X)") {
  const BitMatrix a = pack_signs(littlebit::test::random_matrix(5, 70, 12));
  const Eigen::MatrixXd x = littlebit::test::random_integer_matrix(4, 70, 9, 13);  // column-major
  Eigen::MatrixXd y(4, 5);
  ref::sign_gemm(a, view(x), view(y));
  CHECK(y == x * dense_signs(a).transpose());
}

TEST_CASE("ref sign products reject mismatched shapes") {
  const BitMatrix a(4, 10);
  std::vector<double> x(9), y(4);
  CHECK_THROWS_AS(ref::sign_gemv(a, std::span<const double>(x), std::span<double>(y)), Error);
  RowMatrixXd xm(2, 10), ym(2, 5);
  CHECK_THROWS_AS(ref::sign_gemm(a, view(std::as_const(xm)), view(ym)), Error);
}
