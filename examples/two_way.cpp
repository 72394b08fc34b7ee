// SPDX-License-Identifier: MIT
//
// A conversation between a creator and the process it created (twin of
// pprocess's tests/two_way.py). The created process sends a number; the
// creator answers from store_data with that number minus one; the created
// process sends the answer back, and so on until the answer is 0: 20 round
// trips from 20. An exchange reads a channel to its end, so store_data is
// called for every value the process sends, not only the first.
//
// Unlike the tutorial's programs, it takes no options and prints no grid:
// it prints each round, then the number of round trips, and exits with
// status 1 if any round is missing.

#include <iostream>  // std::cout, std::cerr
#include <vector>    // std::vector

// The library: its one umbrella header brings in all of pprocess.
#include <pprocess/pprocess.hpp>  // pprocess::Exchange, Channel

#include "example_support.hpp"  // examples::Stopwatch

namespace {

// The number the created process starts from.
constexpr int start_value = 20;

// An exchange that answers each value with that value minus one.
class MyExchange : public pprocess::Exchange {
 public:
  using pprocess::Exchange::Exchange;

  // Called in this process for each value the created process sends.
  void store_data(pprocess::Channel& ch) override {
    const int data = ch.receive<int>();
    heard.push_back(data);
    ch.send(data - 1);
    std::cout << "Received " << data << ", sent " << data - 1 << '\n';
  }

  // What the created process said, in order.
  std::vector<int> heard;
};

// Runs in the created process: sends 'data' and waits for the answer, until
// the answer is 0. Then it returns, and its process ends.
void child(pprocess::Channel& ch, int data) {
  while (data != 0) {
    ch.send(data);
    data = ch.receive<int>();
  }
}

}  // namespace

int main() {
  const examples::Stopwatch t;

  // One process is enough: it talks, we answer.
  MyExchange exchange({.limit = 1});

  // Start the conversation.
  exchange.start(child, start_value);

  // Answer until the created process ends.
  exchange.finish();

  // Check the conversation: 20, 19, ..., 1.
  std::vector<int> expected;
  for (int v = start_value; v > 0; --v) {
    expected.push_back(v);
  }
  if (exchange.heard != expected) {
    std::cerr << "two_way: expected " << expected.size()
              << " round trips, heard " << exchange.heard.size() << '\n';
    return 1;
  }
  std::cout << exchange.heard.size() << " round trips\n";

  t.print_time_taken();
}
