#include "toneguard/media/packet_dissect.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace toneguard::media {
namespace {

constexpr std::uint16_t ether_ipv4 = 0x0800;
constexpr std::uint16_t ether_ipv6 = 0x86DD;
constexpr std::uint8_t ip_udp = 17;
// IPv6 extension headers (IANA "IPv6 Extension Header Types").
constexpr std::uint8_t ipv6_hop_by_hop = 0;
constexpr std::uint8_t ipv6_routing = 43;
constexpr std::uint8_t ipv6_fragment = 44;
constexpr std::uint8_t ipv6_authentication = 51;
constexpr std::uint8_t ipv6_destination_options = 60;
constexpr std::uint8_t ipv6_mobility = 135;
constexpr std::uint8_t ipv6_hip = 139;
constexpr std::uint8_t ipv6_shim6 = 140;
constexpr int max_extension_headers = 8;
constexpr int max_vlan_tags = 8;

std::uint16_t be16(std::span<const std::uint8_t> b, std::size_t at) noexcept {
  return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]);
}

std::uint32_t be32(std::span<const std::uint8_t> b, std::size_t at) noexcept {
  return std::uint32_t{be16(b, at)} << 16 | be16(b, at + 2);
}

dissect_result fail(dissect_error e) noexcept {
  dissect_result r;
  r.error = e;
  return r;
}

// The UDP header and payload of `segment` (the IP datagram's payload, already bounded by the
// IP length, so that link-layer padding is not taken for payload); `r` carries the addresses.
dissect_result udp(std::span<const std::uint8_t> segment, dissect_result r) noexcept {
  if (segment.size() < 8) return fail(dissect_error::truncated);
  const std::uint16_t length = be16(segment, 4);
  if (length < 8) return fail(dissect_error::bad_udp_header);
  if (length > segment.size()) return fail(dissect_error::truncated);
  r.source.port = be16(segment, 0);
  r.destination.port = be16(segment, 2);
  r.payload = segment.subspan(8, length - 8u);
  return r;
}

dissect_result ipv4(std::span<const std::uint8_t> p) noexcept {
  if (p.size() < 20) return fail(dissect_error::truncated);
  const std::size_t header = std::size_t{p[0] & 0x0Fu} * 4;
  const std::uint16_t total = be16(p, 2);
  if ((p[0] >> 4) != 4 || header < 20 || total < header) return fail(dissect_error::bad_ip_header);
  if (total > p.size()) return fail(dissect_error::truncated);
  // MF set or a non-zero offset: one piece of a datagram we do not reassemble.
  if ((be16(p, 6) & 0x3FFF) != 0) return fail(dissect_error::ip_fragment);
  if (p[9] != ip_udp) return fail(dissect_error::not_udp);
  dissect_result r;
  std::memcpy(r.source.address.data(), p.data() + 12, 4);
  std::memcpy(r.destination.address.data(), p.data() + 16, 4);
  return udp(p.subspan(header, total - header), r);
}

dissect_result ipv6(std::span<const std::uint8_t> p) noexcept {
  if (p.empty()) return fail(dissect_error::truncated);
  if ((p[0] >> 4) != 6) return fail(dissect_error::bad_ip_header);
  if (p.size() < 40) return fail(dissect_error::truncated);
  const std::size_t length = be16(p, 4);
  if (40 + length > p.size()) return fail(dissect_error::truncated);
  dissect_result r;
  r.source.v6 = r.destination.v6 = true;
  std::memcpy(r.source.address.data(), p.data() + 8, 16);
  std::memcpy(r.destination.address.data(), p.data() + 24, 16);
  std::uint8_t next = p[6];
  std::span<const std::uint8_t> rest = p.subspan(40, length);
  for (int i = 0; i < max_extension_headers; ++i) {
    if (next == ip_udp) return udp(rest, r);
    std::size_t ext = 0;
    switch (next) {
      case ipv6_hop_by_hop:
      case ipv6_routing:
      case ipv6_destination_options:
      case ipv6_mobility:
      case ipv6_hip:
      case ipv6_shim6:
        // RFC 8200 §4 and RFC 6564: next header, length in 8-byte units not counting the
        // first 8.
        if (rest.size() < 2) return fail(dissect_error::truncated);
        ext = 8 + 8 * std::size_t{rest[1]};
        break;
      case ipv6_authentication:
        // RFC 4302 §2.2: the length is in 4-byte units, minus 2.
        if (rest.size() < 2) return fail(dissect_error::truncated);
        ext = 4 * (std::size_t{rest[1]} + 2);
        break;
      case ipv6_fragment:
        // An atomic fragment (offset 0, no more fragments; RFC 6946) is a whole datagram.
        if (rest.size() < 8) return fail(dissect_error::truncated);
        if ((be16(rest, 2) & 0xFFF9) != 0) return fail(dissect_error::ip_fragment);
        ext = 8;
        break;
      default:
        return fail(dissect_error::not_udp);
    }
    if (ext > rest.size()) return fail(dissect_error::truncated);
    next = rest[0];
    rest = rest.subspan(ext);
  }
  return fail(dissect_error::not_udp);
}

dissect_result by_ethertype(std::uint16_t type, std::span<const std::uint8_t> p) noexcept {
  if (type == ether_ipv4) return ipv4(p);
  if (type == ether_ipv6) return ipv6(p);
  return fail(dissect_error::not_ip);
}

// Raw IP: the version nibble says which.
dissect_result by_version(std::span<const std::uint8_t> p) noexcept {
  if (p.empty()) return fail(dissect_error::truncated);
  if ((p[0] >> 4) == 4) return ipv4(p);
  if ((p[0] >> 4) == 6) return ipv6(p);
  return fail(dissect_error::not_ip);
}

// BSD address families: AF_INET is 2 everywhere; AF_INET6 is 24, 28 or 30 on the BSDs and
// macOS, 10 on Linux.
dissect_result by_family(std::uint32_t family, std::span<const std::uint8_t> p) noexcept {
  if (family == 2) return ipv4(p);
  if (family == 10 || family == 24 || family == 28 || family == 30) return ipv6(p);
  return fail(dissect_error::not_ip);
}

}  // namespace

bool link_type_supported(int link) noexcept {
  switch (link) {
    case link_type::null:
    case link_type::ethernet:
    case link_type::raw:
    case link_type::raw_linktype:
    case link_type::loop:
    case link_type::linux_sll:
    case link_type::ipv4:
    case link_type::ipv6:
    case link_type::linux_sll2:
      return true;
    default:
      return false;
  }
}

std::string_view to_string(dissect_error e) noexcept {
  switch (e) {
    case dissect_error::none:
      return "";
    case dissect_error::unsupported_link_type:
      return "unsupported link-layer type";
    case dissect_error::truncated:
      return "frame shorter than its headers";
    case dissect_error::not_ip:
      return "not IPv4 or IPv6";
    case dissect_error::bad_ip_header:
      return "malformed IP header";
    case dissect_error::ip_fragment:
      return "IP fragment";
    case dissect_error::not_udp:
      return "not UDP";
    case dissect_error::bad_udp_header:
      return "malformed UDP header";
  }
  return "unknown error";
}

std::string flow_endpoint::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, address.data(), text, sizeof text);
  return v6 ? "[" + std::string(text) + "]:" + std::to_string(port)
            : std::string(text) + ":" + std::to_string(port);
}

dissect_result dissect_packet(std::span<const std::uint8_t> f, int link) noexcept {
  switch (link) {
    case link_type::ethernet: {
      if (f.size() < 14) return fail(dissect_error::truncated);
      std::size_t at = 12;
      std::uint16_t type = be16(f, at);
      // 802.1Q, 802.1ad and the old QinQ tag: 4 bytes each, the real type after them.
      for (int i = 0; i < max_vlan_tags && (type == 0x8100 || type == 0x88A8 || type == 0x9100);
           ++i) {
        at += 4;
        if (f.size() < at + 2) return fail(dissect_error::truncated);
        type = be16(f, at);
      }
      return by_ethertype(type, f.subspan(at + 2));
    }
    case link_type::linux_sll:
      if (f.size() < 16) return fail(dissect_error::truncated);
      return by_ethertype(be16(f, 14), f.subspan(16));
    case link_type::linux_sll2:
      if (f.size() < 20) return fail(dissect_error::truncated);
      return by_ethertype(be16(f, 0), f.subspan(20));
    case link_type::raw:
    case link_type::raw_linktype:
      return by_version(f);
    case link_type::ipv4:
      return ipv4(f);
    case link_type::ipv6:
      return ipv6(f);
    case link_type::null: {
      if (f.size() < 4) return fail(dissect_error::truncated);
      // Host order of the machine that captured, which may not be ours: try both.
      const std::uint32_t big = be32(f, 0);
      const std::uint32_t little = std::uint32_t{f[0]} | std::uint32_t{f[1]} << 8 |
                                   std::uint32_t{f[2]} << 16 | std::uint32_t{f[3]} << 24;
      return by_family(std::min(big, little), f.subspan(4));
    }
    case link_type::loop:
      if (f.size() < 4) return fail(dissect_error::truncated);
      return by_family(be32(f, 0), f.subspan(4));
    default:
      return fail(dissect_error::unsupported_link_type);
  }
}

}  // namespace toneguard::media
