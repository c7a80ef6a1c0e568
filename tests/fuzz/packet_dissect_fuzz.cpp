// libFuzzer target: media::dissect_packet on the input as a frame of every supported link type
// (and of the link type its first two bytes name), checking that a payload always lies inside
// the frame and fits the UDP header before it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "toneguard/media/packet_dissect.h"

namespace {

using namespace toneguard::media;

constexpr int link_types[] = {link_type::null,         link_type::ethernet, link_type::raw,
                              link_type::raw_linktype, link_type::loop,     link_type::linux_sll,
                              link_type::ipv4,         link_type::ipv6,     link_type::linux_sll2};

void check(std::span<const std::uint8_t> frame, int link) {
  const auto r = dissect_packet(frame, link);
  if (!r.ok()) {
    if (to_string(r.error).empty()) std::abort();
    if ((r.error == dissect_error::unsupported_link_type) == link_type_supported(link))
      std::abort();
    return;
  }
  if (!link_type_supported(link)) std::abort();
  const auto* begin = frame.data();
  const auto* end = frame.data() + frame.size();
  // A UDP header (8 bytes) and at least a minimal IP header come before the payload.
  if (r.payload.data() < begin + 8 + 20 || r.payload.data() + r.payload.size() > end) std::abort();
  if (r.source.v6 != r.destination.v6) std::abort();
  (void)r.source.to_string();
  (void)r.destination.to_string();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> all(data, size);
  for (int link : link_types) check(all, link);
  if (size >= 2) check(all.subspan(2), data[0] << 8 | data[1]);
  return 0;
}
