// SPDX-License-Identifier: MIT
#pragma once

#include <bit>
#include <cstddef>
#include <memory>
#include <vector>

namespace pprocess::detail {

/// A growable array whose elements never move: references stay valid as it
/// grows (Map hands out `const T&`).
///
/// Blocks double in size (64, 128, 256, ... elements), so a small map
/// allocates little and a large one few, large blocks. Large blocks come
/// from fresh pages, which matters while pmap's pool processes share the
/// creator's memory: writing into pages that existed at the fork would copy
/// each one.
template <class T>
class stable_vector {
 public:
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

  /// Grows to at least `size` value-initialized elements (never shrinks).
  void grow_to(std::size_t size) {
    while (capacity_ < size) {
      const std::size_t block = first_block << blocks_.size();
      blocks_.push_back(std::make_unique<T[]>(block));
      capacity_ += block;
    }
    if (size > size_) {
      size_ = size;
    }
  }

  T& operator[](std::size_t index) noexcept {
    // Block b holds [first_block * (2^b - 1), first_block * (2^(b+1) - 1)).
    const std::size_t scaled = index / first_block + 1;
    const auto b = static_cast<std::size_t>(std::bit_width(scaled) - 1);
    return blocks_[b][index - first_block * ((std::size_t{1} << b) - 1)];
  }

 private:
  static constexpr std::size_t first_block = 64;

  std::vector<std::unique_ptr<T[]>> blocks_;
  std::size_t capacity_ = 0;
  std::size_t size_ = 0;
};

}  // namespace pprocess::detail
