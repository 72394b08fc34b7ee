// Must NOT compile: Exchange::start runs fn(channel, args...), and a plain
// function does not take the channel (MakeParallel(fn) does).
#include <pprocess/pprocess.hpp>

int twice(int x) {
  return 2 * x;
}

int main() {
  pprocess::Exchange exchange;
  exchange.start(twice, 1);
}
