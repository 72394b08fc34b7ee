// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// What a rank tells the others about itself when the session starts.

#include <cstddef>
#include <string>

namespace pprocess::mpi::detail {

/// The GNU build id of the running program, in hex; empty when it has none
/// (linked without --build-id).
std::string program_build_id();

/// This machine's host name.
std::string host_name();

/// The processors of this machine that are online.
std::size_t online_processors();

}  // namespace pprocess::mpi::detail
