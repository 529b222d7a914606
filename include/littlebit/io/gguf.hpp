// littlebit/io/gguf.hpp: reading GGUF model files (llama.cpp's format), memory-mapped.
//
// Layout (GGUF v2 and v3; all integers little-endian):
//   "GGUF" (4 bytes), version u32, tensor_count u64, kv_count u64,
//   kv_count x { key: string, type: u32, value }          string = u64 length + UTF-8 bytes
//     value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (1 byte), 8 string,
//                  9 array (element type u32, count u64, elements), 10 u64, 11 i64, 12 f64
//   tensor_count x { name: string, n_dims: u32 (1..4), dims: u64[n_dims], type: u32, offset: u64 }
//   padding to `general.alignment` (default 32), then the data section; each tensor's offset is
//   relative to it and a multiple of the alignment.
// dims[0] varies fastest: a PyTorch (out, in) weight has dims (in, out); shape() returns the
// PyTorch order (dims reversed). Element types read: F32, F16, BF16, Q8_0, Q4_0, Q4_1 (blocks of 32
// along dims[0]; see dequantize_row()). Other types are listed but raise when dequantized.
//
// Every count, length, offset and size is checked against the file before it is used; a
// malformed file raises littlebit::Error naming the file, the item and what is wrong.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "littlebit/core/config.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/io/mapped_file.hpp"

namespace littlebit::io {

enum class GgufType : std::uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

/// ggml tensor element types (the ids llama.cpp uses; only some are dequantized here).
enum class GgmlType : std::uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15, kBF16 = 30,
};

/// Elements per block and bytes per block of a ggml type (blocks of 1 for plain types);
/// nullopt for ids this reader does not know.
inline std::optional<std::pair<Index, Index>> ggml_block(std::uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::kF32: return std::pair<Index, Index>{1, 4};
    case GgmlType::kF16: return std::pair<Index, Index>{1, 2};
    case GgmlType::kBF16: return std::pair<Index, Index>{1, 2};
    case GgmlType::kQ4_0: return std::pair<Index, Index>{32, 18};
    case GgmlType::kQ4_1: return std::pair<Index, Index>{32, 20};
    case GgmlType::kQ5_0: return std::pair<Index, Index>{32, 22};
    case GgmlType::kQ5_1: return std::pair<Index, Index>{32, 24};
    case GgmlType::kQ8_0: return std::pair<Index, Index>{32, 34};
    case GgmlType::kQ8_1: return std::pair<Index, Index>{32, 36};
    case GgmlType::kQ2_K: return std::pair<Index, Index>{256, 84};
    case GgmlType::kQ3_K: return std::pair<Index, Index>{256, 110};
    case GgmlType::kQ4_K: return std::pair<Index, Index>{256, 144};
    case GgmlType::kQ5_K: return std::pair<Index, Index>{256, 176};
    case GgmlType::kQ6_K: return std::pair<Index, Index>{256, 210};
    case GgmlType::kQ8_K: return std::pair<Index, Index>{256, 292};
  }
  return std::nullopt;
}

inline std::string ggml_type_name(std::uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::kF32: return "F32";
    case GgmlType::kF16: return "F16";
    case GgmlType::kBF16: return "BF16";
    case GgmlType::kQ4_0: return "Q4_0";
    case GgmlType::kQ4_1: return "Q4_1";
    case GgmlType::kQ5_0: return "Q5_0";
    case GgmlType::kQ5_1: return "Q5_1";
    case GgmlType::kQ8_0: return "Q8_0";
    case GgmlType::kQ8_1: return "Q8_1";
    case GgmlType::kQ2_K: return "Q2_K";
    case GgmlType::kQ3_K: return "Q3_K";
    case GgmlType::kQ4_K: return "Q4_K";
    case GgmlType::kQ5_K: return "Q5_K";
    case GgmlType::kQ6_K: return "Q6_K";
    case GgmlType::kQ8_K: return "Q8_K";
  }
  return "type " + std::to_string(type);
}

struct GgufValue;

/// An array value, in the file's own bytes: numbers and bools stay where the file holds them
/// (`raw`, count x element size), strings are found through one offset each (8 bytes, the least a
/// string takes in the file). So an array costs memory in proportion to its bytes in the file,
/// whatever it holds; elements are decoded on access. Views into the GgufFile that read it.
struct GgufArray {
  GgufType element = GgufType::kU8;
  std::uint64_t count = 0;
  std::span<const std::byte> raw;          // numbers and bools: count x element size; strings: the whole run
  std::vector<std::uint64_t> string_at_;   // strings: offset of each length field within raw

  std::size_t size() const { return static_cast<std::size_t>(count); }
  bool empty() const { return count == 0; }
  /// Element i, decoded (raises on an index outside the array).
  GgufValue operator[](std::size_t i) const;
  /// String element i (raises when the array does not hold strings).
  std::string_view string(std::size_t i, std::string_view key = "value") const;
};

/// One metadata value: a number, bool, string, or an array of values of one type.
struct GgufValue {
  GgufType type = GgufType::kU8;
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string, GgufArray> value;

  bool is_integer() const {
    return std::holds_alternative<std::uint64_t>(value) || std::holds_alternative<std::int64_t>(value);
  }
  /// Integer types as int64 (u64 above 2^63 - 1 raises).
  std::int64_t as_int(std::string_view key = "value") const {
    if (const auto* u = std::get_if<std::uint64_t>(&value)) {
      if (*u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        littlebit::detail::fail("GGUF metadata '", key, "': ", *u, " does not fit int64");
      return static_cast<std::int64_t>(*u);
    }
    if (const auto* i = std::get_if<std::int64_t>(&value)) return *i;
    littlebit::detail::fail("GGUF metadata '", key, "' is not an integer");
  }
  /// Integer or floating types as double.
  double as_double(std::string_view key = "value") const {
    if (const auto* d = std::get_if<double>(&value)) return *d;
    if (const auto* u = std::get_if<std::uint64_t>(&value)) return static_cast<double>(*u);
    if (const auto* i = std::get_if<std::int64_t>(&value)) return static_cast<double>(*i);
    littlebit::detail::fail("GGUF metadata '", key, "' is not a number");
  }
  bool as_bool(std::string_view key = "value") const {
    if (const auto* b = std::get_if<bool>(&value)) return *b;
    littlebit::detail::fail("GGUF metadata '", key, "' is not a bool");
  }
  const std::string& as_string(std::string_view key = "value") const {
    if (const auto* s = std::get_if<std::string>(&value)) return *s;
    littlebit::detail::fail("GGUF metadata '", key, "' is not a string");
  }
  const GgufArray& as_array(std::string_view key = "value") const {
    if (const auto* a = std::get_if<GgufArray>(&value)) return *a;
    littlebit::detail::fail("GGUF metadata '", key, "' is not an array");
  }
};

namespace detail {

inline std::size_t gguf_scalar_size(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    case GgufType::kString: case GgufType::kArray: return 0;
  }
  return 0;
}

template <class T>
T gguf_load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace detail

inline GgufValue GgufArray::operator[](std::size_t i) const {
  if (i >= size()) littlebit::detail::fail("GGUF array: element ", i, " of an array of ", count);
  GgufValue v;
  v.type = element;
  const std::byte* p = raw.data() + i * detail::gguf_scalar_size(element);
  switch (element) {
    case GgufType::kU8: v.value = std::uint64_t{detail::gguf_load<std::uint8_t>(p)}; break;
    case GgufType::kI8: v.value = std::int64_t{detail::gguf_load<std::int8_t>(p)}; break;
    case GgufType::kU16: v.value = std::uint64_t{detail::gguf_load<std::uint16_t>(p)}; break;
    case GgufType::kI16: v.value = std::int64_t{detail::gguf_load<std::int16_t>(p)}; break;
    case GgufType::kU32: v.value = std::uint64_t{detail::gguf_load<std::uint32_t>(p)}; break;
    case GgufType::kI32: v.value = std::int64_t{detail::gguf_load<std::int32_t>(p)}; break;
    case GgufType::kU64: v.value = detail::gguf_load<std::uint64_t>(p); break;
    case GgufType::kI64: v.value = detail::gguf_load<std::int64_t>(p); break;
    case GgufType::kF32: v.value = static_cast<double>(detail::gguf_load<float>(p)); break;
    case GgufType::kF64: v.value = detail::gguf_load<double>(p); break;
    case GgufType::kBool: v.value = detail::gguf_load<std::uint8_t>(p) == 1; break;
    case GgufType::kString: v.value = std::string(string(i)); break;
    case GgufType::kArray: littlebit::detail::fail("GGUF array: nested arrays are not supported");
  }
  return v;
}

inline std::string_view GgufArray::string(std::size_t i, std::string_view key) const {
  if (element != GgufType::kString) littlebit::detail::fail("GGUF metadata '", key, "' is not an array of strings");
  if (i >= size()) littlebit::detail::fail("GGUF metadata '", key, "': element ", i, " of an array of ", count);
  const std::uint64_t at = string_at_[i];
  const auto n = detail::gguf_load<std::uint64_t>(raw.data() + at);  // validated when read
  return {reinterpret_cast<const char*>(raw.data() + at + 8), static_cast<std::size_t>(n)};
}

/// A tensor of the file: name, ggml type, dims (GGUF order), bytes in the mapping.
struct GgufTensor {
  std::string name;
  std::uint32_t type = 0;
  std::vector<Index> dims;  // dims[0] fastest
  std::uint64_t offset = 0;  // in the data section
  std::span<const std::byte> bytes;

  Index numel() const {
    Index n = 1;
    for (Index d : dims) n *= d;
    return n;
  }
  /// PyTorch order (dims reversed): a weight is {out_features, in_features}.
  std::vector<Index> shape() const { return {dims.rbegin(), dims.rend()}; }
  Index row_length() const { return dims.empty() ? 1 : dims[0]; }
  Index rows() const { return row_length() == 0 ? 0 : numel() / row_length(); }
};

namespace detail {

inline float fp16_at(const std::byte* p) {
  std::uint16_t b;
  std::memcpy(&b, p, 2);
  return static_cast<float>(Float16::from_bits(b));
}

}  // namespace detail

/// Dequantizes row `row` of `t` (row_length() elements) into `out`, as llama.cpp does:
///   F16 / BF16: widened exactly;  Q8_0: x = d q (d FP16, q int8);
///   Q4_0: x = d (q - 8), q the low nibbles of 16 bytes for elements 0..15 and the high ones for 16..31;
///   Q4_1: x = d q + m (d, m FP16), same nibble order.
/// d q is exact in float (at most 11 + 8 significant bits), so every path rounds at most once.
inline void dequantize_row(const GgufTensor& t, Index row, std::span<float> out) {
  const Index n = t.row_length();
  if (static_cast<Index>(out.size()) != n)
    littlebit::detail::fail("GGUF tensor '", t.name, "': row output has ", out.size(), " entries, the row ", n);
  if (row < 0 || row >= t.rows()) littlebit::detail::fail("GGUF tensor '", t.name, "': no row ", row);
  const auto block = ggml_block(t.type);
  const Index row_bytes = n / block->first * block->second;
  const std::byte* p = t.bytes.data() + row * row_bytes;
  switch (static_cast<GgmlType>(t.type)) {
    case GgmlType::kF32:
      std::memcpy(out.data(), p, static_cast<std::size_t>(n) * 4);
      return;
    case GgmlType::kF16:
      for (Index i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = detail::fp16_at(p + 2 * i);
      return;
    case GgmlType::kBF16:
      for (Index i = 0; i < n; ++i) {
        std::uint16_t b;
        std::memcpy(&b, p + 2 * i, 2);
        out[static_cast<std::size_t>(i)] = static_cast<float>(BFloat16::from_bits(b));
      }
      return;
    case GgmlType::kQ8_0:
      for (Index b = 0; b < n / 32; ++b) {
        const std::byte* blk = p + b * 34;
        const float d = detail::fp16_at(blk);
        for (int i = 0; i < 32; ++i)
          out[static_cast<std::size_t>(b * 32 + i)] = d * static_cast<float>(static_cast<std::int8_t>(blk[2 + i]));
      }
      return;
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1: {
      const bool q41 = static_cast<GgmlType>(t.type) == GgmlType::kQ4_1;
      const Index bytes = q41 ? 20 : 18;
      for (Index b = 0; b < n / 32; ++b) {
        const std::byte* blk = p + b * bytes;
        const float d = detail::fp16_at(blk);
        const float m = q41 ? detail::fp16_at(blk + 2) : 0.0f;
        const std::byte* qs = blk + (q41 ? 4 : 2);
        for (int i = 0; i < 16; ++i) {
          const auto q = static_cast<std::uint8_t>(qs[i]);
          const int lo = q & 0xF, hi = q >> 4;
          float* o = out.data() + b * 32;
          if (q41) {
            o[i] = d * static_cast<float>(lo) + m;
            o[i + 16] = d * static_cast<float>(hi) + m;
          } else {
            o[i] = d * static_cast<float>(lo - 8);
            o[i + 16] = d * static_cast<float>(hi - 8);
          }
        }
      }
      return;
    }
    default:
      littlebit::detail::fail("GGUF tensor '", t.name, "': element type ", ggml_type_name(t.type),
                              " is not supported for dequantization (F32, F16, BF16, Q8_0, Q4_0, Q4_1 are)");
  }
}

/// All of `t` as floats, row-major in PyTorch order (rows() x row_length()).
inline std::vector<float> dequantize(const GgufTensor& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  const Index n = t.row_length();
  for (Index r = 0; r < t.rows(); ++r)
    dequantize_row(t, r, std::span<float>(out.data() + r * n, static_cast<std::size_t>(n)));
  return out;
}

class GgufFile {
 public:
  static GgufFile open(const std::filesystem::path& path) {
    return littlebit::detail::guard_reader(path.string(), [&] {
      GgufFile f;
      f.file_ = MappedFile::open(path);
      f.parse(f.file_.bytes(), path.string());
      return f;
    });
  }
  /// Parses bytes held in memory (copied), named `what` in messages.
  static GgufFile from_bytes(std::span<const std::byte> bytes, std::string what = "<memory>") {
    return littlebit::detail::guard_reader(what, [&] {
      GgufFile f;
      f.owned_.assign(bytes.begin(), bytes.end());
      f.parse(f.owned_, what);
      return f;
    });
  }

  const std::string& source() const { return source_; }
  std::uint32_t version() const { return version_; }
  std::uint64_t alignment() const { return alignment_; }
  /// Where the data section starts in the file (tensor offsets are relative to it).
  std::uint64_t data_offset() const { return data_offset_; }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const {
    auto it = metadata_.find(std::string(key));
    return it == metadata_.end() ? nullptr : &it->second;
  }
  /// The value under `key`; raises naming the file and key when absent.
  const GgufValue& value(std::string_view key) const {
    if (const GgufValue* v = find(key)) return *v;
    littlebit::detail::fail(source_, ": no metadata key '", key, "'");
  }
  std::int64_t get_int(std::string_view key) const { return value(key).as_int(key); }
  double get_double(std::string_view key) const { return value(key).as_double(key); }
  const std::string& get_string(std::string_view key) const { return value(key).as_string(key); }
  /// An array of strings (e.g. tokenizer.ggml.tokens).
  std::vector<std::string> get_strings(std::string_view key) const {
    const GgufArray& a = value(key).as_array(key);
    std::vector<std::string> out;
    out.reserve(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) out.emplace_back(a.string(i, key));
    return out;
  }

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  bool contains(std::string_view name) const { return index_.count(std::string(name)) != 0; }
  const GgufTensor& tensor(std::string_view name) const {
    auto it = index_.find(std::string(name));
    if (it == index_.end()) littlebit::detail::fail(source_, ": no tensor named '", name, "'");
    return tensors_[it->second];
  }

 private:
  /// Bounds-checked little-endian reader over the file.
  struct Reader {
    std::span<const std::byte> b;
    std::size_t pos = 0;
    const std::string* source;

    [[noreturn]] void truncated(const std::string& what, std::size_t need) const {
      littlebit::detail::fail(*source, ": truncated at byte ", pos, " reading ", what, " (", need, " bytes needed, ",
                              b.size() - pos, " left)");
    }
    template <class T>
    T read(const std::string& what) {
      if (b.size() - pos < sizeof(T)) truncated(what, sizeof(T));
      T v;
      std::memcpy(&v, b.data() + pos, sizeof(T));
      pos += sizeof(T);
      return v;
    }
    std::string string(const std::string& what) {
      const auto n = read<std::uint64_t>(what + " length");
      if (n > b.size() - pos)
        littlebit::detail::fail(*source, ": ", what, " of length ", n, " at byte ", pos, " runs past the end of the file (",
                                b.size() - pos, " bytes left)");
      std::string s(reinterpret_cast<const char*>(b.data() + pos), static_cast<std::size_t>(n));
      pos += static_cast<std::size_t>(n);
      return s;
    }
    std::size_t left() const { return b.size() - pos; }
  };

  static std::size_t min_size(GgufType t) {
    switch (t) {
      case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
      case GgufType::kU16: case GgufType::kI16: return 2;
      case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
      case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: case GgufType::kString: return 8;
      case GgufType::kArray: return 12;
    }
    return 1;
  }

  GgufValue read_value(Reader& r, std::uint32_t type, const std::string& key, int depth) {
    GgufValue v;
    if (type > 12) littlebit::detail::fail(source_, ": metadata '", key, "' has unknown value type ", type);
    v.type = static_cast<GgufType>(type);
    switch (v.type) {
      case GgufType::kU8: v.value = std::uint64_t{r.read<std::uint8_t>(key)}; break;
      case GgufType::kI8: v.value = std::int64_t{r.read<std::int8_t>(key)}; break;
      case GgufType::kU16: v.value = std::uint64_t{r.read<std::uint16_t>(key)}; break;
      case GgufType::kI16: v.value = std::int64_t{r.read<std::int16_t>(key)}; break;
      case GgufType::kU32: v.value = std::uint64_t{r.read<std::uint32_t>(key)}; break;
      case GgufType::kI32: v.value = std::int64_t{r.read<std::int32_t>(key)}; break;
      case GgufType::kU64: v.value = r.read<std::uint64_t>(key); break;
      case GgufType::kI64: v.value = r.read<std::int64_t>(key); break;
      case GgufType::kF32: v.value = static_cast<double>(r.read<float>(key)); break;
      case GgufType::kF64: v.value = r.read<double>(key); break;
      case GgufType::kBool: {
        const auto b = r.read<std::uint8_t>(key);
        if (b > 1) littlebit::detail::fail(source_, ": metadata '", key, "': bool byte ", int{b}, " is neither 0 nor 1");
        v.value = b == 1;
        break;
      }
      case GgufType::kString: v.value = r.string("metadata '" + key + "'"); break;
      case GgufType::kArray: {
        if (depth > 0) littlebit::detail::fail(source_, ": metadata '", key, "': nested arrays are not supported");
        const auto et = r.read<std::uint32_t>(key + " element type");
        const auto n = r.read<std::uint64_t>(key + " count");
        if (et > 12) littlebit::detail::fail(source_, ": metadata '", key, "' has unknown array element type ", et);
        if (n > r.left() / min_size(static_cast<GgufType>(et)))
          littlebit::detail::fail(source_, ": metadata '", key, "': array of ", n, " elements cannot fit in the ", r.left(),
                                  " bytes left");
        GgufArray a;
        a.element = static_cast<GgufType>(et);
        a.count = n;
        const std::size_t begin = r.pos;
        if (a.element == GgufType::kArray) {
          if (n > 0) littlebit::detail::fail(source_, ": metadata '", key, "': nested arrays are not supported");
        } else if (a.element == GgufType::kString) {
          a.string_at_.reserve(static_cast<std::size_t>(n));  // n <= bytes left / 8: checked above
          for (std::uint64_t i = 0; i < n; ++i) {
            a.string_at_.push_back(r.pos - begin);
            const auto len = r.read<std::uint64_t>(key + " string length");
            if (len > r.left())
              littlebit::detail::fail(source_, ": metadata '", key, "' string ", i, " of length ", len, " at byte ", r.pos,
                                      " runs past the end of the file (", r.left(), " bytes left)");
            r.pos += static_cast<std::size_t>(len);
          }
        } else {
          const std::size_t bytes = static_cast<std::size_t>(n) * detail::gguf_scalar_size(a.element);
          if (a.element == GgufType::kBool)
            for (std::size_t i = 0; i < bytes; ++i) {
              const auto b = std::to_integer<unsigned>(r.b[r.pos + i]);
              if (b > 1)
                littlebit::detail::fail(source_, ": metadata '", key, "': bool element ", i, " is byte ", b,
                                        ", neither 0 nor 1");
            }
          r.pos += bytes;
        }
        a.raw = r.b.subspan(begin, r.pos - begin);
        v.value = std::move(a);
        break;
      }
    }
    return v;
  }

  void parse(std::span<const std::byte> bytes, std::string what) {
    using littlebit::detail::fail;
    source_ = std::move(what);
    Reader r{bytes, 0, &source_};
    const auto magic = r.read<std::uint32_t>("the magic");
    if (magic != 0x46554747u) fail(source_, ": not a GGUF file (magic 0x", std::hex, magic, ", expected 0x46554747 'GGUF')");
    version_ = r.read<std::uint32_t>("the version");
    if (version_ != 2 && version_ != 3) fail(source_, ": GGUF version ", version_, " is not supported (2 and 3 are)");
    const auto n_tensors = r.read<std::uint64_t>("the tensor count");
    const auto n_kv = r.read<std::uint64_t>("the metadata count");
    // A key-value pair takes at least 8 + 4 + 1 bytes, a tensor info 8 + 4 + 8 + 4 + 8.
    if (n_kv > r.left() / 13) fail(source_, ": metadata count ", n_kv, " cannot fit in a file of ", bytes.size(), " bytes");
    if (n_tensors > r.left() / 32) fail(source_, ": tensor count ", n_tensors, " cannot fit in a file of ", bytes.size(), " bytes");
    for (std::uint64_t i = 0; i < n_kv; ++i) {
      std::string key = r.string("metadata key " + std::to_string(i));
      const auto type = r.read<std::uint32_t>("the type of '" + key + "'");
      GgufValue v = read_value(r, type, key, 0);
      if (!metadata_.emplace(key, std::move(v)).second) fail(source_, ": metadata key '", key, "' appears twice");
    }
    alignment_ = 32;
    if (const GgufValue* a = find("general.alignment")) {
      if (!a->is_integer()) fail(source_, ": general.alignment is not an integer");
      const std::int64_t al = a->as_int("general.alignment");
      if (al <= 0 || al > (1 << 20) || (al & (al - 1)) != 0)
        fail(source_, ": general.alignment ", al, " is not a power of two up to 2^20");
      alignment_ = static_cast<std::uint64_t>(al);
    }
    std::vector<std::uint64_t> sizes;
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
      GgufTensor t;
      t.name = r.string("tensor name " + std::to_string(i));
      const std::string where = source_ + ": tensor '" + t.name + "'";
      const auto nd = r.read<std::uint32_t>(t.name + " n_dims");
      if (nd < 1 || nd > 4) fail(where, ": ", nd, " dimensions (1 to 4 allowed)");
      std::uint64_t numel = 1;
      for (std::uint32_t d = 0; d < nd; ++d) {
        const auto dim = r.read<std::uint64_t>(t.name + " dims");
        if (dim == 0 || dim > (std::uint64_t{1} << 40)) fail(where, ": dimension ", d, " is ", dim);
        if (numel > (std::uint64_t{1} << 48) / dim) fail(where, ": more elements than any file can hold");
        numel *= dim;
        t.dims.push_back(static_cast<Index>(dim));
      }
      t.type = r.read<std::uint32_t>(t.name + " type");
      const auto block = ggml_block(t.type);
      if (!block) fail(where, ": unknown ggml type id ", t.type);
      if (t.dims[0] % block->first != 0)
        fail(where, ": row length ", t.dims[0], " is not a multiple of the ", ggml_type_name(t.type), " block of ", block->first);
      t.offset = r.read<std::uint64_t>(t.name + " offset");
      if (t.offset % alignment_ != 0) fail(where, ": offset ", t.offset, " is not a multiple of the alignment ", alignment_);
      const std::uint64_t size = numel / static_cast<std::uint64_t>(block->first) * static_cast<std::uint64_t>(block->second);
      sizes.push_back(size);  // placed in the data section below
      if (index_.count(t.name)) fail(where, ": appears twice");
      index_[t.name] = tensors_.size();
      tensors_.push_back(std::move(t));
    }
    const std::uint64_t data = (r.pos + alignment_ - 1) / alignment_ * alignment_;
    data_offset_ = data;
    if (data > bytes.size() && !tensors_.empty())
      fail(source_, ": the data section would start at byte ", data, ", past the end of the file (", bytes.size(), " bytes)");
    // Tensors: inside the data section and not overlapping.
    std::vector<std::pair<std::uint64_t, std::size_t>> order;
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      GgufTensor& t = tensors_[i];
      const std::uint64_t size = sizes[i];
      const std::uint64_t avail = bytes.size() - data;
      if (t.offset > avail || size > avail - t.offset)
        fail(source_, ": tensor '", t.name, "' (", ggml_type_name(t.type), ", ", size, " bytes at offset ", t.offset,
             ") runs past the end of the file (data section of ", avail, " bytes)");
      t.bytes = bytes.subspan(static_cast<std::size_t>(data + t.offset), static_cast<std::size_t>(size));
      order.emplace_back(t.offset, i);
    }
    std::sort(order.begin(), order.end());
    for (std::size_t k = 1; k < order.size(); ++k) {
      const GgufTensor& a = tensors_[order[k - 1].second];
      const GgufTensor& b = tensors_[order[k].second];
      if (a.offset + a.bytes.size() > b.offset) fail(source_, ": tensors '", a.name, "' and '", b.name, "' overlap");
    }
  }

  MappedFile file_;
  std::vector<std::byte> owned_;
  std::string source_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensor> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace littlebit::io
