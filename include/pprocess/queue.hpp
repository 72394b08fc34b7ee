// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Queue: results in the order they arrive.
///
///     pprocess::Queue<std::tuple<int, int, int>> queue({.limit = 4});
///     auto calc = queue.manage(pprocess::MakeParallel(calculate));
///     for (...) calc(i, j);
///     for (auto [i, j, result] : queue) { ... }  // as each one arrives
///
/// A failed task (its callable threw, or its process died) takes its place
/// in arrival order: iteration throws its RemoteError or ProcessError, and
/// a new range-for over the queue carries on with the rest.

#include <cstddef>
#include <deque>
#include <exception>
#include <iterator>
#include <utility>
#include <variant>

#include <pprocess/detail/result_iterators.hpp>
#include <pprocess/exchange.hpp>
#include <pprocess/parallel.hpp>

namespace pprocess {

/// An exchange whose results are read in the order they arrive.
template <class T>
class Queue : public Exchange {
  static_assert(serializable<T>, "Queue<T>: T must be serializable");

 public:
  explicit Queue(Options options = {}) : Exchange(options) {}

  Queue(Queue&&) noexcept = default;
  Queue& operator=(Queue&&) noexcept = default;
  ~Queue() override = default;

  /// Exchange::manage, for a Queue: a MakeParallel or MakeReusable function
  /// must return T, or a type that converts to T (converted in the created
  /// process); another result type is a compile error.
  template <class F>
  [[nodiscard]] auto manage(F&& fn) {
    return Exchange::manage(
        detail::returning_result<detail::result_owner::queue, T>(
            std::forward<F>(fn)));
  }

  /// Results received and not consumed yet.
  [[nodiscard]] std::size_t size() const noexcept { return received_.size(); }

  using iterator = detail::front_iterator<Queue, T>;
  using sentinel = detail::front_sentinel;

  /// Input iteration in arrival order; ends when nothing runs or waits and
  /// every received value was consumed.
  iterator begin() { return iterator(this); }
  sentinel end() { return {}; }

  void store_data(Channel& channel) override;

 protected:
  void task_ended(std::size_t /*task*/, std::exception_ptr error, bool clean,
                  bool delivered) override {
    // A continuous process that exits cleanly has sent all it meant to;
    // any other end lost work the consumer must hear about.
    if (!clean || (!delivered && !options().continuous)) {
      received_.emplace_back(std::move(error));
    }
  }

 private:
  friend iterator;
  static constexpr const char* name = "Queue";

  /// Waits until a result is at the front or nothing more can come; throws
  /// (and drops) a failure at the front. True when a value is there.
  bool fill() {
    if (received_.empty()) {
      const driving scope(*this);
      while (received_.empty() && unfinished()) {
        store();
      }
    }
    return detail::value_at_front(received_);
  }
  detail::arrivals<T>& arrivals() noexcept { return received_; }

  detail::arrivals<T> received_;
};

template <class T>
void Queue<T>::store_data(Channel& channel) {
  try {
    received_.emplace_back(std::in_place_index<0>,
                           channel.template receive<T>());
  } catch (const Error&) {
    const std::size_t task = task_of(channel);
    received_.emplace_back(detail::current_error_of(task));
    report_error(task, std::get<1>(received_.back()));
  }
}

}  // namespace pprocess
