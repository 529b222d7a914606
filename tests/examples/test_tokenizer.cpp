// examples/llm/tokenizer.hpp against Hugging Face `tokenizers` built from the same vocabulary and
// merges (tests/tools/make_tokenizer_golden.py): 258 lines of every corpus and edge cases encode to
// the same ids, and decode back to the text.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

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

namespace {

/// The textbook BPE the tokenizer replaced, kept here as the reference: rescan the whole piece for
/// the lowest-ranked pair, merge every occurrence of it left to right, repeat (quadratic).
std::vector<std::string> bpe_by_rescan(const std::vector<std::string>& bytes_as_symbols,
                                       const std::unordered_map<std::string, int>& ranks) {
  std::vector<std::string> sym = bytes_as_symbols;
  while (sym.size() > 1) {
    int best = -1;
    std::size_t at = 0;
    for (std::size_t i = 0; i + 1 < sym.size(); ++i) {
      const auto it = ranks.find(sym[i] + " " + sym[i + 1]);
      if (it != ranks.end() && (best < 0 || it->second < best)) best = it->second, at = i;
    }
    if (best < 0) break;
    const std::string left = sym[at], right = sym[at + 1];
    std::vector<std::string> next;
    for (std::size_t i = 0; i < sym.size();) {
      if (i + 1 < sym.size() && sym[i] == left && sym[i + 1] == right) {
        next.push_back(left + right);
        i += 2;
      } else {
        next.push_back(sym[i++]);
      }
    }
    sym = std::move(next);
  }
  return sym;
}

std::string random_letters(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, 'a');
  for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

double seconds_to_encode(const llm::Tokenizer& tok, const std::string& text, std::size_t& ids) {
  const auto t0 = std::chrono::steady_clock::now();
  ids = tok.encode(text).size();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("Tokenizer: the heap BPE gives the rescanning BPE's symbols on random and repetitive pieces") {
  const auto f = littlebit::io::GgufFile::open(kDir / "vocab.gguf");
  const auto tok = llm::Tokenizer::from_gguf(f);
  std::unordered_map<std::string, int> ranks;
  for (std::size_t i = 0; i < tok.spec().merges.size(); ++i) ranks.emplace(tok.spec().merges[i], static_cast<int>(i));
  std::vector<std::string> pieces = {"a", "aa", "aaa", "aaaa", std::string(257, 'a'), std::string(100, 'e') + "ee"};
  for (std::size_t n : {2, 3, 5, 8, 13, 40, 200, 3000}) pieces.push_back(random_letters(n, n));
  for (const std::string& piece : pieces) {
    CAPTURE(piece.size());
    std::vector<std::string> symbols;  // the letters are their own byte-alphabet symbols
    for (char c : piece) symbols.emplace_back(1, c);
    std::vector<int> want;
    for (const auto& s : bpe_by_rescan(symbols, ranks))
      for (std::size_t id = 0; id < tok.vocab_size(); ++id)
        if (tok.token(static_cast<int>(id)) == s) {
          want.push_back(static_cast<int>(id));
          break;
        }
    CHECK(tok.encode(piece) == want);  // one \p{L}+ pre-token: exactly the BPE of the piece
  }
}

TEST_CASE("Tokenizer: adversarial input costs O(n log n): a 1 MB pre-token and 1 MB of control-token prefixes") {
  const auto f = littlebit::io::GgufFile::open(kDir / "vocab.gguf");
  const auto tok = llm::Tokenizer::from_gguf(f);
  // Time grows like n log n: from 128 KB to 1 MB (8x) it may grow ~9x, more where the 1 MB working
  // set leaves the caches (up to ~20x measured under the sanitizers); a quadratic merge loop or
  // special-token scan grows 64x. The bound 40x sits between. Each size is timed as the fastest of
  // 3 runs, so a test running beside this one on the other core inflates neither side alone.
  for (const auto& [what, make] : std::vector<std::pair<std::string, std::string (*)(std::size_t)>>{
           {"random letters (one pre-token)", [](std::size_t n) { return random_letters(n, 5); }},
           {"'<' repeated (every byte starts a control token)", [](std::size_t n) { return std::string(n, '<'); }},
           {"'<|im_star' repeated (near-misses of <|im_start|>)", [](std::size_t n) {
              std::string s;
              while (s.size() < n) s += "<|im_star";
              return s;
            }}}) {
    CAPTURE(what);
    std::size_t ids_small = 0, ids_big = 0;
    const std::string small = make(std::size_t{1} << 17), big = make(std::size_t{1} << 20);
    seconds_to_encode(tok, small, ids_small);  // warm up
    double t_small = 1e30, t_big = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
      t_small = std::min(t_small, seconds_to_encode(tok, small, ids_small));
      t_big = std::min(t_big, seconds_to_encode(tok, big, ids_big));
    }
    MESSAGE(what << ": 128 KB in " << t_small << " s, 1 MB in " << t_big << " s (" << ids_big << " ids; fastest of 3)");
    CHECK(ids_big > ids_small);
    CHECK(t_big <= 40 * std::max(t_small, 1e-3));
  }
  // The linear scan finds the same control tokens as a search from every position would.
  const std::string text = "x<|im_start|>user\n<|im_st<|im_end|><|endoftext|><<|im_start|>";
  const auto ids = tok.encode(text);
  CHECK(std::count(ids.begin(), ids.end(), tok.encode("<|im_start|>").at(0)) == 2);
  CHECK(tok.decode(ids) == text);
}
