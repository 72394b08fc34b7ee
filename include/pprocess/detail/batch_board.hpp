// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Where each process of a pmap pool says which element it runs and since
/// when: memory shared with the pool, mapped before its forks. The creator
/// reads it to blame the one element that crashed or ran past its timeout,
/// and to hand the rest of that range to other processes. Writing costs
/// the pool process a relaxed store per element (and a clock read when a
/// timeout is set); nothing is sent.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace pprocess::detail {

/// One pool process's slot.
struct batch_slot {
  static constexpr std::uint64_t idle = ~std::uint64_t{0};
  std::atomic<std::uint64_t> element{idle};  // the offset it runs, or idle
  std::atomic<std::int64_t> started_ns{0};   // steady_clock, when timed
};

/// The slots of one pmap's pool: one per process that may run at once.
class batch_board {
 public:
  /// Maps `slots` slots of shared memory.
  /// @throws Error the mapping failed
  explicit batch_board(std::size_t slots);
  ~batch_board();
  batch_board(const batch_board&) = delete;
  batch_board& operator=(const batch_board&) = delete;

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] batch_slot& operator[](std::size_t i) noexcept {
    return slots_[i];
  }

  /// The slot the next forked pool process takes: set by the creator just
  /// before the fork, read by the new process from its copy of this object
  /// (private memory, unlike the slots).
  std::size_t next_slot = 0;

 private:
  batch_slot* slots_;
  std::size_t size_;
};

/// What a pool process writes before each element: the element and, when
/// `timed`, the time.
inline void mark_element(batch_slot& slot, std::uint64_t element,
                         bool timed) noexcept {
  if (timed) {
    slot.started_ns.store(
        std::chrono::steady_clock::now().time_since_epoch().count(),
        std::memory_order_relaxed);
  }
  slot.element.store(element, std::memory_order_release);
}

}  // namespace pprocess::detail
