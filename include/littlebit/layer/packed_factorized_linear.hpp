// littlebit/layer/packed_factorized_linear.hpp: the inference form of a factorized layer.
//
//   Y = sum_p h_p . ( U_sign_p ( ell_p . ( V_sign_p^T-products ( g_p . x ) ) ) ) + bias
//
// exactly ref::factorized_forward on the stored FP16 scales (see ref/factorized.hpp for the
// names), computed by the fused kernel (kernels/factorized_forward.hpp) within the bounds of
// docs/kernels.md. What it holds: per path the signs in the kernels' layout (a lossless
// permutation of the packed bits, ~1 bit per sign) and the scales widened to float (exact); no
// latent matrix. Storage (what the file formats write, docs/format.md) is counted by
// storage_bits(); what the object occupies in memory by memory_bytes().
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/core/matrix_view.hpp"
#include "littlebit/kernels/factorized_forward.hpp"
#include "littlebit/core/factorized_path.hpp"

namespace littlebit {

/// One path as stored: packed signs and FP16 scales.
struct PackedPath {
  BitMatrix u_sign;          // m x r, packed along r
  BitMatrix v_sign;          // r x n, packed along n
  std::vector<Float16> h;    // m    (official u1)
  std::vector<Float16> ell;  // r    (official v1 * u2)
  std::vector<Float16> g;    // n    (official v2)

  Index out_features() const { return u_sign.rows(); }
  Index in_features() const { return v_sign.cols(); }
  Index rank() const { return u_sign.cols(); }
  /// The reference's view of this path (valid while the path lives).
  FactorizedPath<Float16> view() const {
    return {std::span<const Float16>(h), u_sign.view(), std::span<const Float16>(ell), v_sign.view(),
            std::span<const Float16>(g)};
  }
};

namespace detail {

/// Bits one path stores: its signs (rows padded to whole bytes, as the files store them) and
/// its three FP16 scale vectors. Equals rank_solver's per-path count when r and n are multiples of 8.
inline std::int64_t packed_path_bits(Index m, Index r, Index n) {
  const auto bytes = [](Index bits) { return (bits + 7) / 8; };
  return 8 * (m * bytes(r) + r * bytes(n)) + 16 * (m + r + n);
}

}  // namespace detail

class PackedFactorizedLinear {
 public:
  PackedFactorizedLinear() = default;

  /// One or two paths of equal out x in shape (ranks may differ), optional bias (m floats;
  /// empty for none). Raises littlebit::Error naming the part on a shape mismatch or a scale
  /// that is not finite, and prepares the kernels' layout for `precision`.
  explicit PackedFactorizedLinear(const std::vector<PackedPath>& paths, std::vector<float> bias = {},
                                  kernels::Precision precision = kernels::Precision::kExact)
      : bias_(std::move(bias)), precision_(precision) {
    if (paths.empty() || paths.size() > 2)
      littlebit::detail::fail("PackedFactorizedLinear: 1 or 2 paths (primary, residual), found ", paths.size());
    for (std::size_t p = 0; p < paths.size(); ++p) {
      const char* what = p == 0 ? "PackedFactorizedLinear primary path" : "PackedFactorizedLinear residual path";
      const auto v = paths[p].view();
      v.validate(what);
      if (v.rank() == 0) littlebit::detail::fail(what, ": rank 0");
      if (p > 0 && (v.out_features() != paths[0].out_features() || v.in_features() != paths[0].in_features()))
        littlebit::detail::fail(what, ": shape ", v.out_features(), " x ", v.in_features(), " differs from the primary's ",
                                paths[0].out_features(), " x ", paths[0].in_features());
      check_finite(paths[p].h, what, "h");
      check_finite(paths[p].ell, what, "ell");
      check_finite(paths[p].g, what, "g");
      prepared_.push_back(kernels::PreparedPath::from(v, precision));
    }
    if (!bias_.empty() && static_cast<Index>(bias_.size()) != out_features())
      littlebit::detail::fail("PackedFactorizedLinear: bias must have ", out_features(), " entries, found ", bias_.size());
    for (std::size_t i = 0; i < bias_.size(); ++i)
      if (!std::isfinite(bias_[i])) littlebit::detail::fail("PackedFactorizedLinear: bias[", i, "] is not finite");
  }

  Index out_features() const { return prepared_.empty() ? 0 : prepared_[0].out_features(); }
  Index in_features() const { return prepared_.empty() ? 0 : prepared_[0].in_features(); }
  /// The primary path's rank.
  Index rank() const { return prepared_.empty() ? 0 : prepared_[0].rank(); }
  int num_paths() const { return static_cast<int>(prepared_.size()); }
  bool has_residual() const { return prepared_.size() == 2; }
  bool has_bias() const { return !bias_.empty(); }
  kernels::Precision precision() const { return precision_; }
  const std::vector<float>& bias() const { return bias_; }
  const std::vector<kernels::PreparedPath>& prepared() const { return prepared_; }

  /// Path p as stored (recovered from the kernels' layout: exact).
  PackedPath path(int p) const {
    if (p < 0 || p >= num_paths()) littlebit::detail::fail("PackedFactorizedLinear::path: no path ", p);
    const auto& q = prepared_[static_cast<std::size_t>(p)];
    return {q.u_sign.to_bit_matrix(), q.v_sign.to_bit_matrix(), to_float16(q.h, "PackedFactorizedLinear h"),
            to_float16(q.ell, "PackedFactorizedLinear ell"), to_float16(q.g, "PackedFactorizedLinear g")};
  }
  std::vector<PackedPath> paths() const {
    std::vector<PackedPath> out;
    for (int p = 0; p < num_paths(); ++p) out.push_back(path(p));
    return out;
  }

  /// Y (batch x m, float) = the layer on X (batch x n; float, Float16 or BFloat16), rows
  /// contiguous. `ws` is scratch (one per concurrent caller); no allocation once it has grown.
  template <class TX>
  void forward(MatrixView<TX> x, MatrixView<float> y, kernels::ForwardWorkspace& ws,
               const kernels::ForwardOptions& o = {}) const {
    if (prepared_.empty()) littlebit::detail::fail("PackedFactorizedLinear::forward: empty layer");
    kernels::factorized_forward(std::span<const kernels::PreparedPath>(prepared_), x, y, ws, o);
    if (!bias_.empty())
      for (Index b = 0; b < y.rows(); ++b) {
        float* row = y.row(b);
        for (Index i = 0; i < y.cols(); ++i) row[i] += bias_[static_cast<std::size_t>(i)];
      }
  }
  /// The same with the layer's own workspace (not for concurrent calls on one object).
  template <class TX>
  void forward(MatrixView<TX> x, MatrixView<float> y, const kernels::ForwardOptions& o = {}) {
    forward(x, y, workspace_, o);
  }

  /// Bits the formats store (docs/format.md): every path's signs and FP16 scales, plus 32 m for
  /// a bias. Without bias and with rank and in_features multiples of 8 this is exactly
  /// quant::storage_bits, the rank solver's count.
  std::int64_t storage_bits() const {
    std::int64_t bits = 0;
    for (const auto& p : prepared_) bits += detail::packed_path_bits(p.out_features(), p.rank(), p.in_features());
    return bits + 32 * static_cast<std::int64_t>(bias_.size());
  }
  std::size_t storage_bytes() const { return static_cast<std::size_t>(storage_bits() / 8); }
  /// storage_bits / (out_features * in_features).
  double bits_per_weight() const {
    return prepared_.empty() ? 0.0
                             : static_cast<double>(storage_bits()) / static_cast<double>(out_features() * in_features());
  }
  /// Bytes this object holds: signs in the kernels' layout (rows padded to the layout's blocks and
  /// steps), float scales and bias; not counting the workspace.
  std::size_t memory_bytes() const {
    std::size_t bytes = bias_.size() * sizeof(float);
    for (const auto& p : prepared_)
      bytes += p.u_sign.size_bytes() + p.v_sign.size_bytes() + p.h.bytes() + p.ell.bytes() + p.g.bytes();
    return bytes;
  }

 private:
  static void check_finite(const std::vector<Float16>& v, const char* what, const char* name) {
    for (std::size_t i = 0; i < v.size(); ++i)
      if (!std::isfinite(static_cast<float>(v[i])))
        littlebit::detail::fail(what, ": ", name, "[", i, "] is not finite (FP16 bits 0x", std::hex, v[i].bits, ")");
  }

  std::vector<kernels::PreparedPath> prepared_;
  std::vector<float> bias_;
  kernels::Precision precision_ = kernels::Precision::kExact;
  kernels::ForwardWorkspace workspace_;
};

/// What a packed layer's reconstruction loses of the dense weight it came from.
struct ReconstructionError {
  double primary = 0.0;  // ||W - W_pri||_F / ||W||_F
  double total = 0.0;    // ||W - sum_p W_p||_F / ||W||_F (= primary for one path)
};

/// The relative Frobenius errors of `layer` against the dense W (m x n, any float type) it
/// approximates, with W_p = diag(h) U_sign diag(ell) V_sign^T diag(g) from the scales as stored
/// (FP16) and the signs as packed: exactly what the layer computes, summed in double (blocks of
/// rows, no m x n temporary). Raises littlebit::Error on a shape mismatch; an all-zero W gives
/// errors relative to 1 (the absolute norms), not NaN.
template <class T>
ReconstructionError reconstruction_error(const PackedFactorizedLinear& layer, MatrixView<const T> w) {
  littlebit::detail::check_shape(w, layer.out_features(), layer.in_features(), "reconstruction_error W");
  using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Index m = w.rows(), n = w.cols();
  struct Factors {
    Mat a;  // m x r: diag(h) U_sign
    Mat b;  // r x n: diag(ell) V_sign^T diag(g)
  };
  std::vector<Factors> f;
  for (int p = 0; p < layer.num_paths(); ++p) {
    const auto& q = layer.prepared()[static_cast<std::size_t>(p)];
    const BitMatrix u = q.u_sign.to_bit_matrix(), v = q.v_sign.to_bit_matrix();
    const Index r = u.cols();
    Factors fp{Mat(m, r), Mat(r, n)};
    for (Index i = 0; i < m; ++i)
      for (Index k = 0; k < r; ++k) fp.a(i, k) = static_cast<double>(q.h[i]) * u.sign(i, k);
    for (Index k = 0; k < r; ++k)
      for (Index j = 0; j < n; ++j) fp.b(k, j) = static_cast<double>(q.ell[k]) * v.sign(k, j) * static_cast<double>(q.g[j]);
    f.push_back(std::move(fp));
  }
  constexpr Index kRows = 256;
  double norm2 = 0, primary2 = 0, total2 = 0;
  Mat rest;
  for (Index i0 = 0; i0 < m; i0 += kRows) {
    const Index rows = std::min(kRows, m - i0);
    rest.resize(rows, n);
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < n; ++j) rest(i, j) = to_double(w(i0 + i, j));
    norm2 += rest.squaredNorm();
    for (std::size_t p = 0; p < f.size(); ++p) {
      rest.noalias() -= f[p].a.middleRows(i0, rows) * f[p].b;
      if (p == 0) primary2 += rest.squaredNorm();
    }
    total2 += rest.squaredNorm();
  }
  const double norm = norm2 > 0 ? std::sqrt(norm2) : 1.0;
  return {std::sqrt(primary2) / norm, std::sqrt(total2) / norm};
}

}  // namespace littlebit
