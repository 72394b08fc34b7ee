// SPDX-License-Identifier: MIT
//
// simple_managed.cpp without its conveniences (twin of the tutorial's
// simple_start.py): no MakeParallel and no manage. 'calculate' takes the
// channel to the creating process as its first parameter and sends its
// result itself, and the exchange's start() runs it in a created process.

#include <cstddef>   // std::size_t
#include <iostream>  // std::cout
#include <tuple>     // std::tuple, std::make_tuple
#include <vector>    // std::vector

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::Exchange, Channel

#include "example_support.hpp"  // examples::parse_arguments, print_grid, ...

namespace {

// The size of the grid, the time each cell takes and the number of processes
// at once, set from the command line at the start of main(), before any
// process is created: each created process is a copy of this one
// (copy-on-write), so 'calculate' sees these values there too.
int N = 0;
double delay = 0;
std::size_t limit = 0;

// Parallel convenience class containing the array assignment operation.
class MyExchange : public pprocess::Exchange {
 public:
  using pprocess::Exchange::Exchange;

  // Called in this process for each channel with data waiting.
  void store_data(pprocess::Channel& ch) override {
    const auto [i, j, result] = ch.receive<std::tuple<int, int, int>>();
    D[static_cast<std::size_t>(i * N + j)] = result;
  }

  std::vector<int> D;
};

// A supposedly time-consuming calculation on 'i' and 'j', using 'ch' to
// communicate with the parent process.
void calculate(pprocess::Channel& ch, int i, int j) {
  examples::sleep_for_delay(delay);
  ch.send(std::make_tuple(i, j, i * N + j));
}

}  // namespace

int main(int argc, char* argv[]) {
  const examples::Arguments args = examples::parse_arguments(argc, argv);
  N = args.N;
  delay = args.delay;
  limit = args.limit;

  const examples::Stopwatch t;

  // Initialise the communications exchange with a limit on the number of
  // channels/processes.
  MyExchange exchange({.limit = limit});

  // Initialise an array - it is stored in the exchange to permit automatic
  // assignment of values as the data arrives.
  exchange.D.assign(static_cast<std::size_t>(N * N), 0);
  const std::vector<int>& results = exchange.D;

  // Perform the work.
  std::cout << "Calculating...\n";
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      exchange.start(calculate, i, j);
    }
  }

  // Wait for the results.
  std::cout << "Finishing...\n";
  exchange.finish();

  // Show the results.
  examples::print_grid(results, N);

  t.print_time_taken();
}
