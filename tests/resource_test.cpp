// SPDX-License-Identifier: MIT
//
// Exchanges under resource limits: too few descriptors (RLIMIT_NOFILE) or
// processes (RLIMIT_NPROC) for the limit asked. Every task completes or
// gets its own error, nothing hangs, and the exchange recovers when the
// resources come back. Each test runs in a raw-forked process, whose limits
// it may lower without touching the test program's.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <grp.h>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using test_support::forked_process;

// Exit statuses of the forked test bodies.
constexpr int passed = 0;
constexpr int wrong = 1;
constexpr int cannot_test = 77;

/// Runs `body` in a forked process, with up to `timeout` to finish: it
/// returns `passed`, `wrong` (having said why on stderr) or `cannot_test`.
void expect_passes(const std::function<int()>& body,
                   std::chrono::milliseconds timeout = 60s) {
  forked_process process(body);
  const std::optional<int> status = process.wait_for(timeout);
  ASSERT_TRUE(status) << "the test body hung for " << timeout.count() << " ms";
  ASSERT_TRUE(WIFEXITED(*status)) << "the test body died: status " << *status;
  if (WEXITSTATUS(*status) == cannot_test) {
    GTEST_SKIP() << "this machine cannot run it (see stderr)";
  }
  EXPECT_EQ(WEXITSTATUS(*status), passed);
}

bool set_soft_limit(int resource, rlim_t value) {
  rlimit limit{};
  if (::getrlimit(resource, &limit) != 0) {
    return false;
  }
  limit.rlim_cur = value;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < value) {
    limit.rlim_max = value;  // only root may raise it; tests that do are
  }                          // run before dropping privileges
  return ::setrlimit(resource, &limit) == 0;
}

/// Becomes `nobody`, for whom RLIMIT_NPROC counts (root is exempt), with
/// `processes` more processes allowed than that user runs already (this
/// one included). False (said on stderr) when that cannot be done here.
bool become_nobody_with_processes(rlim_t processes) {
  if (::geteuid() != 0) {
    std::fprintf(stderr, "not root: cannot change user\n");
    return false;
  }
  constexpr uid_t nobody = 65534;
  // The hard limit stays high, so that the body can raise the soft one
  // again to see the exchange recover.
  const rlimit limit{processes, 4096};
  if (::setgroups(0, nullptr) != 0 || ::setgid(nobody) != 0 ||
      ::setrlimit(RLIMIT_NPROC, &limit) != 0 || ::setuid(nobody) != 0) {
    std::perror("becoming nobody");
    return false;
  }
  return true;
}

int square_after(int i, int ms) {
  test_support::sleep_ms(ms);
  return i * i;
}

/// Checks `m[i] == i * i` for every task; says on stderr what differs.
int check_squares(pprocess::Map<int>& m, int count) {
  int bad = 0;
  for (int i = 0; i < count; ++i) {
    try {
      if (m[static_cast<std::size_t>(i)] != i * i) {
        ++bad;
      }
    } catch (const std::exception& e) {
      if (bad++ < 3) {
        std::fprintf(stderr, "task %d: %s\n", i, e.what());
      }
    }
  }
  if (bad != 0) {
    std::fprintf(stderr, "%d of %d results wrong or missing\n", bad, count);
  }
  return bad == 0 ? passed : wrong;
}

}  // namespace

TEST(ResourceTest, TwiceTheLimitPastRlimitNofileStillDeliversEverything) {
  expect_passes([] {
    if (!set_soft_limit(RLIMIT_NOFILE, 64)) {
      return cannot_test;
    }
    // 50 processes want 50 channels and, once they run a while, 50 pidfds:
    // more than 64 descriptors.
    pprocess::Map<int> m({.limit = 50});
    auto calc = m.manage(pprocess::MakeParallel(square_after));
    for (int i = 0; i < 300; ++i) {
      calc(i, 20);
    }
    return check_squares(m, 300);
  });
}

TEST(ResourceTest, TooFewProcessesForTheLimitDeliversEverything) {
  expect_passes([] {
    if (!become_nobody_with_processes(6)) {
      return cannot_test;
    }
    pprocess::Map<int> m({.limit = 20});
    auto calc = m.manage(pprocess::MakeParallel(square_after));
    for (int i = 0; i < 200; ++i) {
      calc(i, 5);
    }
    const int one_by_one = check_squares(m, 200);

    int kept = wrong;
    {  // its kept processes hold every process allowed until it goes
      pprocess::Map<int> reused({.limit = 20, .reuse = true});
      auto call = reused.manage(pprocess::MakeReusable(square_after));
      for (int i = 0; i < 200; ++i) {
        call(i, 1);
      }
      kept = check_squares(reused, 200);
    }

    std::vector<int> elements(2000);
    for (int i = 0; i < 2000; ++i) {
      elements[static_cast<std::size_t>(i)] = i;
    }
    auto squares =
        pprocess::pmap([](int i) { return i * i; }, elements, {.limit = 20});
    const int batched = check_squares(squares, 2000);
    return one_by_one == passed && kept == passed && batched == passed ? passed
                                                                       : wrong;
  });
}

TEST(ResourceTest, CreateWaitsForAProcessToEndWhenNoneCanStart) {
  expect_passes([] {
    if (!become_nobody_with_processes(4)) {
      return cannot_test;
    }
    test_support::collector<int> x({.limit = 20});
    for (int i = 0; i < 40; ++i) {
      if (auto ch = x.create()) {
        test_support::run_created_and_exit(*ch, [&] {
          test_support::sleep_ms(10);
          ch->send(i);
        });
      }
    }
    x.finish();
    if (x.values.size() != 40) {
      std::fprintf(stderr, "%zu values of 40\n", x.values.size());
      return wrong;
    }
    return test_support::has_unreaped_children() ? wrong : passed;
  });
}

TEST(ResourceTest, TaskThatCannotStartAtAllFailsWithItsOwnError) {
  expect_passes([] {
    // This process alone: not even one more can start.
    if (!become_nobody_with_processes(1)) {
      return cannot_test;
    }
    pprocess::Map<int> m({.limit = 4});
    auto calc = m.manage(pprocess::MakeParallel(square_after));
    for (int i = 0; i < 3; ++i) {
      calc(i, 0);
    }
    int failed = 0;
    for (std::size_t i = 0; i < 3; ++i) {
      try {
        (void)m[i];
      } catch (const pprocess::Error& e) {
        failed += std::string(e.what()).find("fork") != std::string::npos;
      }
    }
    if (failed != 3) {
      std::fprintf(stderr, "%d of 3 tasks failed naming fork\n", failed);
      return wrong;
    }
    // Resources come back: the same exchange carries on.
    if (!set_soft_limit(RLIMIT_NPROC, 64)) {
      return cannot_test;
    }
    for (int i = 3; i < 10; ++i) {
      calc(i, 0);
    }
    for (std::size_t i = 3; i < 10; ++i) {
      if (m[i] != static_cast<int>(i * i)) {
        return wrong;
      }
    }
    return passed;
  });
}

TEST(ResourceTest, ExchangeRecoversItsLimitWhenProcessesComeBack) {
  expect_passes([] {
    if (!become_nobody_with_processes(3)) {
      return cannot_test;
    }
    pprocess::Map<test_support::interval> m({.limit = 8});
    auto calc = m.manage(pprocess::MakeParallel(test_support::sleep_interval));
    for (int i = 0; i < 8; ++i) {
      calc(50);
    }
    const std::size_t short_overlap = test_support::max_overlap(m.slice(0, 8));
    // The same exchange, once the whole limit is allowed again: 8 run at
    // once.
    if (!set_soft_limit(RLIMIT_NPROC, 64)) {
      return cannot_test;
    }
    for (int i = 0; i < 8; ++i) {
      calc(300);
    }
    const std::size_t overlap = test_support::max_overlap(m.slice(8, 16));
    if (short_overlap > 2 || overlap < 6) {
      std::fprintf(stderr, "%zu at once while short, %zu after\n",
                   short_overlap, overlap);
      return wrong;
    }
    return passed;
  });
}
