// train: quantization-aware training (QAT) of a Llama-style model into LittleBit layers, with
// knowledge distillation from the dense model: the official LittleBit recipe on littlebit's
// primitives (docs/trainer.md).
//
//   train --model MODEL.gguf|HF_DIR --bpw 0.55 --train TEXT... [--eval TEXT] [--steps N | --minutes M]
//         [--output OUT.safetensors] [--official OFFICIAL.safetensors] [--state DIR [--resume]]
//         [--log LOG.jsonl] [--plot LOSS.png] ... (train --help lists every option)
//
// 1. The teacher is the dense model (frozen). The student: every q, k, v, o, gate, up, down
//    projection becomes a FactorizedLinear (primary + residual path unless --no-residual) at the
//    rank of --rank-rule (official per-layer rule by default; k/v at --kv-factor times it),
//    initialized by Dual-SVID (--refine: littlebit's refinements; --svd exact|randomized); its
//    latent U, V and the scales u1, u2, v1, v2 train, as do all RMSNorm gains; the embedding and
//    the tied head stay frozen.
// 2. Each step draws --batch x --accum sequences of --seq tokens (train/data.hpp), runs the
//    teacher and the student, and minimizes KL + lambda L_inter (train/loss.hpp) with AdamW,
//    gradient clipping at 1.0 and the cosine schedule with warm-up (train/optim.hpp). lambda is
//    --l2l-scale, by default the official 10 at 2048 tokens scaled by --seq / 2048 (the KL term
//    is a sum over positions, the hidden-state term a mean, so this keeps the official balance).
// 3. Prints progress, evaluates the perplexity of the packed student (FP16 scales, as the
//    checkpoint stores it; the protocol of `eval`) every --eval-every steps, logs JSONL, saves
//    the state atomically every --save-every steps, at the end and on SIGINT/SIGTERM, and stops
//    on a NaN or infinite loss keeping the last good state.
// 4. Writes the packed checkpoint (eval and generate read it), the official layout, a PNG of
//    the curves, and prints as its last line one JSON object with the run's figures.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "littlebit/io/checkpoint.hpp"
#include "llm/load.hpp"
#include "llm/official_export.hpp"
#include "llm/perplexity.hpp"
#include "llm/rank_plan.hpp"
#include "train/data.hpp"
#include "train/init.hpp"
#include "train/loss.hpp"
#include "train/model.hpp"
#include "train/optim.hpp"
#include "train/plot.hpp"
#include "train/state.hpp"

#ifdef LITTLEBIT_HAVE_OPENBLAS
extern "C" int openblas_get_parallel(void);  // OpenBLAS's own: 0 sequential, 1 pthreads, 2 OpenMP
extern "C" char* openblas_get_config(void);
#endif

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_signal(int s) { g_signal = s; }

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string hms(double s) {
  char b[32];
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600) std::snprintf(b, sizeof b, "%ldh%02ldm%02lds", t / 3600, t / 60 % 60, t % 60);
  else if (t >= 60) std::snprintf(b, sizeof b, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(b, sizeof b, "%lds", t);
  return b;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

/// Seconds since t, and t moved to now.
double lap(Clock::time_point& t) {
  const auto now = Clock::now();
  const double s = std::chrono::duration<double>(now - t).count();
  t = now;
  return s;
}

/// Where one optimizer step's time goes (seconds, summed over the accumulation micro-batches).
struct Phases {
  double teacher = 0, student_forward = 0, loss = 0, backward = 0, update = 0;
  json to_json() const {
    return {{"teacher", teacher}, {"student_forward", student_forward}, {"loss", loss}, {"backward", backward}, {"update", update}};
  }
};

double median_of(std::vector<double> x) {
  std::nth_element(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(x.size() / 2), x.end());
  return x[x.size() / 2];
}

/// The per-phase medians of steady steps (each phase's own median).
json median_phases(const std::vector<Phases>& v) {
  if (v.empty()) return nullptr;
  auto med = [&](double Phases::*f) {
    std::vector<double> x;
    for (const auto& p : v) x.push_back(p.*f);
    return median_of(std::move(x));
  };
  Phases m{med(&Phases::teacher), med(&Phases::student_forward), med(&Phases::loss), med(&Phases::backward), med(&Phases::update)};
  return m.to_json();
}

/// Which BLAS this process runs, and a warning where its threads fight littlebit's (trainer.md, "Threads").
std::string blas_report(int threads) {
#ifdef LITTLEBIT_HAVE_OPENBLAS
  const int par = openblas_get_parallel();
  std::string r = std::string(openblas_get_config()) + (par == 2 ? " (OpenMP build)" : par == 1 ? " (pthreads build)" : " (sequential build)");
  if (par == 1 && threads != 1)
    r += "\ntrain: warning: OpenBLAS's pthreads build keeps its own threads, which spin against littlebit's OpenMP threads "
         "(a 0.55 BPW step measured 2.5x slower); install libopenblas0-openmp and rebuild (scripts/setup.sh), or set "
         "OMP_WAIT_POLICY=passive OPENBLAS_THREAD_TIMEOUT=4";
  return r;
#else
  (void)threads;
  return "Eigen's own products (no BLAS linked)";
#endif
}

constexpr double kLambdaNormalized = 100.0;  // per 512 tokens, for --hidden-norm layer|channel

struct Options {
  std::string model, output, official, state, log, plot, eval, cache;
  std::vector<std::string> train;
  double bpw = 0, kv_factor = 4.0, lr = 0, warmup_ratio = 0.02, l2l_scale = -1, minutes = 0;
  std::string svd = "randomized", rank_rule = "official", sign = "smoothsign";
  std::string recipe = "official", hidden_norm = "none", block_input = "teacher";
  double blockwise = 0, block_lr = 0;
  bool refine = false, no_residual = false, no_shuffle = false, resume = false;
  long steps = 0, eval_tokens = 8192, seq = 512, batch = 1, accum = 1, eval_every = 0, save_every = 0, stop_after = 0;
  long nan_at = -1, log_every = 1;
  std::uint64_t seed = 0;
  int threads = 0, layers = -1;
};

/// --recipe littlebit: littlebit's best measured combination (docs/trainer.md, "Recipes"),
/// each setting only where the command line leaves it.
template <class Given>
void apply_littlebit_recipe(Options& o, Given given) {
  // 5-minute screens at 0.55 BPW (docs/trainer.md, "Recipes"): the learning rate is what moves the
  // held-out perplexity in a short budget (1e-3: 4,866 against the official 1.2e-4's 15,033); the
  // normalized hidden-state terms and a block-wise phase did not beat the official loss there.
  if (!given("--lr")) o.lr = 1e-3;
}

/// lambda of the hidden-state term: the official 10 at 2048 tokens, scaled by seq / 2048 (the KL
/// is a sum over positions, the hidden-state term a mean); normalized terms (relative errors,
/// O(1) each): kLambdaNormalized per 512 tokens, measured in docs/results.md.
double default_lambda(train::HiddenNorm norm, long seq) {
  if (norm == train::HiddenNorm::kNone) return 10.0 * static_cast<double>(seq) / 2048.0;
  return kLambdaNormalized * static_cast<double>(seq) / 512.0;
}

/// The paper's learning rates for its smallest model, by target BPW.
double default_lr(double bpw) { return bpw >= 0.9 ? 8e-5 : bpw > 0.3 ? 1.2e-4 : 2e-4; }

struct Progress {
  std::vector<json> steps, evals;  // log records of this run (and of the log it resumed)
};

/// The packed student as a model `eval` would load from the checkpoint: embedding and head as
/// the checkpoint stores them (F16), gains F32, each projection packed (FP16 scales).
llm::LlamaModel<float> packed_model(const train::Student<float>& s, const llm::LlamaConfig& cfg,
                                    const std::vector<float>& embd_f16, const std::vector<float>* head_f16,
                                    const std::vector<llm::LinearInfo>& infos) {
  auto dense = [&](const std::string& name, std::vector<littlebit::Index>& shape) -> std::vector<float> {
    const littlebit::Index d = cfg.d_model;
    if (name == "token_embd.weight" || name == "output.weight") {
      shape = {cfg.vocab, d};
      return name == "output.weight" ? *head_f16 : embd_f16;
    }
    shape = {d};
    const float* p = nullptr;
    if (name == "output_norm.weight") {
      p = s.wf();
    } else {
      const int l = std::stoi(name.substr(4));
      p = name.ends_with(".attn_norm.weight") ? s.w1(l) : s.w2(l);
    }
    return std::vector<float>(p, p + d);
  };
  auto packed = [&](const std::string& name) {
    for (std::size_t i = 0; i < infos.size(); ++i)
      if (infos[i].name == name) return std::make_shared<littlebit::PackedFactorizedLinear>(s.layers()[i].pack());
    return std::shared_ptr<littlebit::PackedFactorizedLinear>();
  };
  auto has = [&](const std::string& name) { return name != "output.weight" || head_f16 != nullptr; };
  return llm::LlamaModel<float>::from_tensors(cfg, "student", dense, packed, has);
}

std::vector<float> round_f16(const float* p, std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(littlebit::Float16(p[i]));
  return v;
}

void append_log(const std::string& path, const json& j) {
  if (path.empty()) return;
  std::ofstream out(path, std::ios::app);
  out << j.dump() << "\n";
  out.flush();
  if (!out) littlebit::detail::fail(path, ": cannot append to the log");
}

void plot(const Options& o, const Progress& pr, long total, const std::string& title) {
  if (o.plot.empty()) return;
  train::Series loss{"loss", {20, 20, 20}, {}}, kl{"KL", {200, 40, 40}, {}}, mse{"lambda x MSE", {40, 90, 200}, {}},
      ppl{"perplexity", {30, 140, 60}, {}};
  for (const auto& s : pr.steps) {
    const double st = s["step"].get<double>();
    loss.points.emplace_back(st, s["loss"].get<double>());
    kl.points.emplace_back(st, s["kl"].get<double>());
    mse.points.emplace_back(st, s["l2l"].get<double>());
  }
  for (const auto& e : pr.evals) ppl.points.emplace_back(e["step"].get<double>(), e["ppl"].get<double>());
  train::plot_run(o.plot, title, {loss, kl, mse}, {ppl}, static_cast<double>(total));
}

int run(Options& o) {
  const auto t_start = Clock::now();
  llm::set_threads(o.threads);
  if (o.resume && o.state.empty()) littlebit::detail::fail("--resume needs --state DIR");
  if (o.steps > 0 && o.minutes > 0) littlebit::detail::fail("give --steps or --minutes, not both");
  if (o.steps <= 0 && o.minutes <= 0) o.minutes = 20;
  if (o.lr <= 0) o.lr = default_lr(o.bpw);
  const train::HiddenNorm hidden_norm = train::parse_hidden_norm(o.hidden_norm);
  const double lambda = o.l2l_scale >= 0 ? o.l2l_scale : default_lambda(hidden_norm, o.seq);
  const double block_lr = o.block_lr > 0 ? o.block_lr : o.lr;

  // ---- the teacher, the plan, the data ----
  auto loaded = llm::load_model(o.model, littlebit::kernels::Precision::kExact, o.layers);
  if (loaded.kind.starts_with("littlebit"))
    littlebit::detail::fail(o.model, ": a littlebit checkpoint; the teacher must be a dense model (GGUF or Hugging Face)");
  const llm::LlamaModel<float>& dense = loaded.model;
  llm::LlamaConfig cfg = dense.config();
  cfg.n_layer = dense.layers();
  if (cfg.n_ctx > 0 && o.seq > cfg.n_ctx)
    littlebit::detail::fail("--seq ", o.seq, " is longer than the model's context length of ", cfg.n_ctx, " tokens");
  const auto infos = llm::linear_layers(cfg);
  const bool gqa = cfg.n_head_kv < cfg.n_head;
  const auto plan = llm::plan_ranks(infos, o.bpw, o.kv_factor, gqa, !o.no_residual,
                                    o.rank_rule == "budget" ? llm::RankRule::kBudget : llm::RankRule::kOfficial);
  std::printf("BLAS: %s\n", blas_report(o.threads).c_str());
  std::printf("%s (%s): %d blocks, width %d, heads %d/%d, ffn %d, vocabulary %d\n", o.model.c_str(), loaded.kind.c_str(),
              cfg.n_layer, cfg.d_model, cfg.n_head, cfg.n_head_kv, cfg.d_ff, cfg.vocab);
  std::printf("plan: %zu layers at %.4f bits/weight (target %g, %s rule, k/v factor %g, %s)\n", infos.size(),
              plan.achieved_bpw, o.bpw, o.rank_rule.c_str(), gqa ? o.kv_factor : 1.0,
              o.no_residual ? "one path" : "primary + residual");
  const fs::path cache = o.cache.empty() ? (o.state.empty() ? fs::path("build/train-cache") : fs::path(o.state) / "cache")
                                         : fs::path(o.cache);
  train::Batches data(train::training_tokens(o.train, loaded.tokenizer, cache), o.seq, o.seed, !o.no_shuffle);
  std::vector<int> eval_ids;
  if (!o.eval.empty()) {
    eval_ids = loaded.tokenizer.encode(train::read_text(o.eval));
    if (o.eval_tokens > 0 && static_cast<long>(eval_ids.size()) > o.eval_tokens) eval_ids.resize(static_cast<std::size_t>(o.eval_tokens));
    if (eval_ids.size() < 2) littlebit::detail::fail(o.eval, ": fewer than 2 tokens, nothing to evaluate");
  }
  const int eval_ctx = static_cast<int>(std::min<long>(512, cfg.n_ctx > 0 ? cfg.n_ctx : 512));
  std::printf("data: %ld sequences of %ld tokens; %ld per step (batch %ld x accumulation %ld)%s\n", data.sequences(), o.seq,
              o.batch * o.accum * o.seq, o.batch, o.accum, o.eval.empty() ? "" : ("; evaluation: " + std::to_string(eval_ids.size()) + " tokens of " + o.eval).c_str());

  // What a resume must match.
  std::uintmax_t model_bytes = 0;
  if (fs::is_directory(o.model)) {
    for (const auto& e : fs::directory_iterator(o.model))
      if (e.is_regular_file()) model_bytes += e.file_size();
  } else {
    model_bytes = fs::file_size(o.model);
  }
  std::uint64_t train_hash = train::fnv1a("train files");
  for (const auto& f : o.train) train_hash = train::fnv1a(train::read_text(f), train_hash);
  json settings{{"model", fs::path(o.model).filename().string()}, {"model_bytes", model_bytes}, {"config", cfg.to_json()},
                {"bpw", o.bpw}, {"rank_rule", o.rank_rule}, {"kv_factor", o.kv_factor}, {"residual", !o.no_residual},
                {"refine", o.refine}, {"svd", o.svd}, {"sign", o.sign}, {"seq", o.seq}, {"batch", o.batch},
                {"accum", o.accum}, {"lr", o.lr}, {"recipe", o.recipe}, {"hidden_norm", o.hidden_norm},
                {"blockwise", o.blockwise}, {"block_input", o.block_input}, {"block_lr", block_lr}, {"warmup_ratio", o.warmup_ratio}, {"l2l_scale", lambda},
                {"seed", std::to_string(o.seed)}, {"shuffle", !o.no_shuffle}, {"layers", cfg.n_layer},
                {"train_text", std::to_string(train_hash)}, {"steps", o.steps}, {"minutes", o.minutes}};

  // ---- the student ----
  littlebit::FactorizedLinearOptions lo;
  lo.gradient.kind = o.sign == "ste" ? littlebit::SignGradient::kSte : littlebit::SignGradient::kSmoothSign;
  std::vector<littlebit::FactorizedLinear<float>> layers;
  train::Vec<float> norms((2 * cfg.n_layer + 1) * cfg.d_model);
  for (int l = 0; l < cfg.n_layer; ++l) {
    norms.segment(2 * l * cfg.d_model, cfg.d_model) = train::CVecMap<float>(dense.layer(l).attn_norm, cfg.d_model);
    norms.segment((2 * l + 1) * cfg.d_model, cfg.d_model) = train::CVecMap<float>(dense.layer(l).ffn_norm, cfg.d_model);
  }
  norms.tail(cfg.d_model) = train::CVecMap<float>(dense.output_norm(), cfg.d_model);
  const bool resuming = o.resume && fs::exists(train::state_file(o.state));
  if (o.resume && !resuming) std::printf("--resume: no saved state in %s yet; starting a new run\n", o.state.c_str());
  const auto t_init = Clock::now();
  for (std::size_t i = 0; i < infos.size(); ++i) {
    const auto& info = infos[i];
    const littlebit::Index r = plan.ranks[i];
    if (resuming) {  // shapes only: the values come from the state
      littlebit::FactorizedPathParams<float> p{train::Mat<float>::Zero(info.out, r), train::Mat<float>::Zero(r, info.in),
                                               train::Vec<float>::Zero(info.out), train::Vec<float>::Zero(r),
                                               train::Vec<float>::Zero(r), train::Vec<float>::Zero(info.in)};
      std::vector<littlebit::FactorizedPathParams<float>> paths(o.no_residual ? 1 : 2, p);
      layers.emplace_back(paths, train::Vec<float>(), lo);
      continue;
    }
    const llm::Linear<float>* all[] = {&dense.layer(static_cast<int>(i / 7)).wq, &dense.layer(static_cast<int>(i / 7)).wk,
                                       &dense.layer(static_cast<int>(i / 7)).wv, &dense.layer(static_cast<int>(i / 7)).wo,
                                       &dense.layer(static_cast<int>(i / 7)).w_gate, &dense.layer(static_cast<int>(i / 7)).w_up,
                                       &dense.layer(static_cast<int>(i / 7)).w_down};
    layers.emplace_back(train::dual_svid_init(all[i % 7]->w, info.out, info.in, r,
                                              {.residual = !o.no_residual, .exact_svd = o.svd == "exact",
                                               .refine = o.refine, .seed = o.seed}),
                        train::Vec<float>(), lo);
    if ((i + 1) % std::max<std::size_t>(1, infos.size() / 10) == 0 || i + 1 == infos.size())
      std::printf("init: Dual-SVID %zu / %zu layers (%s)\n", i + 1, infos.size(), hms(since(t_init)).c_str());
    std::fflush(stdout);
  }
  const double init_seconds = since(t_init);
  train::Student<float> student(cfg, dense.embedding(), dense.head(), norms, std::move(layers));
  std::vector<std::string> names;
  for (const auto& i : infos) names.push_back(i.name);
  train::AdamW<float> opt;
  opt.add("norms", std::span<float>(student.norms().data(), static_cast<std::size_t>(student.norms().size())),
          std::span<float>(student.norm_grads().data(), static_cast<std::size_t>(student.norm_grads().size())));
  for (std::size_t i = 0; i < names.size(); ++i)
    opt.add(names[i], student.layers()[i].parameters(), student.layers()[i].gradients());
  std::printf("student: %zu trainable values (latent signs, scales, norm gains)\n", opt.size());

  train::RunState st;
  st.settings = settings;
  Progress pr;
  const std::vector<float> embd_f16 = round_f16(dense.embedding(), static_cast<std::size_t>(cfg.vocab) * cfg.d_model);
  std::optional<std::vector<float>> head_f16;
  if (!dense.tied()) head_f16 = round_f16(dense.head(), static_cast<std::size_t>(cfg.vocab) * cfg.d_model);
  long eval_scored = 0;  // predicted tokens of an evaluation
  auto evaluate = [&](const llm::LlamaModel<float>& m) {
    const auto r = llm::perplexity(m, eval_ids, eval_ctx, eval_ctx);
    eval_scored = r.tokens;
    return r;
  };
  double ppl_dense = 0, ppl_init = 0, eval_seconds = 0;
  if (resuming) {
    st = train::load_state(o.state, settings, student, opt, names);
    ppl_dense = st.progress.value("ppl_dense", 0.0);
    ppl_init = st.progress.value("ppl_init", 0.0);
    if (!o.log.empty() && fs::exists(o.log)) {  // the curves so far, for the plot
      std::ifstream in(o.log);
      for (std::string line; std::getline(in, line);) {
        const auto j = json::parse(line, nullptr, false);
        if (!j.is_object() || j.value("step", -1L) > st.progress["step"].get<long>()) continue;
        if (j.value("type", "") == "step") pr.steps.push_back(j);
        if (j.value("type", "") == "eval") pr.evals.push_back(j);
      }
    }
    std::printf("resumed %s at step %ld of %ld\n", train::state_file(o.state).c_str(), st.progress["step"].get<long>(),
                st.progress["total_steps"].get<long>());
  } else {
    if (!o.log.empty()) fs::remove(o.log);
    // --steps: the block-wise phase is its share of the steps; --minutes: planned (-1) or none (0)
    const long block_steps = o.blockwise <= 0 ? 0L : o.steps > 0 ? std::clamp(std::lround(o.blockwise * static_cast<double>(o.steps)), 1L, o.steps - 1) : -1L;
    st.progress = {{"step", 0L}, {"total_steps", o.steps},
                   {"warmup_steps", train::warmup_steps(o.warmup_ratio, o.steps - std::max(0L, block_steps))},
                   {"block_steps", block_steps}, {"block_warmup_steps", train::warmup_steps(o.warmup_ratio, std::max(0L, block_steps))},
                   {"samples", 0L}, {"tokens", 0L}, {"loss_first", nullptr}, {"init_seconds", init_seconds}};
    if (!eval_ids.empty()) {
      const auto t0 = Clock::now();
      ppl_dense = evaluate(dense).ppl();
      ppl_init = evaluate(packed_model(student, cfg, embd_f16, head_f16 ? &*head_f16 : nullptr, infos)).ppl();
      eval_seconds = since(t0) / 2;
      std::printf("perplexity on %zu tokens of %s: dense %.4g, Dual-SVID init %.4g (%.1f s each)\n", eval_ids.size(),
                  o.eval.c_str(), ppl_dense, ppl_init, eval_seconds);
      st.progress["ppl_dense"] = ppl_dense;
      st.progress["ppl_init"] = ppl_init;
      const json e{{"type", "eval"}, {"step", 0}, {"ppl", ppl_init}, {"ppl_dense", ppl_dense}, {"tokens", eval_ids.size()}};
      pr.evals.push_back(e);
      append_log(o.log, e);
    }
  }

  // ---- training ----
  train::Teacher<float> teacher(dense);
  std::vector<train::Mat<float>> t_hidden, d_hidden;
  long step = st.progress["step"].get<long>();
  long total = st.progress["total_steps"].get<long>();
  long warm = st.progress["warmup_steps"].get<long>();
  long block_total = st.progress.value("block_steps", 0L);
  long block_warm = st.progress.value("block_warmup_steps", 0L);
  long samples = st.progress["samples"].get<long>();
  long tokens = st.progress["tokens"].get<long>();
  const long per_step = o.batch * o.accum;
  double train_seconds = st.train_seconds;
  const double budget = o.minutes * 60.0;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  double loss_last = 0, step_seconds = 0, first_step_seconds = 0;
  long stopped_by = 0;
  // --minutes re-plans once, after step kReplanStep, from the median whole-step time of this
  // process's steps after its first two: the second step, which makes the first plan, still runs
  // slower than the later ones (0.55 BPW on the Zen 4: 11.2 s against a steady 9.0 s), so that plan
  // alone left 8-12% of the budget unused at 0.3 and 0.25 BPW and overran it by 3% at 1.0.
  constexpr long kReplanStep = 10;
  const long step_start = step;
  std::vector<double> steady_seconds;
  std::vector<Phases> steady_phases;
  auto save = [&](const char* why) {
    if (o.state.empty()) return;
    st.progress["step"] = step;
    st.progress["total_steps"] = total;
    st.progress["warmup_steps"] = warm;
    st.progress["block_steps"] = block_total;
    st.progress["block_warmup_steps"] = block_warm;
    st.progress["samples"] = samples;
    st.progress["tokens"] = tokens;
    st.train_seconds = train_seconds;
    train::save_state(o.state, student, opt, names, st);
    std::printf("state saved at step %ld (%s): %s\n", step, why, train::state_file(o.state).c_str());
  };
  std::printf("training: recipe %s: hidden-state term %s x %g, lr %g, warm-up ratio %g, sign gradient %s%s, %s\n",
              o.recipe.c_str(), o.hidden_norm == "none" ? "MSE" : ("MSE normalized by " + o.hidden_norm).c_str(), lambda, o.lr,
              o.warmup_ratio, o.sign.c_str(),
              o.blockwise > 0 ? (", block-wise distillation first (" + json(o.blockwise).dump() + " of the run, " + o.block_input +
                                 " inputs, lr " + json(block_lr).dump() + ")").c_str()
                              : "",
              total > 0 ? ("schedule over " + std::to_string(total) + " steps").c_str()
                                        : ("schedule planned to fit " + json(o.minutes).dump() + " minutes").c_str());
  std::fflush(stdout);
  // Block-wise distillation first (--blockwise F): steps [0, block_total) train each block alone
  // toward the teacher's block output (Student::blockwise), the rest the global KD; each phase
  // has its own warm-up and cosine schedule. --steps: F of the steps; --minutes: F of the time
  // left at the start of the loop, the phase's steps planned like the global ones (below).
  const double loop_t0 = since(t_start);
  const double block_budget = o.blockwise * (budget - loop_t0 - (eval_ids.empty() ? 0.0 : eval_seconds));
  auto block_phase = [&] { return o.blockwise > 0 && (block_total < 0 || step < block_total); };
  const auto block_input = o.block_input == "student" ? train::Student<float>::BlockInput::kStudent
                                                      : train::Student<float>::BlockInput::kTeacher;
  std::vector<train::Mat<float>> t_xs;
  std::vector<double> phase_seconds;  // steady steps of the current phase, for the re-plan
  bool was_block = block_phase();
  while (total == 0 || step < total) {
    const bool block = block_phase();
    if (block != was_block) phase_seconds.clear();
    was_block = block;
    const long p0 = block ? 0 : std::max(0L, block_total);  // the phase's first step
    const auto t0 = Clock::now();
    student.zero_grad();
    train::LossParts acc;
    Phases ph;
    for (long a = 0; a < o.accum; ++a) {
      const auto ids = data.samples(samples + a * o.batch, o.batch);
      auto tp = Clock::now();
      if (block) {
        teacher.forward(ids, o.batch, o.seq, t_hidden, &t_xs);
        ph.teacher += lap(tp);
        if (step == o.nan_at) t_xs[0].setConstant(std::numeric_limits<float>::quiet_NaN());
        const auto terms = student.blockwise(t_xs, o.batch, o.seq, block_input, hidden_norm, 1.0 / static_cast<double>(o.accum));
        ph.backward += lap(tp);  // each block's forward and backward
        double sum = 0;
        for (double t : terms) sum += t;
        acc.mse += sum / static_cast<double>(o.accum);
        acc.loss = acc.mse;
        if (!std::isfinite(sum)) break;
        continue;
      }
      teacher.forward(ids, o.batch, o.seq, t_hidden);
      ph.teacher += lap(tp);
      const auto s_hidden = student.forward(ids, o.batch, o.seq, step == o.nan_at);
      ph.student_forward += lap(tp);
      const auto part = train::kd_loss<float>(s_hidden, t_hidden, student.head(), cfg.vocab, o.batch, lambda,
                                              1.0 / static_cast<double>(o.accum), d_hidden, 128, hidden_norm);
      ph.loss += lap(tp);
      acc.loss += part.loss / static_cast<double>(o.accum);
      acc.kl += part.kl / static_cast<double>(o.accum);
      acc.mse += part.mse / static_cast<double>(o.accum);
      if (!std::isfinite(part.loss)) break;
      student.backward(d_hidden);
      ph.backward += lap(tp);
    }
    auto tu = Clock::now();
    const double gnorm = opt.grad_norm();
    if (!std::isfinite(acc.loss) || !std::isfinite(gnorm)) {
      std::fprintf(stderr, "train: the loss is %s at step %ld (KL %g, MSE %g, gradient norm %g): stopped before updating\n",
                   std::isfinite(acc.loss) ? "finite but the gradient is not" : "not finite", step + 1, acc.kl, acc.mse, gnorm);
      if (!o.state.empty()) save("the last good state, before the non-finite step");
      else std::fprintf(stderr, "train: no --state given, nothing saved\n");
      return 1;
    }
    const double fb_seconds = since(t0);
    if (step == 0) first_step_seconds = fb_seconds;
    const double per_eval = o.eval_every > 0 && !eval_ids.empty() ? eval_seconds / static_cast<double>(o.eval_every) : 0.0;
    // --minutes: plan the phase's schedule from its second step (the first steady one)
    if (block && block_total < 0 && step >= 1) {
      const double remaining = block_budget - (since(t_start) - loop_t0);
      block_total = std::max(step + 1, step + static_cast<long>(remaining / (fb_seconds * 1.02 + per_eval)));
      block_warm = train::warmup_steps(o.warmup_ratio, block_total);
      std::printf("plan: %ld block-wise steps in %.3g of the %g minutes (steady step %.2f s)\n", block_total,
                  block_budget / 60.0, o.minutes, fb_seconds);
    }
    if (!block && total == 0 && step >= p0 + 1) {
      const double remaining = budget - since(t_start);
      total = std::max(step + 1, step + static_cast<long>(remaining / (fb_seconds * 1.02 + per_eval)));
      warm = train::warmup_steps(o.warmup_ratio, total - p0);
      std::printf("plan: %ld steps in %g minutes (steady step %.2f s, the first %.2f s)\n", total, o.minutes, fb_seconds,
                  first_step_seconds);
    }
    const double lr = block ? train::cosine_lr(block_lr, step, block_total < 0 ? 2 : block_total, block_total < 0 ? 1 : block_warm)
                            : train::cosine_lr(o.lr, step - p0, total == 0 ? 2 : total - p0, total == 0 ? 1 : warm);
    opt.update(lr);
    ph.update = lap(tu);
    ++step;
    samples += per_step;
    tokens += per_step * o.seq;
    step_seconds = since(t0);
    train_seconds += step_seconds;
    const bool steady = step > step_start + 2 && step > p0 + 2;
    if (steady) phase_seconds.push_back(step_seconds);
    if (steady && !block) {
      steady_seconds.push_back(step_seconds);
      steady_phases.push_back(ph);
    }
    loss_last = acc.loss;
    if (st.progress["loss_first"].is_null()) st.progress["loss_first"] = acc.loss;
    const double tps = static_cast<double>(per_step * o.seq) / step_seconds;
    const json rec{{"type", "step"}, {"step", step}, {"phase", block ? "block" : "global"}, {"loss", acc.loss},
                   {"kl", acc.kl}, {"mse", acc.mse}, {"l2l", block ? acc.mse : lambda * acc.mse}, {"lr", lr},
                   {"grad_norm", gnorm}, {"tokens", tokens}, {"seconds", step_seconds}, {"tokens_per_s", tps},
                   {"phases", ph.to_json()}};
    pr.steps.push_back(rec);
    append_log(o.log, rec);
    const long phase_end = block ? block_total : total;
    if (step % o.log_every == 0 || step == 1 || step == phase_end || step == total) {
      const double eta = phase_end > 0 ? static_cast<double>(phase_end - step) * step_seconds : 0.0;
      const std::string of = phase_end > 0 ? std::to_string(phase_end) : "?";
      if (block)
        std::printf("block-wise step %ld/%s  loss %.5g (sum over %d blocks)  lr %.3g  |g| %.3g  %.1f tokens/s  ETA %s\n", step,
                    of.c_str(), acc.loss, cfg.n_layer, lr, gnorm, tps, phase_end > 0 ? hms(eta).c_str() : "?");
      else
        std::printf("step %ld/%s  loss %.5g (KL %.4g, lambda MSE %.4g)  lr %.3g  |g| %.3g  %.1f tokens/s  ETA %s\n", step,
                    of.c_str(), acc.loss, acc.kl, lambda * acc.mse, lr, gnorm, tps, phase_end > 0 ? hms(eta).c_str() : "?");
      std::fflush(stdout);
    }
    const char* replan_key = block ? "replanned_block" : "replanned";
    if (o.minutes > 0 && step == p0 + kReplanStep && step < phase_end && !st.progress.value(replan_key, false) &&
        phase_seconds.size() >= 4) {
      const double median = median_of(phase_seconds);
      const long was = phase_end;
      if (block) {
        const double remaining = block_budget - (since(t_start) - loop_t0);
        block_total = std::max(step + 1, step + static_cast<long>(remaining / (median * 1.01 + per_eval)));
        block_warm = train::warmup_steps(o.warmup_ratio, block_total);
      } else {
        // what is left, less the final evaluation of the written checkpoint
        const double remaining = budget - since(t_start) - (eval_ids.empty() ? 0.0 : eval_seconds);
        total = std::max(step + 1, step + static_cast<long>(remaining / (median * 1.01 + per_eval)));
        warm = train::warmup_steps(o.warmup_ratio, total - p0);
      }
      std::printf("re-plan: %ld %ssteps in %g minutes (median step %.2f s over steps %ld-%ld; the first plan %ld)\n",
                  block ? block_total : total, block ? "block-wise " : "", o.minutes, median,
                  step - static_cast<long>(phase_seconds.size()) + 1, step, was);
      st.progress[replan_key] = true;
    }
    if (o.eval_every > 0 && !eval_ids.empty() && step % o.eval_every == 0 && step != total) {
      const auto te = Clock::now();
      const double p = evaluate(packed_model(student, cfg, embd_f16, head_f16 ? &*head_f16 : nullptr, infos)).ppl();
      eval_seconds = since(te);
      std::printf("eval at step %ld: perplexity %.5g (%.1f s)\n", step, p, eval_seconds);
      const json e{{"type", "eval"}, {"step", step}, {"ppl", p}, {"tokens", eval_ids.size()}};
      pr.evals.push_back(e);
      append_log(o.log, e);
    }
    if (o.save_every > 0 && step % o.save_every == 0 && step != total) save("periodic");
    if (g_signal != 0) {
      stopped_by = g_signal;
      break;
    }
    if (o.stop_after > 0 && step >= o.stop_after && step != total) {
      stopped_by = -1;
      break;
    }
  }
  if (stopped_by != 0) {
    save(stopped_by > 0 ? "interrupted" : "--stop-after");
    std::printf("train: stopped at step %ld of %ld (%s); continue with --resume\n", step, total,
                stopped_by == SIGINT ? "SIGINT" : stopped_by == SIGTERM ? "SIGTERM" : "--stop-after");
    return stopped_by > 0 ? 128 + static_cast<int>(stopped_by) : 0;
  }
  save("end of training");

  // ---- outputs ----
  const std::string title = fs::path(o.model).filename().string() + " at " + std::to_string(plan.achieved_bpw).substr(0, 5) + " BPW";
  double ppl_after = 0;
  const json summary{{"source", fs::path(o.model).filename().string()}, {"target_bpw", o.bpw}, {"bpw", plan.achieved_bpw},
                     {"rank_rule", o.rank_rule}, {"kv_factor", gqa ? o.kv_factor : 1.0}, {"residual", !o.no_residual},
                     {"refine", o.refine}, {"sign", o.sign}, {"recipe", o.recipe}, {"hidden_norm", o.hidden_norm},
                     {"blockwise", o.blockwise}, {"block_input", o.block_input}, {"steps", step}, {"tokens", tokens}, {"seq", o.seq},
                     {"batch", o.batch}, {"accum", o.accum}, {"lr", o.lr}, {"l2l_scale", lambda}};
  if (!o.output.empty()) {
    littlebit::io::CheckpointWriter w;
    w.add_dense_as("token_embd.weight", std::span<const float>(dense.embedding(), embd_f16.size()), {cfg.vocab, cfg.d_model},
                   littlebit::io::DType::kF16);
    if (!dense.tied())
      w.add_dense_as("output.weight", std::span<const float>(dense.head(), embd_f16.size()), {cfg.vocab, cfg.d_model},
                     littlebit::io::DType::kF16);
    w.add_dense("output_norm.weight", std::span<const float>(student.wf(), static_cast<std::size_t>(cfg.d_model)), {cfg.d_model});
    for (int l = 0; l < cfg.n_layer; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      w.add_dense(p + "attn_norm.weight", std::span<const float>(student.w1(l), static_cast<std::size_t>(cfg.d_model)), {cfg.d_model});
      w.add_dense(p + "ffn_norm.weight", std::span<const float>(student.w2(l), static_cast<std::size_t>(cfg.d_model)), {cfg.d_model});
    }
    std::vector<littlebit::PackedFactorizedLinear> packed;
    for (std::size_t i = 0; i < infos.size(); ++i) packed.push_back(student.layers()[i].pack());
    for (std::size_t i = 0; i < infos.size(); ++i) w.add_layer(infos[i].name, packed[i]);
    w.set_metadata("llm.config", cfg.to_json());
    w.set_metadata("llm.tokenizer", loaded.tokenizer.to_json());
    w.set_metadata("train.summary", summary.dump());
    w.write(o.output);
    std::printf("wrote %s (%.3f MB)\n", o.output.c_str(), static_cast<double>(fs::file_size(o.output)) / 1e6);
    if (!o.official.empty()) {
      const auto ck = littlebit::io::Checkpoint::open(o.output);
      std::vector<std::pair<std::string, const littlebit::PackedFactorizedLinear*>> named;
      for (std::size_t i = 0; i < infos.size(); ++i) named.emplace_back(infos[i].name, &packed[i]);
      llm::write_official(ck, cfg, named, o.official, fs::path(o.model).filename().string());
    }
    if (!eval_ids.empty()) ppl_after = evaluate(llm::load_model(o.output).model).ppl();  // as `eval` reads it
  } else if (!eval_ids.empty()) {
    ppl_after = evaluate(packed_model(student, cfg, embd_f16, head_f16 ? &*head_f16 : nullptr, infos)).ppl();
  }
  if (!eval_ids.empty()) {
    std::printf("perplexity on %zu tokens of %s: dense %.5g, init %.5g, after %ld steps %.5g\n", eval_ids.size(), o.eval.c_str(),
                ppl_dense, ppl_init, step, ppl_after);
    const json e{{"type", "eval"}, {"step", step}, {"ppl", ppl_after}, {"tokens", eval_ids.size()}};
    pr.evals.push_back(e);
    append_log(o.log, e);
  }
  plot(o, pr, total, title);
  const json out{{"steps", step},
                 {"tokens", tokens},
                 {"train_seconds", train_seconds},
                 {"tokens_per_s", train_seconds > 0 ? static_cast<double>(tokens) / train_seconds : 0.0},
                 {"step_seconds_last", step_seconds},
                 {"loss_first", st.progress["loss_first"]},
                 {"loss_last", loss_last},
                 {"ppl_dense", ppl_dense},
                 {"ppl_init", ppl_init},
                 {"ppl_after", ppl_after},
                 {"eval_tokens", eval_scored},
                 {"bpw", plan.achieved_bpw},
                 {"peak_rss_mb", peak_rss_mb()},
                 {"step_seconds_median", steady_seconds.empty() ? json(nullptr) : json(median_of(steady_seconds))},
                 {"phases_median", median_phases(steady_phases)},
                 {"total_seconds", since(t_start)}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"train: quantization-aware training of a Llama-style model into LittleBit layers, distilled from the dense model"};
  Options o;
  app.add_option("--model", o.model, "the dense model: GGUF file or Hugging Face directory")->required();
  app.add_option("--bpw", o.bpw, "bits per weight of the quantized layers")->required()->check(CLI::Range(1e-6, 64.0));
  app.add_option("--train", o.train, "training text files (documents separated by blank lines)")->required();
  app.add_option("--eval", o.eval, "held-out text for perplexity (eval's protocol: windows of 512, stride 512)");
  app.add_option("--eval-tokens", o.eval_tokens, "evaluate the first N tokens of --eval (0: all)")->check(CLI::Range(0L, 1L << 40));
  app.add_option("--eval-every", o.eval_every, "evaluate every N steps (0: before and after training only)")->check(CLI::Range(0L, 1L << 40));
  app.add_flag("--refine", o.refine, "littlebit's refined Dual-SVID (Joint-ITQ, least-squares scales and signs)");
  app.add_option("--svd", o.svd, "Dual-SVID's SVD")->check(CLI::IsMember({"exact", "randomized"}));
  app.add_option("--rank-rule", o.rank_rule, "official: the official per-layer rule (default); budget: one model-level budget")
      ->check(CLI::IsMember({"official", "budget"}));
  app.add_option("--kv-factor", o.kv_factor, "rank factor of k/v projections in grouped-query models")->check(CLI::Range(0.001, 1024.0));
  app.add_flag("--no-residual", o.no_residual, "one path per layer instead of primary + residual");
  app.add_option("--sign", o.sign, "sign's surrogate gradient: smoothsign (tanh(100 z)') or ste (1[|z| < 1])")
      ->check(CLI::IsMember({"smoothsign", "ste"}));
  app.add_option("--seq", o.seq, "tokens per sequence")->check(CLI::Range(2L, 1L << 20));
  app.add_option("--batch", o.batch, "sequences per micro-batch")->check(CLI::Range(1L, 1L << 16));
  app.add_option("--accum", o.accum, "micro-batches per optimizer step")->check(CLI::Range(1L, 1L << 16));
  app.add_option("--steps", o.steps, "optimizer steps")->check(CLI::Range(1L, 1L << 40));
  app.add_option("--minutes", o.minutes, "wall-clock budget of the whole run; the schedule is planned to fit (default 20)")
      ->check(CLI::Range(0.01, 1e6));
  app.add_option("--lr", o.lr, "peak learning rate (default by BPW: 8e-5 at 1.0, 1.2e-4 at 0.55-0.8, 2e-4 at 0.3 and below)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--warmup-ratio", o.warmup_ratio, "linear warm-up over this fraction of the steps")->check(CLI::Range(0.0, 1.0));
  app.add_option("--l2l-scale", o.l2l_scale, "lambda of the hidden-state loss (default 10 x seq / 2048)")->check(CLI::Range(0.0, 1e12));
  app.add_option("--recipe", o.recipe,
                 "official: the official recipe (default); littlebit: littlebit's best measured combination of the "
                 "options below (docs/trainer.md, \"Recipes\"); options given explicitly still win")
      ->check(CLI::IsMember({"official", "littlebit"}));
  app.add_option("--hidden-norm", o.hidden_norm,
                 "weights of the hidden-state term: none (official), layer (relative error per state), channel (per channel)")
      ->check(CLI::IsMember({"none", "layer", "channel"}));
  app.add_option("--blockwise", o.blockwise, "fraction of the steps (--steps) or time (--minutes) spent on block-wise distillation first")
      ->check(CLI::Range(0.0, 0.95));
  app.add_option("--block-input", o.block_input, "block-wise inputs: teacher (the teacher's x_l) or student (the student's own chain)")
      ->check(CLI::IsMember({"teacher", "student"}));
  app.add_option("--block-lr", o.block_lr, "peak learning rate of the block-wise phase (default: --lr)")->check(CLI::Range(0.0, 1.0));
  app.add_option("--seed", o.seed, "seed of the data order and the randomized SVD");
  app.add_flag("--no-shuffle", o.no_shuffle, "sequences in text order");
  app.add_option("--threads", o.threads, "threads (0: OMP_NUM_THREADS)")->check(CLI::Range(0, 1024));
  app.add_option("--layers", o.layers, "only the first K blocks (a test setting)")->check(CLI::Range(1, 1 << 20));
  app.add_option("--output", o.output, "the packed littlebit checkpoint to write (eval and generate read it)");
  app.add_option("--official", o.official, "also write the packed layers in the official LittleBit layout (needs --output)");
  app.add_option("--state", o.state, "directory of the run's state (saved atomically)");
  app.add_flag("--resume", o.resume, "continue the run saved in --state");
  app.add_option("--save-every", o.save_every, "save the state every N steps (0: at the end and on a signal only)")
      ->check(CLI::Range(0L, 1L << 40));
  app.add_option("--log", o.log, "JSON-lines log of every step and evaluation");
  app.add_option("--log-every", o.log_every, "a progress line every N steps")->check(CLI::Range(1L, 1L << 40));
  app.add_option("--plot", o.plot, "PNG of the loss curves and the evaluation perplexity");
  app.add_option("--cache", o.cache, "token cache directory (default: STATE/cache, or build/train-cache)");
  app.add_option("--stop-after", o.stop_after, "stop (saving the state) after N steps of the planned schedule, as an interrupt")
      ->check(CLI::Range(1L, 1L << 40));
  app.add_option("--fault-nan-at", o.nan_at, "a test of the NaN stop: poison the student's input at step N (0-based)");
  CLI11_PARSE(app, argc, argv);
  if (o.recipe == "littlebit") apply_littlebit_recipe(o, [&](const char* opt) { return app.count(opt) > 0; });
  if (!o.official.empty() && o.output.empty()) {
    std::fprintf(stderr, "train: --official needs --output\n");
    return 2;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train: %s\n", e.what());
    return 1;
  }
}
