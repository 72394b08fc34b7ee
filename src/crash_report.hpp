// SPDX-License-Identifier: MIT
#pragma once

// A crash report in words, from the last words a created process left
// (last_words.hpp): what the signal says of the crash, and the stack of the
// crashing thread, symbolized in the creator. Private to src/.

#include <string>

#include "last_words.hpp"

namespace pprocess::detail {

/// What the signal says of the crash, e.g. "invalid memory reference at
/// 0x0: address not mapped", or "sent by process 42".
[[nodiscard]] std::string crash_cause(const crash_record& record);

/// The crashing thread's stack, innermost first, one frame a line: "#0
/// function at file:line"; "??" for what is not known. The signal
/// handler's own frames are left out. Empty if no frame was recorded.
[[nodiscard]] std::string crash_stack(const crash_record& record);

}  // namespace pprocess::detail
