// FactorizedLinear (training form) and PackedFactorizedLinear (inference form) against the
// reference (ref::factorized_forward / factorized_backward in double) and against themselves.
//
// Bounds. Every output is a chain of sums of products of the inputs; any evaluation order in
// precision u is within gamma_D * M of the exact value (Higham, Lemma 3.1 along the chain), where
// M is the same computation on magnitudes (|x|, |dy|, |scales|, every sign +1, computed by the
// reference) and D = n + r + m + B + 10 bounds the longest chain. The reference (double) carries
// the same with u = 2^-53, so |ours - ref| <= (gamma_D(u) + gamma_D(2^-53)) M. Latent gradients
// are the sign gradient times sign'(z): ours evaluates SmoothSign as 4 alpha e / (1 + e)^2,
// e = exp(-2 alpha |z|), relative error <= (2 alpha |z| + 10) u (argument rounding, exp within 4
// ulps, four operations); the reference's alpha (1 - tanh^2) is within 13 alpha 2^-53 (see
// tests/golden/check_factorized_linear.hpp). The fast (int16) precision has no such bound; it is
// held to the fast path's 1% relative accuracy target (docs/kernels.md).
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <span>
#include <vector>

#include "littlebit/core/pack.hpp"
#include "littlebit/layer/factorized_linear.hpp"
#include "littlebit/layer/packed_factorized_linear.hpp"
#include "littlebit/ref/factorized.hpp"
#include "littlebit/ref/sign_gradient.hpp"
#include "support/test_util.hpp"

using namespace littlebit;
using littlebit::test::gamma;
using littlebit::test::RowMatrixXd;
using littlebit::test::RowMatrixXf;

namespace {

struct Shape {
  Index m, r, n, batch;
  int paths;
  bool bias;
};

// Tails (not multiples of 4, 8, 16, 64), a 1-row batch, a rank-1 path, deep n, and SmolLM2's
// MLP shape (576 x 1536).
const Shape kShapes[] = {
    {1, 1, 1, 1, 1, false},   {7, 3, 9, 1, 2, true},    {17, 8, 33, 5, 2, false}, {64, 16, 65, 4, 1, true},
    {33, 24, 130, 9, 2, true}, {5, 40, 1000, 3, 2, false}, {1536, 64, 576, 3, 2, true}, {576, 64, 1536, 2, 2, false},
};

template <class Scalar>
std::vector<FactorizedPathParams<Scalar>> random_params(const Shape& s, std::uint64_t seed) {
  std::vector<FactorizedPathParams<Scalar>> out;
  for (int p = 0; p < s.paths; ++p) {
    const std::uint64_t k = seed + 100 * static_cast<std::uint64_t>(p);
    FactorizedPathParams<Scalar> q;
    // Latent entries in [-1, 1): some |z| < 1/alpha where SmoothSign is steep, most beyond.
    q.U = littlebit::test::random_matrix(s.m, s.r, k).cast<Scalar>();
    q.V = littlebit::test::random_matrix(s.r, s.n, k + 1).cast<Scalar>();
    q.u1 = littlebit::test::random_matrix(s.m, 1, k + 2).cast<Scalar>();
    q.u2 = littlebit::test::random_matrix(s.r, 1, k + 3).cast<Scalar>();
    q.v1 = littlebit::test::random_matrix(s.r, 1, k + 4).cast<Scalar>();
    q.v2 = littlebit::test::random_matrix(s.n, 1, k + 5).cast<Scalar>();
    out.push_back(std::move(q));
  }
  return out;
}

/// The reference's view of the layer's current parameters (and the same on magnitudes).
struct RefLayer {
  std::vector<BitMatrix> u, v, plus_u, plus_v;
  std::vector<std::vector<double>> h, ell, g, ah, aell, ag;
  std::vector<ref::FactorizedPath<double>> paths, mags;

  template <class Scalar>
  explicit RefLayer(const FactorizedLinear<Scalar>& l) {
    const int np = l.num_paths();
    for (int p = 0; p < np; ++p) {
      u.push_back(pack_signs(l.U(p)));
      v.push_back(pack_signs(l.V(p)));
      plus_u.emplace_back(l.out_features(), l.rank());
      plus_v.emplace_back(l.rank(), l.in_features());
      h.emplace_back();
      ell.emplace_back();
      g.emplace_back();
      for (Index i = 0; i < l.out_features(); ++i) h.back().push_back(static_cast<double>(l.u1(p)(i)));
      // ell = v1 . u2 as the layer forms it (in Scalar), so that ref and layer see one ell.
      for (Index k = 0; k < l.rank(); ++k) ell.back().push_back(static_cast<double>(static_cast<Scalar>(l.v1(p)(k) * l.u2(p)(k))));
      for (Index j = 0; j < l.in_features(); ++j) g.back().push_back(static_cast<double>(l.v2(p)(j)));
      auto abs = [](std::vector<double> x) {
        for (double& e : x) e = std::abs(e);
        return x;
      };
      ah.push_back(abs(h.back()));
      aell.push_back(abs(ell.back()));
      ag.push_back(abs(g.back()));
    }
    for (int p = 0; p < np; ++p) {
      paths.push_back({h[p], u[p].view(), ell[p], v[p].view(), g[p]});
      mags.push_back({ah[p], plus_u[p].view(), aell[p], plus_v[p].view(), ag[p]});
    }
  }
};

/// |got - want| <= bound elementwise; reports the worst ratio.
template <class A, class B, class C>
void check_within(const A& got, const B& want, const C& bound, const char* what) {
  REQUIRE(got.rows() == want.rows());
  REQUIRE(got.cols() == want.cols());
  double worst = 0.0;
  for (Index i = 0; i < got.rows(); ++i)
    for (Index j = 0; j < got.cols(); ++j) {
      const double d = std::abs(static_cast<double>(got(i, j)) - static_cast<double>(want(i, j)));
      const double b = static_cast<double>(bound(i, j));
      if (d > b) {
        FAIL_CHECK(std::string(what) << " (" << i << ", " << j << "): got " << static_cast<double>(got(i, j)) << ", want "
                        << static_cast<double>(want(i, j)) << ", |diff| " << d << " > bound " << b);
        return;
      }
      if (b > 0) worst = std::max(worst, d / b);
    }
  MESSAGE(std::string(what) << ": worst |diff| / bound " << worst);
}

Eigen::Map<const RowMatrixXd> row_of(const std::vector<double>& v) {
  return Eigen::Map<const RowMatrixXd>(v.data(), 1, static_cast<Index>(v.size()));
}

template <class Scalar>
void check_against_reference(const Shape& s, SignGradientRule rule, std::uint64_t seed) {
  using RowMatrix = linalg::RowMatrix<Scalar>;
  const auto params = random_params<Scalar>(s, seed);
  typename FactorizedLinear<Scalar>::Vector bias;
  if (s.bias) bias = littlebit::test::random_matrix(s.m, 1, seed + 77).cast<Scalar>();
  FactorizedLinear<Scalar> layer(params, bias, {rule, kernels::Precision::kExact, 0});
  const RowMatrix x = littlebit::test::random_matrix(s.batch, s.n, seed + 7).cast<Scalar>();
  const RowMatrix dy = littlebit::test::random_matrix(s.batch, s.m, seed + 8).cast<Scalar>();
  RowMatrix y(s.batch, s.m), dx(s.batch, s.n);
  layer.forward(x, y);
  layer.backward(dy, dx);

  const RefLayer r(layer);
  const RowMatrixXd xd = x.template cast<double>(), dyd = dy.template cast<double>();
  const RowMatrixXd xa = xd.cwiseAbs(), dya = dyd.cwiseAbs();
  RowMatrixXd y_ref(s.batch, s.m), y_mag(s.batch, s.m), dx_ref(s.batch, s.n), dx_mag(s.batch, s.n);
  const std::span<const ref::FactorizedPath<double>> rp(r.paths), rm(r.mags);
  ref::factorized_forward(rp, view(xd), view(y_ref));
  ref::factorized_forward(rm, view(xa), view(y_mag));
  const auto grads = ref::factorized_backward(rp, view(xd), view(dyd), view(dx_ref));
  const auto gmags = ref::factorized_backward(rm, view(xa), view(dya), view(dx_mag));

  const Index depth = s.n + s.r + s.m + s.batch + 10;
  const double k = gamma<Scalar>(depth) + gamma<double>(depth);
  if (s.bias) {
    for (Index b = 0; b < s.batch; ++b)
      for (Index i = 0; i < s.m; ++i) {
        y_ref(b, i) += static_cast<double>(layer.bias()(i));
        y_mag(b, i) += std::abs(static_cast<double>(layer.bias()(i)));
      }
  }
  check_within(y, y_ref, k * y_mag, "Y");
  check_within(dx, dx_ref, k * dx_mag, "dX");

  const double u = littlebit::test::unit_roundoff<Scalar>(), ud = littlebit::test::unit_roundoff<double>();
  for (int p = 0; p < s.paths; ++p) {
    const auto& gr = grads[static_cast<std::size_t>(p)];
    const auto& gm = gmags[static_cast<std::size_t>(p)];
    check_within(layer.grad_u1(p).transpose(), row_of(gr.dh), k * row_of(gm.dh), "du1");
    RowMatrixXd du2(1, s.r), dv1(1, s.r), du2_b(1, s.r), dv1_b(1, s.r);
    for (Index q = 0; q < s.r; ++q) {
      const auto qq = static_cast<std::size_t>(q);
      const double u2 = static_cast<double>(layer.u2(p)(q)), v1 = static_cast<double>(layer.v1(p)(q));
      du2(0, q) = gr.dell[qq] * v1;
      dv1(0, q) = gr.dell[qq] * u2;
      du2_b(0, q) = (k + u) * gm.dell[qq] * std::abs(v1);  // + the final product's rounding
      dv1_b(0, q) = (k + u) * gm.dell[qq] * std::abs(u2);
    }
    check_within(layer.grad_u2(p).transpose(), du2, du2_b, "du2");
    check_within(layer.grad_v1(p).transpose(), dv1, dv1_b, "dv1");
    check_within(layer.grad_v2(p).transpose(), row_of(gr.dg), (k + u) * row_of(gm.dg), "dv2");
    auto latent = [&](const auto& z, const std::vector<double>& ds, const std::vector<double>& ds_mag, const auto& got,
                      const char* what) {
      RowMatrixXd want(z.rows(), z.cols()), bound(z.rows(), z.cols());
      for (Index a = 0; a < z.rows(); ++a)
        for (Index c = 0; c < z.cols(); ++c) {
          const auto at = static_cast<std::size_t>(a * z.cols() + c);
          const double zz = static_cast<double>(z(a, c));
          const double d = ref::sign_derivative(rule.kind, zz, rule.alpha);
          want(a, c) = ds[at] * d;
          const double deriv_err = rule.kind == SignGradient::kSmoothSign
                                       ? d * (2 * rule.alpha * std::abs(zz) + 10) * u + 13 * rule.alpha * ud
                                       : 0.0;
          bound(a, c) = (k + u) * d * ds_mag[at] + deriv_err * ds_mag[at];
        }
      check_within(got, want, bound, what);
    };
    latent(layer.U(p), gr.du_sign, gm.du_sign, layer.grad_U(p), "dU");
    latent(layer.V(p), gr.dv_sign, gm.dv_sign, layer.grad_V(p), "dV");
  }
  if (s.bias) {
    const RowMatrixXd db = dyd.colwise().sum(), db_b = gamma<Scalar>(depth) * dya.colwise().sum();
    check_within(layer.grad_bias().transpose(), db, db_b, "dbias");
  }
}

}  // namespace

TEST_CASE("FactorizedLinear<float> forward and backward equal the reference (SmoothSign and STE, every shape)") {
  std::uint64_t seed = 1;
  for (const Shape& s : kShapes)
    for (const SignGradientRule rule : {SignGradientRule{SignGradient::kSmoothSign, 100.0},
                                        SignGradientRule{SignGradient::kSte, 0.0},
                                        SignGradientRule{SignGradient::kSmoothSign, 3.0}}) {
      CAPTURE(s.m);
      CAPTURE(s.r);
      CAPTURE(s.n);
      CAPTURE(s.batch);
      CAPTURE(s.paths);
      check_against_reference<float>(s, rule, seed++);
    }
}

TEST_CASE("FactorizedLinear<double> forward and backward equal the reference (GEMM path)") {
  std::uint64_t seed = 100;
  for (const Shape& s : kShapes)
    for (const SignGradientRule rule :
         {SignGradientRule{SignGradient::kSmoothSign, 100.0}, SignGradientRule{SignGradient::kSte, 0.0}}) {
      CAPTURE(s.m);
      CAPTURE(s.n);
      check_against_reference<double>(s, rule, seed++);
    }
}

TEST_CASE("FactorizedLinear: gradients accumulate over backward calls until zero_grad") {
  const Shape s{9, 8, 11, 3, 2, true};
  FactorizedLinear<float> layer(random_params<float>(s, 5), Eigen::VectorXf::Ones(s.m));
  const RowMatrixXf x = littlebit::test::random_matrix(s.batch, s.n, 6).cast<float>();
  const RowMatrixXf dy = littlebit::test::random_matrix(s.batch, s.m, 7).cast<float>();
  RowMatrixXf y(s.batch, s.m), dx(s.batch, s.n), dx2(s.batch, s.n);
  layer.forward(x, y);
  layer.backward(dy, dx);
  const std::vector<float> once(layer.gradients().begin(), layer.gradients().end());
  layer.forward(x, y);
  layer.backward(dy, dx2);
  CHECK(dx == dx2);  // dX is assigned, not accumulated
  for (std::size_t i = 0; i < once.size(); ++i) CHECK(layer.gradients()[i] == 2 * once[i]);
  layer.zero_grad();
  for (float g : layer.gradients()) CHECK(g == 0.0f);
}

TEST_CASE("FactorizedLinear: the flat parameter view and its blocks") {
  const Shape s{6, 8, 10, 2, 2, true};
  const auto params = random_params<double>(s, 9);
  FactorizedLinear<double> layer(params, Eigen::VectorXd::Constant(s.m, 0.5));
  const auto& blocks = layer.blocks();
  REQUIRE(blocks.size() == 13);
  const char* names[] = {"U", "V", "u1", "u2", "v1", "v2", "U_R", "V_R", "u1_R", "u2_R", "v1_R", "v2_R", "bias"};
  Index offset = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    CHECK(blocks[i].name == names[i]);
    CHECK(blocks[i].offset == offset);
    offset += blocks[i].size();
  }
  CHECK(offset == static_cast<Index>(layer.parameters().size()));
  CHECK(layer.gradients().size() == layer.parameters().size());
  CHECK(layer.U(1) == params[1].U);
  CHECK(layer.v2(0) == params[0].v2);
  // The views alias the flat array: an optimizer step through it moves the parameters.
  layer.parameters()[static_cast<std::size_t>(blocks[8].offset)] = 42.0;
  CHECK(layer.u1(1)(0) == 42.0);
  CHECK(layer.bias()(s.m - 1) == 0.5);
}

TEST_CASE("FactorizedLinear<double>: gradients of the smooth parameters match finite differences") {
  // L = sum(Y . dY) is linear in each single u1, u2, v1, v2, bias and x entry (signs do not move),
  // so the central difference (L(t + d) - L(t - d)) / 2d is exact in exact arithmetic for any d; in
  // double each L carries gamma_D M_L (M_L = the magnitude forward dotted with |dY|), so
  //   |FD - grad| <= (gamma_D (M_L+ + M_L-) + u |L+ - L-|) / 2d + gamma_D M_grad.
  for (const Shape& s : {Shape{7, 8, 9, 3, 2, true}, Shape{4, 3, 5, 1, 1, false}, Shape{12, 16, 6, 2, 2, true}}) {
    using RowMatrix = linalg::RowMatrix<double>;
    FactorizedLinear<double> layer(random_params<double>(s, 31), s.bias ? Eigen::VectorXd(Eigen::VectorXd::Random(s.m))
                                                                        : Eigen::VectorXd());
    RowMatrix x = littlebit::test::random_matrix(s.batch, s.n, 32);
    const RowMatrix dy = littlebit::test::random_matrix(s.batch, s.m, 33);
    RowMatrix y(s.batch, s.m), dx(s.batch, s.n);
    layer.forward(x, y);
    layer.backward(dy, dx);
    const std::vector<double> grad(layer.gradients().begin(), layer.gradients().end());
    const Index depth = s.n + s.r + s.m + s.batch + 10;
    const double gd = gamma<double>(depth), u = littlebit::test::unit_roundoff<double>();

    // L and the magnitude bound M_L at the layer's current parameters and x.
    auto loss = [&](const RowMatrix& xx, double& mag) {
      RowMatrix yy(s.batch, s.m);
      layer.forward(xx, yy);
      const RefLayer r(layer);
      RowMatrixXd ym(s.batch, s.m);
      const RowMatrixXd xa = xx.cwiseAbs();
      ref::factorized_forward(std::span<const ref::FactorizedPath<double>>(r.mags), view(xa), view(ym));
      if (layer.has_bias()) ym.rowwise() += layer.bias().cwiseAbs().transpose();
      mag = (ym.cwiseProduct(dy.cwiseAbs())).sum();
      return yy.cwiseProduct(dy).sum();
    };
    const double d = 0.5;
    int checked = 0;
    for (const auto& b : layer.blocks()) {
      if (b.name[0] == 'U' || b.name[0] == 'V') continue;  // latent: sign has no derivative
      for (Index i = 0; i < b.size(); ++i) {
        const auto at = static_cast<std::size_t>(b.offset + i);
        const double keep = layer.parameters()[at];
        double mp = 0, mm = 0;
        layer.parameters()[at] = keep + d;
        const double lp = loss(x, mp);
        layer.parameters()[at] = keep - d;
        const double lm = loss(x, mm);
        layer.parameters()[at] = keep;
        const double fd = (lp - lm) / (2 * d);
        const double bound = (gd * (mp + mm) + u * std::abs(lp - lm)) / (2 * d) + gd * (mp + mm);
        CHECK_MESSAGE(std::abs(fd - grad[at]) <= bound, b.name << "[" << i << "]: FD " << fd << " vs " << grad[at]);
        ++checked;
      }
    }
    for (Index bb = 0; bb < s.batch; ++bb)
      for (Index j = 0; j < s.n; ++j) {
        const double keep = x(bb, j);
        double mp = 0, mm = 0;
        x(bb, j) = keep + d;
        const double lp = loss(x, mp);
        x(bb, j) = keep - d;
        const double lm = loss(x, mm);
        x(bb, j) = keep;
        const double fd = (lp - lm) / (2 * d);
        const double bound = (gd * (mp + mm) + u * std::abs(lp - lm)) / (2 * d) + gd * (mp + mm);
        CHECK_MESSAGE(std::abs(fd - dx(bb, j)) <= bound, "x(" << bb << ", " << j << "): FD " << fd << " vs " << dx(bb, j));
        ++checked;
      }
    const Index smooth = s.paths * (s.m + 2 * s.r + s.n) + (s.bias ? s.m : 0) + s.batch * s.n;
    CHECK(checked == smooth);
  }
}

TEST_CASE("PackedFactorizedLinear: forward equals the reference on its FP16 scales, the training form, and W x") {
  for (const Shape& s : kShapes) {
    CAPTURE(s.m);
    CAPTURE(s.n);
    CAPTURE(s.r);
    const auto params = random_params<float>(s, 50 + static_cast<std::uint64_t>(s.m));
    Eigen::VectorXf bias;
    if (s.bias) bias = littlebit::test::random_matrix(s.m, 1, 51).cast<float>();
    FactorizedLinear<float> train(params, bias);
    PackedFactorizedLinear packed = train.pack();
    CHECK(packed.out_features() == s.m);
    CHECK(packed.in_features() == s.n);
    CHECK(packed.rank() == s.r);
    CHECK(packed.num_paths() == s.paths);

    const RowMatrixXf x = littlebit::test::random_matrix(s.batch, s.n, 52).cast<float>();
    RowMatrixXf y_packed(s.batch, s.m), y_train(s.batch, s.m);
    packed.forward(view(x), view(y_packed));
    train.forward(x, y_train);

    // The reference on the packed form's own paths (FP16 scales), and the dense W x.
    const auto stored = packed.paths();
    std::vector<ref::FactorizedPath<Float16>> views;
    for (const auto& p : stored) views.push_back(p.view());
    const RowMatrixXd xd = x.cast<double>();
    RowMatrixXd y_ref(s.batch, s.m), y_mag(s.batch, s.m);
    ref::factorized_forward(std::span<const ref::FactorizedPath<Float16>>(views), view(xd), view(y_ref));
    RefLayer mags(train);
    const RowMatrixXd xa = xd.cwiseAbs();
    ref::factorized_forward(std::span<const ref::FactorizedPath<double>>(mags.mags), view(xa), view(y_mag));
    y_mag *= 1.0 + 4 * 0x1p-11;  // the FP16 scales' magnitudes are within that of the float ones
    RowMatrixXd w(s.m, s.n);
    ref::reconstruct(std::span<const ref::FactorizedPath<Float16>>(views), view(w));
    RowMatrixXd y_dense = xd * w.transpose();
    if (s.bias) {
      y_ref.rowwise() += bias.cast<double>().transpose();
      y_dense.rowwise() += bias.cast<double>().transpose();
      y_mag.rowwise() += bias.cast<double>().cwiseAbs().transpose();
    }
    const Index depth = s.n + s.r + s.m + s.batch + 10;
    const double k = gamma<float>(depth) + gamma<double>(depth);
    check_within(y_packed, y_ref, k * y_mag, "packed vs ref (FP16 scales)");
    // W x sums n products of reconstructed entries (each exact to gamma_{r+3} in double).
    check_within(y_packed, y_dense, (k + gamma<double>(s.n + s.r + 3)) * y_mag, "packed vs dense W x");
    // Training form (float scales, ell in float) vs packed (each scale rounded to FP16 once:
    // h, g within u16, ell within u16 of the float product): 3 u16 of the magnitudes, plus both
    // evaluations' rounding.
    check_within(y_packed, y_train, (2 * k + 3.01 * 0x1p-11) * y_mag, "packed vs training form");
  }
}

TEST_CASE("PackedFactorizedLinear: the fast precision stays within 1% relative of the reference") {
  const Shape s{1536, 64, 576, 4, 2, false};
  FactorizedLinear<float> train(random_params<float>(s, 61));
  PackedFactorizedLinear exact = train.pack(kernels::Precision::kExact), fast = train.pack(kernels::Precision::kFast);
  CHECK(fast.precision() == kernels::Precision::kFast);
  const RowMatrixXf x = littlebit::test::random_matrix(s.batch, s.n, 62).cast<float>();
  RowMatrixXf ye(s.batch, s.m), yf(s.batch, s.m);
  exact.forward(view(x), view(ye));
  fast.forward(view(x), view(yf));
  const double rel = (ye - yf).norm() / ye.norm();
  MESSAGE("fast vs exact relative error " << rel);
  CHECK(rel < 0.01);
  // The fast layout recovers the same signs and scales.
  for (int p = 0; p < 2; ++p) {
    CHECK(fast.path(p).u_sign == exact.path(p).u_sign);
    CHECK(fast.path(p).v_sign == exact.path(p).v_sign);
    CHECK(fast.path(p).ell == exact.path(p).ell);
  }
}

TEST_CASE("FactorizedLinear<float>: the fast precision trains within 1% of the exact one") {
  const Shape s{576, 64, 1536, 6, 2, false};
  const auto params = random_params<float>(s, 71);
  FactorizedLinear<float> exact(params), fast(params, {}, {{}, kernels::Precision::kFast, 0});
  const RowMatrixXf x = littlebit::test::random_matrix(s.batch, s.n, 72).cast<float>();
  const RowMatrixXf dy = littlebit::test::random_matrix(s.batch, s.m, 73).cast<float>();
  RowMatrixXf ye(s.batch, s.m), yf(s.batch, s.m), dxe(s.batch, s.n), dxf(s.batch, s.n);
  exact.forward(x, ye);
  fast.forward(x, yf);
  exact.backward(dy, dxe);
  fast.backward(dy, dxf);
  CHECK((ye - yf).norm() / ye.norm() < 0.01f);
  CHECK((dxe - dxf).norm() / dxe.norm() < 0.01f);
  for (const auto& b : exact.blocks()) {
    const Eigen::Map<const Eigen::VectorXf> ge(exact.gradients().data() + b.offset, b.size());
    const Eigen::Map<const Eigen::VectorXf> gf(fast.gradients().data() + b.offset, b.size());
    CHECK_MESSAGE((ge - gf).norm() <= 0.01f * ge.norm(), b.name);
  }
}

TEST_CASE("FactorizedLinear: from_dual_svid starts from the decomposition and packs to its signs and scales") {
  const RowMatrixXd w = littlebit::test::random_matrix(40, 56, 81);
  DualSvidOptions o;
  o.svd = SvdMethod::kExact;
  const auto d = dual_svid(Eigen::MatrixXd(w), 16, o);
  const auto layer = FactorizedLinear<float>::from_dual_svid(d);
  CHECK(layer.num_paths() == 2);
  CHECK(layer.rank() == 16);
  const auto packed = layer.pack();
  CHECK(packed.path(0).u_sign == d.primary.u_sign);
  CHECK(packed.path(1).v_sign == d.residual->v_sign);
  // Storage is the rank solver's count exactly (rank and in_features multiples of 8, no bias).
  CHECK(packed.storage_bits() == storage_bits({40, 56}, 16, true));
  CHECK(layer.storage_bits() == packed.storage_bits());
}

TEST_CASE("FactorizedLinear and PackedFactorizedLinear: bad input raises littlebit::Error naming it") {
  const Shape s{6, 8, 10, 2, 2, false};
  auto params = random_params<float>(s, 91);
  auto bad = params;
  bad[1].V = RowMatrixXf::Zero(8, 11);
  CHECK_THROWS_WITH_AS((void)FactorizedLinear<float>(bad), doctest::Contains("'V_R'"), Error);
  bad = params;
  bad[0].u2 = Eigen::VectorXf::Zero(7);
  CHECK_THROWS_WITH_AS((void)FactorizedLinear<float>(bad), doctest::Contains("'u2'"), Error);
  bad = params;
  bad[0].U(2, 3) = std::nanf("");
  CHECK_THROWS_WITH_AS((void)FactorizedLinear<float>(bad), doctest::Contains("'U' element 2, 3 is not finite"), Error);
  CHECK_THROWS_WITH_AS((void)FactorizedLinear<float>(params, Eigen::VectorXf::Zero(5)), doctest::Contains("bias"), Error);
  CHECK_THROWS_AS((void)FactorizedLinear<float>(std::vector<FactorizedPathParams<float>>{}), Error);
  CHECK_THROWS_WITH_AS((void)FactorizedLinear<float>(params, {}, {{SignGradient::kSmoothSign, -1.0}, {}, 0}),
                       doctest::Contains("alpha"), Error);

  FactorizedLinear<float> layer(params);
  RowMatrixXf x(2, 10), y(2, 6), dy(2, 6), dx(2, 10);
  x.setOnes();
  dy.setOnes();
  CHECK_THROWS_WITH_AS(layer.backward(dy, dx), doctest::Contains("no forward"), Error);
  RowMatrixXf x_bad(2, 9);
  CHECK_THROWS_WITH_AS(layer.forward(x_bad, y), doctest::Contains("X has 9 columns"), Error);
  layer.forward(x, y);
  RowMatrixXf dy_bad(3, 6);
  CHECK_THROWS_WITH_AS(layer.backward(dy_bad, dx), doctest::Contains("dY is 3 x 6"), Error);
  // A latent NaN introduced through the parameter view is caught when the signs are packed.
  layer.V(0)(1, 1) = std::nanf("");
  CHECK_THROWS_WITH_AS(layer.forward(x, y), doctest::Contains("NaN"), Error);

  // Packed: scales that overflow FP16 and non-finite stored scales.
  FactorizedLinear<float> big(params);
  big.u1(0)(0) = 1e6f;
  CHECK_THROWS_WITH_AS((void)big.pack(), doctest::Contains("FactorizedLinear::pack: u1: entry 0 = 1e+06 does not fit FP16"), Error);
  const PackedFactorizedLinear good = FactorizedLinear<float>(params).pack();
  PackedPath p = good.path(0);
  p.g[3] = Float16(std::numeric_limits<float>::infinity());
  CHECK_THROWS_WITH_AS(PackedFactorizedLinear({p}), doctest::Contains("g[3] is not finite"), Error);
  p = good.path(0);
  p.ell.pop_back();
  CHECK_THROWS_WITH_AS(PackedFactorizedLinear({p}), doctest::Contains("ell must have 8 entries"), Error);
}
