// libFuzzer target: RTP and RTCP parsing, and the RFC 4733 receiver fed a packet stream
// carved from the input (each packet: 2-byte length, then that many bytes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "toneguard/media/rtp.h"
#include "toneguard/media/telephone_event.h"

namespace {

using namespace toneguard::media;

void check_rtp(std::span<const std::uint8_t> pkt) {
  const auto r = parse_rtp(pkt);
  if (!r.ok()) return;
  const auto& v = r.view;
  if (v.header_length + v.payload.size() + v.padding_length != pkt.size()) std::abort();
  for (std::size_t i = 0; i < v.csrc_count(); ++i) (void)v.csrc(i);
}

void check_rtcp(std::span<const std::uint8_t> pkt) {
  const auto r = parse_rtcp_compound(pkt);
  if (!r.ok()) return;
  std::size_t total = 0;
  std::size_t count = 0;
  for (const auto& p : r.compound) {
    total += p.bytes.size();
    ++count;
    (void)p.sender_ssrc();
    (void)p.sender_info();
    for (std::size_t i = 0; i < p.report_block_count(); ++i) {
      if (p.report_block(i).offset + 24 > pkt.size()) std::abort();
    }
  }
  if (total != pkt.size() || count != r.compound.size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> all(data, size);
  check_rtp(all);
  check_rtcp(all);
  (void)classify_muxed(all);

  telephone_event_receiver rx(telephone_event_receiver_config{800});
  bool active = false;
  std::size_t pos = 0;
  while (size - pos >= 2) {
    const std::size_t len = (std::size_t{data[pos]} << 8 | data[pos + 1]) % 512;
    pos += 2;
    if (len > size - pos) break;
    const auto pkt = all.subspan(pos, len);
    pos += len;
    check_rtp(pkt);
    check_rtcp(pkt);
    const auto r = parse_rtp(pkt);
    if (!r.ok()) continue;
    // Every report must alternate start/end; the receiver's active() must follow.
    auto reports = (r.view.payload_type & 1) != 0
                       ? rx.advance(r.view.timestamp)
                       : rx.feed(r.view.sequence, r.view.timestamp, r.view.marker, r.view.payload);
    for (const auto& e : reports) {
      if ((e.kind == telephone_event_kind::key_start) == active) std::abort();
      active = e.kind == telephone_event_kind::key_start;
    }
    if (active != rx.active()) std::abort();
  }
  return 0;
}
