// SPDX-License-Identifier: MIT
//
// simple1.cpp made parallel (twin of the tutorial's simple_managed_map.py).
// 'calculate' is wrapped by pprocess::MakeParallel, which sends its return
// value back through a channel, and managed by a pprocess::Map: calling the
// managed callable starts the calculation in a created process, and the map
// gives the results in the order the calculations were started.

#include <cstddef>   // std::size_t
#include <iostream>  // std::cout

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::Map, MakeParallel

#include "example_support.hpp"  // examples::parse_arguments, print_row, ...

namespace {

// The size of the grid, the time each cell takes and the number of processes
// at once, set from the command line at the start of main(), before any
// process is created: each created process is a copy of this one
// (copy-on-write), so 'calculate' sees these values there too.
int N = 0;
double delay = 0;
std::size_t limit = 0;

// A supposedly time-consuming calculation on 'i' and 'j'.
int calculate(int i, int j) {
  examples::sleep_for_delay(delay);
  return i * N + j;
}

}  // namespace

int main(int argc, char* argv[]) {
  const examples::Arguments args = examples::parse_arguments(argc, argv);
  N = args.N;
  delay = args.delay;
  limit = args.limit;

  const examples::Stopwatch t;

  // Initialise the results using a map with a limit on the number of
  // channels/processes.
  pprocess::Map<int> results({.limit = limit});

  // Wrap the calculate function and manage it.
  auto calc = results.manage(pprocess::MakeParallel(calculate));

  // Perform the work.
  std::cout << "Calculating...\n";
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      calc(i, j);
    }
  }

  // Show the results: row i is results[i*N, i*N+N), each slice waiting for
  // the results it holds.
  const auto n = static_cast<std::size_t>(N);
  for (std::size_t i = 0; i < n; ++i) {
    examples::print_row(results.slice(i * n, i * n + n));
  }

  t.print_time_taken();
}
