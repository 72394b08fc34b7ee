// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>

namespace pprocess::detail {

/// The name of `T` inside the compiler's signature of this function.
template <class T>
constexpr std::string_view pretty_type_name() noexcept {
  constexpr std::string_view signature = __PRETTY_FUNCTION__;
  // g++:   "... pretty_type_name() [with T = int; std::string_view = ...]"
  // clang: "... pretty_type_name() [T = int]"
  constexpr std::string_view marker = "T = ";
  constexpr auto first = signature.find(marker) + marker.size();
  constexpr auto semicolon = signature.find(';', first);
  constexpr auto last =
      semicolon != std::string_view::npos ? semicolon : signature.rfind(']');
  return signature.substr(first, last - first);
}

/// The name's characters in an array of known size: g++ cannot see the
/// bounds of __PRETTY_FUNCTION__ and warns about copies out of it.
template <class T>
struct type_name_storage {
  static constexpr std::string_view spelled = pretty_type_name<T>();
  static constexpr auto chars = [] {
    std::array<char, spelled.size()> copy{};
    std::copy(spelled.begin(), spelled.end(), copy.begin());
    return copy;
  }();
};

/// The readable name of `T`, as the compiler spells it, known at compile time.
///
/// Frames carry it so that a receive of the wrong type can name both types.
template <class T>
constexpr std::string_view type_name() noexcept {
  return {type_name_storage<T>::chars.data(),
          type_name_storage<T>::chars.size()};
}

/// 64-bit FNV-1a: a stable fingerprint of a type name.
constexpr std::uint64_t fingerprint(std::string_view text) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

/// The fingerprint of `T`'s name, as sent in every frame of type `T`.
template <class T>
inline constexpr std::uint64_t type_fingerprint = fingerprint(type_name<T>());

}  // namespace pprocess::detail
