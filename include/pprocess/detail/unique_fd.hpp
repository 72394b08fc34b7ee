// SPDX-License-Identifier: MIT
#pragma once

#include <unistd.h>  // ::close

#include <utility>  // std::exchange, std::swap

namespace pprocess::detail {

/// Sole owner of one POSIX file descriptor; closes it when destroyed.
///
/// Move-only. A default-constructed or moved-from `unique_fd` holds -1 and
/// owns nothing. Descriptors handed to it are expected to be close-on-exec
/// already (`SOCK_CLOEXEC`, `O_CLOEXEC`, `PIDFD` descriptors are by default).
class [[nodiscard]] unique_fd {
 public:
  constexpr unique_fd() noexcept = default;
  constexpr explicit unique_fd(int fd) noexcept : fd_(fd) {}

  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;

  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    reset(other.release());  // safe for self-move: release() runs first
    return *this;
  }

  ~unique_fd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  /// Stops owning the descriptor without closing it and returns it (or -1).
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

  /// Closes the current descriptor, if any, then owns `fd`.
  void reset(int fd = -1) noexcept {
    const int old = std::exchange(fd_, fd);
    if (old >= 0 && old != fd) {
      // Never retry close() on EINTR: Linux has already freed the number,
      // and a retry may close a descriptor another thread just received.
      (void)::close(old);
    }
  }

  friend void swap(unique_fd& a, unique_fd& b) noexcept {
    std::swap(a.fd_, b.fd_);
  }

 private:
  int fd_ = -1;
};

}  // namespace pprocess::detail
