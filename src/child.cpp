// SPDX-License-Identifier: MIT
#include "pprocess/detail/child.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "fork_page.hpp"
#include "last_words.hpp"

namespace pprocess::detail {
namespace {

struct table_entry {
  bool owned = true;             // a child handle still refers to it
  std::optional<int> status;     // set when reaped by someone else (waitall)
  std::uint32_t slot = no_slot;  // for its last words (last_words.hpp)
};

/// The children of this process not reaped yet: few, so a flat list. (A
/// hash map allocated a node per fork, and each allocation after a fork
/// copies a heap page the new process still shares.) It lives on the fork
/// page, with the other tables that every fork writes.
class pid_list {
 public:
  using item = std::pair<pid_t, table_entry>;
  [[nodiscard]] auto begin() noexcept { return items_.begin(); }
  [[nodiscard]] auto end() noexcept { return items_.end(); }
  using iterator = std::pmr::vector<item>::iterator;
  [[nodiscard]] iterator find(pid_t pid) noexcept {
    return std::find_if(items_.begin(), items_.end(),
                        [pid](const item& i) { return i.first == pid; });
  }
  void add(pid_t pid, std::uint32_t slot) {
    items_.emplace_back(pid, table_entry{true, std::nullopt, slot});
  }
  /// Removes `*it` (the last item takes its place); returns where the next
  /// item to look at is.
  iterator erase(iterator it) noexcept {
    if (it + 1 != items_.end()) {
      *it = std::move(items_.back());
    }
    items_.pop_back();
    return it;
  }
  void clear() noexcept { items_.clear(); }

 private:
  std::pmr::vector<item> items_{&fork_page()};
};

struct process_table {
  std::mutex mutex;
  pid_list entries;
};

process_table& table() noexcept {
  static process_table& instance = make_on_fork_page<process_table>();
  return instance;
}

/// waitpid() retried on EINTR; returns its result.
pid_t wait_pid(pid_t pid, int* status, int options) noexcept {
  pid_t result = 0;
  do {
    result = ::waitpid(pid, status, options);
  } while (result < 0 && errno == EINTR);
  return result;
}

/// The process of `entry` was reaped with `status` (`reaped`), or is lost
/// to someone else's waitpid: its slot is free, its report (if it crashed)
/// kept for the error that will be built if a handle still wants it.
void reaped_locked(pid_t pid, table_entry& entry, int status,
                   bool reaped) noexcept {
  release_slot_locked(entry.slot, pid, status, reaped && entry.owned);
  entry.slot = no_slot;
}

/// Reaps the processes no handle owns any more; the table is locked.
void reap_orphans_locked(process_table& t) noexcept {
  for (auto it = t.entries.begin(); it != t.entries.end();) {
    int status = 0;
    pid_t result = 0;
    if (!it->second.owned &&
        (it->second.status ||
         (result = wait_pid(it->first, &status, WNOHANG)) != 0)) {
      reaped_locked(it->first, it->second, status, result > 0);
      it = t.entries.erase(it);
    } else {
      ++it;
    }
  }
}

int open_pidfd(pid_t pid) noexcept {
#ifdef SYS_pidfd_open
  // pidfds are close-on-exec from birth.
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

}  // namespace

child::child(pid_t pid) noexcept : pid_(pid) {}

child::child(child&& other) noexcept
    : pid_(std::exchange(other.pid_, 0)),
      pidfd_(std::move(other.pidfd_)),
      pidfd_tried_(std::exchange(other.pidfd_tried_, false)),
      status_(std::exchange(other.status_, std::nullopt)) {}

int child::pollable() noexcept {
  // Only while the process is ours and not reaped: its pid cannot have
  // been given to another process yet.
  if (!pidfd_tried_ && pid_ > 0 && !status_) {
    pidfd_tried_ = true;
    pidfd_ = private_fd(unique_fd(open_pidfd(pid_)));
  }
  return pidfd_.get();
}

child& child::operator=(child&& other) noexcept {
  if (this != &other) {
    detach();
    pid_ = std::exchange(other.pid_, 0);
    pidfd_ = std::move(other.pidfd_);
    pidfd_tried_ = std::exchange(other.pidfd_tried_, false);
    status_ = std::exchange(other.status_, std::nullopt);
  }
  return *this;
}

child::~child() {
  detach();
}

void child::detach() noexcept {
  if (pid_ > 0 && !status_) {
    auto& t = table();
    const std::lock_guard lock(t.mutex);
    if (auto it = t.entries.find(pid_); it != t.entries.end()) {
      it->second.owned = false;
      reap_orphans_locked(t);
    }
  }
  pid_ = 0;
  pidfd_.reset();
  pidfd_tried_ = false;
  status_.reset();
}

bool child::ended() const noexcept {
  if (status_) {
    return true;
  }
  siginfo_t info{};
  return pid_ > 0 &&
         ::waitid(P_PID, static_cast<id_t>(pid_), &info,
                  WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid_;
}

bool child::try_reap() noexcept {
  if (status_) {
    return true;
  }
  if (pid_ <= 0) {
    return false;
  }
  auto& t = table();
  const std::lock_guard lock(t.mutex);
  auto it = t.entries.find(pid_);
  if (it == t.entries.end()) {
    // Not in this process's table: we are a created process holding a copy
    // of our creator's handle. The pid is not ours to wait for.
    status_ = 0;
    return true;
  }
  if (it->second.status) {
    status_ = it->second.status;
  } else {
    int status = 0;
    const pid_t result = wait_pid(pid_, &status, WNOHANG);
    if (result == 0) {
      return false;
    }
    // ECHILD: someone reaped it behind our back (a waitpid(-1) of the
    // program's own); its status is lost, so count it as a clean exit.
    status_ = result > 0 ? status : 0;
    reaped_locked(pid_, it->second, status, result > 0);
  }
  t.entries.erase(it);
  pidfd_.reset();
  return true;
}

bool child::wait_for(std::chrono::milliseconds timeout) noexcept {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + timeout;
  while (!try_reap()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - clock::now());
    if (left.count() <= 0) {
      return false;
    }
    if (pollable() >= 0) {
      pollfd p{pidfd_.get(), POLLIN, 0};
      (void)::poll(&p, 1, static_cast<int>(left.count()) + 1);
    } else {
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(2)));
    }
  }
  return true;
}

void child::wait() noexcept {
  while (!wait_for(std::chrono::hours(1))) {
  }
}

void child::signal(int signal) noexcept {
  // Reaped behind our back (a waitpid(-1) of the program's own), the pid
  // may name another process by now: try_reap() learns of it first.
  if (pid_ > 0 && !try_reap()) {
#ifdef SYS_pidfd_send_signal
    if (pollable() >= 0 && ::syscall(SYS_pidfd_send_signal, pidfd_.get(),
                                     signal, nullptr, 0) == 0) {
      return;
    }
#endif
    (void)::kill(pid_, signal);
  }
}

void terminate_all(std::span<child*> children,
                   std::chrono::milliseconds grace) noexcept {
  using clock = std::chrono::steady_clock;
  for (child* c : children) {
    if (!c->try_reap()) {
      c->signal(SIGTERM);
    }
  }
  const auto deadline = clock::now() + grace;
  for (child* c : children) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - clock::now());
    if (!c->wait_for(std::max(left, std::chrono::milliseconds(0)))) {
      c->signal(SIGKILL);
    }
  }
  for (child* c : children) {
    c->wait();
  }
}

void lock_table_for_fork() noexcept {
  table().mutex.lock();
}

void unlock_table_in_creator(pid_t created, std::uint32_t slot) noexcept {
  // created == 0: fork() failed (or the process is reaped elsewhere),
  // nothing to register.
  auto& t = table();
  reap_orphans_locked(t);
  if (created > 0) {
    t.entries.add(created, slot);
  } else {
    release_slot_locked(slot, 0, 0, false);
  }
  t.mutex.unlock();
}

void unlock_table_in_created() noexcept {
  auto& t = table();
  // The creator's children are not ours: waitpid() would fail with ECHILD,
  // and waitall() in this process must not wait for them.
  t.entries.clear();
  t.mutex.unlock();
}

void reap_all() noexcept {
  auto& t = table();
  std::vector<pid_t> pending;
  {
    const std::lock_guard lock(t.mutex);
    for (const auto& [pid, entry] : t.entries) {
      if (!entry.status) {
        pending.push_back(pid);
      }
    }
  }
  for (const pid_t pid : pending) {
    int status = 0;
    const pid_t result = wait_pid(pid, &status, 0);
    const std::lock_guard lock(t.mutex);
    auto it = t.entries.find(pid);
    if (it == t.entries.end()) {
      continue;  // its handle reaped it meanwhile
    }
    if (!it->second.status) {
      reaped_locked(pid, it->second, status, result > 0);
    }
    if (!it->second.owned) {
      t.entries.erase(it);
    } else if (result > 0) {
      it->second.status = status;
    } else if (!it->second.status) {
      it->second.status = 0;  // lost to someone else's waitpid
    }
  }
}

}  // namespace pprocess::detail
