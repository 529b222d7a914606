// examples/llm/perplexity.hpp: the perplexity protocol of `eval`, shared by every program that
// reports one (eval, train), so that they agree on the same model and text.
//
// Window k covers tokens [k stride, k stride + ctx) and predicts its tokens from position
// max(k stride + 1, the end of window k - 1) on: no token is predicted twice and each window's
// first token is context only (with stride = ctx, a window of ctx tokens scores ctx - 1 of them;
// with stride < ctx, later windows score only their last stride tokens). No BOS is added.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "littlebit/core/error.hpp"
#include "llm/model.hpp"

namespace llm {

struct Perplexity {
  double nll = 0.0;  // summed negative log-likelihood (nats)
  long tokens = 0;   // predicted tokens
  double ppl() const { return tokens > 0 ? std::exp(nll / static_cast<double>(tokens)) : 0.0; }
};

/// Perplexity of `model` on `ids`; progress(scored, total, nll) after each window when given.
inline Perplexity perplexity(const LlamaModel<float>& model, const std::vector<int>& ids, int ctx, int stride,
                             const std::function<void(long, long, double)>& progress = {}) {
  const auto n = static_cast<long>(ids.size());
  if (n < 2) littlebit::detail::fail("perplexity: fewer than 2 tokens, nothing to predict");
  if (ctx < 2 || stride < 1 || stride > ctx)
    littlebit::detail::fail("perplexity: window ", ctx, " with stride ", stride, " (need 2 <= ctx, 1 <= stride <= ctx)");
  Perplexity r;
  long next = 1;  // the first token not yet predicted
  for (long s = 0; next < n; s += stride) {
    const long e = std::min(n, s + ctx);
    const std::vector<int> window(ids.begin() + s, ids.begin() + e);
    const auto logits = model.forward(window);  // (e - s) x vocab
    for (long p = std::max(next, s + 1); p < e; ++p) {
      const auto row = logits.row(p - 1 - s);
      const float mx = row.maxCoeff();
      const double lse = static_cast<double>(mx) + std::log(static_cast<double>((row.array() - mx).exp().sum()));
      r.nll += lse - static_cast<double>(row(ids[static_cast<std::size_t>(p)]));
      ++r.tokens;
    }
    next = e;
    if (progress) progress(r.tokens, n - 1, r.nll);
    if (e == n) break;
  }
  return r;
}

}  // namespace llm
