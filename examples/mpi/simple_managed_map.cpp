// SPDX-License-Identifier: MIT
//
// simple_managed_map.cpp over the ranks of an MPI job: the same program,
// with a pprocess::mpi::Session and a pprocess::mpi::Map. Every rank runs
// main() and makes the same managed calls with the same arguments; rank 0
// hands each call out to a rank, which runs it in one of up to 'limit'
// processes of its own, and the results come back to rank 0, in the order
// the calls were made, where they are printed.
//
//     mpirun -np 3 --bind-to none ./simple_managed_map --N 10 --delay 0.04

#include <cstddef>   // std::size_t
#include <iostream>  // std::cout

#include <pprocess/mpi.hpp>  // pprocess::mpi::Session, Map
// pprocess::MakeParallel comes from the core library.
#include <pprocess/pprocess.hpp>  // pprocess::MakeParallel

#include "../example_support.hpp"  // examples::parse_arguments, print_row, ...

namespace {

// Set from the command line on every rank before any process is created.
int N = 0;
double delay = 0;
std::size_t limit = 0;

// A supposedly time-consuming calculation on 'i' and 'j'.
int calculate(int i, int j) {
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

  // Initialise the results using a map with a limit on the number of
  // channels/processes: 'limit' per rank.
  pprocess::mpi::Map<int> results(session, {.limit = limit});

  // Wrap the calculate function and manage it: on every rank, since every
  // rank makes the calls.
  auto calc = results.manage(pprocess::MakeParallel(calculate));

  // Perform the work: every rank makes every call, and rank 0 decides which
  // rank runs it. Only rank 0 says so, or the line would appear once a rank.
  if (session.root()) {
    std::cout << "Calculating...\n";
  }
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      calc(i, j);
    }
  }

  // Show the results on rank 0: row i is results[i*N, i*N+N), each slice
  // waiting for the results it holds. On the other ranks there are none:
  // the results' destructor lends their processes to rank 0 until it is
  // done.
  if (session.root()) {
    const auto n = static_cast<std::size_t>(N);
    for (std::size_t i = 0; i < n; ++i) {
      examples::print_row(results.slice(i * n, i * n + n));
    }
    t.print_time_taken();
  }
}
