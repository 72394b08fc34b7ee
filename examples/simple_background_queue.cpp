// SPDX-License-Identifier: MIT
//
// simple_managed_queue.cpp run in the background (twin of the tutorial's
// simple_background_queue.py). The whole computation becomes the function
// 'task', which a pprocess::BackgroundCallable runs in a detached process
// listening on the UNIX-domain socket "task.socket" in the current
// directory; pprocess::BackgroundQueue then collects its one result, the
// whole grid, through that socket.
//
//   simple_background_queue               start the work, then collect it
//   simple_background_queue --start       start the work and exit at once
//   simple_background_queue --reconnect   collect the work started earlier

#include <cstddef>   // std::size_t
#include <iostream>  // std::cout, std::cerr
#include <tuple>     // std::tuple
#include <utility>   // std::move
#include <vector>    // std::vector

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::BackgroundCallable, ...

#include "example_support.hpp"  // examples::parse_arguments, print_grid, ...

namespace {

// The size of the grid, the time each cell takes and the number of processes
// at once, set from the command line at the start of main(), before any
// process is created: each created process is a copy of this one
// (copy-on-write), so 'task' and 'calculate' see these values there too.
int N = 0;
double delay = 0;
std::size_t limit = 0;

// A supposedly time-consuming calculation on 'i' and 'j', returning them
// with the result.
std::tuple<int, int, int> calculate(int i, int j) {
  examples::sleep_for_delay(delay);
  return {i, j, i * N + j};
}

// The whole computation of simple_managed_queue, returning the results
// instead of printing them. It runs in the background process, whose
// standard streams lead nowhere: what it prints is not seen.
std::vector<int> task() {
  // Initialise the communications queue with a limit on the number of
  // channels/processes.
  pprocess::Queue<std::tuple<int, int, int>> queue({.limit = limit});

  // Initialise an array.
  std::vector<int> results(static_cast<std::size_t>(N * N));

  // Wrap the calculate function and manage it.
  auto calc = queue.manage(pprocess::MakeParallel(calculate));

  // Perform the work.
  std::cout << "Calculating...\n";
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      calc(i, j);
    }
  }

  // Store the results as they arrive.
  std::cout << "Finishing...\n";
  for (const auto& [i, j, result] : queue) {
    results[static_cast<std::size_t>(i * N + j)] = result;
  }

  return results;
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
        pprocess::BackgroundCallable ptask("task.socket",
                                           pprocess::MakeParallel(task));

        // Perform the work.
        ptask();
      }  // Discard the callable: the background process lives on.
      std::cout << "Discarded the callable.\n";
    }

    if (!args.start) {
      // Open a queue and reconnect to the task.
      std::cout << "Opening a queue.\n";
      auto queue = pprocess::BackgroundQueue<std::vector<int>>("task.socket");

      // Wait for the results.
      std::cout << "Waiting for persistent results\n";
      std::vector<int> results;
      for (auto& result : queue) {
        results = std::move(result);  // should only be one element
      }

      // Show the results.
      examples::print_grid(results, N);
    }
  } catch (const pprocess::Error& error) {
    std::cerr << argv[0] << ": " << error.what() << '\n';
    return 1;
  }

  t.print_time_taken();
}
