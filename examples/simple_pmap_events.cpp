// SPDX-License-Identifier: MIT
//
// simple_pmap.cpp, watched as it runs: a progress bar on stderr
// (Options::progress) and every task's events (Options::on_event): which
// process took each cell, when it finished, and how long it took. Not a
// program of the Python tutorial; see docs/tutorial.md#events-and-progress.

#include <sys/types.h>  // pid_t

#include <algorithm>  // std::max
#include <chrono>     // std::chrono::duration
#include <cstddef>    // std::size_t
#include <cstdio>     // std::printf
#include <map>        // std::map
#include <utility>    // std::pair
#include <vector>     // std::vector

#include <pprocess/pprocess.hpp>  // pprocess::pmap, Options, Event

#include "example_support.hpp"  // examples::parse_arguments, print_row, ...

namespace {

int N = 0;
double delay = 0;

// A supposedly time-consuming calculation on 't'.
int calculate(std::pair<int, int> t) {
  const auto [i, j] = t;
  examples::sleep_for_delay(delay);
  return i * N + j;
}

}  // namespace

int main(int argc, char* argv[]) {
  const examples::Arguments args = examples::parse_arguments(argc, argv);
  N = args.N;
  delay = args.delay;

  const examples::Stopwatch t;

  std::vector<std::pair<int, int>> sequence;
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      sequence.emplace_back(i, j);
    }
  }

  // What the events tell: the cells each process finished, the slowest
  // cell, and any failure as it happens. The callback runs here, in this
  // process, from the calls that wait for results.
  std::map<pid_t, int> cells_by_process;
  double slowest = 0;
  std::size_t finished = 0;
  pprocess::Options options{.limit = args.limit, .progress = true};
  options.on_event = [&](const pprocess::Event& e) {
    using Kind = pprocess::Event::Kind;
    if (e.kind == Kind::finished) {
      ++finished;
      ++cells_by_process[e.pid];
      slowest =
          std::max(slowest, std::chrono::duration<double>(e.elapsed).count());
    } else if (e.kind == Kind::failed) {
      std::fprintf(stderr, "cell %zu failed in process %d\n", e.task,
                   static_cast<int>(e.pid));
    }
  };

  pprocess::Map<int> results = pprocess::pmap(calculate, sequence, options);

  const auto n = static_cast<std::size_t>(N);
  for (std::size_t i = 0; i < n; ++i) {
    examples::print_row(results.slice(i * n, i * n + n));
  }

  std::printf("%zu cells finished by %zu processes; the slowest took %.2f s\n",
              finished, cells_by_process.size(), slowest);
  t.print_time_taken();
  return finished == sequence.size() ? 0 : 1;
}
