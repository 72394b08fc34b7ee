// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// MakeParallel and MakeReusable: turn an ordinary function into the body of
/// a created process that sends the function's result over its channel.
///
///     int calculate(int i, int j);
///     pprocess::Map<int> results({.limit = 4});
///     auto calc = results.manage(pprocess::MakeParallel(calculate));
///     calc(1, 2);  // calculate(1, 2) runs in a created process

#include <concepts>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include <pprocess/channel.hpp>

namespace pprocess {
namespace detail {

/// The body of a created process that sends `fn(args...)`.
template <class F>
struct parallel_callable {
  F fn;

  template <class... Args>
    requires std::invocable<F&, Args&...>
  void operator()(Channel& channel, Args&... args) {
    using result = std::decay_t<std::invoke_result_t<F&, Args&...>>;
    static_assert(!std::is_void_v<result>,
                  "MakeParallel/MakeReusable: the function must return the "
                  "value to send back to the creator");
    static_assert(serializable<result>,
                  "MakeParallel/MakeReusable: the function's result type "
                  "cannot cross a channel (see pprocess::serializable)");
    channel.send(std::invoke(fn, args...));
  }
};

/// The same body, marked so that an exchange with `reuse = true` keeps the
/// process and sends it further argument tuples.
template <class F>
struct reusable_callable : parallel_callable<F> {};

template <class T>
inline constexpr bool is_reusable = false;
template <class F>
inline constexpr bool is_reusable<reusable_callable<F>> = true;

/// Bodies the library wrote, which send one value and exit: an exchange
/// may stop reading their channel after that value. Any other body's
/// channel is read to its end.
template <class T>
inline constexpr bool sends_one_value = false;
template <class F>
inline constexpr bool sends_one_value<parallel_callable<F>> = true;
template <class F>
inline constexpr bool sends_one_value<reusable_callable<F>> = true;

}  // namespace detail

/// Wraps `fn` so that a created process runs it and sends its result:
/// `MakeParallel(f)` is callable as `(Channel&, Args...)` and sends
/// `f(Args...)`. An exception escaping `f` reaches the creator as
/// RemoteError where the result is consumed.
template <class F>
[[nodiscard]] auto MakeParallel(F fn) {
  return detail::parallel_callable<F>{std::move(fn)};
}

/// Like MakeParallel, and with `Options::reuse` the exchange keeps the
/// process to serve further calls: their arguments are then serialized to it
/// (so they must be serializable). At most `limit` processes serve all the
/// calls of one managed callable.
template <class F>
[[nodiscard]] auto MakeReusable(F fn) {
  return detail::reusable_callable<F>{{std::move(fn)}};
}

namespace detail {

/// Whose result type a managed function must produce, for the message.
enum class result_owner { map, queue };

/// Checks, at compile time, that a managed function whose result type is `R`
/// can deliver a `T` to its Map<T> or Queue<T>. Its instantiation context
/// ("with T = ...; R = ...") names both types when it fails.
template <result_owner Owner, class T, class R>
struct check_result {
  static constexpr bool value =
      !std::is_void_v<R> && std::is_convertible_v<R, T>;

  static_assert(!std::is_void_v<R>,
                "MakeParallel/MakeReusable: the function must return the "
                "value to send back to the creator");
  static_assert(std::is_void_v<R> || Owner != result_owner::map || value,
                "Map<T>::manage: the callable returns a type other than T "
                "(that does not convert to T); return T, or use Map<R> with "
                "R the callable's result type");
  static_assert(std::is_void_v<R> || Owner != result_owner::queue || value,
                "Queue<T>::manage: the callable returns a type other than T "
                "(that does not convert to T); return T, or use Queue<R> "
                "with R the callable's result type");
};

/// Calls `fn` and returns its result as a `T`, so that the created process
/// sends the type its Map<T> or Queue<T> receives.
template <result_owner Owner, class T, class F>
struct returning {
  F fn;

  template <class... Args>
    requires std::invocable<F&, Args&...>
  auto operator()(Args&... args) -> T {
    using result = std::invoke_result_t<F&, Args&...>;
    if constexpr (check_result<Owner, T, result>::value) {
      return std::invoke(fn, args...);
    } else {
      return T{};  // never compiled into a program: check_result failed
    }
  }
};

template <class F>
struct parallel_function {};
template <class G>
struct parallel_function<parallel_callable<G>> {
  using type = G;
};
template <class G>
struct parallel_function<reusable_callable<G>> {
  using type = G;
};

/// What Map<T>::manage and Queue<T>::manage pass to Exchange::manage: a
/// MakeParallel or MakeReusable function made to return a `T` (checked at
/// compile time); any other callable as it is.
template <result_owner Owner, class T, class F>
auto returning_result(F&& fn) {
  using callable = std::decay_t<F>;
  if constexpr (requires { typename parallel_function<callable>::type; }) {
    using function =
        returning<Owner, T, typename parallel_function<callable>::type>;
    function body{std::forward<F>(fn).fn};
    if constexpr (is_reusable<callable>) {
      return reusable_callable<function>{{std::move(body)}};
    } else {
      return parallel_callable<function>{std::move(body)};
    }
  } else {
    return callable(std::forward<F>(fn));
  }
}

/// The loop of a reusable process: receive an argument tuple, send the
/// result (or the exception), until the creator closes the channel.
template <class Tuple, class F>
void serve_calls(Channel& channel, parallel_callable<F>& callable) {
  // Calls come several to a write; one read takes them all.
  channel_access::read_ahead(channel);
  while (std::optional<Tuple> args = receive_unless_closed<Tuple>(channel)) {
    try {
      std::apply([&](auto&... a) { callable(channel, a...); }, *args);
    } catch (...) {
      // This call failed, whatever it threw (a ChannelError of the
      // callable's own included): its result is the exception, and the
      // next call is served. Only a creator that can no longer be told
      // ends the loop.
      if (!send_current_exception(channel)) {
        return;
      }
    }
  }
}

}  // namespace detail
}  // namespace pprocess
