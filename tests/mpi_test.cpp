// SPDX-License-Identifier: MIT
//
// pprocess::mpi, run under mpirun (see tests/mpi/CMakeLists.txt: 1, 2 and 3
// ranks, the TCP path alone, and two simulated hosts). Every rank runs every
// test, making the same calls (SPMD); rank 0 checks the results.

#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/mpi.hpp>
#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

pprocess::mpi::Session* session = nullptr;
// This rank, set before any process is created: a task reads it in its own
// copy of the rank's memory to tell where it ran.
int this_rank = -1;

std::vector<int> iota(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(MpiPmap, ResultsInInputOrderFromEveryRank) {
  auto results = pprocess::mpi::pmap(
      *session,
      [](int x) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        return std::pair<int, int>(x * x, this_rank);
      },
      iota(300), {.limit = 2});
  ASSERT_EQ(results.size(), 300U);
  if (!session->root()) {
    EXPECT_EQ(results.begin(), results.end());  // served rank 0, holds none
    return;
  }
  std::set<int> ranks;
  int i = 0;
  for (const auto& [square, rank] : results) {
    EXPECT_EQ(square, i * i);
    ranks.insert(rank);
    ++i;
  }
  EXPECT_EQ(i, 300);
  EXPECT_EQ(ranks.size(), static_cast<std::size_t>(session->size()))
      << "every rank computes a share";
}

TEST(MpiPmap, ManyTrivialTasks) {
  auto results = pprocess::mpi::pmap(
      *session, [](int x) { return 3 * x + 1; }, iota(200000));
  if (session->root()) {
    for (std::size_t i = 0; i < results.size(); ++i) {
      ASSERT_EQ(results[i], 3 * static_cast<int>(i) + 1) << i;
    }
  }
}

TEST(MpiPmap, EmptySequence) {
  auto results = pprocess::mpi::pmap(
      *session, [](int x) { return x; }, std::vector<int>{});
  EXPECT_EQ(results.size(), 0U);
  EXPECT_EQ(results.begin(), results.end());
}

TEST(MpiPmap, LargeResultsCrossInPieces) {
  // PPROCESS_MPI_PIECE_BYTES is set small by the test's mpirun: a result
  // larger than it crosses in several MPI messages.
  auto results = pprocess::mpi::pmap(
      *session, [](int x) { return std::vector<double>(400000, x + 0.5); },
      iota(6), {.limit = 1});
  if (session->root()) {
    for (int x = 0; x < 6; ++x) {
      const std::vector<double>& v = results[static_cast<std::size_t>(x)];
      ASSERT_EQ(v.size(), 400000U);
      EXPECT_EQ(v.front(), x + 0.5);
      EXPECT_EQ(v.back(), x + 0.5);
    }
  }
}

TEST(MpiPmap, TwoCallsAtOnce) {
  auto squares = pprocess::mpi::pmap(
      *session, [](int x) { return x * x; }, iota(1000));
  auto names = pprocess::mpi::pmap(
      *session, [](int x) { return std::to_string(x); }, iota(500));
  if (session->root()) {
    EXPECT_EQ(names[499], "499");
    EXPECT_EQ(squares[999], 999 * 999);
    EXPECT_EQ(names.slice(10, 13),
              (std::vector<std::string>{"10", "11", "12"}));
  }
}

TEST(MpiPmap, FailuresOfTheLastRankArriveOnRankZeroForTheirTaskOnly) {
  // Every task that runs on the last rank fails, the others succeed. Which
  // elements land there is up to rank 0, so the kind of failure goes by the
  // order in which that rank's processes take tasks (a counter they share):
  // the first throws, the second crashes, the third runs past the timeout,
  // the rest throw or crash.
  const int last = session->size() - 1;
  void* shared =
      ::mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared, MAP_FAILED);
  auto* taken = new (shared) std::atomic<int>(0);
  std::set<int> kinds;
  {
    auto results = pprocess::mpi::pmap(
        *session,
        [last, taken](int x) {
          if (this_rank == last && last > 0) {
            const int n = taken->fetch_add(1);
            if (n == 2) {
              std::this_thread::sleep_for(std::chrono::seconds(30));
            } else if (n % 2 == 0) {
              throw std::out_of_range("element " + std::to_string(x));
            } else {
#if defined(__SANITIZE_ADDRESS__)
              // AddressSanitizer's handler would end the process with a
              // report and status 1 instead.
              (void)::signal(SIGSEGV, SIG_DFL);
#endif
              ::raise(SIGSEGV);
            }
          }
          return x + 1;
        },
        // A crash must be seen as a crash, not run past the timeout, even on
        // a loaded machine: a generous timeout.
        iota(24), {.limit = 2, .timeout = std::chrono::milliseconds(1500)});
    const std::string on_last = "rank " + std::to_string(last) + " (host ";
    for (int x = 0; session->root() && x < 24; ++x) {
      try {
        EXPECT_EQ(results[static_cast<std::size_t>(x)], x + 1);
        continue;
      } catch (const pprocess::TimeoutError& e) {
        EXPECT_EQ(e.task(), static_cast<std::size_t>(x));
        EXPECT_EQ(e.timeout(), std::chrono::milliseconds(1500));
        EXPECT_NE(std::string(e.what()).find(on_last), std::string::npos)
            << e.what();
        kinds.insert(2);
      } catch (const pprocess::ProcessError& e) {
        EXPECT_EQ(e.signal(), SIGSEGV);
        EXPECT_EQ(e.task(), static_cast<std::size_t>(x));
        EXPECT_EQ(std::string(e.what()).rfind(on_last, 0), 0U) << e.what();
        kinds.insert(1);
      } catch (const pprocess::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "std::out_of_range");
        EXPECT_EQ(e.task(), static_cast<std::size_t>(x));
        EXPECT_EQ(
            std::string(e.what()),
            on_last +
                pprocess::mpi::detail::session_access::core(*session).host(
                    last) +
                "): element " + std::to_string(x));
        kinds.insert(0);
      }
      EXPECT_GT(last, 0) << "a task failed with no rank to fail on";
    }
  }  // the results go: the other ranks serve rank 0 until it is done
  // Unmapped once no process of this rank can need the counter.
  ::munmap(shared, sizeof(std::atomic<int>));
  if (session->root() && last > 0) {
    EXPECT_EQ(kinds.size(), 3U) << "the last rank ran too few tasks";
  }
}

TEST(MpiPmap, RankZerosOwnResultsAreReadWhereItsProcessesLeftThem) {
  // Rank 0's results stay in its local pmap's storage (see
  // result_table::lend): its failures must still name rank 0, and its
  // processes end with the call while the results stay.
  auto results = pprocess::mpi::pmap(
      *session,
      [](int x) {
        if (this_rank == 0 && x % 7 == 3) {
          throw std::out_of_range("element " + std::to_string(x));
        }
        return std::pair<int, int>(x + 1, this_rank);
      },
      iota(2000), {.limit = 2});
  if (!session->root()) {
    return;
  }
  const std::string on_rank0 =
      "rank 0 (host " +
      pprocess::mpi::detail::session_access::core(*session).host(0) +
      "): element ";
  int failures = 0;
  for (int x = 0; x < 2000; ++x) {
    try {
      const auto& [value, rank] = results[static_cast<std::size_t>(x)];
      EXPECT_EQ(value, x + 1);
      EXPECT_TRUE(rank != 0 || x % 7 != 3) << x;
    } catch (const pprocess::RemoteError& e) {
      EXPECT_EQ(x % 7, 3);
      EXPECT_EQ(e.task(), static_cast<std::size_t>(x));
      EXPECT_EQ(std::string(e.what()), on_rank0 + std::to_string(x));
      ++failures;
    }
  }
  if (session->size() == 1) {
    EXPECT_EQ(failures, 286);
  }
  EXPECT_FALSE(test_support::has_unreaped_children());
  EXPECT_THROW((void)results[3], pprocess::RemoteError);
  EXPECT_EQ(results[1999].first, 2000);
}

TEST(MpiMap, TwoRangesInOneMap) {
  pprocess::mpi::Map<int> map(*session, {.limit = 2});
  map([](int x) { return x + 1; }, iota(3000));
  map([](int x) { return -x; }, iota(2000));
  if (session->root()) {
    ASSERT_EQ(map.size(), 5000U);
    // Out of order first: the second range, then the first.
    EXPECT_EQ(map[4999], -1999);
    EXPECT_EQ(map[0], 1);
    for (std::size_t i = 0; i < 5000; ++i) {
      const int expected =
          i < 3000 ? static_cast<int>(i) + 1 : -static_cast<int>(i - 3000);
      ASSERT_EQ(map[i], expected) << i;
    }
  }
}

int twice(int x) {
  return 2 * x;
}

TEST(MpiMap, ManagedCallsInStartOrder) {
  pprocess::mpi::Map<int> map(*session, {.limit = 2});
  auto calc = map.manage(pprocess::MakeParallel(twice));
  for (int i = 0; i < 24; ++i) {
    calc(i);
  }
  ASSERT_EQ(map.size(), 24U);
  if (session->root()) {
    std::vector<int> all(map.begin(), map.end());
    EXPECT_EQ(all.size(), 24U);
    for (int i = 0; i < 24; ++i) {
      EXPECT_EQ(all[static_cast<std::size_t>(i)], 2 * i);
    }
  } else {
    EXPECT_THROW((void)map[0], pprocess::Error);
  }
}

TEST(MpiMap, ReusableCallsAndARange) {
  pprocess::mpi::Map<long> map(*session, {.limit = 2, .reuse = true});
  auto calc = map.manage(pprocess::MakeReusable([](int x) { return x * 10; }));
  for (int i = 0; i < 10; ++i) {
    calc(i);
  }
  map([](int x) { return x + 1000; }, iota(10));
  if (session->root()) {
    ASSERT_EQ(map.size(), 20U);
    EXPECT_EQ(map[3], 30);
    EXPECT_EQ(map[13], 1003);
  }
}

// Which run of a journaled call computed a result: set on every rank before
// the call, read by the tasks in their copy of the rank's memory.
int generation = 0;

TEST(MpiJournal, ARerunComputesOnlyWhatTheJournalLacks) {
  // The journal is rank 0's; the other ranks' paths are never opened.
  const test_support::temp_dir dir;
  const pprocess::Options options{.limit = 2,
                                  .journal = dir / "squares.journal"};
  const auto run = [&](int gen) {
    generation = gen;
    // Elements x % 50 == 7 fail in the first run: not journaled, they run
    // again in the second.
    return pprocess::mpi::pmap(
        *session,
        [](int x) {
          if (generation == 1 && x % 50 == 7) {
            throw std::runtime_error("first run");
          }
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          return std::pair<int, int>(x * x, generation);
        },
        iota(1000), options);
  };
  const auto check = [&](auto& results, int gen) {
    if (!session->root()) {
      EXPECT_EQ(results.begin(), results.end());
      return;
    }
    ASSERT_EQ(results.size(), 1000U);
    int computed = 0;
    for (int x = 0; x < 1000; ++x) {
      if (gen == 1 && x % 50 == 7) {
        EXPECT_THROW((void)results[static_cast<std::size_t>(x)],
                     pprocess::RemoteError);
        continue;
      }
      const auto& [square, made] = results[static_cast<std::size_t>(x)];
      EXPECT_EQ(square, x * x) << x;
      computed += made == gen ? 1 : 0;
      if (gen == 2) {  // the failed ones alone ran again
        EXPECT_EQ(made, x % 50 == 7 ? 2 : 1) << x;
      }
    }
    EXPECT_EQ(computed, gen == 1 ? 980 : gen == 2 ? 20 : 0);
  };
  {
    auto first = run(1);
    check(first, 1);
  }
  {
    auto second = run(2);
    check(second, 2);
  }
  {
    auto third = run(3);  // every result in the journal: nothing runs
    check(third, 3);
    if (session->root()) {
      EXPECT_FALSE(test_support::has_unreaped_children());
    }
  }
}

TEST(MpiJournal, ItCoversTheRangeCallOfAMapNotItsManagedCalls) {
  const test_support::temp_dir dir;
  const pprocess::Options options{.limit = 2, .journal = dir / "j"};
  for (int gen = 1; gen <= 2; ++gen) {
    generation = gen;
    pprocess::mpi::Map<std::string> map(*session, options);
    auto calc = map.manage(pprocess::MakeParallel([](int x) {
      return "call " + std::to_string(x) + "/" + std::to_string(generation);
    }));
    for (int i = 0; i < 5; ++i) {
      calc(i);
    }
    map(
        [](int x) {
          return std::to_string(x) + "/" + std::to_string(generation);
        },
        iota(300));
    if (!session->root()) {
      continue;
    }
    ASSERT_EQ(map.size(), 305U);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(map[static_cast<std::size_t>(i)],
                "call " + std::to_string(i) + "/" + std::to_string(gen));
    }
    for (int x = 0; x < 300; ++x) {
      // The second run takes every element from the journal.
      EXPECT_EQ(map[static_cast<std::size_t>(5 + x)], std::to_string(x) + "/1");
    }
  }
}

TEST(MpiQueue, EveryResultInArrivalOrder) {
  pprocess::mpi::Queue<std::tuple<int, int, int>> queue(*session, {.limit = 2});
  auto calc = queue.manage(pprocess::MakeParallel([](int i, int j) {
    std::this_thread::sleep_for(std::chrono::milliseconds((i * 7 + j) % 5));
    return std::tuple<int, int, int>(i, j, i * 10 + j);
  }));
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 5; ++j) {
      calc(i, j);
    }
  }
  if (session->root()) {
    std::set<int> seen;
    for (auto [i, j, v] : queue) {
      EXPECT_EQ(v, i * 10 + j);
      seen.insert(v);
    }
    EXPECT_EQ(seen.size(), 25U);
  } else {
    EXPECT_EQ(queue.begin(), queue.end());
  }
}

TEST(MpiQueue, AFailedCallTakesItsPlace) {
  pprocess::mpi::Queue<int> queue(*session, {.limit = 2});
  auto calc = queue.manage(pprocess::MakeParallel([](int x) {
    if (x == 3) {
      throw std::runtime_error("three");
    }
    return x;
  }));
  for (int i = 0; i < 6; ++i) {
    calc(i);
  }
  if (session->root()) {
    int sum = 0;
    int failures = 0;
    for (;;) {
      try {
        for (int v : queue) {
          sum += v;
        }
        break;
      } catch (const pprocess::RemoteError& e) {
        EXPECT_NE(std::string(e.what()).find("three"), std::string::npos);
        ++failures;
      }
    }
    EXPECT_EQ(sum, 0 + 1 + 2 + 4 + 5);
    EXPECT_EQ(failures, 1);
  }
}

TEST(MpiPmap, NestedLocalWorkInATask) {
  auto sums = pprocess::mpi::pmap(
      *session,
      [](int x) {
        auto squares =
            pprocess::pmap([](int y) { return y * y; }, iota(x), {.limit = 2});
        int sum = 0;
        for (int s : squares) {
          sum += s;
        }
        return sum;
      },
      iota(8), {.limit = 1});
  if (session->root()) {
    for (int x = 0; x < 8; ++x) {
      EXPECT_EQ(sums[static_cast<std::size_t>(x)],
                (x - 1) * x * (2 * x - 1) / 6);
    }
  }
}

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// Options the ranks do not carry are refused on every rank alike, before
// anything collective happens.
TEST(MpiOptions, WhatTheRanksDoNotCarryIsRefused) {
  pprocess::Options watched;
  watched.on_event = [](const pprocess::Event&) {};
  EXPECT_THROW(pprocess::mpi::Map<int>(*session, watched), pprocess::Error);
  EXPECT_THROW(pprocess::mpi::Queue<int>(*session, {.progress = true}),
               pprocess::Error);
  EXPECT_THROW(pprocess::mpi::Map<int>(*session, {.continuous = true}),
               pprocess::Error);
}

TEST(MpiSession, ARankWaitingForRankZeroSleeps) {
  auto results = pprocess::mpi::pmap(*session, [](int x) { return x; },
                                     iota(10), {.limit = 1});
  if (session->root()) {
    // Rank 0 is busy with work of its own, outside the library: the other
    // ranks wait in begin() for it, and must not spin.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_EQ(results[9], 9);
    return;
  }
  const auto wall = std::chrono::steady_clock::now();
  const double cpu = cpu_seconds();
  EXPECT_EQ(results.begin(), results.end());
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall)
          .count();
  const double used = cpu_seconds() - cpu;
  EXPECT_GT(waited, 0.5);
  EXPECT_LT(used, 0.15 * waited)
      << "CPU " << used << " s in " << waited << " s of waiting";
}

std::string this_host() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

TEST(MpiSession, RanksOnAsManyHostsAsTheJobHas) {
  // Set by a test that spreads the ranks over several (simulated) hosts,
  // mpi.netns; elsewhere they share this one and there is nothing to see.
  // Every rank reads the same value (mpirun -x), so all skip or none does.
  const char* expected = std::getenv("PPROCESS_TEST_EXPECT_HOSTS");
  if (expected == nullptr) {
    GTEST_SKIP() << "PPROCESS_TEST_EXPECT_HOSTS is not set";
  }
  const auto& core = pprocess::mpi::detail::session_access::core(*session);
  // A task asks its own host: the session's table must name the host where
  // the rank's processes really run.
  auto results = pprocess::mpi::pmap(
      *session,
      [](int) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        return std::pair<int, std::string>(this_rank, this_host());
      },
      iota(200), {.limit = 2});
  EXPECT_EQ(core.host(session->rank()), this_host());
  if (!session->root()) {
    return;
  }
  std::set<std::string> hosts;
  for (int r = 0; r < session->size(); ++r) {
    hosts.insert(core.host(r));
    std::cout << "rank " << r << " on host " << core.host(r) << '\n';
  }
  EXPECT_EQ(hosts.size(), std::stoul(expected));
  std::set<std::string> task_hosts;
  for (const auto& [rank, host] : results) {
    EXPECT_EQ(host, core.host(rank)) << "a task of rank " << rank;
    task_hosts.insert(host);
  }
  EXPECT_EQ(task_hosts, hosts) << "tasks ran on every host";
}

}  // namespace

int main(int argc, char* argv[]) {
  pprocess::mpi::Session mpi(argc, argv);
  session = &mpi;
  this_rank = mpi.rank();
  testing::InitGoogleTest(&argc, argv);
  if (!mpi.root()) {
    // One report, rank 0's; the others' failures still fail the run.
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  return RUN_ALL_TESTS();
}
