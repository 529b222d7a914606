// Replays every committed fuzz input (tests/data/fuzz/<target>/, crashes the fuzzers found, now
// fixed) and the seeds' kinds of input through the fuzz targets' bodies in the ordinary builds,
// including the ASan + UBSan pass: each must parse or raise littlebit::Error.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "fuzz/targets.hpp"

namespace {

const std::filesystem::path kSource(LITTLEBIT_SOURCE_DIR);

std::vector<std::byte> read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) b[i] = static_cast<std::byte>(c[i]);
  return b;
}

template <class F>
int replay(const std::string& target, F&& f) {
  int n = 0;
  const auto dir = kSource / "tests/data/fuzz" / target;
  if (!std::filesystem::exists(dir)) return 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    CAPTURE(e.path().string());
    const auto b = read_all(e.path());
    CHECK_NOTHROW(f(std::span<const std::byte>(b)));
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("fuzz regressions: every committed input parses or raises littlebit::Error") {
  int n = 0;
  n += replay("gguf", littlebit::fuzz::gguf);
  n += replay("safetensors", littlebit::fuzz::safetensors);
  n += replay("checkpoint", littlebit::fuzz::checkpoint);
  const auto& tok = littlebit::fuzz::smollm2_tokenizer(kSource);
  n += replay("tokenizer", [&](std::span<const std::byte> b) { littlebit::fuzz::tokenizer(tok, b); });
  MESSAGE(n << " committed fuzz inputs replayed");
  // The bodies on the ordinary test files, so the harness itself is exercised in every build.
  const auto tiny = read_all(kSource / "tests/data/gguf/tiny.gguf");
  CHECK_NOTHROW(littlebit::fuzz::gguf(tiny));
  const auto layer = read_all(kSource / "tests/data/official_layer/layer.safetensors");
  CHECK_NOTHROW(littlebit::fuzz::safetensors(layer));
  const std::string text = "Hello, world! 2,161,000 caf\xc3\xa9 <|im_start|>user";
  CHECK_NOTHROW(littlebit::fuzz::tokenizer(tok, std::as_bytes(std::span<const char>(text.data(), text.size()))));
}
