// SPDX-License-Identifier: MIT
#pragma once

// The fault storm shared by tests/stress_test.cpp and the soak program
// (tests/soak/soak_main.cpp): thousands of tasks through pmap, Map, Queue
// and a reuse pool, of which a few, chosen by a hash of their index, die
// (SIGKILL, abort, a null-pointer write, _exit(3)), throw, or hang past the
// timeout; and an outside killer that SIGKILLs the pool's processes at
// random. Each storm returns a `tally`: what was delivered, what failed and
// how, and every result or error that was not what the plan says. The
// callers decide what to assert; nothing here uses gtest.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <dirent.h>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace storm {

using namespace std::chrono_literals;

/// What a task does instead of returning its value.
enum class fault : std::uint8_t {
  none,
  kill,    // raise(SIGKILL)
  abort,   // std::abort(): SIGABRT
  segv,    // a write through a null pointer: SIGSEGV
  exit3,   // _exit(3)
  throws,  // throw std::domain_error("fault <index>")
  hang,    // sleep 30 s, past any timeout
};

inline constexpr std::size_t fault_kinds = 7;

inline const char* name(fault f) {
  switch (f) {
    case fault::none: return "none";
    case fault::kill: return "kill";
    case fault::abort: return "abort";
    case fault::segv: return "segv";
    case fault::exit3: return "exit3";
    case fault::throws: return "throw";
    case fault::hang: return "hang";
  }
  return "?";
}

/// The timeout the storms give a task: 1 s, long enough for any task that
/// does not hang, even on a loaded machine (a crash report's first stack
/// takes up to 800 ms to symbolize there). Under AddressSanitizer a fork
/// copies the page tables of its shadow memory and a process per task takes
/// some 20 times longer to start: 2 s there.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr std::chrono::milliseconds task_timeout{2000};
#else
inline constexpr std::chrono::milliseconds task_timeout{1000};
#endif

/// splitmix64: a good hash of an index, the same in every process.
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// Which tasks of a storm fail and how, and what the others return.
struct plan {
  std::size_t count = 0;   // tasks
  unsigned per_10k = 0;    // chance of a death or a throw, per 10,000 tasks
  std::size_t hangs = 0;   // tasks that hang, spread evenly over the run
  std::uint64_t seed = 1;  // another seed, other tasks fail
  int work_us = 0;         // every task sleeps this long first

  [[nodiscard]] fault at(std::size_t i) const {
    for (std::size_t k = 1; k <= hangs; ++k) {
      if (i == k * count / (hangs + 1)) {
        return fault::hang;
      }
    }
    const std::uint64_t h = mix(seed ^ mix(i));
    if (h % 10000 >= per_10k) {
      return fault::none;
    }
    static constexpr std::array<fault, 5> kinds{
        fault::kill, fault::abort, fault::segv, fault::exit3, fault::throws};
    return kinds[(h >> 32) % kinds.size()];
  }

  /// The result task `i` delivers when it does not fail.
  [[nodiscard]] int value(std::size_t i) const {
    return static_cast<int>(mix(seed + i) & 0x3fffffff);
  }
};

/// The message of the exception a `fault::throws` task throws.
inline std::string thrown_what(std::size_t i) {
  return "fault " + std::to_string(i);
}

/// Writes through a null pointer: SIGSEGV, as in a program built without
/// sanitizers. (Under them, UBSan's null check or ASan's SIGSEGV handler
/// would end the process with a report and status 1 instead.)
[[noreturn, gnu::noinline, gnu::no_sanitize("undefined")]] inline void
null_write() {
  const rlimit no_core{0, 0};
  (void)::setrlimit(RLIMIT_CORE, &no_core);
#if defined(__SANITIZE_ADDRESS__)
  (void)::signal(SIGSEGV, SIG_DFL);
#endif
  // Both volatile: the compiler can neither see the null pointer nor drop
  // (or replace with a trap) the write.
  int* volatile target = nullptr;
  *static_cast<volatile int*>(target) = 1;
  ::_exit(98);  // not reached
}

/// The body of task `i` in a created process: its fault, or its value.
inline int run(const plan& p, std::size_t i) {
  if (p.work_us > 0) {
    ::usleep(static_cast<useconds_t>(p.work_us));
  }
  switch (p.at(i)) {
    case fault::none: break;
    case fault::kill: test_support::die_by(SIGKILL);
    case fault::abort: test_support::abort_without_core();
    case fault::segv: null_write();
    case fault::exit3: ::_exit(3);
    case fault::throws: throw std::domain_error(thrown_what(i));
    case fault::hang: test_support::sleep_ms(30000); break;
  }
  return p.value(i);
}

/// What a storm delivered, how its tasks failed, and what was wrong.
struct tally {
  std::size_t tasks = 0;
  std::size_t delivered = 0;
  std::array<std::size_t, fault_kinds> failed{};  // by the fault seen
  // Of those failed by `kill`: tasks planned otherwise, whose process an
  // outside killer SIGKILLed under them (see killed_storm_over).
  std::size_t killed_outside = 0;
  std::vector<std::string> problems;  // each wrong thing

  [[nodiscard]] std::size_t failures() const {
    std::size_t n = 0;
    for (const std::size_t f : failed) {
      n += f;
    }
    return n;
  }

  void add(const tally& other) {
    tasks += other.tasks;
    delivered += other.delivered;
    killed_outside += other.killed_outside;
    for (std::size_t k = 0; k < fault_kinds; ++k) {
      failed[k] += other.failed[k];
    }
    problems.insert(problems.end(), other.problems.begin(),
                    other.problems.end());
  }

  /// "N tasks, D delivered, failed: kill 3 abort 2 ... (K killed from
  /// outside)"
  [[nodiscard]] std::string summary() const {
    std::ostringstream out;
    out << tasks << " tasks, " << delivered << " delivered, failed:";
    for (std::size_t k = 1; k < fault_kinds; ++k) {
      out << ' ' << name(static_cast<fault>(k)) << ' ' << failed[k];
    }
    if (killed_outside > 0) {
      out << " (" << killed_outside << " killed from outside)";
    }
    if (!problems.empty()) {
      out << ", " << problems.size() << " PROBLEMS";
    }
    return out.str();
  }

  void problem(std::string text) {
    if (problems.size() < 50) {  // the first ones tell the story
      problems.push_back(std::move(text));
    } else if (problems.size() == 50) {
      problems.emplace_back("... and more");
    }
  }
};

/// What an error a task failed with says about it.
struct observed {
  std::optional<fault> kind;        // unset: none the plan could cause
  std::optional<std::size_t> task;  // the task it names, if any
  bool task_required = false;       // a ProcessError: task() must be set
  unsigned attempts = 1;
  std::string text;  // for messages
};

/// Reads `error` (thrown by a Map, a Queue or a pmap) as one of the faults.
inline observed classify(const std::exception_ptr& error) {
  observed seen;
  try {
    std::rethrow_exception(error);
  } catch (const pprocess::TimeoutError& e) {
    seen.kind = fault::hang;
    seen.task = e.task();
    seen.task_required = true;
    seen.attempts = e.attempts();
    seen.text = std::string("TimeoutError: ") + e.what();
  } catch (const pprocess::ProcessError& e) {
    if (e.signal() == SIGKILL && e.exit_status() == -1) {
      seen.kind = fault::kill;
    } else if (e.signal() == SIGABRT && e.exit_status() == -1) {
      seen.kind = fault::abort;
    } else if (e.signal() == SIGSEGV && e.exit_status() == -1) {
      seen.kind = fault::segv;
    } else if (e.signal() == 0 && e.exit_status() == 3) {
      seen.kind = fault::exit3;
    }
    seen.task = e.task();
    seen.task_required = true;
    seen.attempts = e.attempts();
    seen.text = std::string("ProcessError: ") + e.what();
  } catch (const pprocess::RemoteError& e) {
    seen.text = "RemoteError " + e.type_name() + ": " + e.what();
    const std::string what = e.what();
    const std::string prefix = "fault ";
    if (e.type_name() == "std::domain_error" && what.starts_with(prefix)) {
      try {
        std::size_t used = 0;
        const std::size_t named = std::stoul(what.substr(prefix.size()), &used);
        if (used + prefix.size() == what.size()) {
          seen.kind = fault::throws;
          seen.task = named;
        }
      } catch (const std::exception&) {  // not a number: not ours
      }
    }
    // RemoteError::task() may be unset; where it is set it must agree.
    if (e.task() && seen.task && *e.task() != *seen.task) {
      seen.kind.reset();
      seen.text += " (task() says " + std::to_string(*e.task()) + ")";
    }
  } catch (const std::exception& e) {
    seen.text = std::string("unexpected exception: ") + e.what();
  } catch (...) {
    seen.text = "unexpected exception of unknown type";
  }
  return seen;
}

/// How the storm's exchange runs: `limit` processes, `timeout` per task
/// (unset: none), `retries` of a task whose process died.
struct settings {
  std::size_t limit = 2;
  std::optional<std::chrono::milliseconds> timeout{};
  unsigned retries = 0;
};

/// Checks that task `i` failed as `p` plans, with `error`: the right kind,
/// naming task `i`; a ProcessError (a TimeoutError too) after every retry.
/// With `outside` (an outside killer at work), a SIGKILL after every retry
/// is right for any task: counted as `kill` and in `killed_outside`.
inline void check_error(const plan& p, const settings& s, std::size_t i,
                        const std::exception_ptr& error, tally& t,
                        bool outside) {
  const observed seen = classify(error);
  const fault expected = p.at(i);
  const bool killed_outside =
      outside && expected != fault::kill && seen.kind == fault::kill;
  const std::string task = "task " + std::to_string(i);
  if (!seen.kind || (*seen.kind != expected && !killed_outside)) {
    t.problem(task + ": planned " + name(expected) + ", got " + seen.text);
  } else if (seen.task_required && !seen.task) {
    t.problem(task + ": error without task(): " + seen.text);
  } else if (seen.task && *seen.task != i) {
    t.problem(task + ": error names task " + std::to_string(*seen.task) + ": " +
              seen.text);
  } else if (seen.task_required && seen.attempts != s.retries + 1) {
    t.problem(task + ": attempts() " + std::to_string(seen.attempts) +
              ", retries " + std::to_string(s.retries) + ": " + seen.text);
  } else {
    ++t.failed[static_cast<std::size_t>(*seen.kind)];
    t.killed_outside += killed_outside ? 1 : 0;
  }
}

/// Checks that task `i` of `p` delivered `value`, which it should.
inline void check_value(const plan& p, std::size_t i, int value, tally& t) {
  if (p.at(i) != fault::none) {
    t.problem("task " + std::to_string(i) + ": planned " + name(p.at(i)) +
              ", delivered " + std::to_string(value));
  } else if (value != p.value(i)) {
    t.problem("task " + std::to_string(i) + ": delivered " +
              std::to_string(value) + ", not " + std::to_string(p.value(i)));
  } else {
    ++t.delivered;
  }
}

/// The failures `p` plans, by kind (none at index 0).
inline std::array<std::size_t, fault_kinds> planned(const plan& p) {
  std::array<std::size_t, fault_kinds> counts{};
  for (std::size_t i = 0; i < p.count; ++i) {
    ++counts[static_cast<std::size_t>(p.at(i))];
  }
  counts[0] = 0;
  return counts;
}

/// Adds to `t` what is wrong with its totals: each task must have been
/// delivered or have failed as planned, once.
inline void check_totals(tally& t, const plan& p) {
  const auto counts = planned(p);
  for (std::size_t k = 1; k < fault_kinds; ++k) {
    if (t.failed[k] != counts[k]) {
      t.problem(std::string("failed by ") + name(static_cast<fault>(k)) + ": " +
                std::to_string(t.failed[k]) + " tasks, planned " +
                std::to_string(counts[k]));
    }
  }
  if (t.delivered + t.failures() != p.count) {
    t.problem(std::to_string(t.delivered) + " delivered and " +
              std::to_string(t.failures()) + " failed of " +
              std::to_string(p.count) + " tasks");
  }
}

/// Reads every result of `m` (a Map<int> of the tasks of `p`, in order) and
/// checks each against the plan (see check_error for `outside`).
inline tally check_map(pprocess::Map<int>& m, const plan& p, const settings& s,
                       bool outside) {
  tally t;
  t.tasks = p.count;
  if (m.size() != p.count) {
    t.problem("the map has " + std::to_string(m.size()) + " tasks, not " +
              std::to_string(p.count));
    return t;
  }
  for (std::size_t i = 0; i < p.count; ++i) {
    try {
      check_value(p, i, m[i], t);
    } catch (...) {
      check_error(p, s, i, std::current_exception(), t, outside);
    }
  }
  return t;
}

/// Reads every result and error of `q` (a Queue of the tasks of `p`, each
/// delivering its index and its value) in arrival order, and checks them
/// against the plan as a multiset: each task exactly once (see check_error
/// for `outside`).
inline tally check_queue(pprocess::Queue<std::pair<std::size_t, int>>& q,
                         const plan& p, const settings& s, bool outside) {
  tally t;
  t.tasks = p.count;
  std::vector<int> seen(p.count, 0);
  const auto once = [&](std::size_t i) {
    if (i >= p.count) {
      t.problem("a result or error for task " + std::to_string(i) +
                ", which does not exist");
      return false;
    }
    if (seen[i]++ != 0) {
      t.problem("task " + std::to_string(i) + " came twice");
      return false;
    }
    return true;
  };
  // A failure ends a range-for; a new one carries on with the rest.
  for (bool more = true; more;) {
    try {
      for (const auto& [i, value] : q) {
        if (once(i)) {
          check_value(p, i, value, t);
        }
      }
      more = false;
    } catch (...) {
      const std::exception_ptr error = std::current_exception();
      const observed o = classify(error);
      if (!o.task) {
        t.problem("an error that names no task: " + o.text);
      } else if (once(*o.task)) {
        check_error(p, s, *o.task, error, t, outside);
      }
    }
  }
  for (std::size_t i = 0; i < p.count; ++i) {
    if (seen[i] == 0) {
      t.problem("task " + std::to_string(i) + " never came: lost");
    }
  }
  return t;
}

/// Which exchange a storm goes through.
enum class exchange_kind : std::uint8_t {
  pmap,   // pmap over the indices: a pool computing ranges
  map,    // Map + MakeParallel: a process per task
  queue,  // Queue + MakeParallel: a process per task, arrival order
  reuse,  // Map with reuse = true + MakeReusable: kept processes
};

inline const char* name(exchange_kind kind) {
  switch (kind) {
    case exchange_kind::pmap: return "pmap";
    case exchange_kind::map: return "Map";
    case exchange_kind::queue: return "Queue";
    case exchange_kind::reuse: return "Map, reuse";
  }
  return "?";
}

/// Runs the tasks of `p` through an exchange of `kind` with `s`, and
/// `checks` its results (check_map, check_queue, ...). The exchange is gone
/// when it returns.
template <class Check>
tally run_storm(exchange_kind kind, const plan& p, const settings& s,
                Check&& checks) {
  const pprocess::Options options{.limit = s.limit,
                                  .reuse = kind == exchange_kind::reuse,
                                  .timeout = s.timeout,
                                  .retries = s.retries};
  const auto body = [p](std::size_t i) { return run(p, i); };
  if (kind == exchange_kind::pmap) {
    std::vector<std::size_t> indices(p.count);
    for (std::size_t i = 0; i < p.count; ++i) {
      indices[i] = i;
    }
    auto m = pprocess::pmap(body, indices, options);
    return checks(m);
  }
  if (kind == exchange_kind::queue) {
    pprocess::Queue<std::pair<std::size_t, int>> q(options);
    auto call = q.manage(pprocess::MakeParallel([p](std::size_t i) {
      return std::pair{i, run(p, i)};
    }));
    for (std::size_t i = 0; i < p.count; ++i) {
      call(i);
    }
    return checks(q);
  }
  pprocess::Map<int> m(options);
  if (kind == exchange_kind::reuse) {
    auto call = m.manage(pprocess::MakeReusable(body));
    for (std::size_t i = 0; i < p.count; ++i) {
      call(i);
    }
    return checks(m);
  }
  auto call = m.manage(pprocess::MakeParallel(body));
  for (std::size_t i = 0; i < p.count; ++i) {
    call(i);
  }
  return checks(m);
}

/// Checks the results of `exchange` (a Map<int>, or a Queue of index and
/// value pairs) against `p`: check_map or check_queue.
template <class Exchange>
tally check_results(Exchange& exchange, const plan& p, const settings& s,
                    bool outside) {
  if constexpr (std::is_same_v<Exchange, pprocess::Map<int>>) {
    return check_map(exchange, p, s, outside);
  } else {
    return check_queue(exchange, p, s, outside);
  }
}

/// The fault storm: the tasks of `p` through an exchange of `kind`, every
/// result and error checked against the plan, and the totals too.
inline tally fault_storm(exchange_kind kind, const plan& p, const settings& s) {
  tally t = run_storm(kind, p, s, [&](auto& exchange) {
    return check_results(exchange, p, s, false);
  });
  check_totals(t, p);
  return t;
}

// --- the outside killer ----------------------------------------------------

/// The children of `parent`, from /proc/<parent>/task/*/children.
inline std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> pids;
  const std::string tasks = "/proc/" + std::to_string(parent) + "/task";
  DIR* dir = ::opendir(tasks.c_str());
  if (dir == nullptr) {
    return pids;
  }
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') {
      continue;
    }
    std::ifstream list(tasks + "/" + entry->d_name + "/children");
    pid_t pid = 0;
    while (list >> pid) {
      pids.push_back(pid);
    }
  }
  ::closedir(dir);
  return pids;
}

/// Field 4 of /proc/<pid>/stat (the parent), or -1.
inline pid_t parent_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!stat || !std::getline(stat, line)) {
    return -1;
  }
  const auto close = line.rfind(')');
  if (close == std::string::npos) {
    return -1;
  }
  std::istringstream rest(line.substr(close + 2));
  char state = 0;
  pid_t ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

/// The number of children of this process that are zombies.
inline std::size_t zombie_children() {
  std::size_t zombies = 0;
  for (const pid_t pid : children_of(::getpid())) {
    if (test_support::process_state(pid) == 'Z') {
      ++zombies;
    }
  }
  return zombies;
}

/// A raw-forked helper that SIGKILLs a random child of this process every
/// `period` or so (between half and one and a half of it), until stop().
///
/// It never kills itself, its parent, or anything that is not a child of
/// its parent: each victim is pinned with a pidfd, then checked to be a
/// child of the test process, and only then signalled through the pidfd,
/// so that a pid recycled meanwhile is never hit. It dies with the test
/// process (parent-death signal). Make it before the exchange whose
/// processes it kills, so that it holds none of their descriptors.
class outside_killer {
 public:
  explicit outside_killer(std::chrono::milliseconds period,
                          std::uint64_t seed = 1)
      : target_(::getpid()),
        process_([this, period, seed] { return hunt(period, seed); }) {
    stop_.close_read();
    report_.close_write();
  }
  outside_killer(const outside_killer&) = delete;
  outside_killer& operator=(const outside_killer&) = delete;

  /// Stops the helper and reaps it; the number of processes it killed, or
  /// nothing if it did not report (then it was killed).
  std::optional<std::size_t> stop() {
    stop_.close_write();  // end-of-file: stop
    const auto kills =
        test_support::read_value<std::uint64_t>(report_.read_end(), 10s);
    if (!kills) {
      ::kill(process_.pid(), SIGKILL);  // stuck: it must not run on
    }
    (void)process_.wait();
    if (!kills) {
      return std::nullopt;
    }
    return static_cast<std::size_t>(*kills);
  }

 private:
  int hunt(std::chrono::milliseconds period, std::uint64_t seed) {
    (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != target_) {
      return 2;
    }
    stop_.close_write();
    report_.close_read();
    const pid_t self = ::getpid();
    std::uint64_t state = seed;
    std::uint64_t kills = 0;
    for (;;) {
      state = mix(state);
      const auto wait =
          period / 2 + period * static_cast<long>(state % 1000) / 1000;
      pollfd stop{stop_.read_end(), POLLIN, 0};
      if (::poll(&stop, 1, static_cast<int>(wait.count())) != 0) {
        break;  // end-of-file (or an error): stop
      }
      std::vector<pid_t> victims = children_of(target_);
      std::erase(victims, self);
      if (victims.empty()) {
        continue;
      }
      const pid_t victim = victims[mix(state) % victims.size()];
      const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, victim, 0));
      if (pidfd < 0) {
        continue;  // gone already
      }
      // Pinned: if `victim` is still a child of the test process now, the
      // pidfd names that child, whatever happens to the pid after.
      if (victim != self && victim != target_ && parent_of(victim) == target_ &&
          ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) == 0) {
        ++kills;
      }
      ::close(pidfd);
    }
    return test_support::write_value(report_.write_end(), kills) ? 0 : 3;
  }

  pid_t target_;
  test_support::unique_pipe stop_;    // closed by the test: stop
  test_support::unique_pipe report_;  // the helper's count of kills
  test_support::forked_process process_;
};

/// What a storm under an outside killer did: its tally, and how many
/// processes the killer ended (nothing: the killer did not report).
struct killed_storm {
  tally result;
  std::optional<std::size_t> kills;
};

/// Adds to `out.result` what is wrong with the totals of a storm under an
/// outside killer: the killer reported and killed something; every task
/// delivered or failed; the tasks planned to fail by a kind failed so,
/// unless killed from outside; and no more tasks were killed from outside
/// than the kills allow (each took `retries` + 1 of them).
inline void check_totals(killed_storm& out, const plan& p, unsigned retries) {
  tally& t = out.result;
  if (!out.kills) {
    t.problem("the killer did not report");
  } else if (*out.kills == 0) {
    t.problem("the killer found nothing to kill");
  } else if (t.killed_outside * (retries + 1) > *out.kills) {
    t.problem(std::to_string(t.killed_outside) + " tasks killed, " +
              std::to_string(*out.kills) + " processes killed, retries " +
              std::to_string(retries));
  }
  // A task planned to die by SIGKILL always does; one planned otherwise
  // may have been killed from outside first.
  const auto counts = planned(p);
  for (std::size_t k = 1; k < fault_kinds; ++k) {
    const fault kind = static_cast<fault>(k);
    const std::size_t as_planned =
        kind == fault::kill ? t.failed[k] - t.killed_outside : t.failed[k];
    if (kind == fault::kill ? as_planned != counts[k]
                            : as_planned > counts[k]) {
      t.problem(std::string("failed by ") + name(kind) +
                " as planned: " + std::to_string(as_planned) +
                " tasks, planned " + std::to_string(counts[k]));
    }
  }
  if (t.delivered + t.failures() != p.count) {
    t.problem(std::to_string(t.delivered) + " delivered and " +
              std::to_string(t.failures()) + " failed of " +
              std::to_string(p.count) + " tasks");
  }
}

/// The tasks of `p` through an exchange of `kind` with `s`, while an
/// outside killer SIGKILLs one of its processes every `period` or so; the
/// results checked as the fault storm's, except that any task may fail
/// with SIGKILL. The killer stops once every result was read.
inline killed_storm killed_storm_over(exchange_kind kind, const plan& p,
                                      const settings& s,
                                      std::chrono::milliseconds period) {
  killed_storm out;
  outside_killer killer(period, p.seed);  // before the exchange: see there
  out.result = run_storm(kind, p, s, [&](auto& exchange) {
    tally t = check_results(exchange, p, s, true);
    out.kills = killer.stop();
    return t;
  });
  check_totals(out, p, s.retries);
  return out;
}

}  // namespace storm
