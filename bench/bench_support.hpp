// SPDX-License-Identifier: MIT
#pragma once

// Helpers shared by the benchmarks: plain POSIX I/O loops, a child process
// forked with a socketpair to it, the CPU-bound loop, a touched heap of a
// given size, and the workloads and parameter series that raw_bench.cpp and
// pprocess_bench.cpp both measure (report.py compares them by name). Nothing
// here uses pprocess: the raw baselines are built from these alone.

#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <benchmark/benchmark.h>

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

/// poll() until something is ready, or abort.
inline void poll_ready(pollfd* fds, std::size_t count) {
  while (::poll(fds, count, -1) < 0) {
    if (errno != EINTR) {
      std::abort();
    }
  }
}

/// A forked child and the creator's end of a socketpair to it.
struct child {
  pid_t pid = -1;
  int fd = -1;
};

/// Forks a child that runs `body(fd)` on its end of a new socketpair, then
/// exits with _exit(0); the creator keeps the other end.
template <class Body>
child spawn(Body&& body) {
  std::array<int, 2> sv{};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv.data()) != 0) {
    std::abort();
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::abort();
  }
  if (pid == 0) {
    ::close(sv[0]);
    body(sv[1]);
    ::_exit(0);
  }
  ::close(sv[1]);
  return {pid, sv[0]};
}

/// Closes the creator's end, then waits for the child.
inline void finish(child c) {
  ::close(c.fd);
  reap(c.pid);
}

/// Reads the child's answer of exactly `size` bytes, then finish()es it.
inline void collect(child c, void* data, std::size_t size) {
  if (!read_all(c.fd, data, size)) {
    std::abort();
  }
  finish(c);
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

// --- the workloads both raw_bench.cpp and pprocess_bench.cpp measure ---

/// Items and bytes of `results` bulk results of 64 MiB per iteration.
inline void set_bulk_processed(benchmark::State& state, int results = 1) {
  state.SetItemsProcessed(state.iterations() * results);
  state.SetBytesProcessed(state.iterations() * results *
                          static_cast<std::int64_t>(bulk_bytes));
}

/// The raw limit of a process per task: fork + one result over a socketpair
/// + waitpid, `tasks` trivial tasks, at most `limit` at once; returns the sum
/// of the results. (pprocess_bench also runs it, in turn with pprocess.)
inline long long raw_fork_tasks(int tasks, std::size_t limit) {
  std::vector<child> live;
  std::vector<pollfd> fds;
  long long sum = 0;
  int next = 0;
  int done = 0;
  while (done < tasks) {
    while (live.size() < limit && next < tasks) {
      const int x = next++;
      live.push_back(spawn([x](int fd) {
        const int result = trivial(x);
        write_all(fd, &result, sizeof result);
      }));
    }
    fds.clear();
    for (const child& c : live) {
      fds.push_back({c.fd, POLLIN, 0});
    }
    poll_ready(fds.data(), fds.size());
    for (std::size_t i = fds.size(); i-- > 0;) {
      if (fds[i].revents == 0) {
        continue;
      }
      int result = 0;
      collect(live[i], &result, sizeof result);
      sum += result;
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
      ++done;
    }
  }
  return sum;
}

/// Trivial tasks per iteration of the fork-per-task benchmarks.
inline constexpr int fork_tasks_per_iteration = 100;

/// The fork-per-task series: limit 1 and 2.
inline void fork_per_task_args(benchmark::internal::Benchmark* b) {
  b->ArgName("limit")->Arg(1)->Arg(2)->UseRealTime()->MinTime(1.0);
}

/// The CPU-bound tasks: 4 of ~200 ms each, over 1 and 2 processes.
inline constexpr int cpu_tasks = 4;

/// The rounds of spin() that make one CPU-bound task, measured once.
inline std::uint64_t cpu_task_rounds() {
  static const std::uint64_t rounds =
      spin_rounds_for(std::chrono::milliseconds(200));
  return rounds;
}

inline void cpu_bound_args(benchmark::internal::Benchmark* b) {
  b->ArgName("processes")->Arg(1)->Arg(2)->UseRealTime()->Iterations(2);
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

/// The fork-cost series: `run_tasks(20, 2)` (20 trivial tasks, a fresh
/// process each, 2 at a time) with a heap of state.range(0) MiB touched first.
template <class RunTasks>
void fork_heap(benchmark::State& state, RunTasks run_tasks) {
  const touched_heap heap(static_cast<std::size_t>(state.range(0)) * mib);
  constexpr int tasks = 20;
  for (auto _ : state) {
    benchmark::DoNotOptimize(run_tasks(tasks, 2));
  }
  state.SetItemsProcessed(state.iterations() * tasks);
}

/// The touched heaps of fork_heap: 2 MiB to 1 GiB (report.py's HEAPS_MIB).
inline void fork_heap_args(benchmark::internal::Benchmark* b) {
  b->ArgName("heap_mib")
      ->Arg(2)
      ->Arg(16)
      ->Arg(128)
      ->Arg(1024)
      ->UseRealTime()
      ->MinTime(0.5);
}

}  // namespace bench
