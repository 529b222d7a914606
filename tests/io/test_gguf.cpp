// io::GgufFile against a file written by the `gguf` Python package (llama.cpp's writer and
// quantizers, tests/tools/make_gguf.py): every metadata type, F32/F16/BF16/Q8_0/Q4_0/Q4_1 tensors
// dequantized bit for bit like gguf.quants.dequantize; and malformed files: every truncation,
// hand-made bad fields, random corruptions, each raising littlebit::Error (never a crash).
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "littlebit/io/gguf.hpp"
#include "littlebit/io/safetensors.hpp"

using namespace littlebit;

namespace {

const std::filesystem::path kDir = std::filesystem::path(LITTLEBIT_SOURCE_DIR) / "tests/data/gguf";

std::vector<std::byte> file_bytes(const std::filesystem::path& p) {
  const auto m = io::MappedFile::open(p);
  return {m.bytes().begin(), m.bytes().end()};
}

/// A little-endian GGUF byte builder for hand-made files.
struct Builder {
  std::vector<std::byte> b;
  template <class T>
  Builder& put(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
    return *this;
  }
  Builder& str(const std::string& s) {
    put<std::uint64_t>(s.size());
    for (char c : s) b.push_back(static_cast<std::byte>(c));
    return *this;
  }
  Builder& pad(std::size_t align) {
    while (b.size() % align) b.push_back(std::byte{0});
    return *this;
  }
};

/// A valid file: one u32 key, one F32 tensor of dims {4, 2} at offset 0, then its 32 bytes.
Builder valid(std::uint32_t version = 3) {
  Builder g;
  g.put<std::uint32_t>(0x46554747u).put<std::uint32_t>(version).put<std::uint64_t>(1).put<std::uint64_t>(1);
  g.str("general.block_count").put<std::uint32_t>(4).put<std::uint32_t>(7);
  g.str("w").put<std::uint32_t>(2).put<std::uint64_t>(4).put<std::uint64_t>(2).put<std::uint32_t>(0).put<std::uint64_t>(0);
  g.pad(32);
  for (int i = 0; i < 8; ++i) g.put<float>(static_cast<float>(i));
  return g;
}

/// One past the last tensor byte of a valid file (an offset in the file).
std::size_t tensor_end(const std::vector<std::byte>& bytes) {
  const auto f = io::GgufFile::from_bytes(bytes);
  std::uint64_t end = 0;
  for (const auto& t : f.tensors()) end = std::max<std::uint64_t>(end, t.offset + t.bytes.size());
  return static_cast<std::size_t>(f.data_offset() + end);
}

std::string error_of(const std::vector<std::byte>& bytes) {
  try {
    (void)io::GgufFile::from_bytes(bytes, "bad.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("GgufFile reads every metadata type written by the gguf package") {
  const auto f = io::GgufFile::open(kDir / "tiny.gguf");
  CHECK(f.version() == 3);
  CHECK(f.alignment() == 32);
  CHECK(f.get_string("general.architecture") == "llama");
  CHECK(f.get_int("test.u8") == 200);
  CHECK(f.get_int("test.i8") == -100);
  CHECK(f.get_int("test.u16") == 60000);
  CHECK(f.get_int("test.i16") == -30000);
  CHECK(f.get_int("test.u32") == 4000000000LL);
  CHECK(f.get_int("test.i32") == -2000000000LL);
  CHECK(f.get_double("test.f32") == 0.15625);
  CHECK(f.value("test.bool").as_bool());
  CHECK(f.get_string("test.string") == "h\xc3\xa9llo, w\xc3\xb6rld");
  CHECK(std::get<std::uint64_t>(f.value("test.u64").value) == (std::uint64_t{1} << 63) + 5);
  CHECK_THROWS_WITH_AS(f.get_int("test.u64"), doctest::Contains("does not fit int64"), Error);
  CHECK(f.get_int("test.i64") == -(std::int64_t{1} << 62));
  CHECK(f.get_double("test.f64") == -1.0e300);
  const auto& ints = f.value("test.int_array").as_array();
  REQUIRE(ints.size() == 3);
  CHECK(ints[1].as_int() == -2);
  CHECK(f.get_strings("test.string_array") == std::vector<std::string>{"a", "", "\xc4\xa0the"});
  CHECK(f.get_int("llama.block_count") == 2);
  CHECK(f.get_int("llama.context_length") == 512);
  CHECK_THROWS_WITH_AS(f.get_int("llama.nope"), doctest::Contains("no metadata key 'llama.nope'"), Error);
  CHECK_THROWS_WITH_AS(f.get_string("test.u8"), doctest::Contains("'test.u8' is not a string"), Error);
}

TEST_CASE("GgufFile dequantizes F32, F16, BF16, Q8_0, Q4_0 and Q4_1 exactly as llama.cpp's Python does") {
  const auto f = io::GgufFile::open(kDir / "tiny.gguf");
  const auto want = io::SafetensorsFile::open(kDir / "tiny_expected.safetensors");
  REQUIRE(f.tensors().size() == 6);
  for (const auto& [name, type] : {std::pair<std::string, io::GgmlType>{"f32", io::GgmlType::kF32},
                                   {"f16", io::GgmlType::kF16}, {"bf16", io::GgmlType::kBF16},
                                   {"q8_0", io::GgmlType::kQ8_0}, {"q4_0", io::GgmlType::kQ4_0},
                                   {"q4_1", io::GgmlType::kQ4_1}}) {
    CAPTURE(name);
    const auto& t = f.tensor(name);
    CHECK(t.type == static_cast<std::uint32_t>(type));
    const auto& e = want.tensor(name);
    CHECK(t.shape() == e.shape);  // PyTorch order
    const auto got = io::dequantize(t);
    const auto expect = e.to_vector<float>();
    REQUIRE(got.size() == expect.size());
    CHECK(std::memcmp(got.data(), expect.data(), got.size() * sizeof(float)) == 0);
  }
  CHECK_THROWS_WITH_AS(f.tensor("nope"), doctest::Contains("no tensor named 'nope'"), Error);
}

TEST_CASE("GgufFile: a hand-made minimal file parses; each malformed field raises an error naming it") {
  const auto good = valid();
  const auto f = io::GgufFile::from_bytes(good.b);
  CHECK(f.get_int("general.block_count") == 7);
  CHECK(io::dequantize(f.tensor("w")) == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(f.tensor("w").shape() == std::vector<Index>{2, 4});
  CHECK(io::GgufFile::from_bytes(valid(2).b).version() == 2);

  auto patched = [&](std::size_t at, auto value) {
    auto b = good.b;
    std::memcpy(b.data() + at, &value, sizeof value);
    return b;
  };
  // Offsets in valid(): magic 0, version 4, n_tensors 8, n_kv 16, key length 24, key 32..50,
  // value type 51, value 55, tensor name length 59, name 67, n_dims 68, dims 72/80, type 88, offset 92.
  CHECK(error_of(patched(0, std::uint32_t{0x46554748})).find("not a GGUF file") != std::string::npos);
  CHECK(error_of(patched(4, std::uint32_t{1})).find("GGUF version 1 is not supported") != std::string::npos);
  CHECK(error_of(patched(8, std::uint64_t{1} << 40)).find("tensor count") != std::string::npos);
  CHECK(error_of(patched(16, std::uint64_t{1} << 40)).find("metadata count") != std::string::npos);
  CHECK(error_of(patched(24, std::uint64_t{1000})).find("runs past the end of the file") != std::string::npos);
  CHECK(error_of(patched(51, std::uint32_t{13})).find("unknown value type 13") != std::string::npos);
  CHECK(error_of(patched(68, std::uint32_t{0})).find("0 dimensions") != std::string::npos);
  CHECK(error_of(patched(68, std::uint32_t{5})).find("5 dimensions") != std::string::npos);
  CHECK(error_of(patched(72, std::uint64_t{0})).find("dimension 0 is 0") != std::string::npos);
  CHECK(error_of(patched(88, std::uint32_t{99})).find("unknown ggml type id 99") != std::string::npos);
  CHECK(error_of(patched(88, std::uint32_t{8})).find("not a multiple of the Q8_0 block of 32") != std::string::npos);
  CHECK(error_of(patched(92, std::uint64_t{16})).find("not a multiple of the alignment") != std::string::npos);
  CHECK(error_of(patched(92, std::uint64_t{64})).find("runs past the end of the file") != std::string::npos);
  CHECK(error_of(patched(80, std::uint64_t{3})).find("runs past the end of the file") != std::string::npos);

  // A bool that is neither 0 nor 1, a duplicate key, a bad alignment, overlapping tensors.
  Builder b;
  b.put<std::uint32_t>(0x46554747u).put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(1);
  b.str("flag").put<std::uint32_t>(7).put<std::uint8_t>(2);
  CHECK(error_of(b.b).find("bool byte 2") != std::string::npos);
  Builder d;
  d.put<std::uint32_t>(0x46554747u).put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(2);
  d.str("k").put<std::uint32_t>(0).put<std::uint8_t>(1).str("k").put<std::uint32_t>(0).put<std::uint8_t>(2);
  CHECK(error_of(d.b).find("'k' appears twice") != std::string::npos);
  Builder a;
  a.put<std::uint32_t>(0x46554747u).put<std::uint32_t>(3).put<std::uint64_t>(0).put<std::uint64_t>(1);
  a.str("general.alignment").put<std::uint32_t>(4).put<std::uint32_t>(24);
  CHECK(error_of(a.b).find("not a power of two") != std::string::npos);
  Builder o;
  o.put<std::uint32_t>(0x46554747u).put<std::uint32_t>(3).put<std::uint64_t>(2).put<std::uint64_t>(0);
  o.str("a").put<std::uint32_t>(1).put<std::uint64_t>(16).put<std::uint32_t>(0).put<std::uint64_t>(0);
  o.str("b").put<std::uint32_t>(1).put<std::uint64_t>(16).put<std::uint32_t>(0).put<std::uint64_t>(32);
  o.pad(32);
  for (int i = 0; i < 24; ++i) o.put<float>(0.0f);
  CHECK(error_of(o.b).find("overlap") != std::string::npos);
}

TEST_CASE("GgufFile: every truncation of a real file and random corruptions raise littlebit::Error, never crash") {
  const auto bytes = file_bytes(kDir / "tiny.gguf");
  // The writer pads the last tensor to the alignment: cutting only that padding leaves a valid file.
  const std::size_t end = tensor_end(bytes);
  CHECK(end < bytes.size());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const std::vector<std::byte> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    if (n < end) {
      CHECK_MESSAGE(!error_of(cut).empty(), "a file cut to " << n << " bytes parsed");
    } else {
      CHECK_MESSAGE(error_of(cut).empty(), "cutting only the final padding (to " << n << " bytes) was rejected");
    }
  }
  std::mt19937_64 rng(7);
  int errors = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    auto b = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) b[rng() % 900] = static_cast<std::byte>(rng());  // header region
    try {
      const auto f = io::GgufFile::from_bytes(b);
      for (const auto& t : f.tensors()) {
        try {
          (void)io::dequantize(t);
        } catch (const Error&) {
        }
      }
    } catch (const Error&) {
      ++errors;
    }
  }
  MESSAGE(errors << " of 3000 corrupted files rejected, the rest parsed");
  CHECK(errors > 0);
}
