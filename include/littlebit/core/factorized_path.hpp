// littlebit/core/factorized_path.hpp: the non-owning description of one factorized path, the type
// every layer shares (the reference, the kernels, the decomposition, the layers, the files).
//
//   W_p = diag(h) U_sign diag(ell) V_sign^T diag(g)     (official names: h = u1, ell = v1 * u2, g = v2)
//   h (m), U_sign (m x r, packed along r), ell (r), V_sign^T stored r x n (packed along n), g (n).
//
// Its forward and backward are specified by ref/factorized.hpp.
#pragma once

#include <span>

#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/config.hpp"
#include "littlebit/core/error.hpp"

namespace littlebit {

/// Non-owning description of one path; S is the scale type (double, float, Float16).
template <class S>
struct FactorizedPath {
  std::span<const S> h;    // m
  BitMatrixView u_sign;    // m x r
  std::span<const S> ell;  // r
  BitMatrixView v_sign;    // r x n
  std::span<const S> g;    // n

  Index out_features() const { return u_sign.rows(); }
  Index in_features() const { return v_sign.cols(); }
  Index rank() const { return u_sign.cols(); }

  /// Throws littlebit::Error unless the five parts agree on m, r and n.
  void validate(const char* what = "factorized path") const {
    const Index m = u_sign.rows(), r = u_sign.cols(), n = v_sign.cols();
    if (v_sign.rows() != r)
      littlebit::detail::fail(what, ": U_sign is ", m, " x ", r, " so V_sign must have ", r, " rows, found ",
                              v_sign.rows());
    if (static_cast<Index>(h.size()) != m)
      littlebit::detail::fail(what, ": h must have ", m, " entries, found ", h.size());
    if (static_cast<Index>(ell.size()) != r)
      littlebit::detail::fail(what, ": ell must have ", r, " entries, found ", ell.size());
    if (static_cast<Index>(g.size()) != n)
      littlebit::detail::fail(what, ": g must have ", n, " entries, found ", g.size());
  }
};

}  // namespace littlebit
