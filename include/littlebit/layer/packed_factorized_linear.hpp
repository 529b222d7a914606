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

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/core/matrix_view.hpp"
#include "littlebit/kernels/factorized_forward.hpp"
#include "littlebit/ref/factorized.hpp"

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
  ref::FactorizedPath<Float16> view() const {
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
    auto fp16 = [](const AlignedBuffer<float>& v) {
      std::vector<Float16> out(static_cast<std::size_t>(v.size()));
      for (Index i = 0; i < v.size(); ++i) out[static_cast<std::size_t>(i)] = Float16(v[i]);
      return out;
    };
    return {q.u_sign.to_bit_matrix(), q.v_sign.to_bit_matrix(), fp16(q.h), fp16(q.ell), fp16(q.g)};
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

}  // namespace littlebit
