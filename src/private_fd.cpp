// SPDX-License-Identifier: MIT
#include "pprocess/detail/private_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "fork_page.hpp"

namespace pprocess::detail {
namespace {

struct fd_list {
  std::mutex mutex;
  // A flat list on the fork page: no allocation per descriptor (each
  // allocation after a fork copies a heap page the new process still
  // shares), and the same page as the other tables every fork writes.
  std::pmr::vector<int> fds{&fork_page()};
  // /dev/null, opened at a fork with descriptors listed and closed when the
  // list empties: what a created process puts in place of each listed
  // descriptor (it inherits this one), so that it opens no file itself.
  int placeholder = -1;
};

fd_list& list() noexcept {
  static fd_list& instance = make_on_fork_page<fd_list>();
  return instance;
}

}  // namespace

private_fd::private_fd(unique_fd fd) noexcept : fd_(std::move(fd)) {
  if (fd_) {
    auto& l = list();
    const std::lock_guard lock(l.mutex);
    l.fds.push_back(fd_.get());
  }
}

void private_fd::reset() noexcept {
  if (fd_) {
    auto& l = list();
    // Closed under the lock, so that no fork() sees the number listed and
    // closed, or unlisted and open.
    const std::lock_guard lock(l.mutex);
    if (const auto it = std::find(l.fds.begin(), l.fds.end(), fd_.get());
        it != l.fds.end()) {
      *it = l.fds.back();
      l.fds.pop_back();
    }
    fd_.reset();
    if (l.fds.empty() && l.placeholder >= 0) {
      (void)::close(l.placeholder);
      l.placeholder = -1;
    }
  }
}

void lock_private_fds_for_fork() noexcept {
  auto& l = list();
  l.mutex.lock();
  if (!l.fds.empty() && l.placeholder < 0) {
    // Failing leaves -1: the created process then closes what it hides.
    l.placeholder = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  }
}

void unlock_private_fds_in_creator() noexcept {
  list().mutex.unlock();
}

void hide_private_fds_in_created() noexcept {
  auto& l = list();
  for (const int fd : l.fds) {
    if (l.placeholder >= 0) {
      // dup3 replaces the descriptor atomically and keeps it close-on-exec.
      (void)::dup3(l.placeholder, fd, O_CLOEXEC);
    } else {
      (void)::close(fd);
    }
  }
  // The placeholder stays: this process's own channel is listed next.
  l.fds.clear();
  l.mutex.unlock();
}

}  // namespace pprocess::detail
