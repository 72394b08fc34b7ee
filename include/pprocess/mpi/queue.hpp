// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// pprocess::mpi::Queue: results in the order they arrive, on rank 0.
///
///     pprocess::mpi::Queue<std::tuple<int, int, int>> queue(session);
///     auto calc = queue.manage(pprocess::MakeParallel(calculate));
///     for (...) calc(i, j);                        // every rank
///     if (session.root()) for (auto [i, j, r] : queue) { ... }
///
/// Every rank makes the same calls; rank 0 hands them out, and each runs in
/// a process of the rank it was given to. Other ranks' Queues hold nothing:
/// their iteration and destructor lend the rank's processes to rank 0 until
/// it is done.

#include <cstddef>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <pprocess/mpi/map.hpp>

namespace pprocess::mpi {

namespace detail {

/// Rank 0's results of a Queue, in arrival order.
template <class T>
class arrival_queue final : public result_sink<T> {
 public:
  void put_values(std::size_t /*first*/, std::span<T> values) override {
    for (T& value : values) {
      received.emplace_back(std::in_place_index<0>, std::move(value));
    }
    stored += values.size();
  }
  void put_error(std::size_t /*task*/, std::exception_ptr error) override {
    received.emplace_back(std::move(error));
    ++stored;
  }

  /// Calls made whose results have not arrived yet.
  [[nodiscard]] bool unfinished() const noexcept { return stored < tasks; }

  pprocess::detail::arrivals<T> received;
  std::vector<std::shared_ptr<call>> calls;
  std::size_t tasks = 0;   // calls made (the same on every rank)
  std::size_t stored = 0;  // results that arrived
};

}  // namespace detail

/// Results in arrival order, on rank 0; see the file comment.
template <class T>
class Queue {
  static_assert(serializable<T>, "mpi::Queue<T>: T must be serializable");

 public:
  /// Collective: every rank constructs it.
  explicit Queue(Session& session, Options options = {})
      : core_(&detail::session_access::core(session)),
        options_(checked(options)),
        state_(std::make_shared<detail::arrival_queue<T>>()) {}

  Queue(Queue&&) noexcept = default;
  Queue& operator=(Queue&& other) noexcept {
    if (this != &other) {
      release();
      core_ = other.core_;
      options_ = other.options_;
      state_ = std::move(other.state_);
    }
    return *this;
  }
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  ~Queue() { release(); }

  /// Collective: as mpi::Map::manage.
  template <class F>
  [[nodiscard]] auto manage(F&& fn) {
    using wrapped = decltype(pprocess::detail::returning_result<
                             pprocess::detail::result_owner::queue, T>(
        std::forward<F>(fn)));
    auto c = std::make_shared<detail::managed_call<T, wrapped>>(
        *core_, options_, core_->rank() == 0 ? state_.get() : nullptr,
        pprocess::detail::returning_result<
            pprocess::detail::result_owner::queue, T>(std::forward<F>(fn)));
    core_->enlist(c, options_.limit);
    state_->calls.push_back(c);
    return [c = c.get(), state = state_.get(), core = core_](auto&&... args) {
      c->record(state->tasks++, std::forward<decltype(args)>(args)...);
      core->serve_until([] { return true; });
    };
  }

  /// Rank 0: results received and not consumed yet.
  [[nodiscard]] std::size_t size() const noexcept {
    return state_->received.size();
  }

  using iterator = pprocess::detail::front_iterator<Queue, T>;
  using sentinel = pprocess::detail::front_sentinel;

  /// Rank 0: iteration in arrival order; ends when every call made so far
  /// has delivered and every result was consumed. Another rank serves rank
  /// 0 until it is done, and then has nothing to iterate.
  iterator begin() {
    if (core_->rank() != 0) {
      detail::serve_calls(*core_, state_->calls);
    }
    return iterator(this);
  }
  sentinel end() { return {}; }

 private:
  static Options checked(Options options) {
    return detail::supported(std::move(options), "mpi::Queue");
  }

  friend iterator;
  static constexpr const char* name = "mpi::Queue";

  /// Rank 0: waits until a result is at the front or nothing more can
  /// come; throws (and drops) a failure at the front. True when a value is
  /// there. Other ranks have none.
  bool fill() {
    if (core_->rank() != 0) {
      return false;
    }
    auto& received = state_->received;
    if (received.empty() && state_->unfinished()) {
      core_->serve_until(
          [&] { return !received.empty() || !state_->unfinished(); });
    }
    return pprocess::detail::value_at_front(received);
  }
  pprocess::detail::arrivals<T>& arrivals() noexcept {
    return state_->received;
  }

  void release() noexcept {
    if (state_) {
      detail::release_calls(*core_, state_->calls);
    }
  }

  detail::session_core* core_;
  Options options_;
  std::shared_ptr<detail::arrival_queue<T>> state_;
};

}  // namespace pprocess::mpi
