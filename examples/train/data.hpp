// examples/train/data.hpp: training tokens and the order they are seen in.
//
// Each training file is split into documents at blank lines ("\n\n", the separator of the
// project's prepared texts, docs/data.md), each document tokenized (no BOS) and followed by the
// EOS token; the files' streams are concatenated in the order given. The stream is tokenized
// once and cached under CACHE/tokens-<hash of the text>-<hash of the tokenizer>.i32 (raw
// little-endian int32, written atomically), so a rerun or a resume reads it back. Sequences are
// the consecutive, non-overlapping windows [i T, (i + 1) T) of the stream (the tail shorter
// than T is dropped); sample j of the run is sequence perm_e[j mod n] of epoch e = j / n, with
// perm_e a Fisher-Yates shuffle driven by SplitMix64(seed, e) (the identity with --no-shuffle).
// The data position of a run is therefore the number of samples drawn: step x batch x accum.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "littlebit/core/error.hpp"
#include "llm/tokenizer.hpp"

namespace train {

inline std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) littlebit::detail::fail(path, ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The token stream of the training files (see the file comment).
inline std::vector<int> training_tokens(const std::vector<std::string>& files, const llm::Tokenizer& tok,
                                        const std::filesystem::path& cache, bool verbose = true) {
  if (files.empty()) littlebit::detail::fail("no training text (--train FILE...)");
  if (tok.eos() < 0) littlebit::detail::fail("the tokenizer has no EOS token to separate documents with");
  std::vector<std::string> texts;
  std::uint64_t h = fnv1a("littlebit training tokens v1");
  for (const auto& f : files) {
    texts.push_back(read_text(f));
    if (texts.back().find_first_not_of(" \t\r\n") == std::string::npos) littlebit::detail::fail(f, ": the training text is empty");
    h = fnv1a(texts.back(), fnv1a(std::to_string(texts.back().size()), h));
  }
  const std::uint64_t th = fnv1a(tok.to_json());
  char name[96];
  std::snprintf(name, sizeof name, "tokens-%016llx-%016llx.i32", static_cast<unsigned long long>(h),
                static_cast<unsigned long long>(th));
  const auto path = cache / name;
  std::vector<int> ids;
  if (std::filesystem::exists(path)) {
    std::ifstream in(path, std::ios::binary);
    const auto bytes = std::filesystem::file_size(path);
    if (in && bytes % 4 == 0 && bytes > 0) {
      std::vector<std::int32_t> raw(bytes / 4);
      in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(bytes));
      bool ok = static_cast<bool>(in);
      for (std::int32_t x : raw) ok &= x >= 0 && static_cast<std::size_t>(x) < tok.vocab_size();
      if (ok) {
        ids.assign(raw.begin(), raw.end());
        if (verbose) std::printf("training tokens: %zu from the cache %s\n", ids.size(), path.c_str());
        return ids;
      }
    }
    std::fprintf(stderr, "%s: unusable token cache, tokenizing again\n", path.c_str());
  }
  for (std::size_t f = 0; f < files.size(); ++f) {
    const std::string& t = texts[f];
    std::size_t pos = 0, docs = 0;
    while (pos < t.size()) {
      std::size_t end = t.find("\n\n", pos);
      if (end == std::string::npos) end = t.size();
      std::string_view doc(t.data() + pos, end - pos);
      while (!doc.empty() && (doc.back() == '\n' || doc.back() == '\r')) doc.remove_suffix(1);
      while (!doc.empty() && doc.front() == '\n') doc.remove_prefix(1);
      if (!doc.empty()) {
        const auto d = tok.encode(doc);
        ids.insert(ids.end(), d.begin(), d.end());
        ids.push_back(tok.eos());
        ++docs;
      }
      pos = end + 2;
    }
    if (verbose) std::printf("training text %s: %zu documents\n", files[f].c_str(), docs);
  }
  std::filesystem::create_directories(cache);
  const auto tmp = path.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    std::vector<std::int32_t> raw(ids.begin(), ids.end());
    out.write(reinterpret_cast<const char*>(raw.data()), static_cast<std::streamsize>(raw.size() * 4));
    if (!out) littlebit::detail::fail(tmp, ": cannot write the token cache");
  }
  std::filesystem::rename(tmp, path);
  if (verbose) std::printf("training tokens: %zu, cached in %s\n", ids.size(), path.c_str());
  return ids;
}

inline std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// Samples (sequences of T tokens) in the run's order.
class Batches {
 public:
  Batches(std::vector<int> stream, long seq, std::uint64_t seed, bool shuffle)
      : stream_(std::move(stream)), T_(seq), seed_(seed), shuffle_(shuffle) {
    n_ = static_cast<long>(stream_.size()) / seq;
    if (n_ < 1)
      littlebit::detail::fail("the training text has ", stream_.size(), " tokens, fewer than one sequence of --seq ", seq);
  }
  long sequences() const { return n_; }
  long seq() const { return T_; }

  /// Samples j0 .. j0 + count - 1 as count x T tokens, row-major.
  std::vector<int> samples(long j0, long count) {
    std::vector<int> out;
    out.reserve(static_cast<std::size_t>(count * T_));
    for (long j = j0; j < j0 + count; ++j) {
      const long e = j / n_, i = j % n_;
      const long s = sequence(e, i);
      out.insert(out.end(), stream_.begin() + s * T_, stream_.begin() + (s + 1) * T_);
    }
    return out;
  }

 private:
  long sequence(long epoch, long i) {
    if (!shuffle_) return i;
    if (epoch != perm_epoch_) {
      perm_.resize(static_cast<std::size_t>(n_));
      for (long k = 0; k < n_; ++k) perm_[static_cast<std::size_t>(k)] = k;
      std::uint64_t st = seed_ * 0x100000001b3ull + static_cast<std::uint64_t>(epoch);
      for (long k = n_ - 1; k > 0; --k) {
        const auto r = static_cast<long>(splitmix64(st) % static_cast<std::uint64_t>(k + 1));
        std::swap(perm_[static_cast<std::size_t>(k)], perm_[static_cast<std::size_t>(r)]);
      }
      perm_epoch_ = epoch;
    }
    return perm_[static_cast<std::size_t>(i)];
  }

  std::vector<int> stream_;
  long T_, n_ = 0;
  std::uint64_t seed_;
  bool shuffle_;
  std::vector<long> perm_;
  long perm_epoch_ = -1;
};

}  // namespace train
