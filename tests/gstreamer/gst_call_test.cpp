// Calls between GStreamer pipelines through the real daemon on loopback. The caller pipeline
// plays a WAV of recorded speech (asterisk-core-sounds-en-wav) with in-band keys mixed in,
// μ-law or A-law in 20 ms packets (wavparse ! rtppcmupay/rtppcmapay [! srtpenc] ! udpsink);
// the agent pipeline (udpsrc [! srtpdec] ! rtppcmudepay/rtppcmadepay ! wavenc ! filesink)
// records what the agent hears. RFC 4733 keys are sent by oRTP (tests/ortp): rtpdtmfsrc's
// start/stop events did not produce event packets here within the time available. A tap on each leg
// forwards the datagrams and records them with their arrival times.
//
// Each call asserts: every key reported by the daemon (count and source, never the value);
// zero leak in the agent's recording (2 ms windows fitted with each key's pair, the library
// scanner with 2 ms windows, spandsp's dtmf_rx); the agent's RTP continuous (one SSRC,
// sequence numbers step by one, timestamps by 160); the agent's audio lags the caller's by
// the configured look-ahead (within one packet; it is exact); and the speech outside the keys
// arrives sample-exact (G.711 codes pass untouched where nothing is masked).
//
// SRTP (SDES) cases use keys from the SDP toneguard returns; they skip while the daemon
// answers without a=crypto.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gstreamer/gst_harness.h"
#include "support/agent_scan.h"
#include "support/loopback.h"
#include "toneguard/dsp/dtmf_leak_scan.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/dsp/wav.h"
#include "toneguard/media/bencode.h"
#include "toneguard/media/rtp.h"

namespace {

using namespace std::chrono_literals;
using toneguard::testing::daemon_process;
using toneguard::testing::key_interval;
using toneguard::testing::listening_port;
using toneguard::testing::udp_peer;
namespace dsp = toneguard::dsp;
namespace media = toneguard::media;
namespace gst = toneguard::testing::gst;

// ---------------------------------------------------------------------------------------
// The caller's audio.

std::vector<float> speech(const char* name, double max_ms, float gain) {
  const auto wav = dsp::read_wav_file(std::string(TONEGUARD_SOUNDS_DIR) + "/" + name);
  if (!wav.ok() || wav.audio().sample_rate_hz != 8000) return {};
  const auto& s = wav.audio().samples;
  const std::size_t n = std::min<std::size_t>(s.size(), static_cast<std::size_t>(max_ms * 8));
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = gain * s[i];
  return out;
}

struct caller_audio {
  std::vector<std::int16_t> pcm;  // as coded and decoded again: what the caller sends
  std::vector<std::uint8_t> codes;
  std::vector<key_interval> keys;
  std::string digits;
};

// Speech, keys in the pauses, one key over speech, speech again: about 6 s.
caller_audio make_caller_audio(bool alaw) {
  dsp::signal_builder b;
  caller_audio c;
  auto key = [&](char k, double ms, float level) {
    const auto begin = static_cast<std::int64_t>(b.size());
    b.dtmf(k, ms, {level});
    c.keys.push_back({k, begin, static_cast<std::int64_t>(b.size())});
    c.digits += k;
  };
  b.silence(100).samples(speech("vm-enter-num-to-call.wav", 1800, 0.5f)).silence(150);
  {
    key('4', 80, -8.0f);
    b.silence(110);
    key('1', 70, -10.0f);
    b.silence(130);
    key('9', 100, -6.0f);
    b.silence(90);
    key('#', 90, -9.0f);
  }
  b.silence(200);
  // A key pressed while the prompt is playing: added on top of speech.
  auto over = speech("tt-weasels.wav", 2400, 0.3f);
  {
    dsp::signal_builder k;
    k.silence(900).dtmf('5', 90, {-5.0f});
    const std::int64_t at = static_cast<std::int64_t>(b.size());
    for (std::size_t i = 0; i < k.size() && i < over.size(); ++i) over[i] += k.audio()[i];
    c.keys.push_back({'5', at + 900 * 8, at + 990 * 8});
    c.digits += '5';
  }
  b.samples(over).silence(200).add_white_noise(-60, 3);
  // Whole packets, with 300 ms of quiet at the end so that the look-ahead's tail carries
  // nothing to check.
  b.silence(300);
  const std::size_t n = b.size() / 160 * 160;
  auto pcm = b.pcm16();
  pcm.resize(n);
  c.codes.resize(n);
  dsp::g711_encode(alaw ? dsp::g711_law::alaw : dsp::g711_law::ulaw, pcm, c.codes);
  c.pcm.resize(n);
  dsp::g711_decode(alaw ? dsp::g711_law::alaw : dsp::g711_law::ulaw, c.codes, c.pcm);
  return c;
}

std::vector<float> to_float(const std::vector<std::int16_t>& pcm) {
  return std::vector<float>(pcm.begin(), pcm.end());
}

// ---------------------------------------------------------------------------------------
// ng.

std::string sdp_for(std::uint16_t port, bool alaw, const std::string& protocol,
                    const std::string& crypto) {
  const std::string pt = alaw ? "8" : "0";
  std::string s =
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=audio " +
      std::to_string(port) + " " + protocol + " " + pt + " 101\r\na=rtpmap:" + pt +
      (alaw ? " PCMA/8000" : " PCMU/8000") +
      "\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
      "a=rtcp-mux\r\n";
  if (!crypto.empty()) s += "a=crypto:" + crypto + "\r\n";
  return s;
}

std::uint16_t reply_port(const std::string& reply) {
  const auto at = reply.find("m=audio ");
  return at == std::string::npos ? 0
                                 : static_cast<std::uint16_t>(std::atoi(reply.c_str() + at + 8));
}

std::string ng(udp_peer& control, std::uint16_t port, const std::string& cookie,
               media::bencode_dictionary dict) {
  control.send_to(port,
                  cookie + " " + media::encode_bencode(media::bencode_value(std::move(dict))));
  return control.receive(3000).value_or("");
}

// The SDP string inside a bencoded ng reply ("3:sdp<len>:<sdp>"), or "".
std::string reply_sdp(const std::string& reply) {
  const auto at = reply.find("3:sdp");
  if (at == std::string::npos) return "";
  std::size_t p = at + 5;
  const std::size_t len = std::strtoul(reply.c_str() + p, nullptr, 10);
  p = reply.find(':', p);
  return p == std::string::npos ? "" : reply.substr(p + 1, len);
}

std::vector<std::uint8_t> random_key_salt() {
  std::random_device rd;
  std::vector<std::uint8_t> k(30);
  for (auto& b : k) b = static_cast<std::uint8_t>(rd());
  return k;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

// Lines of `log` that hold both `a` and `b`.
std::size_t lines_with(const std::string& log, const std::string& a, const std::string& b) {
  std::size_t n = 0, begin = 0;
  while (begin < log.size()) {
    auto end = log.find('\n', begin);
    if (end == std::string::npos) end = log.size();
    const std::string line = log.substr(begin, end - begin);
    if (line.find(a) != std::string::npos && line.find(b) != std::string::npos) ++n;
    begin = end + 1;
  }
  return n;
}

// ---------------------------------------------------------------------------------------
// One call.

struct call_options {
  bool alaw = false;
  // SRTP toward toneguard from the caller: an SDES suite, or "" for plain RTP.
  std::string caller_suite;
  // ng transport-protocol for the agent leg ("" = as the caller's).
  std::string agent_transport;
  int delay_buffer_ms = 20;
  std::string security = "silence";  // DTMF-security
  std::int64_t tamper_index = -1;    // a caller datagram to corrupt on its way
};

struct agent_packet {
  std::chrono::steady_clock::time_point at;
  media::rtp_view header;
};

struct call_result {
  bool skipped = false;
  std::string skip_reason;
  caller_audio caller;
  std::vector<float> heard;  // the agent's recording, decoded
  std::vector<gst::datagram> sent, received;
  std::string daemon_log;
  std::string agent_sdp, caller_sdp;
  bool daemon_alive = false;
};

bool is_srtp(const std::string& protocol) {
  return protocol.find("SAVP") != std::string::npos;
}

// Runs one call through a fresh daemon; fatal failures leave `result` partly filled.
void run_call(const call_options& o, call_result& result) {
  const std::vector<std::string> needed{
      "filesrc", "wavparse", o.alaw ? "rtppcmapay" : "rtppcmupay",
      "udpsink", "udpsrc",   o.alaw ? "rtppcmadepay" : "rtppcmudepay",
      "wavenc",  "filesink", "srtpenc",
      "srtpdec"};
  const std::string missing = gst::missing_elements(needed);
  if (!missing.empty()) {
    result.skipped = true;
    result.skip_reason = "GStreamer elements missing: " + missing +
                         " (install gstreamer1.0-plugins-base/-good/-bad; tools/test does)";
    return;
  }
  const std::string caller_protocol = o.caller_suite.empty() ? "RTP/AVP" : "RTP/SAVP";
  const std::string agent_protocol =
      o.agent_transport.empty() ? caller_protocol : o.agent_transport;

  // Files of this call.
  const std::string dir = std::filesystem::temp_directory_path().string() + "/toneguard-gst-" +
                          std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
  std::filesystem::create_directories(dir);
  struct remove_dir {
    std::string d;
    ~remove_dir() {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  } cleanup{dir};
  const std::string caller_wav = dir + "/caller.wav", agent_wav = dir + "/agent.wav";
  result.caller = make_caller_audio(o.alaw);
  ASSERT_FALSE(
      dsp::write_wav_file(caller_wav, 8000, result.caller.pcm,
                          o.alaw ? dsp::wav_audio::encoding::alaw : dsp::wav_audio::encoding::ulaw)
          .has_value());

  // The daemon, on a port range of its own.
  const int port_min = toneguard::testing::free_port_range(100);
  ASSERT_GT(port_min, 0) << "no free range of 100 UDP ports on loopback";
  daemon_process daemon({"--listen-ng", "127.0.0.1:0", "--port-min", std::to_string(port_min),
                         "--port-max", std::to_string(port_min + 99)});
  ASSERT_TRUE(daemon.wait_for_log("msg=listening", 5000ms)) << daemon.err();
  const std::uint16_t ng_port = listening_port(daemon.err());

  // The agent: a pipeline receiving on a port of its own, fed by the agent tap.
  const std::string law = o.alaw ? "PCMA" : "PCMU";
  const std::string pt = o.alaw ? "8" : "0";
  const std::string rtp_caps =
      "media=audio,clock-rate=8000,encoding-name=" + law + ",payload=" + pt;
  const bool agent_srtp = is_srtp(agent_protocol);
  gst::pipeline agent(std::string("udpsrc name=src address=127.0.0.1 port=0 caps=\"") +
                      (agent_srtp ? "application/x-srtp," : "application/x-rtp,") + rtp_caps +
                      "\" ! " + (agent_srtp ? "srtpdec name=dec ! " : "") +
                      (o.alaw ? "rtppcmadepay" : "rtppcmudepay") +
                      " ! wavenc ! filesink location=" + agent_wav);
  ASSERT_TRUE(agent.ok()) << agent.error();
  gst::srtp_key_request agent_key;
  if (agent_srtp) {
    GstElement* dec = agent.element("dec");
    gst::answer_key_requests(dec, &agent_key);
    gst_object_unref(dec);
  }
  ASSERT_TRUE(agent.play(5000ms)) << agent.error();
  GstElement* src = agent.element("src");
  gint agent_port = 0;
  g_object_get(src, "port", &agent_port, nullptr);
  gst_object_unref(src);
  ASSERT_GT(agent_port, 0);
  gst::udp_tap agent_tap, caller_tap;
  agent_tap.forward_to(static_cast<std::uint16_t>(agent_port));
  caller_tap.tamper_with(o.tamper_index);

  // ng: offer (the caller's SDP), answer (the agent's), block DTMF.
  udp_peer control;
  const auto caller_key = random_key_salt();
  media::bencode_dictionary offer;
  offer.set("command", "offer");
  offer.set("call-id", "gst-call");
  offer.set("from-tag", "caller");
  if (!o.agent_transport.empty()) offer.set("transport-protocol", o.agent_transport);
  offer.set("sdp", sdp_for(caller_tap.port(), o.alaw, caller_protocol,
                           o.caller_suite.empty()
                               ? ""
                               : "1 " + o.caller_suite + " inline:" + gst::to_base64(caller_key)));
  const std::string offered = ng(control, ng_port, "g1", offer);
  result.agent_sdp = reply_sdp(offered);
  ASSERT_NE(reply_port(offered), 0) << offered;
  if (agent_srtp) {
    const auto crypto = gst::find_crypto(result.agent_sdp);
    if (!crypto) {
      result.skipped = true;
      result.skip_reason =
          "toneguard offered the agent no a=crypto (SDES-SRTP not in this daemon yet): " +
          result.agent_sdp;
      return;
    }
    if (crypto->key_salt == caller_key) {
      result.skipped = true;
      result.skip_reason =
          "toneguard passed the caller's a=crypto through to the agent instead of offering a "
          "key of its own (SDES-SRTP not in this daemon yet)";
      return;
    }
    agent_key.key_salt = crypto->key_salt;
    agent_key.auth = gst::srtp_auth_for(crypto->suite);
  }
  // block DTMF before the answer: the relay starts with the call's delay-buffer as its
  // look-ahead (a running call keeps the look-ahead it started with).
  media::bencode_dictionary block;
  block.set("command", "block DTMF");
  block.set("call-id", "gst-call");
  block.set("DTMF-security", o.security);
  block.set("delay-buffer", o.delay_buffer_ms);
  ASSERT_NE(ng(control, ng_port, "g3", block).find("2:ok"), std::string::npos);
  media::bencode_dictionary answer;
  answer.set("command", "answer");
  answer.set("call-id", "gst-call");
  answer.set("from-tag", "caller");
  answer.set("to-tag", "agent");
  const auto agent_own_key = random_key_salt();
  answer.set("sdp", sdp_for(agent_tap.port(), o.alaw, agent_protocol,
                            agent_srtp ? "1 " + gst::find_crypto(result.agent_sdp)->suite +
                                             " inline:" + gst::to_base64(agent_own_key)
                                       : ""));
  const std::string answered = ng(control, ng_port, "g2", answer);
  result.caller_sdp = reply_sdp(answered);
  const std::uint16_t caller_facing = reply_port(answered);
  ASSERT_NE(caller_facing, 0) << answered;
  if (!o.caller_suite.empty() && (!gst::find_crypto(result.caller_sdp) ||
                                  gst::find_crypto(result.caller_sdp)->key_salt == agent_own_key)) {
    result.skipped = true;
    result.skip_reason =
        "toneguard answered the SRTP caller without a=crypto of its own (SDES-SRTP not in this "
        "daemon yet): " +
        result.caller_sdp;
    return;
  }
  ASSERT_TRUE(daemon.wait_for_log("msg=relaying", 5000ms)) << daemon.err();
  caller_tap.forward_to(caller_facing);

  // The caller: the WAV at real-time pace (udpsink syncs to the clock), 20 ms packets.
  const std::string pay = std::string(o.alaw ? "rtppcmapay" : "rtppcmupay") + " pt=" + pt +
                          " min-ptime=20000000 max-ptime=20000000";
  const std::string srtp =
      o.caller_suite.empty()
          ? ""
          : " ! srtpenc key=" + gst::to_hex(caller_key) +
                " rtp-cipher=aes-128-icm rtp-auth=" + gst::srtp_auth_for(o.caller_suite) +
                " rtcp-cipher=aes-128-icm rtcp-auth=hmac-sha1-80";
  const std::string sink = " ! udpsink host=127.0.0.1 port=" + std::to_string(caller_tap.port());
  const std::string description =
      "filesrc location=" + caller_wav + " ! wavparse ! " + pay + srtp + sink;
  gst::pipeline caller(description);
  ASSERT_TRUE(caller.ok()) << caller.error();
  ASSERT_TRUE(caller.play(5000ms)) << caller.error();
  const auto duration = std::chrono::milliseconds(result.caller.pcm.size() / 8);
  ASSERT_TRUE(caller.wait_eos(duration + 15s)) << caller.error();
  agent_tap.wait_quiet(300ms, 3s);
  ASSERT_TRUE(agent.finish(5000ms)) << agent.error();
  caller_tap.stop();
  agent_tap.stop();
  result.sent = caller_tap.recorded();
  result.received = agent_tap.recorded();

  // The daemon is still there and answers ng after the call.
  media::bencode_dictionary ping;
  ping.set("command", "ping");
  result.daemon_alive = ng(control, ng_port, "g4", ping).find("pong") != std::string::npos;
  // Its key reports (read until every key showed or 3 s passed).
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (count_of(daemon.err(), "key released") < result.caller.digits.size() &&
         std::chrono::steady_clock::now() < deadline) {
    daemon.read_for(50);
  }
  daemon.read_for(100);
  result.daemon_log = daemon.err();

  const auto heard = dsp::read_wav_file(agent_wav);
  ASSERT_TRUE(heard.ok()) << heard.error();
  result.heard.assign(heard.audio().samples.begin(), heard.audio().samples.end());
}

std::vector<agent_packet> parse_all(const std::vector<gst::datagram>& datagrams) {
  std::vector<agent_packet> out;
  for (const auto& d : datagrams) {
    const auto v = media::parse_rtp(d.bytes);
    if (v.ok()) out.push_back({d.at, v.view});
  }
  return out;
}

// The checks every in-band call makes.
void check_call(const call_options& o, const call_result& r, std::int64_t dropped_packets = 0) {
  const auto& keys = r.caller.keys;
  const auto caller = to_float(r.caller.pcm);
  const std::string pt_name = o.alaw ? "A-law" : "mu-law";
  SCOPED_TRACE(pt_name + (o.caller_suite.empty() ? " RTP" : " SRTP " + o.caller_suite) + " caller");

  // Keys: the caller's keys are there for spandsp; the daemon reports each once, in-band,
  // and never its value.
  ASSERT_EQ(toneguard::testing::spandsp_digits(caller), r.caller.digits);
  EXPECT_EQ(count_of(r.daemon_log, "key pressed"), r.caller.digits.size()) << r.daemon_log;
  EXPECT_EQ(count_of(r.daemon_log, "key released"), r.caller.digits.size()) << r.daemon_log;
  EXPECT_EQ(count_of(r.daemon_log, "source=in-band"), 2 * r.caller.digits.size()) << r.daemon_log;
  EXPECT_EQ(lines_with(r.daemon_log, "key pressed", "call-id=gst-call"), r.caller.digits.size());
  for (char k : r.caller.digits) {
    EXPECT_EQ(r.daemon_log.find(std::string("key=") + k), std::string::npos);
  }

  // The agent's RTP: every caller packet but the dropped ones, one SSRC, one payload type,
  // sequence numbers one apart, timestamps 160 apart.
  const auto sent = parse_all(r.sent);
  const auto got = parse_all(r.received);
  ASSERT_GT(sent.size(), 200u);
  EXPECT_EQ(static_cast<std::int64_t>(got.size()),
            static_cast<std::int64_t>(sent.size()) - dropped_packets);
  ASSERT_FALSE(got.empty());
  std::int64_t gaps = 0;
  for (std::size_t i = 1; i < got.size(); ++i) {
    EXPECT_EQ(got[i].header.ssrc, got[0].header.ssrc);
    EXPECT_EQ(got[i].header.payload_type, o.alaw ? 8 : 0);
    const auto step =
        static_cast<std::uint16_t>(got[i].header.sequence - got[i - 1].header.sequence);
    const auto ts_step = got[i].header.timestamp - got[i - 1].header.timestamp;
    EXPECT_EQ(ts_step, 160u * step) << "packet " << i;
    if (step != 1) ++gaps;
  }
  EXPECT_EQ(gaps, dropped_packets);

  // Wall-clock forwarding time per packet (reported, not asserted: tests check behaviour).
  std::vector<double> forward_ms;
  for (const auto& g : got) {
    for (const auto& s : sent) {
      if (s.header.sequence == g.header.sequence) {
        forward_ms.push_back(std::chrono::duration<double, std::milli>(g.at - s.at).count());
        break;
      }
    }
  }
  std::sort(forward_ms.begin(), forward_ms.end());

  // The recording: the caller's audio delayed by the look-ahead.
  std::vector<float> heard = r.heard;
  if (dropped_packets > 0) {
    // Put the dropped packets' time back as silence so the timeline stays the caller's.
    for (std::size_t i = got.size(); i-- > 1;) {
      const auto step =
          static_cast<std::uint16_t>(got[i].header.sequence - got[i - 1].header.sequence);
      if (step > 1)
        heard.insert(heard.begin() + 160 * static_cast<std::ptrdiff_t>(i), 160 * (step - 1), 0.0f);
    }
  }
  // A packet dropped before the daemon (SRTP authentication) leaves two packets' worth of
  // the caller's audio unheard: its own, which the daemon fills with silence to keep the
  // timeline, and the look-ahead's worth before it, which the lost output slot would have
  // carried. The speech checks leave that stretch out.
  std::vector<toneguard::testing::key_interval> unheard = keys;
  if (o.tamper_index >= 0) {
    const std::int64_t at = 160 * o.tamper_index;
    unheard.push_back({'\0', at - 8 * o.delay_buffer_ms, at + 160});
  }
  const auto delay = toneguard::testing::find_delay(caller, heard, 2000, unheard);
  const std::int64_t lookahead = 8 * o.delay_buffer_ms;
  // Within one packet is the requirement; G.711 relayed sample by sample makes it exact.
  EXPECT_NEAR(static_cast<double>(delay.lag), static_cast<double>(lookahead), 160.0);
  EXPECT_EQ(delay.lag, lookahead);
  EXPECT_GT(delay.correlation, 0.99);

  // Zero leak: 2 ms windows of each key's pair, the library's scanner with 2 ms windows over
  // each key, and spandsp over the whole recording.
  const auto hits = toneguard::testing::scan_key_windows(heard, keys, delay.lag);
  EXPECT_TRUE(hits.empty()) << toneguard::testing::describe(hits);
  std::size_t library_hits = 0;
  for (const auto& k : keys) {
    dsp::dtmf_leak_scan_config two_ms;
    two_ms.window_samples = 16;
    two_ms.hop_samples = 2;
    const auto b = static_cast<std::size_t>(k.begin + delay.lag);
    if (b >= heard.size()) continue;
    const auto n = std::min(static_cast<std::size_t>(k.end - k.begin), heard.size() - b);
    library_hits += dsp::scan_for_dtmf_leaks(std::span(heard).subspan(b, n), two_ms).size();
  }
  EXPECT_EQ(library_hits, 0u);
  EXPECT_EQ(toneguard::testing::spandsp_digits(heard), "");

  // Speech outside the keys (each widened by guard + hangover + 2 ms): sample-exact.
  const auto same =
      toneguard::testing::differing_samples_outside_keys(caller, heard, delay.lag, unheard, 80);
  const double correlation =
      toneguard::testing::correlation_outside_keys(caller, heard, delay.lag, unheard, 80);
  EXPECT_GT(same.compared, static_cast<std::int64_t>(caller.size() * 8 / 10));
  EXPECT_EQ(same.differing, 0);
  EXPECT_GE(correlation, 0.99);

  std::printf(
      "[ measured ] %s%s: %zu packets sent, %zu received; look-ahead %lld samples configured, "
      "recording lags the caller by %lld samples (correlation %.5f); leak windows %zu, library "
      "scanner %zu, spandsp \"%s\"; outside keys %lld/%lld samples differ, correlation %.6f; "
      "forwarding median %.3f ms, max %.3f ms\n",
      pt_name.c_str(), o.caller_suite.empty() ? "" : (" " + o.caller_suite).c_str(), sent.size(),
      got.size(), static_cast<long long>(lookahead), static_cast<long long>(delay.lag),
      delay.correlation, hits.size(), library_hits,
      toneguard::testing::spandsp_digits(heard).c_str(), static_cast<long long>(same.differing),
      static_cast<long long>(same.compared), correlation,
      forward_ms.empty() ? -1.0 : forward_ms[forward_ms.size() / 2],
      forward_ms.empty() ? -1.0 : forward_ms.back());
}

#define RUN_CALL(options, result)                 \
  call_result result;                             \
  run_call(options, result);                      \
  if (::testing::Test::HasFatalFailure()) return; \
  if (result.skipped) {                           \
    GTEST_SKIP() << result.skip_reason;           \
  }                                               \
  static_assert(true)

TEST(gstreamer_call, ulaw_speech_with_in_band_keys_reaches_the_agent_without_a_trace_of_them) {
  call_options o;
  RUN_CALL(o, r);
  EXPECT_TRUE(r.daemon_alive);
  check_call(o, r);
}

TEST(gstreamer_call, alaw_speech_with_in_band_keys_masked_with_the_flat_tone) {
  call_options o;
  o.alaw = true;
  o.delay_buffer_ms = 30;
  o.security = "tone";
  RUN_CALL(o, r);
  EXPECT_TRUE(r.daemon_alive);
  check_call(o, r);
}

TEST(gstreamer_call, ulaw_keys_masked_with_comfort_noise) {
  call_options o;
  o.delay_buffer_ms = 15;
  o.security = "random";
  RUN_CALL(o, r);
  check_call(o, r);
}

TEST(gstreamer_call, srtp_caller_and_srtp_agent_aes_cm_128_hmac_sha1_80) {
  call_options o;
  o.caller_suite = "AES_CM_128_HMAC_SHA1_80";
  RUN_CALL(o, r);
  EXPECT_TRUE(r.daemon_alive);
  EXPECT_NE(r.agent_sdp.find("RTP/SAVP"), std::string::npos) << r.agent_sdp;
  check_call(o, r);
}

TEST(gstreamer_call, srtp_caller_and_plain_rtp_agent) {
  call_options o;
  o.caller_suite = "AES_CM_128_HMAC_SHA1_80";
  o.agent_transport = "RTP/AVP";
  RUN_CALL(o, r);
  EXPECT_EQ(r.agent_sdp.find("a=crypto"), std::string::npos) << r.agent_sdp;
  EXPECT_NE(r.agent_sdp.find("RTP/AVP"), std::string::npos) << r.agent_sdp;
  check_call(o, r);
}

TEST(gstreamer_call, plain_rtp_caller_and_srtp_agent) {
  call_options o;
  o.agent_transport = "RTP/SAVP";
  o.alaw = true;
  RUN_CALL(o, r);
  EXPECT_EQ(r.caller_sdp.find("a=crypto"), std::string::npos) << r.caller_sdp;
  check_call(o, r);
}

TEST(gstreamer_call, srtp_both_legs_aes_cm_128_hmac_sha1_32) {
  call_options o;
  o.caller_suite = "AES_CM_128_HMAC_SHA1_32";
  RUN_CALL(o, r);
  const auto to_caller = gst::find_crypto(r.caller_sdp);
  ASSERT_TRUE(to_caller.has_value());
  EXPECT_EQ(to_caller->suite, "AES_CM_128_HMAC_SHA1_32");
  check_call(o, r);
}

TEST(gstreamer_call, a_tampered_srtp_packet_is_dropped_and_the_call_goes_on) {
  call_options o;
  o.caller_suite = "AES_CM_128_HMAC_SHA1_80";
  o.tamper_index = 60;  // 1.2 s in, during speech
  RUN_CALL(o, r);
  EXPECT_TRUE(r.daemon_alive) << r.daemon_log;
  // The corrupted packet never reaches the agent; everything after it does.
  const auto sent = parse_all(r.sent);
  const auto got = parse_all(r.received);
  ASSERT_GT(sent.size(), 61u);
  const auto tampered_seq = sent[60].header.sequence;
  for (const auto& g : got) {
    EXPECT_NE(g.header.sequence, tampered_seq);
  }
  check_call(o, r, 1);
}

}  // namespace
