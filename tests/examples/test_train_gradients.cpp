// The trainer's forward and backward (examples/train): every gradient of a tiny random Llama
// (2 blocks, odd sizes, grouped-query attention) against central finite differences of the
// loss in double, for both rotary layouts, for the official loss, the normalized hidden-state
// terms (--hidden-norm layer, channel) and block-wise distillation (teacher inputs; the
// student-input variant, whose gradient stops between blocks by definition, against the
// teacher-input one fed the student's own chain); the training forward against the inference model
// (examples/llm/model.hpp, separate code); and the optimizer and schedule against their
// defining formulas.
//
// Finite differences: central, step h = 1e-5 |p| + 1e-6. Their error is h^2 / 6 |L'''| from
// truncation (~1e-10 |g| here: derivatives of order one, h ~ 1e-5) plus the rounding of the two
// loss evaluations divided by 2h: each evaluation is accurate to ~ k eps |L| (eps = 2^-53, k the
// condition of ~10^3 operations in sequence; k = 64 bounds what is seen). The check is
// |fd - g| <= 1e-6 |g| + 64 eps |L| / h: far above both, far below any wrong term (a missing
// factor or sign shows at the size of g itself).
//
// U and V: the forward uses sign(U), sign(V), whose derivative is 0 almost everywhere, and the
// backward multiplies the gradient with respect to the sign by the SmoothSign/STE surrogate by
// definition, so no finite difference of the loss in the latent can check them. They are
// checked as dL/dsign under the STE rule with |latent| < 1 (sign' = 1, so grad_U = dL/ds): the
// secant over a flip, (L(s = +1) - L(s = -1)) / 2, equals dL/ds up to the curvature of L over a
// step of 2 in s. In the residual path, whose output scale h_R is eps = 1e-5 times the
// primary's, dL/ds is O(eps) and that curvature O(eps^2), so the secant's relative error is
// O(eps): the check is 1e-2 relative (about 1e-4 is measured), and the same code serves both
// paths (one loop over p in FactorizedLinear::backward).
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "train/loss.hpp"
#include "train/model.hpp"
#include "train/optim.hpp"

namespace {

using train::Mat;
using train::Vec;

llm::LlamaConfig tiny_config(bool adjacent) {
  llm::LlamaConfig c;
  c.n_layer = 2;
  c.d_model = 12;
  c.n_head = 3;
  c.n_head_kv = 1;
  c.head_dim = 4;
  c.d_ff = 10;
  c.vocab = 17;
  c.rms_eps = 1e-5;
  c.rope_base = 10000.0;
  c.rope_adjacent = adjacent;
  return c;
}

struct TinyRun {
  llm::LlamaConfig cfg;
  std::vector<double> embd;
  std::vector<int> tokens;
  std::vector<Mat<double>> targets;
  train::Student<double> student;
  double lambda = 0.7;
  train::HiddenNorm norm = train::HiddenNorm::kNone;
  bool blockwise = false;            // the loss is Student::blockwise's sum (teacher inputs xs)
  std::vector<Mat<double>> xs;       // x_0 .. x_L for block-wise distillation
  static constexpr Eigen::Index B = 2, T = 5;

  TinyRun(bool adjacent, littlebit::SignGradient rule, double latent_scale, double residual_h = 1.0)
      : cfg(tiny_config(adjacent)) {
    std::mt19937_64 rng(7);
    std::normal_distribution<double> nd;
    std::uniform_real_distribution<double> ud(0.2, 0.9);
    embd.resize(static_cast<std::size_t>(cfg.vocab * cfg.d_model));
    for (auto& x : embd) x = nd(rng);
    std::uniform_int_distribution<int> tok(0, cfg.vocab - 1);
    for (Eigen::Index i = 0; i < B * T; ++i) tokens.push_back(tok(rng));
    Vec<double> norms((2 * cfg.n_layer + 1) * cfg.d_model);
    for (Eigen::Index i = 0; i < norms.size(); ++i) norms(i) = 1.0 + 0.3 * nd(rng);
    littlebit::FactorizedLinearOptions o;
    o.gradient.kind = rule;
    std::vector<littlebit::FactorizedLinear<double>> layers;
    for (const auto& l : llm::linear_layers(cfg)) {
      const Eigen::Index r = 3;
      std::vector<littlebit::FactorizedPathParams<double>> paths;
      for (int p = 0; p < 2; ++p) {
        littlebit::FactorizedPathParams<double> q;
        // latents away from 0 (|u| in [0.2, 0.9] x latent_scale, random sign)
        auto latent = [&](Eigen::Index rows, Eigen::Index cols) {
          Mat<double> m(rows, cols);
          for (Eigen::Index k = 0; k < m.size(); ++k) m.data()[k] = (nd(rng) < 0 ? -1 : 1) * ud(rng) * latent_scale;
          return m;
        };
        q.U = latent(l.out, r);
        q.V = latent(r, l.in);
        auto scale = [&](Eigen::Index n, double s) {
          Vec<double> v(n);
          for (Eigen::Index k = 0; k < n; ++k) v(k) = s * (0.5 + ud(rng));
          return v;
        };
        q.u1 = scale(l.out, p == 0 ? 0.4 : 0.4 * residual_h);
        q.u2 = scale(r, 0.5);
        q.v1 = scale(r, 0.5);
        q.v2 = scale(l.in, 0.4);
        paths.push_back(q);
      }
      layers.emplace_back(paths, Vec<double>(), o);
    }
    student = train::Student<double>(cfg, embd.data(), embd.data(), norms, std::move(layers));
    for (int i = 0; i < cfg.n_layer; ++i) {
      Mat<double> t(B * T, cfg.d_model);
      for (Eigen::Index k = 0; k < t.size(); ++k) t.data()[k] = nd(rng);
      targets.push_back(t);
    }
    // channels of very different scales (SmolLM2's outliers, in miniature), for the normalized terms
    for (int i = 0; i <= cfg.n_layer; ++i) {
      Mat<double> t(B * T, cfg.d_model);
      for (Eigen::Index r = 0; r < t.rows(); ++r)
        for (Eigen::Index c = 0; c < t.cols(); ++c) t(r, c) = nd(rng) * (c % 5 == 0 ? 30.0 : 1.0);
      xs.push_back(t);
    }
  }

  double loss() {
    if (blockwise) {
      double sum = 0;
      for (double t : student.blockwise(xs, B, T, train::Student<double>::BlockInput::kTeacher, norm, 1.0)) sum += t;
      return sum;
    }
    std::vector<Mat<double>> d;
    const auto h = student.forward(tokens, B, T);
    return train::kd_loss<double>(h, targets, embd.data(), cfg.vocab, B, lambda, 1.0, d, 4, norm).loss;
  }
  void gradients() {
    student.zero_grad();
    if (blockwise) {
      (void)loss();
      return;
    }
    std::vector<Mat<double>> d;
    const auto h = student.forward(tokens, B, T);
    (void)train::kd_loss<double>(h, targets, embd.data(), cfg.vocab, B, lambda, 1.0, d, 4, norm);
    student.backward(d);
  }
};

/// Central difference of the loss in p.
/// Central difference of the loss in p, and the rounding bound 64 eps |L| / h of the check.
struct Fd {
  double value, rounding;
};
Fd fd(TinyRun& run, double& p) {
  const double p0 = p, h = 1e-5 * std::abs(p0) + 1e-6;
  p = p0 + h;
  const double lp = run.loss();
  p = p0 - h;
  const double lm = run.loss();
  p = p0;
  return {(lp - lm) / (2 * h), 64 * 0x1p-53 * std::max(std::abs(lp), std::abs(lm)) / h};
}

double worst_fd = 0;  // largest |fd - g| / tolerance seen
void check(Fd f, double g, const std::string& what) {
  const double tol = 1e-6 * std::abs(g) + f.rounding;
  INFO(what << ": finite difference " << f.value << ", backward " << g << ", tolerance " << tol);
  CHECK(std::abs(f.value - g) <= tol);
  worst_fd = std::max(worst_fd, std::abs(f.value - g) / tol);
}

void check_all_but_signs(bool adjacent, train::HiddenNorm norm = train::HiddenNorm::kNone, bool blockwise = false) {
  TinyRun run(adjacent, littlebit::SignGradient::kSmoothSign, 1.0);
  run.norm = norm;
  run.blockwise = blockwise;
  run.gradients();
  // every gradient copied before any finite difference: a block-wise loss evaluation adds into them
  const Vec<double> gn = run.student.norm_grads();
  std::vector<std::vector<double>> grads;
  for (auto& l : run.student.layers()) grads.emplace_back(l.gradients().begin(), l.gradients().end());
  int checked = 0;
  for (Eigen::Index i = 0; i < run.student.norms().size(); ++i, ++checked)
    check(fd(run, run.student.norms()(i)), gn(i), "norm gain " + std::to_string(i));
  const auto infos = llm::linear_layers(run.cfg);
  for (std::size_t li = 0; li < infos.size(); ++li) {
    auto& layer = run.student.layers()[li];
    const std::vector<double>& g = grads[li];
    for (const auto& b : layer.blocks()) {
      if (b.name == "U" || b.name == "V" || b.name == "U_R" || b.name == "V_R") continue;
      for (Eigen::Index k = 0; k < b.size(); ++k, ++checked)
        check(fd(run, layer.parameters()[static_cast<std::size_t>(b.offset + k)]), g[static_cast<std::size_t>(b.offset + k)],
              infos[li].name + "." + b.name + "[" + std::to_string(k) + "]");
    }
  }
  const std::string layout = adjacent ? "adjacent" : "half";
  const std::string norms[] = {"none", "layer", "channel"};
  const std::string what = blockwise ? "block-wise" : "global KD";
  MESSAGE(checked << " gradients checked against finite differences (" << layout << " rotary pairs, " << what
                  << ", hidden norm " << norms[static_cast<int>(norm)] << "); worst |fd - g| / tolerance " << worst_fd);
}

}  // namespace

TEST_CASE("train: every gradient but the signs' equals finite differences of the loss (tiny Llama, double)") {
  check_all_but_signs(true);
  check_all_but_signs(false);
}

TEST_CASE("train: normalized hidden-state terms and block-wise distillation: gradients equal finite differences") {
  check_all_but_signs(true, train::HiddenNorm::kLayer);
  check_all_but_signs(false, train::HiddenNorm::kChannel);
  check_all_but_signs(true, train::HiddenNorm::kLayer, true);
  check_all_but_signs(false, train::HiddenNorm::kChannel, true);
  check_all_but_signs(true, train::HiddenNorm::kNone, true);
}

TEST_CASE("train: the normalized terms weigh by the teacher's scale (layer: relative error; channel: per channel)") {
  Mat<double> t(4, 3), s(4, 3), d;
  t << 10, 100, 2, -10, -100, 2, 10, 100, -2, -10, -100, -2;  // channel mean squares 100, 1e4, 4
  s = t;
  s(0, 1) += 10;  // an error of 10 in the large channel (mean square 1e4)
  s(1, 0) += 1;   // an error of 1 in a smaller one (mean square 100)
  const double all = (100 + 1e4 + 4) / 3.0;  // the floor 1e-3 all = 3.4 is below every channel's
  CHECK(train::hidden_mse(s, t, train::HiddenNorm::kNone, 1.0, d) == doctest::Approx((100 + 1) / 12.0));
  CHECK(train::hidden_mse(s, t, train::HiddenNorm::kLayer, 1.0, d) == doctest::Approx((100 + 1) / 12.0 / all));
  // per channel both errors weigh the same: 10^2 / 1e4 = 1^2 / 100
  CHECK(train::hidden_mse(s, t, train::HiddenNorm::kChannel, 1.0, d) == doctest::Approx((0.01 + 0.01) / 12.0));
  CHECK(d(0, 1) == doctest::Approx(2 * 10 / 1e4 / 12.0));
  CHECK(d(1, 0) == doctest::Approx(2 * 1 / 100.0 / 12.0));
  CHECK(d(2, 2) == 0.0);
  // the floor: a silent channel weighs at most 1e3 / mean(t^2)
  Mat<double> z = t;
  z.col(2).setZero();
  Mat<double> zs = z;
  zs(3, 2) = 1;
  const double all_z = (100 + 1e4) / 3.0;
  CHECK(train::hidden_mse(zs, z, train::HiddenNorm::kChannel, 1.0, d) == doctest::Approx(1 / (1e-3 * all_z) / 12.0));
  CHECK_THROWS_AS(train::parse_hidden_norm("rms"), littlebit::Error);
  Mat<double> zero = Mat<double>::Zero(2, 2);
  CHECK_THROWS_AS(train::hidden_mse(zero, zero, train::HiddenNorm::kLayer, 1.0, d), littlebit::Error);
}

TEST_CASE("train: block-wise distillation with student inputs is the teacher-input one fed the student's own chain") {
  // Block l's term and gradients depend only on its input and its target; with student inputs the
  // input is the student's own x_l (the chain from x_0), and the gradient stops there by definition,
  // so no finite difference checks it. Instead: a teacher-input pass whose state l is the chain's
  // x_l must give block l the same term and the same gradients (the same operations on the same
  // numbers: equal bit for bit).
  TinyRun run(true, littlebit::SignGradient::kSmoothSign, 1.0);
  const auto& c = run.cfg;
  const Eigen::Index B = TinyRun::B, T = TinyRun::T, d = c.d_model;
  using In = train::Student<double>::BlockInput;
  for (Eigen::Index i = 0; i < B * T; ++i)  // x_0: the embeddings, so the chain is the forward's x_1 .. x_{L-1}
    run.xs[0].row(i) = train::CMatMap<double>(run.embd.data(), c.vocab, d).row(run.tokens[static_cast<std::size_t>(i)]);
  std::vector<Mat<double>> chain{run.xs[0]};
  for (const Mat<double>* x : run.student.forward(run.tokens, B, T)) chain.push_back(*x);  // x_1 .. x_{L-1}, y
  run.student.zero_grad();
  const auto own = run.student.blockwise(run.xs, B, T, In::kStudent, train::HiddenNorm::kLayer, 1.0);
  std::vector<std::vector<double>> g_own;
  for (auto& l : run.student.layers()) g_own.emplace_back(l.gradients().begin(), l.gradients().end());
  const Vec<double> gn_own = run.student.norm_grads();
  for (int l = 0; l < c.n_layer; ++l) {
    std::vector<Mat<double>> fed = run.xs;
    fed[static_cast<std::size_t>(l)] = chain[static_cast<std::size_t>(l)];
    run.student.zero_grad();
    const auto terms = run.student.blockwise(fed, B, T, In::kTeacher, train::HiddenNorm::kLayer, 1.0);
    CHECK(terms[static_cast<std::size_t>(l)] == own[static_cast<std::size_t>(l)]);
    for (int j = 0; j < 7; ++j) {
      const auto g = run.student.layer(l, j).gradients();
      CHECK(std::equal(g.begin(), g.end(), g_own[static_cast<std::size_t>(7 * l + j)].begin()));
    }
    CHECK(run.student.norm_grads().segment(2 * l * d, 2 * d) == gn_own.segment(2 * l * d, 2 * d));
  }
  CHECK(run.student.norm_grads().tail(d).isZero());  // w_f: no block-wise gradient
  CHECK(own[1] != doctest::Approx(run.student.blockwise(run.xs, B, T, In::kTeacher, train::HiddenNorm::kLayer, 1.0)[1]));
}

TEST_CASE("train: the latent gradients equal the secant of a sign flip (STE, |latent| < 1, residual path)") {
  TinyRun run(true, littlebit::SignGradient::kSte, 0.5, 1e-5);
  run.gradients();
  const auto infos = llm::linear_layers(run.cfg);
  int checked = 0;
  double worst = 0;
  for (std::size_t li = 0; li < infos.size(); li += 3) {  // q, output, up, ... of both blocks
    auto& layer = run.student.layers()[li];
    const std::vector<double> g(layer.gradients().begin(), layer.gradients().end());
    for (const auto& b : layer.blocks()) {
      if (b.name != "U_R" && b.name != "V_R") continue;
      for (Eigen::Index k = 0; k < b.size(); k += 5, ++checked) {
        double& p = layer.parameters()[static_cast<std::size_t>(b.offset + k)];
        const double p0 = p;
        p = 0.5;
        const double lp = run.loss();
        p = -0.5;
        const double lm = run.loss();
        p = p0;
        const double secant = (lp - lm) / 2.0, gk = g[static_cast<std::size_t>(b.offset + k)];
        INFO(infos[li].name << "." << b.name << "[" << k << "]: secant " << secant << ", backward " << gk);
        CHECK(std::abs(secant - gk) <= 1e-2 * std::abs(gk) + 1e-14);
        worst = std::max(worst, std::abs(secant - gk) / std::abs(gk));
      }
    }
  }
  CHECK(checked > 50);
  MESSAGE(checked << " sign gradients checked; worst relative difference " << worst);
}

TEST_CASE("train: the training forward equals the inference model's logits (float)") {
  const llm::LlamaConfig cfg = tiny_config(true);
  std::mt19937_64 rng(3);
  std::normal_distribution<float> nd;
  std::map<std::string, std::vector<float>> w;
  auto add = [&](const std::string& name, std::size_t n, float s, float mean) {
    auto& v = w[name];
    v.resize(n);
    for (auto& x : v) x = mean + s * nd(rng);
  };
  add("token_embd.weight", static_cast<std::size_t>(cfg.vocab * cfg.d_model), 1.0f, 0.0f);
  add("output_norm.weight", static_cast<std::size_t>(cfg.d_model), 0.2f, 1.0f);
  for (int l = 0; l < cfg.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", static_cast<std::size_t>(cfg.d_model), 0.2f, 1.0f);
    add(p + "ffn_norm.weight", static_cast<std::size_t>(cfg.d_model), 0.2f, 1.0f);
  }
  for (const auto& l : llm::linear_layers(cfg)) add(l.name + ".weight", static_cast<std::size_t>(l.out * l.in), 0.4f, 0.0f);
  auto dense = [&](const std::string& name, std::vector<littlebit::Index>& shape) {
    const auto& v = w.at(name);
    shape = name.ends_with("norm.weight") ? std::vector<littlebit::Index>{cfg.d_model}
            : name == "token_embd.weight" ? std::vector<littlebit::Index>{cfg.vocab, cfg.d_model}
                                          : std::vector<littlebit::Index>{};
    if (shape.empty())
      for (const auto& l : llm::linear_layers(cfg))
        if (l.name + ".weight" == name) shape = {l.out, l.in};
    return v;
  };
  const auto model = llm::LlamaModel<float>::from_tensors(
      cfg, "tiny", dense, [](const std::string&) { return std::shared_ptr<littlebit::PackedFactorizedLinear>(); },
      [&](const std::string& name) { return w.count(name) != 0; });
  const std::vector<int> tokens{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5};
  const auto want = model.forward(tokens);  // T x vocab
  train::Teacher<float> teacher(model);
  std::vector<Mat<float>> hidden;
  teacher.forward(tokens, 1, static_cast<Eigen::Index>(tokens.size()), hidden);
  const Mat<float> got = hidden.back() * train::CMatMap<float>(model.head(), cfg.vocab, cfg.d_model).transpose();
  // float rounding over 2 blocks of sums of <= 12 terms: ~1e-6 relative; 1e-4 of the largest logit.
  CHECK((got - want).cwiseAbs().maxCoeff() <= 1e-4f * want.cwiseAbs().maxCoeff());
  // two sequences at once give each one's result (no mixing across the batch)
  std::vector<int> two = tokens;
  two.insert(two.end(), tokens.rbegin(), tokens.rend());
  teacher.forward(two, 2, static_cast<Eigen::Index>(tokens.size()), hidden);
  const Mat<float> first = hidden.back().topRows(static_cast<Eigen::Index>(tokens.size())) *
                           train::CMatMap<float>(model.head(), cfg.vocab, cfg.d_model).transpose();
  CHECK((first - want).cwiseAbs().maxCoeff() <= 1e-4f * want.cwiseAbs().maxCoeff());
}

TEST_CASE("train: AdamW, clipping and the cosine schedule follow their formulas") {
  std::vector<double> p{1.0, -2.0, 0.5}, g{3.0, 4.0, 0.0};
  train::AdamW<double> opt;
  opt.add("p", p, g);
  const double norm = opt.update(0.1);  // clipped to norm 1: g -> (0.6, 0.8, 0)
  CHECK(norm == doctest::Approx(5.0));
  // first step: m = 0.1 g', v = 0.001 g'^2, step = lr / 0.1, denom = sqrt(v) / sqrt(0.001) + eps = |g'| + eps
  CHECK(p[0] == doctest::Approx(1.0 - 0.1 * 0.6 / (0.6 + 1e-8)).epsilon(1e-12));
  CHECK(p[1] == doctest::Approx(-2.0 - 0.1 * 0.8 / (0.8 + 1e-8)).epsilon(1e-12));
  CHECK(p[2] == 0.5);
  CHECK(train::warmup_steps(0.02, 64) == 2);
  CHECK(train::cosine_lr(1.0, 0, 64, 2) == 0.0);
  CHECK(train::cosine_lr(1.0, 1, 64, 2) == 0.5);
  CHECK(train::cosine_lr(1.0, 2, 64, 2) == 1.0);
  CHECK(train::cosine_lr(1.0, 33, 64, 2) == doctest::Approx(0.5));
  CHECK(train::cosine_lr(1.0, 64, 64, 2) == doctest::Approx(0.0));
}
