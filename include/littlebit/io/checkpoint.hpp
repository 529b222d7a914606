// littlebit/io/checkpoint.hpp: the littlebit checkpoint, a whole quantized model in one
// safetensors file (docs/format.md, "Checkpoint").
//
// It holds
//   - packed factorized layers, each in the io/packed_linear.hpp layout under its own name
//     (layer "blk.0.attn_q" stores "blk.0.attn_q.U_sign", "blk.0.attn_q.h", ..., "_R" for the
//     residual path, "blk.0.attn_q.bias" when it has one);
//   - dense tensors (embedding, norms, layers left unquantized) in F32, F16 or BF16, any shape,
//     under their own names;
//   - metadata: format = "littlebit-checkpoint", version = "1", "littlebit.layers" = a JSON array
//     of the packed layers' names (so a reader knows which tensors form layers), and any caller
//     keys (the examples store the model's hyper-parameters and tokenizer as JSON strings).
// Every tensor that is not part of a listed layer is dense. Writing is atomic (temporary file,
// rename); reading maps the file and validates every layer and dense tensor before use.
#pragma once

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/io/packed_linear.hpp"
#include "littlebit/io/safetensors.hpp"
#include "littlebit/layer/packed_factorized_linear.hpp"

namespace littlebit::io {

inline constexpr const char* kCheckpointFormat = "littlebit-checkpoint";
inline constexpr const char* kCheckpointVersion = "1";
inline constexpr const char* kCheckpointLayersKey = "littlebit.layers";

namespace detail {

/// The tensor names a packed layer called `layer` may store.
inline bool is_layer_tensor(std::string_view layer, std::string_view tensor) {
  if (tensor.size() <= layer.size() + 1 || tensor.substr(0, layer.size()) != layer || tensor[layer.size()] != '.')
    return false;
  const std::string_view rest = tensor.substr(layer.size() + 1);
  for (std::string_view t : {"U_sign", "V_sign", "h", "ell", "g", "U_sign_R", "V_sign_R", "h_R", "ell_R", "g_R", "bias"})
    if (rest == t) return true;
  return false;
}

}  // namespace detail

/// Collects layers, dense tensors and metadata; writes them as one checkpoint file.
class CheckpointWriter {
 public:
  /// Adds a packed layer under `name` (non-empty, unique, no tensor of that prefix yet).
  void add_layer(const std::string& name, const PackedFactorizedLinear& layer) {
    if (name.empty()) littlebit::detail::fail("CheckpointWriter: empty layer name");
    if (std::find(layers_.begin(), layers_.end(), name) != layers_.end())
      littlebit::detail::fail("CheckpointWriter: layer '", name, "' added twice");
    add_packed_linear(tensors_, name, layer);
    layers_.push_back(name);
    layer_bits_ += layer.storage_bits();
  }
  /// Adds a dense tensor stored with the dtype of T (float, Float16 or BFloat16).
  template <class T>
  void add_dense(const std::string& name, std::span<const T> data, std::vector<Index> shape) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>,
                  "dense tensors are F32, F16 or BF16");
    check_dense_name(name);
    tensors_.add(name, data, std::move(shape));
    dense_bytes_ += static_cast<std::int64_t>(data.size_bytes());
  }
  /// Adds float data stored as `storage` (F32, F16 or BF16; one rounding to nearest even).
  void add_dense_as(const std::string& name, std::span<const float> data, std::vector<Index> shape, DType storage) {
    switch (storage) {
      case DType::kF32: add_dense(name, data, std::move(shape)); return;
      case DType::kF16: add_dense(name, std::span<const Float16>(convert<Float16>(data)), std::move(shape)); return;
      case DType::kBF16: add_dense(name, std::span<const BFloat16>(convert<BFloat16>(data)), std::move(shape)); return;
      default: littlebit::detail::fail("CheckpointWriter: tensor '", name, "': dense storage must be F32, F16 or BF16, not ",
                                       dtype_name(storage));
    }
  }
  /// Sets a metadata entry; the format's own keys are reserved.
  void set_metadata(const std::string& key, std::string value) {
    if (key == "format" || key == "version" || key == kCheckpointLayersKey)
      littlebit::detail::fail("CheckpointWriter: metadata key '", key, "' is reserved");
    metadata_[key] = std::move(value);
  }

  const std::vector<std::string>& layer_names() const { return layers_; }
  /// Bits of the packed layers (signs + FP16 scales + biases) and bytes of the dense tensors.
  std::int64_t layer_bits() const { return layer_bits_; }
  std::int64_t dense_bytes() const { return dense_bytes_; }

  /// The whole file in memory (for tests and fuzzing).
  std::vector<std::byte> serialize() const { return tensors_.serialize(full_metadata()); }
  /// Writes the file atomically.
  void write(const std::filesystem::path& path) const { tensors_.write(path, full_metadata()); }

 private:
  template <class T>
  static std::vector<T> convert(std::span<const float> data) {
    std::vector<T> out(data.size());
    for (std::size_t i = 0; i < data.size(); ++i) out[i] = T(data[i]);
    return out;
  }
  void check_dense_name(const std::string& name) const {
    if (name.empty()) littlebit::detail::fail("CheckpointWriter: empty tensor name");
    for (const auto& l : layers_)
      if (detail::is_layer_tensor(l, name))
        littlebit::detail::fail("CheckpointWriter: dense tensor '", name, "' would be read as part of layer '", l, "'");
  }
  std::map<std::string, std::string> full_metadata() const {
    auto m = metadata_;
    m["format"] = kCheckpointFormat;
    m["version"] = kCheckpointVersion;
    m[kCheckpointLayersKey] = nlohmann::json(layers_).dump();
    return m;
  }

  SafetensorsBuilder tensors_;
  std::vector<std::string> layers_;
  std::map<std::string, std::string> metadata_;
  std::int64_t layer_bits_ = 0, dense_bytes_ = 0;
};

/// A checkpoint file, mapped and validated: the layer list, the dense tensors' dtypes, and
/// that every tensor belongs to a listed layer or is dense floating point. Layers are parsed
/// (and fully checked) when asked for.
class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& path) {
    return littlebit::detail::guard_reader(path.string(), [&] { return Checkpoint(SafetensorsFile::open(path)); });
  }
  static Checkpoint from_bytes(std::span<const std::byte> bytes, std::string what = "<memory>") {
    return littlebit::detail::guard_reader(what, [&] { return Checkpoint(SafetensorsFile::from_bytes(bytes, what)); });
  }

  const std::string& source() const { return file_.source(); }
  const SafetensorsFile& file() const { return file_; }
  const std::vector<std::string>& layer_names() const { return layers_; }
  const std::vector<std::string>& dense_names() const { return dense_; }
  bool has_layer(const std::string& name) const { return layer_set_.count(name) != 0; }
  bool has_dense(const std::string& name) const {
    return dense_set_.count(name) != 0;
  }
  std::optional<std::string> metadata_value(const std::string& key) const { return file_.metadata_value(key); }

  /// The packed layer `name`, prepared for `precision`.
  PackedFactorizedLinear layer(const std::string& name, kernels::Precision precision = kernels::Precision::kExact) const {
    if (!has_layer(name)) littlebit::detail::fail(source(), ": no packed layer '", name, "'");
    return read_packed_linear(file_, name, precision);
  }
  /// The dense tensor `name` (shape via dense_tensor(name).shape), converted to float.
  std::vector<float> dense(const std::string& name) const { return dense_tensor(name).to_vector<float>(); }
  const TensorView& dense_tensor(const std::string& name) const {
    if (!has_dense(name)) littlebit::detail::fail(source(), ": no dense tensor '", name, "'");
    return file_.tensor(name);
  }

 private:
  explicit Checkpoint(SafetensorsFile f) : file_(std::move(f)) {
    using littlebit::detail::fail;
    const auto format = file_.metadata_value("format");
    if (!format || *format != kCheckpointFormat)
      fail(source(), ": metadata format is '", format.value_or("<none>"), "', expected '", kCheckpointFormat, "'");
    const auto version = file_.metadata_value("version");
    if (!version || *version != kCheckpointVersion)
      fail(source(), ": checkpoint version '", version.value_or("<none>"), "' is not supported (this build reads ",
           kCheckpointVersion, ")");
    const auto list = file_.metadata_value(kCheckpointLayersKey);
    if (!list) fail(source(), ": metadata has no '", kCheckpointLayersKey, "'");
    const auto j = nlohmann::json::parse(*list, nullptr, /*allow_exceptions=*/false);
    if (!j.is_array()) fail(source(), ": metadata '", kCheckpointLayersKey, "' is not a JSON array");
    for (const auto& e : j) {
      if (!e.is_string() || e.get<std::string>().empty())
        fail(source(), ": metadata '", kCheckpointLayersKey, "' holds an entry that is not a layer name");
      const std::string name = e.get<std::string>();
      if (!layer_set_.insert(name).second) fail(source(), ": layer '", name, "' listed twice");
      if (!file_.contains(name + ".U_sign")) fail(source(), ": listed layer '", name, "' has no tensor '", name, ".U_sign'");
      layers_.push_back(name);
    }
    for (const auto& t : file_.tensors()) {
      // A tensor belongs to the layer named by its longest listed prefix.
      bool in_layer = false;
      for (auto dot = t.name.rfind('.'); dot != std::string::npos && dot > 0; dot = t.name.rfind('.', dot - 1)) {
        const std::string prefix = t.name.substr(0, dot);
        if (layer_set_.count(prefix) && detail::is_layer_tensor(prefix, t.name)) {
          in_layer = true;
          break;
        }
        if (dot == 0) break;
      }
      if (in_layer) continue;
      if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16)
        fail(source(), ": tensor '", t.name, "' is neither part of a listed layer nor dense F32/F16/BF16 (dtype ",
             dtype_name(t.dtype), ")");
      dense_.push_back(t.name);
      dense_set_.insert(t.name);
    }
  }

  SafetensorsFile file_;
  std::vector<std::string> layers_, dense_;
  std::set<std::string> layer_set_, dense_set_;
};

}  // namespace littlebit::io
