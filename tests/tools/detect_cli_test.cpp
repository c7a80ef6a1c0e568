// toneguard-detect as a user runs it: real files in a temporary directory, the real binary.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "support/run_command.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/dsp/wav.h"

namespace toneguard {
namespace {

namespace fs = std::filesystem;

using run_result = toneguard::testing::command_result;

run_result run_detect(const std::string& args, const std::string& environment = "") {
  return toneguard::testing::run_command(environment + " " + std::string(TONEGUARD_BIN_DIR) +
                                         "/toneguard-detect " + args);
}

// The number that follows the first occurrence of `key` in `text` (NaN when absent).
double number_after(const std::string& text, const std::string& key) {
  const auto at = text.find(key);
  if (at == std::string::npos) return std::numeric_limits<double>::quiet_NaN();
  return std::strtod(text.c_str() + at + key.size(), nullptr);
}

class detect_cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tg_detect_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const dsp::signal_builder& b, int rate,
                    dsp::wav_audio::encoding enc = dsp::wav_audio::encoding::pcm16) {
    const auto path = (dir_ / name).string();
    EXPECT_FALSE(dsp::write_wav_file(path, rate, b.pcm16(), enc).has_value());
    return path;
  }
  fs::path dir_;
};

TEST_F(detect_cli, prints_the_digits_of_each_file) {
  dsp::signal_builder b;
  b.silence(100).dtmf('1', 60).silence(80).dtmf('#', 60).silence(100);
  const auto ulaw = write("a.wav", b, 8000, dsp::wav_audio::encoding::ulaw);
  const auto alaw = write("b.wav", b, 8000, dsp::wav_audio::encoding::alaw);
  const auto r = run_detect(ulaw + " " + alaw);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, ulaw + ": 1#\n" + alaw + ": 1#\n");
}

TEST_F(detect_cli, json_gives_one_object_per_digit_with_times) {
  dsp::signal_builder b;
  b.silence(100).dtmf('5', 60).silence(100);
  const auto path = write("five.wav", b, 8000);
  const auto r = run_detect("--json " + path);
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  const std::string expected_start =
      "{\"file\": \"" + path + "\", \"digit\": \"5\", \"start_ms\": ";
  ASSERT_EQ(r.out.rfind(expected_start, 0), 0u) << r.out;
  EXPECT_EQ(r.out.substr(r.out.size() - 2), "}\n");
  const double start = number_after(r.out, "\"start_ms\": ");
  const double end = number_after(r.out, "\"end_ms\": ");
  const double detected = number_after(r.out, "\"detected_ms\": ");
  EXPECT_NEAR(start, 100.0, 5.0);
  EXPECT_NEAR(end, 160.0, 5.0);
  EXPECT_GT(detected, start);
  EXPECT_LE(detected - start, 40.0);
}

TEST_F(detect_cli, reads_16_khz_files_with_times_in_file_time) {
  dsp::signal_builder b(16000.0f);
  b.silence(100).dtmf('9', 60).silence(60).dtmf('D', 60).silence(100);
  const auto path = write("wide.wav", b, 16000);
  const auto r = run_detect("--json " + path);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string nine = "\"digit\": \"9\", \"start_ms\": ";
  ASSERT_NE(r.out.find(nine), std::string::npos) << r.out;
  EXPECT_NEAR(number_after(r.out, nine), 100.0, 5.0);
  EXPECT_NE(r.out.find("\"digit\": \"D\""), std::string::npos) << r.out;
}

TEST_F(detect_cli, bad_files_are_named_on_stderr_and_the_others_still_processed) {
  dsp::signal_builder b;
  b.silence(50).dtmf('7', 60).silence(50);
  const auto good = write("good.wav", b, 8000);
  const auto not_wav = (dir_ / "notes.txt").string();
  std::ofstream(not_wav) << "this is not audio";
  const auto truncated = (dir_ / "short.wav").string();
  {
    auto bytes = dsp::encode_wav(8000, b.pcm16());
    std::ofstream(truncated, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), 100);
  }
  const auto stereo = (dir_ / "stereo.wav").string();
  {
    auto bytes = dsp::encode_wav(8000, b.pcm16());
    bytes[22] = 2;  // channel count in the fmt chunk
    std::ofstream(stereo, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
  }
  const auto missing = (dir_ / "missing.wav").string();
  const auto r = run_detect(not_wav + " " + good + " " + truncated + " " + stereo + " " + missing);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, good + ": 7\n");
  for (const auto& f : {not_wav, truncated, stereo, missing}) {
    EXPECT_NE(r.err.find(f + ": "), std::string::npos) << "no message for " << f << " in:\n"
                                                       << r.err;
  }
  EXPECT_NE(r.err.find("channel"), std::string::npos) << r.err;
  // One line per bad file.
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 4) << r.err;
}

TEST_F(detect_cli, mask_to_writes_what_the_agent_hears_with_no_key_left) {
  dsp::signal_builder b;
  b.silence(200).dtmf('4', 80, {-8.0f}).silence(100).tone(440, 300, -15).silence(100);
  const auto caller = write("caller.wav", b, 8000, dsp::wav_audio::encoding::ulaw);
  const auto agent = (dir_ / "agent.wav").string();
  const auto masked = run_detect("--mask-to " + agent + " " + caller);
  ASSERT_EQ(masked.status, 0) << masked.err;
  EXPECT_NE(masked.out.find("leaked 0 samples"), std::string::npos) << masked.out;
  EXPECT_EQ(run_detect(agent).out, agent + ": (no digits)\n");
  const auto scan = run_detect("--leak " + agent);
  EXPECT_EQ(scan.status, 0) << scan.out;
  EXPECT_EQ(scan.out, agent + ": no DTMF fragment\n");
  // Time-aligned with the input, and the speech after the key is still there.
  auto wav = dsp::read_wav_file(agent);
  ASSERT_TRUE(wav.ok()) << wav.error();
  ASSERT_EQ(wav.audio().samples.size(), b.size());
  double speech = 0;
  for (std::size_t i = b.samples_for_ms(420); i < b.samples_for_ms(660); ++i) {
    speech += std::abs(wav.audio().samples[i]);
  }
  EXPECT_GT(speech, 0.0);
}

TEST_F(detect_cli, leak_reports_each_fragment_and_exits_1) {
  dsp::signal_builder b;
  b.silence(100).dtmf('#', 6, {-10.0f}).silence(100);
  const auto path = write("fragment.wav", b, 8000);
  const auto r = run_detect("--leak --json " + path);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.out.find("\"key\": \"#\""), std::string::npos) << r.out;
  EXPECT_NEAR(number_after(r.out, "\"leak_ms\": "), 100.0, 3.0) << r.out;
}

TEST_F(detect_cli, isa_lists_the_targets_and_unknown_options_are_refused) {
  const auto r = run_detect("--isa");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("scalar"), std::string::npos) << r.out;
  const auto bad = run_detect("--frobnicate x.wav");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("--frobnicate"), std::string::npos) << bad.err;
}

TEST_F(detect_cli, forcing_an_unknown_isa_is_an_error_naming_it) {
  const auto r = run_detect("--isa", "TONEGUARD_ISA=sparc");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("TONEGUARD_ISA=sparc"), std::string::npos) << r.err;
}

// ---- Captures: pcap and pcapng files written here, frames built byte by byte.

using bytes = std::vector<std::uint8_t>;

void put16(bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put32(bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}
void put32le(bytes& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put16le(bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v));
  b.push_back(static_cast<std::uint8_t>(v >> 8));
}

// One side of a UDP flow: an IPv4 address (a.b.c.d) or, with v6, 2001:db8::d.
struct endpoint {
  std::array<std::uint8_t, 4> v4{};
  std::uint16_t port = 0;
  bool v6 = false;
};

bytes udp_frame(const endpoint& from, const endpoint& to, const bytes& payload) {
  bytes udp;
  put16(udp, from.port);
  put16(udp, to.port);
  put16(udp, static_cast<std::uint16_t>(8 + payload.size()));
  put16(udp, 0);
  udp.insert(udp.end(), payload.begin(), payload.end());
  bytes frame(12, 0x02);  // Ethernet addresses
  if (from.v6) {
    put16(frame, 0x86DD);
    frame.insert(frame.end(), {0x60, 0, 0, 0});
    put16(frame, static_cast<std::uint16_t>(udp.size()));
    frame.insert(frame.end(), {17, 64});
    for (const auto* e : {&from, &to}) {
      frame.insert(frame.end(),
                   {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, e->v4[3]});
    }
  } else {
    put16(frame, 0x0800);
    frame.insert(frame.end(), {0x45, 0});
    put16(frame, static_cast<std::uint16_t>(20 + udp.size()));
    frame.insert(frame.end(), {0, 0, 0x40, 0, 64, 17, 0, 0});
    frame.insert(frame.end(), from.v4.begin(), from.v4.end());
    frame.insert(frame.end(), to.v4.begin(), to.v4.end());
  }
  frame.insert(frame.end(), udp.begin(), udp.end());
  return frame;
}

struct captured_frame {
  std::int64_t time_us = 0;
  bytes frame;
};

// A capture being built: frames from several flows, written in time order.
class capture_builder {
 public:
  void add(std::int64_t time_us, bytes frame) { frames_.push_back({time_us, std::move(frame)}); }
  void add_udp(std::int64_t time_us, const endpoint& from, const endpoint& to, const bytes& p) {
    add(time_us, udp_frame(from, to, p));
  }
  std::vector<captured_frame> in_time_order() const {
    auto sorted = frames_;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.time_us < b.time_us; });
    return sorted;
  }
  std::vector<captured_frame>& frames() { return frames_; }

  // pcap in either byte order, with microsecond (magic a1b2c3d4) or nanosecond (a1b23c4d)
  // timestamps.
  bytes pcap(std::uint32_t link_type = 1, bool big_endian = false, bool nanoseconds = false) const {
    bytes b;
    auto u32 = [&](std::uint32_t v) { big_endian ? put32(b, v) : put32le(b, v); };
    auto u16 = [&](std::uint16_t v) { big_endian ? put16(b, v) : put16le(b, v); };
    u32(nanoseconds ? 0xA1B23C4D : 0xA1B2C3D4);
    u16(2);
    u16(4);
    u32(0);
    u32(0);
    u32(65535);
    u32(link_type);
    for (const auto& f : in_time_order()) {
      u32(static_cast<std::uint32_t>(f.time_us / 1'000'000));
      u32(static_cast<std::uint32_t>(f.time_us % 1'000'000 * (nanoseconds ? 1000 : 1)));
      u32(static_cast<std::uint32_t>(f.frame.size()));
      u32(static_cast<std::uint32_t>(f.frame.size()));
      b.insert(b.end(), f.frame.begin(), f.frame.end());
    }
    return b;
  }

  // pcapng, big-endian: a section header, one Ethernet interface (µs timestamps), and an
  // enhanced packet block per frame.
  bytes pcapng() const {
    bytes b;
    put32(b, 0x0A0D0D0A);
    put32(b, 28);
    put32(b, 0x1A2B3C4D);
    put16(b, 1);
    put16(b, 0);
    put32(b, 0xFFFFFFFF);  // section length: unknown
    put32(b, 0xFFFFFFFF);
    put32(b, 28);
    put32(b, 1);  // interface description block
    put32(b, 20);
    put16(b, 1);  // Ethernet
    put16(b, 0);
    put32(b, 65535);
    put32(b, 20);
    for (const auto& f : in_time_order()) {
      const std::size_t padded = (f.frame.size() + 3) / 4 * 4;
      const auto length = static_cast<std::uint32_t>(32 + padded);
      put32(b, 6);  // enhanced packet block
      put32(b, length);
      put32(b, 0);  // interface 0
      put32(b, static_cast<std::uint32_t>(static_cast<std::uint64_t>(f.time_us) >> 32));
      put32(b, static_cast<std::uint32_t>(f.time_us));
      put32(b, static_cast<std::uint32_t>(f.frame.size()));
      put32(b, static_cast<std::uint32_t>(f.frame.size()));
      b.insert(b.end(), f.frame.begin(), f.frame.end());
      b.resize(b.size() + padded - f.frame.size(), 0);
      put32(b, length);
    }
    return b;
  }

 private:
  std::vector<captured_frame> frames_;
};

constexpr std::int64_t call_start_us = 1'700'000'000'000'000;

bytes rtp_packet(std::uint8_t pt, bool marker, std::uint16_t seq, std::uint32_t ts,
                 std::uint32_t ssrc, const bytes& payload) {
  bytes p = {0x80, static_cast<std::uint8_t>(pt | (marker ? 0x80 : 0))};
  put16(p, seq);
  put32(p, ts);
  put32(p, ssrc);
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

// One RTP stream of a synthesized call: 20 ms G.711 packets of `audio` from the call's
// start, and RFC 4733 events (payload type 101) on the same SSRC and clock.
class rtp_stream_builder {
 public:
  rtp_stream_builder(endpoint from, endpoint to, std::uint32_t ssrc, std::uint16_t first_seq = 1000,
                     std::uint32_t first_ts = 160'000)
      : from_(from), to_(to), ssrc_(ssrc), first_seq_(first_seq), first_ts_(first_ts) {}

  // The packets are sent from `ms` after the call's start (default 0).
  rtp_stream_builder& starting_at(std::int64_t ms) {
    offset_ms_ = ms;
    return *this;
  }

  rtp_stream_builder& audio(const dsp::signal_builder& b, dsp::g711_law law) {
    const auto pcm = b.pcm16();
    for (std::size_t at = 0; at + 160 <= pcm.size(); at += 160) {
      bytes codes(160);
      dsp::g711_encode(law, std::span<const std::int16_t>(pcm).subspan(at, 160), codes);
      packets_.push_back({static_cast<std::int64_t>(at) / 8,
                          static_cast<std::uint8_t>(law == dsp::g711_law::ulaw ? 0 : 8), false,
                          static_cast<std::uint32_t>(at), std::move(codes)});
    }
    return *this;
  }

  // Key `key` from `at_ms` for `ms`: an update every 50 ms (the first with the marker), then
  // the end packet three times.
  rtp_stream_builder& event(char key, int at_ms, int ms) {
    const std::string keys = "0123456789*#ABCD";
    const auto code = static_cast<std::uint8_t>(keys.find(key));
    const auto ts = static_cast<std::uint32_t>(at_ms * 8);
    auto payload = [&](bool end, int duration_ms) {
      bytes p = {code, static_cast<std::uint8_t>((end ? 0x80 : 0) | 10)};
      put16(p, static_cast<std::uint16_t>(duration_ms * 8));
      return p;
    };
    for (int t = 0; t < ms; t += 50)
      packets_.push_back({at_ms + t, 101, t == 0, ts, payload(false, t)});
    for (int i = 0; i < 3; ++i) packets_.push_back({at_ms + ms, 101, false, ts, payload(true, ms)});
    return *this;
  }

  // The packets numbered in send order (time, then audio before events), into `capture`,
  // without the packets whose send index is in `lost`; `swapped` pairs trade capture order.
  void into(capture_builder& capture, const std::vector<std::size_t>& lost = {},
            const std::vector<std::size_t>& swapped = {}) {
    std::stable_sort(packets_.begin(), packets_.end(),
                     [](const auto& a, const auto& b) { return a.at_ms < b.at_ms; });
    std::vector<captured_frame> frames;
    for (std::size_t i = 0; i < packets_.size(); ++i) {
      const auto& p = packets_[i];
      const auto seq = static_cast<std::uint16_t>(first_seq_ + i);
      if (std::find(lost.begin(), lost.end(), i) != lost.end()) continue;
      frames.push_back(
          {call_start_us + (offset_ms_ + p.at_ms) * 1000 + static_cast<std::int64_t>(i),
           udp_frame(from_, to_,
                     rtp_packet(p.pt, p.marker, seq, first_ts_ + p.ts, ssrc_, p.payload))});
    }
    for (std::size_t i : swapped) std::swap(frames[i].frame, frames[i + 1].frame);
    for (auto& f : frames) capture.add(f.time_us, std::move(f.frame));
  }

 private:
  struct packet {
    std::int64_t at_ms;
    std::uint8_t pt;
    bool marker;
    std::uint32_t ts;  // from the stream's first timestamp
    bytes payload;
  };
  endpoint from_, to_;
  std::uint32_t ssrc_;
  std::uint16_t first_seq_;
  std::uint32_t first_ts_;
  std::vector<packet> packets_;
  std::int64_t offset_ms_ = 0;
};

const endpoint caller{{10, 0, 0, 1}, 4000};
const endpoint agent{{10, 0, 0, 2}, 5000};
const endpoint phone{{10, 0, 0, 3}, 4002};
const endpoint agent_2{{10, 0, 0, 2}, 5002};

// UDP that is not RTP: DNS answers whose first byte looks like RTP version 2 (a new "SSRC"
// each), SIP, RTCP sender reports beside the caller's stream, and RTP-shaped packets of a
// dynamic audio codec (not G.711, not telephone-event), which are skipped.
void add_other_udp(capture_builder& capture) {
  const endpoint dns{{10, 0, 0, 53}, 53};
  const endpoint client{{10, 0, 0, 1}, 33000};
  const endpoint sip_a{{10, 0, 0, 1}, 5060};
  const endpoint sip_b{{10, 0, 0, 2}, 5060};
  for (int i = 0; i < 40; ++i) {
    bytes answer = {0x80, 0x80, static_cast<std::uint8_t>(i), 0x01, 0, 1, 0, 1};
    for (int k = 0; k < 24; ++k) answer.push_back(static_cast<std::uint8_t>(i * 37 + k * 11));
    capture.add_udp(call_start_us + i * 25'000, dns, client, answer);
  }
  const std::string invite =
      "INVITE sip:agent@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060\r\n\r\n";
  const std::string ok = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060\r\n\r\n";
  for (int i = 0; i < 5; ++i) {
    capture.add_udp(call_start_us - 50'000 + i, sip_a, sip_b, bytes(invite.begin(), invite.end()));
    capture.add_udp(call_start_us - 40'000 + i, sip_b, sip_a, bytes(ok.begin(), ok.end()));
  }
  const endpoint caller_rtcp{{10, 0, 0, 1}, 4001};
  const endpoint agent_rtcp{{10, 0, 0, 2}, 5001};
  for (int i = 0; i < 6; ++i) {
    bytes sr = {0x80, 200, 0, 6};
    put32(sr, 0x0A0A0A0A);
    sr.resize(28, 0);
    capture.add_udp(call_start_us + i * 200'000, caller_rtcp, agent_rtcp, sr);
  }
  const endpoint video_a{{10, 0, 0, 1}, 6000};
  const endpoint video_b{{10, 0, 0, 2}, 7000};
  for (int i = 0; i < 30; ++i) {
    capture.add_udp(call_start_us + i * 20'000, video_a, video_b,
                    rtp_packet(96, false, static_cast<std::uint16_t>(i), i * 160u, 0x0D0D0D0D,
                               bytes(160, static_cast<std::uint8_t>(0x55 + i))));
  }
}

// The caller's keys 1 5 9 # in-band (μ-law), with packets lost and reordered on the way and
// the sequence number and timestamp wrapping at the start.
dsp::signal_builder caller_keys() {
  dsp::signal_builder b;
  b.silence(200).dtmf('1', 80).silence(200).dtmf('5', 80).silence(200).dtmf('9', 80);
  b.silence(200).dtmf('#', 80).silence(200);
  return b;
}
constexpr double caller_key_ms[] = {200, 480, 760, 1040};

dsp::signal_builder agent_tone() {
  dsp::signal_builder b;
  b.silence(100).tone(440, 800, -15).silence(300);
  return b;
}

dsp::signal_builder quiet(double ms) {
  dsp::signal_builder b;
  b.silence(ms);
  return b;
}

// A call: the caller's in-band keys; the agent's side (A-law, a tone, no key); a phone whose
// keys 4 and 2 go as RFC 4733 events with silent μ-law audio; and UDP that is not RTP.
capture_builder call_capture(bool caller_over_ipv6 = false) {
  capture_builder capture;
  endpoint from = caller, to = agent;
  from.v6 = to.v6 = caller_over_ipv6;
  // Packets 20–22 (400–460 ms, between keys 1 and 5) are lost; 25 and 26 (inside key 5)
  // arrive swapped.
  rtp_stream_builder(from, to, 0x0A0A0A0A, 65530, 0xFFFFFF00)
      .audio(caller_keys(), dsp::g711_law::ulaw)
      .into(capture, {20, 21, 22}, {22});
  rtp_stream_builder(agent, caller, 0x0B0B0B0B, 7, 12345)
      .audio(agent_tone(), dsp::g711_law::alaw)
      .into(capture);
  rtp_stream_builder(phone, agent_2, 0x0C0C0C0C)
      .audio(quiet(1000), dsp::g711_law::ulaw)
      .event('4', 200, 100)
      .event('2', 600, 120)
      .into(capture);
  add_other_udp(capture);
  return capture;
}

// The JSON lines of `out` that name `stream`.
std::vector<std::string> lines_of(const std::string& out, const std::string& stream) {
  std::vector<std::string> found;
  std::size_t at = 0;
  while (at < out.size()) {
    const auto end = out.find('\n', at);
    const auto line = out.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (line.find("\"stream\": \"" + stream + "\"") != std::string::npos) found.push_back(line);
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return found;
}

class detect_cli_capture : public detect_cli {
 protected:
  std::string write_bytes(const std::string& name, const bytes& content) {
    const auto path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(content.data()), static_cast<long>(content.size()));
    return path;
  }
};

TEST_F(detect_cli_capture, prints_the_digits_of_each_rtp_stream_of_a_pcap) {
  const auto path = write_bytes("call.pcap", call_capture().pcap());
  const auto r = run_detect(path);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, path + ": 10.0.0.1:4000->10.0.0.2:5000 ssrc=0x0a0a0a0a: 159#\n" + path +
                       ": 10.0.0.2:5000->10.0.0.1:4000 ssrc=0x0b0b0b0b: (no digits)\n" + path +
                       ": 10.0.0.3:4002->10.0.0.2:5002 ssrc=0x0c0c0c0c: 42\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(detect_cli_capture, json_names_the_stream_and_places_keys_by_rtp_time) {
  const auto path = write_bytes("call.pcap", call_capture().pcap());
  const auto r = run_detect("--json " + path);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 6) << r.out;

  // In-band keys: times in the stream's RTP time, right despite the lost packets before '5'.
  const auto in_band = lines_of(r.out, "10.0.0.1:4000->10.0.0.2:5000");
  ASSERT_EQ(in_band.size(), 4u) << r.out;
  const std::string keys = "159#";
  for (std::size_t i = 0; i < in_band.size(); ++i) {
    const auto& line = in_band[i];
    EXPECT_EQ(line.rfind("{\"file\": \"" + path +
                             "\", \"stream\": \"10.0.0.1:4000->10.0.0.2:5000\", \"ssrc\": "
                             "\"0x0a0a0a0a\", \"digit\": \"" +
                             keys[i] + "\", \"source\": \"in-band\", \"start_ms\": ",
                         0),
              0u)
        << line;
    EXPECT_NEAR(number_after(line, "\"start_ms\": "), caller_key_ms[i], 10.0) << line;
    EXPECT_NEAR(number_after(line, "\"end_ms\": "), caller_key_ms[i] + 80, 10.0) << line;
    EXPECT_GT(number_after(line, "\"detected_ms\": "), caller_key_ms[i]) << line;
  }

  // RFC 4733: start from the event's timestamp, end from its duration.
  const auto events = lines_of(r.out, "10.0.0.3:4002->10.0.0.2:5002");
  ASSERT_EQ(events.size(), 2u) << r.out;
  EXPECT_NE(events[0].find("\"ssrc\": \"0x0c0c0c0c\", \"digit\": \"4\", \"source\": \"rfc4733\""),
            std::string::npos)
      << events[0];
  EXPECT_DOUBLE_EQ(number_after(events[0], "\"start_ms\": "), 200.0);
  EXPECT_DOUBLE_EQ(number_after(events[0], "\"end_ms\": "), 300.0);
  EXPECT_NE(events[1].find("\"digit\": \"2\", \"source\": \"rfc4733\""), std::string::npos)
      << events[1];
  EXPECT_DOUBLE_EQ(number_after(events[1], "\"start_ms\": "), 600.0);
  EXPECT_DOUBLE_EQ(number_after(events[1], "\"end_ms\": "), 720.0);
  EXPECT_TRUE(lines_of(r.out, "10.0.0.2:5000->10.0.0.1:4000").empty()) << r.out;
}

TEST_F(detect_cli_capture, reads_pcapng_with_ipv6_streams) {
  const auto path = write_bytes("call.pcapng", call_capture(true).pcapng());
  const auto r = run_detect(path);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, path + ": [2001:db8::1]:4000->[2001:db8::2]:5000 ssrc=0x0a0a0a0a: 159#\n" +
                       path + ": 10.0.0.2:5000->10.0.0.1:4000 ssrc=0x0b0b0b0b: (no digits)\n" +
                       path + ": 10.0.0.3:4002->10.0.0.2:5002 ssrc=0x0c0c0c0c: 42\n");
}

TEST_F(detect_cli_capture, a_capture_is_told_by_its_magic_bytes_not_its_name) {
  const auto capture = write_bytes("looks_like.wav", call_capture().pcap());
  dsp::signal_builder b;
  b.silence(100).dtmf('3', 60).silence(100);
  const auto wav = write("looks_like.pcap", b, 8000);
  const auto r = run_detect(capture + " " + wav);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(capture + ": 10.0.0.1:4000->10.0.0.2:5000 ssrc=0x0a0a0a0a: 159#\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(wav + ": 3\n"), std::string::npos) << r.out;
}

TEST_F(detect_cli_capture, every_pcap_byte_order_and_timestamp_precision_is_read) {
  const auto call = call_capture();
  for (bool big_endian : {false, true}) {
    for (bool nanoseconds : {false, true}) {
      const auto path =
          write_bytes("call_" + std::to_string(big_endian) + std::to_string(nanoseconds) + ".dat",
                      call.pcap(1, big_endian, nanoseconds));
      const auto r = run_detect(path);
      EXPECT_EQ(r.status, 0) << r.err;
      EXPECT_EQ(r.out, path + ": 10.0.0.1:4000->10.0.0.2:5000 ssrc=0x0a0a0a0a: 159#\n" + path +
                           ": 10.0.0.2:5000->10.0.0.1:4000 ssrc=0x0b0b0b0b: (no digits)\n" + path +
                           ": 10.0.0.3:4002->10.0.0.2:5002 ssrc=0x0c0c0c0c: 42\n");
    }
  }
}

TEST_F(detect_cli_capture,
       a_timestamp_reset_continues_by_capture_time_and_a_long_pause_keeps_times) {
  // One stream in three parts: key 1 at 200 ms; after 500 ms the sender's timestamps jump
  // (a restarted clock), key 2 at 700 ms; then a minute without packets, key 3 at 60.6 s.
  dsp::signal_builder part;
  part.silence(200).dtmf('1', 80).silence(220);
  dsp::signal_builder after_reset;
  after_reset.silence(200).dtmf('2', 80).silence(220);
  dsp::signal_builder after_pause;
  after_pause.silence(100).dtmf('3', 80).silence(100);
  capture_builder capture;
  rtp_stream_builder(caller, agent, 0x0A0A0A0A, 100, 160'000)
      .audio(part, dsp::g711_law::ulaw)
      .into(capture);
  rtp_stream_builder(caller, agent, 0x0A0A0A0A, 125, 0x92345678)
      .starting_at(500)
      .audio(after_reset, dsp::g711_law::ulaw)
      .into(capture);
  rtp_stream_builder(caller, agent, 0x0A0A0A0A, 150, 0x92345678 + 60'000 * 8)
      .starting_at(60'500)
      .audio(after_pause, dsp::g711_law::ulaw)
      .into(capture);
  const auto path = write_bytes("reset.pcap", capture.pcap());
  const auto r = run_detect("--json " + path);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto lines = lines_of(r.out, "10.0.0.1:4000->10.0.0.2:5000");
  ASSERT_EQ(lines.size(), 3u) << r.out;
  const double expected[] = {200, 700, 60'600};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_NE(lines[i].find(std::string("\"digit\": \"") + "123"[i] + "\""), std::string::npos)
        << lines[i];
    EXPECT_NEAR(number_after(lines[i], "\"start_ms\": "), expected[i], 10.0) << lines[i];
  }
}

TEST_F(detect_cli_capture, leak_finds_in_band_fragments_and_rfc4733_events_per_stream) {
  capture_builder unmasked;
  dsp::signal_builder key;
  key.silence(300).dtmf('7', 40, {-12.0f}).silence(300);
  rtp_stream_builder(caller, agent, 0x11111111).audio(key, dsp::g711_law::ulaw).into(unmasked);
  rtp_stream_builder(agent, caller, 0x22222222)
      .audio(agent_tone(), dsp::g711_law::alaw)
      .into(unmasked);
  add_other_udp(unmasked);
  const auto unmasked_path = write_bytes("unmasked.pcap", unmasked.pcap());

  const auto r = run_detect("--leak --json " + unmasked_path);
  EXPECT_EQ(r.status, 1) << r.err;
  const auto leaks = lines_of(r.out, "10.0.0.1:4000->10.0.0.2:5000");
  ASSERT_FALSE(leaks.empty()) << r.out;
  EXPECT_NE(leaks[0].find("\"ssrc\": \"0x11111111\", \"source\": \"in-band\""), std::string::npos)
      << leaks[0];
  EXPECT_NE(leaks[0].find("\"key\": \"7\""), std::string::npos) << leaks[0];
  EXPECT_NEAR(number_after(leaks[0], "\"leak_ms\": "), 300.0, 5.0) << leaks[0];
  EXPECT_TRUE(lines_of(r.out, "10.0.0.2:5000->10.0.0.1:4000").empty()) << r.out;

  capture_builder events;
  rtp_stream_builder(phone, agent_2, 0x33333333)
      .audio(quiet(600), dsp::g711_law::ulaw)
      .event('3', 250, 60)
      .into(events);
  const auto events_path = write_bytes("events.pcap", events.pcap());
  const auto e = run_detect("--leak " + events_path);
  EXPECT_EQ(e.status, 1) << e.err;
  EXPECT_EQ(e.out, events_path +
                       ": 10.0.0.3:4002->10.0.0.2:5002 ssrc=0x33333333: RFC 4733 event at 250.0 "
                       "ms (key 3, 60.0 ms)\n");
}

TEST_F(detect_cli_capture, leak_finds_nothing_in_a_clean_capture) {
  capture_builder clean;
  rtp_stream_builder(caller, agent, 0x11111111).audio(quiet(500), dsp::g711_law::ulaw).into(clean);
  rtp_stream_builder(agent, caller, 0x22222222)
      .audio(agent_tone(), dsp::g711_law::alaw)
      .into(clean);
  add_other_udp(clean);
  const auto path = write_bytes("clean.pcap", clean.pcap());
  const auto r = run_detect("--leak " + path);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.out, path + ": 10.0.0.1:4000->10.0.0.2:5000 ssrc=0x11111111: no DTMF fragment\n" +
                       path + ": 10.0.0.2:5000->10.0.0.1:4000 ssrc=0x22222222: no DTMF fragment\n");
}

TEST_F(detect_cli_capture, bad_captures_are_named_with_their_problem_and_the_others_processed) {
  const auto whole = call_capture().pcap();
  const auto good = write_bytes("good.pcap", whole);
  const auto truncated = write_bytes("truncated.pcap", bytes(whole.begin(), whole.end() - 30));
  const auto short_header = write_bytes("header.pcap", bytes(whole.begin(), whole.begin() + 10));
  auto token_ring = whole;
  token_ring[20] = 147;  // link type: DLT_USER0
  const auto unknown_link = write_bytes("user0.pcap", token_ring);
  capture_builder no_rtp;
  add_other_udp(no_rtp);
  const auto without_rtp = write_bytes("no_rtp.pcap", no_rtp.pcap());
  const auto empty = write_bytes("empty.pcapng", capture_builder().pcapng());

  const auto r = run_detect(truncated + " " + short_header + " " + unknown_link + " " +
                            without_rtp + " " + empty + " " + good);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find(good + ": 10.0.0.1:4000->10.0.0.2:5000 ssrc=0x0a0a0a0a: 159#\n"),
            std::string::npos)
      << r.out;
  auto line_for = [&](const std::string& file) {
    const auto at = r.err.find("toneguard-detect: " + file + ": ");
    if (at == std::string::npos) return std::string("(no line for " + file + ")");
    return r.err.substr(at, r.err.find('\n', at) - at);
  };
  EXPECT_NE(line_for(truncated).find("truncated"), std::string::npos) << r.err;
  EXPECT_NE(line_for(short_header).find("truncated"), std::string::npos) << r.err;
  EXPECT_NE(line_for(unknown_link).find("unsupported link-layer type 147"), std::string::npos)
      << r.err;
  EXPECT_NE(line_for(without_rtp).find("no RTP stream found"), std::string::npos) << r.err;
  EXPECT_NE(line_for(empty).find("no RTP stream found (0 frames"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 5) << r.err;

  // The same with --leak: still status 2, whatever was found.
  EXPECT_EQ(run_detect("--leak " + unknown_link + " " + good).status, 2);
}

TEST_F(detect_cli_capture, mask_to_refuses_a_capture_naming_it) {
  const auto path = write_bytes("call.pcap", call_capture().pcap());
  const auto r = run_detect("--mask-to " + (dir_ / "agent.wav").string() + " " + path);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "toneguard-detect: " + path + ": --mask-to reads a WAV file, not a capture\n");
  EXPECT_FALSE(fs::exists(dir_ / "agent.wav"));
}

TEST_F(detect_cli_capture, reads_sipps_rfc4733_capture) {
  const std::string path = "/usr/share/sip-tester/dtmf_2833_1.pcap";
  if (!fs::exists(path)) GTEST_SKIP() << path << " not installed (Debian sip-tester)";
  const auto r = run_detect("--json " + path);
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find("\"stream\": \"192.168.0.3:49176->192.168.0.1:10000\""), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"digit\": \"1\", \"source\": \"rfc4733\", \"start_ms\": 0.000"),
            std::string::npos)
      << r.out;
}

TEST_F(detect_cli_capture, reads_sipps_g711a_capture) {
  const std::string path = "/usr/share/sip-tester/g711a.pcap";
  if (!fs::exists(path)) GTEST_SKIP() << path << " not installed (Debian sip-tester)";
  const auto r = run_detect(path);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind(path + ": 10.1.3.143:5000->10.1.6.18:2006 ssrc=0x", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}

}  // namespace
}  // namespace toneguard
