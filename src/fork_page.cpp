// SPDX-License-Identifier: MIT
#include "fork_page.hpp"

#include <array>
#include <cstddef>
#include <mutex>

namespace pprocess::detail {
namespace {

constexpr std::size_t page_size = 4096;

/// monotonic_buffer_resource is not thread-safe: the tables that share it
/// each have their own lock, so this one serializes their allocations.
class locked_page_resource final : public std::pmr::memory_resource {
 public:
  locked_page_resource() noexcept
      : arena_(page_.data(), page_.size(), std::pmr::new_delete_resource()) {}

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    const std::lock_guard lock(mutex_);
    return arena_.allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes,
                     std::size_t alignment) override {
    const std::lock_guard lock(mutex_);
    arena_.deallocate(p, bytes, alignment);  // a no-op: see fork_page()
  }
  bool do_is_equal(const memory_resource& other) const noexcept override {
    return this == &other;
  }

  alignas(page_size) std::array<std::byte, page_size> page_{};
  std::mutex mutex_;
  std::pmr::monotonic_buffer_resource arena_;
};

}  // namespace

std::pmr::memory_resource& fork_page() noexcept {
  // Never destroyed: see make_on_fork_page.
  static auto* resource = new locked_page_resource;
  return *resource;
}

}  // namespace pprocess::detail
