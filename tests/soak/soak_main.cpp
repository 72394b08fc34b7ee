// SPDX-License-Identifier: MIT
//
// `make soak`: the fault storms of tests/stress_test.cpp, round after round
// for `--minutes` (SOAK_MINUTES, 10 by default), round r with seed S + r
// (`--seed S`, 1 by default), so other tasks fail each round. Once a minute it
// prints a line: elapsed minutes, storms, tasks, failures by kind, processes
// killed from outside, RSS, open descriptors and zombie children. It stops and
// exits 1 at the first wrong result, descriptor left open or child left
// unreaped, and at the end if RSS grew past a generous bound over the first
// round's; else 0.
//
//     pprocess_soak [--minutes M] [--seed S]
//
// See docs/testing.md.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pprocess/pprocess.hpp>

#include "support/storm.hpp"
#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

/// Resident set size, in KiB (VmRSS of /proc/self/status); 0 if unknown.
long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      long kib = 0;
      status >> kib;
      return kib;
    }
    status.ignore(1 << 16, '\n');
  }
  return 0;
}

// RSS may grow this much over what it was after the first round (the
// library's tables and the storms' vectors at their largest): more is a
// leak.
constexpr long rss_growth_bound_kib = 64 * 1024;

struct run_options {
  double minutes = 10;
  std::uint64_t seed = 1;
};

std::optional<run_options> parse(int argc, char** argv) {
  run_options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--minutes" && i + 1 < argc) {
      options.minutes = std::atof(argv[++i]);
    } else if (arg == "--seed" && i + 1 < argc) {
      options.seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      return std::nullopt;
    }
  }
  return options;
}

/// One storm of a round, as in tests/stress_test.cpp: the tasks of `plan`
/// (its seed changes from round to round) through an exchange of `kind`,
/// with planned faults, or under an outside killer.
struct round_storm {
  storm::exchange_kind kind;
  storm::plan plan;
  storm::settings settings;
  bool killer = false;
};

constexpr std::chrono::milliseconds timeout = storm::task_timeout;

std::vector<round_storm> round_storms() {
  using storm::exchange_kind;
  return {
      {exchange_kind::pmap,
       {.count = 20000, .per_10k = 100, .hangs = 2},
       {.limit = 2, .timeout = timeout}},
      {exchange_kind::map,
       {.count = 2000, .per_10k = 200, .hangs = 2},
       {.limit = 4, .timeout = timeout}},
      {exchange_kind::queue,
       {.count = 2000, .per_10k = 200, .hangs = 2},
       {.limit = 4, .timeout = timeout}},
      {exchange_kind::reuse,
       {.count = 5000, .per_10k = 150, .hangs = 2},
       {.limit = 3, .timeout = timeout}},
      {exchange_kind::pmap,
       {.count = 10000, .per_10k = 100, .hangs = 1},
       {.limit = 2, .timeout = timeout, .retries = 1}},
      {exchange_kind::map,
       {.count = 1000, .per_10k = 200, .hangs = 1},
       {.limit = 4, .timeout = timeout, .retries = 1}},
      {exchange_kind::reuse,
       {.count = 3000, .per_10k = 150, .hangs = 1},
       {.limit = 3, .timeout = timeout, .retries = 1}},
      {exchange_kind::reuse,
       {.count = 4000, .work_us = 500},
       {.limit = 3},
       true},
      {exchange_kind::reuse,
       {.count = 4000, .work_us = 500},
       {.limit = 3, .retries = 3},
       true},
      {exchange_kind::pmap,
       {.count = 6000, .work_us = 300},
       {.limit = 2},
       true},
      {exchange_kind::pmap,
       {.count = 6000, .work_us = 300},
       {.limit = 2, .retries = 3},
       true},
      {exchange_kind::map, {.count = 1500, .work_us = 500}, {.limit = 4}, true},
      {exchange_kind::map,
       {.count = 1500, .work_us = 500},
       {.limit = 4, .retries = 3},
       true},
      {exchange_kind::queue,
       {.count = 1500, .work_us = 500},
       {.limit = 4},
       true},
      {exchange_kind::pmap,
       {.count = 6000, .per_10k = 200, .hangs = 1, .work_us = 300},
       {.limit = 2, .timeout = timeout, .retries = 1},
       true},
      {exchange_kind::map,
       {.count = 1500, .per_10k = 200, .hangs = 1, .work_us = 300},
       {.limit = 4, .timeout = timeout, .retries = 1},
       true},
      {exchange_kind::queue,
       {.count = 1500, .per_10k = 200, .hangs = 1, .work_us = 300},
       {.limit = 4, .timeout = timeout, .retries = 1},
       true},
      {exchange_kind::reuse,
       {.count = 4000, .per_10k = 200, .hangs = 1, .work_us = 300},
       {.limit = 3, .timeout = timeout, .retries = 1},
       true},
  };
}

/// "pmap, limit 2, retries 1" (", outside killer").
std::string describe(const round_storm& r) {
  return std::string(storm::name(r.kind)) + ", limit " +
         std::to_string(r.settings.limit) + ", retries " +
         std::to_string(r.settings.retries) +
         (r.killer ? ", outside killer" : "");
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<run_options> options = parse(argc, argv);
  if (!options) {
    std::fprintf(stderr, "usage: %s [--minutes M] [--seed S]\n", argv[0]);
    return 2;
  }
  const auto t0 = clock_type::now();
  const auto duration = std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double, std::ratio<60>>(options->minutes));
  const int fd_baseline = test_support::open_fd_count();
  const long rss_start = rss_kib();
  long rss_after_first_round = 0;
  long rss_peak = rss_start;

  storm::tally planned_storms;  // the storms of planned faults
  storm::tally killed_storms;   // the storms under the outside killer
  std::size_t kills = 0;
  std::size_t rounds = 0;  // rounds of every storm, the last maybe cut short
  std::size_t storms_run = 0;
  int minutes_reported = 0;
  bool wrong = false;

  const auto report = [&](const char* when) {
    const double minutes =
        std::chrono::duration<double, std::ratio<60>>(clock_type::now() - t0)
            .count();
    const long rss = rss_kib();
    std::printf(
        "soak %s: %.1f min, %zu storms, %zu tasks; planned faults: %s; "
        "under the outside killer: %s, %zu processes killed; RSS %ld KiB "
        "(start %ld, after round 1 %ld, peak %ld); fds %d (baseline %d); "
        "zombies %zu\n",
        when, minutes, storms_run, planned_storms.tasks + killed_storms.tasks,
        planned_storms.summary().c_str(), killed_storms.summary().c_str(),
        kills, rss, rss_start, rss_after_first_round, rss_peak,
        test_support::open_fd_count(), fd_baseline, storm::zombie_children());
    std::fflush(stdout);
  };

  const std::vector<round_storm> storms = round_storms();
  while (!wrong && clock_type::now() - t0 < duration) {
    for (std::size_t k = 0;
         k < storms.size() && !wrong && clock_type::now() - t0 < duration;
         ++k) {
      ++storms_run;
      round_storm r = storms[k];
      r.plan.seed = options->seed + rounds;  // --seed <it> reruns the round
      const std::string what = describe(r);
      storm::tally t;
      if (r.killer) {
        const storm::killed_storm killed =
            storm::killed_storm_over(r.kind, r.plan, r.settings, 25ms);
        kills += killed.kills.value_or(0);
        t = killed.result;
        killed_storms.add(t);
      } else {
        t = storm::fault_storm(r.kind, r.plan, r.settings);
        planned_storms.add(t);
      }
      const auto seed = static_cast<unsigned long long>(r.plan.seed);
      for (const std::string& problem : t.problems) {
        std::printf("WRONG in %s, --seed %llu: %s\n", what.c_str(), seed,
                    problem.c_str());
        wrong = true;
      }
      const int fds = test_support::open_fd_count();
      if (fds != fd_baseline) {
        std::printf(
            "LEAK after %s, --seed %llu: %d descriptors open, %d at "
            "the start\n",
            what.c_str(), seed, fds, fd_baseline);
        wrong = true;
      }
      if (test_support::has_unreaped_children()) {
        std::printf(
            "LEAK after %s, --seed %llu: a child is left unreaped "
            "(%zu zombies)\n",
            what.c_str(), seed, storm::zombie_children());
        wrong = true;
      }
      rss_peak = std::max(rss_peak, rss_kib());
      const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(
                               clock_type::now() - t0)
                               .count();
      if (minutes > minutes_reported) {
        minutes_reported = static_cast<int>(minutes);
        report("minute");
      }
    }
    if (++rounds == 1) {
      rss_after_first_round = rss_kib();
    }
  }
  report(wrong ? "stopped" : "end");
  const long rss_end = rss_kib();
  if (rss_after_first_round > 0 &&
      rss_end > rss_after_first_round + rss_growth_bound_kib) {
    std::printf("LEAK: RSS grew from %ld KiB after round 1 to %ld KiB\n",
                rss_after_first_round, rss_end);
    wrong = true;
  }
  std::printf("soak: %s\n", wrong ? "FAILED" : "passed");
  return wrong ? 1 : 0;
}
