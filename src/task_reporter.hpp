// SPDX-License-Identifier: MIT
//
// Where an exchange tells what happens to its tasks: the events for
// Options::on_event, and the counts the progress bar shows.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>

#include <pprocess/detail/fifo.hpp>
#include <pprocess/event.hpp>

#include "progress_bar.hpp"

namespace pprocess::detail {

/// Who ran a task and since when: what an event says besides the task.
struct task_context {
  pid_t pid = 0;
  unsigned attempt = 1;
  std::chrono::steady_clock::time_point since{};
};

/// The events of one exchange. Each transition is recorded as the exchange
/// commits it, and handed to on_event only at the end of the blocking call
/// (deliver()): a callback that throws then leaves the exchange whole, and
/// the events after it for the next call. Progress needs counts only, so
/// with progress alone no event is built.
class task_reporter {
 public:
  using clock = std::chrono::steady_clock;

  task_reporter(std::function<void(const Event&)> on_event, bool progress);

  /// Tasks [first, first + count) were taken by process `pid`.
  void started(std::size_t first, std::size_t count, pid_t pid,
               unsigned attempt);
  /// Tasks [first, first + count) have their results.
  void finished(std::size_t first, std::size_t count,
                const task_context& context);
  /// `task` failed for good.
  void failed(std::size_t task, const std::exception_ptr& error,
              const task_context& context);
  /// `task`'s process died or ran too long: it runs again.
  void retried(std::size_t task, const std::exception_ptr& error,
               const task_context& context);

  /// Hands the recorded events to on_event and redraws the bar; `total`:
  /// the tasks started so far. Throws what on_event throws.
  void deliver(std::size_t total);
  /// The bar only, as time goes by while the creator waits.
  void redraw(std::size_t total, clock::time_point now);
  /// The creator is about to wait (the bar may show; see progress_bar).
  void waiting(clock::time_point now);
  /// Control goes back to the program.
  void leave() noexcept;
  /// When the bar should be redrawn if nothing happens.
  [[nodiscard]] clock::time_point next_due() const noexcept;

 private:
  void record(Event::Kind kind, std::size_t task, const task_context& context,
              const std::exception_ptr& error, clock::time_point now);

  std::function<void(const Event&)> on_event_;
  fifo<Event> events_;
  std::unique_ptr<progress_bar> bar_;
  progress_counts counts_;
};

}  // namespace pprocess::detail
