// SPDX-License-Identifier: MIT
//
// simple_map.cpp made parallel (twin of the tutorial's simple_pmap.py): the
// call that applies 'calculate' to the sequence becomes pprocess::pmap, which
// runs the calls in created processes, at most 'limit' of them at a time, and
// gives back a pprocess::Map holding the results in the order of the inputs.

#include <cstddef>  // std::size_t
#include <utility>  // std::pair
#include <vector>   // std::vector

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::pmap, pprocess::Map

#include "example_support.hpp"  // examples::parse_arguments, print_row, ...

namespace {

// The size of the grid, the time each cell takes and the number of processes
// at once, set from the command line at the start of main(), before any
// process is created: each created process is a copy of this one
// (copy-on-write), so 'calculate' sees these values there too.
int N = 0;
double delay = 0;
std::size_t limit = 0;

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
  limit = args.limit;

  const examples::Stopwatch t;

  // Initialise an array.
  std::vector<std::pair<int, int>> sequence;
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      sequence.emplace_back(i, j);
    }
  }

  // Perform the work.
  pprocess::Map<int> results =
      pprocess::pmap(calculate, sequence, {.limit = limit});

  // Show the results: row i is results[i*N, i*N+N), each slice waiting for
  // the results it holds.
  const auto n = static_cast<std::size_t>(N);
  for (std::size_t i = 0; i < n; ++i) {
    examples::print_row(results.slice(i * n, i * n + n));
  }

  t.print_time_taken();
}
