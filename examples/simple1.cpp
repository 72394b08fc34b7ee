// SPDX-License-Identifier: MIT
//
// A sequential program calling a function in a nested loop (twin of the
// tutorial's simple1.py). We must wait for each call to 'calculate' before
// making the next one, even on a machine with many processors.
// simple_managed_map.cpp is the parallel version.

#include <iostream>  // std::cout
#include <vector>    // std::vector

#include "example_support.hpp"  // examples::parse_arguments, print_grid, ...

namespace {

// The size of the grid and the time each cell takes, set from the command
// line at the start of main().
int N = 0;
double delay = 0;

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

  const examples::Stopwatch t;

  // Initialise an array.
  std::vector<int> results;

  // Perform the work.
  std::cout << "Calculating...\n";
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      results.push_back(calculate(i, j));
    }
  }

  // Show the results.
  examples::print_grid(results, N);

  t.print_time_taken();
}
