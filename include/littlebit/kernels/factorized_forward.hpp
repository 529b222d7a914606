// littlebit/kernels/factorized_forward.hpp: the fused forward of one or two factorized paths.
//
//   Y = sum_p h_p . ( U_sign_p ( ell_p . ( V_sign_p ( g_p . x ) ) ) )     for each row x of X
//
// (ref: ref::factorized_forward). Per activation row and path: tables of g . x, the V stage
// (r outputs, ell folded into its store), tables of that, the U stage (m outputs, h folded in,
// the second path accumulating). Both paths go through each stage together, so a call is four
// phases separated by three barriers inside one OpenMP region; matrix-row blocks are split
// between threads, the same split for both paths' U stages (no two threads write one output).
// No heap allocation once the workspace has grown to the largest layer and batch it serves.
#pragma once

#include <algorithm>
#include <span>
#include <vector>

#include "littlebit/core/aligned_buffer.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/core/matrix_view.hpp"
#include "littlebit/kernels/sign_gemm.hpp"
#include "littlebit/core/factorized_path.hpp"

LITTLEBIT_KERNELS_BEGIN_IGNORE_PR105593
namespace littlebit::kernels {

/// One path prepared for the kernels: repacked signs and float scales.
struct PreparedPath {
  PreparedSigns v_sign;  // r x n
  PreparedSigns u_sign;  // m x r
  AlignedBuffer<float> h, ell, g;

  Index out_features() const { return u_sign.rows(); }
  Index in_features() const { return v_sign.cols(); }
  Index rank() const { return v_sign.rows(); }

  /// From a path of any scale type (FP16 as stored, float, double: rounded to float once).
  template <class S>
  static PreparedPath from(const FactorizedPath<S>& p, Precision precision) {
    p.validate("kernels::PreparedPath");
    PreparedPath out;
    out.v_sign = PreparedSigns(p.v_sign, precision);
    out.u_sign = PreparedSigns(p.u_sign, precision);
    auto copy = [](std::span<const S> from, AlignedBuffer<float>& to) {
      to.resize(static_cast<Index>(from.size()));
      for (std::size_t i = 0; i < from.size(); ++i) to[static_cast<Index>(i)] = static_cast<float>(to_double(from[i]));
    };
    copy(p.h, out.h);
    copy(p.ell, out.ell);
    copy(p.g, out.g);
    return out;
  }
};

/// Scratch of the fused forward: tables of both stages and the rank-sized intermediates.
struct ForwardWorkspace {
  LutWorkspace stage1, stage2;
  AlignedBuffer<float> t;
};

struct ForwardOptions {
  Arch arch = default_arch();
  int threads = 0;  // 0: omp_get_max_threads() (OMP_NUM_THREADS)
};

namespace detail {

/// The thread's share of the concatenated blocks of several matrices, as (matrix, b0, b1) runs.
template <class F>
void for_my_blocks(std::span<const Index> blocks, int t, int nt, F&& f) {
  Index total = 0;
  for (Index b : blocks) total += b;
  auto [lo, hi] = share(total, t, nt);
  Index base = 0;
  for (std::size_t m = 0; m < blocks.size(); ++m) {
    const Index b0 = std::max(lo, base), b1 = std::min(hi, base + blocks[m]);
    if (b0 < b1) f(m, b0 - base, b1 - base);
    base += blocks[m];
  }
}

}  // namespace detail

/// Y (batch x m) = the forward of `paths` on X (batch x n). Paths share m and n; precision is
/// that of their prepared signs (all alike).
template <class TX>
void factorized_forward(std::span<const PreparedPath> paths, MatrixView<TX> x, MatrixView<float> y,
                        ForwardWorkspace& ws, const ForwardOptions& o = {}) {
  using T = std::remove_const_t<TX>;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>,
                "activations are float, Float16 or BFloat16");
  if (paths.empty() || paths.size() > 2) littlebit::detail::fail("kernels::factorized_forward: 1 or 2 paths, found ", paths.size());
  const Index m = paths[0].out_features(), n = paths[0].in_features();
  const Precision precision = paths[0].v_sign.precision();
  Index rmax = 0, g1 = 0, g2 = 0;
  for (const auto& p : paths) {
    if (p.out_features() != m || p.in_features() != n || p.u_sign.cols() != p.rank())
      littlebit::detail::fail("kernels::factorized_forward: paths disagree on shape");
    if (p.v_sign.precision() != precision || p.u_sign.precision() != precision)
      littlebit::detail::fail("kernels::factorized_forward: paths prepared for different precisions");
    rmax = std::max(rmax, p.rank());
    g1 = std::max(g1, p.v_sign.groups());
    g2 = std::max(g2, p.u_sign.groups());
  }
  littlebit::detail::check_shape(x, x.rows(), n, "kernels::factorized_forward X");
  littlebit::detail::check_shape(y, x.rows(), m, "kernels::factorized_forward Y");
  if (!x.rows_contiguous() || !y.rows_contiguous())
    littlebit::detail::fail("kernels::factorized_forward: X and Y rows must be contiguous (column stride 1)");
  detail::check_arch(o.arch);

  const int np = static_cast<int>(paths.size());
  const int slots = np * kMaxBatchTile;
  Index v_blocks[2] = {0, 0}, u_blocks[2] = {0, 0};
  for (int p = 0; p < np; ++p) {
    v_blocks[p] = paths[p].v_sign.blocks();
    u_blocks[p] = paths[p].u_sign.blocks();
  }
  ws.stage1.reserve(precision, g1, std::max(v_blocks[0], v_blocks[1]), slots);
  ws.stage2.reserve(precision, g2, u_blocks[0], slots);
  ws.t.reserve(slots * rmax);
  const int nt = std::max(1, std::min<int>(detail::resolve_threads(o.threads),
                                           static_cast<int>(std::max(v_blocks[0] + v_blocks[1], u_blocks[0]))));

  for (Index b = 0; b < x.rows(); b += kMaxBatchTile) {
    const int nbat = static_cast<int>(std::min<Index>(kMaxBatchTile, x.rows() - b));
    float scale1[2][kMaxBatchTile], scale2[2][kMaxBatchTile];
    auto phases = [&](int t) {
      // Phase 1: tables of g . x for every path and row (rows split between threads).
      for (int k = t; k < np * nbat; k += nt) {
        const int p = k / nbat, bt = k % nbat;
        scale1[p][bt] = detail::build_row_tables(paths[p].v_sign, o.arch, x.row(b + bt), paths[p].g.data(),
                                                 ws.stage1, p * kMaxBatchTile + bt);
      }
      LITTLEBIT_OMP_PRAGMA(omp barrier)
      // Phase 2: t = ell . (V_sign (g . x)).
      detail::for_my_blocks(std::span<const Index>(v_blocks, static_cast<std::size_t>(np)), t, nt,
                            [&](std::size_t p, Index b0, Index b1) {
                              LutOutput out[kMaxBatchTile];
                              for (int bt = 0; bt < nbat; ++bt)
                                out[bt] = {ws.t.data() + (static_cast<Index>(p) * kMaxBatchTile + bt) * rmax,
                                           paths[p].ell.data(), scale1[p][bt], false};
                              detail::run_blocks_at(paths[p].v_sign, o.arch, ws.stage1,
                                                    static_cast<int>(p) * kMaxBatchTile, out, nbat, b0, b1);
                            });
      LITTLEBIT_OMP_PRAGMA(omp barrier)
      // Phase 3: tables of t.
      for (int k = t; k < np * nbat; k += nt) {
        const int p = k / nbat, bt = k % nbat;
        const int slot = p * kMaxBatchTile + bt;
        scale2[p][bt] = detail::build_row_tables(paths[p].u_sign, o.arch, ws.t.data() + slot * rmax,
                                                 static_cast<const float*>(nullptr), ws.stage2, slot);
      }
      LITTLEBIT_OMP_PRAGMA(omp barrier)
      // Phase 4: y (+)= h . (U_sign t), the same block split for every path.
      const auto [b0, b1] = detail::share(u_blocks[0], t, nt);
      for (int p = 0; p < np; ++p) {
        LutOutput out[kMaxBatchTile];
        for (int bt = 0; bt < nbat; ++bt) out[bt] = {y.row(b + bt), paths[p].h.data(), scale2[p][bt], p > 0};
        detail::run_blocks_at(paths[p].u_sign, o.arch, ws.stage2, p * kMaxBatchTile, out, nbat, b0, b1);
      }
    };
    if (nt == 1) {
      phases(0);
    } else {
      LITTLEBIT_OMP_PRAGMA(omp parallel num_threads(nt)) { phases(detail::thread_id()); }
    }
  }
}

}  // namespace littlebit::kernels
LITTLEBIT_KERNELS_END_IGNORE_PR105593
