// SPDX-License-Identifier: MIT
//
// An outside program: built against the *installed* pprocess (CMake package
// or pkg-config) with only the names of DESIGN.md, it uses every feature of
// the core library and exits non-zero if any of them misbehaves.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <pprocess/pprocess.hpp>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "consumer: FAILED: %s\n", what);
    ++failures;
  }
}

int square(int x) {
  return x * x;
}

class Sum : public pprocess::Exchange {
 public:
  using Exchange::Exchange;
  int total = 0;
  void store_data(pprocess::Channel& channel) override {
    total += channel.receive<int>();
  }
};

}  // namespace

int main() {
  // Low level: create, start, exit, typed channels both ways.
  pprocess::Channel created = pprocess::create();
  if (created.pid() == 0) {
    const auto word = created.receive<std::string>();
    created.send(std::map<std::string, int>{{word, 1}});
    pprocess::exit(created);
  }
  created.send(std::string("hello"));
  check(created.receive<std::map<std::string, int>>().at("hello") == 1,
        "create/send/receive");

  auto started =
      pprocess::start([](pprocess::Channel& ch,
                         int n) { ch.send(std::vector<double>(n, 0.5)); },
                      3);
  check(started.receive<std::vector<double>>().size() == 3, "start");

  // Errors travel.
  auto failing = pprocess::start(
      [](pprocess::Channel&) { throw std::out_of_range("too far"); });
  try {
    (void)failing.receive<int>();
    check(false, "RemoteError expected");
  } catch (const pprocess::RemoteError& e) {
    check(e.type_name() == "std::out_of_range" &&
              std::string(e.what()) == "too far",
          "RemoteError names the type and message");
  }
  try {
    auto typed = pprocess::start([](pprocess::Channel& ch) { ch.send(1); });
    (void)typed.receive<std::string>();
    check(false, "ChannelError expected");
  } catch (const pprocess::ChannelError&) {
  }
  auto dying = pprocess::start([](pprocess::Channel&) { std::abort(); });
  try {
    (void)dying.receive<int>();
    check(false, "ProcessError expected");
  } catch (const pprocess::ProcessError& e) {
    check(e.signal() == 6 && e.pid() == dying.pid(), "ProcessError signal");
  }

  // Exchange, Map, Queue, manage, MakeParallel, MakeReusable, pmap.
  Sum sum({.limit = 2});
  for (int i = 1; i <= 4; ++i) {
    sum.start([](pprocess::Channel& ch, int v) { ch.send(v); }, i);
  }
  sum.finish();
  check(sum.total == 10, "Exchange::store_data");

  pprocess::Map<int> map({.limit = 2});
  auto calc = map.manage(pprocess::MakeParallel(square));
  for (int i = 0; i < 5; ++i) {
    calc(i);
  }
  check(map.slice(0, 5) == std::vector<int>{0, 1, 4, 9, 16}, "Map::slice");

  pprocess::Map<int> reused({.limit = 2, .reuse = true});
  auto again = reused.manage(pprocess::MakeReusable(square));
  for (int i = 0; i < 6; ++i) {
    again(i);
  }
  check(reused[5] == 25, "MakeReusable");

  pprocess::Queue<std::tuple<int, int>> queue({.limit = 2, .continuous = true});
  auto rows = queue.manage([](pprocess::Channel& ch, int i) {
    for (int j = 0; j < 3; ++j) {
      ch.send(std::tuple{i, j});
    }
  });
  rows(0);
  rows(1);
  int received = 0;
  for (auto [i, j] : queue) {
    received += 1 + 0 * (i + j);
  }
  check(received == 6, "continuous Queue");

  auto squares = pprocess::pmap(square, std::vector{1, 2, 3}, {.limit = 2});
  int total = 0;
  for (int s : squares) {
    total += s;
  }
  check(total == 14, "pmap");

  pprocess::Map<int> inline_map({.limit = 2});
  for (int i = 0; i < 3; ++i) {
    if (auto ch = inline_map.create()) {
      ch->send(i * 10);
      pprocess::exit(*ch);
    }
  }
  check(inline_map[2] == 20, "Exchange::create");

  // Zero-copy bulk results.
  auto arrays = pprocess::pmap(
      [](int n) { return pprocess::SharedArray<double>(1000, n); },
      std::vector{1, 2}, {.limit = 2});
  check(arrays[1][999] == 2.0 && arrays[1].size() == 1000, "SharedArray");

  // Background processes, collected through their socket.
  char dir_template[] = "/tmp/pprocess-consumer-XXXXXX";
  if (const char* dir = ::mkdtemp(dir_template)) {
    const std::string address = std::string(dir) + "/task.socket";
    pprocess::BackgroundCallable task(address, pprocess::MakeParallel(square));
    task(9);
    int collected = 0;
    for (int value : pprocess::BackgroundQueue<int>(address)) {
      collected = value;
    }
    check(collected == 81, "BackgroundCallable/BackgroundQueue");

    pprocess::PersistentQueue<int> persistent;
    persistent.start(address, [](pprocess::Channel& ch) { ch.send(5); });
    int started = 0;
    for (int value : persistent) {
      started = value;
    }
    check(started == 5, "PersistentQueue::start");
    (void)::rmdir(dir);
  } else {
    check(false, "mkdtemp");
  }

  pprocess::waitall();
  check(pprocess::get_number_of_cores() >= 1, "get_number_of_cores");

  if (failures == 0) {
    std::puts("consumer: all features work");
  }
  return failures == 0 ? 0 : 1;
}
