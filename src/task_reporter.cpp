// SPDX-License-Identifier: MIT
#include "task_reporter.hpp"

#include <utility>

namespace pprocess::detail {

task_reporter::task_reporter(std::function<void(const Event&)> on_event,
                             bool progress)
    : on_event_(std::move(on_event)),
      bar_(progress ? std::make_unique<progress_bar>() : nullptr) {}

void task_reporter::record(Event::Kind kind, std::size_t task,
                           const task_context& context,
                           const std::exception_ptr& error,
                           clock::time_point now) {
  const auto elapsed =
      kind == Event::Kind::started || context.since == clock::time_point{}
          ? std::chrono::nanoseconds(0)
          : std::chrono::nanoseconds(now - context.since);
  events_.push_back(
      Event{kind, task, context.pid, context.attempt, elapsed, error});
}

void task_reporter::started(std::size_t first, std::size_t count, pid_t pid,
                            unsigned attempt) {
  if (!on_event_) {
    return;
  }
  const task_context context{pid, attempt, {}};
  for (std::size_t task = first; task < first + count; ++task) {
    record(Event::Kind::started, task, context, nullptr, {});
  }
}

void task_reporter::finished(std::size_t first, std::size_t count,
                             const task_context& context) {
  counts_.done += count;
  if (!on_event_) {
    return;
  }
  const auto now = clock::now();
  for (std::size_t task = first; task < first + count; ++task) {
    record(Event::Kind::finished, task, context, nullptr, now);
  }
}

void task_reporter::failed(std::size_t task, const std::exception_ptr& error,
                           const task_context& context) {
  ++counts_.done;
  ++counts_.failed;
  if (on_event_) {
    record(Event::Kind::failed, task, context, error, clock::now());
  }
}

void task_reporter::retried(std::size_t task, const std::exception_ptr& error,
                            const task_context& context) {
  if (on_event_) {
    record(Event::Kind::retried, task, context, error, clock::now());
  }
}

void task_reporter::redraw(std::size_t total, clock::time_point now) {
  if (bar_) {
    counts_.total = total;
    bar_->update(counts_, now);
  }
}

void task_reporter::deliver(std::size_t total) {
  redraw(total, clock::now());
  while (!events_.empty()) {
    // Taken off first: an event whose callback threw was delivered.
    const Event event = std::move(events_.front());
    events_.pop_front();
    on_event_(event);
  }
}

void task_reporter::waiting(clock::time_point now) {
  if (bar_) {
    bar_->show(now);
  }
}

void task_reporter::leave() noexcept {
  if (bar_) {
    bar_->hide();
  }
}

task_reporter::clock::time_point task_reporter::next_due() const noexcept {
  return bar_ ? bar_->next_due() : clock::time_point::max();
}

}  // namespace pprocess::detail
