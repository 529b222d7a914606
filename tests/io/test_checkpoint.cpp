// The littlebit checkpoint (io/checkpoint.hpp): layers and dense tensors round trip exactly,
// the layer list decides which tensors are layers, and malformed files raise errors naming
// what is wrong.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "littlebit/io/checkpoint.hpp"
#include "littlebit/layer/factorized_linear.hpp"
#include "support/packed_check.hpp"
#include "support/test_util.hpp"

using namespace littlebit;
using littlebit::test::check_same;
using littlebit::test::RowMatrixXf;

namespace {

PackedFactorizedLinear random_packed(Index m, Index r, Index n, int paths, bool bias, std::uint64_t seed) {
  std::vector<FactorizedPathParams<float>> ps;
  for (int p = 0; p < paths; ++p) {
    const std::uint64_t k = seed + 10 * static_cast<std::uint64_t>(p);
    auto rnd = [](Index a, Index b, std::uint64_t s) -> Eigen::MatrixXf { return littlebit::test::random_matrix(a, b, s).cast<float>(); };
    ps.push_back({rnd(m, r, k), rnd(r, n, k + 1), rnd(m, 1, k + 2), rnd(r, 1, k + 3), rnd(r, 1, k + 4), rnd(n, 1, k + 5)});
  }
  const Eigen::VectorXf b = bias ? Eigen::VectorXf(littlebit::test::random_matrix(m, 1, seed + 99).cast<float>()) : Eigen::VectorXf();
  return FactorizedLinear<float>(ps, b).pack();
}

std::string error_of(std::span<const std::byte> bytes) {
  try {
    (void)io::Checkpoint::from_bytes(bytes, "ckpt");
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

/// The bytes of a file with `tensors` and `metadata` (bypassing the writer's checks).
std::vector<std::byte> raw_file(const io::SafetensorsBuilder& b, std::map<std::string, std::string> metadata) {
  return b.serialize(metadata);
}

}  // namespace

TEST_CASE("checkpoint: layers and dense tensors round trip exactly; a layer named like another's prefix stays apart") {
  io::CheckpointWriter w;
  const auto a = random_packed(48, 40, 80, 2, true, 1);
  const auto b = random_packed(7, 3, 9, 1, false, 2);
  const auto c = random_packed(9, 8, 7, 2, false, 3);
  w.add_layer("blk.0.attn_q", a);
  w.add_layer("blk.0.attn_q.inner", b);  // a layer whose name extends another's
  w.add_layer("blk.10.ffn_down", c);
  const std::vector<float> embd = {1.0f, -2.5f, 3.0e-3f, 65504.0f, 1.0f / 3.0f, -0.0f};
  w.add_dense_as("token_embd.weight", embd, {3, 2}, io::DType::kF16);
  w.add_dense_as("norm_bf16", embd, {6}, io::DType::kBF16);
  w.add_dense_as("blk.0.attn_norm.weight", embd, {6}, io::DType::kF32);
  w.set_metadata("config", R"({"n_layer": 1})");
  CHECK(w.layer_bits() == a.storage_bits() + b.storage_bits() + c.storage_bits());
  CHECK(w.dense_bytes() == 6 * 2 + 6 * 2 + 6 * 4);

  const auto path = std::filesystem::temp_directory_path() / "littlebit_test_checkpoint.safetensors";
  w.write(path);
  const io::Checkpoint ck = io::Checkpoint::open(path);
  CHECK(ck.layer_names() == std::vector<std::string>{"blk.0.attn_q", "blk.0.attn_q.inner", "blk.10.ffn_down"});
  CHECK(ck.dense_names() == std::vector<std::string>{"token_embd.weight", "norm_bf16", "blk.0.attn_norm.weight"});
  check_same(ck.layer("blk.0.attn_q"), a);
  check_same(ck.layer("blk.0.attn_q.inner"), b);
  check_same(ck.layer("blk.10.ffn_down"), c);
  CHECK(ck.dense("blk.0.attn_norm.weight") == embd);  // F32: exact
  const auto f16 = ck.dense("token_embd.weight");
  const auto bf16 = ck.dense("norm_bf16");
  for (std::size_t i = 0; i < embd.size(); ++i) {
    CHECK(f16[i] == static_cast<float>(Float16(embd[i])));
    CHECK(bf16[i] == static_cast<float>(BFloat16(embd[i])));
  }
  CHECK(ck.dense_tensor("token_embd.weight").shape == std::vector<Index>{3, 2});
  CHECK(*ck.metadata_value("config") == R"({"n_layer": 1})");
  CHECK_THROWS_WITH_AS((void)ck.layer("blk.1.attn_q"), doctest::Contains("no packed layer 'blk.1.attn_q'"), Error);
  CHECK_THROWS_WITH_AS((void)ck.dense("nope"), doctest::Contains("no dense tensor 'nope'"), Error);

  // Same bytes through serialize().
  const auto bytes = w.serialize();
  CHECK(bytes.size() == std::filesystem::file_size(path));
}

TEST_CASE("checkpoint writer: reserved keys, duplicate layers and dense names inside a layer are refused") {
  io::CheckpointWriter w;
  w.add_layer("l", random_packed(8, 8, 8, 1, false, 4));
  CHECK_THROWS_WITH_AS(w.add_layer("l", random_packed(8, 8, 8, 1, false, 5)), doctest::Contains("'l' added twice"), Error);
  const std::vector<float> v(8, 1.0f);
  CHECK_THROWS_WITH_AS(w.add_dense_as("l.h_R", v, {8}, io::DType::kF32), doctest::Contains("part of layer 'l'"), Error);
  CHECK_THROWS_WITH_AS(w.add_dense_as("x", v, {8}, io::DType::kI32), doctest::Contains("F32, F16 or BF16"), Error);
  CHECK_THROWS_WITH_AS(w.set_metadata("format", "x"), doctest::Contains("reserved"), Error);
  CHECK_THROWS_WITH_AS(w.set_metadata(io::kCheckpointLayersKey, "[]"), doctest::Contains("reserved"), Error);
}

TEST_CASE("checkpoint reader: wrong format, bad layer lists, missing layer tensors and stray tensors raise errors naming them") {
  io::SafetensorsBuilder b;
  io::add_packed_linear(b, "l", random_packed(8, 8, 8, 2, false, 6));
  b.add("d", std::vector<float>{1, 2}, {2});
  auto meta = [](std::string layers) {
    return std::map<std::string, std::string>{{"format", "littlebit-checkpoint"}, {"version", "1"}, {"littlebit.layers", layers}};
  };
  CHECK(error_of(raw_file(b, meta(R"(["l"])"))) == "<no error>");
  CHECK(error_of(raw_file(b, {{"format", "littlebit-packed-linear"}, {"version", "1"}})).find("expected 'littlebit-checkpoint'") !=
        std::string::npos);
  CHECK(error_of(raw_file(b, {{"format", "littlebit-checkpoint"}, {"version", "2"}})).find("version '2'") != std::string::npos);
  CHECK(error_of(raw_file(b, {{"format", "littlebit-checkpoint"}, {"version", "1"}})).find("no 'littlebit.layers'") !=
        std::string::npos);
  CHECK(error_of(raw_file(b, meta("{not json"))).find("not a JSON array") != std::string::npos);
  CHECK(error_of(raw_file(b, meta(R"([3])"))).find("not a layer name") != std::string::npos);
  CHECK(error_of(raw_file(b, meta(R"(["l", "l"])"))).find("'l' listed twice") != std::string::npos);
  CHECK(error_of(raw_file(b, meta(R"(["l", "m"])"))).find("layer 'm' has no tensor 'm.U_sign'") != std::string::npos);
  // Unlisted, the layer's U8 signs are stray tensors, not dense floats.
  CHECK(error_of(raw_file(b, meta(R"([])"))).find("tensor 'l.U_sign' is neither part of a listed layer") != std::string::npos);

  // A layer with a missing scale parses as a checkpoint but its layer read names the tensor.
  io::SafetensorsBuilder c;
  const auto full = io::SafetensorsFile::from_bytes(b.serialize(), "b");
  for (const auto& t : full.tensors())
    if (t.name != "l.ell_R") c.add_bytes(t.name, t.dtype, t.shape, t.bytes);
  const auto bytes = raw_file(c, meta(R"(["l"])"));
  const auto ck = io::Checkpoint::from_bytes(bytes, "ckpt");
  CHECK_THROWS_WITH_AS((void)ck.layer("l"), doctest::Contains("l.ell_R"), Error);
}
