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

#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>

namespace pprocess {

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

 private:
  std::string type_name_;
};

/// A created process ended without delivering its result: it was killed by a
/// signal, exited early, or exited with a failure status.
class ProcessError : public Error {
 public:
  ProcessError(pid_t pid, int exit_status, int signal, const std::string& what)
      : Error(what), pid_(pid), exit_status_(exit_status), signal_(signal) {}

  /// Builds the error from a `waitpid()` status word; `context` opens the
  /// message (e.g. "process 42 ended without delivering its result").
  [[nodiscard]] static ProcessError from_wait_status(
      pid_t pid, int status, const std::string& context);

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// Exit status, or -1 when the process was killed by a signal.
  [[nodiscard]] int exit_status() const noexcept { return exit_status_; }
  /// Terminating signal, or 0 when the process exited.
  [[nodiscard]] int signal() const noexcept { return signal_; }

 private:
  pid_t pid_;
  int exit_status_;
  int signal_;
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

}  // namespace pprocess

template <>
struct std::is_error_code_enum<pprocess::ChannelErrc> : std::true_type {};
