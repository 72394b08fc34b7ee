// SPDX-License-Identifier: MIT
#pragma once

#include <utility>

#include <pprocess/detail/unique_fd.hpp>

namespace pprocess::detail {

/// An owned descriptor that processes created later must not keep: channel
/// ends and pidfds.
///
/// fork() copies every descriptor, and close-on-exec does not help when no
/// exec follows. A created process holding a copy of a sibling's channel
/// would keep that channel open after the creator closed it: the sibling
/// would never see the end, and its death would not be noticed. So every
/// private_fd is listed, and a newly created process replaces each listed
/// number with /dev/null (keeping the number taken, so that its own copies
/// of the owning objects close a harmless descriptor later).
class [[nodiscard]] private_fd {
 public:
  private_fd() noexcept = default;
  explicit private_fd(unique_fd fd) noexcept;

  private_fd(const private_fd&) = delete;
  private_fd& operator=(const private_fd&) = delete;
  private_fd(private_fd&& other) noexcept : fd_(std::move(other.fd_)) {}
  private_fd& operator=(private_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::move(other.fd_);
    }
    return *this;
  }
  ~private_fd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_.get(); }
  [[nodiscard]] bool valid() const noexcept { return fd_.valid(); }
  explicit operator bool() const noexcept { return valid(); }

  /// Closes the descriptor and takes it off the list.
  void reset() noexcept;

 private:
  unique_fd fd_;
};

/// Around fork(): lock the list before; in the creator, unlock; in the
/// created process, put /dev/null in place of every listed descriptor, empty
/// the list and unlock.
void lock_private_fds_for_fork() noexcept;
void unlock_private_fds_in_creator() noexcept;
void hide_private_fds_in_created() noexcept;

}  // namespace pprocess::detail
