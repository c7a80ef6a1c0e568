// libFuzzer target: RTCP compound validation, the in-place RTCP rewriting helpers, and
// caller_stream's two RTCP translations. The input's first byte picks a stream history (none,
// or a no-G.711 call whose telephone-events were withheld and renumbered, in order or not);
// the rest is the datagram.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "toneguard/dsp/dtmf_receiver.h"
#include "toneguard/media/caller_stream.h"
#include "toneguard/media/rtp.h"

namespace {

using namespace toneguard::media;

void require(bool condition) {
  if (!condition) std::abort();
}

struct null_sink final : digit_sink {
  void on_digit(std::string_view, leg, const digit_event&) override {}
};

constexpr std::uint32_t stream_ssrc = 0x11223344;

void send(caller_stream& stream, std::uint8_t pt, std::uint16_t seq, std::uint32_t ts, bool marker,
          std::uint8_t event_byte) {
  std::uint8_t p[12 + 160] = {0x80, static_cast<std::uint8_t>(pt | (marker ? 0x80 : 0)),
                              static_cast<std::uint8_t>(seq >> 8), static_cast<std::uint8_t>(seq)};
  for (int i = 0; i < 4; ++i) {
    p[4 + i] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
    p[8 + i] = static_cast<std::uint8_t>(stream_ssrc >> (24 - 8 * i));
  }
  std::size_t length = sizeof p;
  if (pt == 101) {
    p[12] = event_byte & 0x0F;
    p[13] = 10;
    p[14] = 0;
    p[15] = 160;
    length = 16;
  }
  (void)stream.process(p, length);
}

// Builds a history from the bits of `h`: audio and events, some out of order.
void play_history(caller_stream& stream, std::uint8_t h) {
  std::uint16_t seq = static_cast<std::uint16_t>(65500 + h);  // near the wrap
  std::uint32_t ts = 0;
  for (int i = 0; i < 8; ++i) {
    const bool event = ((h >> i) & 1) != 0;
    if (event) {
      send(stream, 101, seq, ts, i == 0, h);
    } else {
      send(stream, 9, seq, ts, false, 0);
    }
    if ((h & 0x81) == 0x81 && i == 3)
      send(stream, 101, static_cast<std::uint16_t>(seq - 2), ts, false, h);
    ++seq;
    ts += 160;
  }
}

void check_views(std::span<const std::uint8_t> d, const rtcp_compound_parse_result& r) {
  if (!r.ok()) return;
  std::size_t total = 0;
  for (const auto& p : r.compound) {
    require(p.offset == total);
    total += p.bytes.size();
    (void)p.sender_info();
    for (std::size_t i = 0; i < p.report_block_count(); ++i)
      require(p.report_block(i).offset + 24 <= d.size());
  }
  require(total == d.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t history = data[0];
  const std::span<const std::uint8_t> datagram(data + 1, size - 1);
  const auto parsed = parse_rtcp_compound(datagram);
  check_views(datagram, parsed);

  // The helpers at offsets taken from the input never write outside the buffer.
  std::vector<std::uint8_t> copy(datagram.begin(), datagram.end());
  if (copy.size() >= 2) {
    const std::size_t at = (std::size_t{copy[0]} << 8 | copy[1]) % (copy.size() + 8);
    (void)set_rtcp_sender_counts(copy, at, 1, 2);
    (void)set_rtcp_report_block_reception(copy, at, -0x900000, 3);
  }

  null_sink sink;
  caller_stream_config config;
  config.g711 = (history & 0x40) != 0 && (history & 0x80) == 0;
  config.audio_payload_type = config.g711 ? 0 : 9;
  config.masking = (history & 0x20) != 0;
  caller_stream stream(config, toneguard::dsp::default_dtmf_receiver_settings(), sink, "fuzz");
  play_history(stream, history);
  const bool renumbered = stream.stats().events_withheld != 0;

  for (const bool to_agent : {true, false}) {
    std::vector<std::uint8_t> buffer(datagram.begin(), datagram.end());
    const auto length = buffer.size();
    const bool valid = to_agent ? stream.translate_rtcp_to_agent(buffer, length)
                                : stream.translate_rtcp_to_caller(buffer, length);
    require(valid == parsed.ok());
    require(buffer.size() == length);
    if (!valid || (!renumbered && stream.stats().events_replaced == 0)) {
      require(std::equal(buffer.begin(), buffer.end(), datagram.begin()));
    }
    if (valid) {
      // Only counts and reception fields change: the structure stays valid.
      const auto again = parse_rtcp_compound(buffer);
      require(again.ok() && again.compound.size() == parsed.compound.size());
      if (!to_agent && stream.stats().events_withheld == 0)
        require(std::equal(buffer.begin(), buffer.end(), datagram.begin()));
    }
  }
  return 0;
}
