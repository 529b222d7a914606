// littlebit/ref/pack.hpp: element-by-element packing, the spec core/pack.hpp is tested against.
#pragma once

#include <cmath>

#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/core/matrix_view.hpp"

namespace littlebit::ref {

/// bit(i, j) = 1 iff in(i, j) < 0 (sign(0) = +1); NaN raises littlebit::Error.
template <class T>
BitMatrix pack_signs(MatrixView<T> in) {
  BitMatrix out(in.rows(), in.cols());
  for (Index i = 0; i < in.rows(); ++i)
    for (Index j = 0; j < in.cols(); ++j) {
      const double v = to_double(in(i, j));
      if (std::isnan(v)) littlebit::detail::fail("ref::pack_signs: element (", i, ", ", j, ") is NaN");
      out.set_bit(i, j, v < 0.0 ? 1 : 0);
    }
  return out;
}

}  // namespace littlebit::ref
