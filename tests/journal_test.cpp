// SPDX-License-Identifier: MIT
//
// Options::journal: pmap and Map(fn, range) keep each finished result in a
// file, and a rerun takes them from there and computes only the rest: after
// a complete run, after the creator was killed, after failures; torn and
// damaged files, journals written for something else, paths that cannot be
// opened, a second creator, descriptors.
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <dirent.h>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using pprocess::Event;
using Kind = pprocess::Event::Kind;
using test_support::temp_dir;

/// Counts the events of the maps it makes options for.
struct counter {
  std::size_t started = 0;
  std::size_t computed = 0;   // finished, from a process
  std::size_t journaled = 0;  // finished, with no process: from the journal
  std::vector<std::size_t> started_tasks;

  pprocess::Options options(const std::filesystem::path& journal,
                            pprocess::Options base = {}) {
    base.journal = journal;
    base.on_event = [this](const Event& e) {
      if (e.kind == Kind::started) {
        ++started;
        started_tasks.push_back(e.task);
      } else if (e.kind == Kind::finished) {
        ++(e.pid == 0 ? journaled : computed);
      }
    };
    return base;
  }
};

std::vector<int> iota(int count) {
  std::vector<int> v;
  for (int i = 0; i < count; ++i) {
    v.push_back(i);
  }
  return v;
}

int square(int x) {
  return x * x;
}

/// Reads every result of `m` into a vector.
template <class T>
std::vector<T> all_of(pprocess::Map<T>& m) {
  std::vector<T> values;
  for (std::size_t i = 0; i < m.size(); ++i) {
    values.push_back(m[i]);
  }
  return values;
}

std::vector<int> squares(int count) {
  std::vector<int> v;
  for (int i = 0; i < count; ++i) {
    v.push_back(i * i);
  }
  return v;
}

std::uint64_t size_of(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

/// The size of a journal's header, as it says.
std::uint64_t header_size(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char fixed[40] = {};
  in.read(fixed, sizeof fixed);
  std::uint32_t result = 0;
  std::uint32_t element = 0;
  std::memcpy(&result, fixed + 12, 4);
  std::memcpy(&element, fixed + 16, 4);
  return 40 + result + element + 8;
}

// A record: index, fingerprint, payload size, checksum, then the payload.
constexpr std::uint64_t int_record = 32 + sizeof(int);

void flip_byte(const std::filesystem::path& path, std::uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

/// The message of the pprocess::Error that `body` throws ("" if none).
template <class Body>
std::string error_of(Body&& body) {
  try {
    body();
  } catch (const pprocess::Error& e) {
    return e.what();
  }
  return "";
}

TEST(Journal, RerunTakesEveryResultFromTheJournal) {
  const temp_dir dir;
  const auto path = dir / "squares.journal";
  counter first;
  {
    auto m = pprocess::pmap(square, iota(100), first.options(path));
    EXPECT_EQ(all_of(m), squares(100));
  }
  EXPECT_EQ(first.started, 100U);
  EXPECT_EQ(first.computed, 100U);
  EXPECT_EQ(first.journaled, 0U);
  // Only completions, once each.
  EXPECT_EQ(size_of(path), header_size(path) + 100 * int_record);

  counter second;
  {
    auto m = pprocess::pmap(square, iota(100), second.options(path));
    EXPECT_EQ(all_of(m), squares(100));
    EXPECT_EQ(second.started, 0U);  // nothing forked, nothing computed
    EXPECT_EQ(second.journaled, 100U);
  }
  EXPECT_EQ(size_of(path), header_size(path) + 100 * int_record);
}

// Set in the raw-forked creator of the first run only: its elements from
// 10 on never end (their processes die with that creator).
bool block_from_10 = false;

int square_or_block(int x) {
  if (block_from_10 && x >= 10) {
    for (;;) {
      ::pause();
    }
  }
  return x * x;
}

TEST(Journal, RerunAfterTheCreatorWasKilledComputesOnlyTheRest) {
  const temp_dir dir;
  const auto path = dir / "killed.journal";
  test_support::forked_process creator([&] {
    block_from_10 = true;
    auto m = pprocess::pmap(square_or_block, iota(30),
                            {.limit = 2, .chunksize = 1, .journal = path});
    (void)all_of(m);  // blocks at element 10
    return 0;
  });
  // Elements 0-9 are in the journal, and nothing more can come.
  ASSERT_TRUE(test_support::wait_until(
      [&] {
        return size_of(path) > 40 &&
               size_of(path) == header_size(path) + 10 * int_record;
      },
      20s))
      << size_of(path);
  ::kill(creator.pid(), SIGKILL);
  (void)creator.wait();

  counter rerun;
  auto m = pprocess::pmap(square_or_block, iota(30),
                          rerun.options(path, {.limit = 2}));
  std::vector<int> expected;
  for (int i = 0; i < 30; ++i) {
    expected.push_back(i * i);
  }
  EXPECT_EQ(all_of(m), expected);
  EXPECT_EQ(rerun.journaled, 10U);
  EXPECT_EQ(rerun.started, 20U);
  EXPECT_EQ(rerun.computed, 20U);
  for (const std::size_t task : rerun.started_tasks) {
    EXPECT_GE(task, 10U);
  }
}

bool fail_3 = false;

int square_unless_3(int x) {
  if (fail_3 && x == 3) {
    throw std::runtime_error("element 3 failed");
  }
  return x * x;
}

TEST(Journal, FailedElementsAreNotJournaledAndRunAgain) {
  const temp_dir dir;
  const auto path = dir / "failed.journal";
  fail_3 = true;
  {
    auto m = pprocess::pmap(square_unless_3, iota(10), {.journal = path});
    for (std::size_t i = 0; i < 10; ++i) {  // every result in
      if (i == 3) {
        EXPECT_THROW((void)m[i], pprocess::RemoteError);
      } else {
        EXPECT_EQ(m[i], static_cast<int>(i * i));
      }
    }
  }
  fail_3 = false;
  EXPECT_EQ(size_of(path), header_size(path) + 9 * int_record);
  counter rerun;
  auto m = pprocess::pmap(square_unless_3, iota(10), rerun.options(path));
  EXPECT_EQ(all_of(m), squares(10));
  EXPECT_EQ(rerun.started_tasks, std::vector<std::size_t>{3});
  EXPECT_EQ(rerun.journaled, 9U);
}

TEST(Journal, ATornLastRecordIsDroppedAndComputedAgain) {
  const temp_dir dir;
  const auto path = dir / "torn.journal";
  {
    auto m = pprocess::pmap(square, iota(20), {.journal = path});
    (void)all_of(m);
  }
  const std::uint64_t full = size_of(path);
  std::filesystem::resize_file(path, full - 3);  // cut inside the last record
  counter rerun;
  {
    auto m = pprocess::pmap(square, iota(20), rerun.options(path));
    EXPECT_EQ(all_of(m), squares(20));
  }
  EXPECT_EQ(rerun.started, 1U);
  EXPECT_EQ(rerun.journaled, 19U);
  EXPECT_EQ(size_of(path), full);  // cut off, then written again

  // A last record whose bytes are all there but wrong: torn too.
  flip_byte(path, full - 1);
  counter again;
  {
    auto m = pprocess::pmap(square, iota(20), again.options(path));
    EXPECT_EQ(all_of(m), squares(20));
  }
  EXPECT_EQ(again.started, 1U);
  EXPECT_EQ(size_of(path), full);
}

TEST(Journal, ADamagedRecordInTheMiddleIsAnErrorNamingItsOffset) {
  const temp_dir dir;
  const auto path = dir / "damaged.journal";
  {
    auto m = pprocess::pmap(square, iota(20), {.journal = path});
    (void)all_of(m);
  }
  const std::uint64_t third = header_size(path) + 2 * int_record;
  flip_byte(path, third + 32);  // its payload
  counter rerun;
  const std::string what = error_of(
      [&] { (void)pprocess::pmap(square, iota(20), rerun.options(path)); });
  EXPECT_NE(what.find(path.string()), std::string::npos) << what;
  EXPECT_NE(what.find("byte " + std::to_string(third)), std::string::npos)
      << what;
  EXPECT_EQ(rerun.started, 0U);
  EXPECT_FALSE(test_support::has_unreaped_children());
}

TEST(Journal, AJournalOfOtherElementsIsAnError) {
  const temp_dir dir;
  const auto path = dir / "elements.journal";
  {
    auto m = pprocess::pmap(square, iota(10), {.journal = path});
    (void)all_of(m);
  }
  std::vector<int> changed = iota(10);
  changed[5] = 50;
  counter rerun;
  std::string what = error_of(
      [&] { (void)pprocess::pmap(square, changed, rerun.options(path)); });
  EXPECT_NE(what.find(path.string()), std::string::npos) << what;
  EXPECT_NE(what.find("element 5"), std::string::npos) << what;
  EXPECT_NE(what.find("other elements"), std::string::npos) << what;
  EXPECT_EQ(rerun.started, 0U);

  what = error_of(
      [&] { (void)pprocess::pmap(square, iota(11), {.journal = path}); });
  EXPECT_NE(what.find("written for 10 elements"), std::string::npos) << what;

  what = error_of([&] {
    (void)pprocess::pmap([](long x) { return static_cast<int>(x); },
                         std::vector<long>{1, 2}, {.journal = path});
  });
  EXPECT_NE(what.find("elements of type int"), std::string::npos) << what;
}

TEST(Journal, ARefusedJournalLeavesNothingInTheMap) {
  const temp_dir dir;
  const auto path = dir / "refused.journal";
  {
    auto m = pprocess::pmap(square, iota(10), {.journal = path});
    (void)all_of(m);
  }
  std::vector<int> changed = iota(10);
  changed[9] = 90;  // the records before its record are taken first
  counter run;
  pprocess::Map<int> m(run.options(path));
  EXPECT_THROW(m(square, changed), pprocess::Error);
  EXPECT_EQ(m.size(), 0U);
  std::filesystem::remove(path);
  m(square, changed);  // a new journal: everything is computed
  std::vector<int> expected = squares(10);
  expected[9] = 90 * 90;
  EXPECT_EQ(all_of(m), expected);
  EXPECT_EQ(run.started, 10U);
  EXPECT_EQ(run.journaled, 0U);
}

TEST(Journal, AJournalOfAnotherResultTypeIsAnError) {
  const temp_dir dir;
  const auto path = dir / "type.journal";
  {
    auto m = pprocess::pmap(square, iota(10), {.journal = path});
    (void)all_of(m);
  }
  counter rerun;
  const std::string what = error_of([&] {
    (void)pprocess::pmap<long>(square, iota(10), rerun.options(path));
  });
  EXPECT_NE(what.find(path.string()), std::string::npos) << what;
  EXPECT_NE(what.find("results of type int"), std::string::npos) << what;
  EXPECT_NE(what.find("long"), std::string::npos) << what;
  EXPECT_EQ(rerun.started, 0U);
}

TEST(Journal, APathThatCannotBeOpenedIsAnErrorBeforeAnyWork) {
  const temp_dir dir;
  // Both fail for root too: a missing directory, and a path through a file.
  for (const std::filesystem::path& path :
       {dir / "missing" / "x.journal",
        std::filesystem::path("/etc/passwd/x")}) {
    test_support::expect_no_descriptor_or_zombie_left([&] {
      counter run;
      const std::string what = error_of(
          [&] { (void)pprocess::pmap(square, iota(10), run.options(path)); });
      EXPECT_NE(what.find(path.string()), std::string::npos) << what;
      EXPECT_EQ(run.started, 0U);
    });
  }
}

TEST(Journal, ASecondCreatorIsRefusedWhileTheFirstHoldsTheJournal) {
  const temp_dir dir;
  const auto path = dir / "locked.journal";
  {
    auto held = pprocess::pmap(square, iota(10), {.journal = path});
    (void)all_of(held);
    test_support::forked_process second([&] {
      const std::string what = error_of(
          [&] { (void)pprocess::pmap(square, iota(10), {.journal = path}); });
      return what.find(path.string()) != std::string::npos &&
                     what.find("locked") != std::string::npos
                 ? 0
                 : 1;
    });
    const int status = second.wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  // Released with its Map.
  counter rerun;
  auto m = pprocess::pmap(square, iota(10), rerun.options(path));
  EXPECT_EQ(all_of(m), squares(10));
  EXPECT_EQ(rerun.journaled, 10U);
}

/// How many of this process's descriptors refer to `path`.
int descriptors_on(const std::string& path) {
  int found = 0;
  for (const int fd : test_support::open_fds()) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(
        "/proc/self/fd/" + std::to_string(fd), ec);
    if (!ec && target == path) {
      ++found;
    }
  }
  return found;
}

TEST(Journal, CreatedProcessesHoldNoDescriptorOfTheJournal) {
  const temp_dir dir;
  const auto path = std::filesystem::canonical(dir.path()) / "fds.journal";
  auto m =
      pprocess::pmap([p = path.string()](int) { return descriptors_on(p); },
                     iota(8), {.limit = 2, .journal = path});
  EXPECT_EQ(all_of(m), std::vector<int>(8, 0));
  EXPECT_EQ(descriptors_on(path.string()), 1);  // the creator's
}

TEST(Journal, NoDescriptorIsLeftOnceTheMapIsGone) {
  const temp_dir dir;
  const auto path = dir / "leak.journal";
  test_support::expect_no_descriptor_or_zombie_left([&] {
    auto m = pprocess::pmap(square, iota(50), {.journal = path});
    EXPECT_EQ(all_of(m), squares(50));
  });
  test_support::expect_no_descriptor_or_zombie_left([&] {
    auto m = pprocess::pmap(square, iota(50), {.journal = path});
    EXPECT_EQ(all_of(m), squares(50));
  });
}

TEST(Journal, ItCoversOneCallOfAMap) {
  const temp_dir dir;
  const auto path = dir / "once.journal";
  pprocess::Map<int> m({.journal = path});
  m(square, iota(5));
  const std::string what = error_of([&] { m(square, iota(5)); });
  EXPECT_NE(what.find("one Map(fn, range) call"), std::string::npos) << what;
  EXPECT_EQ(all_of(m), squares(5));
}

struct no_default {
  explicit no_default(int x) : value(x) {}
  int value;
};

TEST(Journal, ElementsThatCannotBeSerializedAreAnError) {
  const temp_dir dir;
  const std::string what = error_of([&] {
    (void)pprocess::pmap([](const no_default& n) { return n.value; },
                         std::vector<no_default>{no_default(1), no_default(2)},
                         {.journal = dir / "x.journal"});
  });
  EXPECT_NE(what.find("serializable"), std::string::npos) << what;
}

TEST(Journal, ResultsThatHoldDescriptorsAreAnError) {
  const temp_dir dir;
  counter run;
  const std::string what = error_of([&] {
    (void)pprocess::pmap(
        [](int n) {
          return pprocess::SharedArray<int>(static_cast<std::size_t>(n));
        },
        iota(3), run.options(dir / "x.journal"));
  });
  EXPECT_NE(what.find("SharedArray"), std::string::npos) << what;
  EXPECT_EQ(run.started, 0U);
}

// Trivially copyable with no serialize function: it travels as its own
// bytes, one value per message, so its pmap starts a task per element.
struct point {
  int x;
  int y;
  bool operator==(const point&) const = default;
};
static_assert(!pprocess::detail::batchable<point>);

point point_unless_3(int i) {
  if (fail_3 && i == 3) {
    throw std::runtime_error("element 3 failed");
  }
  return {i, -i};
}

TEST(Journal, ResultsThatTravelAloneAreJournaledToo) {
  const temp_dir dir;
  const auto path = dir / "points.journal";
  fail_3 = true;
  counter first;
  {
    auto m = pprocess::pmap(point_unless_3, iota(8), first.options(path));
    for (int i = 0; i < 8; ++i) {  // every result in
      if (i == 3) {
        EXPECT_THROW((void)m[3], pprocess::RemoteError);
      } else {
        EXPECT_EQ(m[static_cast<std::size_t>(i)], (point{i, -i}));
      }
    }
  }
  fail_3 = false;
  EXPECT_EQ(first.started, 8U);
  counter rerun;
  auto m = pprocess::pmap(point_unless_3, iota(8), rerun.options(path));
  std::vector<point> expected;
  for (int i = 0; i < 8; ++i) {
    expected.push_back({i, -i});
  }
  EXPECT_EQ(all_of(m), expected);
  // Only element 3 ran, as task 3.
  EXPECT_EQ(rerun.started_tasks, std::vector<std::size_t>{3});
  EXPECT_EQ(rerun.journaled, 7U);
  EXPECT_EQ(m.size(), 8U);
}

TEST(Journal, ResultsOfOtherTypesRoundTrip) {
  const temp_dir dir;
  const auto path = dir / "strings.journal";
  // Encoded by cereal.
  const auto text = [](int i) {
    return std::vector<std::string>{
        std::string(static_cast<std::size_t>(i), 'a'), "b"};
  };
  std::vector<std::vector<std::string>> first;
  {
    auto m = pprocess::pmap(text, iota(20), {.journal = path});
    first = all_of(m);
  }
  counter rerun;
  auto m = pprocess::pmap(text, iota(20), rerun.options(path));
  EXPECT_EQ(all_of(m), first);
  EXPECT_EQ(rerun.started, 0U);
}

}  // namespace

namespace {

// Large values travel apart from their batch (see detail::batch): they are
// journaled all the same.
TEST(Journal, LargeResultsThatTravelApartAreJournaled) {
  const temp_dir dir;
  const auto path = dir / "blocks.journal";
  const auto block = [](int i) {
    return std::vector<double>(100'000, static_cast<double>(i));  // 800 kB
  };
  {
    auto m = pprocess::pmap(block, iota(6), {.limit = 2, .journal = path});
    EXPECT_EQ(m[5], block(5));
  }
  counter rerun;
  auto m = pprocess::pmap(block, iota(6), rerun.options(path));
  EXPECT_EQ(rerun.started, 0U);
  EXPECT_EQ(rerun.journaled, 6U);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(m[static_cast<std::size_t>(i)], block(i));
  }
}

}  // namespace
