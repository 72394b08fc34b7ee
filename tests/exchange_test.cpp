// SPDX-License-Identifier: MIT
#include "pprocess/exchange.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using test_support::die_by;
using test_support::elapsed_ms;
using test_support::interval;
using test_support::max_overlap;
using test_support::now_ns;
using test_support::send_square;
using test_support::sleep_ms;
using test_support::sleep_then_send;
using test_support::start_squares;

using Collect = test_support::collector<int>;

std::vector<int> sorted(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  return v;
}

void send_interval(pprocess::Channel& ch, int ms) {
  ch.send(test_support::sleep_interval(ms));
}

/// finish() until it returns normally, collecting the ProcessErrors it
/// throws on the way.
std::vector<pprocess::ProcessError> finish_collecting(pprocess::Exchange& x) {
  std::vector<pprocess::ProcessError> errors;
  for (int attempt = 0; attempt < 100; ++attempt) {
    try {
      x.finish();
      return errors;
    } catch (const pprocess::ProcessError& e) {
      errors.push_back(e);
    }
  }
  ADD_FAILURE() << "finish() kept throwing";
  return errors;
}

}  // namespace

TEST(ExchangeTest, FinishStoresTheValueOfEveryStartedProcess) {
  Collect x({.limit = 4});
  start_squares(x, 10);
  x.finish();
  EXPECT_EQ(sorted(x.values),
            (std::vector<int>{0, 1, 4, 9, 16, 25, 36, 49, 64, 81}));
}

TEST(ExchangeTest, LimitZeroThrowsError) {
  EXPECT_THROW(Collect({.limit = 0}), pprocess::Error);
}

TEST(ExchangeTest, UnsetLimitIsTheAvailableProcessors) {
  const std::size_t processors = pprocess::available_processors();
  ASSERT_GE(processors, 1U);
  test_support::collector<interval> x;
  for (std::size_t i = 0; i < processors + 1; ++i) {
    x.start(send_interval, 300);
  }
  x.finish();
  ASSERT_EQ(x.values.size(), processors + 1);
  EXPECT_EQ(max_overlap(x.values), processors);
}

TEST(ExchangeTest, StartDoesNotBlockOverTheLimit) {
  Collect x({.limit = 1});
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    x.start(sleep_then_send, 300, i);
  }
  EXPECT_LT(elapsed_ms(t0), 250.0);
  x.finish();
  EXPECT_GE(elapsed_ms(t0), 850.0);
  EXPECT_EQ(x.values, (std::vector<int>{0, 1, 2}));
}

TEST(ExchangeTest, NeverMoreThanLimitProcessesRunAtOnce) {
  test_support::collector<interval> x({.limit = 3});
  for (int i = 0; i < 8; ++i) {
    x.start(send_interval, 150);
  }
  x.finish();
  ASSERT_EQ(x.values.size(), 8U);
  EXPECT_EQ(max_overlap(x.values), 3U);
}

TEST(ExchangeTest, EightTasksOfTwoHundredMsWithLimitFourTakeTwoRounds) {
  Collect x({.limit = 4});
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 8; ++i) {
    x.start(sleep_then_send, 200, i);
  }
  x.finish();
  const double ms = elapsed_ms(t0);
  EXPECT_GE(ms, 400.0);
  EXPECT_LT(ms, 1500.0);
  EXPECT_EQ(sorted(x.values), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(ExchangeTest, LimitCountsAProcessThatDeliveredAndStillRuns) {
  // The first process sends its value, then keeps running for 300 ms and
  // writes the time it is about to exit into a pipe. With limit 1 the second
  // process must not start before that.
  test_support::unique_pipe pipe;
  test_support::collector<std::int64_t> x({.limit = 1});
  x.start(
      [](pprocess::Channel& ch, int write_fd) {
        ch.send(std::int64_t{0});
        sleep_ms(300);
        (void)test_support::write_value(write_fd, now_ns());
      },
      pipe.write_end());
  x.start([](pprocess::Channel& ch) { ch.send(now_ns()); });
  x.finish();
  pipe.close_write();
  const auto first_leaving =
      test_support::read_value<std::int64_t>(pipe.read_end());
  ASSERT_TRUE(first_leaving.has_value());
  ASSERT_EQ(x.values.size(), 2U);
  EXPECT_GE(x.values[1], *first_leaving);
}

namespace {

/// A stream buffer whose sync() writes the time into a pipe, then takes
/// 300 ms: a created process that uses it for std::clog is slow to exit
/// (the exit flushes the streams).
class slow_to_sync : public std::streambuf {
 public:
  explicit slow_to_sync(int fd) : fd_(fd) {}

 protected:
  int sync() override {
    sleep_ms(300);
    (void)test_support::write_value(fd_, now_ns());
    return 0;
  }

 private:
  int fd_;
};

}  // namespace

TEST(ExchangeTest, MakeParallelProcessCountsUntilItHasExited) {
  // Its result arrived, but its exit (here, a 300 ms flush of std::clog)
  // still holds its place: with limit 1 the next process starts after it.
  test_support::unique_pipe pipe;
  pprocess::Map<std::int64_t> m({.limit = 1});
  auto call = m.manage(pprocess::MakeParallel([&pipe](int i) {
    if (i == 0) {
      static slow_to_sync slow(pipe.write_end());
      std::clog.rdbuf(&slow);
    }
    return now_ns();
  }));
  call(0);
  call(1);
  const std::int64_t second_started = m[1];
  m.finish();
  pipe.close_write();
  const auto first_left =
      test_support::read_value<std::int64_t>(pipe.read_end());
  ASSERT_TRUE(first_left.has_value());
  EXPECT_GE(second_started, *first_left);
}

TEST(ExchangeTest, StoreStartsWaitingWork) {
  Collect x({.limit = 1});
  start_squares(x, 3);
  for (int calls = 0; x.unfinished() && calls < 1000; ++calls) {
    x.store(100ms);
  }
  EXPECT_FALSE(x.unfinished());
  EXPECT_EQ(x.values, (std::vector<int>{0, 1, 4}));
}

TEST(ExchangeTest, StoreWithTimeoutReturnsWhenNothingArrives) {
  Collect x({.limit = 1});
  x.start(sleep_then_send, 5000, 1);
  const auto t0 = std::chrono::steady_clock::now();
  x.store(50ms);
  const double ms = elapsed_ms(t0);
  EXPECT_GE(ms, 40.0);
  EXPECT_LT(ms, 2000.0);
  EXPECT_TRUE(x.values.empty());
  EXPECT_TRUE(x.unfinished());
}

TEST(ExchangeTest, RemoteErrorFromStoreDataLeavesFinishAbleToGoOn) {
  Collect x({.limit = 2});
  x.start([](pprocess::Channel&) { throw std::logic_error("oops"); });
  x.start(sleep_then_send, 100, 1);
  x.start(sleep_then_send, 200, 2);
  test_support::expect_remote_error([&] { x.finish(); }, "std::logic_error",
                                    "oops");
  x.finish();
  EXPECT_EQ(x.values, (std::vector<int>{1, 2}));
}

TEST(ExchangeTest, WaitReturnsOnceBelowTheLimit) {
  Collect x({.limit = 2});
  x.start(sleep_then_send, 50, 1);
  x.start(sleep_then_send, 5000, 2);
  ASSERT_TRUE(x.busy());
  const auto t0 = std::chrono::steady_clock::now();
  x.wait();
  EXPECT_LT(elapsed_ms(t0), 2500.0);
  EXPECT_FALSE(x.busy());
  EXPECT_EQ(x.values, (std::vector<int>{1}));
  EXPECT_TRUE(x.unfinished());
}

TEST(ExchangeTest, BusyAndUnfinishedFollowTheWork) {
  Collect x({.limit = 2});
  EXPECT_FALSE(x.busy());
  EXPECT_FALSE(x.unfinished());
  start_squares(x, 3);
  EXPECT_TRUE(x.busy());
  EXPECT_TRUE(x.unfinished());
  x.finish();
  EXPECT_FALSE(x.busy());
  EXPECT_FALSE(x.unfinished());
}

TEST(ExchangeTest, ChannelsAreReadToTheirEndWithoutContinuous) {
  // The body is the user's: the exchange cannot know it sends one value.
  Collect x({.limit = 2});
  x.start([](pprocess::Channel& ch) {
    ch.send(1);
    ch.send(2);
    ch.send(3);
  });
  x.finish();
  EXPECT_EQ(x.values, (std::vector<int>{1, 2, 3}));
}

/// pprocess's tests/two_way.py: the creator answers from store_data.
class Countdown : public pprocess::Exchange {
 public:
  using Exchange::Exchange;
  std::vector<int> heard;
  void store_data(pprocess::Channel& ch) override {
    const int v = ch.receive<int>();
    heard.push_back(v);
    ch.send(v - 1);
  }
};

void count_down(pprocess::Channel& ch, int v) {
  while (v != 0) {
    ch.send(v);
    v = ch.receive<int>();
  }
}

TEST(ExchangeTest, TwoWayConversationRunsItsTwentyRounds) {
  Countdown x({.limit = 1});
  x.add(pprocess::start(count_down, 20));
  x.start(count_down, 3);
  x.finish();
  std::vector<int> expected;
  for (int v = 20; v > 0; --v) {
    expected.push_back(v);
  }
  for (int v = 3; v > 0; --v) {
    expected.push_back(v);
  }
  EXPECT_EQ(x.heard, expected);
  EXPECT_FALSE(test_support::has_unreaped_children());
}

TEST(ExchangeTest, LargeSecondValueDoesNotHangFinish) {
  test_support::collector<std::string> x({.limit = 1});
  x.start([](pprocess::Channel& ch) {
    ch.send(std::string("small"));
    ch.send(std::string(8 << 20, 'x'));
  });
  x.finish();
  ASSERT_EQ(x.values.size(), 2U);
  EXPECT_EQ(x.values[1].size(), std::size_t{8} << 20);
}

/// A store_data that fails before it receives anything: the value waits.
class Fussy : public pprocess::Exchange {
 public:
  using Exchange::Exchange;
  int refusals = 1;
  std::vector<int> values;
  void store_data(pprocess::Channel& ch) override {
    if (refusals > 0) {
      --refusals;
      throw std::runtime_error("not now");
    }
    values.push_back(ch.receive<int>());
  }
};

TEST(ExchangeTest, ValueStaysWhenStoreDataThrowsBeforeReceiving) {
  Fussy x({.limit = 2});
  auto calc = x.manage(pprocess::MakeParallel([] { return 42; }));
  calc();
  EXPECT_THROW(x.finish(), std::runtime_error);
  x.finish();
  EXPECT_EQ(x.values, (std::vector<int>{42}));
}

/// A store_data that forgets to receive.
class Forgetful : public pprocess::Exchange {
 public:
  using Exchange::Exchange;
  void store_data(pprocess::Channel& /*ch*/) override {}
};

TEST(ExchangeTest, StoreDataThatReceivesNothingIsAnErrorNotASpin) {
  Forgetful x({.limit = 1});
  x.start(send_square, 3);
  const auto error = test_support::thrown<pprocess::Error>([&] { x.finish(); });
  ASSERT_TRUE(error);
  EXPECT_NE(std::string(error->what()).find("store_data"), std::string::npos)
      << error->what();
}

TEST(ExchangeTest, ReadyLoopEndsByItselfAtACleanEnd) {
  pprocess::Exchange x({.limit = 2, .continuous = true});
  for (int base = 0; base < 3; ++base) {
    x.start(
        [](pprocess::Channel& ch, int b) {
          ch.send(b * 10);
          ch.send(b * 10 + 1);
        },
        base);
  }
  std::vector<int> values;
  while (!x.active().empty()) {
    for (pprocess::Channel* ch : x.ready()) {
      values.push_back(ch->receive<int>());
    }
  }
  EXPECT_EQ(sorted(values), (std::vector<int>{0, 1, 10, 11, 20, 21}));
  EXPECT_FALSE(x.unfinished());
}

TEST(ExchangeTest, ContinuousStoresEveryValueUntilTheProcessCloses) {
  Collect x({.limit = 2, .continuous = true});
  for (int base = 0; base < 2; ++base) {
    x.start(
        [](pprocess::Channel& ch, int b) {
          for (int k = 0; k < 3; ++k) {
            ch.send(b * 10 + k);
            sleep_ms(20);
          }
        },
        base);
  }
  x.finish();
  EXPECT_EQ(sorted(x.values), (std::vector<int>{0, 1, 2, 10, 11, 12}));
}

TEST(ExchangeTest, SignalledProcessThrowsProcessErrorAndFinishCarriesOn) {
  Collect x({.limit = 2});
  x.start(send_square, 1);
  x.start([](pprocess::Channel&) { die_by(SIGKILL); });
  x.start(sleep_then_send, 100, 2);
  x.start(sleep_then_send, 200, 3);
  const auto errors = finish_collecting(x);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors[0].signal(), SIGKILL);
  EXPECT_EQ(errors[0].exit_status(), -1);
  EXPECT_GT(errors[0].pid(), 0);
  EXPECT_FALSE(test_support::process_exists(errors[0].pid()));
  EXPECT_EQ(sorted(x.values), (std::vector<int>{1, 2, 3}));
  EXPECT_FALSE(x.unfinished());
}

TEST(ExchangeTest, NonZeroExitThrowsProcessErrorWithItsStatus) {
  Collect x({.limit = 2});
  x.start([](pprocess::Channel&) { ::_exit(3); });
  x.start(send_square, 4);
  const auto errors = finish_collecting(x);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors[0].exit_status(), 3);
  EXPECT_EQ(errors[0].signal(), 0);
  EXPECT_EQ(x.values, (std::vector<int>{16}));
}

TEST(ExchangeTest, CleanExitWithoutValueIsANormalEnd) {
  Collect x({.limit = 2});
  x.start([](pprocess::Channel&) { ::_exit(0); });
  x.start([](pprocess::Channel&) {});
  x.start(send_square, 5);
  EXPECT_NO_THROW(x.finish());
  EXPECT_EQ(x.values, (std::vector<int>{25}));
  EXPECT_FALSE(x.unfinished());
}

TEST(ExchangeTest, ConstructorWithChannelsWatchesThem) {
  std::vector<pprocess::Channel> channels;
  for (int i = 1; i <= 3; ++i) {
    channels.push_back(pprocess::start(send_square, i));
  }
  Collect x(std::move(channels), {.limit = 4});
  EXPECT_EQ(x.active().size(), 3U);
  x.finish();
  EXPECT_EQ(sorted(x.values), (std::vector<int>{1, 4, 9}));
}

TEST(ExchangeTest, AddWatchesAChannelFromStart) {
  Collect x({.limit = 2});
  x.add(pprocess::start(send_square, 6));
  ASSERT_EQ(x.active().size(), 1U);
  EXPECT_TRUE(x.unfinished());
  x.finish();
  EXPECT_EQ(x.values, (std::vector<int>{36}));
  EXPECT_TRUE(x.active().empty());
}

TEST(ExchangeTest, AddWaitWaitsUntilBelowTheLimit) {
  Collect x({.limit = 1});
  x.add(pprocess::start(sleep_then_send, 300, 1));
  const auto t0 = std::chrono::steady_clock::now();
  x.add_wait(pprocess::start(send_square, 2));
  EXPECT_GE(elapsed_ms(t0), 250.0);
  EXPECT_EQ(x.values, (std::vector<int>{1}));
  x.finish();
  EXPECT_EQ(x.values, (std::vector<int>{1, 4}));
}

TEST(ExchangeTest, ReadyWithTimeoutReturnsNothingWhenNothingArrives) {
  pprocess::Exchange x({.limit = 2});
  x.add(pprocess::start(sleep_then_send, 5000, 1));
  const auto t0 = std::chrono::steady_clock::now();
  const auto ready = x.ready(50ms);
  const double ms = elapsed_ms(t0);
  EXPECT_TRUE(ready.empty());
  EXPECT_GE(ms, 40.0);
  EXPECT_LT(ms, 2000.0);
}

namespace {

/// Sends 1 and 2, then writes to `done_fd`: once that arrives, both values
/// are in the socket. Then runs on.
void send_two_then_tell(pprocess::Channel& ch, int done_fd) {
  ch.send(1);
  ch.send(2);
  (void)test_support::write_value(done_fd, 1);
  sleep_ms(5000);
}

}  // namespace

TEST(ExchangeTest, ReadyReportsAValueAlreadyReadAhead) {
  // Both values are in the socket before the first receive, which reads
  // them in one go: the second is then in the channel, not the socket.
  // (A channel that reads ahead, as the exchange's own kept processes'
  // channels do.)
  test_support::unique_pipe sent;
  pprocess::Exchange x({.limit = 1, .continuous = true});
  auto channel = pprocess::start(send_two_then_tell, sent.write_end());
  pprocess::detail::channel_access::read_ahead(channel);
  x.add(std::move(channel));
  ASSERT_TRUE(test_support::read_value<int>(sent.read_end()).has_value());
  const auto first = x.ready(1000ms);
  ASSERT_EQ(first.size(), 1U);
  EXPECT_EQ(first[0]->receive<int>(), 1);
  const auto second = x.ready(0ms);
  ASSERT_EQ(second.size(), 1U);
  EXPECT_EQ(second[0]->receive<int>(), 2);
}

TEST(ExchangeTest, ContinuousChannelsPollReadableForEachValue) {
  // A user's own poll loop over active(): each value must wake it.
  test_support::unique_pipe sent;
  pprocess::Exchange x({.limit = 1, .continuous = true});
  x.start(send_two_then_tell, sent.write_end());
  ASSERT_TRUE(test_support::read_value<int>(sent.read_end()).has_value());
  pprocess::Channel& channel = *x.active().at(0);
  EXPECT_EQ(channel.receive<int>(), 1);
  pollfd p{channel.fileno(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 1000), 1);
  EXPECT_EQ(channel.receive<int>(), 2);
}

TEST(ExchangeTest, ReadyReturnsTheChannelThatHasData) {
  pprocess::Exchange x({.limit = 2});
  x.add(pprocess::start(sleep_then_send, 5000, 1));
  auto fast = pprocess::start(sleep_then_send, 0, 2);
  const pid_t fast_pid = fast.pid();
  x.add(std::move(fast));
  const auto ready = x.ready();
  ASSERT_EQ(ready.size(), 1U);
  EXPECT_EQ(ready[0]->pid(), fast_pid);
  EXPECT_EQ(ready[0]->receive<int>(), 2);
}

TEST(ExchangeTest, ActiveReadyRemoveLoopReceivesEveryValue) {
  pprocess::Exchange x({.limit = 4});
  for (int i = 0; i < 4; ++i) {
    x.add(pprocess::start(sleep_then_send, 30 * i, i));
  }
  std::vector<int> values;
  while (!x.active().empty()) {
    for (pprocess::Channel* ch : x.ready()) {
      values.push_back(ch->receive<int>());
      x.remove(*ch);
    }
  }
  EXPECT_EQ(sorted(values), (std::vector<int>{0, 1, 2, 3}));
}

TEST(ExchangeTest, RemoveStopsWatchingTheChannel) {
  pprocess::Exchange x({.limit = 2});
  x.add(pprocess::start(sleep_then_send, 5000, 1));
  x.add(pprocess::start(sleep_then_send, 5000, 2));
  const auto before = x.active();
  ASSERT_EQ(before.size(), 2U);
  pprocess::Channel* kept = before[1];
  x.remove(*before[0]);
  const auto after = x.active();
  ASSERT_EQ(after.size(), 1U);
  EXPECT_EQ(after[0], kept);
}

TEST(ExchangeTest, RemovedChannelIsClosedForItsProcessWhileOthersRun) {
  // The first process reads until its creator closes the channel. A process
  // started after it must not keep that channel open behind the creator's
  // back.
  pprocess::Exchange x({.limit = 2});
  x.start([](pprocess::Channel& ch) {
    try {
      for (;;) {
        (void)ch.receive<int>();
      }
    } catch (const pprocess::ChannelError&) {
    }
  });
  x.start(sleep_then_send, 5000, 2);
  pprocess::Channel* reader = x.active().at(0);
  const pid_t pid = reader->pid();
  x.remove(*reader);
  EXPECT_TRUE(test_support::wait_until(
      [pid] { return test_support::process_ended(pid); }, 2000ms));
}

TEST(ExchangeTest, RemoveWithoutAutocloseLeavesTheChannelOpen) {
  pprocess::Exchange x({.limit = 2, .autoclose = false});
  x.add(pprocess::start(sleep_then_send, 50, 7));
  pprocess::Channel* ch = x.active().at(0);
  x.remove(*ch);
  EXPECT_TRUE(x.active().empty());
  EXPECT_GE(ch->fileno(), 0);
  EXPECT_EQ(ch->receive<int>(), 7);
}

TEST(ExchangeTest, CreateReturnsTheChannelOnlyInTheCreatedProcess) {
  Collect x({.limit = 2});
  for (int i = 0; i < 4; ++i) {
    if (auto ch = x.create()) {
      ch->send(ch->pid() == 0 ? i * 10 : -1);
      pprocess::exit(*ch);
    }
  }
  x.finish();
  EXPECT_EQ(sorted(x.values), (std::vector<int>{0, 10, 20, 30}));
}

TEST(ExchangeTest, CreateBlocksWhileAtTheLimit) {
  Collect x({.limit = 1});
  if (auto ch = x.create()) {
    sleep_ms(300);
    ch->send(1);
    pprocess::exit(*ch);
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (auto ch = x.create()) {
    ch->send(2);
    pprocess::exit(*ch);
  }
  EXPECT_GE(elapsed_ms(t0), 250.0);
  EXPECT_EQ(x.values, (std::vector<int>{1}));
  x.finish();
  EXPECT_EQ(x.values, (std::vector<int>{1, 2}));
}

TEST(ExchangeTest, ManagedCallableStartsTheFunction) {
  Collect x({.limit = 2});
  auto calc = x.manage(send_square);
  for (int i = 0; i < 4; ++i) {
    calc(i);
  }
  x.finish();
  EXPECT_EQ(sorted(x.values), (std::vector<int>{0, 1, 4, 9}));
}

TEST(ExchangeTest, CreatedProcessCannotUseItsCreatorsExchange) {
  Collect x({.limit = 2});
  x.start(send_square, 2);
  auto ch = pprocess::start([&x](pprocess::Channel& c) {
    try {
      x.start(send_square, 3);
      c.send(std::string("no error"));
    } catch (const pprocess::Error& e) {
      c.send(std::string(e.what()));
    }
  });
  const auto what = ch.receive<std::string>();
  EXPECT_NE(what.find("belongs to process " + std::to_string(::getpid())),
            std::string::npos)
      << what;
  x.finish();
  EXPECT_EQ(x.values, (std::vector<int>{4}));
}

TEST(ExchangeTest, ProcessForkedByTheProgramCannotUseTheExchange) {
  // A fork() of the program's own, not through pprocess: the exchange must
  // still see that it is in another process.
  Collect x({.limit = 1});
  x.start(send_square, 2);
  test_support::forked_process child([&x]() -> int {
    try {
      x.start(send_square, 3);
      return 1;
    } catch (const pprocess::Error&) {
      return 0;
    }
  });
  const int status = child.wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  x.finish();
  EXPECT_EQ(x.values, (std::vector<int>{4}));
}

TEST(ExchangeTest, ExchangeIsMovable) {
  Collect a({.limit = 2});
  a.start(send_square, 3);
  a.start(send_square, 4);
  Collect b(std::move(a));
  b.finish();
  EXPECT_EQ(sorted(b.values), (std::vector<int>{9, 16}));
}

TEST(ExchangeTest, NoDescriptorOrZombieLeftAfterFinish) {
  test_support::expect_no_descriptor_or_zombie_left([] {
    Collect x({.limit = 2});
    start_squares(x, 5);
    x.start([](pprocess::Channel&) { die_by(SIGKILL); });
    (void)finish_collecting(x);
    EXPECT_EQ(x.values.size(), 5U);
    EXPECT_FALSE(test_support::has_unreaped_children());
  });
}

TEST(ExchangeTest, DestroyingAnExchangeEndsItsRunningProcesses) {
  // Three started, two running: the third waits, never started.
  test_support::expect_destroying_ends_running<Collect>({.limit = 2}, 3, 2);
}

TEST(ExchangeTest, DestroyingAnExchangeKillsAProcessThatIgnoresSigterm) {
  pid_t pid = 0;
  const auto t0 = std::chrono::steady_clock::now();
  {
    pprocess::Exchange x({.limit = 1, .continuous = true});
    x.start([](pprocess::Channel& ch) {
      (void)::signal(SIGTERM, SIG_IGN);
      ch.send(1);
      sleep_ms(30000);
    });
    pprocess::Channel* ch = x.active().at(0);
    pid = ch->pid();
    ASSERT_EQ(ch->receive<int>(), 1);  // SIGTERM is ignored from now on
  }
  EXPECT_LT(elapsed_ms(t0), 5000.0);
  EXPECT_FALSE(test_support::process_exists(pid));
  EXPECT_FALSE(test_support::has_unreaped_children());
}
