// SPDX-License-Identifier: MIT
#pragma once

// Telling an OOM kill from another SIGKILL, without dmesg: the kernel counts
// its OOM kills (`oom_kill`) per memory cgroup (v2 memory.events, v1
// memory.oom_control) and for the whole machine (/proc/vmstat). A SIGKILL
// the library did not send, while one of those counters grew, was probably
// the OOM killer's. Private to src/.

namespace pprocess::detail {

/// Takes the baseline: the counters as they are now. Called at a process's
/// first fork (the process table locked), so that it predates the
/// processes it will explain.
void oom_watch_start() noexcept;

/// Whether an OOM kill happened since the last look that no earlier death
/// was blamed on; if so, this death takes it. Reads the counters: call it
/// only to explain a SIGKILL the library did not send.
[[nodiscard]] bool oom_kill_since_last_look() noexcept;

}  // namespace pprocess::detail
