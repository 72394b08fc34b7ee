// Must NOT compile: a Queue<int> receives ints, and the reusable function
// returns a std::string, which does not convert to int.
#include <string>

#include <pprocess/pprocess.hpp>

int main() {
  pprocess::Queue<int> results({.reuse = true});
  auto call = results.manage(
      pprocess::MakeReusable([](int) { return std::string("x"); }));
  call(1);
}
