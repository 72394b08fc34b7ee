// SPDX-License-Identifier: MIT
#include "pprocess/map.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

using test_support::die_by;
using test_support::elapsed_ms;
using test_support::send_square;
using test_support::sleep_ms;
using test_support::sleep_then_send;
using test_support::start_squares;

}  // namespace

TEST(MapTest, ResultsComeInStartOrder) {
  pprocess::Map<int> m({.limit = 5});
  for (int i = 0; i < 5; ++i) {
    m.start(sleep_then_send, (5 - i) * 60, i * i);  // the last ends first
  }
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(m[i], i * i);
  }
}

TEST(MapTest, IndexWaitsOnlyForThatResult) {
  pprocess::Map<int> m({.limit = 2});
  m.start(sleep_then_send, 5000, 0);
  m.start(send_square, 3);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(m[1], 9);
  EXPECT_LT(elapsed_ms(t0), 2500.0);
}

TEST(MapTest, SliceReturnsTheResultsOfTheRange) {
  pprocess::Map<int> m({.limit = 3});
  start_squares(m, 6);
  EXPECT_EQ(m.slice(2, 5), (std::vector<int>{4, 9, 16}));
  EXPECT_EQ(m.slice(3, 3), std::vector<int>{});
}

TEST(MapTest, SizeCountsTasksStartedIncludingWaitingOnes) {
  pprocess::Map<int> m({.limit = 1});
  EXPECT_EQ(m.size(), 0U);
  for (int i = 0; i < 5; ++i) {
    m.start(sleep_then_send, 100, i);
  }
  EXPECT_EQ(m.size(), 5U);
  EXPECT_EQ(m[4], 4);
  EXPECT_EQ(m.size(), 5U);
}

TEST(MapTest, IterationYieldsResultsInStartOrder) {
  pprocess::Map<int> m({.limit = 3});
  for (int i = 0; i < 6; ++i) {
    m.start(sleep_then_send, (6 - i) * 30, i);
  }
  std::vector<int> seen;
  for (const int v : m) {
    seen.push_back(v);
  }
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

TEST(MapTest, IndexPastSizeThrowsErrorNamingIndexAndSize) {
  pprocess::Map<int> m({.limit = 2});
  start_squares(m, 2);
  try {
    (void)m[2];
    FAIL() << "expected pprocess::Error";
  } catch (const pprocess::Error& e) {
    EXPECT_NE(std::string(e.what()).find("index 2"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("size 2"), std::string::npos);
  }
  EXPECT_EQ(m[1], 1);
}

TEST(MapTest, ContinuousMapThrowsError) {
  EXPECT_THROW(pprocess::Map<int>({.continuous = true}), pprocess::Error);
}

TEST(MapTest, LimitZeroThrowsError) {
  EXPECT_THROW(pprocess::Map<int>({.limit = 0}), pprocess::Error);
}

TEST(MapTest, ThrowingTaskFailsOnlyItsIndex) {
  pprocess::Map<int> m({.limit = 2});
  start_squares(m, 5, 2);
  EXPECT_EQ(m[3], 9);
  test_support::expect_remote_error([&] { (void)m[2]; }, "std::out_of_range",
                                    "bad 2");
  EXPECT_EQ(m[0], 0);
  EXPECT_EQ(m[1], 1);
  EXPECT_EQ(m[4], 16);
}

TEST(MapTest, FailedIndexThrowsAgainWhenReadAgain) {
  pprocess::Map<int> m({.limit = 2});
  start_squares(m, 3, 1);
  EXPECT_THROW((void)m[1], pprocess::RemoteError);
  EXPECT_THROW((void)m[1], pprocess::RemoteError);
  EXPECT_EQ(m[2], 4);
}

TEST(MapTest, SignalledProcessThrowsProcessErrorAtItsIndex) {
  pprocess::Map<int> m({.limit = 2});
  m.start(send_square, 2);
  m.start([](pprocess::Channel&) { die_by(SIGKILL); });
  m.start(send_square, 4);
  try {
    (void)m[1];
    ADD_FAILURE() << "m[1] did not throw";
  } catch (const pprocess::ProcessError& e) {
    EXPECT_EQ(e.signal(), SIGKILL);
    EXPECT_EQ(e.exit_status(), -1);
    EXPECT_GT(e.pid(), 0);
  }
  EXPECT_EQ(m[0], 4);
  EXPECT_EQ(m[2], 16);
}

TEST(MapTest, NonZeroExitThrowsProcessErrorAtItsIndex) {
  pprocess::Map<int> m({.limit = 2});
  m.start([](pprocess::Channel&) { ::_exit(4); });
  m.start(send_square, 5);
  try {
    (void)m[0];
    ADD_FAILURE() << "m[0] did not throw";
  } catch (const pprocess::ProcessError& e) {
    EXPECT_EQ(e.exit_status(), 4);
    EXPECT_EQ(e.signal(), 0);
  }
  EXPECT_EQ(m[1], 25);
}

TEST(MapTest, CleanExitWithoutResultThrowsProcessErrorAtItsIndex) {
  pprocess::Map<int> m({.limit = 2});
  m.start([](pprocess::Channel&) { ::_exit(0); });
  m.start(send_square, 6);
  EXPECT_THROW((void)m[0], pprocess::ProcessError);
  EXPECT_EQ(m[1], 36);
}

/// Forks a process of its own (no pprocess: it keeps a copy of `channel`)
/// that lives `ms` after this one is gone. It lets go of the test's output,
/// which the test runner reads to its end.
void leave_a_holder_of(pprocess::Channel& channel, int ms) {
  (void)channel;
  if (::fork() == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    (void)::dup2(null, STDOUT_FILENO);
    (void)::dup2(null, STDERR_FILENO);
    sleep_ms(ms);
    ::_exit(0);
  }
}

// The channel of a process that died without its result stays open while a
// process of its own holds it: the death itself must be noticed, soon.
TEST(MapTest, DeathIsNoticedWhileAProcessOfItsOwnHoldsTheChannel) {
  pprocess::Map<int> m({.limit = 1});
  const auto t0 = std::chrono::steady_clock::now();
  m.start([](pprocess::Channel& channel) {
    leave_a_holder_of(channel, 3000);
    ::_exit(5);
  });
  try {
    (void)m[0];
    ADD_FAILURE() << "m[0] did not throw";
  } catch (const pprocess::ProcessError& e) {
    EXPECT_EQ(e.exit_status(), 5);
  }
  EXPECT_LT(elapsed_ms(t0), 1500.0);
}

// The same after its result: at limit 1 the next process waits for the
// first one's end, which the channel held elsewhere does not show.
TEST(MapTest, EndAfterTheResultIsNoticedWhileAProcessOfItsOwnHoldsTheChannel) {
  pprocess::Map<int> m({.limit = 1});
  const auto t0 = std::chrono::steady_clock::now();
  m.start([](pprocess::Channel& channel) {
    leave_a_holder_of(channel, 3000);
    channel.send(1);
    sleep_ms(50);  // still there when its result is read
  });
  m.start(send_square, 3);
  EXPECT_EQ(m[0], 1);
  EXPECT_EQ(m[1], 9);
  EXPECT_LT(elapsed_ms(t0), 1500.0);
}

TEST(MapTest, IterationThrowsAtTheFailedElementAndGoesOn) {
  pprocess::Map<int> m({.limit = 2});
  start_squares(m, 3, 1);
  auto it = m.begin();
  ASSERT_FALSE(it == m.end());
  EXPECT_EQ(*it, 0);
  ++it;
  ASSERT_FALSE(it == m.end());
  EXPECT_THROW((void)*it, pprocess::RemoteError);
  ++it;
  ASSERT_FALSE(it == m.end());
  EXPECT_EQ(*it, 4);
  ++it;
  EXPECT_TRUE(it == m.end());
}

TEST(MapTest, SliceOverAFailedElementThrowsItsError) {
  pprocess::Map<int> m({.limit = 2});
  start_squares(m, 4, 2);
  EXPECT_THROW((void)m.slice(1, 4), pprocess::RemoteError);
  EXPECT_EQ(m.slice(0, 2), (std::vector<int>{0, 1}));
  EXPECT_EQ(m[3], 9);
}

TEST(MapTest, CallOperatorStartsTheFunctionForEachElement) {
  pprocess::Map<std::string> m({.limit = 2});
  const std::vector<int> input{3, 1, 2};
  m([](int n) { return std::string(static_cast<std::size_t>(n), 'x'); }, input);
  ASSERT_EQ(m.size(), 3U);
  EXPECT_EQ(m.slice(0, 3), (std::vector<std::string>{"xxx", "x", "xx"}));
}

TEST(MapTest, ManagedResultIsConvertedToTheMapsType) {
  // A Map<long> of int-returning functions: the created process sends the
  // long the Map receives.
  pprocess::Map<long> m({.limit = 2});
  auto calc = m.manage(pprocess::MakeParallel([](int n) { return n * 2; }));
  calc(1);
  calc(2);
  EXPECT_EQ(m.slice(0, 2), (std::vector<long>{2, 4}));
}

TEST(MapTest, ReusableManagedResultIsConvertedToTheMapsType) {
  pprocess::Map<std::string> m({.limit = 2, .reuse = true});
  auto calc = m.manage(pprocess::MakeReusable(
      [](int n) { return n % 2 == 0 ? "even" : "odd"; }));  // const char*
  for (int i = 0; i < 4; ++i) {
    calc(i);
  }
  EXPECT_EQ(m.slice(0, 4),
            (std::vector<std::string>{"even", "odd", "even", "odd"}));
}

TEST(MapTest, CreateInAMapOrdersByCreation) {
  pprocess::Map<int> m({.limit = 2});
  for (int i = 0; i < 5; ++i) {
    if (auto ch = m.create()) {
      sleep_ms((5 - i) * 20);
      ch->send(i * 10);
      pprocess::exit(*ch);
    }
  }
  EXPECT_EQ(m.slice(0, 5), (std::vector<int>{0, 10, 20, 30, 40}));
}

TEST(MapTest, MapIsMoveConstructible) {
  pprocess::Map<int> a({.limit = 2});
  start_squares(a, 3);
  pprocess::Map<int> b(std::move(a));
  ASSERT_EQ(b.size(), 3U);
  EXPECT_EQ(b.slice(0, 3), (std::vector<int>{0, 1, 4}));
}

TEST(MapTest, MoveAssignmentEndsTheProcessesOfTheTarget) {
  pprocess::Map<int> target({.limit = 1});
  target.start(sleep_then_send, 30000, 1);
  const pid_t old_pid = target.active().at(0)->pid();
  pprocess::Map<int> source({.limit = 2});
  start_squares(source, 2);
  const auto t0 = std::chrono::steady_clock::now();
  target = std::move(source);
  EXPECT_LT(elapsed_ms(t0), 5000.0);
  EXPECT_FALSE(test_support::process_exists(old_pid));
  ASSERT_EQ(target.size(), 2U);
  EXPECT_EQ(target.slice(0, 2), (std::vector<int>{0, 1}));
}

TEST(MapTest, NoDescriptorOrZombieLeftAfterAMapIsDestroyed) {
  test_support::expect_no_descriptor_or_zombie_left([] {
    pprocess::Map<int> m({.limit = 3});
    start_squares(m, 8, 5);
    m.start([](pprocess::Channel&) { die_by(SIGKILL); });
    EXPECT_EQ(m[7], 49);
    EXPECT_THROW((void)m[8], pprocess::ProcessError);
  });
}

TEST(MapTest, DestroyingAMapEndsItsRunningProcesses) {
  test_support::expect_destroying_ends_running<pprocess::Map<int>>({.limit = 2},
                                                                   4, 2);
}

// --- result storage ---------------------------------------------------------

TEST(MapTest, ResultsKeepTheirAddressesAsTheMapGrows) {
  pprocess::detail::stable_vector<int> v;
  v.grow_to(10);
  int* first = &v[0];
  v[0] = 7;
  v.grow_to(100'000);
  EXPECT_EQ(first, &v[0]);
  EXPECT_EQ(v[0], 7);
  EXPECT_EQ(v[99'999], 0);  // value-initialized, in fresh pages
  EXPECT_EQ(v.size(), 100'000U);
}

TEST(MapTest, ResultRunsEndAtBlockBoundaries) {
  pprocess::detail::stable_vector<int> v;
  v.grow_to(1000);
  // Blocks hold 64, 128, 256, ... elements: [0, 64), [64, 192), ...
  EXPECT_EQ(v.run(0, 1000).size(), 64U);
  EXPECT_EQ(v.run(60, 1000).size(), 4U);
  EXPECT_EQ(v.run(64, 1000).size(), 128U);
  EXPECT_EQ(v.run(100, 10).size(), 10U);
  EXPECT_EQ(v.run(100, 10).data(), &v[100]);
}

TEST(MapTest, LargeMapOfStringsKeepsEveryValue) {
  // Strings need constructing in the fresh pages of large blocks; ranges of
  // 777 elements cross block boundaries.
  constexpr int count = 20'000;
  std::vector<int> input(count);
  for (int i = 0; i < count; ++i) {
    input[static_cast<std::size_t>(i)] = i;
  }
  auto m = pprocess::pmap([](int i) { return std::to_string(i); }, input,
                          {.limit = 2, .chunksize = 777});
  ASSERT_EQ(m.size(), static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(m[static_cast<std::size_t>(i)], std::to_string(i));
  }
}

TEST(MapTest, FailedElementsAmongManyKeepTheirOwnErrors) {
  constexpr int count = 50'000;
  std::vector<int> input(count);
  for (int i = 0; i < count; ++i) {
    input[static_cast<std::size_t>(i)] = i;
  }
  auto m = pprocess::pmap(
      [](int i) {
        if (i % 10'007 == 3) {
          throw std::runtime_error("bad " + std::to_string(i));
        }
        return i + 1;
      },
      input, {.limit = 2});
  for (int i = 0; i < count; ++i) {
    if (i % 10'007 == 3) {
      test_support::expect_remote_error(
          [&] { (void)m[static_cast<std::size_t>(i)]; }, "std::runtime_error",
          "bad " + std::to_string(i));
    } else {
      ASSERT_EQ(m[static_cast<std::size_t>(i)], i + 1);
    }
  }
}

TEST(MapTest, IndexOfAMovedFromMapIsAnErrorNotASpin) {
  pprocess::Map<int> a({.limit = 2});
  start_squares(a, 3);
  pprocess::Map<int> b(std::move(a));
  EXPECT_EQ(a.size(), 0U);  // NOLINT(bugprone-use-after-move): on purpose
  EXPECT_THROW((void)a[1], pprocess::Error);
  EXPECT_EQ(b[2], 4);
}

TEST(MapTest, IndexOfARemovedChannelIsAnErrorNamingTheIndex) {
  pprocess::Map<int> m({.limit = 2});
  m.start(sleep_then_send, 30000, 1);
  m.start(send_square, 3);
  m.remove(*m.active().at(0));
  const auto error = test_support::thrown<pprocess::Error>([&] { (void)m[0]; });
  ASSERT_TRUE(error) << "m[0] did not throw";
  EXPECT_NE(std::string(error->what()).find("0"), std::string::npos)
      << error->what();
  EXPECT_EQ(m[1], 9);
}

TEST(MapTest, UserBodySendingItsValueThenExitingCleanlyKeepsTheValue) {
  pprocess::Map<int> m({.limit = 2});
  for (int i = 0; i < 4; ++i) {
    m.start(send_square, i);
  }
  EXPECT_EQ(m.slice(0, 4), (std::vector<int>{0, 1, 4, 9}));
}
