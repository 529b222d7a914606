// examples/llm/rank_plan.hpp: the rank of every quantized linear layer of a model for a
// bits-per-weight target, by one of two rules:
//   official  the official per-layer rule (quant/rank_solver.hpp, rank_for_bpw), the key/value
//             projections of grouped-query models at kv_factor times its estimate, as the
//             official code does (each layer on its own; the k/v layers exceed the target), no
//             rank above min(m, n) (rounded down to the multiple)
//   budget    littlebit's model-level plan (plan_model_ranks): one budget of bpw x (weights of
//             the quantized layers), the k/v share weighted by kv_factor and paid for by the
//             other layers; no rank above min(m, n) (rounded down to the multiple)
// Both raise littlebit::Error for a target no rank can reach (below what the FP16 scales and
// the minimum rank cost).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "littlebit/core/error.hpp"
#include "littlebit/quant/rank_solver.hpp"
#include "llm/model.hpp"

namespace llm {

enum class RankRule { kOfficial, kBudget };

struct RankPlan {
  std::vector<littlebit::Index> ranks;  // per layer, in input order
  double achieved_bpw = 0.0;            // total storage bits / total weights
  double relative_gap = 0.0;            // (achieved - target) / target
};

inline RankPlan plan_ranks(const std::vector<LinearInfo>& layers, double bpw, double kv_factor, bool gqa, bool residual,
                           RankRule rule) {
  if (layers.empty()) littlebit::detail::fail("plan_ranks: no layers to quantize");
  RankPlan p;
  if (rule == RankRule::kOfficial) {
    std::int64_t bits = 0, weights = 0;
    for (const auto& l : layers) {
      const littlebit::LayerShape s{l.out, l.in};
      const auto c = littlebit::rank_for_bpw(s, bpw, {.residual = residual, .ratio_factor = gqa && l.is_kv() ? kv_factor : 1.0});
      if (c.status == littlebit::RankStatus::kBelowScaleCost)
        littlebit::detail::fail("a target of ", bpw, " bits per weight is below what the FP16 scales and the minimum rank of ",
                                l.name, " cost (", c.bits_per_weight, " bits per weight)");
      // k/v at kv_factor x the rule can exceed min(m, n) (192 x 576 at 1.0 BPW: 216), which no
      // factorization has: capped there (rounded down to the multiple), as the budget rule does.
      const littlebit::Index cap = std::max<littlebit::Index>(8, std::min<littlebit::Index>(l.out, l.in) / 8 * 8);
      const littlebit::Index rank = std::min(c.rank, cap);
      p.ranks.push_back(rank);
      bits += littlebit::storage_bits(s, rank, residual);
      weights += static_cast<std::int64_t>(l.out) * l.in;
    }
    p.achieved_bpw = static_cast<double>(bits) / static_cast<double>(weights);
    p.relative_gap = (p.achieved_bpw - bpw) / bpw;
    return p;
  }
  std::vector<littlebit::LayerBudget> budgets;
  for (const auto& l : layers) budgets.push_back({l.name, {l.out, l.in}, gqa && l.is_kv() ? kv_factor : 1.0, std::nullopt});
  littlebit::ModelRankPlan mp;
  for (;;) {  // no rank above min(m, n) (rounded down to the multiple): pin, re-plan the rest
    mp = littlebit::plan_model_ranks(budgets, bpw, {.residual = residual});
    bool pinned = false;
    for (std::size_t i = 0; i < budgets.size(); ++i) {
      const littlebit::Index cap =
          std::max<littlebit::Index>(8, std::min(budgets[i].shape.out_features, budgets[i].shape.in_features) / 8 * 8);
      if (!budgets[i].fixed_rank && mp.ranks[i] > cap) {
        budgets[i].fixed_rank = cap;
        pinned = true;
      }
    }
    if (!pinned) break;
  }
  if (!mp.feasible)
    littlebit::detail::fail("a target of ", bpw, " bits per weight is below what the minimum ranks and the FP16 scales alone cost (",
                            mp.achieved_bpw, " bits per weight)");
  p.ranks = mp.ranks;
  p.achieved_bpw = mp.achieved_bpw;
  p.relative_gap = mp.relative_gap;
  return p;
}

}  // namespace llm
