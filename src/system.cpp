// SPDX-License-Identifier: MIT
#include "pprocess/system.hpp"

#include <sched.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

#include <pprocess/detail/child.hpp>
#include <pprocess/exchange.hpp>

namespace pprocess {

void waitall() {
  // Kept (reusable) processes wait for calls that will never come while we
  // wait for them: tell them to end once their current call is done.
  detail::release_kept_processes();
  detail::reap_all();
}

unsigned get_number_of_cores() {
  // Each online CPU names the CPUs that share its core; distinct lists are
  // distinct physical cores.
  std::set<std::string> cores;
  const long configured = ::sysconf(_SC_NPROCESSORS_CONF);
  for (long cpu = 0; cpu < configured; ++cpu) {
    const std::string base =
        "/sys/devices/system/cpu/cpu" + std::to_string(cpu);
    std::ifstream online(base + "/online");
    std::string state;
    if (online && std::getline(online, state) && state == "0") {
      continue;
    }
    std::ifstream siblings(base + "/topology/core_cpus_list");
    if (!siblings) {
      siblings.open(base + "/topology/thread_siblings_list");
    }
    std::string list;
    if (siblings && std::getline(siblings, list)) {
      std::ifstream package(base + "/topology/physical_package_id");
      std::string package_id;
      std::getline(package, package_id);
      cores.insert(package_id + ":" + list);
    }
  }
  if (!cores.empty()) {
    return static_cast<unsigned>(cores.size());
  }
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<unsigned>(online) : 1U;
}

std::size_t available_processors() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) {
      return static_cast<std::size_t>(count);
    }
  }
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<std::size_t>(online) : 1U;
}

}  // namespace pprocess
