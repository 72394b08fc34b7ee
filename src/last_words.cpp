// SPDX-License-Identifier: MIT
//
// The slots created processes write their last words to: handed out by the
// creator around each fork, read back when it reaps the process. See
// last_words.hpp for the protocol; this file keeps its cost per fork to a
// few stores on the fork page, which every fork writes anyway.
#include "last_words.hpp"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <deque>
#include <mutex>
#include <new>
#include <utility>

#include "crash_signals.hpp"
#include "fork_page.hpp"
#include "oom_watch.hpp"
#include "this_process.hpp"

namespace pprocess::detail {
namespace {

constexpr std::size_t slots_per_chunk = 64;  // one bit each in a word
/// At most this many chunks: processes forked beyond 1024 running at once
/// get no slot (and no crash report).
constexpr std::size_t max_chunks = 16;
/// getppid() is never -1: a target with this parent is nobody's.
constexpr pid_t no_parent = -1;

/// Slots, mapped shared so that the created process's writes reach us (in
/// /proc/<pid>/maps: "/dev/zero (deleted)", rw-s).
struct chunk {
  std::array<last_words, slots_per_chunk> slots;
};

/// A slot, and the pid the parent of its writer has: a process writes there
/// only if its parent is that process.
struct report_target {
  std::atomic<last_words*> slot{nullptr};
  std::atomic<pid_t> parent{no_parent};

  void set(last_words* s, pid_t p) noexcept {
    slot.store(s, std::memory_order_relaxed);
    parent.store(p, std::memory_order_relaxed);
  }
};

/// A process's slots, on the fork page. Changed under the process table's
/// lock; the signal handler only reads `next` and `own`.
struct slot_table {
  pid_t owner = 0;     // the process these slots are handed out by
  report_target next;  // the process being forked, between claim and fork
  report_target own;   // this process, if pprocess created it
  std::size_t chunk_count = 0;
  std::array<std::uint64_t, max_chunks> used{};
  std::array<chunk*, max_chunks> chunks{};
};

/// Set once, at the first fork of the first process that forks: inherited.
std::atomic<slot_table*> the_table{nullptr};

slot_table* table_locked() noexcept {
  slot_table* table = the_table.load(std::memory_order_relaxed);
  if (table == nullptr) {
    try {
      table = &make_on_fork_page<slot_table>();
    } catch (const std::bad_alloc&) {
      return nullptr;  // no crash reports
    }
    the_table.store(table, std::memory_order_release);
  }
  return table;
}

chunk* map_chunk() noexcept {
  void* memory = ::mmap(nullptr, sizeof(chunk), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  // Zero-filled: every slot starts `empty`, as the atomic's value 0 says.
  return memory == MAP_FAILED ? nullptr : static_cast<chunk*>(memory);
}

/// Reports copied out of their slots at reap, until from_wait_status()
/// takes them: a few, the oldest dropped beyond that (an error nobody
/// built). Made per process: a created process that forks in turn must not
/// find its creator's, nor a lock some creator thread held at the fork.
struct pending_reports {
  explicit pending_reports(pid_t o) : owner(o) {}
  pid_t owner;
  std::mutex mutex;
  std::deque<crash_record> records;
};
constexpr std::size_t max_pending = 64;

std::atomic<pending_reports*> the_pending{nullptr};

void keep_report(const last_words& slot) noexcept {
  const pid_t self = this_process();
  try {
    pending_reports* pending = the_pending.load(std::memory_order_acquire);
    if (pending == nullptr || pending->owner != self) {
      // Our creator's, if any, is left alone: it is not ours to free.
      pending = new pending_reports(self);
      the_pending.store(pending, std::memory_order_release);
    }
    crash_record record;
    record.pid = slot.pid;
    record.signal = slot.signal;
    record.code = slot.code;
    record.sender = slot.sender;
    record.address = slot.address;
    record.pc = slot.pc;
    const std::size_t count =
        std::min<std::size_t>(slot.frame_count, slot.frames.size());
    record.frames.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      record.frames.push_back(reinterpret_cast<std::uintptr_t>(slot.frames[i]));
    }
    const std::lock_guard lock(pending->mutex);
    // A pid seen again was reused: its older report is stale.
    std::erase_if(pending->records,
                  [&](const crash_record& r) { return r.pid == record.pid; });
    if (pending->records.size() == max_pending) {
      pending->records.pop_front();
    }
    pending->records.push_back(std::move(record));
  } catch (const std::bad_alloc&) {
    // The report is lost; the error still says how the process ended.
  }
}

/// Whether a process that ended with `status` may have left a report: a
/// crash signal, or a non-zero exit (a handler of the program's or a
/// sanitizer's, chained to after ours, may end the process itself).
bool may_have_crashed(int status) noexcept {
  if (WIFSIGNALED(status)) {
    return is_crash_signal(WTERMSIG(status));
  }
  return WIFEXITED(status) && WEXITSTATUS(status) != 0;
}

}  // namespace

last_words* last_words_slot() noexcept {
  const slot_table* table = the_table.load(std::memory_order_acquire);
  if (table == nullptr) {
    return nullptr;
  }
  const pid_t parent = ::getppid();
  // `next` first: a process just forked has not moved it to `own` (it does
  // so only when it forks in turn).
  if (table->next.parent.load(std::memory_order_relaxed) == parent) {
    return table->next.slot.load(std::memory_order_relaxed);
  }
  if (table->own.parent.load(std::memory_order_relaxed) == parent) {
    return table->own.slot.load(std::memory_order_relaxed);
  }
  return nullptr;
}

void prepare_fork_locked() noexcept {
  slot_table* table = table_locked();
  const pid_t self = this_process();
  if (table == nullptr || table->owner == self) {
    return;
  }
  // This process's first fork. If pprocess created it, the slot it was
  // given is in `next`, inherited: keep it as its own, then start a region
  // of its own for its children (its creator's chunks stay mapped: its own
  // slot is in one).
  table->own.set(table->next.slot.load(std::memory_order_relaxed),
                 table->next.parent.load(std::memory_order_relaxed));
  table->next.set(nullptr, no_parent);
  table->owner = self;
  table->chunk_count = 0;
  table->used.fill(0);
  table->chunks.fill(nullptr);
  install_crash_handlers();
  oom_watch_start();
}

std::uint32_t claim_slot_locked() noexcept {
  slot_table* table = the_table.load(std::memory_order_relaxed);
  if (table == nullptr || table->owner != this_process()) {
    return no_slot;
  }
  std::size_t c = 0;
  while (c < table->chunk_count && table->used[c] == ~std::uint64_t{0}) {
    ++c;
  }
  if (c == table->chunk_count) {
    // Every slot taken: one more chunk, while there is room for one.
    chunk* more = c < max_chunks ? map_chunk() : nullptr;
    if (more == nullptr) {
      return no_slot;
    }
    table->chunks[c] = more;
    table->used[c] = 0;
    ++table->chunk_count;
  }
  const auto bit = static_cast<std::size_t>(std::countr_one(table->used[c]));
  table->used[c] |= std::uint64_t{1} << bit;
  table->next.set(&table->chunks[c]->slots[bit], table->owner);
  return static_cast<std::uint32_t>(c * slots_per_chunk + bit);
}

void forked_locked() noexcept {
  if (slot_table* table = the_table.load(std::memory_order_relaxed)) {
    table->next.parent.store(no_parent, std::memory_order_relaxed);
  }
}

void release_slot_locked(std::uint32_t slot, pid_t pid, int status,
                         bool keep) noexcept {
  slot_table* table = the_table.load(std::memory_order_relaxed);
  if (slot == no_slot || table == nullptr || table->owner != this_process()) {
    return;
  }
  const std::size_t c = slot / slots_per_chunk;
  const std::size_t bit = slot % slots_per_chunk;
  if (c >= table->chunk_count) {
    return;
  }
  // The slot is read only when the process may have crashed: then, and
  // only then, its page is touched here.
  last_words& words = table->chunks[c]->slots[bit];
  if (may_have_crashed(status) &&
      words.state.load(std::memory_order_acquire) != last_words::empty) {
    if (keep &&
        words.state.load(std::memory_order_relaxed) == last_words::written &&
        words.pid == pid) {
      keep_report(words);
    }
    words.state.store(last_words::empty, std::memory_order_relaxed);
  }
  table->used[c] &= ~(std::uint64_t{1} << bit);
}

std::optional<crash_record> take_last_words(pid_t pid) {
  pending_reports* pending = the_pending.load(std::memory_order_acquire);
  if (pending == nullptr || pending->owner != this_process()) {
    return std::nullopt;
  }
  const std::lock_guard lock(pending->mutex);
  const auto it =
      std::find_if(pending->records.begin(), pending->records.end(),
                   [pid](const crash_record& r) { return r.pid == pid; });
  if (it == pending->records.end()) {
    return std::nullopt;
  }
  std::optional<crash_record> record(std::move(*it));
  pending->records.erase(it);
  return record;
}

}  // namespace pprocess::detail
