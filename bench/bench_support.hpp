// SPDX-License-Identifier: MIT
#pragma once

// Helpers shared by the benchmarks: plain POSIX I/O loops, the CPU-bound
// loop, and a touched heap of a given size. Nothing here uses pprocess: the
// raw baselines are built from these alone.

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace bench {

inline constexpr std::size_t mib = std::size_t{1} << 20;

/// 64 MiB of doubles: the bulk result of the bulk benchmarks.
inline constexpr std::size_t bulk_bytes = 64 * mib;
inline constexpr std::size_t bulk_doubles = bulk_bytes / sizeof(double);

/// The trivial task of the overhead benchmarks.
inline int trivial(int x) {
  return x + 1;
}

/// Writes all of `data`, or aborts: a baseline that fails is no baseline.
inline void write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      std::abort();
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

/// Reads exactly `size` bytes; false at a clean end before the first byte.
inline bool read_all(int fd, void* data, std::size_t size) {
  auto* p = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, p + done, size - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      std::abort();
    }
    if (n == 0) {
      if (done == 0) {
        return false;
      }
      std::abort();
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

inline void reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

/// A CPU-bound loop (xorshift64) that no compiler folds away.
inline std::uint64_t spin(std::uint64_t rounds) {
  std::uint64_t x = 88172645463325252ULL;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

/// The rounds of spin() that take about `target` on this machine, measured
/// once on one core.
inline std::uint64_t spin_rounds_for(std::chrono::milliseconds target) {
  using clock = std::chrono::steady_clock;
  constexpr std::uint64_t probe = 20'000'000;
  std::uint64_t best_ns = ~std::uint64_t{0};
  for (int i = 0; i < 3; ++i) {
    const auto t0 = clock::now();
    volatile std::uint64_t sink = spin(probe);
    (void)sink;
    const auto ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0)
            .count());
    best_ns = ns < best_ns ? ns : best_ns;
  }
  const auto target_ns = static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(target).count());
  return static_cast<std::uint64_t>(static_cast<double>(probe) * target_ns /
                                    static_cast<double>(best_ns));
}

/// `size` bytes of anonymous memory, every page written: the "touched heap"
/// of the fork-cost series (page tables populated, as after real work).
class touched_heap {
 public:
  explicit touched_heap(std::size_t size) : size_(size) {
    if (size_ == 0) {
      return;
    }
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      std::abort();
    }
    data_ = static_cast<char*>(p);
    std::memset(data_, 1, size_);
  }
  ~touched_heap() {
    if (data_ != nullptr) {
      ::munmap(data_, size_);
    }
  }
  touched_heap(const touched_heap&) = delete;
  touched_heap& operator=(const touched_heap&) = delete;

 private:
  char* data_ = nullptr;
  std::size_t size_;
};

}  // namespace bench
