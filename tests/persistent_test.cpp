// SPDX-License-Identifier: MIT
// Background and persistent processes: BackgroundCallable, BackgroundQueue,
// PersistentQueue and PersistentExchange. Values collected by the starting
// process, by a later process, by another program; the socket file (mode,
// lifetime, bad and busy addresses, stale sockets); collectors that die,
// leave, or talk garbage; peers of another user; background processes that
// die or are stopped.
//
// Every background process of these tests writes its pid into the test's
// directory and arms a 30 s alarm (enlist()), and the fixture kills whatever
// is left when a test ends: no test leaves one running, even when it fails.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <grp.h>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using test_support::die_by;
using test_support::drain;
using test_support::elapsed_ms;
using test_support::has_unreaped_children;
using test_support::process_ended;
using test_support::process_exists;
using test_support::sleep_ms;
using test_support::wait_until;

constexpr uid_t nobody = 65534;
constexpr gid_t nogroup = 65534;

// --- helpers
// -------------------------------------------------------------------

/// Creates an empty file at `path`.
void touch(const std::string& path) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd >= 0) {
    (void)::close(fd);
  }
}

/// Called first by every background process of these tests: records its pid
/// as `pid_dir/pid-<pid>` for the fixture, and ends the process by SIGALRM
/// after 30 s whatever happens (the tests take far less).
void enlist(const std::string& pid_dir) {
  (void)::alarm(30);
  touch(pid_dir + "/pid-" + std::to_string(::getpid()));
}

/// A one-shot signal from the test to a background callable: the callable
/// (which inherits the pipe across the fork) waits until the test opens the
/// gate, so that "before the value is ready" needs no timing guess.
class gate {
 public:
  /// What the callable captures (by value).
  struct waiter {
    int read_end;
    int write_end;
    /// In the background process: waits until the gate opens (20 s at most).
    void wait() const {
      (void)::close(write_end);  // our copy: EOF if the test goes away
      (void)test_support::read_value<char>(read_end, 20s);
    }
  };

  [[nodiscard]] waiter waiter_end() const {
    return {pipe_.read_end(), pipe_.write_end()};
  }
  void open() {
    ASSERT_TRUE(test_support::write_value(pipe_.write_end(), 'g'));
  }

 private:
  test_support::unique_pipe pipe_;
};

/// A raw AF_UNIX stream connection to `path`, made without the library.
class raw_socket {
 public:
  explicit raw_socket(const std::string& path)
      : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) {
      error_ = errno;
      return;
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    int result = 0;
    do {
      result = ::connect(fd_, reinterpret_cast<const sockaddr*>(&address),
                         sizeof address);
    } while (result != 0 && errno == EINTR);
    if (result != 0) {
      error_ = errno;
    }
  }
  raw_socket(const raw_socket&) = delete;
  raw_socket& operator=(const raw_socket&) = delete;
  ~raw_socket() { close(); }

  [[nodiscard]] int fd() const noexcept { return fd_; }
  /// 0 when connected, else the errno of socket() or connect().
  [[nodiscard]] int error() const noexcept { return error_; }
  void close() noexcept {
    if (fd_ >= 0) {
      (void)::close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_ = -1;
  int error_ = 0;
};

/// Leaves a stale socket file at `path`: bound, never listened on, closed.
void make_stale_socket(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  const int bound =
      ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int error = errno;
  (void)::close(fd);
  ASSERT_EQ(bound, 0) << std::strerror(error);
}

/// The frame header of the wire format, as a peer outside the library sees
/// it (24 bytes, native byte order).
struct wire_header {
  std::uint32_t magic;
  std::uint8_t kind;
  std::uint8_t version;
  std::uint16_t name_size;
  std::uint64_t type_hash;
  std::uint64_t payload_size;
};
static_assert(sizeof(wire_header) == 24);
constexpr std::uint32_t wire_magic = 0x31525050;
constexpr std::uint8_t value_kind = 1;

/// A value frame carrying an int, as read by a raw peer.
struct int_frame {
  wire_header header;
  std::string name;
  int value;
};

/// Reads one whole frame carrying an int from `fd` (10 s at most).
std::optional<int_frame> read_int_frame(int fd) {
  const auto header = test_support::read_value<wire_header>(fd, 10s);
  if (!header || header->payload_size != sizeof(int)) {
    return std::nullopt;
  }
  std::string name(header->name_size, '\0');
  const bool named =
      test_support::read_exactly(fd, name.data(), name.size(), 10s);
  const auto value = test_support::read_value<int>(fd, 10s);
  if (!named || !value) {
    return std::nullopt;
  }
  return int_frame{*header, std::move(name), *value};
}

/// Whether the other end of `fd` hangs up within `timeout` (end-of-file or
/// a reset, after whatever it had sent).
bool hangs_up(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::array<char, 4096> sink{};
  for (;;) {
    if (!test_support::wait_readable(fd, deadline)) {
      return false;
    }
    const ssize_t n = ::read(fd, sink.data(), sink.size());
    if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) {
      return true;
    }
    if (n < 0 && errno != EINTR) {
      return false;
    }
  }
}

/// Everything the background process at `address` delivers, collected by a
/// BackgroundQueue.
std::vector<int> collect_ints(const std::string& address) {
  auto queue = pprocess::BackgroundQueue<int>(address);
  return drain(queue);
}

/// Whether the message of `error` mentions `text`.
bool mentions(const std::exception& error, const std::string& text) {
  return std::string(error.what()).find(text) != std::string::npos;
}

/// Checks that `call()` throws an `E` whose message names `path`.
template <class E, class Call>
void expect_error_naming(const std::string& path, Call&& call) {
  const auto error = test_support::thrown<E>(std::forward<Call>(call));
  ASSERT_TRUE(error) << "the call did not throw";
  EXPECT_TRUE(mentions(*error, path)) << error->what();
}

bool exists(const std::string& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

/// A program's stdout and exit status.
test_support::captured run_peer(std::vector<std::string> args) {
  args.insert(args.begin(), PPROCESS_TEST_PEER);
  return test_support::capture_output_of([&] {
    std::vector<char*> argv;
    for (auto& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  });
}

bool exited_with(int status, int code) {
  return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

/// Keeps the ints it receives.
using StoreInts = test_support::collector<int, pprocess::PersistentExchange>;

// --- the fixture
// ---------------------------------------------------------------

/// A fresh directory for the socket and the pid files, and no background
/// process left running when the test ends.
class PersistentTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const pid_t pid : recorded_pids()) {
      if (!process_ended(pid)) {
        (void)::kill(pid, SIGKILL);
        EXPECT_TRUE(wait_until([pid] { return process_ended(pid); }, 10s))
            << "background process " << pid << " survived SIGKILL";
      }
    }
  }

  /// `name` in the test's directory.
  [[nodiscard]] std::string address(
      const std::string& name = "task.socket") const {
    return (dir_ / name).string();
  }
  /// Where background processes record their pids (see enlist()).
  [[nodiscard]] std::string pid_dir() const { return dir_.path().string(); }

  /// A background callable at address() whose process enlists, then sends
  /// `value`.
  [[nodiscard]] auto background_sender(int value) const {
    return pprocess::BackgroundCallable(
        address(), [dir = pid_dir(), value](pprocess::Channel& channel) {
          enlist(dir);
          channel.send(value);
        });
  }

  /// The same, but its process sends only once `go` opens.
  [[nodiscard]] auto gated_sender(const gate& go, int value) const {
    return pprocess::BackgroundCallable(address(),
                                        [dir = pid_dir(), g = go.waiter_end(),
                                         value](pprocess::Channel& channel) {
                                          enlist(dir);
                                          g.wait();
                                          channel.send(value);
                                        });
  }

  /// The pids background processes recorded so far.
  [[nodiscard]] std::vector<pid_t> recorded_pids() const {
    std::vector<pid_t> pids;
    std::error_code ignored;
    for (const auto& entry :
         std::filesystem::directory_iterator(dir_.path(), ignored)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("pid-", 0) == 0) {
        pids.push_back(static_cast<pid_t>(std::stol(name.substr(4))));
      }
    }
    return pids;
  }

  /// The pid of the first background process that records one (10 s at
  /// most; 0 if none did).
  [[nodiscard]] pid_t first_recorded_pid() const {
    std::vector<pid_t> pids;
    (void)wait_until(
        [&] {
          pids = recorded_pids();
          return !pids.empty();
        },
        10s);
    return pids.empty() ? 0 : pids.front();
  }

  test_support::temp_dir dir_;
};

// --- collected by the starting process
// ------------------------------------------

TEST_F(PersistentTest, BackgroundValueArrives) {
  pprocess::BackgroundCallable task(
      address(), [dir = pid_dir()](pprocess::Channel& channel, int x) {
        enlist(dir);
        channel.send(x * 2);
      });
  task(21);
  EXPECT_EQ(collect_ints(address()), std::vector<int>{42});
}

TEST_F(PersistentTest, BackgroundExceptionArrivesAsRemoteError) {
  pprocess::BackgroundCallable task(
      address(), [dir = pid_dir()](pprocess::Channel& /*channel*/) {
        enlist(dir);
        throw std::out_of_range("no such item");
      });
  task();
  auto queue = pprocess::BackgroundQueue<int>(address());
  test_support::expect_remote_error(
      [&] {
        for (const int value : queue) {
          ADD_FAILURE() << "unexpected value " << value;
        }
      },
      "std::out_of_range", "no such item");
  EXPECT_TRUE(drain(queue).empty());
}

TEST_F(PersistentTest, SeveralValuesArriveInOrderThenIterationEnds) {
  pprocess::BackgroundCallable task(
      address(), [dir = pid_dir()](pprocess::Channel& channel, int count) {
        enlist(dir);
        for (int i = 0; i < count; ++i) {
          sleep_ms(5);
          channel.send(i * 10);
        }
      });
  task(5);
  auto queue = pprocess::BackgroundQueue<int>(address());
  EXPECT_EQ(drain(queue), (std::vector<int>{0, 10, 20, 30, 40}));
  EXPECT_FALSE(queue.unfinished());
}

TEST_F(PersistentTest, ValueReachesExactlyOneOfTwoCollectors) {
  gate go;
  auto task = gated_sender(go, 7);
  task();
  test_support::unique_pipe connected;
  test_support::unique_pipe counts;
  auto collector = [&] {
    int count = 0;
    try {
      auto queue = pprocess::BackgroundQueue<int>(address());
      (void)test_support::write_value(connected.write_end(), 'c');
      for (const int value : queue) {
        count += value == 7 ? 1 : 100;
      }
    } catch (const pprocess::Error&) {
      // The other collector took everything: this one may see a break.
    }
    (void)test_support::write_value(counts.write_end(), count);
    return 0;
  };
  test_support::forked_process first(collector);
  test_support::forked_process second(collector);
  ASSERT_TRUE(test_support::read_value<char>(connected.read_end(), 10s));
  ASSERT_TRUE(test_support::read_value<char>(connected.read_end(), 10s));
  go.open();
  const auto a = test_support::read_value<int>(counts.read_end(), 10s);
  const auto b = test_support::read_value<int>(counts.read_end(), 10s);
  ASSERT_TRUE(a && b) << "a collector hung";
  EXPECT_EQ(*a + *b, 1) << "first " << *a << ", second " << *b;
  EXPECT_TRUE(exited_with(first.wait(), 0));
  EXPECT_TRUE(exited_with(second.wait(), 0));
}

// --- collected after the starting process is gone
// ------------------------------

TEST_F(PersistentTest, ValueArrivesAfterStartingProcessExited) {
  test_support::forked_process starter([&] {
    pprocess::BackgroundCallable task(
        address(), [dir = pid_dir()](pprocess::Channel& channel) {
          enlist(dir);
          sleep_ms(100);  // the starter is gone before the value exists
          channel.send(5);
        });
    task();
    return 0;
  });
  ASSERT_TRUE(exited_with(starter.wait(), 0));
  EXPECT_EQ(collect_ints(address()), std::vector<int>{5});
}

TEST_F(PersistentTest, AnotherProgramCollectsTheValue) {
  auto task = background_sender(1234);
  task();
  const test_support::captured peer = run_peer({"collect", address()});
  EXPECT_TRUE(exited_with(peer.status, 0)) << peer.output;
  EXPECT_EQ(peer.output, "1234\n");
  const pid_t pid = first_recorded_pid();
  ASSERT_NE(pid, 0);
  EXPECT_TRUE(wait_until([pid] { return process_ended(pid); }, 10s));
}

TEST_F(PersistentTest, ValueStartedByAnotherProgramArrives) {
  // The peer program returns at once: its background process holds no copy
  // of its stdout, or capturing that output would wait for the value.
  const test_support::captured peer =
      run_peer({"start", address(), "77", pid_dir()});
  ASSERT_TRUE(exited_with(peer.status, 0)) << peer.output;
  EXPECT_EQ(collect_ints(address()), std::vector<int>{77});
}

// --- the socket file
// ------------------------------------------------------------

TEST_F(PersistentTest, SocketFileIsPrivateToTheUser) {
  gate go;
  auto task = gated_sender(go, 1);
  task();
  struct stat info {};
  ASSERT_EQ(::lstat(address().c_str(), &info), 0) << std::strerror(errno);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 07777, 0600U) << std::oct << info.st_mode;
  EXPECT_EQ(info.st_uid, ::geteuid());
  go.open();
  EXPECT_EQ(collect_ints(address()), std::vector<int>{1});
}

TEST_F(PersistentTest, SocketFileStaysUntilCollectedThenGoes) {
  pprocess::BackgroundCallable task(
      address(), [dir = pid_dir()](pprocess::Channel& channel) {
        enlist(dir);
        touch(dir + "/sending");
        channel.send(3);
      });
  task();
  const pid_t pid = first_recorded_pid();
  ASSERT_NE(pid, 0);
  // The value is ready and waits for a collector (the process sleeps in
  // send): the process and its socket stay.
  ASSERT_TRUE(wait_until(
      [&] {
        return exists(pid_dir() + "/sending") &&
               test_support::process_state(pid) == 'S';
      },
      10s));
  EXPECT_TRUE(exists(address()));
  EXPECT_FALSE(process_ended(pid));
  EXPECT_EQ(collect_ints(address()), std::vector<int>{3});
  EXPECT_TRUE(wait_until([&] { return !exists(address()); }, 10s));
}

TEST_F(PersistentTest, BackgroundProcessEndsAfterCollection) {
  pprocess::BackgroundCallable task(
      address(), [dir = pid_dir()](pprocess::Channel& channel) {
        enlist(dir);
        channel.send(static_cast<int>(::getpid()));
        channel.send(-1);
      });
  task();
  const std::vector<int> values = collect_ints(address());
  ASSERT_EQ(values.size(), 2U);
  const auto pid = static_cast<pid_t>(values[0]);
  EXPECT_EQ(values[1], -1);
  EXPECT_NE(pid, ::getpid());
  EXPECT_TRUE(wait_until([pid] { return process_ended(pid); }, 10s));
}

TEST_F(PersistentTest, BackgroundProcessIsNotOurChild) {
  gate go;
  pprocess::BackgroundCallable task(
      address(),
      [dir = pid_dir(), g = go.waiter_end()](pprocess::Channel& channel) {
        enlist(dir);
        g.wait();
        channel.send(static_cast<int>(::getsid(0) == ::getpid() ? 1 : 0));
      });
  task();
  // Started, and the intermediate process already reaped: nothing of ours.
  EXPECT_FALSE(has_unreaped_children());
  go.open();
  // Its own session, of which it is not the leader (so it can never get a
  // controlling terminal).
  EXPECT_EQ(collect_ints(address()), std::vector<int>{0});
  const pid_t pid = first_recorded_pid();
  ASSERT_NE(pid, 0);
  EXPECT_NE(::getsid(pid), ::getsid(0));
}

TEST_F(PersistentTest, CollectorChannelPidIsTheBackgroundProcess) {
  pprocess::BackgroundCallable task(
      address(), [dir = pid_dir()](pprocess::Channel& channel) {
        enlist(dir);
        channel.send(static_cast<int>(::getpid()));
      });
  task();
  auto queue = pprocess::BackgroundQueue<int>(address());
  ASSERT_EQ(queue.active().size(), 1U);
  const pid_t reported = queue.active().front()->pid();
  const std::vector<int> values = drain(queue);
  ASSERT_EQ(values.size(), 1U);
  EXPECT_EQ(reported, static_cast<pid_t>(values[0]))
      << "the test process is " << ::getpid();
}

// --- bad addresses
// --------------------------------------------------------------

TEST_F(PersistentTest, MissingDirectoryIsErrorInCaller) {
  const std::string path = address("no-such-directory/task.socket");
  pprocess::BackgroundCallable task(
      path, [](pprocess::Channel& channel) { channel.send(1); });
  expect_error_naming<pprocess::Error>(path, [&] { task(); });
  EXPECT_TRUE(recorded_pids().empty());
  EXPECT_FALSE(has_unreaped_children());
}

TEST_F(PersistentTest, PathLongerThanSunPathIsErrorInCaller) {
  const std::string path =
      address(std::string(sizeof(sockaddr_un{}.sun_path), 'x'));
  pprocess::BackgroundCallable task(
      path, [](pprocess::Channel& channel) { channel.send(1); });
  expect_error_naming<pprocess::Error>(path, [&] { task(); });
  EXPECT_FALSE(exists(path));
  EXPECT_TRUE(recorded_pids().empty());
}

TEST_F(PersistentTest, RegularFileAtAddressIsErrorAndLeftUntouched) {
  const std::string path = address();
  {
    std::ofstream file(path);
    file << "precious data\n";
  }
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  pprocess::BackgroundCallable task(
      path, [](pprocess::Channel& channel) { channel.send(1); });
  expect_error_naming<pprocess::Error>(path, [&] { task(); });
  struct stat info {};
  ASSERT_EQ(::lstat(path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISREG(info.st_mode));
  EXPECT_EQ(info.st_mode & 07777, 0640U) << std::oct << info.st_mode;
  std::ifstream file(path);
  std::stringstream content;
  content << file.rdbuf();
  EXPECT_EQ(content.str(), "precious data\n");
  EXPECT_TRUE(recorded_pids().empty());
}

TEST_F(PersistentTest, LiveSocketAtAddressIsErrorInCaller) {
  gate go;
  auto first = gated_sender(go, 1);
  first();
  auto second = background_sender(2);
  expect_error_naming<pprocess::Error>(address(), [&] { second(); });
  go.open();
  // The first process still owns the address.
  EXPECT_EQ(collect_ints(address()), std::vector<int>{1});
  EXPECT_EQ(recorded_pids().size(), 1U);
}

TEST_F(PersistentTest, StaleSocketAtAddressIsReplaced) {
  make_stale_socket(address());
  ASSERT_TRUE(exists(address()));
  auto task = background_sender(8);
  task();
  EXPECT_EQ(collect_ints(address()), std::vector<int>{8});
}

// --- connecting
// -----------------------------------------------------------------

TEST_F(PersistentTest, ConnectToMissingSocketIsChannelErrorNamingPath) {
  const std::string path = address();
  pprocess::PersistentQueue<int> queue;
  expect_error_naming<pprocess::ChannelError>(path,
                                              [&] { queue.connect(path); });
  EXPECT_FALSE(queue.unfinished());
}

TEST_F(PersistentTest, ConnectToStaleSocketIsChannelErrorNamingPath) {
  const std::string path = address();
  make_stale_socket(path);
  expect_error_naming<pprocess::ChannelError>(
      path, [&] { (void)pprocess::BackgroundQueue<int>(path); });
}

// --- collectors that die, leave, or talk garbage
// --------------------------------

TEST_F(PersistentTest, CollectorKilledBeforeResultDoesNotLoseIt) {
  gate go;
  auto task = gated_sender(go, 21);
  task();
  test_support::unique_pipe connected;
  test_support::forked_process collector([&] {
    auto queue = pprocess::BackgroundQueue<int>(address());
    (void)test_support::write_value(connected.write_end(), 'c');
    for (const int value : queue) {
      (void)value;
    }
    return 0;
  });
  ASSERT_TRUE(test_support::read_value<char>(connected.read_end(), 10s));
  ASSERT_EQ(::kill(collector.pid(), SIGKILL), 0);
  const int status = collector.wait();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  go.open();
  EXPECT_EQ(collect_ints(address()), std::vector<int>{21});
}

TEST_F(PersistentTest, CollectorThatDisconnectsDoesNotLoseResult) {
  gate go;
  auto task = gated_sender(go, 22);
  task();
  {
    auto leaving = pprocess::BackgroundQueue<int>(address());
    EXPECT_TRUE(leaving.unfinished());
  }
  go.open();
  EXPECT_EQ(collect_ints(address()), std::vector<int>{22});
}

TEST_F(PersistentTest, PeerThatLeavesWithoutAcknowledgingDoesNotTakeValue) {
  gate go;
  auto task = gated_sender(go, 23);
  task();
  raw_socket peer(address());
  ASSERT_EQ(peer.error(), 0) << std::strerror(peer.error());
  auto queue = pprocess::BackgroundQueue<int>(address());
  go.open();
  // The raw peer is served first: it reads the whole frame, then leaves.
  const auto frame = read_int_frame(peer.fd());
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->header.magic, wire_magic);
  EXPECT_EQ(frame->header.kind, value_kind);
  EXPECT_EQ(frame->value, 23);
  peer.close();
  EXPECT_EQ(drain(queue), std::vector<int>{23});
}

TEST_F(PersistentTest, PeerWritingGarbageIsDroppedAndValueStillArrives) {
  gate go;
  auto task = gated_sender(go, 24);
  task();
  raw_socket peer(address());
  ASSERT_EQ(peer.error(), 0) << std::strerror(peer.error());
  std::array<unsigned char, 64> garbage{};
  for (std::size_t i = 0; i < garbage.size(); ++i) {
    garbage[i] = static_cast<unsigned char>((i * 37 + 11) & 0xff);
  }
  ASSERT_TRUE(
      test_support::write_all(peer.fd(), garbage.data(), garbage.size()));
  go.open();
  // Connected after the raw peer, so served after it is dropped.
  EXPECT_EQ(collect_ints(address()), std::vector<int>{24});
  // The raw peer was sent the frame, answered garbage, and was hung up on.
  EXPECT_TRUE(hangs_up(peer.fd(), 10s));
}

TEST_F(PersistentTest, PeerAnsweringGarbageInsteadOfAckIsDropped) {
  gate go;
  auto task = gated_sender(go, 25);
  task();
  raw_socket peer(address());
  ASSERT_EQ(peer.error(), 0) << std::strerror(peer.error());
  auto queue = pprocess::BackgroundQueue<int>(address());
  go.open();
  const auto frame = read_int_frame(peer.fd());
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->value, 25);
  // A header-sized answer that is not an acknowledgement.
  std::array<char, sizeof(wire_header)> answer{};
  answer.fill('\x5a');
  ASSERT_TRUE(test_support::write_all(peer.fd(), answer.data(), answer.size()));
  EXPECT_TRUE(hangs_up(peer.fd(), 10s));
  EXPECT_EQ(drain(queue), std::vector<int>{25});
}

TEST_F(PersistentTest, PeerSendingMalformedFrameIsDroppedAndNextPeerServed) {
  pprocess::BackgroundCallable task(
      address(), [dir = pid_dir()](pprocess::Channel& channel) {
        enlist(dir);
        const int question = channel.receive<int>();
        channel.send(question * 2);
      });
  task();
  raw_socket peer(address());
  ASSERT_EQ(peer.error(), 0) << std::strerror(peer.error());
  std::array<char, sizeof(wire_header)> garbage{};
  garbage.fill('\x5a');
  ASSERT_TRUE(
      test_support::write_all(peer.fd(), garbage.data(), garbage.size()));
  // Connected after the raw peer: the background process reads the
  // garbage first, drops that peer, and takes the question from this one.
  auto queue = pprocess::BackgroundQueue<int>(address());
  ASSERT_EQ(queue.active().size(), 1U);
  queue.active().front()->send(20);
  EXPECT_EQ(drain(queue), std::vector<int>{40});
  EXPECT_TRUE(hangs_up(peer.fd(), 10s));
}

// --- peers of another user (root only)
// -------------------------------------------

/// Becomes uid/gid 65534 (nobody); false if that failed.
bool become_nobody() {
  return ::setgroups(0, nullptr) == 0 && ::setgid(nogroup) == 0 &&
         ::setuid(nobody) == 0;
}

TEST_F(PersistentTest, OtherUserCannotConnectThroughSocketMode) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "acting as another user needs root";
  }
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0711), 0);  // traversable by all
  gate go;
  auto task = gated_sender(go, 31);
  task();
  test_support::forked_process stranger([&] {
    if (!become_nobody()) {
      return 10;
    }
    const raw_socket peer(address());
    return peer.error() == EACCES ? 0 : peer.error() == 0 ? 1 : 2;
  });
  EXPECT_TRUE(exited_with(stranger.wait(), 0))
      << "exit status " << WEXITSTATUS(stranger.wait())
      << " (1: connected, 2: another error, 10: setuid failed)";
  go.open();
  EXPECT_EQ(collect_ints(address()), std::vector<int>{31});
}

TEST_F(PersistentTest, OtherUserConnectionIsRefusedByPeerCredentials) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "acting as another user needs root";
  }
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0711), 0);
  gate go;
  auto task = gated_sender(go, 32);
  task();
  // Open the file lock, so that only the SO_PEERCRED check is left.
  ASSERT_EQ(::chmod(address().c_str(), 0666), 0);
  test_support::unique_pipe connected;
  test_support::forked_process stranger([&] {
    if (!become_nobody()) {
      return 10;
    }
    const raw_socket peer(address());
    if (peer.error() != 0) {
      return 11;
    }
    (void)test_support::write_value(connected.write_end(), 'c');
    // Refused: hung up on without a byte of the value.
    const auto first = test_support::read_value<char>(peer.fd(), 15s);
    if (first) {
      return 1;
    }
    return 0;
  });
  ASSERT_TRUE(test_support::read_value<char>(connected.read_end(), 10s))
      << "the other user could not connect";
  // Queued after the stranger: served once it is refused.
  auto queue = pprocess::BackgroundQueue<int>(address());
  go.open();
  EXPECT_EQ(drain(queue), std::vector<int>{32});
  EXPECT_TRUE(exited_with(stranger.wait(), 0))
      << "exit status " << WEXITSTATUS(stranger.wait())
      << " (1: it received bytes, 10: setuid failed, 11: connect failed)";
}

TEST_F(PersistentTest, CollectorRefusesBackgroundProcessOfAnotherUser) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "acting as another user needs root";
  }
  ASSERT_EQ(::chown(dir_.path().c_str(), nobody, nogroup), 0);
  test_support::forked_process stranger([&] {
    if (!become_nobody()) {
      return 10;
    }
    auto task = background_sender(33);
    task();
    return 0;
  });
  ASSERT_TRUE(exited_with(stranger.wait(), 0));
  ASSERT_NE(first_recorded_pid(), 0);  // for the fixture to stop it
  // Root may connect whatever the file's mode: the uid check must refuse.
  try {
    (void)pprocess::BackgroundQueue<int>(address());
    FAIL() << "no ChannelError";
  } catch (const pprocess::ChannelError& e) {
    EXPECT_EQ(e.code(), pprocess::ChannelErrc::refused) << e.what();
    EXPECT_TRUE(mentions(e, address())) << e.what();
  }
}

// --- PersistentExchange and PersistentQueue
// -------------------------------------

TEST_F(PersistentTest, PersistentExchangeResultOutlivesItsExchange) {
  gate go;
  pid_t pid = 0;
  {
    StoreInts exchange;
    auto calc = exchange.manage(
        address(),
        pprocess::MakeParallel([dir = pid_dir(), g = go.waiter_end()](int x) {
          enlist(dir);
          g.wait();
          return x * x;
        }));
    calc(7);
    pid = first_recorded_pid();
    ASSERT_NE(pid, 0);
  }
  // The exchange is gone; the background process is not.
  EXPECT_TRUE(process_exists(pid));
  EXPECT_FALSE(process_ended(pid));
  EXPECT_TRUE(exists(address()));
  go.open();
  StoreInts later;
  later.connect(address());
  later.finish();
  EXPECT_EQ(later.values, std::vector<int>{49});
  EXPECT_TRUE(wait_until([pid] { return process_ended(pid); }, 10s));
}

TEST_F(PersistentTest, PersistentQueueStartCollects) {
  pprocess::PersistentQueue<int> queue;
  queue.start(
      address(),
      [dir = pid_dir()](pprocess::Channel& channel, int a, int b) {
        enlist(dir);
        channel.send(a + b);
      },
      2, 3);
  EXPECT_EQ(drain(queue), std::vector<int>{5});
}

TEST_F(PersistentTest, PersistentQueueCreateCollects) {
  pprocess::PersistentQueue<int> queue;
  if (auto channel = queue.create(address())) {
    enlist(pid_dir());
    try {
      channel->send(11);
      channel->send(12);
    } catch (...) {
      pprocess::exit(*channel, 99);
    }
    pprocess::exit(*channel);
  }
  EXPECT_EQ(drain(queue), (std::vector<int>{11, 12}));
}

TEST_F(PersistentTest, PersistentQueueMixesCreatedAndBackgroundProcesses) {
  pprocess::PersistentQueue<int> queue({.continuous = true});
  queue.start([](pprocess::Channel& channel) { channel.send(1); });
  queue.start(address(), [dir = pid_dir()](pprocess::Channel& channel) {
    enlist(dir);
    channel.send(2);
  });
  std::vector<int> values = drain(queue);
  std::sort(values.begin(), values.end());
  EXPECT_EQ(values, (std::vector<int>{1, 2}));
}

// --- background processes that die or are stopped
// ------------------------------

TEST_F(PersistentTest, BackgroundProcessKilledBeforeDeliveringIsChannelError) {
  pprocess::BackgroundCallable task(
      address(), [dir = pid_dir()](pprocess::Channel& channel) {
        enlist(dir);
        sleep_ms(20000);
        channel.send(1);
      });
  task();
  const pid_t pid = first_recorded_pid();
  ASSERT_NE(pid, 0);
  auto queue = pprocess::BackgroundQueue<int>(address());
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  const auto start = std::chrono::steady_clock::now();
  expect_error_naming<pprocess::ChannelError>(address(), [&] {
    for (const int value : queue) {
      ADD_FAILURE() << "unexpected value " << value;
    }
  });
  EXPECT_LT(elapsed_ms(start), 10000.0);
  EXPECT_FALSE(queue.unfinished());
}

TEST_F(PersistentTest, BackgroundProcessAbortingIsChannelError) {
  gate go;
  pprocess::BackgroundCallable task(
      address(),
      [dir = pid_dir(), g = go.waiter_end()](pprocess::Channel& /*channel*/) {
        enlist(dir);
        g.wait();
        die_by(SIGABRT);
      });
  task();
  auto queue = pprocess::BackgroundQueue<int>(address());
  go.open();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(
      {
        for (const int value : queue) {
          ADD_FAILURE() << "unexpected value " << value;
        }
      },
      pprocess::ChannelError);
  EXPECT_LT(elapsed_ms(start), 10000.0);
}

TEST_F(PersistentTest, SigtermStopsUncollectedProcessAndItsSocketIsReplaced) {
  auto waiting = background_sender(1);  // nobody ever collects it
  waiting();
  const pid_t pid = first_recorded_pid();
  ASSERT_NE(pid, 0);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  ASSERT_TRUE(wait_until([pid] { return process_ended(pid); }, 10s));
  // The socket stays behind, stale, and does not block the address.
  EXPECT_TRUE(exists(address()));
  auto next = background_sender(2);
  next();
  EXPECT_EQ(collect_ints(address()), std::vector<int>{2});
}

// --- standing checks
// -------------------------------------------------------------

TEST_F(PersistentTest, StartAndCollectLeaveNoDescriptorOpenAndNoZombie) {
  test_support::expect_no_descriptor_or_zombie_left([&] {
    auto task = background_sender(9);
    task();
    EXPECT_EQ(collect_ints(address()), std::vector<int>{9});
  });
}

}  // namespace

// --- the end of a background process ----------------------------------------

TEST_F(PersistentTest, AddressIsFreeOnceTheCollectorsLoopEnds) {
  auto first = background_sender(1);
  first();
  auto collected = pprocess::BackgroundQueue<int>(address());
  EXPECT_EQ(drain(collected), std::vector<int>{1});
  // No waiting for the process to go: the address is free already.
  EXPECT_FALSE(std::filesystem::exists(address()));
  auto second = background_sender(2);
  second();
  auto again = pprocess::BackgroundQueue<int>(address());
  EXPECT_EQ(drain(again), std::vector<int>{2});
}

TEST_F(PersistentTest, CollectorOfTheWrongTypeLeavesTheValueToTheNext) {
  auto task = background_sender(42);
  task();
  {
    auto wrong = pprocess::BackgroundQueue<std::string>(address());
    const auto error =
        test_support::thrown<pprocess::ChannelError>([&] { drain(wrong); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code(), pprocess::ChannelErrc::type_mismatch);
  }
  auto right = pprocess::BackgroundQueue<int>(address());
  EXPECT_EQ(drain(right), std::vector<int>{42});
}
