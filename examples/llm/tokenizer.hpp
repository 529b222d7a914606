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
//      (lowest first, every occurrence of the best pair left to right, until none applies);
//   4. look the symbols up in `tokenizer.ggml.tokens`.
// decode(ids) concatenates the tokens and maps the byte alphabet back (control tokens as their
// text). Reference: Hugging Face `tokenizers` (BPE + Digits(individual) + ByteLevel), whose ids for
// lines of every corpus are the golden test data (tests/tools/make_tokenizer_golden.py).
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "littlebit/core/error.hpp"
#include "littlebit/io/gguf.hpp"

namespace llm {

class Tokenizer {
 public:
  /// From a GGUF file's tokenizer.* metadata. Raises littlebit::Error when the model is not
  /// byte-level BPE ("gpt2"), the pre-tokenizer is unknown, or the vocabulary is inconsistent.
  static Tokenizer from_gguf(const littlebit::io::GgufFile& f) {
    using littlebit::detail::fail;
    const std::string model = f.get_string("tokenizer.ggml.model");
    if (model != "gpt2") fail(f.source(), ": tokenizer.ggml.model '", model, "' is not byte-level BPE ('gpt2')");
    Tokenizer t;
    t.pre_ = f.find("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "gpt2";
    if (t.pre_ != "smollm" && t.pre_ != "gpt2" && t.pre_ != "default")
      fail(f.source(), ": pre-tokenizer '", t.pre_, "' is not supported (smollm, gpt2)");
    t.tokens_ = f.get_strings("tokenizer.ggml.tokens");
    for (std::size_t i = 0; i < t.tokens_.size(); ++i)
      if (!t.vocab_.emplace(t.tokens_[i], static_cast<int>(i)).second)
        fail(f.source(), ": token '", t.tokens_[i], "' appears twice in tokenizer.ggml.tokens");
    const auto merges = f.get_strings("tokenizer.ggml.merges");
    for (std::size_t i = 0; i < merges.size(); ++i) {
      const auto sp = merges[i].find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == merges[i].size())
        fail(f.source(), ": merge ", i, " '", merges[i], "' is not two symbols separated by a space");
      t.ranks_.emplace(merges[i], static_cast<int>(i));
    }
    if (const auto* types = f.find("tokenizer.ggml.token_type")) {
      const auto& a = types->as_array("tokenizer.ggml.token_type");
      if (a.size() != t.tokens_.size())
        fail(f.source(), ": tokenizer.ggml.token_type has ", a.size(), " entries for ", t.tokens_.size(), " tokens");
      for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].as_int() == 3 && !t.tokens_[i].empty()) t.specials_.emplace_back(t.tokens_[i], static_cast<int>(i));
    }
    // Longest first, so that a special token that is a prefix of another never wins.
    std::sort(t.specials_.begin(), t.specials_.end(),
              [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    t.bos_ = f.find("tokenizer.ggml.bos_token_id") ? static_cast<int>(f.get_int("tokenizer.ggml.bos_token_id")) : -1;
    t.eos_ = f.find("tokenizer.ggml.eos_token_id") ? static_cast<int>(f.get_int("tokenizer.ggml.eos_token_id")) : -1;
    t.build_byte_map();
    t.compile();
    return t;
  }

  std::size_t vocab_size() const { return tokens_.size(); }
  int bos() const { return bos_; }
  int eos() const { return eos_; }
  const std::string& token(int id) const { return tokens_.at(static_cast<std::size_t>(id)); }

  std::vector<int> encode(std::string_view text) const {
    std::vector<int> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
      // The earliest special token occurrence (longest at a position).
      std::size_t best = std::string_view::npos;
      int best_id = -1;
      std::size_t best_len = 0;
      for (const auto& [s, id] : specials_) {
        const std::size_t at = text.find(s, pos);
        if (at != std::string_view::npos && (at < best || (at == best && s.size() > best_len))) {
          best = at;
          best_id = id;
          best_len = s.size();
        }
      }
      const std::size_t end = best == std::string_view::npos ? text.size() : best;
      encode_segment(text.substr(pos, end - pos), out);
      if (best == std::string_view::npos) break;
      out.push_back(best_id);
      pos = best + best_len;
    }
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
    for (const auto& s : specials_)
      if (s.second == id) return true;
    return false;
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
  template <class F>
  static void for_matches(pcre2_code* code, std::string_view s, F&& f) {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
        pcre2_match_data_create_from_pattern(code, nullptr), &pcre2_match_data_free);
    PCRE2_SIZE start = 0;
    while (start < s.size()) {
      const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), start, 0, md.get(), nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        littlebit::detail::fail("Tokenizer: text is not valid UTF-8 near byte ", start, ": ", reinterpret_cast<const char*>(msg));
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
      f(ov[0], ov[1]);
      start = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
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
    std::vector<std::string> sym;
    for (char c : word) sym.push_back(byte_to_unicode_[static_cast<unsigned char>(c)]);
    while (sym.size() > 1) {
      int best = -1;
      std::size_t at = 0;
      for (std::size_t i = 0; i + 1 < sym.size(); ++i) {
        const auto it = ranks_.find(sym[i] + " " + sym[i + 1]);
        if (it != ranks_.end() && (best < 0 || it->second < best)) {
          best = it->second;
          at = i;
        }
      }
      if (best < 0) break;
      const std::string left = sym[at], right = sym[at + 1];
      std::vector<std::string> next;
      for (std::size_t i = 0; i < sym.size();) {
        if (i + 1 < sym.size() && sym[i] == left && sym[i + 1] == right) {
          next.push_back(left + right);
          i += 2;
        } else {
          next.push_back(sym[i]);
          ++i;
        }
      }
      sym = std::move(next);
    }
    for (const auto& s : sym) {
      const auto it = vocab_.find(s);
      if (it == vocab_.end()) littlebit::detail::fail("Tokenizer: symbol '", s, "' is not in the vocabulary");
      out.push_back(it->second);
    }
  }

  std::string pre_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int> vocab_;
  std::unordered_map<std::string, int> ranks_;
  std::vector<std::pair<std::string, int>> specials_;
  std::string byte_to_unicode_[256];
  std::unordered_map<std::uint32_t, std::uint8_t> unicode_to_byte_;
  std::shared_ptr<pcre2_code> words_{nullptr, CodeDeleter{}}, digits_{nullptr, CodeDeleter{}};
  int bos_ = -1, eos_ = -1;
};

}  // namespace llm
