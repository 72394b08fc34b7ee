// Must NOT compile: a type with neither a cereal serialize() nor trivially
// copyable bytes cannot be sent. tests/CMakeLists.txt checks the message.
#include <string>

#include <pprocess/pprocess.hpp>

struct NotSerializable {
  std::string name;
};

int main() {
  pprocess::Channel channel = pprocess::create();
  channel.send(NotSerializable{"x"});
}
