// Ports bound when the offer hands them out: a port someone else holds is skipped, the bound
// sockets wait for the media plane, and released ones are closed.

#include "toneguard/media/bound_ports.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/loopback.h"

namespace toneguard::media {
namespace {

// A socket bound to 127.0.0.1:port, or -1.
int hold(int port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int bound_port(int fd) {
  sockaddr_in a{};
  socklen_t length = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length);
  return ntohs(a.sin_port);
}

TEST(bound_port_allocator, skips_a_pair_another_process_holds_a_port_of) {
  const int base = ::toneguard::testing::free_port_range(8);
  ASSERT_GT(base, 0);
  const int other = hold(base + 1);  // the RTCP port of the first pair
  ASSERT_GE(other, 0);
  bound_port_allocator ports("127.0.0.1", static_cast<std::uint16_t>(base),
                             static_cast<std::uint16_t>(base + 7));
  const auto first = ports.allocate_pair();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, base + 2);
  EXPECT_EQ(ports.skipped(), 1u);
  // Its ports are held by the allocator now: nobody else can take them.
  EXPECT_LT(hold(base + 2), 0);
  EXPECT_LT(hold(base + 3), 0);
  ::close(other);
}

TEST(bound_port_allocator, hands_over_the_sockets_and_closes_what_is_released) {
  const int base = ::toneguard::testing::free_port_range(4);
  ASSERT_GT(base, 0);
  bound_port_allocator ports("127.0.0.1", static_cast<std::uint16_t>(base),
                             static_cast<std::uint16_t>(base + 3));
  const auto pair = ports.allocate_pair();
  ASSERT_TRUE(pair.has_value());
  const int rtp = ports.take(*pair);
  ASSERT_GE(rtp, 0);
  EXPECT_EQ(bound_port(rtp), *pair);
  EXPECT_EQ(ports.take(*pair), -1);  // taken once
  ports.release(*pair);
  // The RTCP socket was never taken: release closed it. The RTP one is the taker's.
  const int rtcp_again = hold(*pair + 1);
  EXPECT_GE(rtcp_again, 0);
  EXPECT_LT(hold(*pair), 0);
  ::close(rtp);
  ::close(rtcp_again);
  EXPECT_EQ(ports.used(), 0u);
}

TEST(bound_port_allocator, runs_out_when_every_pair_is_held_by_others) {
  const int base = ::toneguard::testing::free_port_range(4);
  ASSERT_GT(base, 0);
  const int a = hold(base), b = hold(base + 3);
  bound_port_allocator ports("127.0.0.1", static_cast<std::uint16_t>(base),
                             static_cast<std::uint16_t>(base + 3));
  EXPECT_FALSE(ports.allocate_pair().has_value());
  EXPECT_EQ(ports.used(), 0u);
  ::close(a);
  ::close(b);
  EXPECT_TRUE(ports.allocate_pair().has_value());  // tried again once they are free
}

}  // namespace
}  // namespace toneguard::media
