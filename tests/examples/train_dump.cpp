// train_dump: the trainer's numbers on a 2-block cut of a real model, for the independent
// PyTorch computation of the official math (tests/tools/train_reference.py):
//
//   train_dump MODEL.gguf TRAIN.txt OUT.safetensors [--bpw 0.55] [--batch 2] [--seq 64] [--steps 5]
//
// The student is initialized by Dual-SVID (in float, exact SVD) at the official ranks (k/v x 4),
// so the float and double runs (and PyTorch) start from the same float values. For `steps`
// fixed batches (the first sequences of TRAIN, in text order) it records the
// loss of every optimizer step (AdamW, clipping, the cosine schedule: examples/train/optim.hpp)
// in double and in float, and the first batch's gradients (before clipping) of every parameter.
//
// OUT holds tokens (I64, steps x batch x seq), init.<name> (F32), grad64.<name> (F64),
// grad32.<name> (F32) for name = norms and each layer's blocks ("blk.0.attn_q.U", ...), and
// metadata "dump" (JSON: losses, KL and MSE parts, lambda, lr, ranks, shapes).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "littlebit/io/gguf.hpp"
#include "littlebit/io/safetensors.hpp"
#include "llm/rank_plan.hpp"
#include "train/data.hpp"
#include "train/init.hpp"
#include "train/loss.hpp"
#include "train/model.hpp"
#include "train/optim.hpp"

namespace {

using json = nlohmann::json;

template <class S>
struct Run {
  std::vector<double> losses, kls, mses;
  std::vector<std::vector<S>> grads;  // norms, then every layer's parameters(), at step 0
};

template <class S>
Run<S> run(const llm::LlamaModel<S>& dense, const llm::LlamaConfig& cfg, const std::vector<float>& norms0,
           const std::vector<std::vector<littlebit::FactorizedPathParams<float>>>& init, const std::vector<int>& tokens,
           long B, long T, long steps, double lambda, double lr) {
  std::vector<littlebit::FactorizedLinear<S>> layers;
  for (const auto& paths : init) {
    std::vector<littlebit::FactorizedPathParams<S>> p;
    for (const auto& q : paths)
      p.push_back({q.U.template cast<S>(), q.V.template cast<S>(), q.u1.template cast<S>(), q.u2.template cast<S>(),
                   q.v1.template cast<S>(), q.v2.template cast<S>()});
    layers.emplace_back(p);
  }
  train::Vec<S> norms(static_cast<Eigen::Index>(norms0.size()));
  for (std::size_t i = 0; i < norms0.size(); ++i) norms(static_cast<Eigen::Index>(i)) = static_cast<S>(norms0[i]);
  train::Student<S> student(cfg, dense.embedding(), dense.head(), norms, std::move(layers));
  train::Teacher<S> teacher(dense);
  train::AdamW<S> opt;
  opt.add("norms", std::span<S>(student.norms().data(), static_cast<std::size_t>(student.norms().size())),
          std::span<S>(student.norm_grads().data(), static_cast<std::size_t>(student.norm_grads().size())));
  for (auto& l : student.layers()) opt.add("layer", l.parameters(), l.gradients());
  Run<S> r;
  std::vector<train::Mat<S>> th, dh;
  const long warm = train::warmup_steps(0.02, steps);
  for (long s = 0; s < steps; ++s) {
    const std::vector<int> ids(tokens.begin() + s * B * T, tokens.begin() + (s + 1) * B * T);
    student.zero_grad();
    teacher.forward(ids, B, T, th);
    const auto sh = student.forward(ids, B, T);
    const auto part = train::kd_loss<S>(sh, th, student.head(), cfg.vocab, B, lambda, 1.0, dh);
    student.backward(dh);
    r.losses.push_back(part.loss);
    r.kls.push_back(part.kl);
    r.mses.push_back(part.mse);
    if (s == 0) {
      r.grads.emplace_back(student.norm_grads().data(), student.norm_grads().data() + student.norm_grads().size());
      for (const auto& l : student.layers()) r.grads.emplace_back(l.gradients().begin(), l.gradients().end());
    }
    opt.update(train::cosine_lr(lr, s, steps, warm));
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: train_dump MODEL.gguf TRAIN.txt OUT.safetensors [--bpw B] [--batch N] [--seq T] [--steps S]\n");
    return 2;
  }
  double bpw = 0.55;
  long B = 2, T = 64, steps = 5;
  for (int i = 4; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--bpw") bpw = std::stod(argv[i + 1]);
    else if (k == "--batch") B = std::stol(argv[i + 1]);
    else if (k == "--seq") T = std::stol(argv[i + 1]);
    else if (k == "--steps") steps = std::stol(argv[i + 1]);
    else {
      std::fprintf(stderr, "train_dump: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    const auto f = littlebit::io::GgufFile::open(argv[1]);
    const auto tok = llm::Tokenizer::from_gguf(f);
    const auto dense64 = llm::LlamaModel<double>::from_gguf(f, 2);
    const auto dense32 = llm::LlamaModel<float>::from_gguf(f, 2);
    llm::LlamaConfig cfg = dense32.config();
    cfg.n_layer = 2;
    const auto out = std::filesystem::path(argv[3]);
    train::Batches data(train::training_tokens({argv[2]}, tok, out.parent_path() / "cache", false), T, 0, false);
    const auto tokens = data.samples(0, steps * B);
    const auto infos = llm::linear_layers(cfg);
    const auto plan = llm::plan_ranks(infos, bpw, 4.0, cfg.n_head_kv < cfg.n_head, true, llm::RankRule::kOfficial);

    // The init, once, in float.
    std::vector<std::vector<littlebit::FactorizedPathParams<float>>> init;
    for (std::size_t i = 0; i < infos.size(); ++i) {
      const auto& L = dense32.layer(static_cast<int>(i / 7));
      const llm::Linear<float>* all[] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
      auto paths = train::dual_svid_init(all[i % 7]->w, infos[i].out, infos[i].in, plan.ranks[i], {.exact_svd = true});
      init.push_back(std::move(paths));
    }
    std::vector<float> norms;
    for (int l = 0; l < cfg.n_layer; ++l) {
      norms.insert(norms.end(), dense32.layer(l).attn_norm, dense32.layer(l).attn_norm + cfg.d_model);
      norms.insert(norms.end(), dense32.layer(l).ffn_norm, dense32.layer(l).ffn_norm + cfg.d_model);
    }
    norms.insert(norms.end(), dense32.output_norm(), dense32.output_norm() + cfg.d_model);
    const double lambda = 10.0 * static_cast<double>(T) / 2048.0, lr = 1.2e-4;
    const auto r64 = run<double>(dense64, cfg, norms, init, tokens, B, T, steps, lambda, lr);
    const auto r32 = run<float>(dense32, cfg, norms, init, tokens, B, T, steps, lambda, lr);

    littlebit::io::SafetensorsBuilder b;
    std::vector<std::int64_t> t64(tokens.begin(), tokens.end());
    b.add("tokens", t64, {steps, B, T});
    b.add("init.norms", norms, {static_cast<littlebit::Index>(norms.size())});
    b.add("grad64.norms", r64.grads[0], {static_cast<littlebit::Index>(norms.size())});
    b.add("grad32.norms", r32.grads[0], {static_cast<littlebit::Index>(norms.size())});
    json ranks = json::object();
    for (std::size_t i = 0; i < infos.size(); ++i) {
      const littlebit::FactorizedLinear<float> layer(init[i]);
      const auto p = layer.parameters();
      ranks[infos[i].name] = plan.ranks[i];
      for (const auto& blk : layer.blocks()) {
        const auto name = infos[i].name + "." + blk.name;
        const std::vector<littlebit::Index> shape =
            blk.cols == 1 ? std::vector<littlebit::Index>{blk.rows} : std::vector<littlebit::Index>{blk.rows, blk.cols};
        const auto at = static_cast<std::size_t>(blk.offset), n = static_cast<std::size_t>(blk.size());
        b.add("init." + name, std::span<const float>(p.data() + at, n), shape);
        b.add("grad64." + name, std::span<const double>(r64.grads[i + 1].data() + at, n), shape);
        b.add("grad32." + name, std::span<const float>(r32.grads[i + 1].data() + at, n), shape);
      }
    }
    const json meta{{"losses64", r64.losses}, {"kl64", r64.kls}, {"mse64", r64.mses}, {"losses32", r32.losses},
                    {"kl32", r32.kls}, {"mse32", r32.mses}, {"lambda", lambda}, {"lr", lr}, {"warmup_ratio", 0.02},
                    {"bpw", bpw}, {"ranks", ranks}, {"batch", B}, {"seq", T}, {"steps", steps}, {"layers", cfg.n_layer}};
    b.write(out, {{"dump", meta.dump()}});
    std::printf("train_dump: %s: loss %.10g (double), %.10g (float) at step 0; %ld steps\n", out.c_str(), r64.losses[0],
                r32.losses[0], steps);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_dump: %s\n", e.what());
    return 1;
  }
  return 0;
}
