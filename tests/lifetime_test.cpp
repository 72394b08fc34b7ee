// SPDX-License-Identifier: MIT
// Lifetimes: descriptors, zombies, processes ended by a dying exchange or a
// dying creator, output printed once, atexit handlers and static destructors
// left alone, close-on-exec, and SIGPIPE.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using test_support::has_unreaped_children;
using test_support::open_fd_count;

/// An exchange that keeps every int it receives.
using Collect = test_support::collector<int>;

/// Whether `pid` is gone for good: kill() says there is no such process.
bool no_such_process(pid_t pid) {
  errno = 0;
  return ::kill(pid, 0) == -1 && errno == ESRCH;
}

/// The body of a created process that sends its pid, then sleeps 30 s.
void send_pid_then_sleep(pprocess::Channel& channel) {
  channel.send(static_cast<int>(::getpid()));
  ::sleep(30);
}

/// The first `count` values of `queue`, in arrival order.
std::vector<pid_t> first_values(pprocess::Queue<int>& queue,
                                std::size_t count) {
  std::vector<pid_t> values;
  for (auto it = queue.begin(); values.size() < count && it != queue.end();
       ++it) {
    values.push_back(*it);
  }
  return values;
}

/// Checks that a program run by capture_output_of() exited with status 0
/// after writing exactly `text`.
void expect_exit_zero_after_writing(const test_support::captured& result,
                                    const std::string& text) {
  ASSERT_TRUE(WIFEXITED(result.status));
  EXPECT_EQ(WEXITSTATUS(result.status), 0);
  EXPECT_EQ(result.output, text);
}

// --- descriptors
// ---------------------------------------------------------------

TEST(LifetimeTest, StartAndReceiveLeaveNoDescriptorOpen) {
  const int before = open_fd_count();
  {
    auto ch = pprocess::start([](pprocess::Channel& c) { c.send(1); });
    EXPECT_EQ(ch.receive<int>(), 1);
  }
  EXPECT_EQ(open_fd_count(), before);
}

// More processes at once than the fork page has room for (src/fork_page.hpp):
// the process table and the descriptor list go on growing on the heap.
TEST(LifetimeTest, ManyProcessesAtOnceAreAllServedReapedAndClosed) {
  test_support::expect_no_descriptor_or_zombie_left([] {
    constexpr int count = 150;
    std::vector<pprocess::Channel> channels;
    for (int i = 0; i < count; ++i) {
      channels.push_back(pprocess::start(
          [](pprocess::Channel& c, int n) {
            (void)c.receive<int>();  // all alive until the creator says
            c.send(n * 2);
          },
          i));
    }
    for (auto& channel : channels) {
      channel.send(0);
    }
    for (int i = 0; i < count; ++i) {
      EXPECT_EQ(channels[static_cast<std::size_t>(i)].receive<int>(), i * 2);
    }
    channels.clear();
    pprocess::waitall();
  });
}

TEST(LifetimeTest, FailedReceiveLeavesNoDescriptorOpen) {
  const int before = open_fd_count();
  {
    auto ch = pprocess::start([](pprocess::Channel& /*c*/) { ::_exit(3); });
    EXPECT_THROW((void)ch.receive<int>(), pprocess::ProcessError);
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(LifetimeTest, UsedMapLeavesNoDescriptorOpen) {
  const int before = open_fd_count();
  {
    pprocess::Map<int> squares({.limit = 2});
    squares([](int x) { return x * x; }, std::vector<int>{1, 2, 3, 4, 5});
    EXPECT_EQ(squares.slice(0, 5), (std::vector<int>{1, 4, 9, 16, 25}));
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(LifetimeTest, UsedExchangeLeavesNoDescriptorOpen) {
  const int before = open_fd_count();
  {
    Collect exchange({.limit = 2});
    for (int i = 0; i < 5; ++i) {
      exchange.start([](pprocess::Channel& c, int n) { c.send(n); }, i);
    }
    exchange.finish();
    std::sort(exchange.values.begin(), exchange.values.end());
    EXPECT_EQ(exchange.values, (std::vector<int>{0, 1, 2, 3, 4}));
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(LifetimeTest, ExchangeDestroyedWhileRunningLeavesNoDescriptorOpen) {
  const int before = open_fd_count();
  {
    pprocess::Queue<int> queue({.limit = 2, .continuous = true});
    queue.start(send_pid_then_sleep);
    queue.start(send_pid_then_sleep);
    ASSERT_EQ(first_values(queue, 2).size(), 2U);
  }
  EXPECT_EQ(open_fd_count(), before);
}

// --- zombies
// -------------------------------------------------------------------

TEST(LifetimeTest, FinishedMapLeavesNoZombie) {
  {
    pprocess::Map<int> squares({.limit = 2});
    squares([](int x) { return x * x; }, std::vector<int>{1, 2, 3, 4});
    EXPECT_EQ(squares[3], 16);
  }
  EXPECT_FALSE(has_unreaped_children());
}

TEST(LifetimeTest, FinishedExchangeLeavesNoZombie) {
  {
    Collect exchange({.limit = 3});
    for (int i = 0; i < 6; ++i) {
      exchange.start([](pprocess::Channel& c, int n) { c.send(n); }, i);
    }
    exchange.finish();
    EXPECT_EQ(exchange.values.size(), 6U);
  }
  EXPECT_FALSE(has_unreaped_children());
}

TEST(LifetimeTest, MapDestroyedWithWorkStillWaitingLeavesNoZombie) {
  const auto started = clock_type::now();
  {
    pprocess::Map<int> slow({.limit = 1});
    slow(
        [](int x) {
          ::sleep(30);
          return x;
        },
        std::vector<int>{1, 2, 3});
  }
  EXPECT_LT(clock_type::now() - started, 3s);
  EXPECT_FALSE(has_unreaped_children());
}

// --- ending what an exchange still runs
// ------------------------------------------

TEST(LifetimeTest, DestroyingQueueEndsSleepingProcessesQuickly) {
  auto queue = std::make_unique<pprocess::Queue<int>>(
      pprocess::Options{.limit = 2, .continuous = true});
  queue->start(send_pid_then_sleep);
  queue->start(send_pid_then_sleep);
  std::vector<pid_t> pids = first_values(*queue, 2);
  ASSERT_EQ(pids.size(), 2U);

  std::vector<pid_t> active;
  for (const pprocess::Channel* ch : queue->active()) {
    active.push_back(ch->pid());
  }
  std::sort(pids.begin(), pids.end());
  std::sort(active.begin(), active.end());
  EXPECT_EQ(active, pids);

  const auto started = clock_type::now();
  queue.reset();
  EXPECT_LT(clock_type::now() - started, 3s);
  for (const pid_t pid : pids) {
    EXPECT_TRUE(no_such_process(pid)) << "process " << pid << " survived";
  }
  EXPECT_FALSE(has_unreaped_children());
}

TEST(LifetimeTest, ProcessIgnoringSigtermIsKilled) {
  auto queue = std::make_unique<pprocess::Queue<int>>(
      pprocess::Options{.limit = 1, .continuous = true});
  queue->start([](pprocess::Channel& c) {
    (void)::signal(SIGTERM, SIG_IGN);
    c.send(static_cast<int>(::getpid()));  // SIGTERM is ignored from now on
    for (;;) {
      ::pause();
    }
  });
  const std::vector<pid_t> pids = first_values(*queue, 1);
  ASSERT_EQ(pids.size(), 1U);

  const auto started = clock_type::now();
  queue.reset();
  EXPECT_LT(clock_type::now() - started, 5s);
  EXPECT_TRUE(no_such_process(pids[0]));
  EXPECT_FALSE(has_unreaped_children());
}

TEST(LifetimeTest, DestroyingExchangeEndsAddedChannelsProcesses) {
  auto exchange = std::make_unique<Collect>(pprocess::Options{.limit = 2});
  exchange->add(pprocess::start(send_pid_then_sleep));
  pprocess::Channel* ch = exchange->active().at(0);
  const pid_t pid = ch->pid();
  ASSERT_EQ(ch->receive<int>(), pid);

  const auto started = clock_type::now();
  exchange.reset();
  EXPECT_LT(clock_type::now() - started, 3s);
  EXPECT_TRUE(no_such_process(pid));
  EXPECT_FALSE(has_unreaped_children());
}

// --- ending with the creator
// -------------------------------------------------------

TEST(LifetimeTest, CreatedProcessDiesWithItsCreator) {
  test_support::unique_pipe report;
  test_support::forked_process creator([&]() -> int {
    report.close_read();
    auto ch = pprocess::start(send_pid_then_sleep);
    const int grandchild = ch.receive<int>();
    if (!test_support::write_value(report.write_end(), grandchild)) {
      return 2;
    }
    for (;;) {
      ::pause();
    }
  });
  report.close_write();
  const std::optional<int> grandchild =
      test_support::read_value<int>(report.read_end(), 20s);
  ASSERT_TRUE(grandchild.has_value());
  // Whatever happens below, the grandchild does not outlive the test.
  const std::unique_ptr<const int, void (*)(const int*)> guard(
      &*grandchild, [](const int* pid) {
        if (!test_support::process_ended(*pid)) {
          ::kill(*pid, SIGKILL);
        }
      });
  ASSERT_FALSE(test_support::process_ended(*grandchild));

  ASSERT_EQ(::kill(creator.pid(), SIGKILL), 0);
  (void)creator.wait();
  EXPECT_TRUE(test_support::wait_until(
      [&] { return test_support::process_ended(*grandchild); }, 2s))
      << "process " << *grandchild << " outlived its creator";
}

// --- output, atexit, static destructors
// -----------------------------------------

TEST(LifetimeTest, TextPrintedBeforeStartIsPrintedOnce) {
  const auto result = test_support::capture_output_of([] {
    std::printf("printf-before ");
    std::cout << "cout-before ";
    auto ch = pprocess::start([](pprocess::Channel& c) { c.send(1); });
    (void)ch.receive<int>();
  });
  expect_exit_zero_after_writing(result, "printf-before cout-before ");
}

TEST(LifetimeTest, TextPrintedBeforeCreateIsPrintedOnce) {
  const auto result = test_support::capture_output_of([] {
    std::printf("printf-before ");
    std::cout << "cout-before ";
    auto ch = pprocess::create();
    if (ch.pid() == 0) {
      pprocess::exit(ch);
    }
    pprocess::waitall();
  });
  expect_exit_zero_after_writing(result, "printf-before cout-before ");
}

TEST(LifetimeTest, UnsynchronizedCoutIsFlushedBeforeStartAndAtExit) {
  // Without stdio synchronization std::cout has a buffer of its own, which
  // fflush() does not reach.
  const auto result = test_support::capture_output_of([] {
    std::ios_base::sync_with_stdio(false);
    std::cout << "before ";
    auto ch = pprocess::start([](pprocess::Channel& c) {
      std::cout << "in-child ";
      c.send(1);
    });
    (void)ch.receive<int>();
    pprocess::waitall();
    std::cout << "after";
  });
  expect_exit_zero_after_writing(result, "before in-child after");
}

TEST(LifetimeTest, ExitFlushesOutputOfCreatedProcess) {
  const auto result = test_support::capture_output_of([] {
    auto ch = pprocess::create();
    if (ch.pid() == 0) {
      std::printf("printf-in-child ");
      std::cout << "cout-in-child";
      pprocess::exit(ch);
    }
    pprocess::waitall();
  });
  expect_exit_zero_after_writing(result, "printf-in-child cout-in-child");
}

// The channel closes with the process (_exit), after its output is flushed:
// a creator that sees the end has the output too. Here the flush has to
// wait for the creator to read the pipe, and the channel stays open until
// it has.
TEST(LifetimeTest, ChannelEndsOnlyAfterTheOutputIsFlushed) {
  test_support::unique_pipe output;
  constexpr std::size_t size = 256 * 1024;  // more than a pipe holds
  auto ch = pprocess::start([&output](pprocess::Channel& c) {
    output.close_read();
    FILE* out = ::fdopen(output.write_end(), "w");
    static std::vector<char> buffer(2 * size);
    (void)std::setvbuf(out, buffer.data(), _IOFBF, buffer.size());
    const std::string text(size, 'x');
    (void)std::fputs(text.c_str(), out);  // buffered: no write yet
    c.send(1);
  });
  output.close_write();
  EXPECT_EQ(ch.receive<int>(), 1);
  // The process is blocked flushing into the full pipe: no end yet.
  pollfd end{ch.fileno(), POLLIN, 0};
  EXPECT_EQ(::poll(&end, 1, 300), 0) << "the channel ended before the flush";
  std::string got;
  char chunk[65536];
  ssize_t n = 0;
  while ((n = ::read(output.read_end(), chunk, sizeof chunk)) > 0) {
    got.append(chunk, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(got.size(), size);
  EXPECT_EQ(::poll(&end, 1, 5000), 1);
}

TEST(LifetimeTest, AtexitHandlerOfCreatorDoesNotRunInCreatedProcess) {
  // The creator ends with std::exit, so its handler runs once: a created
  // process that ran it too would print the marker twice.
  const auto result = test_support::capture_output_of([] {
    std::atexit(
        [] { (void)test_support::write_all(STDOUT_FILENO, "atexit\n", 7); });
    auto ch = pprocess::start([](pprocess::Channel& c) { c.send(1); });
    (void)ch.receive<int>();
    pprocess::waitall();
    std::exit(0);
  });
  expect_exit_zero_after_writing(result, "atexit\n");
}

TEST(LifetimeTest, StaticDestructorOfCreatorDoesNotRunInCreatedProcess) {
  struct announcer {
    announcer() = default;
    announcer(const announcer&) = delete;
    announcer& operator=(const announcer&) = delete;
    ~announcer() { (void)test_support::write_all(STDOUT_FILENO, "dtor\n", 5); }
  };
  const auto result = test_support::capture_output_of([] {
    static const announcer instance;
    auto ch = pprocess::create();
    if (ch.pid() == 0) {
      pprocess::exit(ch);
    }
    pprocess::waitall();
    std::exit(0);
  });
  expect_exit_zero_after_writing(result, "dtor\n");
}

// --- close-on-exec
// -------------------------------------------------------------

TEST(LifetimeTest, ChannelDescriptorOfCreatorIsCloseOnExec) {
  auto ch = pprocess::start([](pprocess::Channel& c) { c.send(1); });
  const int flags = ::fcntl(ch.fileno(), F_GETFD);
  ASSERT_NE(flags, -1);
  EXPECT_NE(flags & FD_CLOEXEC, 0);
  EXPECT_EQ(ch.receive<int>(), 1);
}

TEST(LifetimeTest, ChannelDescriptorOfCreatedProcessIsCloseOnExec) {
  auto ch = pprocess::start(
      [](pprocess::Channel& c) { c.send(::fcntl(c.fileno(), F_GETFD)); });
  const int flags = ch.receive<int>();
  ASSERT_NE(flags, -1);
  EXPECT_NE(flags & FD_CLOEXEC, 0);
}

TEST(LifetimeTest, EveryDescriptorStartOpensIsCloseOnExec) {
  const std::vector<int> before = test_support::open_fds();
  auto ch = pprocess::start([](pprocess::Channel& c) { c.send(1); });
  const std::vector<int> after = test_support::open_fds();
  std::vector<int> opened;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(opened));
  EXPECT_FALSE(opened.empty());
  for (const int fd : opened) {
    const int flags = ::fcntl(fd, F_GETFD);
    EXPECT_NE(flags, -1) << "descriptor " << fd;
    EXPECT_NE(flags & FD_CLOEXEC, 0) << "descriptor " << fd;
  }
  EXPECT_EQ(ch.receive<int>(), 1);
}

// --- SIGPIPE
// -------------------------------------------------------------------

TEST(LifetimeTest, CreatedProcessWritingToClosedChannelGetsChannelError) {
  struct sigaction current {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &current), 0);
  ASSERT_EQ(current.sa_handler, SIG_DFL) << "SIGPIPE would not kill";

  // Exit status 7: the send threw ChannelError; 9: it did not throw;
  // 8: the creator's end never closed. A SIGPIPE death is a signal.
  auto ch = pprocess::start([](pprocess::Channel& c) {
    pollfd hangup{c.fileno(), POLLIN, 0};
    if (::poll(&hangup, 1, 10000) != 1) {
      ::_exit(8);
    }
    try {
      c.send(42);
    } catch (const pprocess::ChannelError&) {
      pprocess::exit(c, 7);
    }
    ::_exit(9);
  });
  const pid_t pid = ch.pid();
  ch.close();

  siginfo_t info{};
  int result = 0;
  do {
    result = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT);
  } while (result < 0 && errno == EINTR);
  ASSERT_EQ(result, 0);
  ASSERT_EQ(info.si_code, CLD_EXITED)
      << "the created process died of signal " << info.si_status;
  EXPECT_EQ(info.si_status, 7);
}

}  // namespace
