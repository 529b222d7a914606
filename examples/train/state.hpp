// examples/train/state.hpp: a training run's state, saved atomically to DIR/state.safetensors.
//
// Tensors (F32): "norms" (every RMSNorm gain, Student::norms order), "layer.<name>" (each
// projection's FactorizedLinear::parameters(), its blocks() order), and once the optimizer has
// stepped "adam.m", "adam.v" (the moment arena, the parameters' order). Metadata "train.state"
// is a JSON object: "settings" (everything a resume must match: model, BPW, ranks, options,
// data), "progress" (step, total and warm-up steps, samples drawn, tokens, first loss, the
// perplexities measured before training) and "clock" (training seconds so far). The data
// position is the sample count (train/data.hpp), so resuming continues the same sequence.
#pragma once

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "littlebit/io/safetensors.hpp"
#include "train/model.hpp"
#include "train/optim.hpp"

namespace train {

struct RunState {
  nlohmann::json settings, progress;
  double train_seconds = 0;
};

inline std::filesystem::path state_file(const std::filesystem::path& dir) { return dir / "state.safetensors"; }

inline void save_state(const std::filesystem::path& dir, const Student<float>& s, const AdamW<float>& opt,
                       const std::vector<std::string>& names, const RunState& st) {
  std::filesystem::create_directories(dir);
  littlebit::io::SafetensorsBuilder b;
  b.add("norms", std::span<const float>(s.norms().data(), static_cast<std::size_t>(s.norms().size())),
        {static_cast<littlebit::Index>(s.norms().size())});
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto p = s.layers()[i].parameters();
    b.add("layer." + names[i], std::span<const float>(p.data(), p.size()), {static_cast<littlebit::Index>(p.size())});
  }
  const AdamW<float>& o = opt;
  if (!o.m().empty()) {
    b.add("adam.m", std::span<const float>(o.m()), {static_cast<littlebit::Index>(o.m().size())});
    b.add("adam.v", std::span<const float>(o.v()), {static_cast<littlebit::Index>(o.v().size())});
  }
  const nlohmann::json meta{{"settings", st.settings}, {"progress", st.progress}, {"clock", {{"train_seconds", st.train_seconds}}}};
  b.write(state_file(dir), {{"format", "littlebit-train-state"}, {"train.state", meta.dump()}});
}

/// The settings that differ between a saved run and this one, as "key: saved X, now Y" lines.
inline std::string settings_diff(const nlohmann::json& saved, const nlohmann::json& now) {
  std::string out;
  for (auto it = now.begin(); it != now.end(); ++it) {
    const auto s = saved.find(it.key());
    if (s == saved.end()) out += "\n  " + it.key() + ": not in the saved state, now " + it.value().dump();
    else if (*s != it.value()) out += "\n  " + it.key() + ": saved " + s->dump() + ", now " + it.value().dump();
  }
  for (auto it = saved.begin(); it != saved.end(); ++it)
    if (!now.contains(it.key())) out += "\n  " + it.key() + ": saved " + it.value().dump() + ", not set now";
  return out;
}

/// Reads DIR/state.safetensors into the student and optimizer (shapes checked) after checking
/// its settings equal `settings`; raises littlebit::Error naming what differs.
inline RunState load_state(const std::filesystem::path& dir, const nlohmann::json& settings, Student<float>& s,
                           AdamW<float>& opt, const std::vector<std::string>& names) {
  const auto path = state_file(dir);
  if (!std::filesystem::exists(path)) littlebit::detail::fail("--resume: no saved state ", path.string());
  const auto f = littlebit::io::SafetensorsFile::open(path);
  if (f.metadata_value("format") != std::optional<std::string>("littlebit-train-state"))
    littlebit::detail::fail(path.string(), ": not a littlebit training state");
  const auto meta = nlohmann::json::parse(f.metadata_value("train.state").value_or(""), nullptr, false);
  if (!meta.is_object() || !meta.contains("settings") || !meta.contains("progress"))
    littlebit::detail::fail(path.string(), ": the 'train.state' metadata is missing or not JSON");
  const std::string diff = settings_diff(meta["settings"], settings);
  if (!diff.empty()) littlebit::detail::fail("--resume refused: the saved run ", path.string(), " has other settings:", diff);
  auto read = [&](const std::string& name, float* out, std::size_t n) {
    const auto& t = f.tensor(name);
    if (t.dtype != littlebit::io::DType::kF32 || t.bytes.size() != n * sizeof(float))
      littlebit::detail::fail(path.string(), ": tensor '", name, "' holds ", t.bytes.size(), " bytes, expected ", n,
                              " F32 values");
    std::memcpy(out, t.bytes.data(), n * sizeof(float));
  };
  read("norms", s.norms().data(), static_cast<std::size_t>(s.norms().size()));
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto p = s.layers()[i].parameters();
    read("layer." + names[i], p.data(), p.size());
  }
  RunState st;
  st.settings = meta["settings"];
  st.progress = meta["progress"];
  st.train_seconds = meta.value("/clock/train_seconds"_json_pointer, 0.0);
  const long step = st.progress.at("step").get<long>();
  if (f.contains("adam.m")) {
    opt.m().resize(opt.size());
    opt.v().resize(opt.size());
    read("adam.m", opt.m().data(), opt.size());
    read("adam.v", opt.v().data(), opt.size());
  } else if (step > 0) {
    littlebit::detail::fail(path.string(), ": step ", step, " but no optimizer moments");
  }
  opt.set_step(step);
  return st;
}

}  // namespace train
