// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Exchange: a set of created processes whose channels are watched together.
///
///     class Collect : public pprocess::Exchange {
///      public:
///       using Exchange::Exchange;
///       std::vector<int> values;
///       void store_data(pprocess::Channel& ch) override {
///         values.push_back(ch.receive<int>());
///       }
///     };
///     Collect x({.limit = 4});
///     for (int i = 0; i < 10; ++i) {
///       x.start([](pprocess::Channel& ch, int i) { ch.send(i * i); }, i);
///     }
///     x.finish();  // every value went through store_data
///
/// Never more than `limit` created processes run at once: `start` never
/// blocks, and work over the limit waits and starts as processes end, driven
/// by the blocking calls (`store`, `wait`, `finish`, and Map's and Queue's
/// accessors). An Exchange is not thread-safe: use it from one thread.
///
/// Destroying an exchange ends what it still runs: SIGTERM, a short grace,
/// SIGKILL, and every process is reaped. See docs/lifetimes.md.

#include <poll.h>
#include <sys/types.h>  // pid_t

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <tuple>
#include <typeindex>
#include <utility>
#include <vector>

#include <pprocess/channel.hpp>
#include <pprocess/detail/batch.hpp>
#include <pprocess/detail/deferred_start.hpp>
#include <pprocess/detail/fifo.hpp>
#include <pprocess/event.hpp>
#include <pprocess/parallel.hpp>

namespace pprocess {

/// How an exchange runs its processes.
struct Options {
  /// Processes at once; unset: the processors available to this process.
  std::optional<std::size_t> limit{};
  /// Keep processes running MakeReusable callables and feed them further
  /// calls.
  bool reuse = false;
  /// A process may send any number of values; its channel stays until the
  /// process closes it.
  bool continuous = false;
  /// Close channels removed from the exchange.
  bool autoclose = true;
  /// pmap / Map(fn, range): elements per message; unset: adaptive.
  std::optional<std::size_t> chunksize{};
  /// Per task, from its start: a task still running that long after it
  /// started is ended (SIGTERM, a short grace, SIGKILL) and fails with
  /// TimeoutError; only that task fails. Unset: no limit.
  std::optional<std::chrono::milliseconds> timeout{};
  /// A task whose process died (a signal, a non-zero exit, a timeout) runs
  /// again, up to this many more times; then its error is final. An
  /// exception (RemoteError) is never retried.
  unsigned retries = 0;
  /// Per-task events (see Event), called in the creator from the calls
  /// that drive the exchange. An exception it throws comes out of that
  /// call; no result is lost.
  std::function<void(const Event&)> on_event{};
  /// A live progress bar on stderr (plain lines when stderr is not a
  /// terminal): done/total, rate, elapsed, ETA, failures.
  bool progress = false;
  /// pmap / Map(fn, range): keep each finished result in this file; a
  /// rerun takes them from there (empty: none). See docs/journal.md.
  std::filesystem::path journal{};
};

namespace detail {

class task_reporter;
struct task_context;

inline constexpr std::size_t no_pool = static_cast<std::size_t>(-1);

/// A range of a batch job sent to a pool process, as element offsets.
struct batch_flight {
  std::size_t first;
  std::size_t last;
  std::chrono::steady_clock::time_point sent;
  bool split = false;  // came back unsent: hand out again in halves
  // Handed out again while its process was held up by one element: its
  // results, if they still come, fill only what is missing.
  bool stolen = false;
};

/// pmap over a sequence, computed in ranges by a pool of processes forked
/// at the call.
struct batch_job {
  std::size_t first_task = 0;  // the task of element 0
  std::size_t count = 0;
  std::size_t next = 0;  // the first element not handed out yet
  // Ranges to hand out again: never started, or split after a crash.
  std::deque<std::pair<std::size_t, std::size_t>> returned{};
  std::optional<std::size_t> fixed_chunk{};  // Options::chunksize
  std::size_t chunk = 1;                     // adaptive: grows while short
  std::size_t max_chunk = 0;
  deferred_start spawn{};  // forks one more pool process
  // Where the pool's processes say which element each one runs.
  std::shared_ptr<batch_board> board{};
  // Runs so far of the elements that failed and run again (see retries).
  std::map<std::size_t, unsigned> failures{};
  // How long an element takes, as a running mean over the ranges: what
  // "held up" means (see Exchange::reassign_stalled).
  std::chrono::nanoseconds element_time{};

  // A job whose elements are handed over in parts (Exchange::start_parts):
  // the parts released and not handed out yet; its processes wait for more
  // instead of ending.
  std::deque<std::pair<std::size_t, std::size_t>> released{};
  bool held = false;

  [[nodiscard]] bool pending() const noexcept {
    return !returned.empty() || next < count || !released.empty();
  }
};

/// A task as a process carries it: its index in start order, and which
/// run of it this is (retries run it again).
struct task_ticket {
  std::size_t task;
  unsigned attempt = 1;
};

/// One created process the exchange watches, and the tasks it owes.
struct exchange_entry {
  Channel channel;
  fifo<task_ticket> tasks{};     // in flight, oldest first
  fifo<encoded_frame> calls{};   // a kept process: their argument frames
  std::size_t pool = no_pool;    // reusable worker pool, or no_pool
  bool one_value = false;        // a body of the library's: one value, exit
  bool delivered = false;        // the oldest task sent something
  bool draining = false;         // takes no further calls (see waitall)
  bool persistent = false;       // a connection to a background process
  std::size_t job = no_pool;     // pmap's pool: the batch job it serves
  fifo<batch_flight> batches{};  // ... and its ranges in flight
  std::size_t slot = 0;          // ... and its slot on the job's board
  // The element its board showed when first seen, and since when: one
  // that runs far longer than the others holds up the ranges behind it.
  std::uint64_t watched_element = batch_slot::idle;
  std::chrono::steady_clock::time_point watched_since{};
  bool stalled = false;  // its waiting work was handed out again
  std::chrono::steady_clock::time_point last_delivery{};
  std::chrono::steady_clock::time_point started{};  // when it was listed
  // A one-off task's start, kept while a retry may need it.
  deferred_start recipe{};
  // Being ended by the exchange (its task ran past Options::timeout): the
  // task or element to blame, and when SIGKILL follows the SIGTERM.
  bool ending = false;
  std::size_t blamed = 0;  // a task, or a pmap element's offset in its job
  std::chrono::steady_clock::time_point kill_at{};
  // While the entry is spare (see Exchange::recycle): its last channel's
  // read-ahead storage, for the next one.
  std::vector<char> read_buffer{};

  /// Forgets the process it served, keeping what it allocated.
  void clear() noexcept;
};

/// A process that has left the exchange's work and is to be reaped as it
/// ends: watched by its pidfd, or, for a short while after it delivered
/// its one value, by its channel, whose end it closes as it exits.
struct retiring_process {
  child process;
  private_fd channel_end;  // our end, while no pidfd is open
  std::chrono::steady_clock::time_point started;
};

/// A channel store() found readable, or whose process it found ended.
struct store_event {
  exchange_entry* entry;
  bool ended;
};

/// Work waiting for a free process.
struct waiting_work {
  std::size_t task;
  std::size_t pool;        // no_pool: start a process for it
  deferred_start launch;   // when pool == no_pool
  encoded_frame call;      // when pool != no_pool: the argument frame
  bool one_value = false;  // the body sends one value and exits (see
                           // sends_one_value); else its channel is read
                           // to its end
  unsigned attempt = 1;    // the run this start will be (see retries)
};

/// Processes that serve the calls of one reusable callable.
struct worker_pool {
  deferred_start spawn;  // starts one more worker
  // How long a call takes, as a running mean over the recent calls, and
  // from it how many calls each process is given at once.
  std::chrono::nanoseconds busy{};
  std::size_t calls = 0;
  std::size_t depth = 2;  // until calls are timed: pipeline_depth (src/)

  /// One more call took `took` of a process's time.
  void record(std::chrono::nanoseconds took) noexcept;
};

struct pool_key {
  std::uint64_t managed;  // the managed callable, or 0 for start()
  std::type_index callable;
  std::type_index arguments;
  auto operator<=>(const pool_key&) const = default;
};

template <class F>
class managed_callable;

/// Inside a catch block: the exception being handled, given `task` as its
/// task() when it is a RemoteError or a ProcessError.
inline std::exception_ptr current_error_of(std::size_t task) {
  try {
    throw;
  } catch (RemoteError& e) {
    error_access::set_task(e, task);
  } catch (ProcessError& e) {
    error_access::set_task(e, task);
  } catch (...) {
  }
  return std::current_exception();
}

/// Tells the kept (reusable) processes of every live exchange of this process
/// to end once their current call is done, so that waitall() does not wait
/// for processes that wait for work.
void release_kept_processes() noexcept;

}  // namespace detail

/// A set of created processes and their channels; see the file comment.
class Exchange {
 public:
  explicit Exchange(Options options = {});
  Exchange(std::vector<Channel> channels, Options options);
  virtual ~Exchange();

  Exchange(Exchange&& other) noexcept;
  Exchange& operator=(Exchange&& other) noexcept;
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  /// Watches `channel` (from pprocess::start or pprocess::create) as one
  /// more created process of this exchange.
  void add(Channel channel);

  /// The channels of the processes the exchange watches.
  [[nodiscard]] std::vector<Channel*> active();

  /// The active channels with something to read (a value or the end),
  /// waiting up to `timeout` (unset: until there is one).
  [[nodiscard]] std::vector<Channel*> ready(
      std::optional<std::chrono::milliseconds> timeout = {});

  /// Stops watching `channel`; with `autoclose` it is closed too.
  void remove(Channel& channel);

  /// Work is running or waiting to start.
  [[nodiscard]] bool unfinished() const;
  /// As many processes run as the limit allows.
  [[nodiscard]] bool busy() const;

  /// Waits until the exchange is below its limit, then adds `channel`.
  void add_wait(Channel channel);
  /// Stores incoming data until the exchange is below its limit.
  void wait();
  /// Stores incoming data until no work runs or waits.
  void finish();
  /// Waits up to `timeout` (unset: as long as it takes) for incoming data
  /// and passes each ready channel to store_data().
  ///
  /// @throws ProcessError (plain Exchange) a process that ended by a signal
  ///         or a non-zero status; its channel is removed first
  void store(std::optional<std::chrono::milliseconds> timeout = {});

  /// Consumes what arrived on `channel`; override it. The default throws.
  virtual void store_data(Channel& channel);

  /// Runs `fn(channel, args...)` in a created process; never blocks (over
  /// the limit the start waits for a free process). The arguments are
  /// copied now.
  template <class F, class... Args>
    requires start_callable<F, Args...>
  void start(F&& fn, Args&&... args) {
    start_task(0, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  /// A callable that does not fit: a compile error that says what to write.
  template <class F, class... Args>
    requires(!start_callable<F, Args...>)
  void start(F&& /*fn*/, Args&&... /*args*/) {
    static_assert(start_callable<F, Args...>,
                  PPROCESS_START_CALLABLE_MESSAGE("start"));
  }

  /// Creates a process whose channel this exchange watches. Blocks while the
  /// exchange is at its limit.
  /// @returns the channel in the created process; empty in the creator
  [[nodiscard]] std::optional<Channel> create();

  /// A callable that starts `fn` with the arguments it is called with:
  /// `auto calc = x.manage(f); calc(i, j);` is `x.start(f, i, j)`. With
  /// `reuse` and a MakeReusable `fn`, its calls share up to `limit` kept
  /// processes. The callable refers to this exchange: do not move the
  /// exchange while it is in use.
  template <class F>
  [[nodiscard]] auto manage(F&& fn);

  /// The options in force (`limit` resolved).
  [[nodiscard]] const Options& options() const noexcept { return options_; }

 protected:
  /// The task (its start order, from 0) whose value `channel` carries next.
  [[nodiscard]] std::size_t task_of(const Channel& channel) const;

  /// How many tasks were started (or queued) so far.
  [[nodiscard]] std::size_t tasks_started() const noexcept {
    return next_task_;
  }

  /// A process ended without a value for `task`, or `task` could not
  /// start: `error` says how (a ProcessError, the error of the failed
  /// start, or a ChannelError for a background process that went away).
  /// `clean`: it exited with status 0; `delivered`: it sent at least one
  /// value for the task (a body of the user's, read to its end). The
  /// default (plain Exchange) throws `error` unless the end was clean.
  virtual void task_ended(std::size_t task, std::exception_ptr error,
                          bool clean, bool delivered);

  /// `task`'s channel was removed (remove()) before the task ended: what it
  /// had not sent yet can no longer arrive. The default does nothing.
  virtual void task_removed(std::size_t task);

  /// For the owners of results (Map, Queue), as they store what a channel
  /// brought, so that Options::on_event and progress hear of it: the values
  /// of tasks [first, first + count) are in (a pmap batch; any other value
  /// counts once its channel has delivered it) ...
  void report_values(std::size_t first, std::size_t count) {
    if (reporter_) {
      report_delivered(first, count, nullptr);
    }
  }
  /// ... or `task` failed with `error` (its callable threw, its value did
  /// not decode).
  void report_error(std::size_t task, const std::exception_ptr& error) {
    if (reporter_) {
      report_delivered(task, 1, &error);
    }
  }

  /// Held by a blocking call that may loop on store(): when the outermost
  /// one returns, control goes back to the program (the progress bar may
  /// have to make way for what it prints).
  class driving {
   public:
    explicit driving(Exchange& exchange) noexcept : exchange_(exchange) {
      ++exchange_.driving_depth_;
    }
    ~driving() {
      if (--exchange_.driving_depth_ == 0) {
        exchange_.hand_back();
      }
    }
    driving(const driving&) = delete;
    driving& operator=(const driving&) = delete;

   private:
    Exchange& exchange_;
  };

  /// Watches a channel connected to a background process (see
  /// PersistentExchange::connect).
  void add_persistent(Channel channel);

  /// Runs `fn(element)` for every element in a pool of processes forked now,
  /// in ranges sized adaptively (or by Options::chunksize); the results come
  /// back as detail::batch<T> frames, to be read in store_data() for the
  /// tasks batch_of() names. The pool's processes read `elements` in their
  /// copies of memory.
  template <class T, class F, class E>
  void start_batches(F fn, std::shared_ptr<std::vector<E>> elements);
  /// The same for the elements in `runs` only (ascending, disjoint ranges
  /// [first, last) of offsets): every element still gets its task, but the
  /// others never run, and their owner settles them (a Map that took their
  /// results from its journal). With no runs nothing is forked.
  template <class T, class F, class E>
  void start_batches(F fn, std::vector<E> elements,
                     std::deque<std::pair<std::size_t, std::size_t>> runs);
  /// Numbers `count` tasks that will never run: their owner settles them.
  void skip_tasks(std::size_t count) {
    check_owner("start");
    next_task_ += count;
  }
  /// The same for every element of `all`, handed over in parts: nothing
  /// runs until release_part() hands over a range of elements, and the
  /// pool, forked once, waits for the next part for as long as the exchange
  /// lives. Element i is task `first + i`, `first` being tasks_started()
  /// before the call. A layer that runs a sequence a part at a time
  /// (pprocess::mpi) uses it. Returns the job, for release_part.
  template <class T, class F, class E>
  std::size_t start_parts(F fn, std::shared_ptr<std::vector<E>> all);
  /// Elements [first, last) of a job of start_parts() may run.
  void release_part(std::size_t job, std::size_t first, std::size_t last);
  /// A job of start_parts() gets no more parts: its processes end once
  /// they have run the parts released (at once when idle), and finish()
  /// reaps them. Its results stay.
  void close_parts(std::size_t job);

  /// The batch that arrives next on a pmap pool process's channel.
  struct batch_place {
    std::size_t first;  // the task of its first result
    std::size_t count;  // how many results it holds
    bool only_missing;  // its range was handed out again: keep only the
                        // results that are still missing
  };

  /// For a pool process's channel: where the batch that arrives next on it
  /// goes.
  [[nodiscard]] std::optional<batch_place> batch_of(
      const Channel& channel) const;

  /// The batch that arrives next on `channel` could not be sent whole (its
  /// results carry too many descriptors): its range is handed out again in
  /// halves, and ranges of the job stay that small.
  void split_batch(const Channel& channel);

 private:
  template <class F>
  friend class detail::managed_callable;
  friend void detail::release_kept_processes() noexcept;

  template <class F, class... Args>
  void start_task(std::uint64_t managed, F&& fn, Args&&... args);

  void submit(detail::waiting_work work);
  [[nodiscard]] std::size_t ceiling() const noexcept;
  bool start_failed(std::exception_ptr error);
  bool launch_next();
  std::size_t pool_for(const detail::pool_key& key,
                       detail::deferred_start spawn);
  std::size_t processes() const noexcept;
  void schedule();
  void launch(detail::waiting_work& work);
  bool dispatch_calls(detail::exchange_entry& worker,
                      std::span<detail::waiting_work* const> calls);
  [[nodiscard]] bool is_active(const detail::exchange_entry& entry) const;
  bool feed(detail::exchange_entry& worker);
  void feed_workers(std::size_t in_flight);
  template <class T, class F, class E>
  std::size_t add_batch_job(
      F fn, std::shared_ptr<std::vector<E>> all, bool in_parts,
      std::deque<std::pair<std::size_t, std::size_t>> runs = {});
  void add_job(detail::batch_job job);
  void schedule_jobs();
  void fail_job(std::size_t job, const std::exception_ptr& error);
  [[nodiscard]] std::size_t free_slot(std::size_t job) const;
  std::chrono::steady_clock::time_point reassign_stalled(
      std::chrono::steady_clock::time_point now);
  void feed_batches(detail::exchange_entry& worker);
  void batch_delivered(detail::exchange_entry& worker);
  void batch_process_ended(detail::exchange_entry& worker,
                           const std::exception_ptr& error);
  void release_workers() noexcept;
  bool retire_idle_worker();
  void serve(detail::exchange_entry& entry, bool ended);
  void after_delivery(detail::exchange_entry& entry);
  void end_process(detail::exchange_entry& entry);
  std::chrono::steady_clock::time_point enforce_timeouts(
      std::chrono::steady_clock::time_point now);
  [[nodiscard]] std::optional<std::chrono::steady_clock::time_point>
  running_since(const detail::exchange_entry& entry) const;
  bool retry_or_fail(detail::task_ticket ticket,
                     const std::exception_ptr& error, bool clean,
                     bool delivered, bool can_run_again,
                     const detail::task_context& context, bool succeeded);
  void store_round(std::optional<std::chrono::milliseconds> timeout);
  [[nodiscard]] detail::task_context context_of(
      const detail::exchange_entry& entry) const;
  void report_delivered(std::size_t first, std::size_t count,
                        const std::exception_ptr* error);
  void report_delivery(const detail::exchange_entry& entry,
                       const detail::task_context& context,
                       const std::exception_ptr& error);
  void hand_back() noexcept;
  [[nodiscard]] std::optional<std::size_t> running_element(
      const detail::exchange_entry& worker) const;
  void retire(detail::exchange_entry& entry, bool watch_channel = false);
  std::unique_ptr<detail::exchange_entry> detach(detail::exchange_entry& entry);
  std::unique_ptr<detail::exchange_entry> new_entry(Channel channel,
                                                    std::size_t pool);
  void recycle(std::unique_ptr<detail::exchange_entry> entry) noexcept;
  void reap_retiring(bool block);
  void check_owner(const char* what) const;
  void shut_down() noexcept;

  Options options_;
  pid_t owner_ = 0;
  // A process could not be started while this many ran: none starts again
  // until fewer run (0: no such shortage).
  std::size_t short_at_ = 0;
  bool told_short_ = false;  // the shortage was reported (once)
  std::size_t next_task_ = 0;
  std::uint64_t next_managed_ = 1;
  std::vector<std::unique_ptr<detail::exchange_entry>> active_;
  std::vector<std::unique_ptr<detail::exchange_entry>> removed_;
  std::vector<detail::retiring_process> retiring_;
  detail::fifo<detail::waiting_work> waiting_;
  std::vector<detail::worker_pool> pools_;
  std::vector<detail::batch_job> jobs_;
  std::map<detail::pool_key, std::size_t> pool_index_;
  // Kept for reuse, so that a fork per task allocates nothing: retired
  // entries, and the poll loop's lists (lent to one store() at a time).
  std::vector<std::unique_ptr<detail::exchange_entry>> spare_entries_;
  std::vector<pollfd> spare_pollfds_;
  std::vector<detail::store_event> spare_events_;
  std::vector<std::size_t> spare_pidfd_at_;
  std::vector<std::size_t> spare_retiring_at_;
  // Options::on_event and progress (none: neither is asked for).
  std::unique_ptr<detail::task_reporter> reporter_;
  // While store_data() runs: who sent what it reads, and whether the
  // owner of the results reported it (report_values, report_error).
  const detail::task_context* delivering_ = nullptr;
  bool delivery_reported_ = false;
  int driving_depth_ = 0;  // blocking calls under way (see driving)
};

namespace detail {

/// What `Exchange::manage` returns: calling it starts the managed callable.
template <class F>
class managed_callable {
 public:
  managed_callable(Exchange& exchange, F fn, std::uint64_t id)
      : exchange_(&exchange), fn_(std::move(fn)), id_(id) {}

  template <class... Args>
    requires start_callable<F&, Args...>
  void operator()(Args&&... args) {
    exchange_->start_task(id_, fn_, std::forward<Args>(args)...);
  }
  template <class... Args>
    requires(!start_callable<F&, Args...>)
  void operator()(Args&&... /*args*/) {
    static_assert(start_callable<F&, Args...>,
                  PPROCESS_START_CALLABLE_MESSAGE("manage"));
  }

 private:
  Exchange* exchange_;
  F fn_;
  std::uint64_t id_;
};

}  // namespace detail

template <class F>
auto Exchange::manage(F&& fn) {
  return detail::managed_callable<std::decay_t<F>>(*this, std::forward<F>(fn),
                                                   next_managed_++);
}

template <class T, class F, class E>
void Exchange::start_batches(F fn, std::shared_ptr<std::vector<E>> elements) {
  if (!elements->empty()) {
    add_batch_job<T>(std::move(fn), std::move(elements), false);
  }
}

template <class T, class F, class E>
void Exchange::start_batches(
    F fn, std::vector<E> elements,
    std::deque<std::pair<std::size_t, std::size_t>> runs) {
  if (runs.empty()) {
    skip_tasks(elements.size());
    return;
  }
  add_batch_job<T>(std::move(fn),
                   std::make_shared<std::vector<E>>(std::move(elements)), false,
                   std::move(runs));
}

template <class T, class F, class E>
std::size_t Exchange::start_parts(F fn, std::shared_ptr<std::vector<E>> all) {
  return add_batch_job<T>(std::move(fn), std::move(all), true);
}

template <class T, class F, class E>
std::size_t Exchange::add_batch_job(
    F fn, std::shared_ptr<std::vector<E>> all, bool in_parts,
    std::deque<std::pair<std::size_t, std::size_t>> runs) {
  check_owner("start");
  detail::batch_job job;
  job.first_task = next_task_;
  job.count = all->size();
  // In parts: none until released. Runs given: those alone, as if released
  // now, and the processes end once they are done.
  job.next = in_parts || !runs.empty() ? job.count : 0;
  job.released = std::move(runs);
  job.held = in_parts;
  job.fixed_chunk = options_.chunksize;
  job.max_chunk = detail::max_batch<T>;
  next_task_ += job.count;
  // The pool processes read the elements from their own copy of this
  // memory: ranges are all that is sent to them.
  job.board = std::make_shared<detail::batch_board>(*options_.limit);
  job.spawn = detail::deferred_start(
      [fn = std::move(fn), all = std::move(all), board = job.board,
       timed = options_.timeout.has_value()]() mutable {
        return pprocess::start(
            [](Channel& channel, F& body, std::shared_ptr<std::vector<E>>& on,
               std::shared_ptr<detail::batch_board>& slots, bool timing) {
              detail::serve_batches<T>(channel, body, *on,
                                       (*slots)[slots->next_slot], timing);
            },
            fn, all, board, timed);
      });
  add_job(std::move(job));
  return jobs_.size() - 1;
}

template <class F, class... Args>
void Exchange::start_task(std::uint64_t managed, F&& fn, Args&&... args) {
  check_owner("start");
  using callable = std::decay_t<F>;
  using arguments = std::tuple<std::decay_t<Args>...>;
  const std::size_t task = next_task_++;
  if constexpr (detail::is_reusable<callable>) {
    if (options_.reuse) {
      static_assert(serializable<arguments>,
                    "reuse = true sends the arguments of each call to a kept "
                    "process: they must be serializable");
      const std::size_t pool =
          pool_for({managed, typeid(callable), typeid(arguments)},
                   detail::deferred_start([worker = callable(fn)]() mutable {
                     return pprocess::start(
                         [](Channel& channel, callable& body) {
                           detail::serve_calls<arguments>(channel, body);
                         },
                         worker);
                   }));
      submit({task,
              pool,
              {},
              detail::encode_frame(arguments(std::forward<Args>(args)...))});
      return;
    }
  }
  submit({task,
          detail::no_pool,
          detail::deferred_start(
              [body = callable(std::forward<F>(fn)),
               stored = arguments(std::forward<Args>(args)...)]() mutable {
                return std::apply(
                    [&](auto&... a) { return pprocess::start(body, a...); },
                    stored);
              }),
          {},
          detail::sends_one_value<callable>});
}

}  // namespace pprocess
