// Golden kind "pack": the official packed layout of a sign matrix, bit for bit.
// Tensors: signs (I8, rows x cols, +1/-1), packed (I32, rows x ceil(cols / 32)).
#pragma once

#include <string>
#include <vector>

#include "golden_util.hpp"
#include "littlebit/core/pack.hpp"
#include "littlebit/ref/pack.hpp"

namespace littlebit::golden {

inline std::string check_pack(const io::SafetensorsFile& f) {
  const auto& st = f.tensor("signs");
  if (st.shape.size() != 2) littlebit::detail::fail("tensor 'signs': expected a matrix");
  const Index rows = st.shape[0], cols = st.shape[1];
  const auto signs = st.to_vector<std::int32_t>();
  for (std::size_t k = 0; k < signs.size(); ++k)
    if (signs[k] != 1 && signs[k] != -1)
      throw CheckFailed("signs element " + std::to_string(k) + " is " + std::to_string(signs[k]) + ", not +1/-1");
  f.tensor("packed").require_shape({rows, layout::official_words_for(cols)});
  const auto packed = f.tensor("packed").to_vector<std::int32_t>();

  const MatrixView<const std::int32_t> sv(signs.data(), rows, cols);
  const BitMatrix ours = pack_signs(sv, "signs");
  if (!(ours == ref::pack_signs(sv))) throw CheckFailed("pack_signs differs from ref::pack_signs");
  if (!ours.padding_is_zero()) throw CheckFailed("padding bits are not zero");
  const auto exported = export_official(ours);
  for (std::size_t k = 0; k < packed.size(); ++k)
    if (exported[k] != packed[k])
      throw CheckFailed("packed word " + std::to_string(k) + ": ours " + std::to_string(exported[k]) + ", golden " +
                        std::to_string(packed[k]));
  const BitMatrix imported = import_official(packed, rows, cols, "packed");
  if (!(imported == ours)) throw CheckFailed("import_official(packed) differs from pack_signs(signs)");
  return std::to_string(rows) + " x " + std::to_string(cols) + " signs, " + std::to_string(packed.size()) +
         " words bit-exact both ways";
}

}  // namespace littlebit::golden
