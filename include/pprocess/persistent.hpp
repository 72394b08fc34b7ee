// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Background and persistent processes: work that outlives the program that
/// started it, collected later through a UNIX-domain socket, possibly by
/// another program.
///
///     // program --start: start the work and exit at once.
///     pprocess::BackgroundCallable task("task.socket",
///                                       pprocess::MakeParallel(compute));
///     task(42);
///
///     // program --reconnect, later: collect the result.
///     auto queue = pprocess::BackgroundQueue<Result>("task.socket");
///     for (const Result& r : queue) { ... }
///
/// The socket is bound before the fork, so a bad address throws in the
/// caller. The background process runs in a session of its own with its
/// standard streams on /dev/null, and no parent-death signal: it lives on
/// after its creator. What it sends waits for a collector; each value is
/// acknowledged by the collector that receives it, so it reaches exactly one
/// collector and is not lost when a collector goes away midway. Once a
/// collector has everything, the process removes its socket and exits.
///
/// Security: the socket file is mode 0600 and both sides check the peer's
/// uid (SO_PEERCRED): only processes of the same user are served. An
/// existing file that is not a socket is never replaced; a stale socket
/// (nobody listening) is; a live one is an Error.
///
/// A background process whose collector never comes waits for one. Stop it
/// with `fuser -k -TERM task.socket` (or find its pid with `ss -xlp`), then
/// remove the socket file. See docs/background.md.

#include <concepts>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <pprocess/channel.hpp>
#include <pprocess/detail/unique_fd.hpp>
#include <pprocess/exchange.hpp>
#include <pprocess/queue.hpp>

namespace pprocess {
namespace detail {

/// A listening socket at `address`, mode 0600, replacing a stale socket.
/// @throws Error the path is too long, its directory is missing, it exists
///         and is not a socket, or a live process listens on it
unique_fd listen_at(const std::string& address);

/// A collector's channel to the background process at `address`. Its pid()
/// is `known_pid` when the caller knows it (it just started the process),
/// else the one the kernel recorded for the listening socket.
/// @throws ChannelError nobody listens there, or it belongs to another user
Channel connect_to(const std::string& address, pid_t known_pid = 0);

/// Forks a detached process (own session, stdio on /dev/null, not our
/// child) that takes over `listener` (listens on it again, so that
/// collectors see its pid). 0 in the detached process; its pid in the
/// caller, once it listens.
pid_t fork_detached(int listener = -1);

/// Starts `fn(channel, args...)` in a detached process serving `address`;
/// returns its pid.
template <class F, class... Args>
pid_t start_background(const std::string& address, F& fn, Args&&... args) {
  unique_fd listener = listen_at(address);
  const pid_t pid = fork_detached(listener.get());
  if (pid == 0) {
    Channel channel = channel_access::make_server(std::move(listener), address);
    run_created(channel, [&] { std::invoke(fn, channel, args...); });
  }
  return pid;  // the caller's copy of the listener closes; the process has its
               // own
}

/// The persistent operations PersistentExchange and PersistentQueue share.
template <class Derived>
class persistent_operations {
 public:
  /// Collects from the background process listening at `address`: its
  /// values arrive as those of any process of this exchange.
  /// @throws ChannelError nobody listens at `address`, or it belongs to
  ///         another user
  /// @throws Error `address` cannot be a socket path (empty, too long)
  void connect(const std::string& address) {
    self().add_persistent(connect_to(address));
  }

  /// Starts `fn(channel, args...)` in a background process at `address` and
  /// collects from it. The process outlives this exchange.
  /// @throws Error a bad or busy address
  ///
  /// The address is a template parameter so that this overload, more
  /// specialized, wins over Exchange::start's catch-all for callables that
  /// do not fit (which would otherwise take the address for the callable).
  template <class A, class F, class... Args>
    requires std::convertible_to<A, std::string>
  void start(A&& address, F&& fn, Args&&... args) {
    if constexpr (start_callable<F, Args...>) {
      const std::string where(std::forward<A>(address));
      std::decay_t<F> body(std::forward<F>(fn));
      const pid_t pid =
          start_background(where, body, std::forward<Args>(args)...);
      self().add_persistent(connect_to(where, pid));
    } else {
      static_assert(start_callable<F, Args...>,
                    PPROCESS_START_CALLABLE_MESSAGE("start"));
    }
  }

  /// Creates a background process at `address`: engaged in that process
  /// (which must leave through pprocess::exit), empty in the creator, which
  /// collects from it.
  [[nodiscard]] std::optional<Channel> create(const std::string& address) {
    unique_fd listener = listen_at(address);
    const pid_t pid = fork_detached(listener.get());
    if (pid == 0) {
      return channel_access::make_server(std::move(listener), address);
    }
    listener.reset();
    self().add_persistent(connect_to(address, pid));
    return std::nullopt;
  }

  /// A callable that starts `fn` in a background process at `address` with
  /// the arguments it is called with, and collects from it.
  template <class F>
  [[nodiscard]] auto manage(std::string address, F&& fn) {
    return [this, address = std::move(address),
            body = std::decay_t<F>(std::forward<F>(fn))](auto&&... args) {
      start(address, body, std::forward<decltype(args)>(args)...);
    };
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

}  // namespace detail

/// Turns a channel-taking callable into one that runs in a background
/// process at `address` each time it is called.
///
///     pprocess::BackgroundCallable task("task.socket",
///                                       pprocess::MakeParallel(compute));
///     task(1, 2);  // compute(1, 2) runs in a detached process
template <class F>
class BackgroundCallable {
 public:
  BackgroundCallable(std::string address, F fn)
      : address_(std::move(address)), fn_(std::move(fn)) {}

  /// Starts `fn(channel, args...)` in a detached process listening at the
  /// address, and returns at once.
  /// @throws Error a bad address, a file that is not a socket, a live socket
  template <class... Args>
    requires start_callable<F&, Args...>
  void operator()(Args&&... args) {
    detail::start_background(address_, fn_, std::forward<Args>(args)...);
  }
  template <class... Args>
    requires(!start_callable<F&, Args...>)
  void operator()(Args&&... /*args*/) {
    static_assert(start_callable<F&, Args...>,
                  PPROCESS_START_CALLABLE_MESSAGE("BackgroundCallable"));
  }

  [[nodiscard]] const std::string& address() const noexcept { return address_; }

 private:
  std::string address_;
  F fn_;
};

/// An exchange whose processes may be background processes reached through
/// their addresses. Channels connected to background processes are
/// continuous: each delivers values until its process has finished.
class PersistentExchange
    : public Exchange,
      public detail::persistent_operations<PersistentExchange> {
 public:
  explicit PersistentExchange(Options options = {}) : Exchange(options) {}

  using Exchange::create;
  using Exchange::manage;
  using Exchange::start;
  using persistent_operations::create;
  using persistent_operations::manage;
  using persistent_operations::start;

 private:
  friend class detail::persistent_operations<PersistentExchange>;
};

/// A Queue that can also collect from background processes.
template <class T>
class PersistentQueue
    : public Queue<T>,
      public detail::persistent_operations<PersistentQueue<T>> {
  using persistent = detail::persistent_operations<PersistentQueue<T>>;

 public:
  explicit PersistentQueue(Options options = {}) : Queue<T>(options) {}

  PersistentQueue(PersistentQueue&&) noexcept = default;
  PersistentQueue& operator=(PersistentQueue&&) noexcept = default;
  ~PersistentQueue() override = default;

  using Queue<T>::create;
  using Queue<T>::manage;
  using Queue<T>::start;
  using persistent::create;
  using persistent::manage;
  using persistent::start;

 private:
  friend persistent;
};

/// A PersistentQueue connected to the background process at `address`.
/// @throws ChannelError nobody listens at `address`
template <class T>
[[nodiscard]] PersistentQueue<T> BackgroundQueue(const std::string& address) {
  PersistentQueue<T> queue;
  queue.connect(address);
  return queue;
}

}  // namespace pprocess
