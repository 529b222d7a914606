// littlebit/kernels/sign_gemm.hpp: fast sign-matrix products on prepared (repacked) signs.
//
//   Y(b, i) = alpha_i * sum_j S(i, j) * (X(b, j) * scale_j)      (+ Y(b, i) when accumulating)
//
// for S (rows x cols) packed along cols, activations X (batch x cols, float / Float16 / BFloat16)
// as rows, Y (batch x rows, float). Reference: ref::sign_gemm (and ref::sign_gemv at batch 1),
// which this equals within the bounds of docs/kernels.md:
//   Precision::kExact  FP32 tables over groups of 4 and FP32 accumulation: a reordering of the
//                      reference sum, within gamma_{K/8 + 4} * sum_j |u_j| (u = x . scale).
//   Precision::kFast   inputs quantized per row to int16 levels (kFastQuantMax), integer tables
//                      and accumulation: within (K / 2) * delta + the exact path's bound, delta =
//                      max |u| / kFastQuantMax (relative output error ~1e-3 for Gaussian inputs).
// Both orientations a layer needs are this product: V_sign^T (g . x) with V packed r x n along n,
// and U_sign (ell . t) with U packed m x r along r.
//
// Threads: OpenMP (when the consumer compiles with it) over blocks of matrix rows; threads = 0
// takes omp_get_max_threads() (OMP_NUM_THREADS). Every thread count gives the same result.
// No heap allocation once the Workspace has grown to the largest shape it serves.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "littlebit/core/aligned_buffer.hpp"
#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/matrix_view.hpp"
#include "littlebit/kernels/arch.hpp"
#include "littlebit/kernels/lut_gemm.hpp"
#include "littlebit/kernels/lut_layout.hpp"
#include "littlebit/kernels/lut_tables.hpp"

#if defined(_OPENMP)
#include <omp.h>
#define LITTLEBIT_OMP_PRAGMA(...) _Pragma(#__VA_ARGS__)
#else
#define LITTLEBIT_OMP_PRAGMA(...)
#endif

LITTLEBIT_KERNELS_BEGIN_IGNORE_PR105593
namespace littlebit::kernels {

enum class Precision {
  kExact,  // FP32 activations and accumulation
  kFast,   // int16-quantized activations, integer accumulation
};

/// A sign matrix repacked for one precision's kernels (built once, reused by every product).
class PreparedSigns {
 public:
  PreparedSigns() = default;
  PreparedSigns(BitMatrixView s, Precision p) : precision_(p) {
    if (p == Precision::kExact) {
      lut4_ = Lut4Signs(s);
    } else {
      lut5_ = Lut5Signs(s);
    }
  }

  Precision precision() const { return precision_; }
  Index rows() const { return precision_ == Precision::kExact ? lut4_.rows() : lut5_.rows(); }
  Index cols() const { return precision_ == Precision::kExact ? lut4_.cols() : lut5_.cols(); }
  Index blocks() const { return precision_ == Precision::kExact ? lut4_.blocks() : lut5_.blocks(); }
  Index groups() const { return precision_ == Precision::kExact ? lut4_.groups() : lut5_.groups(); }
  std::size_t size_bytes() const { return precision_ == Precision::kExact ? lut4_.size_bytes() : lut5_.size_bytes(); }
  const Lut4Signs& lut4() const { return lut4_; }
  const Lut5Signs& lut5() const { return lut5_; }
  /// The canonical packed signs back (lossless).
  BitMatrix to_bit_matrix() const { return precision_ == Precision::kExact ? lut4_.to_bit_matrix() : lut5_.to_bit_matrix(); }

 private:
  Precision precision_ = Precision::kExact;
  Lut4Signs lut4_;
  Lut5Signs lut5_;
};

/// Scratch of the lookup products: tables and partial sums of a number of activation-row
/// slots; grows, never shrinks.
struct LutWorkspace {
  AlignedBuffer<float> tables_f32;
  AlignedBuffer<std::int16_t> tables_i16;
  AlignedBuffer<std::int16_t> quantized;
  AlignedBuffer<float> partial_f32;
  AlignedBuffer<std::int32_t> partial_i32;
  Index table_stride = 0;    // elements per slot
  Index partial_stride = 0;  // elements per slot

  /// Room for `slots` activation rows against matrices of up to `groups` groups and `blocks`
  /// row blocks of precision p.
  void reserve(Precision p, Index groups, Index blocks, int slots) {
    if (p == Precision::kExact) {
      table_stride = 16 * groups;
      partial_stride = Lut4Signs::kBlockRows * blocks;
      tables_f32.reserve(table_stride * slots);
      partial_f32.reserve(partial_stride * slots);
    } else {
      table_stride = 32 * groups;
      partial_stride = Lut5Signs::kBlockRows * blocks;
      tables_i16.reserve(table_stride * slots);
      quantized.reserve((5 * groups + 32) * slots);
      partial_i32.reserve(partial_stride * slots);
    }
  }
};

struct GemmOptions {
  Arch arch = default_arch();
  int threads = 0;  // 0: omp_get_max_threads() (OMP_NUM_THREADS); 1 without OpenMP
};

namespace detail {

inline int resolve_threads(int threads) {
#if defined(_OPENMP)
  return threads > 0 ? threads : omp_get_max_threads();
#else
  (void)threads;
  return 1;
#endif
}

inline void check_arch(Arch a) {
  if (!arch_supported(a))
    littlebit::detail::fail("kernels: the ", arch_name(a), " path is not ", arch_compiled(a) ? "supported by this CPU" : "compiled in");
}

/// Builds the tables of activation row x (length s.cols()) into slot `slot` of `ws` and returns
/// the row's output scale (1, or the fast path's delta).
template <class T>
float build_row_tables(const PreparedSigns& s, Arch arch, const T* x, const float* col_scale, LutWorkspace& ws,
                       int slot) {
  if (s.precision() == Precision::kExact) {
    build_tables_f32(arch, x, col_scale, s.cols(), s.groups(), ws.tables_f32.data() + ws.table_stride * slot);
    return 1.0f;
  }
  return build_tables_i16(arch, x, col_scale, s.cols(), s.groups(),
                          ws.quantized.data() + (5 * s.groups() + 32) * slot,
                          ws.tables_i16.data() + ws.table_stride * slot);
}

/// Blocks [b0, b1) of s for the nbat rows in slots slot0, slot0 + 1, ... whose tables are built:
/// every chunk of steps, then the epilogue of those blocks' rows.
inline void run_blocks_at(const PreparedSigns& s, Arch arch, LutWorkspace& ws, int slot0, const LutOutput* out,
                          int nbat, Index b0, Index b1) {
  if (b0 >= b1) return;
  if (s.precision() == Precision::kExact) {
    const float* tables[kMaxBatchTile];
    float* partial[kMaxBatchTile];
    for (int bt = 0; bt < nbat; ++bt) {
      tables[bt] = ws.tables_f32.data() + ws.table_stride * (slot0 + bt);
      partial[bt] = ws.partial_f32.data() + ws.partial_stride * (slot0 + bt);
    }
    const Index chunks = std::max<Index>(1, s.lut4().chunks());  // 0 columns: one empty chunk zeroes the sums
    for (Index c = 0; c < chunks; ++c) lut4_accumulate(arch, s.lut4(), tables, partial, nbat, b0, b1, c, c == 0);
    for (int bt = 0; bt < nbat; ++bt)
      store_rows(arch, out[bt], partial[bt], 16 * b0, std::min<Index>(16 * b1, s.rows()));
  } else {
    const std::int16_t* tables[kMaxBatchTile];
    std::int32_t* partial[kMaxBatchTile];
    for (int bt = 0; bt < nbat; ++bt) {
      tables[bt] = ws.tables_i16.data() + ws.table_stride * (slot0 + bt);
      partial[bt] = ws.partial_i32.data() + ws.partial_stride * (slot0 + bt);
    }
    const Index chunks = std::max<Index>(1, s.lut5().chunks());
    for (Index c = 0; c < chunks; ++c) lut5_accumulate(arch, s.lut5(), tables, partial, nbat, b0, b1, c, c == 0);
    for (int bt = 0; bt < nbat; ++bt)
      store_rows(arch, out[bt], partial[bt], 32 * b0, std::min<Index>(32 * b1, s.rows()));
  }
}

/// This thread's share [b0, b1) of `blocks` among `nt` threads.
inline std::pair<Index, Index> share(Index blocks, int t, int nt) {
  const Index per = blocks / nt, extra = blocks % nt;
  const Index b0 = t * per + std::min<Index>(t, extra);
  return {b0, b0 + per + (t < extra ? 1 : 0)};
}

inline int thread_id() {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace detail

/// Y = alpha . (S (X . scale)^T)^T as in the file comment. x: batch x s.cols(); y: batch x
/// s.rows() with contiguous rows. col_scale (s.cols()) and row_scale (s.rows()) may be null.
template <class TX>
void sign_gemm(const PreparedSigns& s, MatrixView<TX> x, MatrixView<float> y, LutWorkspace& ws,
               const GemmOptions& o = {}, const float* col_scale = nullptr, const float* row_scale = nullptr,
               bool accumulate = false) {
  using T = std::remove_const_t<TX>;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>,
                "activations are float, Float16 or BFloat16");
  littlebit::detail::check_shape(x, x.rows(), s.cols(), "kernels::sign_gemm X");
  littlebit::detail::check_shape(y, x.rows(), s.rows(), "kernels::sign_gemm Y");
  if (!x.rows_contiguous() || !y.rows_contiguous())
    littlebit::detail::fail("kernels::sign_gemm: X and Y rows must be contiguous (column stride 1)");
  detail::check_arch(o.arch);
  const int threads = detail::resolve_threads(o.threads);
  const Index tiles = (x.rows() + kMaxBatchTile - 1) / kMaxBatchTile;
  if (threads > 1 && tiles >= 4 * threads) {
    // Many activation rows (a training batch, a prefill): threads take whole batch tiles, each in
    // its own workspace slots, in one parallel region. Every output row is computed by the same
    // operations as in the block split below, so the result does not change.
    ws.reserve(s.precision(), s.groups(), s.blocks(), threads * kMaxBatchTile);
    LITTLEBIT_OMP_PRAGMA(omp parallel num_threads(threads)) {
      const int t = detail::thread_id(), nt = threads;
      const int slot0 = t * kMaxBatchTile;
      for (Index tile = tiles * t / nt; tile < tiles * (t + 1) / nt; ++tile) {
        const Index b = tile * kMaxBatchTile;
        const int nbat = static_cast<int>(std::min<Index>(kMaxBatchTile, x.rows() - b));
        LutOutput out[kMaxBatchTile];
        for (int bt = 0; bt < nbat; ++bt) {
          const float scale = detail::build_row_tables(s, o.arch, x.row(b + bt), col_scale, ws, slot0 + bt);
          out[bt] = {y.row(b + bt), row_scale, scale, accumulate};
        }
        detail::run_blocks_at(s, o.arch, ws, slot0, out, nbat, 0, s.blocks());
      }
    }
    return;
  }
  const int nt = std::max(1, std::min<int>(threads, static_cast<int>(s.blocks())));
  ws.reserve(s.precision(), s.groups(), s.blocks(), kMaxBatchTile);

  for (Index b = 0; b < x.rows(); b += kMaxBatchTile) {
    const int nbat = static_cast<int>(std::min<Index>(kMaxBatchTile, x.rows() - b));
    LutOutput out[kMaxBatchTile];
    for (int bt = 0; bt < nbat; ++bt) {
      const float scale = detail::build_row_tables(s, o.arch, x.row(b + bt), col_scale, ws, bt);
      out[bt] = {y.row(b + bt), row_scale, scale, accumulate};
    }
    if (nt == 1) {
      detail::run_blocks_at(s, o.arch, ws, 0, out, nbat, 0, s.blocks());
    } else {
      LITTLEBIT_OMP_PRAGMA(omp parallel num_threads(nt)) {
        const auto [b0, b1] = detail::share(s.blocks(), detail::thread_id(), nt);
        detail::run_blocks_at(s, o.arch, ws, 0, out, nbat, b0, b1);
      }
    }
  }
}

}  // namespace littlebit::kernels
LITTLEBIT_KERNELS_END_IGNORE_PR105593
