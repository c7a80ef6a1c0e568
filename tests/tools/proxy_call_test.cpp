// A call through the real daemon: ng offer and answer over UDP, RTP from a caller socket to
// an agent socket through toneguard on loopback, `block DTMF`, and nothing of the key reaches
// the agent; `delete` stops the media.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "support/loopback.h"
#include "support/ng_call.h"
#include "toneguard/dsp/dtmf_leak_scan.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/media/bencode.h"

namespace {

using namespace std::chrono_literals;
using toneguard::testing::daemon_process;
using toneguard::testing::listening_port;
using toneguard::testing::udp_peer;

using toneguard::testing::ng;
using toneguard::testing::pcmu_packet;
using toneguard::testing::reply_port;
using toneguard::testing::sdp_for;

TEST(proxy_call, a_blocked_key_never_reaches_the_agent_through_the_daemon) {
  const int port_min = toneguard::testing::free_port_range(100);
  ASSERT_GT(port_min, 0);
  daemon_process daemon({"--listen-ng", "127.0.0.1:0", "--port-min", std::to_string(port_min),
                         "--port-max", std::to_string(port_min + 99)});
  ASSERT_TRUE(daemon.wait_for_log("msg=listening", 5000ms)) << daemon.err();
  const std::uint16_t ng_port = listening_port(daemon.err());

  udp_peer control, caller, agent, caller_rtcp, agent_rtcp;
  using toneguard::media::bencode_dictionary;
  using toneguard::media::bencode_value;
  bencode_dictionary offer;
  offer.set("command", bencode_value(std::string("offer")));
  offer.set("call-id", bencode_value(std::string("call-1")));
  offer.set("from-tag", bencode_value(std::string("caller-tag")));
  offer.set("sdp", bencode_value(sdp_for(caller.port(), caller_rtcp.port())));
  const std::string offered = ng(control, ng_port, "c1", offer);
  const std::uint16_t agent_facing = reply_port(offered);
  ASSERT_GE(agent_facing, port_min) << offered;

  bencode_dictionary answer;
  answer.set("command", bencode_value(std::string("answer")));
  answer.set("call-id", bencode_value(std::string("call-1")));
  answer.set("from-tag", bencode_value(std::string("caller-tag")));
  answer.set("to-tag", bencode_value(std::string("agent-tag")));
  answer.set("sdp", bencode_value(sdp_for(agent.port(), agent_rtcp.port())));
  const std::string answered = ng(control, ng_port, "c2", answer);
  const std::uint16_t caller_facing = reply_port(answered);
  ASSERT_GE(caller_facing, port_min) << answered;

  bencode_dictionary block;
  block.set("command", bencode_value(std::string("block DTMF")));
  block.set("call-id", bencode_value(std::string("call-1")));
  ASSERT_NE(ng(control, ng_port, "c3", block).find("2:ok"), std::string::npos);
  ASSERT_TRUE(daemon.wait_for_log("msg=relaying", 5000ms)) << daemon.err();

  // A second of caller audio with a key in it, at real time pace (20 ms packets).
  toneguard::dsp::signal_builder b;
  b.tone(440, 200, -20).dtmf('4', 100, {-8.0f}).tone(440, 300, -20);
  const auto pcm = b.pcm16();
  std::vector<std::uint8_t> codes(pcm.size());
  toneguard::dsp::g711_encode(toneguard::dsp::g711_law::ulaw, pcm, codes);
  const std::size_t packets = codes.size() / 160;
  std::vector<float> heard;
  std::size_t received = 0;
  for (std::size_t i = 0; i < packets; ++i) {
    const auto packet = pcmu_packet(static_cast<std::uint16_t>(i),
                                    static_cast<std::uint32_t>(160 * i), &codes[160 * i]);
    caller.send_to(caller_facing, packet.data(), packet.size());
    while (auto got = agent.receive(received < i ? 100 : 20)) {
      ASSERT_EQ(got->size(), 172u);
      std::vector<float> decoded(160);
      toneguard::dsp::g711_decode(
          toneguard::dsp::g711_law::ulaw,
          std::span(reinterpret_cast<const std::uint8_t*>(got->data()) + 12, 160), decoded);
      heard.insert(heard.end(), decoded.begin(), decoded.end());
      ++received;
    }
  }
  while (auto got = agent.receive(200)) ++received;
  EXPECT_EQ(received, packets);
  EXPECT_TRUE(toneguard::dsp::scan_for_dtmf_leaks(heard).empty());
  EXPECT_TRUE(daemon.wait_for_log("msg=\"key released\"", 5000ms) ||
              daemon.wait_for_log("msg=key", 5000ms))
      << daemon.err();
  // The key's value is never logged.
  EXPECT_EQ(daemon.err().find("key=4"), std::string::npos);

  // The agent's packets reach the caller.
  const auto back = pcmu_packet(1, 160, codes.data());
  agent.send_to(agent_facing, back.data(), back.size());
  const auto echoed = caller.receive(2000);
  ASSERT_TRUE(echoed.has_value());
  EXPECT_EQ(echoed->size(), back.size());

  // RTCP on the ports above: a receiver report from the caller reaches the agent's RTCP port.
  const std::vector<std::uint8_t> report{0x80, 201, 0x00, 0x01, 0, 0, 0, 7};
  caller_rtcp.send_to(static_cast<std::uint16_t>(caller_facing + 1), report.data(), report.size());
  const auto relayed_report = agent_rtcp.receive(2000);
  ASSERT_TRUE(relayed_report.has_value());
  EXPECT_EQ(relayed_report->size(), report.size());

  bencode_dictionary del;
  del.set("command", bencode_value(std::string("delete")));
  del.set("call-id", bencode_value(std::string("call-1")));
  ASSERT_NE(ng(control, ng_port, "c4", del).find("2:ok"), std::string::npos);
  ASSERT_TRUE(daemon.wait_for_log("msg=\"call media stopped\"", 5000ms) ||
              daemon.wait_for_log("call media stopped", 5000ms))
      << daemon.err();
  caller.send_to(caller_facing, back.data(), back.size());
  EXPECT_FALSE(agent.receive(200).has_value());
}

// A call nobody sends media on ends after --timeout: the daemon deletes it as an ng delete
// would (ports released, the call gone from query) and counts it.
TEST(proxy_call, a_silent_call_is_ended_by_the_timeout) {
  const int port_min = toneguard::testing::free_port_range(100);
  ASSERT_GT(port_min, 0);
  daemon_process daemon({"--listen-ng", "127.0.0.1:0", "--port-min", std::to_string(port_min),
                         "--port-max", std::to_string(port_min + 99), "--timeout", "1"});
  ASSERT_TRUE(daemon.wait_for_log("msg=listening", 5000ms)) << daemon.err();
  const std::uint16_t ng_port = listening_port(daemon.err());
  udp_peer control, caller, agent;
  using toneguard::media::bencode_dictionary;
  using toneguard::media::bencode_value;
  bencode_dictionary offer;
  offer.set("command", bencode_value(std::string("offer")));
  offer.set("call-id", bencode_value(std::string("quiet-call")));
  offer.set("from-tag", bencode_value(std::string("ft")));
  offer.set("sdp",
            bencode_value(sdp_for(caller.port(), static_cast<std::uint16_t>(caller.port() + 1))));
  ASSERT_GE(reply_port(ng(control, ng_port, "t1", offer)), port_min);
  bencode_dictionary answer;
  answer.set("command", bencode_value(std::string("answer")));
  answer.set("call-id", bencode_value(std::string("quiet-call")));
  answer.set("from-tag", bencode_value(std::string("ft")));
  answer.set("to-tag", bencode_value(std::string("tt")));
  answer.set("sdp",
             bencode_value(sdp_for(agent.port(), static_cast<std::uint16_t>(agent.port() + 1))));
  ASSERT_GE(reply_port(ng(control, ng_port, "t2", answer)), port_min);
  ASSERT_TRUE(daemon.wait_for_log("msg=relaying", 5000ms)) << daemon.err();

  ASSERT_TRUE(daemon.wait_for_log("msg=\"call ended\"", 5000ms)) << daemon.err();
  EXPECT_NE(daemon.err().find("reason=timeout"), std::string::npos) << daemon.err();
  bencode_dictionary query;
  query.set("command", bencode_value(std::string("query")));
  query.set("call-id", bencode_value(std::string("quiet-call")));
  EXPECT_NE(ng(control, ng_port, "t3", query).find("Unknown call-id"), std::string::npos);
  daemon.signal(SIGTERM);
  EXPECT_TRUE(daemon.wait_for_log("msg=stopped", 5000ms)) << daemon.err();
  EXPECT_NE(daemon.err().find("calls-timed-out=1"), std::string::npos) << daemon.err();
}

// Ports of the range that another process holds are skipped at the offer, and the call's
// media flows on the ones the daemon could bind.
TEST(proxy_call, ports_someone_else_holds_are_skipped) {
  const int port_min = toneguard::testing::free_port_range(100);
  ASSERT_GT(port_min, 0);
  udp_peer control, caller, agent;
  // Hold the first pair's RTP port and the second pair's RTCP port.
  std::vector<int> held;
  for (const int port : {port_min, port_min + 3}) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    held.push_back(fd);
  }
  daemon_process daemon({"--listen-ng", "127.0.0.1:0", "--port-min", std::to_string(port_min),
                         "--port-max", std::to_string(port_min + 99)});
  ASSERT_TRUE(daemon.wait_for_log("msg=listening", 5000ms)) << daemon.err();
  const std::uint16_t ng_port = listening_port(daemon.err());
  using toneguard::media::bencode_dictionary;
  using toneguard::media::bencode_value;
  bencode_dictionary offer;
  offer.set("command", bencode_value(std::string("offer")));
  offer.set("call-id", bencode_value(std::string("busy-ports")));
  offer.set("from-tag", bencode_value(std::string("ft")));
  offer.set("sdp",
            bencode_value(sdp_for(caller.port(), static_cast<std::uint16_t>(caller.port() + 1))));
  const std::uint16_t agent_facing = reply_port(ng(control, ng_port, "b1", offer));
  EXPECT_EQ(agent_facing, port_min + 4);
  bencode_dictionary answer;
  answer.set("command", bencode_value(std::string("answer")));
  answer.set("call-id", bencode_value(std::string("busy-ports")));
  answer.set("from-tag", bencode_value(std::string("ft")));
  answer.set("to-tag", bencode_value(std::string("tt")));
  answer.set("sdp",
             bencode_value(sdp_for(agent.port(), static_cast<std::uint16_t>(agent.port() + 1))));
  const std::uint16_t caller_facing = reply_port(ng(control, ng_port, "b2", answer));
  EXPECT_EQ(caller_facing, port_min + 6);
  ASSERT_TRUE(daemon.wait_for_log("msg=relaying", 5000ms)) << daemon.err();
  EXPECT_EQ(daemon.err().find("call media refused"), std::string::npos) << daemon.err();

  std::vector<std::uint8_t> silence(160, 0xFF);
  bool through = false;
  for (int i = 0; i < 20 && !through; ++i) {
    const auto packet = pcmu_packet(static_cast<std::uint16_t>(i), 160u * i, silence.data());
    caller.send_to(caller_facing, packet.data(), packet.size());
    through = agent.receive(50).has_value();
  }
  EXPECT_TRUE(through);
  daemon.signal(SIGTERM);
  EXPECT_TRUE(daemon.wait_for_log("msg=stopped", 5000ms)) << daemon.err();
  EXPECT_NE(daemon.err().find("ports-skipped-in-use=2"), std::string::npos) << daemon.err();
  for (const int fd : held) ::close(fd);
}

}  // namespace
