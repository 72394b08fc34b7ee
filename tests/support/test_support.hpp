// SPDX-License-Identifier: MIT
#pragma once

// Helpers shared by the tests: counting descriptors, watching processes,
// raw forks with a guaranteed end, captured output, temporary directories,
// and a safe body for processes made by pprocess::create(). Header-only;
// everything here is for tests, never for the library.
//
// Raw fork() is for tests that need a process outside pprocess (a creator
// that dies, a program whose stdout is captured). Such a process always ends
// with _exit, and a `forked_process` that is still running when its handle
// goes away is SIGKILLed and reaped: a failing test never leaves one behind.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
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
#include <type_traits>
#include <utility>
#include <vector>

#include <pprocess/channel.hpp>

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

/// Reads until end-of-file or until `timeout` passed (then throws).
inline std::string read_all(int fd, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string text;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      throw std::runtime_error("read_all: timed out");
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      continue;  // the deadline check above ends the loop
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

/// Reads a value written by write_value(), or nothing on end-of-file, error
/// or timeout.
template <class T>
  requires std::is_trivially_copyable_v<T> std::optional<T> read_value(
      int fd, std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    T value{};
    auto* bytes = reinterpret_cast<char*>(&value);
    std::size_t done = 0;
    while (done < sizeof value) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return std::nullopt;
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        continue;
      }
      const ssize_t n = ::read(fd, bytes + done, sizeof value - done);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return std::nullopt;
      }
      done += static_cast<std::size_t>(n);
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

}  // namespace test_support
