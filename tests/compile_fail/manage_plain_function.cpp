// Must NOT compile: a managed callable runs fn(channel, args...), and a
// plain function does not take the channel (MakeParallel(fn) does).
#include <pprocess/pprocess.hpp>

int twice(int x) {
  return 2 * x;
}

int main() {
  pprocess::Map<int> results;
  auto call = results.manage(twice);
  call(1);
}
