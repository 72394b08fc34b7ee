// SPDX-License-Identifier: MIT
#include "pprocess/detail/batch_board.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <new>

#include "errors.hpp"

namespace pprocess::detail {

batch_board::batch_board(std::size_t slots) : size_(slots) {
  void* memory =
      ::mmap(nullptr, slots * sizeof(batch_slot), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    throw os_error(errno, "pmap: mapping the pool's board");
  }
  slots_ = static_cast<batch_slot*>(memory);
  for (std::size_t i = 0; i < slots; ++i) {
    ::new (&slots_[i]) batch_slot;
  }
}

batch_board::~batch_board() {
  (void)::munmap(slots_, size_ * sizeof(batch_slot));
}

}  // namespace pprocess::detail
