// littlebit/core/bit_layout.hpp: the packed sign format, the one place it is defined.
//
// Plain C++20 with no dependencies, so that nvcc (device code) and the host include the same
// definitions. See docs/bit_layout.md for a worked example.
//
// A sign matrix S in {+1, -1}^{rows x cols} is stored as bits:
//
//   * bit 1 means -1, bit 0 means +1 (so sign(0) = +1 packs to 0);
//   * bits run along a row (the reduction dimension), least significant bit first:
//     element (i, j) is bit (j % 64) of word j / 64 of row i;
//   * rows are stored one after another, each padded to a whole number of 64-byte blocks
//     (kRowAlignWords words), so every row starts 64-byte aligned;
//   * padding bits are 0 (+1). Kernels use the logical length `cols`, never the padded one;
//     two zero-padded rows have zero XOR in their padding, so a popcount over whole words of
//     a XOR b is exact without masking.
//
// On a little-endian machine the bytes of one row are exactly the bytes of the official
// LittleBit packer's row (uint32 words, LSB first, +1 -> 0, -1 -> 1, padded with +1): only
// the row stride differs (official: ceil(cols / 32) words of 32 bits, no further padding).
#pragma once

#include <bit>
#include <cstdint>

#include "littlebit/core/config.hpp"

namespace littlebit::layout {

/// The storage word. 64 bits: one popcount instruction per word on every 64-bit CPU.
using Word = std::uint64_t;

inline constexpr Index kWordBits = 64;
/// Rows are padded to this many bytes (one cache line, one AVX-512 register).
inline constexpr Index kRowAlignBytes = 64;
inline constexpr Index kRowAlignWords = kRowAlignBytes / static_cast<Index>(sizeof(Word));
/// The official checkpoint's word width (int32 words, LSB first).
inline constexpr Index kOfficialWordBits = 32;

static_assert(sizeof(Word) * 8 == kWordBits, "Word must have kWordBits bits");
static_assert(kRowAlignBytes % static_cast<Index>(sizeof(Word)) == 0, "row alignment is whole words");
static_assert(std::endian::native == std::endian::little,
              "the packed format is byte-compatible with the official layout on little-endian hosts only");

/// Words that hold `bits` bits (no alignment padding): ceil(bits / 64).
LITTLEBIT_HOST_DEVICE constexpr Index words_for(Index bits) {
  return (bits + kWordBits - 1) / kWordBits;
}

/// Words in one stored row of `bits` bits: words_for(bits) rounded up to kRowAlignWords.
/// A row of 0 bits takes 0 words.
LITTLEBIT_HOST_DEVICE constexpr Index row_stride_words(Index bits) {
  return (words_for(bits) + kRowAlignWords - 1) / kRowAlignWords * kRowAlignWords;
}

/// 32-bit words per row in the official layout: ceil(bits / 32).
LITTLEBIT_HOST_DEVICE constexpr Index official_words_for(Index bits) {
  return (bits + kOfficialWordBits - 1) / kOfficialWordBits;
}

/// Word index and bit position of column j.
LITTLEBIT_HOST_DEVICE constexpr Index word_of(Index j) { return j / kWordBits; }
LITTLEBIT_HOST_DEVICE constexpr Word bit_mask_of(Index j) {
  return Word{1} << static_cast<unsigned>(j % kWordBits);
}

/// Mask of the logical bits in the last word of a row of `bits` bits (all ones when the row
/// fills its last word exactly). Undefined for bits == 0.
LITTLEBIT_HOST_DEVICE constexpr Word tail_mask(Index bits) {
  const Index r = bits % kWordBits;
  return r == 0 ? ~Word{0} : (Word{1} << static_cast<unsigned>(r)) - 1;
}

/// The bit a value packs to: 1 for negative values, 0 for zero (either sign) and positive ones.
/// NaN has no sign in this sense: callers reject it before packing.
template <class T>
LITTLEBIT_HOST_DEVICE constexpr Word sign_bit(T value) {
  return value < T(0) ? Word{1} : Word{0};
}

/// The sign a bit stands for: +1 for bit 0, -1 for bit 1.
LITTLEBIT_HOST_DEVICE constexpr int sign_of_bit(Word bit) { return 1 - 2 * static_cast<int>(bit & 1); }

/// Bit j of a row.
LITTLEBIT_HOST_DEVICE constexpr Word get_bit(const Word* row, Index j) {
  return (row[word_of(j)] >> static_cast<unsigned>(j % kWordBits)) & Word{1};
}

/// Sets bit j of a row to `bit` (0 or 1).
LITTLEBIT_HOST_DEVICE constexpr void set_bit(Word* row, Index j, Word bit) {
  const Word m = bit_mask_of(j);
  row[word_of(j)] = (row[word_of(j)] & ~m) | (bit ? m : Word{0});
}

static_assert(words_for(0) == 0 && words_for(1) == 1 && words_for(64) == 1 && words_for(65) == 2);
static_assert(row_stride_words(1) == 8 && row_stride_words(512) == 8 && row_stride_words(513) == 16);
static_assert(official_words_for(100) == 4 && official_words_for(64) == 2);
static_assert(tail_mask(64) == ~Word{0} && tail_mask(3) == Word{7});
static_assert(sign_bit(0.0) == 0 && sign_bit(-0.0) == 0 && sign_bit(-1e-30) == 1);
static_assert(sign_of_bit(0) == 1 && sign_of_bit(1) == -1);

}  // namespace littlebit::layout
