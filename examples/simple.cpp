// SPDX-License-Identifier: MIT
//
// A sequential program doing its work "inline", in the body of a loop rather
// than in a function (twin of the tutorial's simple.py). The sleep stands
// for real work. simple_create_map.cpp runs the same loop body in created
// processes.

#include <cstddef>   // std::size_t
#include <iostream>  // std::cout
#include <vector>    // std::vector

#include "example_support.hpp"  // examples::parse_arguments, print_grid, ...

namespace {

// The size of the grid and the time each cell takes, set from the command
// line at the start of main().
int N = 0;
double delay = 0;

}  // namespace

int main(int argc, char* argv[]) {
  const examples::Arguments args = examples::parse_arguments(argc, argv);
  N = args.N;
  delay = args.delay;

  const examples::Stopwatch t;

  // Initialise an array.
  std::vector<int> results(static_cast<std::size_t>(N * N));

  // Perform the work.
  std::cout << "Calculating...\n";
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      examples::sleep_for_delay(delay);
      results[static_cast<std::size_t>(i * N + j)] = i * N + j;
    }
  }

  // Show the results.
  examples::print_grid(results, N);

  t.print_time_taken();
}
