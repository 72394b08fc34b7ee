// SPDX-License-Identifier: MIT
//
// A second program for the persistent tests: background work must be
// reachable from a program other than the one that started it.
//
//     pprocess_test_peer collect ADDRESS
//         Collects the ints of the background process at ADDRESS and prints
//         each on a line; on a pprocess::Error prints "error: <what>" and
//         exits with status 2.
//     pprocess_test_peer start ADDRESS VALUE PID_DIR
//         Starts a background process at ADDRESS that writes its pid into
//         PID_DIR/pid-<pid> (and ends itself within 30 s whatever happens),
//         then sends VALUE; exits at once.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include <pprocess/pprocess.hpp>

namespace {

int usage() {
  std::cerr << "usage: pprocess_test_peer collect ADDRESS\n"
               "       pprocess_test_peer start ADDRESS VALUE PID_DIR\n";
  return 64;
}

int collect(const std::string& address) {
  try {
    auto queue = pprocess::BackgroundQueue<int>(address);
    for (const int value : queue) {
      std::cout << value << '\n';
    }
  } catch (const pprocess::Error& e) {
    std::cout << "error: " << e.what() << '\n';
    return 2;
  }
  return 0;
}

int start(const std::string& address, int value, const std::string& pid_dir) {
  pprocess::BackgroundCallable task(
      address, [pid_dir](pprocess::Channel& channel, int v) {
        (void)::alarm(30);  // a dead man's switch: never outlive the tests
        const std::string file = pid_dir + "/pid-" + std::to_string(::getpid());
        const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC,
                              S_IRUSR | S_IWUSR);
        if (fd >= 0) {
          (void)::close(fd);
        }
        channel.send(v);
      });
  try {
    task(value);
  } catch (const pprocess::Error& e) {
    std::cout << "error: " << e.what() << '\n';
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "collect" && argc == 3) {
    return collect(argv[2]);
  }
  if (mode == "start" && argc == 5) {
    return start(argv[2], std::atoi(argv[3]), argv[4]);
  }
  return usage();
}
