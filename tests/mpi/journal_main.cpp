// SPDX-License-Identifier: MIT
//
// A journaled pprocess::mpi::pmap that is killed and run again, by
// check_journal_resume.cmake under mpirun:
//
//   mpi_journal <journal> <generation> none|rank0|rank1
//
// The results are x*x*8 + generation (the run that computed them). rank1:
// rank 1 is killed (SIGKILL) once rank 0's journal holds some records;
// rank0: rank 0 kills itself after reading 100 results. Either ends the
// job. Rank 0 prints "computed C of N, sum S": C results computed by this
// run, S the sum of the squares.

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <pprocess/mpi.hpp>

namespace {

constexpr int elements = 600;
// Set on every rank before the call; read by the tasks in their copy of the
// rank's memory.
long generation = 0;

long square(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return static_cast<long>(x) * x * 8 + generation;
}

}  // namespace

int main(int argc, char* argv[]) {
  pprocess::mpi::Session session(argc, argv);
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s journal generation none|rank0|rank1\n",
                 argv[0]);
    return 2;
  }
  const std::filesystem::path journal = argv[1];
  generation = std::atol(argv[2]);
  const std::string kill = argv[3];
  std::vector<int> inputs(elements);
  std::iota(inputs.begin(), inputs.end(), 0);
  auto results = pprocess::mpi::pmap(session, square, inputs,
                                     {.limit = 2, .journal = journal});
  if (kill == "rank1" && session.rank() == 1) {
    // Once rank 0 has written some records (the ranks share a machine
    // here): about 25 of 40 bytes each.
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::error_code ec;
    while (std::chrono::steady_clock::now() < until &&
           std::filesystem::file_size(journal, ec) < 1000) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ::raise(SIGKILL);
  }
  if (session.root()) {
    long sum = 0;
    int computed = 0;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (kill == "rank0" && i == 100) {
        ::raise(SIGKILL);
      }
      const long value = results[i];
      sum += value / 8;
      computed += value % 8 == generation ? 1 : 0;
    }
    std::printf("computed %d of %d, sum %ld\n", computed, elements, sum);
  }
}
