// SPDX-License-Identifier: MIT
//
// simple_pmap.cpp with a journal: each result is kept in the file
// "journaled_pmap.journal" (in the current directory) as it arrives. Run it
// again and it takes the results from there instead of computing them;
// interrupt it (Ctrl-C, kill -9) and run it again, and it computes only the
// cells that were not done. Delete the file to start over. See
// docs/journal.md.

#include <cstddef>   // std::size_t
#include <iostream>  // std::cout
#include <utility>   // std::pair
#include <vector>    // std::vector

#include <pprocess/pprocess.hpp>  // pprocess::pmap, pprocess::Map, Event

#include "example_support.hpp"  // examples::parse_arguments, print_row, ...

namespace {

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
  const examples::Arguments args = examples::parse_arguments(argc, argv);
  N = args.N;
  delay = args.delay;
  limit = args.limit;

  const examples::Stopwatch t;

  std::vector<std::pair<int, int>> sequence;
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) {
      sequence.emplace_back(i, j);
    }
  }

  // Count where the results come from: a result taken from the journal is
  // reported as finished by no process (pid 0).
  std::size_t computed = 0;
  std::size_t from_journal = 0;
  pprocess::Options options{.limit = limit,
                            .journal = "journaled_pmap.journal"};
  options.on_event = [&](const pprocess::Event& e) {
    if (e.kind == pprocess::Event::Kind::finished) {
      ++(e.pid == 0 ? from_journal : computed);
    }
  };

  // Perform the work: only the cells the journal does not hold.
  pprocess::Map<int> results = pprocess::pmap(calculate, sequence, options);

  const auto n = static_cast<std::size_t>(N);
  for (std::size_t i = 0; i < n; ++i) {
    examples::print_row(results.slice(i * n, i * n + n));
  }

  std::cout << "Computed: " << computed
            << ", from the journal: " << from_journal << "\n";
  t.print_time_taken();
}
