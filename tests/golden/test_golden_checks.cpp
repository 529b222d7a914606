// The golden checks can fail: every golden file passes as shipped, and a copy with one output
// value corrupted (a bit of a packed word, a rank, an achieved BPW in its last bit, a gradient,
// a reconstruction) fails. Runs on the files in tests/data/golden.
#include <doctest/doctest.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "golden/golden_checks.hpp"

using namespace littlebit;
namespace fs = std::filesystem;

namespace {

using golden::Check;
using golden::checks;

/// A copy of `f` with `edit` applied to the bytes of tensor `name`.
io::SafetensorsFile mutated(const io::SafetensorsFile& f, const std::string& name,
                            const std::function<void(std::vector<std::byte>&, io::DType)>& edit) {
  std::vector<std::vector<std::byte>> store;
  std::vector<io::TensorToWrite> ts;
  store.reserve(f.tensors().size());
  for (const auto& t : f.tensors()) {
    store.emplace_back(t.bytes.begin(), t.bytes.end());
    if (t.name == name) edit(store.back(), t.dtype);
    ts.push_back({t.name, t.dtype, t.shape, store.back()});
  }
  return io::SafetensorsFile::from_bytes(io::serialize_safetensors(ts, f.metadata()), name + " mutated");
}

/// Adds delta to element k of an F64 tensor.
void add_f64(std::vector<std::byte>& b, std::size_t k, double delta) {
  double v;
  std::memcpy(&v, b.data() + 8 * k, 8);
  v += delta;
  std::memcpy(b.data() + 8 * k, &v, 8);
}

/// Tensors whose values are results (not inputs) for each kind.
std::vector<std::string> outputs(const io::SafetensorsFile& f, const std::string& kind) {
  std::vector<std::string> out;
  if (kind == "pack") return {"packed"};
  if (kind == "ranks") return {"table"};
  for (const auto& t : f.tensors()) {
    const std::string& n = t.name;
    if (kind == "factorized_linear" && (n == "y" || n == "dx" || n[0] == 'd')) out.push_back(n);
    if (kind == "dual_svid" && n != "W") out.push_back(n);
  }
  return out;
}

fs::path golden_dir() { return fs::path(LITTLEBIT_SOURCE_DIR) / "tests" / "data" / "golden"; }

}  // namespace

TEST_CASE("golden checks pass every shipped file and fail a corrupted copy of each output") {
  int files = 0, corruptions = 0;
  for (const auto& e : fs::directory_iterator(golden_dir())) {
    if (e.path().extension() != ".safetensors") continue;
    const auto f = io::SafetensorsFile::open(e.path());
    const std::string kind = f.metadata_value("kind").value_or("");
    REQUIRE(checks().count(kind) == 1);
    const Check& check = checks().at(kind);
    CAPTURE(e.path().filename().string());
    CHECK_NOTHROW(check(f));
    ++files;

    for (const std::string& name : outputs(f, kind)) {
      CAPTURE(name);
      const auto& t = f.tensor(name);
      const std::size_t mid = static_cast<std::size_t>(t.numel() / 2);
      if (kind == "pack") {  // flip one bit of a packed word
        CHECK_THROWS(check(mutated(f, name, [&](auto& b, io::DType) { b[4 * mid] ^= std::byte{1}; })));
      } else if (kind == "ranks") {  // the rank of the middle row by 8, then its BPW by one ulp
        const auto cols = static_cast<std::size_t>(t.shape[1]);
        const std::size_t row = static_cast<std::size_t>(t.shape[0] / 2);
        CHECK_THROWS(check(mutated(f, name, [&](auto& b, io::DType) { add_f64(b, row * cols + 5, 8.0); })));
        CHECK_THROWS(check(mutated(f, name, [&](auto& b, io::DType) {
          double v;
          std::memcpy(&v, b.data() + 8 * (row * cols + 6), 8);
          v = std::nextafter(v, 2 * v + 1);
          std::memcpy(b.data() + 8 * (row * cols + 6), &v, 8);
        })));
      } else {
        // Far above the derived bounds (~1e-14 of the magnitudes) and the 1e-6 Frobenius
        // tolerance of Dual-SVID, far below anything a real bug would produce.
        const auto all = t.to_vector<double>();
        double scale = 0.0;
        for (double v : all) scale = std::max(scale, std::abs(v));
        const double delta = kind == "dual_svid" ? 1e-3 * scale : 1e-8 * (scale + 1.0);
        CHECK_THROWS(check(mutated(f, name, [&](auto& b, io::DType) { add_f64(b, mid, delta); })));
      }
      ++corruptions;
    }
  }
  CHECK(files >= 4);
  CHECK(corruptions >= files);
}
