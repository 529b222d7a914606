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
    if (const auto* types = f.find("tokenizer.ggml.token_type"))
      for (const auto& v : types->as_array("tokenizer.ggml.token_type")) s.token_types.push_back(static_cast<int>(v.as_int()));
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
    for (std::size_t i = 0; i < s.merges.size(); ++i) {
      const auto sp = s.merges[i].find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 == s.merges[i].size())
        fail(source, ": merge ", i, " '", s.merges[i], "' is not two symbols separated by a space");
      t.ranks_.emplace(s.merges[i], static_cast<int>(i));
    }
    if (!s.token_types.empty() && s.token_types.size() != s.tokens.size())
      fail(source, ": token types have ", s.token_types.size(), " entries for ", s.tokens.size(), " tokens");
    for (std::size_t i = 0; i < s.token_types.size(); ++i)
      if (s.token_types[i] == 3 && !s.tokens[i].empty()) t.specials_.emplace_back(s.tokens[i], static_cast<int>(i));
    // Longest first, so that a special token that is a prefix of another never wins.
    std::sort(t.specials_.begin(), t.specials_.end(),
              [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    const auto n = static_cast<int>(s.tokens.size());
    if (s.bos < -1 || s.bos >= n || s.eos < -1 || s.eos >= n)
      fail(source, ": bos/eos token ids ", s.bos, "/", s.eos, " are outside the vocabulary of ", n);
    t.bos_ = s.bos;
    t.eos_ = s.eos;
    t.pre_ = s.pre;
    t.tokens_ = s.tokens;
    t.spec_ = std::move(s);
    t.build_byte_map();
    t.compile();
    return t;
  }

  const Spec& spec() const { return spec_; }

  /// The spec as a JSON object string {"model", "pre", "tokens", "merges", "token_types", "bos", "eos"}.
  std::string to_json() const {
    nlohmann::json j = {{"model", spec_.model}, {"pre", spec_.pre},   {"tokens", spec_.tokens}, {"merges", spec_.merges},
                        {"token_types", spec_.token_types}, {"bos", spec_.bos}, {"eos", spec_.eos}};
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
    } catch (const nlohmann::json::exception& e) {
      littlebit::detail::fail(source, ": tokenizer JSON: ", e.what());
    }
    return from_spec(std::move(s), source);
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
  Spec spec_;
};

}  // namespace llm
