// The relay worker over real UDP sockets on loopback: symmetric latching, batches, and the
// caller's packets masked on their way to the agent.

#include "toneguard/media/relay_worker.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "support/digit_trace.h"
#include "support/loopback.h"
#include "toneguard/dsp/dtmf_leak_scan.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/media/caller_stream.h"
#include "toneguard/media/rtp.h"

namespace toneguard::media {
namespace {

using peer = ::toneguard::testing::udp_peer;

// A received datagram as bytes.
std::span<const std::uint8_t> bytes(const std::string& datagram) {
  return {reinterpret_cast<const std::uint8_t*>(datagram.data()), datagram.size()};
}

std::vector<std::uint8_t> pcmu_packet(std::uint16_t seq, std::uint32_t ts,
                                      std::span<const std::uint8_t> codes) {
  std::vector<std::uint8_t> p(12 + codes.size());
  p[0] = 0x80;
  p[1] = 0;
  p[2] = static_cast<std::uint8_t>(seq >> 8);
  p[3] = static_cast<std::uint8_t>(seq);
  for (int i = 0; i < 4; ++i) p[4 + i] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
  p[8] = 0xCA;
  p[9] = 0xFE;
  std::copy(codes.begin(), codes.end(), p.begin() + 12);
  return p;
}

using recorder = ::toneguard::testing::digit_trace;

// Every test runs on both backends: io_uring (the default where the kernel has it) and epoll.
class relay_worker_backends : public ::testing::TestWithParam<relay_backend> {
 protected:
  void SetUp() override {
    if (GetParam() == relay_backend::io_uring &&
        relay_worker(relay_backend::automatic).backend() != relay_backend::io_uring) {
      GTEST_SKIP() << "io_uring is not available here (kernel 6.1+, io_uring not disabled)";
    }
  }
};

// The caller_stream as the caller side's filter, as the media plane wires it.
struct stream_filter final : packet_filter {
  explicit stream_filter(caller_stream& s) : stream(s) {}
  bool filter(std::span<std::uint8_t> buffer, std::size_t& length) noexcept override {
    return stream.process(buffer, length) == caller_packet::forward;
  }
  caller_stream& stream;
};

relay_side side_with(packet_filter* filter = nullptr,
                     std::optional<udp_endpoint> remote = std::nullopt) {
  relay_side s;
  s.filter = filter;
  s.remote = remote;
  return s;
}

// An agent side whose address is given (no latching needed): `agent` on loopback.
relay_side agent_at(const peer& agent) {
  return side_with(nullptr, udp_endpoint::from("127.0.0.1", agent.port()).value());
}

TEST_P(relay_worker_backends, relays_both_ways_after_latching_and_masks_the_callers_keys) {
  recorder sink;
  caller_stream_config config;
  config.masking = true;
  caller_stream stream(config, dsp::default_dtmf_receiver_settings(), sink, "call-1");
  stream_filter filter(stream);
  relay_worker worker(GetParam());
  const auto id = worker.add_pair("127.0.0.1", side_with(&filter), side_with());
  ASSERT_TRUE(id.ok()) << id.error_message();
  const auto [caller_port, agent_port] = *worker.ports(id.value());
  peer caller, agent;

  // Nobody knows the agent yet: the caller's first packet is latched, and dropped.
  std::vector<std::uint8_t> silence(160, 0xFF);
  caller.send_to(caller_port, pcmu_packet(1, 0, silence));
  worker.poll_once(1000);
  EXPECT_EQ(worker.stats().no_remote, 1u);
  // The agent speaks first on its side: latched; its packet reaches the caller untouched.
  const auto hello = pcmu_packet(500, 0, silence);
  agent.send_to(agent_port, hello);
  worker.poll_once(1000);
  const auto back = caller.receive(1000);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, std::string(hello.begin(), hello.end()));

  // A second of caller audio with a key in it, sent in bursts so batches form.
  dsp::signal_builder b;
  b.tone(440, 300, -20).dtmf('2', 100, {-8.0f}).tone(440, 600, -20);
  std::vector<std::int16_t> pcm = b.pcm16();
  std::vector<std::uint8_t> codes(pcm.size());
  dsp::g711_encode(dsp::g711_law::ulaw, pcm, codes);
  const std::size_t packets = codes.size() / 160;
  std::vector<float> heard;
  std::size_t received = 0;
  for (std::size_t i = 0; i < packets; ++i) {
    caller.send_to(caller_port, pcmu_packet(static_cast<std::uint16_t>(2 + i),
                                            static_cast<std::uint32_t>(160 * (i + 1)),
                                            std::span(codes).subspan(160 * i, 160)));
    if (i % 10 == 9 || i + 1 == packets) {
      worker.poll_once(100);
      while (auto got = agent.receive(received + 1 < packets ? 200 : 50)) {
        const auto v = parse_rtp(bytes(*got));
        ASSERT_TRUE(v.ok());
        EXPECT_EQ(v.view.sequence, 2 + received);
        std::vector<float> decoded(v.view.payload.size());
        dsp::g711_decode(dsp::g711_law::ulaw, v.view.payload, decoded);
        heard.insert(heard.end(), decoded.begin(), decoded.end());
        if (++received == i + 1) break;
      }
    }
  }
  EXPECT_EQ(received, packets);
  EXPECT_EQ(sink.trace(), "2+2-");  // start and end of one press
  EXPECT_EQ(stream.leaked_samples(), 0);
  EXPECT_TRUE(dsp::scan_for_dtmf_leaks(heard).empty());
  EXPECT_LT(worker.stats().receive_calls, worker.stats().received);  // batched

  worker.remove_pair(id.value());
  caller.send_to(caller_port, pcmu_packet(9999, 0, silence));
  worker.poll_once(50);
  EXPECT_FALSE(agent.receive(50).has_value());
}

TEST_P(relay_worker_backends, a_given_remote_needs_no_latching) {
  relay_worker worker(GetParam());
  peer caller, agent;
  // trust-address: the agent's address comes from its SDP, so the caller's first packet goes
  // through at once.
  const auto id = worker.add_pair("127.0.0.1", side_with(), agent_at(agent));
  ASSERT_TRUE(id.ok()) << id.error_message();
  const std::vector<std::uint8_t> first{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF};
  caller.send_to(worker.ports(id.value())->first, first);
  worker.poll_once(1000);
  const auto got = agent.receive(1000);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, std::string(first.begin(), first.end()));
  EXPECT_EQ(worker.stats().no_remote, 0u);
}

TEST_P(relay_worker_backends, bad_addresses_and_taken_ports_are_named) {
  relay_worker worker(GetParam());
  const auto bad = worker.add_pair("not-an-address", side_with(), side_with());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error_message().find("not-an-address"), std::string::npos) << bad.error_message();
  const auto first = worker.add_pair("127.0.0.1", side_with(), side_with());
  ASSERT_TRUE(first.ok());
  const auto taken = worker.ports(first.value())->first;
  relay_side at_taken;
  at_taken.port = taken;
  const auto clash = worker.add_pair("127.0.0.1", at_taken, side_with());
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.error_message().find(std::to_string(taken)), std::string::npos)
      << clash.error_message();
  const auto v6 = udp_endpoint::from("::1", 4000);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6.value().port(), 4000);
}

// A side whose SDP named one address but whose media comes from another (NAT): symmetric RTP
// sends to where the media comes from; asymmetric keeps the SDP's address.
TEST_P(relay_worker_backends, latching_follows_the_media_unless_asymmetric) {
  peer caller, agent, sdp_agent;
  const std::vector<std::uint8_t> packet{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF};
  for (const bool symmetric : {true, false}) {
    relay_worker worker(GetParam());
    relay_side caller_side =
        side_with(nullptr, udp_endpoint::from("127.0.0.1", caller.port()).value());
    relay_side agent_side =
        side_with(nullptr, udp_endpoint::from("127.0.0.1", sdp_agent.port()).value());
    agent_side.latch = symmetric;
    const auto id = worker.add_pair("127.0.0.1", caller_side, agent_side);
    ASSERT_TRUE(id.ok());
    const auto [caller_port, agent_port] = *worker.ports(id.value());
    agent.send_to(agent_port, packet);  // from the agent's real address
    worker.poll_once(1000);
    ASSERT_TRUE(caller.receive(1000).has_value());
    caller.send_to(caller_port, packet);
    worker.poll_once(1000);
    EXPECT_EQ(agent.receive(symmetric ? 1000 : 100).has_value(), symmetric);
    EXPECT_EQ(sdp_agent.receive(symmetric ? 100 : 1000).has_value(), !symmetric);
    const auto remotes = worker.remotes(id.value());
    ASSERT_TRUE(remotes && remotes->second);
    EXPECT_EQ(remotes->second->port(), symmetric ? agent.port() : sdp_agent.port());
  }
}

// Strict source: once a side is latched, a third party sending to its port is dropped and
// counted; without it, such packets are relayed (rtpengine's behaviour) but do not re-latch.
TEST_P(relay_worker_backends, strict_source_drops_media_from_anyone_else) {
  peer caller, agent, intruder;
  const std::vector<std::uint8_t> packet{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF};
  for (const bool strict : {true, false}) {
    relay_worker worker(GetParam());
    relay_side caller_side = side_with();
    caller_side.strict_source = strict;
    const auto id = worker.add_pair("127.0.0.1", caller_side, agent_at(agent));
    ASSERT_TRUE(id.ok());
    const auto caller_port = worker.ports(id.value())->first;
    caller.send_to(caller_port, packet);
    worker.poll_once(1000);
    ASSERT_TRUE(agent.receive(1000).has_value());
    intruder.send_to(caller_port, packet);
    worker.poll_once(1000);
    EXPECT_EQ(agent.receive(strict ? 100 : 1000).has_value(), !strict);
    EXPECT_EQ(worker.stats().wrong_source, strict ? 1u : 0u);
    EXPECT_EQ(worker.remotes(id.value())->first->port(), caller.port());  // never re-latched
  }
}

TEST_P(relay_worker_backends, activity_records_when_each_side_was_last_heard) {
  relay_worker worker(GetParam());
  peer caller, agent;
  const auto id = worker.add_pair("127.0.0.1", side_with(), agent_at(agent));
  ASSERT_TRUE(id.ok());
  auto before = worker.activity(id.value());
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->caller_last_ms, -1);
  EXPECT_EQ(before->agent_last_ms, -1);
  EXPECT_EQ(before->last_ms(), before->created_ms);
  const std::vector<std::uint8_t> packet{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF};
  caller.send_to(worker.ports(id.value())->first, packet);
  worker.poll_once(1000);
  const auto after = worker.activity(id.value());
  EXPECT_GE(after->caller_last_ms, before->created_ms);
  EXPECT_EQ(after->agent_last_ms, -1);
  worker.remove_pair(id.value());
  EXPECT_FALSE(worker.activity(id.value()).has_value());
  // The slot is reused by the next pair.
  const auto next = worker.add_pair("127.0.0.1", side_with(), side_with());
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.value(), id.value());
}

// rtcp-mux on the caller's leg only: RTCP the caller multiplexes onto RTP goes to the
// agent's RTCP port, RTP still to its RTP port.
TEST_P(relay_worker_backends, muxed_rtcp_goes_to_the_rtcp_port_of_a_side_that_does_not_mux) {
  peer caller, agent_rtp, agent_rtcp;
  relay_worker worker(GetParam());
  relay_side agent_side =
      side_with(nullptr, udp_endpoint::from("127.0.0.1", agent_rtp.port()).value());
  agent_side.latch = false;
  agent_side.rtcp_remote = udp_endpoint::from("127.0.0.1", agent_rtcp.port()).value();
  const auto id = worker.add_pair("127.0.0.1", side_with(), agent_side);
  ASSERT_TRUE(id.ok());
  const auto caller_port = worker.ports(id.value())->first;
  const std::vector<std::uint8_t> rtp{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF};
  const std::vector<std::uint8_t> receiver_report{0x80, 201, 0, 1, 0, 0, 0, 7};
  caller.send_to(caller_port, rtp);
  caller.send_to(caller_port, receiver_report);
  worker.poll_once(1000);
  const auto got_rtp = agent_rtp.receive(1000);
  ASSERT_TRUE(got_rtp.has_value());
  EXPECT_EQ(*got_rtp, std::string(rtp.begin(), rtp.end()));
  const auto got_rtcp = agent_rtcp.receive(1000);
  ASSERT_TRUE(got_rtcp.has_value());
  EXPECT_EQ(*got_rtcp, std::string(receiver_report.begin(), receiver_report.end()));
  EXPECT_FALSE(agent_rtp.receive(100).has_value());
}

// A socket bound since the offer is adopted: what waited in it is stale and dropped, what
// comes after is relayed.
TEST_P(relay_worker_backends, a_socket_bound_earlier_is_adopted_and_its_stale_datagrams_dropped) {
  peer caller, agent;
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t length = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length);
  const std::uint16_t port = ntohs(a.sin_port);
  const std::vector<std::uint8_t> early{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xEE};
  caller.send_to(port, early);
  ::usleep(20'000);

  relay_worker worker(GetParam());
  relay_side caller_side = side_with();
  caller_side.fd = fd;
  const auto id = worker.add_pair("127.0.0.1", caller_side, agent_at(agent));
  ASSERT_TRUE(id.ok()) << id.error_message();
  EXPECT_EQ(worker.ports(id.value())->first, port);
  EXPECT_EQ(worker.stats().no_remote, 1u);  // the stale one
  const std::vector<std::uint8_t> now{0x80, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF};
  caller.send_to(port, now);
  worker.poll_once(1000);
  const auto got = agent.receive(1000);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, std::string(now.begin(), now.end()));
  EXPECT_FALSE(agent.receive(100).has_value());
}

TEST_P(relay_worker_backends, a_removed_pairs_ports_are_free_at_once_and_its_slot_reused) {
  relay_worker worker(GetParam());
  peer caller, agent;
  const auto first = worker.add_pair("127.0.0.1", side_with(), agent_at(agent));
  ASSERT_TRUE(first.ok()) << first.error_message();
  const auto [caller_port, agent_port] = *worker.ports(first.value());
  const std::vector<std::uint8_t> packet{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF};
  caller.send_to(caller_port, packet);
  worker.poll_once(1000);
  ASSERT_TRUE(agent.receive(1000).has_value());

  // A datagram still on its way when the pair goes must not reach anyone, and the ports must
  // be bindable again at once (the next call may be given them).
  caller.send_to(caller_port, packet);
  worker.remove_pair(first.value());
  relay_side again = side_with();
  again.port = caller_port;
  relay_side again_agent = agent_at(agent);
  again_agent.port = agent_port;
  const auto second = worker.add_pair("127.0.0.1", again, again_agent);
  ASSERT_TRUE(second.ok()) << second.error_message();
  EXPECT_EQ(second.value(), first.value());  // the slot is reused
  worker.poll_once(50);
  EXPECT_FALSE(agent.receive(50).has_value());

  // The new pair in the old slot relays.
  caller.send_to(caller_port, packet);
  for (int i = 0; i < 5 && worker.stats().forwarded < 2; ++i) worker.poll_once(200);
  const auto got = agent.receive(1000);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->size(), packet.size());
}

TEST_P(relay_worker_backends, a_burst_larger_than_the_receive_buffers_is_relayed_whole) {
  // 30 calls send 160 packets each before the worker looks: 4800 datagrams, more than
  // relay_worker::ring_buffers, so an io_uring worker runs out of buffers mid-way and must
  // take up every socket's receiving again once its sends have given buffers back.
  constexpr int pairs = 30;
  constexpr int per_pair = 160;
  static_assert(pairs * per_pair > static_cast<int>(relay_worker::ring_buffers));
  relay_worker worker(GetParam());
  std::vector<std::unique_ptr<peer>> callers, agents;
  std::vector<std::uint16_t> caller_ports;
  for (int i = 0; i < pairs; ++i) {
    callers.push_back(std::make_unique<peer>());
    agents.push_back(std::make_unique<peer>());
    const auto id = worker.add_pair("127.0.0.1", side_with(), agent_at(*agents.back()));
    ASSERT_TRUE(id.ok()) << id.error_message();
    caller_ports.push_back(worker.ports(id.value())->first);
  }
  worker.poll_once(0);  // receives armed
  std::vector<std::uint8_t> packet(172, 0xFF);
  packet[0] = 0x80;
  for (int n = 0; n < per_pair; ++n) {
    for (int i = 0; i < pairs; ++i) {
      packet[2] = static_cast<std::uint8_t>(n >> 8);
      packet[3] = static_cast<std::uint8_t>(n);
      callers[static_cast<std::size_t>(i)]->send_to(caller_ports[static_cast<std::size_t>(i)],
                                                    packet);
    }
  }
  std::vector<int> heard(pairs, 0);
  int total = 0;
  for (int round = 0; round < 400 && total < pairs * per_pair; ++round) {
    worker.poll_once(20);
    for (int i = 0; i < pairs; ++i) {
      while (agents[static_cast<std::size_t>(i)]->receive(0)) {
        ++heard[static_cast<std::size_t>(i)];
        ++total;
      }
    }
  }
  EXPECT_EQ(total, pairs * per_pair);
  for (int i = 0; i < pairs; ++i) EXPECT_EQ(heard[static_cast<std::size_t>(i)], per_pair) << i;
  EXPECT_EQ(worker.stats().received, static_cast<std::uint64_t>(pairs * per_pair));
  EXPECT_EQ(worker.stats().forwarded, static_cast<std::uint64_t>(pairs * per_pair));
  EXPECT_EQ(worker.stats().receive_errors, 0u);
}

TEST_P(relay_worker_backends, an_oversize_datagram_is_dropped_and_counted) {
  relay_worker worker(GetParam());
  peer caller, agent;
  const auto id = worker.add_pair("127.0.0.1", side_with(), agent_at(agent));
  ASSERT_TRUE(id.ok()) << id.error_message();
  const std::uint16_t port = worker.ports(id.value())->first;
  std::vector<std::uint8_t> jumbo(relay_worker::buffer_bytes + 100, 0xFF);
  jumbo[0] = 0x80;
  caller.send_to(port, jumbo);
  const std::vector<std::uint8_t> normal{0x80, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF};
  caller.send_to(port, normal);
  for (int i = 0; i < 5 && worker.stats().forwarded < 1; ++i) worker.poll_once(200);
  const auto got = agent.receive(1000);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->size(), normal.size());  // the jumbo one never came through, cut or whole
  EXPECT_FALSE(agent.receive(50).has_value());
  EXPECT_EQ(worker.stats().oversize, 1u);
  EXPECT_EQ(worker.stats().received, 2u);
}

INSTANTIATE_TEST_SUITE_P(, relay_worker_backends,
                         ::testing::Values(relay_backend::io_uring, relay_backend::epoll),
                         [](const auto& info) { return std::string(backend_name(info.param)); });

}  // namespace
}  // namespace toneguard::media
