// The media plane: calls pinned to workers, relayed on every worker, and removed cleanly.

#include "toneguard/media/media_plane.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "support/digit_trace.h"
#include "support/loopback.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/signal_builder.h"

namespace toneguard::media {
namespace {

using peer = ::toneguard::testing::udp_peer;

struct no_keys : digit_sink {
  void on_digit(std::string_view, leg, const digit_event&) override {}
};

call answered_call(const std::string& id, std::uint16_t caller_facing, std::uint16_t agent_facing,
                   const peer& caller, const peer& agent) {
  call c;
  c.call_id = id;
  for (auto [side, local, remote] : {std::tuple{&c.caller, caller_facing, caller.port()},
                                     std::tuple{&c.agent, agent_facing, agent.port()}}) {
    side->local_rtp_port = local;
    side->has_remote = true;
    side->remote_address = network_address::from_string("127.0.0.1").value();
    side->remote_rtp_port = remote;
    side->remote_rtcp_port = static_cast<std::uint16_t>(remote + 1);
    side->remote_rtcp_mux = true;  // one pair per call is enough here
    side->rtcp_mux = true;
    side->g711.push_back({0, g711_law::mu_law});
  }
  return c;
}

TEST(media_plane, calls_are_pinned_to_workers_and_relayed_on_each) {
  no_keys sink;
  media_plane_config config;
  config.workers = 2;
  media_plane plane(config, sink);
  ASSERT_EQ(plane.workers(), 2u);
  // Enough calls that both workers get some.
  std::set<std::size_t> used;
  std::vector<std::string> ids;
  for (int i = 0; used.size() < 2 && i < 64; ++i) {
    ids.push_back("call-" + std::to_string(i));
    used.insert(plane.worker_of(ids.back()));
  }
  ASSERT_EQ(used.size(), 2u);
  // A range nobody holds, 4 ports per call.
  const std::uint16_t base = static_cast<std::uint16_t>(::toneguard::testing::free_port_range(256));
  std::vector<std::unique_ptr<peer>> callers, agents;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    callers.push_back(std::make_unique<peer>());
    agents.push_back(std::make_unique<peer>());
    plane.apply(answered_call(ids[i], static_cast<std::uint16_t>(base + 4 * i),
                              static_cast<std::uint16_t>(base + 4 * i + 2), *callers[i],
                              *agents[i]));
  }
  const std::vector<std::uint8_t> packet{0x80, 0x00, 0x00, 0x01, 0, 0,    0,
                                         0,    0,    0,    0,    9, 0xFF, 0xFF};
  for (std::size_t i = 0; i < ids.size(); ++i) {
    bool through = false;
    // The worker sets the pair up between polls: retry for up to a second.
    for (int attempt = 0; attempt < 20 && !through; ++attempt) {
      callers[i]->send_to(static_cast<std::uint16_t>(base + 4 * i), packet);
      through = agents[i]->receive(50).has_value();
    }
    EXPECT_TRUE(through) << ids[i] << " on worker " << plane.worker_of(ids[i]);
  }
  plane.remove(ids.front());
  ::usleep(100'000);
  callers.front()->send_to(base, packet);
  EXPECT_FALSE(agents.front()->receive(100).has_value());
}

TEST(media_plane, a_call_without_g711_is_still_relayed) {
  no_keys sink;
  media_plane plane(media_plane_config{}, sink);
  peer caller, agent;
  call c = answered_call("opus-call", 0, 0, caller, agent);
  const std::uint16_t base = static_cast<std::uint16_t>(::toneguard::testing::free_port_range(4));
  c.caller.local_rtp_port = base;
  c.agent.local_rtp_port = static_cast<std::uint16_t>(base + 2);
  c.caller.g711.clear();
  c.agent.g711.clear();
  plane.apply(c);
  const std::vector<std::uint8_t> packet{0x80, 111, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3};
  bool through = false;
  for (int attempt = 0; attempt < 20 && !through; ++attempt) {
    caller.send_to(base, packet);
    through = agent.receive(50).has_value();
  }
  EXPECT_TRUE(through);
}

// A call nobody sends media on is reported ended after the timeout, once; a call with media
// keeps going.
TEST(media_plane, silent_calls_time_out_and_busy_ones_do_not) {
  no_keys sink;
  std::mutex mutex;
  std::vector<std::string> ended;
  media_plane_config config;
  config.timeout_s = 1;
  media_plane plane(config, sink, [&](const std::string& id, std::string_view reason) {
    std::lock_guard lock(mutex);
    ended.push_back(id + ":" + std::string(reason));
  });
  peer silent_caller, silent_agent, busy_caller, busy_agent;
  const std::uint16_t base = static_cast<std::uint16_t>(::toneguard::testing::free_port_range(8));
  plane.apply(answered_call("silent", base, static_cast<std::uint16_t>(base + 2), silent_caller,
                            silent_agent));
  plane.apply(answered_call("busy", static_cast<std::uint16_t>(base + 4),
                            static_cast<std::uint16_t>(base + 6), busy_caller, busy_agent));
  const std::vector<std::uint8_t> packet{0x80, 0x00, 0x00, 0x01, 0, 0,    0,
                                         0,    0,    0,    0,    9, 0xFF, 0xFF};
  // 2.5 s of media on the busy call, one packet per 100 ms.
  for (int i = 0; i < 25; ++i) {
    busy_caller.send_to(static_cast<std::uint16_t>(base + 4), packet);
    ::usleep(100'000);
  }
  std::lock_guard lock(mutex);
  EXPECT_EQ(ended, std::vector<std::string>{"silent:timeout"});
  EXPECT_EQ(plane.totals().timed_out, 1u);
}

TEST(media_plane, totals_count_what_the_workers_relayed) {
  no_keys sink;
  media_plane plane(media_plane_config{}, sink);
  peer caller, agent;
  const std::uint16_t base = static_cast<std::uint16_t>(::toneguard::testing::free_port_range(4));
  plane.apply(answered_call("counted", base, static_cast<std::uint16_t>(base + 2), caller, agent));
  const std::vector<std::uint8_t> packet{0x80, 0x00, 0x00, 0x01, 0, 0,    0,
                                         0,    0,    0,    0,    9, 0xFF, 0xFF};
  bool through = false;
  for (int attempt = 0; attempt < 20 && !through; ++attempt) {
    caller.send_to(base, packet);
    through = agent.receive(50).has_value();
  }
  ASSERT_TRUE(through);
  media_totals t;
  for (int i = 0; i < 50 && (t = plane.totals()).forwarded == 0; ++i) ::usleep(20'000);
  EXPECT_GE(t.forwarded, 1u);
  EXPECT_GE(t.received, t.forwarded);
  EXPECT_EQ(t.calls, 1u);
  EXPECT_EQ(t.leaked_samples, 0);
}

// --detect-agent-dtmf: a key the agent sends in-band is reported with leg agent, and its audio
// reaches the caller untouched (detect-only: nothing masked, nothing delayed).
TEST(media_plane, keys_from_the_agent_are_found_when_asked_for) {
  ::toneguard::testing::digit_trace sink;  // read after the plane has stopped its workers
  dsp::signal_builder b;
  b.tone(440, 100, -20).dtmf('7', 100, {-8.0f}).tone(440, 200, -20);
  const std::vector<std::int16_t> pcm = b.pcm16();
  std::vector<std::uint8_t> codes(pcm.size());
  dsp::g711_encode(dsp::g711_law::ulaw, pcm, codes);
  std::size_t untouched = 0, packets = 0;
  {
    media_plane_config config;
    config.detect_agent_dtmf = true;
    media_plane plane(config, sink);
    peer caller, agent;
    const auto base = static_cast<std::uint16_t>(::toneguard::testing::free_port_range(4));
    plane.apply(
        answered_call("agent-keys", base, static_cast<std::uint16_t>(base + 2), caller, agent));
    ::usleep(100'000);  // the worker sets the call up between polls
    packets = codes.size() / 160;
    for (std::size_t i = 0; i < packets; ++i) {
      std::vector<std::uint8_t> p(12 + 160);
      p[0] = 0x80;
      p[2] = static_cast<std::uint8_t>(i >> 8);
      p[3] = static_cast<std::uint8_t>(i);
      const auto ts = static_cast<std::uint32_t>(160 * i);
      for (int k = 0; k < 4; ++k) p[4 + k] = static_cast<std::uint8_t>(ts >> (24 - 8 * k));
      p[11] = 5;
      std::copy_n(codes.begin() + static_cast<std::ptrdiff_t>(160 * i), 160, p.begin() + 12);
      agent.send_to(static_cast<std::uint16_t>(base + 2), p);
      const auto got = caller.receive(200);
      if (got && *got == std::string(p.begin(), p.end())) ++untouched;
    }
    ::usleep(100'000);
  }
  EXPECT_EQ(untouched, packets);
  EXPECT_EQ(sink.trace(), "7+7-");
  ASSERT_FALSE(sink.legs.empty());
  EXPECT_EQ(sink.legs.front(), leg::agent);
  EXPECT_EQ(sink.call_ids.front(), "agent-keys");
}

}  // namespace
}  // namespace toneguard::media
