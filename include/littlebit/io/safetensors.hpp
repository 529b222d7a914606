// littlebit/io/safetensors.hpp: reading and writing safetensors files.
//
// Format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
// N bytes of JSON (an object: "__metadata__" -> {string: string}, and for every tensor
// name -> {"dtype", "shape", "data_offsets": [begin, end]} with offsets relative to the data
// section), then the data section, little-endian, row-major.
//
// The reader validates everything before any tensor is touched: the header length against the
// file size (and a 100 MiB cap), the JSON (an object, no duplicate keys, string metadata), each
// entry's dtype (known), shape (nonnegative integers) and offsets (in range, begin <= end,
// shape x dtype size == end - begin, no overflow), and that the tensors tile the data section
// exactly (no overlap, no hole, as the reference implementation requires). Every failure raises
// littlebit::Error naming the file and the tensor.
//
// The writer builds the header from the tensors given, pads it with spaces to a multiple of 8
// bytes (so the data section is 8-byte aligned in the file), and writes through
// write_file_atomically: a failure never leaves a partial file.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "littlebit/core/config.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/io/mapped_file.hpp"

namespace littlebit::io {

enum class DType : std::uint8_t { kF64, kF32, kF16, kBF16, kI64, kI32, kI8, kU8 };

constexpr std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF64: case DType::kI64: return 8;
    case DType::kF32: case DType::kI32: return 4;
    case DType::kF16: case DType::kBF16: return 2;
    case DType::kI8: case DType::kU8: return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF64: return "F64";
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI64: return "I64";
    case DType::kI32: return "I32";
    case DType::kI8: return "I8";
    case DType::kU8: return "U8";
  }
  return "?";
}

constexpr bool is_floating(DType t) {
  return t == DType::kF64 || t == DType::kF32 || t == DType::kF16 || t == DType::kBF16;
}

inline std::optional<DType> parse_dtype(std::string_view s) {
  for (DType t : {DType::kF64, DType::kF32, DType::kF16, DType::kBF16, DType::kI64, DType::kI32, DType::kI8,
                  DType::kU8})
    if (dtype_name(t) == s) return t;
  return std::nullopt;
}

/// The dtype that stores a C++ type.
template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, double>) return DType::kF64;
  else if constexpr (std::is_same_v<T, float>) return DType::kF32;
  else if constexpr (std::is_same_v<T, Float16>) return DType::kF16;
  else if constexpr (std::is_same_v<T, BFloat16>) return DType::kBF16;
  else if constexpr (std::is_same_v<T, std::int64_t>) return DType::kI64;
  else if constexpr (std::is_same_v<T, std::int32_t>) return DType::kI32;
  else if constexpr (std::is_same_v<T, std::int8_t>) return DType::kI8;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return DType::kU8;
  else static_assert(sizeof(T) == 0, "no safetensors dtype for this type");
}

namespace detail {

/// Element k of raw little-endian data of dtype t, as double (exact for every dtype but I64
/// values beyond 2^53) or as int64 (integer dtypes only).
inline double load_as_double(const std::byte* p, DType t) {
  switch (t) {
    case DType::kF64: { double v; std::memcpy(&v, p, 8); return v; }
    case DType::kF32: { float v; std::memcpy(&v, p, 4); return static_cast<double>(v); }
    case DType::kF16: { std::uint16_t b; std::memcpy(&b, p, 2); return to_double(Float16::from_bits(b)); }
    case DType::kBF16: { std::uint16_t b; std::memcpy(&b, p, 2); return to_double(BFloat16::from_bits(b)); }
    case DType::kI64: { std::int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    case DType::kI32: { std::int32_t v; std::memcpy(&v, p, 4); return v; }
    case DType::kI8: { std::int8_t v; std::memcpy(&v, p, 1); return v; }
    case DType::kU8: { std::uint8_t v; std::memcpy(&v, p, 1); return v; }
  }
  return 0.0;
}

inline std::int64_t load_as_int64(const std::byte* p, DType t) {
  switch (t) {
    case DType::kI64: { std::int64_t v; std::memcpy(&v, p, 8); return v; }
    case DType::kI32: { std::int32_t v; std::memcpy(&v, p, 4); return v; }
    case DType::kI8: { std::int8_t v; std::memcpy(&v, p, 1); return v; }
    case DType::kU8: { std::uint8_t v; std::memcpy(&v, p, 1); return v; }
    default: return 0;
  }
}

}  // namespace detail

/// A tensor inside a file (or a buffer): its name, dtype, shape and bytes. Valid as long as the
/// SafetensorsFile it came from.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<Index> shape;
  std::span<const std::byte> bytes;

  Index numel() const {
    Index n = 1;
    for (Index d : shape) n *= d;
    return n;
  }

  /// Raises littlebit::Error unless the shape is exactly `expected`.
  void require_shape(std::span<const Index> expected) const {
    if (!std::equal(shape.begin(), shape.end(), expected.begin(), expected.end()))
      littlebit::detail::fail("tensor '", name, "': expected shape ", shape_string(expected), ", found ",
                              shape_string(shape));
  }
  void require_shape(std::initializer_list<Index> expected) const {
    require_shape(std::span<const Index>(expected.begin(), expected.size()));
  }

  /// Copies the elements, converted to T, into `out` (numel() entries). Floating T accepts every
  /// dtype (widening exactly, narrowing with one rounding); integer T accepts integer dtypes and
  /// raises littlebit::Error on a value T cannot hold.
  template <class T>
  void copy_to(std::span<T> out) const {
    if (static_cast<Index>(out.size()) != numel())
      littlebit::detail::fail("tensor '", name, "': destination holds ", out.size(), " elements, the tensor ", numel());
    const std::size_t step = dtype_size(dtype);
    if constexpr (std::is_integral_v<T>) {
      if (is_floating(dtype))
        littlebit::detail::fail("tensor '", name, "': cannot read ", dtype_name(dtype), " data as integers");
      for (std::size_t k = 0; k < out.size(); ++k) {
        const std::int64_t v = detail::load_as_int64(bytes.data() + k * step, dtype);
        if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
            (v > 0 && static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(std::numeric_limits<T>::max())))
          littlebit::detail::fail("tensor '", name, "': element ", k, " = ", v, " does not fit the destination type");
        out[k] = static_cast<T>(v);
      }
    } else if (dtype == dtype_of<T>()) {
      if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    } else {
      for (std::size_t k = 0; k < out.size(); ++k)
        out[k] = from_double<T>(detail::load_as_double(bytes.data() + k * step, dtype));
    }
  }

  template <class T>
  std::vector<T> to_vector() const {
    std::vector<T> v(static_cast<std::size_t>(numel()));
    copy_to(std::span<T>(v));
    return v;
  }

  static std::string shape_string(std::span<const Index> s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
  }
};

/// A parsed, validated safetensors file. Tensors are listed in data order.
class SafetensorsFile {
 public:
  /// The reference implementation's cap on the header size.
  static constexpr std::uint64_t kMaxHeaderBytes = 100u << 20;

  /// Maps and validates a file.
  static SafetensorsFile open(const std::filesystem::path& path) {
    return littlebit::detail::guard_reader(path.string(), [&] {
      SafetensorsFile f;
      f.file_ = MappedFile::open(path);
      f.parse(f.file_.bytes(), path.string());
      return f;
    });
  }

  /// Validates bytes held in memory (copied), named `what` in messages.
  static SafetensorsFile from_bytes(std::span<const std::byte> bytes, std::string what = "<memory>") {
    return littlebit::detail::guard_reader(what, [&] {
      SafetensorsFile f;
      f.owned_.assign(bytes.begin(), bytes.end());
      f.parse(f.owned_, what);
      return f;
    });
  }

  const std::string& source() const { return source_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::optional<std::string> metadata_value(const std::string& key) const {
    auto it = metadata_.find(key);
    return it == metadata_.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  bool contains(std::string_view name) const { return index_.count(std::string(name)) != 0; }

  /// The tensor called `name`; raises littlebit::Error when there is none.
  const TensorView& tensor(std::string_view name) const {
    auto it = index_.find(std::string(name));
    if (it == index_.end()) littlebit::detail::fail(source_, ": no tensor named '", name, "'");
    return tensors_[it->second];
  }

 private:
  SafetensorsFile() = default;

  void parse(std::span<const std::byte> b, std::string what) {
    using littlebit::detail::fail;
    source_ = std::move(what);
    if (b.size() < 8) fail(source_, ": file of ", b.size(), " bytes is shorter than the 8-byte header length");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint8_t>(b[static_cast<std::size_t>(i)]);
    const std::uint64_t rest = b.size() - 8;
    if (n > rest) fail(source_, ": header length ", n, " exceeds the ", rest, " bytes after it");
    if (n > kMaxHeaderBytes) fail(source_, ": header length ", n, " exceeds the ", kMaxHeaderBytes, "-byte limit");
    if (n < 2) fail(source_, ": header of ", n, " bytes cannot hold a JSON object");
    const auto* text = reinterpret_cast<const char*>(b.data() + 8);
    if (text[0] != '{') fail(source_, ": header does not start with '{'");
    const std::span<const std::byte> data = b.subspan(8 + n);

    nlohmann::json header;
    std::string duplicate;
    std::vector<std::unordered_set<std::string>> keys;
    auto callback = [&](int, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
      using E = nlohmann::json::parse_event_t;
      if (ev == E::object_start) keys.emplace_back();
      else if (ev == E::object_end && !keys.empty()) keys.pop_back();
      else if (ev == E::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
               duplicate.empty())
        duplicate = parsed.get<std::string>();
      return true;
    };
    try {
      header = nlohmann::json::parse(text, text + n, callback);
    } catch (const nlohmann::json::exception& e) {
      fail(source_, ": header is not valid JSON: ", e.what());
    }
    if (!duplicate.empty()) fail(source_, ": header has the key '", duplicate, "' twice");
    if (!header.is_object()) fail(source_, ": header is not a JSON object");

    struct Span {
      std::uint64_t begin, end;
      std::size_t tensor;
    };
    std::vector<Span> spans;
    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__") {
        if (!entry.is_object()) fail(source_, ": __metadata__ is not an object");
        for (const auto& [k, v] : entry.items()) {
          if (!v.is_string()) fail(source_, ": __metadata__ value of '", k, "' is not a string");
          metadata_[k] = v.get<std::string>();
        }
        continue;
      }
      const std::string where = source_ + ": tensor '" + name + "'";
      if (!entry.is_object()) fail(where, ": entry is not an object");
      if (!entry.contains("dtype") || !entry["dtype"].is_string()) fail(where, ": missing or non-string dtype");
      const auto dtype = parse_dtype(entry["dtype"].get<std::string>());
      if (!dtype) fail(where, ": unsupported dtype '", entry["dtype"].get<std::string>(), "'");
      if (!entry.contains("shape") || !entry["shape"].is_array()) fail(where, ": missing or non-array shape");
      if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2)
        fail(where, ": data_offsets must be an array [begin, end]");

      TensorView t;
      t.name = name;
      t.dtype = *dtype;
      // numel * dtype size, checked against overflow and against the data section.
      std::uint64_t bytes = dtype_size(*dtype);
      bool overflow = false;
      for (const auto& d : entry["shape"]) {
        if (!d.is_number_unsigned()) fail(where, ": shape entries must be nonnegative integers, found ", d.dump());
        const auto dim = d.get<std::uint64_t>();
        if (dim > static_cast<std::uint64_t>(std::numeric_limits<Index>::max())) overflow = true;
        else if (dim != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / dim) overflow = true;
        else bytes *= dim;
        t.shape.push_back(static_cast<Index>(std::min<std::uint64_t>(dim, std::numeric_limits<Index>::max())));
      }
      const auto& off = entry["data_offsets"];
      if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned())
        fail(where, ": data_offsets must be nonnegative integers, found ", off.dump());
      const auto begin = off[0].get<std::uint64_t>(), end = off[1].get<std::uint64_t>();
      if (begin > end) fail(where, ": data_offsets [", begin, ", ", end, "] run backwards");
      if (end > data.size())
        fail(where, ": data_offsets [", begin, ", ", end, "] extend past the data section of ", data.size(), " bytes");
      if (overflow) fail(where, ": shape ", entry["shape"].dump(), " declares more bytes than can exist");
      if (bytes != end - begin)
        fail(where, ": shape ", TensorView::shape_string(t.shape), " of ", dtype_name(*dtype), " needs ", bytes,
             " bytes, data_offsets span ", end - begin);
      t.bytes = data.subspan(begin, end - begin);
      spans.push_back({begin, end, tensors_.size()});
      tensors_.push_back(std::move(t));
    }

    // The tensors must tile [0, data size): sorted by begin, each starts where the last ended.
    std::sort(spans.begin(), spans.end(),
              [](const Span& x, const Span& y) { return x.begin != y.begin ? x.begin < y.begin : x.end < y.end; });
    std::uint64_t cursor = 0;
    std::string last = "the start of the data section";
    for (const auto& s : spans) {
      const std::string& name = tensors_[s.tensor].name;
      if (s.begin < cursor)
        fail(source_, ": tensor '", name, "' at [", s.begin, ", ", s.end, ") overlaps ", last, " ending at ", cursor);
      if (s.begin > cursor)
        fail(source_, ": data bytes [", cursor, ", ", s.begin, ") before tensor '", name, "' belong to no tensor");
      cursor = s.end;
      last = "tensor '" + name + "'";
    }
    if (cursor != data.size())
      fail(source_, ": data bytes [", cursor, ", ", data.size(), ") at the end belong to no tensor");

    // List tensors in data order.
    std::vector<TensorView> ordered;
    ordered.reserve(spans.size());
    for (const auto& s : spans) ordered.push_back(std::move(tensors_[s.tensor]));
    tensors_ = std::move(ordered);
    for (std::size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
  }

  MappedFile file_;
  std::vector<std::byte> owned_;
  std::string source_;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorView> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
};

/// A tensor to write: the caller's bytes, which must outlive write_safetensors.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<Index> shape;
  std::span<const std::byte> bytes;
};

/// Describes `data` (row-major, shape `shape`) for writing, with the dtype of T.
template <class T>
TensorToWrite tensor_to_write(std::string name, std::span<const T> data, std::vector<Index> shape) {
  return {std::move(name), dtype_of<T>(), std::move(shape), std::as_bytes(data)};
}

namespace detail {

/// The 8-byte length and the JSON header (space-padded to a multiple of 8) for `tensors`,
/// laid out in the given order; validates names, shapes and byte counts.
inline std::string safetensors_header(std::span<const TensorToWrite> tensors,
                                      const std::map<std::string, std::string>& metadata) {
  using littlebit::detail::fail;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) header["__metadata__"][k] = v;
  }
  std::unordered_set<std::string> names;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__") fail("write_safetensors: a tensor cannot be named __metadata__");
    if (!names.insert(t.name).second) fail("write_safetensors: tensor '", t.name, "' given twice");
    std::uint64_t bytes = dtype_size(t.dtype);
    for (Index d : t.shape) {
      if (d < 0) fail("write_safetensors: tensor '", t.name, "' has a negative dimension ", d);
      const auto ud = static_cast<std::uint64_t>(d);
      bytes = (ud != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / ud) ? 0 : bytes * ud;
    }
    if (bytes != t.bytes.size())
      fail("write_safetensors: tensor '", t.name, "' of shape ", TensorView::shape_string(t.shape), " and dtype ",
           dtype_name(t.dtype), " needs ", bytes, " bytes, ", t.bytes.size(), " given");
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data section 8-byte aligned in the file
  std::string out(8, '\0');
  const std::uint64_t n = text.size();
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + text;
}

}  // namespace detail

/// The bytes of a safetensors file holding `tensors` (in that order) and `metadata`.
inline std::vector<std::byte> serialize_safetensors(std::span<const TensorToWrite> tensors,
                                                    const std::map<std::string, std::string>& metadata = {}) {
  const std::string head = detail::safetensors_header(tensors, metadata);
  std::vector<std::byte> out;
  const auto* h = reinterpret_cast<const std::byte*>(head.data());
  out.insert(out.end(), h, h + head.size());
  for (const auto& t : tensors) out.insert(out.end(), t.bytes.begin(), t.bytes.end());
  return out;
}

/// Writes a safetensors file atomically (temporary file, flush, rename), streaming the tensors.
inline void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  const std::string head = detail::safetensors_header(tensors, metadata);
  write_file_atomically(path, [&](std::FILE* f) {
    write_bytes(f, head.data(), head.size());
    for (const auto& t : tensors) write_bytes(f, t.bytes.data(), t.bytes.size());
  });
}

/// Tensors to write that own a copy of their bytes, so that several producers (layers, the
/// checkpoint writer) can add to one file in turn. Tensors are written in the order added.
class SafetensorsBuilder {
 public:
  /// Adds a copy of `data` (row-major, shape `shape`) with the dtype of T.
  template <class T>
  void add(std::string name, std::span<const T> data, std::vector<Index> shape) {
    add_bytes(std::move(name), dtype_of<T>(), std::move(shape), std::as_bytes(data));
  }
  template <class T>
  void add(std::string name, const std::vector<T>& data, std::vector<Index> shape) {
    add(std::move(name), std::span<const T>(data), std::move(shape));
  }
  /// Adds a copy of raw little-endian bytes of dtype `dtype`.
  void add_bytes(std::string name, DType dtype, std::vector<Index> shape, std::span<const std::byte> bytes) {
    if (contains(name)) littlebit::detail::fail("SafetensorsBuilder: tensor '", name, "' added twice");
    storage_.push_back(std::make_unique<std::vector<std::byte>>(bytes.begin(), bytes.end()));
    names_.insert(name);
    tensors_.push_back({std::move(name), dtype, std::move(shape), std::span<const std::byte>(*storage_.back())});
    // Shape and byte count are checked now, not at write time, so the error names the producer's call.
    (void)detail::safetensors_header(std::span<const TensorToWrite>(&tensors_.back(), 1), {});
  }
  bool contains(const std::string& name) const { return names_.count(name) != 0; }
  std::span<const TensorToWrite> tensors() const { return tensors_; }

  /// Writes the file atomically (see write_safetensors).
  void write(const std::filesystem::path& path, const std::map<std::string, std::string>& metadata = {}) const {
    write_safetensors(path, tensors_, metadata);
  }
  std::vector<std::byte> serialize(const std::map<std::string, std::string>& metadata = {}) const {
    return serialize_safetensors(tensors_, metadata);
  }

 private:
  std::vector<std::unique_ptr<std::vector<std::byte>>> storage_;  // stable addresses for the spans
  std::unordered_set<std::string> names_;
  std::vector<TensorToWrite> tensors_;
};

}  // namespace littlebit::io
