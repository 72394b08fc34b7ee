// SPDX-License-Identifier: MIT
//
// The library's internal building blocks that hold work between calls:
// detail::fifo (the exchange's queues) and detail::deferred_start (a process
// start kept for later).
#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/channel.hpp>
#include <pprocess/detail/deferred_start.hpp>
#include <pprocess/detail/fifo.hpp>

namespace {

using pprocess::detail::deferred_start;
using pprocess::detail::fifo;

std::vector<int> contents(const fifo<int>& list) {
  return {list.begin(), list.end()};
}

TEST(Fifo, PushFrontTakesThePlaceOfTheLastPoppedItem) {
  fifo<int> list;
  for (int i = 0; i < 5; ++i) {
    list.push_back(i);
  }
  list.pop_front();
  list.pop_front();
  list.push_front(10);
  EXPECT_EQ(contents(list), (std::vector<int>{10, 2, 3, 4}));
  list.push_front(11);
  list.push_front(12);  // nothing popped is left: goes in front anyway
  EXPECT_EQ(contents(list), (std::vector<int>{12, 11, 10, 2, 3, 4}));
  EXPECT_EQ(list.front(), 12);
  EXPECT_EQ(list.size(), 6U);
}

TEST(Fifo, EraseKeepsTheOrderOfTheOthers) {
  fifo<int> list;
  for (int i = 0; i < 100; ++i) {
    list.push_back(i);
  }
  // From the front, far enough to compact the storage on the way.
  list.erase(list.begin(), list.begin() + 60);
  EXPECT_EQ(list.size(), 40U);
  EXPECT_EQ(list.front(), 60);
  // From the middle, then one item.
  list.erase(list.begin() + 10, list.begin() + 20);
  list.erase(list.begin() + 1);
  std::vector<int> expected{60};
  for (int i = 62; i < 70; ++i) {
    expected.push_back(i);
  }
  for (int i = 80; i < 100; ++i) {
    expected.push_back(i);
  }
  EXPECT_EQ(contents(list), expected);
  list.erase(list.begin(), list.end());
  EXPECT_TRUE(list.empty());
  list.push_back(7);
  EXPECT_EQ(contents(list), (std::vector<int>{7}));
}

TEST(Fifo, PoppedItemsAreReleasedAtOnce) {
  auto tracked = std::make_shared<int>(1);
  fifo<std::shared_ptr<int>> list;
  list.push_back(tracked);
  list.push_back(std::make_shared<int>(2));
  EXPECT_EQ(tracked.use_count(), 2);
  list.pop_front();
  EXPECT_EQ(tracked.use_count(), 1);
}

/// Counts its live copies, to check that each is destroyed exactly once.
struct counted {
  explicit counted(int* count) : live(count) { ++*live; }
  counted(const counted& other) : live(other.live) { ++*live; }
  counted(counted&& other) noexcept : live(other.live) { ++*live; }
  counted& operator=(const counted&) = delete;
  counted& operator=(counted&&) = delete;
  ~counted() { --*live; }
  int* live;
};

// A start that creates no process: what the exchange calls it for is the
// Channel it returns, and an unconnected one will do here.
pprocess::Channel no_process() {
  return {};
}

TEST(DeferredStart, SmallCallablesAndLargeOnesBehaveAlike) {
  int live = 0;
  int calls = 0;
  {
    // Fits inline: a pointer and a counted object.
    deferred_start small([&calls, c = counted(&live)] {
      ++calls;
      return no_process();
    });
    // Does not: a kilobyte of captured state.
    std::array<char, 1024> big{};
    big[1000] = 'x';
    deferred_start large([&calls, big, c = counted(&live)] {
      calls += big[1000] == 'x' ? 10 : 0;
      return no_process();
    });
    EXPECT_EQ(live, 2);
    (void)small();
    (void)large();
    EXPECT_EQ(calls, 11);

    // Moves keep the callable working and its captures alive once.
    deferred_start moved_small(std::move(small));
    deferred_start moved_large(std::move(large));
    EXPECT_FALSE(small);  // NOLINT(bugprone-use-after-move): what is tested
    EXPECT_FALSE(large);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(live, 2);
    (void)moved_small();
    (void)moved_large();
    EXPECT_EQ(calls, 22);

    // Assignment releases what was held.
    moved_small = std::move(moved_large);
    EXPECT_EQ(live, 1);
    (void)moved_small();
    EXPECT_EQ(calls, 32);
  }
  EXPECT_EQ(live, 0);
}

TEST(DeferredStart, MoveOnlyCapturesAreAccepted) {
  auto owned = std::make_unique<std::string>("kept");
  std::string seen;
  deferred_start start([&seen, owned = std::move(owned)] {
    seen = *owned;
    return no_process();
  });
  std::vector<deferred_start> list;
  list.push_back(std::move(start));
  list.resize(8);  // relocates the first one
  (void)list.front()();
  EXPECT_EQ(seen, "kept");
  EXPECT_FALSE(list.back());
}

}  // namespace
