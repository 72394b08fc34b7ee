// SPDX-License-Identifier: MIT
//
// The OOM-kill counters this process can read: its memory cgroup's (found
// through /proc/self/cgroup and /proc/self/mountinfo, v2 or v1) and the
// machine's. Read at a process's first fork, then only when a SIGKILL death
// is explained: never per fork.
#include "oom_watch.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "this_process.hpp"

namespace pprocess::detail {
namespace {

/// The whole of a small file; empty if it cannot be read.
std::string read_file(const std::string& path) {
  std::string text;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return text;
  }
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got > 0) {
      text.append(buffer, static_cast<std::size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      break;
    }
  }
  (void)::close(fd);
  return text;
}

/// The value of the "oom_kill N" line of a counters file.
std::optional<std::uint64_t> oom_kill_count(const std::string& path) {
  const std::string text = read_file(path);
  std::istringstream lines(text);
  std::string key;
  std::uint64_t value = 0;
  while (lines >> key >> value) {
    if (key == "oom_kill") {
      return value;
    }
  }
  return std::nullopt;
}

/// Where a cgroup of ours is seen: `mount_point` shows the hierarchy from
/// `root`, and our cgroup is `path` within the hierarchy.
std::string cgroup_dir(const std::string& mount_point, const std::string& root,
                       const std::string& path) {
  std::string inside = path;
  if (root != "/" && inside.compare(0, root.size(), root) == 0) {
    inside.erase(0, root.size());
  }
  return mount_point + inside;
}

/// This process's cgroup counter files: v2 memory.events, v1
/// memory.oom_control.
std::vector<std::string> cgroup_counter_files() {
  std::string v2_path;
  std::string v1_path;
  {
    std::istringstream lines(read_file("/proc/self/cgroup"));
    std::string line;
    while (std::getline(lines, line)) {
      // hierarchy-id:controllers:path
      const auto first = line.find(':');
      const auto second = line.find(':', first + 1);
      if (first == std::string::npos || second == std::string::npos) {
        continue;
      }
      const std::string controllers =
          line.substr(first + 1, second - first - 1);
      const std::string path = line.substr(second + 1);
      if (line.compare(0, first, "0") == 0 && controllers.empty()) {
        v2_path = path;
      }
      std::istringstream names(controllers);
      std::string name;
      while (std::getline(names, name, ',')) {
        if (name == "memory") {
          v1_path = path;
        }
      }
    }
  }
  std::vector<std::string> files;
  std::istringstream lines(read_file("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(lines, line)) {
    // id parent major:minor root mount-point options ... - type source super
    std::istringstream fields(line);
    std::string id;
    std::string parent;
    std::string device;
    std::string root;
    std::string mount_point;
    fields >> id >> parent >> device >> root >> mount_point;
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) {
      continue;
    }
    std::istringstream tail(line.substr(dash + 3));
    std::string type;
    std::string source;
    std::string super_options;
    tail >> type >> source >> super_options;
    if (type == "cgroup2" && !v2_path.empty()) {
      files.push_back(cgroup_dir(mount_point, root, v2_path) +
                      "/memory.events");
    } else if (type == "cgroup" && !v1_path.empty() &&
               ("," + super_options + ",").find(",memory,") !=
                   std::string::npos) {
      files.push_back(cgroup_dir(mount_point, root, v1_path) +
                      "/memory.oom_control");
    }
  }
  return files;
}

/// The counters one process watches, and what it saw of them last.
struct oom_watch {
  explicit oom_watch(pid_t o) : owner(o) {
    try {
      std::vector<std::string> candidates = cgroup_counter_files();
      candidates.emplace_back("/proc/vmstat");
      for (std::string& file : candidates) {
        if (const auto count = oom_kill_count(file)) {  // it exists here
          files.push_back(std::move(file));
          last.push_back(*count);
        }
      }
    } catch (const std::bad_alloc&) {
      files.clear();
      last.clear();
    }
  }

  pid_t owner;
  std::mutex mutex;
  std::vector<std::string> files;
  std::vector<std::uint64_t> last;  // one per file
  std::uint64_t unclaimed = 0;      // kills seen that no death took yet
};

/// Per process: a created process that forks in turn takes its own
/// baseline, and never finds a lock its creator's threads held at the fork.
std::atomic<oom_watch*> the_watch{nullptr};

/// This process's watch, made now (its baseline: the counters now) if it
/// has none yet; nullptr if it cannot be made.
oom_watch* watch() noexcept {
  const pid_t self = this_process();
  oom_watch* current = the_watch.load(std::memory_order_acquire);
  while (current == nullptr || current->owner != self) {
    oom_watch* made = new (std::nothrow) oom_watch(self);
    if (made == nullptr) {
      return nullptr;
    }
    // Our creator's watch, if that is what we found, is left alone.
    if (the_watch.compare_exchange_strong(current, made,
                                          std::memory_order_acq_rel)) {
      return made;
    }
    delete made;  // another thread made one first: `current` is it
  }
  return current;
}

}  // namespace

void oom_watch_start() noexcept {
  (void)watch();
}

bool oom_kill_since_last_look() noexcept {
  oom_watch* w = watch();
  if (w == nullptr) {
    return false;
  }
  try {
    const std::lock_guard lock(w->mutex);
    // The same kill may count in several files (the cgroup's and the
    // machine's): the largest growth is the number of kills.
    std::uint64_t grown = 0;
    for (std::size_t i = 0; i < w->files.size(); ++i) {
      if (const auto now = oom_kill_count(w->files[i])) {
        if (*now > w->last[i]) {
          grown = std::max(grown, *now - w->last[i]);
        }
        w->last[i] = *now;
      }
    }
    w->unclaimed += grown;
    if (w->unclaimed == 0) {
      return false;
    }
    --w->unclaimed;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace pprocess::detail
