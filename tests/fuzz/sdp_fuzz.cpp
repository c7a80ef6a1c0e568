// libFuzzer target: SDP parse; whatever parses must serialize, parse again and serialize to
// the same text (the proxy re-parses what it sends).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "toneguard/media/sdp.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using toneguard::media::session_description;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto first = session_description::parse(text);
  if (!first.ok()) return 0;
  auto& sd = first.value();
  // Exercise every getter.
  (void)sd.origin();
  (void)sd.connection();
  for (const auto& m : sd.media()) {
    (void)sd.connection_of(m);
    (void)sd.direction_of(m);
    (void)m.payload_types();
    (void)m.rtcp();
    (void)m.crypto();
    (void)m.ptime();
    (void)m.telephone_event_payload_types();
    (void)m.g711_payload_types();
    for (auto pt : m.payload_types()) (void)m.fmtp(pt);
  }
  const std::string once = sd.serialize();
  auto second = session_description::parse(once);
  if (!second.ok()) std::abort();
  if (second.value().serialize() != once) std::abort();
  return 0;
}
