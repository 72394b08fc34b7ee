// SPDX-License-Identifier: MIT
#include "pprocess/channel.hpp"

#include <cxxabi.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <string>
#include <typeinfo>
#include <vector>

#include "errors.hpp"

namespace pprocess {
namespace {

using namespace std::string_literals;

// A created process's channel reaches end-of-file as its process exits
// (the kernel closes descriptors before the process becomes reapable), so a
// receive that finds the end waits this long for the exit status.
constexpr std::chrono::milliseconds exit_status_wait{2000};

// Type names longer than this are not something our sender produces.
constexpr std::size_t max_name_size = 4096;

/// Reads exactly `size` bytes; returns how many arrived before end-of-file.
std::size_t read_fully(int fd, char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, data + done, size - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      throw detail::channel_os_error(errno, "receive");
    }
  }
  return done;
}

}  // namespace

void Channel::close() noexcept {
  fd_.reset();
  buffer_ = {};
}

void Channel::send_parts(std::span<const std::span<const char>> parts) {
  if (!fd_) {
    throw ChannelError(ChannelErrc::closed, "send: the channel is closed");
  }
  std::vector<iovec> iov;
  iov.reserve(parts.size());
  for (const auto& part : parts) {
    if (!part.empty()) {
      iov.push_back({const_cast<char*>(part.data()), part.size()});
    }
  }
  std::size_t first = 0;
  while (first < iov.size()) {
    msghdr message{};
    message.msg_iov = iov.data() + first;
    message.msg_iovlen = iov.size() - first;
    // MSG_NOSIGNAL: a closed peer is an EPIPE we report, never a SIGPIPE.
    const ssize_t n = ::sendmsg(fd_.get(), &message, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw detail::channel_os_error(errno, "send");
    }
    auto sent = static_cast<std::size_t>(n);
    while (first < iov.size() && sent >= iov[first].iov_len) {
      sent -= iov[first].iov_len;
      ++first;
    }
    if (sent > 0) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + sent;
      iov[first].iov_len -= sent;
    }
  }
}

detail::frame_header Channel::receive_header(std::string_view expected_name,
                                             std::uint64_t expected_hash) {
  if (!fd_) {
    throw ChannelError(ChannelErrc::closed, "receive: the channel is closed");
  }
  detail::frame_header header;
  const std::size_t got =
      read_fully(fd_.get(), reinterpret_cast<char*>(&header), sizeof header);
  if (got == 0) {
    // The end, between frames. If this is a created process, say how it
    // ended; a process that still runs merely closed its end.
    if (child_ && child_.wait_for(exit_status_wait)) {
      throw ProcessError::from_wait_status(
          child_.pid(), *child_.status(),
          "receive<" + std::string(expected_name) + ">: process " +
              std::to_string(child_.pid()) + " ended without sending a value");
    }
    throw ChannelError(ChannelErrc::closed,
                       "receive<" + std::string(expected_name) +
                           ">: the peer closed the channel");
  }
  if (got < sizeof header) {
    throw ChannelError(ChannelErrc::truncated_frame,
                       "receive: the stream ended inside a frame header");
  }
  if (header.magic != detail::frame_magic ||
      header.version != detail::frame_version ||
      header.name_size > max_name_size ||
      (header.kind != detail::frame_kind::value &&
       header.kind != detail::frame_kind::exception)) {
    throw ChannelError(ChannelErrc::malformed_frame,
                       "receive: not a pprocess frame header");
  }
  std::string sent_name(header.name_size, '\0');
  if (read_fully(fd_.get(), sent_name.data(), sent_name.size()) !=
      sent_name.size()) {
    throw ChannelError(ChannelErrc::truncated_frame,
                       "receive: the stream ended inside a frame");
  }
  if (header.payload_size > max_payload_) {
    fd_.reset();  // the stream cannot be resynchronised past this frame
    throw ChannelError(ChannelErrc::oversized_frame,
                       "receive: a frame of " +
                           std::to_string(header.payload_size) +
                           " bytes, more than the channel accepts (" +
                           std::to_string(max_payload_) + ")");
  }
  if (header.kind == detail::frame_kind::exception) {
    receive_payload(buffer_, header.payload_size);
    std::pair<std::string, std::string> error;
    try {
      if (!detail::cereal_decode(std::span<char>(buffer_), error)) {
        throw std::runtime_error("bytes left over");
      }
    } catch (const std::exception& e) {
      throw ChannelError(
          ChannelErrc::malformed_frame,
          "receive: an exception frame that does not decode: "s + e.what());
    }
    throw RemoteError(std::move(error.first), error.second);
  }
  if (header.type_hash != expected_hash || sent_name != expected_name) {
    skip_payload(header.payload_size);  // keep the stream in step
    throw ChannelError(ChannelErrc::type_mismatch,
                       "receive<" + std::string(expected_name) +
                           ">: the peer sent a value of type " + sent_name);
  }
  return header;
}

void Channel::receive_payload(void* data, std::size_t size) {
  if (read_fully(fd_.get(), static_cast<char*>(data), size) != size) {
    throw ChannelError(ChannelErrc::truncated_frame,
                       "receive: the stream ended inside a frame");
  }
}

void Channel::receive_payload(std::vector<char>& buffer, std::size_t size) {
  receive_elements(buffer, size);
}

void Channel::skip_payload(std::size_t size) {
  std::array<char, 65536> sink{};
  while (size > 0) {
    const std::size_t part = std::min(size, sink.size());
    receive_payload(sink.data(), part);
    size -= part;
  }
}

void Channel::throw_malformed(std::string_view type,
                              std::string_view why) const {
  throw ChannelError(
      ChannelErrc::malformed_frame,
      "receive<" + std::string(type) +
          ">: a frame that does not decode: " + std::string(why));
}

namespace detail {

bool send_current_exception(Channel& channel) noexcept {
  try {
    std::pair<std::string, std::string> error;
    try {
      throw;
    } catch (const std::exception& e) {
      error = {demangled_type_name(typeid(e)), e.what()};
    } catch (...) {
      const std::type_info* type = abi::__cxa_current_exception_type();
      error = {type != nullptr ? demangled_type_name(*type) : "unknown",
               "an exception not derived from std::exception"};
    }
    const std::vector<char> frame = encode_frame(error, frame_kind::exception);
    channel_access::send_frame(channel, frame);
    return true;
  } catch (...) {
    return false;  // the creator is gone or the channel broke
  }
}

}  // namespace detail
}  // namespace pprocess
