// littlebit/quant/rank_solver.hpp: bits per weight <-> rank, per layer and for a whole model.
//
// Storage of one m x n layer (out x in) at rank r, counting exactly what the packed form holds:
//   one path:       r (m + n)  sign bits + 16 (m + n)  FP16 h, g + 16 r  FP16 ell
//                 = r (m + n + 16) + 16 (m + n)
//   with residual:  2 r (m + n + 16) + 32 (m + n)
// and bits per weight = bits / (m n). Inverting for a target b gives the official estimate
//   r = (b m n - 16 (m + n)) / (m + n + 16)              (one path)
//   r = (b m n - 32 (m + n)) / (2 (m + n + 16))          (residual)
// which the official code multiplies by a ratio factor (its k/v-projection factor), truncates
// to an integer, rounds down to a multiple of 8 and raises to at least 8. This file reproduces
// that rule bit for bit (same double operations in the same order), and says when the minimum
// rank lifts a layer above its target: below 32 (m + n) / (m n) bits per weight (16 (m + n) /
// (m n) without residual) the FP16 scales alone exceed the target and no rank can meet it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "littlebit/core/config.hpp"
#include "littlebit/core/error.hpp"

namespace littlebit {

/// A linear layer's weight shape: out_features x in_features (m x n).
struct LayerShape {
  Index out_features = 0;
  Index in_features = 0;
};

struct RankOptions {
  bool residual = true;       // two paths (primary + residual), as LittleBit uses by default
  double ratio_factor = 1.0;  // the official multiplier (kv_factor for k_proj / v_proj)
  Index min_rank = 8;
  Index rank_multiple = 8;
};

enum class RankStatus {
  kMeetsTarget,          // rank chosen by the rule; bits_per_weight <= target * ratio_factor
  kRaisedToMinimumRank,  // the rule's rank was below min_rank: bits_per_weight exceeds the target
  kBelowScaleCost,       // the target is at or below what the FP16 scales alone cost
};

inline const char* to_string(RankStatus s) {
  switch (s) {
    case RankStatus::kMeetsTarget: return "meets target";
    case RankStatus::kRaisedToMinimumRank: return "raised to the minimum rank";
    case RankStatus::kBelowScaleCost: return "target below the cost of the FP16 scales";
  }
  return "?";
}

/// The outcome of the per-layer rule. Check `status` (or call require_target()): a rank is
/// always returned, but it meets the target only when status == kMeetsTarget.
struct [[nodiscard]] RankChoice {
  Index rank = 0;
  double bits_per_weight = 0.0;  // achieved, exactly as the official _compute_eff_bits
  double target_bpw = 0.0;
  RankStatus status = RankStatus::kMeetsTarget;

  bool meets_target() const { return status == RankStatus::kMeetsTarget; }
  /// Returns *this, or raises littlebit::Error saying why the target cannot be met.
  const RankChoice& require_target(const std::string& layer = "layer") const;
};

namespace detail {

inline void check_shape_positive(LayerShape s, const char* what) {
  if (s.out_features <= 0 || s.in_features <= 0)
    fail(what, ": layer shape must be positive, found ", s.out_features, " x ", s.in_features);
  // Keep m n and every bit count exact in double (< 2^53) and in int64.
  if (s.out_features > (Index{1} << 26) || s.in_features > (Index{1} << 26))
    fail(what, ": layer shape ", s.out_features, " x ", s.in_features, " exceeds 2^26 in a dimension");
}

inline void check_rank_options(const RankOptions& o, const char* what) {
  if (!(o.ratio_factor > 0.0) || !(o.ratio_factor <= 1024.0))
    fail(what, ": ratio_factor must be in (0, 1024], found ", o.ratio_factor);
  if (o.min_rank < 1) fail(what, ": min_rank must be at least 1, found ", o.min_rank);
  if (o.rank_multiple < 1) fail(what, ": rank_multiple must be at least 1, found ", o.rank_multiple);
}

/// Targets above this are rejected: dense FP64 is 64 bits per weight, and every rank and bit
/// count derived from a target up to here stays exact in double and int64.
inline constexpr double kMaxTargetBpw = 1024.0;

inline void check_target_bpw(double b, const char* what) {
  if (!(b > 0.0) || !(b <= kMaxTargetBpw))
    fail(what, ": target bits per weight must be in (0, ", kMaxTargetBpw, "], found ", b);
}

/// Python's floor division for integers.
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/// The official continuous estimate, before the ratio factor.
inline double rank_estimate(LayerShape s, double bpw, bool residual) {
  const auto a = static_cast<double>(s.in_features), b = static_cast<double>(s.out_features);
  const double base = a + b + 16.0;
  if (residual) return (static_cast<double>(s.in_features * s.out_features) * bpw - 32.0 * (a + b)) / (2.0 * base);
  return (static_cast<double>(s.in_features * s.out_features) * bpw - 16.0 * (a + b)) / base;
}

}  // namespace detail

/// Exact storage of one layer in bits (signs + FP16 scales of every path).
inline std::int64_t storage_bits(LayerShape s, Index rank, bool residual) {
  detail::check_shape_positive(s, "storage_bits");
  if (rank < 0) detail::fail("storage_bits: negative rank ", rank);
  const std::int64_t mn = s.out_features + s.in_features;
  const std::int64_t one = rank * (mn + 16) + 16 * mn;
  return residual ? 2 * one : one;
}

/// Bits per weight of one layer at a rank: storage_bits / (m n).
inline double bpw_for_rank(LayerShape s, Index rank, bool residual) {
  return static_cast<double>(storage_bits(s, rank, residual)) / static_cast<double>(s.out_features * s.in_features);
}

/// What the FP16 scales alone cost, in bits per weight (the limit of bpw_for_rank as rank -> 0).
inline double scale_cost_bpw(LayerShape s, bool residual) { return bpw_for_rank(s, 0, residual); }

/// The official rank rule for a bits-per-weight target (see the file comment).
inline RankChoice rank_for_bpw(LayerShape s, double target_bpw, const RankOptions& o = {}) {
  detail::check_shape_positive(s, "rank_for_bpw");
  detail::check_rank_options(o, "rank_for_bpw");
  detail::check_target_bpw(target_bpw, "rank_for_bpw");

  double estimate = detail::rank_estimate(s, target_bpw, o.residual);
  if (estimate != 0.0) estimate *= o.ratio_factor;
  // int() truncates toward zero; // is floor division; 0 becomes the minimum, then max().
  const auto truncated = static_cast<std::int64_t>(estimate);
  std::int64_t rank = detail::floor_div(truncated, o.rank_multiple) * o.rank_multiple;
  if (rank == 0) rank = o.min_rank;
  rank = std::max<std::int64_t>(rank, o.min_rank);

  RankChoice c;
  c.rank = static_cast<Index>(rank);
  c.bits_per_weight = bpw_for_rank(s, c.rank, o.residual);
  c.target_bpw = target_bpw;
  if (target_bpw <= scale_cost_bpw(s, o.residual))
    c.status = RankStatus::kBelowScaleCost;
  else if (estimate < static_cast<double>(o.min_rank))
    c.status = RankStatus::kRaisedToMinimumRank;
  return c;
}

inline const RankChoice& RankChoice::require_target(const std::string& layer) const {
  if (status == RankStatus::kBelowScaleCost)
    detail::fail(layer, ": target of ", target_bpw, " bits per weight is below the ", bits_per_weight,
                 " that the FP16 scales and the minimum rank ", rank, " cost; no rank reaches it");
  if (status == RankStatus::kRaisedToMinimumRank)
    detail::fail(layer, ": target of ", target_bpw, " bits per weight needs a rank below the minimum; rank ", rank,
                 " gives ", bits_per_weight);
  return *this;
}

// ---------------------------------------------------------------------------------------------
// Model-level budget.

/// One layer of a model plan. `ratio_factor` weights the layer's share (the official k/v
/// factor); `fixed_rank` pins the rank and takes the layer out of the distribution.
struct LayerBudget {
  std::string name;
  LayerShape shape;
  double ratio_factor = 1.0;
  std::optional<Index> fixed_rank = std::nullopt;
};

struct ModelRankOptions {
  bool residual = true;
  Index min_rank = 8;
  Index rank_multiple = 8;
  double tolerance = 0.005;  // |total - target| / target that counts as on target
};

struct [[nodiscard]] ModelRankPlan {
  std::vector<Index> ranks;              // per layer, in input order
  std::vector<double> bits_per_weight;   // per layer, achieved
  std::int64_t total_bits = 0;           // sum of storage_bits
  double target_bits = 0.0;              // target_bpw * sum(m n)
  std::int64_t total_weights = 0;        // sum(m n)
  double target_bpw = 0.0;
  double achieved_bpw = 0.0;             // total_bits / total_weights
  double relative_gap = 0.0;             // (total_bits - target_bits) / target_bits; <= 0 unless infeasible
  bool feasible = true;                  // false: minimum ranks and scales alone exceed the target
  bool within_tolerance = false;         // |relative_gap| <= tolerance
};

/// Per-layer ranks for one global bits-per-weight target, never exceeding the target's total
/// bits (unless even the minimum ranks do, which is reported as infeasible).
///
/// Method: find the largest common level b' such that the official per-layer rule at b', each
/// layer's estimate scaled by its ratio_factor, fits the budget in continuous ranks (bisection;
/// with all ratios 1 this is b' = b, the official per-layer split). Round each rank down to the
/// multiple, then hand out the leftover budget one multiple at a time, largest rounding loss
/// first (largest-remainder apportionment), while it fits.
inline ModelRankPlan plan_model_ranks(std::span<const LayerBudget> layers, double target_bpw,
                                      const ModelRankOptions& o = {}) {
  if (layers.empty()) detail::fail("plan_model_ranks: no layers");
  detail::check_target_bpw(target_bpw, "plan_model_ranks");
  if (o.min_rank < 1 || o.rank_multiple < 1)
    detail::fail("plan_model_ranks: min_rank and rank_multiple must be at least 1");
  if (!(o.tolerance >= 0.0)) detail::fail("plan_model_ranks: tolerance must be nonnegative, found ", o.tolerance);

  const std::size_t count = layers.size();
  ModelRankPlan plan;
  plan.target_bpw = target_bpw;
  for (const auto& l : layers) {
    detail::check_shape_positive(l.shape, ("plan_model_ranks: layer '" + l.name + "'").c_str());
    if (!(l.ratio_factor > 0.0) || !(l.ratio_factor <= 1024.0))
      detail::fail("plan_model_ranks: layer '", l.name, "' has ratio_factor ", l.ratio_factor, ", outside (0, 1024]");
    if (l.fixed_rank && *l.fixed_rank < 1)
      detail::fail("plan_model_ranks: layer '", l.name, "' has fixed rank ", *l.fixed_rank);
    plan.total_weights += l.shape.out_features * l.shape.in_features;
  }
  plan.target_bits = target_bpw * static_cast<double>(plan.total_weights);

  const auto paths = o.residual ? 2 : 1;
  auto unit_cost = [&](const LayerBudget& l) {  // bits per unit of rank
    return static_cast<std::int64_t>(paths) * (l.shape.out_features + l.shape.in_features + 16);
  };
  auto continuous_rank = [&](const LayerBudget& l, double level) {
    if (l.fixed_rank) return static_cast<double>(*l.fixed_rank);
    const double est = detail::rank_estimate(l.shape, level, o.residual) * l.ratio_factor;
    return std::max(est, static_cast<double>(o.min_rank));
  };
  auto continuous_bits = [&](double level) {
    double bits = 0.0;
    for (const auto& l : layers)
      bits += continuous_rank(l, level) * static_cast<double>(unit_cost(l)) +
              static_cast<double>(storage_bits(l.shape, 0, o.residual));
    return bits;
  };

  // Bisection for the level; continuous_bits is nondecreasing in the level.
  double lo = 0.0, hi = target_bpw;
  while (continuous_bits(hi) <= plan.target_bits && hi < 1024.0 * detail::kMaxTargetBpw) hi *= 2.0;
  for (int it = 0; it < 200 && hi - lo > 1e-15 * hi; ++it) {
    const double mid = 0.5 * (lo + hi);
    (continuous_bits(mid) <= plan.target_bits ? lo : hi) = mid;
  }

  plan.ranks.resize(count);
  std::vector<double> loss(count, 0.0);
  std::int64_t total = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const auto& l = layers[i];
    const double c = continuous_rank(l, lo);
    Index r = l.fixed_rank ? *l.fixed_rank
                           : std::max<Index>(static_cast<Index>(std::floor(c / static_cast<double>(o.rank_multiple))) *
                                                 o.rank_multiple,
                                             o.min_rank);
    plan.ranks[i] = r;
    loss[i] = l.fixed_rank ? -1.0 : c - static_cast<double>(r);
    total += storage_bits(l.shape, r, o.residual);
  }

  // Largest-remainder top-up, one multiple at a time while it fits.
  std::vector<std::size_t> order(count);
  for (std::size_t i = 0; i < count; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return loss[a] > loss[b]; });
  for (bool added = true; added;) {
    added = false;
    for (std::size_t i : order) {
      if (layers[i].fixed_rank) continue;
      const std::int64_t step = unit_cost(layers[i]) * o.rank_multiple;
      if (static_cast<double>(total + step) <= plan.target_bits) {
        plan.ranks[i] += o.rank_multiple;
        total += step;
        added = true;
      }
    }
  }

  plan.bits_per_weight.resize(count);
  for (std::size_t i = 0; i < count; ++i)
    plan.bits_per_weight[i] = bpw_for_rank(layers[i].shape, plan.ranks[i], o.residual);
  plan.total_bits = total;
  plan.achieved_bpw = static_cast<double>(total) / static_cast<double>(plan.total_weights);
  plan.relative_gap = (static_cast<double>(total) - plan.target_bits) / plan.target_bits;
  plan.feasible = static_cast<double>(total) <= plan.target_bits;
  plan.within_tolerance = std::abs(plan.relative_gap) <= o.tolerance;
  return plan;
}

}  // namespace littlebit
