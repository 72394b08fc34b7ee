// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include <pprocess/detail/fresh_pages.hpp>

namespace pprocess::detail {

/// `count` value-initialized elements that never move. Blocks of 64 KiB
/// or more take fresh pages from the kernel (see map_fresh_pages): while
/// pmap's pool processes share the creator's memory, results written into
/// heap pages that existed at the fork would copy each page.
template <class T>
class stable_block {
 public:
  explicit stable_block(std::size_t count) : count_(count) {
    if (bytes() < fresh_pages_from) {
      data_ = new T[count]();
      return;
    }
    data_ = static_cast<T*>(map_fresh_pages(bytes()));
    if constexpr (!zero_is_value_initialized) {
      try {
        std::uninitialized_value_construct_n(data_, count_);
      } catch (...) {
        unmap_pages(data_, bytes());
        throw;
      }
    }  // else: fresh pages read as zeros, which is T{}
  }
  stable_block(const stable_block&) = delete;
  stable_block& operator=(const stable_block&) = delete;
  ~stable_block() {
    if (bytes() < fresh_pages_from) {
      delete[] data_;
      return;
    }
    std::destroy_n(data_, count_);
    unmap_pages(data_, bytes());
  }

  [[nodiscard]] T& operator[](std::size_t i) noexcept { return data_[i]; }
  [[nodiscard]] const T& operator[](std::size_t i) const noexcept {
    return data_[i];
  }

 private:
  static constexpr std::size_t fresh_pages_from = 64 * 1024;
  static constexpr bool zero_is_value_initialized =
      std::is_arithmetic_v<T> || std::is_enum_v<T> || std::is_pointer_v<T>;

  [[nodiscard]] std::size_t bytes() const noexcept {
    return count_ * sizeof(T);
  }

  T* data_ = nullptr;
  std::size_t count_;
};

/// A growable array whose elements never move: references stay valid as it
/// grows (Map hands out `const T&`).
///
/// Blocks double in size (64, 128, 256, ... elements), so a small map
/// allocates little and a large one few, large blocks, from fresh pages.
template <class T>
class stable_vector {
 public:
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  /// Grows to at least `size` value-initialized elements (never shrinks).
  void grow_to(std::size_t size) {
    while (capacity_ < size) {
      const std::size_t block = first_block << blocks_.size();
      blocks_.push_back(std::make_unique<stable_block<T>>(block));
      capacity_ += block;
    }
    if (size > size_) {
      size_ = size;
    }
  }

  T& operator[](std::size_t index) noexcept {
    const std::size_t b = block_of(index);
    return (*blocks_[b])[index - block_start(b)];
  }
  const T& operator[](std::size_t index) const noexcept {
    const std::size_t b = block_of(index);
    return (*blocks_[b])[index - block_start(b)];
  }

  /// The elements from `index` on that lie in the same block, at most `max`
  /// of them: a run that can be written in one go.
  std::span<T> run(std::size_t index, std::size_t max) noexcept {
    const std::size_t b = block_of(index);
    const std::size_t offset = index - block_start(b);
    return {&(*blocks_[b])[offset], std::min(max, (first_block << b) - offset)};
  }

 private:
  static constexpr std::size_t first_block = 64;

  // Block b holds [first_block * (2^b - 1), first_block * (2^(b+1) - 1)).
  static std::size_t block_of(std::size_t index) noexcept {
    return static_cast<std::size_t>(std::bit_width(index / first_block + 1) -
                                    1);
  }
  static std::size_t block_start(std::size_t b) noexcept {
    return first_block * ((std::size_t{1} << b) - 1);
  }

  std::vector<std::unique_ptr<stable_block<T>>> blocks_;
  std::size_t capacity_ = 0;
  std::size_t size_ = 0;
};

}  // namespace pprocess::detail
