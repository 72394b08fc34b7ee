// SPDX-License-Identifier: MIT
//
// The raw limits: what the same work costs written by hand in plain C/C++
// with nothing but POSIX calls. pprocess_bench.cpp measures the library
// against these, and report.py prints the ratios.
//
// Everything that forks is timed in real (wall-clock) time: the default CPU
// timer sees only the calling thread, never the created processes.

#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_support.hpp"

namespace {

// fork + one result over a socketpair + waitpid, per task

using bench::raw_fork_tasks;

void BM_RawForkPerTask(benchmark::State& state) {
  const auto limit = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        raw_fork_tasks(bench::fork_tasks_per_iteration, limit));
  }
  state.SetItemsProcessed(state.iterations() * bench::fork_tasks_per_iteration);
}
BENCHMARK(BM_RawForkPerTask)
    ->Name("raw/fork_per_task")
    ->Apply(bench::fork_per_task_args);

// The same, with the parent's heap touched first: fork copies the page
// tables, so its cost grows with the memory the parent has written.
void BM_RawForkHeap(benchmark::State& state) {
  bench::fork_heap(state, raw_fork_tasks);
}
BENCHMARK(BM_RawForkHeap)->Name("raw/fork_heap")->Apply(bench::fork_heap_args);

// socketpair ping-pong

void BM_RawPingPong(benchmark::State& state) {
  const bench::child peer = bench::spawn([](int fd) {
    std::uint64_t value = 0;
    while (bench::read_all(fd, &value, sizeof value)) {
      ++value;
      bench::write_all(fd, &value, sizeof value);
    }
  });
  std::uint64_t value = 0;
  for (auto _ : state) {
    bench::write_all(peer.fd, &value, sizeof value);
    bench::read_all(peer.fd, &value, sizeof value);
  }
  bench::finish(peer);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawPingPong)->Name("raw/ping_pong")->UseRealTime()->MinTime(0.5);

// a pool of 2 pre-forked workers
//
// Each message is a count n followed by n ints; the worker answers with the n
// results of bench::trivial. One message in flight per worker. batch = 1 is one
// message per task (what a reusable process is sent per call); batch = 1000 is
// what a batching map sends.

struct worker : bench::child {
  std::uint32_t outstanding = 0;
};

worker spawn_pool_worker() {
  return {bench::spawn([](int fd) {
    std::vector<int> in;
    std::vector<int> out;
    std::uint32_t n = 0;
    while (bench::read_all(fd, &n, sizeof n)) {
      in.resize(n);
      out.resize(n);
      bench::read_all(fd, in.data(), n * sizeof(int));
      for (std::uint32_t i = 0; i < n; ++i) {
        out[i] = bench::trivial(in[i]);
      }
      bench::write_all(fd, out.data(), n * sizeof(int));
    }
  })};
}

class raw_pool {
 public:
  raw_pool() {
    for (auto& w : workers_) {
      w = spawn_pool_worker();
    }
  }
  ~raw_pool() {
    // Close every end first: the second worker holds a copy of the first
    // one's (it was forked after it), so the first sees its end only once
    // the second is gone.
    for (auto& w : workers_) {
      ::close(w.fd);
    }
    for (auto& w : workers_) {
      bench::reap(w.pid);
    }
  }
  raw_pool(const raw_pool&) = delete;
  raw_pool& operator=(const raw_pool&) = delete;

  /// Squares 0..tasks-1 in batches of `batch`; returns the sum.
  long long run(int tasks, std::uint32_t batch) {
    int next = 0;
    int done = 0;
    long long sum = 0;
    for (auto& w : workers_) {
      send_batch(w, next, tasks, batch);
    }
    std::array<pollfd, 2> fds{};
    while (done < tasks) {
      for (std::size_t i = 0; i < workers_.size(); ++i) {
        fds[i] = {workers_[i].outstanding != 0 ? workers_[i].fd : -1, POLLIN,
                  0};
      }
      bench::poll_ready(fds.data(), fds.size());
      for (std::size_t i = 0; i < workers_.size(); ++i) {
        if (fds[i].revents == 0) {
          continue;
        }
        worker& w = workers_[i];
        results_.resize(w.outstanding);
        bench::read_all(w.fd, results_.data(), w.outstanding * sizeof(int));
        for (const int r : results_) {
          sum += r;
        }
        done += static_cast<int>(w.outstanding);
        w.outstanding = 0;
        send_batch(w, next, tasks, batch);
      }
    }
    return sum;
  }

 private:
  void send_batch(worker& w, int& next, int tasks, std::uint32_t batch) {
    const auto n =
        static_cast<std::uint32_t>(std::min<long long>(batch, tasks - next));
    if (n == 0) {
      return;
    }
    message_.resize(1 + n);
    message_[0] = static_cast<int>(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      message_[1 + i] = next++;
    }
    bench::write_all(w.fd, message_.data(), message_.size() * sizeof(int));
    w.outstanding = n;
  }

  std::array<worker, 2> workers_{};
  std::vector<int> message_;
  std::vector<int> results_;
};

void BM_RawPool(benchmark::State& state) {
  const auto batch = static_cast<std::uint32_t>(state.range(0));
  const int tasks = batch == 1 ? 20'000 : 1'000'000;
  raw_pool pool;
  for (auto _ : state) {
    benchmark::DoNotOptimize(pool.run(tasks, batch));
  }
  state.SetItemsProcessed(state.iterations() * tasks);
}
BENCHMARK(BM_RawPool)
    ->Name("raw/pool2")
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(1000)
    ->UseRealTime()
    ->MinTime(1.0);

// bulk: 64 MiB through a socketpair, and memcpy

/// 64 MiB, every page written.
std::vector<char> warm_block() {
  return std::vector<char>(bench::bulk_bytes, 1);
}

void BM_RawSocketBulk(benchmark::State& state) {
  const bench::child sender = bench::spawn([](int fd) {
    const std::vector<char> block = warm_block();
    char request = 0;
    while (bench::read_all(fd, &request, 1)) {
      bench::write_all(fd, block.data(), block.size());
    }
  });
  std::vector<char> into = warm_block();
  for (auto _ : state) {
    const char request = 1;
    bench::write_all(sender.fd, &request, 1);
    bench::read_all(sender.fd, into.data(), into.size());
    benchmark::DoNotOptimize(into.data());
  }
  bench::finish(sender);
  bench::set_bulk_processed(state);
}
BENCHMARK(BM_RawSocketBulk)
    ->Name("raw/socket_bulk_64mib")
    ->UseRealTime()
    ->MinTime(1.0);

// 64 MiB never touched before: anonymous memory, or a memory file (memfd,
// MAP_SHARED): the pages a SharedArray gets.
enum class fresh_memory { anonymous, memfd };

struct fresh_block {
  void* data;
  int fd;  // the memory file, or -1
};

fresh_block map_fresh(fresh_memory kind) {
  int fd = -1;
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
  if (kind == fresh_memory::memfd) {
    fd = ::memfd_create("bench", MFD_CLOEXEC);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(bench::bulk_bytes)) != 0) {
      std::abort();
    }
    flags = MAP_SHARED;
  }
  void* p =
      ::mmap(nullptr, bench::bulk_bytes, PROT_READ | PROT_WRITE, flags, fd, 0);
  if (p == MAP_FAILED) {
    std::abort();
  }
  return {p, fd};
}

/// Times `fill(to)` into fresh memory of `kind`, its mapping included; the
/// unmapping is not timed.
template <class Fill>
void fill_fresh(benchmark::State& state, fresh_memory kind, Fill fill) {
  for (auto _ : state) {
    const fresh_block to = map_fresh(kind);
    fill(to.data);
    benchmark::DoNotOptimize(to.data);
    state.PauseTiming();
    ::munmap(to.data, bench::bulk_bytes);
    if (to.fd >= 0) {
      ::close(to.fd);
    }
    state.ResumeTiming();
  }
  bench::set_bulk_processed(state);
}

// Copy into memory never touched before: every page faults and is zeroed by
// the kernel first. This bounds any receive into a new buffer.
void BM_RawMemcpyFresh(benchmark::State& state) {
  const std::vector<char> from = warm_block();
  fill_fresh(state, fresh_memory::anonymous,
             [&from](void* to) { std::memcpy(to, from.data(), from.size()); });
}
BENCHMARK(BM_RawMemcpyFresh)
    ->Name("raw/memcpy_fresh_64mib")
    ->UseRealTime()
    ->MinTime(1.0);

void BM_RawMemcpyWarm(benchmark::State& state) {
  const std::vector<char> from = warm_block();
  std::vector<char> to = warm_block();
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), from.size());
    benchmark::DoNotOptimize(to.data());
  }
  bench::set_bulk_processed(state);
}
BENCHMARK(BM_RawMemcpyWarm)
    ->Name("raw/memcpy_warm_64mib")
    ->UseRealTime()
    ->MinTime(1.0);

// First touch alone: the page-fault cost of 64 MiB of new memory; in a
// memory file too, whose pages come from the page cache (shmem) and fault
// at a higher cost than anonymous ones.
void BM_RawFirstTouch(benchmark::State& state, fresh_memory kind) {
  fill_fresh(state, kind,
             [](void* to) { std::memset(to, 1, bench::bulk_bytes); });
}
BENCHMARK_CAPTURE(BM_RawFirstTouch, anonymous, fresh_memory::anonymous)
    ->Name("raw/first_touch_64mib")
    ->UseRealTime()
    ->MinTime(1.0);
BENCHMARK_CAPTURE(BM_RawFirstTouch, memfd, fresh_memory::memfd)
    ->Name("raw/first_touch_memfd_64mib")
    ->UseRealTime()
    ->MinTime(1.0);

// CPU-bound: 4 tasks of ~200 ms, a process each, 1 or 2 at a time
//
// The scaling limit of this machine during this run: when other programs
// keep a core busy, this drops below 2 as much as pprocess's does.

void BM_RawCpuBound(benchmark::State& state) {
  const std::uint64_t rounds = bench::cpu_task_rounds();
  const auto limit = static_cast<int>(state.range(0));
  for (auto _ : state) {
    for (int first = 0; first < bench::cpu_tasks; first += limit) {
      std::array<pid_t, 2> pids{};
      for (int i = 0; i < limit; ++i) {
        pids[static_cast<std::size_t>(i)] = ::fork();
        if (pids[static_cast<std::size_t>(i)] == 0) {
          volatile std::uint64_t sink = bench::spin(rounds);
          (void)sink;
          ::_exit(0);
        }
      }
      for (int i = 0; i < limit; ++i) {
        bench::reap(pids[static_cast<std::size_t>(i)]);
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * bench::cpu_tasks);
}
BENCHMARK(BM_RawCpuBound)->Name("raw/cpu_bound")->Apply(bench::cpu_bound_args);

// a std::thread pool of 2 threads, trivial tasks
//
// Registered last: the benchmarks above fork, and forking is simplest while
// the process has one thread.

class thread_pool {
 public:
  explicit thread_pool(unsigned threads) {
    for (unsigned i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { work(); });
    }
  }
  ~thread_pool() {
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    work_ready_.notify_all();
    for (auto& t : threads_) {
      t.join();
    }
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  void submit(std::function<void()> task) {
    {
      const std::lock_guard lock(mutex_);
      queue_.push_back(std::move(task));
      ++pending_;
    }
    work_ready_.notify_one();
  }

  void wait() {
    std::unique_lock lock(mutex_);
    all_done_.wait(lock, [this] { return pending_ == 0; });
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        work_ready_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) {
          return;
        }
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
      const std::lock_guard lock(mutex_);
      if (--pending_ == 0) {
        all_done_.notify_all();
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable all_done_;
  std::deque<std::function<void()>> queue_;
  std::size_t pending_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

void BM_ThreadPool(benchmark::State& state) {
  constexpr int tasks = 100'000;
  std::vector<int> results(tasks);
  thread_pool pool(2);
  for (auto _ : state) {
    for (int i = 0; i < tasks; ++i) {
      pool.submit([&results, i] {
        results[static_cast<std::size_t>(i)] = bench::trivial(i);
      });
    }
    pool.wait();
    benchmark::DoNotOptimize(results.data());
  }
  state.SetItemsProcessed(state.iterations() * tasks);
}
BENCHMARK(BM_ThreadPool)->Name("raw/thread_pool2")->UseRealTime()->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
