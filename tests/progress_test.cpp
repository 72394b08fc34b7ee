// SPDX-License-Identifier: MIT
//
// Options::progress: a bar redrawn in place on a terminal (at most 10 times
// a second, fitted to its width, wiped on Ctrl-C, out of the way of what
// the program prints to the same terminal), plain lines elsewhere, nothing
// where stderr is closed.
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <pty.h>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using test_support::forked_process;
using test_support::sleep_ms;

constexpr const char* wipe = "\r\033[K";

int slow_square(int x) {
  sleep_ms(25);
  return x * x;
}

/// 40 elements of 25 ms over 2 processes: about half a second.
long sum_of_slow_squares() {
  std::vector<int> input(40);
  for (int i = 0; i < 40; ++i) {
    input[static_cast<std::size_t>(i)] = i;
  }
  long sum = 0;
  for (int value :
       pprocess::pmap(slow_square, input, {.limit = 2, .progress = true})) {
    sum += value;
  }
  return sum;
}
constexpr long expected_sum = 40 * 39 * 79 / 6;  // sum of i*i, i < 40

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos;
       at = text.find(part, at + part.size())) {
    ++n;
  }
  return n;
}

/// A pseudo-terminal: the child's side as a descriptor, ours to read.
struct pty {
  int master = -1;
  int slave = -1;
  explicit pty(unsigned short columns) {
    winsize size{};
    size.ws_row = 24;
    size.ws_col = columns;
    if (::openpty(&master, &slave, nullptr, nullptr, &size) != 0) {
      throw std::runtime_error("openpty");
    }
  }
  ~pty() {
    ::close(master);
    if (slave >= 0) {
      ::close(slave);
    }
  }
  /// Everything written until the last writer closed (EIO on a pty).
  std::string read_all() {
    ::close(slave);
    slave = -1;
    std::string text;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(master, buffer, sizeof buffer);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) {
          continue;
        }
        return text;
      }
      text.append(buffer, static_cast<std::size_t>(n));
    }
  }
};

/// The lines a terminal would show for `text`: '\r' goes back to the
/// line's start, ESC[K erases to its end, '\n' ends it (a pty turns it into
/// "\r\n").
std::vector<std::string> screen_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::size_t column = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r') {
      column = 0;
    } else if (c == '\n') {
      lines.push_back(line);
      line.clear();
      column = 0;
    } else if (c == '\033' && text.compare(i, 3, "\033[K") == 0) {
      line.resize(std::min(line.size(), column));
      i += 2;
    } else {
      if (column < line.size()) {
        line[column] = c;
      } else {
        line.push_back(c);
      }
      ++column;
    }
  }
  if (!line.empty()) {
    lines.push_back(line);
  }
  return lines;
}

TEST(Progress, PlainLinesWhenStderrIsNotATerminal) {
  test_support::unique_pipe err;
  forked_process child([&] {
    err.close_read();
    ::dup2(err.write_end(), STDERR_FILENO);
    err.close_write();
    return sum_of_slow_squares() == expected_sum ? 0 : 1;
  });
  err.close_write();
  const std::string text = test_support::read_all(err.read_end());
  const int status = child.wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  EXPECT_EQ(text.find('\033'), std::string::npos) << text;
  // Under a second of work: no line every few seconds, the final line only.
  EXPECT_EQ(text.rfind("pprocess: 40/40 (100%)", 0), 0U) << text;
  EXPECT_EQ(occurrences(text, "\n"), 1U) << text;
}

TEST(Progress, ABarRedrawnInPlaceOnATerminalAtMostTenTimesASecond) {
  pty terminal(60);
  const auto start = std::chrono::steady_clock::now();
  forked_process child([&] {
    ::dup2(terminal.slave, STDERR_FILENO);
    return sum_of_slow_squares() == expected_sum ? 0 : 1;
  });
  const std::string text = terminal.read_all();
  const int status = child.wait();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
  const std::size_t redraws = occurrences(text, wipe);
  EXPECT_GE(redraws, 2U) << text;  // at least one live bar and the last
  EXPECT_LE(static_cast<double>(redraws), 10 * seconds + 2) << text;
  const std::vector<std::string> lines = screen_lines(text);
  ASSERT_EQ(lines.size(), 1U) << text;  // one line, redrawn in place
  EXPECT_EQ(lines[0].rfind("40/40 100% [", 0), 0U) << lines[0];
  // Every drawing fits the 60 columns (the last one left free).
  std::size_t from = 0;
  while ((from = text.find(wipe, from)) != std::string::npos) {
    from += 4;
    const std::size_t end = text.find_first_of("\r\n", from);
    EXPECT_LE((end == std::string::npos ? text.size() : end) - from, 59U);
  }
}

TEST(Progress, WhatTheProgramPrintsToTheSameTerminalStaysWhole) {
  pty terminal(80);
  forked_process child([&] {
    ::dup2(terminal.slave, STDOUT_FILENO);
    ::dup2(terminal.slave, STDERR_FILENO);
    std::vector<int> input(30);
    for (int i = 0; i < 30; ++i) {
      input[static_cast<std::size_t>(i)] = i;
    }
    auto results =
        pprocess::pmap(slow_square, input, {.limit = 2, .progress = true});
    for (std::size_t i = 0; i < input.size(); ++i) {
      std::printf("value %zu is %d\n", i, results[i]);
    }
    std::fflush(stdout);
    return 0;
  });
  const std::string text = terminal.read_all();
  ASSERT_EQ(child.wait(), 0) << text;
  std::vector<std::string> printed;
  for (const std::string& line : screen_lines(text)) {
    if (line.rfind("value ", 0) == 0) {
      printed.push_back(line);
    } else {
      EXPECT_EQ(line.rfind("30/30 100%", 0), 0U) << "a line mixed: " << line;
    }
  }
  ASSERT_EQ(printed.size(), 30U) << text;
  for (std::size_t i = 0; i < printed.size(); ++i) {
    EXPECT_EQ(printed[i],
              "value " + std::to_string(i) + " is " + std::to_string(i * i));
  }
}

TEST(Progress, CtrlCWipesTheBar) {
  pty terminal(80);
  forked_process child([&] {
    ::dup2(terminal.slave, STDERR_FILENO);
    std::vector<int> input(400);
    auto results =
        pprocess::pmap(slow_square, input, {.limit = 2, .progress = true});
    (void)results[399];
    return 0;
  });
  ::close(terminal.slave);
  terminal.slave = -1;
  // Wait for a bar on the terminal, then interrupt.
  std::string text;
  char buffer[4096];
  while (text.find('[') == std::string::npos) {
    const ssize_t n = ::read(terminal.master, buffer, sizeof buffer);
    ASSERT_GT(n, 0) << text;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ASSERT_EQ(::kill(child.pid(), SIGINT), 0);
  const auto status = child.wait_for(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGINT);
  text += terminal.read_all();
  ASSERT_GE(text.size(), 4U);
  EXPECT_EQ(text.substr(text.size() - 4), wipe) << text;
  for (const std::string& line : screen_lines(text)) {
    EXPECT_EQ(line, "");  // nothing of the bar is left
  }
}

TEST(Progress, NothingAndNoCrashWhenStderrIsClosed) {
  forked_process child([&] {
    ::close(STDERR_FILENO);
    return sum_of_slow_squares() == expected_sum ? 0 : 1;
  });
  EXPECT_EQ(child.wait(), 0);
}

TEST(Progress, AReaderThatWentAwayIsNoSigpipeDeath) {
  test_support::unique_pipe err;
  err.close_read();  // nobody will read what the bar writes
  forked_process child([&] {
    ::dup2(err.write_end(), STDERR_FILENO);
    err.close_write();
    return sum_of_slow_squares() == expected_sum ? 0 : 1;
  });
  err.close_write();
  EXPECT_EQ(child.wait(), 0);
}

}  // namespace
