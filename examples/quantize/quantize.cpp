// quantize: a whole Llama-style model to a bits-per-weight target with Dual-SVID, written as a
// littlebit checkpoint (io/checkpoint.hpp) that `eval` and `generate` read.
//
//   quantize --model MODEL.gguf|HF_MODEL_DIR --bpw 0.55 --output OUT.safetensors
//            [--no-residual] [--kv-factor 4] [--exclude REGEX]... [--refine] [--seed S]
//            [--dense-dtype f16|bf16|f32] [--official FILE] [--threads N] [--layers N] [--keep-parts]
//            [--rank-rule budget|official]
//
// 1. Plans every linear layer's rank (examples/llm/rank_plan.hpp). By default with the
//    model-level solver (quant/rank_solver.hpp, plan_model_ranks): one global budget of bpw x
//    (weights of the quantized layers); the key/value projections of grouped-query models get
//    --kv-factor times the official rank estimate (the paper's rule), paid for by the other
//    layers, and no rank exceeds min(m, n). --rank-rule official: the official per-layer rule
//    (k/v at --kv-factor times it, over the target), as `train` uses by default.
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
#include "llm/official_export.hpp"
#include "llm/rank_plan.hpp"
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

struct Options {
  std::string model_path, output, official, dense_dtype = "f16";
  double bpw = 0.0, kv_factor = 4.0;
  bool no_residual = false, refine = false, keep_parts = false;
  std::vector<std::string> excludes;
  std::uint64_t seed = 0;
  int threads = 0, max_layers = -1;
  llm::RankRule rank_rule = llm::RankRule::kBudget;
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
  return {p.u_sign, p.v_sign, littlebit::to_float16(p.h, "h"), littlebit::to_float16(p.ell, "ell"),
          littlebit::to_float16(p.g, "g")};
}

using RowMap = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// ---- step 1: which layers, and their ranks ----------------------------------------------------

struct Plan {
  std::vector<llm::LinearInfo> quant, kept;
  llm::RankPlan ranks;
  bool residual = true, gqa = false;
};

Plan plan_layers(const llm::LlamaConfig& cfg, const Options& o) {
  Plan p;
  p.residual = !o.no_residual;
  p.gqa = cfg.n_head_kv < cfg.n_head;
  std::vector<Pattern> ex;
  for (const auto& e : o.excludes) ex.emplace_back(e);
  for (const auto& l : llm::linear_layers(cfg)) {
    bool skip = false;
    for (const auto& r : ex) skip |= r.search(l.name);
    (skip ? p.kept : p.quant).push_back(l);
  }
  if (p.quant.empty()) throw littlebit::Error("every linear layer is excluded: nothing to quantize");
  p.ranks = llm::plan_ranks(p.quant, o.bpw, o.kv_factor, p.gqa, p.residual, o.rank_rule);
  return p;
}

// ---- step 2: Dual-SVID of one layer, or its part from an earlier run ---------------------------

/// The source tensor of a layer, checked: the config's shape, finite values.
std::vector<float> source_weight(const Source& file, const llm::LinearInfo& l) {
  const std::string tensor = l.name + ".weight";
  if (file.shape(tensor) != std::vector<Index>{l.out, l.in})
    throw littlebit::Error(file.path + ": tensor '" + tensor + "' does not have the config's shape " +
                           std::to_string(l.out) + " x " + std::to_string(l.in));
  std::vector<float> v = file.values(tensor);
  if (!RowMap(v.data(), l.out, l.in).allFinite())
    throw littlebit::Error(file.path + ": tensor '" + tensor + "' holds NaN or infinite values");
  return v;
}

/// The layer from its part, when the part exists, is readable, was made with `key` and holds a
/// layer of the planned shape and rank; nullopt (with a line on stderr saying why) otherwise.
std::optional<littlebit::PackedFactorizedLinear> read_part(const fs::path& part, const std::string& key,
                                                           const LayerResult& r, bool residual, double& seconds) {
  if (!fs::exists(part)) return std::nullopt;
  try {
    const auto ck = littlebit::io::Checkpoint::open(part);
    if (ck.metadata_value("quantize.key") != key || !ck.has_layer(r.name)) return std::nullopt;  // other settings
    littlebit::PackedFactorizedLinear layer = ck.layer(r.name);
    if (layer.out_features() != r.out || layer.in_features() != r.in || layer.rank() != r.rank ||
        layer.has_residual() != residual)
      throw littlebit::Error("holds a layer of another shape or rank than planned");
    const auto st = nlohmann::json::parse(ck.metadata_value("quantize.result").value_or("{}"));
    seconds = st.at("seconds").get<double>();
    return layer;
  } catch (const std::exception& e) {  // littlebit::Error, nlohmann's parse and type errors
    std::fprintf(stderr, "\n%s: unusable, redone (%s)\n", part.c_str(), e.what());
    return std::nullopt;
  }
}

/// Quantizes layer `r` (or takes it from its part), then measures what it reports: the errors of
/// the layer as stored (FP16 scales) against the source tensor, recomputed on resume as well, so
/// a part that does not belong to this tensor cannot carry a wrong figure into the table.
void quantize_layer(const Source& file, const llm::LinearInfo& l, const littlebit::DualSvidOptions& opt,
                    const nlohmann::json& key, const fs::path& part, LayerResult& r) {
  const std::vector<float> v = source_weight(file, l);
  const RowMap w(v.data(), l.out, l.in);
  if (auto layer = read_part(part, key.dump(), r, opt.residual, r.seconds)) {
    r.packed = std::move(*layer);
    r.resumed = true;
  } else {
    const auto t0 = Clock::now();
    const Eigen::MatrixXf wc = w;  // Dual-SVID's column-major working copy
    const auto d = littlebit::dual_svid(wc, r.rank, opt);
    std::vector<littlebit::PackedPath> paths{to_packed_path(d.primary)};
    if (d.residual) paths.push_back(to_packed_path(*d.residual));
    r.packed = littlebit::PackedFactorizedLinear(paths);
    r.seconds = since(t0);
    littlebit::io::CheckpointWriter pw;
    pw.add_layer(l.name, r.packed);
    pw.set_metadata("quantize.key", key.dump());
    pw.set_metadata("quantize.result", nlohmann::json{{"seconds", r.seconds}}.dump());
    pw.write(part);
  }
  const auto e = littlebit::reconstruction_error(r.packed, littlebit::MatrixView<const float>(v.data(), l.out, l.in));
  r.err_primary = e.primary;
  r.err_total = e.total;
}

/// Every planned layer, with progress: a bar redrawn in place on a terminal, in a log a line per
/// tenth of the layers, with the ETA from the work (m n r) done so far.
std::vector<LayerResult> quantize_layers(const Source& file, const Plan& plan, const Options& o, const fs::path& parts,
                                         int& resumed, double& compute_seconds) {
  littlebit::DualSvidOptions opt;
  opt.residual = plan.residual;
  opt.seed = o.seed;
  if (o.refine) opt.refine = littlebit::DualSvidRefine::recommended();
  std::vector<LayerResult> results(plan.quant.size());
  double work_total = 0, work_done = 0;
  for (std::size_t i = 0; i < plan.quant.size(); ++i)
    work_total += static_cast<double>(plan.quant[i].out) * plan.quant[i].in * static_cast<double>(plan.ranks.ranks[i]);
  const auto t_layers = Clock::now();
  resumed = 0;
  compute_seconds = 0;
  for (std::size_t i = 0; i < plan.quant.size(); ++i) {
    const auto& l = plan.quant[i];
    LayerResult& r = results[i];
    r.name = l.name;
    r.out = l.out;
    r.in = l.in;
    r.rank = plan.ranks.ranks[i];
    r.bpw = littlebit::bpw_for_rank({r.out, r.in}, r.rank, plan.residual);
    const nlohmann::json key = {{"tensor", file.identity(l.name + ".weight")},
                                {"rank", r.rank},
                                {"residual", plan.residual},
                                {"refine", o.refine},
                                {"seed", std::to_string(o.seed)},
                                {"version", 2}};
    const auto t0 = Clock::now();
    quantize_layer(file, l, opt, key, parts / (l.name + ".safetensors"), r);
    const double work = static_cast<double>(l.out) * l.in * static_cast<double>(r.rank);
    if (r.resumed) {
      ++resumed;
      work_total -= work;
    } else {
      compute_seconds += since(t0);
      work_done += work;
    }
    const double frac = work_total > 0 ? work_done / work_total : 1.0;
    const double eta = frac > 0 ? compute_seconds * (1.0 - frac) / frac : 0.0;
    const int bar = static_cast<int>(30.0 * static_cast<double>(i + 1) / static_cast<double>(plan.quant.size()));
    const bool tty = isatty(2) != 0;
    const std::size_t n = plan.quant.size();
    if (!tty && (10 * (i + 1)) / n == (10 * i) / n && i + 1 != n) continue;
    std::fprintf(stderr, tty ? "\r[%s%s] %zu/%zu %-18s elapsed %s  ETA %s " : "[%s%s] %zu/%zu %-18s elapsed %s  ETA %s\n",
                 std::string(static_cast<std::size_t>(bar), '#').c_str(), std::string(static_cast<std::size_t>(30 - bar), '.').c_str(),
                 i + 1, n, l.name.c_str(), hms(since(t_layers)).c_str(), hms(eta).c_str());
  }
  if (isatty(2)) std::fprintf(stderr, "\n");
  return results;
}

// ---- step 3: the table ------------------------------------------------------------------------

void print_table(const std::vector<LayerResult>& results, const std::vector<llm::LinearInfo>& kept, int resumed,
                 double compute_seconds) {
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
  std::printf("(errors: ||W - W_hat||_F / ||W||_F of each layer as stored, FP16 scales, against its source tensor)\n");
  std::printf("%zu layers Dual-SVID'd in %s (%d kept from an earlier run); weight-averaged relative error %.5f\n",
              results.size() - static_cast<std::size_t>(resumed), hms(compute_seconds).c_str(), resumed,
              std::sqrt(sum_err2 / sum_w));
}

// ---- step 4: the checkpoint -------------------------------------------------------------------

/// Writes OUT: packed layers, dense tensors, config, tokenizer, summary. Returns the claimed
/// bits per weight of the quantized layers and the bytes of the dense tensors.
std::pair<double, double> write_checkpoint(const Source& file, const llm::LlamaConfig& cfg, const llm::Tokenizer& tok,
                                           const Plan& plan, const std::vector<LayerResult>& results, const Options& o,
                                           std::int64_t& quant_weights, std::int64_t& quant_bits) {
  const auto dtype = o.dense_dtype == "f32" ? littlebit::io::DType::kF32
                     : o.dense_dtype == "bf16" ? littlebit::io::DType::kBF16 : littlebit::io::DType::kF16;
  littlebit::io::CheckpointWriter w;
  auto add_dense = [&](const std::string& name, littlebit::io::DType dt) {
    const auto v = file.values(name);
    for (float x : v)
      if (!std::isfinite(x)) throw littlebit::Error(o.model_path + ": tensor '" + name + "' holds NaN or infinite values");
    w.add_dense_as(name, v, file.shape(name), dt);
  };
  add_dense("token_embd.weight", dtype);
  if (file.contains("output.weight")) add_dense("output.weight", dtype);
  add_dense("output_norm.weight", littlebit::io::DType::kF32);
  for (int b = 0; b < cfg.n_layer; ++b) {
    add_dense("blk." + std::to_string(b) + ".attn_norm.weight", littlebit::io::DType::kF32);
    add_dense("blk." + std::to_string(b) + ".ffn_norm.weight", littlebit::io::DType::kF32);
  }
  for (const auto& k : plan.kept) add_dense(k.name + ".weight", dtype);
  quant_bits = 0;
  quant_weights = 0;
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
  w.set_metadata("quantize.summary", nlohmann::json{{"source", fs::path(o.model_path).filename().string()},
                                                    {"target_bpw", o.bpw},
                                                    {"bpw", claimed},
                                                    {"residual", plan.residual},
                                                    {"kv_factor", plan.gqa ? o.kv_factor : 1.0},
                                                    {"refine", o.refine},
                                                    {"seed", std::to_string(o.seed)},
                                                    {"dense_dtype", o.dense_dtype},
                                                    {"errors", "relative Frobenius, layer as stored (FP16 scales)"},
                                                    {"layers", summary_layers}}
                                         .dump());
  w.write(o.output);
  return {claimed, static_cast<double>(w.dense_bytes())};
}

// ---- step 5: sizes (the written file read back: the model must load) ---------------------------

void print_sizes(const littlebit::io::Checkpoint& ck, const Options& o, double claimed, double dense_bytes,
                 std::int64_t quant_weights, std::int64_t quant_bits) {
  const auto model = llm::LlamaModel<float>::from_checkpoint(ck);
  const auto disk = static_cast<double>(fs::file_size(o.output));
  std::printf("\nsize: quantized layers %.4f bits/weight (%ld weights, %.3f MB of signs + scales); "
              "on disk %.3f MB (dense tensors in %s: %.3f MB); in memory %.3f MB\n",
              claimed, static_cast<long>(quant_weights), static_cast<double>(quant_bits) / 8e6, disk / 1e6,
              o.dense_dtype.c_str(), dense_bytes / 1e6, static_cast<double>(model.memory_bytes()) / 1e6);
  std::uintmax_t source_bytes = 0;
  if (fs::is_directory(o.model_path)) {
    for (const auto& e : fs::directory_iterator(o.model_path))
      if (e.is_regular_file()) source_bytes += e.file_size();
  } else {
    source_bytes = fs::file_size(o.model_path);
  }
  std::printf("source %s: %.3f MB on disk\n", o.model_path.c_str(), static_cast<double>(source_bytes) / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"quantize: a Llama-style GGUF model to a bits-per-weight target with Dual-SVID (littlebit checkpoint out)"};
  Options o;
  app.add_option("--model", o.model_path, "GGUF model file, or a Hugging Face Llama directory")->required();
  app.add_option("--bpw", o.bpw, "bits per weight of the quantized layers (signs + FP16 scales)")->required();
  app.add_option("--output", o.output, "checkpoint to write (littlebit layout)")->required();
  app.add_flag("--no-residual", o.no_residual, "one path per layer instead of primary + residual");
  std::string rank_rule = "budget";
  app.add_option("--rank-rule", rank_rule, "budget: one model-level budget (default); official: the official per-layer rule")
      ->check(CLI::IsMember({"budget", "official"}));
  app.add_option("--kv-factor", o.kv_factor, "rank factor of k/v projections in grouped-query models")->check(CLI::Range(0.001, 1024.0));
  app.add_option("--exclude", o.excludes, "keep layers whose name matches this regex dense (repeatable; e.g. 'blk\\.0\\.')");
  app.add_flag("--refine", o.refine, "Dual-SVID refinements (Joint-ITQ, least-squares scales and signs)");
  app.add_option("--seed", o.seed, "seed of the randomized SVD");
  app.add_option("--dense-dtype", o.dense_dtype, "storage of the embedding and excluded layers")->check(CLI::IsMember({"f16", "bf16", "f32"}));
  app.add_option("--official", o.official, "also write the packed layers in the official LittleBit layout");
  app.add_option("--threads", o.threads, "threads (0: OMP_NUM_THREADS)")->check(CLI::Range(0, 1024));
  app.add_option("--layers", o.max_layers, "quantize only the first N blocks (a test setting; the rest are dropped)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_flag("--keep-parts", o.keep_parts, "keep OUT.parts/ (one file per layer) after writing OUT");
  CLI11_PARSE(app, argc, argv);
  o.rank_rule = rank_rule == "official" ? llm::RankRule::kOfficial : llm::RankRule::kBudget;

  try {
    const auto t_start = Clock::now();
    llm::set_threads(o.threads);
    const Source file = Source::open(o.model_path);
    llm::LlamaConfig cfg = file.config();
    const llm::Tokenizer tok = file.tokenizer();
    if (o.max_layers > 0 && o.max_layers < cfg.n_layer) cfg.n_layer = o.max_layers;

    const Plan plan = plan_layers(cfg, o);
    std::printf("%s: %d blocks, width %d, heads %d/%d, ffn %d, vocabulary %d\n", o.model_path.c_str(), cfg.n_layer, cfg.d_model,
                cfg.n_head, cfg.n_head_kv, cfg.d_ff, cfg.vocab);
    std::printf("plan: %zu layers quantized (%zu kept dense), target %.4f bits/weight, planned %.4f (%+.3f%%), %s, k/v factor %g\n",
                plan.quant.size(), plan.kept.size(), o.bpw, plan.ranks.achieved_bpw, 100.0 * plan.ranks.relative_gap,
                plan.residual ? "primary + residual" : "one path", plan.gqa ? o.kv_factor : 1.0);

    const fs::path parts = o.output + ".parts";
    fs::create_directories(parts);
    int resumed = 0;
    double compute_seconds = 0;
    const std::vector<LayerResult> results = quantize_layers(file, plan, o, parts, resumed, compute_seconds);
    print_table(results, plan.kept, resumed, compute_seconds);

    std::int64_t quant_weights = 0, quant_bits = 0;
    const auto [claimed, dense_bytes] = write_checkpoint(file, cfg, tok, plan, results, o, quant_weights, quant_bits);
    const auto ck = littlebit::io::Checkpoint::open(o.output);
    print_sizes(ck, o, claimed, dense_bytes, quant_weights, quant_bits);
    if (!o.official.empty()) {
      std::vector<std::pair<std::string, const littlebit::PackedFactorizedLinear*>> layers;
      for (const auto& r : results) layers.emplace_back(r.name, &r.packed);
      llm::write_official(ck, cfg, layers, o.official, fs::path(o.model_path).filename().string());
    }
    if (!o.keep_parts) fs::remove_all(parts);
    std::printf("wrote %s in %s\n", o.output.c_str(), hms(since(t_start)).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\nquantize: %s\n", e.what());
    return 1;
  }
  return 0;
}
