// SPDX-License-Identifier: MIT
//
// Exchange: how a task ends when it does not deliver. Its process ended
// (end_process), or ran past Options::timeout and is being ended
// (enforce_timeouts); then the task runs again or its error is final
// (retry_or_fail), the one place where that is decided.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <string>

#include <pprocess/exchange.hpp>

#include "exchange_tuning.hpp"
#include "task_reporter.hpp"

namespace pprocess {
namespace {

using clock = std::chrono::steady_clock;
using detail::exchange_entry;

bool exited_cleanly(int status) {
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/// `error` (a ProcessError) with the task and the number of runs filled in:
/// a copy, since one error may stand for several tasks.
std::exception_ptr stamped(const std::exception_ptr& error,
                           detail::task_ticket ticket) {
  const auto stamp = [&](auto copy) {
    detail::error_access::set_task(copy, ticket.task);
    detail::error_access::set_attempts(copy, ticket.attempt);
    return std::make_exception_ptr(std::move(copy));
  };
  try {
    std::rethrow_exception(error);
  } catch (const TimeoutError& e) {
    return stamp(e);
  } catch (const ProcessError& e) {
    return stamp(e);
  } catch (...) {
    return error;
  }
}

bool is_process_error(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const ProcessError&) {
    return true;
  } catch (...) {
    return false;
  }
}

std::string describe_ending(std::optional<std::chrono::milliseconds> timeout,
                            pid_t pid, std::optional<int> status) {
  std::string text = "ran past its timeout of " +
                     std::to_string(timeout ? timeout->count() : 0) +
                     " ms: process " + std::to_string(pid) + " was ended";
  if (status && WIFSIGNALED(*status)) {
    text += WTERMSIG(*status) == SIGKILL ? " (SIGKILL)" : " (SIGTERM)";
  }
  return text;
}

}  // namespace

bool Exchange::retry_or_fail(detail::task_ticket ticket,
                             const std::exception_ptr& error, bool clean,
                             bool delivered, bool can_run_again,
                             const detail::task_context& context,
                             bool succeeded) {
  // A process that died may die for reasons outside the task (a machine
  // short of memory, a kill from outside): run it again, a bounded number
  // of times. An exception is the task's own answer: never. Neither is a
  // channel the exchange did not start (add, create): it has no recipe.
  if (can_run_again && !clean && !delivered &&
      ticket.attempt <= options_.retries && is_process_error(error)) {
    if (reporter_) {
      reporter_->retried(ticket.task, stamped(error, ticket), context);
    }
    return true;
  }
  const std::exception_ptr final_error = stamped(error, ticket);
  if (reporter_) {
    if (succeeded) {
      reporter_->finished(ticket.task, 1, context);
    } else {
      reporter_->failed(ticket.task, final_error, context);
    }
  }
  task_ended(ticket.task, final_error, clean, delivered);
  return false;
}

std::optional<std::size_t> Exchange::running_element(
    const exchange_entry& worker) const {
  if (worker.batches.empty()) {
    return std::nullopt;
  }
  const detail::batch_job& job = jobs_[worker.job];
  const std::uint64_t element =
      (*job.board)[worker.slot].element.load(std::memory_order_acquire);
  const detail::batch_flight& front = worker.batches.front();
  if (element < front.first || element >= front.last) {
    return std::nullopt;  // between ranges
  }
  return static_cast<std::size_t>(element);
}

std::optional<clock::time_point> Exchange::running_since(
    const exchange_entry& entry) const {
  if (entry.persistent) {
    return std::nullopt;  // a background process: not ours to time
  }
  if (entry.job != detail::no_pool) {
    if (!running_element(entry)) {
      return std::nullopt;
    }
    const std::int64_t ns =
        (*jobs_[entry.job].board)[entry.slot].started_ns.load(
            std::memory_order_relaxed);
    return clock::time_point(clock::duration(ns));
  }
  if (entry.tasks.empty()) {
    return std::nullopt;  // an idle kept process
  }
  // A kept process runs its oldest call from when the one before it was
  // delivered (or, idle, from when it was sent); any other process, its one
  // task from its start.
  return entry.pool != detail::no_pool ? entry.last_delivery : entry.started;
}

clock::time_point Exchange::enforce_timeouts(clock::time_point now) {
  auto wake = clock::time_point::max();
  if (!options_.timeout) {
    return wake;
  }
  for (auto& owned : active_) {
    exchange_entry& entry = *owned;
    detail::child& process = detail::channel_access::process(entry.channel);
    if (entry.ending) {
      if (now >= entry.kill_at) {
        process.signal(SIGKILL);  // the grace is over
        entry.kill_at = clock::time_point::max();
      }
      wake = std::min(wake, entry.kill_at);
      continue;
    }
    const std::optional<clock::time_point> since = running_since(entry);
    if (!since) {
      continue;
    }
    const auto due = *since + *options_.timeout;
    if (now < due) {
      wake = std::min(wake, due);
      continue;
    }
    if (process.ended()) {
      // It ended in time, and the loop (late on a loaded machine) has not
      // served its end yet: that end, not the clock, says how it went.
      continue;
    }
    // Too long: end the process, and take no more work to it. Its end
    // (store() watches its pidfd, which signal() opens) fails the task.
    const std::optional<std::size_t> element = running_element(entry);
    entry.ending = true;
    entry.draining = true;
    entry.blamed = element ? *element : entry.tasks.front().task;
    entry.kill_at = now + detail::timeout_grace;
    process.signal(SIGTERM);
    wake = std::min(wake, entry.kill_at);
  }
  return wake;
}

void Exchange::end_process(exchange_entry& entry) {
  detail::child& process = detail::channel_access::process(entry.channel);
  const pid_t pid = entry.channel.pid();
  const bool ended = process && process.wait_for(detail::exit_status_wait);
  const int status = ended ? *process.status() : 0;
  const bool persistent = entry.persistent;
  std::exception_ptr error;
  if (persistent) {
    error = std::make_exception_ptr(ChannelError(
        ChannelErrc::closed,
        "the background process " + std::to_string(pid) + " at '" +
            detail::channel_access::address(entry.channel) +
            "' broke off before its end (it died, or it served everything "
            "to another collector)"));
  } else if (entry.ending) {
    const std::size_t task =
        entry.job != detail::no_pool
            ? jobs_[entry.job].first_task + entry.blamed  // an element
            : entry.blamed;
    const std::string what =
        "task " + std::to_string(task) + " " +
        describe_ending(options_.timeout, pid, process.status());
    error = std::make_exception_ptr(TimeoutError(
        pid, ended && WIFEXITED(status) ? WEXITSTATUS(status) : -1,
        ended && WIFSIGNALED(status) ? WTERMSIG(status) : 0,
        options_.timeout.value_or(std::chrono::milliseconds(0)), what));
  } else if (ended) {
    error = std::make_exception_ptr(ProcessError::from_wait_status(
        pid, status,
        "process " + std::to_string(pid) +
            " ended before delivering its result"));
  } else {
    error = std::make_exception_ptr(
        ProcessError(pid, 0, 0,
                     "process " + std::to_string(pid) +
                         " closed its channel before delivering its result"));
  }
  const bool clean =
      !persistent && !entry.ending && (!ended || exited_cleanly(status));
  const detail::task_context context =
      reporter_ ? context_of(entry) : detail::task_context{};
  if (entry.job != detail::no_pool) {
    batch_process_ended(entry, error);
    return;
  }
  const detail::fifo<detail::task_ticket> tasks = std::move(entry.tasks);
  // A task timed out, but its result came in before its process ended:
  // the call then running was not to blame, and runs again elsewhere.
  const bool front_blamed =
      !entry.ending || (!tasks.empty() && tasks.front().task == entry.blamed);
  // Calls queued behind the one that was running were never started: they
  // go back to the front of the line, in order, for another process.
  for (std::size_t k = entry.calls.size(); k > (front_blamed ? 1 : 0); --k) {
    waiting_.push_front({tasks[k - 1].task,
                         entry.pool,
                         {},
                         std::move(entry.calls[k - 1]),
                         false,
                         tasks[k - 1].attempt});
  }
  if (tasks.empty() || !front_blamed) {
    retire(entry);
    return;  // an idle kept process, or a channel without a task
  }
  const detail::task_ticket front = tasks.front();
  const bool delivered = entry.delivered;
  const bool one_value = entry.one_value;
  const std::size_t pool = entry.pool;
  // A body of the user's, read to its end, is done when it ends well or
  // sent something; a process of the library's owed a value.
  const bool succeeded =
      delivered || (clean && !one_value && pool == detail::no_pool);
  detail::encoded_frame call =
      entry.calls.empty() ? detail::encoded_frame{} : std::move(entry.calls[0]);
  detail::deferred_start recipe = std::move(entry.recipe);
  retire(entry);
  if (retry_or_fail(front, error, clean, delivered,
                    pool != detail::no_pool || static_cast<bool>(recipe),
                    context, succeeded)) {
    waiting_.push_front({front.task, pool, std::move(recipe), std::move(call),
                         one_value, front.attempt + 1});
  }
}

}  // namespace pprocess
