// An independent RTP stack, oRTP, as the caller of a call through the real daemon: its PCMU
// audio carries a key in-band, then it sends a key as RFC 4733 events. The agent side (a
// plain socket, so that it sees every packet as it is) must get one PCMU stream with nothing
// of either key in it, and the daemon must report both keys (without their values).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ortp/ortp.h>
#include <ortp/telephonyevents.h>
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
#include "toneguard/dsp/dtmf_leak_scan.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/media/bencode.h"
#include "toneguard/media/rtp.h"

namespace {

using namespace std::chrono_literals;
using toneguard::testing::daemon_process;
using toneguard::testing::listening_port;
using toneguard::testing::udp_peer;

std::string sdp_for(std::uint16_t port) {
  return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " +
         std::to_string(port) +
         " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
         "a=fmtp:101 0-16\r\na=ptime:20\r\na=rtcp-mux\r\n";
}

std::uint16_t reply_port(const std::string& reply) {
  const auto at = reply.find("m=audio ");
  return at == std::string::npos ? 0
                                 : static_cast<std::uint16_t>(std::atoi(reply.c_str() + at + 8));
}

std::string ng(udp_peer& control, std::uint16_t port, const std::string& cookie,
               toneguard::media::bencode_dictionary dict) {
  control.send_to(
      port, cookie + " " +
                toneguard::media::encode_bencode(toneguard::media::bencode_value(std::move(dict))));
  return control.receive(2000).value_or("");
}

toneguard::media::bencode_value text(const char* s) {
  return toneguard::media::bencode_value(std::string(s));
}

TEST(ortp_call, keys_from_an_ortp_caller_never_reach_the_agent) {
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  const int port_min = 30000 + 2 * static_cast<int>(rng() % 4000);
  daemon_process daemon({"--listen-ng", "127.0.0.1:0", "--port-min", std::to_string(port_min),
                         "--port-max", std::to_string(port_min + 99)});
  ASSERT_TRUE(daemon.wait_for_log("msg=listening", 5000ms)) << daemon.err();
  const std::uint16_t ng_port = listening_port(daemon.err());

  ortp_init();
  ortp_set_log_level_mask(nullptr, ORTP_ERROR | ORTP_FATAL);
  RtpProfile* profile = rtp_profile_clone(&av_profile);
  rtp_profile_set_payload(profile, 101, &payload_type_telephone_event);
  RtpSession* caller = rtp_session_new(RTP_SESSION_SENDRECV);
  rtp_session_set_profile(caller, profile);
  rtp_session_set_scheduling_mode(caller, 0);
  rtp_session_set_blocking_mode(caller, 0);
  rtp_session_set_local_addr(caller, "127.0.0.1", 0, 0);
  rtp_session_set_payload_type(caller, 0);
  const auto caller_port = static_cast<std::uint16_t>(rtp_session_get_local_port(caller));
  udp_peer control, agent;

  toneguard::media::bencode_dictionary offer;
  offer.set("command", text("offer"));
  offer.set("call-id", text("ortp-call"));
  offer.set("from-tag", text("caller"));
  offer.set("sdp", toneguard::media::bencode_value(sdp_for(caller_port)));
  ASSERT_NE(reply_port(ng(control, ng_port, "o1", offer)), 0);
  toneguard::media::bencode_dictionary answer;
  answer.set("command", text("answer"));
  answer.set("call-id", text("ortp-call"));
  answer.set("from-tag", text("caller"));
  answer.set("to-tag", text("agent"));
  answer.set("sdp", toneguard::media::bencode_value(sdp_for(agent.port())));
  const std::uint16_t caller_facing = reply_port(ng(control, ng_port, "o2", answer));
  ASSERT_NE(caller_facing, 0);
  toneguard::media::bencode_dictionary block;
  block.set("command", text("block DTMF"));
  block.set("call-id", text("ortp-call"));
  ASSERT_NE(ng(control, ng_port, "o3", block).find("2:ok"), std::string::npos);
  ASSERT_TRUE(daemon.wait_for_log("msg=relaying", 5000ms)) << daemon.err();
  rtp_session_set_remote_addr(caller, "127.0.0.1", caller_facing);

  // oRTP sends 600 ms of audio with a key in it, then a key as RFC 4733 events, then audio.
  toneguard::dsp::signal_builder b;
  b.tone(440, 200, -20).dtmf('6', 100, {-8.0f}).tone(440, 300, -20);
  const auto pcm = b.pcm16();
  std::vector<std::uint8_t> codes(pcm.size());
  toneguard::dsp::g711_encode(toneguard::dsp::g711_law::ulaw, pcm, codes);
  std::vector<float> heard;
  std::size_t packets = 0, not_pcmu = 0;
  auto drain = [&](int timeout_ms) {
    while (auto got = agent.receive(timeout_ms)) {
      const auto v = toneguard::media::parse_rtp(
          std::span(reinterpret_cast<const std::uint8_t*>(got->data()), got->size()));
      ASSERT_TRUE(v.ok());
      ++packets;
      if (v.view.payload_type != 0) {
        ++not_pcmu;
        continue;
      }
      std::vector<float> decoded(v.view.payload.size());
      toneguard::dsp::g711_decode(toneguard::dsp::g711_law::ulaw, v.view.payload, decoded);
      heard.insert(heard.end(), decoded.begin(), decoded.end());
      timeout_ms = 5;
    }
  };
  std::uint32_t ts = 0;
  for (std::size_t i = 0; i + 160 <= codes.size(); i += 160, ts += 160) {
    rtp_session_send_with_ts(caller, &codes[i], 160, ts);
    ::usleep(5000);
    drain(5);
  }
  ASSERT_EQ(rtp_session_send_dtmf2(caller, '9', ts, 800), 0);  // 100 ms
  ts += 800;
  for (std::size_t i = 0; i + 160 <= codes.size() / 2; i += 160, ts += 160) {
    rtp_session_send_with_ts(caller, &codes[i], 160, ts);
    ::usleep(5000);
    drain(5);
  }
  drain(300);

  EXPECT_GT(packets, 40u);
  EXPECT_EQ(not_pcmu, 0u) << "telephone-events must reach the agent as PCMU audio";
  EXPECT_TRUE(toneguard::dsp::scan_for_dtmf_leaks(heard).empty());
  // Both keys reported (the daemon logs them as it relays; read its log until both show).
  auto released_count = [&daemon] {
    std::size_t n = 0;
    for (auto p = daemon.err().find("key released"); p != std::string::npos;
         p = daemon.err().find("key released", p + 1)) {
      ++n;
    }
    return n;
  };
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (released_count() < 2 && std::chrono::steady_clock::now() < deadline) {
    daemon.read_for(50);
  }
  const std::size_t released = released_count();
  EXPECT_EQ(released, 2u) << daemon.err();
  EXPECT_NE(daemon.err().find("source=in-band"), std::string::npos) << daemon.err();
  EXPECT_NE(daemon.err().find("source=rfc4733"), std::string::npos) << daemon.err();
  EXPECT_EQ(daemon.err().find("key=6"), std::string::npos);
  EXPECT_EQ(daemon.err().find("key=9"), std::string::npos);

  rtp_session_destroy(caller);
  rtp_profile_destroy(profile);
  ortp_exit();
}

}  // namespace
