// examples/llm/tokenizer.hpp: the byte-level BPE tokenizer of GPT-2-style GGUF models (SmolLM2,
// Llama 3, Qwen 2 ...), read from the file's metadata. Shared by the examples; not part of the
// library.
//
// encode(text):
//   1. split off control tokens (token_type 3, e.g. <|im_start|>) where they occur literally;
//   2. pre-tokenize each remaining segment as `tokenizer.ggml.pre` says ("smollm": every \p{N}
//      character isolated, then the GPT-2 pattern; "gpt2": the GPT-2 pattern alone), with PCRE2
//      in UTF + Unicode-property mode;
//   3. map each piece's bytes to GPT-2's printable byte alphabet and apply the merges by rank
//      (the lowest-ranked adjacent pair first, the leftmost among equals, until none applies),
//      as Hugging Face's BPE does: symbols in a linked list, candidate pairs in a min-heap keyed
//      (rank, position), stale entries skipped: O(n log n) per piece of n bytes;
//   4. look the symbols up in `tokenizer.ggml.tokens`.
// Control tokens are found in one left-to-right pass: at each byte only the control tokens that
// start with that byte are compared (longest first), so the scan is linear in the text.
// decode(ids) concatenates the tokens and maps the byte alphabet back (control tokens as their
// text). Reference: Hugging Face `tokenizers` (BPE + Digits(individual) + ByteLevel), whose ids for
// lines of every corpus are the golden test data (tests/tools/make_tokenizer_golden.py).
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <queue>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "littlebit/core/error.hpp"
#include <nlohmann/json.hpp>

#include "littlebit/io/gguf.hpp"

namespace llm {

class Tokenizer {
 public:
  /// What defines the tokenizer: GGUF's tokenizer.* metadata, also stored as JSON in littlebit
  /// checkpoints (to_json / from_json).
  struct Spec {
    std::string model = "gpt2", pre = "gpt2";
    std::vector<std::string> tokens, merges;
    std::vector<int> token_types;  // empty, or one per token (3 = control)
    int bos = -1, eos = -1;
    std::vector<int> eos_ids;  // every id that ends a sequence (Hugging Face's eos_token_id may be a list); eos among them
  };

  /// From a GGUF file's tokenizer.* metadata. Raises littlebit::Error when the model is not
  /// byte-level BPE ("gpt2"), the pre-tokenizer is unknown, or the vocabulary is inconsistent.
  static Tokenizer from_gguf(const littlebit::io::GgufFile& f) {
    Spec s;
    s.model = f.get_string("tokenizer.ggml.model");
    if (s.model != "gpt2")
      littlebit::detail::fail(f.source(), ": tokenizer.ggml.model '", s.model, "' is not byte-level BPE ('gpt2')");
    s.pre = f.find("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "gpt2";
    s.tokens = f.get_strings("tokenizer.ggml.tokens");
    s.merges = f.get_strings("tokenizer.ggml.merges");
    if (const auto* types = f.find("tokenizer.ggml.token_type")) {
      const auto& a = types->as_array("tokenizer.ggml.token_type");
      for (std::size_t i = 0; i < a.size(); ++i) s.token_types.push_back(static_cast<int>(a[i].as_int("tokenizer.ggml.token_type")));
    }
    s.bos = f.find("tokenizer.ggml.bos_token_id") ? static_cast<int>(f.get_int("tokenizer.ggml.bos_token_id")) : -1;
    s.eos = f.find("tokenizer.ggml.eos_token_id") ? static_cast<int>(f.get_int("tokenizer.ggml.eos_token_id")) : -1;
    return from_spec(std::move(s), f.source());
  }

  /// From a spec; `source` names it in error messages.
  static Tokenizer from_spec(Spec s, const std::string& source) {
    using littlebit::detail::fail;
    if (s.model != "gpt2") fail(source, ": tokenizer model '", s.model, "' is not byte-level BPE ('gpt2')");
    if (s.pre != "smollm" && s.pre != "gpt2" && s.pre != "default")
      fail(source, ": pre-tokenizer '", s.pre, "' is not supported (smollm, gpt2)");
    if (s.tokens.empty()) fail(source, ": the tokenizer has no tokens");
    Tokenizer t;
    for (std::size_t i = 0; i < s.tokens.size(); ++i)
      if (!t.vocab_.emplace(s.tokens[i], static_cast<int>(i)).second)
        fail(source, ": token '", s.tokens[i], "' appears twice in the vocabulary");
    // Symbols are ids: the vocabulary's, then one more for each merge part or result that is not a
    // token (it can still be merged further; if it survives, encode names it).
    t.symbols_ = s.tokens;
    auto symbol = [&t](const std::string& str) {
      const auto [it, added] = t.symbol_ids_.emplace(str, static_cast<int>(t.symbols_.size()));
      if (added) t.symbols_.push_back(str);
      return it->second;
    };
    for (std::size_t i = 0; i < s.tokens.size(); ++i) t.symbol_ids_.emplace(s.tokens[i], static_cast<int>(i));
    for (std::size_t i = 0; i < s.merges.size(); ++i) {
      const std::string& mg = s.merges[i];
      const auto sp = mg.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == mg.size())
        fail(source, ": merge ", i, " '", mg, "' is not two symbols separated by a space");
      const int left = symbol(mg.substr(0, sp)), right = symbol(mg.substr(sp + 1));
      const int merged = symbol(mg.substr(0, sp) + mg.substr(sp + 1));
      t.merges_.emplace(pair_key(left, right), Merge{static_cast<int>(i), merged});  // the first (lowest) rank wins
    }
    if (!s.token_types.empty() && s.token_types.size() != s.tokens.size())
      fail(source, ": token types have ", s.token_types.size(), " entries for ", s.tokens.size(), " tokens");
    for (std::size_t i = 0; i < s.token_types.size(); ++i)
      if (s.token_types[i] == 3 && !s.tokens[i].empty()) t.specials_.emplace_back(s.tokens[i], static_cast<int>(i));
    // Longest first, so that a special token that is a prefix of another never wins.
    std::sort(t.specials_.begin(), t.specials_.end(),
              [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    for (std::size_t k = 0; k < t.specials_.size(); ++k)
      t.specials_by_byte_[static_cast<unsigned char>(t.specials_[k].first[0])].push_back(k);
    const auto n = static_cast<int>(s.tokens.size());
    if (s.bos < -1 || s.bos >= n || s.eos < -1 || s.eos >= n)
      fail(source, ": bos/eos token ids ", s.bos, "/", s.eos, " are outside the vocabulary of ", n);
    for (int id : s.eos_ids)
      if (id < 0 || id >= n) fail(source, ": end-of-sequence token id ", id, " is outside the vocabulary of ", n);
    if (s.eos >= 0 && std::find(s.eos_ids.begin(), s.eos_ids.end(), s.eos) == s.eos_ids.end()) s.eos_ids.push_back(s.eos);
    t.bos_ = s.bos;
    t.eos_ = s.eos;
    t.pre_ = s.pre;
    t.tokens_ = s.tokens;
    t.spec_ = std::move(s);
    t.build_byte_map();
    for (int b = 0; b < 256; ++b) {  // a byte outside the vocabulary gets a symbol too (named if it survives)
      const std::string& str = t.byte_to_unicode_[static_cast<std::size_t>(b)];
      const auto [it, added] = t.symbol_ids_.emplace(str, static_cast<int>(t.symbols_.size()));
      if (added) t.symbols_.push_back(str);
      t.byte_ids_[static_cast<std::size_t>(b)] = it->second;
    }
    t.compile();
    return t;
  }

  const Spec& spec() const { return spec_; }

  /// The spec as a JSON object string {"model", "pre", "tokens", "merges", "token_types", "bos", "eos", "eos_ids"}.
  std::string to_json() const {
    nlohmann::json j = {{"model", spec_.model}, {"pre", spec_.pre},   {"tokens", spec_.tokens}, {"merges", spec_.merges},
                        {"token_types", spec_.token_types}, {"bos", spec_.bos}, {"eos", spec_.eos},
                        {"eos_ids", spec_.eos_ids}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  }
  static Tokenizer from_json(const std::string& text, const std::string& source) {
    const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) littlebit::detail::fail(source, ": the tokenizer is not a JSON object");
    Spec s;
    try {
      s.model = j.at("model").get<std::string>();
      s.pre = j.at("pre").get<std::string>();
      s.tokens = j.at("tokens").get<std::vector<std::string>>();
      s.merges = j.at("merges").get<std::vector<std::string>>();
      s.token_types = j.at("token_types").get<std::vector<int>>();
      s.bos = j.at("bos").get<int>();
      s.eos = j.at("eos").get<int>();
      s.eos_ids = j.value("eos_ids", std::vector<int>{});  // absent in checkpoints written before it
    } catch (const nlohmann::json::exception& e) {
      littlebit::detail::fail(source, ": tokenizer JSON: ", e.what());
    }
    return from_spec(std::move(s), source);
  }

  std::size_t vocab_size() const { return tokens_.size(); }
  int bos() const { return bos_; }
  int eos() const { return eos_; }
  /// True for every end-of-sequence id (Spec::eos_ids).
  bool is_eos(int id) const { return std::find(spec_.eos_ids.begin(), spec_.eos_ids.end(), id) != spec_.eos_ids.end(); }
  const std::string& token(int id) const { return tokens_.at(static_cast<std::size_t>(id)); }

  std::vector<int> encode(std::string_view text) const {
    std::vector<int> out;
    std::size_t start = 0;  // of the text not yet encoded
    for (std::size_t pos = 0; pos < text.size(); ++pos) {
      for (std::size_t k : specials_by_byte_[static_cast<unsigned char>(text[pos])]) {  // longest first
        const auto& [s, id] = specials_[k];
        if (text.compare(pos, s.size(), s) != 0) continue;
        encode_segment(text.substr(start, pos - start), out);
        out.push_back(id);
        start = pos + s.size();
        pos = start - 1;
        break;
      }
    }
    encode_segment(text.substr(start), out);
    return out;
  }
  std::string decode(std::span<const int> ids) const {
    std::string out;
    for (int id : ids) {
      if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size())
        littlebit::detail::fail("Tokenizer::decode: id ", id, " is outside the vocabulary of ", tokens_.size());
      const std::string& t = tokens_[static_cast<std::size_t>(id)];
      if (is_special(id)) {
        out += t;
        continue;
      }
      for (std::size_t i = 0; i < t.size();) {
        std::uint32_t cp = 0;
        const std::size_t n = utf8_decode(t, i, cp);
        const auto it = unicode_to_byte_.find(cp);
        if (it == unicode_to_byte_.end())
          littlebit::detail::fail("Tokenizer::decode: token ", id, " holds a character outside the byte alphabet");
        out.push_back(static_cast<char>(it->second));
        i += n;
      }
    }
    return out;
  }

 private:
  struct CodeDeleter {
    void operator()(pcre2_code* c) const { pcre2_code_free(c); }
  };

  bool is_special(int id) const {
    return !spec_.token_types.empty() && spec_.token_types[static_cast<std::size_t>(id)] == 3 &&
           !tokens_[static_cast<std::size_t>(id)].empty();
  }
  static std::uint64_t pair_key(int left, int right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
  }

  static std::size_t utf8_decode(std::string_view s, std::size_t i, std::uint32_t& cp) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (i + n > s.size()) n = 1;
    cp = n == 1 ? c : n == 2 ? (c & 0x1Fu) : n == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3Fu);
    return n;
  }
  static void utf8_append(std::string& s, std::uint32_t cp) {
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  /// GPT-2's bytes_to_unicode: printable bytes map to themselves, the other 68 to U+0100 onwards.
  void build_byte_map() {
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const std::uint32_t cp = printable ? static_cast<std::uint32_t>(b) : static_cast<std::uint32_t>(next++);
      std::string s;
      utf8_append(s, cp);
      byte_to_unicode_[static_cast<std::size_t>(b)] = s;
      unicode_to_byte_[cp] = static_cast<std::uint8_t>(b);
    }
  }

  void compile() {
    const char* gpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
    words_ = std::shared_ptr<pcre2_code>(compile_pattern(gpt2), CodeDeleter{});
    digits_ = std::shared_ptr<pcre2_code>(compile_pattern(R"(\p{N})"), CodeDeleter{});
  }
  static pcre2_code* compile_pattern(const char* p) {
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    if (c == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      littlebit::detail::fail("Tokenizer: PCRE2 cannot compile '", p, "': ", reinterpret_cast<const char*>(msg));
    }
    return c;
  }

  /// Calls f(begin, end) for each match of `code` in s, in order; raises on invalid UTF-8.
  /// PCRE2 checks the whole subject's UTF-8 on every call unless told not to: only the first call
  /// checks (later ones start at the end of a match, a character boundary), or a text with many
  /// short pieces would cost its length once per piece.
  template <class F>
  static void for_matches(pcre2_code* code, std::string_view s, F&& f) {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
        pcre2_match_data_create_from_pattern(code, nullptr), &pcre2_match_data_free);
    PCRE2_SIZE start = 0;
    std::uint32_t options = 0;
    while (start < s.size()) {
      const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), start, options, md.get(), nullptr);
      options = PCRE2_NO_UTF_CHECK;
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        littlebit::detail::fail("Tokenizer: text is not valid UTF-8 near byte ", start, ": ", reinterpret_cast<const char*>(msg));
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
      f(ov[0], ov[1]);
      std::uint32_t cp = 0;  // an empty match moves on by one whole character (valid UTF-8: checked on the first call)
      start = ov[1] > ov[0] ? ov[1] : ov[0] + utf8_decode(s, ov[0], cp);
    }
  }

  void encode_segment(std::string_view s, std::vector<int>& out) const {
    if (s.empty()) return;
    if (pre_ == "smollm") {
      // Every \p{N} character is its own piece; the stretches between them are pieces too.
      std::size_t last = 0;
      for_matches(digits_.get(), s, [&](std::size_t b, std::size_t e) {
        encode_words(s.substr(last, b - last), out);
        encode_words(s.substr(b, e - b), out);
        last = e;
      });
      encode_words(s.substr(last), out);
    } else {
      encode_words(s, out);
    }
  }

  void encode_words(std::string_view s, std::vector<int>& out) const {
    if (s.empty()) return;
    for_matches(words_.get(), s, [&](std::size_t b, std::size_t e) { bpe(s.substr(b, e - b), out); });
  }

  void bpe(std::string_view word, std::vector<int>& out) const {
    // Symbols of the piece as a doubly linked list over positions (prev/next = -1 at the ends).
    struct Node {
      int id, prev, next;
    };
    struct Candidate {
      int rank, pos, left, right;  // the pair (left, right) starting at pos, as it was when pushed
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    const int n = static_cast<int>(word.size());
    std::vector<Node> nodes(word.size());
    for (int i = 0; i < n; ++i) nodes[static_cast<std::size_t>(i)] = {byte_ids_[static_cast<unsigned char>(word[static_cast<std::size_t>(i)])], i - 1, i + 1 < n ? i + 1 : -1};
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    auto push = [&](int pos) {
      if (pos < 0) return;
      const Node& a = nodes[static_cast<std::size_t>(pos)];
      if (a.next < 0) return;
      const int right = nodes[static_cast<std::size_t>(a.next)].id;
      const auto it = merges_.find(pair_key(a.id, right));
      if (it != merges_.end()) heap.push({it->second.rank, pos, a.id, right});
    };
    for (int i = 0; i + 1 < n; ++i) push(i);
    while (!heap.empty()) {
      const Candidate c = heap.top();
      heap.pop();
      Node& a = nodes[static_cast<std::size_t>(c.pos)];
      // Stale: the left symbol was merged away or changed, or its right neighbour did.
      if (a.id != c.left || a.next < 0 || nodes[static_cast<std::size_t>(a.next)].id != c.right) continue;
      Node& b = nodes[static_cast<std::size_t>(a.next)];
      a.id = merges_.at(pair_key(c.left, c.right)).merged;
      a.next = b.next;
      if (b.next >= 0) nodes[static_cast<std::size_t>(b.next)].prev = c.pos;
      b.id = -1;  // removed
      push(a.prev);
      push(c.pos);
    }
    for (int i = n > 0 ? 0 : -1; i >= 0; i = nodes[static_cast<std::size_t>(i)].next) {
      const int id = nodes[static_cast<std::size_t>(i)].id;
      if (id < 0 || id >= static_cast<int>(tokens_.size()))
        littlebit::detail::fail("Tokenizer: symbol '", symbols_[static_cast<std::size_t>(id)], "' is not in the vocabulary");
      out.push_back(id);
    }
  }
  std::string pre_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int> vocab_;
  struct Merge {
    int rank, merged;  // merged: the symbol id of the concatenation
  };
  std::vector<std::string> symbols_;                 // the tokens, then merge symbols outside the vocabulary
  std::unordered_map<std::string, int> symbol_ids_;  // symbol -> id
  std::unordered_map<std::uint64_t, Merge> merges_;  // (left id, right id) -> merge
  std::array<int, 256> byte_ids_{};                  // a byte's symbol in the byte alphabet
  std::vector<std::pair<std::string, int>> specials_;  // control tokens, longest first
  std::array<std::vector<std::size_t>, 256> specials_by_byte_;  // indices into specials_ by first byte
  std::string byte_to_unicode_[256];
  std::unordered_map<std::uint32_t, std::uint8_t> unicode_to_byte_;
  std::shared_ptr<pcre2_code> words_{nullptr, CodeDeleter{}}, digits_{nullptr, CodeDeleter{}};
  int bos_ = -1, eos_ = -1;
  Spec spec_;
};

}  // namespace llm
