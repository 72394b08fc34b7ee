// SPDX-License-Identifier: MIT
//
// The starting point of the tutorial: a sequential program that applies a
// function to every element of a sequence, as Python's built-in map() does
// (twin of the tutorial's simple_map.py). Each call must finish before the
// next one starts. simple_pmap.cpp makes it parallel by changing one line.

#include <algorithm>  // std::ranges::transform
#include <iterator>   // std::back_inserter
#include <utility>    // std::pair
#include <vector>     // std::vector

#include "example_support.hpp"  // examples::parse_arguments, print_grid, ...

namespace {

// The size of the grid and the time each cell takes, set from the command
// line at the start of main().
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

  // Initialise an array.
  std::vector<std::pair<int, int>> sequence;
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      sequence.emplace_back(i, j);
    }
  }

  // Perform the work.
  std::vector<int> results;
  std::ranges::transform(sequence, std::back_inserter(results), calculate);

  // Show the results.
  examples::print_grid(results, N);

  t.print_time_taken();
}
