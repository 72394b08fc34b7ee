// SPDX-License-Identifier: MIT
//
// A created process that sends many values (twin of the tutorial's
// simple_continuous_queue.py). Each call to 'calculate' computes a whole row
// of the grid and sends each cell through its channel as soon as it is ready;
// a pprocess::Queue with 'continuous' set keeps the channel until the process
// is done, and collects the values in the order they arrive, exactly as in
// simple_managed_queue.cpp.

#include <cstddef>   // std::size_t
#include <iostream>  // std::cout
#include <tuple>     // std::tuple, std::make_tuple
#include <vector>    // std::vector

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::Queue, Channel

#include "example_support.hpp"  // examples::parse_arguments, print_grid, ...

namespace {

// The size of the grid, the time each cell takes and the number of processes
// at once, set from the command line at the start of main(), before any
// process is created: each created process is a copy of this one
// (copy-on-write), so 'calculate' sees these values there too.
int N = 0;
double delay = 0;
std::size_t limit = 0;

// A supposedly time-consuming calculation on 'i', a whole row, sending each
// cell's position and result through 'ch' to the creating process.
void calculate(pprocess::Channel& ch, int i) {
  for (int j = 0; j < N; ++j) {
    examples::sleep_for_delay(delay);
    ch.send(std::make_tuple(i, j, i * N + j));
  }
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
  pprocess::Queue<std::tuple<int, int, int>> queue(
      {.limit = limit, .continuous = true});

  // Initialise an array.
  std::vector<int> results(static_cast<std::size_t>(N * N));

  // Manage the calculate function: it takes the channel itself, so it needs
  // no MakeParallel wrapper.
  auto calc = queue.manage(calculate);

  // Perform the work.
  std::cout << "Calculating...\n";
  for (int i = 0; i < N; ++i) {
    calc(i);
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
