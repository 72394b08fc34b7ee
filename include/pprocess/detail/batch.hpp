// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// pmap's batches: a pool of processes forked at the call computes ranges of
/// the sequence, each process on its own copy of it (so only two numbers go
/// out per range), and sends back one frame per range.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <pprocess/channel.hpp>
#include <pprocess/detail/batch_board.hpp>

namespace pprocess {

template <class T>
class SharedArray;

namespace detail {

/// The results of one range: a value per element (default-constructed where
/// the element failed) and the failures, by offset in the range.
template <class T>
struct batch {
  std::vector<T> values;
  std::vector<std::tuple<std::uint64_t, std::string, std::string>> errors;
  // The results would carry more SharedArrays than a frame can: the
  // creator hands the range out again in halves.
  bool split = false;
  // Large values travel apart: `values` is empty, and this many frames of
  // one T each follow, read by the creator straight into their places.
  std::uint64_t apart = 0;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(values, errors, split, apart);
  }
};

/// Values at least this large on average travel in frames of their own (a
/// vector of doubles, a string): each is then written from its own memory
/// and read into its place in the Map, where encoding them into one batch
/// would copy each twice more. Smaller ones travel together, in one frame.
inline constexpr std::size_t apart_bytes = std::size_t{64} << 10;

/// Whether the values of a range go apart (see apart_bytes).
template <class T>
bool travel_apart(const std::vector<T>& values) {
  if constexpr (raw_sequence<T>) {
    using element = typename is_raw_sequence<T>::element;
    std::size_t bytes = 0;
    for (const T& value : values) {
      bytes += value.size() * sizeof(element);
    }
    return !values.empty() && bytes / values.size() >= apart_bytes;
  } else {
    return false;
  }
}

/// A range of the sequence, [first, last), as offsets: two numbers, sent as
/// their own bytes.
using batch_range = std::array<std::uint64_t, 2>;

/// Results that can travel in batches: cereal must encode a vector of them
/// (a raw struct without a serialize function travels only on its own).
template <class T>
inline constexpr bool batchable = cereal_encodable<std::vector<T>>::value;

/// The most elements one batch may hold: each SharedArray sends a
/// descriptor, and a frame carries at most 253 of them.
template <class T>
inline constexpr std::size_t max_batch = static_cast<std::size_t>(-1);
template <class U>
inline constexpr std::size_t max_batch<SharedArray<U>> = 253;

/// The loop of a pool process: receive a range, send its batch, until the
/// creator closes the channel. An exception fails only its own element.
/// Before each element the process says on its `slot` which one it runs
/// (and, when `timed`, since when).
template <class T, class F, class E>
void serve_batches(Channel& channel, F& fn, std::vector<E>& elements,
                   batch_slot& slot, bool timed) {
  batch<T> results;  // its buffers serve every range
  while (const auto range = receive_unless_closed<batch_range>(channel)) {
    const auto [first, last] = *range;
    results.values.clear();
    results.values.resize(last - first);
    results.errors.clear();
    for (std::uint64_t i = first; i < last; ++i) {
      mark_element(slot, i, timed);
      try {
        results.values[i - first] =
            static_cast<T>(std::invoke(fn, elements[i]));
      } catch (...) {
        auto [type, what] = describe_current_exception();
        results.errors.emplace_back(i - first, std::move(type),
                                    std::move(what));
      }
    }
    slot.element.store(batch_slot::idle, std::memory_order_release);
    try {
      if (travel_apart(results.values)) {
        batch<T> head;
        head.errors = std::move(results.errors);
        head.apart = results.values.size();
        channel.send(head);
        for (const T& value : results.values) {
          channel.send(value);
        }
        results.errors = std::move(head.errors);
      } else {
        channel.send(results);
      }
    } catch (const ChannelError& e) {
      if (e.code() != ChannelErrc::too_many_descriptors) {
        throw;
      }
      batch<T> split;  // nothing was sent: ask for smaller ranges
      split.split = true;
      channel.send(split);
    }
  }
}

}  // namespace detail
}  // namespace pprocess
