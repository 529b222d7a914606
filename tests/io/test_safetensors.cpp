// The safetensors reader and writer: round trips of every dtype, conversions, metadata, atomic
// writes, and malformed files, each of which must raise littlebit::Error (never crash).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <stdlib.h>  // mkdtemp

#include "littlebit/io/safetensors.hpp"

using namespace littlebit;
using namespace littlebit::io;
namespace fs = std::filesystem;

namespace {

/// A scratch directory, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "littlebit_st_XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() { fs::remove_all(path); }
  std::vector<std::string> entries() const {
    std::vector<std::string> e;
    for (const auto& d : fs::directory_iterator(path)) e.push_back(d.path().filename().string());
    return e;
  }
};

/// Bytes of a file with the given header text and data section; `length` overrides the
/// declared header length.
std::vector<std::byte> craft(const std::string& header, std::size_t data_bytes,
                             std::optional<std::uint64_t> length = std::nullopt) {
  const std::uint64_t n = length.value_or(header.size());
  std::vector<std::byte> b(8 + header.size() + data_bytes, std::byte{0});
  for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  std::memcpy(b.data() + 8, header.data(), header.size());
  return b;
}

void expect_error(const std::vector<std::byte>& bytes, const std::string& fragment) {
  CAPTURE(fragment);
  CHECK_THROWS_WITH_AS(SafetensorsFile::from_bytes(bytes, "bad.safetensors"), doctest::Contains(fragment.c_str()), Error);
}

}  // namespace

TEST_CASE("safetensors: every dtype round trips through a file, with metadata") {
  TempDir dir;
  const std::vector<double> f64 = {1.5, -2.25, 1e300, -0.0};
  const std::vector<float> f32 = {1.0f, -3.5f, 7.25f, 0.1f, 2.0f, -1.0f};
  const std::vector<Float16> f16 = {Float16(1.0f), Float16(-0.5f), Float16(65504.0f)};
  const std::vector<BFloat16> bf16 = {BFloat16(3.0f), BFloat16(-1e30f)};
  const std::vector<std::int64_t> i64 = {std::numeric_limits<std::int64_t>::min(), 5};
  const std::vector<std::int32_t> i32 = {-7, 1 << 30, 0};
  const std::vector<std::int8_t> i8 = {-128, 127, 1, -1};
  const std::vector<std::uint8_t> u8 = {0, 255};
  const std::vector<float> empty;
  const std::vector<TensorToWrite> ts = {
      tensor_to_write("w.f64", std::span<const double>(f64), {2, 2}),
      tensor_to_write("w.f32", std::span<const float>(f32), {2, 3}),
      tensor_to_write("w.f16", std::span<const Float16>(f16), {3}),
      tensor_to_write("w.bf16", std::span<const BFloat16>(bf16), {2, 1}),
      tensor_to_write("w.i64", std::span<const std::int64_t>(i64), {2}),
      tensor_to_write("w.i32", std::span<const std::int32_t>(i32), {3}),
      tensor_to_write("w.i8", std::span<const std::int8_t>(i8), {2, 2}),
      tensor_to_write("w.u8", std::span<const std::uint8_t>(u8), {2}),
      tensor_to_write("empty", std::span<const float>(empty), {0, 4}),
  };
  const fs::path path = dir.path / "all.safetensors";
  write_safetensors(path, ts, {{"kind", "test"}, {"note", "ünïcode ok"}});

  const auto f = SafetensorsFile::open(path);
  CHECK(f.metadata_value("kind") == "test");
  CHECK(f.metadata_value("note") == "ünïcode ok");
  CHECK_FALSE(f.metadata_value("missing").has_value());
  REQUIRE(f.tensors().size() == ts.size());
  CHECK(f.tensor("w.f64").to_vector<double>() == f64);
  CHECK(f.tensor("w.f32").to_vector<float>() == f32);
  CHECK(f.tensor("w.f16").to_vector<Float16>() == f16);
  CHECK(f.tensor("w.bf16").to_vector<BFloat16>() == bf16);
  CHECK(f.tensor("w.i64").to_vector<std::int64_t>() == i64);
  CHECK(f.tensor("w.i32").to_vector<std::int32_t>() == i32);
  CHECK(f.tensor("w.i8").to_vector<std::int8_t>() == i8);
  CHECK(f.tensor("w.u8").to_vector<std::uint8_t>() == u8);
  CHECK(f.tensor("empty").numel() == 0);
  CHECK(f.tensor("w.f32").shape == std::vector<Index>{2, 3});
  f.tensor("w.f32").require_shape({2, 3});
  CHECK_THROWS_WITH_AS(f.tensor("w.f32").require_shape({3, 2}),
                       doctest::Contains("tensor 'w.f32': expected shape [3, 2], found [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(f.tensor("nope"), doctest::Contains("no tensor named 'nope'"), Error);

  // Header padded so the data section starts 8-byte aligned in the file.
  std::ifstream in(path, std::ios::binary);
  std::uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  CHECK(n % 8 == 0);
}

TEST_CASE("safetensors: conversions between dtypes") {
  const std::vector<float> f32 = {1.0f, -2.5f, 0.1f};
  const std::vector<std::int32_t> i32 = {300, -5};
  const std::vector<TensorToWrite> ts = {tensor_to_write("f", std::span<const float>(f32), {3}),
                                         tensor_to_write("i", std::span<const std::int32_t>(i32), {2})};
  const auto f = SafetensorsFile::from_bytes(serialize_safetensors(ts));
  const auto d = f.tensor("f").to_vector<double>();  // exact widening
  CHECK(d[2] == static_cast<double>(0.1f));
  CHECK(f.tensor("f").to_vector<Float16>()[1] == Float16(-2.5f));
  CHECK(f.tensor("i").to_vector<double>() == std::vector<double>{300.0, -5.0});
  CHECK(f.tensor("i").to_vector<std::int64_t>() == std::vector<std::int64_t>{300, -5});
  CHECK_THROWS_WITH_AS(f.tensor("i").to_vector<std::int8_t>(), doctest::Contains("element 0 = 300 does not fit"), Error);
  CHECK_THROWS_WITH_AS(f.tensor("f").to_vector<std::int32_t>(), doctest::Contains("cannot read F32 data as integers"),
                       Error);
  std::vector<float> small(2);
  CHECK_THROWS_AS(f.tensor("f").copy_to(std::span<float>(small)), Error);
}

TEST_CASE("safetensors: a file of Python's safetensors layout (unpadded header, sorted keys) reads") {
  // Offsets listed out of data order and a header that is not a multiple of 8 long.
  const std::string h =
      R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"I8","shape":[2,2],"data_offsets":[0,4]}})";
  auto bytes = craft(h, 8);
  const float one = 1.0f;
  std::memcpy(bytes.data() + 8 + h.size() + 4, &one, 4);
  const auto f = SafetensorsFile::from_bytes(bytes);
  CHECK(f.tensors()[0].name == "a");  // data order
  CHECK(f.tensor("b").to_vector<float>()[0] == 1.0f);
}

TEST_CASE("safetensors: malformed files raise littlebit::Error naming what is wrong") {
  const std::string ok_entry = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  expect_error({}, "shorter than the 8-byte header length");
  expect_error(std::vector<std::byte>(5), "shorter than the 8-byte header length");
  expect_error(craft("{" + ok_entry + "}", 8, 1000), "header length 1000 exceeds the");
  expect_error(craft("{" + ok_entry + "}", 8, std::uint64_t{1} << 63), "exceeds the");
  expect_error(craft("{}", 0, 1), "cannot hold a JSON object");
  expect_error(craft("[1, 2]", 0), "does not start with '{'");
  expect_error(craft("{\"t\": {\"dtype\": ", 0), "header is not valid JSON");
  expect_error(craft(R"({"t":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2),
               "tensor 't': unsupported dtype 'F8_E4M3'");
  expect_error(craft("{" + ok_entry + "}", 4), "tensor 't': data_offsets [0, 8] extend past the data section of 4 bytes");
  expect_error(craft(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8), "run backwards");
  expect_error(craft(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
               "tensor 't': shape [3] of F32 needs 12 bytes, data_offsets span 8");
  expect_error(craft(R"({"t":{"dtype":"F64","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,8]}})", 8),
               "declares more bytes than can exist");
  expect_error(craft(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
               "shape entries must be nonnegative integers");
  expect_error(craft(R"({"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8),
               "shape entries must be nonnegative integers");
  expect_error(craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
               "tensor 'b' at [4, 12) overlaps tensor 'a' ending at 8");
  expect_error(craft(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
               "data bytes [4, 8) before tensor 'b' belong to no tensor");
  expect_error(craft("{" + ok_entry + "}", 12), "data bytes [8, 12) at the end belong to no tensor");
  expect_error(craft(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
               "has the key 't' twice");
  expect_error(craft(R"({"__metadata__":{"k":5}})", 0), "__metadata__ value of 'k' is not a string");
  expect_error(craft(R"({"t":{"dtype":"F32","shape":[2]}})", 8), "tensor 't': data_offsets must be an array");
  expect_error(craft(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", 8), "data_offsets must be an array");
  expect_error(craft(R"({"t":{"shape":[2],"data_offsets":[0,8]}})", 8), "missing or non-string dtype");
  expect_error(craft(R"({"t":[1,2]})", 0), "tensor 't': entry is not an object");
  expect_error(craft(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,-8]}})", 8), "must be nonnegative integers");
}

TEST_CASE("safetensors: random corruption of a valid file never crashes") {
  const std::vector<float> f32(64, 1.0f);
  const std::vector<TensorToWrite> ts = {tensor_to_write("a", std::span<const float>(f32), {8, 8}),
                                         tensor_to_write("b", std::span<const float>(f32), {64})};
  const auto good = serialize_safetensors(ts, {{"kind", "x"}});
  std::uint64_t state = 12345;
  int errors = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    auto bytes = good;
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const std::size_t at = static_cast<std::size_t>((state >> 33) % (8 + 160));  // length and header
    bytes[at] = static_cast<std::byte>(state >> 13);
    if (trial % 3 == 0) bytes.resize(static_cast<std::size_t>((state >> 40) % bytes.size()));
    try {
      const auto f = SafetensorsFile::from_bytes(bytes);
      for (const auto& t : f.tensors()) CHECK(t.bytes.size() == static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype));
    } catch (const Error&) {
      ++errors;
    }
  }
  CHECK(errors > 0);
}

TEST_CASE("safetensors: writing is atomic; bad tensors write nothing; errors name the file") {
  TempDir dir;
  const fs::path path = dir.path / "model.safetensors";
  const std::vector<float> v = {1.0f, 2.0f};
  const std::vector<TensorToWrite> good = {tensor_to_write("v", std::span<const float>(v), {2})};
  write_safetensors(path, good);
  const auto before = fs::file_size(path);

  const std::vector<TensorToWrite> bad_shape = {tensor_to_write("v", std::span<const float>(v), {3})};
  CHECK_THROWS_WITH_AS(write_safetensors(path, bad_shape), doctest::Contains("tensor 'v' of shape [3] and dtype F32 needs 12 bytes, 8 given"),
                       Error);
  const std::vector<TensorToWrite> twice = {good[0], good[0]};
  CHECK_THROWS_WITH_AS(write_safetensors(path, twice), doctest::Contains("tensor 'v' given twice"), Error);
  // A failure in the middle of writing leaves the old file and no temporary behind.
  CHECK_THROWS_AS(write_file_atomically(path,
                                        [](std::FILE* f) {
                                          write_bytes(f, "partial", 7);
                                          littlebit::detail::fail("disk full (simulated)");
                                        }),
                  Error);
  CHECK(fs::file_size(path) == before);
  CHECK(SafetensorsFile::open(path).tensor("v").to_vector<float>() == v);
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});

  CHECK_THROWS_WITH_AS(write_safetensors(dir.path / "no" / "such" / "dir.safetensors", good),
                       doctest::Contains("cannot create a temporary file"), Error);
  CHECK_THROWS_WITH_AS(SafetensorsFile::open(dir.path / "missing.safetensors"), doctest::Contains("cannot open"), Error);
  CHECK_THROWS_WITH_AS(SafetensorsFile::open(dir.path), doctest::Contains("not a regular file"), Error);
}
