// SPDX-License-Identifier: MIT
// SharedArray: construction and element access, copies that share and moves
// that empty, every way an array crosses a channel (start, pmap, Map, Queue,
// reusable processes, background processes, inside containers and user
// types), and what the memory file promises: nothing copied, no file in
// /dev/shm, no descriptor left behind, sealed against shrinking once sent,
// shared with processes created after it, freed with its last holder.
#include "pprocess/shared_array.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace shared_array_test_types {

/// Trivially copyable, but its default constructor is not trivial: value
/// initialization must run it.
struct P {
  int a = 7;
  double b = 1.5;
};
static_assert(std::is_trivially_copyable_v<P>);
static_assert(!std::is_trivially_default_constructible_v<P>);

/// A user type that travels through its cereal serialize function and
/// carries a SharedArray.
struct R {
  int id = 0;
  pprocess::SharedArray<float> v;

  template <class A>
  void serialize(A& a) {
    a(id, v);
  }
};

}  // namespace shared_array_test_types

namespace {

using namespace std::chrono_literals;
using namespace shared_array_test_types;
using pprocess::SharedArray;
using test_support::open_fd_count;

// --- helpers
// -------------------------------------------------------------------

/// The target of /proc/self/fd/<fd>, or "" if it cannot be read.
std::string fd_target(int fd) {
  std::error_code error;
  const auto target = std::filesystem::read_symlink(
      "/proc/self/fd/" + std::to_string(fd), error);
  return error ? std::string() : target.string();
}

/// The descriptors of this process that refer to memory files (memfd).
std::vector<int> memfd_fds() {
  std::vector<int> fds;
  for (const int fd : test_support::open_fds()) {
    if (fd_target(fd).rfind("/memfd:", 0) == 0) {
      fds.push_back(fd);
    }
  }
  return fds;
}

/// Checks that this process has one memory file open, and that it is sealed
/// against shrinking: ftruncate() fails with EPERM.
void expect_the_one_memfd_cannot_shrink() {
  const std::vector<int> fds = memfd_fds();
  ASSERT_EQ(fds.size(), 1U);
  EXPECT_NE(::fcntl(fds[0], F_GET_SEALS) & F_SEAL_SHRINK, 0);
  errno = 0;
  EXPECT_EQ(::ftruncate(fds[0], 0), -1);
  EXPECT_EQ(errno, EPERM);
}

/// The number of mappings of memory files in this process.
std::size_t memfd_mappings() {
  std::ifstream maps("/proc/self/maps");
  std::size_t count = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find("/memfd:") != std::string::npos) {
      ++count;
    }
  }
  return count;
}

/// Whether this process has a descriptor or a mapping of a file under
/// /dev/shm.
bool uses_dev_shm() {
  for (const int fd : test_support::open_fds()) {
    if (fd_target(fd).rfind("/dev/shm/", 0) == 0) {
      return true;
    }
  }
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find("/dev/shm/") != std::string::npos) {
      return true;
    }
  }
  return false;
}

/// The names in /dev/shm.
std::set<std::string> dev_shm_entries() {
  std::set<std::string> names;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator("/dev/shm", error)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

/// The "RssAnon" of this process in KiB (anonymous memory: private copies,
/// not the pages of a shared memory file), or -1.
long rss_anon_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("RssAnon:", 0) == 0) {
      return std::stol(line.substr(8));
    }
  }
  return -1;
}

/// Sums a span (a function that takes a span, to use the conversions).
double sum_of(std::span<const double> values) {
  return std::accumulate(values.begin(), values.end(), 0.0);
}

/// The elements of the big array: every bit of each one depends on `i`.
std::uint64_t pattern(std::size_t i) {
  return static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ULL + 1;
}

/// A checksum that notices a misplaced element.
std::uint64_t checksum(const std::uint64_t* data, std::size_t size) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < size; ++i) {
    sum += data[i] ^ static_cast<std::uint64_t>(i);
  }
  return sum;
}

constexpr std::size_t big_count = std::size_t{32} << 20;  // 256 MiB of u64

/// Starts a process that sends a 256 MiB SharedArray of pattern(i), then
/// the checksum it computed.
pprocess::Channel start_big_sender() {
  return pprocess::start([](pprocess::Channel& c) {
    SharedArray<std::uint64_t> a(big_count);
    std::uint64_t* p = a.data();
    for (std::size_t i = 0; i < big_count; ++i) {
      p[i] = pattern(i);
    }
    const std::uint64_t sum = checksum(p, big_count);
    c.send(a);
    c.send(sum);
  });
}

/// Kills a background process that recorded its pid in `pid_file`, if it
/// still runs when this goes away.
class background_reaper {
 public:
  explicit background_reaper(std::string pid_file)
      : pid_file_(std::move(pid_file)) {}
  background_reaper(const background_reaper&) = delete;
  background_reaper& operator=(const background_reaper&) = delete;
  ~background_reaper() {
    std::ifstream in(pid_file_);
    pid_t pid = 0;
    if (in >> pid && pid > 0 && !test_support::process_ended(pid)) {
      (void)::kill(pid, SIGKILL);
      (void)test_support::wait_until(
          [pid] { return test_support::process_ended(pid); }, 10s);
    }
  }

 private:
  std::string pid_file_;
};

// --- construction and access
// ------------------------------------------------

TEST(SharedArrayTest, DefaultIsEmpty) {
  const SharedArray<int> a;
  EXPECT_EQ(a.size(), 0U);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.begin(), a.end());
}

TEST(SharedArrayTest, ZeroSizeIsEmptyAndHoldsNoMemoryFile) {
  const SharedArray<int> a(0);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.begin(), a.end());
  EXPECT_TRUE(memfd_fds().empty());
}

TEST(SharedArrayTest, SizeConstructorGivesZeroDoubles) {
  const SharedArray<double> a(1000);
  ASSERT_EQ(a.size(), 1000U);
  EXPECT_FALSE(a.empty());
  EXPECT_NE(a.data(), nullptr);
  for (const double x : a) {
    EXPECT_EQ(x, 0.0);
  }
}

TEST(SharedArrayTest, SizeConstructorRunsDefaultMemberInitializers) {
  const SharedArray<P> a(100);
  ASSERT_EQ(a.size(), 100U);
  for (const P& p : a) {
    EXPECT_EQ(p.a, 7);
    EXPECT_EQ(p.b, 1.5);
  }
}

TEST(SharedArrayTest, SizeAndValueConstructorFillsEveryElement) {
  const SharedArray<int> a(500, -3);
  ASSERT_EQ(a.size(), 500U);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i], -3) << "at " << i;
  }
}

TEST(SharedArrayTest, SizeWhoseByteCountOverflowsThrowsError) {
  // (2^61 + 1) doubles are 2^64 + 8 bytes: an unchecked multiplication
  // would make an 8-byte memory file for them.
  const std::size_t size = (std::size_t{1} << 61) + 1;
  EXPECT_THROW(SharedArray<double> a(size), pprocess::Error);
}

TEST(SharedArrayTest, IndexReadsAndWritesElements) {
  SharedArray<int> a(4, 0);
  a[0] = 10;
  a[3] = 40;
  const SharedArray<int>& view = a;
  EXPECT_EQ(view[0], 10);
  EXPECT_EQ(view[1], 0);
  EXPECT_EQ(view[3], 40);
  EXPECT_EQ(a.data()[3], 40);
}

TEST(SharedArrayTest, BeginAndEndSpanTheElements) {
  SharedArray<int> a(6, 1);
  EXPECT_EQ(a.end() - a.begin(), 6);
  EXPECT_EQ(a.begin(), a.data());
  std::iota(a.begin(), a.end(), 1);
  int expected = 1;
  for (const int x : a) {
    EXPECT_EQ(x, expected++);
  }
  EXPECT_EQ(expected, 7);
}

TEST(SharedArrayTest, WorksWithAccumulate) {
  SharedArray<int> a(100);
  std::iota(a.begin(), a.end(), 1);
  EXPECT_EQ(std::accumulate(a.begin(), a.end(), 0), 5050);
}

TEST(SharedArrayTest, ConvertsToSpanOfT) {
  SharedArray<double> a(3, 2.0);
  const std::span<double> s = a;
  EXPECT_EQ(s.data(), a.data());
  ASSERT_EQ(s.size(), 3U);
  s[1] = 5.0;
  EXPECT_EQ(a[1], 5.0);
}

TEST(SharedArrayTest, ConvertsToSpanOfConstT) {
  const SharedArray<double> a(4, 0.5);
  const std::span<const double> s = a;
  EXPECT_EQ(s.data(), a.data());
  EXPECT_EQ(s.size(), 4U);
  EXPECT_EQ(sum_of(a), 2.0);
}

// --- copies and moves
// --------------------------------------------------------

TEST(SharedArrayTest, CopiesShareTheirElements) {
  SharedArray<int> a(8, 1);
  const SharedArray<int> b = a;  // NOLINT(performance-unnecessary-copy-*)
  a[5] = 55;
  EXPECT_EQ(b.data(), a.data());
  EXPECT_EQ(b.size(), 8U);
  EXPECT_EQ(b[5], 55);
}

TEST(SharedArrayTest, CopyAssignmentShares) {
  SharedArray<int> a(8, 1);
  SharedArray<int> c;
  c = a;
  c[0] = 9;
  EXPECT_EQ(a[0], 9);
  EXPECT_EQ(c.size(), 8U);
}

TEST(SharedArrayTest, CopyOutlivesTheOriginal) {
  SharedArray<int> kept;
  {
    SharedArray<int> a(1000, 4);
    kept = a;
  }
  ASSERT_EQ(kept.size(), 1000U);
  EXPECT_EQ(kept[0], 4);
  EXPECT_EQ(kept[999], 4);
}

TEST(SharedArrayTest, MoveConstructionLeavesTheSourceEmpty) {
  SharedArray<int> a(16, 3);
  const int* elements = a.data();
  const SharedArray<int> b(std::move(a));
  EXPECT_EQ(b.data(), elements);
  EXPECT_EQ(b.size(), 16U);
  EXPECT_EQ(b[15], 3);
  // NOLINTBEGIN(bugprone-use-after-move)
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.size(), 0U);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.begin(), a.end());
  // NOLINTEND(bugprone-use-after-move)
}

TEST(SharedArrayTest, MoveAssignmentLeavesTheSourceEmpty) {
  SharedArray<int> a(16, 3);
  SharedArray<int> b(2, 0);
  b = std::move(a);
  EXPECT_EQ(b.size(), 16U);
  EXPECT_EQ(b[15], 3);
  // NOLINTBEGIN(bugprone-use-after-move)
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.size(), 0U);
  EXPECT_EQ(a.data(), nullptr);
  // NOLINTEND(bugprone-use-after-move)
}

// --- crossing a channel
// ------------------------------------------------------

TEST(SharedArrayTest, ValuesArriveThroughAChannel) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    SharedArray<int> a(1000);
    std::iota(a.begin(), a.end(), -500);
    c.send(a);
  });
  const auto a = ch.receive<SharedArray<int>>();
  ASSERT_EQ(a.size(), 1000U);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i], static_cast<int>(i) - 500) << "at " << i;
  }
}

TEST(SharedArrayTest, ArrayArrivesInTheCreatedProcess) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    const auto a = c.receive<SharedArray<double>>();
    c.send(std::accumulate(a.begin(), a.end(), 0.0));
    c.send(a.size());
  });
  SharedArray<double> a(64, 0.25);
  ch.send(a);
  EXPECT_EQ(ch.receive<double>(), 16.0);
  EXPECT_EQ(ch.receive<std::size_t>(), 64U);
}

TEST(SharedArrayTest, BigArrayArrivesIntact) {
  auto ch = start_big_sender();
  const auto a = ch.receive<SharedArray<std::uint64_t>>();
  const auto sent_sum = ch.receive<std::uint64_t>();
  ASSERT_EQ(a.size(), big_count);
  EXPECT_EQ(a[0], pattern(0));
  EXPECT_EQ(a[1], pattern(1));
  EXPECT_EQ(a[4095], pattern(4095));
  EXPECT_EQ(a[big_count / 2], pattern(big_count / 2));
  EXPECT_EQ(a[big_count - 1], pattern(big_count - 1));
  EXPECT_EQ(checksum(a.data(), a.size()), sent_sum);
}

TEST(SharedArrayTest, ReceivingABigArrayCopiesNothing) {
  auto ch = start_big_sender();
  const long before = rss_anon_kib();
  ASSERT_GE(before, 0);
  const auto a = ch.receive<SharedArray<std::uint64_t>>();
  const auto sent_sum = ch.receive<std::uint64_t>();
  // Read every page: the receiver's reads must not make private copies.
  EXPECT_EQ(checksum(a.data(), a.size()), sent_sum);
  const long grown = rss_anon_kib() - before;
  // 256 MiB crossed; a copy would add 262144 KiB of anonymous memory.
  EXPECT_LT(grown, 16 * 1024) << "RssAnon grew by " << grown << " KiB";
}

TEST(SharedArrayTest, EmptyArrayCrossesAChannelAndArrivesEmpty) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    c.send(SharedArray<int>());
    c.send(SharedArray<int>(0));
    c.send(7);
  });
  EXPECT_TRUE(ch.receive<SharedArray<int>>().empty());
  const auto zero = ch.receive<SharedArray<int>>();
  EXPECT_TRUE(zero.empty());
  EXPECT_EQ(zero.data(), nullptr);
  EXPECT_TRUE(memfd_fds().empty());
  EXPECT_EQ(ch.receive<int>(), 7);
}

TEST(SharedArrayTest, ArrayIsAPmapResult) {
  auto m = pprocess::pmap(
      [](int i) {
        SharedArray<double> a(1000, i);
        return a;
      },
      std::vector<int>{0, 1, 2, 3}, {.limit = 2});
  static_assert(
      std::is_same_v<decltype(m), pprocess::Map<SharedArray<double>>>);
  for (std::size_t i = 0; i < 4; ++i) {
    const SharedArray<double>& a = m[i];
    ASSERT_EQ(a.size(), 1000U) << "result " << i;
    EXPECT_EQ(a[0], static_cast<double>(i));
    EXPECT_EQ(a[999], static_cast<double>(i));
  }
}

TEST(SharedArrayTest, ArrayIsAManagedMapResult) {
  pprocess::Map<SharedArray<float>> m({.limit = 2});
  auto make = m.manage(pprocess::MakeParallel([](int n, float value) {
    return SharedArray<float>(static_cast<std::size_t>(n), value);
  }));
  make(3, 1.5F);
  make(0, 0.0F);
  make(5000, -2.0F);
  const std::vector<SharedArray<float>> results = m.slice(0, 3);
  ASSERT_EQ(results[0].size(), 3U);
  EXPECT_EQ(results[0][2], 1.5F);
  EXPECT_TRUE(results[1].empty());
  ASSERT_EQ(results[2].size(), 5000U);
  EXPECT_EQ(results[2][0], -2.0F);
  EXPECT_EQ(results[2][4999], -2.0F);
}

TEST(SharedArrayTest, ArrayIsAQueueElement) {
  pprocess::Queue<SharedArray<int>> q({.limit = 2});
  auto make = q.manage(pprocess::MakeParallel([](int i) {
    return SharedArray<int>(static_cast<std::size_t>(i) + 1, i);
  }));
  for (int i = 0; i < 5; ++i) {
    make(i);
  }
  std::set<int> seen;
  for (const SharedArray<int>& a : q) {
    ASSERT_FALSE(a.empty());
    const int i = a[0];
    EXPECT_EQ(a.size(), static_cast<std::size_t>(i) + 1);
    EXPECT_EQ(a[a.size() - 1], i);
    seen.insert(i);
  }
  EXPECT_EQ(seen, (std::set<int>{0, 1, 2, 3, 4}));
}

TEST(SharedArrayTest, ArrayInsideAUserStructWithSerializeArrives) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    R r;
    r.id = 12;
    r.v = SharedArray<float>(300, 0.5F);
    r.v[299] = 9.0F;
    c.send(r);
  });
  const R r = ch.receive<R>();
  EXPECT_EQ(r.id, 12);
  ASSERT_EQ(r.v.size(), 300U);
  EXPECT_EQ(r.v[0], 0.5F);
  EXPECT_EQ(r.v[299], 9.0F);
}

TEST(SharedArrayTest, VectorOfArraysArrives) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    std::vector<SharedArray<int>> arrays;
    arrays.emplace_back(3, 1);
    arrays.emplace_back();  // no descriptor in the middle
    arrays.emplace_back(70, 2);
    arrays.emplace_back(1, 3);
    c.send(arrays);
  });
  const auto arrays = ch.receive<std::vector<SharedArray<int>>>();
  ASSERT_EQ(arrays.size(), 4U);
  ASSERT_EQ(arrays[0].size(), 3U);
  EXPECT_EQ(arrays[0][2], 1);
  EXPECT_TRUE(arrays[1].empty());
  ASSERT_EQ(arrays[2].size(), 70U);
  EXPECT_EQ(arrays[2][69], 2);
  ASSERT_EQ(arrays[3].size(), 1U);
  EXPECT_EQ(arrays[3][0], 3);
}

TEST(SharedArrayTest, TupleWithAnArrayArrives) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    c.send(std::tuple<int, SharedArray<int>>{42, SharedArray<int>(10, -1)});
  });
  const auto [n, a] = ch.receive<std::tuple<int, SharedArray<int>>>();
  EXPECT_EQ(n, 42);
  ASSERT_EQ(a.size(), 10U);
  EXPECT_EQ(a[0], -1);
  EXPECT_EQ(a[9], -1);
}

TEST(SharedArrayTest, ArrayIsAnArgumentOfAReusableProcess) {
  pprocess::Map<long> m({.limit = 1, .reuse = true});
  auto sum = m.manage(pprocess::MakeReusable([](SharedArray<int> a) {
    return std::accumulate(a.begin(), a.end(), 0L);
  }));
  std::vector<long> expected;
  for (int i = 0; i < 5; ++i) {
    // Each array is gone before its call is sent: the queued call keeps
    // its own descriptor.
    SharedArray<int> a(1000, i);
    sum(a);
    expected.push_back(1000L * i);
  }
  EXPECT_EQ(m.slice(0, 5), expected);
}

TEST(SharedArrayTest, ManyShortCallsWithArrayArgumentsAmongOthers) {
  // Short calls go several to a write; a call whose arguments carry a
  // descriptor starts a write of its own, so each array reaches its call.
  constexpr int calls = 400;
  test_support::expect_no_descriptor_or_zombie_left([] {
    pprocess::Map<long> m({.limit = 2, .reuse = true});
    auto sum = m.manage(pprocess::MakeReusable(
        [](int i, std::optional<SharedArray<int>> a) -> long {
          return a ? std::accumulate(a->begin(), a->end(), 0L) : -i;
        }));
    for (int i = 0; i < calls; ++i) {
      if (i % 4 == 0) {
        sum(i, SharedArray<int>(10, i));
      } else {
        sum(i, std::optional<SharedArray<int>>{});
      }
    }
    for (int i = 0; i < calls; ++i) {
      ASSERT_EQ(m[static_cast<std::size_t>(i)], i % 4 == 0 ? 10L * i : -i)
          << "call " << i;
    }
  });
}

TEST(SharedArrayTest, ArrayIsAResultOfAReusableProcess) {
  auto m = pprocess::pmap([](int i) { return SharedArray<int>(100, i); },
                          std::vector<int>{0, 1, 2, 3, 4, 5},
                          {.limit = 2, .reuse = true});
  for (std::size_t i = 0; i < 6; ++i) {
    const SharedArray<int>& a = m[i];
    ASSERT_EQ(a.size(), 100U) << "result " << i;
    EXPECT_EQ(a[99], static_cast<int>(i));
  }
}

TEST(SharedArrayTest, ArraysAmongOtherResultsOfManyReusedCallsKeepTheirOrder) {
  // Results read several at a time: each array must go with its own result.
  constexpr int calls = 600;
  using result = std::tuple<int, std::optional<SharedArray<int>>>;
  test_support::expect_no_descriptor_or_zombie_left([] {
    pprocess::Map<result> m({.limit = 2, .reuse = true});
    auto call = m.manage(pprocess::MakeReusable([](int i) -> result {
      if (i % 3 == 0) {
        return {i, SharedArray<int>(static_cast<std::size_t>(i % 7) + 1, i)};
      }
      return {i, std::nullopt};
    }));
    for (int i = 0; i < calls; ++i) {
      call(i);
    }
    for (int i = 0; i < calls; ++i) {
      const auto& [n, array] = m[static_cast<std::size_t>(i)];
      ASSERT_EQ(n, i);
      ASSERT_EQ(array.has_value(), i % 3 == 0) << "result " << i;
      if (array) {
        ASSERT_EQ(array->size(), static_cast<std::size_t>(i % 7) + 1);
        EXPECT_EQ((*array)[0], i);
      }
    }
  });
}

TEST(SharedArrayTest, ArraysSentBackToBackArriveInOrder) {
  pprocess::Queue<SharedArray<int>> q({.limit = 1, .continuous = true});
  q.start([](pprocess::Channel& c) {
    for (int i = 0; i < 20; ++i) {
      c.send(SharedArray<int>(static_cast<std::size_t>(i) + 1, i));
    }
  });
  int expected = 0;
  for (const SharedArray<int>& a : q) {
    ASSERT_EQ(a.size(), static_cast<std::size_t>(expected) + 1);
    EXPECT_EQ(a[0], expected);
    EXPECT_EQ(a[a.size() - 1], expected);
    ++expected;
  }
  EXPECT_EQ(expected, 20);
}

TEST(SharedArrayTest, SameArrayTwiceInAFrameArrivesAsTwoSharingCopies) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    const SharedArray<int> a(10, 1);
    c.send(std::vector<SharedArray<int>>{a, a});
  });
  auto arrays = ch.receive<std::vector<SharedArray<int>>>();
  ASSERT_EQ(arrays.size(), 2U);
  ASSERT_EQ(arrays[0].size(), 10U);
  ASSERT_EQ(arrays[1].size(), 10U);
  arrays[0][4] = 44;
  EXPECT_EQ(arrays[1][4], 44);
}

TEST(SharedArrayTest, BackgroundProcessDeliversAnArray) {
  const test_support::temp_dir dir;
  const std::string address = (dir / "task.socket").string();
  const std::string pid_file = (dir / "pid").string();
  const background_reaper reaper(pid_file);
  pprocess::BackgroundCallable task(
      address, [pid_file](pprocess::Channel& channel, int n) {
        (void)::alarm(30);  // ends it whatever happens to the test
        { std::ofstream(pid_file) << ::getpid(); }
        SharedArray<int> a(static_cast<std::size_t>(n));
        std::iota(a.begin(), a.end(), 0);
        channel.send(a);
      });
  task(100000);
  std::vector<SharedArray<int>> received;
  {
    auto queue = pprocess::BackgroundQueue<SharedArray<int>>(address);
    for (const SharedArray<int>& a : queue) {
      received.push_back(a);
    }
  }
  ASSERT_EQ(received.size(), 1U);
  const SharedArray<int>& a = received[0];
  ASSERT_EQ(a.size(), 100000U);
  EXPECT_EQ(a[0], 0);
  EXPECT_EQ(a[54321], 54321);
  EXPECT_EQ(a[99999], 99999);
  EXPECT_EQ(std::accumulate(a.begin(), a.end(), 0L), 4999950000L);
}

// --- the memory file
// ---------------------------------------------------------

TEST(SharedArrayTest, NoDescriptorLeftAfterArraysAndChannelsAreGone) {
  const int before = open_fd_count();
  {
    auto ch = pprocess::start([](pprocess::Channel& c) {
      for (;;) {
        auto a = c.receive<SharedArray<int>>();
        if (a.empty()) {
          break;
        }
        c.send(a);
      }
      c.send(SharedArray<int>(5, 9));  // to be received as another type
      c.send(1);
    });
    std::vector<SharedArray<int>> kept;
    for (int round = 0; round < 5; ++round) {
      const SharedArray<int> a(100, round);
      ch.send(a);
      kept.push_back(ch.receive<SharedArray<int>>());
      EXPECT_EQ(kept.back()[99], round);
    }
    ch.send(SharedArray<int>());
    EXPECT_THROW((void)ch.receive<std::string>(), pprocess::ChannelError);
    EXPECT_EQ(ch.receive<int>(), 1);
  }
  EXPECT_EQ(open_fd_count(), before);
  EXPECT_TRUE(memfd_fds().empty());
}

TEST(SharedArrayTest, TypeMismatchClosesTheDescriptorThatCameWithTheFrame) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    c.send(SharedArray<int>(5, 9));
    c.send(1);
  });
  try {
    (void)ch.receive<std::string>();
    ADD_FAILURE() << "receive<std::string>() accepted a SharedArray<int>";
  } catch (const pprocess::ChannelError& e) {
    EXPECT_EQ(e.code(), pprocess::ChannelErrc::type_mismatch);
  }
  EXPECT_TRUE(memfd_fds().empty());  // the channel still lives
  EXPECT_EQ(ch.receive<int>(), 1);
}

TEST(SharedArrayTest, NoFileAppearsInDevShm) {
  const std::set<std::string> before = dev_shm_entries();
  auto ch = pprocess::start([](pprocess::Channel& c) {
    const auto a = c.receive<SharedArray<int>>();
    c.send(a);
    c.send(SharedArray<double>(std::size_t{1} << 20, 1.0));
  });
  const SharedArray<int> a(4096, 1);
  ch.send(a);
  const auto back = ch.receive<SharedArray<int>>();
  const auto big = ch.receive<SharedArray<double>>();
  EXPECT_EQ(dev_shm_entries(), before);
  EXPECT_FALSE(uses_dev_shm());
  EXPECT_EQ(back[4095], 1);
  EXPECT_EQ(big[(std::size_t{1} << 20) - 1], 1.0);
}

TEST(SharedArrayTest, MemoryFileGoesWithTheLastCopy) {
  ASSERT_TRUE(memfd_fds().empty());
  {
    const SharedArray<double> a(std::size_t{1} << 16, 1.0);
    {
      const SharedArray<double> b = a;  // NOLINT(performance-unnecessary-*)
      EXPECT_EQ(memfd_fds().size(), 1U);
      EXPECT_EQ(memfd_mappings(), 1U);
    }
    EXPECT_EQ(memfd_fds().size(), 1U);  // `a` still holds it
    EXPECT_EQ(memfd_mappings(), 1U);
  }
  EXPECT_TRUE(memfd_fds().empty());
  EXPECT_EQ(memfd_mappings(), 0U);
}

TEST(SharedArrayTest, ReceivedMemoryFileGoesWithTheLastCopy) {
  auto ch = pprocess::start(
      [](pprocess::Channel& c) { c.send(SharedArray<int>(1 << 16, 5)); });
  {
    const auto a = ch.receive<SharedArray<int>>();
    EXPECT_EQ(a[0], 5);
    EXPECT_EQ(memfd_fds().size(), 1U);
    EXPECT_EQ(memfd_mappings(), 1U);
  }
  EXPECT_TRUE(memfd_fds().empty());
  EXPECT_EQ(memfd_mappings(), 0U);
}

TEST(SharedArrayTest, ArrayMadeBeforeAForkIsSharedWithTheCreatedProcess) {
  SharedArray<int> a(8, 0);
  auto ch = pprocess::start([&a](pprocess::Channel& c) {
    a[3] = 42;
    c.send(1);
  });
  EXPECT_EQ(ch.receive<int>(), 1);
  EXPECT_EQ(a[3], 42);
  EXPECT_EQ(a[2], 0);
}

TEST(SharedArrayTest, ReceiverWritesReachTheSender) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    auto a = c.receive<SharedArray<int>>();
    a[0] = 99;
    c.send(1);
  });
  const SharedArray<int> a(8, 0);
  ch.send(a);
  EXPECT_EQ(ch.receive<int>(), 1);
  EXPECT_EQ(a[0], 99);
}

TEST(SharedArrayTest, SentMemoryCannotBeShrunk) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    const auto a = c.receive<SharedArray<int>>();
    c.send(std::accumulate(a.begin(), a.end(), 0));
  });
  const SharedArray<int> a(1024, 3);
  ch.send(a);
  EXPECT_EQ(ch.receive<int>(), 3072);
  expect_the_one_memfd_cannot_shrink();
  EXPECT_EQ(a[1023], 3);
}

TEST(SharedArrayTest, ReceivedMemoryCannotBeShrunk) {
  auto ch = pprocess::start(
      [](pprocess::Channel& c) { c.send(SharedArray<int>(1024, 3)); });
  const auto a = ch.receive<SharedArray<int>>();
  expect_the_one_memfd_cannot_shrink();
  EXPECT_EQ(a[1023], 3);
}

// --- descriptors per frame
// ----------------------------------------------------

TEST(SharedArrayTest, FrameWith254ArraysThrowsChannelError) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    c.send(c.receive<std::vector<SharedArray<int>>>().size());
  });
  std::vector<SharedArray<int>> arrays;
  for (int i = 0; i < 254; ++i) {
    arrays.emplace_back(1, i);
  }
  EXPECT_THROW(ch.send(arrays), pprocess::ChannelError);
}

TEST(SharedArrayTest, FrameWith253ArraysCrossesBothWays) {
  auto ch = pprocess::start([](pprocess::Channel& c) {
    c.send(c.receive<std::vector<SharedArray<int>>>());
  });
  std::vector<SharedArray<int>> arrays;
  for (int i = 0; i < 253; ++i) {
    arrays.emplace_back(2, i);
  }
  ch.send(arrays);
  const auto back = ch.receive<std::vector<SharedArray<int>>>();
  ASSERT_EQ(back.size(), 253U);
  for (std::size_t i = 0; i < back.size(); ++i) {
    ASSERT_EQ(back[i].size(), 2U) << "array " << i;
    EXPECT_EQ(back[i][1], static_cast<int>(i)) << "array " << i;
  }
}

}  // namespace
