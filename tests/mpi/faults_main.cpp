// SPDX-License-Identifier: MIT
//
// Jobs that pprocess::mpi must end rather than let hang, run by
// check_abort.cmake under mpirun with 3 ranks; the first argument says how
// the job goes wrong:
//
//   type     rank 1 calls pmap with another function than the other ranks
//   count    rank 1 calls pmap on fewer elements
//   extra    rank 0 makes one pmap call more than the others
//   manage   rank 2 makes fewer managed calls than the others
//   killed   rank 1 is killed (SIGKILL) while the job runs
//   journal  rank 0 cannot create the pmap's journal (Options::journal)

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include <pprocess/mpi.hpp>

namespace {

#ifdef OTHER_BUILD
// Makes this build's code, and so its build id, differ.
[[maybe_unused]] const char* const build = "other";
#endif

std::vector<int> iota(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

int slow_square(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return x * x;
}

int slow_cube(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return x * x * x;
}

}  // namespace

int main(int argc, char* argv[]) {
  pprocess::mpi::Session session(argc, argv);
  const char* fault = argc > 1 ? argv[1] : "";
  const int rank = session.rank();
  int sum = 0;
  if (std::strcmp(fault, "type") == 0) {
    // Another function type (a lambda each), the same result type.
    auto results = rank == 1 ? pprocess::mpi::pmap(
                                   session, [](int x) { return -x; }, iota(100))
                             : pprocess::mpi::pmap(
                                   session, [](int x) { return x; }, iota(100));
    if (session.root()) {
      for (int r : results)
        sum += r;
    }
  } else if (std::strcmp(fault, "count") == 0) {
    auto results =
        pprocess::mpi::pmap(session, slow_square, iota(rank == 1 ? 99 : 100));
    if (session.root()) {
      for (int r : results)
        sum += r;
    }
  } else if (std::strcmp(fault, "extra") == 0) {
    auto first = pprocess::mpi::pmap(session, slow_square, iota(30));
    if (session.root()) {
      auto second = pprocess::mpi::pmap(session, slow_cube, iota(30));
      for (int r : second)
        sum += r;
    }
  } else if (std::strcmp(fault, "manage") == 0) {
    pprocess::mpi::Map<int> map(session);
    auto calc = map.manage(pprocess::MakeParallel(slow_square));
    for (int i = 0; i < (rank == 2 ? 5 : 6); ++i) {
      calc(i);
    }
    if (session.root()) {
      for (int r : map)
        sum += r;
    }
  } else if (std::strcmp(fault, "killed") == 0) {
    auto results =
        pprocess::mpi::pmap(session, slow_square, iota(2000), {.limit = 2});
    if (rank == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      ::raise(SIGKILL);
    }
    if (session.root()) {
      for (int r : results)
        sum += r;
    }
  } else if (std::strcmp(fault, "journal") == 0) {
    auto results = pprocess::mpi::pmap(
        session, slow_square, iota(100),
        {.journal = "/proc/pprocess-no-such-directory/journal"});
    if (session.root()) {
      for (int r : results)
        sum += r;
    }
  } else {
    std::fprintf(stderr, "usage: %s type|count|extra|manage|killed|journal\n",
                 argv[0]);
    return 2;
  }
  if (session.root()) {
    std::printf("sum %d\n", sum);
  }
}
