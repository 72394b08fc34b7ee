// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The exceptions pprocess throws. Everything derives from pprocess::Error.
///
/// Errors *travel*: an exception that escapes a callable in a created process
/// comes back as RemoteError, and a process that dies before delivering comes
/// back as ProcessError, both at the point where the creator consumes that
/// result. Failures of the channel itself are ChannelError, with a
/// `std::error_code` that says why.

#include <sys/types.h>  // pid_t

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace pprocess {

class RemoteError;
class ProcessError;

namespace detail {

/// How the library fills in what it learns of an error after building it
/// (the task's index, the number of runs): the exchange knows them at other
/// places than where the error is made. Not for users.
struct error_access {
  static void set_task(RemoteError& error, std::size_t task) noexcept;
  static void set_task(ProcessError& error, std::size_t task) noexcept;
  static void set_attempts(ProcessError& error, unsigned attempts) noexcept;
  /// What a crash report and the OOM counters told, carried over to a copy
  /// of the error made elsewhere (pprocess::mpi rebuilds a rank's errors on
  /// rank 0).
  static void set_death_details(ProcessError& error, std::string stack,
                                bool oom_killed);
};

}  // namespace detail

/// Base of every exception the library throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An exception escaped the callable in a created process.
///
/// `what()` is the original `what()`; `type_name()` is the demangled dynamic
/// type of the original exception, e.g. `"std::out_of_range"`.
class RemoteError : public Error {
 public:
  RemoteError(std::string type_name, const std::string& what)
      : Error(what), type_name_(std::move(type_name)) {}

  [[nodiscard]] const std::string& type_name() const noexcept {
    return type_name_;
  }

  /// The task's index in start order (Map, Queue, pmap); empty where the
  /// library has no task index (a plain Channel or Exchange).
  [[nodiscard]] std::optional<std::size_t> task() const noexcept {
    return task_;
  }

 private:
  friend struct detail::error_access;

  std::string type_name_;
  std::optional<std::size_t> task_;
};

/// A created process ended without delivering its result: it was killed by a
/// signal, exited early, or exited with a failure status.
///
/// A process that died of SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT left
/// its last words: `what()` adds the signal's cause and the faulting address
/// ("killed by SIGSEGV (invalid memory reference at 0x0: ...)") and the
/// stack of the crashing thread, which `stack()` returns alone. See
/// docs/api.md, "Crash reports".
class ProcessError : public Error {
 public:
  ProcessError(pid_t pid, int exit_status, int signal, const std::string& what)
      : Error(what), pid_(pid), exit_status_(exit_status), signal_(signal) {}

  /// Builds the error from a `waitpid()` status word; `context` opens the
  /// message (e.g. "process 42 ended without delivering its result").
  ///
  /// This is where a death is explained: a crash signal brings the crash
  /// report the process wrote as it died (its signal details and stack), a
  /// SIGKILL is checked against the kernel's OOM-kill counters. Pass
  /// `killed_by_library` when the library itself sent the SIGKILL (a
  /// timeout, an exchange ending its processes): that one is never
  /// attributed to the OOM killer.
  [[nodiscard]] static ProcessError from_wait_status(
      pid_t pid, int status, const std::string& context,
      bool killed_by_library = false);

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// Exit status, or -1 when the process was killed by a signal.
  [[nodiscard]] int exit_status() const noexcept { return exit_status_; }
  /// Terminating signal, or 0 when the process exited.
  [[nodiscard]] int signal() const noexcept { return signal_; }
  /// The task's index in start order (Map, Queue, pmap); empty where the
  /// library has no task index (a plain Channel or Exchange).
  [[nodiscard]] std::optional<std::size_t> task() const noexcept {
    return task_;
  }
  /// The crashing thread's stack, one frame a line ("#0 function at
  /// file:line"), when the process died of SIGSEGV, SIGBUS, SIGFPE, SIGILL
  /// or SIGABRT and left its report; empty otherwise. File and line need
  /// debug information (-g); without it, function names only.
  [[nodiscard]] const std::string& stack() const noexcept;
  /// The kernel's out-of-memory killer ended the process, as far as its
  /// OOM-kill counters tell (see docs/api.md on how exact that is).
  [[nodiscard]] bool oom_killed() const noexcept { return oom_killed_; }
  /// Runs of the task, retries included (1 without retries).
  [[nodiscard]] unsigned attempts() const noexcept { return attempts_; }

 private:
  friend struct detail::error_access;

  pid_t pid_;
  int exit_status_;
  int signal_;
  std::optional<std::size_t> task_;
  // Shared, so that copying the exception (as throw and exception_ptr may)
  // never allocates.
  std::shared_ptr<const std::string> stack_;
  bool oom_killed_ = false;
  unsigned attempts_ = 1;
};

/// The task ran past `Options::timeout` and was ended. A ProcessError, so
/// that `catch (const ProcessError&)` sees it too.
class TimeoutError : public ProcessError {
 public:
  TimeoutError(pid_t pid, int exit_status, int signal,
               std::chrono::milliseconds timeout, const std::string& what)
      : ProcessError(pid, exit_status, signal, what), timeout_(timeout) {}

  /// The timeout the task ran past.
  [[nodiscard]] std::chrono::milliseconds timeout() const noexcept {
    return timeout_;
  }

 private:
  std::chrono::milliseconds timeout_;
};

/// Library-defined reasons for a ChannelError. Failures the operating system
/// reports keep their errno in `std::system_category()` instead.
enum class ChannelErrc {
  closed = 1,            ///< the peer closed its end
  truncated_frame,       ///< the stream ended inside a frame
  malformed_frame,       ///< a frame header or payload that does not decode
  oversized_frame,       ///< a frame longer than the channel accepts
  type_mismatch,         ///< received another type than the one requested
  refused,               ///< the peer was not allowed to connect
  too_many_descriptors,  ///< a frame would carry more than 253 SharedArrays
};

/// The error category of ChannelErrc values ("pprocess.channel").
[[nodiscard]] const std::error_category& channel_category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(ChannelErrc e) noexcept {
  return {static_cast<int>(e), channel_category()};
}

/// The channel is closed or broken, or carried something unexpected.
///
/// `code()` says why: compare it with `ChannelErrc::closed` and friends, or
/// with `std::errc::broken_pipe` and the like for failures the OS reported.
class ChannelError : public Error {
 public:
  ChannelError(std::error_code code, const std::string& what)
      : Error(what), code_(code) {}

  [[nodiscard]] const std::error_code& code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

namespace detail {

inline void error_access::set_task(RemoteError& error,
                                   std::size_t task) noexcept {
  error.task_ = task;
}

inline void error_access::set_task(ProcessError& error,
                                   std::size_t task) noexcept {
  error.task_ = task;
}

inline void error_access::set_attempts(ProcessError& error,
                                       unsigned attempts) noexcept {
  error.attempts_ = attempts;
}
inline void error_access::set_death_details(ProcessError& error,
                                            std::string stack,
                                            bool oom_killed) {
  error.oom_killed_ = oom_killed;
  error.stack_ = stack.empty()
                     ? nullptr
                     : std::make_shared<const std::string>(std::move(stack));
}

}  // namespace detail
}  // namespace pprocess

template <>
struct std::is_error_code_enum<pprocess::ChannelErrc> : std::true_type {};
