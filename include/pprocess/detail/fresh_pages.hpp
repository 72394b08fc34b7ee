// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>

namespace pprocess::detail {

/// `bytes` of memory straight from the kernel: private, zero-filled pages
/// that no process created earlier shares. (Memory from the heap may have
/// existed at a fork, and the first write to each such page then copies
/// it.) Throws std::bad_alloc when the kernel refuses.
[[nodiscard]] void* map_fresh_pages(std::size_t bytes);

/// Returns memory from map_fresh_pages to the kernel.
void unmap_pages(void* data, std::size_t bytes) noexcept;

}  // namespace pprocess::detail
