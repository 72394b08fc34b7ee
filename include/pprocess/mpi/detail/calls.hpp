// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The calls of pprocess::mpi: what one rank runs of a pmap or of a managed
/// callable, in its own processes (a local pprocess::Map), and how finished
/// pieces travel to rank 0.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

#include <pprocess/detail/type_name.hpp>
#include <pprocess/map.hpp>
#include <pprocess/mpi/detail/wire_error.hpp>
#include <pprocess/mpi/session.hpp>

namespace pprocess::mpi::detail {

template <class T>
class local_map;

/// Rank 0's end of a call: where its results go, by task index.
template <class T>
class result_sink {
 public:
  /// The values of tasks [first, first + values.size()), moved from.
  virtual void put_values(std::size_t first, std::span<T> values) = 0;
  virtual void put_error(std::size_t task, std::exception_ptr error) = 0;

  /// Rank 0's own results of tasks [first, first + count) will be in
  /// `local`, from its task `local_first` on. True: the sink reads the
  /// values there, as settle() says they come in (its errors still come
  /// through put_error, first); false: they are to be put in.
  virtual bool lend(std::size_t /*first*/, std::size_t /*count*/,
                    const std::shared_ptr<local_map<T>>& /*local*/,
                    std::size_t /*local_first*/) {
    return false;
  }
  /// Of the tasks lent from `first` on, the first `settled` are in.
  virtual void settle(std::size_t /*first*/, std::size_t /*settled*/) {}

 protected:
  ~result_sink() = default;
};

/// The results of one piece as they travel: a value per element or call
/// (a default T where it failed) and the failures.
template <class T>
struct piece_results {
  std::vector<T> values;
  std::vector<wire_error> errors;  // by offset, ascending

  template <class Archive>
  void serialize(Archive& archive) {
    archive(values, errors);
  }
};

/// The rank's own processes: a pprocess::Map whose results are taken as
/// they come, without waiting.
template <class T>
class local_map : public pprocess::Map<T> {
 public:
  using pprocess::Map<T>::Map;
  using pprocess::Map<T>::failed;
  using pprocess::Map<T>::error_of;
  using pprocess::Map<T>::value_run;
  using pprocess::Map<T>::settled_count;
  using pprocess::Map<T>::value_count;
  using pprocess::Map<T>::value_of;

  /// Starts `fn(element)` for elements [first, first + count) of `all`;
  /// returns the local task of element `first`. The pool that computes
  /// them is forked at the first part and serves every later part of `all`
  /// (see Exchange::start_parts): a rank is given several parts of a pmap.
  template <class F, class E>
  std::size_t run_part(const F& fn, const std::shared_ptr<std::vector<E>>& all,
                       std::size_t first, std::size_t count) {
    if constexpr (pprocess::detail::batchable<T>) {
      if (!parts_) {
        parts_first_task_ = this->size();
        parts_ = this->template start_parts<T>(F(fn), all);
      }
      this->release_part(*parts_, first, first + count);
      return parts_first_task_ + first;
    } else {
      const std::size_t local_first = this->size();
      (*this)(fn, std::span<E>(all->data() + first, count));
      return local_first;
    }
  }

  /// Ends its processes, which wait for more work (the pool of run_part
  /// for more parts, kept ones for more calls), once they have run what
  /// they were given; the results stay.
  void end_processes() {
    if (parts_) {
      this->close_parts(*parts_);
    }
    this->finish();
  }

 private:
  std::optional<std::size_t> parts_;  // the job of run_part's parts
  std::size_t parts_first_task_ = 0;
};

/// `options` for a Map or Queue of pprocess::mpi (`who`), refused where
/// they ask for what the ranks do not carry: an error, never an option
/// silently dropped.
inline Options supported(Options options, const std::string& who) {
  if (options.continuous) {
    throw Error(who +
                ": continuous processes are not supported by pprocess::mpi");
  }
  if (options.on_event || options.progress) {
    // Each rank's local Map would tell of its own tasks, numbered its own
    // way, on its own stderr.
    throw Error(who +
                ": Options::on_event and progress are not supported by "
                "pprocess::mpi yet");
  }
  return options;
}

/// A hash of the strings that name a call (kind, types, sizes): what every
/// rank's call must agree on.
inline std::uint64_t signature_of(
    std::initializer_list<std::string_view> parts) {
  std::uint64_t hash = 0xcbf29ce484222325;  // FNV-1a
  for (const std::string_view part : parts) {
    for (const char c : part) {
      hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3;
    }
    hash = (hash ^ 0xff) * 0x100000001b3;
  }
  return hash;
}

/// What the calls share: the rank's local Map, the pieces it runs, and how
/// their results reach rank 0.
template <class T>
class shared_call : public call {
 public:
  shared_call(session_core& core, Options options, result_sink<T>* sink)
      : core_(core), options_(options), sink_(sink) {}

  [[nodiscard]] bool busy() const override { return !running_.empty(); }

  bool drive(std::chrono::milliseconds wait) override {
    if (running_.empty()) {
      return false;
    }
    local_->store(wait);
    bool moved = false;
    for (auto it = running_.begin(); it != running_.end();) {
      running& r = *it;
      r.settled +=
          local_->settled_count(r.local_first + r.settled, r.count - r.settled);
      if (core_.rank() == 0 && r.stored < r.settled) {
        // Rank 0's own results go to the Map as they come, so that reading
        // them overlaps with computing the rest.
        store_results(r, r.stored, r.settled);
        r.stored = r.settled;
        moved = true;
      }
      if (r.settled < r.count) {
        ++it;
        continue;
      }
      const running finished = r;
      it = running_.erase(it);
      hand_in(finished);
      moved = true;
    }
    return moved;
  }

  void receive(int rank, const piece& p, std::span<const char> payload,
               std::chrono::nanoseconds elapsed) override {
    piece_results<T> results;
    bool whole = false;
    try {
      whole = pprocess::detail::cereal_decode(payload, results) &&
              results.values.size() == p.last - p.first;
    } catch (const std::exception&) {  // cereal: the bytes ran out
    }
    if (!whole) {
      core_.abort_job("the results of " + description + " from rank " +
                      std::to_string(rank) + " do not decode");
    }
    timed(p, elapsed);
    // The values between failures, a run at a time.
    const std::span<T> values(results.values);
    std::size_t i = 0;
    for (const wire_error& error : results.errors) {
      if (error.offset < i || error.offset >= values.size()) {
        core_.abort_job("the results of " + description + " from rank " +
                        std::to_string(rank) + " do not decode");
      }
      sink_put_values(p.first + i, values.subspan(i, error.offset - i));
      const std::size_t task = task_of(p.first + error.offset);
      sink_put_error(task, from_wire(error, task, rank, core_.host(rank)));
      i = error.offset + 1;
    }
    sink_put_values(p.first + i, values.subspan(i));
  }

  void end(std::uint64_t /*made*/) override {
    done = true;
    if (lent_ && running_.empty()) {
      // Rank 0's Map reads results in the local Map, which so outlives the
      // call; its processes end now all the same. (Given up with work
      // still running, the Map is going away: the local Map goes with it.)
      try {
        local_->end_processes();
      } catch (...) {
        // end() may run from a destructor. The processes left (a poll that
        // failed) are ended with the local Map, as the others are.
      }
    }
    running_.clear();
    local_.reset();  // ends its processes, unless lent
  }

 protected:
  /// Where element or call `index` of this call is among its Map's or
  /// Queue's tasks.
  [[nodiscard]] virtual std::size_t task_of(std::uint64_t index) const = 0;
  /// A piece's results came in after `elapsed` (see pmap_call).
  virtual void timed(const piece& /*p*/, std::chrono::nanoseconds /*elapsed*/) {
  }
  /// Rank 0 stored `count` more results.
  virtual void stored(std::size_t /*count*/) {}

  local_map<T>& local() {
    if (!local_) {
      local_ = std::make_shared<local_map<T>>(options_);
    }
    return *local_;
  }

  /// `p` now runs as the local tasks [local_first, local_first + count).
  /// `lendable`: its tasks are consecutive ones of the Map too (a pmap's),
  /// so that rank 0's Map can read their values where they are.
  void started(const piece& p, std::size_t local_first, bool lendable) {
    const auto count = static_cast<std::size_t>(p.last - p.first);
    const bool lent = lendable && sink_ != nullptr &&
                      sink_->lend(task_of(p.first), count, local_, local_first);
    lent_ = lent_ || lent;
    running_.push_back(
        {p, local_first, count, 0, 0, std::chrono::steady_clock::now(), lent});
  }

  session_core& core_;
  Options options_;

 private:
  struct running {
    piece p;
    std::size_t local_first;
    std::size_t count;
    std::size_t settled;  // results in, from the first
    std::size_t stored;   // rank 0: results stored, from the first
    std::chrono::steady_clock::time_point since;
    bool lent;  // rank 0: its Map reads the values in the local Map
  };

  /// Elements or calls [index, index + values.size()): consecutive tasks
  /// (a pmap's elements; a managed call comes alone).
  void sink_put_values(std::uint64_t index, std::span<T> values) {
    if (values.empty()) {
      return;
    }
    if (sink_ != nullptr) {
      sink_->put_values(task_of(index), values);
    }
    stored(values.size());
  }
  void sink_put_error(std::size_t task, std::exception_ptr error) {
    if (sink_ != nullptr) {
      sink_->put_error(task, std::move(error));
    }
    stored(1);
  }

  /// The results [from, to) of `r` from the local Map, a run of values at
  /// a time: `values(offset, run)` takes a run (moving it out, unless
  /// lent), `failure(offset, e)` a failure.
  template <class Values, class Failure>
  void take_results(const running& r, std::size_t from, std::size_t to,
                    Values&& values, Failure&& failure) {
    for (std::size_t i = from; i < to;) {
      const std::size_t at = r.local_first + i;
      if (local_->failed(at)) {
        failure(i, local_->error_of(at));
        ++i;
        continue;
      }
      const std::span<T> run = local_->value_run(at, to - i);
      const std::size_t k = local_->value_count(at, run.size());
      values(i, run.first(k));
      i += k;
    }
  }

  /// Rank 0: results [from, to) of its own piece `r` into the sink (only
  /// the failures when the sink reads the values in the local Map).
  void store_results(const running& r, std::size_t from, std::size_t to) {
    take_results(
        r, from, to,
        [&](std::size_t i, std::span<T> run) {
          if (r.lent) {
            stored(run.size());
          } else {
            sink_put_values(r.p.first + i, run);
          }
        },
        [&](std::size_t i, const std::exception_ptr& error) {
          // Made as another rank's would be: what() names rank 0.
          const std::size_t task = task_of(r.p.first + i);
          sink_put_error(task,
                         from_wire(to_wire(error, i), task, 0, core_.host(0)));
        });
    if (r.lent) {
      sink_->settle(task_of(r.p.first), to);
    }
  }

  /// A piece this rank ran is done: its results go to rank 0 (rank 0 has
  /// stored them already, and takes back the room the piece held).
  void hand_in(const running& r) {
    const auto elapsed = std::chrono::steady_clock::now() - r.since;
    if (core_.rank() == 0) {
      timed(r.p, elapsed);
      core_.deliver(*this, r.p, {}, elapsed);
      return;
    }
    piece_results<T> results;
    results.values.resize(r.count);
    take_results(
        r, 0, r.count,
        [&](std::size_t i, std::span<T> run) {
          std::move(run.begin(), run.end(),
                    results.values.begin() + static_cast<std::ptrdiff_t>(i));
        },
        [&](std::size_t i, const std::exception_ptr& error) {
          results.errors.push_back(to_wire(error, i));
        });
    std::vector<char> payload;
    pprocess::detail::cereal_encode(results, payload);
    core_.deliver(*this, r.p, std::move(payload), elapsed);
  }

  result_sink<T>* sink_;
  // Shared with rank 0's Map when it reads results there (see lend).
  std::shared_ptr<local_map<T>> local_;
  bool lent_ = false;  // some piece's results were lent
  std::deque<running> running_;
};

/// Runs [first, last) of a pmap's elements, in order.
using element_runs = std::deque<std::pair<std::size_t, std::size_t>>;

/// pmap (and Map(fn, range)): every rank holds the same elements; rank 0
/// hands out ranges, guided: large at first, shrinking toward the end.
template <class T, class F, class E>
class pmap_call final : public shared_call<T> {
 public:
  /// `runs`: the elements rank 0 hands out (all of them, or those its
  /// journal does not hold); other ranks ignore it.
  pmap_call(session_core& core, Options options, result_sink<T>* sink, F fn,
            std::vector<E> elements, std::size_t first_task, element_runs runs)
      : shared_call<T>(core, options, sink),
        fn_(std::move(fn)),
        elements_(std::make_shared<std::vector<E>>(std::move(elements))),
        first_task_(first_task),
        runs_(std::move(runs)) {
    for (const auto& [first, last] : runs_) {
      unassigned_ += last - first;
    }
    missing_ = unassigned_;
    const std::string count = std::to_string(elements_->size());
    this->signature = signature_of(
        {"pmap", typeid(F).name(), typeid(T).name(), typeid(E).name(), count});
    this->description =
        "pmap<" + std::string(pprocess::detail::type_name<T>()) + ">(" +
        std::string(pprocess::detail::type_name<F>()) + ") of " + count +
        " elements of " + std::string(pprocess::detail::type_name<E>());
  }

  std::optional<piece> next_piece(std::size_t room, std::size_t capacity,
                                  std::size_t total) override {
    const std::size_t remaining = unassigned_;
    if (remaining == 0 || room < capacity) {
      return std::nullopt;
    }
    std::size_t size = remaining;
    if (total > capacity) {  // other ranks too: guided self-scheduling
      size = (remaining + 2 * total - 1) / (2 * total);
      if (per_element_ns_ > 0) {
        // A piece should take well over a round trip: at least
        // min_piece on the rank's processes.
        const double floor =
            min_piece_ns * static_cast<double>(capacity) / per_element_ns_;
        size = std::max(size, static_cast<std::size_t>(floor));
      }
      size = std::clamp<std::size_t>(size, 1, remaining);
    }
    // Cut from the first run: a piece is consecutive elements.
    auto& [first, last] = runs_.front();
    size = std::min(size, last - first);
    const piece p{first, first + size, capacity};
    first += size;
    if (first == last) {
      runs_.pop_front();
    }
    unassigned_ -= size;
    return p;
  }

  void run(const piece& p) override {
    const std::size_t local_first =
        this->local().run_part(fn_, elements_, p.first, p.last - p.first);
    this->started(p, local_first, true);
  }

  [[nodiscard]] bool complete() const override { return missing_ == 0; }
  [[nodiscard]] std::uint64_t made() const override { return 0; }
  void close() override {}
  [[nodiscard]] bool behind() const override { return false; }

 private:
  static constexpr double min_piece_ns = 20e6;

  [[nodiscard]] std::size_t task_of(std::uint64_t index) const override {
    return first_task_ + index;
  }

  void timed(const piece& p, std::chrono::nanoseconds elapsed) override {
    // The time one process takes per element, as a running mean.
    const double sample = static_cast<double>(elapsed.count()) *
                          static_cast<double>(p.units) /
                          static_cast<double>(p.last - p.first);
    per_element_ns_ =
        per_element_ns_ == 0 ? sample : 0.5 * per_element_ns_ + 0.5 * sample;
  }

  void stored(std::size_t count) override { missing_ -= count; }

  F fn_;
  std::shared_ptr<std::vector<E>> elements_;
  std::size_t first_task_;
  element_runs runs_;           // rank 0: not handed out yet
  std::size_t unassigned_ = 0;  // elements in runs_
  std::size_t missing_ = 0;     // rank 0: results not in yet
  double per_element_ns_ = 0;
};

/// A Map's or Queue's managed callable: every rank records each call's
/// arguments; rank 0 hands the calls out, a few per rank at a time.
template <class T, class F>
class managed_call final : public shared_call<T> {
  using local_callable =
      decltype(std::declval<local_map<T>&>().manage(std::declval<F&>()));

 public:
  managed_call(session_core& core, Options options, result_sink<T>* sink, F fn)
      : shared_call<T>(core, options, sink), fn_(std::move(fn)) {
    this->signature =
        signature_of({"manage", typeid(F).name(), typeid(T).name()});
    this->description =
        "manage(" + std::string(pprocess::detail::type_name<F>()) + ")";
  }

  /// The next call, as every rank makes it: `task` is its place among its
  /// Map's or Queue's tasks.
  template <class... Args>
  void record(std::size_t task, Args&&... args) {
    tasks_.push_back(task);
    recorded_.push_back(
        [... args = std::decay_t<Args>(std::forward<Args>(args))](
            local_callable& callable) mutable { callable(args...); });
    const std::size_t index = recorded_.size() - 1;
    if (const auto it = std::find(waiting_.begin(), waiting_.end(), index);
        it != waiting_.end()) {
      waiting_.erase(it);
      start(index);
    }
  }

  std::optional<piece> next_piece(std::size_t room, std::size_t /*capacity*/,
                                  std::size_t /*total*/) override {
    const std::size_t unassigned = recorded_.size() - handed_out_;
    if (unassigned == 0 || room == 0) {
      return std::nullopt;
    }
    const std::size_t count = std::min(room, unassigned);
    const piece p{handed_out_, handed_out_ + count, count};
    handed_out_ += count;
    return p;
  }

  void run(const piece& p) override {
    for (std::uint64_t index = p.first; index < p.last; ++index) {
      if (index < recorded_.size()) {
        start(index);
      } else {
        waiting_.push_back(index);  // rank 0 is ahead of this rank
        if (closed_) {              // ... and this rank makes no more
          mismatch();
        }
      }
    }
  }

  [[nodiscard]] bool complete() const override { return false; }
  [[nodiscard]] std::uint64_t made() const override { return recorded_.size(); }
  [[nodiscard]] bool behind() const override { return !waiting_.empty(); }

  void end(std::uint64_t made) override {
    shared_call<T>::end(made);
    rank0_made_ = made;
    if (closed_ ? made != recorded_.size() : made < recorded_.size()) {
      mismatch();
    }
  }

  void close() override {
    closed_ = true;
    if (!waiting_.empty() ||
        (rank0_made_ && *rank0_made_ != recorded_.size())) {
      mismatch();
    }
  }

 private:
  [[nodiscard]] std::size_t task_of(std::uint64_t index) const override {
    return tasks_[index];
  }

  void start(std::size_t index) {
    auto& local = this->local();
    if (!callable_) {
      callable_.emplace(local.manage(fn_));
    }
    const std::size_t local_task = local.size();
    recorded_[index](*callable_);
    // Not lent: a call alone would make a lent run per call.
    this->started(piece{index, index + 1, 1}, local_task, false);
  }

  void mismatch() {
    std::string rank0 = rank0_made_
                            ? std::to_string(*rank0_made_)
                            : "more than " + std::to_string(recorded_.size());
    if (!waiting_.empty()) {
      rank0 = "at least " + std::to_string(waiting_.back() + 1);
    }
    this->core_.abort_job("call #" + std::to_string(this->seq) + " (" +
                          this->description + "): rank 0 made " + rank0 +
                          " calls, this rank " +
                          std::to_string(recorded_.size()) +
                          "; every rank must make the same calls");
  }

  F fn_;
  std::optional<local_callable> callable_;
  std::vector<std::function<void(local_callable&)>> recorded_;
  std::vector<std::size_t> tasks_;
  std::vector<std::uint64_t> waiting_;  // assigned before this rank made them
  std::size_t handed_out_ = 0;
  std::optional<std::uint64_t> rank0_made_;
  bool closed_ = false;
};

}  // namespace pprocess::mpi::detail
