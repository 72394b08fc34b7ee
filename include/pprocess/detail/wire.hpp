// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// How values cross a channel: the frame layout and the choice between raw
/// bytes and cereal for each type.
///
/// A frame is a fixed header, the sender's type name, then the payload:
///
///     | magic u32 | kind u8 | version u8 | name_size u16 |
///     | type fingerprint u64 | payload_size u64 | name bytes | payload |
///
/// Trivially-copyable values travel as their own bytes, and so do the
/// elements of a `std::vector`/`std::string` of them: no encoding step, one
/// gather write, one read straight into the destination. Everything else is
/// encoded with cereal's binary archive.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <cereal/types/array.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

#include <pprocess/detail/archive.hpp>
#include <pprocess/detail/type_name.hpp>

namespace pprocess::detail {

inline constexpr std::uint32_t frame_magic = 0x31525050;  // "PPR1"
inline constexpr std::uint8_t frame_version = 1;

enum class frame_kind : std::uint8_t {
  value = 1,      ///< a value of the named type
  exception = 2,  ///< an exception that escaped the peer's callable
  ack = 3,        ///< persistent channels: the previous frame was received
  end = 4,        ///< persistent channels: the background process is done
};

struct frame_header {
  std::uint32_t magic = frame_magic;
  frame_kind kind = frame_kind::value;
  std::uint8_t version = frame_version;
  std::uint16_t name_size = 0;
  std::uint64_t type_hash = 0;
  std::uint64_t payload_size = 0;
};
static_assert(sizeof(frame_header) == 24 &&
              std::is_trivially_copyable_v<frame_header>);

// ---------------------------------------------------------------------------
// Which types can travel, and how.

/// A value sent as its own bytes: trivially copyable, not a pointer (an
/// address means nothing in another process), and not a type that asks for
/// cereal through its own serialize/save/load functions.
template <class T>
inline constexpr bool is_view = false;
template <class C, class Tr>
inline constexpr bool is_view<std::basic_string_view<C, Tr>> = true;
template <class T, std::size_t N>
inline constexpr bool is_view<std::span<T, N>> = true;

/// A value sent as its own bytes: trivially copyable, not a pointer or a
/// view (an address means nothing in another process), and not a type that
/// asks for cereal through its own serialize/save/load functions.
///
/// A struct that holds a pointer is trivially copyable too, and nothing can
/// tell it apart: its pointer travels as meaningless bytes.
template <class T>
concept raw_value =
    std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> &&
    !std::is_member_pointer_v<T> && !std::is_array_v<T> && !is_view<T> &&
    (std::is_arithmetic_v<T> || std::is_enum_v<T> ||
     !cereal::traits::is_output_serializable<T, output_archive>::value);

template <class T>
struct is_raw_sequence : std::false_type {};
template <class U, class A>
  requires(raw_value<U> && !std::is_same_v<U, bool>)
struct is_raw_sequence<std::vector<U, A>> : std::true_type {
  using element = U;
};
template <class C, class Tr, class A>
struct is_raw_sequence<std::basic_string<C, Tr, A>> : std::true_type {
  using element = C;
};

/// A contiguous sequence of raw values: its elements travel as bytes.
template <class T>
concept raw_sequence = is_raw_sequence<T>::value;

/// Whether cereal can encode `T` all the way down. cereal's own traits see
/// only the outer type (`std::vector<X>` looks serializable for any X), so
/// the standard containers are unwrapped here and checked element by element.
template <class T>
struct cereal_encodable
    : std::bool_constant<
          std::is_arithmetic_v<T> || std::is_enum_v<T> ||
          (std::is_class_v<T> &&
           cereal::traits::is_output_serializable<T, output_archive>::value &&
           cereal::traits::is_input_serializable<T, input_archive>::value)> {};

template <class... Ts>
inline constexpr bool all_cereal_encodable = (cereal_encodable<Ts>::value &&
                                              ...);

template <class C, class Tr, class A>
struct cereal_encodable<std::basic_string<C, Tr, A>> : cereal_encodable<C> {};
template <class T, class A>
struct cereal_encodable<std::vector<T, A>> : cereal_encodable<T> {};
template <class T, class A>
struct cereal_encodable<std::deque<T, A>> : cereal_encodable<T> {};
template <class T, class A>
struct cereal_encodable<std::list<T, A>> : cereal_encodable<T> {};
template <class T, std::size_t N>
struct cereal_encodable<std::array<T, N>> : cereal_encodable<T> {};
template <class K, class V, class C, class A>
struct cereal_encodable<std::map<K, V, C, A>>
    : std::bool_constant<all_cereal_encodable<K, V>> {};
template <class K, class V, class C, class A>
struct cereal_encodable<std::multimap<K, V, C, A>>
    : std::bool_constant<all_cereal_encodable<K, V>> {};
template <class K, class V, class H, class E, class A>
struct cereal_encodable<std::unordered_map<K, V, H, E, A>>
    : std::bool_constant<all_cereal_encodable<K, V>> {};
template <class K, class C, class A>
struct cereal_encodable<std::set<K, C, A>> : cereal_encodable<K> {};
template <class K, class C, class A>
struct cereal_encodable<std::multiset<K, C, A>> : cereal_encodable<K> {};
template <class K, class H, class E, class A>
struct cereal_encodable<std::unordered_set<K, H, E, A>> : cereal_encodable<K> {
};
template <class A, class B>
struct cereal_encodable<std::pair<A, B>>
    : std::bool_constant<all_cereal_encodable<A, B>> {};
template <class... Ts>
struct cereal_encodable<std::tuple<Ts...>>
    : std::bool_constant<all_cereal_encodable<Ts...>> {};
template <class T>
struct cereal_encodable<std::optional<T>> : cereal_encodable<T> {};
template <class... Ts>
struct cereal_encodable<std::variant<Ts...>>
    : std::bool_constant<all_cereal_encodable<Ts...>> {};
template <>
struct cereal_encodable<std::monostate> : std::true_type {};

}  // namespace pprocess::detail

namespace pprocess {

/// Types that can cross a channel: trivially-copyable values (as raw bytes,
/// alone or as the elements of a `std::vector` or `std::string`), arithmetic
/// types, enums, the standard containers, pairs, tuples, optionals and
/// variants of such types, and any type with a cereal `serialize` (or
/// `save`/`load`) function. A receiving type must also be default
/// constructible. Pointers never travel: an address means nothing in another
/// process.
template <class T>
concept serializable = !std::is_reference_v<T> && !std::is_const_v<T> &&
                       std::default_initializable<T> &&
                       (detail::raw_value<T> || detail::raw_sequence<T> ||
                        detail::cereal_encodable<T>::value);

}  // namespace pprocess

namespace pprocess::detail {

/// Appends the encoding of `value` to `out`; descriptors that must travel
/// with it are appended to `fds` (borrowed).
template <class T>
void cereal_encode(const T& value, std::vector<char>& out,
                   std::vector<int>* fds = nullptr) {
  output_archive archive(out, fds);
  archive(value);
}

/// Decodes `value` from exactly `bytes`; throws cereal::Exception when the
/// bytes run out or claim more than they hold, and returns false when some
/// were left over.
template <class T>
bool cereal_decode(std::span<const char> bytes, T& value,
                   std::vector<unique_fd>* fds = nullptr) {
  input_archive archive(bytes, fds);
  archive(value);
  return archive.remaining() == 0;
}

/// The header of a frame carrying a `T`.
template <class T>
frame_header header_for(std::size_t payload_size,
                        frame_kind kind = frame_kind::value) noexcept {
  frame_header header;
  header.kind = kind;
  header.name_size = static_cast<std::uint16_t>(type_name<T>().size());
  header.type_hash = type_fingerprint<T>;
  header.payload_size = payload_size;
  return header;
}

/// A whole frame, kept to be sent later, with its own copies of the
/// descriptors that travel with it.
struct encoded_frame {
  std::vector<char> bytes;
  std::vector<unique_fd> fds;
};

/// Duplicates `fds` (close-on-exec) for an encoded_frame to own.
std::vector<unique_fd> duplicate_fds(std::span<const int> fds);

/// The payload of a frame carrying `value`: the value's own bytes for raw
/// values and raw sequences (nothing copied); otherwise cereal's encoding,
/// written into `scratch`, with the descriptors that travel with it
/// appended to `fds` (borrowed).
template <class T>
std::span<const char> payload_of(const T& value, std::vector<char>& scratch,
                                 std::vector<int>& fds) {
  if constexpr (raw_value<T>) {
    return {reinterpret_cast<const char*>(&value), sizeof(T)};
  } else if constexpr (raw_sequence<T>) {
    using element = typename is_raw_sequence<T>::element;
    return {reinterpret_cast<const char*>(value.data()),
            value.size() * sizeof(element)};
  } else {
    scratch.clear();
    cereal_encode(value, scratch, &fds);
    return scratch;
  }
}

/// A whole frame carrying `value`: for values that are stored before they
/// are sent (the queued calls of a reusable process, exceptions).
template <class T>
encoded_frame encode_frame(const T& value,
                           frame_kind kind = frame_kind::value) {
  constexpr std::string_view name = type_name<T>();
  std::vector<char> scratch;
  std::vector<int> borrowed;
  const std::span<const char> payload = payload_of(value, scratch, borrowed);
  const frame_header header = header_for<T>(payload.size(), kind);
  encoded_frame frame;
  frame.bytes.resize(sizeof header + name.size() + payload.size());
  char* out = frame.bytes.data();
  std::memcpy(out, &header, sizeof header);
  out += sizeof header;
  std::memcpy(out, name.data(), name.size());
  out += name.size();
  if (!payload.empty()) {  // an empty payload's data() may be null
    std::memcpy(out, payload.data(), payload.size());
  }
  frame.fds = duplicate_fds(borrowed);
  return frame;
}

}  // namespace pprocess::detail
