// The daemon as an operator runs it: the real build/bin/toneguard as a child process on
// loopback, its stderr read through a pipe, every wait bounded, the child always reaped.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "support/loopback.h"

namespace toneguard {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using ::toneguard::testing::daemon_process;

// The value of `key=` in the first log line holding `msg=<msg>`, or "".
std::string log_value(const std::string& log, const std::string& msg, const std::string& key) {
  const auto line_at = log.find("msg=" + msg);
  if (line_at == std::string::npos) return {};
  const auto line_end = log.find('\n', line_at);
  const std::string line = log.substr(line_at, line_end - line_at);
  const auto at = line.find(" " + key + "=");
  if (at == std::string::npos) return {};
  const auto start = at + key.size() + 2;
  return line.substr(start, line.find(' ', start) - start);
}

std::optional<std::string> ng_ask(std::uint16_t port, const std::string& datagram) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  std::string buf(70000, '\0');
  const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
  ::close(fd);
  if (n < 0) return std::nullopt;
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

TEST(daemon_cli, answers_ping_and_stops_on_sigterm) {
  daemon_process daemon({"--listen-ng", "127.0.0.1:0"});
  ASSERT_TRUE(daemon.wait_for_log("msg=listening", milliseconds(5000))) << daemon.err();
  const std::string port_text = log_value(daemon.err(), "listening", "port");
  EXPECT_EQ(log_value(daemon.err(), "listening", "address"), "127.0.0.1");
  const int port = std::atoi(port_text.c_str());
  ASSERT_GT(port, 0) << daemon.err();
  EXPECT_NE(daemon.err().find("ts="), std::string::npos);
  EXPECT_NE(daemon.err().find("level=info"), std::string::npos);

  const auto pong = ng_ask(static_cast<std::uint16_t>(port), "k1 d7:command4:pinge");
  ASSERT_TRUE(pong) << "no pong within 2 s";
  EXPECT_EQ(*pong, "k1 d6:result4:ponge");

  // An offer without its SDP is refused as rtpengine refuses it.
  const auto offer = ng_ask(static_cast<std::uint16_t>(port), "k2 d7:command5:offer7:call-id1:xe");
  ASSERT_TRUE(offer);
  EXPECT_NE(offer->find("6:result5:error"), std::string::npos) << *offer;
  EXPECT_NE(offer->find("No SDP body in message"), std::string::npos) << *offer;

  const auto before = steady_clock::now();
  daemon.signal(SIGTERM);
  const auto status = daemon.wait_exit(milliseconds(3000));
  ASSERT_TRUE(status) << "did not exit within 3 s after SIGTERM\n" << daemon.err();
  EXPECT_EQ(*status, 0) << daemon.err();
  EXPECT_LT(steady_clock::now() - before, milliseconds(3000));
  EXPECT_NE(daemon.err().find("msg=stopped"), std::string::npos) << daemon.err();
}

TEST(daemon_cli, sigint_also_stops_cleanly) {
  daemon_process daemon({"--listen-ng=127.0.0.1:0", "--log-level", "debug"});
  ASSERT_TRUE(daemon.wait_for_log("msg=listening", milliseconds(5000))) << daemon.err();
  daemon.signal(SIGINT);
  const auto status = daemon.wait_exit(milliseconds(3000));
  ASSERT_TRUE(status) << daemon.err();
  EXPECT_EQ(*status, 0);
  EXPECT_NE(daemon.err().find("msg=stopped"), std::string::npos);
}

TEST(daemon_cli, unknown_option_exits_2_naming_it) {
  daemon_process daemon({"--bogus"});
  const auto status = daemon.wait_exit(milliseconds(3000));
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 2);
  EXPECT_NE(daemon.err().find("'--bogus'"), std::string::npos) << daemon.err();
}

TEST(daemon_cli, unknown_config_key_exits_2_naming_it) {
  const fs::path config =
      fs::temp_directory_path() / ("tg_daemon_cli_" + std::to_string(::getpid()) + ".toml");
  std::ofstream(config) << "listen-ng = \"127.0.0.1:0\"\nlisten_port = 5\n";
  daemon_process daemon({"--config-file", config.string()});
  const auto status = daemon.wait_exit(milliseconds(3000));
  fs::remove(config);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 2);
  EXPECT_NE(daemon.err().find("'listen_port'"), std::string::npos) << daemon.err();
  EXPECT_NE(daemon.err().find(config.string()), std::string::npos) << daemon.err();
}

TEST(daemon_cli, busy_port_fails_start_up_with_status_1) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  daemon_process daemon({"--listen-ng", "127.0.0.1:" + std::to_string(ntohs(a.sin_port))});
  const auto status = daemon.wait_exit(milliseconds(3000));
  ::close(fd);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 1);
  EXPECT_NE(daemon.err().find("level=error"), std::string::npos) << daemon.err();
}

// Payment start-up problems stop the daemon with status 1 and a message naming them.
TEST(daemon_cli, payment_start_up_problems_are_named) {
  daemon_process no_prompts({"--listen-ng", "127.0.0.1:0", "--prompts", "/nonexistent/prompts"});
  auto status = no_prompts.wait_exit(milliseconds(5000));
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 1);
  EXPECT_NE(no_prompts.err().find("/nonexistent/prompts"), std::string::npos) << no_prompts.err();

  daemon_process no_tokens({"--listen-ng", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
                            "--api-token-file", "/nonexistent/tokens"});
  status = no_tokens.wait_exit(milliseconds(5000));
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 1);
  EXPECT_NE(no_tokens.err().find("api-token-file"), std::string::npos) << no_tokens.err();

  daemon_process bad_payment(
      {"--listen-ng", "127.0.0.1:0", "--payment-config", "/nonexistent.toml"});
  status = bad_payment.wait_exit(milliseconds(5000));
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 1);
  EXPECT_NE(bad_payment.err().find("payment config"), std::string::npos) << bad_payment.err();
}

TEST(daemon_cli, help_exits_0) {
  daemon_process daemon({"--help"});
  const auto status = daemon.wait_exit(milliseconds(3000));
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0);
}

}  // namespace
}  // namespace toneguard
