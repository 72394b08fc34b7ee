// SPDX-License-Identifier: MIT
#pragma once

// The numbers that tune how an Exchange schedules and waits; private to
// src/exchange*.cpp.

#include <chrono>
#include <cstddef>

namespace pprocess::detail {

// How long a process that was asked to end may take before SIGKILL.
inline constexpr std::chrono::milliseconds termination_grace{500};
// How long a task that ran past Options::timeout has between SIGTERM and
// SIGKILL (GNU parallel's first step is 200 ms too).
inline constexpr std::chrono::milliseconds timeout_grace{200};
// A channel at its end belongs to a process that is exiting: the kernel
// closes descriptors just before the process becomes reapable.
inline constexpr std::chrono::milliseconds exit_status_wait{2000};
// A process is watched by a pidfd once it has run this long (or when its
// end must be waited for): until then its channel tells when it ends, unless
// a process of its own holds the channel open, which this bounds.
inline constexpr std::chrono::milliseconds pidfd_after{5};
// Without pidfds, processes that must be reaped are polled this often.
inline constexpr std::chrono::milliseconds reap_poll_interval{10};
// Calls in flight per kept process: at least the one it runs and the next;
// short calls, as many as run in pipeline_target, up to max_pipeline_depth
// (each call is one part of a gather write: well under IOV_MAX).
inline constexpr std::size_t pipeline_depth = 2;
inline constexpr std::size_t max_pipeline_depth = 256;
inline constexpr std::chrono::milliseconds pipeline_target{2};
// The calls queued behind a running one take at most this many bytes (see
// feed()).
inline constexpr std::size_t pipeline_frame_limit = 64 * 1024;
// A pmap element that runs this much longer than the job's elements do
// (and at least stall_floor) holds up the work queued behind it in its
// process: that work is handed to the others.
inline constexpr std::chrono::milliseconds stall_floor{1000};
inline constexpr int stall_factor = 20;
// How long an adaptive pmap range aims to run.
inline constexpr std::chrono::milliseconds batch_target{5};

}  // namespace pprocess::detail
