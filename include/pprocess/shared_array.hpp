// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// SharedArray: bulk results that cross a channel without being copied.
///
///     auto frames = pprocess::pmap([](int i) {
///       pprocess::SharedArray<double> image(1 << 24);  // 128 MiB
///       render(i, image);                               // fill it in place
///       return image;                                   // no copy, no
///       encoding
///     }, std::vector{0, 1, 2, 3}, {.limit = 2});
///
/// The elements live in an anonymous memory file (memfd). Sending a
/// SharedArray sends its descriptor (SCM_RIGHTS) and its size; the receiver
/// maps the same memory. Nothing is copied and no fresh page is zeroed on
/// the receiving side, whatever the size; no file appears in /dev/shm; the
/// memory is freed when the last descriptor and mapping are gone.
///
/// Copies of a SharedArray share its elements, like copies of a
/// std::shared_ptr<T[]>. So do a creator and the processes it creates after
/// making one: unlike the rest of memory, a SharedArray made before a fork
/// is not copy-on-write. Before it is sent, the memory is sealed against
/// shrinking, so no sender can make its receiver fault.

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include <pprocess/detail/archive.hpp>
#include <pprocess/detail/unique_fd.hpp>
#include <pprocess/error.hpp>

namespace pprocess {
namespace detail {

/// A mapping of a memory file: the storage behind SharedArray.
class shared_memory {
 public:
  /// A new memory file of `bytes` bytes (zero-filled), mapped.
  /// @throws Error memfd_create, ftruncate or mmap failed
  static std::shared_ptr<shared_memory> create(std::size_t bytes);
  /// Maps a memory file received from a peer, checking that it holds at
  /// least `bytes` and cannot shrink.
  /// @throws ChannelError it is not such a file
  static std::shared_ptr<shared_memory> adopt(unique_fd fd, std::size_t bytes);

  shared_memory(const shared_memory&) = delete;
  shared_memory& operator=(const shared_memory&) = delete;
  ~shared_memory();

  [[nodiscard]] void* data() const noexcept { return data_; }
  /// The descriptor to send; seals the file against shrinking first.
  [[nodiscard]] int fd_for_sending() const;

 private:
  shared_memory(unique_fd fd, void* data, std::size_t bytes) noexcept
      : fd_(std::move(fd)), data_(data), bytes_(bytes) {}

  unique_fd fd_;
  void* data_;
  std::size_t bytes_;
};

}  // namespace detail

/// A contiguous array of trivially-copyable `T` in memory that crosses a
/// channel without being copied; see the file comment.
template <class T>
class SharedArray {
  static_assert(std::is_trivially_copyable_v<T> && !std::is_pointer_v<T>,
                "SharedArray<T>: T must be trivially copyable (its bytes "
                "are shared as they are) and not a pointer");

 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  /// An empty array.
  SharedArray() = default;

  /// `size` value-initialized elements.
  /// @throws Error the memory could not be had
  explicit SharedArray(std::size_t size) : SharedArray(size, allocate{}) {
    if constexpr (!std::is_trivially_default_constructible_v<T>) {
      std::uninitialized_value_construct(begin(), end());
    }  // else: a fresh memory file reads as zeros, which is T{}
  }

  /// `size` copies of `value`.
  SharedArray(std::size_t size, const T& value)
      : SharedArray(size, allocate{}) {
    std::uninitialized_fill(begin(), end(), value);
  }

  /// Copies share the elements; a moved-from array is empty.
  SharedArray(const SharedArray&) = default;
  SharedArray& operator=(const SharedArray&) = default;
  SharedArray(SharedArray&& other) noexcept
      : memory_(std::move(other.memory_)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  SharedArray& operator=(SharedArray&& other) noexcept {
    if (this != &other) {
      memory_ = std::move(other.memory_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~SharedArray() = default;

  [[nodiscard]] T* data() noexcept { return data_; }
  [[nodiscard]] const T* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }

  iterator begin() noexcept { return data_; }
  iterator end() noexcept { return data_ + size_; }
  const_iterator begin() const noexcept { return data_; }
  const_iterator end() const noexcept { return data_ + size_; }

  operator std::span<T>() noexcept { return {data_, size_}; }
  operator std::span<const T>() const noexcept { return {data_, size_}; }

  // Channel encoding: the size, and the memory file's descriptor.
  void save(detail::output_archive& archive) const {
    archive(static_cast<std::uint64_t>(size_));
    if (size_ > 0) {
      archive(archive.attach(memory_->fd_for_sending()));
    }
  }
  void load(detail::input_archive& archive) {
    std::uint64_t size = 0;
    archive(size);
    if (size == 0) {
      *this = SharedArray();
      return;
    }
    std::uint32_t index = 0;
    archive(index);
    if (size > SIZE_MAX / sizeof(T)) {
      throw cereal::Exception("a SharedArray larger than memory");
    }
    memory_ = detail::shared_memory::adopt(
        archive.take(index), static_cast<std::size_t>(size) * sizeof(T));
    data_ = static_cast<T*>(memory_->data());
    size_ = static_cast<std::size_t>(size);
  }

 private:
  struct allocate {};
  static std::size_t bytes_for(std::size_t size) {
    if (size > SIZE_MAX / sizeof(T)) {
      throw Error("SharedArray: " + std::to_string(size) +
                  " elements are more bytes than memory can address");
    }
    return size * sizeof(T);
  }
  SharedArray(std::size_t size, allocate)
      : memory_(size > 0 ? detail::shared_memory::create(bytes_for(size))
                         : nullptr),
        data_(memory_ ? static_cast<T*>(memory_->data()) : nullptr),
        size_(size) {}

  std::shared_ptr<detail::shared_memory> memory_;
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace pprocess
