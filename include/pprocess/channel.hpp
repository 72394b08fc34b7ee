// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Channels and the low-level way to create processes.
///
///     auto ch = pprocess::start(
///         [](pprocess::Channel& ch, int n) { ch.send(n * n); }, 7);
///     int r = ch.receive<int>();  // 49, computed in another process
///
///     pprocess::Channel ch = pprocess::create();
///     if (ch.pid() == 0) {        // in the created process
///       ch.send(std::string("hello"));
///       pprocess::exit(ch);
///     }
///     auto s = ch.receive<std::string>();
///
/// A Channel is one end of a UNIX socket pair between a creator and the
/// process it created. Values are typed: each frame names the type it
/// carries, and receiving another type is a ChannelError naming both.
///
/// Sharp edges:
/// - A created process is a fork() of its creator without exec: it runs a
///   copy of the creator's memory, including locks other threads held at the
///   fork. Create processes before starting threads, or read
///   docs/fork-safety.md.
/// - The created process ends with `_exit`: no `atexit` handlers, no static
///   destructors. `pprocess::exit` and the library's own wrappers flush
///   stdio and the standard C++ streams first.

#include <sys/types.h>  // pid_t

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <pprocess/detail/child.hpp>
#include <pprocess/detail/fifo.hpp>
#include <pprocess/detail/private_fd.hpp>
#include <pprocess/detail/unique_fd.hpp>
#include <pprocess/detail/wire.hpp>
#include <pprocess/error.hpp>

namespace pprocess {

class Channel;

namespace detail {
struct channel_access;

/// What a channel is connected to.
enum class channel_role : std::uint8_t {
  pair,    ///< one end of a socket pair between creator and created process
  server,  ///< a background process's end: serves one peer at a time,
           ///< accepted on a listening socket, with acknowledged frames
  client,  ///< a collector's connection to a background process
};

/// What a read-ahead channel (see channel_access::read_ahead) has read and
/// not yet handed out: one read takes whatever arrived, and frames come out
/// of bytes[begin, end). Descriptors wait in `fds` under the stream offset
/// of the last byte of the read that brought them, which lies inside the
/// frame they came with. A move leaves the source with nothing buffered.
struct read_ahead_state {
  read_ahead_state() = default;
  read_ahead_state(read_ahead_state&& other) noexcept {
    *this = std::move(other);
  }
  read_ahead_state& operator=(read_ahead_state&& other) noexcept {
    if (this != &other) {
      enabled = other.enabled;
      bytes = std::move(other.bytes);
      begin = std::exchange(other.begin, 0);
      end = std::exchange(other.end, 0);
      stream_read = other.stream_read;
      fds = std::move(other.fds);
    }
    return *this;
  }
  read_ahead_state(const read_ahead_state&) = delete;
  read_ahead_state& operator=(const read_ahead_state&) = delete;
  ~read_ahead_state() = default;

  [[nodiscard]] std::size_t buffered() const noexcept { return end - begin; }

  bool enabled = false;
  std::vector<char> bytes;
  std::size_t begin = 0;
  std::size_t end = 0;
  std::uint64_t stream_read = 0;  // bytes taken from the socket so far
  fifo<std::pair<std::uint64_t, std::vector<unique_fd>>> fds;
};

}  // namespace detail

/// One end of a two-way channel between a creator and a created process.
///
/// Move-only; closes its descriptor on destruction. In the creator, the
/// channel also owns the created process: a receive that finds the process
/// dead reports how it ended (ProcessError), and the process is reaped.
class [[nodiscard]] Channel {
 public:
  Channel() noexcept = default;
  Channel(Channel&&) noexcept = default;
  Channel& operator=(Channel&&) noexcept = default;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ~Channel() = default;

  /// 0 in the created process; the created process's pid in the creator
  /// (for a channel connected to a background process: that process's pid).
  [[nodiscard]] pid_t pid() const noexcept {
    return child_ ? child_.pid() : peer_pid_;
  }

  /// Sends `value` to the peer.
  ///
  /// @throws ChannelError the peer closed its end (never SIGPIPE), or the
  ///         channel is closed
  /// `T` must satisfy pprocess::serializable; another type is a compile
  /// error that names it and says what would make it serializable.
  template <class T>
  void send(const T& value);

  /// Receives the next value, which must be a `T`.
  ///
  /// Blocks until a whole frame arrived.
  /// @throws RemoteError  the peer sent an exception (its callable threw)
  /// @throws ProcessError the created process ended without sending
  /// @throws ChannelError the peer sent another type (the message names
  ///         both), hung up, or sent a frame that does not decode
  template <class T>
  [[nodiscard]] T receive();

  /// Closes the channel; the peer's next receive sees the end.
  void close() noexcept;

  /// The socket's descriptor, for the user's own poll loops; -1 if closed.
  [[nodiscard]] int fileno() const noexcept { return fd_.get(); }

  /// Whether the channel is open.
  explicit operator bool() const noexcept { return fd_.valid(); }

 private:
  friend struct detail::channel_access;

  Channel(detail::unique_fd fd, detail::child process) noexcept
      : fd_(std::move(fd)), child_(std::move(process)) {}

  template <class T>
  T receive_one();
  template <class T>
  void receive_into(T& value);

  // The non-template half of send/receive, in src/channel.cpp.
  void send_parts(std::span<const std::span<const char>> parts,
                  std::span<const int> fds = {});
  void write_parts(std::span<const std::span<const char>> parts,
                   std::span<const int> fds = {});
  std::size_t read_header(detail::frame_header& header);
  std::size_t read_bytes(char* data, std::size_t size);
  // Reads what has arrived into ahead_: the byte count, 0 at the end, -1
  // when `flags` has MSG_DONTWAIT and nothing is there.
  long fill_ahead(int flags);
  // Whether the next `size` bytes are (now) in ahead_ in one piece.
  bool buffer_ahead(std::size_t size);
  void accept_peer();
  void await_ack();
  void frame_done() noexcept;
  bool next_peer(const ChannelError& error) noexcept;
  bool take_end();
  void send_end();
  detail::frame_header receive_header(std::string_view expected_name,
                                      std::uint64_t expected_hash);
  std::span<const char> take_payload(std::size_t size);
  void receive_payload(void* data, std::size_t size);
  void receive_payload(std::vector<char>& buffer, std::size_t size);
  void skip_payload(std::size_t size);
  template <class Container>
  void receive_elements(Container& container, std::size_t size);
  [[noreturn]] void throw_malformed(std::string_view type,
                                    std::string_view why) const;

  detail::private_fd fd_;  // the connection (server: the current peer's)
  detail::child child_;
  detail::channel_role role_ = detail::channel_role::pair;
  pid_t peer_pid_ = 0;           // client: the background process
  detail::private_fd listener_;  // server: the listening socket
  std::string address_;          // server, client: the socket's path
  std::vector<char> buffer_;     // cereal's encodings, reused between frames
  bool payload_inline_ = false;  // the payload came with the name
  std::span<const char> first_read_;  // the frame's name (and inline
                                      // payload): in buffer_ or ahead_
  std::vector<int> send_fds_;         // descriptors going with the frame sent
  std::vector<detail::unique_fd> received_fds_;  // ... and the one received
  detail::read_ahead_state ahead_;  // see channel_access::read_ahead
  // Frames that claim more are refused before anything is allocated.
  std::uint64_t max_payload_ = std::uint64_t{1} << 40;
  // Frames whose header a receive took: tells an exchange whether
  // store_data consumed what arrived (see channel_access::frames_taken).
  std::uint64_t frames_taken_ = 0;
};

/// Creates a process (fork); both sides get their end of a new channel.
///
/// `pid()` of the returned channel is 0 in the created process, which must
/// leave through `pprocess::exit(channel)`.
/// @throws Error fork() or socketpair() failed (the message says why)
[[nodiscard]] Channel create();

/// Ends the created process: flushes stdio and the C++ streams, then
/// `_exit(status)` (no atexit handlers, no static destructors), which closes
/// `channel`: the creator sees its end once the process is gone.
[[noreturn]] void exit(Channel& channel, int status = 0);

namespace detail {

/// Runs `body` as the whole life of a created process: an exception that
/// escapes it is sent over `channel` as a RemoteError payload, then the
/// process exits: status 0 once the result or the exception was delivered,
/// 1 when even the exception could not be sent.
template <class Body>
[[noreturn]] void run_created(Channel& channel, Body&& body) noexcept;

/// Asks for transparent huge pages over the 2 MiB-aligned part of a large
/// buffer that is about to be filled (a hint: ignored where unsupported).
void advise_huge_pages(void* data, std::size_t bytes) noexcept;

/// The next value, or nothing once the peer closed the channel: how a kept
/// process learns that no more work will come.
template <class T>
std::optional<T> receive_unless_closed(Channel& channel) {
  try {
    return channel.receive<T>();
  } catch (const ChannelError& e) {
    if (e.code() == ChannelErrc::closed) {
      return std::nullopt;
    }
    throw;
  }
}

/// The demangled type name and what() of the exception being handled.
std::pair<std::string, std::string> describe_current_exception();

/// Sends the exception being handled over `channel`, best effort; false
/// when it could not be sent.
bool send_current_exception(Channel& channel) noexcept;

}  // namespace detail

/// The lvalue through which a created process sees an argument of type `T`.
template <class T>
using stored_arg_t = std::decay_t<T>&;

/// True when `fn` can be the body of a created process started with `Args`.
template <class F, class... Args>
concept start_callable = std::invocable < std::decay_t<F>
&, Channel&, stored_arg_t<Args>... > ;

/// Runs `fn(channel, args...)` in a newly created process.
///
/// The created process sees the caller's memory as it was at the call; its
/// own changes stay its own. If `fn` throws, the exception reaches the
/// creator's next `receive()` on the returned channel as RemoteError. When
/// `fn` returns, the process flushes its streams and ends with `_exit(0)`.
///
/// @returns the creator's end of the channel; `pid()` is the created pid
/// @throws Error fork() or socketpair() failed
template <class F, class... Args>
  requires start_callable<F, Args...>
[[nodiscard]] Channel start(F&& fn, Args&&... args);

// What a start (or a managed call) whose callable does not fit says, for the
// compile error (static_assert takes only a literal). `who` is a literal.
#define PPROCESS_START_CALLABLE_MESSAGE(who)                                 \
  who ": the callable must take pprocess::Channel& as its first parameter, " \
      "then the arguments; to run a plain function, wrap it: "               \
      "pprocess::MakeParallel(fn)"

/// A callable that cannot run as `fn(channel, args...)`: a compile error
/// that says what to write instead (its 'In instantiation of' line names
/// the callable and the arguments).
template <class F, class... Args>
  requires(!start_callable<F, Args...>)
Channel start(F&& /*fn*/, Args&&... /*args*/) {
  static_assert(start_callable<F, Args...>,
                PPROCESS_START_CALLABLE_MESSAGE("start"));
  return {};
}

// ---------------------------------------------------------------------------
// Implementation.

namespace detail {

struct channel_access {
  static Channel make(unique_fd fd, child process) noexcept {
    return Channel(std::move(fd), std::move(process));
  }
  static child& process(Channel& channel) noexcept { return channel.child_; }
  /// Takes `channel`'s connection out of it, still open.
  static private_fd release_fd(Channel& channel) noexcept {
    return std::move(channel.fd_);
  }
  /// Receives into an existing `value`, reusing what it allocated (a pair
  /// channel's receive, without the retry of a background process's).
  template <class T>
  static void receive_into(Channel& channel, T& value) {
    channel.receive_into(value);
  }
  static void send_frame(Channel& channel, const encoded_frame& frame) {
    const encoded_frame* const frames[] = {&frame};
    send_frames(channel, frames);
  }
  /// Sends `frames` in one write. Only the first may carry descriptors: they
  /// ride on the write's first bytes.
  static void send_frames(Channel& channel,
                          std::span<const encoded_frame* const> frames) {
    std::vector<std::span<const char>> parts;
    parts.reserve(frames.size());
    for (const encoded_frame* frame : frames) {
      parts.emplace_back(frame->bytes);
    }
    std::vector<int> fds;
    for (const auto& fd : frames.front()->fds) {
      fds.push_back(fd.get());
    }
    channel.send_parts(parts, fds);
  }
  /// A background process's end: it serves the peers that connect to
  /// `listener`, bound at `address`, which it removes when it closes.
  static Channel make_server(unique_fd listener, std::string address) noexcept;
  /// A collector's end, connected to the background process at `address`.
  static Channel make_client(unique_fd connection, pid_t peer,
                             std::string address) noexcept;
  static bool persistent(const Channel& channel) noexcept {
    return channel.role_ == channel_role::client;
  }
  /// A background process's end, which has an address to remove.
  static bool serves(const Channel& channel) noexcept {
    return channel.role_ == channel_role::server;
  }
  static const std::string& address(const Channel& channel) noexcept {
    return channel.address_;
  }
  /// Lets `channel` read ahead: each read takes whatever has arrived, so
  /// that a burst of small frames costs one system call. Only for channels
  /// the library polls itself (Exchange::ready and store know of the
  /// buffered bytes; a user's poll on fileno() would not).
  /// `storage`: a retired channel's buffer (see take_read_buffer), so that
  /// a channel per task allocates none.
  static void read_ahead(Channel& channel,
                         std::vector<char> storage = {}) noexcept {
    channel.ahead_.enabled = true;
    if (channel.ahead_.bytes.empty()) {
      channel.ahead_.bytes = std::move(storage);
    }
  }
  /// The storage of `channel`'s read-ahead buffer, for another channel;
  /// what it held is dropped (the channel is about to be closed).
  static std::vector<char> take_read_buffer(Channel& channel) noexcept {
    channel.ahead_.begin = channel.ahead_.end = 0;
    return std::move(channel.ahead_.bytes);
  }
  /// How many frames receives have taken from `channel` so far (whole or
  /// not): an exchange compares it around store_data to learn whether the
  /// value that arrived was consumed.
  static std::uint64_t frames_taken(const Channel& channel) noexcept {
    return channel.frames_taken_;
  }
  /// Bytes read ahead and not yet taken by a receive.
  static std::size_t buffered(const Channel& channel) noexcept {
    return channel.ahead_.buffered();
  }
  enum class input { value, end, none };
  /// Whether a receive on `channel` would find something now (a frame has
  /// begun to arrive), the end, or nothing yet; never blocks.
  static input poll_input(Channel& channel);
  /// Client: true when the next frame is the background process's end,
  /// which is then consumed and acknowledged.
  static bool take_end(Channel& channel) { return channel.take_end(); }
  /// Server: tells the (next) collector that everything was delivered,
  /// waiting for one to acknowledge it.
  static void send_end(Channel& channel) { channel.send_end(); }
};

}  // namespace detail

// Why a type cannot cross a channel, for the compile error (static_assert
// takes only a literal).
#define PPROCESS_NOT_SERIALIZABLE_MESSAGE                                    \
  "pprocess: this type cannot cross a channel (its name is in the 'In "      \
  "instantiation of' line). Give it a cereal serialize() function, make it " \
  "trivially copyable, or use the standard containers, tuples, optionals "   \
  "and variants of such types. Pointers never travel."

template <class T>
void Channel::send(const T& value) {
  static_assert(serializable<T>, PPROCESS_NOT_SERIALIZABLE_MESSAGE);
  send_fds_.clear();
  constexpr std::string_view name = detail::type_name<T>();
  const std::span<const char> payload =
      detail::payload_of(value, buffer_, send_fds_);
  const detail::frame_header header = detail::header_for<T>(payload.size());
  const std::span<const char> parts[] = {
      {reinterpret_cast<const char*>(&header), sizeof header},
      {name.data(), name.size()},
      payload};
  send_parts(parts, send_fds_);
  send_fds_.clear();
}

template <class T>
T Channel::receive() {
  static_assert(serializable<T>, PPROCESS_NOT_SERIALIZABLE_MESSAGE);
  for (;;) {
    try {
      return receive_one<T>();
    } catch (const ChannelError& error) {
      if (!next_peer(error)) {
        throw;
      }
      // A background process whose peer broke off waits for the next one.
    }
  }
}

template <class T>
T Channel::receive_one() {
  T value{};
  receive_into(value);
  return value;
}

template <class T>
void Channel::receive_into(T& value) {
  constexpr std::string_view name = detail::type_name<T>();
  const detail::frame_header header =
      receive_header(name, detail::type_fingerprint<T>);
  if constexpr (detail::raw_value<T>) {
    if (header.payload_size != sizeof(T)) {
      (void)take_payload(header.payload_size);
      throw_malformed(name, "payload size differs from the type's size");
    }
    if (payload_inline_) {
      std::memcpy(&value, take_payload(sizeof(T)).data(), sizeof(T));
    } else {
      receive_payload(&value, sizeof(T));
    }
  } else if constexpr (detail::raw_sequence<T>) {
    using element = typename detail::is_raw_sequence<T>::element;
    if (header.payload_size % sizeof(element) != 0) {
      if (!payload_inline_) {
        skip_payload(header.payload_size);
      }
      throw_malformed(name, "payload is not a whole number of elements");
    }
    if (payload_inline_) {
      const std::span<const char> bytes = take_payload(header.payload_size);
      value.resize(bytes.size() / sizeof(element));
      if (!bytes.empty()) {  // an empty vector's data() may be null
        std::memcpy(value.data(), bytes.data(), bytes.size());
      }
    } else {
      receive_elements(value, header.payload_size);
    }
  } else {
    const std::span<const char> bytes = take_payload(header.payload_size);
    bool exact = false;
    try {
      exact = detail::cereal_decode(bytes, value, &received_fds_);
    } catch (const std::exception& e) {
      throw_malformed(name, e.what());
    }
    if (!exact) {
      throw_malformed(name, "bytes left over after decoding");
    }
  }
  frame_done();
}

/// Reads `size` bytes of payload into `container`, resized to hold them. The
/// memory grows with the bytes that actually arrive, so a frame that claims
/// more than its peer sends costs a truncated_frame error, not an
/// allocation of the claimed size.
template <class Container>
void Channel::receive_elements(Container& container, std::size_t size) {
  using element = typename Container::value_type;
  constexpr std::size_t first_step = std::size_t{64} << 20;
  std::size_t done = 0;
  container.resize(0);
  while (done < size) {
    std::size_t target = std::min(size, std::max(2 * done, first_step));
    target -= target % sizeof(element);
    if (target > container.capacity() * sizeof(element)) {
      // Fresh pages are zeroed as they are first touched; in huge pages
      // that costs a fraction (bulk results are bound by it otherwise).
      container.reserve(target / sizeof(element));
      detail::advise_huge_pages(container.data(),
                                container.capacity() * sizeof(element));
    }
    container.resize(target / sizeof(element));
    receive_payload(reinterpret_cast<char*>(container.data()) + done,
                    target - done);
    done = target;
  }
}

template <class Body>
[[noreturn]] void detail::run_created(Channel& channel, Body&& body) noexcept {
  int status = 0;
  try {
    std::forward<Body>(body)();
  } catch (...) {
    status = detail::send_current_exception(channel) ? 0 : 1;
  }
  pprocess::exit(channel, status);
}

template <class F, class... Args>
  requires start_callable<F, Args...> Channel start(F&& fn, Args&&... args) {
    Channel channel = create();
    if (channel.pid() == 0) {
      detail::run_created(channel, [&] {
        // Copies, as a deferred start would have made: the callable sees
        // lvalues it may modify, whatever the caller passed.
        std::decay_t<F> callable(std::forward<F>(fn));
        std::tuple<std::decay_t<Args>...> stored(std::forward<Args>(args)...);
        std::apply([&](auto&... a) { std::invoke(callable, channel, a...); },
                   stored);
      });
    }
    return channel;
  }

}  // namespace pprocess
