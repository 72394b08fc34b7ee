// SPDX-License-Identifier: MIT
#pragma once

#include <sys/types.h>  // pid_t

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>

#include <pprocess/detail/private_fd.hpp>

namespace pprocess::detail {

/// Sole owner of one created process: its pid and, on Linux ≥ 5.3 and once
/// asked for (pollable()), a pidfd that becomes readable when the process
/// ends, so that poll() notices a death even when no channel says so. Most
/// processes end without one: opening and closing it costs more than a
/// short task (the exchange asks only for processes that run a while, or
/// whose end it must wait for).
///
/// Every created process is listed in a process-wide table until it is
/// reaped, so that `pprocess::waitall()` can reap processes whose handles
/// still live and the handle still learns their status. A handle destroyed
/// before its process ended leaves it in the table; the next library call
/// (or waitall) reaps it: no zombie outlives the program's use of pprocess.
class [[nodiscard]] child {
 public:
  child() noexcept = default;
  /// Takes ownership of `pid`, a process this process just forked and
  /// registered (see fork.cpp).
  explicit child(pid_t pid) noexcept;

  child(const child&) = delete;
  child& operator=(const child&) = delete;
  child(child&& other) noexcept;
  child& operator=(child&& other) noexcept;
  ~child();

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  explicit operator bool() const noexcept { return pid_ > 0; }

  /// A descriptor that polls readable once the process ended, opened on the
  /// first call; -1 when the kernel has no pidfd or the process was reaped
  /// (then callers poll with a timeout and try_reap()).
  [[nodiscard]] int pollable() noexcept;

  /// The pidfd if pollable() opened one, else -1.
  [[nodiscard]] int pidfd() const noexcept { return pidfd_.get(); }

  /// Reaps the process if it has ended; true once it has (status() is set).
  bool try_reap() noexcept;
  /// Whether the process has ended (reaped or not), without reaping it.
  [[nodiscard]] bool ended() const noexcept;

  /// Waits up to `timeout` for the process to end; true once it has.
  bool wait_for(std::chrono::milliseconds timeout) noexcept;

  /// Waits as long as it takes.
  void wait() noexcept;

  /// The waitpid() status word, once reaped.
  [[nodiscard]] std::optional<int> status() const noexcept { return status_; }

  /// Sends `signal` unless the process was already reaped.
  void signal(int signal) noexcept;

  /// Stops owning the process without waiting for it: a background process
  /// that must outlive its creator.
  void detach() noexcept;

 private:
  pid_t pid_ = 0;
  private_fd pidfd_;
  bool pidfd_tried_ = false;  // pollable() was called: do not try again
  std::optional<int> status_;
};

/// Ends `children` as an exchange going away must: SIGTERM each one that
/// still runs, wait up to `grace` for all of them, SIGKILL the rest, reap.
void terminate_all(std::span<child*> children,
                   std::chrono::milliseconds grace) noexcept;

/// The process table around fork(): lock it before, then either register
/// the new pid (creator) with the slot it was given for a crash report, or
/// forget the creator's children (created process, whose creator's
/// children are not its own). Holding the lock across fork() keeps another
/// thread from leaving it locked in the child.
void lock_table_for_fork() noexcept;
void unlock_table_in_creator(pid_t created, std::uint32_t slot) noexcept;
void unlock_table_in_created() noexcept;

/// Reaps every registered process, blocking until each one has ended.
void reap_all() noexcept;

}  // namespace pprocess::detail
