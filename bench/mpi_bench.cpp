// SPDX-License-Identifier: MIT
//
// pprocess::mpi on the workloads of docs/performance.md, under mpirun:
//
//     mpirun -np N --oversubscribe --bind-to none mpi_bench --out FILE
//
// What runs depends on N (report.py reads the JSON rank 0 writes):
//
//   N = 1  mpi::pmap on one rank next to the local pprocess::pmap on the
//          same work, in turn in this process: 1M trivial tasks, and 10k
//          tasks of about 50 µs of arithmetic.
//   N ≥ 2  mpi::pmap of 1M trivial tasks over every rank (tasks/s; compared
//          with mpi4py's MPIPoolExecutor on the same mpirun line, see
//          mpi4py_peer.py).
//   N = 2  also: 16 CPU-bound tasks over 2 ranks × limit 1 next to the
//          sequential loop on rank 0; and the CPU an idle rank 1 burns
//          while rank 0 computes outside the library.
//
// Plain C++, not Google Benchmark: its iteration counts are decided by
// timing, separately on each rank, and every rank must make the same
// pprocess::mpi calls (SPMD). Here every count is fixed, and what rank 0
// alone decides (the CPU-bound task size) is broadcast.
//
// Where rank 0 works alone, the others wait in quiet_wait (test, then
// sleep): MPI's blocking calls would spin on a core, which the two cores of
// the bench machine cannot spare.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <mpi.h>
#include <numeric>
#include <string>
#include <vector>

#include <pprocess/mpi.hpp>
#include <pprocess/pprocess.hpp>

#include "bench_support.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// Waits for `request` without spinning on a core.
void quiet_wait(MPI_Request& request) {
  for (;;) {
    int done = 0;
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done != 0) {
      return;
    }
    const timespec pause{0, 100'000};
    ::nanosleep(&pause, nullptr);
  }
}

/// Every rank here: a barrier that sleeps while it waits.
void quiet_barrier() {
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  quiet_wait(request);
}

/// Rank 0's `value` on every rank.
std::uint64_t broadcast(std::uint64_t value) {
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_Ibcast(&value, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD, &request);
  quiet_wait(request);
  return value;
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "mpi_bench: %s\n", what.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

/// Sum of bench::trivial(i) for i in [0, n).
std::uint64_t expected_sum(std::uint64_t n) {
  return n * (n + 1) / 2;
}

template <class T>
std::vector<T> iota_vector(std::size_t n) {
  std::vector<T> v(n);
  std::iota(v.begin(), v.end(), T{0});
  return v;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  if (n == 0) {
    return 0;
  }
  return n % 2 != 0 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/// What rank 0 writes: timed runs by name, paired ratios by name, and the
/// idle rank's CPU share.
class report {
 public:
  /// Only rank 0's report is written: the other ranks' times are of nothing.
  explicit report(bool root) : root_(root) {}

  void timed(const std::string& name, double items,
             const std::vector<double>& seconds) {
    if (!root_) {
      return;
    }
    const double best = *std::min_element(seconds.begin(), seconds.end());
    char line[512];
    std::snprintf(line, sizeof line,
                  "\"%s\": {\"items\": %.0f, \"runs\": %zu, \"seconds\": "
                  "%.9g, \"median_seconds\": %.9g, \"seconds_per_item\": "
                  "%.9g, \"items_per_second\": %.9g}",
                  name.c_str(), items, seconds.size(), best, median(seconds),
                  best / items, items / best);
    results_.push_back(line);
    std::fprintf(stderr, "%-44s %12.4f us/item  %10.4g items/s (best of %zu)\n",
                 name.c_str(), best / items * 1e6, items / best,
                 seconds.size());
  }
  void series(const std::string& group, const std::string& name,
              const std::vector<double>& values) {
    if (!root_) {
      return;
    }
    std::string line = "\"" + name + "\": [";
    for (std::size_t i = 0; i < values.size(); ++i) {
      char number[32];
      std::snprintf(number, sizeof number, "%s%.6g", i > 0 ? ", " : "",
                    values[i]);
      line += number;
    }
    series_[group].push_back(line + "]");
    std::fprintf(stderr, "%-44s median %.4g of %zu\n", name.c_str(),
                 median(values), values.size());
  }

  std::string json(int ranks) const {
    char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int length = 0;
    MPI_Get_library_version(version, &length);
    std::string mpi(version, static_cast<std::size_t>(length));
    mpi = mpi.substr(0, mpi.find_first_of(",\n"));
    std::string out = "{\n  \"ranks\": " + std::to_string(ranks) +
                      ",\n  \"mpi\": \"" + mpi + "\",\n  \"results\": {";
    out += join(results_) + "}";
    for (const auto& [group, lines] : series_) {
      out += ",\n  \"" + group + "\": {" + join(lines) + "}";
    }
    return out + "\n}\n";
  }

 private:
  static std::string join(const std::vector<std::string>& lines) {
    std::string out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      out += (i > 0 ? ",\n    " : "\n    ") + lines[i];
    }
    return out + (lines.empty() ? "" : "\n  ");
  }

  bool root_;
  std::vector<std::string> results_;
  std::map<std::string, std::vector<std::string>> series_;
};

/// The sum of the results of a pprocess::pmap or pprocess::mpi::pmap, read
/// in order (on another rank: serves rank 0 until it is done, 0), wrapping
/// modulo 2^64. The Map goes out of scope here, so a timed run includes
/// ending its processes.
template <class Results>
std::uint64_t consume(Results results) {
  std::uint64_t sum = 0;
  for (const auto& value : results) {
    sum += static_cast<std::uint64_t>(value);
  }
  return sum;
}

constexpr std::size_t trivial_tasks = 1'000'000;

/// One mpi::pmap of the 1M trivial tasks, timed on rank 0 (every rank
/// starts it together).
double mpi_trivial_run(pprocess::mpi::Session& session,
                       const std::vector<int>& input) {
  quiet_barrier();
  const auto t0 = clock_type::now();
  const std::uint64_t sum =
      consume(pprocess::mpi::pmap(session, bench::trivial, input));
  const double seconds = seconds_since(t0);
  if (session.root() && sum != expected_sum(trivial_tasks)) {
    fail("mpi::pmap of trivial tasks: wrong sum");
  }
  return seconds;
}

// --- N ≥ 2: throughput over every rank -------------------------------------

void throughput(pprocess::mpi::Session& session, report& out) {
  const std::vector<int> input = iota_vector<int>(trivial_tasks);
  mpi_trivial_run(session, input);  // warm-up: pages, code, MPI connections
  std::vector<double> seconds;
  for (int run = 0; run < 15; ++run) {
    seconds.push_back(mpi_trivial_run(session, input));
  }
  out.timed("mpi/pmap_trivial/ranks:" + std::to_string(session.size()),
            trivial_tasks, seconds);
}

// --- ways of the same work in turn ----------------------------------------

/// Each of `ways` (one run of the same work, returning its time) in turn,
/// `rounds` times, the first of each round rotating (so that a change in
/// the machine's load falls on all alike); the times of each way.
std::vector<std::vector<double>> in_turn(
    int rounds, const std::vector<std::function<double()>>& ways) {
  std::vector<std::vector<double>> times(ways.size());
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t turn = 0; turn < ways.size(); ++turn) {
      const std::size_t way =
          (turn + static_cast<std::size_t>(round)) % ways.size();
      times[way].push_back(ways[way]());
    }
  }
  return times;
}

/// Per round, a's time over b's: b's speed relative to a's.
std::vector<double> round_ratios(const std::vector<double>& a,
                                 const std::vector<double>& b) {
  std::vector<double> ratios;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ratios.push_back(a[i] / b[i]);
  }
  return ratios;
}

double cpu_seconds_self() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// --- N = 1: mpi::pmap on one rank next to pprocess::pmap --------------------

template <class E, class F>
void one_rank_pair(pprocess::mpi::Session& session, report& out,
                   const std::string& workload, F fn,
                   const std::vector<E>& input, std::uint64_t expected,
                   int rounds) {
  // This process's own CPU time per run (not its processes'): with many
  // tiny elements, taking in the results here is what bounds the run.
  std::vector<double> cpu_local;
  std::vector<double> cpu_mpi;
  auto timed_run = [&](const char* what, std::vector<double>& cpu, auto&& run) {
    const double cpu0 = cpu_seconds_self();
    const auto t0 = clock_type::now();
    const std::uint64_t sum = run();
    const double seconds = seconds_since(t0);
    cpu.push_back(cpu_seconds_self() - cpu0);
    if (sum != expected) {
      fail(std::string(what) + " (" + workload + "): wrong sum");
    }
    return seconds;
  };
  auto local = [&] {
    return timed_run("pprocess::pmap", cpu_local,
                     [&] { return consume(pprocess::pmap(fn, input)); });
  };
  auto over_mpi = [&] {
    return timed_run("mpi::pmap", cpu_mpi, [&] {
      return consume(pprocess::mpi::pmap(session, fn, input));
    });
  };
  local();  // warm-up
  over_mpi();
  cpu_local.clear();
  cpu_mpi.clear();
  const auto times = in_turn(rounds, {local, over_mpi});
  const auto items = static_cast<double>(input.size());
  out.timed("mpi/one_rank/local_pmap_" + workload, items, times[0]);
  out.timed("mpi/one_rank/mpi_pmap_" + workload, items, times[1]);
  out.series("paired", "mpi/one_rank_vs_local/" + workload,
             round_ratios(times[0], times[1]));
  out.series("self_cpu_seconds", "mpi/one_rank/local_pmap_" + workload,
             cpu_local);
  out.series("self_cpu_seconds", "mpi/one_rank/mpi_pmap_" + workload, cpu_mpi);
}

/// The rounds of bench::spin per millisecond, measured on rank 0 and the
/// same on every rank (every rank must hold the same elements).
std::uint64_t spin_rounds_per_ms(const pprocess::mpi::Session& session) {
  std::uint64_t rounds = 0;
  if (session.root()) {
    rounds = bench::spin_rounds_for(std::chrono::milliseconds(100)) / 100;
  }
  return broadcast(rounds);
}

void one_rank(pprocess::mpi::Session& session, report& out) {
  one_rank_pair(session, out, "trivial", bench::trivial,
                iota_vector<int>(trivial_tasks), expected_sum(trivial_tasks),
                20);
  // Heavier elements: about 50 µs of arithmetic each (pmap's results are
  // then a small part of the time).
  constexpr std::size_t spin_tasks = 10'000;
  const std::uint64_t rounds = spin_rounds_per_ms(session) / 20;
  const std::vector<std::uint64_t> input(spin_tasks, rounds);
  one_rank_pair(
      session, out, "spin_50us", [](std::uint64_t r) { return bench::spin(r); },
      input, bench::spin(rounds) * spin_tasks, 10);
}

// --- N = 2: CPU-bound scaling, and the idle rank ----------------------------

constexpr int cpu_tasks = 16;
constexpr int cpu_task_ms = 60;

void cpu_bound(pprocess::mpi::Session& session, report& out) {
  const std::uint64_t rounds = spin_rounds_per_ms(session) * cpu_task_ms;
  const std::vector<std::uint64_t> input(cpu_tasks, rounds);
  const std::uint64_t expected = bench::spin(rounds) * cpu_tasks;
  // Rank 0 alone; the other ranks wait in the next quiet_barrier.
  auto sequential = [&] {
    quiet_barrier();
    const auto t0 = clock_type::now();
    std::uint64_t sum = 0;
    if (session.root()) {
      for (const std::uint64_t r : input) {
        sum += bench::spin(r);
      }
    }
    const double seconds = seconds_since(t0);
    if (session.root() && sum != expected) {
      fail("sequential CPU-bound loop: wrong sum");
    }
    return seconds;
  };
  auto parallel = [&] {
    quiet_barrier();
    const auto t0 = clock_type::now();
    const std::uint64_t sum = consume(pprocess::mpi::pmap(
        session, bench::spin, input, {.limit = std::size_t{1}}));
    const double seconds = seconds_since(t0);
    if (session.root() && sum != expected) {
      fail("mpi::pmap of CPU-bound tasks: wrong sum");
    }
    return seconds;
  };
  // The ceiling under the machine's load of the moment: the same tasks on
  // rank 0 in two processes forked by hand, half each (the other ranks
  // wait).
  auto by_hand = [&] {
    quiet_barrier();
    const auto t0 = clock_type::now();
    if (session.root()) {
      std::vector<bench::child> children;
      for (int half = 0; half < 2; ++half) {
        children.push_back(bench::spawn([&](int fd) {
          std::uint64_t sum = 0;
          for (int i = 0; i < cpu_tasks / 2; ++i) {
            sum += bench::spin(rounds);
          }
          bench::write_all(fd, &sum, sizeof sum);
        }));
      }
      std::uint64_t sum = 0;
      for (const bench::child& c : children) {
        std::uint64_t part = 0;
        bench::collect(c, &part, sizeof part);
        sum += part;
      }
      if (sum != expected) {
        fail("CPU-bound tasks by hand: wrong sum");
      }
    }
    return seconds_since(t0);
  };
  const auto times = in_turn(4, {sequential, parallel, by_hand});
  out.timed("mpi/cpu_bound/sequential", cpu_tasks, times[0]);
  out.timed("mpi/cpu_bound/ranks:2_limit:1", cpu_tasks, times[1]);
  out.timed("mpi/cpu_bound/fork2_by_hand", cpu_tasks, times[2]);
  out.series("paired", "mpi/cpu_bound_speedup/ranks:2_limit:1",
             round_ratios(times[0], times[1]));
  out.series("paired", "mpi/cpu_bound_speedup/fork2_by_hand",
             round_ratios(times[0], times[2]));
}

/// Rank 0 starts a tiny pmap, then computes alone (in its own code, outside
/// the library) for `compute`; rank 1 waits in the Map's begin() for rank 0
/// to be done. Rank 1's CPU time (its own, all threads, not its processes')
/// over the wall time it waited, as a share of a core.
void idle_rank(pprocess::mpi::Session& session, report& out) {
  constexpr auto compute = std::chrono::seconds(3);
  std::vector<double> shares;
  for (int run = 0; run < 2; ++run) {
    quiet_barrier();
    auto results =
        pprocess::mpi::pmap(session, bench::trivial, iota_vector<int>(2));
    double share = 0;
    if (session.root()) {
      const auto t0 = clock_type::now();
      while (clock_type::now() - t0 < compute) {
        benchmark::DoNotOptimize(bench::spin(100'000));
      }
      if (consume(std::move(results)) != expected_sum(2)) {
        fail("the idle-rank pmap: wrong sum");
      }
      MPI_Request request = MPI_REQUEST_NULL;
      MPI_Irecv(&share, 1, MPI_DOUBLE, 1, 0, MPI_COMM_WORLD, &request);
      quiet_wait(request);
      shares.push_back(share);
    } else {
      const double cpu0 = cpu_seconds_self();
      const auto t0 = clock_type::now();
      consume(std::move(results));  // begin(): serves until rank 0 is done
      share = (cpu_seconds_self() - cpu0) / seconds_since(t0);
      if (session.rank() == 1) {
        MPI_Send(&share, 1, MPI_DOUBLE, 0, 0, MPI_COMM_WORLD);
      }
    }
  }
  out.series("idle_cpu", "mpi/idle_rank_cpu/ranks:2", shares);
}

}  // namespace

int main(int argc, char* argv[]) {
  pprocess::mpi::Session session(argc, argv);
  const char* out_path = nullptr;
  std::string only;  // a section alone (for profiling)
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--out") == 0) {
      out_path = argv[++i];
    } else if (std::strcmp(argv[i], "--only") == 0) {
      only = argv[++i];
    }
  }
  auto wanted = [&](const char* section) {
    return only.empty() || only == section;
  };

  report out(session.root());
  const int ranks = session.size();
  if (ranks == 1 && wanted("one_rank")) {
    one_rank(session, out);
  }
  if (ranks >= 2 && wanted("throughput")) {
    throughput(session, out);
  }
  if (ranks == 2 && wanted("cpu_bound")) {
    cpu_bound(session, out);
  }
  if (ranks == 2 && wanted("idle")) {
    idle_rank(session, out);
  }

  if (session.root()) {
    const std::string text = out.json(ranks);
    std::FILE* file = out_path != nullptr ? std::fopen(out_path, "w") : stdout;
    if (file == nullptr || std::fputs(text.c_str(), file) < 0) {
      fail(std::string("cannot write ") + (out_path ? out_path : "stdout"));
    }
    if (file != stdout) {
      std::fclose(file);
    }
  }
}
