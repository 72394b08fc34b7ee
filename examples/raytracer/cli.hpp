// SPDX-License-Identifier: MIT
//
// What the ray tracer programs share: the command line (--width, --height,
// --limit, --out, --progress) and the end of each run (time taken, the PNG
// written). Part of the ray tracer example; knows nothing of pprocess.

#pragma once

#include <cstddef>      // std::size_t
#include <cstdlib>      // std::exit
#include <filesystem>   // std::filesystem::path
#include <iostream>     // std::cout, std::cerr
#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "../example_support.hpp"  // examples::to_number, Stopwatch
#include "image.hpp"

namespace raytracer {

/// The settings a ray tracer program reads from its command line.
struct Arguments {
  int width = 640;
  int height = 480;
  /// Processes at once; unset: the processors available.
  std::optional<std::size_t> limit;
  std::filesystem::path out = "raytracer.png";
  /// A progress bar on stderr (the programs that take --progress).
  bool progress = false;
};

/// Which options a program takes beyond --width, --height and --out.
struct Accepts {
  bool limit = true;
  bool progress = false;
};

/// Reports a command-line error on stderr and exits with status 2.
[[noreturn]] inline void usage_error(std::string_view program,
                                     std::string_view message,
                                     Accepts accepts) {
  std::cerr << program << ": " << message << "\nusage: " << program
            << " [--width <pixels>] [--height <pixels>]"
            << (accepts.limit ? " [--limit <processes>]" : "")
            << " [--out <file.png>]"
            << (accepts.progress ? " [--progress]" : "") << '\n';
  std::exit(2);
}

/// Reads the options `accepts` allows, as `--name value` or `--name=value`.
/// Exits with status 2 on anything else.
inline Arguments parse_arguments(int argc, char* argv[], Accepts accepts) {
  const std::string_view program = argc > 0 ? argv[0] : "raytracer";
  Arguments args;
  for (int k = 1; k < argc; ++k) {
    const std::string_view arg = argv[k];
    const auto equals = arg.find('=');
    const std::string_view name = arg.substr(0, equals);
    const bool has_value = equals != std::string_view::npos;
    const auto fail = [&](const std::string& message) {
      usage_error(program, message, accepts);
    };
    const auto value = [&]() -> std::string_view {
      if (has_value) {
        return arg.substr(equals + 1);
      }
      if (k + 1 == argc) {
        fail("option " + std::string(name) + " needs a value");
      }
      return argv[++k];
    };
    const auto positive = [&](std::size_t most) {
      const std::string_view text = value();
      const auto number = examples::to_number<std::size_t>(text);
      if (!number || *number < 1 || *number > most) {
        fail("invalid value '" + std::string(text) + "' for option " +
             std::string(name));
      }
      return *number;
    };
    if (name == "--width") {
      args.width = static_cast<int>(positive(20000));
    } else if (name == "--height") {
      args.height = static_cast<int>(positive(20000));
    } else if (name == "--limit" && accepts.limit) {
      args.limit = positive(100000);
    } else if (name == "--out") {
      args.out = value();
    } else if (name == "--progress" && accepts.progress && !has_value) {
      args.progress = true;
    } else {
      fail("unknown option " + std::string(arg));
    }
  }
  return args;
}

/// The end of every run: the time the rendering took, then the picture
/// written to args.out and its path.
inline void finish(const Arguments& args, const examples::Stopwatch& t,
                   const Image& image) {
  t.print_time_taken();
  write_png(args.out, image);
  std::cout << "Wrote " << args.width << "x" << args.height << " image to "
            << args.out.string() << '\n';
}

}  // namespace raytracer
