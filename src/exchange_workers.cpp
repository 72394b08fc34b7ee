// SPDX-License-Identifier: MIT
//
// Exchange: the queue of waiting work and the kept (reusable) processes that
// serve calls: two in flight each, or as many as run in a few milliseconds
// when calls are short, sent in one write.
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <new>
#include <string>
#include <vector>

#include <pprocess/exchange.hpp>

#include "exchange_tuning.hpp"
#include "task_reporter.hpp"

namespace pprocess {

using detail::exchange_entry;
using detail::max_pipeline_depth;
using detail::pipeline_depth;
using detail::pipeline_frame_limit;
using detail::pipeline_target;

std::size_t Exchange::pool_for(const detail::pool_key& key,
                               detail::deferred_start spawn) {
  const auto [it, inserted] = pool_index_.try_emplace(key, pools_.size());
  if (inserted) {
    pools_.push_back({std::move(spawn)});
  }
  return it->second;
}

void Exchange::submit(detail::waiting_work work) {
  waiting_.push_back(std::move(work));
  schedule();
}

void Exchange::schedule() {
  schedule_jobs();
  // Idle reusable processes take the calls of their own callable first:
  // they need no new process.
  feed_workers(0);
  while (!waiting_.empty()) {
    if (processes() < ceiling()) {
      if (!launch_next()) {
        break;
      }
    } else {
      // At the limit: an idle reusable process makes room for other work.
      retire_idle_worker();
      break;
    }
  }
  // Then each busy one gets its next call now, so that it never waits for
  // us between calls.
  feed_workers(1);
}

void Exchange::feed_workers(std::size_t in_flight) {
  std::vector<exchange_entry*> workers;
  for (auto& entry : active_) {
    if (entry->pool != detail::no_pool && entry->tasks.size() == in_flight) {
      workers.push_back(entry.get());
    }
  }
  for (exchange_entry* worker : workers) {
    feed(*worker);  // may retire the worker; the others stay valid
  }
}

void Exchange::release_workers() noexcept {
  std::vector<exchange_entry*> workers;
  for (auto& entry : active_) {
    if (entry->pool != detail::no_pool || entry->job != detail::no_pool) {
      workers.push_back(entry.get());
    }
  }
  for (exchange_entry* worker : workers) {
    if (worker->tasks.empty() && worker->batches.empty()) {
      retire(*worker);
    } else {
      // Busy: it reads the end after its call, sends its result (our side
      // still reads) and exits. Later calls go to new processes.
      (void)::shutdown(worker->channel.fileno(), SHUT_WR);
      worker->draining = true;
    }
  }
}

bool Exchange::feed(exchange_entry& worker) {
  if (worker.draining) {
    if (worker.tasks.empty()) {
      retire(worker);
    }
    return false;
  }
  const std::size_t depth = pools_[worker.pool].depth;
  // A call queued behind another must fit in the socket's buffer with the
  // others queued: a process busy sending a large result could otherwise
  // block on us while we block sending it calls.
  std::size_t queued_bytes = 0;
  for (std::size_t k = 1; k < worker.calls.size(); ++k) {
    queued_bytes += worker.calls[k].bytes.size();
  }
  bool fed = false;
  std::vector<detail::waiting_work*> batch;
  std::vector<std::size_t> picked;  // their places in waiting_
  while (worker.tasks.size() < depth) {
    batch.clear();
    picked.clear();
    for (std::size_t i = 0;
         i < waiting_.size() && worker.tasks.size() + batch.size() < depth;
         ++i) {
      detail::waiting_work& work = waiting_[i];
      if (work.pool != worker.pool) {
        continue;
      }
      const std::size_t size = work.call.bytes.size();
      const bool behind = !worker.tasks.empty() || !batch.empty();
      if ((behind && queued_bytes + size > pipeline_frame_limit) ||
          (!batch.empty() && !work.call.fds.empty())) {
        break;  // calls go in order; descriptors start a write of their own
      }
      if (behind) {
        queued_bytes += size;
      }
      batch.push_back(&work);
      picked.push_back(i);
    }
    if (batch.empty()) {
      break;
    }
    if (!dispatch_calls(worker, batch)) {
      // The kept process died. The calls were never its own: they stay in
      // line. An idle dead process leaves now; a busy one when store()
      // sees its end and fails the call it was running.
      if (worker.tasks.empty()) {
        retire(worker);
      }
      return fed;
    }
    if (picked.back() + 1 == picked.size()) {
      waiting_.erase(waiting_.begin(),
                     waiting_.begin() + static_cast<long>(picked.size()));
    } else {
      for (auto i = picked.rbegin(); i != picked.rend(); ++i) {
        waiting_.erase(waiting_.begin() + static_cast<long>(*i));
      }
    }
    fed = true;
  }
  return fed;
}

std::size_t Exchange::ceiling() const noexcept {
  return short_at_ != 0 ? std::min(short_at_, *options_.limit)
                        : *options_.limit;
}

bool Exchange::start_failed(std::exception_ptr error) {
  if (processes() == 0) {
    short_at_ = 0;
    return false;  // nothing of ours to wait for: the error is final
  }
  short_at_ = processes();
  if (!told_short_) {
    told_short_ = true;
    std::string why = "an error";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
    }
    // Said once: the exchange carries on, and the program may want to
    // raise the limit that was hit (RLIMIT_NPROC, RLIMIT_NOFILE).
    std::fprintf(stderr,
                 "pprocess: could not start another process (%s); running "
                 "at most %zu at once until one ends\n",
                 why.c_str(), short_at_);
  }
  return true;
}

bool Exchange::launch_next() {
  detail::waiting_work& work = waiting_.front();
  try {
    launch(work);
  } catch (...) {
    if (start_failed(std::current_exception())) {
      return false;  // it waits for one of ours to end
    }
    // Nothing runs that could give resources back: the task fails with
    // the error, and the rest waits for the next blocking call.
    const detail::task_ticket ticket{work.task, work.attempt};
    waiting_.pop_front();
    (void)retry_or_fail(ticket, std::current_exception(), false, false, false,
                        {0, ticket.attempt, {}}, false);
    return true;
  }
  short_at_ = 0;  // started: try the whole limit again
  waiting_.pop_front();
  return true;
}

void Exchange::launch(detail::waiting_work& work) {
  if (work.pool == detail::no_pool) {
    active_.push_back(new_entry(work.launch(), detail::no_pool));
    exchange_entry& entry = *active_.back();
    entry.tasks.push_back({work.task, work.attempt});
    entry.one_value = work.one_value;
    if (reporter_) {
      reporter_->started(work.task, 1, entry.channel.pid(), work.attempt);
    }
    if (options_.retries > 0) {
      entry.recipe = std::move(work.launch);  // to run it again
    }
    if (work.one_value && !options_.continuous) {
      // One value, taken by the exchange: one read takes it whole. Other
      // channels do not read ahead, so that a poll on their fileno() (a
      // user's own loop over active()) sees every value.
      detail::channel_access::read_ahead(entry.channel,
                                         std::move(entry.read_buffer));
    }
  } else {
    active_.push_back(new_entry(pools_[work.pool].spawn(), work.pool));
    exchange_entry& worker = *active_.back();
    // Only the exchange polls a kept process's channel, and its results
    // come in bursts.
    detail::channel_access::read_ahead(worker.channel,
                                       std::move(worker.read_buffer));
    detail::waiting_work* const first[] = {&work};
    if (!dispatch_calls(worker, first)) {
      // A new process that cannot take its first call died at once: the
      // call is its own, and store() reports how the process ended.
      worker.tasks.push_back({work.task, work.attempt});
      worker.calls.push_back(std::move(work.call));
      worker.last_delivery = std::chrono::steady_clock::now();  // its start
      if (reporter_) {
        reporter_->started(work.task, 1, worker.channel.pid(), work.attempt);
      }
    }
  }
}

bool Exchange::dispatch_calls(exchange_entry& worker,
                              std::span<detail::waiting_work* const> calls) {
  std::vector<const detail::encoded_frame*> frames;
  frames.reserve(calls.size());
  for (const detail::waiting_work* work : calls) {
    frames.push_back(&work->call);
  }
  try {
    detail::channel_access::send_frames(worker.channel, frames);
  } catch (const ChannelError&) {
    return false;
  }
  const bool idle = worker.tasks.empty();
  if (idle) {
    worker.delivered = false;
    worker.last_delivery = std::chrono::steady_clock::now();  // busy from now
  }
  for (detail::waiting_work* work : calls) {
    worker.tasks.push_back({work->task, work->attempt});
    worker.calls.push_back(std::move(work->call));
  }
  if (reporter_ && idle && !worker.tasks.empty()) {
    // The first runs now; those behind it, as each one before delivers.
    reporter_->started(worker.tasks.front().task, 1, worker.channel.pid(),
                       worker.tasks.front().attempt);
  }
  return true;
}

void detail::worker_pool::record(std::chrono::nanoseconds took) noexcept {
  // A running mean (not a moving average of samples): results read in a
  // burst give one long interval and many empty ones.
  busy += took;
  if (++calls >= 256) {
    busy /= 2;
    calls /= 2;
  }
  const auto per_call = busy / calls;
  const auto fits =
      per_call.count() > 0
          ? static_cast<std::size_t>(
                std::chrono::nanoseconds(pipeline_target).count() /
                per_call.count())
          : max_pipeline_depth;
  depth = std::clamp(fits, pipeline_depth, max_pipeline_depth);
}

bool Exchange::is_active(const exchange_entry& entry) const {
  return std::any_of(active_.begin(), active_.end(),
                     [&](const auto& e) { return e.get() == &entry; });
}

bool Exchange::retire_idle_worker() {
  for (auto& entry : active_) {
    if (entry->pool != detail::no_pool && entry->tasks.empty()) {
      retire(*entry);
      return true;
    }
  }
  return false;
}

std::unique_ptr<exchange_entry> Exchange::detach(exchange_entry& entry) {
  const auto it =
      std::find_if(active_.begin(), active_.end(),
                   [&](const auto& e) { return e.get() == &entry; });
  std::unique_ptr<exchange_entry> owned = std::move(*it);
  active_.erase(it);
  return owned;
}

void Exchange::retire(exchange_entry& entry, bool watch_channel) {
  std::unique_ptr<exchange_entry> owned = detach(entry);
  detail::child process =
      std::move(detail::channel_access::process(owned->channel));
  if (process && !process.try_reap()) {
    // watch_channel: the process delivered its one value and is exiting;
    // until it has, its channel (kept open) tells when it ends without a
    // pidfd. Any other process must see its channel end: it is closed.
    detail::private_fd end;
    if (watch_channel) {
      end = detail::channel_access::release_fd(owned->channel);
    }
    retiring_.push_back({std::move(process), std::move(end), owned->started});
  }
  recycle(std::move(owned));  // closes the channel
}

std::unique_ptr<exchange_entry> Exchange::new_entry(Channel channel,
                                                    std::size_t pool) {
  std::unique_ptr<exchange_entry> entry;
  if (spare_entries_.empty()) {
    entry = std::make_unique<exchange_entry>();
  } else {
    entry = std::move(spare_entries_.back());
    spare_entries_.pop_back();
  }
  entry->channel = std::move(channel);
  entry->pool = pool;
  entry->started = std::chrono::steady_clock::now();
  return entry;
}

void Exchange::recycle(std::unique_ptr<exchange_entry> entry) noexcept {
  // A channel that did not read ahead (a continuous process's) had no
  // buffer: the entry keeps the one it held.
  std::vector<char> buffer =
      detail::channel_access::take_read_buffer(entry->channel);
  if (buffer.capacity() > 0) {
    entry->read_buffer = std::move(buffer);
  }
  entry->channel.close();
  entry->clear();
  // As many as there may be processes at once: enough for a steady flow.
  if (spare_entries_.size() < *options_.limit) {
    try {
      spare_entries_.push_back(std::move(entry));
    } catch (const std::bad_alloc&) {  // a cache: the entry just goes
    }
  }
}

void exchange_entry::clear() noexcept {
  tasks.clear();
  calls.clear();
  pool = no_pool;
  one_value = false;
  recipe = {};
  ending = false;
  blamed = 0;
  kill_at = {};
  slot = 0;
  watched_element = batch_slot::idle;
  watched_since = {};
  stalled = false;
  delivered = false;
  draining = false;
  persistent = false;
  job = no_pool;
  batches.clear();
  last_delivery = {};
  started = {};
}

void Exchange::reap_retiring(bool block) {
  std::erase_if(retiring_, [block](detail::retiring_process& r) {
    if (block) {
      r.process.wait();
      return true;
    }
    return r.process.try_reap();
  });
}

}  // namespace pprocess
