// littlebit/core/aligned_buffer.hpp: a 64-byte aligned, value-initialized array of trivial T.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

#include "littlebit/core/config.hpp"
#include "littlebit/core/error.hpp"

namespace littlebit {

template <class T>
class AlignedBuffer {
  static_assert(std::is_trivially_copyable_v<T>, "AlignedBuffer holds trivially copyable values");

 public:
  static constexpr std::size_t kAlignment = 64;

  AlignedBuffer() = default;
  explicit AlignedBuffer(Index size) { resize(size); }
  AlignedBuffer(const AlignedBuffer& o) : AlignedBuffer(o.size_) {
    if (size_ > 0) std::memcpy(data_.get(), o.data_.get(), bytes());
  }
  AlignedBuffer& operator=(const AlignedBuffer& o) {
    if (this != &o) *this = AlignedBuffer(o);
    return *this;
  }
  AlignedBuffer(AlignedBuffer&& o) noexcept : data_(std::move(o.data_)), size_(std::exchange(o.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    data_ = std::move(o.data_);
    size_ = std::exchange(o.size_, 0);
    return *this;
  }
  ~AlignedBuffer() = default;

  /// Reallocates to `size` zeroed elements (contents are not kept).
  void resize(Index size) {
    if (size < 0) detail::fail("AlignedBuffer: negative size ", size);
    data_.reset();
    size_ = 0;
    if (size > 0) {
      data_.reset(static_cast<T*>(::operator new[](static_cast<std::size_t>(size) * sizeof(T),
                                                   std::align_val_t{kAlignment})));
      std::memset(static_cast<void*>(data_.get()), 0, static_cast<std::size_t>(size) * sizeof(T));
    }
    size_ = size;
  }
  /// Grows to at least `size` elements (zeroed when it reallocates); never shrinks.
  void reserve(Index size) {
    if (size > size_) resize(size);
  }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  Index size() const { return size_; }
  std::size_t bytes() const { return static_cast<std::size_t>(size_) * sizeof(T); }
  T& operator[](Index i) { return data_[static_cast<std::size_t>(i)]; }
  const T& operator[](Index i) const { return data_[static_cast<std::size_t>(i)]; }
  std::span<T> span() { return {data_.get(), static_cast<std::size_t>(size_)}; }
  std::span<const T> span() const { return {data_.get(), static_cast<std::size_t>(size_)}; }

 private:
  struct Delete {
    void operator()(T* p) const { ::operator delete[](p, std::align_val_t{kAlignment}); }
  };
  std::unique_ptr<T[], Delete> data_;
  Index size_ = 0;
};

}  // namespace littlebit
