// Helpers for the golden checks: reading tensors as double matrices with shape checks, reading
// metadata, and comparing against a per-element bound with a report of the worst element.
#pragma once

#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "littlebit/core/error.hpp"
#include "littlebit/io/safetensors.hpp"

namespace littlebit::golden {

using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A tensor of rank 1 or 2 as a row-major double matrix (rank 1 -> one row).
inline RowMatrixXd read_matrix(const io::SafetensorsFile& f, const std::string& name) {
  const auto& t = f.tensor(name);
  if (t.shape.size() > 2 || t.shape.empty())
    littlebit::detail::fail("tensor '", name, "': expected rank 1 or 2, found shape ", io::TensorView::shape_string(t.shape));
  const Index rows = t.shape.size() == 2 ? t.shape[0] : 1;
  const Index cols = t.shape.back();
  RowMatrixXd m(rows, cols);
  t.copy_to(std::span<double>(m.data(), static_cast<std::size_t>(m.size())));
  return m;
}

/// A tensor with exactly `rows x cols` elements (a (1, n) and an (n) vector both fit 1 x n).
inline RowMatrixXd read_matrix(const io::SafetensorsFile& f, const std::string& name, Index rows, Index cols) {
  RowMatrixXd m = read_matrix(f, name);
  if (m.rows() * m.cols() != rows * cols || (m.rows() != rows && m.rows() != 1 && rows != 1))
    littlebit::detail::fail("tensor '", name, "': expected ", rows, " x ", cols, ", found ", m.rows(), " x ", m.cols());
  m.resize(rows, cols);
  return m;
}

inline std::string meta(const io::SafetensorsFile& f, const std::string& key) {
  auto v = f.metadata_value(key);
  if (!v) littlebit::detail::fail("metadata has no '", key, "'");
  return *v;
}

inline double meta_number(const io::SafetensorsFile& f, const std::string& key) {
  const std::string s = meta(f, key);
  std::size_t used = 0;
  double v = 0.0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size()) littlebit::detail::fail("metadata '", key, "' = '", s, "' is not a number");
  return v;
}

/// Tracks the largest ratio |ours - want| / bound over a set of comparisons.
class BoundCheck {
 public:
  /// Compares element-wise; `bound` has the same shape as the operands.
  void compare(const std::string& name, const RowMatrixXd& ours, const RowMatrixXd& want, const RowMatrixXd& bound) {
    if (ours.rows() != want.rows() || ours.cols() != want.cols())
      littlebit::detail::fail(name, ": shape ", ours.rows(), " x ", ours.cols(), " vs golden ", want.rows(), " x ",
                              want.cols());
    for (Index i = 0; i < ours.rows(); ++i)
      for (Index j = 0; j < ours.cols(); ++j) {
        const double err = std::abs(ours(i, j) - want(i, j));
        const double ratio = bound(i, j) > 0 ? err / bound(i, j) : (err == 0 ? 0.0 : std::numeric_limits<double>::infinity());
        if (!(ratio <= 1.0)) {
          std::ostringstream s;
          s.precision(17);
          s << name << "(" << i << ", " << j << "): ours " << ours(i, j) << ", golden " << want(i, j) << ", |diff| "
            << err << " > bound " << bound(i, j);
          failures_ += (failures_.empty() ? "" : "; ") + s.str();
        }
        worst_ = std::max(worst_, std::isfinite(ratio) ? ratio : worst_);
        ++count_;
      }
  }
  bool ok() const { return failures_.empty(); }
  const std::string& failures() const { return failures_; }
  double worst_ratio() const { return worst_; }
  Index count() const { return count_; }

 private:
  std::string failures_;
  double worst_ = 0.0;
  Index count_ = 0;
};

/// Thrown by a check to report a failed comparison (as opposed to an unreadable file).
struct CheckFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace littlebit::golden
