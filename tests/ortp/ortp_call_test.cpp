// An independent RTP stack, oRTP, as the caller and as the agent of a call through the real
// daemon. The caller's PCMU audio carries a key in-band, then it sends a key as RFC 4733
// events; in a second call it sends one key both ways at once (audio with the tones and
// event packets for the same instants). The oRTP agent must get one continuous PCMU stream
// (one SSRC, sequence numbers one apart, timestamps consistent, no telephone-event packet)
// with nothing of any key in it (tests/support/agent_scan.h: 2 ms windows of each key's pair,
// the library scanner, spandsp), and the daemon must report each press once (without its
// value).

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

#include "support/agent_scan.h"
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

// What the oRTP agent received.
struct agent_stream {
  std::vector<std::uint16_t> sequence;
  std::vector<std::uint32_t> ssrc;
  std::vector<int> payload_type;
  std::vector<float> heard;  // PCMU payloads decoded, in arrival order
  int telephone_events = 0;  // oRTP's "telephone-event" signal
};

void on_telephone_event(RtpSession*, void*, void* user_data, void*) {
  ++static_cast<agent_stream*>(user_data)->telephone_events;
}

// A call through a fresh daemon between an oRTP caller and an oRTP agent; `block DTMF` on.
class ortp_call_fixture {
 public:
  ortp_call_fixture()
      : daemon_({"--listen-ng", "127.0.0.1:0", "--port-min", std::to_string(port_min_),
                 "--port-max", std::to_string(port_min_ + 99)}) {}

  void set_up(const char* call_id) {
    ASSERT_TRUE(daemon_.wait_for_log("msg=listening", 5000ms)) << daemon_.err();
    const std::uint16_t ng_port = listening_port(daemon_.err());
    ortp_init();
    ortp_set_log_level_mask(nullptr, ORTP_ERROR | ORTP_FATAL);
    profile_ = rtp_profile_clone(&av_profile);
    rtp_profile_set_payload(profile_, 101, &payload_type_telephone_event);
    caller = new_session(RTP_SESSION_SENDRECV);
    agent = new_session(RTP_SESSION_RECVONLY);
    rtp_session_enable_jitter_buffer(agent, FALSE);
    rtp_session_signal_connect(agent, "telephone-event",
                               reinterpret_cast<RtpCallback>(on_telephone_event), &received);
    const auto caller_port = static_cast<std::uint16_t>(rtp_session_get_local_port(caller));
    const auto agent_port = static_cast<std::uint16_t>(rtp_session_get_local_port(agent));

    toneguard::media::bencode_dictionary offer;
    offer.set("command", text("offer"));
    offer.set("call-id", text(call_id));
    offer.set("from-tag", text("caller"));
    offer.set("sdp", toneguard::media::bencode_value(sdp_for(caller_port)));
    ASSERT_NE(reply_port(ng(control_, ng_port, "o1", offer)), 0);
    toneguard::media::bencode_dictionary answer;
    answer.set("command", text("answer"));
    answer.set("call-id", text(call_id));
    answer.set("from-tag", text("caller"));
    answer.set("to-tag", text("agent"));
    answer.set("sdp", toneguard::media::bencode_value(sdp_for(agent_port)));
    const std::uint16_t caller_facing = reply_port(ng(control_, ng_port, "o2", answer));
    ASSERT_NE(caller_facing, 0);
    toneguard::media::bencode_dictionary block;
    block.set("command", text("block DTMF"));
    block.set("call-id", text(call_id));
    ASSERT_NE(ng(control_, ng_port, "o3", block).find("2:ok"), std::string::npos);
    ASSERT_TRUE(daemon_.wait_for_log("msg=relaying", 5000ms)) << daemon_.err();
    rtp_session_set_remote_addr(caller, "127.0.0.1", caller_facing);
  }

  ~ortp_call_fixture() {
    if (caller) rtp_session_destroy(caller);
    if (agent) rtp_session_destroy(agent);
    if (profile_) {
      rtp_profile_destroy(profile_);
      ortp_exit();
    }
  }

  // Takes what the agent session has received, waiting up to `timeout_ms` for the first.
  void drain(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      mblk_t* mp = rtp_session_recvm_with_ts(agent, user_ts_);
      user_ts_ += 160;
      if (mp == nullptr) {
        if (std::chrono::steady_clock::now() >= deadline) return;
        ::usleep(2000);
        continue;
      }
      received.sequence.push_back(rtp_get_seqnumber(mp));
      received.ssrc.push_back(rtp_get_ssrc(mp));
      received.payload_type.push_back(rtp_get_payload_type(mp));
      unsigned char* payload = nullptr;
      const int n = rtp_get_payload(mp, &payload);
      if (rtp_get_payload_type(mp) == 0 && n > 0) {
        std::vector<float> decoded(static_cast<std::size_t>(n));
        toneguard::dsp::g711_decode(toneguard::dsp::g711_law::ulaw,
                                    std::span(payload, static_cast<std::size_t>(n)), decoded);
        received.heard.insert(received.heard.end(), decoded.begin(), decoded.end());
      }
      freemsg(mp);
    }
  }

  std::size_t log_count(const char* needle) {
    const auto deadline = std::chrono::steady_clock::now() + 1500ms;
    while (std::chrono::steady_clock::now() < deadline) daemon_.read_for(50);
    std::size_t n = 0;
    for (auto p = daemon_.err().find(needle); p != std::string::npos;
         p = daemon_.err().find(needle, p + 1)) {
      ++n;
    }
    return n;
  }
  const std::string& log() const { return daemon_.err(); }

  // The stream checks: one SSRC, PCMU only, sequence numbers one apart. (oRTP hands out
  // received timestamps moved onto its reader's timeline, so the raw timestamps are checked
  // by the GStreamer tests' taps, tests/gstreamer.)
  void expect_continuous_pcmu() const {
    ASSERT_FALSE(received.sequence.empty());
    EXPECT_EQ(received.telephone_events, 0) << "telephone-events must reach the agent as audio";
    int steps_off = 0;
    for (std::size_t i = 0; i < received.sequence.size(); ++i) {
      EXPECT_EQ(received.payload_type[i], 0) << "packet " << i;
      EXPECT_EQ(received.ssrc[i], received.ssrc[0]) << "packet " << i;
      if (i == 0) continue;
      const auto step = static_cast<std::uint16_t>(received.sequence[i] - received.sequence[i - 1]);
      if (step != 1) ++steps_off;
    }
    EXPECT_EQ(steps_off, 0);
  }

  RtpSession* caller = nullptr;
  RtpSession* agent = nullptr;
  agent_stream received;

 private:
  RtpSession* new_session(RtpSessionMode mode) {
    RtpSession* s = rtp_session_new(mode);
    rtp_session_set_profile(s, profile_);
    rtp_session_set_scheduling_mode(s, 0);
    rtp_session_set_blocking_mode(s, 0);
    rtp_session_set_local_addr(s, "127.0.0.1", 0, 0);
    rtp_session_set_payload_type(s, 0);
    return s;
  }

  int port_min_ = toneguard::testing::free_port_range(100);
  daemon_process daemon_;
  udp_peer control_;
  RtpProfile* profile_ = nullptr;
  std::uint32_t user_ts_ = 0;
};

// PCMU codes of `b`'s audio.
std::vector<std::uint8_t> ulaw_of(const toneguard::dsp::signal_builder& b) {
  const auto pcm = b.pcm16();
  std::vector<std::uint8_t> codes(pcm.size());
  toneguard::dsp::g711_encode(toneguard::dsp::g711_law::ulaw, pcm, codes);
  return codes;
}

// The look-ahead in samples the daemon runs with by default (delay-buffer 15 ms).
constexpr std::int64_t default_lookahead = 120;

TEST(ortp_call, keys_from_an_ortp_caller_never_reach_the_ortp_agent) {
  ortp_call_fixture call;
  call.set_up("ortp-call");
  if (::testing::Test::HasFatalFailure()) return;

  // oRTP sends 600 ms of audio with a key in it, then a key as RFC 4733 events, then audio.
  toneguard::dsp::signal_builder b;
  b.tone(440, 200, -20).dtmf('6', 100, {-8.0f}).tone(440, 300, -20);
  const auto codes = ulaw_of(b);
  std::vector<toneguard::testing::key_interval> keys{{'6', 1600, 2400}};
  std::uint32_t ts = 0;
  for (std::size_t i = 0; i + 160 <= codes.size(); i += 160, ts += 160) {
    rtp_session_send_with_ts(call.caller, &codes[i], 160, ts);
    ::usleep(5000);
    call.drain(5);
  }
  ASSERT_EQ(rtp_session_send_dtmf2(call.caller, '9', ts, 800), 0);  // 100 ms
  // The event key is not scanned by 2 ms windows: it put no tone in the audio, and oRTP sends
  // its event packets in one burst, so the agent's audio for them is not on the caller's
  // timeline; the library scanner and spandsp cover the whole recording instead.
  ts += 800;
  for (std::size_t i = 0; i + 160 <= 1600; i += 160, ts += 160) {  // the tone before the key
    rtp_session_send_with_ts(call.caller, &codes[i], 160, ts);
    ::usleep(5000);
    call.drain(5);
  }
  call.drain(300);

  const auto& r = call.received;
  EXPECT_GT(r.sequence.size(), 40u);
  call.expect_continuous_pcmu();
  // Nothing of either key: the agent's audio is the caller's timeline delayed by the
  // look-ahead (event packets become audio packets on it).
  const auto hits = toneguard::testing::scan_key_windows(r.heard, keys, default_lookahead);
  EXPECT_TRUE(hits.empty()) << toneguard::testing::describe(hits);
  EXPECT_TRUE(toneguard::dsp::scan_for_dtmf_leaks(r.heard).empty());
  EXPECT_EQ(toneguard::testing::spandsp_digits(r.heard), "");
  // The 440 Hz tone before the first key arrives delayed by exactly the look-ahead.
  std::vector<float> sent(codes.size());
  toneguard::dsp::g711_decode(toneguard::dsp::g711_law::ulaw, codes, sent);
  const auto delay = toneguard::testing::find_delay(std::span(sent).first(1600), r.heard, 400);
  EXPECT_EQ(delay.lag, default_lookahead);

  // Both keys reported once each, from their sources, never with their values.
  EXPECT_EQ(call.log_count("key released"), 2u) << call.log();
  EXPECT_EQ(call.log_count("key pressed"), 2u) << call.log();
  EXPECT_NE(call.log().find("source=in-band"), std::string::npos) << call.log();
  EXPECT_NE(call.log().find("source=rfc4733"), std::string::npos) << call.log();
  EXPECT_EQ(call.log().find("key=6"), std::string::npos);
  EXPECT_EQ(call.log().find("key=9"), std::string::npos);
  std::printf(
      "[ measured ] oRTP agent: %zu packets, %zu samples, lag %lld samples, leak windows %zu\n",
      r.sequence.size(), r.heard.size(), static_cast<long long>(delay.lag), hits.size());
}

// An endpoint that sends one key both in-band and as RFC 4733 events for the same instants:
// one press, and nothing of it reaches the agent.
TEST(ortp_call, a_key_sent_in_band_and_as_events_at_once_is_one_press_and_never_leaks) {
  ortp_call_fixture call;
  call.set_up("ortp-both");
  if (::testing::Test::HasFatalFailure()) return;

  toneguard::dsp::signal_builder b;
  b.tone(440, 200, -20).dtmf('3', 120, {-8.0f}).tone(440, 280, -20);
  const auto codes = ulaw_of(b);
  const std::vector<toneguard::testing::key_interval> keys{{'3', 1600, 2560}};
  const std::uint32_t key_ts = 1600;
  for (std::size_t i = 0; i + 160 <= codes.size(); i += 160) {
    const auto ts = static_cast<std::uint32_t>(i);
    rtp_session_send_with_ts(call.caller, &codes[i], 160, ts);
    // While the key is on, an event packet for it too: start, updates, the end three times.
    if (ts >= key_ts && ts < 2560) {
      const auto duration = static_cast<std::uint16_t>(ts + 160 - key_ts);
      const bool end = ts + 160 >= 2560;
      for (int copy = 0; copy < (end ? 3 : 1); ++copy) {
        mblk_t* e = rtp_session_create_telephone_event_packet(call.caller, ts == key_ts);
        rtp_session_add_telephone_event(call.caller, e, 3, end ? 1 : 0, 10, duration);
        rtp_session_sendm_with_ts(call.caller, e, key_ts);
      }
    }
    ::usleep(5000);
    call.drain(5);
  }
  call.drain(300);

  // The endpoint's audio covers the events' time, so the event packets are withheld and the
  // agent gets exactly the 30 audio packets, numbered and timed without gaps.
  const auto& r = call.received;
  EXPECT_EQ(r.sequence.size(), codes.size() / 160);
  call.expect_continuous_pcmu();
  const auto hits = toneguard::testing::scan_key_windows(r.heard, keys, default_lookahead);
  EXPECT_TRUE(hits.empty()) << toneguard::testing::describe(hits);
  EXPECT_TRUE(toneguard::dsp::scan_for_dtmf_leaks(r.heard).empty());
  EXPECT_EQ(toneguard::testing::spandsp_digits(r.heard), "");
  EXPECT_EQ(call.log_count("key pressed"), 1u) << call.log();
  EXPECT_EQ(call.log_count("key released"), 1u) << call.log();
  EXPECT_EQ(call.log().find("key=3"), std::string::npos);
  std::printf("[ measured ] both sources: %zu agent packets, %zu samples, leak windows %zu\n",
              r.sequence.size(), r.heard.size(), hits.size());
}

}  // namespace
