// SPDX-License-Identifier: MIT
//
// What the example programs share, so each of them can read like its twin in
// the Python tutorial: the command line (--N, --delay, --limit, --start,
// --reconnect), the simulated work, printing the grid and the time taken.
// This is not part of the library.

#pragma once

#include <charconv>      // std::from_chars
#include <chrono>        // std::chrono::steady_clock, duration
#include <cmath>         // std::isfinite
#include <cstddef>       // std::size_t
#include <cstdlib>       // std::exit
#include <iomanip>       // std::setprecision
#include <iostream>      // std::cout, std::cerr
#include <optional>      // std::optional
#include <sstream>       // std::ostringstream
#include <string>        // std::string
#include <string_view>   // std::string_view
#include <system_error>  // std::errc
#include <thread>        // std::this_thread::sleep_for

namespace examples {

/// The settings every example reads from its command line.
struct Arguments {
  int N = 10;              // the grid has N rows of N cells
  double delay = 0.04;     // seconds of simulated work per cell
  std::size_t limit = 10;  // processes running at once
  bool start = false;      // background examples: only start the work
  bool reconnect = false;  // background examples: only collect the results
};

/// Reports a command-line error on stderr and exits with status 2.
[[noreturn]] inline void usage_error(std::string_view program,
                                     std::string_view message) {
  std::cerr << program << ": " << message << "\nusage: " << program
            << " [--N <int>] [--delay <seconds>] [--limit <int>]"
               " [--start] [--reconnect]\n";
  std::exit(2);
}

/// The whole of `text` as a number, or nothing.
template <class T>
std::optional<T> to_number(std::string_view text) {
  T value{};
  const char* const last = text.data() + text.size();
  const auto [end, error] = std::from_chars(text.data(), last, value);
  if (error != std::errc{} || end != last) {
    return std::nullopt;
  }
  return value;
}

/// Reads `--N <int>`, `--delay <seconds>`, `--limit <int>` (or `--N=4`), and
/// the flags `--start` and `--reconnect`. Exits with status 2 on anything else.
inline Arguments parse_arguments(int argc, char* argv[]) {
  const std::string_view program = argc > 0 ? argv[0] : "example";
  Arguments args;
  for (int k = 1; k < argc; ++k) {
    const std::string_view arg = argv[k];
    const auto equals = arg.find('=');
    const std::string_view name = arg.substr(0, equals);
    const bool has_value = equals != std::string_view::npos;
    const auto value = [&]() -> std::string_view {
      if (has_value) {
        return arg.substr(equals + 1);
      }
      if (k + 1 == argc) {
        usage_error(program, "option " + std::string(name) + " needs a value");
      }
      return argv[++k];
    };
    const auto bad_value = [&](std::string_view text) {
      usage_error(program, "invalid value '" + std::string(text) +
                               "' for option " + std::string(name));
    };
    if (name == "--N") {
      const std::string_view text = value();
      const auto n = to_number<int>(text);
      if (!n || *n < 1 || *n > 10000) {
        bad_value(text);
      }
      args.N = *n;
    } else if (name == "--delay") {
      const std::string_view text = value();
      const auto delay = to_number<double>(text);
      if (!delay || !std::isfinite(*delay) || *delay < 0) {
        bad_value(text);
      }
      args.delay = *delay;
    } else if (name == "--limit") {
      const std::string_view text = value();
      const auto limit = to_number<std::size_t>(text);
      if (!limit || *limit < 1) {
        bad_value(text);
      }
      args.limit = *limit;
    } else if ((name == "--start" || name == "--reconnect") && has_value) {
      usage_error(program, "option " + std::string(name) + " takes no value");
    } else if (name == "--start") {
      args.start = true;
    } else if (name == "--reconnect") {
      args.reconnect = true;
    } else {
      usage_error(program, "unknown option " + std::string(arg));
    }
  }
  return args;
}

/// Simulates `seconds` of work, as `time.sleep(delay)` does in the tutorial.
inline void sleep_for_delay(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

/// Prints the values of `row` on one line, separated by single spaces.
template <class Range>
void print_row(const Range& row) {
  const char* separator = "";
  for (const auto& value : row) {
    std::cout << separator << value;
    separator = " ";
  }
  std::cout << '\n';
}

/// Prints N*N `values` as N lines of N values.
template <class Range>
void print_grid(const Range& values, int N) {
  int column = 0;
  for (const auto& value : values) {
    std::cout << (column == 0 ? "" : " ") << value;
    if (++column == N) {
      std::cout << '\n';
      column = 0;
    }
  }
  if (column != 0) {
    std::cout << '\n';
  }
}

/// Measures from its construction, like `t = time.time()`.
class Stopwatch {
 public:
  /// Prints `Time taken: S`, S in seconds with three decimals.
  void print_time_taken() const {
    const std::chrono::duration<double> taken =
        std::chrono::steady_clock::now() - start_;
    std::ostringstream text;
    text << std::fixed << std::setprecision(3) << taken.count();
    std::cout << "Time taken: " << text.str() << '\n';
  }

 private:
  std::chrono::steady_clock::time_point start_ =
      std::chrono::steady_clock::now();
};

}  // namespace examples
