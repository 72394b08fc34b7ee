// SPDX-License-Identifier: MIT
#pragma once

// The signal handlers that write a crashing created process's last words
// (last_words.hpp), and the alternate stack they run on. Private to src/.
//
// Both are set up in the creator, before its forks, and inherited: a
// created process pays nothing for them unless it crashes.

namespace pprocess::detail {

/// Whether `signal` is one whose death leaves a report: SIGSEGV, SIGBUS,
/// SIGFPE, SIGILL, SIGABRT.
[[nodiscard]] bool is_crash_signal(int signal) noexcept;

/// Installs our handler for the crash signals, once per program (created
/// processes inherit it), keeping the handlers found there to chain to.
/// Loads libgcc's unwinder first, so that a dying process needs no dlopen.
/// Called with the process table locked.
void install_crash_handlers() noexcept;

/// Gives the calling thread an alternate signal stack, once per thread,
/// unless it has one already: a created process inherits its forking
/// thread's, so that the report is written even after a stack overflow.
void ensure_alt_stack() noexcept;

}  // namespace pprocess::detail
