// Must NOT compile: a Map<int> receives ints, and the managed function
// returns a std::string, which does not convert to int.
#include <string>

#include <pprocess/pprocess.hpp>

int main() {
  pprocess::Map<int> results;
  auto call = results.manage(
      pprocess::MakeParallel([](int) { return std::string("x"); }));
  call(1);
}
