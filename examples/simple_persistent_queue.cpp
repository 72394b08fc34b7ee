// SPDX-License-Identifier: MIT
//
// Several background processes collected by one queue (twin of the
// tutorial's simple_persistent_queue.py). Row i of the grid is computed by
// 'task(i)' in a background process of its own, listening on the
// UNIX-domain socket "task-<i>.socket" in the current directory; a
// pprocess::PersistentQueue connected to all of those sockets then collects
// the rows as they arrive.
//
//   simple_persistent_queue               start the work, then collect it
//   simple_persistent_queue --start       start the work and exit at once
//   simple_persistent_queue --reconnect   collect the work started earlier

#include <algorithm>  // std::max
#include <cstddef>    // std::size_t
#include <iostream>   // std::cout, std::cerr
#include <string>     // std::string, std::to_string
#include <tuple>      // std::tuple
#include <utility>    // std::pair, std::move
#include <vector>     // std::vector

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::BackgroundCallable, ...

#include "example_support.hpp"  // examples::parse_arguments, print_row, ...

namespace {

// The size of the grid, the time each cell takes and the number of processes
// at once, set from the command line at the start of main(), before any
// process is created: each created process is a copy of this one
// (copy-on-write), so 'task' and 'calculate' see these values there too.
int N = 0;
double delay = 0;
std::size_t limit = 0;

// The address of the background process computing row i.
std::string address(int i) {
  return "task-" + std::to_string(i) + ".socket";
}

// A supposedly time-consuming calculation on 'i' and 'j', returning them
// with the result.
std::tuple<int, int, int> calculate(int i, int j) {
  examples::sleep_for_delay(delay);
  return {i, j, i * N + j};
}

// Computes row 'i' and returns it with 'i'. It runs in a background process
// of its own, whose standard streams lead nowhere: what it prints is not
// seen.
std::pair<int, std::vector<int>> task(int i) {
  // Initialise the communications queue with a limit on the number of
  // channels/processes. The N rows are computed at the same time, so (unlike
  // the tutorial, where each row takes 'limit' processes) each row takes its
  // share of 'limit', at least one: at most max(limit, N) calculations run
  // at once.
  const std::size_t row_limit =
      std::max<std::size_t>(1, limit / static_cast<std::size_t>(N));
  pprocess::Queue<std::tuple<int, int, int>> queue({.limit = row_limit});

  // Initialise an array.
  std::vector<int> results(static_cast<std::size_t>(N));

  // Wrap the calculate function and manage it.
  auto calc = queue.manage(pprocess::MakeParallel(calculate));

  // Perform the work.
  std::cout << "Calculating...\n";
  for (int j = 0; j < N; ++j) {
    calc(i, j);
  }

  // Store the results as they arrive.
  std::cout << "Finishing...\n";
  for (const auto& [row, j, result] : queue) {
    results[static_cast<std::size_t>(j)] = result;
  }

  return {i, results};
}

}  // namespace

int main(int argc, char* argv[]) {
  const examples::Arguments args = examples::parse_arguments(argc, argv);
  N = args.N;
  delay = args.delay;
  limit = args.limit;

  const examples::Stopwatch t;

  // A background address may be missing (--reconnect without --start) or
  // busy (a second --start): say so.
  try {
    if (!args.reconnect) {
      {
        // Wrap the computation and manage it.
        const auto ptask = pprocess::MakeParallel(task);

        for (int i = 0; i < N; ++i) {
          // Make a distinct callable for each part of the computation.
          pprocess::BackgroundCallable ptask_i(address(i), ptask);

          // Perform the work.
          ptask_i(i);
        }
      }  // Discard the callable: the background processes live on.
      std::cout << "Discarded the callable.\n";
    }

    if (!args.start) {
      // Open a queue and reconnect to the task.
      std::cout << "Opening a queue.\n";
      pprocess::PersistentQueue<std::pair<int, std::vector<int>>> queue;
      for (int i = 0; i < N; ++i) {
        queue.connect(address(i));
      }

      // Initialise an array.
      std::vector<std::vector<int>> results(static_cast<std::size_t>(N));

      // Wait for the results.
      std::cout << "Waiting for persistent results\n";
      for (auto& [i, result] : queue) {
        results[static_cast<std::size_t>(i)] = std::move(result);
      }

      // Show the results.
      for (const auto& row : results) {
        examples::print_row(row);
      }
    }
  } catch (const pprocess::Error& error) {
    std::cerr << argv[0] << ": " << error.what() << '\n';
    return 1;
  }

  t.print_time_taken();
}
