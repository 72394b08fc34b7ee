// SPDX-License-Identifier: MIT
//
// simple_managed.cpp with a background process (the PersistentExchange
// concept of the tutorial): the whole computation runs as the function
// 'task' in a background process listening on the UNIX-domain socket
// "task.socket" in the current directory. The exchange that starts it may go
// away at once: the background process outlives it. A new exchange, possibly
// in another run of the program, connects to the socket later, and its
// store_data puts the results in their places in the grid.
//
//   simple_persistent_managed               start the work, then collect it
//   simple_persistent_managed --start       start the work and exit at once
//   simple_persistent_managed --reconnect   collect the work started earlier

#include <cstddef>   // std::size_t
#include <iostream>  // std::cout, std::cerr
#include <tuple>     // std::tuple
#include <vector>    // std::vector

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::PersistentExchange, Channel, ...

#include "example_support.hpp"  // examples::parse_arguments, print_grid, ...

namespace {

// The size of the grid, the time each cell takes and the number of processes
// at once, set from the command line at the start of main(), before any
// process is created: each created process is a copy of this one
// (copy-on-write), so 'task' and 'calculate' see these values there too.
int N = 0;
double delay = 0;
std::size_t limit = 0;

// Persistent convenience class containing the array assignment operation.
class MyExchange : public pprocess::PersistentExchange {
 public:
  using pprocess::PersistentExchange::PersistentExchange;

  // Called in this process for each channel with data waiting: here, the
  // whole grid from the background process, as (i, j, result) triples.
  void store_data(pprocess::Channel& ch) override {
    for (const auto& [i, j, result] :
         ch.receive<std::vector<std::tuple<int, int, int>>>()) {
      D[static_cast<std::size_t>(i * N + j)] = result;
    }
  }

  std::vector<int> D;
};

// A supposedly time-consuming calculation on 'i' and 'j', returning them
// with the result.
std::tuple<int, int, int> calculate(int i, int j) {
  examples::sleep_for_delay(delay);
  return {i, j, i * N + j};
}

// The whole computation, returning every result with its position. It runs
// in the background process, whose standard streams lead nowhere: what it
// prints is not seen.
std::vector<std::tuple<int, int, int>> task() {
  // Initialise the communications queue with a limit on the number of
  // channels/processes.
  pprocess::Queue<std::tuple<int, int, int>> queue({.limit = limit});

  // Wrap the calculate function and manage it.
  auto calc = queue.manage(pprocess::MakeParallel(calculate));

  // Perform the work.
  std::cout << "Calculating...\n";
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      calc(i, j);
    }
  }

  // Gather the results as they arrive.
  std::cout << "Finishing...\n";
  std::vector<std::tuple<int, int, int>> results;
  for (const auto& result : queue) {
    results.push_back(result);
  }
  return results;
}

}  // namespace

int main(int argc, char* argv[]) {
  const examples::Arguments args = examples::parse_arguments(argc, argv);
  N = args.N;
  delay = args.delay;
  limit = args.limit;

  const examples::Stopwatch t;

  // A background address may be missing (--reconnect without --start) or
  // busy (a second --start): say so.
  try {
    if (!args.reconnect) {
      {
        // Initialise the communications exchange with a limit on the number of
        // channels/processes.
        MyExchange exchange({.limit = limit});

        // Wrap the computation and manage it in a background process.
        auto calc =
            exchange.manage("task.socket", pprocess::MakeParallel(task));

        // Perform the work.
        calc();
      }  // Discard the exchange: the background process lives on.
      std::cout << "Discarded the exchange.\n";
    }

    if (!args.start) {
      // Open a new exchange and reconnect to the task.
      std::cout << "Opening an exchange.\n";
      MyExchange exchange;
      exchange.connect("task.socket");

      // Initialise an array - it is stored in the exchange to permit automatic
      // assignment of values as the data arrives.
      exchange.D.assign(static_cast<std::size_t>(N * N), 0);

      // Wait for the results.
      std::cout << "Waiting for persistent results\n";
      exchange.finish();

      // Show the results.
      examples::print_grid(exchange.D, N);
    }
  } catch (const pprocess::Error& error) {
    std::cerr << argv[0] << ": " << error.what() << '\n';
    return 1;
  }

  t.print_time_taken();
}
