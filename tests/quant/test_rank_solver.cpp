// The rank rule (per layer and per model): hand-computed values, monotonicity, round trips,
// the scale-cost floor, and the model planner's budget.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "littlebit/quant/rank_solver.hpp"

using namespace littlebit;

TEST_CASE("storage_bits counts signs and FP16 scales of every path") {
  // One path, 4096 x 4096 at rank 8: 8 (4096 + 4096) sign bits + 16 (4096 + 4096) for h, g + 16 * 8 for ell.
  CHECK(storage_bits({4096, 4096}, 8, false) == 8 * 8192 + 16 * 8192 + 16 * 8);
  CHECK(storage_bits({4096, 4096}, 8, true) == 2 * storage_bits({4096, 4096}, 8, false));
  CHECK(bpw_for_rank({64, 128}, 16, true) == static_cast<double>(2 * (16 * (192 + 16) + 16 * 192)) / (64.0 * 128.0));
  CHECK(scale_cost_bpw({4096, 4096}, true) == 32.0 * 8192 / (4096.0 * 4096.0));
}

TEST_CASE("rank_for_bpw: hand-computed official values") {
  // residual: (0.55 * 4096^2 - 32 * 8192) / (2 * 8208) = 546.98... -> 546 -> 544
  auto c = rank_for_bpw({4096, 4096}, 0.55);
  CHECK(c.rank == 544);
  CHECK(c.meets_target());
  CHECK(c.bits_per_weight == bpw_for_rank({4096, 4096}, 544, true));
  CHECK(c.bits_per_weight <= 0.55);
  // no residual: (1.0 * 4096^2 - 16 * 8192) / 8208 = 2028.0... -> 2024
  CHECK(rank_for_bpw({4096, 4096}, 1.0, {.residual = false}).rank == 2024);
  // ratio factor 4 multiplies the estimate before rounding: 546.98 * 4 = 2187.9 -> 2184
  CHECK(rank_for_bpw({4096, 4096}, 0.55, {.ratio_factor = 4.0}).rank == 2184);
}

TEST_CASE("rank_for_bpw: the minimum rank and the scale-cost floor are reported, never silent") {
  // 64 x 64 with residual: scales alone cost 32 * 128 / 4096 = 1.0 bit per weight.
  auto below = rank_for_bpw({64, 64}, 0.5);
  CHECK(below.rank == 8);
  CHECK(below.status == RankStatus::kBelowScaleCost);
  CHECK_FALSE(below.meets_target());
  CHECK(below.bits_per_weight > 0.5);
  CHECK_THROWS_WITH_AS(static_cast<void>(below.require_target("q_proj")), doctest::Contains("q_proj: target of 0.5"), Error);
  // Exactly at the scale cost: still nothing left for signs.
  CHECK(rank_for_bpw({64, 64}, 1.0).status == RankStatus::kBelowScaleCost);
  // Above the scale cost but the estimate is below 8: raised, and said so.
  auto raised = rank_for_bpw({64, 64}, 1.5);  // (6144 - 4096) / 288 = 7.1
  CHECK(raised.rank == 8);
  CHECK(raised.status == RankStatus::kRaisedToMinimumRank);
  CHECK(raised.bits_per_weight > 1.5);
  CHECK_THROWS_AS(static_cast<void>(raised.require_target()), Error);
  auto ok = rank_for_bpw({64, 64}, 1.6);  // (6553.6 - 4096) / 288 = 8.5
  CHECK(ok.rank == 8);
  CHECK(ok.meets_target());
  CHECK(&ok.require_target() == &ok);
}

TEST_CASE("rank_for_bpw: monotone in the target, achieved <= target when met, round trip through bpw_for_rank") {
  for (LayerShape s : {LayerShape{4096, 4096}, LayerShape{11008, 4096}, LayerShape{4096, 11008}, LayerShape{576, 1536},
                       LayerShape{192, 576}, LayerShape{28672, 8192}}) {
    for (bool residual : {false, true}) {
      Index last = 0;
      for (double b = 0.01; b <= 2.0; b += 0.01) {
        auto c = rank_for_bpw(s, b, {.residual = residual});
        CHECK(c.rank >= last);
        CHECK(c.rank % 8 == 0);
        CHECK(c.rank >= 8);
        last = c.rank;
        if (c.meets_target()) {
          CHECK(c.bits_per_weight <= b);
          // The next multiple of 8 would exceed the target: the rule leaves less than one step.
          // (Up to the estimate's own rounding, a few ulps: an exact tie may truncate either way.)
          CHECK(bpw_for_rank(s, c.rank + 8, residual) > b * (1 - 1e-12));
        }
        // Asking for what a rank costs gives that rank back. At exactly the cost the estimate is
        // an integer computed in floating point and may truncate to one below, so the target is
        // raised by a relative 1e-9: far above the estimate's rounding (~1e-15), far below a
        // step of 8 ranks.
        const double cost = bpw_for_rank(s, c.rank, residual);
        CHECK(rank_for_bpw(s, cost * (1 + 1e-9), {.residual = residual}).rank == c.rank);
      }
    }
  }
}

TEST_CASE("rank_for_bpw: invalid arguments raise littlebit::Error") {
  CHECK_THROWS_AS(static_cast<void>(rank_for_bpw({0, 10}, 1.0)), Error);
  CHECK_THROWS_AS(static_cast<void>(rank_for_bpw({10, -1}, 1.0)), Error);
  CHECK_THROWS_AS(static_cast<void>(rank_for_bpw({10, 10}, 0.0)), Error);
  CHECK_THROWS_AS(static_cast<void>(rank_for_bpw({10, 10}, -1.0)), Error);
  CHECK_THROWS_AS(static_cast<void>(rank_for_bpw({10, 10}, std::numeric_limits<double>::quiet_NaN())), Error);
  CHECK_THROWS_AS(static_cast<void>(rank_for_bpw({10, 10}, std::numeric_limits<double>::infinity())), Error);
  CHECK_THROWS_AS(static_cast<void>(rank_for_bpw({10, 10}, 1.0, {.ratio_factor = 0.0})), Error);
  // Absurd targets are rejected before any rank arithmetic could overflow.
  CHECK_THROWS_WITH_AS(static_cast<void>(rank_for_bpw({10, 10}, 1e300)), doctest::Contains("must be in (0, 1024]"), Error);
  CHECK_THROWS_AS(static_cast<void>(rank_for_bpw({10, 10}, 1.0, {.ratio_factor = 1e300})), Error);
  CHECK(rank_for_bpw({10, 10}, 1024.0).rank > 0);
  CHECK_THROWS_AS(static_cast<void>(storage_bits({10, 10}, -8, true)), Error);
}

namespace {
// The seven linear layers of each of `blocks` Llama blocks (d = hidden, f = FFN, kv = k/v width).
std::vector<LayerBudget> llama_layers(Index d, Index f, Index kv, int blocks, double kv_factor) {
  std::vector<LayerBudget> ls;
  for (int b = 0; b < blocks; ++b) {
    const std::string p = "layers." + std::to_string(b) + ".";
    ls.push_back({p + "q_proj", {d, d}});
    ls.push_back({p + "k_proj", {kv, d}, kv_factor});
    ls.push_back({p + "v_proj", {kv, d}, kv_factor});
    ls.push_back({p + "o_proj", {d, d}});
    ls.push_back({p + "gate_proj", {f, d}});
    ls.push_back({p + "up_proj", {f, d}});
    ls.push_back({p + "down_proj", {d, f}});
  }
  return ls;
}
}  // namespace

TEST_CASE("plan_model_ranks: a Llama-7B-shaped model lands within 0.5% of the target, never above") {
  const auto layers = llama_layers(4096, 11008, 4096, 32, 1.0);
  for (double b : {0.1, 0.3, 0.55, 1.0}) {
    const auto plan = plan_model_ranks(layers, b);
    CAPTURE(b);
    CHECK(plan.feasible);
    CHECK(plan.within_tolerance);
    CHECK(plan.total_bits <= plan.target_bits);
    CHECK(std::abs(plan.relative_gap) <= 0.005);
    std::int64_t sum = 0;
    for (std::size_t i = 0; i < layers.size(); ++i) {
      CHECK(plan.ranks[i] % 8 == 0);
      // At least the official per-layer rank: the plan only adds the rounding leftovers.
      CHECK(plan.ranks[i] >= rank_for_bpw(layers[i].shape, b).rank);
      sum += storage_bits(layers[i].shape, plan.ranks[i], true);
    }
    CHECK(sum == plan.total_bits);
    CHECK(plan.achieved_bpw == static_cast<double>(sum) / static_cast<double>(plan.total_weights));
  }
}

TEST_CASE("plan_model_ranks: the k/v factor shifts rank to k/v and keeps the total on budget") {
  // SmolLM2-135M shapes: hidden 576, FFN 1536, k/v width 192, 30 blocks.
  const auto plain = plan_model_ranks(llama_layers(576, 1536, 192, 30, 1.0), 0.55);
  const auto kv = plan_model_ranks(llama_layers(576, 1536, 192, 30, 2.0), 0.55);
  CHECK(kv.total_bits <= kv.target_bits);
  CHECK(kv.within_tolerance);
  CHECK(kv.ranks[1] > plain.ranks[1]);  // k_proj of block 0
  CHECK(kv.ranks[0] <= plain.ranks[0]);  // q_proj pays for it
}

TEST_CASE("plan_model_ranks: fixed ranks are kept; a single layer reports the closest fit below") {
  std::vector<LayerBudget> ls = {{"a", {4096, 4096}, 1.0, 64}, {"b", {4096, 4096}}};
  auto plan = plan_model_ranks(ls, 0.3);
  CHECK(plan.ranks[0] == 64);
  CHECK(plan.total_bits <= plan.target_bits);

  // One 4096 x 4096 layer at 0.1: a step of 8 ranks costs 7.8% of the budget, so 0.5% is out of reach.
  const std::vector<LayerBudget> one = {{"only", {4096, 4096}}};
  plan = plan_model_ranks(one, 0.1);
  CHECK(plan.ranks[0] == 80);
  CHECK(plan.feasible);
  CHECK_FALSE(plan.within_tolerance);
  CHECK(plan.relative_gap < 0.0);
  CHECK(storage_bits({4096, 4096}, 88, true) > plan.target_bits);
}

TEST_CASE("plan_model_ranks: a target below the scale cost is reported infeasible") {
  const std::vector<LayerBudget> ls = {{"tiny", {64, 64}}, {"tiny2", {64, 64}}};
  const auto plan = plan_model_ranks(ls, 0.5);
  CHECK_FALSE(plan.feasible);
  CHECK_FALSE(plan.within_tolerance);
  CHECK(plan.ranks[0] == 8);
  CHECK(plan.relative_gap > 0.0);
  CHECK_THROWS_AS(static_cast<void>(plan_model_ranks(std::vector<LayerBudget>{}, 0.5)), Error);
  CHECK_THROWS_AS(static_cast<void>(plan_model_ranks(ls, -0.5)), Error);
  CHECK_THROWS_AS(static_cast<void>(plan_model_ranks(ls, 1e300)), Error);
}
