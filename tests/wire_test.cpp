// SPDX-License-Identifier: MIT
// The wire: which types may cross a channel (checked at compile time), and
// what a receive makes of bytes that are not a well-formed frame.
#include "pprocess/detail/wire.hpp"

#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace wire_test_types {

enum class Mode { fast, slow };

struct WithSerialize {
  std::string name;
  template <class Archive>
  void serialize(Archive& archive) {
    archive(name);
  }
};

struct TriviallyCopyable {
  int x = 0;
  double y = 0;
};

/// Neither trivially copyable nor given a serialize function.
struct Unserializable {
  std::string text;
};

}  // namespace wire_test_types

namespace {

using namespace wire_test_types;
using pprocess::serializable;
using namespace std::string_view_literals;

// --- what may travel ---------------------------------------------------------

static_assert(serializable<int>);
static_assert(serializable<bool>);
static_assert(serializable<char>);
static_assert(serializable<std::uint64_t>);
static_assert(serializable<double>);
static_assert(serializable<long double>);
static_assert(serializable<Mode>);
static_assert(serializable<std::string>);
static_assert(serializable<std::vector<double>>);
static_assert(serializable<std::vector<bool>>);
static_assert(serializable<std::vector<std::string>>);
static_assert(serializable<std::array<int, 3>>);
static_assert(serializable<std::map<std::string, int>>);
static_assert(serializable<std::unordered_map<int, std::string>>);
static_assert(serializable<std::set<int>>);
static_assert(serializable<std::pair<int, std::string>>);
static_assert(serializable<std::tuple<int, double, std::string>>);
static_assert(serializable<std::tuple<>>);
static_assert(serializable<std::optional<int>>);
static_assert(serializable<std::variant<int, std::string>>);
static_assert(serializable<std::variant<std::monostate, int>>);
static_assert(serializable<WithSerialize>);
static_assert(serializable<TriviallyCopyable>);
static_assert(serializable<std::vector<TriviallyCopyable>>);
static_assert(serializable<std::vector<WithSerialize>>);
static_assert(serializable<std::map<int, WithSerialize>>);
static_assert(
    serializable<std::map<std::string,
                          std::vector<std::pair<int, std::optional<double>>>>>);

// --- what may not ------------------------------------------------------------

static_assert(!serializable<int*>);
static_assert(!serializable<const char*>);
static_assert(!serializable<TriviallyCopyable*>);
static_assert(!serializable<std::vector<int*>>);
static_assert(
    !serializable<std::string_view>);  // a view: its bytes are an address
static_assert(!serializable<std::span<int>>);
static_assert(!serializable<Unserializable>);
static_assert(!serializable<std::vector<Unserializable>>);
static_assert(!serializable<std::map<int, Unserializable>>);
static_assert(!serializable<std::map<Unserializable, int>>);
static_assert(!serializable<std::optional<Unserializable>>);
static_assert(!serializable<std::pair<int, Unserializable>>);
static_assert(!serializable<std::tuple<int, Unserializable>>);
static_assert(!serializable<std::variant<int, Unserializable>>);
static_assert(!serializable<std::array<Unserializable, 2>>);
static_assert(!serializable<int&>);
static_assert(!serializable<const int>);

// --- frames that are not what they claim
// ---------------------------------------

using pprocess::detail::frame_header;
using pprocess::detail::frame_kind;
using int_map = std::map<int, int>;

/// A created process that writes `bytes` on its end of the channel, raw,
/// then exits: what its creator receives is exactly those bytes.
pprocess::Channel peer_writing(const std::vector<char>& bytes) {
  return pprocess::start(
      [](pprocess::Channel& c, const std::vector<char>& raw) {
        if (!test_support::write_all(c.fileno(), raw.data(), raw.size())) {
          throw std::runtime_error("could not write the raw bytes");
        }
      },
      bytes);
}

/// The bytes of a frame that names `T`, claims `payload_size` bytes of
/// payload and carries `payload`.
template <class T>
std::vector<char> frame_claiming(std::uint64_t payload_size,
                                 std::string_view payload,
                                 frame_kind kind = frame_kind::value) {
  const frame_header header =
      pprocess::detail::header_for<T>(payload_size, kind);
  constexpr std::string_view name = pprocess::detail::type_name<T>();
  std::vector<char> bytes(sizeof header);
  std::memcpy(bytes.data(), &header, sizeof header);
  bytes.insert(bytes.end(), name.begin(), name.end());
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  return bytes;
}

/// The error code of the ChannelError that receive<T>() throws, or a test
/// failure when it throws anything else or nothing.
template <class T>
std::error_code receive_error(pprocess::Channel& ch) {
  try {
    (void)ch.receive<T>();
  } catch (const pprocess::ChannelError& e) {
    return e.code();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a ChannelError, got " << typeid(e).name() << ": "
                  << e.what();
    return {};
  }
  ADD_FAILURE() << "expected a ChannelError, receive returned";
  return {};
}

/// `bytes` with the header at their start changed by `change`.
template <class Change>
std::vector<char> with_header(std::vector<char> bytes, Change change) {
  frame_header header;
  std::memcpy(&header, bytes.data(), sizeof header);
  change(header);
  std::memcpy(bytes.data(), &header, sizeof header);
  return bytes;
}

/// The first `count` of `bytes`.
std::vector<char> first_bytes(const std::vector<char>& bytes,
                              std::size_t count) {
  return {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(count)};
}

/// The bytes of `value`.
std::string bytes_of(std::uint64_t value) {
  return {reinterpret_cast<const char*>(&value), sizeof value};
}

/// A frame that is not what it claims: what a peer writes, and what a
/// receive of the type it names reports.
struct BadFrame {
  std::string name;  // of the test: what is wrong, and the error
  std::vector<char> bytes;
  std::error_code (*receive)(pprocess::Channel&);  // receive_error<T>
  pprocess::ChannelErrc expected;
};

/// Prints the name: gtest shows it as the parameter, and ctest names each
/// instance by it (WireTest/BadFrameTest.ReceiveThrowsChannelError/<name>).
void PrintTo(const BadFrame& frame, std::ostream* out) {
  *out << frame.name;
}

std::vector<BadFrame> bad_frames() {
  using pprocess::ChannelErrc;
  const std::vector<char> int_frame =
      frame_claiming<int>(sizeof(int), "\1\0\0\0"sv);
  std::vector<char> unknown_kind_frame = int_frame;
  unknown_kind_frame[offsetof(frame_header, kind)] = 77;
  const std::vector<char> int_frame_without_payload =
      frame_claiming<int>(sizeof(int), "");
  // cereal's map: a u64 element count, then the pairs.
  const std::string five_pairs_announced = bytes_of(5);
  const std::string no_pair_then_junk = bytes_of(0) + "junk";
  return {
      {"GarbageBytesAreMalformedFrame", std::vector<char>(64, 'x'),
       receive_error<int>, ChannelErrc::malformed_frame},
      {"HeaderOfOtherVersionIsMalformedFrame",
       with_header(int_frame, [](frame_header& h) { h.version = 99; }),
       receive_error<int>, ChannelErrc::malformed_frame},
      {"HeaderWithUnknownKindIsMalformedFrame", unknown_kind_frame,
       receive_error<int>, ChannelErrc::malformed_frame},
      {"HalfAHeaderIsTruncatedFrame",
       first_bytes(int_frame_without_payload, 12), receive_error<int>,
       ChannelErrc::truncated_frame},
      {"FrameEndingInsideTypeNameIsTruncatedFrame",
       first_bytes(int_frame_without_payload, sizeof(frame_header) + 1),
       receive_error<int>, ChannelErrc::truncated_frame},
      {"FrameEndingInsidePayloadIsTruncatedFrame",
       frame_claiming<int>(sizeof(int), "\1\0"sv), receive_error<int>,
       ChannelErrc::truncated_frame},
      {"RawValueOfWrongSizeIsMalformedFrame",
       frame_claiming<int>(8, "\1\0\0\0\0\0\0\0"sv), receive_error<int>,
       ChannelErrc::malformed_frame},
      {"RawSequenceOfPartialElementIsMalformedFrame",
       frame_claiming<std::vector<double>>(12, "abcdefghijkl"),
       receive_error<std::vector<double>>, ChannelErrc::malformed_frame},
      {"CerealPayloadCutShortIsMalformedFrame",  // five pairs, none there
       frame_claiming<int_map>(five_pairs_announced.size(),
                               five_pairs_announced),
       receive_error<int_map>, ChannelErrc::malformed_frame},
      {"CerealPayloadWithBytesLeftOverIsMalformedFrame",
       frame_claiming<int_map>(no_pair_then_junk.size(), no_pair_then_junk),
       receive_error<int_map>, ChannelErrc::malformed_frame},
      {"ExceptionFrameThatDoesNotDecodeIsMalformedFrame",
       frame_claiming<int>(3, "abc", frame_kind::exception), receive_error<int>,
       ChannelErrc::malformed_frame},
      {"HugeTypeNameIsMalformedFrame",
       with_header(int_frame, [](frame_header& h) { h.name_size = 60000; }),
       receive_error<int>, ChannelErrc::malformed_frame},
      // 4 EiB announced: the receiver must refuse it, not try to allocate it.
      {"HugePayloadSizeIsOversizedFrame",
       frame_claiming<std::string>(std::uint64_t{1} << 62, "only a few bytes"),
       receive_error<std::string>, ChannelErrc::oversized_frame},
  };
}

class BadFrameTest : public ::testing::TestWithParam<BadFrame> {};

TEST_P(BadFrameTest, ReceiveThrowsChannelError) {
  auto ch = peer_writing(GetParam().bytes);
  EXPECT_EQ(GetParam().receive(ch), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(WireTest, BadFrameTest,
                         ::testing::ValuesIn(bad_frames()));

TEST(WireTest, HugePayloadOfMismatchedTypeIsChannelError) {
  // The type is wrong and the payload absurd: still a ChannelError.
  auto ch = peer_writing(
      frame_claiming<double>(std::uint64_t{1} << 62, "only a few bytes"));
  const std::error_code code = receive_error<int>(ch);
  EXPECT_TRUE(code == pprocess::ChannelErrc::oversized_frame ||
              code == pprocess::ChannelErrc::type_mismatch)
      << code.message();
}

TEST(WireTest, WellFormedFrameWrittenByHandIsReceived) {
  // The frames above differ from this one only where they say: a receive
  // accepts a frame built the same way when nothing is wrong with it.
  const std::int32_t value = 1234;
  auto ch = peer_writing(frame_claiming<std::int32_t>(
      sizeof value,
      std::string_view(reinterpret_cast<const char*>(&value), sizeof value)));
  EXPECT_EQ(ch.receive<std::int32_t>(), 1234);
}

}  // namespace
