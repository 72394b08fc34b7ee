// SPDX-License-Identifier: MIT
//
// simple2.cpp made parallel (twin of the tutorial's simple_managed_queue.py).
// The calculations run in created processes and their results are collected
// by a pprocess::Queue in the order they arrive; the position each result
// carries says where it goes in the grid.

#include <cstddef>   // std::size_t
#include <iostream>  // std::cout
#include <tuple>     // std::tuple
#include <vector>    // std::vector

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::Queue, MakeParallel

#include "example_support.hpp"  // examples::parse_arguments, print_grid, ...

namespace {

// The size of the grid, the time each cell takes and the number of processes
// at once, set from the command line at the start of main(), before any
// process is created: each created process is a copy of this one
// (copy-on-write), so 'calculate' sees these values there too.
int N = 0;
double delay = 0;
std::size_t limit = 0;

// A supposedly time-consuming calculation on 'i' and 'j', returning them
// with the result.
std::tuple<int, int, int> calculate(int i, int j) {
  examples::sleep_for_delay(delay);
  return {i, j, i * N + j};
}

}  // namespace

int main(int argc, char* argv[]) {
  const examples::Arguments args = examples::parse_arguments(argc, argv);
  N = args.N;
  delay = args.delay;
  limit = args.limit;

  const examples::Stopwatch t;

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

  // Show the results.
  examples::print_grid(results, N);

  t.print_time_taken();
}
