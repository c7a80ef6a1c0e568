#pragma once
/// SDP (RFC 4566) as an rtpengine-like proxy needs it: parse an offer or answer, read what the
/// proxy decides on (addresses, ports, codecs, telephone-event, crypto, rtcp), rewrite the
/// parts it owns, and serialize with CRLF. Lines the proxy does not understand round-trip
/// unchanged and in order. Control path only (allocates); not for the packet path. Objects
/// are plain values: one thread at a time.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "toneguard/media/result.h"

namespace toneguard::media {

/// Limits on input accepted by `session_description::parse`.
inline constexpr std::size_t sdp_max_size = 64 * 1024;  ///< bytes of text
inline constexpr std::size_t sdp_max_lines = 2048;      ///< lines
inline constexpr std::size_t sdp_max_media = 64;        ///< m= sections

/// SDP address types.
enum class address_type : std::uint8_t {
  ip4,  ///< "IP4"
  ip6   ///< "IP6"
};

/// "IP4" or "IP6".
[[nodiscard]] std::string_view to_string(address_type t) noexcept;

/// A unicast address with its type, checked with inet_pton.
struct network_address {
  address_type type = address_type::ip4;  ///< IP4 or IP6
  std::string address;                    ///< textual address, e.g. "192.0.2.10", "2001:db8::1"

  /// Parses a literal IPv4 or IPv6 address, e.g. for a rewrite; the type follows the text.
  [[nodiscard]] static result<network_address> from_string(std::string_view text);
  /// The unspecified address of `type`: "0.0.0.0" or "::".
  [[nodiscard]] static network_address unspecified(address_type type);
  /// True for an all-zero address ("0.0.0.0", "::", "0:0::0", …). In a c= line 0.0.0.0 is
  /// RFC 2543's way of putting a stream on hold, which SIP phones still send.
  [[nodiscard]] bool is_unspecified() const;
  /// Equal type and text.
  bool operator==(const network_address&) const = default;
};

/// The o= line (RFC 4566 §5.2). The address is not checked with inet_pton (RFC 4566 allows a
/// host name here); nettype must be IN and addrtype IP4 or IP6.
struct sdp_origin {
  std::string username;                       ///< "-" when none
  std::string session_id;                     ///< numeric string
  std::string session_version;                ///< numeric string
  address_type addrtype = address_type::ip4;  ///< IP4 or IP6
  std::string address;                        ///< as written
};

/// One SDP line other than m=: its type letter and its value (the text after "x=", trailing
/// whitespace kept as received).
struct sdp_line {
  char type = 0;      ///< 'a', 'b', 'c', …
  std::string value;  ///< text after '='
};

/// a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>] (RFC 4566 §6).
struct sdp_rtpmap {
  std::uint8_t payload_type = 0;  ///< 0–127
  std::string encoding;           ///< e.g. "PCMU", "telephone-event" (case as written)
  std::uint32_t clock_rate = 0;   ///< Hz
  std::uint32_t channels = 1;     ///< 1 when absent
};

/// a=rtcp:<port> [IN IP4|IP6 <address>] (RFC 3605).
struct sdp_rtcp {
  std::uint16_t port = 0;                  ///< RTCP port
  std::optional<network_address> address;  ///< when given
};

/// a=crypto:<tag> <suite> <key params> [<session params>] (RFC 4568, SDES).
struct sdp_crypto {
  std::uint32_t tag = 0;       ///< decimal tag, up to 9 digits
  std::string suite;           ///< e.g. "AES_CM_128_HMAC_SHA1_80"
  std::string key_params;      ///< e.g. "inline:<base64>|2^20|1:4" (text kept as received)
  std::string session_params;  ///< the rest of the line, may be empty

  /// The base64 key-salt text of the first key param (between "inline:" and '|' or ';').
  [[nodiscard]] std::string_view key() const noexcept;
  /// The line value this serializes to ("<tag> <suite> <key params>[ <session params>]").
  [[nodiscard]] std::string to_value() const;
};

/// Media direction attributes (RFC 4566 §6).
enum class media_direction : std::uint8_t { sendrecv, sendonly, recvonly, inactive };

/// The G.711 laws.
enum class g711_law : std::uint8_t { mu_law, a_law };

/// A payload type carrying G.711 (static 0/8 or an rtpmap PCMU/PCMA at 8000 Hz).
struct g711_payload {
  std::uint8_t payload_type = 0;    ///< 0–127
  g711_law law = g711_law::mu_law;  ///< PCMU or PCMA
};

/// One m= section: the m= line in typed form and its other lines in order.
class media_description {
 public:
  /// Media type, e.g. "audio".
  [[nodiscard]] const std::string& media() const noexcept { return media_; }
  /// Transport port (0 rejects the stream).
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  /// The "/<n>" number of ports, when given.
  [[nodiscard]] std::optional<std::uint32_t> port_count() const noexcept { return port_count_; }
  /// Transport protocol, e.g. "RTP/AVP", "RTP/SAVPF", "UDP/TLS/RTP/SAVP".
  [[nodiscard]] const std::string& proto() const noexcept { return proto_; }
  /// True when proto contains "RTP/" (formats are payload type numbers).
  [[nodiscard]] bool is_rtp() const noexcept;
  /// The formats of the m= line, as written (at least one).
  [[nodiscard]] const std::vector<std::string>& formats() const noexcept { return formats_; }
  /// The formats that are payload type numbers 0–127, in m= order.
  [[nodiscard]] std::vector<std::uint8_t> payload_types() const;
  /// This section's own c= address, if any (see `session_description::connection_of`).
  [[nodiscard]] std::optional<network_address> connection() const;
  /// Every a=rtpmap, in order.
  [[nodiscard]] std::vector<sdp_rtpmap> rtpmaps() const;
  /// The a=rtpmap of one payload type.
  [[nodiscard]] std::optional<sdp_rtpmap> rtpmap(std::uint8_t payload_type) const;
  /// The parameters of a=fmtp:<pt> <params> (the text after the first space).
  [[nodiscard]] std::optional<std::string> fmtp(std::uint8_t payload_type) const;
  /// a=rtcp, if any.
  [[nodiscard]] std::optional<sdp_rtcp> rtcp() const;
  /// True when a=rtcp-mux is present.
  [[nodiscard]] bool rtcp_mux() const;
  /// Every a=crypto, in order.
  [[nodiscard]] std::vector<sdp_crypto> crypto() const;
  /// a=ptime in ms, when present and a whole number.
  [[nodiscard]] std::optional<std::uint32_t> ptime() const;
  /// This section's own direction attribute, if any.
  [[nodiscard]] std::optional<media_direction> direction() const;
  /// Payload types mapped to telephone-event/8000 (case-insensitive), in m= order.
  [[nodiscard]] std::vector<std::uint8_t> telephone_event_payload_types() const;
  /// G.711 payload types in m= order: static 0 and 8 unless rtpmapped to something else, and
  /// dynamic ones rtpmapped to PCMU/8000 or PCMA/8000.
  [[nodiscard]] std::vector<g711_payload> g711_payload_types() const;
  /// The value of the first a=<name> or a=<name>:<value> (empty string for a flag).
  [[nodiscard]] std::optional<std::string> attribute(std::string_view name) const;
  /// The lines after m=, in order (c=, b=, a=, and any others).
  [[nodiscard]] const std::vector<sdp_line>& lines() const noexcept { return lines_; }

  /// Sets the transport port.
  void set_port(std::uint16_t port) noexcept { port_ = port; }
  /// Sets the transport protocol, e.g. "RTP/SAVP" (a token without spaces, as parse requires).
  void set_proto(std::string_view proto) { proto_ = std::string(proto); }
  /// Sets (or adds, after m= and any i=) this section's c= line.
  void set_connection(const network_address& address);
  /// Sets (or appends) a=rtcp:<port> [IN <type> <address>].
  void set_rtcp(std::uint16_t port, const std::optional<network_address>& address);
  /// Adds a=rtcp-mux (when absent) or removes it.
  void set_rtcp_mux(bool on);
  /// Replaces every a=crypto line with `crypto`, in the place of the first old one (or at the
  /// end); an empty span removes them.
  void set_crypto(std::span<const sdp_crypto> crypto);
  /// Removes every a=<name> / a=<name>:… line; returns how many.
  std::size_t remove_attributes(std::string_view name);
  /// Removes every a= line whose name is one of `names`; returns how many.
  std::size_t remove_attributes(std::span<const std::string_view> names);

 private:
  friend class session_description;
  std::string media_;
  std::uint16_t port_ = 0;
  std::optional<std::uint32_t> port_count_;
  std::string proto_;
  std::vector<std::string> formats_;
  std::vector<sdp_line> lines_;
};

/// A whole SDP: session-level lines in order, then the media sections.
class session_description {
 public:
  /// Parses SDP text (CRLF or LF line ends; trailing whitespace and blank lines at the end
  /// tolerated). Rejects, with a message naming the line: empty input, more than
  /// `sdp_max_size` bytes / `sdp_max_lines` lines / `sdp_max_media` sections, a first line
  /// other than v=0, a line not of the form x=…, control characters, a bad o= (fields, IN,
  /// IP4/IP6), a bad c= (IN, IP4/IP6, an address inet_pton accepts for its type; multicast
  /// TTL suffixes are not supported), a bad m= (port 0–65535, port count, proto, at least one
  /// format), a bad a=rtcp port or address, a bad a=rtpmap or a=crypto.
  [[nodiscard]] static result<session_description> parse(std::string_view text);

  /// The SDP text, every line ending in CRLF.
  [[nodiscard]] std::string serialize() const;

  /// The o= line, if present.
  [[nodiscard]] std::optional<sdp_origin> origin() const;
  /// The session-level c= address, if any.
  [[nodiscard]] std::optional<network_address> connection() const;
  /// The session-level direction attribute, if any.
  [[nodiscard]] std::optional<media_direction> direction() const;
  /// The media sections.
  [[nodiscard]] std::span<media_description> media() noexcept { return media_; }
  /// The media sections.
  [[nodiscard]] std::span<const media_description> media() const noexcept { return media_; }
  /// The address a media section uses: its own c=, else the session c=.
  [[nodiscard]] std::optional<network_address> connection_of(const media_description& m) const;
  /// The direction a media section uses: its own, else the session's, else sendrecv.
  [[nodiscard]] media_direction direction_of(const media_description& m) const;
  /// Session-level lines after v=, in order.
  [[nodiscard]] const std::vector<sdp_line>& lines() const noexcept { return lines_; }

  /// Sets the o= address and its addrtype (rtpengine's `replace: origin`); adds nothing when
  /// there is no o= line. Returns false in that case.
  bool set_origin_address(const network_address& address);
  /// Sets (or adds, before the first b/t/r/z/k/a line) the session-level c= line.
  void set_connection(const network_address& address);
  /// Removes every session-level a=<name> / a=<name>:… line; returns how many.
  std::size_t remove_attributes(std::string_view name);
  /// Removes every session-level a= line whose name is one of `names`; returns how many.
  std::size_t remove_attributes(std::span<const std::string_view> names);

 private:
  std::vector<sdp_line> lines_;  // after v=0
  std::vector<media_description> media_;
};

}  // namespace toneguard::media
