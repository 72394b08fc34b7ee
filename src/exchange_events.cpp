// SPDX-License-Identifier: MIT
//
// Exchange: what it tells of its tasks (Options::on_event, progress). The
// loop records each transition where it commits it: a task taken by a
// process (launch, dispatch_calls, after_delivery, feed_batches, add), its
// result in (serve, and the owners of the results through report_values
// and report_error), its end without one (retry_or_fail, the one place for
// that). The events reach on_event at the end of store().
#include <algorithm>

#include <pprocess/exchange.hpp>

#include "task_reporter.hpp"

namespace pprocess {

using detail::exchange_entry;

detail::task_context Exchange::context_of(const exchange_entry& entry) const {
  detail::task_context context{entry.channel.pid(), 1, entry.started};
  if (entry.job != detail::no_pool) {
    if (!entry.batches.empty()) {
      // The range at the front ran from when it was sent or, queued behind
      // another, from when that one arrived (the creator sees ranges, not
      // elements: each element's time is its range's).
      const detail::batch_flight& flight = entry.batches.front();
      context.since = std::max(flight.sent, entry.last_delivery);
      if (flight.last - flight.first == 1) {
        const auto& failures = jobs_[entry.job].failures;
        if (const auto it = failures.find(flight.first); it != failures.end()) {
          context.attempt = it->second + 1;
        }
      }
    }
    return context;
  }
  if (!entry.tasks.empty()) {
    context.attempt = entry.tasks.front().attempt;
  }
  context.since = running_since(entry).value_or(entry.started);
  return context;
}

void Exchange::report_delivered(std::size_t first, std::size_t count,
                                const std::exception_ptr* error) {
  const detail::task_context context =
      delivering_ != nullptr ? *delivering_ : detail::task_context{};
  delivery_reported_ = true;
  if (error != nullptr) {
    reporter_->failed(first, *error, context);
  } else {
    reporter_->finished(first, count, context);
  }
}

void Exchange::report_delivery(const exchange_entry& entry,
                               const detail::task_context& context,
                               const std::exception_ptr& error) {
  // The owner of the results said what it was (a pmap batch always does),
  // or the value is one of many a body of the user's sends: its task ends
  // with its process (retry_or_fail).
  if (delivery_reported_ || entry.job != detail::no_pool ||
      entry.tasks.empty() ||
      (!entry.one_value && entry.pool == detail::no_pool)) {
    return;
  }
  const std::size_t task = entry.tasks.front().task;
  if (error) {
    reporter_->failed(task, error, context);
  } else {
    reporter_->finished(task, 1, context);
  }
}

void Exchange::hand_back() noexcept {
  if (reporter_) {
    reporter_->leave();
  }
}

}  // namespace pprocess
