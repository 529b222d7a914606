// examples/llm/tokenizer.hpp against Hugging Face `tokenizers` built from the same vocabulary and
// merges (tests/tools/make_tokenizer_golden.py): 258 lines of every corpus and edge cases encode to
// the same ids, and decode back to the text.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "llm/tokenizer.hpp"

namespace {
const std::filesystem::path kDir = std::filesystem::path(LITTLEBIT_SOURCE_DIR) / "tests/data/tokenizer";
}

TEST_CASE("Tokenizer: SmolLM2's BPE gives the ids of Hugging Face tokenizers on every golden line, and decodes back") {
  const auto f = littlebit::io::GgufFile::open(kDir / "vocab.gguf");
  const auto from_gguf = llm::Tokenizer::from_gguf(f);
  // The tokenizer read from GGUF and its JSON copy (what checkpoints store) must both pass.
  for (const bool via_json : {false, true}) {
    CAPTURE(via_json);
    const auto tok = via_json ? llm::Tokenizer::from_json(from_gguf.to_json(), "json") : from_gguf;
    CHECK(tok.vocab_size() == 49152);
    CHECK(tok.bos() == 1);
    CHECK(tok.eos() == 2);
    std::ifstream in(kDir / "golden.jsonl");
    std::string line;
    int lines = 0, tokens = 0;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line);
      const std::string text = j["text"];
      const std::vector<int> want = j["ids"];
      const auto got = tok.encode(text);
      CHECK_MESSAGE(got == want, "line " << lines << ": " << text.substr(0, 80));
      CHECK(tok.decode(got) == text);
      ++lines;
      tokens += static_cast<int>(got.size());
    }
    CHECK(lines == 258);
    MESSAGE(lines << " lines, " << tokens << " tokens");
  }
}

TEST_CASE("Tokenizer: invalid UTF-8, bad ids and other tokenizer models raise littlebit::Error") {
  const auto f = littlebit::io::GgufFile::open(kDir / "vocab.gguf");
  const auto tok = llm::Tokenizer::from_gguf(f);
  CHECK_THROWS_WITH_AS(tok.encode("ok \xff\xfe bad"), doctest::Contains("not valid UTF-8"), littlebit::Error);
  const std::vector<int> bad = {5, 49152};
  CHECK_THROWS_WITH_AS(tok.decode(bad), doctest::Contains("id 49152 is outside the vocabulary"), littlebit::Error);
  const auto tiny = littlebit::io::GgufFile::open(std::filesystem::path(LITTLEBIT_SOURCE_DIR) / "tests/data/gguf/tiny.gguf");
  CHECK_THROWS_WITH_AS(llm::Tokenizer::from_gguf(tiny), doctest::Contains("no metadata key 'tokenizer.ggml.model'"),
                       littlebit::Error);
  CHECK_THROWS_WITH_AS(llm::Tokenizer::from_json("[1]", "ckpt"), doctest::Contains("ckpt: the tokenizer is not a JSON object"),
                       littlebit::Error);
  CHECK_THROWS_WITH_AS(llm::Tokenizer::from_json(R"({"model": "gpt2"})", "ckpt"), doctest::Contains("ckpt: tokenizer JSON"),
                       littlebit::Error);
  auto spec = tok.spec();
  spec.pre = "llama-bpe";
  CHECK_THROWS_WITH_AS(llm::Tokenizer::from_spec(spec, "s"), doctest::Contains("pre-tokenizer 'llama-bpe'"), littlebit::Error);
  spec = tok.spec();
  spec.eos = 49152;
  CHECK_THROWS_WITH_AS(llm::Tokenizer::from_spec(spec, "s"), doctest::Contains("outside the vocabulary"), littlebit::Error);
}
