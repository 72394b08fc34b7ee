// SPDX-License-Identifier: MIT
#include "pprocess/channel.hpp"

#include <cxxabi.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <typeinfo>
#include <vector>

#include "errors.hpp"
#include "unix_socket.hpp"

namespace pprocess {
namespace {

using namespace std::string_literals;

// A created process's channel reaches end-of-file as its process exits
// (the kernel closes descriptors before the process becomes reapable), so a
// receive that finds the end waits this long for the exit status.
constexpr std::chrono::milliseconds exit_status_wait{2000};

// Type names longer than this are not something our sender produces.
constexpr std::size_t max_name_size = 4096;

// Frames with payloads up to this size are read whole in one read.
constexpr std::size_t inline_payload_limit = 64 * 1024;

// The kernel passes at most SCM_MAX_FD (253) descriptors in one message.
constexpr std::size_t max_fds_per_frame = 253;

// A read-ahead channel reads up to this much at once: at first a small
// buffer (a process that sends one value needs no more), doubling while
// reads fill it.
constexpr std::size_t read_ahead_first = 512;
constexpr std::size_t read_ahead_capacity = 64 * 1024;

/// Control space for the most descriptors one message can carry.
using fd_control =
    std::array<char, CMSG_SPACE(sizeof(int) * max_fds_per_frame)>;

/// Takes ownership of the descriptors `message` brought (close-on-exec, as
/// recvmsg was asked for).
void collect_fds(msghdr& message, std::vector<detail::unique_fd>& into) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr;
       c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t k = 0; k < count; ++k) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
        into.emplace_back(fd);
      }
    }
  }
}

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
  received_fds_.clear();
  ahead_ = {};
  if (listener_) {
    // A background process that is done: nobody is to connect any more.
    (void)::unlink(address_.c_str());
    listener_.reset();
  }
  buffer_ = {};
}

namespace detail {

channel_access::input channel_access::poll_input(Channel& channel) {
  if (buffered(channel) > 0) {
    return input::value;
  }
  if (channel.ahead_.enabled) {
    const long n = channel.fill_ahead(MSG_DONTWAIT);
    return n > 0 ? input::value : n == 0 ? input::end : input::none;
  }
  char byte = 0;
  ssize_t n = 0;
  do {
    n = ::recv(channel.fileno(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    return input::value;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    return input::none;
  }
  return input::end;  // the end, or a broken channel
}

Channel channel_access::make_server(unique_fd listener,
                                    std::string address) noexcept {
  Channel channel;
  channel.role_ = channel_role::server;
  channel.listener_ = private_fd(std::move(listener));
  channel.address_ = std::move(address);
  return channel;
}

Channel channel_access::make_client(unique_fd connection, pid_t peer,
                                    std::string address) noexcept {
  Channel channel;
  channel.role_ = channel_role::client;
  channel.fd_ = private_fd(std::move(connection));
  channel.peer_pid_ = peer;
  channel.address_ = std::move(address);
  return channel;
}

}  // namespace detail

// --- persistent channels ----------------------------------------------------
//
// A background process may lose its collector at any moment (killed, or just
// gone), so on persistent channels every frame is acknowledged: the sender
// returns from send() only once the receiver has read the whole frame, and a
// server whose peer broke off serves the same frame to the next peer. The
// receiver acknowledges before it hands the value on, so a value reaches
// exactly one collector.

void Channel::accept_peer() {
  while (!fd_) {
    const int connection =
        ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) {
      if (errno == EINTR || errno == ECONNABORTED) {
        continue;
      }
      throw detail::channel_os_error(errno, "accept on " + address_);
    }
    detail::unique_fd peer(connection);
    const auto credentials = detail::peer_credentials(peer.get());
    if (!credentials || credentials->uid != ::geteuid()) {
      continue;  // only processes of our own user are served
    }
    fd_ = detail::private_fd(std::move(peer));
  }
}

void Channel::await_ack() {
  detail::frame_header header;
  const std::size_t got =
      read_fully(fd_.get(), reinterpret_cast<char*>(&header), sizeof header);
  if (got == 0) {
    throw ChannelError(ChannelErrc::closed,
                       "send: the peer left before acknowledging");
  }
  if (got < sizeof header || header.magic != detail::frame_magic ||
      header.kind != detail::frame_kind::ack || header.name_size != 0 ||
      header.payload_size != 0) {
    throw ChannelError(ChannelErrc::malformed_frame,
                       "send: the peer answered with something other than "
                       "an acknowledgement");
  }
}

void Channel::frame_done() noexcept {
  received_fds_.clear();  // what decoding did not take is closed
  if (role_ == detail::channel_role::pair || !fd_) {
    return;
  }
  detail::frame_header ack;
  ack.kind = detail::frame_kind::ack;
  try {
    const std::span<const char> parts[] = {
        {reinterpret_cast<const char*>(&ack), sizeof ack}};
    write_parts(parts);
  } catch (const ChannelError&) {
    // The sender is gone; what it sent was read all the same.
  }
}

bool Channel::next_peer(const ChannelError& error) noexcept {
  if (role_ != detail::channel_role::server ||
      error.code() == ChannelErrc::type_mismatch) {
    return false;
  }
  fd_.reset();  // drop this peer; the next one gets the frame again
  return true;
}

bool Channel::take_end() {
  detail::frame_header header;
  ssize_t n = 0;
  do {
    n = ::recv(fd_.get(), &header, sizeof header, MSG_PEEK | MSG_WAITALL);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof header) ||
      header.magic != detail::frame_magic ||
      header.kind != detail::frame_kind::end) {
    return false;
  }
  (void)read_fully(fd_.get(), reinterpret_cast<char*>(&header), sizeof header);
  frame_done();
  fd_.reset();
  return true;
}

void Channel::send_end() {
  if (role_ != detail::channel_role::server) {
    return;
  }
  // Everything was delivered: a collector is needed only to hear so. Once
  // one is connected, the address goes before it hears it, so that a
  // collector that returns finds the address free for a new start.
  accept_peer();
  (void)::unlink(address_.c_str());
  listener_.reset();
  detail::frame_header end;
  end.kind = detail::frame_kind::end;
  const std::span<const char> parts[] = {
      {reinterpret_cast<const char*>(&end), sizeof end}};
  try {
    write_parts(parts);
    await_ack();
  } catch (const ChannelError&) {
    // This collector left: the values were all acknowledged already, and
    // the address is gone, so nobody else can come to be told.
  }
}

void Channel::send_parts(std::span<const std::span<const char>> parts,
                         std::span<const int> fds) {
  for (;;) {
    if (role_ == detail::channel_role::server) {
      accept_peer();
    }
    try {
      write_parts(parts, fds);
      if (role_ != detail::channel_role::pair) {
        await_ack();
      }
      return;
    } catch (const ChannelError& error) {
      if (!next_peer(error)) {
        throw;
      }
    }
  }
}

void Channel::write_parts(std::span<const std::span<const char>> parts,
                          std::span<const int> fds) {
  if (!fd_) {
    throw ChannelError(ChannelErrc::closed, "send: the channel is closed");
  }
  // A value is 3 parts; only a batch of calls has more. No allocation for
  // the usual case: in a created process, it would copy a heap page.
  std::array<iovec, 8> few{};
  std::vector<iovec> many;
  std::span<iovec> iov;
  if (parts.size() <= few.size()) {
    iov = few;
  } else {
    many.resize(parts.size());
    iov = many;
  }
  std::size_t used = 0;
  for (const auto& part : parts) {
    if (!part.empty()) {
      iov[used++] = {const_cast<char*>(part.data()), part.size()};
    }
  }
  iov = iov.first(used);
  if (fds.size() > max_fds_per_frame) {
    throw ChannelError(ChannelErrc::too_many_descriptors,
                       "send: a frame carries at most " +
                           std::to_string(max_fds_per_frame) + " SharedArrays");
  }
  // Descriptors ride on the first sendmsg, which starts with the header:
  // the receiver's header read picks them up.
  std::vector<char> control(fds.empty() ? 0 : CMSG_SPACE(fds.size_bytes()));
  std::size_t first = 0;
  while (first < iov.size()) {
    msghdr message{};
    message.msg_iov = iov.data() + first;
    message.msg_iovlen = iov.size() - first;
    if (!control.empty()) {
      message.msg_control = control.data();
      message.msg_controllen = control.size();
      cmsghdr* rights = CMSG_FIRSTHDR(&message);
      rights->cmsg_level = SOL_SOCKET;
      rights->cmsg_type = SCM_RIGHTS;
      rights->cmsg_len = CMSG_LEN(fds.size_bytes());
      std::memcpy(CMSG_DATA(rights), fds.data(), fds.size_bytes());
    }
    // MSG_NOSIGNAL: a closed peer is an EPIPE we report, never a SIGPIPE.
    const ssize_t n = ::sendmsg(fd_.get(), &message, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw detail::channel_os_error(errno, "send");
    }
    control.clear();  // sent with the first bytes
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
  if (role_ == detail::channel_role::server) {
    accept_peer();
  }
  if (!fd_) {
    throw ChannelError(ChannelErrc::closed, "receive: the channel is closed");
  }
  detail::frame_header header;
  const std::size_t got = read_header(header);
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
  ++frames_taken_;
  if (header.magic != detail::frame_magic ||
      header.version != detail::frame_version ||
      header.name_size > max_name_size ||
      header.kind == detail::frame_kind::ack ||
      (header.kind == detail::frame_kind::end &&
       role_ != detail::channel_role::client) ||
      header.kind > detail::frame_kind::end) {
    throw ChannelError(ChannelErrc::malformed_frame,
                       "receive: not a pprocess frame header");
  }
  if (header.payload_size > max_payload_) {
    fd_.reset();  // the stream cannot be resynchronised past this frame
    throw ChannelError(ChannelErrc::oversized_frame,
                       "receive: a frame of " +
                           std::to_string(header.payload_size) +
                           " bytes, more than the channel accepts (" +
                           std::to_string(max_payload_) + ")");
  }
  // A small frame's name and payload come in one read; a large payload is
  // read straight into its destination afterwards.
  payload_inline_ = header.payload_size <= inline_payload_limit;
  const std::size_t first_read =
      header.name_size + (payload_inline_ ? header.payload_size : 0);
  if (ahead_.enabled && buffer_ahead(first_read)) {
    // Decoded where it was read: no copy. Nothing reads the socket again
    // before this frame is decoded (a large payload: after the name).
    first_read_ = {ahead_.bytes.data() + ahead_.begin, first_read};
    ahead_.begin += first_read;
  } else {
    buffer_.resize(first_read);
    if (read_bytes(buffer_.data(), first_read) != first_read) {
      throw ChannelError(ChannelErrc::truncated_frame,
                         "receive: the stream ended inside a frame");
    }
    first_read_ = buffer_;
  }
  const std::string_view sent_name(first_read_.data(), header.name_size);
  if (header.kind == detail::frame_kind::end) {
    frame_done();
    fd_.reset();
    throw ChannelError(ChannelErrc::closed,
                       "receive<" + std::string(expected_name) +
                           ">: the background process at " + address_ +
                           " has delivered everything");
  }
  if (header.kind == detail::frame_kind::exception) {
    const std::span<const char> payload = take_payload(header.payload_size);
    frame_done();
    std::pair<std::string, std::string> error;
    try {
      if (!detail::cereal_decode(payload, error)) {
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
    const std::string message = "receive<" + std::string(expected_name) +
                                ">: the peer sent a value of type " +
                                std::string(sent_name);
    if (!payload_inline_) {
      skip_payload(header.payload_size);  // keep the stream in step
    }
    if (role_ == detail::channel_role::client) {
      // Not acknowledged: this collector cannot use the value, so the
      // background process keeps it for the next one.
      received_fds_.clear();
      fd_.reset();
    } else {
      frame_done();
    }
    throw ChannelError(ChannelErrc::type_mismatch, message);
  }
  return header;
}

std::size_t Channel::read_header(detail::frame_header& header) {
  received_fds_.clear();
  auto* data = reinterpret_cast<char*>(&header);
  if (ahead_.enabled) {
    const std::uint64_t start = ahead_.stream_read - ahead_.buffered();
    const std::size_t got = read_bytes(data, sizeof header);
    if (got == sizeof header) {
      // The descriptors that came with this frame: those brought by a read
      // that ended inside it. Older ones (of a frame whose decoding failed
      // before it took them) are closed.
      const std::uint64_t end =
          start + sizeof header + header.name_size + header.payload_size;
      while (!ahead_.fds.empty() && ahead_.fds.front().first < end) {
        if (ahead_.fds.front().first >= start) {
          for (auto& fd : ahead_.fds.front().second) {
            received_fds_.push_back(std::move(fd));
          }
        }
        ahead_.fds.pop_front();
      }
    }
    return got;
  }
  // recvmsg, not read: descriptors sent with a frame arrive with its first
  // bytes, and read() would silently close them.
  std::size_t done = 0;
  fd_control control{};
  while (done < sizeof header) {
    iovec iov{data + done, sizeof header - done};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(fd_.get(), &message, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw detail::channel_os_error(errno, "receive");
    }
    collect_fds(message, received_fds_);
    if (n == 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  return done;
}

std::size_t Channel::read_bytes(char* data, std::size_t size) {
  if (!ahead_.enabled) {
    return read_fully(fd_.get(), data, size);
  }
  std::size_t done = 0;
  while (done < size) {
    if (ahead_.begin == ahead_.end) {
      if (size - done >= ahead_.bytes.size() &&
          size - done >= read_ahead_first) {
        // The rest of a large payload: straight into place. It lies inside
        // the current frame, whose descriptors came with its first bytes.
        const std::size_t n = read_fully(fd_.get(), data + done, size - done);
        ahead_.stream_read += n;
        return done + n;
      }
      if (fill_ahead(0) == 0) {
        break;
      }
    }
    const std::size_t n = std::min(size - done, ahead_.end - ahead_.begin);
    std::memcpy(data + done, ahead_.bytes.data() + ahead_.begin, n);
    ahead_.begin += n;
    done += n;
  }
  return done;
}

bool Channel::buffer_ahead(std::size_t size) {
  if (size > read_ahead_capacity) {
    return false;  // read_bytes copies it out
  }
  while (ahead_.buffered() < size) {
    if (ahead_.bytes.size() < size) {  // room for all of it once compacted
      ahead_.bytes.resize(std::max(std::bit_ceil(size), read_ahead_first));
    }
    if (fill_ahead(0) <= 0) {
      return false;  // the end: read_bytes reports it
    }
  }
  return true;
}

long Channel::fill_ahead(int flags) {
  if (ahead_.begin == ahead_.end) {
    ahead_.begin = ahead_.end = 0;
  } else if (ahead_.begin > 0) {
    std::memmove(ahead_.bytes.data(), ahead_.bytes.data() + ahead_.begin,
                 ahead_.end - ahead_.begin);
    ahead_.end -= ahead_.begin;
    ahead_.begin = 0;
  }
  if (ahead_.bytes.empty()) {
    ahead_.bytes.resize(read_ahead_first);
  }
  fd_control control{};
  iovec iov{ahead_.bytes.data() + ahead_.end, ahead_.bytes.size() - ahead_.end};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  ssize_t n = 0;
  do {
    n = ::recvmsg(fd_.get(), &message, MSG_CMSG_CLOEXEC | flags);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if ((flags & MSG_DONTWAIT) != 0) {
      // Nothing yet (-1), or a broken channel, which reads as its end.
      return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : 0;
    }
    throw detail::channel_os_error(errno, "receive");
  }
  std::vector<detail::unique_fd> fds;
  collect_fds(message, fds);
  const auto got = static_cast<std::size_t>(n);
  if (!fds.empty() && got > 0) {
    ahead_.fds.emplace_back(ahead_.stream_read + got - 1, std::move(fds));
  }
  ahead_.end += got;
  ahead_.stream_read += got;
  if (ahead_.end == ahead_.bytes.size() &&
      ahead_.bytes.size() < read_ahead_capacity) {
    // More was waiting, likely: read more at once next time.
    ahead_.bytes.resize(ahead_.bytes.size() * 2);
  }
  return static_cast<long>(got);
}

std::span<const char> Channel::take_payload(std::size_t size) {
  if (payload_inline_) {
    return first_read_.subspan(first_read_.size() - size);
  }
  receive_payload(buffer_, size);
  return buffer_;
}

void Channel::receive_payload(void* data, std::size_t size) {
  if (read_bytes(static_cast<char*>(data), size) != size) {
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

void advise_huge_pages(void* data, std::size_t bytes) noexcept {
  constexpr std::uintptr_t huge_page = std::uintptr_t{2} << 20;
  const auto start = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t first = (start + huge_page - 1) & ~(huge_page - 1);
  const std::uintptr_t last = (start + bytes) & ~(huge_page - 1);
  if (last > first) {
    (void)::madvise(reinterpret_cast<void*>(first), last - first,
                    MADV_HUGEPAGE);
  }
}

std::pair<std::string, std::string> describe_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    return {demangled_type_name(typeid(e)), e.what()};
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    return {type != nullptr ? demangled_type_name(*type) : "unknown",
            "an exception not derived from std::exception"};
  }
}

bool send_current_exception(Channel& channel) noexcept {
  try {
    const encoded_frame frame =
        encode_frame(describe_current_exception(), frame_kind::exception);
    channel_access::send_frame(channel, frame);
    return true;
  } catch (...) {
    return false;  // the creator is gone or the channel broke
  }
}

}  // namespace detail
}  // namespace pprocess
