// SPDX-License-Identifier: MIT
#include "pprocess/error.hpp"

#include <cxxabi.h>
#include <sys/wait.h>

#include <csignal>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string.h>  // sigabbrev_np, strerrordesc_np
#include <string>
#include <utility>

#include "crash_report.hpp"
#include "crash_signals.hpp"
#include "errors.hpp"
#include "last_words.hpp"
#include "oom_watch.hpp"

namespace pprocess {
namespace {

class channel_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "pprocess.channel"; }
  std::string message(int condition) const override {
    switch (static_cast<ChannelErrc>(condition)) {
      case ChannelErrc::closed: return "channel closed";
      case ChannelErrc::truncated_frame: return "stream ended inside a frame";
      case ChannelErrc::malformed_frame: return "malformed frame";
      case ChannelErrc::oversized_frame: return "frame too large";
      case ChannelErrc::type_mismatch: return "type mismatch";
      case ChannelErrc::refused: return "peer refused";
      case ChannelErrc::too_many_descriptors:
        return "too many descriptors in one frame";
    }
    return "unknown channel error";
  }
};

std::string signal_name(int signal) {
  // sigabbrev_np is thread-safe, unlike strsignal.
  if (const char* abbrev = ::sigabbrev_np(signal)) {
    return std::string("SIG") + abbrev;
  }
  return "signal " + std::to_string(signal);
}

std::string error_text(int error) {
  if (const char* text = ::strerrordesc_np(error)) {
    return text;
  }
  return "error " + std::to_string(error);
}

}  // namespace

const std::error_category& channel_category() noexcept {
  static const channel_category_impl instance;
  return instance;
}

ProcessError ProcessError::from_wait_status(pid_t pid, int status,
                                            const std::string& context,
                                            bool killed_by_library) {
  const bool signalled = WIFSIGNALED(status);
  const int signal = signalled ? WTERMSIG(status) : 0;
  const int exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  // A crash leaves a report; so may a crash whose handler (the program's,
  // a sanitizer's) then ended the process with a failure status.
  std::optional<detail::crash_record> report;
  if (signalled ? detail::is_crash_signal(signal) : exit_status != 0) {
    report = detail::take_last_words(pid);
  }
  bool oom_killed = false;
  std::string what = context;
  if (signalled) {
    what += " (killed by " + signal_name(signal);
    if (report) {
      what += " (" + detail::crash_cause(*report) + ")";
    } else if (signal == SIGKILL && !killed_by_library &&
               detail::oom_kill_since_last_look()) {
      oom_killed = true;
      what += ": the kernel's out-of-memory killer ended it";
    }
    what += WCOREDUMP(status) ? ", core dumped)" : ")";
  } else {
    what += " (exited with status " + std::to_string(exit_status);
    if (report) {
      what += " after " + signal_name(report->signal) + " (" +
              detail::crash_cause(*report) + ")";
    }
    what += ")";
  }
  std::string stack = report ? detail::crash_stack(*report) : std::string();
  if (!stack.empty()) {
    what += "\nstack of the crashing thread:\n" + stack;
  }
  ProcessError error(pid, signalled ? -1 : exit_status, signal, what);
  error.oom_killed_ = oom_killed;
  if (!stack.empty()) {
    error.stack_ = std::make_shared<const std::string>(std::move(stack));
  }
  return error;
}

const std::string& ProcessError::stack() const noexcept {
  static const std::string none;
  return stack_ ? *stack_ : none;
}

namespace detail {

ChannelError channel_os_error(int error, std::string_view context) {
  return {std::error_code(error, std::system_category()),
          std::string(context) + ": " + error_text(error)};
}

Error os_error(int error, std::string_view context) {
  return Error(std::string(context) + ": " + error_text(error));
}

std::string demangled_type_name(const std::type_info& type) {
  int status = 0;
  const std::unique_ptr<char, decltype(&std::free)> name(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), &std::free);
  return status == 0 && name ? std::string(name.get()) : type.name();
}

}  // namespace detail
}  // namespace pprocess
