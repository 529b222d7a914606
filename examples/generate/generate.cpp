// generate: text from a prompt with a Llama-style model, dense GGUF or a littlebit checkpoint
// (packed layers), decoding one token at a time with a KV cache.
//
//   generate --model FILE --prompt TEXT [--tokens 64] [--temperature 0] [--top-k 40] [--seed 0]
//            [--chat] [--threads N] [--precision exact|fast]
//
// --temperature 0 is greedy (argmax; ties to the lowest id); above 0, sampling from the softmax
// of logits / temperature over the --top-k most likely tokens (0: all). --chat wraps the prompt
// in the ChatML turn SmolLM2-Instruct was tuned on. Stops at the end-of-sequence token or after
// --tokens tokens; prints the text as it comes, then prompt and generation speeds.
#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "llm/load.hpp"

int main(int argc, char** argv) {
  CLI::App app{"generate: text from a prompt with a GGUF model or a littlebit checkpoint"};
  std::string model_path, prompt, precision = "exact";
  int tokens = 64, top_k = 40, threads = 0, ctx = 0;
  double temperature = 0.0;
  std::uint64_t seed = 0;
  bool chat = false;
  app.add_option("--model", model_path, "GGUF model or littlebit checkpoint")->required();
  app.add_option("--prompt", prompt, "the text to continue")->required();
  app.add_option("--tokens", tokens, "tokens to generate at most")->check(CLI::Range(1, 1 << 20));
  app.add_option("--ctx", ctx, "context to use, prompt included (0: the model's context length)")->check(CLI::Range(0, 1 << 24));
  app.add_option("--temperature", temperature, "0: greedy")->check(CLI::Range(0.0, 100.0));
  app.add_option("--top-k", top_k, "sample among the k most likely (0: all)")->check(CLI::Range(0, 1 << 30));
  app.add_option("--seed", seed, "sampling seed");
  app.add_flag("--chat", chat, "wrap the prompt in a ChatML user turn");
  app.add_option("--threads", threads, "threads (0: OMP_NUM_THREADS)")->check(CLI::Range(0, 1024));
  app.add_option("--precision", precision, "packed layers' kernels")->check(CLI::IsMember({"exact", "fast"}));
  CLI11_PARSE(app, argc, argv);
  try {
    llm::set_threads(threads);
    const auto [model, tok, kind] = llm::load_model(model_path, precision == "fast" ? littlebit::kernels::Precision::kFast
                                                                                    : littlebit::kernels::Precision::kExact);
    const std::string text = chat ? "<|im_start|>user\n" + prompt + "<|im_end|>\n<|im_start|>assistant\n" : prompt;
    std::vector<int> ids = tok.encode(text);
    if (ids.empty()) throw littlebit::Error("the prompt encodes to no tokens");
    // The context: --ctx, else the model's; the KV cache is made for what this run can use.
    const int model_ctx = model.config().n_ctx;
    if (model_ctx > 0 && ctx > model_ctx)
      throw littlebit::Error("--ctx " + std::to_string(ctx) + " exceeds the model's context length of " +
                             std::to_string(model_ctx) + " tokens");
    const long limit = ctx > 0 ? ctx : model_ctx > 0 ? model_ctx : static_cast<long>(ids.size()) + tokens;
    if (static_cast<long>(ids.size()) > limit)
      throw littlebit::Error("the prompt has " + std::to_string(ids.size()) + " tokens, more than the context of " +
                             std::to_string(limit));
    std::fprintf(stderr, "%s (%s), %zu prompt tokens\n", model_path.c_str(), kind.c_str(), ids.size());
    std::printf("%s", chat ? "" : prompt.c_str());
    std::fflush(stdout);

    auto cache = model.make_cache(std::min<long>(limit, static_cast<long>(ids.size()) + tokens));
    std::mt19937_64 rng(seed);
    const auto t0 = std::chrono::steady_clock::now();
    auto logits = model.forward(ids, &cache);  // prompt x vocab
    const auto t1 = std::chrono::steady_clock::now();
    int generated = 0;
    bool at_limit = false;
    for (; generated < tokens; ++generated) {
      const Eigen::VectorXf last = logits.row(logits.rows() - 1).transpose();
      int next = 0;
      if (temperature == 0.0) {
        last.maxCoeff(&next);
      } else {
        std::vector<int> order(static_cast<std::size_t>(last.size()));
        std::iota(order.begin(), order.end(), 0);
        const std::size_t k = top_k > 0 ? std::min<std::size_t>(static_cast<std::size_t>(top_k), order.size()) : order.size();
        std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                          [&](int a, int b) { return last(a) > last(b) || (last(a) == last(b) && a < b); });
        std::vector<double> p(k);
        const double mx = static_cast<double>(last(order[0]));
        for (std::size_t i = 0; i < k; ++i) p[i] = std::exp((static_cast<double>(last(order[i])) - mx) / temperature);
        std::discrete_distribution<std::size_t> pick(p.begin(), p.end());
        next = order[pick(rng)];
      }
      if (tok.is_eos(next)) break;
      const std::vector<int> one{next};
      std::printf("%s", tok.decode(one).c_str());
      std::fflush(stdout);
      if (cache.length + 1 > limit) {  // the token is shown; the context has no room to feed it back
        at_limit = true;
        ++generated;
        break;
      }
      logits = model.forward(one, &cache);
    }
    const auto t2 = std::chrono::steady_clock::now();
    const double sp = std::chrono::duration<double>(t1 - t0).count(), sg = std::chrono::duration<double>(t2 - t1).count();
    std::printf("\n");
    if (at_limit)
      std::fprintf(stderr, "generate: stopped at the context limit of %ld tokens (%s)\n", limit,
                   ctx > 0 ? "--ctx" : "the model's context length");
    std::fprintf(stderr, "prompt %zu tokens in %.2f s (%.1f tokens/s); generated %d tokens in %.2f s (%.1f tokens/s)\n",
                 ids.size(), sp, static_cast<double>(ids.size()) / sp, generated, sg, generated / std::max(sg, 1e-9));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "generate: %s\n", e.what());
    return 1;
  }
  return 0;
}
