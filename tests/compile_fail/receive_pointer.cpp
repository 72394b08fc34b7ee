// Must NOT compile: an address means nothing in another process.
#include <pprocess/pprocess.hpp>

int main() {
  pprocess::Channel channel = pprocess::create();
  (void)channel.receive<int*>();
}
