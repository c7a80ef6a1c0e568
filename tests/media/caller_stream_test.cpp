// The caller-to-agent stream on RTP packets: keys reported once, and while masking is on,
// nothing of them reaches the agent, with the agent's stream kept valid.

#include "toneguard/media/caller_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "support/digit_trace.h"
#include "toneguard/dsp/dtmf_leak_scan.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/levels.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/media/rtp.h"

namespace toneguard::media {
namespace {

using recorder = ::toneguard::testing::digit_trace;

constexpr std::uint32_t ssrc = 0x11223344;
constexpr std::size_t capacity = 12 + 480;

std::vector<std::uint8_t> rtp(std::uint8_t pt, std::uint16_t seq, std::uint32_t ts, bool marker,
                              std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> p(12 + payload.size());
  p[0] = 0x80;
  p[1] = static_cast<std::uint8_t>(pt | (marker ? 0x80 : 0));
  p[2] = static_cast<std::uint8_t>(seq >> 8);
  p[3] = static_cast<std::uint8_t>(seq);
  for (int i = 0; i < 4; ++i) {
    p[4 + i] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
    p[8 + i] = static_cast<std::uint8_t>(ssrc >> (24 - 8 * i));
  }
  std::copy(payload.begin(), payload.end(), p.begin() + 12);
  return p;
}

std::vector<std::uint8_t> event_payload(std::uint8_t event, bool end, std::uint16_t duration) {
  return {event, static_cast<std::uint8_t>((end ? 0x80 : 0) | 10),
          static_cast<std::uint8_t>(duration >> 8), static_cast<std::uint8_t>(duration)};
}

// What the agent receives: each forwarded packet, parsed.
struct agent_side {
  std::vector<std::vector<std::uint8_t>> packets;
  void send(caller_stream& stream, std::vector<std::uint8_t> packet) {
    std::size_t length = packet.size();
    packet.resize(capacity);
    if (stream.process(packet, length) == caller_packet::forward) {
      packet.resize(length);
      packets.push_back(std::move(packet));
    }
  }
  // The decoded audio of the forwarded audio packets, in order.
  std::vector<float> audio(std::uint8_t pt) const {
    std::vector<float> out;
    for (const auto& p : packets) {
      const auto v = parse_rtp(p);
      if (!v.ok() || v.view.payload_type != pt) continue;
      std::vector<float> decoded(v.view.payload.size());
      dsp::g711_decode(dsp::g711_law::ulaw, v.view.payload, decoded);
      out.insert(out.end(), decoded.begin(), decoded.end());
    }
    return out;
  }
};

// μ-law packets of 20 ms from `audio`, starting at seq/ts.
void send_audio(caller_stream& stream, agent_side& agent, const std::vector<float>& audio,
                std::uint16_t& seq, std::uint32_t& ts) {
  std::vector<std::int16_t> pcm(audio.size());
  for (std::size_t i = 0; i < audio.size(); ++i) pcm[i] = static_cast<std::int16_t>(audio[i]);
  std::vector<std::uint8_t> codes(pcm.size());
  dsp::g711_encode(dsp::g711_law::ulaw, pcm, codes);
  for (std::size_t i = 0; i + 160 <= codes.size(); i += 160) {
    agent.send(stream, rtp(0, seq++, ts, false, std::span(codes).subspan(i, 160)));
    ts += 160;
  }
}

caller_stream_config masking_config() {
  caller_stream_config c;
  c.masking = true;
  return c;
}

TEST(caller_stream, in_band_key_is_reported_once_and_masked_toward_the_agent) {
  recorder sink;
  caller_stream stream(masking_config(), dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  dsp::signal_builder b;
  b.tone(440, 200, -20).dtmf('5', 90, {-8.0f}).tone(440, 300, -20);
  std::uint16_t seq = 1000;
  std::uint32_t ts = 5000;
  send_audio(stream, agent, b.audio(), seq, ts);
  EXPECT_EQ(sink.trace(), "5+5-");
  EXPECT_EQ(sink.events.front().source, digit_source::in_band);
  EXPECT_NEAR(static_cast<double>(sink.events.front().start_ms), 200.0, 5.0);
  EXPECT_EQ(stream.leaked_samples(), 0);
  EXPECT_TRUE(dsp::scan_for_dtmf_leaks(agent.audio(0)).empty());
  EXPECT_EQ(agent.packets.size(), b.size() / 160);
}

TEST(caller_stream, telephone_event_key_is_reported_once_and_replaced_by_masking_audio) {
  recorder sink;
  auto config = masking_config();
  config.masker.mode = dsp::mask_mode::flat_tone;
  caller_stream stream(config, dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  std::uint16_t seq = 7;
  std::uint32_t ts = 160000;
  dsp::signal_builder before;
  before.tone(440, 200, -20);
  send_audio(stream, agent, before.audio(), seq, ts);
  // Key '7' as RFC 4733 events: start with marker, updates every 20 ms, end sent three times.
  const std::uint32_t event_ts = ts;
  for (int i = 1; i <= 6; ++i) {
    agent.send(stream, rtp(101, seq++, event_ts, i == 1,
                           event_payload(7, false, static_cast<std::uint16_t>(160 * i))));
  }
  for (int i = 0; i < 3; ++i)
    agent.send(stream, rtp(101, seq++, event_ts, false, event_payload(7, true, 960)));
  ts = event_ts + 9 * 160;
  send_audio(stream, agent, before.audio(), seq, ts);

  EXPECT_EQ(sink.trace(), "7+7-");
  EXPECT_EQ(sink.events.front().source, digit_source::telephone_event);
  EXPECT_EQ(sink.events.back().end_ms - sink.events.back().start_ms, 120);
  // The agent sees one audio stream: every packet PCMU, sequence numbers and timestamps
  // continuous.
  ASSERT_EQ(agent.packets.size(), 10u + 9u + 10u);
  for (std::size_t i = 0; i < agent.packets.size(); ++i) {
    const auto v = parse_rtp(agent.packets[i]);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v.view.payload_type, 0) << i;
    EXPECT_EQ(v.view.ssrc, ssrc);
    EXPECT_EQ(v.view.payload.size(), 160u);
    if (i > 0) {
      const auto prev = parse_rtp(agent.packets[i - 1]);
      EXPECT_EQ(static_cast<std::uint16_t>(v.view.sequence - prev.view.sequence), 1) << i;
      EXPECT_EQ(v.view.timestamp - prev.view.timestamp, 160u) << i;
    }
  }
  EXPECT_EQ(stream.stats().events_replaced, 9u);
  // In place of the key the agent hears the flat tone.
  const auto heard = agent.audio(0);
  double sum = 0;
  const std::size_t from = 10 * 160 + 3 * 160, to = from + 3 * 160;
  for (std::size_t i = from; i < to; ++i) sum += double(heard[i]) * heard[i];
  EXPECT_NEAR(dsp::power_to_dbm0(static_cast<float>(sum / static_cast<double>(to - from))),
              config.masker.tone_level_dbm0, 0.5);
}

TEST(caller_stream, with_masking_off_events_pass_untouched_and_audio_is_only_delayed) {
  recorder sink;
  caller_stream stream(caller_stream_config{}, dsp::default_dtmf_receiver_settings(), sink,
                       "call-1");
  agent_side agent;
  std::uint16_t seq = 1;
  std::uint32_t ts = 0;
  dsp::signal_builder b;
  b.tone(440, 100, -20).dtmf('1', 80, {-8.0f}).silence(100);
  send_audio(stream, agent, b.audio(), seq, ts);
  const auto event = rtp(101, seq, ts, true, event_payload(2, false, 160));
  agent.send(stream, event);
  EXPECT_EQ(agent.packets.back(), event);
  // Keys reach the engine whether or not they are masked: '1' in-band, then '2' as an event.
  EXPECT_EQ(sink.trace(), "1+1-2+");
  EXPECT_FALSE(dsp::scan_for_dtmf_leaks(agent.audio(0)).empty());  // and the agent hears them
}

TEST(caller_stream, malformed_packets_are_dropped_and_counted) {
  recorder sink;
  caller_stream stream(masking_config(), dsp::default_dtmf_receiver_settings(), sink, "call-1");
  std::vector<std::uint8_t> junk{0x12, 0x34, 0x56};
  std::size_t length = junk.size();
  junk.resize(capacity);
  EXPECT_EQ(stream.process(junk, length), caller_packet::drop);
  EXPECT_EQ(stream.stats().malformed, 1u);
}

TEST(caller_stream, rejects_a_bad_configuration_naming_the_field) {
  recorder sink;
  caller_stream_config c;
  c.ptime_ms = 25;
  try {
    caller_stream s(c, dsp::default_dtmf_receiver_settings(), sink, "x");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("ptime_ms"), std::string::npos);
  }
}

}  // namespace
}  // namespace toneguard::media
