// littlebit/io/packed_linear.hpp: littlebit's own file layout of a packed factorized layer
// (docs/format.md, "Packed layer"), in safetensors.
//
// Tensors of one layer under a prefix P (names "P.<tensor>", or "<tensor>" for an empty prefix);
// the residual path's names carry the suffix "_R":
//   U_sign  U8  [m, ceil(r / 8)]   sign(U) rows packed along r, LSB first, bit 1 = -1, pad bits 0
//   V_sign  U8  [r, ceil(n / 8)]   sign(V) rows packed along n
//   h       F16 [m]                 (official u1)
//   ell     F16 [r]                 (official v1 * u2)
//   g       F16 [n]                 (official v2)
//   bias    F32 [m]                 optional, one per layer
// A file holding one layer carries the metadata format = "littlebit-packed-linear", version = "1".
// Every byte of the tensors is what PackedFactorizedLinear::storage_bits() counts.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/io/safetensors.hpp"
#include "littlebit/layer/packed_factorized_linear.hpp"

namespace littlebit::io {

inline constexpr const char* kPackedLinearFormat = "littlebit-packed-linear";
inline constexpr const char* kPackedLinearVersion = "1";

namespace detail {

inline std::string join_name(std::string_view prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : std::string(prefix) + "." + std::string(name);
}

/// rows x ceil(cols / 8) bytes: each row's packed bits, padding bits of the last byte cleared.
inline std::vector<std::uint8_t> sign_bytes(BitMatrixView s) {
  const Index per_row = (s.cols() + 7) / 8;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(s.rows() * per_row));
  for (Index i = 0; i < s.rows(); ++i) {
    std::uint8_t* dst = out.data() + i * per_row;
    std::memcpy(dst, s.row_data(i), static_cast<std::size_t>(per_row));  // little-endian words: LSB-first bytes
    if (s.cols() % 8 != 0) dst[per_row - 1] &= static_cast<std::uint8_t>((1u << (s.cols() % 8)) - 1);
  }
  return out;
}

/// The inverse of sign_bytes for a tensor named `name`; checks shape, dtype and padding bits.
inline BitMatrix signs_from_bytes(const TensorView& t, Index rows, Index cols) {
  const std::string& name = t.name;
  if (t.dtype != DType::kU8)
    littlebit::detail::fail("tensor '", name, "': expected dtype U8, found ", dtype_name(t.dtype));
  const Index per_row = (cols + 7) / 8;
  if (t.shape.size() != 2 || t.shape[0] != rows || t.shape[1] != per_row)
    littlebit::detail::fail("tensor '", name, "': expected shape [", rows, ", ", per_row, "] (", rows, " x ", cols,
                            " signs), found ", TensorView::shape_string(t.shape));
  BitMatrix out(rows, cols);
  const auto* src = reinterpret_cast<const std::uint8_t*>(t.bytes.data());
  for (Index i = 0; i < rows; ++i) {
    const std::uint8_t* row = src + i * per_row;
    if (cols % 8 != 0 && (row[per_row - 1] >> (cols % 8)) != 0)
      littlebit::detail::fail("tensor '", name, "': row ", i, " has padding bits set after column ", cols);
    std::memcpy(out.row_data(i), row, static_cast<std::size_t>(per_row));
  }
  return out;
}

/// An F16 vector tensor; its length is returned through `size` when size < 0, else checked.
inline std::vector<Float16> fp16_vector(const TensorView& t, Index& size, const char* what) {
  if (t.dtype != DType::kF16)
    littlebit::detail::fail("tensor '", t.name, "': expected dtype F16, found ", dtype_name(t.dtype));
  if (t.shape.size() != 1) littlebit::detail::fail("tensor '", t.name, "': expected a vector, found shape ",
                                                   TensorView::shape_string(t.shape));
  if (size >= 0 && t.shape[0] != size)
    littlebit::detail::fail("tensor '", t.name, "': expected ", size, " entries (", what, "), found ", t.shape[0]);
  size = t.shape[0];
  std::vector<Float16> out(static_cast<std::size_t>(size));
  std::memcpy(out.data(), t.bytes.data(), out.size() * sizeof(Float16));
  return out;
}

}  // namespace detail

/// Adds the layer's tensors under `prefix` (see the file comment).
inline void add_packed_linear(SafetensorsBuilder& out, std::string_view prefix, const PackedFactorizedLinear& layer) {
  if (layer.num_paths() == 0) littlebit::detail::fail("add_packed_linear: empty layer '", prefix, "'");
  for (int p = 0; p < layer.num_paths(); ++p) {
    const std::string sfx = p == 0 ? "" : "_R";
    const PackedPath q = layer.path(p);
    const Index m = q.out_features(), r = q.rank(), n = q.in_features();
    out.add(detail::join_name(prefix, "U_sign" + sfx), detail::sign_bytes(q.u_sign.view()), {m, (r + 7) / 8});
    out.add(detail::join_name(prefix, "V_sign" + sfx), detail::sign_bytes(q.v_sign.view()), {r, (n + 7) / 8});
    out.add(detail::join_name(prefix, "h" + sfx), q.h, {m});
    out.add(detail::join_name(prefix, "ell" + sfx), q.ell, {r});
    out.add(detail::join_name(prefix, "g" + sfx), q.g, {n});
  }
  if (layer.has_bias()) out.add(detail::join_name(prefix, "bias"), layer.bias(), {layer.out_features()});
}

/// Reads the layer under `prefix`. Raises littlebit::Error naming the tensor when one is
/// missing, has the wrong dtype or shape, or when the paths disagree.
inline PackedFactorizedLinear read_packed_linear(const SafetensorsFile& f, std::string_view prefix,
                                                 kernels::Precision precision = kernels::Precision::kExact) {
  std::vector<PackedPath> paths;
  Index m = -1, n = -1;
  for (const std::string sfx : {"", "_R"}) {
    auto name = [&](const char* t) { return detail::join_name(prefix, t + sfx); };
    if (!sfx.empty()) {
      bool any = false;
      for (const char* t : {"U_sign", "V_sign", "h", "ell", "g"}) any |= f.contains(name(t));
      if (!any) break;  // no residual path
    }
    PackedPath q;
    Index r = -1;
    q.h = detail::fp16_vector(f.tensor(name("h")), m, "out_features");
    q.g = detail::fp16_vector(f.tensor(name("g")), n, "in_features");
    q.ell = detail::fp16_vector(f.tensor(name("ell")), r, "rank");
    q.u_sign = detail::signs_from_bytes(f.tensor(name("U_sign")), m, r);
    q.v_sign = detail::signs_from_bytes(f.tensor(name("V_sign")), r, n);
    paths.push_back(std::move(q));
  }
  std::vector<float> bias;
  const std::string bias_name = detail::join_name(prefix, "bias");
  if (f.contains(bias_name)) {
    const TensorView& t = f.tensor(bias_name);
    if (t.dtype != DType::kF32)
      littlebit::detail::fail("tensor '", bias_name, "': expected dtype F32, found ", dtype_name(t.dtype));
    t.require_shape({m});
    bias = t.to_vector<float>();
  }
  try {
    return PackedFactorizedLinear(paths, std::move(bias), precision);
  } catch (const Error& e) {
    littlebit::detail::fail(f.source(), ": layer '", prefix, "': ", e.what());
  }
}

/// Writes one layer as its own file (atomically), with the format metadata.
inline void save_packed_linear(const std::filesystem::path& path, const PackedFactorizedLinear& layer,
                               std::map<std::string, std::string> metadata = {}) {
  SafetensorsBuilder b;
  add_packed_linear(b, "", layer);
  metadata["format"] = kPackedLinearFormat;
  metadata["version"] = kPackedLinearVersion;
  b.write(path, metadata);
}

/// Reads a file written by save_packed_linear; raises littlebit::Error when the metadata does
/// not name this format (for the official layout see io/official_linear.hpp).
inline PackedFactorizedLinear load_packed_linear(const std::filesystem::path& path,
                                                 kernels::Precision precision = kernels::Precision::kExact) {
  const SafetensorsFile f = SafetensorsFile::open(path);
  const auto format = f.metadata_value("format");
  if (!format || *format != kPackedLinearFormat)
    littlebit::detail::fail(f.source(), ": metadata format is '", format.value_or("<none>"), "', expected '",
                            kPackedLinearFormat, "' (an official-layout file loads with load_official_linear)");
  const auto version = f.metadata_value("version");
  if (!version || *version != kPackedLinearVersion)
    littlebit::detail::fail(f.source(), ": format version '", version.value_or("<none>"), "' is not supported (this build reads ",
                            kPackedLinearVersion, ")");
  return read_packed_linear(f, "", precision);
}

}  // namespace littlebit::io
