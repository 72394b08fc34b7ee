// SPDX-License-Identifier: MIT
//
// A sequential program whose calculation returns its position in the grid
// along with its result (twin of the tutorial's simple2.py). Here the
// position is of little use, since results come back in a fixed order; it
// lets simple_managed_queue.cpp take the results in whatever order they
// arrive.

#include <cstddef>   // std::size_t
#include <iostream>  // std::cout
#include <tuple>     // std::tuple
#include <vector>    // std::vector

#include "example_support.hpp"  // examples::parse_arguments, print_grid, ...

namespace {

// The size of the grid and the time each cell takes, set from the command
// line at the start of main().
int N = 0;
double delay = 0;

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

  const examples::Stopwatch t;

  // Initialise an array.
  std::vector<int> results(static_cast<std::size_t>(N * N));

  // Perform the work.
  std::cout << "Calculating...\n";
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      const auto [i2, j2, result] = calculate(i, j);
      results[static_cast<std::size_t>(i2 * N + j2)] = result;
    }
  }

  // Show the results.
  examples::print_grid(results, N);

  t.print_time_taken();
}
