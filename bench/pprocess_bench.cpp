// SPDX-License-Identifier: MIT
//
// pprocess on the workloads of docs/performance.md: per-task overhead of
// fork-per-task maps, latency and throughput of reusable processes, pmap of
// many tiny tasks (with a journal too), bulk results, CPU-bound scaling, and
// how the cost of a fork grows with the creator's heap. raw_bench.cpp holds the
// hand-written limits these are compared with; the bulk benchmark's
// hand-written twin is here, next to it, so both run under the same conditions.
//
// Everything that forks is timed in real (wall-clock) time: the default CPU
// timer sees only the calling thread, never the created processes.

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include <pprocess/pprocess.hpp>

#if __has_include(<pprocess/shared_array.hpp>)
#include <pprocess/shared_array.hpp>
#define PPROCESS_BENCH_HAVE_SHARED_ARRAY 1
#else
#define PPROCESS_BENCH_HAVE_SHARED_ARRAY 0
#endif

#include "bench_support.hpp"
#include "render.hpp"
#include "scene.hpp"

namespace {

/// Sum of trivial(i) for i in [0, n).
long long expected_sum(long long n) {
  return n * (n + 1) / 2;
}

// fork per task: Map + manage(MakeParallel(f)), no reuse

using bench::fork_tasks_per_iteration;

long long map_fork_tasks(
    int tasks, std::size_t limit,
    std::optional<std::chrono::milliseconds> timeout = {}) {
  pprocess::Map<int> results({.limit = limit, .timeout = timeout});
  auto call = results.manage(pprocess::MakeParallel(bench::trivial));
  for (int i = 0; i < tasks; ++i) {
    call(i);
  }
  long long sum = 0;
  for (int i = 0; i < tasks; ++i) {
    sum += results[static_cast<std::size_t>(i)];
  }
  return sum;
}

void BM_MapForkPerTask(benchmark::State& state) {
  const auto limit = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    const long long sum = map_fork_tasks(fork_tasks_per_iteration, limit);
    if (sum != expected_sum(fork_tasks_per_iteration)) {
      state.SkipWithError("wrong results");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * fork_tasks_per_iteration);
}
BENCHMARK(BM_MapForkPerTask)
    ->Name("pprocess/map_fork_per_task")
    ->Apply(bench::fork_per_task_args);

// Two ways of doing the same work (`tasks` tasks each) in turn, the order
// swapped each time, so that a change in the machine's load falls on both;
// sets the "ratio" counter to b's time over a's, and returns the times per
// task of a and b in microseconds.
template <class A, class B>
std::pair<double, double> run_paired(benchmark::State& state, int tasks, A&& a,
                                     B&& b) {
  using clock = std::chrono::steady_clock;
  clock::duration time_a{};
  clock::duration time_b{};
  bool a_first = true;
  for (auto _ : state) {
    for (int turn = 0; turn < 2; ++turn) {
      const bool run_a = (turn == 0) == a_first;
      const auto t0 = clock::now();
      const bool right = run_a ? a() : b();
      (run_a ? time_a : time_b) += clock::now() - t0;
      if (!right) {
        state.SkipWithError("wrong results");
        return {};
      }
    }
    a_first = !a_first;
  }
  const double runs = static_cast<double>(state.iterations()) * tasks;
  const auto us = [&](clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count() / runs;
  };
  state.counters["ratio"] = us(time_b) / us(time_a);
  state.SetItemsProcessed(state.iterations() * 2 * tasks);
  return {us(time_a), us(time_b)};
}

// The same Map next to the raw loop (bench_support.hpp), in turn every 100
// tasks: the ratio of their times is what the fork-per-task targets
// compare, and a change in the machine's load, which separate runs minutes
// apart would take for a difference, falls on both.
void BM_ForkPerTaskPaired(benchmark::State& state) {
  const auto limit = static_cast<std::size_t>(state.range(0));
  const long long expected = expected_sum(fork_tasks_per_iteration);
  const auto [raw_us, map_us] = run_paired(
      state, fork_tasks_per_iteration,
      [&] {
        return bench::raw_fork_tasks(fork_tasks_per_iteration, limit) ==
               expected;
      },
      [&] {
        return map_fork_tasks(fork_tasks_per_iteration, limit) == expected;
      });
  state.counters["raw_us"] = raw_us;
  state.counters["pprocess_us"] = map_us;
}
BENCHMARK(BM_ForkPerTaskPaired)
    ->Name("pprocess/fork_per_task_paired")
    ->ArgName("limit")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MinTime(3.0);

// Fork per task with a timeout set (an hour: never reached) next to the
// same without: what watching the deadlines costs.
void BM_TimeoutPaired(benchmark::State& state) {
  const auto limit = static_cast<std::size_t>(state.range(0));
  const long long expected = expected_sum(fork_tasks_per_iteration);
  run_paired(
      state, fork_tasks_per_iteration,
      [&] {
        return map_fork_tasks(fork_tasks_per_iteration, limit) == expected;
      },
      [&] {
        return map_fork_tasks(fork_tasks_per_iteration, limit,
                              std::chrono::hours(1)) == expected;
      });
}
BENCHMARK(BM_TimeoutPaired)
    ->Name("pprocess/timeout_paired")
    ->ArgName("limit")
    ->Arg(2)
    ->UseRealTime()
    ->MinTime(3.0);

// A pmap of 100k tiny elements in which one element crashes its process,
// next to the same pmap without the crash: what a crash costs the rest.
constexpr int crash_pmap_size = 100'000;

bool pmap_sums_right(bool crash) {
  std::vector<int> input(crash_pmap_size);
  std::iota(input.begin(), input.end(), 0);
  auto results = pprocess::pmap(
      [crash](int i) {
        if (crash && i == crash_pmap_size / 2) {
          ::raise(SIGKILL);
        }
        return bench::trivial(i);
      },
      input, {.limit = 2});
  long long sum = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    try {
      sum += results[i];
    } catch (const pprocess::ProcessError&) {
      sum += bench::trivial(static_cast<int>(i));  // as if it had delivered
    }
  }
  return sum == expected_sum(crash_pmap_size);
}

void BM_PmapCrashPaired(benchmark::State& state) {
  run_paired(
      state, crash_pmap_size, [] { return pmap_sums_right(false); },
      [] { return pmap_sums_right(true); });
}
BENCHMARK(BM_PmapCrashPaired)
    ->Name("pprocess/pmap_crash_paired")
    ->UseRealTime()
    ->MinTime(3.0);

// pmap of 1M trivial elements with a progress bar next to the same without
// (stderr as the bench has it: a terminal or a log, plain lines then).
constexpr int progress_pmap_size = 1'000'000;

bool pmap_with_progress_sums_right(bool progress) {
  std::vector<int> input(progress_pmap_size);
  std::iota(input.begin(), input.end(), 0);
  auto results =
      pprocess::pmap(bench::trivial, input, {.limit = 2, .progress = progress});
  long long sum = 0;
  for (const int s : results) {
    sum += s;
  }
  return sum == expected_sum(progress_pmap_size);
}

void BM_PmapProgressPaired(benchmark::State& state) {
  run_paired(
      state, progress_pmap_size,
      [] { return pmap_with_progress_sums_right(false); },
      [] { return pmap_with_progress_sums_right(true); });
}
BENCHMARK(BM_PmapProgressPaired)
    ->Name("pprocess/pmap_progress_paired")
    ->UseRealTime()
    ->MinTime(3.0);

// The layer below the exchange: pprocess::start and one receive per task,
// one process at a time. Tells the exchange's share of the cost from the
// channel's and the fork's.
void BM_StartPerTask(benchmark::State& state) {
  long long sum = 0;
  for (auto _ : state) {
    for (int i = 0; i < fork_tasks_per_iteration; ++i) {
      pprocess::Channel channel = pprocess::start(
          [](pprocess::Channel& ch, int x) { ch.send(bench::trivial(x)); }, i);
      sum += channel.receive<int>();
    }
  }
  benchmark::DoNotOptimize(sum);
  pprocess::waitall();
  state.SetItemsProcessed(state.iterations() * fork_tasks_per_iteration);
}
BENCHMARK(BM_StartPerTask)
    ->Name("pprocess/start_per_task")
    ->UseRealTime()
    ->MinTime(1.0);

// Fork per task with the creator's heap touched first (2 MiB to 1 GiB).
void BM_ForkHeap(benchmark::State& state) {
  bench::fork_heap(state, [](int tasks, std::size_t limit) {
    return map_fork_tasks(tasks, limit);
  });
}
BENCHMARK(BM_ForkHeap)
    ->Name("pprocess/fork_heap")
    ->Apply(bench::fork_heap_args);

// one channel, ping-pong

void BM_ChannelRoundTrip(benchmark::State& state) {
  pprocess::Channel channel = pprocess::start([](pprocess::Channel& ch) {
    for (;;) {
      int value = 0;
      try {
        value = ch.receive<int>();
      } catch (const pprocess::ChannelError&) {
        return;  // the creator closed the channel
      }
      ch.send(value + 1);
    }
  });
  int value = 0;
  for (auto _ : state) {
    channel.send(value);
    value = channel.receive<int>();
  }
  channel.close();
  pprocess::waitall();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ChannelRoundTrip)
    ->Name("pprocess/channel_round_trip")
    ->UseRealTime()
    ->MinTime(0.5);

// reuse = true: calls through manage

// Latency: one call at a time, its result read before the next call.
void BM_ManageReuseLatency(benchmark::State& state) {
  pprocess::Map<int> results({.limit = 2, .reuse = true});
  auto call = results.manage(pprocess::MakeReusable(bench::trivial));
  std::size_t index = 0;
  for (auto _ : state) {
    call(static_cast<int>(index % 1000));
    benchmark::DoNotOptimize(results[index]);
    ++index;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ManageReuseLatency)
    ->Name("pprocess/manage_reuse_latency")
    ->UseRealTime()
    ->MinTime(1.0);

// Throughput: many calls made, then every result read, so that the 2 kept
// processes are both busy (compare the raw pool with batch = 1).
void BM_ManageReuseThroughput(benchmark::State& state) {
  constexpr int tasks = 20'000;
  pprocess::Map<int> results({.limit = 2, .reuse = true});
  auto call = results.manage(pprocess::MakeReusable(bench::trivial));
  for (auto _ : state) {
    const std::size_t first = results.size();
    for (int i = 0; i < tasks; ++i) {
      call(i);
    }
    long long sum = 0;
    for (std::size_t i = first; i < first + tasks; ++i) {
      sum += results[i];
    }
    if (sum != expected_sum(tasks)) {
      state.SkipWithError("wrong results");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * tasks);
}
BENCHMARK(BM_ManageReuseThroughput)
    ->Name("pprocess/manage_reuse_throughput")
    ->UseRealTime()
    ->MinTime(1.0);

// pmap of many trivial tasks

// A size whose run would take longer than this (judged from the smaller
// sizes, which run first) is skipped, so that the suite stays short even
// when pmap forks once per element.
constexpr double pmap_budget_seconds = 40.0;
double pmap_seconds_per_task = 0.0;

/// A pmap of `n` trivial tasks, limit 2; whether its results are right.
bool pmap_sums_right_plain(int n) {
  std::vector<int> input(static_cast<std::size_t>(n));
  std::iota(input.begin(), input.end(), 0);
  auto results = pprocess::pmap(bench::trivial, input, {.limit = 2});
  long long sum = 0;
  for (const int s : results) {
    sum += s;
  }
  return sum == expected_sum(n);
}

void BM_Pmap(benchmark::State& state) {
  const auto n = static_cast<int>(state.range(0));
  const double projected = pmap_seconds_per_task * n;
  if (projected > pmap_budget_seconds) {
    const std::string why = "skipped: would take about " +
                            std::to_string(static_cast<int>(projected)) +
                            " s at the smaller size's pace";
    state.SkipWithError(why.c_str());
    for (auto _ : state) {
    }
    return;
  }
  std::vector<int> input(static_cast<std::size_t>(n));
  std::iota(input.begin(), input.end(), 0);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    auto results = pprocess::pmap(bench::trivial, input, {.limit = 2});
    long long sum = 0;
    for (const int s : results) {
      sum += s;
    }
    if (sum != expected_sum(n)) {
      state.SkipWithError("wrong results");
      break;
    }
  }
  const std::chrono::duration<double> elapsed =
      std::chrono::steady_clock::now() - t0;
  pmap_seconds_per_task =
      elapsed.count() / static_cast<double>(state.iterations() * n);
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Pmap)
    ->Name("pprocess/pmap")
    ->ArgName("tasks")
    ->Arg(10'000)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->UseRealTime()
    ->MinTime(1.0);

// The same pmap of 1M trivial tasks with a journal (a fresh file each run,
// in a directory under the temporary directory) next to it without: what
// keeping every result in the file costs per element (the "cost_us"
// counter). Each run writes the whole journal: nothing is taken from it.
constexpr int journal_pmap_size = 1'000'000;

bool journal_pmap_sums_right(const std::filesystem::path& journal) {
  std::vector<int> input(journal_pmap_size);
  std::iota(input.begin(), input.end(), 0);
  std::filesystem::remove(journal);
  auto results =
      pprocess::pmap(bench::trivial, input, {.limit = 2, .journal = journal});
  long long sum = 0;
  for (const int s : results) {
    sum += s;
  }
  return sum == expected_sum(journal_pmap_size);
}

void BM_PmapJournalPaired(benchmark::State& state) {
  std::string dir =
      (std::filesystem::temp_directory_path() / "pprocess-bench-XXXXXX")
          .string();
  if (::mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    for (auto _ : state) {
    }
    return;
  }
  const std::filesystem::path journal =
      std::filesystem::path(dir) / "pmap.journal";
  const auto [plain_us, journal_us] = run_paired(
      state, journal_pmap_size,
      [] { return pmap_sums_right_plain(journal_pmap_size); },
      [&] { return journal_pmap_sums_right(journal); });
  state.counters["plain_us"] = plain_us;
  state.counters["journal_us"] = journal_us;
  state.counters["cost_us"] = journal_us - plain_us;
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}
BENCHMARK(BM_PmapJournalPaired)
    ->Name("pprocess/pmap_journal_paired")
    ->UseRealTime()
    ->MinTime(3.0);

// bulk: 4 results of 64 MiB, 2 processes at a time

constexpr int bulk_tasks = 4;

void fill_block(double* data, int seed) {
  for (std::size_t j = 0; j < bench::bulk_doubles; ++j) {
    data[j] = seed + static_cast<double>(j);
  }
}

std::vector<double> make_block(int seed) {
  std::vector<double> block(bench::bulk_doubles);
  fill_block(block.data(), seed);
  return block;
}

/// Whether block `seed` arrived whole (its ends hold what the child wrote).
bool block_ok(const double* data, std::size_t size, int seed) {
  return size == bench::bulk_doubles && data[0] == seed &&
         data[size - 1] == seed + static_cast<double>(bench::bulk_doubles - 1);
}

/// The blocks made by `make` (a std::vector<double> or a SharedArray<double>)
/// as the results of a Map, limit 2.
template <class Make>
void BM_BulkMap(benchmark::State& state, Make make) {
  using block_type = std::invoke_result_t<Make, int>;
  for (auto _ : state) {
    pprocess::Map<block_type> results({.limit = 2});
    auto call = results.manage(pprocess::MakeParallel(make));
    for (int i = 0; i < bulk_tasks; ++i) {
      call(i);
    }
    for (int i = 0; i < bulk_tasks; ++i) {
      const auto& block = results[static_cast<std::size_t>(i)];
      if (!block_ok(block.data(), block.size(), i)) {
        state.SkipWithError("wrong results");
      }
    }
  }
  bench::set_bulk_processed(state, bulk_tasks);
}
BENCHMARK_CAPTURE(BM_BulkMap, vector, make_block)
    ->Name("pprocess/bulk_vector_4x64mib")
    ->UseRealTime()
    ->MinTime(1.0);

// The same blocks as the results of a pmap (each element's result read
// straight into its place: see detail::batch).
void BM_BulkPmap(benchmark::State& state) {
  std::vector<int> seeds(bulk_tasks);
  std::iota(seeds.begin(), seeds.end(), 0);
  for (auto _ : state) {
    auto results = pprocess::pmap(make_block, seeds, {.limit = 2});
    for (int i = 0; i < bulk_tasks; ++i) {
      const auto& block = results[static_cast<std::size_t>(i)];
      if (!block_ok(block.data(), block.size(), i)) {
        state.SkipWithError("wrong results");
      }
    }
  }
  bench::set_bulk_processed(state, bulk_tasks);
}
BENCHMARK(BM_BulkPmap)
    ->Name("pprocess/bulk_pmap_vector_4x64mib")
    ->UseRealTime()
    ->MinTime(1.0);

// The same work by hand: each child builds a std::vector<double> and writes
// it to a socketpair; the creator reads each, in start order, into a fresh
// vector; 2 children at a time.
bench::child spawn_block(int seed) {
  return bench::spawn([seed](int fd) {
    const std::vector<double> block = make_block(seed);
    bench::write_all(fd, block.data(), block.size() * sizeof(double));
  });
}

void BM_BulkByHand(benchmark::State& state) {
  for (auto _ : state) {
    std::vector<std::vector<double>> results(bulk_tasks);
    std::deque<bench::child> running;
    int next = 0;
    for (int i = 0; i < bulk_tasks; ++i) {
      while (running.size() < 2 && next < bulk_tasks) {
        running.push_back(spawn_block(next++));
      }
      const bench::child c = running.front();
      running.pop_front();
      auto& block = results[static_cast<std::size_t>(i)];
      block.resize(bench::bulk_doubles);
      bench::collect(c, block.data(), bench::bulk_bytes);
      if (!block_ok(block.data(), block.size(), i)) {
        state.SkipWithError("wrong results");
      }
    }
  }
  bench::set_bulk_processed(state, bulk_tasks);
}
BENCHMARK(BM_BulkByHand)
    ->Name("raw/bulk_by_hand_4x64mib")
    ->UseRealTime()
    ->MinTime(1.0);

#if PPROCESS_BENCH_HAVE_SHARED_ARRAY
pprocess::SharedArray<double> make_shared_block(int seed) {
  pprocess::SharedArray<double> block(bench::bulk_doubles);
  fill_block(block.data(), seed);
  return block;
}

BENCHMARK_CAPTURE(BM_BulkMap, shared_array, make_shared_block)
    ->Name("pprocess/bulk_shared_array_4x64mib")
    ->UseRealTime()
    ->MinTime(1.0);
#endif

// The ray tracer of `make demo` (examples/raytracer/), at the demo's
// 1024 x 768: sequentially and with pmap over its rows (limit 2), in turn,
// 5 rounds of some 5 s (3 rounds of 640 x 480 were too few to be steady on
// a shared machine).
raytracer::Scene demo_scene;

std::vector<std::uint8_t> render_demo_row(int y) {
  return raytracer::render_row(demo_scene, y);
}

void BM_RaytracerPaired(benchmark::State& state) {
  constexpr int width = 1024;
  constexpr int height = 768;
  demo_scene = raytracer::demo_scene(width, height);
  std::vector<int> rows(height);
  std::iota(rows.begin(), rows.end(), 0);
  std::vector<std::uint8_t> sequential;
  std::vector<std::uint8_t> parallel;
  run_paired(
      state, height,
      [&] {
        sequential.clear();
        for (int y = 0; y < height; ++y) {
          const auto row = render_demo_row(y);
          sequential.insert(sequential.end(), row.begin(), row.end());
        }
        return true;
      },
      [&] {
        parallel.clear();
        for (const auto& row :
             pprocess::pmap(render_demo_row, rows, {.limit = 2})) {
          parallel.insert(parallel.end(), row.begin(), row.end());
        }
        return parallel == sequential;  // the same picture
      });
}
BENCHMARK(BM_RaytracerPaired)
    ->Name("pprocess/raytracer_paired")
    ->UseRealTime()
    ->Iterations(5);

// CPU-bound: the same 4 tasks of ~200 ms over 1 and 2 processes

void BM_CpuBound(benchmark::State& state) {
  const std::uint64_t rounds = bench::cpu_task_rounds();
  const auto limit = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    pprocess::Map<std::uint64_t> results({.limit = limit});
    auto call = results.manage(pprocess::MakeParallel(bench::spin));
    for (int i = 0; i < bench::cpu_tasks; ++i) {
      call(rounds);
    }
    for (int i = 0; i < bench::cpu_tasks; ++i) {
      benchmark::DoNotOptimize(results[static_cast<std::size_t>(i)]);
    }
  }
  state.SetItemsProcessed(state.iterations() * bench::cpu_tasks);
  state.counters["task_ms"] = 200;
}
BENCHMARK(BM_CpuBound)
    ->Name("pprocess/cpu_bound")
    ->Apply(bench::cpu_bound_args);

}  // namespace

BENCHMARK_MAIN();
