// SPDX-License-Identifier: MIT
// get_number_of_cores(), available_processors() and waitall().
#include "pprocess/system.hpp"

#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;

TEST(SystemTest, NumberOfCoresIsAtLeastOne) {
  EXPECT_GE(pprocess::get_number_of_cores(), 1U);
}

TEST(SystemTest, NumberOfCoresIsAtMostOnlineProcessors) {
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  ASSERT_GT(online, 0);
  EXPECT_LE(pprocess::get_number_of_cores(), static_cast<unsigned>(online));
}

TEST(SystemTest, AvailableProcessorsMatchesAffinity) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(pprocess::available_processors(),
            static_cast<std::size_t>(CPU_COUNT(&set)));
}

TEST(SystemTest, AvailableProcessorsFollowsNarrowedAffinity) {
  // In a process of its own, so that the test process keeps its affinity.
  test_support::forked_process process([] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) {
      return 2;
    }
    int first = 0;
    while (!CPU_ISSET(first, &set)) {
      ++first;
    }
    CPU_ZERO(&set);
    CPU_SET(first, &set);
    if (::sched_setaffinity(0, sizeof set, &set) != 0) {
      return 3;
    }
    return pprocess::available_processors() == 1 ? 0 : 1;
  });
  const int status = process.wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SystemTest, WaitallWithoutProcessesReturns) {
  pprocess::waitall();
  EXPECT_FALSE(test_support::has_unreaped_children());
}

TEST(SystemTest, WaitallReapsProcessesWhoseChannelsLive) {
  auto first = pprocess::start([](pprocess::Channel& /*c*/) { ::_exit(5); });
  auto second = pprocess::start([](pprocess::Channel& c) { c.send(1); });
  pprocess::waitall();
  EXPECT_FALSE(test_support::has_unreaped_children());
}

TEST(SystemTest, ChannelReportsStatusOfProcessReapedByWaitall) {
  auto ch = pprocess::start([](pprocess::Channel& /*c*/) { ::_exit(5); });
  pprocess::waitall();
  test_support::expect_receive_reports_exit(ch, 5);
}

TEST(SystemTest, ValueSentBeforeWaitallIsStillReceived) {
  auto ch = pprocess::start([](pprocess::Channel& c) { c.send(42); });
  pprocess::waitall();
  EXPECT_EQ(ch.receive<int>(), 42);
}

TEST(SystemTest, WaitallReapsProcessesWhoseChannelsWereDestroyed) {
  {
    // Each one blocks on its channel until the channel goes away below.
    auto first =
        pprocess::start([](pprocess::Channel& c) { (void)c.receive<int>(); });
    auto second =
        pprocess::start([](pprocess::Channel& c) { (void)c.receive<int>(); });
  }
  pprocess::waitall();
  EXPECT_FALSE(test_support::has_unreaped_children());
}

TEST(SystemTest, WaitallReapsProcessesOfDestroyedChannelsThatExited) {
  pid_t pid = 0;
  {
    auto ch = pprocess::start([](pprocess::Channel& c) { c.send(1); });
    pid = ch.pid();
    ASSERT_EQ(ch.receive<int>(), 1);
  }
  pprocess::waitall();
  EXPECT_FALSE(test_support::has_unreaped_children());
  EXPECT_FALSE(test_support::process_exists(pid));
}

}  // namespace
