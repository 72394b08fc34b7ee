// SPDX-License-Identifier: MIT
//
// Failures users steer: timeouts that end a task's process, retries of
// tasks whose process died, and which task an error belongs to.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using test_support::die_by;
using test_support::elapsed_ms;
using test_support::sleep_ms;
using test_support::sleep_then_send;

int sleep_then_return(int ms, int value) {
  sleep_ms(ms);
  return value;
}

/// Counts the runs of a task in a file of `dir` named after `key`: one
/// byte appended per run. Returns the count including this run.
int count_run(const std::filesystem::path& dir, int key) {
  const std::string path = (dir / std::to_string(key)).string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot open " + path);
  }
  (void)!::write(fd, "x", 1);
  ::close(fd);
  return static_cast<int>(std::filesystem::file_size(path));
}

int runs_of(const std::filesystem::path& dir, int key) {
  std::error_code error;
  const auto size =
      std::filesystem::file_size(dir / std::to_string(key), error);
  return error ? 0 : static_cast<int>(size);
}

/// The `E` that reading `m[index]` throws (the test fails if none).
template <class E, class T>
E error_at(pprocess::Map<T>& m, std::size_t index) {
  const auto error = test_support::thrown<E>([&] { (void)m[index]; });
  if (!error) {
    throw std::logic_error("m[" + std::to_string(index) + "] did not throw");
  }
  return *error;
}

}  // namespace

// --- timeouts ----------------------------------------------------------------

TEST(TimeoutTest, TaskPastItsTimeoutFailsAloneAndItsProcessIsGone) {
  pprocess::Map<int> m({.limit = 2, .timeout = 300ms});
  auto calc = m.manage(pprocess::MakeParallel(sleep_then_return));
  calc(0, 10);
  calc(30000, 11);
  calc(0, 12);
  const auto t0 = std::chrono::steady_clock::now();
  const auto error = error_at<pprocess::TimeoutError>(m, 1);
  EXPECT_LT(elapsed_ms(t0), 5000.0);
  EXPECT_EQ(error.timeout(), 300ms);
  EXPECT_EQ(error.task(), 1U);
  EXPECT_EQ(error.attempts(), 1U);
  EXPECT_EQ(error.signal(), SIGTERM);
  EXPECT_NE(std::string(error.what()).find("timeout"), std::string::npos)
      << error.what();
  EXPECT_FALSE(test_support::process_exists(error.pid()));
  EXPECT_EQ(m[0], 10);
  EXPECT_EQ(m[2], 12);
}

TEST(TimeoutTest, ProcessIgnoringSigtermIsKilledAfterTheGrace) {
  pprocess::Map<int> m({.limit = 1, .timeout = 200ms});
  auto calc = m.manage(pprocess::MakeParallel([] {
    ::signal(SIGTERM, SIG_IGN);
    sleep_ms(30000);
    return 0;
  }));
  calc();
  const auto error = error_at<pprocess::TimeoutError>(m, 0);
  EXPECT_EQ(error.signal(), SIGKILL);
  EXPECT_FALSE(error.oom_killed());
  EXPECT_FALSE(test_support::process_exists(error.pid()));
}

TEST(TimeoutTest, TimeoutCountsFromTheTaskStartNotItsSubmission) {
  pprocess::Map<int> m({.limit = 1, .timeout = 1000ms});
  auto calc = m.manage(pprocess::MakeParallel(sleep_then_return));
  for (int i = 0; i < 4; ++i) {
    calc(300, i);  // 1.2 s in all, one at a time
  }
  EXPECT_EQ(m.slice(0, 4), (std::vector<int>{0, 1, 2, 3}));
}

TEST(TimeoutTest, PlainExchangeThrowsTimeoutErrorAndFinishCarriesOn) {
  test_support::collector<int> x({.limit = 2, .timeout = 200ms});
  x.start(sleep_then_send, 30000, 1);
  x.start(sleep_then_send, 0, 2);
  EXPECT_THROW(x.finish(), pprocess::TimeoutError);
  x.finish();
  EXPECT_EQ(x.values, (std::vector<int>{2}));
  EXPECT_FALSE(test_support::has_unreaped_children());
}

TEST(TimeoutTest, ContinuousProcessIsTimedFromStartToEnd) {
  pprocess::Queue<int> q({.limit = 1, .continuous = true, .timeout = 400ms});
  q.start([](pprocess::Channel& ch) {
    ch.send(1);
    ch.send(2);
    sleep_ms(30000);
  });
  const auto [before, error] =
      test_support::drain_until_error<pprocess::TimeoutError>(q);
  ASSERT_TRUE(error) << "no TimeoutError";
  EXPECT_EQ(before, (std::vector<int>{1, 2}));
}

TEST(TimeoutTest, ReusedProcessPastItsTimeoutIsReplacedAndCallsBehindRun) {
  pprocess::Map<int> m({.limit = 1, .reuse = true, .timeout = 300ms});
  auto call = m.manage(pprocess::MakeReusable(sleep_then_return));
  call(0, 0);
  call(0, 1);
  call(30000, 2);
  call(0, 3);
  call(0, 4);
  const auto error = error_at<pprocess::TimeoutError>(m, 2);
  EXPECT_EQ(error.task(), 2U);
  EXPECT_EQ(m[0], 0);
  EXPECT_EQ(m[1], 1);
  EXPECT_EQ(m[3], 3);
  EXPECT_EQ(m[4], 4);
}

TEST(TimeoutTest, OnlyTheElementOfAPmapThatRanTooLongFails) {
  std::vector<int> elements(400);
  for (int i = 0; i < 400; ++i) {
    elements[static_cast<std::size_t>(i)] = i;
  }
  const auto t0 = std::chrono::steady_clock::now();
  // Two tasks before the pmap's elements: the element's task is 159.
  pprocess::Map<int> squares({.limit = 2, .timeout = 500ms});
  squares.start(sleep_then_send, 0, -1);
  squares.start(sleep_then_send, 0, -2);
  squares(
      [](int i) {
        if (i == 157) {
          sleep_ms(30000);
        }
        return i * i;
      },
      elements);
  EXPECT_EQ(squares[1], -2);
  for (std::size_t i = 0; i < 400; ++i) {
    if (i == 157) {
      const auto error = error_at<pprocess::TimeoutError>(squares, i + 2);
      EXPECT_EQ(error.task(), 159U);
      EXPECT_NE(std::string(error.what()).find("task 159 "), std::string::npos)
          << error.what();
    } else {
      EXPECT_EQ(squares[i + 2], static_cast<int>(i * i)) << i;
    }
  }
  EXPECT_LT(elapsed_ms(t0), 10000.0);
}

// --- retries -----------------------------------------------------------------

TEST(RetryTest, TaskWhoseProcessDiedRunsAgainAndDelivers) {
  test_support::temp_dir dir;
  pprocess::Map<int> m({.limit = 2, .retries = 2});
  auto calc = m.manage(pprocess::MakeParallel([&dir](int i) {
    if (count_run(dir.path(), i) < 3 && i == 1) {
      die_by(SIGKILL);  // twice, then it works
    }
    return i * 10;
  }));
  for (int i = 0; i < 3; ++i) {
    calc(i);
  }
  EXPECT_EQ(m.slice(0, 3), (std::vector<int>{0, 10, 20}));
  EXPECT_EQ(runs_of(dir.path(), 1), 3);
  EXPECT_EQ(runs_of(dir.path(), 0), 1);
}

TEST(RetryTest, TaskThatAlwaysDiesFailsAfterItsRetriesWithItsAttempts) {
  test_support::temp_dir dir;
  pprocess::Map<int> m({.limit = 2, .retries = 2});
  auto calc = m.manage(pprocess::MakeParallel([&dir](int i) -> int {
    count_run(dir.path(), i);
    ::_exit(3);
  }));
  calc(7);
  const auto error = error_at<pprocess::ProcessError>(m, 0);
  EXPECT_EQ(error.attempts(), 3U);
  EXPECT_EQ(error.exit_status(), 3);
  EXPECT_EQ(error.task(), 0U);
  EXPECT_EQ(runs_of(dir.path(), 7), 3);
}

TEST(RetryTest, AnExceptionIsNeverRetried) {
  test_support::temp_dir dir;
  pprocess::Map<int> m({.limit = 2, .retries = 3});
  auto calc = m.manage(pprocess::MakeParallel([&dir](int i) -> int {
    count_run(dir.path(), i);
    throw std::invalid_argument("deterministic");
  }));
  calc(4);
  EXPECT_THROW((void)m[0], pprocess::RemoteError);
  EXPECT_EQ(runs_of(dir.path(), 4), 1);
}

TEST(RetryTest, TimedOutTaskIsRetriedThenFailsWithItsAttempts) {
  pprocess::Map<int> m({.limit = 1, .timeout = 200ms, .retries = 1});
  auto calc = m.manage(pprocess::MakeParallel(sleep_then_return));
  calc(30000, 1);
  calc(0, 2);
  const auto error = error_at<pprocess::TimeoutError>(m, 0);
  EXPECT_EQ(error.attempts(), 2U);
  EXPECT_EQ(m[1], 2);
}

TEST(RetryTest, ReusedCallWhoseProcessDiedRunsAgain) {
  test_support::temp_dir dir;
  pprocess::Map<int> m({.limit = 1, .reuse = true, .retries = 1});
  auto call = m.manage(pprocess::MakeReusable([&dir](int i) {
    if (count_run(dir.path(), i) == 1 && i == 2) {
      die_by(SIGKILL);
    }
    return i;
  }));
  for (int i = 0; i < 5; ++i) {
    call(i);
  }
  EXPECT_EQ(m.slice(0, 5), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(runs_of(dir.path(), 2), 2);
}

TEST(RetryTest, PmapElementIsRetriedAlone) {
  test_support::temp_dir dir;
  std::vector<int> elements(300);
  for (int i = 0; i < 300; ++i) {
    elements[static_cast<std::size_t>(i)] = i;
  }
  auto squares = pprocess::pmap(
      [&dir](int i) {
        if (i == 123 && count_run(dir.path(), i) == 1) {
          die_by(SIGSEGV);
        }
        return i * i;
      },
      elements, {.limit = 2, .retries = 1});
  for (std::size_t i = 0; i < 300; ++i) {
    EXPECT_EQ(squares[i], static_cast<int>(i * i)) << i;
  }
  EXPECT_EQ(runs_of(dir.path(), 123), 2);
}

TEST(RetryTest, PmapElementThatAlwaysDiesFailsAloneWithItsAttempts) {
  std::vector<int> elements(300);
  for (int i = 0; i < 300; ++i) {
    elements[static_cast<std::size_t>(i)] = i;
  }
  auto squares = pprocess::pmap(
      [](int i) {
        if (i == 200) {
          die_by(SIGKILL);
        }
        return i * i;
      },
      elements, {.limit = 2, .retries = 2});
  const auto error = error_at<pprocess::ProcessError>(squares, 200);
  EXPECT_EQ(error.attempts(), 3U);
  EXPECT_EQ(error.task(), 200U);
  EXPECT_EQ(squares[199], 199 * 199);
  EXPECT_EQ(squares[201], 201 * 201);
}

// --- which task failed -------------------------------------------------------

TEST(TaskOfErrorTest, RemoteErrorNamesItsTaskInMapPmapAndQueue) {
  pprocess::Map<int> m({.limit = 2});
  auto calc = m.manage(pprocess::MakeParallel([](int i) {
    if (i == 2) {
      throw std::out_of_range("two");
    }
    return i;
  }));
  for (int i = 0; i < 4; ++i) {
    calc(i);
  }
  EXPECT_EQ(error_at<pprocess::RemoteError>(m, 2).task(), 2U);

  auto squares = pprocess::pmap(
      [](int i) {
        if (i == 33) {
          throw std::out_of_range("33");
        }
        return i * i;
      },
      std::vector<int>{0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                       12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
                       24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34},
      {.limit = 2});
  EXPECT_EQ(error_at<pprocess::RemoteError>(squares, 33).task(), 33U);

  pprocess::Queue<int> q({.limit = 1});
  auto queued = q.manage(pprocess::MakeParallel([](int i) {
    if (i == 1) {
      throw std::out_of_range("one");
    }
    return i;
  }));
  for (int i = 0; i < 3; ++i) {
    queued(i);
  }
  const auto [before, error] =
      test_support::drain_until_error<pprocess::RemoteError>(q);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->task(), 1U);
  EXPECT_EQ(before, (std::vector<int>{0}));
}

TEST(TaskOfErrorTest, ProcessErrorNamesItsTaskInAQueue) {
  pprocess::Queue<int> q({.limit = 1});
  auto queued = q.manage(pprocess::MakeParallel([](int i) {
    if (i == 2) {
      die_by(SIGKILL);
    }
    return i;
  }));
  for (int i = 0; i < 4; ++i) {
    queued(i);
  }
  const auto [before, error] =
      test_support::drain_until_error<pprocess::ProcessError>(q);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->task(), 2U);
  EXPECT_EQ(error->signal(), SIGKILL);
}
