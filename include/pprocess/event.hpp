// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Event: what happened to one task, as Options::on_event is told.
///
///     pprocess::Options options{.on_event = [](const pprocess::Event& e) {
///       if (e.kind == pprocess::Event::Kind::failed) { ... }
///     }};
///
/// Events are reported in the creator, from the calls that drive the
/// exchange (store, wait, finish, Map's and Queue's accessors, pmap's
/// iteration): never from another thread or a signal handler.

#include <sys/types.h>  // pid_t

#include <chrono>
#include <cstddef>
#include <exception>

namespace pprocess {

/// What happened to one task, reported in the creator.
struct Event {
  enum class Kind {
    started,   // a process took the task
    finished,  // its result came in
    failed,    // its error is final (an exception, a death, a timeout)
    retried,   // its process died or ran too long: it runs again
  };
  Kind kind;
  /// Index in start order (pmap, Map(fn, range): the element's task).
  std::size_t task;
  /// The process that runs or ran it (0 where none is known).
  pid_t pid;
  /// 1 for the first run.
  unsigned attempt;
  /// Since the task started (0 for started).
  std::chrono::nanoseconds elapsed;
  /// failed, retried: why.
  std::exception_ptr error;
};

}  // namespace pprocess
