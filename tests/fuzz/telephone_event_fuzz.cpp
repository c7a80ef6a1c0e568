// libFuzzer target: the RFC 4733 receiver fed a sequence of events cut from the input. Each
// record is 8 bytes: flags (bit 0 marker, bit 1 `advance` instead of `feed`, bit 2 a large
// timestamp jump, bit 3 `reset`, bits 4-6 the payload length 0-4 when bit 7), a signed
// sequence step, a signed 16-bit timestamp step, and the 4-byte event payload.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "toneguard/media/telephone_event.h"

namespace {

using namespace toneguard::media;

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  telephone_event_receiver rx(telephone_event_receiver_config{size > 0 ? data[0] * 40u : 4000u});
  bool active = false;
  std::uint8_t event = 0;
  std::uint32_t start_ts = 0;
  std::uint16_t seq = 1000;
  std::uint32_t ts = 0xFFFF0000u;  // near the wrap
  std::uint64_t fed = 0;
  for (std::size_t pos = size > 0 ? 1 : 0; size - pos >= 8; pos += 8) {
    const std::uint8_t* r = data + pos;
    const std::uint8_t flags = r[0];
    seq = static_cast<std::uint16_t>(seq + static_cast<std::int8_t>(r[1]));
    ts += static_cast<std::uint32_t>(static_cast<std::int16_t>((r[2] << 8) | r[3]));
    if ((flags & 0x04) != 0) ts += 0x40000000u;
    if ((flags & 0x08) != 0) {
      rx.reset();
      active = false;
      require(!rx.active());
      continue;
    }
    const std::size_t length = (flags & 0x80) != 0 ? ((flags >> 4) & 0x07) % 5 : 4;
    const auto reports =
        (flags & 0x02) != 0
            ? rx.advance(ts)
            : rx.feed(seq, ts, (flags & 0x01) != 0, std::span<const std::uint8_t>(r + 4, length));
    if ((flags & 0x02) == 0) ++fed;
    require(reports.size() <= 3);
    for (const auto& e : reports) {
      // Starts and ends alternate, an end belongs to the event that started, and keys are
      // the DTMF codes exactly.
      require((e.kind == telephone_event_kind::key_start) != active);
      if (e.kind == telephone_event_kind::key_start) {
        event = e.event;
        start_ts = e.start_timestamp;
        require(!e.end_synthesized);
      } else {
        require(e.event == event && e.start_timestamp == start_ts);
      }
      require(e.key.has_value() == (e.event < 16));
      require(e.volume < 64);
      active = e.kind == telephone_event_kind::key_start;
    }
    require(active == rx.active());
  }
  const auto& s = rx.stats();
  require(s.packets == fed);
  require(s.malformed + s.duplicates + s.stale <= s.packets);
  return 0;
}
