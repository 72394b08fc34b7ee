// SPDX-License-Identifier: MIT
#pragma once

// Memory for what the library writes around every fork: the process table,
// the list of private descriptors and the cached pid. After a fork, the first
// write to each page the new process still shares copies that page, in the
// creator and in the created process alike; keeping these together on one
// page makes that one copy each instead of one per table.

#include <memory_resource>
#include <new>
#include <utility>

namespace pprocess::detail {

/// Allocates from one page, then (once it is used up) from the heap.
/// Thread-safe. What it gives back is never reused: its users grow by
/// doubling, so the page holds their first few sizes. They grow under their
/// own locks, which fork_process() holds across fork(), so no created
/// process inherits this resource's lock taken.
std::pmr::memory_resource& fork_page() noexcept;

/// A `T` built in fork_page() and never destroyed (created processes and
/// static destructors must never find it gone).
template <class T, class... Args>
T& make_on_fork_page(Args&&... args) {
  void* place = fork_page().allocate(sizeof(T), alignof(T));
  return *::new (place) T(std::forward<Args>(args)...);
}

}  // namespace pprocess::detail
