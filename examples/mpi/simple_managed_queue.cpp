// SPDX-License-Identifier: MIT
//
// simple_managed_queue.cpp over the ranks of an MPI job: the same program,
// with a pprocess::mpi::Session and a pprocess::mpi::Queue. Every rank runs
// main() and makes the same managed calls with the same arguments; rank 0
// hands each call out to a rank, which runs it in one of up to 'limit'
// processes of its own, and the results reach rank 0's queue in the order
// they arrive; the position each result carries says where it goes in the
// grid.
//
//     mpirun -np 3 --bind-to none ./simple_managed_queue --N 10 --delay 0.04

#include <cstddef>   // std::size_t
#include <iostream>  // std::cout
#include <tuple>     // std::tuple
#include <vector>    // std::vector

#include <pprocess/mpi.hpp>  // pprocess::mpi::Session, Queue
// pprocess::MakeParallel comes from the core library.
#include <pprocess/pprocess.hpp>  // pprocess::MakeParallel

#include "../example_support.hpp"  // examples::parse_arguments, print_grid, ...

namespace {

// Set from the command line on every rank before any process is created.
int N = 0;
double delay = 0;
std::size_t limit = 0;

// A supposedly time-consuming calculation on 'i' and 'j', returning them
// with the result.
std::tuple<int, int, int> calculate(int i, int j) {
  examples::sleep_for_delay(delay);
  return {i, j, i * N + j};
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

  // Initialise the communications queue with a limit on the number of
  // channels/processes: 'limit' per rank.
  pprocess::mpi::Queue<std::tuple<int, int, int>> queue(session,
                                                        {.limit = limit});

  // Wrap the calculate function and manage it: on every rank, since every
  // rank makes the calls.
  auto calc = queue.manage(pprocess::MakeParallel(calculate));

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

  // Store the results as they arrive, and show them, on rank 0. On the
  // other ranks nothing arrives: the queue's destructor lends their
  // processes to rank 0 until it is done.
  if (session.root()) {
    std::vector<int> results(static_cast<std::size_t>(N * N));
    std::cout << "Finishing...\n";
    for (const auto& [i, j, result] : queue) {
      results[static_cast<std::size_t>(i * N + j)] = result;
    }
    examples::print_grid(results, N);
    t.print_time_taken();
  }
}
