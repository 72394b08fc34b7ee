// SPDX-License-Identifier: MIT
//
// An outside program: built against the *installed* pprocess::mpi (CMake
// package component or pkg-config), it runs a pmap and a managed Map over
// the ranks of the job (or alone, as a singleton MPI program) and exits
// non-zero on rank 0 if the results are wrong.

#include <cstdio>
#include <numeric>
#include <vector>

#include <pprocess/mpi.hpp>
#include <pprocess/pprocess.hpp>

namespace {

int square(int x) {
  return x * x;
}

}  // namespace

int main(int argc, char* argv[]) {
  pprocess::mpi::Session session(argc, argv);

  std::vector<int> inputs(20);
  std::iota(inputs.begin(), inputs.end(), 0);
  auto squares = pprocess::mpi::pmap(session, square, inputs, {.limit = 2});

  pprocess::mpi::Map<int> managed(session, {.limit = 2});
  auto calc = managed.manage(pprocess::MakeParallel(square));
  for (int i = 0; i < 5; ++i) {
    calc(i + 1);
  }

  // The results are on rank 0; the other ranks serve it from the Maps'
  // destructors.
  if (!session.root()) {
    return 0;
  }
  bool ok = squares.size() == inputs.size();
  for (std::size_t i = 0; ok && i < inputs.size(); ++i) {
    ok = squares[i] == inputs[i] * inputs[i];
  }
  ok = ok && managed.slice(0, 5) == std::vector<int>{1, 4, 9, 16, 25};
  if (!ok) {
    std::fprintf(stderr, "mpi_consumer: FAILED: wrong results\n");
    return 1;
  }
  std::printf("mpi_consumer: %d ranks, results right\n", session.size());
  return 0;
}
