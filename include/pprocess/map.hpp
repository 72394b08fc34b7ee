// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Map: results in the order the work was started; and pmap.
///
///     auto squares = pprocess::pmap([](int x) { return x * x; },
///                                   std::vector{1, 2, 3}, {.limit = 2});
///     squares[2];                    // 9, blocks until that result is in
///     for (int s : squares) { ... }  // 1 4 9
///
/// A result that failed (its callable threw, or its process died) throws
/// its RemoteError or ProcessError where it is read; every other result is
/// still there.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <pprocess/detail/journal.hpp>
#include <pprocess/detail/result_iterators.hpp>
#include <pprocess/detail/stable_vector.hpp>
#include <pprocess/exchange.hpp>
#include <pprocess/parallel.hpp>

namespace pprocess {

/// An exchange whose results are read in the order their work was started.
template <class T>
class Map : public Exchange {
  static_assert(serializable<T>, "Map<T>: T must be serializable");

 public:
  explicit Map(Options options = {}) : Exchange(checked(options)) {}

  Map(Map&&) noexcept = default;
  Map& operator=(Map&&) noexcept = default;
  ~Map() override = default;

  /// Starts `fn(element)` for each element of `sequence`, in order.
  ///
  /// With Options::journal, each result is kept in that file as it
  /// arrives, and the results the file already holds are taken from it,
  /// not computed (docs/journal.md). The journal covers one such call.
  /// @throws Error the journal cannot be opened or locked, was written for
  ///   other elements or another result type, is damaged, or this Map
  ///   already made its journaled call; the elements are not serializable
  ///   (their fingerprints are their bytes). Nothing is started then.
  template <class F, class Range>
  Map& operator()(F&& fn, Range&& sequence);

  /// Exchange::manage, for a Map: a MakeParallel or MakeReusable function
  /// must return T, or a type that converts to T (converted in the created
  /// process); another result type is a compile error.
  template <class F>
  [[nodiscard]] auto manage(F&& fn) {
    return Exchange::manage(
        detail::returning_result<detail::result_owner::map, T>(
            std::forward<F>(fn)));
  }

  /// The result of the `index`-th task, waiting until it is in.
  /// @throws RemoteError, ProcessError that task's failure
  /// @throws Error `index` ≥ size() (the message names both)
  const T& operator[](std::size_t index);

  /// The results of tasks [first, last), waiting for each.
  std::vector<T> slice(std::size_t first, std::size_t last);

  /// How many tasks were started so far.
  [[nodiscard]] std::size_t size() const noexcept { return tasks_started(); }

  using iterator = detail::index_iterator<Map, T>;

  /// Input iteration over the results in start order, waiting per element;
  /// end() is the position after the tasks started so far.
  iterator begin() { return iterator(this, 0); }
  iterator end() { return iterator(this, size()); }

  void store_data(Channel& channel) override;

 protected:
  /// For layers that hand results on as they come (pprocess::mpi), never
  /// waiting: how many tasks from `index` on, at most `max`, have their
  /// result in (a value or an error), counted a run of storage at a time.
  [[nodiscard]] std::size_t settled_count(std::size_t index,
                                          std::size_t max) noexcept {
    return count_while(index, max, [](state s) { return s != state::pending; });
  }
  /// How many tasks from `index` on, at most `max`, have a value.
  [[nodiscard]] std::size_t value_count(std::size_t index,
                                        std::size_t max) noexcept {
    return count_while(index, max, [](state s) { return s == state::value; });
  }

  /// Whether settled task `index` failed; its error is then error_of().
  [[nodiscard]] bool failed(std::size_t index) const noexcept {
    return states_[index] == state::error;
  }
  [[nodiscard]] const std::exception_ptr& error_of(std::size_t index) const {
    return errors_.at(index);
  }
  /// The value of settled task `index`, one that did not fail.
  [[nodiscard]] const T& value_of(std::size_t index) const noexcept {
    return values_[index];
  }

  /// The values of the tasks from `index` on that lie together in storage,
  /// at most `max` of them: to be moved out in one go (the Map keeps
  /// moved-from values).
  [[nodiscard]] std::span<T> value_run(std::size_t index,
                                       std::size_t max) noexcept {
    return values_.run(index, max);
  }

 private:
  static Options checked(Options options) {
    if (options.continuous) {
      throw Error(
          "Map: a Map keeps one result per task; use Queue for continuous "
          "processes");
    }
    return options;
  }

  /// What is known of a task's result.
  enum class state : std::uint8_t { pending = 0, value, error };

  /// How many states from `index` on, at most `max`, pass `test`.
  template <class Test>
  std::size_t count_while(std::size_t index, std::size_t max,
                          Test test) noexcept {
    const std::size_t end =
        std::min(index + max, std::max(index, states_.size()));
    std::size_t at = index;
    while (at < end) {
      for (const state s : states_.run(at, end - at)) {
        if (!test(s)) {
          return at - index;
        }
        ++at;
      }
    }
    return at - index;
  }

  /// Makes room for the results of tasks [0, count).
  void grow_to(std::size_t count) {
    if (states_.size() < count) {
      values_.grow_to(count);
      states_.grow_to(count);
    }
  }

  void set_value(std::size_t task, T&& value) {
    grow_to(task + 1);
    values_[task] = std::move(value);
    set_state(task, state::value);
  }

  void set_error(std::size_t task, std::exception_ptr error) {
    grow_to(task + 1);
    errors_[task] = std::move(error);
    states_[task] = state::error;
  }

  void set_state(std::size_t task, state now) {
    if (states_[task] == state::error) {
      errors_.erase(task);
    }
    states_[task] = now;
  }

  void store_batch(Channel& channel, std::size_t first, std::size_t count,
                   bool only_missing) {
    grow_to(first + count);
    try {
      detail::channel_access::receive_into(channel, incoming_);
      if (incoming_.split) {
        split_batch(channel);
        return;
      }
      if (incoming_.apart > 0) {
        store_apart(channel, first, count, only_missing);
        return;
      }
      if (incoming_.values.size() != count) {
        throw ChannelError(
            ChannelErrc::malformed_frame,
            "Map: a batch of " + std::to_string(incoming_.values.size()) +
                " results for " + std::to_string(count) + " elements");
      }
      // The failures first: a failed element's value is a placeholder.
      std::size_t reported = 0;  // the values before it are told of here
      for (auto& [offset, type, what] : incoming_.errors) {
        if (offset < count &&
            (!only_missing || states_[first + offset] == state::pending)) {
          RemoteError error(std::move(type), what);
          detail::error_access::set_task(error, first + offset);
          set_error(first + offset, std::make_exception_ptr(std::move(error)));
          if (!only_missing && offset >= reported) {
            report_values(first + reported, offset - reported);
            reported = offset + 1;
          }
          report_error(first + offset, errors_[first + offset]);
        }
      }
      if (only_missing) {
        // The range was handed out again: keep what is still missing,
        // never replace a result that may have been read.
        for (std::size_t i = 0; i < count; ++i) {
          if (states_[first + i] == state::pending) {
            set_value(first + i, std::move(incoming_.values[i]));
            report_values(first + i, 1);
            journal_value(first + i);
          }
        }
        return;
      }
      if (reported < count) {
        report_values(first + reported, count - reported);
      }
      if (journal_ && journal_->covers(first)) {
        for (std::size_t i = 0; i < count; ++i) {
          if (states_[first + i] != state::error) {
            journal_->record(first + i, incoming_.values[i]);
          }
        }
      }
      // Whole runs at a time: a range lies in at most a few blocks.
      for (std::size_t done = 0; done < count;) {
        const std::span<T> values = values_.run(first + done, count - done);
        std::move(
            incoming_.values.begin() + static_cast<long>(done),
            incoming_.values.begin() + static_cast<long>(done + values.size()),
            values.begin());
        const std::span<state> states =
            states_.run(first + done, values.size());
        for (state& s : states) {
          if (s != state::error) {
            s = state::value;
          }
        }
        done += values.size();
      }
    } catch (const Error&) {
      // Every result of the range not in yet (values that travel apart may
      // have been stored before the one that broke).
      for (std::size_t i = 0; i < count; ++i) {
        if (states_[first + i] == state::pending) {
          set_error(first + i, std::current_exception());
          report_error(first + i, errors_[first + i]);
        }
      }
    }
  }

  /// The rest of a batch whose values travel apart (see detail::batch): each
  /// read straight into its place, unless that place is taken (a failure,
  /// or, in a range handed out again, a result already in).
  void store_apart(Channel& channel, std::size_t first, std::size_t count,
                   bool only_missing) {
    if (incoming_.apart != count) {
      throw ChannelError(ChannelErrc::malformed_frame,
                         "Map: a batch of " + std::to_string(incoming_.apart) +
                             " results for " + std::to_string(count) +
                             " elements");
    }
    std::vector<bool> failed(count);
    for (auto& [offset, type, what] : incoming_.errors) {
      if (offset < count &&
          (!only_missing || states_[first + offset] == state::pending)) {
        failed[offset] = true;
        RemoteError error(std::move(type), what);
        detail::error_access::set_task(error, first + offset);
        set_error(first + offset, std::make_exception_ptr(std::move(error)));
        report_error(first + offset, errors_[first + offset]);
      }
    }
    T unused{};
    for (std::size_t i = 0; i < count; ++i) {
      const bool take =
          !failed[i] && (!only_missing || states_[first + i] == state::pending);
      detail::channel_access::receive_into(channel,
                                           take ? values_[first + i] : unused);
      if (take) {
        set_state(first + i, state::value);
        report_values(first + i, 1);
        journal_value(first + i);
      }
    }
  }

  void task_ended(std::size_t task, std::exception_ptr error, bool clean,
                  bool delivered) override {
    (void)clean;
    if (!delivered) {  // a process that sent its result may end as it likes
      set_error(task, std::move(error));
      journal_settled();
    }
  }

  void task_removed(std::size_t task) override {
    grow_to(task + 1);
    if (states_[task] == state::pending) {
      set_error(task, std::make_exception_ptr(Error(
                          "Map: the result of task " + std::to_string(task) +
                          " can no longer arrive: its channel was removed")));
      journal_settled();
    }
  }

  // Options::journal (see docs/journal.md).

  /// Opens the journal for the call over `elements` (tasks from
  /// tasks_started() on), stores the results it holds and reports them;
  /// returns the runs of elements still to compute.
  template <class E>
  std::deque<std::pair<std::size_t, std::size_t>> open_journal(
      std::span<const E> elements);

  /// The value of `task` is in: the journal keeps it (at the next write).
  void journal_value(std::size_t task) {
    if (journal_ && journal_->covers(task)) {
      journal_->record(task, values_[task]);
    }
  }

  /// Results were stored: their records are written, and once every element
  /// is settled (a value or an error) the journal is synced.
  void journal_written() {
    if (journal_) {
      journal_->write();
      journal_settled();
    }
  }

  void journal_settled() noexcept {
    if (!journal_ || journal_->settled == journal_->count()) {
      return;
    }
    detail::map_journal<T>& j = *journal_;
    j.settled += settled_count(j.first() + j.settled, j.count() - j.settled);
    if (j.settled == j.count()) {
      // Failing, it is synced again when the Map goes; a crash before then
      // loses only work.
      (void)j.sync();
    }
  }

  // Results in arrays whose elements never move (references stay valid as
  // they grow): a value and a state byte per task, 5 bytes for an int. The
  // errors, rare, are kept aside.
  detail::stable_vector<T> values_;
  detail::stable_vector<state> states_;
  std::unordered_map<std::size_t, std::exception_ptr> errors_;
  detail::batch<T> incoming_;  // decoded batches, its buffers reused
  // The journal of the Map(fn, range) call it covers, once made.
  std::unique_ptr<detail::map_journal<T>> journal_;
};

template <class T>
void Map<T>::store_data(Channel& channel) {
  if constexpr (detail::batchable<T>) {
    if (const auto place = batch_of(channel)) {
      store_batch(channel, place->first, place->count, place->only_missing);
      journal_written();
      return;
    }
  }
  const std::size_t task = task_of(channel);
  try {
    set_value(task, channel.template receive<T>());
    journal_value(task);
  } catch (const Error&) {
    set_error(task, detail::current_error_of(task));
    report_error(task, errors_[task]);
  }
  journal_written();
}

template <class T>
const T& Map<T>::operator[](std::size_t index) {
  if (index >= size()) {
    throw Error("Map: index " + std::to_string(index) + " ≥ size " +
                std::to_string(size()));
  }
  grow_to(index + 1);
  if (states_[index] == state::pending) {
    const driving scope(*this);
    while (states_[index] == state::pending) {
      if (!unfinished()) {  // nothing runs or waits that could deliver it
        throw Error("Map: the result of task " + std::to_string(index) +
                    " can no longer arrive (nothing runs or waits for it)");
      }
      store();
    }
  }
  if (states_[index] == state::error) {
    std::rethrow_exception(errors_.at(index));
  }
  return values_[index];
}

template <class T>
std::vector<T> Map<T>::slice(std::size_t first, std::size_t last) {
  std::vector<T> values;
  values.reserve(last > first ? last - first : 0);
  for (std::size_t i = first; i < last; ++i) {
    values.push_back((*this)[i]);
  }
  return values;
}

template <class T>
template <class F, class Range>
Map<T>& Map<T>::operator()(F&& fn, Range&& sequence) {
  using element = std::decay_t<std::ranges::range_reference_t<Range>>;
  if (!options().journal.empty()) {
    if constexpr (serializable<element>) {
      std::vector<element> elements(std::ranges::begin(sequence),
                                    std::ranges::end(sequence));
      auto runs = open_journal(std::span<const element>(elements));
      const bool none = runs.empty();
      if constexpr (detail::batchable<T>) {
        start_batches<T>(std::decay_t<F>(std::forward<F>(fn)),
                         std::move(elements), std::move(runs));
      } else {
        auto call = manage(
            MakeReusable([f = std::forward<F>(fn)](element& e) mutable -> T {
              return std::invoke(f, e);
            }));
        std::size_t next = 0;  // the first element not numbered yet
        for (const auto& [first, last] : runs) {
          skip_tasks(first - next);
          for (std::size_t i = first; i < last; ++i) {
            call(elements[i]);
          }
          next = last;
        }
        skip_tasks(elements.size() - next);
      }
      if (none) {
        // Nothing runs: what the journal gave is told now (on_event,
        // progress), not at some later call.
        store(std::chrono::milliseconds(0));
      }
      return *this;
    } else {
      throw Error(
          "Map: Options::journal needs serializable elements (a "
          "record names its element by a fingerprint of its bytes); " +
          std::string(detail::type_name<element>()) + " is not");
    }
  }
  if constexpr (detail::batchable<T>) {
    // A pool forked now computes the elements in ranges (see
    // Exchange::start_batches): a message per range, not per element. (The
    // elements are copied straight into the pool's vector: a vector here,
    // moved from, set off g++ 12's -Wfree-nonheap-object at -O3.)
    start_batches<T>(
        std::decay_t<F>(std::forward<F>(fn)),
        std::make_shared<std::vector<element>>(std::ranges::begin(sequence),
                                               std::ranges::end(sequence)));
    return *this;
  }
  // The result is converted to T in the created process, so that
  // pmap<long>(int-returning fn) sends the T this Map receives.
  auto as_result = [f = std::forward<F>(fn)](element& e) mutable -> T {
    return std::invoke(f, e);
  };
  if constexpr (serializable<std::tuple<element>>) {
    auto call = manage(MakeReusable(std::move(as_result)));
    for (auto&& e : sequence) {
      call(e);
    }
  } else {
    auto call = manage(MakeParallel(std::move(as_result)));
    for (auto&& e : sequence) {
      call(e);
    }
  }
  return *this;
}

template <class T>
template <class E>
std::deque<std::pair<std::size_t, std::size_t>> Map<T>::open_journal(
    std::span<const E> elements) {
  if (journal_) {
    throw Error("Map: the journal " + options().journal.string() +
                " covers one Map(fn, range) call, and this Map made it");
  }
  if constexpr (detail::max_batch<T> != static_cast<std::size_t>(-1)) {
    throw Error("Map: the journal " + options().journal.string() +
                " cannot keep results of type " +
                std::string(detail::type_name<T>()) +
                ": they hold descriptors (SharedArray)");
  }
  const std::size_t first = tasks_started();
  grow_to(first + elements.size());
  try {
    journal_ = std::make_unique<detail::map_journal<T>>(
        options().journal, elements, first, [&](std::size_t index, T&& value) {
          if (states_[first + index] == state::pending) {
            set_value(first + index, std::move(value));
          }
        });
  } catch (...) {
    // Nothing of a journal that was refused stays.
    for (std::size_t i = 0; i < elements.size(); ++i) {
      states_[first + i] = state::pending;
    }
    throw;
  }
  // Runs of journaled results are reported (a finished event each, with no
  // process), runs of missing ones are to compute.
  std::deque<std::pair<std::size_t, std::size_t>> missing;
  for (std::size_t at = 0; at < elements.size();) {
    const std::size_t had = value_count(first + at, elements.size() - at);
    if (had > 0) {
      report_values(first + at, had);
      at += had;
      continue;
    }
    const std::size_t from = at;
    while (at < elements.size() && states_[first + at] == state::pending) {
      ++at;
    }
    missing.emplace_back(from, at);
  }
  journal_settled();
  return missing;
}

namespace detail {
struct deduce_result {};

/// What `fn` returns for an element; a compile error that says so when it
/// cannot take one (checked here, in pmap's return type, before anything
/// else asks for the result).
template <class F, class Element>
struct pmap_call {
  static constexpr bool valid = std::is_invocable_v<F&, Element&>;
  static_assert(valid,
                "pmap: the callable cannot be called with an element of the "
                "sequence (it is called as fn(element), the element an lvalue "
                "of the sequence's value type); make it take that type, a "
                "reference to it, or a type it converts to");
  using result = typename std::conditional_t<
      valid, std::invoke_result<F&, Element&>,
      std::type_identity<int>>::type;  // int: only after the error
};

template <class F, class Range>
using pmap_call_t =
    pmap_call<std::decay_t<F>,
              std::decay_t<std::ranges::range_reference_t<Range>>>;

template <class R, class F, class Range>
using pmap_result_t =
    std::conditional_t<std::is_same_v<R, deduce_result>,
                       std::decay_t<typename pmap_call_t<F, Range>::result>, R>;
}  // namespace detail

/// Runs `fn(element)` for each element of `sequence` in created processes,
/// at most `options.limit` at once, and returns the results in order.
template <class R = detail::deduce_result, class F, class Range>
[[nodiscard]] Map<detail::pmap_result_t<R, F, Range>> pmap(
    F&& fn, Range&& sequence, Options options = {}) {
  Map<detail::pmap_result_t<R, F, Range>> results(options);
  if constexpr (detail::pmap_call_t<F, Range>::valid) {  // else: one error
    results(std::forward<F>(fn), std::forward<Range>(sequence));
  }
  return results;
}

}  // namespace pprocess
