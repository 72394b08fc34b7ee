// Must NOT compile: the callable takes a std::string, and the elements of
// the sequence are ints.
#include <string>
#include <vector>

#include <pprocess/pprocess.hpp>

int main() {
  auto sizes = pprocess::pmap([](std::string s) { return s.size(); },
                              std::vector<int>{1, 2});
  (void)sizes;
}
