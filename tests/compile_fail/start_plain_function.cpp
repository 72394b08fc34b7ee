// Must NOT compile: start runs fn(channel, args...), and a plain function
// does not take the channel (MakeParallel(fn) does).
#include <pprocess/pprocess.hpp>

int twice(int x) {
  return 2 * x;
}

int main() {
  pprocess::Channel channel = pprocess::start(twice, 1);
  (void)channel.receive<int>();
}
