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
#include <set>
#include <stdexcept>
#include <string>
#include <span>
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
static_assert(!serializable<std::string_view>);  // a view: its bytes are an address
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

TEST(WireTest, GarbageBytesAreMalformedFrame) {
  auto ch = peer_writing(std::vector<char>(64, 'x'));
  EXPECT_EQ(receive_error<int>(ch), pprocess::ChannelErrc::malformed_frame);
}

TEST(WireTest, HeaderOfOtherVersionIsMalformedFrame) {
  std::vector<char> bytes = frame_claiming<int>(sizeof(int), "\1\0\0\0"sv);
  frame_header header;
  std::memcpy(&header, bytes.data(), sizeof header);
  header.version = 99;
  std::memcpy(bytes.data(), &header, sizeof header);
  auto ch = peer_writing(bytes);
  EXPECT_EQ(receive_error<int>(ch), pprocess::ChannelErrc::malformed_frame);
}

TEST(WireTest, HeaderWithUnknownKindIsMalformedFrame) {
  std::vector<char> bytes = frame_claiming<int>(sizeof(int), "\1\0\0\0"sv);
  bytes[offsetof(frame_header, kind)] = 77;
  auto ch = peer_writing(bytes);
  EXPECT_EQ(receive_error<int>(ch), pprocess::ChannelErrc::malformed_frame);
}

TEST(WireTest, HalfAHeaderIsTruncatedFrame) {
  const std::vector<char> bytes = frame_claiming<int>(sizeof(int), "");
  auto ch = peer_writing({bytes.begin(), bytes.begin() + 12});
  EXPECT_EQ(receive_error<int>(ch), pprocess::ChannelErrc::truncated_frame);
}

TEST(WireTest, FrameEndingInsideTypeNameIsTruncatedFrame) {
  const std::vector<char> bytes = frame_claiming<int>(sizeof(int), "");
  auto ch =
      peer_writing({bytes.begin(), bytes.begin() + sizeof(frame_header) + 1});
  EXPECT_EQ(receive_error<int>(ch), pprocess::ChannelErrc::truncated_frame);
}

TEST(WireTest, FrameEndingInsidePayloadIsTruncatedFrame) {
  auto ch = peer_writing(frame_claiming<int>(sizeof(int), "\1\0"sv));
  EXPECT_EQ(receive_error<int>(ch), pprocess::ChannelErrc::truncated_frame);
}

TEST(WireTest, RawValueOfWrongSizeIsMalformedFrame) {
  auto ch = peer_writing(frame_claiming<int>(8, "\1\0\0\0\0\0\0\0"sv));
  EXPECT_EQ(receive_error<int>(ch), pprocess::ChannelErrc::malformed_frame);
}

TEST(WireTest, RawSequenceOfPartialElementIsMalformedFrame) {
  auto ch =
      peer_writing(frame_claiming<std::vector<double>>(12, "abcdefghijkl"));
  EXPECT_EQ(receive_error<std::vector<double>>(ch),
            pprocess::ChannelErrc::malformed_frame);
}

TEST(WireTest, CerealPayloadCutShortIsMalformedFrame) {
  // cereal's map: a u64 element count, then the pairs. Five announced, none
  // there.
  const std::uint64_t count = 5;
  const std::string payload(reinterpret_cast<const char*>(&count),
                            sizeof count);
  auto ch = peer_writing(frame_claiming<int_map>(payload.size(), payload));
  EXPECT_EQ(receive_error<int_map>(ch), pprocess::ChannelErrc::malformed_frame);
}

TEST(WireTest, CerealPayloadWithBytesLeftOverIsMalformedFrame) {
  const std::uint64_t count = 0;
  std::string payload(reinterpret_cast<const char*>(&count), sizeof count);
  payload += "junk";
  auto ch = peer_writing(frame_claiming<int_map>(payload.size(), payload));
  EXPECT_EQ(receive_error<int_map>(ch), pprocess::ChannelErrc::malformed_frame);
}

TEST(WireTest, ExceptionFrameThatDoesNotDecodeIsMalformedFrame) {
  auto ch = peer_writing(frame_claiming<int>(3, "abc", frame_kind::exception));
  EXPECT_EQ(receive_error<int>(ch), pprocess::ChannelErrc::malformed_frame);
}

TEST(WireTest, HugeTypeNameIsMalformedFrame) {
  std::vector<char> bytes = frame_claiming<int>(sizeof(int), "\1\0\0\0"sv);
  frame_header header;
  std::memcpy(&header, bytes.data(), sizeof header);
  header.name_size = 60000;
  std::memcpy(bytes.data(), &header, sizeof header);
  auto ch = peer_writing(bytes);
  EXPECT_EQ(receive_error<int>(ch), pprocess::ChannelErrc::malformed_frame);
}

TEST(WireTest, HugePayloadSizeIsOversizedFrame) {
  // 4 EiB announced: the receiver must refuse it, not try to allocate it.
  auto ch = peer_writing(
      frame_claiming<std::string>(std::uint64_t{1} << 62, "only a few bytes"));
  EXPECT_EQ(receive_error<std::string>(ch),
            pprocess::ChannelErrc::oversized_frame);
}

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
