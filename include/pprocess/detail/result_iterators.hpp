// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The iterators of the result containers: by index for a Map (local or
/// pprocess::mpi), from the front for a Queue.

#include <cstddef>
#include <deque>
#include <exception>
#include <iterator>
#include <string>
#include <variant>

#include <pprocess/error.hpp>

namespace pprocess::detail {

/// Input iteration over `container[0], container[1], ...`, each waiting in
/// the container's operator[] until its result is in.
template <class Container, class T>
class index_iterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using reference = const T&;
  using pointer = const T*;

  index_iterator() = default;
  index_iterator(Container* container, std::size_t index)
      : container_(container), index_(index) {}

  reference operator*() const { return (*container_)[index_]; }
  pointer operator->() const { return &(*container_)[index_]; }
  index_iterator& operator++() {
    ++index_;
    return *this;
  }
  index_iterator operator++(int) {
    index_iterator before = *this;
    ++index_;
    return before;
  }
  friend bool operator==(const index_iterator& a, const index_iterator& b) {
    return a.index_ == b.index_;
  }

 private:
  Container* container_ = nullptr;
  std::size_t index_ = 0;
};

/// The end of a front_iterator's sequence.
struct front_sentinel {};

/// A Queue's results in arrival order: values and failures.
template <class T>
using arrivals = std::deque<std::variant<T, std::exception_ptr>>;

/// After a Queue waited for a result: false when none is at the front;
/// a failure at the front is dropped and thrown.
template <class T>
bool value_at_front(arrivals<T>& received) {
  if (received.empty()) {
    return false;
  }
  if (auto* error = std::get_if<std::exception_ptr>(&received.front())) {
    const std::exception_ptr failure = *error;
    received.pop_front();
    std::rethrow_exception(failure);
  }
  return true;
}

/// Input iteration in arrival order: the value at the front of `queue`,
/// waiting for it. The queue lets the iterator (a friend) call its `fill()`
/// (waits until a result is at the front or nothing more can come; see
/// value_at_front) and reach its `arrivals()`; `Queue::name` names it in
/// errors.
template <class Queue, class T>
class front_iterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using reference = T&;

  front_iterator() = default;
  explicit front_iterator(Queue* queue) : queue_(queue) {}

  /// The value at the front, waiting for it; valid until the iterator
  /// moves on.
  /// @throws RemoteError, ProcessError the failure of the task at the front
  /// @throws Error nothing more can arrive (dereferencing the end)
  reference operator*() const {
    if (!queue_->fill()) {
      throw Error(std::string(Queue::name) +
                  ": dereferencing the end (nothing more can arrive)");
    }
    return std::get<T>(queue_->arrivals().front());
  }
  front_iterator& operator++() {
    queue_->arrivals().pop_front();
    return *this;
  }
  void operator++(int) { ++*this; }
  friend bool operator==(const front_iterator& it, front_sentinel) {
    return it.at_end();
  }

 private:
  [[nodiscard]] bool at_end() const { return !queue_->fill(); }

  Queue* queue_ = nullptr;
};

}  // namespace pprocess::detail
