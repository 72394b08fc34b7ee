// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>

namespace pprocess {

/// Reaps every process this process created through pprocess, waiting for
/// each one to end (Python's `pprocess.waitall()`).
///
/// Processes still owned by a Channel or an Exchange are reaped too; their
/// owners still learn how they ended. Blocks as long as any of them runs.
void waitall();

/// The number of distinct physical cores this machine has (hyper-threads of
/// one core count once); at least 1.
[[nodiscard]] unsigned get_number_of_cores();

/// The number of processors this process may run on (its CPU affinity): the
/// default `Options::limit`. At least 1.
[[nodiscard]] std::size_t available_processors();

}  // namespace pprocess
