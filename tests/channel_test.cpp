// SPDX-License-Identifier: MIT
// Channel, create(), start() and exit(): process creation, values of every
// kind DESIGN.md lists crossing a channel, and the errors a receive or a
// send reports.
#include "pprocess/channel.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace channel_test_types {

enum class Color : std::uint8_t { red = 1, green = 2, blue = 200 };
enum Legacy { legacy_zero, legacy_big = 70000 };

/// A user type that travels through its cereal serialize function.
struct Sample {
  std::string label;
  std::vector<int> counts;
  double weight = 0;

  template <class Archive>
  void serialize(Archive& archive) {
    archive(label, counts, weight);
  }
  bool operator==(const Sample&) const = default;
};

/// Trivially copyable and without serialize: travels as its own bytes.
struct Pixel {
  std::uint8_t r = 0;
  std::uint8_t g = 0;
  std::uint8_t b = 0;
  std::int32_t depth = 0;
  double weight = 0;
  bool operator==(const Pixel&) const = default;
};
static_assert(std::is_trivially_copyable_v<Pixel>);

// Two unrelated types of the same size: a receive of one must never
// silently read the other.
struct Apple {
  std::int32_t seeds = 0;
};
struct Orange {
  std::int32_t segments = 0;
};

struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace channel_test_types

namespace {

using namespace channel_test_types;
using test_support::run_created_and_exit;

/// Sends `value` to a created process that sends back what it received as a
/// `T`: both directions of the channel carry the value.
template <class T>
T round_trip(const T& value) {
  pprocess::Channel ch =
      pprocess::start([](pprocess::Channel& c) { c.send(c.receive<T>()); });
  ch.send(value);
  return ch.receive<T>();
}

// --- creating processes ------------------------------------------------------

TEST(ChannelTest, StartSendsValueBack) {
  auto ch =
      pprocess::start([](pprocess::Channel& c, int n) { c.send(n * n); }, 7);
  EXPECT_GT(ch.pid(), 0);
  EXPECT_EQ(ch.receive<int>(), 49);
}

TEST(ChannelTest, StartPassesEveryArgument) {
  auto ch = pprocess::start(
      [](pprocess::Channel& c, const std::string& word, int times,
         const std::vector<int>& extra) {
        std::string text;
        for (int i = 0; i < times; ++i) {
          text += word;
        }
        c.send(text + std::to_string(extra.size()));
      },
      std::string("ab"), 3, std::vector<int>{1, 2, 3, 4});
  EXPECT_EQ(ch.receive<std::string>(), "ababab4");
}

TEST(ChannelTest, CreatedProcessSeesZeroPid) {
  auto ch = pprocess::create();
  if (ch.pid() == 0) {
    run_created_and_exit(ch, [&] { ch.send(ch.pid()); });
  }
  EXPECT_GT(ch.pid(), 0);
  EXPECT_EQ(ch.receive<pid_t>(), 0);
}

TEST(ChannelTest, CreatorSeesPidOfCreatedProcess) {
  auto ch = pprocess::create();
  if (ch.pid() == 0) {
    run_created_and_exit(ch, [&] { ch.send(::getpid()); });
  }
  EXPECT_NE(ch.pid(), ::getpid());
  EXPECT_EQ(ch.receive<pid_t>(), ch.pid());
}

TEST(ChannelTest, CreatedProcessIsAChildOfItsCreator) {
  auto ch = pprocess::start([](pprocess::Channel& c) { c.send(::getppid()); });
  EXPECT_EQ(ch.receive<pid_t>(), ::getpid());
}

TEST(ChannelTest, ValuesSentBeforeExitAreAllDelivered) {
  auto ch = pprocess::create();
  if (ch.pid() == 0) {
    run_created_and_exit(ch, [&] {
      ch.send(1);
      ch.send(std::string("two"));
      ch.send(3.5);
    });
  }
  EXPECT_EQ(ch.receive<int>(), 1);
  EXPECT_EQ(ch.receive<std::string>(), "two");
  EXPECT_EQ(ch.receive<double>(), 3.5);
}

TEST(ChannelTest, ExitStatusReachesCreatorAsProcessError) {
  auto ch = pprocess::create();
  if (ch.pid() == 0) {
    pprocess::exit(ch, 4);
  }
  test_support::expect_receive_reports_exit(ch, 4);
}

TEST(ChannelTest, CopyOfCreatorMemoryIsPrivateToCreatedProcess) {
  std::vector<int> data{1, 2, 3};
  auto ch = pprocess::start([&data](pprocess::Channel& c) {
    data.push_back(4);
    c.send(data);
  });
  EXPECT_EQ(ch.receive<std::vector<int>>(), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(data, (std::vector<int>{1, 2, 3}));
}

// --- two-way traffic ---------------------------------------------------------

TEST(ChannelTest, MovedChannelKeepsWhatItReadAhead) {
  using pprocess::detail::channel_access;
  test_support::unique_pipe sent;
  auto ch = pprocess::start(
      [](pprocess::Channel& c, int done_fd) {
        c.send(1);
        c.send(2);
        (void)test_support::write_value(done_fd, 1);
      },
      sent.write_end());
  channel_access::read_ahead(ch);
  ASSERT_TRUE(test_support::read_value<int>(sent.read_end()).has_value());
  EXPECT_EQ(ch.receive<int>(), 1);  // one read took both values
  ASSERT_GT(channel_access::buffered(ch), 0U);
  pprocess::Channel moved = std::move(ch);
  EXPECT_EQ(channel_access::buffered(ch), 0U);  // NOLINT(*-use-after-move)
  EXPECT_EQ(moved.receive<int>(), 2);
}

TEST(ChannelTest, PingPongOverSeveralRounds) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    for (;;) {
      const int value = c.receive<int>();
      if (value < 0) {
        return;
      }
      c.send(std::to_string(value * 2));
    }
  });
  for (int round = 0; round < 20; ++round) {
    ch.send(round);
    EXPECT_EQ(ch.receive<std::string>(), std::to_string(round * 2));
  }
  ch.send(-1);
}

// --- values of every kind ----------------------------------------------------

TEST(ChannelTest, ArithmeticValuesRoundTrip) {
  EXPECT_EQ(round_trip(std::numeric_limits<int>::min()),
            std::numeric_limits<int>::min());
  EXPECT_EQ(round_trip(std::numeric_limits<std::uint64_t>::max()),
            std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(round_trip(std::int8_t{-7}), std::int8_t{-7});
  EXPECT_EQ(round_trip(-2.5e300), -2.5e300);
  EXPECT_EQ(round_trip(0.125F), 0.125F);
  EXPECT_EQ(round_trip(true), true);
  EXPECT_EQ(round_trip('z'), 'z');
}

TEST(ChannelTest, EnumsRoundTrip) {
  EXPECT_EQ(round_trip(Color::blue), Color::blue);
  EXPECT_EQ(round_trip(legacy_big), legacy_big);
}

TEST(ChannelTest, StringRoundTrips) {
  EXPECT_EQ(round_trip(std::string("hello, channel")), "hello, channel");
}

TEST(ChannelTest, EmptyStringRoundTrips) {
  EXPECT_EQ(round_trip(std::string()), "");
}

TEST(ChannelTest, StringWithNulBytesRoundTrips) {
  const std::string text("a\0b\0\0c", 6);
  const std::string back = round_trip(text);
  EXPECT_EQ(back.size(), 6U);
  EXPECT_EQ(back, text);
}

TEST(ChannelTest, EightMebibyteVectorOfDoubleRoundTrips) {
  std::vector<double> values(std::size_t{1} << 20);  // 8 MiB
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<double>(i) * 0.5 - 1000.0;
  }
  const std::vector<double> back = round_trip(values);
  ASSERT_EQ(back.size(), values.size());
  EXPECT_EQ(back, values);
}

TEST(ChannelTest, EmptyVectorRoundTrips) {
  EXPECT_EQ(round_trip(std::vector<double>{}), std::vector<double>{});
}

TEST(ChannelTest, VectorOfBoolRoundTrips) {
  const std::vector<bool> bits{true, false, false, true, true};
  EXPECT_EQ(round_trip(bits), bits);
}

TEST(ChannelTest, ArrayRoundTrips) {
  const std::array<int, 4> values{4, -3, 2, -1};
  EXPECT_EQ(round_trip(values), values);
}

TEST(ChannelTest, MapRoundTrips) {
  const std::map<std::string, int> values{{"one", 1}, {"two", 2}, {"", 0}};
  EXPECT_EQ(round_trip(values), values);
}

TEST(ChannelTest, UnorderedMapRoundTrips) {
  const std::unordered_map<int, std::string> values{
      {1, "one"}, {-2, "minus two"}, {300, ""}};
  EXPECT_EQ(round_trip(values), values);
}

TEST(ChannelTest, SetRoundTrips) {
  const std::set<std::string> values{"pear", "apple", "fig"};
  EXPECT_EQ(round_trip(values), values);
}

TEST(ChannelTest, PairRoundTrips) {
  const std::pair<int, std::string> value{42, "answer"};
  EXPECT_EQ(round_trip(value), value);
}

TEST(ChannelTest, TupleRoundTrips) {
  const std::tuple<int, double, std::string> value{3, 1.5, "x"};
  EXPECT_EQ(round_trip(value), value);
}

TEST(ChannelTest, EngagedOptionalRoundTrips) {
  const std::optional<std::string> value("present");
  EXPECT_EQ(round_trip(value), value);
}

TEST(ChannelTest, EmptyOptionalRoundTrips) {
  const std::optional<std::string> back =
      round_trip(std::optional<std::string>{});
  EXPECT_FALSE(back.has_value());
}

TEST(ChannelTest, VariantRoundTripsWithItsAlternative) {
  using value_type = std::variant<int, std::string, double>;
  const value_type text = round_trip(value_type("text"));
  ASSERT_EQ(text.index(), 1U);
  EXPECT_EQ(std::get<std::string>(text), "text");
  const value_type number = round_trip(value_type(2.25));
  ASSERT_EQ(number.index(), 2U);
  EXPECT_EQ(std::get<double>(number), 2.25);
}

TEST(ChannelTest, StructWithSerializeRoundTrips) {
  const Sample value{"sample", {1, 2, 3}, 0.75};
  EXPECT_EQ(round_trip(value), value);
}

TEST(ChannelTest, TriviallyCopyableStructWithoutSerializeRoundTrips) {
  const Pixel value{10, 20, 250, -40000, 2.5};
  EXPECT_EQ(round_trip(value), value);
}

TEST(ChannelTest, VectorOfTriviallyCopyableStructsRoundTrips) {
  const std::vector<Pixel> values{{1, 2, 3, 4, 5.0}, {6, 7, 8, -9, 10.5}};
  EXPECT_EQ(round_trip(values), values);
}

TEST(ChannelTest, NestedContainersRoundTrip) {
  using nested =
      std::map<std::string, std::vector<std::pair<int, std::optional<Sample>>>>;
  const nested value{
      {"a", {{1, Sample{"s", {7}, 1.0}}, {2, std::nullopt}}},
      {"b", {}},
  };
  EXPECT_EQ(round_trip(value), value);
}

// --- type mismatch -----------------------------------------------------------

TEST(ChannelTest, ReceiveOfOtherTypeNamesBothTypes) {
  auto ch = pprocess::start([](pprocess::Channel& c) { c.send(Apple{3}); });
  try {
    (void)ch.receive<Orange>();
    FAIL() << "receive<Orange>() accepted an Apple";
  } catch (const pprocess::ChannelError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("channel_test_types::Apple"), std::string::npos)
        << what;
    EXPECT_NE(what.find("channel_test_types::Orange"), std::string::npos)
        << what;
    EXPECT_EQ(e.code(), pprocess::ChannelErrc::type_mismatch);
  }
}

TEST(ChannelTest, ChannelStaysUsableAfterTypeMismatch) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    c.send(std::string("not a number"));
    c.send(42);
  });
  EXPECT_THROW((void)ch.receive<int>(), pprocess::ChannelError);
  EXPECT_EQ(ch.receive<int>(), 42);
}

// --- errors that travel ------------------------------------------------------

TEST(ChannelTest, ExceptionInCallableBecomesRemoteError) {
  auto ch = pprocess::start([](pprocess::Channel& /*c*/) {
    throw std::out_of_range("index 7 is past the end");
  });
  test_support::expect_remote_error([&] { (void)ch.receive<int>(); },
                                    "std::out_of_range",
                                    "index 7 is past the end");
}

TEST(ChannelTest, RemoteErrorNamesUserExceptionType) {
  auto ch = pprocess::start(
      [](pprocess::Channel& /*c*/) { throw BadInput("the input was bad"); });
  test_support::expect_remote_error([&] { (void)ch.receive<int>(); },
                                    "channel_test_types::BadInput",
                                    "the input was bad");
}

TEST(ChannelTest, RemoteErrorIsCaughtAsError) {
  auto ch = pprocess::start(
      [](pprocess::Channel& /*c*/) { throw std::logic_error("logic"); });
  EXPECT_THROW((void)ch.receive<int>(), pprocess::Error);
}

TEST(ChannelTest, AbortBecomesProcessErrorWithSignal) {
  auto ch = pprocess::start(
      [](pprocess::Channel& /*c*/) { test_support::abort_without_core(); });
  test_support::expect_receive_reports_signal(ch, SIGABRT);
}

TEST(ChannelTest, EarlyExitBecomesProcessErrorWithStatus) {
  auto ch = pprocess::start([](pprocess::Channel& /*c*/) { ::_exit(3); });
  test_support::expect_receive_reports_exit(ch, 3);
}

TEST(ChannelTest, KilledProcessBecomesProcessErrorWithSigkill) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    c.send(1);
    ::pause();
  });
  ASSERT_EQ(ch.receive<int>(), 1);
  ASSERT_EQ(::kill(ch.pid(), SIGKILL), 0);
  test_support::expect_receive_reports_signal(ch, SIGKILL);
}

// --- closed channels ---------------------------------------------------------

TEST(ChannelTest, SendToClosedPeerThrowsChannelErrorNotSigpipe) {
  struct sigaction current {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &current), 0);
  ASSERT_EQ(current.sa_handler, SIG_DFL) << "SIGPIPE would not kill us";

  auto ch = pprocess::create();
  if (ch.pid() == 0) {
    pprocess::exit(ch);
  }
  pollfd hangup{ch.fileno(), POLLIN, 0};
  ASSERT_EQ(::poll(&hangup, 1, 10000), 1);  // the peer's end is closed
  try {
    ch.send(42);
    FAIL() << "send to a closed peer succeeded";
  } catch (const pprocess::ChannelError& e) {
    EXPECT_TRUE(e.code() == std::errc::broken_pipe ||
                e.code() == pprocess::ChannelErrc::closed)
        << e.code().message();
  }
}

TEST(ChannelTest, ReceiveFromPeerThatClosedButRunsThrowsChannelError) {
  test_support::unique_pipe release;  // closing its write end ends the peer
  auto ch = pprocess::create();
  if (ch.pid() == 0) {
    run_created_and_exit(ch, [&] {
      release.close_write();
      const int fd = release.read_end();
      ch.close();
      char byte = 0;
      while (::read(fd, &byte, 1) < 0 && errno == EINTR) {
      }
    });
  }
  std::string outcome = "receive<int>() returned";
  std::error_code code;
  try {
    (void)ch.receive<int>();
  } catch (const pprocess::ProcessError& e) {
    outcome = std::string("ProcessError although the peer runs: ") + e.what();
  } catch (const pprocess::ChannelError& e) {
    outcome = "ChannelError";
    code = e.code();
  }
  release.close_write();  // the peer ends now; reap it before checking
  pprocess::waitall();
  EXPECT_EQ(outcome, "ChannelError");
  EXPECT_EQ(code, pprocess::ChannelErrc::closed);
}

TEST(ChannelTest, ReceiveAfterCloseThrowsChannelError) {
  auto ch = pprocess::start([](pprocess::Channel& c) { c.send(1); });
  ch.close();
  EXPECT_EQ(ch.fileno(), -1);
  EXPECT_FALSE(ch);
  try {
    (void)ch.receive<int>();
    FAIL() << "receive<int>() on a closed channel returned";
  } catch (const pprocess::ChannelError& e) {
    EXPECT_EQ(e.code(), pprocess::ChannelErrc::closed);
  }
}

TEST(ChannelTest, SendAfterCloseThrowsChannelError) {
  auto ch = pprocess::start([](pprocess::Channel& c) { c.send(1); });
  ch.close();
  try {
    ch.send(1);
    FAIL() << "send on a closed channel returned";
  } catch (const pprocess::ChannelError& e) {
    EXPECT_EQ(e.code(), pprocess::ChannelErrc::closed);
  }
}

TEST(ChannelTest, DefaultConstructedChannelIsClosed) {
  pprocess::Channel ch;
  EXPECT_EQ(ch.fileno(), -1);
  EXPECT_EQ(ch.pid(), 0);
  EXPECT_FALSE(ch);
  EXPECT_THROW((void)ch.receive<int>(), pprocess::ChannelError);
}

// --- moving ------------------------------------------------------------------

TEST(ChannelTest, MoveConstructionTransfersTheChannel) {
  auto a = pprocess::start([](pprocess::Channel& c) { c.send(5); });
  const pid_t pid = a.pid();
  const int fd = a.fileno();
  pprocess::Channel b = std::move(a);
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_EQ(a.fileno(), -1);
  EXPECT_EQ(a.pid(), 0);
  EXPECT_FALSE(a);
  EXPECT_EQ(b.fileno(), fd);
  EXPECT_EQ(b.pid(), pid);
  EXPECT_EQ(b.receive<int>(), 5);
}

TEST(ChannelTest, MoveAssignmentTransfersTheChannel) {
  auto a = pprocess::start([](pprocess::Channel& c) { c.send(6); });
  const pid_t pid = a.pid();
  pprocess::Channel b;
  b = std::move(a);
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_EQ(a.fileno(), -1);
  EXPECT_EQ(b.pid(), pid);
  EXPECT_EQ(b.receive<int>(), 6);
}

TEST(ChannelTest, MoveAssignmentClosesTheOverwrittenChannel) {
  auto a = pprocess::start([](pprocess::Channel& c) { c.send(1); });
  auto b = pprocess::start([](pprocess::Channel& c) { c.send(2); });
  const int overwritten = b.fileno();
  b = std::move(a);
  errno = 0;
  EXPECT_EQ(::fcntl(overwritten, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(b.receive<int>(), 1);
}

TEST(ChannelTest, ReceiveOnMovedFromChannelThrowsChannelError) {
  auto a = pprocess::start([](pprocess::Channel& c) { c.send(1); });
  pprocess::Channel b = std::move(a);
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_THROW((void)a.receive<int>(), pprocess::ChannelError);
  EXPECT_EQ(b.receive<int>(), 1);
}

// --- fileno ------------------------------------------------------------------

TEST(ChannelTest, FilenoPollsReadableOnlyOnceAValueArrives) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    const int go = c.receive<int>();
    c.send(go + 1);
  });
  pollfd p{ch.fileno(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);  // it waits for us: nothing to read yet
  ch.send(41);
  p.revents = 0;
  ASSERT_EQ(::poll(&p, 1, 10000), 1);
  EXPECT_NE(p.revents & POLLIN, 0);
  EXPECT_EQ(ch.receive<int>(), 42);
}

}  // namespace
