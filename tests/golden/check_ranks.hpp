// Golden kind "ranks": the official rank rule, row by row, exactly (rank and achieved BPW to the
// last bit). The column order is read from the metadata key "columns".
#pragma once

#include <bit>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>

#include "golden_util.hpp"
#include "littlebit/quant/rank_solver.hpp"

namespace littlebit::golden {

inline std::string check_ranks(const io::SafetensorsFile& f) {
  std::map<std::string, Index> column;
  {
    std::stringstream s(meta(f, "columns"));
    std::string name;
    for (Index i = 0; std::getline(s, name, ','); ++i) column[name] = i;
  }
  for (const char* need : {"in_features", "out_features", "target_bpw", "residual", "ratio_factor", "rank", "actual_bpw"})
    if (!column.count(need)) littlebit::detail::fail("metadata 'columns' lacks '", need, "'");
  const RowMatrixXd t = read_matrix(f, "table");
  if (t.cols() != static_cast<Index>(column.size()))
    littlebit::detail::fail("tensor 'table': ", t.cols(), " columns, metadata names ", column.size());

  Index below = 0, raised = 0;
  for (Index i = 0; i < t.rows(); ++i) {
    auto col = [&](const char* name) { return t(i, column.at(name)); };
    const LayerShape shape{static_cast<Index>(col("out_features")), static_cast<Index>(col("in_features"))};
    const RankOptions o{.residual = col("residual") != 0.0, .ratio_factor = col("ratio_factor")};
    const RankChoice c = rank_for_bpw(shape, col("target_bpw"), o);
    const double want_bpw = col("actual_bpw");
    if (static_cast<double>(c.rank) != col("rank") ||
        std::bit_cast<std::uint64_t>(c.bits_per_weight) != std::bit_cast<std::uint64_t>(want_bpw)) {
      std::ostringstream s;
      s.precision(17);
      s << "row " << i << " (" << shape.out_features << " x " << shape.in_features << ", bpw " << col("target_bpw")
        << ", residual " << o.residual << ", ratio " << o.ratio_factor << "): ours rank " << c.rank << " bpw "
        << c.bits_per_weight << ", golden rank " << col("rank") << " bpw " << want_bpw;
      throw CheckFailed(s.str());
    }
    // Never a silent round-up: a rank that meets its target stays within target * ratio (for
    // ratio >= 1 the rule only scales the rank up), and a flagged one really exceeds the target.
    const bool consistent = c.meets_target() ? want_bpw <= col("target_bpw") * o.ratio_factor : want_bpw > col("target_bpw");
    if (o.ratio_factor >= 1.0 && !consistent)
      throw CheckFailed("row " + std::to_string(i) + ": status '" + to_string(c.status) + "' but golden BPW " +
                        std::to_string(want_bpw) + " vs target " + std::to_string(col("target_bpw")));
    below += c.status == RankStatus::kBelowScaleCost;
    raised += c.status == RankStatus::kRaisedToMinimumRank;
  }
  return std::to_string(t.rows()) + " rows exact (flagged: " + std::to_string(below) + " below the scale cost, " +
         std::to_string(raised) + " raised to the minimum rank)";
}

}  // namespace littlebit::golden
