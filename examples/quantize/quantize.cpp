// quantize: a whole Llama-style model to a bits-per-weight target with Dual-SVID, written as a
// littlebit checkpoint (io/checkpoint.hpp) that `eval` and `generate` read.
//
//   quantize --model MODEL.gguf|HF_MODEL_DIR --bpw 0.55 --output OUT.safetensors
//            [--no-residual] [--kv-factor 4] [--exclude REGEX]... [--refine] [--seed S]
//            [--dense-dtype f16|bf16|f32] [--official FILE] [--threads N] [--layers N] [--keep-parts]
//
// 1. Plans every linear layer's rank with the model-level solver (quant/rank_solver.hpp,
//    plan_model_ranks): one global budget of bpw x (weights of the quantized layers); the
//    key/value projections of grouped-query models get --kv-factor times the official rank
//    estimate (the paper's rule), paid for by the other layers, and no rank exceeds min(m, n).
// 2. Runs Dual-SVID (primary + residual unless --no-residual) on each layer, showing progress
//    and an ETA, and writes each finished layer at once to OUT.parts/<layer>.safetensors
//    (atomically). A rerun with the same settings keeps the parts already written (resume); a
//    part made from other settings or another model is redone.
// 3. Prints the per-layer table (shape, rank, bits per weight, relative Frobenius error of the
//    primary path alone and of both paths) and the model's size three ways: the claimed bits per
//    weight of the quantized layers, bytes on disk, bytes in memory once loaded.
// 4. Writes OUT (atomically): the packed layers, the tensors kept dense (embedding, norms,
//    excluded layers) in --dense-dtype (norms always F32), the model config and the tokenizer
//    as metadata, and the quantization summary. Then removes OUT.parts unless --keep-parts.
//    --official also writes the packed layers in the official LittleBit state-dict layout
//    (io/official_linear.hpp) with Hugging Face names, q/k rows back in Hugging Face order.
// The model is a GGUF file or a Hugging Face directory (examples/llm/hf.hpp: config.json,
// safetensors, tokenizer.json); the checkpoint keeps the source's q/k row order and says which
// rotary layout goes with it.
#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "littlebit/io/checkpoint.hpp"
#include "littlebit/io/gguf.hpp"
#include "littlebit/io/official_linear.hpp"
#include "littlebit/quant/dual_svid.hpp"
#include "littlebit/quant/rank_solver.hpp"
#include "llm/hf.hpp"
#include "llm/load.hpp"
#include "llm/hf_names.hpp"
#include "llm/model.hpp"
#include "llm/tokenizer.hpp"

namespace fs = std::filesystem;
using littlebit::Index;

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string hms(double s) {
  const long t = static_cast<long>(s + 0.5);
  char b[32];
  if (t >= 3600) std::snprintf(b, sizeof b, "%ldh%02ldm%02lds", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(b, sizeof b, "%ldm%02lds", t / 60, t % 60);
  return b;
}

/// FNV-1a over a tensor's stored bytes: identifies the source of a part.
std::uint64_t fnv1a(std::span<const std::byte> b) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::byte c : b) h = (h ^ static_cast<std::uint64_t>(c)) * 1099511628211ull;
  return h;
}

/// The model being quantized: a GGUF file or a Hugging Face directory; tensors by GGUF names.
struct Source {
  std::optional<littlebit::io::GgufFile> gguf;
  std::optional<llm::HfModel> hf;
  std::string path;

  static Source open(const std::string& path) {
    Source s;
    s.path = path;
    char magic[4] = {};
    if (!fs::is_directory(path)) {
      std::ifstream in(path, std::ios::binary);
      if (!in) throw littlebit::Error(path + ": cannot open");
      in.read(magic, 4);
    }
    if (std::memcmp(magic, "GGUF", 4) == 0) s.gguf = littlebit::io::GgufFile::open(path);
    else s.hf = llm::HfModel::open(path);
    return s;
  }
  llm::LlamaConfig config() const { return gguf ? llm::LlamaConfig::from_gguf(*gguf) : hf->config(); }
  llm::Tokenizer tokenizer() const { return gguf ? llm::Tokenizer::from_gguf(*gguf) : hf->tokenizer(); }
  bool contains(const std::string& name) const { return gguf ? gguf->contains(name) : hf->contains(name); }
  std::vector<Index> shape(const std::string& name) const { return gguf ? gguf->tensor(name).shape() : hf->tensor(name).shape; }
  std::vector<float> values(const std::string& name) const {
    return gguf ? littlebit::io::dequantize(gguf->tensor(name)) : hf->tensor(name).to_vector<float>();
  }
  /// What identifies the stored tensor: a hash of its bytes and its type.
  std::string identity(const std::string& name) const;
};

/// A Perl-compatible regular expression (PCRE2, as the tokenizer uses) for --exclude.
class Pattern {
 public:
  explicit Pattern(const std::string& p) {
    int err = 0;
    PCRE2_SIZE at = 0;
    code_.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.c_str()), p.size(), 0, &err, &at, nullptr), pcre2_code_free);
    if (!code_) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw littlebit::Error("--exclude '" + p + "' is not a valid regular expression: " +
                             reinterpret_cast<const char*>(msg) + " at offset " + std::to_string(at));
    }
  }
  bool search(const std::string& s) const {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr), pcre2_match_data_free);
    return pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(s.c_str()), s.size(), 0, 0, md.get(), nullptr) >= 0;
  }

 private:
  std::shared_ptr<pcre2_code> code_;
};

struct LayerResult {
  std::string name;
  Index out = 0, in = 0, rank = 0;
  double bpw = 0, err_primary = 0, err_total = 0, seconds = 0;
  bool resumed = false;
  littlebit::PackedFactorizedLinear packed;
};

std::string Source::identity(const std::string& name) const {
  if (gguf) {
    const auto& t = gguf->tensor(name);
    return std::to_string(fnv1a(t.bytes)) + " gguf type " + std::to_string(t.type);
  }
  const auto& t = hf->tensor(name);
  return std::to_string(fnv1a(t.bytes)) + " " + std::string(littlebit::io::dtype_name(t.dtype));
}

littlebit::PackedPath to_packed_path(const littlebit::DualSvidPath<float>& p) {
  auto f16 = [](const Eigen::VectorXf& v) {
    std::vector<littlebit::Float16> o(static_cast<std::size_t>(v.size()));
    for (Index i = 0; i < v.size(); ++i) o[static_cast<std::size_t>(i)] = littlebit::Float16(v(i));
    return o;
  };
  return {p.u_sign, p.v_sign, f16(p.h), f16(p.ell), f16(p.g)};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"quantize: a Llama-style GGUF model to a bits-per-weight target with Dual-SVID (littlebit checkpoint out)"};
  std::string model_path, output, official, dense_dtype = "f16";
  double bpw = 0.0, kv_factor = 4.0;
  bool no_residual = false, refine = false, keep_parts = false;
  std::vector<std::string> excludes;
  std::uint64_t seed = 0;
  int threads = 0, max_layers = -1;
  app.add_option("--model", model_path, "GGUF model file, or a Hugging Face Llama directory")->required();
  app.add_option("--bpw", bpw, "bits per weight of the quantized layers (signs + FP16 scales)")->required();
  app.add_option("--output", output, "checkpoint to write (littlebit layout)")->required();
  app.add_flag("--no-residual", no_residual, "one path per layer instead of primary + residual");
  app.add_option("--kv-factor", kv_factor, "rank factor of k/v projections in grouped-query models")->check(CLI::Range(0.001, 1024.0));
  app.add_option("--exclude", excludes, "keep layers whose name matches this regex dense (repeatable; e.g. 'blk\\.0\\.')");
  app.add_flag("--refine", refine, "Dual-SVID refinements (Joint-ITQ, least-squares scales and signs)");
  app.add_option("--seed", seed, "seed of the randomized SVD");
  app.add_option("--dense-dtype", dense_dtype, "storage of the embedding and excluded layers")->check(CLI::IsMember({"f16", "bf16", "f32"}));
  app.add_option("--official", official, "also write the packed layers in the official LittleBit layout");
  app.add_option("--threads", threads, "threads (0: OMP_NUM_THREADS)")->check(CLI::Range(0, 1024));
  app.add_option("--layers", max_layers, "quantize only the first N blocks (a test setting; the rest are dropped)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_flag("--keep-parts", keep_parts, "keep OUT.parts/ (one file per layer) after writing OUT");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto t_start = Clock::now();
    llm::set_threads(threads);
    const Source file = Source::open(model_path);
    llm::LlamaConfig cfg = file.config();
    const llm::Tokenizer tok = file.tokenizer();
    if (max_layers > 0 && max_layers < cfg.n_layer) cfg.n_layer = max_layers;
    const bool residual = !no_residual;
    const bool gqa = cfg.n_head_kv < cfg.n_head;

    // --- which layers, and their ranks
    std::vector<Pattern> ex;
    for (const auto& e : excludes) ex.emplace_back(e);
    std::vector<llm::LinearInfo> all = llm::linear_layers(cfg), quant, kept;
    for (const auto& l : all) {
      bool skip = false;
      for (const auto& r : ex) skip |= r.search(l.name);
      (skip ? kept : quant).push_back(l);
    }
    if (quant.empty()) throw littlebit::Error("every linear layer is excluded: nothing to quantize");
    std::vector<littlebit::LayerBudget> budgets;
    for (const auto& l : quant)
      budgets.push_back({l.name, {l.out, l.in}, gqa && l.is_kv() ? kv_factor : 1.0, std::nullopt});
    littlebit::ModelRankPlan plan;
    for (;;) {  // no rank above min(m, n) (rounded down to the multiple): pin, re-plan the rest
      plan = littlebit::plan_model_ranks(budgets, bpw, {.residual = residual});
      bool pinned = false;
      for (std::size_t i = 0; i < budgets.size(); ++i) {
        const Index cap = std::max<Index>(8, std::min(budgets[i].shape.out_features, budgets[i].shape.in_features) / 8 * 8);
        if (!budgets[i].fixed_rank && plan.ranks[i] > cap) {
          budgets[i].fixed_rank = cap;
          pinned = true;
        }
      }
      if (!pinned) break;
    }
    if (!plan.feasible)
      throw littlebit::Error("a target of " + std::to_string(bpw) + " bits per weight is below what the minimum ranks and " +
                             "the FP16 scales alone cost (" + std::to_string(plan.achieved_bpw) + " bits per weight)");
    std::printf("%s: %d blocks, width %d, heads %d/%d, ffn %d, vocabulary %d\n", model_path.c_str(), cfg.n_layer, cfg.d_model,
                cfg.n_head, cfg.n_head_kv, cfg.d_ff, cfg.vocab);
    std::printf("plan: %zu layers quantized (%zu kept dense), target %.4f bits/weight, planned %.4f (%+.3f%%), %s, k/v factor %g\n",
                quant.size(), kept.size(), bpw, plan.achieved_bpw, 100.0 * plan.relative_gap,
                residual ? "primary + residual" : "one path", gqa ? kv_factor : 1.0);

    // --- Dual-SVID per layer, each written as a part at once
    const fs::path out_path(output);
    const fs::path parts = out_path.string() + ".parts";
    fs::create_directories(parts);
    littlebit::DualSvidOptions opt;
    opt.residual = residual;
    opt.seed = seed;
    if (refine) opt.refine = littlebit::DualSvidRefine::recommended();
    std::vector<LayerResult> results(quant.size());
    double work_total = 0, work_done = 0, compute_seconds = 0;
    for (std::size_t i = 0; i < quant.size(); ++i)
      work_total += static_cast<double>(quant[i].out) * quant[i].in * static_cast<double>(plan.ranks[i]);
    const auto t_layers = Clock::now();
    int resumed = 0;
    for (std::size_t i = 0; i < quant.size(); ++i) {
      const auto& l = quant[i];
      LayerResult& r = results[i];
      r.name = l.name;
      r.out = l.out;
      r.in = l.in;
      r.rank = plan.ranks[i];
      r.bpw = plan.bits_per_weight[i];
      const std::string tensor = l.name + ".weight";
      const nlohmann::json key = {{"tensor", file.identity(tensor)},
                                  {"rank", r.rank},
                                  {"residual", residual},
                                  {"refine", refine},
                                  {"seed", std::to_string(seed)},
                                  {"version", 1}};
      const fs::path part = parts / (l.name + ".safetensors");
      bool done = false;
      if (fs::exists(part)) {
        try {
          const auto ck = littlebit::io::Checkpoint::open(part);
          if (ck.metadata_value("quantize.key") == key.dump() && ck.has_layer(l.name)) {
            r.packed = ck.layer(l.name);
            const auto st = nlohmann::json::parse(ck.metadata_value("quantize.result").value_or("{}"));
            r.err_primary = st.value("err_primary", 0.0);
            r.err_total = st.value("err_total", 0.0);
            r.seconds = st.value("seconds", 0.0);
            r.resumed = done = true;
            ++resumed;
          }
        } catch (const littlebit::Error& e) {
          std::fprintf(stderr, "\n%s: unreadable, redone (%s)\n", part.c_str(), e.what());
        }
      }
      if (!done) {
        if (file.shape(tensor) != std::vector<Index>{l.out, l.in})
          throw littlebit::Error(model_path + ": tensor '" + tensor + "' does not have the config's shape");
        const std::vector<float> v = file.values(tensor);
        const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> w(v.data(), l.out, l.in);
        if (!w.allFinite()) throw littlebit::Error(model_path + ": tensor '" + l.name + ".weight' holds NaN or infinite values");
        const auto t0 = Clock::now();
        const Eigen::MatrixXf wc = w;  // Dual-SVID's column-major working copy
        const auto d = littlebit::dual_svid(wc, r.rank, opt);
        std::vector<littlebit::PackedPath> paths{to_packed_path(d.primary)};
        if (d.residual) paths.push_back(to_packed_path(*d.residual));
        r.packed = littlebit::PackedFactorizedLinear(paths);
        r.err_primary = d.rel_err_primary;
        r.err_total = d.rel_err_total;
        r.seconds = since(t0);
        compute_seconds += r.seconds;
        work_done += static_cast<double>(l.out) * l.in * static_cast<double>(r.rank);
        littlebit::io::CheckpointWriter pw;
        pw.add_layer(l.name, r.packed);
        pw.set_metadata("quantize.key", key.dump());
        pw.set_metadata("quantize.result",
                        nlohmann::json{{"err_primary", r.err_primary}, {"err_total", r.err_total}, {"seconds", r.seconds}}.dump());
        pw.write(part);
      } else {
        work_total -= static_cast<double>(l.out) * l.in * static_cast<double>(r.rank);
      }
      const double frac = work_total > 0 ? work_done / work_total : 1.0;
      const double eta = frac > 0 ? compute_seconds * (1.0 - frac) / frac : 0.0;
      // A bar redrawn in place on a terminal; in a log, a line per tenth of the layers.
      const int bar = static_cast<int>(30.0 * static_cast<double>(i + 1) / static_cast<double>(quant.size()));
      const bool tty = isatty(2) != 0;
      if (!tty && (10 * (i + 1)) / quant.size() == (10 * i) / quant.size() && i + 1 != quant.size()) continue;
      std::fprintf(stderr, tty ? "\r[%s%s] %zu/%zu %-18s elapsed %s  ETA %s " : "[%s%s] %zu/%zu %-18s elapsed %s  ETA %s\n", std::string(static_cast<std::size_t>(bar), '#').c_str(),
                   std::string(static_cast<std::size_t>(30 - bar), '.').c_str(), i + 1, quant.size(), l.name.c_str(),
                   hms(since(t_layers)).c_str(), hms(eta).c_str());
    }
    if (isatty(2)) std::fprintf(stderr, "\n");

    // --- the table
    std::printf("\n%-20s %12s %6s %8s %10s %10s %8s\n", "layer", "shape", "rank", "bpw", "err_pri", "err_total", "seconds");
    double sum_w = 0, sum_err2 = 0;
    for (const auto& r : results) {
      char shape[32];
      std::snprintf(shape, sizeof shape, "%ldx%ld", static_cast<long>(r.out), static_cast<long>(r.in));
      std::printf("%-20s %12s %6ld %8.4f %10.5f %10.5f %8.2f%s\n", r.name.c_str(), shape, static_cast<long>(r.rank), r.bpw,
                  r.err_primary, r.err_total, r.seconds, r.resumed ? " (kept)" : "");
      sum_w += static_cast<double>(r.out) * static_cast<double>(r.in);
      sum_err2 += static_cast<double>(r.out) * static_cast<double>(r.in) * r.err_total * r.err_total;
    }
    for (const auto& k : kept) std::printf("%-20s %5dx%-6d  dense (excluded)\n", k.name.c_str(), k.out, k.in);
    std::printf("%zu layers Dual-SVID'd in %s (%d kept from an earlier run); weight-averaged relative error %.5f\n",
                quant.size() - static_cast<std::size_t>(resumed), hms(compute_seconds).c_str(), resumed,
                std::sqrt(sum_err2 / sum_w));

    // --- the checkpoint
    const auto dtype = dense_dtype == "f32" ? littlebit::io::DType::kF32
                       : dense_dtype == "bf16" ? littlebit::io::DType::kBF16 : littlebit::io::DType::kF16;
    littlebit::io::CheckpointWriter w;
    auto add_dense = [&](const std::string& name, littlebit::io::DType dt) {
      const auto v = file.values(name);
      for (float x : v)
        if (!std::isfinite(x)) throw littlebit::Error(model_path + ": tensor '" + name + "' holds NaN or infinite values");
      w.add_dense_as(name, v, file.shape(name), dt);
    };
    add_dense("token_embd.weight", dtype);
    if (file.contains("output.weight")) add_dense("output.weight", dtype);
    add_dense("output_norm.weight", littlebit::io::DType::kF32);
    for (int b = 0; b < cfg.n_layer; ++b) {
      add_dense("blk." + std::to_string(b) + ".attn_norm.weight", littlebit::io::DType::kF32);
      add_dense("blk." + std::to_string(b) + ".ffn_norm.weight", littlebit::io::DType::kF32);
    }
    for (const auto& k : kept) add_dense(k.name + ".weight", dtype);
    std::int64_t quant_bits = 0, quant_weights = 0;
    nlohmann::json summary_layers = nlohmann::json::array();
    for (const auto& r : results) {
      w.add_layer(r.name, r.packed);
      quant_bits += r.packed.storage_bits();
      quant_weights += r.out * r.in;
      summary_layers.push_back({{"name", r.name}, {"rank", r.rank}, {"err_primary", r.err_primary}, {"err_total", r.err_total}});
    }
    w.set_metadata("llm.config", cfg.to_json());
    w.set_metadata("llm.tokenizer", tok.to_json());
    const double claimed = static_cast<double>(quant_bits) / static_cast<double>(quant_weights);
    w.set_metadata("quantize.summary", nlohmann::json{{"source", fs::path(model_path).filename().string()},
                                                      {"target_bpw", bpw},
                                                      {"bpw", claimed},
                                                      {"residual", residual},
                                                      {"kv_factor", gqa ? kv_factor : 1.0},
                                                      {"refine", refine},
                                                      {"seed", std::to_string(seed)},
                                                      {"dense_dtype", dense_dtype},
                                                      {"layers", summary_layers}}
                                           .dump());
    w.write(out_path);

    // --- sizes (the written file read back: the model must load)
    const auto ck = littlebit::io::Checkpoint::open(out_path);
    const auto model = llm::LlamaModel<float>::from_checkpoint(ck);
    const auto disk = static_cast<double>(fs::file_size(out_path));
    std::printf("\nsize: quantized layers %.4f bits/weight (%ld weights, %.3f MB of signs + scales); "
                "on disk %.3f MB (dense tensors in %s: %.3f MB); in memory %.3f MB\n",
                claimed, static_cast<long>(quant_weights), static_cast<double>(quant_bits) / 8e6, disk / 1e6,
                dense_dtype.c_str(), static_cast<double>(w.dense_bytes()) / 1e6, static_cast<double>(model.memory_bytes()) / 1e6);
    std::uintmax_t source_bytes = 0;
    if (fs::is_directory(model_path)) {
      for (const auto& e : fs::directory_iterator(model_path))
        if (e.is_regular_file()) source_bytes += e.file_size();
    } else {
      source_bytes = fs::file_size(model_path);
    }
    std::printf("source %s: %.3f MB on disk\n", model_path.c_str(), static_cast<double>(source_bytes) / 1e6);

    if (!official.empty()) {
      littlebit::io::SafetensorsBuilder ob;
      for (const auto& name : ck.dense_names()) ob.add(llm::hf_name(name), ck.dense(name), ck.dense_tensor(name).shape);
      for (const auto& r : results) {
        const bool qk = cfg.rope_adjacent && (r.name.ends_with(".attn_q") || r.name.ends_with(".attn_k"));
        const int heads = r.name.ends_with(".attn_q") ? cfg.n_head : cfg.n_head_kv;
        const auto layer = qk ? llm::rows_to_hf(r.packed, heads, cfg.head_dim) : r.packed;
        littlebit::io::add_official_linear(ob, llm::hf_name(r.name), littlebit::io::to_official(layer));
      }
      ob.write(official, {{"format", "littlebit-official-model"}, {"source", fs::path(model_path).filename().string()}});
      std::printf("official layout: %s (%.3f MB)\n", official.c_str(), static_cast<double>(fs::file_size(official)) / 1e6);
    }
    if (!keep_parts) fs::remove_all(parts);
    std::printf("wrote %s in %s\n", output.c_str(), hms(since(t_start)).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\nquantize: %s\n", e.what());
    return 1;
  }
  return 0;
}
