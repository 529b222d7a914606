// transpose(BitMatrixView) against getting and setting every bit, over tail shapes.
#include <doctest/doctest.h>

#include "littlebit/core/bit_transpose.hpp"
#include "littlebit/core/pack.hpp"
#include "support/test_util.hpp"

using namespace littlebit;

TEST_CASE("transpose of a packed sign matrix equals the bitwise transpose, padding zero") {
  std::uint64_t seed = 1;
  for (Index rows : {1, 2, 63, 64, 65, 130})
    for (Index cols : littlebit::test::kTailLengths) {
      const BitMatrix s = pack_signs(littlebit::test::random_sign_source(rows, cols, seed++));
      const BitMatrix t = transpose(s.view());
      REQUIRE(t.rows() == cols);
      REQUIRE(t.cols() == rows);
      CHECK(t.padding_is_zero());
      bool same = true;
      for (Index i = 0; i < rows; ++i)
        for (Index j = 0; j < cols; ++j) same &= t.sign(j, i) == s.sign(i, j);
      CHECK_MESSAGE(same, rows << " x " << cols);
      CHECK(transpose(t.view()) == s);
    }
}

TEST_CASE("transpose ignores padding bits set in a view") {
  BitMatrix s(3, 70);
  for (Index i = 0; i < 3; ++i) s.row_data(i)[1] = ~layout::Word{0};  // columns 64..69 and padding
  const BitMatrix t = transpose(s.view());
  CHECK(t.padding_is_zero());
  for (Index j = 0; j < 70; ++j)
    for (Index i = 0; i < 3; ++i) CHECK(t.sign(j, i) == (j >= 64 ? -1 : 1));
}
