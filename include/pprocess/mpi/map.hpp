// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// pprocess::mpi::Map and pmap: results in start order, on rank 0.
///
///     auto squares = pprocess::mpi::pmap(session, square, inputs);
///     if (session.root()) for (int s : squares) { ... }
///
/// Every rank makes the call with the same function and elements; rank 0
/// hands out ranges of elements, and every rank computes its ranges in its
/// own processes (as pprocess::pmap). On other ranks the Map holds no
/// results: its blocking calls and its destructor lend the rank's processes
/// to rank 0 until it is done.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <iterator>
#include <memory>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <pprocess/detail/journal.hpp>
#include <pprocess/detail/result_iterators.hpp>
#include <pprocess/detail/stable_vector.hpp>
#include <pprocess/map.hpp>
#include <pprocess/mpi/detail/calls.hpp>
#include <pprocess/mpi/session.hpp>

namespace pprocess::mpi {

namespace detail {

/// Rank 0's results of a Map, by task: a value, an error, or not yet. The
/// values of rank 0's own pmap pieces stay in its local Map, lent: they are
/// read there (a copy would cost a pass and fresh pages per result).
///
/// With a journal (Options::journal, on rank 0), the values of its call's
/// tasks are recorded as they settle: put in, or lent and settled.
template <class T>
class result_table final : public result_sink<T> {
 public:
  enum class state : std::uint8_t { pending = 0, value, error };

  void put_values(std::size_t first, std::span<T> values) override {
    std::size_t recorded = 0;
    if (journal_) {
      for (std::size_t i = 0; i < values.size(); ++i) {
        if (journal_->covers(first + i)) {
          journal_->record(first + i, values[i]);
          ++recorded;
        }
      }
    }
    store_values(first, values);
    journal_written(recorded);
  }
  void put_error(std::size_t task, std::exception_ptr error) override {
    grow_to(task + 1);
    errors_[task] = std::move(error);
    states_[task] = state::error;
    if (journal_ && journal_->covers(task)) {
      journal_written(1);  // settled, not recorded: it runs again
    }
  }

  bool lend(std::size_t first, std::size_t count,
            const std::shared_ptr<local_map<T>>& local,
            std::size_t local_first) override {
    // Kept in task order: a call's pieces come in order, but another
    // call's may come in between.
    const auto at =
        std::upper_bound(lent_.begin(), lent_.end(), first, starts_after);
    last_lent_ = static_cast<std::size_t>(at - lent_.begin());
    lent_.insert(at, {first, count, 0, local, local_first});
    return true;
  }
  void settle(std::size_t first, std::size_t settled) override {
    lent_run& run = *lent_at(first);
    std::size_t recorded = 0;
    if (journal_) {
      // Their failures came through put_error (and were counted there).
      for (std::size_t i = run.settled; i < settled; ++i) {
        const std::size_t task = run.first + i;
        if (journal_->covers(task) && own(task) != state::error) {
          journal_->record(task, run.local->value_of(run.local_first + i));
          ++recorded;
        }
      }
    }
    run.settled = std::max(run.settled, settled);
    journal_written(recorded);
  }

  /// Opens the journal at `path` for `elements`, the tasks from `first` on,
  /// and stores the results it holds; returns the runs of elements still
  /// to compute. A table has one journal (one call).
  /// @throws Error as pprocess::Map's journal does (the message names the
  ///   path)
  template <class E>
  element_runs open_journal(const std::filesystem::path& path,
                            std::span<const E> elements, std::size_t first) {
    if (journal_) {
      throw Error("the journal " + path.string() +
                  " covers one Map(fn, range) call, and this Map made it");
    }
    std::vector<bool> had(elements.size());
    auto journal = std::make_unique<pprocess::detail::map_journal<T>>(
        path, elements, first, [&](std::size_t index, T&& value) {
          store_values(first + index, std::span<T>(&value, 1));
          had[index] = true;
        });
    element_runs missing;
    for (std::size_t i = 0; i < had.size(); ++i) {
      if (had[i]) {
        ++journal->settled;
      } else if (!missing.empty() && missing.back().second == i) {
        ++missing.back().second;
      } else {
        missing.emplace_back(i, i + 1);
      }
    }
    journal_ = std::move(journal);
    if (missing.empty()) {
      (void)journal_->sync();  // nothing to compute: the call is done
    }
    return missing;
  }

  /// A journal write that failed (the results stay; their records are
  /// missing), taken to be thrown once: where rank 0 reads results.
  std::exception_ptr journal_error;

  /// The value of `task` if it lies in the window of lent values found
  /// last: reading in order costs a subtraction and a compare per element.
  [[nodiscard]] const T* in_window(std::size_t task) const noexcept {
    const std::size_t k = task - window_first_;  // task < first wraps around
    return k < window_size_ ? window_ + k : nullptr;
  }

  /// The value of `task` if it is in; null while it is not, or when it
  /// failed.
  [[nodiscard]] const T* value_at(std::size_t task) noexcept {
    switch (own(task)) {
      case state::value: return &values_[task];
      case state::error:  // lent tasks' too
        return nullptr;
      case state::pending: break;
    }
    const lent_run* run = lent_at(task);
    if (run == nullptr || task - run->first >= run->settled) {
      return nullptr;
    }
    // The values from here on that lie together in the local Map's storage
    // (settled, not failed; they never move) make the next window.
    const std::size_t offset = task - run->first;
    const std::size_t at = run->local_first + offset;
    const std::span<T> together =
        run->local->value_run(at, run->settled - offset);
    window_first_ = task;
    window_size_ = run->local->value_count(at, together.size());
    window_ = together.data();
    return &run->local->value_of(at);
  }
  [[nodiscard]] bool settled(std::size_t task) noexcept {
    return own(task) == state::error || value_at(task) != nullptr;
  }
  /// The value of a settled task, or its error thrown.
  const T& get(std::size_t task) {
    if (const T* value = value_at(task)) {
      return *value;
    }
    std::rethrow_exception(errors_.at(task));
  }

  // Calls made by the Map and not yet given up.
  std::vector<std::shared_ptr<call>> calls;
  std::size_t tasks = 0;  // started so far (the same on every rank)

 private:
  /// Tasks [first, first + count), read in `local` from `local_first` on.
  struct lent_run {
    std::size_t first;
    std::size_t count;
    std::size_t settled;  // results in, from the first
    std::shared_ptr<local_map<T>> local;
    std::size_t local_first;
  };

  static bool starts_after(std::size_t task, const lent_run& run) noexcept {
    return task < run.first;
  }

  void grow_to(std::size_t count) {
    values_.grow_to(count);
    states_.grow_to(count);
  }

  /// The values of tasks [first, first + values.size()), moved from.
  void store_values(std::size_t first, std::span<T> values) {
    grow_to(first + values.size());
    // A run of this table's storage at a time.
    for (std::size_t done = 0; done < values.size();) {
      const std::span<T> run = values_.run(first + done, values.size() - done);
      std::move(values.begin() + static_cast<std::ptrdiff_t>(done),
                values.begin() + static_cast<std::ptrdiff_t>(done + run.size()),
                run.begin());
      for (state& s : states_.run(first + done, run.size())) {
        s = state::value;
      }
      done += run.size();
    }
  }

  /// `settled` more of the journal's tasks settled, their values recorded:
  /// the records are written, and once every task is settled the journal
  /// is synced. A write that fails is kept in journal_error (the results
  /// come in all the same: throwing here would lose them).
  void journal_written(std::size_t settled) noexcept {
    if (!journal_) {
      return;
    }
    try {
      journal_->write();
    } catch (...) {
      if (!journal_error) {
        journal_error = std::current_exception();
      }
    }
    journal_->settled += settled;
    if (settled > 0 && journal_->settled == journal_->count()) {
      // Failing, it is synced again when the Map goes; a crash before then
      // loses only work.
      (void)journal_->sync();
    }
  }

  /// What this table's own storage holds of `task`.
  [[nodiscard]] state own(std::size_t task) const noexcept {
    return task < states_.size() ? states_[task] : state::pending;
  }

  static bool holds(const lent_run& run, std::size_t task) noexcept {
    return task - run.first < run.count;  // task < first wraps around
  }

  /// The lent run that holds `task`, if any: the one found last (reading
  /// in order stays there), else found by bisection.
  lent_run* lent_at(std::size_t task) noexcept {
    if (!lent_.empty() && holds(lent_[last_lent_], task)) {
      return &lent_[last_lent_];
    }
    return find_lent(task);
  }
  lent_run* find_lent(std::size_t task) noexcept {
    const auto after =
        std::upper_bound(lent_.begin(), lent_.end(), task, starts_after);
    if (after == lent_.begin() || !holds(*std::prev(after), task)) {
      return nullptr;
    }
    last_lent_ = static_cast<std::size_t>(after - lent_.begin()) - 1;
    return &lent_[last_lent_];
  }

  pprocess::detail::stable_vector<T> values_;
  pprocess::detail::stable_vector<state> states_;
  std::unordered_map<std::size_t, std::exception_ptr> errors_;
  std::vector<lent_run> lent_;
  std::size_t last_lent_ = 0;  // where lent_at looks first
  // Lent values in place, tasks [window_first_, window_first_ +
  // window_size_) (see in_window).
  std::size_t window_first_ = 0;
  std::size_t window_size_ = 0;
  const T* window_ = nullptr;
  // The journal of the call it covers (rank 0, with Options::journal); its
  // `settled` counts that call's tasks settled.
  std::unique_ptr<pprocess::detail::map_journal<T>> journal_;
};

}  // namespace detail

/// Results in start order, on rank 0; see the file comment.
template <class T>
class Map {
  static_assert(serializable<T>, "mpi::Map<T>: T must be serializable");

 public:
  /// Collective: every rank constructs it.
  explicit Map(Session& session, Options options = {})
      : core_(&detail::session_access::core(session)),
        root_(core_->rank() == 0),
        // Rank 0's alone; the local Maps that compute get none.
        journal_(std::exchange(options.journal, {})),
        options_(checked(options)),
        table_(std::make_shared<detail::result_table<T>>()) {}

  Map(Map&&) noexcept = default;
  Map& operator=(Map&& other) noexcept {
    if (this != &other) {
      release();
      core_ = other.core_;
      root_ = other.root_;
      journal_ = std::move(other.journal_);
      options_ = other.options_;
      table_ = std::move(other.table_);
    }
    return *this;
  }
  Map(const Map&) = delete;
  Map& operator=(const Map&) = delete;
  ~Map() { release(); }

  /// Collective: starts `fn(element)` for each element of `sequence`, which
  /// every rank holds alike.
  ///
  /// With Options::journal, rank 0 keeps each result of this call in that
  /// file (on rank 0; other ranks ignore the option) as it comes in, and
  /// takes the results the file holds from it: only the other elements are
  /// handed out (docs/mpi.md). The journal covers one such call. A journal
  /// rank 0 cannot open or use (see docs/journal.md, "Errors"), or a second
  /// journaled call, ends the job (MPI_Abort) with the message, as a
  /// mismatched call does.
  template <class F, class Range>
  Map& operator()(F&& fn, Range&& sequence) {
    using element = std::decay_t<std::ranges::range_reference_t<Range>>;
    std::vector<element> elements(std::ranges::begin(sequence),
                                  std::ranges::end(sequence));
    const std::size_t first = table_->tasks;
    detail::element_runs runs;
    if (root_ && !journal_.empty()) {
      runs = open_journal(std::span<const element>(elements), first);
    } else if (!elements.empty()) {
      runs.emplace_back(0, elements.size());
    }
    table_->tasks += elements.size();
    auto c = std::make_shared<detail::pmap_call<T, std::decay_t<F>, element>>(
        *core_, options_, sink(), std::decay_t<F>(std::forward<F>(fn)),
        std::move(elements), first, std::move(runs));
    enlist(std::move(c));
    core_->serve_until([] { return true; });  // the first pieces go out now
    throw_journal_error();
    return *this;
  }

  /// Collective: a callable that starts `fn` (a MakeParallel or
  /// MakeReusable function returning T, or a type that converts to T) with
  /// the arguments it is called with, on some rank. Every rank makes the
  /// same calls with the same arguments.
  template <class F>
  [[nodiscard]] auto manage(F&& fn) {
    auto c = std::make_shared<detail::managed_call<T, std::decay_t<F>>>(
        *core_, options_, sink(), std::decay_t<F>(std::forward<F>(fn)));
    enlist(c);
    return [c = c.get(), table = table_.get(), core = core_](auto&&... args) {
      c->record(table->tasks++, std::forward<decltype(args)>(args)...);
      core->serve_until([] { return true; });
    };
  }

  /// Rank 0: the result of the `index`-th task, waiting until it is in.
  /// @throws RemoteError, ProcessError that task's failure (what() names
  ///         the rank and host that ran it)
  /// @throws Error `index` ≥ size(); on another rank, after serving rank 0
  ///         until it is done: the results are on rank 0; a journal write
  ///         failed (once; the results stay, only their records are
  ///         missing)
  const T& operator[](std::size_t index) {
    if (!root_) {
      detail::serve_calls(*core_, table_->calls);
      throw Error("mpi::Map: the results are on rank 0; this is rank " +
                  std::to_string(core_->rank()));
    }
    throw_journal_error();
    if (const T* value = table_->in_window(index)) {
      return *value;  // reading rank 0's own results in order
    }
    if (index >= size()) {
      throw Error("mpi::Map: index " + std::to_string(index) + " ≥ size " +
                  std::to_string(size()));
    }
    if (const T* value = table_->value_at(index)) {
      return *value;  // in already: one look-up
    }
    if (!table_->settled(index)) {
      core_->serve_until([&] { return table_->settled(index); });
      throw_journal_error();
    }
    return table_->get(index);
  }

  /// Rank 0: the results of tasks [first, last), waiting for each.
  std::vector<T> slice(std::size_t first, std::size_t last) {
    std::vector<T> values;
    values.reserve(last > first ? last - first : 0);
    for (std::size_t i = first; i < last; ++i) {
      values.push_back((*this)[i]);
    }
    return values;
  }

  /// How many tasks were started so far (the same on every rank).
  [[nodiscard]] std::size_t size() const noexcept { return table_->tasks; }

  using iterator = pprocess::detail::index_iterator<Map, T>;

  /// Rank 0: iteration in start order, waiting per element. Another rank
  /// serves rank 0 until it is done, and then has nothing to iterate.
  iterator begin() {
    if (!root_) {
      detail::serve_calls(*core_, table_->calls);
      return end();
    }
    return iterator(this, 0);
  }
  iterator end() { return iterator(this, size()); }

 private:
  static Options checked(Options options) {
    return detail::supported(std::move(options), "mpi::Map");
  }

  /// Rank 0: opens the journal for the call over `elements` (tasks from
  /// `first` on); returns the runs of elements still to compute. A journal
  /// that cannot be used ends the job: the other ranks are in the call
  /// already, and an exception on rank 0 alone would leave them waiting.
  template <class E>
  detail::element_runs open_journal(std::span<const E> elements,
                                    std::size_t first) {
    const std::string journal = "the journal " + journal_.string();
    std::string problem;
    if constexpr (!serializable<E>) {
      problem = journal +
                " needs serializable elements (a record names its element by "
                "a fingerprint of its bytes); " +
                std::string(pprocess::detail::type_name<E>()) + " is not";
    } else if constexpr (pprocess::detail::max_batch<T> !=
                         static_cast<std::size_t>(-1)) {
      problem = journal + " cannot keep results of type " +
                std::string(pprocess::detail::type_name<T>()) +
                ": they hold descriptors (SharedArray)";
    } else {
      try {
        return table_->open_journal(journal_, elements, first);
      } catch (const std::exception& e) {
        problem = e.what();
      }
    }
    core_->abort_job("mpi::Map: " + problem);
    return {};  // not reached (g++ does not see [[noreturn]] through virtual)
  }

  void throw_journal_error() {
    if (table_->journal_error) [[unlikely]] {
      std::rethrow_exception(std::exchange(table_->journal_error, nullptr));
    }
  }

  detail::result_sink<T>* sink() { return root_ ? table_.get() : nullptr; }

  void enlist(std::shared_ptr<detail::call> c) {
    core_->enlist(c, options_.limit);
    table_->calls.push_back(std::move(c));
  }

  void release() noexcept {
    if (table_) {
      detail::release_calls(*core_, table_->calls);
    }
  }

  detail::session_core* core_;
  bool root_;
  std::filesystem::path journal_;  // Options::journal (used on rank 0)
  Options options_;
  std::shared_ptr<detail::result_table<T>> table_;
};

/// Collective: runs `fn(element)` for each element of `sequence` over every
/// rank's processes; the results in input order, on rank 0.
template <class R = pprocess::detail::deduce_result, class F, class Range>
[[nodiscard]] Map<pprocess::detail::pmap_result_t<R, F, Range>> pmap(
    Session& session, F&& fn, Range&& sequence, Options options = {}) {
  Map<pprocess::detail::pmap_result_t<R, F, Range>> results(session, options);
  if constexpr (pprocess::detail::pmap_call_t<F, Range>::valid) {
    results(std::forward<F>(fn), std::forward<Range>(sequence));
  }
  return results;
}

}  // namespace pprocess::mpi
