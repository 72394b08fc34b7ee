// SPDX-License-Identifier: MIT
//
// The crash signal handler. It runs in a process that is dying of a bad
// memory access, an abort, ..., so it does as little as it can, and only
// what is async-signal-safe: plain stores into its slot, getpid(),
// getppid(), backtrace() (safe once libgcc's unwinder is loaded, which
// install_crash_handlers() sees to), sigaction(), sigprocmask(), raise().
//
// Everywhere but in a created process with a slot (the creator, a program
// that forked by itself), the handler must behave as if it were not there:
// it hands the signal to the handler it replaced, the way that one asked to
// be called, or lets the default action happen.
#include "crash_signals.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <execinfo.h>
#include <ucontext.h>

#include "last_words.hpp"

namespace pprocess::detail {
namespace {

constexpr std::array<int, 5> crash_signals{SIGSEGV, SIGBUS, SIGFPE, SIGILL,
                                           SIGABRT};

/// What each crash signal did before our handler: written once, before our
/// handler is installed, then only read.
std::array<struct sigaction, crash_signals.size()> previous_actions{};

/// Set while this process writes its report: a crash there (a stack too
/// damaged to walk) goes straight on, without a report.
std::atomic<bool> reporting{false};

/// 64 KiB: backtrace() and a chained handler (a sanitizer's, say) need more
/// than MINSIGSTKSZ.
constexpr std::size_t alt_stack_size = std::size_t{64} << 10;

const struct sigaction* previous_action(int signal) noexcept {
  for (std::size_t i = 0; i < crash_signals.size(); ++i) {
    if (crash_signals[i] == signal) {
      return &previous_actions[i];
    }
  }
  return nullptr;
}

/// The instruction the signal interrupted, as the kernel saved it.
std::uintptr_t interrupted_pc(const void* context) noexcept {
  const auto* uc = static_cast<const ucontext_t*>(context);
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__i386__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_EIP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.pc);
#else
  (void)uc;
  return 0;  // the creator then skips the handler's frames by count
#endif
}

void write_last_words(last_words& slot, const siginfo_t& info,
                      const void* context) noexcept {
  slot.state.store(last_words::writing, std::memory_order_relaxed);
  slot.pid = ::getpid();
  slot.signal = info.si_signo;
  slot.code = info.si_code;
  // si_pid shares its place with si_addr: it means something only for a
  // signal sent by a process (si_code <= 0).
  slot.sender = info.si_code <= 0 ? info.si_pid : 0;
  slot.address = reinterpret_cast<std::uintptr_t>(info.si_addr);
  slot.pc = context != nullptr ? interrupted_pc(context) : 0;
  const int count =
      ::backtrace(slot.frames.data(), static_cast<int>(slot.frames.size()));
  slot.frame_count = static_cast<std::uint32_t>(std::max(count, 0));
  slot.state.store(last_words::written, std::memory_order_release);
}

/// The default action, as if no handler had been installed: sent again
/// with SIG_DFL in place. (Returning to let a fault happen again would
/// leave a core file's registers at the faulting instruction, but a fault
/// that does not recur, say a page another thread just made accessible,
/// would then let the process run on where it had to die.)
void default_action(int signal) noexcept {
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  (void)::sigaction(signal, &fallback, nullptr);
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, signal);
  (void)::sigprocmask(SIG_UNBLOCK, &unblock, nullptr);
  (void)::raise(signal);
}

/// Hands the signal to the handler ours replaced, as the kernel would have:
/// with its mask blocked, its one-shot reset done, SIG_IGN ignoring what
/// can be ignored.
void chain(int signal, siginfo_t* info, void* context) noexcept {
  const struct sigaction* before = previous_action(signal);
  const bool has_info = before != nullptr &&
                        (before->sa_flags & SA_SIGINFO) != 0 &&
                        before->sa_sigaction != nullptr;
  const bool has_handler =
      before != nullptr && !has_info && (before->sa_flags & SA_SIGINFO) == 0 &&
      before->sa_handler != SIG_DFL && before->sa_handler != SIG_IGN;
  if (has_info || has_handler) {
    sigset_t block = before->sa_mask;
    if ((before->sa_flags & SA_NODEFER) == 0) {
      sigaddset(&block, signal);
    }
    sigset_t old;
    (void)::sigprocmask(SIG_BLOCK, &block, &old);
    if ((before->sa_flags & SA_RESETHAND) != 0) {
      struct sigaction fallback {};
      fallback.sa_handler = SIG_DFL;
      sigemptyset(&fallback.sa_mask);
      (void)::sigaction(signal, &fallback, nullptr);
    }
    if (has_info) {
      before->sa_sigaction(signal, info, context);
    } else {
      before->sa_handler(signal);
    }
    (void)::sigprocmask(SIG_SETMASK, &old, nullptr);
    return;
  }
  // Ignored: a signal sent is dropped; a fault cannot be ignored (the
  // kernel would have forced the default action).
  if (before != nullptr && (before->sa_flags & SA_SIGINFO) == 0 &&
      before->sa_handler == SIG_IGN && info->si_code <= 0) {
    return;
  }
  default_action(signal);
}

void on_crash_signal(int signal, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  if (last_words* slot = last_words_slot()) {
    if (!reporting.exchange(true, std::memory_order_relaxed)) {
      write_last_words(*slot, *info, context);
      reporting.store(false, std::memory_order_relaxed);
    }
  }
  chain(signal, info, context);
  // The handler before ours returned: the process goes on (or faults
  // again, and writes again).
  errno = saved_errno;
}

/// One thread's alternate signal stack, with a guard page below it;
/// released when the thread ends.
class alt_stack {
 public:
  alt_stack() noexcept = default;
  alt_stack(const alt_stack&) = delete;
  alt_stack& operator=(const alt_stack&) = delete;
  ~alt_stack() {
    if (base_ == nullptr) {
      return;
    }
    stack_t current{};
    if (::sigaltstack(nullptr, &current) == 0 && current.ss_sp == top()) {
      stack_t off{};
      off.ss_flags = SS_DISABLE;
      (void)::sigaltstack(&off, nullptr);
    }
    (void)::munmap(base_, guard_ + alt_stack_size);
  }

  void install() noexcept {
    guard_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    void* base =
        ::mmap(nullptr, guard_ + alt_stack_size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
      return;
    }
    base_ = base;
    (void)::mprotect(base_, guard_, PROT_NONE);
    stack_t stack{};
    stack.ss_sp = top();
    stack.ss_size = alt_stack_size;
    if (::sigaltstack(&stack, nullptr) != 0) {
      (void)::munmap(base_, guard_ + alt_stack_size);
      base_ = nullptr;
    }
  }

 private:
  [[nodiscard]] void* top() const noexcept {
    return static_cast<char*>(base_) + guard_;
  }

  void* base_ = nullptr;
  std::size_t guard_ = 0;
};

}  // namespace

bool is_crash_signal(int signal) noexcept {
  return previous_action(signal) != nullptr;
}

void install_crash_handlers() noexcept {
  // Inherited: a created process that forks in turn finds ours installed
  // (or whatever the program put in their place since, which stays).
  static bool installed = false;
  if (installed) {
    return;
  }
  installed = true;
  // The first backtrace() loads libgcc_s (dlopen, malloc): done here, in
  // the creator, every created process inherits it loaded.
  std::array<void*, 1> warm_up{};
  (void)::backtrace(warm_up.data(), static_cast<int>(warm_up.size()));
  for (std::size_t i = 0; i < crash_signals.size(); ++i) {
    struct sigaction& before = previous_actions[i];
    if (::sigaction(crash_signals[i], nullptr, &before) != 0) {
      continue;
    }
    struct sigaction ours {};
    ours.sa_sigaction = on_crash_signal;
    sigemptyset(&ours.sa_mask);
    // NODEFER: the default action can be had again from inside the
    // handler. RESTART as the handler before ours asked, for a signal that
    // is sent rather than raised by a fault.
    ours.sa_flags =
        SA_SIGINFO | SA_ONSTACK | SA_NODEFER | (before.sa_flags & SA_RESTART);
    (void)::sigaction(crash_signals[i], &ours, nullptr);
  }
}

void ensure_alt_stack() noexcept {
  thread_local bool checked = false;
  if (checked) {
    return;
  }
  checked = true;
  stack_t current{};
  if (::sigaltstack(nullptr, &current) == 0 &&
      (current.ss_flags & SS_DISABLE) == 0) {
    return;  // the thread has one (the program's, a sanitizer's): keep it
  }
  thread_local alt_stack stack;
  stack.install();
}

}  // namespace pprocess::detail
