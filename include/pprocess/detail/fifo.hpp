// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <initializer_list>
#include <utility>
#include <vector>

namespace pprocess::detail {

/// A first-in first-out list that allocates nothing until something is put
/// in it (std::deque allocates two blocks as it is constructed).
///
/// The exchange keeps several per created process, most of them empty, and
/// a fork per task makes every allocation in the creator cost a page fault:
/// the heap pages are shared with the process just created. So a fifo also
/// keeps its capacity when it empties (std::deque frees and allocates a block
/// every few items as it moves along).
template <class T>
class fifo {
 public:
  fifo() = default;
  fifo(std::initializer_list<T> items) : items_(items) {}

  [[nodiscard]] bool empty() const noexcept { return head_ == items_.size(); }
  [[nodiscard]] std::size_t size() const noexcept {
    return items_.size() - head_;
  }
  [[nodiscard]] T& front() noexcept { return items_[head_]; }
  [[nodiscard]] const T& front() const noexcept { return items_[head_]; }
  [[nodiscard]] T& operator[](std::size_t i) noexcept {
    return items_[head_ + i];
  }
  [[nodiscard]] const T& operator[](std::size_t i) const noexcept {
    return items_[head_ + i];
  }
  [[nodiscard]] auto begin() noexcept {
    return items_.begin() + static_cast<std::ptrdiff_t>(head_);
  }
  [[nodiscard]] auto end() noexcept { return items_.end(); }
  [[nodiscard]] auto begin() const noexcept {
    return items_.begin() + static_cast<std::ptrdiff_t>(head_);
  }
  [[nodiscard]] auto end() const noexcept { return items_.end(); }

  template <class... Args>
  T& emplace_back(Args&&... args) {
    return items_.emplace_back(std::forward<Args>(args)...);
  }
  void push_back(T item) { items_.push_back(std::move(item)); }
  /// Puts `item` first: in the place the last pop_front() freed, if any.
  void push_front(T item) {
    if (head_ > 0) {
      items_[--head_] = std::move(item);
    } else {
      items_.insert(items_.begin(), std::move(item));
    }
  }

  /// Removes the items in [first, last), keeping the order of the others.
  void erase(typename std::vector<T>::iterator first,
             typename std::vector<T>::iterator last) {
    if (first == begin()) {
      for (auto n = last - first; n > 0; --n) {
        pop_front();  // may compact: no iterator is used after it
      }
    } else {
      items_.erase(first, last);
    }
  }
  void erase(typename std::vector<T>::iterator at) { erase(at, at + 1); }

  /// Removes the oldest item; what it owns is released now.
  void pop_front() {
    items_[head_] = T{};
    if (++head_ == items_.size()) {
      clear();
    } else if (head_ >= compact_after && 2 * head_ >= items_.size()) {
      // Each item moves at most once per doubling of head_: O(1) amortized.
      items_.erase(items_.begin(),
                   items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  void clear() noexcept {
    items_.clear();
    head_ = 0;
  }

 private:
  static constexpr std::size_t compact_after = 32;
  std::vector<T> items_;
  std::size_t head_ = 0;  // items_[0, head_) were taken
};

}  // namespace pprocess::detail
