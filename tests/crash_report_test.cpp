// SPDX-License-Identifier: MIT
// Crash reports and OOM kills, for real: created processes that crash by a
// null pointer, abort(), a division by zero, a bus error, an illegal
// instruction; a process the OOM killer ends in a memory cgroup of its own;
// handlers of the program's own, the creator's own crash, nested creators,
// and many crashes in a row.
//
// Under AddressSanitizer its handler, chained to after ours, ends the
// process with exit status 1 instead of the signal: the report is still
// there ("exited with status 1 after SIGSEGV ..."), so only the signal
// checks are relaxed.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define PPROCESS_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PPROCESS_TEST_SANITIZED 1
#endif
#endif
#ifndef PPROCESS_TEST_SANITIZED
#define PPROCESS_TEST_SANITIZED 0
#endif

namespace {

constexpr bool sanitized = PPROCESS_TEST_SANITIZED != 0;

/// No core file from a process that crashes on purpose.
void no_core() {
  const rlimit none{0, 0};
  (void)::setrlimit(RLIMIT_CORE, &none);
}

// Functions with names to find in the stacks. noinline and volatile keep
// them (and the crash) where they are at every optimization level; an empty
// asm after a last call keeps it from becoming a jump (a tail call) that
// would leave the caller's frame out of the stack. UBSan would stop the
// null store before the processor faults.

[[gnu::noinline, gnu::no_sanitize("undefined")]] void crash_by_null_pointer() {
  volatile int* volatile nowhere = nullptr;
  *nowhere = 42;
}

[[gnu::noinline]] void crash_by_abort() {
  std::abort();
}

[[gnu::noinline]] int crash_by_division(int numerator) {
  volatile int zero = 0;
  return numerator / zero;
}

[[gnu::noinline]] void crash_by_raised_sigfpe() {
  (void)std::raise(SIGFPE);
  asm volatile("");
}

/// Touches a page of a mapping past the end of its file: SIGBUS.
[[gnu::noinline]] void crash_by_bus_error() {
  const int fd = ::memfd_create("crash-test", MFD_CLOEXEC);
  if (fd < 0) {
    ::_exit(98);
  }
  void* memory =
      ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED) {
    ::_exit(98);
  }
  *static_cast<volatile char*>(memory) = 1;  // the file is empty
}

[[gnu::noinline]] void crash_by_illegal_instruction() {
  __builtin_trap();
}

/// Recurses until the stack runs out (`deeper` is always true: it only
/// keeps the compiler from seeing an endless recursion).
volatile bool deeper = true;
[[gnu::noinline]] int overflow_the_stack(int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  return (deeper ? overflow_the_stack(depth + 1) : 0) + frame[0];
}

[[gnu::noinline]] void crash_in_the_middle() {
  crash_by_null_pointer();
  asm volatile("");
}

/// The ProcessError that receiving from a process running `body` throws.
template <class Body>
std::optional<pprocess::ProcessError> error_of(Body body) {
  pprocess::Channel ch = pprocess::start([body](pprocess::Channel& channel) {
    no_core();
    body();
    channel.send(0);
  });
  try {
    (void)ch.receive<int>();
  } catch (const pprocess::ProcessError& e) {
    return e;
  }
  ADD_FAILURE() << "the process delivered a value";
  return std::nullopt;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// Checks an error for a crash by `signal` whose stack shows `function`.
void expect_crash(const std::optional<pprocess::ProcessError>& error,
                  int signal, const std::string& function) {
  ASSERT_TRUE(error.has_value());
  const std::string what = error->what();
  const std::string name = std::string("SIG") + ::sigabbrev_np(signal);
  if (sanitized && error->signal() == 0) {
    // The sanitizer's handler ended the process after ours wrote.
    EXPECT_NE(error->exit_status(), 0) << what;
    EXPECT_TRUE(contains(what, "after " + name)) << what;
  } else {
    EXPECT_EQ(error->signal(), signal) << what;
    EXPECT_TRUE(contains(what, "killed by " + name + " (")) << what;
  }
  EXPECT_TRUE(contains(error->stack(), function)) << error->stack();
  EXPECT_TRUE(contains(what, error->stack())) << what;
  EXPECT_EQ(error->stack().rfind("#0 ", 0), 0U) << error->stack();
  EXPECT_FALSE(error->oom_killed());
}

TEST(CrashReportTest, NullPointerNamesSignalAddressAndFunction) {
  const auto error = error_of(crash_by_null_pointer);
  expect_crash(error, SIGSEGV, "crash_by_null_pointer");
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(contains(error->what(), "invalid memory reference at 0x0"))
      << error->what();
  // The stack starts at the faulting function, not in the handler.
  EXPECT_TRUE(contains(error->stack().substr(0, error->stack().find('\n')),
                       "crash_by_null_pointer"))
      << error->stack();
}

TEST(CrashReportTest, StackHasFileAndLineWithDebugInformation) {
  const auto error = error_of(crash_by_null_pointer);
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(contains(error->stack(), "crash_report_test.cpp:"))
      << error->stack();
}

TEST(CrashReportTest, AbortIsReported) {
  const auto error = error_of(crash_by_abort);
  expect_crash(error, SIGABRT, "crash_by_abort");
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(contains(error->what(), "raised by the process itself"))
      << error->what();
}

TEST(CrashReportTest, DivisionByZeroIsReported) {
  if (sanitized) {
    GTEST_SKIP() << "UBSan stops the division before the processor does";
  }
  const auto error = error_of([] { (void)crash_by_division(7); });
  expect_crash(error, SIGFPE, "crash_by_division");
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(contains(error->what(), "integer divide by zero"))
      << error->what();
}

TEST(CrashReportTest, RaisedSigfpeIsReported) {
  expect_crash(error_of(crash_by_raised_sigfpe), SIGFPE,
               "crash_by_raised_sigfpe");
}

TEST(CrashReportTest, BusErrorIsReported) {
  const auto error = error_of(crash_by_bus_error);
  expect_crash(error, SIGBUS, "crash_by_bus_error");
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(contains(error->what(), "bus error at 0x")) << error->what();
}

TEST(CrashReportTest, IllegalInstructionIsReported) {
  expect_crash(error_of(crash_by_illegal_instruction), SIGILL,
               "crash_by_illegal_instruction");
}

TEST(CrashReportTest, StackOverflowIsReported) {
  // The handler runs on the alternate stack the forking thread was given.
  const auto error = error_of([] { (void)overflow_the_stack(0); });
  expect_crash(error, SIGSEGV, "overflow_the_stack");
}

TEST(CrashReportTest, PmapElementThatCrashesHasTheReport) {
  auto results = pprocess::pmap(
      [](int i) {
        if (i == 3) {
          no_core();
          crash_by_null_pointer();
        }
        return i * i;
      },
      std::vector<int>{0, 1, 2, 3, 4, 5}, {.limit = 2});
  for (std::size_t i = 0; i < 6; ++i) {
    if (i == 3) {
      try {
        (void)results[i];
        ADD_FAILURE() << "element 3 delivered";
      } catch (const pprocess::ProcessError& e) {
        EXPECT_TRUE(contains(e.stack(), "crash_by_null_pointer")) << e.what();
      }
    } else {
      EXPECT_EQ(results[i], static_cast<int>(i * i));
    }
  }
}

TEST(CrashReportTest, MapTaskThatCrashesHasTheReport) {
  pprocess::Map<int> results({.limit = 2});
  auto square = results.manage(pprocess::MakeParallel([](int i) {
    if (i == 1) {
      no_core();
      crash_by_abort();
    }
    return i * i;
  }));
  for (int i = 0; i < 3; ++i) {
    square(i);
  }
  EXPECT_EQ(results[0], 0);
  try {
    (void)results[1];
    ADD_FAILURE() << "task 1 delivered";
  } catch (const pprocess::ProcessError& e) {
    EXPECT_TRUE(contains(e.stack(), "crash_by_abort")) << e.what();
  }
  EXPECT_EQ(results[2], 4);
}

TEST(CrashReportTest, OtherEndsHaveNoStack) {
  for (const int signal : {SIGTERM, SIGKILL}) {
    const auto error = error_of([signal] { ::kill(::getpid(), signal); });
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->signal(), signal) << error->what();
    EXPECT_TRUE(error->stack().empty()) << error->stack();
    EXPECT_FALSE(error->oom_killed()) << error->what();
  }
  const auto error = error_of([] { ::_exit(3); });
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->exit_status(), 3) << error->what();
  EXPECT_TRUE(error->stack().empty()) << error->stack();
}

TEST(CrashReportTest, CrashSignalSentByKillSaysWhoSentIt) {
  const auto error = error_of([] {
    // Sent with kill() (si_code SI_USER), not raised by a fault: no
    // address, the sender instead (here the process itself).
    ::kill(::getpid(), SIGSEGV);
    ::pause();
  });
  ASSERT_TRUE(error.has_value());
  if (!sanitized) {
    EXPECT_EQ(error->signal(), SIGSEGV) << error->what();
  }
  EXPECT_TRUE(contains(error->what(), "raised by the process itself"))
      << error->what();
}

// --- the program's own handlers, and the creator itself ---------------------

/// Written by the program's own SIGSEGV handler below.
int handler_pipe = -1;

void programs_own_handler(int signal) {
  const char mark = 'U';
  (void)!::write(handler_pipe, &mark, 1);
  // As many programs do: log, then let the default action happen.
  (void)::signal(signal, SIG_DFL);
}

/// In a fresh process (a death test's): installs a handler of the program's
/// own before the first fork, then crashes a created process. 0 when both
/// the handler ran and the report came.
int run_with_programs_own_handler() {
  std::array<int, 2> fds{};
  if (::pipe(fds.data()) != 0) {
    return 10;
  }
  handler_pipe = fds[1];
  struct sigaction action {};
  action.sa_handler = programs_own_handler;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGSEGV, &action, nullptr) != 0) {
    return 11;
  }
  const auto error = error_of(crash_by_null_pointer);
  (void)::close(fds[1]);
  char mark = 0;
  if (::read(fds[0], &mark, 1) != 1 || mark != 'U') {
    std::fprintf(stderr, "the program's own handler did not run\n");
    return 12;
  }
  if (!error || error->signal() != SIGSEGV ||
      !contains(error->stack(), "crash_by_null_pointer")) {
    std::fprintf(stderr, "no report: %s\n", error ? error->what() : "none");
    return 13;
  }
  return 0;
}

TEST(CrashReportDeathTest, ProgramsOwnHandlerStillRunsAndReportComes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // A death test's process is a fresh one: pprocess has not forked there.
  EXPECT_EXIT(::_exit(run_with_programs_own_handler()),
              ::testing::ExitedWithCode(0), "");
}

TEST(CrashReportDeathTest, CreatorThatCrashesStillDiesOfItsSignal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto crash_after_a_fork = [] {
    no_core();
    auto ch = pprocess::start([](pprocess::Channel& c) { c.send(1); });
    (void)ch.receive<int>();
    crash_by_null_pointer();
  };
  if (sanitized) {
    EXPECT_DEATH(crash_after_a_fork(), "");
  } else {
    EXPECT_EXIT(crash_after_a_fork(), ::testing::KilledBySignal(SIGSEGV), "");
  }
}

// --- many, and nested
// ---------------------------------------------------------

/// The shared anonymous mappings of this process: here, only the chunks of
/// crash-report slots.
std::size_t slot_chunks_mapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::size_t count = 0;
  while (std::getline(maps, line)) {
    count += contains(line, " rw-s ") && contains(line, "/dev/zero (deleted)")
                 ? 1
                 : 0;
  }
  return count;
}

/// Starts `count` processes that crash, all at once, then checks each one's
/// report. By SIGILL, which sanitizers leave alone: their handlers would
/// print (and symbolize) a long report for every one.
void crash_at_once(int count) {
  std::vector<pprocess::Channel> channels;
  for (int i = 0; i < count; ++i) {
    channels.push_back(pprocess::start([](pprocess::Channel&) {
      no_core();
      crash_by_illegal_instruction();
    }));
  }
  int reported = 0;
  for (auto& ch : channels) {
    try {
      (void)ch.receive<int>();
    } catch (const pprocess::ProcessError& e) {
      reported += contains(e.stack(), "crash_by_illegal_instruction") ? 1 : 0;
    }
  }
  EXPECT_EQ(reported, count);
}

TEST(CrashReportTest, ManyCrashesAllReportAndSlotsAreReused) {
  const std::size_t before = slot_chunks_mapped();
  crash_at_once(100);  // more than one chunk's 64 slots at once
  const std::size_t grown = slot_chunks_mapped();
  EXPECT_GE(grown, 2U);
  EXPECT_LE(grown, std::max<std::size_t>(before, 2));
  for (int round = 0; round < 3; ++round) {
    crash_at_once(100);
  }
  EXPECT_EQ(slot_chunks_mapped(), grown);
}

TEST(CrashReportTest, NestedCreatorsEachGetTheirProcessesReports) {
  auto middle = pprocess::start([](pprocess::Channel& ch) {
    no_core();
    const auto inner = error_of(crash_by_null_pointer);
    ch.send(inner ? inner->stack() : std::string("no error"));
    // Now a creator itself, the middle process crashes: its report goes to
    // its own creator.
    crash_in_the_middle();
  });
  const std::string inner_stack = middle.receive<std::string>();
  EXPECT_TRUE(contains(inner_stack, "crash_by_null_pointer")) << inner_stack;
  try {
    (void)middle.receive<int>();
    ADD_FAILURE() << "the middle process delivered";
  } catch (const pprocess::ProcessError& e) {
    EXPECT_TRUE(contains(e.stack(), "crash_in_the_middle")) << e.what();
  }
}

// --- OOM kills
// ------------------------------------------------------------------

/// A memory cgroup (v1) of its own, under this process's, removed at the
/// end; `path()` empty when it cannot be made here.
class memory_cgroup {
 public:
  explicit memory_cgroup(std::size_t limit) {
    std::ifstream cgroups("/proc/self/cgroup");
    std::string line;
    std::string ours;
    while (std::getline(cgroups, line)) {
      const auto first = line.find(':');
      const auto second = line.find(':', first + 1);
      // Built piece by piece: g++ 12 at -O3 warns (-Wrestrict) about the
      // inlined insert of `"," + std::string&&`.
      std::string controllers = ",";
      if (second != std::string::npos) {
        controllers += line.substr(first + 1, second - first - 1);
      }
      controllers += ',';
      if (second != std::string::npos && contains(controllers, ",memory,")) {
        ours = line.substr(second + 1);
      }
    }
    const std::string base = "/sys/fs/cgroup/memory";
    if (ours.empty() ||
        ::access((base + "/memory.oom_control").c_str(), R_OK) != 0) {
      why_not_ = "no cgroup v1 memory controller at " + base;
      return;
    }
    std::string dir = base + (ours == "/" ? "" : ours) + "/pprocess-oom-test-" +
                      std::to_string(::getpid());
    if (::mkdir(dir.c_str(), 0755) != 0) {
      why_not_ = "cannot make " + dir + ": " + std::strerror(errno);
      return;
    }
    path_ = dir;
    if (!write("memory.limit_in_bytes", std::to_string(limit))) {
      why_not_ = "cannot set memory.limit_in_bytes";
      path_.clear();
      (void)::rmdir(dir.c_str());
      return;
    }
    // Swap could take the excess instead of the OOM killer.
    (void)write("memory.memsw.limit_in_bytes", std::to_string(limit));
    (void)write("memory.swappiness", "0");
  }
  memory_cgroup(const memory_cgroup&) = delete;
  memory_cgroup& operator=(const memory_cgroup&) = delete;
  ~memory_cgroup() {
    if (!path_.empty()) {
      (void)::rmdir(path_.c_str());
    }
  }

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] const std::string& why_not() const { return why_not_; }

  /// Moves the calling process in (async-signal-safe enough for a created
  /// process: open, write, close).
  [[nodiscard]] bool enter() const {
    return write("cgroup.procs", std::to_string(::getpid()));
  }

 private:
  [[nodiscard]] bool write(const std::string& file,
                           const std::string& value) const {
    const int fd = ::open((path_ + "/" + file).c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      return false;
    }
    const bool ok = ::write(fd, value.data(), value.size()) ==
                    static_cast<ssize_t>(value.size());
    (void)::close(fd);
    return ok;
  }

  std::string path_;
  std::string why_not_;
};

TEST(CrashReportTest, OomKillIsNamed) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to make a memory cgroup";
  }
  const memory_cgroup cgroup(std::size_t{64} << 20);
  if (cgroup.path().empty()) {
    GTEST_SKIP() << cgroup.why_not();
  }
  const auto error = error_of([&cgroup] {
    if (!cgroup.enter()) {
      ::_exit(97);
    }
    // 512 MiB, every page touched, against a limit of 64 MiB.
    const std::size_t size = std::size_t{512} << 20;
    auto* memory = static_cast<volatile char*>(std::malloc(size));
    if (memory == nullptr) {
      ::_exit(96);
    }
    for (std::size_t i = 0; i < size; i += 4096) {
      memory[i] = 1;
    }
    ::_exit(95);  // not killed
  });
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->signal(), SIGKILL) << error->what();
  EXPECT_TRUE(error->oom_killed()) << error->what();
  EXPECT_TRUE(contains(error->what(), "out-of-memory")) << error->what();
  EXPECT_TRUE(error->stack().empty());
}

TEST(CrashReportTest, PlainSigkillIsNoOomKill) {
  const auto error = error_of([] { ::kill(::getpid(), SIGKILL); });
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->signal(), SIGKILL) << error->what();
  EXPECT_FALSE(error->oom_killed()) << error->what();
  EXPECT_FALSE(contains(error->what(), "out-of-memory")) << error->what();
}

}  // namespace
