// littlebit/io/official_linear.hpp: the official LittleBit state-dict layout of one layer.
//
// What the official LittleBitLinear.state_dict() holds under a layer prefix P (docs/format.md,
// "Official layout"); the residual path's names carry "_R" after the matrix name:
//   U_packed / U_R_packed   I32 [m, ceil(r / 32)]  sign(U) rows, LSB first, bit 1 = -1, pad bits 0
//   U_shape  / U_R_shape    I64 [2] = (m, r)
//   V_packed / V_R_packed   I32 [r, ceil(n / 32)]  sign(V) rows
//   V_shape  / V_R_shape    I64 [2] = (r, n)
//   u1, u2, v1, v2 (and _R) [1, m], [1, r], [1, r], [1, n] in the model's dtype (BF16 in the
//                           official training, F16 or F32 elsewhere); [k] is accepted too
//   bias                    [m], optional
//   _eff_bit_target F32 [] (-1 when none), _split_dim_final I64 [], _eff_bit_actual F32 []
// OfficialLinear holds these as read, so reading and writing back reproduces every tensor
// bit for bit (scales widen to double exactly and narrow back to their dtype exactly).
//
// Conversions: to_packed() gives the inference form with h = u1, ell = v1 * u2 (the product of
// the stored values, rounded to FP16 once via float: what PyTorch's FP16 forward computes),
// g = v2, each rounded to FP16 (BF16 and F16 scales inside FP16's normal range convert exactly).
// to_official() of a packed layer writes u2 = ell, v1 = 1 (so ell = v1 * u2 exactly) in F16; of
// a training layer, its actual u1, u2, v1, v2 rounded to the chosen dtype.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "littlebit/core/bit_matrix.hpp"
#include "littlebit/core/error.hpp"
#include "littlebit/core/float16.hpp"
#include "littlebit/core/pack.hpp"
#include "littlebit/io/packed_linear.hpp"
#include "littlebit/io/safetensors.hpp"
#include "littlebit/layer/factorized_linear.hpp"
#include "littlebit/layer/packed_factorized_linear.hpp"

namespace littlebit::io {

struct OfficialLinearPath {
  BitMatrix u_sign;                   // m x r
  BitMatrix v_sign;                   // r x n
  std::vector<double> u1, u2, v1, v2;  // m, r, r, n (values of scale_dtype)
};

/// A tensor kept as read: dtype, shape, bytes.
struct RawTensor {
  DType dtype = DType::kF32;
  std::vector<Index> shape;
  std::vector<std::byte> bytes;
};

struct OfficialLinear {
  std::vector<OfficialLinearPath> paths;  // primary, then residual
  DType scale_dtype = DType::kF16;        // of u1, u2, v1, v2 (all paths)
  std::vector<double> bias;               // empty: none
  DType bias_dtype = DType::kF32;
  /// The module's buffers (_eff_bit_target, _split_dim_final, _eff_bit_actual) as read; written
  /// back unchanged. Missing ones are computed when writing (see add_official_linear).
  std::map<std::string, RawTensor> buffers;

  Index out_features() const { return paths.empty() ? 0 : paths[0].u_sign.rows(); }
  Index in_features() const { return paths.empty() ? 0 : paths[0].v_sign.cols(); }
  Index rank() const { return paths.empty() ? 0 : paths[0].u_sign.cols(); }
};

namespace detail {

inline bool is_float_dtype(DType t) {
  return t == DType::kF16 || t == DType::kBF16 || t == DType::kF32 || t == DType::kF64;
}

/// The bytes of `v` in dtype t; raises when a value does not survive the narrowing exactly
/// (a value that came from t always does).
inline std::vector<std::byte> encode_exact(const std::vector<double>& v, DType t, const std::string& name) {
  std::vector<std::byte> out(v.size() * dtype_size(t));
  for (std::size_t i = 0; i < v.size(); ++i) {
    double back = 0.0;
    std::byte* p = out.data() + i * dtype_size(t);
    switch (t) {
      case DType::kF16: { const Float16 h = from_double<Float16>(v[i]); std::memcpy(p, &h, 2); back = to_double(h); break; }
      case DType::kBF16: { const BFloat16 h = from_double<BFloat16>(v[i]); std::memcpy(p, &h, 2); back = to_double(h); break; }
      case DType::kF32: { const float h = static_cast<float>(v[i]); std::memcpy(p, &h, 4); back = h; break; }
      case DType::kF64: { std::memcpy(p, &v[i], 8); back = v[i]; break; }
      default: littlebit::detail::fail("tensor '", name, "': scales cannot be stored as ", dtype_name(t));
    }
    if (!(back == v[i]) && !(std::isnan(back) && std::isnan(v[i])))
      littlebit::detail::fail("tensor '", name, "': entry ", i, " = ", v[i], " is not exactly representable in ", dtype_name(t),
                              " (round the scales to the dtype first)");
  }
  return out;
}

inline std::vector<double> round_to(const std::vector<double>& v, DType t) {
  std::vector<double> out;
  for (double x : v) {
    switch (t) {
      case DType::kF16: out.push_back(to_double(from_double<Float16>(x))); break;
      case DType::kBF16: out.push_back(to_double(from_double<BFloat16>(x))); break;
      case DType::kF32: out.push_back(static_cast<double>(static_cast<float>(x))); break;
      default: out.push_back(x);
    }
  }
  return out;
}

/// A scale vector: [k] or [1, k], a floating dtype equal to `dtype` (set by the first one read).
inline std::vector<double> official_scale(const TensorView& t, Index size, std::optional<DType>& dtype,
                                          const char* what) {
  if (!is_float_dtype(t.dtype))
    littlebit::detail::fail("tensor '", t.name, "': expected a floating dtype, found ", dtype_name(t.dtype));
  if (dtype && *dtype != t.dtype)
    littlebit::detail::fail("tensor '", t.name, "': dtype ", dtype_name(t.dtype), " differs from the other scales' ",
                            dtype_name(*dtype));
  dtype = t.dtype;
  const bool ok = (t.shape.size() == 2 && t.shape[0] == 1 && t.shape[1] == size) ||
                  (t.shape.size() == 1 && t.shape[0] == size);
  if (!ok)
    littlebit::detail::fail("tensor '", t.name, "': expected shape [1, ", size, "] (", what, "), found ",
                            TensorView::shape_string(t.shape));
  return t.to_vector<double>();
}

/// The (rows, cols) an official *_shape tensor declares.
inline std::pair<Index, Index> official_shape(const TensorView& t) {
  if (t.dtype != DType::kI64 && t.dtype != DType::kI32)
    littlebit::detail::fail("tensor '", t.name, "': expected dtype I64, found ", dtype_name(t.dtype));
  if (t.numel() != 2)
    littlebit::detail::fail("tensor '", t.name, "': expected 2 entries (rows, cols), found shape ",
                            TensorView::shape_string(t.shape));
  const auto v = t.to_vector<std::int64_t>();
  if (v[0] <= 0 || v[1] <= 0)
    littlebit::detail::fail("tensor '", t.name, "': shape (", v[0], ", ", v[1], ") must be positive");
  return {v[0], v[1]};
}

inline BitMatrix official_signs(const TensorView& words, Index rows, Index cols) {
  if (words.dtype != DType::kI32)
    littlebit::detail::fail("tensor '", words.name, "': expected dtype I32, found ", dtype_name(words.dtype));
  const Index per_row = layout::official_words_for(cols);
  if (words.shape.size() != 2 || words.shape[0] != rows || words.shape[1] != per_row)
    littlebit::detail::fail("tensor '", words.name, "': a ", rows, " x ", cols, " sign matrix packs into [", rows, ", ",
                            per_row, "] int32 words, found shape ", TensorView::shape_string(words.shape));
  const auto v = words.to_vector<std::int32_t>();
  return import_official(v, rows, cols, "tensor '" + words.name + "'");
}

inline RawTensor raw_of(const TensorView& t) {
  return {t.dtype, t.shape, std::vector<std::byte>(t.bytes.begin(), t.bytes.end())};
}

/// The official effective bits per weight (its _compute_eff_bits): scales counted once per path.
inline double official_eff_bits(Index m, Index n, Index r, bool residual) {
  const auto a = static_cast<double>(n), b = static_cast<double>(m), s = static_cast<double>(r);
  const double num = residual ? s * 2 * (a + b + 16) + 32 * (a + b) : s * (a + b + 16) + 16 * (a + b);
  return num / (a * b);
}

}  // namespace detail

inline const char* const kOfficialBuffers[] = {"_eff_bit_target", "_split_dim_final", "_eff_bit_actual"};

/// Reads the layer under `prefix`, validating every tensor against the shapes the *_shape
/// tensors declare. Raises littlebit::Error naming the tensor on any mismatch.
inline OfficialLinear read_official_linear(const SafetensorsFile& f, std::string_view prefix) {
  OfficialLinear out;
  std::optional<DType> dtype;
  Index m = -1, n = -1, r0 = -1;
  for (const std::string sfx : {"", "_R"}) {
    auto name = [&](const std::string& t) { return detail::join_name(prefix, t); };
    if (!sfx.empty() && !f.contains(name("U_R_packed")) && !f.contains(name("U_R_shape")) && !f.contains(name("u1_R")))
      break;
    const auto [um, ur] = detail::official_shape(f.tensor(name("U" + sfx + "_shape")));
    const auto [vr, vn] = detail::official_shape(f.tensor(name("V" + sfx + "_shape")));
    if (vr != ur)
      littlebit::detail::fail("tensor '", name("V" + sfx + "_shape"), "': rank ", vr, " differs from ", name("U" + sfx + "_shape"),
                              "'s ", ur);
    if (m >= 0 && (um != m || vn != n))
      littlebit::detail::fail("tensor '", name("U" + sfx + "_shape"), "': the residual path is ", um, " x ", vn,
                              ", the primary ", m, " x ", n);
    if (r0 >= 0 && ur != r0)
      littlebit::detail::fail("tensor '", name("U" + sfx + "_shape"), "': the residual rank ", ur, " differs from the primary's ", r0);
    m = um;
    n = vn;
    r0 = ur;
    OfficialLinearPath q;
    q.u_sign = detail::official_signs(f.tensor(name("U" + sfx + "_packed")), um, ur);
    q.v_sign = detail::official_signs(f.tensor(name("V" + sfx + "_packed")), ur, vn);
    q.u1 = detail::official_scale(f.tensor(name("u1" + sfx)), um, dtype, "out_features");
    q.u2 = detail::official_scale(f.tensor(name("u2" + sfx)), ur, dtype, "rank");
    q.v1 = detail::official_scale(f.tensor(name("v1" + sfx)), ur, dtype, "rank");
    q.v2 = detail::official_scale(f.tensor(name("v2" + sfx)), vn, dtype, "in_features");
    out.paths.push_back(std::move(q));
  }
  out.scale_dtype = *dtype;
  const std::string bias_name = detail::join_name(prefix, "bias");
  if (f.contains(bias_name)) {
    const TensorView& t = f.tensor(bias_name);
    if (!detail::is_float_dtype(t.dtype))
      littlebit::detail::fail("tensor '", bias_name, "': expected a floating dtype, found ", dtype_name(t.dtype));
    t.require_shape({m});
    out.bias = t.to_vector<double>();
    out.bias_dtype = t.dtype;
  }
  for (const char* b : kOfficialBuffers) {
    const std::string nb = detail::join_name(prefix, b);
    if (f.contains(nb)) out.buffers[b] = detail::raw_of(f.tensor(nb));
  }
  return out;
}

/// Adds the layer's tensors under `prefix`. Buffers that `layer` does not carry are written as
/// the official module computes them: target -1 (none), split_dim = rank, eff_bit_actual.
inline void add_official_linear(SafetensorsBuilder& out, std::string_view prefix, const OfficialLinear& layer) {
  if (layer.paths.empty() || layer.paths.size() > 2)
    littlebit::detail::fail("add_official_linear: 1 or 2 paths, found ", layer.paths.size());
  const Index m = layer.out_features(), n = layer.in_features(), r = layer.rank();
  for (std::size_t p = 0; p < layer.paths.size(); ++p) {
    const std::string sfx = p == 0 ? "" : "_R";
    const auto& q = layer.paths[p];
    if (q.u_sign.rows() != m || q.v_sign.cols() != n || q.u_sign.cols() != r || q.v_sign.rows() != r ||
        static_cast<Index>(q.u1.size()) != m || static_cast<Index>(q.u2.size()) != r ||
        static_cast<Index>(q.v1.size()) != r || static_cast<Index>(q.v2.size()) != n)
      littlebit::detail::fail("add_official_linear: path ", p, " of layer '", prefix, "' does not match ", m, " x ", n,
                              " at rank ", r);
    auto name = [&](const std::string& t) { return detail::join_name(prefix, t); };
    out.add(name("U" + sfx + "_packed"), export_official(q.u_sign.view()), {m, layout::official_words_for(r)});
    out.add(name("U" + sfx + "_shape"), std::vector<std::int64_t>{m, r}, {2});
    out.add(name("V" + sfx + "_packed"), export_official(q.v_sign.view()), {r, layout::official_words_for(n)});
    out.add(name("V" + sfx + "_shape"), std::vector<std::int64_t>{r, n}, {2});
    const std::pair<const char*, const std::vector<double>*> scales[] = {
        {"u1", &q.u1}, {"u2", &q.u2}, {"v1", &q.v1}, {"v2", &q.v2}};
    for (const auto& [base, v] : scales) {
      const std::string nm = name(base + sfx);
      out.add_bytes(nm, layer.scale_dtype, {1, static_cast<Index>(v->size())}, detail::encode_exact(*v, layer.scale_dtype, nm));
    }
  }
  if (!layer.bias.empty()) {
    const std::string nm = detail::join_name(prefix, "bias");
    out.add_bytes(nm, layer.bias_dtype, {m}, detail::encode_exact(layer.bias, layer.bias_dtype, nm));
  }
  const bool residual = layer.paths.size() == 2;
  for (const char* b : kOfficialBuffers) {
    const std::string nm = detail::join_name(prefix, b);
    if (auto it = layer.buffers.find(b); it != layer.buffers.end()) {
      out.add_bytes(nm, it->second.dtype, it->second.shape, it->second.bytes);
    } else if (std::string_view(b) == "_split_dim_final") {
      out.add(nm, std::vector<std::int64_t>{r}, {});
    } else {
      const float v = std::string_view(b) == "_eff_bit_target" ? -1.0f
                                                               : static_cast<float>(detail::official_eff_bits(m, n, r, residual));
      out.add(nm, std::vector<float>{v}, {});
    }
  }
}

/// The inference form (see the file comment for the scale conversion). Raises littlebit::Error
/// naming the tensor when a scale does not fit FP16.
inline PackedFactorizedLinear to_packed(const OfficialLinear& layer,
                                        kernels::Precision precision = kernels::Precision::kExact) {
  std::vector<PackedPath> paths;
  for (std::size_t p = 0; p < layer.paths.size(); ++p) {
    const auto& q = layer.paths[p];
    const std::string sfx = p == 0 ? "" : "_R";
    // The product of two scales of a 16-bit dtype is exact in float; of F32 scales it rounds once
    // to float first, as PyTorch's float product does.
    std::vector<double> ell(q.v1.size());
    for (std::size_t i = 0; i < ell.size(); ++i) ell[i] = static_cast<double>(static_cast<float>(q.v1[i] * q.u2[i]));
    paths.push_back({q.u_sign, q.v_sign, to_float16(q.u1, "tensor 'u1" + sfx + "'"),
                     to_float16(ell, "tensor 'v1" + sfx + " * u2" + sfx + "'"), to_float16(q.v2, "tensor 'v2" + sfx + "'")});
  }
  std::vector<float> bias;
  for (double b : layer.bias) bias.push_back(static_cast<float>(b));
  return PackedFactorizedLinear(paths, std::move(bias), precision);
}

/// The official layout of a packed layer: u1 = h, u2 = ell, v1 = 1, v2 = g (F16, exact).
inline OfficialLinear to_official(const PackedFactorizedLinear& layer) {
  OfficialLinear out;
  out.scale_dtype = DType::kF16;
  auto wide = [](const std::vector<Float16>& v) {
    std::vector<double> o;
    for (Float16 h : v) o.push_back(to_double(h));
    return o;
  };
  for (int p = 0; p < layer.num_paths(); ++p) {
    PackedPath q = layer.path(p);
    OfficialLinearPath o{std::move(q.u_sign), std::move(q.v_sign), wide(q.h), wide(q.ell),
                         std::vector<double>(q.ell.size(), 1.0), wide(q.g)};
    out.paths.push_back(std::move(o));
  }
  for (float b : layer.bias()) out.bias.push_back(b);
  return out;
}

/// The official layout of a training layer: signs of U, V and its u1, u2, v1, v2 rounded to
/// `scale_dtype` (bias too).
template <class Scalar>
OfficialLinear to_official(const FactorizedLinear<Scalar>& layer, DType scale_dtype = DType::kF16) {
  if (!detail::is_float_dtype(scale_dtype)) littlebit::detail::fail("to_official: scale dtype ", dtype_name(scale_dtype), " is not floating");
  OfficialLinear out;
  out.scale_dtype = scale_dtype;
  out.bias_dtype = scale_dtype;
  auto vec = [&](const auto& v) {
    std::vector<double> o;
    for (Index i = 0; i < v.size(); ++i) o.push_back(static_cast<double>(v(i)));
    return detail::round_to(o, scale_dtype);
  };
  for (int p = 0; p < layer.num_paths(); ++p) {
    const std::string sfx = p == 0 ? "" : "_R";
    out.paths.push_back({pack_signs(layer.U(p), "U" + sfx), pack_signs(layer.V(p), "V" + sfx), vec(layer.u1(p)),
                         vec(layer.u2(p)), vec(layer.v1(p)), vec(layer.v2(p))});
  }
  if (layer.has_bias()) out.bias = vec(layer.bias());
  return out;
}

/// One layer as its own file (atomically), prefix "", metadata format = "littlebit-official-linear".
inline void save_official_linear(const std::filesystem::path& path, const OfficialLinear& layer,
                                 std::map<std::string, std::string> metadata = {}) {
  SafetensorsBuilder b;
  add_official_linear(b, "", layer);
  metadata.emplace("format", "littlebit-official-linear");
  b.write(path, metadata);
}

/// Reads the layer with prefix `prefix` (default: none) of an official-layout file.
inline OfficialLinear load_official_linear(const std::filesystem::path& path, std::string_view prefix = "") {
  return read_official_linear(SafetensorsFile::open(path), prefix);
}

}  // namespace littlebit::io
