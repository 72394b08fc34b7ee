// SPDX-License-Identifier: MIT
#pragma once

// Names for code addresses of this process: function, file and line with
// GCC's libbacktrace (DWARF, then the symbol table), or the dynamic symbol
// table alone (dladdr) where the library was built without it. Used by the
// creator for the frames of a created process that crashed: it has the same
// mappings, as it forked it. Private to src/.

#include <cstdint>
#include <string>
#include <vector>

namespace pprocess::detail {

/// What is known of one function at an address.
struct code_location {
  std::string function;  // demangled; empty: unknown
  std::string file;      // empty: unknown (no debug information)
  int line = 0;
  std::string module;         // the executable or shared library; may be empty
  std::uintptr_t offset = 0;  // of the address in `module`
};

/// The functions at `pc`, innermost first (several where calls were
/// inlined); never empty.
[[nodiscard]] std::vector<code_location> locate(std::uintptr_t pc);

}  // namespace pprocess::detail
