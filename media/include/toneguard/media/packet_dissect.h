#pragma once
/// Dissects one captured frame (as read from a pcap/pcapng file) down to its UDP payload:
/// link layer (Ethernet with VLAN tags, Linux cooked SLL and SLL2, raw IP, BSD loopback/null),
/// then IPv4 or IPv6, then UDP. Never reads outside the frame; for toneguard-detect's capture
/// reader and its fuzz target.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace toneguard::media {

/// Link-layer header types, as libpcap's pcap_datalink() gives them on Linux (DLT_*; libpcap
/// maps a file's LINKTYPE_* value to these).
namespace link_type {
inline constexpr int null = 0;            ///< BSD loopback: 4-byte address family, host order
inline constexpr int ethernet = 1;        ///< Ethernet II, optionally 802.1Q/802.1ad tagged
inline constexpr int raw = 12;            ///< raw IPv4 or IPv6 (DLT_RAW on Linux)
inline constexpr int raw_linktype = 101;  ///< LINKTYPE_RAW, the file value of DLT_RAW
inline constexpr int loop = 108;          ///< OpenBSD loopback: 4-byte family, network order
inline constexpr int linux_sll = 113;     ///< Linux cooked capture v1 (16-byte header)
inline constexpr int ipv4 = 228;          ///< raw IPv4
inline constexpr int ipv6 = 229;          ///< raw IPv6
inline constexpr int linux_sll2 = 276;    ///< Linux cooked capture v2 (20-byte header)
}  // namespace link_type

/// True for the link types `dissect_packet` understands.
[[nodiscard]] bool link_type_supported(int link) noexcept;

/// Why a frame gave no UDP payload; `to_string` gives a fixed message.
enum class dissect_error : std::uint8_t {
  none,                   ///< not an error
  unsupported_link_type,  ///< a link type outside `link_type_supported`
  truncated,              ///< a header or the UDP datagram runs past the captured bytes
  not_ip,                 ///< the link layer carries something other than IPv4/IPv6 (ARP, …)
  bad_ip_header,          ///< IP version or header length inconsistent
  ip_fragment,            ///< an IPv4 or IPv6 fragment (not reassembled; skipped)
  not_udp,                ///< IP carries TCP, ICMP, …
  bad_udp_header,         ///< UDP length field below 8
};

/// A fixed message naming the problem, e.g. "frame shorter than its headers".
[[nodiscard]] std::string_view to_string(dissect_error e) noexcept;

/// One side of a UDP flow.
struct flow_endpoint {
  std::array<std::uint8_t, 16> address{};  ///< IPv4 in the first 4 bytes, or IPv6
  bool v6 = false;                         ///< address is IPv6
  std::uint16_t port = 0;                  ///< UDP port, host order

  /// "10.0.0.1:4000" or "[2001:db8::1]:4000".
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const flow_endpoint&, const flow_endpoint&) = default;
  friend auto operator<=>(const flow_endpoint&, const flow_endpoint&) = default;
};

/// The outcome of `dissect_packet`: the fields are meaningful only when `ok()`.
struct [[nodiscard]] dissect_result {
  dissect_error error = dissect_error::none;  ///< why there is no payload, when !ok()
  flow_endpoint source;                       ///< sender
  flow_endpoint destination;                  ///< receiver
  std::span<const std::uint8_t> payload;      ///< the UDP payload, inside the frame
  /// True when the frame carried a whole UDP datagram.
  [[nodiscard]] bool ok() const noexcept { return error == dissect_error::none; }
};

/// Frame bytes as captured (caplen) with the capture's link type → UDP payload and addresses,
/// or the reason there is none. Up to 8 VLAN tags and 8 IPv6 extension headers (hop-by-hop,
/// routing, destination options, authentication, mobility, HIP, shim6, and atomic fragment
/// headers) are skipped; the payload is bounded by the IP and UDP lengths, so link-layer
/// padding is never taken for payload. Pure, no allocation, any thread; `payload` points into
/// `frame`.
dissect_result dissect_packet(std::span<const std::uint8_t> frame, int link) noexcept;

}  // namespace toneguard::media
