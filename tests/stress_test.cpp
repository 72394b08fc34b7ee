// SPDX-License-Identifier: MIT
//
// The fault storm (label `stress`): thousands of tasks through pmap, Map,
// Queue and a reuse pool, of which a few die (SIGKILL, abort, SIGSEGV,
// _exit(3)), throw, or hang past the timeout, chosen by a hash of their
// index (tests/support/storm.hpp). Every other result arrives and is right,
// every failure is its task's and of the right kind, and nothing is left
// behind: no descriptor, no child. Then processes killed from outside, a
// creator killed mid-run, and Ctrl-C sent to a creator's process group.
//
// `make soak` runs the same storms in a loop for minutes
// (tests/soak/soak_main.cpp; see docs/testing.md).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <memory>
#include <pthread.h>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/storm.hpp"
#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using storm::fault;
using test_support::elapsed_ms;
using test_support::has_unreaped_children;
using test_support::open_fd_count;

/// Runs the fault storm of `p` through an exchange of `kind` with `s` and
/// checks its tally (storm::check_map or check_queue, and check_totals:
/// every planned failure seen as planned, for its own task and after every
/// retry; every other task delivered its value), then that it closed every
/// descriptor it opened and left no child. The plan must hold every kind
/// of fault.
void expect_storm_weathered(storm::exchange_kind kind, const storm::plan& p,
                            const storm::settings& s) {
  const auto planned = storm::planned(p);
  for (std::size_t k = 1; k < storm::fault_kinds; ++k) {
    ASSERT_GT(planned[k], 0U)
        << "the plan has no " << storm::name(static_cast<fault>(k));
  }
  const int fds = open_fd_count();
  const auto t0 = std::chrono::steady_clock::now();
  const storm::tally t = storm::fault_storm(kind, p, s);
  std::printf("%s, limit %zu, retries %u: %s in %.0f ms\n", storm::name(kind),
              s.limit, s.retries, t.summary().c_str(), elapsed_ms(t0));
  for (const std::string& problem : t.problems) {
    ADD_FAILURE() << problem;
  }
  EXPECT_EQ(t.failed, planned);
  EXPECT_EQ(open_fd_count(), fds);
  EXPECT_FALSE(has_unreaped_children());
}

/// Runs the tasks of `p` through an exchange of `kind` with `s` while an
/// outside killer SIGKILLs one of its processes every 25 ms or so, and
/// checks the tally as expect_storm_weathered does, except that any task
/// may fail by a SIGKILL (naming its own task, after every retry) instead
/// of as planned, and no more of them than the kills allow
/// (storm::killed_storm_over); then that it closed every descriptor it
/// opened and left no child.
void expect_killer_weathered(storm::exchange_kind kind, const storm::plan& p,
                             const storm::settings& s) {
  const int fds = open_fd_count();
  const auto t0 = std::chrono::steady_clock::now();
  const storm::killed_storm k = storm::killed_storm_over(kind, p, s, 25ms);
  std::printf(
      "%s, limit %zu, retries %u, outside killer: %s; %zu processes "
      "killed, in %.0f ms\n",
      storm::name(kind), s.limit, s.retries, k.result.summary().c_str(),
      k.kills.value_or(0), elapsed_ms(t0));
  for (const std::string& problem : k.result.problems) {
    ADD_FAILURE() << problem;
  }
  EXPECT_EQ(open_fd_count(), fds);
  EXPECT_FALSE(has_unreaped_children());
}

using storm::exchange_kind;

// Each hang holds a process for the timeout (twice with a retry): keep them
// few.
constexpr std::chrono::milliseconds timeout = storm::task_timeout;

}  // namespace

// --- the fault storm ----------------------------------------------------

TEST(StressTest, FaultStormOverPmap) {
  expect_storm_weathered(
      exchange_kind::pmap,
      {.count = 20000, .per_10k = 100, .hangs = 2, .seed = 1},
      {.limit = 2, .timeout = timeout});
}

TEST(StressTest, FaultStormOverMapWithAProcessPerTask) {
  expect_storm_weathered(exchange_kind::map,
                         {.count = 2000, .per_10k = 200, .hangs = 2, .seed = 2},
                         {.limit = 4, .timeout = timeout});
}

TEST(StressTest, FaultStormOverQueue) {
  expect_storm_weathered(exchange_kind::queue,
                         {.count = 2000, .per_10k = 200, .hangs = 2, .seed = 3},
                         {.limit = 4, .timeout = timeout});
}

TEST(StressTest, FaultStormOverReusedProcesses) {
  expect_storm_weathered(exchange_kind::reuse,
                         {.count = 5000, .per_10k = 150, .hangs = 2, .seed = 4},
                         {.limit = 3, .timeout = timeout});
}

// With a retry, each planned death and hang runs twice and fails with
// attempts() 2; a throw runs once.
TEST(StressTest, FaultStormOverPmapWithRetries) {
  expect_storm_weathered(
      exchange_kind::pmap,
      {.count = 10000, .per_10k = 100, .hangs = 1, .seed = 5},
      {.limit = 2, .timeout = timeout, .retries = 1});
}

TEST(StressTest, FaultStormOverMapWithRetries) {
  expect_storm_weathered(exchange_kind::map,
                         {.count = 1000, .per_10k = 200, .hangs = 1, .seed = 6},
                         {.limit = 4, .timeout = timeout, .retries = 1});
}

TEST(StressTest, FaultStormOverReusedProcessesWithRetries) {
  expect_storm_weathered(exchange_kind::reuse,
                         {.count = 3000, .per_10k = 150, .hangs = 1, .seed = 7},
                         {.limit = 3, .timeout = timeout, .retries = 1});
}

// --- an outside killer --------------------------------------------------

// Without retries a task whose process is killed under it fails
// (ProcessError, SIGKILL, its own index); every other task delivers. With
// retries = 3 a task fails only if its process was killed under it four
// times.

TEST(StressTest, OutsideKillerDuringReuseLosesNoResult) {
  expect_killer_weathered(exchange_kind::reuse,
                          {.count = 4000, .seed = 11, .work_us = 500},
                          {.limit = 3});
}

TEST(StressTest, OutsideKillerDuringReuseWithRetriesLosesNoResult) {
  expect_killer_weathered(exchange_kind::reuse,
                          {.count = 4000, .seed = 12, .work_us = 500},
                          {.limit = 3, .retries = 3});
}

TEST(StressTest, OutsideKillerDuringPmapLosesNoResult) {
  expect_killer_weathered(exchange_kind::pmap,
                          {.count = 6000, .seed = 13, .work_us = 300},
                          {.limit = 2});
}

TEST(StressTest, OutsideKillerDuringPmapWithRetriesLosesNoResult) {
  expect_killer_weathered(exchange_kind::pmap,
                          {.count = 6000, .seed = 14, .work_us = 300},
                          {.limit = 2, .retries = 3});
}

TEST(StressTest, OutsideKillerDuringMapLosesNoResult) {
  expect_killer_weathered(exchange_kind::map,
                          {.count = 1500, .seed = 15, .work_us = 500},
                          {.limit = 4});
}

TEST(StressTest, OutsideKillerDuringMapWithRetriesLosesNoResult) {
  expect_killer_weathered(exchange_kind::map,
                          {.count = 1500, .seed = 16, .work_us = 500},
                          {.limit = 4, .retries = 3});
}

TEST(StressTest, OutsideKillerDuringQueueLosesNoResult) {
  expect_killer_weathered(exchange_kind::queue,
                          {.count = 1500, .seed = 17, .work_us = 500},
                          {.limit = 4});
}

// --- the fault storm and the killer at once ------------------------------

// Planned deaths, throws and hangs past the timeout, retries, and processes
// killed from outside, all at once.

TEST(StressTest, FaultStormUnderOutsideKillerOverPmap) {
  expect_killer_weathered(
      exchange_kind::pmap,
      {.count = 6000, .per_10k = 200, .hangs = 1, .seed = 21, .work_us = 300},
      {.limit = 2, .timeout = timeout, .retries = 1});
}

TEST(StressTest, FaultStormUnderOutsideKillerOverMap) {
  expect_killer_weathered(
      exchange_kind::map,
      {.count = 1500, .per_10k = 200, .hangs = 1, .seed = 22, .work_us = 300},
      {.limit = 4, .timeout = timeout, .retries = 1});
}

TEST(StressTest, FaultStormUnderOutsideKillerOverQueue) {
  expect_killer_weathered(
      exchange_kind::queue,
      {.count = 1500, .per_10k = 200, .hangs = 1, .seed = 23, .work_us = 300},
      {.limit = 4, .timeout = timeout, .retries = 1});
}

TEST(StressTest, FaultStormUnderOutsideKillerOverReusedProcesses) {
  expect_killer_weathered(
      exchange_kind::reuse,
      {.count = 4000, .per_10k = 200, .hangs = 1, .seed = 24, .work_us = 300},
      {.limit = 3, .timeout = timeout, .retries = 1});
}

// A kept process killed before its first call reaches it: the call fails
// with the ProcessError of that death, not a TimeoutError (its call was
// once timed from the clock's epoch). Every fork dies at once here, and its
// creator returns from fork() 50 ms later, so the send always fails.
TEST(StressTest, KeptProcessDeadBeforeItsFirstCallIsNoTimeout) {
  test_support::forked_process creator([]() -> int {
    // In this raw-forked process only: handlers cannot be removed.
    ::pthread_atfork(
        nullptr, [] { ::usleep(50000); }, [] { ::raise(SIGKILL); });
    pprocess::Map<int> m({.limit = 1, .reuse = true, .timeout = 10s});
    auto call = m.manage(pprocess::MakeReusable([](int i) { return i; }));
    call(1);
    try {
      (void)m[0];
      return 1;  // delivered: cannot be
    } catch (const pprocess::TimeoutError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 2;
    } catch (const pprocess::ProcessError& e) {
      return e.signal() == SIGKILL ? 0 : 3;
    }
  });
  const std::optional<int> status = creator.wait_for(20s);
  ASSERT_TRUE(status) << "hung";
  ASSERT_TRUE(WIFEXITED(*status)) << "status " << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0)
      << "2: TimeoutError; 1: delivered; 3: another ProcessError";
}

// --- the creator dies -----------------------------------------------------

namespace {

/// Starts 8 tasks of 30 s, 4 at once, in a pmap (`batched`) or a Map with a
/// process per task; each task first writes its pid to `report`. Returns
/// when the creator is killed (it waits for the first result).
int run_long_tasks(int report, bool batched) {
  const auto task = [report](int i) {
    (void)test_support::write_value(report, ::getpid());
    test_support::sleep_ms(30000);
    return i;
  };
  if (batched) {
    auto m = pprocess::pmap(task, std::vector<int>(8, 0),
                            {.limit = 4, .chunksize = 1});
    (void)m[0];
  } else {
    pprocess::Map<int> m({.limit = 4});
    auto call = m.manage(pprocess::MakeParallel(task));
    for (int i = 0; i < 8; ++i) {
      call(i);
    }
    (void)m[0];
  }
  return 0;
}

/// Reads `count` pids from `fd`; fewer if it ends or stays silent 20 s.
std::vector<pid_t> read_pids(int fd, std::size_t count) {
  std::vector<pid_t> pids;
  while (pids.size() < count) {
    const auto pid = test_support::read_value<pid_t>(fd, 20s);
    if (!pid) {
      break;
    }
    pids.push_back(*pid);
  }
  return pids;
}

/// Whatever a test does, `pids` (processes of a creator it killed) do not
/// outlive it.
auto kill_survivors(const std::vector<pid_t>& pids) {
  const auto end = [](const std::vector<pid_t>* survivors) {
    for (const pid_t pid : *survivors) {
      if (!test_support::process_ended(pid)) {
        ::kill(pid, SIGKILL);
      }
    }
  };
  return std::unique_ptr<const std::vector<pid_t>, decltype(end)>(&pids, end);
}

/// Whether every one of `pids` has ended (gone, or a zombie for init).
bool all_ended(const std::vector<pid_t>& pids) {
  for (const pid_t pid : pids) {
    if (!test_support::process_ended(pid)) {
      return false;
    }
  }
  return true;
}

/// The processes of process group `group` that have not ended (zombies
/// left out), from /proc/<pid>/stat (field 5).
std::vector<pid_t> live_members_of(pid_t group) {
  std::vector<pid_t> members;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) {
    return members;
  }
  while (const dirent* entry = ::readdir(dir)) {
    const pid_t pid = std::atoi(entry->d_name);
    if (pid <= 0) {
      continue;
    }
    std::ifstream stat(std::string("/proc/") + entry->d_name + "/stat");
    std::string line;
    if (!std::getline(stat, line)) {
      continue;
    }
    const auto close = line.rfind(')');
    if (close == std::string::npos) {
      continue;
    }
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    pid_t pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == group && state != 'Z' && state != 'X') {
      members.push_back(pid);
    }
  }
  ::closedir(dir);
  return members;
}

void expect_killing_the_creator_ends_its_processes(bool batched) {
  test_support::unique_pipe report;
  test_support::forked_process creator([&]() -> int {
    report.close_read();
    return run_long_tasks(report.write_end(), batched);
  });
  report.close_write();
  const std::vector<pid_t> pids = read_pids(report.read_end(), 4);
  const auto guard = kill_survivors(pids);
  ASSERT_EQ(pids.size(), 4U) << "the creator's tasks did not all start";
  for (const pid_t pid : pids) {
    ASSERT_FALSE(test_support::process_ended(pid)) << pid;
  }

  ASSERT_EQ(::kill(creator.pid(), SIGKILL), 0);
  (void)creator.wait();
  EXPECT_TRUE(test_support::wait_until([&] { return all_ended(pids); }, 1s))
      << "a process outlived its creator by 1 s";
}

}  // namespace

TEST(StressTest, CreatorKilledMidPmapLeavesNoLiveProcess) {
  expect_killing_the_creator_ends_its_processes(true);
}

TEST(StressTest, CreatorKilledMidMapLeavesNoLiveProcess) {
  expect_killing_the_creator_ends_its_processes(false);
}

// Ctrl-C in a terminal sends SIGINT to the foreground process group: the
// creator and every process it created.
TEST(StressTest, CtrlCDuringPmapEndsTheWholeProcessGroup) {
  test_support::unique_pipe report;
  test_support::forked_process creator([&]() -> int {
    report.close_read();
    if (::setpgid(0, 0) != 0) {
      return 2;
    }
    // As a program started from a shell prompt: SIGINT kills. (A shell
    // starting commands in the background may have set it ignored.)
    (void)::signal(SIGINT, SIG_DFL);
    return run_long_tasks(report.write_end(), true);
  });
  report.close_write();
  const std::vector<pid_t> pids = read_pids(report.read_end(), 4);
  const auto guard = kill_survivors(pids);
  ASSERT_EQ(pids.size(), 4U) << "the creator's tasks did not all start";
  const pid_t group = creator.pid();
  ASSERT_EQ(::getpgid(group), group);
  ASSERT_NE(group, ::getpgrp()) << "would signal the test's own group";

  ASSERT_EQ(::kill(-group, SIGINT), 0);
  const std::optional<int> status = creator.wait_for(2s);
  ASSERT_TRUE(status) << "the creator survived SIGINT";
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGINT)
      << "status " << *status;
  EXPECT_TRUE(test_support::wait_until(
      [&] { return live_members_of(group).empty(); }, 2s))
      << live_members_of(group).size() << " processes of the group left";
  EXPECT_TRUE(all_ended(pids));
}
