// SPDX-License-Identifier: MIT
#include "pprocess/parallel.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

using test_support::abort_without_core;
using test_support::elapsed_ms;
using test_support::interval;
using test_support::max_overlap;
using test_support::sleep_interval;
using test_support::sleep_ms;

int calculate(int i, int j) {
  return i * 10 + j;
}

pid_t own_pid(int /*i*/) {
  return ::getpid();
}

std::set<pid_t> distinct(const std::vector<pid_t>& pids) {
  return {pids.begin(), pids.end()};
}

/// Calls a reused callable on `m` with 0 .. count - 1. A call returns the
/// pid of the kept process that served it, except call `failing`, which runs
/// `fail` (it throws or ends the process) instead.
template <class Fail>
void call_reused(pprocess::Map<pid_t>& m, int count, int failing, Fail fail) {
  auto call = m.manage(pprocess::MakeReusable([failing, fail](int i) -> pid_t {
    if (i == failing) {
      fail();
    }
    return ::getpid();
  }));
  for (int i = 0; i < count; ++i) {
    call(i);
  }
}

int global_value = 0;  // NOLINT(*-avoid-non-const-global-variables)

/// An exchange that counts what it stores.
class Sum : public pprocess::Exchange {
 public:
  using Exchange::Exchange;
  int total = 0;
  int stored = 0;
  void store_data(pprocess::Channel& channel) override {
    total += channel.receive<int>();
    ++stored;
  }
};

}  // namespace

// --- MakeParallel and manage ------------------------------------------------

TEST(ParallelTest, MakeParallelSendsTheFunctionResult) {
  auto ch = pprocess::start(pprocess::MakeParallel(calculate), 3, 4);
  EXPECT_EQ(ch.receive<int>(), 34);
}

TEST(ParallelTest, MakeParallelSendsAnExceptionAsRemoteError) {
  auto ch =
      pprocess::start(pprocess::MakeParallel([](int n) -> int {
                        throw std::domain_error("bad " + std::to_string(n));
                      }),
                      7);
  test_support::expect_remote_error([&] { (void)ch.receive<int>(); },
                                    "std::domain_error", "bad 7");
}

TEST(ParallelTest, ManagedCallableEqualsStart) {
  pprocess::Map<int> managed({.limit = 3});
  pprocess::Map<int> started({.limit = 3});
  auto calc = managed.manage(pprocess::MakeParallel(calculate));
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      calc(i, j);
      started.start(pprocess::MakeParallel(calculate), i, j);
    }
  }
  ASSERT_EQ(managed.size(), 9U);
  ASSERT_EQ(started.size(), 9U);
  const std::vector<int> expected{0, 1, 2, 10, 11, 12, 20, 21, 22};
  EXPECT_EQ(managed.slice(0, 9), expected);
  EXPECT_EQ(started.slice(0, 9), expected);
}

TEST(ParallelTest, MakeParallelStartsOneProcessPerCall) {
  pprocess::Map<pid_t> m({.limit = 2, .reuse = true});
  auto call = m.manage(pprocess::MakeParallel(own_pid));
  for (int i = 0; i < 4; ++i) {
    call(i);
  }
  EXPECT_EQ(distinct(m.slice(0, 4)).size(), 4U);
}

// --- MakeReusable and reuse -------------------------------------------------

TEST(ParallelTest, ReuseServesAllCallsWithAtMostLimitProcesses) {
  pprocess::Map<pid_t> m({.limit = 2, .reuse = true});
  auto call = m.manage(pprocess::MakeReusable(own_pid));
  for (int i = 0; i < 10; ++i) {
    call(i);
  }
  const std::set<pid_t> pids = distinct(m.slice(0, 10));
  EXPECT_LE(pids.size(), 2U);
  EXPECT_GE(pids.size(), 1U);
  EXPECT_EQ(pids.count(::getpid()), 0U);
}

TEST(ParallelTest, ReuseSendsTheArgumentsOfEachCall) {
  pprocess::Map<int> m({.limit = 2, .reuse = true});
  auto calc = m.manage(pprocess::MakeReusable(calculate));
  std::vector<int> expected;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      calc(i, j);
      expected.push_back(i * 10 + j);
    }
  }
  EXPECT_EQ(m.slice(0, 16), expected);
}

TEST(ParallelTest, ReuseSendsStringArguments) {
  pprocess::Map<std::string> m({.limit = 2, .reuse = true});
  auto shout =
      m.manage(pprocess::MakeReusable([](const std::string& s, int times) {
        std::string out;
        for (int k = 0; k < times; ++k) {
          out += s;
        }
        return out;
      }));
  shout(std::string("ab"), 2);
  shout(std::string("xyz"), 1);
  shout(std::string(), 3);
  EXPECT_EQ(m.slice(0, 3), (std::vector<std::string>{"abab", "xyz", ""}));
}

TEST(ParallelTest, ReuseExceptionFailsOnlyThatCallAndTheProcessGoesOn) {
  pprocess::Map<pid_t> m({.limit = 1, .reuse = true});
  call_reused(m, 5, 2, [] { throw std::runtime_error("call 2 failed"); });
  test_support::expect_remote_error([&] { (void)m[2]; }, "std::runtime_error",
                                    "call 2 failed");
  const std::vector<pid_t> pids{m[0], m[1], m[3], m[4]};
  EXPECT_EQ(distinct(pids).size(), 1U);
}

TEST(ParallelTest, ReuseReplacesAProcessThatDiesAndFailsOnlyItsTask) {
  pprocess::Map<pid_t> m({.limit = 1, .reuse = true});
  call_reused(m, 5, 2, abort_without_core);
  const auto error =
      test_support::thrown<pprocess::ProcessError>([&] { (void)m[2]; });
  ASSERT_TRUE(error) << "m[2] did not throw";
  EXPECT_EQ(error->signal(), SIGABRT);
  EXPECT_EQ(error->exit_status(), -1);
  EXPECT_EQ(m[0], m[1]);
  EXPECT_EQ(m[3], m[4]);
  EXPECT_NE(m[1], m[3]);  // the dead process was replaced
}

TEST(ParallelTest, ReuseReplacesAnIdleProcessThatDiedWithoutFailingACall) {
  pprocess::Map<pid_t> m({.limit = 1, .reuse = true});
  auto call = m.manage(pprocess::MakeReusable(own_pid));
  call(0);
  const pid_t first = m[0];
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(test_support::wait_until(
      [first] { return test_support::process_ended(first); },
      std::chrono::seconds(5)));
  call(1);  // the kept process is dead and had no task: nothing may fail
  pid_t second = 0;
  EXPECT_NO_THROW(second = m[1]);
  EXPECT_NE(second, first);
  EXPECT_GT(second, 0);
}

TEST(ParallelTest, ReuseKeepsTheLimitOfProcessesAtOnce) {
  pprocess::Map<interval> m({.limit = 3, .reuse = true});
  auto call = m.manage(pprocess::MakeReusable(sleep_interval));
  for (int i = 0; i < 9; ++i) {
    call(100);
  }
  EXPECT_EQ(max_overlap(m.slice(0, 9)), 3U);
}

TEST(ParallelTest, ReuseWithTwoManagedCallablesSharesTheLimit) {
  pprocess::Map<int> m({.limit = 1, .reuse = true});
  auto twice = m.manage(pprocess::MakeReusable([](int i) { return 2 * i; }));
  auto negate = m.manage(pprocess::MakeReusable([](int i) { return -i; }));
  for (int i = 1; i <= 3; ++i) {
    twice(i);
    negate(i);
  }
  EXPECT_EQ(m.slice(0, 6), (std::vector<int>{2, -1, 4, -2, 6, -3}));
}

TEST(ParallelTest, RetiredKeptProcessMakesRoomWhileAnotherStillWorks) {
  // Two kept processes serve `wait_ms`; the idle one must make room for a
  // call of another callable at once, not when the busy one is done.
  pprocess::Map<int> m({.limit = 2, .reuse = true});
  auto wait_ms = m.manage(pprocess::MakeReusable([](int ms) {
    sleep_ms(ms);
    return ms;
  }));
  auto negate = m.manage(pprocess::MakeReusable([](int i) { return -i; }));
  wait_ms(0);
  wait_ms(4000);
  negate(5);
  ASSERT_EQ(m[0], 0);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(m[2], -5);
  EXPECT_LT(elapsed_ms(t0), 2000.0);
}

TEST(ParallelTest, StartWithAReusableCallableReusesProcesses) {
  pprocess::Map<pid_t> m({.limit = 2, .reuse = true});
  for (int i = 0; i < 6; ++i) {
    m.start(pprocess::MakeReusable(own_pid), i);
  }
  const std::set<pid_t> pids = distinct(m.slice(0, 6));
  EXPECT_LE(pids.size(), 2U);
  EXPECT_GE(pids.size(), 1U);
}

TEST(ParallelTest, MakeReusableWithoutReuseStartsOneProcessPerCall) {
  pprocess::Map<pid_t> m({.limit = 2});
  auto call = m.manage(pprocess::MakeReusable(own_pid));
  for (int i = 0; i < 4; ++i) {
    call(i);
  }
  EXPECT_EQ(distinct(m.slice(0, 4)).size(), 4U);
}

TEST(ParallelTest, ExchangeWithReuseStoresEveryCall) {
  Sum x({.limit = 2, .reuse = true});
  auto calc = x.manage(pprocess::MakeReusable(calculate));
  for (int i = 1; i <= 10; ++i) {
    calc(i, 0);
  }
  x.finish();
  EXPECT_EQ(x.stored, 10);
  EXPECT_EQ(x.total, 550);
  EXPECT_FALSE(x.unfinished());
}

TEST(ParallelTest, ManyShortReusedCallsAllArriveInOrder) {
  // Short calls go several to a write and come back several to a read.
  constexpr int calls = 5000;
  pprocess::Map<int> m({.limit = 2, .reuse = true});
  auto twice = m.manage(pprocess::MakeReusable([](int i) { return 2 * i; }));
  for (int i = 0; i < calls; ++i) {
    twice(i);
  }
  ASSERT_EQ(m.size(), static_cast<std::size_t>(calls));
  for (int i = 0; i < calls; ++i) {
    ASSERT_EQ(m[static_cast<std::size_t>(i)], 2 * i) << "call " << i;
  }
}

TEST(ParallelTest, ProcessDyingAmongManyShortCallsFailsOnlyItsCall) {
  // The process dies with many calls queued behind the one it runs: those
  // go to another process, and the results it sent before are kept.
  constexpr int calls = 3000;
  constexpr int fatal = 2345;
  pprocess::Map<pid_t> m({.limit = 2, .reuse = true});
  call_reused(m, calls, fatal, abort_without_core);
  std::set<pid_t> servers;
  for (int i = 0; i < calls; ++i) {
    if (i == fatal) {
      const auto error = test_support::thrown<pprocess::ProcessError>(
          [&] { (void)m[static_cast<std::size_t>(i)]; });
      ASSERT_TRUE(error) << "call " << i << " did not fail";
      EXPECT_EQ(error->signal(), SIGABRT);
    } else {
      const pid_t pid = m[static_cast<std::size_t>(i)];
      ASSERT_GT(pid, 0) << "call " << i;
      servers.insert(pid);
    }
  }
  // The calls were shared (by the two kept processes, and a replacement
  // if the survivor did not take all the rest).
  EXPECT_GE(servers.size(), 2U);
}

TEST(ParallelTest, ShortCallsAreGivenSeveralAtOnceLongOnesTwo) {
  pprocess::detail::worker_pool pool;
  EXPECT_EQ(pool.depth, 2U);  // nothing known yet: the call and the next
  for (int i = 0; i < 1000; ++i) {
    pool.record(std::chrono::microseconds(2));
  }
  EXPECT_EQ(pool.depth, 256U);
  for (int i = 0; i < 1000; ++i) {
    pool.record(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(pool.depth, 2U);
  // Results read in a burst: one long interval, then empty ones; the mean
  // is what counts.
  pprocess::detail::worker_pool burst;
  for (int i = 0; i < 100; ++i) {
    burst.record(std::chrono::milliseconds(10));
    for (int k = 0; k < 9; ++k) {
      burst.record(std::chrono::nanoseconds(0));
    }
  }
  EXPECT_EQ(burst.depth, 2U);  // 1 ms a call
}

TEST(ParallelTest, NoDescriptorOrZombieLeftAfterAReusingMapIsDestroyed) {
  test_support::expect_no_descriptor_or_zombie_left([] {
    pprocess::Map<pid_t> m({.limit = 2, .reuse = true});
    call_reused(m, 8, 3, abort_without_core);
    EXPECT_EQ(m[7], m[7]);
    EXPECT_THROW((void)m[3], pprocess::ProcessError);
  });
}

// --- pmap
// ---------------------------------------------------------------------

TEST(ParallelTest, PmapDeducesTheResultType) {
  auto m = pprocess::pmap([](int n) { return std::to_string(n * n); },
                          std::vector<int>{1, 2, 3}, {.limit = 2});
  static_assert(std::is_same_v<decltype(m), pprocess::Map<std::string>>);
  EXPECT_EQ(m.slice(0, 3), (std::vector<std::string>{"1", "4", "9"}));
}

TEST(ParallelTest, PmapTakesAnExplicitResultType) {
  auto m = pprocess::pmap<long>([](int n) { return n + 1; },
                                std::vector<int>{1, 2}, {.limit = 2});
  static_assert(std::is_same_v<decltype(m), pprocess::Map<long>>);
  EXPECT_EQ(m.slice(0, 2), (std::vector<long>{2, 3}));
}

TEST(ParallelTest, PmapRunsAtMostLimitAtOnce) {
  const auto t0 = std::chrono::steady_clock::now();
  auto m =
      pprocess::pmap(sleep_interval, std::vector<int>(8, 200), {.limit = 4});
  const std::vector<interval> intervals = m.slice(0, 8);
  const double ms = elapsed_ms(t0);
  EXPECT_GE(ms, 400.0);
  EXPECT_LT(ms, 1500.0);
  EXPECT_EQ(max_overlap(intervals), 4U);
}

TEST(ParallelTest, PmapWithReuseKeepsItsProcesses) {
  auto m = pprocess::pmap(own_pid, std::vector<int>(10, 0),
                          {.limit = 2, .reuse = true});
  const std::set<pid_t> pids = distinct(m.slice(0, 10));
  EXPECT_LE(pids.size(), 2U);
  EXPECT_GE(pids.size(), 1U);
}

TEST(ParallelTest, PmapFailureIsThrownWhereItsIndexIsRead) {
  auto m = pprocess::pmap(
      [](int n) {
        if (n == 0) {
          throw std::invalid_argument("zero");
        }
        return 100 / n;
      },
      std::vector<int>{5, 0, 10}, {.limit = 2});
  EXPECT_EQ(m[0], 20);
  EXPECT_THROW((void)m[1], pprocess::RemoteError);
  EXPECT_EQ(m[2], 10);
}

TEST(ParallelTest, PmapCapturesTheSequenceWhenCalled) {
  std::vector<int> input{1, 2, 3, 4};
  auto m = pprocess::pmap(
      [](int n) {
        sleep_ms(50);
        return n;
      },
      input, {.limit = 1});
  std::fill(input.begin(), input.end(), 0);
  EXPECT_EQ(m.slice(0, 4), (std::vector<int>{1, 2, 3, 4}));
}

TEST(ParallelTest, CreatedProcessCanRunItsOwnPmap) {
  auto m = pprocess::pmap(
      [](int n) {
        std::vector<int> inner(static_cast<std::size_t>(n));
        std::iota(inner.begin(), inner.end(), 1);
        auto squares =
            pprocess::pmap([](int k) { return k * k; }, inner, {.limit = 2});
        int total = 0;
        for (const int s : squares) {
          total += s;
        }
        return total;
      },
      std::vector<int>{1, 2, 3, 4}, {.limit = 2});
  EXPECT_EQ(m.slice(0, 4), (std::vector<int>{1, 5, 14, 30}));
}

// --- Copy-on-write ----------------------------------------------------------

TEST(ParallelTest, CreatedProcessSeesTheCreatorMemory) {
  global_value = 42;
  std::vector<int> data(100000);
  std::iota(data.begin(), data.end(), 0);
  pprocess::Map<long long> m({.limit = 1});
  m.start([&data](pprocess::Channel& ch) {
    ch.send(std::accumulate(data.begin(), data.end(), 0LL) + global_value);
  });
  EXPECT_EQ(m[0], 4999950000LL + 42);
}

TEST(ParallelTest, CreatedProcessWritesStayItsOwn) {
  global_value = 1;
  pprocess::Map<int> m({.limit = 2});
  for (int i = 0; i < 2; ++i) {
    m.start([](pprocess::Channel& ch) {
      global_value += 10;
      ch.send(global_value);
    });
  }
  EXPECT_EQ(m.slice(0, 2), (std::vector<int>{11, 11}));
  EXPECT_EQ(global_value, 1);
}

TEST(ParallelTest, StartArgumentsAreCapturedAtTheCall) {
  pprocess::Map<std::string> m({.limit = 1});
  m.start([](pprocess::Channel& ch) {
    sleep_ms(300);
    ch.send(std::string("first"));
  });
  std::string text = "before";
  m.start([](pprocess::Channel& ch, const std::string& s) { ch.send(s); },
          text);
  text = "after";  // the second start is still waiting for the limit
  EXPECT_EQ(m[1], "before");
}

TEST(ParallelTest, ManagedCallArgumentsAreCapturedAtTheCall) {
  pprocess::Map<int> m({.limit = 1});
  auto echo = m.manage(pprocess::MakeParallel([](int delay, int value) {
    sleep_ms(delay);
    return value;
  }));
  int value = 1;
  echo(300, value);
  value = 2;
  echo(0, value);
  value = 3;
  EXPECT_EQ(m.slice(0, 2), (std::vector<int>{1, 2}));
}

TEST(ParallelTest, ReusedCallArgumentsAreCapturedAtTheCall) {
  pprocess::Map<std::vector<int>> m({.limit = 1, .reuse = true});
  auto echo =
      m.manage(pprocess::MakeReusable([](int delay, std::vector<int> v) {
        sleep_ms(delay);
        return v;
      }));
  std::vector<int> v{1, 2};
  echo(300, v);
  v.push_back(3);
  echo(0, v);
  v.clear();
  EXPECT_EQ(m[0], (std::vector<int>{1, 2}));
  EXPECT_EQ(m[1], (std::vector<int>{1, 2, 3}));
}

// --- Moves ------------------------------------------------------------------

TEST(ParallelTest, PmapResultCanBeMovedOn) {
  auto make = [] {
    return pprocess::pmap([](int n) { return n * 3; },
                          std::vector<int>{1, 2, 3}, {.limit = 2});
  };
  pprocess::Map<int> m = make();
  pprocess::Map<int> moved(std::move(m));
  EXPECT_EQ(moved.slice(0, 3), (std::vector<int>{3, 6, 9}));
}

TEST(ParallelTest, ReuseChannelErrorThrownByTheCallableFailsOnlyThatCall) {
  pprocess::Map<pid_t> m({.limit = 1, .reuse = true});
  call_reused(m, 5, 2, [] {
    throw pprocess::ChannelError(pprocess::ChannelErrc::malformed_frame,
                                 "the user's own channel broke");
  });
  test_support::expect_remote_error([&] { (void)m[2]; },
                                    "pprocess::ChannelError",
                                    "the user's own channel broke");
  const std::vector<pid_t> pids{m[0], m[1], m[3], m[4]};
  EXPECT_EQ(distinct(pids).size(), 1U);
}

TEST(ParallelTest, ReuseExchangeLosesNoCallBehindAChannelError) {
  test_support::collector<int, pprocess::Exchange> x(
      {.limit = 1, .reuse = true});
  auto call = x.manage(pprocess::MakeReusable([](int i) {
    if (i == 1) {
      throw pprocess::ChannelError(pprocess::ChannelErrc::closed, "boom");
    }
    return i;
  }));
  for (int i = 0; i < 4; ++i) {
    call(i);
  }
  for (int attempt = 0; attempt < 10; ++attempt) {
    try {
      x.finish();
      break;
    } catch (const pprocess::RemoteError&) {
    }
  }
  EXPECT_EQ(x.values, (std::vector<int>{0, 2, 3}));
}
