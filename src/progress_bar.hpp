// SPDX-License-Identifier: MIT
//
// The bar Options::progress draws on stderr, as tqdm and indicatif draw
// theirs: done/total, percentage, rate, elapsed, ETA and failures.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace pprocess::detail {

/// Counts of the tasks, as the bar shows them.
struct progress_counts {
  std::size_t done = 0;    // finished or failed for good
  std::size_t failed = 0;  // of those, failed
  std::size_t total = 0;   // started so far
};

/// A live bar on a terminal (redrawn in place at most 10 times a second,
/// fitted to its width), or plain lines every few seconds where stderr is
/// not a terminal (no carriage returns), and a final line when every task
/// started so far is done. Where stderr is closed it draws nothing.
class progress_bar {
 public:
  using clock = std::chrono::steady_clock;

  explicit progress_bar(int fd = 2);
  ~progress_bar();  // a line left open is finished
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;

  /// The counts changed, or time went by: redraws if it is time to, and
  /// ends the line when everything is done.
  void update(const progress_counts& counts, clock::time_point now);
  /// The creator is about to wait: shows the bar if it is hidden (see
  /// hide()) and may be drawn again.
  void show(clock::time_point now);
  /// Control goes back to the program: where the program's standard output
  /// is the same terminal, the bar is wiped so that what the program
  /// prints is never mixed with it; it comes back while the library waits.
  void hide() noexcept;
  /// When the bar should be drawn again if nothing happens (max: never).
  [[nodiscard]] clock::time_point next_due() const noexcept;

  /// The text of a bar or line, for `width` columns (0: a plain line).
  /// Public for the tests.
  [[nodiscard]] static std::string render(const progress_counts& counts,
                                          std::chrono::nanoseconds elapsed,
                                          double rate, std::size_t width);

 private:
  void draw(clock::time_point now, bool final);
  void write_all(const std::string& text) noexcept;
  void open_line();
  void close_line() noexcept;

  int fd_;
  bool usable_;             // stderr is open
  bool terminal_;           // ... and a terminal: redrawn in place
  bool hides_;              // ... which standard output shares: wiped on hide()
  bool line_open_ = false;  // a bar is on the terminal's last line
  bool shown_ = false;      // ... and visible (not wiped by hide())
  progress_counts counts_{};
  clock::time_point round_start_{};  // when the tasks being counted began
  clock::time_point last_draw_{};
  std::size_t rate_done_ = 0;  // the count and time the rate was taken at
  clock::time_point rate_at_{};
  double rate_ = 0;  // tasks per second, smoothed
};

}  // namespace pprocess::detail
