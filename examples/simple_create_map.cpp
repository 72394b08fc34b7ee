// SPDX-License-Identifier: MIT
//
// simple.cpp made parallel without moving the work into a function (twin of
// the tutorial's simple_create_map.py). results.create() forks: in the
// created process it returns a channel to the creator, which the work uses
// to send its result before the process ends with pprocess::exit; in the
// creating process it returns nothing and the loop goes on. A pprocess::Map
// keeps the results in the order the processes were created.

#include <cstddef>    // std::size_t
#include <exception>  // std::exception
#include <iostream>   // std::cout, std::cerr

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::Map, Channel, exit

#include "example_support.hpp"  // examples::parse_arguments, print_row, ...

namespace {

// The size of the grid, the time each cell takes and the number of processes
// at once, set from the command line at the start of main(), before any
// process is created: each created process is a copy of this one
// (copy-on-write), so the work in the loop sees these values there too.
int N = 0;
double delay = 0;
std::size_t limit = 0;

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

  // Perform the work.
  // NOTE: the try/catch plays the part of Python's try...finally: whatever
  // NOTE: the work does, the created process must reach pprocess::exit and
  // NOTE: never carry on with the creator's loop.
  std::cout << "Calculating...\n";
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      if (auto ch = results.create()) {
        int status = 0;
        try {
          // Calculation work.
          examples::sleep_for_delay(delay);
          ch->send(i * N + j);
        } catch (const std::exception& e) {
          std::cerr << "calculation (" << i << ", " << j
                    << ") failed: " << e.what() << '\n';
          status = 1;
        } catch (...) {
          status = 1;
        }
        // Important finalisation.
        pprocess::exit(*ch, status);
      }
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
