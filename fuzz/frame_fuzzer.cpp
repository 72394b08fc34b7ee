// SPDX-License-Identifier: MIT
//
// libFuzzer target: the frame decoder of persistent channels and of
// read-ahead channels, fed by a peer that may send anything. Whatever arrives,
// receive must either return a value or throw a pprocess::Error: never crash,
// hang, leak, or let another exception out. See fuzz/README.md.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include <pprocess/pprocess.hpp>

#include "seeds.hpp"

namespace {

void write_all(int fd, const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n <= 0) {
      return;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

/// Receives one value of the type `selector` picks.
void receive_one(pprocess::Channel& channel, std::uint8_t selector) {
  switch (selector % 6) {
    case 0: (void)channel.receive<int>(); break;
    case 1: (void)channel.receive<std::string>(); break;
    case 2: (void)channel.receive<std::vector<double>>(); break;
    case 3: (void)channel.receive<std::map<std::string, int>>(); break;
    case 4: (void)channel.receive<fuzz::grid_cell>(); break;
    default:
      (void)channel.receive<std::variant<int, std::optional<std::string>>>();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::uint8_t selector = data[0];
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return 0;
  }
  // The peer's whole stream, then its end: reads never block.
  write_all(fds[1], data + 1, size - 1);
  ::shutdown(fds[1], SHUT_WR);
  // The top bit of the selector picks the decoder: a collector's connection
  // to a background process, or a channel that reads ahead (an exchange's
  // own channels: frames decoded from one buffer, descriptors matched to
  // frames by stream offset).
  using pprocess::detail::channel_access;
  const bool ahead = (selector & 0x80) != 0;
  pprocess::detail::unique_fd end(fds[0]);
  pprocess::Channel channel =
      ahead ? channel_access::make(std::move(end), {})
            : channel_access::make_client(std::move(end), 0, "fuzz");
  if (ahead) {
    channel_access::read_ahead(channel);
  }
  for (int frame = 0; frame < 8 && channel; ++frame) {
    try {
      if (!ahead && channel_access::take_end(channel)) {
        break;
      }
      receive_one(channel, static_cast<std::uint8_t>(selector >> frame));
    } catch (const pprocess::Error&) {
      // Refusing a bad frame is the point; try the next one.
    }
  }
  ::close(fds[1]);
  return 0;
}
