// SPDX-License-Identifier: MIT
//
// simple_managed_map.cpp with reusable processes (twin of the tutorial's
// simple_manage_map_reusable.py). Instead of creating a process for each
// calculation and discarding it afterwards, the map keeps up to 'limit'
// processes and sends them further calculations: 'reuse' on the map and
// pprocess::MakeReusable around 'calculate' make this possible.

#include <cstddef>   // std::size_t
#include <iostream>  // std::cout

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::Map, MakeReusable

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
  // channels/processes, and keep those processes for further calculations.
  pprocess::Map<int> results({.limit = limit, .reuse = true});

  // Wrap the calculate function and manage it.
  auto calc = results.manage(pprocess::MakeReusable(calculate));

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
