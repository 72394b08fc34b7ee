// SPDX-License-Identifier: MIT
#include "crash_report.hpp"

#include <signal.h>

#include <algorithm>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "symbolize.hpp"

namespace pprocess::detail {
namespace {

std::string hex(std::uintptr_t value) {
  char text[2 + 2 * sizeof value + 1];
  (void)std::snprintf(text, sizeof text, "0x%" PRIxPTR, value);
  return text;
}

/// What si_code says of a fault, per signal (see sigaction(2)).
const char* fault_detail(int signal, int code) noexcept {
  switch (signal) {
    case SIGSEGV:
      switch (code) {
        case SEGV_MAPERR: return "address not mapped";
        case SEGV_ACCERR: return "access not permitted";
#ifdef SEGV_BNDERR
        case SEGV_BNDERR: return "outside the address bounds";
#endif
#ifdef SEGV_PKUERR
        case SEGV_PKUERR: return "denied by a protection key";
#endif
        default: return nullptr;
      }
    case SIGBUS:
      switch (code) {
        case BUS_ADRALN: return "misaligned address";
        case BUS_ADRERR:
          return "no such physical address (past the end of a mapped file?)";
        case BUS_OBJERR: return "object-specific hardware error";
#ifdef BUS_MCEERR_AR
        case BUS_MCEERR_AR:
        case BUS_MCEERR_AO: return "hardware memory error";
#endif
        default: return nullptr;
      }
    case SIGFPE:
      switch (code) {
        case FPE_INTDIV: return "integer divide by zero";
        case FPE_INTOVF: return "integer overflow";
        case FPE_FLTDIV: return "floating-point divide by zero";
        case FPE_FLTOVF: return "floating-point overflow";
        case FPE_FLTUND: return "floating-point underflow";
        case FPE_FLTRES: return "floating-point inexact result";
        case FPE_FLTINV: return "invalid floating-point operation";
        case FPE_FLTSUB: return "subscript out of range";
        default: return nullptr;
      }
    case SIGILL:
      switch (code) {
        case ILL_ILLOPC: return "illegal opcode";
        case ILL_ILLOPN: return "illegal operand";
        case ILL_ILLADR: return "illegal addressing mode";
        case ILL_ILLTRP: return "illegal trap";
        case ILL_PRVOPC: return "privileged opcode";
        case ILL_PRVREG: return "privileged register";
        case ILL_COPROC: return "coprocessor error";
        case ILL_BADSTK: return "internal stack error";
        default: return nullptr;
      }
    default: return nullptr;
  }
}

/// What the address of a fault is, per signal.
const char* fault_kind(int signal) noexcept {
  switch (signal) {
    case SIGSEGV: return "invalid memory reference";
    case SIGBUS: return "bus error";
    case SIGFPE: return "arithmetic error";
    case SIGILL: return "illegal instruction";
    default: return "fault";
  }
}

/// One line of the stack.
std::string frame_line(std::size_t number, const code_location& where) {
  // Appended piece by piece: g++ 12 at -O3 warns (-Wrestrict) about the
  // inlined insert of `"#" + std::string&&`.
  std::string line = "#";
  line += std::to_string(number);
  line += ' ';
  line += where.function.empty() ? std::string("??") : where.function;
  if (!where.file.empty()) {
    line += " at ";
    line += where.file;
    line += ':';
    line += std::to_string(where.line);
  } else if (!where.module.empty()) {
    line += " (";
    line += where.module;
    line += '+';
    line += hex(where.offset);
    line += ')';
  } else {
    line += " at ??";
  }
  return line;
}

}  // namespace

std::string crash_cause(const crash_record& record) {
  if (record.code <= 0) {
    // Sent by kill(), raise(), abort(): no fault, no address.
    if (record.sender == record.pid) {
      return record.signal == SIGABRT
                 ? "raised by the process itself, as abort() does"
                 : "raised by the process itself";
    }
    return "sent by process " + std::to_string(record.sender);
  }
  std::string cause =
      std::string(fault_kind(record.signal)) + " at " + hex(record.address);
  if (const char* detail = fault_detail(record.signal, record.code)) {
    cause += std::string(": ") + detail;
  }
  return cause;
}

std::string crash_stack(const crash_record& record) {
  const auto& frames = record.frames;
  // The stack as backtrace() saw it starts in the handler, then the
  // kernel's signal trampoline, then the interrupted instruction (pc). Start
  // there; without pc, skip the two.
  std::size_t first = std::min<std::size_t>(2, frames.size());
  if (record.pc != 0) {
    const auto at = std::find(frames.begin(), frames.end(), record.pc);
    if (at != frames.end()) {
      first = static_cast<std::size_t>(at - frames.begin());
    }
  }
  std::string stack;
  std::size_t number = 0;
  for (std::size_t i = first; i < frames.size() && number < max_report_frames;
       ++i) {
    // The other frames are return addresses: the call is the instruction
    // before, which may be on another line.
    const std::uintptr_t pc = i == first ? frames[i] : frames[i] - 1;
    for (const code_location& where : locate(pc)) {
      if (!stack.empty()) {
        stack += '\n';
      }
      stack += frame_line(number++, where);
    }
  }
  return stack;
}

}  // namespace pprocess::detail
