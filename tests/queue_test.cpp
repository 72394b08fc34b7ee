// SPDX-License-Identifier: MIT
#include "pprocess/queue.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

using test_support::die_by;
using test_support::drain;
using test_support::drain_until_error;
using test_support::sleep_ms;
using test_support::sleep_then_send;

void sleep_then_throw(pprocess::Channel& /*ch*/, int ms) {
  sleep_ms(ms);
  throw std::invalid_argument("no value");
}

}  // namespace

TEST(QueueTest, ResultsComeInArrivalOrder) {
  pprocess::Queue<int> q({.limit = 3});
  q.start(sleep_then_send, 800, 0);
  q.start(sleep_then_send, 0, 1);
  q.start(sleep_then_send, 400, 2);
  EXPECT_EQ(drain(q), (std::vector<int>{1, 2, 0}));
}

TEST(QueueTest, SizeCountsReceivedValuesNotYetConsumed) {
  pprocess::Queue<int> q({.limit = 3});
  EXPECT_EQ(q.size(), 0U);
  for (int i = 0; i < 3; ++i) {
    q.start(sleep_then_send, 0, i);
  }
  q.finish();
  EXPECT_EQ(q.size(), 3U);
  auto it = q.begin();
  ASSERT_FALSE(it == q.end());
  (void)*it;
  ++it;
  EXPECT_EQ(q.size(), 2U);
}

TEST(QueueTest, RangeForEndsOnceEverythingIsConsumed) {
  pprocess::Queue<int> q({.limit = 2});
  for (int i = 0; i < 5; ++i) {
    q.start(sleep_then_send, 20 * i, i);
  }
  std::vector<int> values = drain(q);
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(q.size(), 0U);
  EXPECT_FALSE(q.unfinished());
}

TEST(QueueTest, EmptyQueueYieldsNothing) {
  pprocess::Queue<int> q({.limit = 2});
  EXPECT_TRUE(drain(q).empty());
}

TEST(QueueTest, LimitZeroThrowsError) {
  EXPECT_THROW(pprocess::Queue<int>({.limit = 0}), pprocess::Error);
}

TEST(QueueTest, FailureIsThrownAtItsPlaceAndANewLoopGoesOn) {
  pprocess::Queue<int> q({.limit = 3});
  q.start(sleep_then_send, 0, 1);
  q.start(sleep_then_throw, 300);
  q.start(sleep_then_send, 700, 3);
  const auto [before, error] = drain_until_error<pprocess::RemoteError>(q);
  ASSERT_TRUE(error) << "the loop did not throw";
  EXPECT_EQ(error->type_name(), "std::invalid_argument");
  EXPECT_STREQ(error->what(), "no value");
  EXPECT_EQ(before, (std::vector<int>{1}));
  EXPECT_EQ(drain(q), (std::vector<int>{3}));
}

TEST(QueueTest, ProcessDeathIsThrownAsProcessErrorAtItsPlace) {
  pprocess::Queue<int> q({.limit = 3});
  q.start(sleep_then_send, 0, 1);
  q.start([](pprocess::Channel&) {
    sleep_ms(300);
    die_by(SIGKILL);
  });
  q.start(sleep_then_send, 700, 3);
  const auto [before, error] = drain_until_error<pprocess::ProcessError>(q);
  ASSERT_TRUE(error) << "the loop did not throw";
  EXPECT_EQ(error->signal(), SIGKILL);
  EXPECT_EQ(before, (std::vector<int>{1}));
  EXPECT_EQ(drain(q), (std::vector<int>{3}));
}

TEST(QueueTest, ContinuousQueueReceivesEveryValueOfEachProcess) {
  constexpr int n = 4;
  using Cell = std::tuple<int, int, int>;
  pprocess::Queue<Cell> q({.limit = 2, .continuous = true});
  auto calc = q.manage([](pprocess::Channel& ch, int i) {
    for (int j = 0; j < n; ++j) {
      ch.send(Cell{i, j, i * n + j});
    }
  });
  for (int i = 0; i < n; ++i) {
    calc(i);
  }
  std::vector<int> results(n * n, -1);
  for (const auto& [i, j, value] : q) {
    results[static_cast<std::size_t>(i * n + j)] = value;
  }
  for (int k = 0; k < n * n; ++k) {
    EXPECT_EQ(results[static_cast<std::size_t>(k)], k);
  }
}

TEST(QueueTest, ContinuousProcessMaySendNoValueAtAll) {
  pprocess::Queue<int> q({.limit = 2, .continuous = true});
  q.start([](pprocess::Channel&) {});  // nothing to report
  q.start([](pprocess::Channel& ch) { ch.send(7); });
  std::vector<int> values;
  EXPECT_NO_THROW(values = drain(q));
  EXPECT_EQ(values, (std::vector<int>{7}));
}

TEST(QueueTest, ContinuousProcessThatDiesAfterSendingFailsAfterItsValues) {
  pprocess::Queue<int> q({.limit = 1, .continuous = true});
  q.start([](pprocess::Channel& ch) {
    ch.send(1);
    ch.send(2);
    die_by(SIGKILL);
  });
  const auto [before, error] = drain_until_error<pprocess::ProcessError>(q);
  ASSERT_TRUE(error) << "the loop did not throw";
  EXPECT_EQ(error->signal(), SIGKILL);
  EXPECT_EQ(before, (std::vector<int>{1, 2}));
  EXPECT_TRUE(drain(q).empty());
}

TEST(QueueTest, ManagedParallelFunctionDeliversTuples) {
  using Cell = std::tuple<int, int, int>;
  pprocess::Queue<Cell> q({.limit = 3});
  auto calc = q.manage(pprocess::MakeParallel([](int i, int j) {
    return Cell{i, j, i * 10 + j};
  }));
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      calc(i, j);
    }
  }
  std::set<Cell> seen;
  for (const auto& cell : q) {
    const auto& [i, j, value] = cell;
    EXPECT_EQ(value, i * 10 + j);
    seen.insert(cell);
  }
  EXPECT_EQ(seen.size(), 9U);
}

TEST(QueueTest, ReuseServesEveryCallWithAtMostLimitProcesses) {
  pprocess::Queue<std::pair<int, pid_t>> q({.limit = 2, .reuse = true});
  auto calc = q.manage(pprocess::MakeReusable([](int i) {
    return std::pair<int, pid_t>{i, ::getpid()};
  }));
  for (int i = 0; i < 10; ++i) {
    calc(i);
  }
  std::set<int> inputs;
  std::set<pid_t> pids;
  for (const auto& [i, pid] : q) {
    inputs.insert(i);
    pids.insert(pid);
  }
  EXPECT_EQ(inputs.size(), 10U);
  EXPECT_LE(pids.size(), 2U);
  EXPECT_GE(pids.size(), 1U);
}

TEST(QueueTest, ManagedResultIsConvertedToTheQueuesType) {
  pprocess::Queue<double> q({.limit = 2});
  auto calc = q.manage(pprocess::MakeParallel([](int i) { return i; }));
  for (int i = 0; i < 3; ++i) {
    calc(i);
  }
  std::set<double> seen;
  for (const double value : q) {
    seen.insert(value);
  }
  EXPECT_EQ(seen, (std::set<double>{0.0, 1.0, 2.0}));
}

TEST(QueueTest, QueueIsMoveConstructible) {
  pprocess::Queue<int> a({.limit = 2});
  a.start(sleep_then_send, 0, 5);
  a.start(sleep_then_send, 50, 6);
  pprocess::Queue<int> b(std::move(a));
  EXPECT_EQ(drain(b), (std::vector<int>{5, 6}));
}

TEST(QueueTest, NoDescriptorOrZombieLeftAfterAQueueIsDestroyed) {
  test_support::expect_no_descriptor_or_zombie_left([] {
    pprocess::Queue<int> q({.limit = 2, .continuous = true});
    for (int i = 0; i < 4; ++i) {
      q.start(
          [](pprocess::Channel& ch, int k) {
            ch.send(k);
            ch.send(k + 100);
          },
          i);
    }
    EXPECT_EQ(drain(q).size(), 8U);
  });
}

TEST(QueueTest, DestroyingAQueueEndsItsRunningProcesses) {
  test_support::expect_destroying_ends_running<pprocess::Queue<int>>(
      {.limit = 2}, 3, 2);
}

TEST(QueueTest, NonContinuousQueueYieldsEveryValueAProcessSends) {
  pprocess::Queue<int> q({.limit = 2});
  q.start([](pprocess::Channel& ch) {
    ch.send(1);
    ch.send(2);
    ch.send(3);
  });
  EXPECT_EQ(drain(q), (std::vector<int>{1, 2, 3}));
}

TEST(QueueTest, DereferencingBeginOfAFailedTaskThrowsThatTasksError) {
  pprocess::Queue<int> q({.limit = 1});
  q.start(sleep_then_throw, 0);
  try {
    (void)*q.begin();
    ADD_FAILURE() << "*q.begin() did not throw";
  } catch (const pprocess::RemoteError& e) {
    EXPECT_EQ(e.type_name(), "std::invalid_argument");
  }
}

TEST(QueueTest, DereferencingBeginOfAnEmptyQueueIsAnError) {
  pprocess::Queue<int> q({.limit = 1});
  EXPECT_THROW((void)*q.begin(), pprocess::Error);
}
