// libFuzzer target: a caller_stream fed a sequence of packets cut from the input, with masking
// toggled by input bytes, in each of its modes. The first byte picks the mode (bits 0-1:
// G.711 μ-law, G.711 A-law, no G.711, detect-only), the ptime (bits 2-4), the masking kind
// (bits 5-6) and masking at start (bit 7). Then records: a control byte, then
//  - bit 0 clear: an RTP packet made from 6 bytes (payload type choice, marker, sequence step,
//    timestamp step, payload length), followed by its payload;
//  - bit 0 set: raw bytes (2-byte length, then the bytes) as RTP, or as RTCP to the agent
//    (bit 2) or to the caller (bit 3);
// bit 1 toggles masking before the packet.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>

#include "toneguard/dsp/dtmf_receiver.h"
#include "toneguard/media/caller_stream.h"
#include "toneguard/media/rtp.h"

namespace {

using namespace toneguard::media;

void require(bool condition) {
  if (!condition) std::abort();
}

// Presses must alternate start and end, on the configured leg and call.
struct checking_sink final : digit_sink {
  leg expected_leg = leg::caller;
  bool on = false;
  char key = '\0';
  void on_digit(std::string_view call_id, leg from, const digit_event& e) override {
    require(call_id == "fuzz" && from == expected_leg);
    require((e.what == digit_event::phase::start) != on);
    if (e.what == digit_event::phase::start) {
      key = e.key;
      require(e.end_ms == -1);
    } else {
      require(e.key == key);
    }
    on = e.what == digit_event::phase::start;
  }
};

constexpr std::size_t capacity = 1500;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t setup = data[0];
  const unsigned mode = setup & 0x03;
  caller_stream_config config;
  config.alaw = mode == 1;
  config.g711 = mode != 2;
  config.detect_only = mode == 3;
  config.from = config.detect_only ? leg::agent : leg::caller;
  config.audio_payload_type = config.alaw ? 8 : 0;
  config.event_payload_type = 101;
  config.ptime_ms = 10 * (1 + static_cast<int>((setup >> 2) & 0x07) % 6);
  config.masker.mode = static_cast<toneguard::dsp::mask_mode>(((setup >> 5) & 0x03) % 3);
  config.masking = (setup & 0x80) != 0;
  if (!config.g711) config.clock_rate_hz = (setup & 0x04) != 0 ? 48000 : 8000;
  checking_sink sink;
  sink.expected_leg = config.from;
  caller_stream stream(config, toneguard::dsp::default_dtmf_receiver_settings(), sink, "fuzz");

  static std::uint8_t buffer[capacity];
  static std::uint8_t original[capacity];
  std::uint16_t seq = 65000;
  std::uint32_t ts = 0;
  std::size_t pos = 1;
  while (pos < size) {
    const std::uint8_t control = data[pos++];
    if ((control & 0x02) != 0) stream.set_masking(!stream.masking());
    std::size_t length = 0;
    if ((control & 0x01) == 0) {
      if (size - pos < 6) break;
      const std::uint8_t* h = data + pos;
      pos += 6;
      const std::uint8_t pts[4] = {config.audio_payload_type, 101, 13, 9};
      const std::uint8_t pt = pts[h[0] & 0x03];
      seq = static_cast<std::uint16_t>(seq + static_cast<std::int8_t>(h[1]));
      ts += static_cast<std::uint32_t>(static_cast<std::int16_t>((h[2] << 8) | h[3]));
      std::size_t payload = h[4] | (static_cast<std::size_t>(h[5] & 0x01) << 8);
      if ((h[0] & 0x04) != 0)
        payload = pt == 101 ? 4 : static_cast<std::size_t>(config.ptime_ms) * 8;
      payload = std::min(payload, size - pos);
      buffer[0] = 0x80;
      buffer[1] = static_cast<std::uint8_t>(pt | ((h[0] & 0x08) != 0 ? 0x80 : 0));
      buffer[2] = static_cast<std::uint8_t>(seq >> 8);
      buffer[3] = static_cast<std::uint8_t>(seq);
      for (int i = 0; i < 4; ++i) {
        buffer[4 + i] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
        buffer[8 + i] = static_cast<std::uint8_t>(
            ((h[0] & 0x10) != 0 ? 0x55667788u : 0x11223344u) >> (24 - 8 * i));
      }
      std::memcpy(buffer + 12, data + pos, payload);
      pos += payload;
      length = 12 + payload;
    } else {
      if (size - pos < 2) break;
      length = std::min<std::size_t>((std::size_t{data[pos]} << 8 | data[pos + 1]) % 1024,
                                     size - pos - 2);
      pos += 2;
      std::memcpy(buffer, data + pos, length);
      pos += length;
      if ((control & 0x0C) != 0) {
        std::memcpy(original, buffer, length);
        const bool valid = (control & 0x04) != 0 ? stream.translate_rtcp_to_agent(buffer, length)
                                                 : stream.translate_rtcp_to_caller(buffer, length);
        require(valid == parse_rtcp_compound(std::span(original, length)).ok());
        if (!valid || config.detect_only) require(std::memcmp(buffer, original, length) == 0);
        continue;
      }
    }
    std::memcpy(original, buffer, length);
    const bool masking = stream.masking();
    const auto in = parse_rtp(std::span(original, length));
    const caller_packet result = stream.process(std::span(buffer, capacity), length);
    require(!stream.masking() || !config.detect_only);
    if (result != caller_packet::forward) {
      require(!config.detect_only || !in.ok() == (result == caller_packet::drop));
      continue;
    }
    require(in.ok());
    require(length <= capacity);
    const auto out = parse_rtp(std::span(buffer, length));
    require(out.ok());
    require(out.view.ssrc == in.view.ssrc);
    if (config.detect_only) {
      // Bit-exact and undelayed.
      require(std::memcmp(buffer, original, length) == 0);
    } else if (!config.g711) {
      // Only the sequence number may change, and no key's event goes out while masking.
      require(length == in.view.header_length + in.view.payload.size() + in.view.padding_length);
      require(std::memcmp(buffer, original, 2) == 0 &&
              std::memcmp(buffer + 4, original + 4, length - 4) == 0);
      require(!(masking && in.view.payload_type == 101));
    } else if (masking && in.view.payload_type == 101) {
      // A replaced event: one ptime of audio, the same sequence number unless withheld
      // events (a sender that sends audio during events) closed the sequence up before it.
      require(out.view.payload_type == config.audio_payload_type);
      require(out.view.payload.size() == static_cast<std::size_t>(config.ptime_ms) * 8);
      require(out.view.sequence == in.view.sequence || stream.stats().events_withheld != 0);
    }
  }
  return 0;
}
