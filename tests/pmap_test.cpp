// pmap and Map(fn, range): a pool forked at the call computes the sequence
// in ranges (batches); these tests check what batching must not change.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <numeric>
#include <set>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "pprocess/map.hpp"
#include "support/test_support.hpp"

namespace {

std::vector<int> iota_vector(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

int seen_at_the_call = 1;

struct Point {  // trivially copyable, no cereal serialize
  int x;
  int y;
};

/// A Map that runs a sequence a part at a time, as pprocess::mpi does.
class PartsMap : public pprocess::Map<int> {
 public:
  using Map::close_parts;
  using Map::Map;
  using Map::release_part;
  using Map::start_parts;
};

}  // namespace

TEST(PmapTest, CrashFailsOnlyTheElementThatCrashes) {
  auto m = pprocess::pmap(
      [](int x) {
        if (x == 5) {
          std::abort();
        }
        return x * 2;
      },
      iota_vector(40), {.limit = 2});
  for (int i = 0; i < 40; ++i) {
    if (i == 5) {
      try {
        (void)m[5];
        FAIL() << "element 5 should have failed";
      } catch (const pprocess::ProcessError& e) {
        EXPECT_EQ(e.signal(), SIGABRT);
      }
    } else {
      EXPECT_EQ(m[static_cast<std::size_t>(i)], i * 2) << "element " << i;
    }
  }
}

TEST(PmapTest, ExceptionFailsOnlyItsElementInsideABatch) {
  auto m = pprocess::pmap(
      [](int x) {
        if (x % 10 == 3) {
          throw std::invalid_argument("bad " + std::to_string(x));
        }
        return x;
      },
      iota_vector(100), {.limit = 2, .chunksize = 25});
  int failures = 0;
  for (int i = 0; i < 100; ++i) {
    try {
      EXPECT_EQ(m[static_cast<std::size_t>(i)], i);
    } catch (const pprocess::RemoteError& e) {
      ++failures;
      EXPECT_EQ(i % 10, 3);
      EXPECT_EQ(e.type_name(), "std::invalid_argument");
      EXPECT_EQ(std::string(e.what()), "bad " + std::to_string(i));
    }
  }
  EXPECT_EQ(failures, 10);
}

TEST(PmapTest, PoolHasAtMostLimitProcesses) {
  auto m = pprocess::pmap([](int) { return static_cast<int>(::getpid()); },
                          iota_vector(2000), {.limit = 2});
  const std::set<int> pids(m.begin(), m.end());  // classic iterator pair
  EXPECT_GE(pids.size(), 1U);
  EXPECT_LE(pids.size(), 2U);
}

TEST(PmapTest, ProcessesSeeMemoryAsOfTheCall) {
  seen_at_the_call = 1;
  auto m = pprocess::pmap([](int) { return seen_at_the_call; },
                          iota_vector(500), {.limit = 2});
  seen_at_the_call = 2;  // after the call: the pool's copies keep 1
  for (const int v : m) {
    EXPECT_EQ(v, 1);
  }
}

TEST(PmapTest, ChunksizeFixesTheRanges) {
  auto m = pprocess::pmap([](int) { return static_cast<int>(::getpid()); },
                          iota_vector(200), {.limit = 2, .chunksize = 20});
  for (std::size_t block = 0; block < 10; ++block) {
    const int pid = m[block * 20];
    for (std::size_t i = block * 20; i < block * 20 + 20; ++i) {
      EXPECT_EQ(m[i], pid) << "element " << i << " left its range";
    }
  }
}

TEST(PmapTest, MillionTinyTasksAllArrive) {
  auto m = pprocess::pmap([](int x) { return x + 1; }, iota_vector(1000000),
                          {.limit = 2});
  ASSERT_EQ(m.size(), 1000000U);
  long long sum = 0;
  for (const int v : m) {
    sum += v;
  }
  EXPECT_EQ(sum, 1000000LL * 1000001LL / 2);
}

TEST(PmapTest, EmptySequenceGivesEmptyMap) {
  auto m =
      pprocess::pmap([](int x) { return x; }, std::vector<int>{}, {.limit = 2});
  EXPECT_EQ(m.size(), 0U);
  EXPECT_EQ(m.begin(), m.end());
}

TEST(PmapTest, ElementsNeedNotBeSerializable) {
  // The pool reads the elements from its own copy of memory: a
  // std::function never crosses a channel.
  std::vector<std::function<int()>> work;
  for (int i = 0; i < 10; ++i) {
    work.emplace_back([i] { return i * i; });
  }
  auto m = pprocess::pmap([](std::function<int()>& f) { return f(); }, work,
                          {.limit = 2});
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(m[static_cast<std::size_t>(i)], i * i);
  }
}

TEST(PmapTest, ResultsThatCannotBeBatchedStillArrive) {
  // A raw struct travels alone, not in a cereal-encoded batch: pmap falls
  // back to a process per element.
  auto m = pprocess::pmap(
      [](int x) {
        return Point{x, -x};
      },
      iota_vector(6), {.limit = 2});
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(m[static_cast<std::size_t>(i)].x, i);
    EXPECT_EQ(m[static_cast<std::size_t>(i)].y, -i);
  }
}

TEST(PmapTest, SharedArrayResultsKeepBatchesUnderTheDescriptorLimit) {
  // A frame carries at most 253 descriptors: ranges of SharedArrays are cut
  // to that even when chunksize asks for more.
  auto m =
      pprocess::pmap([](int x) { return pprocess::SharedArray<int>(2, x); },
                     iota_vector(600), {.limit = 2, .chunksize = 1000});
  for (int i = 0; i < 600; ++i) {
    EXPECT_EQ(m[static_cast<std::size_t>(i)][1], i);
  }
}

// Large values (vectors of doubles here) travel in frames of their own and
// are read into their places; a failure among them fails only its element.
TEST(PmapTest, LargeResultsArriveWholeEachInItsPlace) {
  constexpr std::size_t doubles = 40'000;  // 320 kB each: apart
  std::vector<int> input(12);
  std::iota(input.begin(), input.end(), 0);
  auto results = pprocess::pmap(
      [&](int i) {
        if (i == 5) {
          throw std::runtime_error("five");
        }
        std::vector<double> block(doubles);
        std::iota(block.begin(), block.end(), i * 1'000'000.0);
        return block;
      },
      input, {.limit = 2, .chunksize = 3});
  for (int i = 0; i < 12; ++i) {
    const auto index = static_cast<std::size_t>(i);
    if (i == 5) {
      test_support::expect_remote_error([&] { (void)results[index]; },
                                        "std::runtime_error", "five");
      continue;
    }
    const std::vector<double>& block = results[index];
    ASSERT_EQ(block.size(), doubles) << "element " << i;
    EXPECT_EQ(block.front(), i * 1'000'000.0);
    EXPECT_EQ(block.back(), i * 1'000'000.0 + doubles - 1);
  }
}

// Large and empty values in the same ranges, strings too: each arrives as
// it was sent, whichever way its range travelled.
TEST(PmapTest, ValuesOfMixedSizesArriveAsSent) {
  std::vector<int> input(40);
  std::iota(input.begin(), input.end(), 0);
  const auto make = [](int i) {
    return i % 7 == 0 ? std::string(static_cast<std::size_t>(200'000 + i),
                                    'a' + static_cast<char>(i % 26))
                      : std::string(static_cast<std::size_t>(i), 'x');
  };
  auto results = pprocess::pmap(make, input, {.limit = 2, .chunksize = 4});
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(results[static_cast<std::size_t>(i)], make(i)) << "element " << i;
  }
}

TEST(PmapTest, NoProcessOrDescriptorIsLeftBehind) {
  const std::size_t before = test_support::open_fd_count();
  {
    auto m = pprocess::pmap([](int x) { return x; }, iota_vector(10000),
                            {.limit = 2});
    EXPECT_EQ(m[9999], 9999);
  }
  EXPECT_EQ(test_support::open_fd_count(), before);
  EXPECT_FALSE(test_support::has_unreaped_children());
}

TEST(PmapTest, RangesWhoseResultsCarryTooManyDescriptorsAreSplit) {
  // Four SharedArrays per result: a range of more than 63 elements could not
  // be sent whole, so the pool sends less and the range is halved.
  auto m = pprocess::pmap(
      [](int x) {
        std::vector<pprocess::SharedArray<int>> arrays;
        for (int k = 0; k < 4; ++k) {
          arrays.emplace_back(1, x + k);
        }
        return arrays;
      },
      iota_vector(3000), {.limit = 2});
  for (int i = 0; i < 3000; ++i) {
    const auto& arrays = m[static_cast<std::size_t>(i)];
    ASSERT_EQ(arrays.size(), 4U);
    EXPECT_EQ(arrays[3][0], i + 3) << "element " << i;
  }
}

TEST(PmapTest, OneHeldUpElementDoesNotHoldBackTheWorkQueuedBehindIt) {
  // No timeout: the element runs to its end, but what its process had been
  // sent beyond it is handed to the other process meanwhile.
  std::vector<int> elements(4000);
  for (int i = 0; i < 4000; ++i) {
    elements[static_cast<std::size_t>(i)] = i;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto squares = pprocess::pmap(
      [](int i) {
        if (i == 10) {
          test_support::sleep_ms(4000);
        }
        return i * i;
      },
      elements, {.limit = 2});
  for (std::size_t i = 0; i < 4000; ++i) {
    if (i != 10) {
      ASSERT_EQ(squares[i], static_cast<int>(i * i)) << i;
    }
  }
  const double others_ms = test_support::elapsed_ms(t0);
  EXPECT_EQ(squares[10], 100);
  EXPECT_LT(others_ms, 3000.0) << "the others waited for the held-up element";
  EXPECT_GT(test_support::elapsed_ms(t0), 3500.0);
}

TEST(PmapTest, PartsRunAsReleasedAndClosingEndsTheirProcesses) {
  test_support::expect_no_descriptor_or_zombie_left([] {
    PartsMap m({.limit = 2});
    const std::size_t job = m.start_parts<int>(
        [](int x) { return x * 3; },
        std::make_shared<std::vector<int>>(iota_vector(1000)));
    EXPECT_EQ(m.size(), 1000U);
    m.release_part(job, 100, 300);
    m.release_part(job, 0, 100);
    for (std::size_t i = 0; i < 300; ++i) {
      ASSERT_EQ(m[i], static_cast<int>(3 * i)) << i;
    }
    // Its processes wait for more parts; closed, they end and are reaped,
    // and the results stay.
    EXPECT_TRUE(test_support::has_unreaped_children());
    m.close_parts(job);
    m.finish();
    EXPECT_FALSE(test_support::has_unreaped_children());
    EXPECT_EQ(m[299], 897);
  });
}
