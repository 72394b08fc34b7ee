// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string_view>

namespace pprocess::detail {

/// The readable name of `T`, as the compiler spells it, known at compile time.
///
/// Frames carry it so that a receive of the wrong type can name both types.
template <class T>
constexpr std::string_view type_name() noexcept {
  constexpr std::string_view signature = __PRETTY_FUNCTION__;
  // g++:   "... type_name() [with T = int; std::string_view = ...]"
  // clang: "... type_name() [T = int]"
  constexpr std::string_view marker = "T = ";
  constexpr auto first = signature.find(marker) + marker.size();
  constexpr auto semicolon = signature.find(';', first);
  constexpr auto last =
      semicolon != std::string_view::npos ? semicolon : signature.rfind(']');
  return signature.substr(first, last - first);
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
