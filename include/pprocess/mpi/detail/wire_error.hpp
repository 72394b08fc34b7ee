// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// A task's error as it crosses from the rank that ran the task to rank 0.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

namespace pprocess::mpi::detail {

/// The fields of a RemoteError, ProcessError, TimeoutError or other Error
/// (encoded with cereal), for the element or call at `offset` of a piece.
struct wire_error {
  enum kind_t : std::uint8_t { error = 0, remote, process, timeout };

  std::uint64_t offset = 0;
  std::uint8_t kind = error;
  std::string type_name;  // RemoteError: the original exception's type
  std::string what;
  std::int32_t pid = 0;
  std::int32_t exit_status = 0;
  std::int32_t signal = 0;
  std::string stack;
  bool oom_killed = false;
  std::uint32_t attempts = 1;
  std::int64_t timeout_ms = 0;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(offset, kind, type_name, what, pid, exit_status, signal, stack,
            oom_killed, attempts, timeout_ms);
  }
};

/// What `error` (a task's failure, as a Map keeps it) says.
wire_error to_wire(const std::exception_ptr& error, std::uint64_t offset);

/// The error again, as rank 0 hands it to the program: the same type and
/// fields, `task` as its task(), and its what() opened by the rank and
/// host that ran the task ("rank 2 (host h2): ...").
std::exception_ptr from_wire(const wire_error& error, std::size_t task,
                             int rank, const std::string& host);

}  // namespace pprocess::mpi::detail
