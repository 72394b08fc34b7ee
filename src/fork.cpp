// SPDX-License-Identifier: MIT
//
// The only place that calls fork(). Everything about creating a process and
// ending one lives here, so the rules are in one place:
// - flush stdio and the C++ streams before fork(), so that text written
//   before it is printed once, not once per process;
// - the created process dies with its creator (PR_SET_PDEATHSIG);
// - the created process keeps no copy of its siblings' channels (private_fd);
// - the created process ends with _exit(): it runs none of its creator's
//   atexit handlers or static destructors;
// - a created process that crashes can tell its creator how (crash
//   handlers installed at the first fork, a report slot chosen per fork:
//   last_words.hpp), at no cost to one that does not.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <ostream>
#include <pthread.h>
#include <string>

#if defined(__GLIBCXX__)
#include <ext/stdio_sync_filebuf.h>
#endif

#include <pprocess/detail/private_fd.hpp>

#include "crash_signals.hpp"
#include "errors.hpp"
#include "fork_page.hpp"
#include "last_words.hpp"
#include "pprocess/channel.hpp"
#include "this_process.hpp"

namespace pprocess {
namespace {

/// Whether flushing `stream` flushes C stdio only, which fflush(nullptr)
/// does anyway: libstdc++'s standard streams, while synchronized with stdio
/// (the default), have no buffer of their own.
bool only_stdio_behind(const std::ostream& stream) noexcept {
#if defined(__GLIBCXX__)
  return dynamic_cast<__gnu_cxx::stdio_sync_filebuf<char>*>(stream.rdbuf()) !=
         nullptr;
#else
  (void)stream;
  return false;
#endif
}

/// What only_stdio_behind() said of a stream's buffer. Asked once per
/// buffer: a created process that asked again as it ends would take page
/// faults on libstdc++'s code, which it has not run yet. A buffer that is
/// only stdio is one of libstdc++'s own, never destroyed, so its address
/// never comes back as another buffer's.
struct stream_check {
  const std::streambuf* buffer = nullptr;
  bool only_stdio = false;
};

void flush_streams() noexcept {
  // Flushing a stdio-synchronized stream calls fflush(stdout) even with
  // nothing to write, and that writes to the FILE: a page the process
  // shares with its creator (or its last created process) copied on every
  // fork. Only streams with a buffer of their own are flushed here.
  // Per thread: threads may fork at once. Written only when a buffer
  // changes, so its page is not copied at every fork.
  thread_local std::array<stream_check, 3> checks{};
  try {
    std::size_t i = 0;
    for (std::ostream* stream : {&std::cout, &std::cerr, &std::clog}) {
      stream_check& check = checks[i++];
      if (stream->rdbuf() != check.buffer) {
        check = {stream->rdbuf(), only_stdio_behind(*stream)};
      }
      if (!check.only_stdio) {
        stream->flush();
      }
    }
  } catch (...) {  // a stream set to throw on failure: nothing to report to
  }
  (void)std::fflush(nullptr);
}

/// The fork itself, with the library's tables kept straight around it:
/// locked before, so that no other thread leaves them half-changed in the
/// created process; there, our creator's children and channels are
/// forgotten or hidden; in the creator, the new pid is listed if it is to be
/// reaped through the table (`listed`).
/// @returns fork()'s result
pid_t fork_process(const char* what, bool listed) {
  flush_streams();
  detail::ensure_alt_stack();  // once per thread
  detail::lock_table_for_fork();
  // Crash reports: set up at this process's first fork; then a slot for
  // the process about to be created, which it finds inherited.
  detail::prepare_fork_locked();
  const std::uint32_t slot =
      listed ? detail::claim_slot_locked() : detail::no_slot;
  detail::lock_private_fds_for_fork();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    detail::unlock_private_fds_in_creator();
    detail::forked_locked();
    detail::unlock_table_in_creator(0, slot);
    throw detail::os_error(error, std::string(what) + ": fork");
  }
  if (pid == 0) {
    // Our siblings' channels and pidfds are our creator's business: keeping
    // copies would keep those channels open after the creator closes them.
    detail::hide_private_fds_in_created();
    detail::unlock_table_in_created();
  } else {
    detail::unlock_private_fds_in_creator();
    detail::forked_locked();
    detail::unlock_table_in_creator(listed ? pid : 0, slot);
  }
  return pid;
}

/// This process's pid; 0: not known yet (or forgotten by a fork). On the
/// fork page: the created process writes it anyway, right after the fork.
std::atomic<pid_t>& known_pid() {
  static auto& pid = detail::make_on_fork_page<std::atomic<pid_t>>(0);
  return pid;
}

void forget_pid() noexcept {
  known_pid().store(0, std::memory_order_relaxed);
}

}  // namespace

pid_t detail::this_process() noexcept {
  pid_t pid = known_pid().load(std::memory_order_relaxed);
  if (pid == 0) {
    // Registered before the pid is first remembered: any fork after that
    // runs the handler, including a fork() of the program's own.
    static const bool registered =
        ::pthread_atfork(nullptr, nullptr, forget_pid) == 0;
    pid = ::getpid();
    if (registered) {
      known_pid().store(pid, std::memory_order_relaxed);
    }
  }
  return pid;
}

Channel create() {
  std::array<int, 2> fds{};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds.data()) != 0) {
    throw detail::os_error(errno, "create: socketpair");
  }
  detail::unique_fd creator_end(fds[0]);
  detail::unique_fd created_end(fds[1]);

  const pid_t creator = detail::this_process();
  const pid_t pid = fork_process("create", true);
  if (pid == 0) {
    creator_end.reset();
    // End with the creator, even if it dies by SIGKILL. The signal is sent
    // when the creating *thread* ends: see docs/fork-safety.md.
    (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != creator) {
      ::_exit(1);  // the creator died before the prctl took effect
    }
    return detail::channel_access::make(std::move(created_end), {});
  }
  created_end.reset();
  return detail::channel_access::make(std::move(creator_end),
                                      detail::child(pid));
}

namespace detail {

pid_t fork_detached(int listener) {
  // The background process tells its creator its pid through this pipe,
  // once it is ready to be reached (see below).
  std::array<int, 2> pipe_fds{};
  if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) {
    throw os_error(errno, "starting a background process: pipe");
  }
  unique_fd pid_reader(pipe_fds[0]);
  unique_fd pid_writer(pipe_fds[1]);
  // Not listed: this intermediate process is reaped right here.
  const pid_t pid = fork_process("starting a background process", false);
  if (pid == 0) {
    pid_reader.reset();
    // Detach: a session of our own, then fork again so that the background
    // process is no session leader (it can never acquire a terminal) and is
    // nobody's child here. No parent-death signal: it outlives its creator.
    (void)::setsid();
    const pid_t daemon = ::fork();
    if (daemon != 0) {
      ::_exit(daemon < 0 ? 1 : 0);
    }
    // listen() again from this process: the kernel records the listener's
    // credentials at listen(), and collectors read them as the pid of the
    // process they reach (SO_PEERCRED). The first listen() was our
    // creator's. Only then is our pid told, so that a collector that
    // connects after the start returned reads ours.
    if (listener >= 0) {
      (void)::listen(listener, SOMAXCONN);
    }
    const pid_t self = ::getpid();
    (void)!::write(pid_writer.get(), &self, sizeof self);
    pid_writer.reset();
    // Standard streams to /dev/null, so that `out=$(program --start)`
    // returns at once instead of waiting for the background process.
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      for (const int stream : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
        (void)::dup2(null, stream);  // dup2 clears close-on-exec: stdio stays
      }
      if (null > STDERR_FILENO) {
        (void)::close(null);
      }
    }
    return 0;
  }
  pid_writer.reset();
  pid_t daemon = -1;
  ssize_t got = 0;
  do {
    got = ::read(pid_reader.get(), &daemon, sizeof daemon);
  } while (got < 0 && errno == EINTR);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (got != static_cast<ssize_t>(sizeof daemon) || daemon <= 0) {
    throw Error("starting a background process: it did not start");
  }
  return daemon;
}

}  // namespace detail

void exit(Channel& channel, int status) {
  try {
    // A background process's last word: everything was delivered.
    detail::channel_access::send_end(channel);
  } catch (const Error&) {
    status = status == 0 ? 1 : status;  // no collector could be told
  }
  if (detail::channel_access::serves(channel)) {
    channel.close();  // removes the address, which the kernel would leave
  }
  flush_streams();
  // _exit closes the channel: the creator sees its end once this process
  // is gone (and reapable at once), its output already flushed. Closing it
  // before would wake the creator while the process still has its memory
  // to release, and a reap there would fail.
  ::_exit(status);
}

}  // namespace pprocess
