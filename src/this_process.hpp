// SPDX-License-Identifier: MIT
#pragma once

// The pid of the calling process, without a system call each time; private
// to src/.

#include <sys/types.h>

namespace pprocess::detail {

/// getpid(), remembered until the next fork (a pthread_atfork handler
/// forgets it in the new process). The exchange asks on every call, to
/// refuse a created process's use of its creator's exchange.
pid_t this_process() noexcept;

}  // namespace pprocess::detail
