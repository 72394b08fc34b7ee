// SPDX-License-Identifier: MIT
//
// Writes a starting corpus of well-formed streams for frame_fuzzer: each file
// is a selector byte followed by real frames, as a background process sends
// them, so the fuzzer starts from the shapes it must handle.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <pprocess/pprocess.hpp>

#include "seeds.hpp"

namespace {

using pprocess::detail::encode_frame;
using pprocess::detail::frame_kind;

void write_seed(const std::string& path, unsigned char selector,
                const std::vector<std::vector<char>>& frames) {
  std::ofstream out(path, std::ios::binary);
  out.put(static_cast<char>(selector));
  for (const auto& frame : frames) {
    out.write(frame.data(), static_cast<std::streamsize>(frame.size()));
  }
}

/// The bytes of a frame carrying `value` (no descriptors in these seeds).
template <class T>
std::vector<char> frame_of(const T& value,
                           frame_kind kind = frame_kind::value) {
  return encode_frame(value, kind).bytes;
}

}  // namespace

int main(int argc, char* argv[]) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::vector<char> end = [] {
    pprocess::detail::frame_header header;
    header.kind = frame_kind::end;
    std::vector<char> bytes(sizeof header);
    std::memcpy(bytes.data(), &header, sizeof header);
    return bytes;
  }();
  write_seed(dir + "/int", 0, {frame_of(42), end});
  write_seed(dir + "/string", 1, {frame_of(std::string("hello")), end});
  write_seed(dir + "/doubles", 2,
             {frame_of(std::vector<double>{1.5, 2.5, 3.5}), end});
  write_seed(dir + "/map", 3,
             {frame_of(std::map<std::string, int>{{"a", 1}, {"b", 2}})});
  write_seed(dir + "/cell", 4, {frame_of(fuzz::grid_cell{1, 2, 3.0})});
  write_seed(dir + "/variant", 5,
             {frame_of(std::variant<int, std::optional<std::string>>(
                 std::optional<std::string>("x")))});
  write_seed(dir + "/exception", 0,
             {frame_of(std::pair<std::string, std::string>("std::runtime_error",
                                                           "boom"),
                       frame_kind::exception)});
  write_seed(dir + "/mismatch", 1, {frame_of(7), frame_of(7)});
  // Top bit: the read-ahead decoder, several frames in one read. With 0x80
  // the frames are received as vector<double>, grid_cell, vector<double>...
  write_seed(
      dir + "/ahead", 0x80,
      {frame_of(std::vector<double>{1.5}), frame_of(fuzz::grid_cell{1, 2, 3.0}),
       frame_of(std::vector<double>{}), frame_of(fuzz::grid_cell{4, 5, 6.0})});
  return 0;
}
