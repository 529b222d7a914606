// eval: perplexity of a Llama-style model on a text file: a dense GGUF model, or a littlebit
// checkpoint written by `quantize` (packed layers; tokenizer and config from its metadata).
//
//   eval --model MODEL.gguf|CHECKPOINT.safetensors --text FILE [--ctx 512] [--stride N]
//        [--threads N] [--max-tokens N] [--precision exact|fast] [--save-tokens FILE.i32]
//
// The text is tokenized whole (examples/llm/tokenizer.hpp; no BOS token added), then scored by
// windows of ctx tokens every stride tokens (default stride = ctx: non-overlapping), the
// protocol of examples/llm/perplexity.hpp that `train` shares. Prints progress
// with tokens/s, and as its last line `ppl <value> tokens <count>` (count = predicted tokens).
// --save-tokens writes the token ids scored (after --max-tokens) as raw little-endian int32,
// atomically, for tools that evaluate the same tokens (bench/official_torch.py).
#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "littlebit/io/mapped_file.hpp"
#include "llm/load.hpp"
#include "llm/perplexity.hpp"

int main(int argc, char** argv) {
  CLI::App app{"eval: perplexity of a GGUF Llama-style model on a text file"};
  std::string model_path, text_path;
  int ctx = 512, stride = 0, threads = 0;
  long max_tokens = 0;
  app.add_option("--model", model_path, "GGUF model file")->required();
  app.add_option("--text", text_path, "UTF-8 text file")->required();
  app.add_option("--ctx", ctx, "window length in tokens (at most the model's context length)")->check(CLI::Range(2, 1 << 20));
  app.add_option("--stride", stride, "window step (default: --ctx)")->check(CLI::Range(1, 1 << 20));
  app.add_option("--threads", threads, "threads (0: OMP_NUM_THREADS)")->check(CLI::Range(0, 1024));
  app.add_option("--max-tokens", max_tokens, "use only the first N tokens of the text (0: all)")->check(CLI::Range(0L, 1L << 40));
  std::string save_tokens;
  app.add_option("--save-tokens", save_tokens, "also write the scored token ids to FILE (raw little-endian int32)");
  std::string precision = "exact";
  app.add_option("--precision", precision, "packed layers' kernels: exact (FP32 tables) or fast (int16 tables)")
      ->check(CLI::IsMember({"exact", "fast"}));
  CLI11_PARSE(app, argc, argv);
  if (stride == 0) stride = ctx;
  if (stride > ctx) {
    std::fprintf(stderr, "eval: --stride %d exceeds --ctx %d (tokens would go unscored)\n", stride, ctx);
    return 2;
  }
  try {
    llm::set_threads(threads);
    std::ifstream in(text_path, std::ios::binary);
    if (!in) throw littlebit::Error(text_path + ": cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    const auto t0 = std::chrono::steady_clock::now();
    const auto [model, tok, kind] = llm::load_model(model_path, precision == "fast" ? littlebit::kernels::Precision::kFast
                                                                                    : littlebit::kernels::Precision::kExact);
    auto ids = tok.encode(ss.str());
    if (max_tokens > 0 && static_cast<long>(ids.size()) > max_tokens) ids.resize(static_cast<std::size_t>(max_tokens));
    const auto n = static_cast<long>(ids.size());
    if (n < 2) throw littlebit::Error(text_path + ": fewer than 2 tokens, nothing to predict");
    if (!save_tokens.empty()) {
      static_assert(std::endian::native == std::endian::little, "token files are little-endian int32");
      const std::vector<std::int32_t> raw(ids.begin(), ids.end());
      littlebit::io::write_file_atomically(save_tokens, [&](std::FILE* f) {
        littlebit::io::write_bytes(f, raw.data(), raw.size() * sizeof(std::int32_t));
      });
    }
    const auto& c = model.config();
    if (c.n_ctx > 0 && ctx > c.n_ctx)
      throw littlebit::Error("--ctx " + std::to_string(ctx) + " exceeds the model's context length of " +
                             std::to_string(c.n_ctx) + " tokens");
    std::printf("%s (%s): %d layers, width %d, heads %d/%d, vocabulary %d; %s: %ld tokens; ctx %d, stride %d\n",
                model_path.c_str(), kind.c_str(), c.n_layer, c.d_model, c.n_head, c.n_head_kv, c.vocab, text_path.c_str(), n, ctx, stride);
    const auto t1 = std::chrono::steady_clock::now();
    const llm::Perplexity r = llm::perplexity(model, ids, ctx, stride, [&](long scored, long total, double nll) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
      std::fprintf(stderr, "\r%ld / %ld tokens, ppl %.3f, %.1f tokens/s   ", scored, total,
                   std::exp(nll / static_cast<double>(scored)), static_cast<double>(scored) / secs);
    });
    const long scored = r.tokens;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    std::fprintf(stderr, "\n");
    std::printf("load %.2f s, evaluation %.2f s (%.1f tokens/s)\n",
                std::chrono::duration<double>(t1 - t0).count(), secs, static_cast<double>(scored) / secs);
    std::printf("ppl %.6f tokens %ld\n", r.ppl(), scored);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eval: %s\n", e.what());
    return 1;
  }
  return 0;
}
