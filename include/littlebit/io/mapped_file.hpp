// littlebit/io/mapped_file.hpp: a read-only view of a whole file, memory-mapped where the
// platform has mmap (POSIX), read into memory otherwise. Also the atomic file writer every
// littlebit writer uses: write to a temporary name in the same directory, flush to disk, rename.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "littlebit/core/error.hpp"

#if __has_include(<sys/mman.h>) && __has_include(<unistd.h>)
#define LITTLEBIT_HAS_MMAP 1
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#else
#define LITTLEBIT_HAS_MMAP 0
#endif

namespace littlebit::io {

class MappedFile {
 public:
  MappedFile() = default;

  /// Maps `path` read-only. Raises littlebit::Error naming the path when it cannot be opened.
  static MappedFile open(const std::filesystem::path& path) {
    MappedFile f;
    f.path_ = path;
#if LITTLEBIT_HAS_MMAP
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) detail::fail(path.string(), ": cannot open: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int e = errno;
      ::close(fd);
      detail::fail(path.string(), ": cannot stat: ", std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      detail::fail(path.string(), ": not a regular file");
    }
    f.size_ = static_cast<std::size_t>(st.st_size);
    if (f.size_ > 0) {
      void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        detail::fail(path.string(), ": cannot map ", f.size_, " bytes: ", std::strerror(e));
      }
      f.map_ = p;
    }
    ::close(fd);
#else
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::fail(path.string(), ": cannot open");
    f.buffer_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    f.size_ = f.buffer_.size();
#endif
    return f;
  }

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& o) noexcept { *this = std::move(o); }
  MappedFile& operator=(MappedFile&& o) noexcept {
    if (this != &o) {
      release();
      map_ = std::exchange(o.map_, nullptr);
      size_ = std::exchange(o.size_, 0);
      buffer_ = std::move(o.buffer_);
      path_ = std::move(o.path_);
    }
    return *this;
  }
  ~MappedFile() { release(); }

  std::span<const std::byte> bytes() const {
    if (map_ != nullptr) return {static_cast<const std::byte*>(map_), size_};
    return {reinterpret_cast<const std::byte*>(buffer_.data()), buffer_.size()};
  }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void release() {
#if LITTLEBIT_HAS_MMAP
    if (map_ != nullptr) ::munmap(map_, size_);
#endif
    map_ = nullptr;
  }

  void* map_ = nullptr;
  std::size_t size_ = 0;
  std::vector<char> buffer_;
  std::filesystem::path path_;
};

/// Writes a file atomically: `write` receives a std::FILE* open on a temporary file in the same
/// directory; on success the data is flushed to disk and the temporary renamed to `path`, so a
/// reader sees the old file or the whole new one, never a part. On any failure (including an
/// exception from `write`) the temporary is removed and littlebit::Error names `path`.
inline void write_file_atomically(const std::filesystem::path& path, const std::function<void(std::FILE*)>& write) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  // Built by appending: GCC 12 warns falsely (-Wrestrict, PR 105329) on "." + std::string&&.
  std::string name = ".";
  name += path.filename().string();
  name += ".tmp-XXXXXX";
  std::string tmpl = (dir / name).string();
#if LITTLEBIT_HAS_MMAP
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) detail::fail(path.string(), ": cannot create a temporary file in ", dir.string(), ": ", std::strerror(errno));
  std::FILE* f = ::fdopen(fd, "wb");
  if (f == nullptr) {
    ::close(fd);
    ::unlink(tmpl.c_str());
    detail::fail(path.string(), ": cannot open the temporary file");
  }
#else
  tmpl.resize(tmpl.size() - 7);  // ".tmp-XXXXXX" -> ".tmp"
  std::FILE* f = std::fopen(tmpl.c_str(), "wb");
  if (f == nullptr) detail::fail(path.string(), ": cannot create a temporary file in ", dir.string());
#endif
  auto discard = [&]() {
    std::fclose(f);
    std::error_code ec;
    std::filesystem::remove(tmpl, ec);
  };
  try {
    write(f);
  } catch (...) {
    discard();
    throw;
  }
  bool ok = std::fflush(f) == 0 && std::ferror(f) == 0;
#if LITTLEBIT_HAS_MMAP
  ok = ok && ::fsync(::fileno(f)) == 0;
  ok = ok && ::fchmod(::fileno(f), 0644) == 0;  // mkstemp creates 0600; files are for sharing
#endif
  const int err = errno;
  if (!ok) {
    discard();
    detail::fail(path.string(), ": writing failed: ", std::strerror(err));
  }
  if (std::fclose(f) != 0) {
    std::error_code ec;
    std::filesystem::remove(tmpl, ec);
    detail::fail(path.string(), ": closing failed: ", std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmpl, path, ec);
  if (ec) {
    std::filesystem::remove(tmpl, ec);
    detail::fail(path.string(), ": cannot rename the temporary file into place: ", ec.message());
  }
}

/// fwrite that raises littlebit::Error on a short write.
inline void write_bytes(std::FILE* f, const void* data, std::size_t size) {
  if (size > 0 && std::fwrite(data, 1, size, f) != size) detail::fail("short write: ", std::strerror(errno));
}

}  // namespace littlebit::io
