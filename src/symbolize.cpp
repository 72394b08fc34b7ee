// SPDX-License-Identifier: MIT
#include "symbolize.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <dlfcn.h>
#include <memory>
#include <string>

#if PPROCESS_HAVE_LIBBACKTRACE
#include <backtrace.h>
#endif

namespace pprocess::detail {
namespace {

/// `name` demangled if it is a mangled C++ name.
std::string demangle(const char* name) {
  if (name == nullptr) {
    return {};
  }
  if (name[0] == '_' && name[1] == 'Z') {
    int status = 0;
    const std::unique_ptr<char, decltype(&std::free)> plain(
        abi::__cxa_demangle(name, nullptr, nullptr, &status), &std::free);
    if (status == 0 && plain) {
      return plain.get();
    }
  }
  return name;
}

/// The module (executable or shared library) `pc` is in, and the exported
/// symbol at or before it (dladdr knows only the dynamic symbol table).
void add_module(std::uintptr_t pc, code_location& where, bool with_symbol) {
  Dl_info info{};
  // NOLINTNEXTLINE(performance-no-int-to-ptr): an address of our own code
  if (::dladdr(reinterpret_cast<void*>(pc), &info) == 0) {
    return;
  }
  if (info.dli_fname != nullptr) {
    where.module = info.dli_fname;
    where.offset = pc - reinterpret_cast<std::uintptr_t>(info.dli_fbase);
  }
  if (with_symbol && where.function.empty() && info.dli_sname != nullptr) {
    where.function = demangle(info.dli_sname);
  }
}

#if PPROCESS_HAVE_LIBBACKTRACE

void ignore_error(void* /*data*/, const char* /*message*/, int /*error*/) {}

/// One state for the process's life (libbacktrace cannot free one); it
/// reads the debug information of each module once, on first use.
backtrace_state* shared_state() {
  static backtrace_state* const state =
      ::backtrace_create_state(nullptr, /*threaded=*/1, ignore_error, nullptr);
  return state;
}

int on_line(void* data, std::uintptr_t /*pc*/, const char* file, int line,
            const char* function) {
  auto& found = *static_cast<std::vector<code_location>*>(data);
  if (file != nullptr || function != nullptr) {
    code_location where;
    where.function = demangle(function);
    if (file != nullptr) {
      where.file = file;
      where.line = line;
    }
    found.push_back(std::move(where));
  }
  return 0;
}

void on_symbol(void* data, std::uintptr_t /*pc*/, const char* name,
               std::uintptr_t /*value*/, std::uintptr_t /*size*/) {
  if (name != nullptr) {
    *static_cast<std::string*>(data) = demangle(name);
  }
}

#endif

}  // namespace

std::vector<code_location> locate(std::uintptr_t pc) {
  std::vector<code_location> found;
#if PPROCESS_HAVE_LIBBACKTRACE
  if (backtrace_state* state = shared_state()) {
    (void)::backtrace_pcinfo(state, pc, on_line, ignore_error, &found);
    // The symbol table names the outermost function (the last one: the
    // others were inlined into it) in full, with its namespaces and
    // parameters, where DWARF gives its bare name; and it names functions
    // that have no debug information.
    std::string name;
    (void)::backtrace_syminfo(state, pc, on_symbol, ignore_error, &name);
    if (found.empty()) {
      found.emplace_back();
    }
    if (!name.empty()) {
      found.back().function = std::move(name);
    }
  }
#endif
  if (found.empty()) {
    found.emplace_back();
  }
  add_module(pc, found.back(), true);
  return found;
}

}  // namespace pprocess::detail
