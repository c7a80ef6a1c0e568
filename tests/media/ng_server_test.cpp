// The ng control transport over a real loopback UDP socket: an ng_server on port 0 in a thread,
// a plain POSIX socket as the client, every wait bounded.

#include "toneguard/media/ng_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace toneguard::media {
namespace {

class test_handler final : public ng_handler {
 public:
  bencode_value handle(const ng_request& request) override {
    ++calls;
    if (request.call_id() == "throw") throw std::runtime_error("boom");
    bencode_dictionary extra;
    extra.insert("call-id", std::string(request.call_id().value_or("")));
    extra.insert("n", static_cast<std::int64_t>(calls.load()));
    return ng_ok_reply(extra);
  }
  std::atomic<int> calls{0};
};

// A UDP client socket on loopback whose receives give up after `timeout_ms`.
class udp_client {
 public:
  udp_client(int family, std::uint16_t server_port, int timeout_ms = 2000) : family_(family) {
    fd_ = ::socket(family, SOCK_DGRAM, 0);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::memset(&to_, 0, sizeof to_);
    if (family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&to_);
      a->sin_family = AF_INET;
      a->sin_port = htons(server_port);
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      to_len_ = sizeof(sockaddr_in);
    } else {
      auto* a = reinterpret_cast<sockaddr_in6*>(&to_);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(server_port);
      a->sin6_addr = in6addr_loopback;
      to_len_ = sizeof(sockaddr_in6);
    }
  }
  ~udp_client() { ::close(fd_); }
  udp_client(const udp_client&) = delete;
  udp_client& operator=(const udp_client&) = delete;

  void send(std::string_view datagram) {
    ASSERT_EQ(::sendto(fd_, datagram.data(), datagram.size(), 0,
                       reinterpret_cast<const sockaddr*>(&to_), to_len_),
              static_cast<ssize_t>(datagram.size()));
  }
  std::optional<std::string> receive() {
    std::string buf(70000, '\0');
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }
  std::optional<std::string> ask(std::string_view datagram) {
    send(datagram);
    return receive();
  }

 private:
  int family_;
  int fd_ = -1;
  sockaddr_storage to_{};
  socklen_t to_len_ = 0;
};

// The reply dictionary of `datagram` when it is `<cookie> <bencode>`.
bencode_value reply_body(const std::string& datagram, std::string_view cookie) {
  EXPECT_EQ(datagram.substr(0, cookie.size() + 1), std::string(cookie) + " ");
  auto decoded = decode_bencode(std::string_view(datagram).substr(cookie.size() + 1));
  EXPECT_TRUE(decoded.ok()) << datagram;
  return decoded.ok() ? decoded.value() : bencode_value{};
}

class ng_server_test : public ::testing::Test {
 protected:
  void start(const std::string& address = "127.0.0.1") {
    auto opened = ng_server::open(ip_endpoint{address, 0}, handler_);
    ASSERT_TRUE(opened.ok()) << opened.error_message();
    server_ = std::move(opened).value();
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  std::uint16_t port() const { return server_->local_port(); }

  test_handler handler_;
  std::unique_ptr<ng_server> server_;
  std::thread thread_;
};

TEST_F(ng_server_test, binds_port_zero_to_a_real_port) {
  start();
  EXPECT_NE(port(), 0);
  EXPECT_EQ(server_->local_address(), "127.0.0.1");
}

TEST_F(ng_server_test, ping_gets_pong_with_the_cookie) {
  start();
  udp_client client(AF_INET, port());
  const auto reply = client.ask("abc123 d7:command4:pinge");
  ASSERT_TRUE(reply) << "no reply within 2 s";
  EXPECT_EQ(*reply, "abc123 d6:result4:ponge");
  EXPECT_EQ(handler_.calls, 0);
  const auto stats = server_->stats();
  EXPECT_EQ(stats.requests[static_cast<std::size_t>(ng_command::ping)], 1u);
  EXPECT_EQ(stats.results_ok[static_cast<std::size_t>(ng_command::ping)], 1u);
}

TEST_F(ng_server_test, malformed_bencode_gets_an_error_with_a_reason) {
  start();
  udp_client client(AF_INET, port());
  const auto reply = client.ask("c1 d7:command4:pin");
  ASSERT_TRUE(reply);
  const auto body = reply_body(*reply, "c1");
  ASSERT_NE(body.string_at("result"), nullptr);
  EXPECT_EQ(*body.string_at("result"), "error");
  ASSERT_NE(body.string_at("error-reason"), nullptr);
  EXPECT_FALSE(body.string_at("error-reason")->empty());
  EXPECT_EQ(server_->stats().errors[static_cast<std::size_t>(ng_error_kind::malformed_bencode)],
            1u);

  const auto unknown = client.ask("c2 d7:command5:dancee");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(*reply_body(*unknown, "c2").string_at("result"), "error");
  EXPECT_EQ(server_->stats().errors[static_cast<std::size_t>(ng_error_kind::unknown_command)], 1u);
}

TEST_F(ng_server_test, commands_go_to_the_handler_and_are_counted_by_result) {
  start();
  udp_client client(AF_INET, port());
  const auto reply = client.ask("o1 d7:command5:offer7:call-id2:c1e");
  ASSERT_TRUE(reply);
  const auto body = reply_body(*reply, "o1");
  EXPECT_EQ(*body.string_at("result"), "ok");
  EXPECT_EQ(*body.string_at("call-id"), "c1");
  EXPECT_EQ(handler_.calls, 1);

  const auto failed = client.ask("o2 d7:command6:delete7:call-id5:throwe");
  ASSERT_TRUE(failed);
  EXPECT_EQ(*reply_body(*failed, "o2").string_at("result"), "error");
  const auto stats = server_->stats();
  EXPECT_EQ(stats.requests[static_cast<std::size_t>(ng_command::offer)], 1u);
  EXPECT_EQ(stats.results_ok[static_cast<std::size_t>(ng_command::offer)], 1u);
  EXPECT_EQ(stats.requests[static_cast<std::size_t>(ng_command::delete_call)], 1u);
  EXPECT_EQ(stats.results_error[static_cast<std::size_t>(ng_command::delete_call)], 1u);
  EXPECT_EQ(stats.handler_failures, 1u);
}

TEST_F(ng_server_test, retransmitted_cookie_gets_the_identical_cached_reply) {
  start();
  udp_client client(AF_INET, port());
  const std::string request = "dup1 d7:command5:offer7:call-id2:c9e";
  const auto first = client.ask(request);
  const auto second = client.ask(request);
  ASSERT_TRUE(first);
  ASSERT_TRUE(second);
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(handler_.calls, 1);
  EXPECT_EQ(server_->stats().cached_replies, 1u);
  // A new cookie executes again.
  const auto third = client.ask("dup2 d7:command5:offer7:call-id2:c9e");
  ASSERT_TRUE(third);
  EXPECT_EQ(handler_.calls, 2);
}

TEST_F(ng_server_test, datagram_without_a_cookie_is_dropped_and_counted) {
  start();
  udp_client client(AF_INET, port(), 300);
  client.send("d7:command4:pinge");
  EXPECT_FALSE(client.receive()) << "a datagram without a cookie must not be answered";
  client.send(" d7:command4:pinge");
  EXPECT_FALSE(client.receive());
  // The server is still answering, and it counted both (it handles datagrams in order).
  const auto reply = client.ask("alive d7:command4:pinge");
  ASSERT_TRUE(reply);
  const auto stats = server_->stats();
  EXPECT_EQ(stats.dropped_without_cookie, 2u);
  EXPECT_EQ(stats.errors[static_cast<std::size_t>(ng_error_kind::malformed_datagram)], 2u);
  EXPECT_EQ(stats.datagrams, 3u);
}

TEST_F(ng_server_test, largest_datagram_is_answered) {
  start();
  udp_client client(AF_INET, port());
  // A request of about 60 KiB: one long unknown key, which is ignored.
  const std::string filler(60000, 'x');
  const std::string request =
      "big d7:command4:ping6:filler" + std::to_string(filler.size()) + ":" + filler + "e";
  const auto reply = client.ask(request);
  ASSERT_TRUE(reply);
  EXPECT_EQ(*reply, "big d6:result4:ponge");
}

TEST_F(ng_server_test, answers_on_ipv6_loopback) {
  auto opened = ng_server::open(ip_endpoint{"::1", 0}, handler_);
  if (!opened.ok()) GTEST_SKIP() << "no IPv6 loopback: " << opened.error_message();
  server_ = std::move(opened).value();
  thread_ = std::thread([this] { server_->run(); });
  EXPECT_EQ(server_->local_address(), "::1");
  udp_client client(AF_INET6, port());
  const auto reply = client.ask("v6 d7:command4:pinge");
  ASSERT_TRUE(reply);
  EXPECT_EQ(*reply, "v6 d6:result4:ponge");
}

TEST_F(ng_server_test, stop_ends_run_promptly) {
  start();
  const auto before = std::chrono::steady_clock::now();
  server_->stop();
  thread_.join();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2));
}

TEST_F(ng_server_test, bind_failure_names_the_address) {
  start();
  test_handler other;
  auto second = ng_server::open(ip_endpoint{"127.0.0.1", port()}, other);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error_message().find("127.0.0.1 port " + std::to_string(port())),
            std::string::npos)
      << second.error_message();
}

}  // namespace
}  // namespace toneguard::media
