// SPDX-License-Identifier: MIT
#include <pprocess/error.hpp>
#include <pprocess/mpi/detail/wire_error.hpp>

namespace pprocess::mpi::detail {

using pprocess::detail::error_access;

wire_error to_wire(const std::exception_ptr& error, std::uint64_t offset) {
  wire_error wire;
  wire.offset = offset;
  try {
    std::rethrow_exception(error);
  } catch (const ProcessError& e) {
    wire.kind = wire_error::process;
    if (const auto* timeout = dynamic_cast<const TimeoutError*>(&e)) {
      wire.kind = wire_error::timeout;
      wire.timeout_ms = timeout->timeout().count();
    }
    wire.what = e.what();
    wire.pid = e.pid();
    wire.exit_status = e.exit_status();
    wire.signal = e.signal();
    wire.stack = e.stack();
    wire.oom_killed = e.oom_killed();
    wire.attempts = e.attempts();
  } catch (const RemoteError& e) {
    wire.kind = wire_error::remote;
    wire.type_name = e.type_name();
    wire.what = e.what();
  } catch (const std::exception& e) {
    wire.what = e.what();
  } catch (...) {
    wire.what = "an exception of unknown type";
  }
  return wire;
}

std::exception_ptr from_wire(const wire_error& error, std::size_t task,
                             int rank, const std::string& host) {
  const std::string what =
      "rank " + std::to_string(rank) + " (host " + host + "): " + error.what;
  switch (error.kind) {
    case wire_error::remote: {
      RemoteError e(error.type_name, what);
      error_access::set_task(e, task);
      return std::make_exception_ptr(std::move(e));
    }
    case wire_error::process:
    case wire_error::timeout: {
      auto fill = [&](ProcessError& e) {
        error_access::set_task(e, task);
        error_access::set_attempts(e, error.attempts);
        error_access::set_death_details(e, error.stack, error.oom_killed);
      };
      if (error.kind == wire_error::timeout) {
        TimeoutError e(error.pid, error.exit_status, error.signal,
                       std::chrono::milliseconds(error.timeout_ms), what);
        fill(e);
        return std::make_exception_ptr(std::move(e));
      }
      ProcessError e(error.pid, error.exit_status, error.signal, what);
      fill(e);
      return std::make_exception_ptr(std::move(e));
    }
    default: return std::make_exception_ptr(Error(what));
  }
}

}  // namespace pprocess::mpi::detail
