// SPDX-License-Identifier: MIT
//
// simple_pmap.cpp over the ranks of an MPI job: the same program, with a
// pprocess::mpi::Session and pprocess::mpi::pmap. Every rank runs main()
// and makes the same calls; rank 0 hands out ranges of the sequence, every
// rank computes its ranges in up to 'limit' processes of its own, and the
// results come back to rank 0, in the order of the inputs, where they are
// printed.
//
//     mpirun -np 3 --bind-to none ./simple_pmap --N 10 --delay 0.04

#include <cstddef>  // std::size_t
#include <utility>  // std::pair
#include <vector>   // std::vector

#include <pprocess/mpi.hpp>  // pprocess::mpi::Session, pmap, Map

#include "../example_support.hpp"  // examples::parse_arguments, print_row, ...

namespace {

// Set from the command line on every rank before any process is created.
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
  // Every rank: MPI starts here (and ends when 'session' goes).
  pprocess::mpi::Session session(argc, argv);
  const examples::Arguments args = examples::parse_arguments(argc, argv);
  N = args.N;
  delay = args.delay;
  limit = args.limit;

  const examples::Stopwatch t;

  // Initialise an array: the same on every rank.
  std::vector<std::pair<int, int>> sequence;
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      sequence.emplace_back(i, j);
    }
  }

  // Perform the work, over every rank: 'limit' processes per rank.
  pprocess::mpi::Map<int> results =
      pprocess::mpi::pmap(session, calculate, sequence, {.limit = limit});

  // Show the results on rank 0. On the other ranks there are none: the
  // results' destructor lends their processes to rank 0 until it is done.
  if (session.root()) {
    const auto n = static_cast<std::size_t>(N);
    for (std::size_t i = 0; i < n; ++i) {
      examples::print_row(results.slice(i * n, i * n + n));
    }
    t.print_time_taken();
  }
}
