// BitMatrix, its views, packing (against the element-by-element reference) and the official
// int32 layout.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/pack.hpp"
#include "littlebit/ref/pack.hpp"
#include "support/test_util.hpp"

using namespace littlebit;
using littlebit::test::RowMatrixXd;

TEST_CASE("bit_layout: strides are 64-byte aligned and cover the row") {
  for (Index cols = 0; cols < 2000; ++cols) {
    const Index stride = layout::row_stride_words(cols);
    CHECK(stride % layout::kRowAlignWords == 0);
    CHECK(stride * layout::kWordBits >= cols);
    CHECK((stride - layout::kRowAlignWords) * layout::kWordBits < std::max<Index>(cols, 1));
    CHECK(layout::official_words_for(cols) * 32 >= cols);
    CHECK(layout::official_words_for(cols) * 32 < cols + 32);
  }
}

TEST_CASE("bit_layout: get_bit and set_bit address bit j % 64 of word j / 64, LSB first") {
  layout::Word row[3] = {0, 0, 0};
  layout::set_bit(row, 0, 1);
  layout::set_bit(row, 63, 1);
  layout::set_bit(row, 64, 1);
  layout::set_bit(row, 130, 1);
  CHECK(row[0] == (std::uint64_t{1} | (std::uint64_t{1} << 63)));
  CHECK(row[1] == 1);
  CHECK(row[2] == (std::uint64_t{1} << 2));
  layout::set_bit(row, 63, 0);
  CHECK(row[0] == 1);
  CHECK(layout::get_bit(row, 130) == 1);
  CHECK(layout::get_bit(row, 129) == 0);
}

TEST_CASE("BitMatrix: new matrices are all +1 with 64-byte aligned rows") {
  for (Index cols : littlebit::test::kTailLengths) {
    BitMatrix b(3, cols);
    CHECK(b.padding_is_zero());
    for (Index i = 0; i < 3; ++i) {
      CHECK(reinterpret_cast<std::uintptr_t>(b.row_data(i)) % 64 == 0);
      for (Index j = 0; j < cols; ++j) CHECK(b.sign(i, j) == 1);
    }
  }
  BitMatrix empty(0, 100);
  CHECK(empty.empty());
  CHECK(empty.size_words() == 0);
  BitMatrix none(5, 0);
  CHECK(none.size_words() == 0);
  CHECK(none.padding_is_zero());
  CHECK_THROWS_AS(BitMatrix(-1, 3), Error);
}

TEST_CASE("pack_signs: matches the reference at tail lengths, padding zero, round trip") {
  for (Index rows : {1, 2, 7}) {
    for (Index cols : littlebit::test::kTailLengths) {
      const RowMatrixXd src = littlebit::test::random_sign_source(rows, cols, static_cast<std::uint64_t>(rows * 1000 + cols));
      const BitMatrix fast = pack_signs(src);
      const BitMatrix spec = ref::pack_signs(view(src));
      CAPTURE(rows);
      CAPTURE(cols);
      CHECK(fast == spec);
      CHECK(fast.padding_is_zero());
      const auto back = unpack_signs<double>(fast);
      for (Index i = 0; i < rows; ++i)
        for (Index j = 0; j < cols; ++j) {
          const double want = src(i, j) < 0.0 ? -1.0 : 1.0;  // sign(0) = sign(-0) = +1
          REQUIRE(back[static_cast<std::size_t>(i * cols + j)] == want);
        }
    }
  }
}

TEST_CASE("pack_signs: deep rows (4095..4097) and column-major input") {
  for (Index cols : {4095, 4096, 4097}) {
    const RowMatrixXd src = littlebit::test::random_matrix(3, cols, static_cast<std::uint64_t>(cols));
    const Eigen::MatrixXd col_major = src;  // a different storage order, same values
    CHECK(pack_signs(src) == ref::pack_signs(view(src)));
    CHECK(pack_signs(col_major) == pack_signs(src));
  }
}

TEST_CASE("pack_signs: float, Float16, BFloat16 and int8 inputs give the same bits") {
  const RowMatrixXd src = littlebit::test::random_sign_source(5, 70, 11);
  const BitMatrix want = pack_signs(src);
  littlebit::test::RowMatrixXf f = src.cast<float>();
  CHECK(pack_signs(f) == want);
  std::vector<Float16> h;
  std::vector<BFloat16> bf;
  std::vector<std::int8_t> i8;
  for (Index i = 0; i < 5; ++i)
    for (Index j = 0; j < 70; ++j) {
      h.emplace_back(static_cast<float>(src(i, j)));
      bf.emplace_back(static_cast<float>(src(i, j)));
      i8.push_back(src(i, j) < 0 ? std::int8_t{-1} : std::int8_t{1});
    }
  CHECK(pack_signs(MatrixView<const Float16>(h.data(), 5, 70)) == want);
  CHECK(pack_signs(MatrixView<const BFloat16>(bf.data(), 5, 70)) == want);
  CHECK(pack_signs(MatrixView<const std::int8_t>(i8.data(), 5, 70)) == want);
}

TEST_CASE("pack_signs: NaN is an error naming the element; infinities have signs") {
  RowMatrixXd src = RowMatrixXd::Ones(4, 40);
  src(2, 33) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(pack_signs(src, "U'"), doctest::Contains("U': element (2, 33) is NaN"), Error);
  std::vector<Float16> h(4, Float16(1.0f));
  h[3] = Float16::from_bits(0x7e00);
  CHECK_THROWS_AS(pack_signs(MatrixView<const Float16>(h.data(), 1, 4)), Error);
  src(2, 33) = -std::numeric_limits<double>::infinity();
  src(1, 1) = std::numeric_limits<double>::infinity();
  const BitMatrix b = pack_signs(src);
  CHECK(b.sign(2, 33) == -1);
  CHECK(b.sign(1, 1) == 1);
}

TEST_CASE("BitMatrix: copy, move, equality, views and row ranges") {
  const RowMatrixXd src = littlebit::test::random_sign_source(9, 130, 5);
  BitMatrix a = pack_signs(src);
  BitMatrix b = a;
  CHECK(a == b);
  b.set_bit(8, 129, b.bit(8, 129) ^ 1);
  CHECK_FALSE(a == b);
  BitMatrix c = std::move(b);
  CHECK(b.rows() == 0);
  CHECK(c.rows() == 9);
  b = c;
  CHECK(b == c);

  const BitMatrixView v = a.view();
  const BitMatrixView mid = v.middle_rows(3, 4);
  CHECK(mid.rows() == 4);
  for (Index i = 0; i < 4; ++i)
    for (Index j = 0; j < 130; ++j) CHECK(mid.sign(i, j) == a.sign(i + 3, j));
  CHECK_THROWS_AS(v.middle_rows(7, 3), Error);
  CHECK_THROWS_AS(BitMatrixView(a.data(), 2, 130, 2), Error);  // stride shorter than a row
  CHECK(v.row(0).size() == 3);
}

TEST_CASE("official layout: a hand-checked 2 x 35 example") {
  // Row 0: columns 0, 3 and 34 are -1. Row 1: all +1 but column 31.
  RowMatrixXd src = RowMatrixXd::Ones(2, 35);
  src(0, 0) = src(0, 3) = src(0, 34) = -1.0;
  src(1, 31) = -1.0;
  const auto words = export_official(pack_signs(src));
  REQUIRE(words.size() == 4);
  CHECK(words[0] == 0b1001);
  CHECK(words[1] == 0b100);
  CHECK(words[2] == std::numeric_limits<std::int32_t>::min());  // bit 31: 0x80000000
  CHECK(words[3] == 0);
}

TEST_CASE("official layout: import and export round trip at tail lengths") {
  for (Index cols : littlebit::test::kTailLengths) {
    const RowMatrixXd src = littlebit::test::random_sign_source(6, cols, static_cast<std::uint64_t>(cols) + 77);
    const BitMatrix b = pack_signs(src);
    const auto words = export_official(b);
    CHECK(static_cast<Index>(words.size()) == 6 * ((cols + 31) / 32));
    const BitMatrix back = import_official(words, 6, cols);
    CHECK(back == b);
    CHECK(back.padding_is_zero());
  }
}

TEST_CASE("official layout: wrong word counts and set padding bits are errors") {
  std::vector<std::int32_t> words(2 * 2, 0);
  CHECK_THROWS_WITH_AS(import_official(words, 2, 65, "U_packed"),
                       doctest::Contains("U_packed: a 2 x 65 sign matrix packs into 6 int32 words"), Error);
  words[3] = 1 << 5;  // column 32 + 5 = 37 of row 1, past cols = 35
  CHECK_THROWS_WITH_AS(import_official(words, 2, 35, "V_packed"),
                       doctest::Contains("V_packed: row 1 has padding bits set after column 35"), Error);
  words[3] = 1 << 2;  // column 34: inside the row
  CHECK(import_official(words, 2, 35).sign(1, 34) == -1);
  // A shape whose word count overflows is an error, not a wrap-around.
  CHECK_THROWS_AS(import_official(words, std::numeric_limits<Index>::max() / 2, 64), Error);
}

TEST_CASE("export_official masks foreign padding of a view") {
  BitMatrix b(1, 40);
  b.data()[0] = ~std::uint64_t{0};  // sets bits past column 40 as well
  const auto words = export_official(b.view());
  CHECK(words[0] == -1);
  CHECK(words[1] == 0xff);
}

TEST_CASE("docs/bit_layout.md: the worked 3 x 70 example") {
  RowMatrixXd src = RowMatrixXd::Ones(3, 70);
  for (Index j : {0, 1, 5, 64, 69}) src(0, j) = -1.0;
  src(1, 63) = -1.0;
  for (Index j = 0; j < 70; j += 2) src(2, j) = -1.0;
  const BitMatrix b = pack_signs(src);
  CHECK(b.stride_words() == 8);
  CHECK(b.size_words() == 24);
  CHECK(b.row_data(0)[0] == 0x23);
  CHECK(b.row_data(0)[1] == 0x21);
  CHECK(b.row_data(1)[0] == 0x8000000000000000ull);
  CHECK(b.row_data(1)[1] == 0);
  CHECK(b.row_data(2)[0] == 0x5555555555555555ull);
  CHECK(b.row_data(2)[1] == 0x15);
  CHECK(b.padding_is_zero());
  const std::vector<std::int32_t> official = {35, 0, 33, 0, std::numeric_limits<std::int32_t>::min(), 0,
                                              1431655765, 1431655765, 21};
  CHECK(export_official(b) == official);
}
