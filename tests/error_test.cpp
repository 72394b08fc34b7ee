// SPDX-License-Identifier: MIT
// The exception types: their data, their messages, and the error category of
// ChannelError codes.
#include "pprocess/error.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

/// The waitpid() status word of a real process that exits with `status`.
int status_of_exit(int status) {
  test_support::forked_process process([status] { return status; });
  return process.wait();
}

/// The waitpid() status word of a real process killed by `signal` (by its
/// default action, whatever handler was installed: a sanitizer's).
int status_of_signal(int signal) {
  test_support::forked_process process([signal] {
    (void)::signal(signal, SIG_DFL);
    ::kill(::getpid(), signal);
    return 0;
  });
  return process.wait();
}

TEST(ErrorTest, EveryErrorDerivesFromError) {
  static_assert(std::is_base_of_v<std::runtime_error, pprocess::Error>);
  static_assert(std::is_base_of_v<pprocess::Error, pprocess::RemoteError>);
  static_assert(std::is_base_of_v<pprocess::Error, pprocess::ProcessError>);
  static_assert(std::is_base_of_v<pprocess::Error, pprocess::ChannelError>);
  try {
    throw pprocess::ChannelError(pprocess::ChannelErrc::closed, "gone");
  } catch (const pprocess::Error& e) {
    EXPECT_STREQ(e.what(), "gone");
  }
}

TEST(ErrorTest, ProcessErrorFromExitedStatusKeepsStatus) {
  const auto e = pprocess::ProcessError::from_wait_status(
      4321, status_of_exit(3), "process 4321 ended");
  EXPECT_EQ(e.pid(), 4321);
  EXPECT_EQ(e.exit_status(), 3);
  EXPECT_EQ(e.signal(), 0);
}

TEST(ErrorTest, ProcessErrorFromExitedStatusSaysSo) {
  const auto e = pprocess::ProcessError::from_wait_status(
      4321, status_of_exit(3), "process 4321 ended");
  const std::string what = e.what();
  EXPECT_EQ(what.rfind("process 4321 ended", 0), 0U) << what;
  EXPECT_NE(what.find("4321"), std::string::npos) << what;
  EXPECT_NE(what.find("exited with status 3"), std::string::npos) << what;
}

TEST(ErrorTest, ProcessErrorFromSignalledStatusKeepsSignal) {
  const auto e = pprocess::ProcessError::from_wait_status(
      987, status_of_signal(SIGKILL), "process 987 ended");
  EXPECT_EQ(e.pid(), 987);
  EXPECT_EQ(e.exit_status(), -1);
  EXPECT_EQ(e.signal(), SIGKILL);
}

TEST(ErrorTest, ProcessErrorFromSignalledStatusNamesSignal) {
  const auto e = pprocess::ProcessError::from_wait_status(
      987, status_of_signal(SIGKILL), "process 987 ended");
  const std::string what = e.what();
  EXPECT_NE(what.find("987"), std::string::npos) << what;
  EXPECT_NE(what.find("SIGKILL"), std::string::npos) << what;
}

TEST(ErrorTest, ProcessErrorFromTerminatedStatusNamesSigterm) {
  const auto e = pprocess::ProcessError::from_wait_status(
      55, status_of_signal(SIGTERM), "process 55 ended");
  EXPECT_EQ(e.signal(), SIGTERM);
  EXPECT_NE(std::string(e.what()).find("SIGTERM"), std::string::npos)
      << e.what();
}

TEST(ErrorTest, ProcessErrorFromCleanExitHasStatusZero) {
  const auto e = pprocess::ProcessError::from_wait_status(12, status_of_exit(0),
                                                          "process 12 ended");
  EXPECT_EQ(e.exit_status(), 0);
  EXPECT_EQ(e.signal(), 0);
}

TEST(ErrorTest, TimeoutErrorIsAProcessError) {
  static_assert(
      std::is_base_of_v<pprocess::ProcessError, pprocess::TimeoutError>);
  try {
    throw pprocess::TimeoutError(77, -1, SIGKILL,
                                 std::chrono::milliseconds(250),
                                 "task 4 ran past its timeout");
  } catch (const pprocess::ProcessError& e) {
    EXPECT_EQ(e.pid(), 77);
    EXPECT_EQ(e.signal(), SIGKILL);
    EXPECT_STREQ(e.what(), "task 4 ran past its timeout");
    const auto* timeout = dynamic_cast<const pprocess::TimeoutError*>(&e);
    ASSERT_NE(timeout, nullptr);
    EXPECT_EQ(timeout->timeout(), std::chrono::milliseconds(250));
  }
}

TEST(ErrorTest, ProcessErrorDefaults) {
  const pprocess::ProcessError e(5, 3, 0, "ended");
  EXPECT_FALSE(e.task().has_value());
  EXPECT_EQ(e.attempts(), 1U);
  EXPECT_TRUE(e.stack().empty());
  EXPECT_FALSE(e.oom_killed());
  const auto built = pprocess::ProcessError::from_wait_status(
      6, status_of_exit(3), "process 6 ended");
  EXPECT_FALSE(built.task().has_value());
  EXPECT_EQ(built.attempts(), 1U);
  EXPECT_TRUE(built.stack().empty());
}

TEST(ErrorTest, LibrarySetsTaskAndAttemptsAfterConstruction) {
  pprocess::ProcessError process(5, 3, 0, "ended");
  pprocess::detail::error_access::set_task(process, 12);
  pprocess::detail::error_access::set_attempts(process, 3);
  EXPECT_EQ(process.task(), std::optional<std::size_t>(12));
  EXPECT_EQ(process.attempts(), 3U);
  EXPECT_STREQ(process.what(), "ended");  // what() is fixed at construction

  pprocess::RemoteError remote("std::out_of_range", "index 3");
  EXPECT_FALSE(remote.task().has_value());
  pprocess::detail::error_access::set_task(remote, 4);
  EXPECT_EQ(remote.task(), std::optional<std::size_t>(4));

  // Copies (as throw makes) keep them.
  const pprocess::ProcessError copy = process;
  EXPECT_EQ(copy.task(), std::optional<std::size_t>(12));
  EXPECT_EQ(copy.attempts(), 3U);
}

TEST(ErrorTest, SigkillTheLibrarySentIsNeverAnOomKill) {
  const auto e = pprocess::ProcessError::from_wait_status(
      987, status_of_signal(SIGKILL), "process 987 ended", true);
  EXPECT_EQ(e.signal(), SIGKILL);
  EXPECT_FALSE(e.oom_killed());
  EXPECT_TRUE(e.stack().empty());
}

TEST(ErrorTest, CrashSignalWithoutAReportHasNoStack) {
  // A pid this process never created: no report to find.
  const auto e = pprocess::ProcessError::from_wait_status(
      4242, status_of_signal(SIGSEGV), "process 4242 ended");
  EXPECT_EQ(e.signal(), SIGSEGV);
  EXPECT_TRUE(e.stack().empty());
  EXPECT_NE(std::string(e.what()).find("killed by SIGSEGV)"), std::string::npos)
      << e.what();
}

TEST(ErrorTest, RemoteErrorKeepsTypeNameAndWhat) {
  const pprocess::RemoteError e("std::out_of_range", "index 3");
  EXPECT_EQ(e.type_name(), "std::out_of_range");
  EXPECT_STREQ(e.what(), "index 3");
}

TEST(ErrorTest, ChannelErrorCodeIsInPprocessChannelCategory) {
  const pprocess::ChannelError e(pprocess::ChannelErrc::type_mismatch,
                                 "receive<int>: got a double");
  EXPECT_EQ(e.code(), pprocess::ChannelErrc::type_mismatch);
  EXPECT_STREQ(e.code().category().name(), "pprocess.channel");
  EXPECT_EQ(&e.code().category(), &pprocess::channel_category());
  EXPECT_STREQ(e.what(), "receive<int>: got a double");
}

TEST(ErrorTest, ChannelErrcConvertsToErrorCode) {
  const std::error_code code = pprocess::ChannelErrc::closed;
  EXPECT_EQ(code.category().name(), std::string("pprocess.channel"));
  EXPECT_EQ(code.value(), static_cast<int>(pprocess::ChannelErrc::closed));
  EXPECT_NE(code, pprocess::ChannelErrc::refused);
}

TEST(ErrorTest, EveryChannelErrcHasItsOwnMessage) {
  const pprocess::ChannelErrc all[] = {
      pprocess::ChannelErrc::closed,
      pprocess::ChannelErrc::truncated_frame,
      pprocess::ChannelErrc::malformed_frame,
      pprocess::ChannelErrc::oversized_frame,
      pprocess::ChannelErrc::type_mismatch,
      pprocess::ChannelErrc::refused,
  };
  std::set<std::string> messages;
  for (const auto value : all) {
    const std::string message = make_error_code(value).message();
    EXPECT_FALSE(message.empty());
    messages.insert(message);
  }
  EXPECT_EQ(messages.size(), std::size(all));
}

TEST(ErrorTest, ChannelErrorWithOsCauseComparesWithErrc) {
  const pprocess::ChannelError e(std::error_code(EPIPE, std::system_category()),
                                 "send: broken pipe");
  EXPECT_EQ(e.code(), std::errc::broken_pipe);
  EXPECT_NE(e.code(), pprocess::ChannelErrc::closed);
}

}  // namespace
