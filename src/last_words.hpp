// SPDX-License-Identifier: MIT
#pragma once

// Last words: what a created process that crashes writes as it dies (its
// signal, the faulting address, the raw stack) into memory its creator
// mapped shared before the fork, and how the creator hands out that memory
// and reads it back once the process is reaped. Private to src/.
//
// Each created process gets a slot. The creator picks it under the process
// table's lock just before fork() and points "the next process's slot" at
// it; the created process finds it there, inherited, and stores nothing
// unless it crashes. The creator keeps the slot in the process table entry
// and frees it when it reaps the process, copying the report aside first if
// the process crashed, until from_wait_status() asks for it.

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace pprocess::detail {

/// Frames a report shows at most.
inline constexpr std::size_t max_report_frames = 64;

/// One slot, as the dying process writes it (async-signal-safe: plain
/// stores and backtrace()). `state` is written first and last.
struct last_words {
  enum : std::uint32_t { empty = 0, writing = 1, written = 2 };
  std::atomic<std::uint32_t> state;
  pid_t pid;     // the writer: a slot's report is only believed for it
  int signal;    // si_signo
  int code;      // si_code
  pid_t sender;  // si_pid, for a signal sent by kill() or raise()
  std::uint32_t frame_count;
  std::uintptr_t address;  // si_addr
  std::uintptr_t pc;       // the interrupted instruction; 0: unknown
  // The handler's own frames come first: room for them on top.
  std::array<void*, max_report_frames + 8> frames;
};

/// A report copied out of its slot, kept for from_wait_status().
struct crash_record {
  pid_t pid = 0;
  int signal = 0;
  int code = 0;
  pid_t sender = 0;
  std::uintptr_t address = 0;
  std::uintptr_t pc = 0;
  std::vector<std::uintptr_t> frames;  // innermost first, handler included
};

/// The slot the calling process writes to if it crashes now, or nullptr
/// (not a process pprocess created, or one without a slot). Async-signal-
/// safe: one getppid() and plain loads.
last_words* last_words_slot() noexcept;

inline constexpr std::uint32_t no_slot = UINT32_MAX;

/// Creator side, each with the process table locked (see child.cpp), so
/// that the slots change under the lock fork_process() holds across fork().
///
/// Before a fork: the first time in this process, sets up crash reports
/// (signal handlers, the OOM baseline, a region of slots of its own).
void prepare_fork_locked() noexcept;
/// Picks a slot for the process about to be forked and points the next
/// process's slot at it; no_slot when none could be had.
std::uint32_t claim_slot_locked() noexcept;
/// After the fork, in the creator: no later process (a raw fork of the
/// program's own) may take the last one's slot for its own.
void forked_locked() noexcept;
/// Frees `slot`, once its process `pid` is reaped with `status`. When the
/// status says it crashed (or exited non-zero, perhaps from a crash
/// handler) and it left its report, the report is kept for
/// take_last_words() if `keep`.
void release_slot_locked(std::uint32_t slot, pid_t pid, int status,
                         bool keep) noexcept;

/// The report `pid` left as it died, if any; taken once.
std::optional<crash_record> take_last_words(pid_t pid);

}  // namespace pprocess::detail
