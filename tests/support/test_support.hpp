// SPDX-License-Identifier: MIT
#pragma once

// Helpers shared by the tests: counting descriptors, watching processes,
// raw forks with a guaranteed end, captured output, temporary directories,
// a safe body for processes made by pprocess::create(), time, bodies for
// created processes, exchanges that keep what they receive, the errors they
// throw, and checks made of gtest assertions. Header-only; everything here
// is for tests, never for the library.
//
// Raw fork() is for tests that need a process outside pprocess (a creator
// that dies, a program whose stdout is captured). Such a process always ends
// with _exit, and a `forked_process` that is still running when its handle
// goes away is SIGKILLed and reaped: a failing test never leaves one behind.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <time.h>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/channel.hpp>
#include <pprocess/error.hpp>
#include <pprocess/exchange.hpp>

namespace test_support {

using namespace std::chrono_literals;

/// The descriptors this process has open, in increasing order (the one used
/// to list /proc/self/fd is left out).
inline std::vector<int> open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) {
    throw std::system_error(errno, std::system_category(),
                            "opendir /proc/self/fd");
  }
  std::vector<int> fds;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') {
      const int fd = std::atoi(entry->d_name);
      if (fd != ::dirfd(dir)) {
        fds.push_back(fd);
      }
    }
  }
  ::closedir(dir);
  std::sort(fds.begin(), fds.end());
  return fds;
}

/// The number of descriptors this process has open.
inline int open_fd_count() {
  return static_cast<int>(open_fds().size());
}

/// The state letter of /proc/<pid>/stat ('R', 'S', 'Z', ...), or nothing
/// when there is no such process.
inline std::optional<char> process_state(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!stat || !std::getline(stat, line)) {
    return std::nullopt;
  }
  // "pid (comm) S ...": comm may contain spaces and parentheses.
  const auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) {
    return std::nullopt;
  }
  return line[close + 2];
}

/// Whether `pid` names a process, zombies included (kill(pid, 0) succeeds
/// or is refused for lack of permission).
inline bool process_exists(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

/// Whether `pid` has ended: it is gone, or it is a zombie nobody reaped yet
/// (an orphan waiting for init or a subreaper).
inline bool process_ended(pid_t pid) {
  const std::optional<char> state = process_state(pid);
  return !state || *state == 'Z' || *state == 'X';
}

/// Polls `condition` until it holds or `timeout` passed; its last value.
inline bool wait_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return condition();
    }
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

/// Whether this process has a child it has not reaped, running or zombie.
/// Does not reap anything (WNOWAIT).
inline bool has_unreaped_children() {
  siginfo_t info{};
  int result = 0;
  do {
    result = ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT | __WALL);
  } while (result < 0 && errno == EINTR);
  if (result < 0 && errno != ECHILD) {
    throw std::system_error(errno, std::system_category(), "waitid");
  }
  return result == 0;
}

/// Writes all of `size` bytes; false on error.
inline bool write_all(int fd, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, bytes, size);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

/// Waits until `fd` has something to read (data, end-of-file or an error):
/// true, or false once `deadline` passed.
inline bool wait_readable(int fd,
                          std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) > 0) {
      return true;
    }
  }
}

/// Reads until end-of-file or until `timeout` passed (then throws).
inline std::string read_all(int fd, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string text;
  char buffer[4096];
  for (;;) {
    if (!wait_readable(fd, deadline)) {
      throw std::runtime_error("read_all: timed out");
    }
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      throw std::system_error(errno, std::system_category(), "read");
    }
    if (n == 0) {
      return text;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
}

/// Writes a trivially-copyable value as its bytes.
template <class T>
  requires std::is_trivially_copyable_v<T>
bool write_value(int fd, const T& value) {
  return write_all(fd, &value, sizeof value);
}

/// Reads exactly `size` bytes into `data`; false on end-of-file, error or
/// timeout.
inline bool read_exactly(int fd, void* data, std::size_t size,
                         std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto* bytes = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < size) {
    if (!wait_readable(fd, deadline)) {
      return false;
    }
    const ssize_t n = ::read(fd, bytes + done, size - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

/// Reads a value written by write_value(), or nothing on end-of-file, error
/// or timeout.
template <class T>
  requires std::is_trivially_copyable_v<T> std::optional<T> read_value(
      int fd, std::chrono::milliseconds timeout = 20s) {
    T value{};
    if (!read_exactly(fd, &value, sizeof value, timeout)) {
      return std::nullopt;
    }
    return value;
  }

/// A pipe whose ends close with it (both close-on-exec).
class unique_pipe {
 public:
  unique_pipe() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::system_category(), "pipe2");
    }
  }
  unique_pipe(const unique_pipe&) = delete;
  unique_pipe& operator=(const unique_pipe&) = delete;
  ~unique_pipe() {
    close_read();
    close_write();
  }

  [[nodiscard]] int read_end() const noexcept { return fds_[0]; }
  [[nodiscard]] int write_end() const noexcept { return fds_[1]; }
  void close_read() noexcept { close_end(0); }
  void close_write() noexcept { close_end(1); }

 private:
  void close_end(int i) noexcept {
    if (fds_[i] >= 0) {
      ::close(fds_[i]);
      fds_[i] = -1;
    }
  }
  int fds_[2] = {-1, -1};
};

/// Flushes stdio and the standard C++ streams: call before a raw fork() so
/// that nothing buffered is written twice.
inline void flush_all_streams() {
  std::cout.flush();
  std::cerr.flush();
  std::clog.flush();
  std::fflush(nullptr);
}

/// A process made by a raw fork() that runs `body` and `_exit`s with what
/// it returns (125 if it throws). Ended with SIGKILL and reaped when the
/// handle goes away, if nobody waited for it before.
class forked_process {
 public:
  explicit forked_process(const std::function<int()>& body) {
    flush_all_streams();
    pid_ = ::fork();
    if (pid_ < 0) {
      throw std::system_error(errno, std::system_category(), "fork");
    }
    if (pid_ == 0) {
      int status = 125;
      try {
        status = body();
      } catch (...) {
        status = 125;
      }
      ::_exit(status);
    }
  }
  forked_process(const forked_process&) = delete;
  forked_process& operator=(const forked_process&) = delete;
  ~forked_process() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      (void)wait();
    }
  }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  /// Waits for the end; the waitpid() status word.
  int wait() {
    if (!status_) {
      int status = 0;
      pid_t result = 0;
      do {
        result = ::waitpid(pid_, &status, 0);
      } while (result < 0 && errno == EINTR);
      status_ = result == pid_ ? status : -1;
    }
    return *status_;
  }

  /// Waits up to `timeout`; the status word, or nothing if it still runs.
  std::optional<int> wait_for(std::chrono::milliseconds timeout) {
    wait_until(
        [this] {
          if (status_) {
            return true;
          }
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            status_ = status;
          }
          return status_.has_value();
        },
        timeout);
    return status_;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// What a program run by capture_output_of() wrote, and how it ended.
struct captured {
  std::string output;  // everything written to its stdout
  int status = -1;     // waitpid() status word
};

/// Runs `body` in a raw-forked process whose stdout is a pipe, then flushes
/// the streams and `_exit(0)`s (125 if `body` throws); `body` may also end
/// the process itself (e.g. with std::exit). Returns once every writer of
/// the pipe closed it (processes `body` created included), or throws after
/// `timeout`.
inline captured capture_output_of(const std::function<void()>& body,
                                  std::chrono::milliseconds timeout = 20s) {
  unique_pipe pipe;
  forked_process process([&]() -> int {
    pipe.close_read();
    if (::dup2(pipe.write_end(), STDOUT_FILENO) < 0) {
      return 124;
    }
    pipe.close_write();
    body();
    flush_all_streams();
    return 0;
  });
  pipe.close_write();
  captured result;
  result.output = read_all(pipe.read_end(), timeout);
  result.status = process.wait();
  return result;
}

/// Runs `body` as the rest of the life of a process made by
/// pprocess::create(), then leaves through pprocess::exit(channel, 0). An
/// exception escaping `body` ends the process with status 99 instead of
/// letting it run on into the rest of the test program.
template <class Body>
[[noreturn]] void run_created_and_exit(pprocess::Channel& channel,
                                       Body&& body) noexcept {
  try {
    std::forward<Body>(body)();
  } catch (...) {
    pprocess::exit(channel, 99);
  }
  pprocess::exit(channel, 0);
}

/// A fresh directory (mkdtemp) removed with everything in it when the
/// object goes away.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "pprocess-test-XXXXXX")
            .string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::system_category(), "mkdtemp");
    }
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  [[nodiscard]] const std::filesystem::path& path() const noexcept {
    return path_;
  }
  /// `name` inside the directory.
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const {
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

// --- time ----------------------------------------------------------------

/// A stretch of CLOCK_MONOTONIC time, [start, end) in ns: when a created
/// process did something, as it reports it.
using interval = std::array<std::int64_t, 2>;

/// CLOCK_MONOTONIC now, in ns: one clock for every process of the machine.
inline std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

/// Sleeps `ms` milliseconds.
inline void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

/// The milliseconds passed since `since`.
inline double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - since)
      .count();
}

/// Sleeps `ms` milliseconds; the interval it slept.
inline interval sleep_interval(int ms) {
  const std::int64_t start = now_ns();
  sleep_ms(ms);
  return {start, now_ns()};
}

/// The largest number of intervals that cover one instant.
inline std::size_t max_overlap(const std::vector<interval>& intervals) {
  std::vector<std::pair<std::int64_t, int>> events;
  for (const auto& [start, end] : intervals) {
    events.emplace_back(start, +1);
    events.emplace_back(end, -1);
  }
  // At equal times an end comes before a start: touching is not overlapping.
  std::sort(events.begin(), events.end());
  std::size_t current = 0;
  std::size_t most = 0;
  for (const auto& [time, delta] : events) {
    current = delta > 0 ? current + 1 : current - 1;
    most = std::max(most, current);
  }
  return most;
}

// --- bodies for created processes ----------------------------------------

/// Ends the calling (created) process by `sig`, without a core file.
[[noreturn]] inline void die_by(int sig) {
  const rlimit no_core{0, 0};
  (void)::setrlimit(RLIMIT_CORE, &no_core);
  (void)::signal(sig, SIG_DFL);
  (void)::raise(sig);
  ::_exit(99);
}

/// std::abort() in a created process, without a core file.
[[noreturn]] inline void abort_without_core() {
  const rlimit no_core{0, 0};
  (void)::setrlimit(RLIMIT_CORE, &no_core);
  std::abort();
}

/// Sends i * i.
inline void send_square(pprocess::Channel& ch, int i) {
  ch.send(i * i);
}

/// Sleeps `ms` milliseconds, then sends `value`.
inline void sleep_then_send(pprocess::Channel& ch, int ms, int value) {
  sleep_ms(ms);
  ch.send(value);
}

/// Starts `count` tasks on `owner` (a Map<int>, an exchange of ints): task
/// `i` sends i * i, except for `failing`, which throws
/// std::out_of_range("bad <i>").
template <class Owner>
void start_squares(Owner& owner, int count, int failing = -1) {
  for (int i = 0; i < count; ++i) {
    owner.start(
        [](pprocess::Channel& ch, int n, int bad) {
          if (n == bad) {
            throw std::out_of_range("bad " + std::to_string(n));
          }
          ch.send(n * n);
        },
        i, failing);
  }
}

// --- exchanges, maps, queues and their errors ----------------------------

/// An exchange (a pprocess::Exchange unless `Base` says otherwise) that
/// stores every value it receives, as a `T`, in arrival order.
template <class T, class Base = pprocess::Exchange>
class collector : public Base {
 public:
  using Base::Base;
  std::vector<T> values;
  void store_data(pprocess::Channel& channel) override {
    values.push_back(channel.receive<T>());
  }
};

/// Everything a range-for over `range` (a queue, a map) yields, in order.
template <class Range>
auto drain(Range& range) {
  std::vector<std::remove_cvref_t<decltype(*range.begin())>> values;
  for (const auto& value : range) {
    values.push_back(value);
  }
  return values;
}

/// The `E` that `call()` throws, or nothing when it returns. Any other
/// exception goes through (and fails the test).
template <class E, class Call>
std::optional<E> thrown(Call&& call) {
  try {
    std::forward<Call>(call)();
  } catch (const E& error) {
    return error;
  }
  return std::nullopt;
}

/// What a range-for over `range` yields before it throws an `E`, and that
/// `E` (nothing when the loop ends without throwing).
template <class E, class Range>
auto drain_until_error(Range& range) {
  std::vector<std::remove_cvref_t<decltype(*range.begin())>> values;
  std::optional<E> error = thrown<E>([&] {
    for (const auto& value : range) {
      values.push_back(value);
    }
  });
  return std::pair{std::move(values), std::move(error)};
}

/// The pids of the processes `owner` (an exchange, a map, a queue) runs.
template <class Owner>
std::vector<pid_t> active_pids(Owner& owner) {
  std::vector<pid_t> pids;
  for (const pprocess::Channel* ch : owner.active()) {
    pids.push_back(ch->pid());
  }
  return pids;
}

// --- checks (gtest assertions) -------------------------------------------

/// Checks that `call()` throws the RemoteError of an exception of type
/// `type_name` whose message was `what`.
template <class Call>
void expect_remote_error(Call&& call, const std::string& type_name,
                         const std::string& what) {
  const auto error = thrown<pprocess::RemoteError>(std::forward<Call>(call));
  ASSERT_TRUE(error) << "no RemoteError: the call returned";
  EXPECT_EQ(error->type_name(), type_name);
  EXPECT_STREQ(error->what(), what.c_str());
}

/// Checks that receive<int>() on `channel` throws the ProcessError of its
/// process having exited with `status`: that status, no signal, its pid.
inline void expect_receive_reports_exit(pprocess::Channel& channel,
                                        int status) {
  const auto error =
      thrown<pprocess::ProcessError>([&] { (void)channel.receive<int>(); });
  ASSERT_TRUE(error)
      << "receive<int>() returned from a process that sent nothing";
  EXPECT_EQ(error->exit_status(), status);
  EXPECT_EQ(error->signal(), 0);
  EXPECT_EQ(error->pid(), channel.pid());
}

/// Checks that receive<int>() on `channel` throws the ProcessError of its
/// process having been ended by signal `sig`: that signal, no exit status,
/// its pid.
inline void expect_receive_reports_signal(pprocess::Channel& channel, int sig) {
  const auto error =
      thrown<pprocess::ProcessError>([&] { (void)channel.receive<int>(); });
  ASSERT_TRUE(error) << "receive<int>() returned from a process killed by "
                     << sig;
  EXPECT_EQ(error->signal(), sig);
  EXPECT_EQ(error->exit_status(), -1);
  EXPECT_EQ(error->pid(), channel.pid());
}

/// Runs `body` and checks that it closed every descriptor it opened and
/// left no zombie.
template <class Body>
void expect_no_descriptor_or_zombie_left(Body&& body) {
  const int fds = open_fd_count();
  std::forward<Body>(body)();
  EXPECT_EQ(open_fd_count(), fds);
  EXPECT_FALSE(has_unreaped_children());
}

/// Makes an `Owner` of processes (an exchange, a map, a queue of ints) with
/// `options`, starts `started` tasks on it that would sleep 30 s (longer
/// than any test) before they send, and destroys it. Checks that `running`
/// of them ran (the others waited for the limit), and that destroying the
/// owner ended those at once (within 5 s), closed every descriptor it
/// opened and left no zombie.
template <class Owner>
void expect_destroying_ends_running(const pprocess::Options& options,
                                    int started, std::size_t running) {
  expect_no_descriptor_or_zombie_left([&] {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<pid_t> pids;
    {
      Owner owner(options);
      for (int i = 0; i < started; ++i) {
        owner.start(sleep_then_send, 30000, i);
      }
      pids = active_pids(owner);
    }
    EXPECT_LT(elapsed_ms(t0), 5000.0);
    ASSERT_EQ(pids.size(), running);
    for (const pid_t pid : pids) {
      EXPECT_FALSE(process_exists(pid)) << pid;
    }
  });
}

}  // namespace test_support
