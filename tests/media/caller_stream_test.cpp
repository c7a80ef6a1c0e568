// The caller-to-agent stream on RTP packets: keys reported once, and while masking is on,
// nothing of them reaches the agent, with the agent's stream kept valid.

#include "toneguard/media/caller_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

// A key as RFC 4733 events between two 200 ms stretches of a 440 Hz tone, the first from
// sequence number 7 and timestamp 160000: `send_events(seq, event_ts)` sends the key's packets
// (numbered from `seq`, on the key's timestamp `event_ts`); the tone resumes `key_packets`
// packets' time after the key's start.
template <class events_sender>
void send_key_between_tones(caller_stream& stream, agent_side& agent, std::uint32_t key_packets,
                            events_sender send_events) {
  std::uint16_t seq = 7;
  std::uint32_t ts = 160000;
  dsp::signal_builder tone;
  tone.tone(440, 200, -20);
  send_audio(stream, agent, tone.audio(), seq, ts);
  const std::uint32_t event_ts = ts;
  send_events(seq, event_ts);
  ts = event_ts + key_packets * 160;
  send_audio(stream, agent, tone.audio(), seq, ts);
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
  // Key '7' as RFC 4733 events: start with marker, updates every 20 ms, end sent three times.
  send_key_between_tones(stream, agent, 9, [&](std::uint16_t& seq, std::uint32_t event_ts) {
    for (int i = 1; i <= 6; ++i) {
      agent.send(stream, rtp(101, seq++, event_ts, i == 1,
                             event_payload(7, false, static_cast<std::uint16_t>(160 * i))));
    }
    for (int i = 0; i < 3; ++i)
      agent.send(stream, rtp(101, seq++, event_ts, false, event_payload(7, true, 960)));
  });

  EXPECT_EQ(sink.trace(), "7+7-");
  EXPECT_EQ(sink.events.front().source, digit_source::telephone_event);
  EXPECT_EQ(sink.events.back().end_ms - sink.events.back().start_ms, 120);
  // The agent sees one audio stream: every packet PCMU, sequence numbers continuous. Each event
  // packet with news (6 updates, the first end) becomes 20 ms of audio; the two repeated ends
  // carry no new time and are withheld, so the audio after the key follows with a timestamp
  // step of three packets (as after silence suppression) and none of it is dropped.
  ASSERT_EQ(agent.packets.size(), 10u + 7u + 10u);
  for (std::size_t i = 0; i < agent.packets.size(); ++i) {
    const auto v = parse_rtp(agent.packets[i]);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v.view.payload_type, 0) << i;
    EXPECT_EQ(v.view.ssrc, ssrc);
    EXPECT_EQ(v.view.payload.size(), 160u);
    if (i > 0) {
      const auto prev = parse_rtp(agent.packets[i - 1]);
      EXPECT_EQ(static_cast<std::uint16_t>(v.view.sequence - prev.view.sequence), 1) << i;
      EXPECT_EQ(v.view.timestamp - prev.view.timestamp, i == 17 ? 3 * 160u : 160u) << i;
    }
  }
  EXPECT_EQ(stream.stats().events_replaced, 7u);
  EXPECT_EQ(stream.stats().events_withheld, 2u);
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

// --- Helpers for the tests below ---------------------------------------------------------

std::vector<std::uint8_t> ulaw_codes(const std::vector<float>& audio) {
  std::vector<std::int16_t> pcm(audio.size());
  for (std::size_t i = 0; i < audio.size(); ++i) pcm[i] = static_cast<std::int16_t>(audio[i]);
  std::vector<std::uint8_t> codes(pcm.size());
  dsp::g711_encode(dsp::g711_law::ulaw, pcm, codes);
  return codes;
}

// Audio packet `index` (20 ms) of `codes`, with the stream's next seq; ts is the audio's own.
void send_audio_packet(caller_stream& stream, agent_side& agent,
                       const std::vector<std::uint8_t>& codes, std::size_t index,
                       std::uint16_t& seq) {
  agent.send(stream, rtp(0, seq++, static_cast<std::uint32_t>(index * 160), false,
                         std::span(codes).subspan(index * 160, 160)));
}

// Power of audio[from, from + n), dBm0.
float block_dbm0(const std::vector<float>& audio, std::size_t from, std::size_t n = 40) {
  double sum = 0;
  for (std::size_t i = from; i < from + n; ++i) sum += double(audio[i]) * audio[i];
  return dsp::power_to_dbm0(static_cast<float>(sum / static_cast<double>(n)));
}

// Every 40-sample block of the agent's audio in [from, to) is the flat masking tone.
void expect_masked(const std::vector<float>& heard, std::size_t from, std::size_t to,
                   float level_dbm0) {
  ASSERT_LE(to, heard.size());
  for (std::size_t at = from; at + 40 <= to; at += 40) {
    EXPECT_NEAR(block_dbm0(heard, at), level_dbm0, 1.0) << "block at output sample " << at;
  }
}

caller_stream_config flat_tone_masking() {
  auto c = masking_config();
  c.masker.mode = dsp::mask_mode::flat_tone;
  return c;
}

// --- Both sources of one key ---------------------------------------------------------------

TEST(caller_stream, event_key_outlasting_in_band_tones_keeps_the_agent_masked_until_its_end) {
  recorder sink;
  const auto config = flat_tone_masking();
  caller_stream stream(config, dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  // A gateway that sends the key in-band for 60 ms and then as telephone-events for 280 ms:
  // the in-band receiver ends the key while the events still hold it.
  dsp::signal_builder b;
  b.silence(200).dtmf('5', 60, {-8.0f}).silence(200);
  const auto codes = ulaw_codes(b.audio());
  std::uint16_t seq = 1;
  for (std::size_t i = 0; i < 13; ++i) send_audio_packet(stream, agent, codes, i, seq);
  const std::uint32_t event_ts = 13 * 160;
  for (int i = 1; i <= 11; ++i) {
    agent.send(stream, rtp(101, seq++, event_ts, i == 1,
                           event_payload(5, false, static_cast<std::uint16_t>(160 * i))));
  }
  // The masker's input position when the end arrives: 13 audio packets, 11 replaced events.
  const std::size_t end_at = (13 + 11) * 160;
  for (int i = 0; i < 3; ++i)
    agent.send(stream, rtp(101, seq++, event_ts, false, event_payload(5, true, 1760)));
  for (std::size_t i = 13; i < 23; ++i) send_audio_packet(stream, agent, codes, i, seq);

  EXPECT_EQ(sink.trace(), "5+5-");
  EXPECT_EQ(sink.events.back().source, digit_source::both);
  EXPECT_EQ(stream.leaked_samples(), 0);
  const auto heard = agent.audio(0);
  const std::size_t lookahead = 15 * 8, hangover = 5 * 8;
  EXPECT_TRUE(dsp::scan_for_dtmf_leaks(heard).empty());
  // Masked from the tone's onset to the events' end plus the hangover, without a break...
  expect_masked(heard, 1600 + lookahead + 40, end_at + hangover + lookahead - 40,
                config.masker.tone_level_dbm0);
  // ...and not longer.
  for (std::size_t at = end_at + hangover + lookahead + 40; at + 40 <= heard.size(); at += 40)
    EXPECT_LT(block_dbm0(heard, at), -60.0f) << at;
}

TEST(caller_stream, in_band_tones_outlasting_an_event_key_keep_the_agent_masked_until_their_end) {
  recorder sink;
  const auto config = flat_tone_masking();
  caller_stream stream(config, dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  // A phone that sends a 200 ms key in-band and, alongside, as telephone-events that end
  // after 60 ms: the events' end must not close the span under the tones still coming.
  dsp::signal_builder b;
  b.silence(200).dtmf('5', 200, {-8.0f}).silence(200);
  const auto codes = ulaw_codes(b.audio());
  std::uint16_t seq = 1;
  const std::uint32_t event_ts = 10 * 160;
  for (std::size_t i = 0; i < 30; ++i) {
    send_audio_packet(stream, agent, codes, i, seq);
    if (i >= 11 && i <= 15) {  // start, update, then the end three times
      const bool end = i >= 13;
      agent.send(stream, rtp(101, seq++, event_ts, i == 11,
                             event_payload(
                                 5, end, static_cast<std::uint16_t>(end ? 480 : 160 * (i - 10)))));
    }
  }
  EXPECT_EQ(sink.trace(), "5+5-");
  EXPECT_EQ(stream.leaked_samples(), 0);
  const auto heard = agent.audio(0);
  EXPECT_TRUE(dsp::scan_for_dtmf_leaks(heard).empty());
  // The phone's audio covers the events' time, so the event packets are withheld (not sent
  // as audio on top of it) and the agent gets the 30 audio packets, numbered without gaps and
  // on the phone's own timestamps.
  EXPECT_EQ(stream.stats().events_withheld, 5u);
  ASSERT_EQ(agent.packets.size(), 30u);
  for (std::size_t i = 0; i < agent.packets.size(); ++i) {
    const auto v = parse_rtp(agent.packets[i]);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v.view.payload_type, 0);
    EXPECT_EQ(v.view.sequence, 1 + i);
    EXPECT_EQ(v.view.timestamp, 160 * i);
  }
  // The tones run from 1600 to 3200 in the phone's audio.
  const std::size_t lookahead = 15 * 8;
  expect_masked(heard, 1600 + lookahead + 40, 3200 + lookahead, config.masker.tone_level_dbm0);
}

TEST(caller_stream, masking_switched_on_during_a_key_masks_the_rest_of_it) {
  recorder sink;
  auto config = flat_tone_masking();
  config.masking = false;
  caller_stream stream(config, dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  dsp::signal_builder b;
  b.silence(200).dtmf('3', 200, {-8.0f}).silence(200);
  const auto codes = ulaw_codes(b.audio());
  std::uint16_t seq = 1;
  for (std::size_t i = 0; i < 15; ++i) send_audio_packet(stream, agent, codes, i, seq);
  stream.set_masking(true);
  const std::size_t switched_at = 15 * 160;
  for (std::size_t i = 15; i < 30; ++i) send_audio_packet(stream, agent, codes, i, seq);
  EXPECT_EQ(sink.trace(), "3+3-");
  EXPECT_EQ(stream.leaked_samples(), 0);  // what went out before the switch is not a leak
  // Everything of the key not yet out at the switch is masked.
  expect_masked(agent.audio(0), switched_at, 3200 + 15 * 8, config.masker.tone_level_dbm0);
}

// --- Calls without G.711 ---------------------------------------------------------------------

caller_stream_config no_g711(bool masking) {
  caller_stream_config c;
  c.g711 = false;
  c.audio_payload_type = 9;  // G.722
  c.masking = masking;
  return c;
}

std::vector<std::uint8_t> g722_payload(std::uint16_t seq) {
  std::vector<std::uint8_t> p(160);
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::uint8_t>(seq * 7 + i);
  return p;
}

// Audio and a key '7' (start, 5 updates, end three times) from `first_seq`: 10 audio, 9
// events, 10 audio; returns what was sent.
std::vector<std::vector<std::uint8_t>> send_g722_call_with_key(caller_stream& stream,
                                                               agent_side& agent,
                                                               std::uint16_t first_seq) {
  std::vector<std::vector<std::uint8_t>> sent;
  std::uint16_t seq = first_seq;
  std::uint32_t ts = 1000;
  auto send = [&](std::vector<std::uint8_t> p) {
    sent.push_back(p);
    agent.send(stream, std::move(p));
  };
  for (int i = 0; i < 10; ++i, ts += 160) send(rtp(9, seq, ts, false, g722_payload(seq))), ++seq;
  const std::uint32_t event_ts = ts;
  for (int i = 1; i <= 6; ++i) {
    send(rtp(101, seq++, event_ts, i == 1,
             event_payload(7, false, static_cast<std::uint16_t>(160 * i))));
  }
  for (int i = 0; i < 3; ++i) send(rtp(101, seq++, event_ts, false, event_payload(7, true, 960)));
  ts = event_ts + 9 * 160;
  for (int i = 0; i < 10; ++i, ts += 160) send(rtp(9, seq, ts, false, g722_payload(seq))), ++seq;
  return sent;
}

TEST(caller_stream, without_g711_events_are_reported_and_withheld_and_the_sequence_closes_up) {
  recorder sink;
  caller_stream stream(no_g711(true), dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  const auto sent = send_g722_call_with_key(stream, agent, 100);
  EXPECT_EQ(sink.trace(), "7+7-");
  EXPECT_EQ(sink.events.front().source, digit_source::telephone_event);
  EXPECT_EQ(sink.events.back().end_ms - sink.events.back().start_ms, 120);
  EXPECT_EQ(stream.stats().event_packets, 9u);
  EXPECT_EQ(stream.stats().events_withheld, 9u);
  EXPECT_EQ(stream.stats().audio_packets, 20u);
  EXPECT_EQ(stream.stats().malformed, 0u);
  // The agent gets the audio only, untouched but for the sequence number, with no gap.
  ASSERT_EQ(agent.packets.size(), 20u);
  for (std::size_t i = 0; i < agent.packets.size(); ++i) {
    const auto& original = sent[i < 10 ? i : i + 9];
    const auto v = parse_rtp(agent.packets[i]);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v.view.sequence, 100 + i) << i;
    EXPECT_EQ(v.view.timestamp, parse_rtp(original).view.timestamp);
    auto expected = original;
    expected[2] = static_cast<std::uint8_t>((100 + i) >> 8);
    expected[3] = static_cast<std::uint8_t>(100 + i);
    EXPECT_EQ(agent.packets[i], expected) << i;
  }
}

TEST(caller_stream, without_g711_audio_passes_undelayed_and_events_pass_with_masking_off) {
  recorder sink;
  caller_stream stream(no_g711(false), dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  const auto sent = send_g722_call_with_key(stream, agent, 65530);  // across the wrap
  EXPECT_EQ(sink.trace(), "7+7-");
  EXPECT_EQ(agent.packets, sent);  // every packet, bit-exact, in order, none held back
  EXPECT_EQ(stream.stats().events_withheld, 0u);
}

TEST(caller_stream, without_g711_a_key_being_withheld_stays_withheld_when_masking_goes_off) {
  recorder sink;
  caller_stream stream(no_g711(true), dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  std::uint16_t seq = 10;
  agent.send(stream, rtp(9, seq++, 0, false, g722_payload(0)));
  agent.send(stream, rtp(101, seq++, 160, true, event_payload(4, false, 160)));
  stream.set_masking(false);
  agent.send(stream, rtp(101, seq++, 160, false, event_payload(4, false, 320)));
  for (int i = 0; i < 3; ++i)
    agent.send(stream, rtp(101, seq++, 160, false, event_payload(4, true, 480)));
  // The next key is not masked.
  const auto next = rtp(101, seq++, 960, true, event_payload(8, false, 160));
  agent.send(stream, next);
  EXPECT_EQ(sink.trace(), "4+4-8+");
  ASSERT_EQ(agent.packets.size(), 2u);
  EXPECT_EQ(stream.stats().events_withheld, 5u);
  const auto v = parse_rtp(agent.packets[1]);
  EXPECT_EQ(v.view.sequence, 11);  // renumbered after the five withheld
  EXPECT_EQ(v.view.payload[0], 8);
}

TEST(caller_stream, without_g711_reordered_packets_get_the_number_of_their_place) {
  recorder sink;
  caller_stream stream(no_g711(true), dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  auto audio = [&](std::uint16_t seq) {
    agent.send(stream, rtp(9, seq, seq * 160u, false, g722_payload(seq)));
    return parse_rtp(agent.packets.back()).view.sequence;
  };
  auto event = [&](std::uint16_t seq, bool end) {
    const std::size_t before = agent.packets.size();
    agent.send(stream, rtp(101, seq, 102 * 160u, seq == 102, event_payload(1, end, 160)));
    EXPECT_EQ(agent.packets.size(), before) << "event " << seq << " reached the agent";
  };
  EXPECT_EQ(audio(100), 100);
  EXPECT_EQ(audio(101), 101);
  event(102, false);
  EXPECT_EQ(audio(104), 103);
  EXPECT_EQ(audio(103), 102);  // late, but in its own place
  EXPECT_EQ(audio(103), 102);  // a duplicate keeps it
  EXPECT_EQ(audio(106), 105);
  event(105, true);  // late: its number (104 for the agent) is already behind, a gap
  EXPECT_EQ(audio(107), 106);
  event(102, false);  // a duplicate of a withheld one
  EXPECT_EQ(stream.stats().events_withheld, 3u);
  EXPECT_EQ(stream.stats().late, 0u);
}

TEST(caller_stream, without_g711_key_times_follow_the_events_clock_rate) {
  recorder sink;
  auto config = no_g711(true);
  config.audio_payload_type = 111;  // Opus
  config.clock_rate_hz = 48000;
  caller_stream stream(config, dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  agent.send(stream, rtp(111, 1, 0, false, g722_payload(1)));
  agent.send(stream, rtp(101, 2, 48000, true, event_payload(2, false, 960)));
  // Silence past the receiver's 500 ms end gap (in this clock) ends the key.
  agent.send(stream, rtp(111, 3, 48000 + 960 + 24000 + 960, false, g722_payload(3)));
  EXPECT_EQ(sink.trace(), "2+2-");
  EXPECT_EQ(sink.events.front().start_ms, 1000);
  EXPECT_EQ(sink.events.back().end_ms, 1020);
}

// --- Detect-only -------------------------------------------------------------------------------

TEST(caller_stream, detect_only_reports_keys_as_the_agent_and_passes_everything_undelayed) {
  recorder sink;
  caller_stream_config config;
  config.detect_only = true;
  config.from = leg::agent;
  config.masking = true;  // ignored
  caller_stream stream(config, dsp::default_dtmf_receiver_settings(), sink, "call-1");
  EXPECT_FALSE(stream.masking());
  stream.set_masking(true);
  EXPECT_FALSE(stream.masking());
  std::vector<std::vector<std::uint8_t>> sent;
  agent_side agent;
  dsp::signal_builder b;
  b.silence(100).dtmf('1', 80, {-8.0f}).silence(200);
  const auto codes = ulaw_codes(b.audio());
  std::uint16_t seq = 1;
  for (std::size_t i = 0; i * 160 + 160 <= codes.size(); ++i) {
    sent.push_back(rtp(0, seq, static_cast<std::uint32_t>(i * 160), false,
                       std::span(codes).subspan(i * 160, 160)));
    agent.send(stream, sent.back());
    ++seq;
  }
  const std::uint32_t ts = static_cast<std::uint32_t>(codes.size());
  for (int i = 1; i <= 4; ++i) {
    sent.push_back(rtp(101, seq++, ts, i == 1, event_payload(2, i == 4, 160 * i)));
    agent.send(stream, sent.back());
  }
  EXPECT_EQ(agent.packets, sent);  // bit-exact, with no look-ahead delay
  EXPECT_EQ(sink.trace(), "1+1-2+2-");
  for (const leg l : sink.legs) EXPECT_EQ(l, leg::agent);
  EXPECT_EQ(stream.stats().events_replaced, 0u);
  EXPECT_EQ(stream.leaked_samples(), 0);
}

TEST(caller_stream, detect_only_without_g711_reports_events_and_changes_nothing) {
  recorder sink;
  auto config = no_g711(true);
  config.detect_only = true;
  config.from = leg::agent;
  caller_stream stream(config, dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  const auto sent = send_g722_call_with_key(stream, agent, 500);
  EXPECT_EQ(agent.packets, sent);
  EXPECT_EQ(sink.trace(), "7+7-");
  EXPECT_EQ(sink.legs.front(), leg::agent);
}

// --- RTCP --------------------------------------------------------------------------------------

void put32(std::vector<std::uint8_t>& p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p.push_back(static_cast<std::uint8_t>(v >> (24 - 8 * i)));
}

// A report block about `about`.
void put_block(std::vector<std::uint8_t>& p, std::uint32_t about, std::int32_t lost,
               std::uint32_t highest) {
  put32(p, about);
  put32(p, (std::uint32_t{3} << 24) | (static_cast<std::uint32_t>(lost) & 0xFFFFFF));
  put32(p, highest);
  put32(p, 17);          // jitter
  put32(p, 0x12345678);  // LSR
  put32(p, 0x00010000);  // DLSR
}

// SR from `from` with the given counts and report blocks (about, lost, highest).
std::vector<std::uint8_t> sr(
    std::uint32_t from, std::uint32_t packets, std::uint32_t octets,
    std::initializer_list<std::tuple<std::uint32_t, std::int32_t, std::uint32_t>> blocks = {}) {
  std::vector<std::uint8_t> p{static_cast<std::uint8_t>(0x80 | blocks.size()), 200, 0,
                              static_cast<std::uint8_t>(6 + 6 * blocks.size())};
  put32(p, from);
  put32(p, 0xE8000001);
  put32(p, 0x80000000);
  put32(p, 123456);
  put32(p, packets);
  put32(p, octets);
  for (auto [about, lost, highest] : blocks) put_block(p, about, lost, highest);
  return p;
}

std::vector<std::uint8_t> rr(
    std::uint32_t from,
    std::initializer_list<std::tuple<std::uint32_t, std::int32_t, std::uint32_t>> blocks) {
  std::vector<std::uint8_t> p{static_cast<std::uint8_t>(0x80 | blocks.size()), 201, 0,
                              static_cast<std::uint8_t>(1 + 6 * blocks.size())};
  put32(p, from);
  for (auto [about, lost, highest] : blocks) put_block(p, about, lost, highest);
  return p;
}

std::vector<std::uint8_t> sdes(std::uint32_t from) {
  std::vector<std::uint8_t> p{0x81, 202, 0, 3};
  put32(p, from);
  p.insert(p.end(), {1, 2, 'a', 'b', 0, 0, 0, 0});
  return p;
}

std::vector<std::uint8_t> compound(std::initializer_list<std::vector<std::uint8_t>> parts) {
  std::vector<std::uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

constexpr std::uint32_t agent_ssrc = 0xA6E47000;

TEST(caller_stream, sender_reports_to_the_agent_count_what_was_forwarded_without_g711) {
  recorder sink;
  caller_stream stream(no_g711(true), dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  (void)send_g722_call_with_key(stream, agent, 100);
  // The caller sent 29 packets, 20 × 160 audio octets and 9 × 4 event octets; 9 were withheld.
  auto report = compound({sr(ssrc, 29, 20 * 160 + 9 * 4, {{agent_ssrc, 1, 4000}}), sdes(ssrc)});
  auto expected = compound({sr(ssrc, 20, 20 * 160, {{agent_ssrc, 1, 4000}}), sdes(ssrc)});
  EXPECT_TRUE(stream.translate_rtcp_to_agent(report, report.size()));
  EXPECT_EQ(report, expected);  // the block about the agent's stream is not ours to change
  // Another source's report is left alone.
  auto other = compound({sr(0x99, 29, 3236), sdes(0x99)});
  const auto other_before = other;
  EXPECT_TRUE(stream.translate_rtcp_to_agent(other, other.size()));
  EXPECT_EQ(other, other_before);
  EXPECT_EQ(stream.stats().rtcp_rewritten, 1u);
}

TEST(caller_stream, sender_reports_to_the_agent_count_the_octets_of_replacing_audio) {
  recorder sink;
  caller_stream stream(masking_config(), dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  std::uint16_t seq = 7;
  std::uint32_t ts = 0;
  dsp::signal_builder before;
  before.silence(100);
  send_audio(stream, agent, before.audio(), seq, ts);
  auto untouched = compound({sr(ssrc, 5, 800), sdes(ssrc)});
  const auto untouched_before = untouched;
  EXPECT_TRUE(stream.translate_rtcp_to_agent(untouched, untouched.size()));
  EXPECT_EQ(untouched, untouched_before);  // nothing replaced yet: not a byte changes
  for (int i = 0; i < 3; ++i) {
    agent.send(stream, rtp(101, seq++, ts, i == 0,
                           event_payload(9, i == 2, static_cast<std::uint16_t>(160 * (i + 1)))));
  }
  auto report = sr(ssrc, 8, 5 * 160 + 3 * 4);
  EXPECT_TRUE(stream.translate_rtcp_to_agent(report, report.size()));
  EXPECT_EQ(report, sr(ssrc, 8, 8 * 160));  // sequence numbers kept: the count stays
}

TEST(caller_stream, receiver_reports_to_the_caller_are_mapped_back_to_its_numbering) {
  recorder sink;
  caller_stream stream(no_g711(true), dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  // Caller numbers 65530..65535, 0..3 (audio), 4..12 (withheld events), 13..22 (audio); the
  // agent saw 65530..13 with cycles 1 at the end.
  (void)send_g722_call_with_key(stream, agent, 65530);
  ASSERT_EQ(parse_rtp(agent.packets.back()).view.sequence, 13);
  auto report = compound({sr(agent_ssrc, 50, 8000, {{ssrc, 2, 0x0001000D}, {0x99, 2, 0x0001000D}}),
                          rr(agent_ssrc, {{ssrc, -1, 0x00010002}}), sdes(agent_ssrc)});
  auto expected =
      compound({sr(agent_ssrc, 50, 8000, {{ssrc, 2, 0x00010016}, {0x99, 2, 0x0001000D}}),
                rr(agent_ssrc, {{ssrc, -1, 0x00010002}}), sdes(agent_ssrc)});
  EXPECT_TRUE(stream.translate_rtcp_to_caller(report, report.size()));
  EXPECT_EQ(report, expected);  // 2 (before the holes) stays 2; 13 is the caller's 22
  // An agent seq right after the holes is the caller's first after them.
  auto edge = rr(agent_ssrc, {{ssrc, 0, 0x00010004}});
  EXPECT_TRUE(stream.translate_rtcp_to_caller(edge, edge.size()));
  EXPECT_EQ(edge, rr(agent_ssrc, {{ssrc, 0, 0x0001000D}}));
}

TEST(caller_stream, receiver_reports_do_not_count_late_withheld_events_as_lost) {
  recorder sink;
  caller_stream stream(no_g711(true), dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  for (std::uint16_t s : {100, 101, 103})
    agent.send(stream, rtp(9, s, s * 160u, false, g722_payload(s)));
  agent.send(stream, rtp(101, 102, 102 * 160u, true, event_payload(3, true, 160)));  // late
  // The agent saw 100, 101, 103 and counts 102 lost: it was withheld, not lost.
  auto report = rr(agent_ssrc, {{ssrc, 1, 103}});
  EXPECT_TRUE(stream.translate_rtcp_to_caller(report, report.size()));
  EXPECT_EQ(report, rr(agent_ssrc, {{ssrc, 0, 103}}));
  auto sender = sr(ssrc, 4, 3 * 160 + 4);
  EXPECT_TRUE(stream.translate_rtcp_to_agent(sender, sender.size()));
  EXPECT_EQ(sender, sr(ssrc, 3, 3 * 160));
}

TEST(caller_stream, rtcp_is_untouched_when_sequence_numbers_are_kept) {
  recorder sink;
  auto config = masking_config();
  caller_stream stream(config, dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  std::uint16_t seq = 7;
  std::uint32_t ts = 0;
  dsp::signal_builder b;
  b.silence(100);
  send_audio(stream, agent, b.audio(), seq, ts);
  for (int i = 0; i < 3; ++i)
    agent.send(stream, rtp(101, seq++, ts, i == 0, event_payload(9, i == 2, 160)));
  auto report = compound({sr(agent_ssrc, 50, 8000, {{ssrc, 2, 12}}),
                          rr(agent_ssrc, {{ssrc, 0, 12}}), sdes(agent_ssrc)});
  const auto before = report;
  EXPECT_TRUE(stream.translate_rtcp_to_caller(report, report.size()));
  EXPECT_EQ(report, before);
  EXPECT_EQ(stream.stats().rtcp_rewritten, 0u);
}

TEST(caller_stream, malformed_rtcp_is_refused_untouched_and_counted) {
  recorder sink;
  caller_stream stream(no_g711(true), dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  (void)send_g722_call_with_key(stream, agent, 100);
  const auto good = compound({sr(ssrc, 29, 3236, {{agent_ssrc, 1, 4000}}), sdes(ssrc)});
  std::vector<std::vector<std::uint8_t>> bad = {
      {},                                                          // empty
      std::vector<std::uint8_t>(good.begin(), good.end() - 4),     // last packet cut
      std::vector<std::uint8_t>(good.begin(), good.begin() + 30),  // SR cut
      rr(agent_ssrc, {{ssrc, 0, 1}}),
  };
  bad.back()[0] = 0x82;  // RC = 2 with one block
  auto wrong_version = good;
  wrong_version[0] = 0x41;
  bad.push_back(wrong_version);
  for (std::size_t i = 0; i < bad.size(); ++i) {
    auto packet = bad[i];
    EXPECT_FALSE(stream.translate_rtcp_to_agent(packet, packet.size())) << i;
    EXPECT_FALSE(stream.translate_rtcp_to_caller(packet, packet.size())) << i;
    EXPECT_EQ(packet, bad[i]) << i;
  }
  EXPECT_EQ(stream.stats().rtcp_malformed, 2 * bad.size());
  // A length beyond the buffer reads only the buffer.
  auto packet = good;
  EXPECT_TRUE(stream.translate_rtcp_to_agent(std::span(packet).first(packet.size()), 1 << 20));
}

TEST(caller_stream, rejects_a_clock_rate_that_does_not_fit_the_codec) {
  recorder sink;
  caller_stream_config c;
  c.clock_rate_hz = 48000;
  EXPECT_THROW(caller_stream(c, dsp::default_dtmf_receiver_settings(), sink, "x"),
               std::invalid_argument);
  c.g711 = false;
  EXPECT_NO_THROW(caller_stream(c, dsp::default_dtmf_receiver_settings(), sink, "x"));
  c.clock_rate_hz = 100;
  EXPECT_THROW(caller_stream(c, dsp::default_dtmf_receiver_settings(), sink, "x"),
               std::invalid_argument);
}

}  // namespace
}  // namespace toneguard::media

namespace toneguard::media {
namespace {

// RFC 4733 senders that send the repeated end packets back to back (in the same 20 ms) and go
// on with audio at once: the repeats are withheld and the sequence closes up, so no audio after
// the key is lost and the agent sees no gap.
TEST(caller_stream, repeated_event_ends_sent_back_to_back_cost_no_audio_after_the_key) {
  recorder sink;
  caller_stream stream(masking_config(), dsp::default_dtmf_receiver_settings(), sink, "call-1");
  agent_side agent;
  send_key_between_tones(stream, agent, 5, [&](std::uint16_t& seq, std::uint32_t event_ts) {
    for (int i = 1; i <= 5; ++i) {
      const bool end = i == 5;
      for (int copy = 0; copy < (end ? 3 : 1); ++copy) {
        agent.send(stream, rtp(101, seq++, event_ts, i == 1,
                               event_payload(4, end, static_cast<std::uint16_t>(160 * i))));
      }
    }
  });
  EXPECT_EQ(sink.trace(), "4+4-");
  ASSERT_EQ(agent.packets.size(), 10u + 5u + 10u);
  for (std::size_t i = 1; i < agent.packets.size(); ++i) {
    const auto v = parse_rtp(agent.packets[i]);
    const auto prev = parse_rtp(agent.packets[i - 1]);
    EXPECT_EQ(static_cast<std::uint16_t>(v.view.sequence - prev.view.sequence), 1) << i;
    EXPECT_EQ(v.view.timestamp - prev.view.timestamp, 160u) << i;
  }
  EXPECT_EQ(stream.stats().events_withheld, 2u);
}

}  // namespace
}  // namespace toneguard::media
