#include "pprocess/channel.hpp"

#include <gtest/gtest.h>

#include <pprocess/pprocess.hpp>

TEST(ChannelTest, StartSendsValueBack) {
  auto ch =
      pprocess::start([](pprocess::Channel& c, int n) { c.send(n * n); }, 7);
  EXPECT_GT(ch.pid(), 0);
  EXPECT_EQ(ch.receive<int>(), 49);
}
