// SPDX-License-Identifier: MIT
//
// Exchange: pmap's batch jobs, computed in ranges by a pool forked at the
// call.
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <pprocess/exchange.hpp>

#include "exchange_tuning.hpp"
#include "task_reporter.hpp"

namespace pprocess {

using detail::batch_target;
using detail::exchange_entry;
using detail::pipeline_depth;

void Exchange::add_job(detail::batch_job job) {
  jobs_.push_back(std::move(job));
  schedule();
}

void Exchange::schedule_jobs() {
  for (std::size_t j = 0; j < jobs_.size(); ++j) {
    if (!jobs_[j].pending()) {
      continue;
    }
    const auto workers_with = [&](std::size_t in_flight) {
      std::vector<exchange_entry*> workers;
      for (auto& entry : active_) {
        if (entry->job == j && entry->batches.size() == in_flight) {
          workers.push_back(entry.get());
        }
      }
      return workers;
    };
    for (exchange_entry* worker : workers_with(0)) {
      feed_batches(*worker);
    }
    while (jobs_[j].pending() && processes() < ceiling()) {
      std::unique_ptr<exchange_entry> entry;
      const std::size_t slot = free_slot(j);
      try {
        jobs_[j].board->next_slot = slot;  // the new process's copy tells it
        entry = new_entry(jobs_[j].spawn(), detail::no_pool);
      } catch (...) {
        if (!start_failed(std::current_exception())) {
          fail_job(j, std::current_exception());
        }
        break;  // the rest waits for one of ours to end
      }
      short_at_ = 0;
      entry->job = j;
      entry->slot = slot;
      exchange_entry& worker = *entry;
      active_.push_back(std::move(entry));
      feed_batches(worker);
    }
    for (exchange_entry* worker : workers_with(1)) {
      feed_batches(*worker);
    }
  }
}

std::size_t Exchange::free_slot(std::size_t j) const {
  // Fewer processes than the limit run: one slot of the board (which has
  // one per process the limit allows) is free. A process being ended still
  // holds its slot.
  std::vector<bool> used(jobs_[j].board->size());
  for (const auto& entry : active_) {
    if (entry->job == j) {
      used[entry->slot] = true;
    }
  }
  const auto it = std::find(used.begin(), used.end(), false);
  return static_cast<std::size_t>(it - used.begin()) % used.size();
}

void Exchange::feed_batches(exchange_entry& worker) {
  detail::batch_job& job = jobs_[worker.job];
  while (!worker.draining && worker.batches.size() < pipeline_depth &&
         job.pending()) {
    std::pair<std::size_t, std::size_t> range;
    if (!job.returned.empty()) {
      range = job.returned.front();
      job.returned.pop_front();
    } else {
      // New elements: the rest of [next, count), or of the first part
      // released (a job in parts).
      const bool in_parts = job.next == job.count;
      std::size_t& from = in_parts ? job.released.front().first : job.next;
      const std::size_t to = in_parts ? job.released.front().second : job.count;
      std::size_t size = job.fixed_chunk.value_or(job.chunk);
      if (!job.fixed_chunk) {
        // Near the end, smaller ranges keep every process busy.
        size = std::min(size, std::max<std::size_t>(
                                  1, (to - from) / (2 * *options_.limit)));
      }
      size =
          std::clamp<std::size_t>(size, 1, std::min(job.max_chunk, to - from));
      range = {from, from + size};
      from += size;
      if (in_parts && from == to) {
        job.released.pop_front();
      }
    }
    try {
      worker.channel.send(detail::batch_range{range.first, range.second});
    } catch (const ChannelError&) {
      job.returned.push_front(range);  // the process died: another takes it
      break;
    }
    worker.batches.push_back(
        {range.first, range.second, std::chrono::steady_clock::now()});
    if (reporter_) {
      unsigned attempt = 1;
      if (const auto it = job.failures.find(range.first);
          range.second - range.first == 1 && it != job.failures.end()) {
        attempt = it->second + 1;
      }
      reporter_->started(job.first_task + range.first,
                         range.second - range.first, worker.channel.pid(),
                         attempt);
    }
  }
  if (worker.batches.empty() &&
      (worker.draining || (!job.pending() && !job.held))) {
    retire(worker);  // the job needs it no more (or it died)
  }
}

void Exchange::release_part(std::size_t j, std::size_t first,
                            std::size_t last) {
  if (first < last) {
    jobs_[j].released.emplace_back(first, last);
    schedule();
  }
}

void Exchange::close_parts(std::size_t j) {
  jobs_[j].held = false;
  // feed_batches retires each process with nothing left to run; the others
  // go after their last range.
  std::vector<exchange_entry*> workers;
  for (auto& entry : active_) {
    if (entry->job == j) {
      workers.push_back(entry.get());
    }
  }
  for (exchange_entry* worker : workers) {
    feed_batches(*worker);
  }
}

void Exchange::split_batch(const Channel& channel) {
  for (auto& entry : active_) {
    if (&entry->channel == &channel && !entry->batches.empty()) {
      entry->batches.front().split = true;
    }
  }
}

void Exchange::batch_delivered(exchange_entry& worker) {
  detail::batch_job& job = jobs_[worker.job];
  const detail::batch_flight flight = worker.batches.front();
  worker.batches.pop_front();
  if (flight.split) {
    const std::size_t size = flight.last - flight.first;
    if (size == 1) {
      (void)retry_or_fail(
          {job.first_task + flight.first},
          std::make_exception_ptr(ChannelError(
              ChannelErrc::too_many_descriptors,
              "pmap: the result of element " + std::to_string(flight.first) +
                  " holds more than 253 SharedArrays")),
          false, false, false,
          {worker.channel.pid(), 1,
           std::max(flight.sent, worker.last_delivery)},
          false);
    } else {
      const std::size_t middle = flight.first + size / 2;
      job.returned.emplace_front(middle, flight.last);
      job.returned.emplace_front(flight.first, middle);
      job.max_chunk = std::max<std::size_t>(1, size / 2);
      job.chunk = std::min(job.chunk, job.max_chunk);
    }
    feed_batches(worker);
    return;
  }
  // The process ran this range from when it was sent or, if it was queued
  // behind another, from when that one arrived.
  const auto now = std::chrono::steady_clock::now();
  const auto took = now - std::max(flight.sent, worker.last_delivery);
  worker.last_delivery = now;
  if (flight.stolen) {
    feed_batches(worker);  // its time says nothing of the others'
    return;
  }
  const auto per_element = took / static_cast<long>(std::max<std::size_t>(
                                      1, flight.last - flight.first));
  job.element_time = job.element_time.count() == 0
                         ? per_element
                         : (3 * job.element_time + per_element) / 4;
  if (!job.fixed_chunk) {
    // Like joblib's auto batching: grow while ranges are short, shrink when
    // they are long; the aim is ranges of a few milliseconds, long enough
    // that a message per range costs nothing, short enough to share work.
    const std::size_t size = flight.last - flight.first;
    if (took < batch_target / 2 && size >= job.chunk) {
      job.chunk = std::min(job.chunk * 2, job.max_chunk);
    } else if (took > batch_target * 2 && job.chunk > 1) {
      job.chunk /= 2;
    }
  }
  feed_batches(worker);  // may retire the worker: nothing may follow
}

void Exchange::batch_process_ended(exchange_entry& worker,
                                   const std::exception_ptr& error) {
  const std::size_t j = worker.job;
  // The element's own start, where its board tells it.
  detail::task_context context{worker.channel.pid(), 1, {}};
  if (reporter_) {
    context.since = running_since(worker).value_or(
        worker.batches.empty()
            ? worker.started
            : std::max(worker.batches.front().sent, worker.last_delivery));
  }
  // Which element it ran, as its board says: read before the process's
  // slot can be taken by another.
  const std::optional<std::size_t> running =
      worker.ending ? std::optional(worker.blamed) : running_element(worker);
  const detail::fifo<detail::batch_flight> flights = std::move(worker.batches);
  retire(worker);
  detail::batch_job& job = jobs_[j];
  // Ranges queued behind the one that was running were never started
  // (unless they were handed out again already).
  for (std::size_t k = flights.size(); k > 1; --k) {
    if (!flights[k - 1].stolen) {
      job.returned.emplace_front(flights[k - 1].first, flights[k - 1].last);
    }
  }
  if (flights.empty()) {
    return;
  }
  const detail::batch_flight& crashed = flights.front();
  if (!running || *running < crashed.first || *running >= crashed.last) {
    // It died between elements (or its board was not written): run each
    // element alone, so that only the one to blame fails.
    for (std::size_t i = crashed.last; i > crashed.first; --i) {
      job.returned.emplace_front(i - 1, i);
    }
    return;
  }
  // That element alone is to blame. The others of its range, done or not
  // (results go back by range), run again elsewhere, free of charge.
  const std::size_t element = *running;
  if (!crashed.stolen && element + 1 < crashed.last) {
    job.returned.emplace_front(element + 1, crashed.last);
  }
  if (!crashed.stolen && crashed.first < element) {
    job.returned.emplace_front(crashed.first, element);
  }
  unsigned& runs = job.failures[element];
  ++runs;
  context.attempt = runs;
  if (retry_or_fail({job.first_task + element, runs}, error, false, false, true,
                    context, false)) {
    job.returned.emplace_front(element, element + 1);
  } else {
    job.failures.erase(element);
  }
}

void Exchange::fail_job(std::size_t j, const std::exception_ptr& error) {
  detail::batch_job& job = jobs_[j];
  // Nothing of ours runs, and not even one process could start for the
  // job: each element it has not handed out fails with the error.
  const auto fail = [&](std::size_t first, std::size_t last) {
    for (std::size_t i = first; i < last; ++i) {
      (void)retry_or_fail({job.first_task + i}, error, false, false, false, {},
                          false);
    }
  };
  for (const auto& [first, last] : job.returned) {
    fail(first, last);
  }
  job.returned.clear();
  for (const auto& [first, last] : job.released) {
    fail(first, last);
  }
  job.released.clear();
  fail(job.next, job.count);
  job.next = job.count;
}

std::optional<Exchange::batch_place> Exchange::batch_of(
    const Channel& channel) const {
  for (const auto& entry : active_) {
    if (&entry->channel == &channel && entry->job != detail::no_pool &&
        !entry->batches.empty()) {
      const detail::batch_flight& flight = entry->batches.front();
      return batch_place{jobs_[entry->job].first_task + flight.first,
                         flight.last - flight.first, flight.stolen};
    }
  }
  return std::nullopt;
}

std::chrono::steady_clock::time_point Exchange::reassign_stalled(
    std::chrono::steady_clock::time_point now) {
  auto wake = std::chrono::steady_clock::time_point::max();
  bool reassigned = false;
  for (auto& owned : active_) {
    exchange_entry& worker = *owned;
    if (worker.job == detail::no_pool || worker.stalled || worker.ending ||
        worker.batches.empty()) {
      continue;
    }
    // Only a process with work waiting behind its element can hold it up.
    const detail::batch_flight& front = worker.batches.front();
    if (worker.batches.size() == 1 && front.last - front.first == 1) {
      continue;
    }
    const std::optional<std::size_t> element = running_element(worker);
    if (!element) {
      // Between two ranges, or about to begin its first: look again soon,
      // or the loop may sleep until the element it begins next ends.
      worker.watched_element = detail::batch_slot::idle;
      wake = std::min(wake, now + detail::stall_floor / 10);
      continue;
    }
    if (*element != worker.watched_element) {
      worker.watched_element = *element;
      worker.watched_since = now;
    }
    detail::batch_job& job = jobs_[worker.job];
    const auto due =
        worker.watched_since +
        std::max<std::chrono::nanoseconds>(
            detail::stall_floor, detail::stall_factor * job.element_time);
    if (now < due) {
      wake = std::min(wake, due);
      continue;
    }
    // Held up: what waits behind the element goes to other processes (the
    // elements of its range before it too: results go back by range). This
    // one takes no more, and is retired once it has delivered what it has.
    reassigned = true;
    worker.stalled = true;
    worker.draining = true;
    for (std::size_t k = worker.batches.size(); k-- > 1;) {
      detail::batch_flight& behind = worker.batches[k];
      behind.stolen = true;
      job.returned.emplace_front(behind.first, behind.last);
    }
    detail::batch_flight& running = worker.batches.front();
    running.stolen = true;
    if (*element + 1 < running.last) {
      job.returned.emplace_front(*element + 1, running.last);
    }
    if (running.first < *element) {
      job.returned.emplace_front(running.first, *element);
    }
  }
  if (reassigned) {
    schedule_jobs();  // the other processes take it now
  }
  return wake;
}

}  // namespace pprocess
