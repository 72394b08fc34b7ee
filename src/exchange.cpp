// SPDX-License-Identifier: MIT
#include "pprocess/exchange.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <mutex>
#include <set>
#include <string>

#include <pprocess/system.hpp>

#include "errors.hpp"
#include "exchange_tuning.hpp"
#include "task_reporter.hpp"
#include "this_process.hpp"

namespace pprocess {
namespace {

using detail::exchange_entry;
using detail::reap_poll_interval;
using detail::termination_grace;

/// poll() until `deadline` (time_point::max(): no limit), retried on EINTR
/// with the time left; returns its result.
int poll_until(std::vector<pollfd>& fds,
               std::chrono::steady_clock::time_point deadline) {
  using clock = std::chrono::steady_clock;
  for (;;) {
    int wait_ms = -1;
    if (deadline != clock::time_point::max()) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
      wait_ms =
          static_cast<int>(std::clamp<long long>(left.count(), 0, INT_MAX));
    }
    const int n = ::poll(fds.data(), fds.size(), wait_ms);
    if (n >= 0) {
      return n;
    }
    if (errno != EINTR) {
      throw detail::os_error(errno, "Exchange: poll");
    }
  }
}

/// When a wait of `timeout` (none: no limit) from now ends.
std::chrono::steady_clock::time_point deadline_after(
    std::optional<std::chrono::milliseconds> timeout) {
  using clock = std::chrono::steady_clock;
  return timeout ? clock::now() + *timeout : clock::time_point::max();
}

/// A vector lent for one call from a spare the exchange keeps, so that the
/// poll loop allocates nothing once the spare has grown (with a fork per
/// task, each allocation copies a heap page the new process shares). A
/// nested call finds the spare taken and gets a fresh vector.
template <class T>
class scratch_vector {
 public:
  explicit scratch_vector(std::vector<T>& spare)
      : spare_(spare), items_(std::move(spare)) {
    items_.clear();
  }
  ~scratch_vector() { spare_ = std::move(items_); }
  scratch_vector(const scratch_vector&) = delete;
  scratch_vector& operator=(const scratch_vector&) = delete;

  std::vector<T>& operator*() noexcept { return items_; }

 private:
  std::vector<T>& spare_;
  std::vector<T> items_;
};

/// Whether a process listed at `started` is young enough to be watched
/// through its channel alone, without a pidfd: its channel tells of its end,
/// unless a process of its own still holds it (which pidfd_after bounds),
/// and opening a pidfd costs more than a short task. `due` learns when the
/// pidfd will be needed.
bool young(std::chrono::steady_clock::time_point started,
           std::chrono::steady_clock::time_point now,
           std::chrono::steady_clock::time_point& due) noexcept {
  if (now - started >= detail::pidfd_after) {
    return false;
  }
  due = std::min(due, started + detail::pidfd_after);
  return true;
}

/// What store() waits on, and until when.
struct poll_plan {
  bool buffered = false;     // values read ahead are there without waiting
  bool needs_ticks = false;  // a process to reap has no pidfd: poll often
  std::chrono::steady_clock::time_point pidfd_due =
      std::chrono::steady_clock::time_point::max();  // the next young one's
};

/// Where a process's descriptor is in the poll set: `none` when it is not
/// there (a young process watched by its channel alone, or one without a
/// pidfd).
inline constexpr std::size_t none = static_cast<std::size_t>(-1);

/// Fills `fds` with one entry per descriptor to watch, never a placeholder
/// (poll() refuses more entries than RLIMIT_NOFILE allows descriptors):
/// first each active channel, at its entry's index; then the pidfds of the
/// active processes old enough to need one (their place in `pidfd_at`);
/// then, per retiring process, our end of its channel while it is young
/// and has hung up on nothing yet, else its pidfd (their place in
/// `retiring_at`).
poll_plan plan_poll(const std::vector<std::unique_ptr<exchange_entry>>& active,
                    std::vector<detail::retiring_process>& retiring,
                    std::chrono::steady_clock::time_point now,
                    std::vector<pollfd>& fds,
                    std::vector<std::size_t>& pidfd_at,
                    std::vector<std::size_t>& retiring_at) {
  poll_plan plan;
  fds.clear();
  pidfd_at.assign(active.size(), none);
  retiring_at.assign(retiring.size(), none);
  for (const auto& entry : active) {
    plan.buffered =
        plan.buffered || detail::channel_access::buffered(entry->channel) > 0;
    fds.push_back({entry->channel.fileno(), POLLIN, 0});
  }
  for (std::size_t i = 0; i < active.size(); ++i) {
    exchange_entry& entry = *active[i];
    detail::child& process = detail::channel_access::process(entry.channel);
    if (process.pidfd() < 0 && young(entry.started, now, plan.pidfd_due)) {
      continue;
    }
    if (const int pidfd = process.pollable(); pidfd >= 0) {
      pidfd_at[i] = fds.size();
      fds.push_back({pidfd, POLLIN, 0});
    }
  }
  for (std::size_t i = 0; i < retiring.size(); ++i) {
    detail::retiring_process& r = retiring[i];
    if (r.channel_end && r.process.pidfd() < 0 &&
        young(r.started, now, plan.pidfd_due)) {
      // Its end closes as it exits (a hang-up, whatever it left unread).
      retiring_at[i] = fds.size();
      fds.push_back({r.channel_end.get(), POLLRDHUP, 0});
      continue;
    }
    r.channel_end.reset();  // watched by its pidfd from now on
    if (const int pidfd = r.process.pollable(); pidfd >= 0) {
      retiring_at[i] = fds.size();
      fds.push_back({pidfd, POLLIN, 0});
    } else {
      plan.needs_ticks = true;
    }
  }
  return plan;
}

/// Reaps the retiring processes whose end the poll saw (a hang-up or a
/// readable pidfd; `retiring_at` says where each one is in `fds`), and
/// those without a pidfd. A process hangs up just before it can be reaped:
/// one that cannot be yet is watched by its pidfd from now on.
void reap_seen(std::vector<detail::retiring_process>& retiring,
               std::span<const pollfd> fds,
               std::span<const std::size_t> retiring_at) {
  for (std::size_t i = retiring.size(); i-- > 0;) {
    detail::retiring_process& r = retiring[i];
    if (retiring_at[i] != none && fds[retiring_at[i]].revents == 0) {
      continue;
    }
    if (r.process.try_reap()) {
      retiring.erase(retiring.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (r.channel_end) {
      r.channel_end.reset();
      (void)r.process.pollable();
    }
  }
}

/// The live exchanges of this process, for waitall().
struct exchange_registry {
  std::mutex mutex;
  std::set<Exchange*> exchanges;
};

exchange_registry& registry() {
  static auto* instance = new exchange_registry;  // never destroyed
  return *instance;
}

void enlist(Exchange* exchange) {
  auto& r = registry();
  const std::lock_guard lock(r.mutex);
  r.exchanges.insert(exchange);
}

void delist(Exchange* exchange) noexcept {
  auto& r = registry();
  const std::lock_guard lock(r.mutex);
  r.exchanges.erase(exchange);
}

}  // namespace

void detail::release_kept_processes() noexcept {
  auto& r = registry();
  const std::lock_guard lock(r.mutex);
  for (Exchange* exchange : r.exchanges) {
    if (exchange->owner_ == detail::this_process()) {
      exchange->release_workers();
    }
  }
}

Exchange::Exchange(Options options)
    : options_(options), owner_(detail::this_process()) {
  if (!options_.limit) {
    options_.limit = available_processors();
  }
  if (*options_.limit == 0) {
    throw Error("Exchange: limit must be at least 1");
  }
  if (options_.on_event || options_.progress) {
    reporter_ = std::make_unique<detail::task_reporter>(options_.on_event,
                                                        options_.progress);
  }
  enlist(this);
}

Exchange::Exchange(std::vector<Channel> channels, Options options)
    : Exchange(options) {
  for (auto& channel : channels) {
    add(std::move(channel));
  }
}

Exchange::~Exchange() {
  delist(this);
  shut_down();
}

Exchange::Exchange(Exchange&& other) noexcept
    : options_(other.options_),
      owner_(other.owner_),
      short_at_(other.short_at_),
      told_short_(other.told_short_),
      next_task_(std::exchange(other.next_task_, 0)),
      next_managed_(other.next_managed_),
      active_(std::move(other.active_)),
      removed_(std::move(other.removed_)),
      retiring_(std::move(other.retiring_)),
      waiting_(std::move(other.waiting_)),
      pools_(std::move(other.pools_)),
      jobs_(std::move(other.jobs_)),
      pool_index_(std::move(other.pool_index_)),
      reporter_(std::move(other.reporter_)) {
  enlist(this);
}

Exchange& Exchange::operator=(Exchange&& other) noexcept {
  if (this != &other) {
    shut_down();
    options_ = other.options_;
    owner_ = other.owner_;
    short_at_ = other.short_at_;
    told_short_ = other.told_short_;
    next_task_ = std::exchange(other.next_task_, 0);
    next_managed_ = other.next_managed_;
    active_ = std::move(other.active_);
    removed_ = std::move(other.removed_);
    retiring_ = std::move(other.retiring_);
    waiting_ = std::move(other.waiting_);
    pools_ = std::move(other.pools_);
    jobs_ = std::move(other.jobs_);
    pool_index_ = std::move(other.pool_index_);
    reporter_ = std::move(other.reporter_);
  }
  return *this;
}

void Exchange::shut_down() noexcept {
  waiting_.clear();
  if (owner_ != detail::this_process()) {
    // A created process's copy of its creator's exchange: the processes are
    // its siblings, not its children. Close the copies of the descriptors
    // and leave the processes alone.
    active_.clear();
    removed_.clear();
    retiring_.clear();
    return;
  }
  std::vector<detail::child> children;
  for (auto& r : retiring_) {
    children.push_back(std::move(r.process));
  }
  retiring_.clear();
  for (auto* list : {&active_, &removed_}) {
    for (auto& entry : *list) {
      // Closing first lets idle reusable processes end on their own.
      children.push_back(
          std::move(detail::channel_access::process(entry->channel)));
      entry->channel.close();
    }
    list->clear();
  }
  std::vector<detail::child*> pointers;
  for (auto& c : children) {
    if (c) {
      pointers.push_back(&c);
    }
  }
  detail::terminate_all(pointers, termination_grace);
}

void Exchange::check_owner(const char* what) const {
  if (owner_ != detail::this_process()) {
    throw Error(std::string("Exchange::") + what +
                ": this exchange belongs to process " + std::to_string(owner_) +
                "; a created process cannot use its creator's exchange");
  }
}

void Exchange::add_persistent(Channel channel) {
  check_owner("connect");
  auto entry = new_entry(std::move(channel), detail::no_pool);
  entry->tasks.push_back({next_task_++});
  entry->persistent = true;
  if (reporter_) {
    reporter_->started(entry->tasks.front().task, 1, entry->channel.pid(), 1);
  }
  active_.push_back(std::move(entry));
}

void Exchange::add(Channel channel) {
  check_owner("add");
  active_.push_back(new_entry(std::move(channel), detail::no_pool));
  active_.back()->tasks.push_back({next_task_++});
  if (reporter_) {
    reporter_->started(next_task_ - 1, 1, active_.back()->channel.pid(), 1);
  }
}

void Exchange::add_wait(Channel channel) {
  wait();
  add(std::move(channel));
}

std::vector<Channel*> Exchange::active() {
  check_owner("active");
  std::vector<Channel*> channels;
  channels.reserve(active_.size());
  for (auto& entry : active_) {
    channels.push_back(&entry->channel);
  }
  return channels;
}

std::vector<Channel*> Exchange::ready(
    std::optional<std::chrono::milliseconds> timeout) {
  check_owner("ready");
  const driving scope(*this);
  std::vector<pollfd> fds;
  for (auto& entry : active_) {
    fds.push_back({entry->channel.fileno(), POLLIN, 0});
  }
  std::vector<Channel*> channels;
  if (fds.empty()) {
    return channels;
  }
  // Values read ahead are ready now.
  const bool buffered =
      std::any_of(active_.begin(), active_.end(), [](const auto& entry) {
        return detail::channel_access::buffered(entry->channel) > 0;
      });
  (void)poll_until(fds, buffered ? std::chrono::steady_clock::now()
                                 : deadline_after(timeout));
  // As in pprocess, a channel at its end is dropped, not returned: a loop
  // over active() and ready() ends by itself.
  std::vector<exchange_entry*> ended;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    Channel& channel = active_[i]->channel;
    if (fds[i].revents == 0 && detail::channel_access::buffered(channel) == 0) {
      continue;
    }
    using input = detail::channel_access::input;
    switch (detail::channel_access::poll_input(channel)) {
      case input::value: channels.push_back(&channel); break;
      case input::end: ended.push_back(active_[i].get()); break;
      case input::none: break;
    }
  }
  for (exchange_entry* entry : ended) {
    end_process(*entry);  // removes it first; may throw (a failed process)
  }
  schedule();  // the ended processes made room
  if (reporter_) {
    reporter_->deliver(tasks_started());
  }
  return channels;
}

void Exchange::remove(Channel& channel) {
  check_owner("remove");
  const auto it = std::find_if(
      active_.begin(), active_.end(),
      [&](const auto& entry) { return &entry->channel == &channel; });
  if (it == active_.end()) {
    throw Error("Exchange::remove: the channel is not active in this exchange");
  }
  exchange_entry& entry = **it;
  // What the channel still owed can no longer come through it: ranges and
  // calls it had not started go back in line, the one it ran is lost.
  detail::fifo<detail::task_ticket> owed = std::move(entry.tasks);
  if (entry.job != detail::no_pool) {
    detail::batch_job& job = jobs_[entry.job];
    for (std::size_t k = entry.batches.size(); k > 0; --k) {
      job.returned.emplace_front(entry.batches[k - 1].first,
                                 entry.batches[k - 1].last);
    }
  }
  for (std::size_t k = entry.calls.size(); k > 1; --k) {
    waiting_.push_front({owed[k - 1].task,
                         entry.pool,
                         {},
                         std::move(entry.calls[k - 1]),
                         false,
                         owed[k - 1].attempt});
  }
  const bool delivered = entry.delivered;
  if (reporter_ && !owed.empty() && !delivered) {
    reporter_->failed(owed.front().task,
                      std::make_exception_ptr(Error(
                          "task " + std::to_string(owed.front().task) +
                          ": its channel was removed before it delivered")),
                      context_of(entry));
  }
  if (options_.autoclose) {
    retire(entry);
  } else {
    removed_.push_back(detach(entry));
  }
  if (!owed.empty() && !delivered) {
    task_removed(owed.front().task);
  }
}

bool Exchange::unfinished() const {
  return !waiting_.empty() ||
         std::any_of(jobs_.begin(), jobs_.end(),
                     [](const auto& job) { return job.pending(); }) ||
         std::any_of(active_.begin(), active_.end(), [](const auto& entry) {
           return !entry->tasks.empty() || !entry->batches.empty();
         });
}

bool Exchange::busy() const {
  return processes() >= ceiling();
}

std::size_t Exchange::processes() const noexcept {
  return active_.size() + retiring_.size();
}

void Exchange::wait() {
  check_owner("wait");
  const driving scope(*this);
  while (busy()) {
    retire_idle_worker();
    store();
  }
}

void Exchange::finish() {
  check_owner("finish");
  const driving scope(*this);
  while (unfinished()) {
    store();
  }
  while (retire_idle_worker()) {
  }
  reap_retiring(true);
}

void Exchange::store_data(Channel& /*channel*/) {
  throw Error(
      "Exchange::store_data: not overridden; subclass Exchange and override "
      "store_data, or use Map or Queue");
}

std::optional<Channel> Exchange::create() {
  check_owner("create");
  for (;;) {
    wait();
    std::optional<Channel> channel;
    try {
      channel = pprocess::create();
    } catch (const Error&) {
      // Out of processes or descriptors: once one of ours ends, try again
      // (reaping it gives its resources back). With none running, nothing
      // would change: the error is this call's.
      if (!start_failed(std::current_exception())) {
        throw;
      }
      continue;
    }
    if (channel->pid() == 0) {
      return channel;
    }
    add(std::move(*channel));
    return std::nullopt;
  }
}

std::size_t Exchange::task_of(const Channel& channel) const {
  for (const auto& entry : active_) {
    if (&entry->channel == &channel && !entry->tasks.empty()) {
      return entry->tasks.front().task;
    }
  }
  throw Error("Exchange: the channel carries no task of this exchange");
}

void Exchange::task_ended(std::size_t /*task*/, std::exception_ptr error,
                          bool clean, bool /*delivered*/) {
  if (!clean) {
    std::rethrow_exception(error);
  }
}

void Exchange::task_removed(std::size_t /*task*/) {}

// --- the poll loop ----------------------------------------------------------

void Exchange::store(std::optional<std::chrono::milliseconds> timeout) {
  check_owner("store");
  const driving scope(*this);
  store_round(timeout);
  if (reporter_) {
    // After the round: its transitions are committed, so a callback that
    // throws loses nothing (the events after it wait for the next call).
    reporter_->deliver(tasks_started());
  }
}

void Exchange::store_round(std::optional<std::chrono::milliseconds> timeout) {
  schedule();
  using clock = std::chrono::steady_clock;
  const auto deadline = deadline_after(timeout);
  scratch_vector<pollfd> scratch(spare_pollfds_);
  scratch_vector<std::size_t> scratch_pidfd_at(spare_pidfd_at_);
  scratch_vector<std::size_t> scratch_retiring_at(spare_retiring_at_);
  std::vector<pollfd>& fds = *scratch;
  std::vector<std::size_t>& pidfd_at = *scratch_pidfd_at;
  std::vector<std::size_t>& retiring_at = *scratch_retiring_at;
  for (;;) {
    const auto now = clock::now();
    const auto timeout_due =
        std::min(enforce_timeouts(now), jobs_.empty() ? clock::time_point::max()
                                                      : reassign_stalled(now));
    const poll_plan plan =
        plan_poll(active_, retiring_, now, fds, pidfd_at, retiring_at);
    if (fds.empty() && !plan.needs_ticks) {
      return;
    }
    auto wake = std::min({deadline, plan.pidfd_due, timeout_due});
    if (plan.needs_ticks) {
      wake = std::min(wake, now + reap_poll_interval);
    }
    const auto redraw_due =
        reporter_ ? reporter_->next_due() : clock::time_point::max();
    if (reporter_ && !plan.buffered) {
      reporter_->waiting(now);
      wake = std::min(wake, redraw_due);
    }
    if (poll_until(fds, plan.buffered ? now : wake) > 0 || plan.buffered) {
      break;
    }
    reap_retiring(false);
    const auto after = clock::now();
    const bool redraw = after >= redraw_due;
    if (redraw) {
      reporter_->redraw(tasks_started(), after);  // the clock moved on
    }
    if (after >= deadline ||
        (!redraw && plan.pidfd_due > after && timeout_due > after)) {
      schedule();  // a process reaped by its tick makes room
      return;      // the caller's time is up (or a tick to reap by)
    }
    // A process became old enough to be watched by its pidfd, a task ran
    // past its timeout, or the progress bar was redrawn: on waiting.
  }
  reap_seen(retiring_, fds, retiring_at);

  scratch_vector<detail::store_event> scratch_events(spare_events_);
  std::vector<detail::store_event>& events = *scratch_events;
  for (std::size_t i = 0; i < active_.size(); ++i) {
    const bool readable =
        fds[i].revents != 0 ||
        detail::channel_access::buffered(active_[i]->channel) > 0;
    const bool ended = pidfd_at[i] != none && fds[pidfd_at[i]].revents != 0;
    if (readable || ended) {
      events.push_back({active_[i].get(), ended});
    }
  }
  for (const detail::store_event& e : events) {
    // An earlier event may have removed this entry (and store_data may
    // have thrown, leaving the rest for the next call).
    if (is_active(*e.entry)) {
      serve(*e.entry, e.ended);
    }
  }
  schedule();
}

void Exchange::serve(exchange_entry& entry, bool ended) {
  using input = detail::channel_access::input;
  for (;;) {
    const input state = detail::channel_access::poll_input(entry.channel);
    if (state == input::value) {
      if (entry.persistent && detail::channel_access::take_end(entry.channel)) {
        retire(entry);  // the background process delivered everything
        return;
      }
      const std::uint64_t taken =
          detail::channel_access::frames_taken(entry.channel);
      const auto consumed = [&] {
        return is_active(entry) &&
               detail::channel_access::frames_taken(entry.channel) != taken;
      };
      detail::task_context context;
      if (reporter_) {
        context = context_of(entry);
        delivering_ = &context;
        delivery_reported_ = false;
      }
      try {
        store_data(entry.channel);
      } catch (...) {
        delivering_ = nullptr;
        // A value store_data did not take stays for the next store().
        if (consumed()) {
          if (reporter_) {
            report_delivery(entry, context, std::current_exception());
          }
          after_delivery(entry);
        }
        throw;
      }
      delivering_ = nullptr;
      if (!is_active(entry)) {
        return;  // store_data removed the channel
      }
      if (detail::channel_access::frames_taken(entry.channel) == taken) {
        throw Error(
            "Exchange::store_data returned without receiving the value "
            "that arrived from process " +
            std::to_string(entry.channel.pid()) +
            ": it must receive it (or remove the channel)");
      }
      if (reporter_) {
        report_delivery(entry, context, nullptr);
      }
      after_delivery(entry);  // may retire the entry
      // A channel that reads ahead may hold further values: take them now,
      // not one per round of the poll loop.
      if (is_active(entry) &&
          detail::channel_access::buffered(entry.channel) > 0) {
        continue;
      }
    } else if (state == input::end || ended) {
      // The end of the channel, a broken one, or a process that died while
      // something else (a process it created) still holds its end open.
      end_process(entry);
    }
    return;
  }
}

void Exchange::after_delivery(exchange_entry& entry) {
  if (entry.job != detail::no_pool) {
    batch_delivered(entry);
    return;
  }
  if (entry.pool != detail::no_pool) {
    if (!entry.tasks.empty()) {
      entry.tasks.pop_front();
      entry.calls.pop_front();
      if (reporter_ && !entry.tasks.empty()) {  // the next call begins
        reporter_->started(entry.tasks.front().task, 1, entry.channel.pid(),
                           entry.tasks.front().attempt);
      }
    }
    entry.delivered = false;
    detail::worker_pool& pool = pools_[entry.pool];
    const auto now = std::chrono::steady_clock::now();
    pool.record(now - entry.last_delivery);
    entry.last_delivery = now;
    // Calls go out in batches: when half of those in flight are done (with
    // two in flight, after each).
    if (entry.tasks.size() <= pool.depth / 2) {
      feed(entry);  // may retire the entry: nothing may follow
    }
  } else if (entry.one_value) {
    // The library's body sends one value: its work is done and it is
    // exiting.
    retire(entry, true);
  } else {
    // The user's body (or a background process): read to its end.
    entry.delivered = true;
  }
}

}  // namespace pprocess
