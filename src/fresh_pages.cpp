// SPDX-License-Identifier: MIT
#include "pprocess/detail/fresh_pages.hpp"

#include <sys/mman.h>

#include <new>

namespace pprocess::detail {

void* map_fresh_pages(std::size_t bytes) {
  void* data = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (data == MAP_FAILED) {
    throw std::bad_alloc();
  }
  return data;
}

void unmap_pages(void* data, std::size_t bytes) noexcept {
  (void)::munmap(data, bytes);
}

}  // namespace pprocess::detail
