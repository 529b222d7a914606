// littlebit/layer/factorized_linear.hpp: the training form of a factorized linear layer.
//
// Parameters per path, in the official parameterization (reference: ref/factorized.hpp with
// h = u1, ell = v1 . u2, g = v2):
//   U (m x r), V (r x n)  latent reals; the forward uses sign(U), sign(V) (sign(0) = +1)
//   u1 (m), u2 (r), v1 (r), v2 (n)
// and an optional bias (m). For a batch X (B x n, rows are samples):
//   t = (X . g) sign(V)^T    s = t . ell    z = s sign(U)^T    Y = sum_p z . h  (+ bias)
// Backward, for dY (B x m), accumulating into the gradients as an optimizer expects:
//   du1 += sum_b dY . z            dz = dY . h
//   dU  += (dz^T s) . sign'(U)     ds = dz sign(U)
//   dell = sum_b ds . t            du2 += dell . v1,  dv1 += dell . u2,  dt = ds . ell
//   dV  += ((dt^T X) . g) . sign'(V)                  da = dt sign(V)
//   dv2 += sum_b da . X            dX (+)= da . g     dbias += sum_b dY
// with sign' the SmoothSign or STE surrogate (quant/sign_gradient.hpp).
//
// Where it runs: the four sign products (t, z, ds, da) go through the table-lookup kernels on
// packed signs (float; kernels/sign_gemm.hpp: sign(U), sign(V) packed at forward, their
// transposes by a bit transpose at backward) or through linalg::gemm on +1/-1 matrices (double,
// the checking precision); dz^T s and dt^T X are real products, always linalg::gemm (Eigen, or
// CBLAS with LITTLEBIT_USE_CBLAS). Elementwise stages are row-parallel loops (OpenMP).
//
// Forward caches X, each path's packed signs, t, s and z for backward; a backward must follow a
// forward of the same batch, and it uses the signs packed at that forward.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/bit_transpose.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/core/matrix_view.hpp"
#include "littlebit/core/pack.hpp"
#include "littlebit/kernels/pack.hpp"
#include "littlebit/kernels/sign_gemm.hpp"
#include "littlebit/layer/packed_factorized_linear.hpp"
#include "littlebit/linalg/gemm.hpp"
#include "littlebit/quant/dual_svid.hpp"
#include "littlebit/quant/sign_gradient.hpp"

namespace littlebit {

/// One path's parameters in the official parameterization.
template <class Scalar>
struct FactorizedPathParams {
  linalg::RowMatrix<Scalar> U;                   // m x r, latent
  linalg::RowMatrix<Scalar> V;                   // r x n, latent
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> u1;  // m   (h)
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> u2;  // r   (ell = v1 . u2)
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> v1;  // r
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> v2;  // n   (g)
};

struct FactorizedLinearOptions {
  SignGradientRule gradient{};                                  // SmoothSign (alpha 100) or STE
  kernels::Precision precision = kernels::Precision::kExact;  // float: the sign products' kernels
  int threads = 0;                                              // 0: omp_get_max_threads()
};

namespace detail {

/// Runs f(b0, b1, partial) on row ranges [b0, b1) of `rows`, split between threads; each thread's
/// `partial` (width entries, zeroed) is then added into sum[0..width) in thread order (sum may be
/// null when width is 0).
template <class Scalar, class F>
void parallel_rows(Index rows, Index width, Scalar* sum, int threads, std::vector<Scalar>& scratch, F&& f) {
  const int nt = std::max(1, std::min<int>(threads, static_cast<int>(std::max<Index>(1, rows / 4))));
  scratch.assign(static_cast<std::size_t>(nt * width), Scalar(0));
  auto body = [&](int t) {
    const Index b0 = rows * t / nt, b1 = rows * (t + 1) / nt;
    f(b0, b1, scratch.data() + t * width);
  };
  if (nt == 1) {
    body(0);
  } else {
#if defined(_OPENMP)
#pragma omp parallel num_threads(nt)
    body(omp_get_thread_num());
#else
    for (int t = 0; t < nt; ++t) body(t);
#endif
  }
  for (int t = 0; t < nt; ++t)
    for (Index i = 0; i < width; ++i) sum[i] += scratch[static_cast<std::size_t>(t * width + i)];
}

/// f0() and f1(), on two threads when there are two.
template <class F0, class F1>
void run_two(int threads, F0&& f0, F1&& f1) {
#if defined(_OPENMP)
  if (threads > 1) {
#pragma omp parallel num_threads(2)
    {
      if (omp_get_num_threads() == 1) {
        f0();
        f1();
      } else if (omp_get_thread_num() == 0) {
        f0();
      } else {
        f1();
      }
    }
    return;
  }
#endif
  (void)threads;
  f0();
  f1();
}

}  // namespace detail

template <class Scalar>
class FactorizedLinear {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>, "FactorizedLinear is float or double");

 public:
  using RowMatrix = linalg::RowMatrix<Scalar>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using MatrixMap = Eigen::Map<RowMatrix>;
  using ConstMatrixMap = Eigen::Map<const RowMatrix>;
  using VectorMap = Eigen::Map<Vector>;
  using ConstVectorMap = Eigen::Map<const Vector>;
  using Params = FactorizedPathParams<Scalar>;

  /// Where a parameter lives in parameters() / gradients(): name ("U", "V", "u1", "u2", "v1",
  /// "v2", with suffix "_R" for the residual path, and "bias"), offset, and its shape (vectors
  /// are rows x 1). Matrices are row-major.
  struct Block {
    std::string name;
    Index offset = 0, rows = 0, cols = 0;
    Index size() const { return rows * cols; }
  };

  FactorizedLinear() = default;

  /// From given tensors: one or two paths of one shape and rank; bias empty or m entries.
  /// Raises littlebit::Error naming the tensor on a shape mismatch or a non-finite value.
  explicit FactorizedLinear(const std::vector<Params>& paths, const Vector& bias = Vector(),
                            FactorizedLinearOptions options = {})
      : options_(options) {
    options_.gradient.validate("FactorizedLinear");
    if (paths.empty() || paths.size() > 2)
      littlebit::detail::fail("FactorizedLinear: 1 or 2 paths (primary, residual), found ", paths.size());
    m_ = paths[0].U.rows();
    r_ = paths[0].U.cols();
    n_ = paths[0].V.cols();
    if (m_ <= 0 || r_ <= 0 || n_ <= 0)
      littlebit::detail::fail("FactorizedLinear: U is ", m_, " x ", r_, " and V has ", n_, " columns; all must be positive");
    num_paths_ = static_cast<int>(paths.size());
    Index offset = 0;
    for (int p = 0; p < num_paths_; ++p) {
      const std::string sfx = p == 0 ? "" : "_R";
      for (auto [name, rows, cols] : {std::tuple{"U", m_, r_}, std::tuple{"V", r_, n_}, std::tuple{"u1", m_, Index{1}},
                                      std::tuple{"u2", r_, Index{1}}, std::tuple{"v1", r_, Index{1}},
                                      std::tuple{"v2", n_, Index{1}}}) {
        blocks_.push_back({std::string(name) + sfx, offset, rows, cols});
        offset += rows * cols;
      }
    }
    if (bias.size() != 0) {
      if (bias.size() != m_) littlebit::detail::fail("FactorizedLinear: bias must have ", m_, " entries, found ", bias.size());
      blocks_.push_back({"bias", offset, m_, 1});
      offset += m_;
      has_bias_ = true;
    }
    params_.assign(static_cast<std::size_t>(offset), Scalar(0));
    grads_.assign(static_cast<std::size_t>(offset), Scalar(0));
    for (int p = 0; p < num_paths_; ++p) {
      const Params& in = paths[static_cast<std::size_t>(p)];
      const std::string sfx = p == 0 ? "" : "_R";
      copy_in(in.U, p, 0, sfx);
      copy_in(in.V, p, 1, sfx);
      copy_in(in.u1, p, 2, sfx);
      copy_in(in.u2, p, 3, sfx);
      copy_in(in.v1, p, 4, sfx);
      copy_in(in.v2, p, 5, sfx);
    }
    if (has_bias_) copy_block(bias.data(), bias.rows(), 1, blocks_.back());
    paths_.resize(static_cast<std::size_t>(num_paths_));
  }

  /// From a Dual-SVID initialization (its latent U', V' and scales become the parameters).
  template <class S>
  static FactorizedLinear from_dual_svid(const DualSvidResult<S>& d, const Vector& bias = Vector(),
                                         FactorizedLinearOptions options = {}) {
    std::vector<Params> paths;
    auto add = [&](const DualSvidPath<S>& p) {
      Params q;
      q.U = p.u_latent.template cast<Scalar>();
      q.V = p.v_latent.template cast<Scalar>();
      q.u1 = p.h.template cast<Scalar>();
      q.u2 = p.ell_u.template cast<Scalar>();
      q.v1 = p.ell_v.template cast<Scalar>();
      q.v2 = p.g.template cast<Scalar>();
      paths.push_back(std::move(q));
    };
    add(d.primary);
    if (d.residual) add(*d.residual);
    return FactorizedLinear(paths, bias, options);
  }

  Index out_features() const { return m_; }
  Index in_features() const { return n_; }
  Index rank() const { return r_; }
  int num_paths() const { return num_paths_; }
  bool has_residual() const { return num_paths_ == 2; }
  bool has_bias() const { return has_bias_; }
  const FactorizedLinearOptions& options() const { return options_; }
  /// Change the sign gradient, precision or threads between steps.
  void set_options(const FactorizedLinearOptions& o) {
    o.gradient.validate("FactorizedLinear::set_options");
    options_ = o;
  }

  // ---- parameters and gradients (one flat array each, laid out as blocks()) ----
  std::span<Scalar> parameters() { return params_; }
  std::span<const Scalar> parameters() const { return params_; }
  std::span<Scalar> gradients() { return grads_; }
  std::span<const Scalar> gradients() const { return grads_; }
  const std::vector<Block>& blocks() const { return blocks_; }
  void zero_grad() { std::fill(grads_.begin(), grads_.end(), Scalar(0)); }

  MatrixMap U(int p = 0) { return mat(params_, p, 0); }
  MatrixMap V(int p = 0) { return mat(params_, p, 1); }
  VectorMap u1(int p = 0) { return vec(params_, p, 2); }
  VectorMap u2(int p = 0) { return vec(params_, p, 3); }
  VectorMap v1(int p = 0) { return vec(params_, p, 4); }
  VectorMap v2(int p = 0) { return vec(params_, p, 5); }
  VectorMap bias() { return bias_of(params_); }
  ConstMatrixMap U(int p = 0) const { return cmat(params_, p, 0); }
  ConstMatrixMap V(int p = 0) const { return cmat(params_, p, 1); }
  ConstVectorMap u1(int p = 0) const { return cvec(params_, p, 2); }
  ConstVectorMap u2(int p = 0) const { return cvec(params_, p, 3); }
  ConstVectorMap v1(int p = 0) const { return cvec(params_, p, 4); }
  ConstVectorMap v2(int p = 0) const { return cvec(params_, p, 5); }
  ConstVectorMap bias() const { return cbias_of(params_); }
  MatrixMap grad_U(int p = 0) { return mat(grads_, p, 0); }
  MatrixMap grad_V(int p = 0) { return mat(grads_, p, 1); }
  VectorMap grad_u1(int p = 0) { return vec(grads_, p, 2); }
  VectorMap grad_u2(int p = 0) { return vec(grads_, p, 3); }
  VectorMap grad_v1(int p = 0) { return vec(grads_, p, 4); }
  VectorMap grad_v2(int p = 0) { return vec(grads_, p, 5); }
  VectorMap grad_bias() { return bias_of(grads_); }

  /// Path p's parameters as a copy.
  Params path_params(int p = 0) const { return {U(p), V(p), u1(p), u2(p), v1(p), v2(p)}; }

  // ---- forward / backward ----

  /// Y (B x m) = the layer on X (B x n); caches what backward needs.
  void forward(const Eigen::Ref<const RowMatrix>& x, Eigen::Ref<RowMatrix> y) {
    require_built("forward");
    if (x.cols() != n_) littlebit::detail::fail("FactorizedLinear::forward: X has ", x.cols(), " columns, expected ", n_);
    if (y.rows() != x.rows() || y.cols() != m_)
      littlebit::detail::fail("FactorizedLinear::forward: Y is ", y.rows(), " x ", y.cols(), ", expected ", x.rows(), " x ", m_);
    const Index batch = x.rows();
    const int nt = threads();
    x_ = x;
    for (int p = 0; p < num_paths_; ++p) {
      PathCache& c = paths_[static_cast<std::size_t>(p)];
      c.ell = (v1(p).array() * u2(p).array()).matrix();
      c.t.resize(batch, r_);
      c.s.resize(batch, r_);
      c.z.resize(batch, m_);
      c.transposed = false;
      if constexpr (std::is_same_v<Scalar, float>) {
        const kernels::GemmOptions go{kernels::default_arch(), nt};
        const auto u = std::as_const(*this).U(p);
        const auto v = std::as_const(*this).V(p);
        kernels::pack_signs_fast(view(u), c.u_sign, p == 0 ? "FactorizedLinear U" : "FactorizedLinear U_R", nt);
        kernels::pack_signs_fast(view(v), c.v_sign, p == 0 ? "FactorizedLinear V" : "FactorizedLinear V_R", nt);
        detail::run_two(nt, [&] { c.u_prep = kernels::PreparedSigns(c.u_sign.view(), options_.precision); },
                        [&] { c.v_prep = kernels::PreparedSigns(c.v_sign.view(), options_.precision); });
        const auto g = v2(p);
        kernels::sign_gemm(c.v_prep, view(std::as_const(x_)), view(c.t), ws_, go, g.data());
        detail::parallel_rows<Scalar>(batch, 0, nullptr, nt, scratch_, [&](Index b0, Index b1, Scalar*) {
          for (Index b = b0; b < b1; ++b) c.s.row(b) = c.t.row(b).cwiseProduct(c.ell.transpose());
        });
        kernels::sign_gemm(c.u_prep, view(std::as_const(c.s)), view(c.z), ws_, go);
      } else {
        c.u_sign = pack_signs(U(p), p == 0 ? "FactorizedLinear U" : "FactorizedLinear U_R");
        c.v_sign = pack_signs(V(p), p == 0 ? "FactorizedLinear V" : "FactorizedLinear V_R");
        c.u_pm = unpack_pm(c.u_sign);
        c.v_pm = unpack_pm(c.v_sign);
        // t = X diag(g) sign(V)^T = X (sign(V) diag(g))^T
        const RowMatrix vg = c.v_pm * v2(p).asDiagonal();
        linalg::gemm<Scalar>(linalg::Op::kNone, cmap(x_), linalg::Op::kTranspose, cmap(vg), map(c.t));
        c.s = c.t * c.ell.asDiagonal();
        linalg::gemm<Scalar>(linalg::Op::kNone, cmap(c.s), linalg::Op::kTranspose, cmap(c.u_pm), map(c.z));
      }
    }
    // Y = sum_p z_p . h_p + bias
    detail::parallel_rows<Scalar>(batch, 0, nullptr, nt, scratch_, [&](Index b0, Index b1, Scalar*) {
      for (Index b = b0; b < b1; ++b) {
        auto yb = y.row(b);
        yb = paths_[0].z.row(b).cwiseProduct(u1(0).transpose());
        if (num_paths_ == 2) yb += paths_[1].z.row(b).cwiseProduct(u1(1).transpose());
        if (has_bias_) yb += bias().transpose();
      }
    });
    batch_ = batch;
  }

  /// dX (B x n) from dY (B x m) for the batch of the last forward; adds every parameter's
  /// gradient into gradients().
  void backward(const Eigen::Ref<const RowMatrix>& dy, Eigen::Ref<RowMatrix> dx) {
    require_built("backward");
    if (batch_ < 0) littlebit::detail::fail("FactorizedLinear::backward: no forward to go back through");
    if (dy.rows() != batch_ || dy.cols() != m_)
      littlebit::detail::fail("FactorizedLinear::backward: dY is ", dy.rows(), " x ", dy.cols(), ", expected ", batch_,
                              " x ", m_, " (the last forward's batch)");
    if (dx.rows() != batch_ || dx.cols() != n_)
      littlebit::detail::fail("FactorizedLinear::backward: dX is ", dx.rows(), " x ", dx.cols(), ", expected ", batch_,
                              " x ", n_);
    const Index batch = batch_;
    const int nt = threads();
    dz_.resize(batch, m_);
    ds_.resize(batch, r_);
    dt_.resize(batch, r_);
    da_.resize(batch, n_);
    gsign_u_.resize(m_, r_);
    gsign_v_.resize(r_, n_);
    Vector sum;
    for (int p = 0; p < num_paths_; ++p) {
      PathCache& c = paths_[static_cast<std::size_t>(p)];
      const auto h = u1(p), g = v2(p);
      // dz = dY . h;  du1 += sum_b dY . z;  (dbias += sum_b dY, once)
      const bool with_bias = p == 0 && has_bias_;
      sum.setZero(with_bias ? 2 * m_ : m_);
      detail::parallel_rows<Scalar>(batch, sum.size(), sum.data(), nt, scratch_, [&](Index b0, Index b1, Scalar* part) {
        VectorMap dh(part, m_);
        for (Index b = b0; b < b1; ++b) {
          dz_.row(b) = dy.row(b).cwiseProduct(h.transpose());
          dh += dy.row(b).cwiseProduct(c.z.row(b)).transpose();
          if (with_bias) VectorMap(part + m_, m_) += dy.row(b).transpose();
        }
      });
      grad_u1(p) += sum.head(m_);
      if (with_bias) grad_bias() += sum.tail(m_);

      // dU += (dz^T s) . sign'(U)
      linalg::gemm<Scalar>(linalg::Op::kTranspose, cmap(dz_), linalg::Op::kNone, cmap(c.s), map(gsign_u_));
      apply_sign_gradient(options_.gradient, U(p).data(), gsign_u_.data(), grad_U(p).data(), m_ * r_, true);

      // ds = dz sign(U)
      if constexpr (std::is_same_v<Scalar, float>) {
        prepare_transposes(c);
        kernels::sign_gemm(c.ut_prep, view(std::as_const(dz_)), view(ds_), ws_, {kernels::default_arch(), nt});
      } else {
        linalg::gemm<Scalar>(linalg::Op::kNone, cmap(dz_), linalg::Op::kNone, cmap(c.u_pm), map(ds_));
      }

      // dell = sum_b ds . t;  dt = ds . ell
      sum.setZero(r_);
      detail::parallel_rows<Scalar>(batch, r_, sum.data(), nt, scratch_, [&](Index b0, Index b1, Scalar* part) {
        VectorMap dell(part, r_);
        for (Index b = b0; b < b1; ++b) {
          dell += ds_.row(b).cwiseProduct(c.t.row(b)).transpose();
          dt_.row(b) = ds_.row(b).cwiseProduct(c.ell.transpose());
        }
      });
      grad_u2(p) += sum.cwiseProduct(v1(p));
      grad_v1(p) += sum.cwiseProduct(u2(p));

      // dV += ((dt^T X) . g) . sign'(V)
      linalg::gemm<Scalar>(linalg::Op::kTranspose, cmap(dt_), linalg::Op::kNone, cmap(x_), map(gsign_v_));
      detail::parallel_rows<Scalar>(r_, 0, nullptr, nt, scratch_, [&](Index k0, Index k1, Scalar*) {
        for (Index k = k0; k < k1; ++k) gsign_v_.row(k).array() *= g.transpose().array();
      });
      apply_sign_gradient(options_.gradient, V(p).data(), gsign_v_.data(), grad_V(p).data(), r_ * n_, true);

      // da = dt sign(V)
      if constexpr (std::is_same_v<Scalar, float>) {
        kernels::sign_gemm(c.vt_prep, view(std::as_const(dt_)), view(da_), ws_, {kernels::default_arch(), nt});
      } else {
        linalg::gemm<Scalar>(linalg::Op::kNone, cmap(dt_), linalg::Op::kNone, cmap(c.v_pm), map(da_));
      }

      // dv2 += sum_b da . X;  dX (+)= da . g
      sum.setZero(n_);
      detail::parallel_rows<Scalar>(batch, n_, sum.data(), nt, scratch_, [&](Index b0, Index b1, Scalar* part) {
        VectorMap dg(part, n_);
        for (Index b = b0; b < b1; ++b) {
          dg += da_.row(b).cwiseProduct(x_.row(b)).transpose();
          if (p == 0) dx.row(b) = da_.row(b).cwiseProduct(g.transpose());
          else dx.row(b) += da_.row(b).cwiseProduct(g.transpose());
        }
      });
      grad_v2(p) += sum;
    }
  }

  // ---- the packed form and its size ----

  /// The inference form: signs of U, V packed; h = u1, ell = v1 . u2 (product in Scalar), g = v2,
  /// each rounded to FP16 once; bias as float. Raises littlebit::Error on a NaN latent entry or a
  /// scale that does not fit FP16.
  PackedFactorizedLinear pack(kernels::Precision precision = kernels::Precision::kExact) const {
    require_built("pack");
    std::vector<PackedPath> out;
    for (int p = 0; p < num_paths_; ++p) {
      const std::string sfx = p == 0 ? "" : "_R";
      PackedPath q;
      q.u_sign = pack_signs(U(p), "FactorizedLinear::pack U" + sfx);
      q.v_sign = pack_signs(V(p), "FactorizedLinear::pack V" + sfx);
      q.h = to_float16(u1(p), "FactorizedLinear::pack: u1" + sfx);
      q.ell = to_float16((v1(p).array() * u2(p).array()).matrix(), "FactorizedLinear::pack: v1" + sfx + " * u2" + sfx);
      q.g = to_float16(v2(p), "FactorizedLinear::pack: v2" + sfx);
      out.push_back(std::move(q));
    }
    std::vector<float> b;
    if (has_bias_)
      for (Index i = 0; i < m_; ++i) b.push_back(static_cast<float>(bias()(i)));
    return PackedFactorizedLinear(out, std::move(b), precision);
  }

  /// What the packed form stores, in bits (see PackedFactorizedLinear::storage_bits).
  std::int64_t storage_bits() const {
    return num_paths_ * detail::packed_path_bits(m_, r_, n_) + (has_bias_ ? 32 * m_ : 0);
  }
  std::size_t storage_bytes() const { return static_cast<std::size_t>(storage_bits() / 8); }
  double bits_per_weight() const {
    return m_ == 0 ? 0.0 : static_cast<double>(storage_bits()) / static_cast<double>(m_ * n_);
  }

 private:
  struct PathCache {
    Vector ell;            // v1 . u2 at the forward
    RowMatrix t, s, z;     // B x r, B x r, B x m
    BitMatrix u_sign, v_sign;
    bool transposed = false;
    kernels::PreparedSigns u_prep, v_prep, ut_prep, vt_prep;  // float
    RowMatrix u_pm, v_pm;                                     // double: +1/-1 as Scalar
  };

  void require_built(const char* what) const {
    if (num_paths_ == 0) littlebit::detail::fail("FactorizedLinear::", what, ": empty layer");
  }
  int threads() const { return kernels::detail::resolve_threads(options_.threads); }

  const Block& block(int p, int k) const { return blocks_[static_cast<std::size_t>(6 * p + k)]; }
  MatrixMap mat(std::vector<Scalar>& a, int p, int k) {
    const Block& b = block(p, k);
    return MatrixMap(a.data() + b.offset, b.rows, b.cols);
  }
  ConstMatrixMap cmat(const std::vector<Scalar>& a, int p, int k) const {
    const Block& b = block(p, k);
    return ConstMatrixMap(a.data() + b.offset, b.rows, b.cols);
  }
  VectorMap vec(std::vector<Scalar>& a, int p, int k) {
    const Block& b = block(p, k);
    return VectorMap(a.data() + b.offset, b.rows);
  }
  ConstVectorMap cvec(const std::vector<Scalar>& a, int p, int k) const {
    const Block& b = block(p, k);
    return ConstVectorMap(a.data() + b.offset, b.rows);
  }
  VectorMap bias_of(std::vector<Scalar>& a) {
    if (!has_bias_) littlebit::detail::fail("FactorizedLinear: the layer has no bias");
    return VectorMap(a.data() + blocks_.back().offset, m_);
  }
  ConstVectorMap cbias_of(const std::vector<Scalar>& a) const {
    if (!has_bias_) littlebit::detail::fail("FactorizedLinear: the layer has no bias");
    return ConstVectorMap(a.data() + blocks_.back().offset, m_);
  }

  template <class M>
  void copy_in(const M& in, int p, int k, const std::string& sfx) {
    const Block& b = block(p, k);
    if (in.rows() != b.rows || in.cols() != b.cols)
      littlebit::detail::fail("FactorizedLinear: tensor '", b.name, "' is ", in.rows(), " x ", in.cols(), ", expected ",
                              b.rows, " x ", b.cols, sfx.empty() ? "" : " (the residual path must match the primary)");
    const RowMatrix row_major = in;  // either storage order in
    copy_block(row_major.data(), b.rows, b.cols, b);
  }
  void copy_block(const Scalar* data, Index rows, Index cols, const Block& b) {
    for (Index i = 0; i < rows * cols; ++i) {
      if (!std::isfinite(data[i]))
        littlebit::detail::fail("FactorizedLinear: tensor '", b.name, "' element ", i / cols, ", ", i % cols,
                                " is not finite");
      params_[static_cast<std::size_t>(b.offset + i)] = data[i];
    }
  }

  static RowMatrix unpack_pm(const BitMatrix& s) {
    RowMatrix out(s.rows(), s.cols());
    unpack_signs(s.view(), view(out));
    return out;
  }
  void prepare_transposes(PathCache& c) {
    if (c.transposed) return;
    detail::run_two(
        threads(), [&] { c.ut_prep = kernels::PreparedSigns(transpose(c.u_sign.view()).view(), options_.precision); },
        [&] { c.vt_prep = kernels::PreparedSigns(transpose(c.v_sign.view()).view(), options_.precision); });
    c.transposed = true;
  }
  static linalg::ConstRowMap<Scalar> cmap(const RowMatrix& a) { return linalg::row_map(a.data(), a.rows(), a.cols()); }
  static linalg::RowMap<Scalar> map(RowMatrix& a) { return linalg::row_map(a.data(), a.rows(), a.cols()); }

  Index m_ = 0, r_ = 0, n_ = 0;
  int num_paths_ = 0;
  bool has_bias_ = false;
  FactorizedLinearOptions options_;
  std::vector<Block> blocks_;
  std::vector<Scalar> params_, grads_;

  // Forward cache and backward scratch.
  Index batch_ = -1;
  RowMatrix x_;
  std::vector<PathCache> paths_;
  RowMatrix dz_, ds_, dt_, da_, gsign_u_, gsign_v_;
  std::vector<Scalar> scratch_;
  kernels::LutWorkspace ws_;
};

}  // namespace littlebit
