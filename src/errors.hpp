// SPDX-License-Identifier: MIT
#pragma once

// Helpers that build the library's exceptions; private to src/.

#include <string>
#include <string_view>
#include <typeinfo>

#include <pprocess/error.hpp>

namespace pprocess::detail {

/// A ChannelError for an OS failure: "context: strerror".
ChannelError channel_os_error(int error, std::string_view context);

/// An Error for a failed system call: "context: strerror".
Error os_error(int error, std::string_view context);

/// The demangled name of `type`, e.g. "std::out_of_range".
std::string demangled_type_name(const std::type_info& type);

}  // namespace pprocess::detail
