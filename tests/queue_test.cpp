// SPDX-License-Identifier: MIT
#include "pprocess/queue.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - since)
      .count();
}

/// Ends the calling (created) process by `sig`, without a core file.
[[noreturn]] void die_by(int sig) {
  const rlimit no_core{0, 0};
  (void)::setrlimit(RLIMIT_CORE, &no_core);
  (void)::signal(sig, SIG_DFL);
  (void)::raise(sig);
  ::_exit(99);
}

void sleep_then_send(pprocess::Channel& ch, int ms, int value) {
  sleep_ms(ms);
  ch.send(value);
}

void sleep_then_throw(pprocess::Channel& /*ch*/, int ms) {
  sleep_ms(ms);
  throw std::invalid_argument("no value");
}

/// Everything the queue yields, by a range-for.
std::vector<int> drain(pprocess::Queue<int>& q) {
  std::vector<int> values;
  for (const int v : q) {
    values.push_back(v);
  }
  return values;
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
  std::vector<int> before;
  try {
    for (const int v : q) {
      before.push_back(v);
    }
    ADD_FAILURE() << "the loop did not throw";
  } catch (const pprocess::RemoteError& e) {
    EXPECT_EQ(e.type_name(), "std::invalid_argument");
    EXPECT_STREQ(e.what(), "no value");
  }
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
  std::vector<int> before;
  try {
    for (const int v : q) {
      before.push_back(v);
    }
    ADD_FAILURE() << "the loop did not throw";
  } catch (const pprocess::ProcessError& e) {
    EXPECT_EQ(e.signal(), SIGKILL);
  }
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
  std::vector<int> before;
  try {
    for (const int v : q) {
      before.push_back(v);
    }
    ADD_FAILURE() << "the loop did not throw";
  } catch (const pprocess::ProcessError& e) {
    EXPECT_EQ(e.signal(), SIGKILL);
  }
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

TEST(QueueTest, QueueIsMoveConstructible) {
  pprocess::Queue<int> a({.limit = 2});
  a.start(sleep_then_send, 0, 5);
  a.start(sleep_then_send, 50, 6);
  pprocess::Queue<int> b(std::move(a));
  EXPECT_EQ(drain(b), (std::vector<int>{5, 6}));
}

TEST(QueueTest, NoDescriptorOrZombieLeftAfterAQueueIsDestroyed) {
  const int fds = test_support::open_fd_count();
  {
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
  }
  EXPECT_EQ(test_support::open_fd_count(), fds);
  EXPECT_FALSE(test_support::has_unreaped_children());
}

TEST(QueueTest, DestroyingAQueueEndsItsRunningProcesses) {
  const int fds = test_support::open_fd_count();
  std::vector<pid_t> pids;
  const auto t0 = std::chrono::steady_clock::now();
  {
    pprocess::Queue<int> q({.limit = 2});
    for (int i = 0; i < 3; ++i) {
      q.start(sleep_then_send, 30000, i);
    }
    for (pprocess::Channel* ch : q.active()) {
      pids.push_back(ch->pid());
    }
  }
  EXPECT_LT(elapsed_ms(t0), 5000.0);
  ASSERT_EQ(pids.size(), 2U);
  for (const pid_t pid : pids) {
    EXPECT_FALSE(test_support::process_exists(pid)) << pid;
  }
  EXPECT_EQ(test_support::open_fd_count(), fds);
  EXPECT_FALSE(test_support::has_unreaped_children());
}
