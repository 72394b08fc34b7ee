// SPDX-License-Identifier: MIT
//
// Exchange: the queue of waiting work and the kept (reusable) processes that
// serve calls, two in flight each.
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <string>

#include <pprocess/exchange.hpp>

#include "exchange_tuning.hpp"

namespace pprocess {

using detail::exchange_entry;
using detail::pipeline_depth;
using detail::pipeline_frame_limit;

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
    if (processes() < *options_.limit) {
      launch(waiting_.front());
      waiting_.pop_front();
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
  bool fed = false;
  while (worker.tasks.size() < pipeline_depth) {
    const bool pipelined = !worker.tasks.empty();
    const auto call =
        std::find_if(waiting_.begin(), waiting_.end(), [&](const auto& work) {
          // A call queued behind another must fit in the socket's buffer:
          // a process busy sending a large result could otherwise block on
          // us while we block sending it a large call.
          return work.pool == worker.pool &&
                 (!pipelined || work.call.bytes.size() <= pipeline_frame_limit);
        });
    if (call == waiting_.end()) {
      break;
    }
    if (!dispatch_call(worker, *call)) {
      // The kept process died. The call was never its own: it stays in
      // line. An idle dead process leaves now; a busy one when store()
      // sees its end and fails the call it was running.
      if (worker.tasks.empty()) {
        retire(worker);
      }
      return fed;
    }
    waiting_.erase(call);
    fed = true;
  }
  return fed;
}

void Exchange::launch(detail::waiting_work& work) {
  if (work.pool == detail::no_pool) {
    active_.push_back(std::make_unique<exchange_entry>(
        exchange_entry{.channel = work.launch(),
                       .tasks = {work.task},
                       .pool = detail::no_pool}));
  } else {
    active_.push_back(std::make_unique<exchange_entry>(exchange_entry{
        .channel = pools_[work.pool].spawn(), .pool = work.pool}));
    exchange_entry& worker = *active_.back();
    if (!dispatch_call(worker, work)) {
      // A new process that cannot take its first call died at once: the
      // call is its own, and store() reports how the process ended.
      worker.tasks.push_back(work.task);
      worker.calls.push_back(std::move(work.call));
    }
  }
}

bool Exchange::dispatch_call(exchange_entry& worker,
                             detail::waiting_work& work) {
  try {
    detail::channel_access::send_frame(worker.channel, work.call);
  } catch (const ChannelError&) {
    return false;
  }
  if (worker.tasks.empty()) {
    worker.delivered = false;
  }
  worker.tasks.push_back(work.task);
  worker.calls.push_back(std::move(work.call));
  return true;
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

void Exchange::retire(exchange_entry& entry) {
  const std::unique_ptr<exchange_entry> owned = detach(entry);
  detail::child process =
      std::move(detail::channel_access::process(owned->channel));
  owned->channel.close();
  if (process && !process.try_reap()) {
    retiring_.push_back(std::move(process));
  }
}

void Exchange::reap_retiring(bool block) {
  std::erase_if(retiring_, [block](detail::child& c) {
    if (block) {
      c.wait();
      return true;
    }
    return c.try_reap();
  });
}

}  // namespace pprocess
