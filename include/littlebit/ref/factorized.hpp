// littlebit/ref/factorized.hpp: one or two factorized paths, their dense reconstruction,
// forward and backward. The spec for layer/ and the fused kernels.
//
// A path is  W_p = diag(h) U_sign diag(ell) V_sign^T diag(g)  with (official names in brackets)
//   h   (m)    [u1]          U_sign (m x r) packed along r   [sign(U)]
//   ell (r)    [v1 * u2]     V_sign^T (r x n) packed along n [sign(V), stored r x n]
//   g   (n)    [v2]
// and a layer sums its paths (primary and residual). For a batch X (rows are samples, B x n):
//   t = (X . g) V_sign        (B x r)     the official (x * v2) @ sign(V)^T
//   s = t . ell               (B x r)
//   z = s U_sign^T            (B x m)
//   Y = sum_p z . h           (B x m)
// Backward, for dY = dL/dY:
//   dh = sum_b dY . z,  dz = dY . h,  dU_sign = dz^T s,  ds = dz U_sign,
//   dell = sum_b ds . t,  dt = ds . ell,  dV_sign = dt^T (X . g),  da = dt V_sign^T,
//   dg = sum_b da . X,  dX = sum_p da . g.
// dU_sign and dV_sign are gradients with respect to the +1/-1 matrices; the latent matrices'
// gradients multiply them by a surrogate derivative (ref/sign_gradient.hpp).
// Everything accumulates in double; loops are plain and obvious by design. Inputs may be views
// of const or mutable data.
#pragma once

#include <span>
#include <vector>

#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/factorized_path.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/core/matrix_view.hpp"

namespace littlebit::ref {

/// One path (core/factorized_path.hpp), named here too: the reference is its spec.
using littlebit::FactorizedPath;

/// Gradients of one path; matrices row-major.
struct PathGradients {
  std::vector<double> dh;       // m
  std::vector<double> dell;     // r
  std::vector<double> dg;       // n
  std::vector<double> du_sign;  // m x r, dL/dU_sign
  std::vector<double> dv_sign;  // r x n, dL/dV_sign (the stored r x n orientation)
};

namespace detail {

template <class S>
void check_paths(std::span<const FactorizedPath<S>> paths, const char* what) {
  if (paths.empty()) littlebit::detail::fail(what, ": no paths");
  for (const auto& p : paths) {
    p.validate(what);
    if (p.out_features() != paths[0].out_features() || p.in_features() != paths[0].in_features())
      littlebit::detail::fail(what, ": paths disagree on shape, ", p.out_features(), " x ", p.in_features(), " vs ",
                              paths[0].out_features(), " x ", paths[0].in_features());
  }
}

inline std::size_t at(Index i, Index j, Index cols) { return static_cast<std::size_t>(i * cols + j); }

template <class S>
double el(std::span<const S> v, Index i) {
  return to_double(v[static_cast<std::size_t>(i)]);
}

/// t = (X . g) V_sign  (B x r), row-major.
template <class S, class T>
std::vector<double> input_projection(const FactorizedPath<S>& p, MatrixView<T> x) {
  const Index batch = x.rows(), r = p.rank(), n = p.in_features();
  std::vector<double> t(static_cast<std::size_t>(batch * r), 0.0);
  for (Index b = 0; b < batch; ++b)
    for (Index k = 0; k < r; ++k) {
      double acc = 0.0;
      for (Index j = 0; j < n; ++j) acc += p.v_sign.sign(k, j) * (to_double(x(b, j)) * el(p.g, j));
      t[at(b, k, r)] = acc;
    }
  return t;
}

/// z = (t . ell) U_sign^T  (B x m), row-major.
template <class S>
std::vector<double> output_projection(const FactorizedPath<S>& p, const std::vector<double>& t, Index batch) {
  const Index r = p.rank(), m = p.out_features();
  std::vector<double> z(static_cast<std::size_t>(batch * m), 0.0);
  for (Index b = 0; b < batch; ++b)
    for (Index i = 0; i < m; ++i) {
      double acc = 0.0;
      for (Index k = 0; k < r; ++k) acc += p.u_sign.sign(i, k) * (t[at(b, k, r)] * el(p.ell, k));
      z[at(b, i, m)] = acc;
    }
  return z;
}

}  // namespace detail

/// W = sum_p diag(h) U_sign diag(ell) V_sign^T diag(g):  W(i, j) = sum_p h_i g_j sum_k U(i,k) ell_k V(k,j).
template <class S, class Out>
void reconstruct(std::span<const FactorizedPath<S>> paths, MatrixView<Out> w) {
  detail::check_paths(paths, "ref::reconstruct");
  const Index m = paths[0].out_features(), n = paths[0].in_features();
  littlebit::detail::check_shape(w, m, n, "ref::reconstruct W");
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < n; ++j) {
      double acc = 0.0;
      for (const auto& p : paths) {
        double inner = 0.0;
        for (Index k = 0; k < p.rank(); ++k)
          inner += p.u_sign.sign(i, k) * detail::el(p.ell, k) * p.v_sign.sign(k, j);
        acc += detail::el(p.h, i) * inner * detail::el(p.g, j);
      }
      w(i, j) = from_double<Out>(acc);
    }
}

/// Y = sum_p ((((X . g) V_sign) . ell) U_sign^T) . h  for a batch X (B x n); Y is B x m.
template <class S, class T, class Out>
void factorized_forward(std::span<const FactorizedPath<S>> paths, MatrixView<T> x, MatrixView<Out> y) {
  detail::check_paths(paths, "ref::factorized_forward");
  const Index batch = x.rows(), m = paths[0].out_features(), n = paths[0].in_features();
  littlebit::detail::check_shape(x, batch, n, "ref::factorized_forward X");
  littlebit::detail::check_shape(y, batch, m, "ref::factorized_forward Y");
  std::vector<double> acc(static_cast<std::size_t>(batch * m), 0.0);
  for (const auto& p : paths) {
    const auto z = detail::output_projection(p, detail::input_projection(p, x), batch);
    for (Index b = 0; b < batch; ++b)
      for (Index i = 0; i < m; ++i) acc[detail::at(b, i, m)] += z[detail::at(b, i, m)] * detail::el(p.h, i);
  }
  for (Index b = 0; b < batch; ++b)
    for (Index i = 0; i < m; ++i) y(b, i) = from_double<Out>(acc[detail::at(b, i, m)]);
}

/// Backward of factorized_forward for dY = dL/dY (B x m): writes dX (B x n) and returns each
/// path's gradients (see the header comment for the formulas).
template <class S, class T, class TD, class Out>
std::vector<PathGradients> factorized_backward(std::span<const FactorizedPath<S>> paths, MatrixView<T> x,
                                               MatrixView<TD> dy, MatrixView<Out> dx) {
  detail::check_paths(paths, "ref::factorized_backward");
  const Index batch = x.rows(), m = paths[0].out_features(), n = paths[0].in_features();
  littlebit::detail::check_shape(x, batch, n, "ref::factorized_backward X");
  littlebit::detail::check_shape(dy, batch, m, "ref::factorized_backward dY");
  littlebit::detail::check_shape(dx, batch, n, "ref::factorized_backward dX");
  using detail::at;
  using detail::el;

  std::vector<double> dx_acc(static_cast<std::size_t>(batch * n), 0.0);
  std::vector<PathGradients> grads;
  for (const auto& p : paths) {
    const Index r = p.rank();
    const auto t = detail::input_projection(p, x);
    const auto z = detail::output_projection(p, t, batch);
    PathGradients gr{std::vector<double>(static_cast<std::size_t>(m), 0.0),
                     std::vector<double>(static_cast<std::size_t>(r), 0.0),
                     std::vector<double>(static_cast<std::size_t>(n), 0.0),
                     std::vector<double>(static_cast<std::size_t>(m * r), 0.0),
                     std::vector<double>(static_cast<std::size_t>(r * n), 0.0)};
    std::vector<double> dz(static_cast<std::size_t>(batch * m)), ds(static_cast<std::size_t>(batch * r), 0.0),
        dt(static_cast<std::size_t>(batch * r)), da(static_cast<std::size_t>(batch * n), 0.0);
    for (Index b = 0; b < batch; ++b)
      for (Index i = 0; i < m; ++i) {
        const double d = to_double(dy(b, i));
        gr.dh[static_cast<std::size_t>(i)] += d * z[at(b, i, m)];
        dz[at(b, i, m)] = d * el(p.h, i);
      }
    for (Index i = 0; i < m; ++i)  // dU_sign = dz^T s, s = t . ell
      for (Index k = 0; k < r; ++k) {
        double acc = 0.0;
        for (Index b = 0; b < batch; ++b) acc += dz[at(b, i, m)] * (t[at(b, k, r)] * el(p.ell, k));
        gr.du_sign[at(i, k, r)] = acc;
      }
    for (Index b = 0; b < batch; ++b)  // ds = dz U_sign
      for (Index k = 0; k < r; ++k) {
        double acc = 0.0;
        for (Index i = 0; i < m; ++i) acc += dz[at(b, i, m)] * p.u_sign.sign(i, k);
        ds[at(b, k, r)] = acc;
      }
    for (Index b = 0; b < batch; ++b)
      for (Index k = 0; k < r; ++k) {
        gr.dell[static_cast<std::size_t>(k)] += ds[at(b, k, r)] * t[at(b, k, r)];
        dt[at(b, k, r)] = ds[at(b, k, r)] * el(p.ell, k);
      }
    for (Index k = 0; k < r; ++k)  // dV_sign = dt^T (X . g)
      for (Index j = 0; j < n; ++j) {
        double acc = 0.0;
        for (Index b = 0; b < batch; ++b) acc += dt[at(b, k, r)] * (to_double(x(b, j)) * el(p.g, j));
        gr.dv_sign[at(k, j, n)] = acc;
      }
    for (Index b = 0; b < batch; ++b)  // da = dt V_sign^T
      for (Index j = 0; j < n; ++j) {
        double acc = 0.0;
        for (Index k = 0; k < r; ++k) acc += dt[at(b, k, r)] * p.v_sign.sign(k, j);
        da[at(b, j, n)] = acc;
      }
    for (Index b = 0; b < batch; ++b)
      for (Index j = 0; j < n; ++j) {
        gr.dg[static_cast<std::size_t>(j)] += da[at(b, j, n)] * to_double(x(b, j));
        dx_acc[at(b, j, n)] += da[at(b, j, n)] * el(p.g, j);
      }
    grads.push_back(std::move(gr));
  }
  for (Index b = 0; b < batch; ++b)
    for (Index j = 0; j < n; ++j) dx(b, j) = from_double<Out>(dx_acc[at(b, j, n)]);
  return grads;
}

}  // namespace littlebit::ref
