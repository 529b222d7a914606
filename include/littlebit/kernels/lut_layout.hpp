// littlebit/kernels/lut_layout.hpp: sign matrices repacked for table-lookup products.
//
// y = S u for S in {+1,-1}^{rows x cols} (S packed along cols, core/bit_layout.hpp) is computed
// by splitting u into groups of G consecutive entries and building, per group g, the table
//     T_g[e] = sum_{q < G} (bit q of e ? -u[G g + q] : +u[G g + q])      (2^G entries)
// so that y_i = sum_g T_g[e_ig], where e_ig is row i's G-bit pattern at group g (bit q of e_ig is
// the packed bit of column G g + q: the identity sum_j s_ij u_j = sum_g T_g[e_ig] is exact in
// real arithmetic). One table serves every row; a vector permute looks up 16 or 32 rows at once.
// These layouts put the patterns of those rows next to each other. Storage stays ~1 bit per sign.
//
//   Lut4Signs (exact FP32 path): G = 4, blocks of 16 rows, columns in pairs of groups (8).
//     Byte k of pair p of block b = pattern(row 16b + k, group 2p)
//                                 | pattern(row 16b + k, group 2p + 1) << 4.
//   Lut5Signs (fast int16 path): G = 5, blocks of 32 rows, columns in triples of groups (15).
//     Word k of triple t of block b = pattern(row 32b + k, group 3t)
//                                   | pattern(row 32b + k, group 3t + 1) << 5
//                                   | pattern(row 32b + k, group 3t + 2) << 10.
// Rows past `rows` and columns past `cols` are +1 (pattern bits 0): padded columns meet zero
// table inputs, padded rows are never stored.
//
// Storage is chunk-major: steps are cut into chunks of kChunkSteps (the last may be shorter) and
// stored [chunk][block][step within chunk][row within block], the order in which the kernels
// walk them (a chunk's tables stay in L1 while every row block passes over them), so that a
// product reads its weights as one sequential stream from DRAM.
#pragma once

#include <algorithm>
#include <cstdint>

#include "littlebit/core/aligned_buffer.hpp"
#include "littlebit/core/bit_layout.hpp"
#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/config.hpp"

namespace littlebit::kernels {

/// Steps per chunk of the layouts below (see the file comment).
inline constexpr Index kChunkSteps = 32;

namespace detail {

/// `count` (<= 32) bits of a canonical row starting at column j; bits at or past `cols` are 0.
inline std::uint32_t row_bits(const layout::Word* row, Index cols, Index j, int count) {
  if (j >= cols) return 0;
  const Index w = j / layout::kWordBits;
  const auto s = static_cast<unsigned>(j % layout::kWordBits);
  layout::Word v = row[w] >> s;
  if (s + static_cast<unsigned>(count) > 64 && (w + 1) * layout::kWordBits < cols) v |= row[w + 1] << (64 - s);
  const Index valid = cols - j < count ? cols - j : count;
  return static_cast<std::uint32_t>(v & ((layout::Word{1} << valid) - 1));
}

/// Offset (in elements) of step p of block b in a chunk-major layout of `blocks` blocks of
/// `block_rows` rows and `steps` steps.
inline Index chunk_major_offset(Index p, Index b, Index blocks, Index steps, Index block_rows) {
  const Index c = p / kChunkSteps, begin = c * kChunkSteps;
  const Index len = std::min(kChunkSteps, steps - begin);
  return (begin * blocks + b * len + (p - begin)) * block_rows;
}

}  // namespace detail

/// S repacked for table lookups over groups of `Group` signs, `BlockRows` rows per block, one
/// `Element` per row per step holding `GroupsPerStep` consecutive patterns (least significant
/// first). See the file comment.
template <int Group, Index BlockRows, class Element, int GroupsPerStep>
class LutSigns {
 public:
  static constexpr Index kGroup = Group;
  static constexpr Index kBlockRows = BlockRows;
  static constexpr Index kStepCols = Group * GroupsPerStep;
  static_assert(kStepCols <= 8 * static_cast<Index>(sizeof(Element)), "a step's patterns fit one element");

  LutSigns() = default;
  explicit LutSigns(BitMatrixView s)
      : rows_(s.rows()), cols_(s.cols()), blocks_((s.rows() + kBlockRows - 1) / kBlockRows),
        steps_((s.cols() + kStepCols - 1) / kStepCols) {
    data_.resize(blocks_ * steps_ * kBlockRows);
    for (Index i = 0; i < rows_; ++i) {
      const layout::Word* row = s.row_data(i);
      for (Index p = 0; p < steps_; ++p)
        data_[detail::chunk_major_offset(p, i / kBlockRows, blocks_, steps_, kBlockRows) + i % kBlockRows] =
            static_cast<Element>(detail::row_bits(row, cols_, p * kStepCols, static_cast<int>(kStepCols)));
    }
  }

  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  Index blocks() const { return blocks_; }
  /// ceil(cols / kStepCols). Tables hold groups() = GroupsPerStep * steps() groups.
  Index steps() const { return steps_; }
  Index groups() const { return GroupsPerStep * steps_; }
  /// Chunk c of block b: chunk_length(c) x kBlockRows elements.
  const Element* chunk(Index c, Index b) const {
    return data_.data() + detail::chunk_major_offset(c * kChunkSteps, b, blocks_, steps_, kBlockRows);
  }
  Index chunks() const { return (steps_ + kChunkSteps - 1) / kChunkSteps; }
  Index chunk_length(Index c) const { return std::min(kChunkSteps, steps_ - c * kChunkSteps); }
  std::size_t size_bytes() const { return data_.bytes(); }

  /// The canonical packed matrix back (the layout is a permutation of the bits: lossless).
  BitMatrix to_bit_matrix() const {
    BitMatrix out(rows_, cols_);
    for (Index i = 0; i < rows_; ++i) {
      layout::Word* row = out.row_data(i);
      for (Index p = 0; p < steps_; ++p) {
        const auto e = static_cast<std::uint32_t>(
            data_[detail::chunk_major_offset(p, i / kBlockRows, blocks_, steps_, kBlockRows) + i % kBlockRows]);
        for (Index q = 0; q < kStepCols && p * kStepCols + q < cols_; ++q)
          if ((e >> q) & 1u) layout::set_bit(row, p * kStepCols + q, 1);
      }
    }
    return out;
  }

 private:
  Index rows_ = 0, cols_ = 0, blocks_ = 0, steps_ = 0;
  AlignedBuffer<Element> data_;
};

/// The exact path's layout: groups of 4, 16-row blocks, a byte (two patterns) per row per step.
using Lut4Signs = LutSigns<4, 16, std::uint8_t, 2>;
/// The fast path's layout: groups of 5, 32-row blocks, a 16-bit word (three patterns) per row per step.
using Lut5Signs = LutSigns<5, 32, std::uint16_t, 3>;

}  // namespace littlebit::kernels
