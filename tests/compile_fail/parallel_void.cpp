// Must NOT compile: MakeParallel sends the function's result, so the
// function must return one.
#include <pprocess/pprocess.hpp>

void nothing(int) {}

int main() {
  pprocess::Map<int> results;
  auto call = results.manage(pprocess::MakeParallel(nothing));
  call(1);
}
