// SPDX-License-Identifier: MIT
//
// Options::on_event: started, finished, failed and retried for every task
// of an Exchange, Map and Queue and every element of pmap, reported in the
// creator from the blocking calls; a callback that throws.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using pprocess::Event;
using Kind = pprocess::Event::Kind;
using test_support::sleep_ms;

/// Every event an exchange reported, in order, with the process that
/// reported it.
struct recorder {
  std::vector<Event> events;
  pid_t creator = ::getpid();
  bool elsewhere = false;  // an event reported in another process

  pprocess::Options options(pprocess::Options base = {}) {
    base.on_event = [this](const Event& e) {
      elsewhere = elsewhere || ::getpid() != creator;
      events.push_back(e);
    };
    return base;
  }

  [[nodiscard]] std::vector<Event> of(std::size_t task) const {
    std::vector<Event> found;
    for (const Event& e : events) {
      if (e.task == task) {
        found.push_back(e);
      }
    }
    return found;
  }
  [[nodiscard]] std::size_t count(Kind kind) const {
    return static_cast<std::size_t>(
        std::count_if(events.begin(), events.end(),
                      [&](const Event& e) { return e.kind == kind; }));
  }
};

std::vector<Kind> kinds(const std::vector<Event>& events) {
  std::vector<Kind> found;
  for (const Event& e : events) {
    found.push_back(e.kind);
  }
  return found;
}

/// Each of tasks [0, count): started then finished, once each, by one
/// process, on its first run.
void expect_each_started_then_finished(const recorder& r, std::size_t count) {
  ASSERT_FALSE(r.elsewhere);
  EXPECT_EQ(r.events.size(), 2 * count);
  for (std::size_t task = 0; task < count; ++task) {
    const std::vector<Event> events = r.of(task);
    ASSERT_EQ(kinds(events), (std::vector{Kind::started, Kind::finished}))
        << "task " << task;
    EXPECT_GT(events[0].pid, 0);
    EXPECT_EQ(events[0].pid, events[1].pid) << "task " << task;
    EXPECT_EQ(events[0].attempt, 1U);
    EXPECT_EQ(events[1].attempt, 1U);
    EXPECT_EQ(events[0].elapsed, 0ns);
    EXPECT_GE(events[1].elapsed, 0ns);
    EXPECT_FALSE(events[1].error);
  }
}

int slow_square(int x) {
  sleep_ms(20);
  return x * x;
}

int square(int x) {
  return x * x;
}

int throw_at_3(int x) {
  if (x == 3) {
    throw std::runtime_error("three");
  }
  return x;
}

int kill_itself_at_2(int x) {
  if (x == 2) {
    ::raise(SIGKILL);
  }
  return x;
}

TEST(Events, MapOfProcessPerTaskReportsEachTaskStartedThenFinished) {
  recorder r;
  {
    pprocess::Map<int> results(r.options({.limit = 2}));
    auto calc = results.manage(pprocess::MakeParallel(slow_square));
    for (int i = 0; i < 6; ++i) {
      calc(i);
    }
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(results[static_cast<std::size_t>(i)], i * i);
    }
  }
  expect_each_started_then_finished(r, 6);
  // A finished task took its 20 ms.
  for (const Event& e : r.events) {
    if (e.kind == Kind::finished) {
      EXPECT_GE(e.elapsed, 15ms) << "task " << e.task;
    }
  }
}

TEST(Events, PmapReportsEveryElementInsideItsBatches) {
  recorder r;
  std::vector<int> input(2000);
  for (int i = 0; i < 2000; ++i) {
    input[static_cast<std::size_t>(i)] = i;
  }
  {
    auto results = pprocess::pmap(square, input, r.options({.limit = 2}));
    std::size_t i = 0;
    for (int value : results) {
      EXPECT_EQ(value, input[i] * input[i]);
      ++i;
    }
  }
  expect_each_started_then_finished(r, 2000);
}

TEST(Events, ReusedProcessesReportEachCallAndTheProcessThatRanIt) {
  recorder r;
  std::set<pid_t> pids;
  {
    pprocess::Map<int> results(r.options({.limit = 2, .reuse = true}));
    auto calc = results.manage(pprocess::MakeReusable(slow_square));
    for (int i = 0; i < 8; ++i) {
      calc(i);
    }
    for (int i = 0; i < 8; ++i) {
      EXPECT_EQ(results[static_cast<std::size_t>(i)], i * i);
    }
  }
  expect_each_started_then_finished(r, 8);
  for (const Event& e : r.events) {
    pids.insert(e.pid);
  }
  EXPECT_LE(pids.size(), 2U);  // two kept processes ran every call
}

TEST(Events, AQueueReportsItsTasks) {
  recorder r;
  {
    pprocess::Queue<int> queue(r.options({.limit = 3}));
    auto calc = queue.manage(pprocess::MakeParallel(slow_square));
    for (int i = 0; i < 5; ++i) {
      calc(i);
    }
    int sum = 0;
    for (int value : queue) {
      sum += value;
    }
    EXPECT_EQ(sum, 0 + 1 + 4 + 9 + 16);
  }
  expect_each_started_then_finished(r, 5);
}

TEST(Events, APlainExchangeReportsWhatItsStoreDataTakes) {
  struct collect : pprocess::Exchange {
    using Exchange::Exchange;
    std::vector<int> values;
    void store_data(pprocess::Channel& ch) override {
      values.push_back(ch.receive<int>());
    }
  };
  recorder r;
  {
    collect x(r.options({.limit = 2}));
    for (int i = 0; i < 4; ++i) {
      x.start(pprocess::MakeParallel(square), i);
    }
    x.finish();
    EXPECT_EQ(x.values.size(), 4U);
  }
  expect_each_started_then_finished(r, 4);
}

TEST(Events, AnExceptionFailsItsTaskOnceAndIsNeverRetried) {
  recorder r;
  {
    auto results = pprocess::pmap(throw_at_3, std::vector{0, 1, 2, 3, 4, 5},
                                  r.options({.limit = 2, .retries = 2}));
    EXPECT_THROW((void)results[3], pprocess::RemoteError);
    EXPECT_EQ(results[5], 5);
  }
  EXPECT_EQ(r.count(Kind::retried), 0U);
  EXPECT_EQ(r.count(Kind::failed), 1U);
  const std::vector<Event> three = r.of(3);
  ASSERT_EQ(kinds(three), (std::vector{Kind::started, Kind::failed}));
  ASSERT_TRUE(three[1].error);
  EXPECT_THROW(std::rethrow_exception(three[1].error), pprocess::RemoteError);
  EXPECT_EQ(r.count(Kind::finished), 5U);
}

TEST(Events, ACrashIsRetriedThenFailsWithEachAttemptReported) {
  for (const bool batched : {false, true}) {
    SCOPED_TRACE(batched ? "pmap" : "process per task");
    recorder r;
    {
      pprocess::Map<int> results(r.options({.limit = 2, .retries = 1}));
      if (batched) {
        results(kill_itself_at_2, std::vector{0, 1, 2, 3});
      } else {
        auto calc = results.manage(pprocess::MakeParallel(kill_itself_at_2));
        for (int i = 0; i < 4; ++i) {
          calc(i);
        }
      }
      EXPECT_THROW((void)results[2], pprocess::ProcessError);
      EXPECT_EQ(results[3], 3);
    }
    const std::vector<Event> two = r.of(2);
    // The element's range may have been started as a whole first: what
    // counts is the order of the ends, and the attempts.
    std::vector<Event> ends;
    std::copy_if(two.begin(), two.end(), std::back_inserter(ends),
                 [](const Event& e) { return e.kind != Kind::started; });
    ASSERT_EQ(kinds(ends), (std::vector{Kind::retried, Kind::failed}));
    EXPECT_EQ(ends[0].attempt, 1U);
    EXPECT_EQ(ends[1].attempt, 2U);
    EXPECT_NE(ends[0].pid, ends[1].pid);
    EXPECT_THROW(std::rethrow_exception(ends[1].error), pprocess::ProcessError);
    EXPECT_EQ(two.back().kind, Kind::failed);
    EXPECT_EQ(two.front().kind, Kind::started);
    EXPECT_EQ(r.count(Kind::failed), 1U);
    EXPECT_EQ(r.count(Kind::finished), 3U);
  }
}

TEST(Events, ATimeoutFailsItsTaskWithTimeoutError) {
  recorder r;
  {
    pprocess::Map<int> results(r.options({.limit = 2, .timeout = 200ms}));
    auto calc = results.manage(
        pprocess::MakeParallel([](int ms) { return sleep_ms(ms), ms; }));
    calc(10);
    calc(5000);
    EXPECT_EQ(results[0], 10);
    EXPECT_THROW((void)results[1], pprocess::TimeoutError);
  }
  const std::vector<Event> slow = r.of(1);
  ASSERT_EQ(kinds(slow), (std::vector{Kind::started, Kind::failed}));
  EXPECT_GE(slow[1].elapsed, 200ms);
  EXPECT_THROW(std::rethrow_exception(slow[1].error), pprocess::TimeoutError);
}

TEST(Events, EventsAreDeliveredFromBlockingCallsOnly) {
  recorder r;
  pprocess::Map<int> results(r.options({.limit = 2}));
  auto calc = results.manage(pprocess::MakeParallel(square));
  calc(1);
  calc(2);
  // Starting never calls back: the program is not inside the library.
  sleep_ms(100);
  EXPECT_TRUE(r.events.empty());
  results.finish();
  EXPECT_EQ(r.count(Kind::finished), 2U);
}

TEST(Events, ACallbackThatThrowsLosesNoResultAndNoEvent) {
  std::vector<Event> seen;
  int throws_left = 3;
  pprocess::Options options{.limit = 2};
  options.on_event = [&](const Event& e) {
    seen.push_back(e);
    if (e.kind == Kind::finished && throws_left > 0) {
      --throws_left;
      throw std::runtime_error("observer failed");
    }
  };
  std::vector<int> input(200);
  for (int i = 0; i < 200; ++i) {
    input[static_cast<std::size_t>(i)] = i;
  }
  auto results = pprocess::pmap(square, input, options);
  int thrown = 0;
  std::vector<int> values;
  for (std::size_t i = 0; i < input.size();) {
    try {
      values.push_back(results[i]);
      ++i;
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "observer failed");
      ++thrown;
    }
  }
  results.finish();  // what remained to be told is told now
  EXPECT_EQ(thrown, 3);
  ASSERT_EQ(values.size(), input.size());
  for (std::size_t i = 0; i < input.size(); ++i) {
    EXPECT_EQ(values[i], input[i] * input[i]);
  }
  std::map<std::size_t, int> finished;
  for (const Event& e : seen) {
    if (e.kind == Kind::finished) {
      ++finished[e.task];
    }
  }
  EXPECT_EQ(finished.size(), input.size());
  for (const auto& [task, n] : finished) {
    EXPECT_EQ(n, 1) << "task " << task;
  }
}

TEST(Events, NoCallbackLeavesNothingBehind) {
  // The same pmap with and without an observer: equal results, and an
  // observer that is not set costs no event.
  test_support::expect_no_descriptor_or_zombie_left([] {
    recorder r;
    auto with = pprocess::pmap(square, std::vector{1, 2, 3}, r.options());
    auto without = pprocess::pmap(square, std::vector{1, 2, 3});
    EXPECT_EQ(with.slice(0, 3), without.slice(0, 3));
    EXPECT_EQ(r.count(Kind::finished), 3U);
  });
}

}  // namespace
