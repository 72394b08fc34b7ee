// SPDX-License-Identifier: MIT
#pragma once

// UNIX-domain sockets for background processes; private to src/.

#include <sys/types.h>

#include <optional>

namespace pprocess::detail {

struct credentials {
  pid_t pid;
  uid_t uid;
};

/// The peer's pid and uid as the kernel recorded them at connect time
/// (SO_PEERCRED), or nothing if the kernel would not say.
std::optional<credentials> peer_credentials(int socket) noexcept;

}  // namespace pprocess::detail
