// SPDX-License-Identifier: MIT
#include "progress_bar.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <pthread.h>

namespace pprocess::detail {
namespace {

using namespace std::chrono_literals;

constexpr auto terminal_interval = 100ms;  // at most 10 redraws a second
constexpr auto line_interval = 5s;         // plain lines, not a terminal
constexpr double smoothing = 0.3;          // tqdm's: weight of the newest rate
constexpr const char* wipe = "\r\033[K";   // to the line's start, erase it

// While a bar is on the terminal, Ctrl-C wipes it before the program
// takes the signal as it would have (its own handler, or the default).
struct interrupt_state {
  int users = 0;  // bars drawn and not finished
  int fd = 2;
  pid_t owner = 0;  // created processes inherit the handler: not theirs
  struct sigaction previous {};
};
interrupt_state interrupted;

extern "C" void wipe_on_interrupt(int signal) {
  const int saved = errno;
  if (::getpid() == interrupted.owner) {
    (void)!::write(interrupted.fd, wipe, 4);
  }
  ::sigaction(signal, &interrupted.previous, nullptr);
  errno = saved;
  ::raise(signal);  // blocked until we return: then taken as before
}

void watch_interrupts(int fd) {
  if (interrupted.users++ > 0) {
    return;
  }
  interrupted.fd = fd;
  interrupted.owner = ::getpid();
  struct sigaction action {};
  action.sa_handler = wipe_on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &action, &interrupted.previous);
}

void unwatch_interrupts() noexcept {
  if (interrupted.users > 0 && --interrupted.users == 0) {
    ::sigaction(SIGINT, &interrupted.previous, nullptr);
  }
}

/// Whether descriptors `a` and `b` are the same terminal.
bool same_terminal(int a, int b) {
  struct stat sa {};
  struct stat sb {};
  return ::isatty(a) == 1 && ::isatty(b) == 1 && ::fstat(a, &sa) == 0 &&
         ::fstat(b, &sb) == 0 && sa.st_rdev == sb.st_rdev;
}

std::size_t terminal_width(int fd) {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    return size.ws_col;
  }
  return 80;
}

/// 0:07, 12:34, 1:02:03.
std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    return "?";
  }
  const auto total = static_cast<long long>(seconds + 0.5);
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", total / 3600,
                  total / 60 % 60, total % 60);
  } else {
    std::snprintf(text, sizeof text, "%lld:%02lld", total / 60, total % 60);
  }
  return text;
}

std::string rate_text(double rate) {
  char text[32];
  if (rate <= 0) {
    return "?/s";
  }
  if (rate >= 100) {
    std::snprintf(text, sizeof text, "%.0f/s", rate);
  } else if (rate >= 1) {
    std::snprintf(text, sizeof text, "%.1f/s", rate);
  } else {
    std::snprintf(text, sizeof text, "%.2f/s", rate);
  }
  return text;
}

}  // namespace

progress_bar::progress_bar(int fd)
    : fd_(fd),
      usable_(::fcntl(fd, F_GETFD) != -1),
      terminal_(usable_ && ::isatty(fd) == 1),
      hides_(terminal_ && same_terminal(fd, STDOUT_FILENO)) {}

progress_bar::~progress_bar() {
  if (!usable_) {
    return;
  }
  if (counts_.total > counts_.done && last_draw_ != clock::time_point{}) {
    draw(clock::now(), true);  // what was done when the work was given up
  }
  close_line();
}

std::string progress_bar::render(const progress_counts& counts,
                                 std::chrono::nanoseconds elapsed, double rate,
                                 std::size_t width) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const std::size_t percent =
      counts.total > 0 ? counts.done * 100 / counts.total : 100;
  const double eta =
      counts.done >= counts.total ? 0
      : rate > 0 ? static_cast<double>(counts.total - counts.done) / rate
                 : -1;
  const std::string done =
      std::to_string(counts.done) + "/" + std::to_string(counts.total);
  const std::string failed =
      counts.failed > 0 ? std::to_string(counts.failed) + " failed" : "";
  if (width == 0) {  // a plain line
    std::string line = "pprocess: " + done + " (" + std::to_string(percent) +
                       "%), " + rate_text(rate) + ", elapsed " +
                       clock_text(seconds) + ", eta " + clock_text(eta);
    if (!failed.empty()) {
      line += ", " + failed;
    }
    return line;
  }
  std::string left = done + " " + std::to_string(percent) + "%";
  // Appended, not `" " + rate_text(rate) + ...`: at -O3, g++ 12 sees a
  // memcpy that may overlap in `const char* + std::string&&` and warns
  // (-Wrestrict, a false positive that -Werror makes fatal).
  std::string right = " ";
  right += rate_text(rate);
  right += ' ';
  right += clock_text(seconds);
  right += '<';
  right += clock_text(eta);
  if (!failed.empty()) {
    right += " " + failed;
  }
  // The bar takes what the text leaves of the line (the last column
  // stays free: writing there wraps on some terminals).
  const std::size_t text = left.size() + right.size() + 3;  // " [" "]"
  if (width < text + 6) {
    return (left + right).substr(0, width > 0 ? width - 1 : 0);
  }
  const std::size_t cells = width - 1 - text;
  const std::size_t full =
      counts.total > 0
          ? cells * std::min(counts.done, counts.total) / counts.total
          : cells;
  std::string bar = left + " [";
  bar.append(full, '#');
  bar.append(cells - full, '.');
  bar += "]";
  return bar + right;
}

void progress_bar::update(const progress_counts& counts,
                          clock::time_point now) {
  if (!usable_ || counts.total == 0) {
    return;
  }
  if (counts_.done >= counts_.total && counts.total > counts.done) {
    // New work after a round that was done (or the first): a new bar.
    round_start_ = now;
    rate_at_ = now;
    rate_done_ = counts.done;
    rate_ = 0;
    last_draw_ = {};
  }
  const bool was_done = counts_.total > 0 && counts_.done >= counts_.total;
  const bool changed = counts.done != counts_.done ||
                       counts.total != counts_.total ||
                       counts.failed != counts_.failed;
  counts_ = counts;
  if (counts.done >= counts.total) {
    if (!was_done || changed) {
      draw(now, true);
    }
    return;
  }
  if (now >= next_due()) {
    draw(now, false);
  }
}

void progress_bar::show(clock::time_point now) {
  if (hides_ && !line_open_ && counts_.done < counts_.total &&
      now >= next_due()) {
    draw(now, false);
  }
}

void progress_bar::hide() noexcept {
  if (hides_ && line_open_) {
    write_all(wipe);
    line_open_ = false;
    unwatch_interrupts();
  }
}

progress_bar::clock::time_point progress_bar::next_due() const noexcept {
  if (!usable_ || counts_.total == 0 || counts_.done >= counts_.total) {
    return clock::time_point::max();
  }
  // The first drawing waits as long as the next ones: a quick job draws
  // only its last line.
  const auto since =
      last_draw_ == clock::time_point{} ? round_start_ : last_draw_;
  return since + (terminal_ ? terminal_interval : line_interval);
}

void progress_bar::draw(clock::time_point now, bool final) {
  const double dt = std::chrono::duration<double>(now - rate_at_).count();
  if (dt > 0.05 || final) {
    const double newest =
        dt > 0 ? static_cast<double>(counts_.done - rate_done_) / dt : 0;
    rate_ = rate_ == 0 ? newest : smoothing * newest + (1 - smoothing) * rate_;
    rate_at_ = now;
    rate_done_ = counts_.done;
  }
  if (final) {
    // The whole round's mean, as tqdm's last line shows it.
    const double all =
        std::chrono::duration<double>(now - round_start_).count();
    rate_ = all > 0 ? static_cast<double>(counts_.done) / all : rate_;
  }
  last_draw_ = now;
  if (!terminal_) {
    write_all(render(counts_, now - round_start_, rate_, 0) + "\n");
    return;
  }
  if (hides_) {
    // What the program printed to the same terminal goes out first.
    std::cout.flush();
    std::fflush(stdout);
  }
  std::string text =
      wipe + render(counts_, now - round_start_, rate_, terminal_width(fd_));
  if (final) {
    text += "\n";
  }
  if (!line_open_ && !final) {
    watch_interrupts(fd_);
  }
  write_all(text);
  if (final) {
    if (line_open_) {
      unwatch_interrupts();
    }
    line_open_ = false;
  } else {
    line_open_ = true;
  }
}

void progress_bar::close_line() noexcept {
  if (line_open_) {
    write_all("\n");
    line_open_ = false;
    unwatch_interrupts();
  }
}

void progress_bar::write_all(const std::string& text) noexcept {
  // A pipe whose reader went away must not kill the program with SIGPIPE:
  // the signal is held back while we write, and taken back if raised.
  sigset_t pipe_signal;
  sigset_t before;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_signal, &before);
  std::size_t at = 0;
  while (at < text.size()) {
    const ssize_t n = ::write(fd_, text.data() + at, text.size() - at);
    if (n > 0) {
      at += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (n < 0 && errno == EPIPE && sigismember(&before, SIGPIPE) == 0) {
        const timespec now{};
        (void)::sigtimedwait(&pipe_signal, nullptr, &now);
      }
      usable_ = false;  // closed or broken: draw nothing more
      break;
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

}  // namespace pprocess::detail
