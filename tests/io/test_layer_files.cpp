// The packed layer's two file layouts (io/packed_linear.hpp, io/official_linear.hpp): round trips,
// an official-layout file written by PyTorch (tests/tools/official_layer.py) read and written back
// bit for bit, and bad files raising littlebit::Error that names the tensor.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "littlebit/io/official_linear.hpp"
#include "littlebit/io/packed_linear.hpp"
#include "littlebit/ref/factorized.hpp"
#include "support/packed_check.hpp"
#include "support/test_util.hpp"

using namespace littlebit;
using littlebit::test::check_same;
using littlebit::test::RowMatrixXd;
using littlebit::test::RowMatrixXf;

namespace {

const std::filesystem::path kData = std::filesystem::path(LITTLEBIT_SOURCE_DIR) / "tests/data/official_layer";

std::filesystem::path temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "littlebit_test_layer_files";
  std::filesystem::create_directories(dir);
  return dir / name;
}

FactorizedLinear<float> random_layer(Index m, Index r, Index n, int paths, bool bias, std::uint64_t seed) {
  std::vector<FactorizedPathParams<float>> ps;
  for (int p = 0; p < paths; ++p) {
    const std::uint64_t k = seed + 10 * static_cast<std::uint64_t>(p);
    ps.push_back({littlebit::test::random_matrix(m, r, k).cast<float>(), littlebit::test::random_matrix(r, n, k + 1).cast<float>(),
                  littlebit::test::random_matrix(m, 1, k + 2).cast<float>(), littlebit::test::random_matrix(r, 1, k + 3).cast<float>(),
                  littlebit::test::random_matrix(r, 1, k + 4).cast<float>(), littlebit::test::random_matrix(n, 1, k + 5).cast<float>()});
  }
  return FactorizedLinear<float>(ps, bias ? Eigen::VectorXf(littlebit::test::random_matrix(m, 1, seed + 99).cast<float>())
                                          : Eigen::VectorXf());
}

RowMatrixXf forward(PackedFactorizedLinear& l, const RowMatrixXf& x) {
  RowMatrixXf y(x.rows(), l.out_features());
  l.forward(view(x), view(y));
  return y;
}

/// The file's tensors except `drop`, to add a changed one in its place.
io::SafetensorsBuilder copy_except(const io::SafetensorsFile& f, const std::string& drop) {
  io::SafetensorsBuilder b;
  for (const auto& t : f.tensors())
    if (t.name != drop) b.add_bytes(t.name, t.dtype, t.shape, t.bytes);
  return b;
}

}  // namespace

TEST_CASE("packed layer, littlebit layout: save and load give the same signs, scales, bias and forward bits") {
  for (auto [m, r, n, paths, bias] : {std::tuple{48, 40, 80, 2, true}, std::tuple{7, 3, 9, 1, false},
                                      std::tuple{64, 16, 65, 2, false}, std::tuple{1, 1, 1, 1, true}}) {
    const auto train = random_layer(m, r, n, paths, bias, static_cast<std::uint64_t>(m + n));
    PackedFactorizedLinear packed = train.pack();
    const auto path = temp_path("own.safetensors");
    io::save_packed_linear(path, packed);
    PackedFactorizedLinear back = io::load_packed_linear(path);
    check_same(packed, back);
    CHECK(std::filesystem::file_size(path) > packed.storage_bytes());
    const RowMatrixXf x = littlebit::test::random_matrix(3, n, 5).cast<float>();
    CHECK(forward(packed, x) == forward(back, x));
    // The tensors hold exactly the bytes storage_bytes() counts.
    const auto f = io::SafetensorsFile::open(path);
    std::size_t bytes = 0;
    for (const auto& t : f.tensors()) bytes += t.bytes.size();
    CHECK(bytes == packed.storage_bytes());
  }
}

TEST_CASE("packed layer, official layout: a PyTorch-written file loads, computes its forward, and writes back bit for bit") {
  const auto file = io::SafetensorsFile::open(kData / "layer.safetensors");
  const auto expected = io::SafetensorsFile::open(kData / "expected.safetensors");
  const std::string prefix = *expected.metadata_value("prefix");
  const io::OfficialLinear layer = io::read_official_linear(file, prefix);
  CHECK(layer.paths.size() == 2);
  CHECK(layer.scale_dtype == io::DType::kBF16);
  CHECK(layer.bias.size() == 48);
  CHECK(layer.buffers.size() == 3);

  io::SafetensorsBuilder out;
  io::add_official_linear(out, prefix, layer);
  REQUIRE(out.tensors().size() == file.tensors().size());
  for (const auto& t : out.tensors()) {
    CAPTURE(t.name);
    const auto& orig = file.tensor(t.name);
    CHECK(t.dtype == orig.dtype);
    CHECK(t.shape == orig.shape);
    REQUIRE(t.bytes.size() == orig.bytes.size());
    CHECK(std::memcmp(t.bytes.data(), orig.bytes.data(), t.bytes.size()) == 0);
  }

  // Forward: the official formula in float64 (from the script) against the packed form, whose
  // ell = fp16(v1 u2) is one FP16 rounding away (u1, v2 from BF16 are exact in FP16).
  PackedFactorizedLinear packed = io::to_packed(layer);
  const RowMatrixXf x = [&] {
    const auto v = expected.tensor("x").to_vector<float>();
    return RowMatrixXf(Eigen::Map<const RowMatrixXf>(v.data(), 3, 80));
  }();
  const auto yv = expected.tensor("y").to_vector<double>();
  const Eigen::Map<const RowMatrixXd> y_want(yv.data(), 3, 48);
  const RowMatrixXf y = forward(packed, x);
  // Magnitude bound M from the reference on |scales| (signs +1).
  std::vector<BitMatrix> plus;
  std::vector<std::vector<double>> s;
  std::vector<ref::FactorizedPath<double>> mags;
  for (const auto& q : layer.paths) {
    plus.emplace_back(48, 40);
    plus.emplace_back(40, 80);
    std::vector<double> h, ell, g;
    for (double e : q.u1) h.push_back(std::abs(e));
    for (std::size_t k = 0; k < q.u2.size(); ++k) ell.push_back(std::abs(q.u2[k] * q.v1[k]));
    for (double e : q.v2) g.push_back(std::abs(e));
    s.push_back(h);
    s.push_back(ell);
    s.push_back(g);
  }
  for (std::size_t p = 0; p < 2; ++p)
    mags.push_back({s[3 * p], plus[2 * p].view(), s[3 * p + 1], plus[2 * p + 1].view(), s[3 * p + 2]});
  const RowMatrixXd xa = x.cast<double>().cwiseAbs();
  RowMatrixXd m(3, 48);
  ref::factorized_forward(std::span<const ref::FactorizedPath<double>>(mags), view(xa), view(m));
  for (Index b = 0; b < 3; ++b)
    for (Index i = 0; i < 48; ++i) m(b, i) += std::abs(layer.bias[static_cast<std::size_t>(i)]);
  const Index depth = 80 + 40 + 48 + 3 + 10;
  const double bound_factor = littlebit::test::gamma<float>(depth) + 1.01 * 0x1p-11;
  for (Index b = 0; b < 3; ++b)
    for (Index i = 0; i < 48; ++i)
      CHECK_MESSAGE(std::abs(static_cast<double>(y(b, i)) - y_want(b, i)) <= bound_factor * m(b, i), "y(" << b << ", " << i << ")");
}

TEST_CASE("packed layer, official layout: packed -> official -> packed is exact, and the training form exports its scales") {
  const auto train = random_layer(33, 24, 70, 2, true, 3);
  const PackedFactorizedLinear packed = train.pack();
  const auto path = temp_path("official.safetensors");
  io::save_official_linear(path, io::to_official(packed));
  const io::OfficialLinear back = io::load_official_linear(path);
  CHECK(back.scale_dtype == io::DType::kF16);
  check_same(packed, io::to_packed(back));

  // The training form's own u1, u2, v1, v2 (rounded to BF16 here), read back as written.
  const io::OfficialLinear t = io::to_official(train, io::DType::kBF16);
  io::save_official_linear(path, t);
  const io::OfficialLinear t2 = io::load_official_linear(path);
  REQUIRE(t2.paths.size() == 2);
  CHECK(t2.scale_dtype == io::DType::kBF16);
  for (std::size_t p = 0; p < 2; ++p) {
    CHECK(t2.paths[p].u2 == t.paths[p].u2);
    CHECK(t2.paths[p].v1 == t.paths[p].v1);
    CHECK(t2.paths[p].u_sign == pack_signs(train.U(static_cast<int>(p))));
  }
  const auto f = io::SafetensorsFile::open(path);
  CHECK(f.tensor("u1").shape == std::vector<Index>{1, 33});
  CHECK(f.tensor("_split_dim_final").to_vector<std::int64_t>() == std::vector<std::int64_t>{24});
  CHECK(f.tensor("_eff_bit_target").to_vector<float>() == std::vector<float>{-1.0f});
}

TEST_CASE("packed layer files: missing tensors, wrong shapes and ranks that do not match the words raise errors naming the tensor") {
  const auto file = io::SafetensorsFile::open(kData / "layer.safetensors");
  const std::string prefix = "model.layers.0.mlp.up_proj";
  auto load = [&](const io::SafetensorsBuilder& b) {
    const auto bytes = b.serialize();
    return io::read_official_linear(io::SafetensorsFile::from_bytes(bytes), prefix);
  };
  // A missing tensor.
  CHECK_THROWS_WITH_AS(load(copy_except(file, prefix + ".v1_R")), doctest::Contains(std::string("'" + prefix + ".v1_R'").c_str()), Error);
  // A rank that does not match the packed words: U_shape says 72, U_packed holds 2 words per row (<= 64).
  {
    auto b = copy_except(file, prefix + ".U_shape");
    b.add(prefix + ".U_shape", std::vector<std::int64_t>{48, 72}, {2});
    CHECK_THROWS_WITH_AS(load(b), doctest::Contains(std::string("'" + prefix + ".V_shape'").c_str()), Error);  // V says 40
    b = copy_except(file, prefix + ".U_packed");
    std::vector<std::int32_t> words(48 * 1, 0);
    b.add(prefix + ".U_packed", words, {48, 1});
    CHECK_THROWS_WITH_AS(load(b), doctest::Contains(std::string("'" + prefix + ".U_packed'").c_str()), Error);
  }
  // A wrong scale shape.
  {
    auto b = copy_except(file, prefix + ".v2");
    std::vector<std::uint16_t> v(79, 0x3f80);
    b.add_bytes(prefix + ".v2", io::DType::kBF16, {1, 79}, std::as_bytes(std::span<const std::uint16_t>(v)));
    CHECK_THROWS_WITH_AS(load(b), doctest::Contains(std::string("'" + prefix + ".v2'").c_str()), Error);
  }
  // Padding bits set in the last word.
  {
    auto b = copy_except(file, prefix + ".V_packed");
    std::vector<std::int32_t> words(40 * 3, 0);
    words[2] = static_cast<std::int32_t>(1u << 20);  // column 64 + 20 = 84 >= 80
    b.add(prefix + ".V_packed", words, {40, 3});
    CHECK_THROWS_WITH_AS(load(b), doctest::Contains("padding bits"), Error);
  }

  // littlebit's layout.
  const auto path = temp_path("bad_own.safetensors");
  io::save_packed_linear(path, random_layer(16, 8, 24, 2, false, 7).pack());
  const auto own = io::SafetensorsFile::open(path);
  auto load_own = [&](const io::SafetensorsBuilder& b) {
    const auto bytes = b.serialize();
    return io::read_packed_linear(io::SafetensorsFile::from_bytes(bytes), "");
  };
  CHECK_THROWS_WITH_AS(load_own(copy_except(own, "ell")), doctest::Contains("'ell'"), Error);
  CHECK_THROWS_WITH_AS(load_own(copy_except(own, "V_sign_R")), doctest::Contains("'V_sign_R'"), Error);
  {
    auto b = copy_except(own, "U_sign");
    std::vector<std::uint8_t> bytes(16 * 2, 0);
    b.add("U_sign", bytes, {16, 2});  // rank 8 packs into 1 byte per row
    CHECK_THROWS_WITH_AS(load_own(b), doctest::Contains("'U_sign': expected shape [16, 1]"), Error);
  }
  {
    auto b = copy_except(own, "g_R");
    std::vector<float> g(24, 1.0f);
    b.add("g_R", g, {24});
    CHECK_THROWS_WITH_AS(load_own(b), doctest::Contains("'g_R': expected dtype F16"), Error);
  }
  // The official file is not mistaken for littlebit's layout, nor the reverse.
  CHECK_THROWS_WITH_AS(io::load_packed_linear(kData / "layer.safetensors"), doctest::Contains("load_official_linear"), Error);
  CHECK_THROWS_WITH_AS(io::load_official_linear(path), doctest::Contains("'U_shape'"), Error);
}
