#pragma once
/// RTP (RFC 3550 §5) and RTCP (RFC 3550 §6, RFC 4585) header parsing and in-place rewriting
/// for the packet path. Nothing here allocates or throws: views point into the caller's
/// buffer, errors are an enum with a static message for logs and counters. All functions are
/// pure and may be called from any thread; a view is valid only while its buffer is.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <string_view>

namespace toneguard::media {

/// Why an RTP packet was rejected; `to_string` gives a fixed message for logs and counters.
enum class rtp_error : std::uint8_t {
  none,                ///< not an error
  too_short,           ///< fewer than the 12 bytes of the fixed header
  bad_version,         ///< version field is not 2
  csrc_overflow,       ///< the CSRC list (4 × CC bytes) runs past the end
  extension_overflow,  ///< the extension header or its length words run past the end
  padding_zero,        ///< P bit set but the last byte (pad count) is 0
  padding_overflow,    ///< pad count larger than what follows the headers
};

/// A fixed message naming the problem, e.g. "rtp: packet shorter than the 12-byte header".
[[nodiscard]] std::string_view to_string(rtp_error e) noexcept;

/// A validated RTP packet: header fields by value, the variable parts as spans into the
/// caller's buffer (valid while that buffer is). Byte counts are in bytes.
struct rtp_view {
  bool marker = false;                      ///< M bit
  std::uint8_t payload_type = 0;            ///< PT, 0–127
  std::uint16_t sequence = 0;               ///< sequence number
  std::uint32_t timestamp = 0;              ///< RTP timestamp (clock-rate units)
  std::uint32_t ssrc = 0;                   ///< synchronization source
  std::span<const std::uint8_t> csrcs;      ///< CSRC list, 4 bytes (network order) per entry
  bool has_extension = false;               ///< X bit
  std::uint16_t extension_profile = 0;      ///< the 16-bit "defined by profile" field when X is set
  std::span<const std::uint8_t> extension;  ///< extension body (length × 4 bytes), without its
                                            ///< 4-byte header
  std::span<const std::uint8_t> payload;    ///< payload, without padding
  std::size_t padding_length = 0;  ///< padding bytes at the end including the count byte; 0 if
                                   ///< P is clear
  std::size_t header_length = 0;   ///< bytes before the payload: 12 + CSRCs + extension

  /// Number of CSRC entries (0–15).
  [[nodiscard]] std::size_t csrc_count() const noexcept { return csrcs.size() / 4; }
  /// CSRC number `i` (host order); requires i < csrc_count().
  [[nodiscard]] std::uint32_t csrc(std::size_t i) const noexcept;
};

/// The outcome of `parse_rtp`: `view` is meaningful only when `ok()`.
struct [[nodiscard]] rtp_parse_result {
  rtp_view view;                      ///< the packet, when ok()
  rtp_error error = rtp_error::none;  ///< why it was rejected, when !ok()
  /// True when the packet is valid.
  [[nodiscard]] bool ok() const noexcept { return error == rtp_error::none; }
  /// The fixed message for `error` ("" when ok()).
  [[nodiscard]] std::string_view error_message() const noexcept { return to_string(error); }
};

/// Validates and views one RTP packet: length ≥ 12, version 2, CSRC list fits, extension
/// header and its words fit, padding count (P bit) ≥ 1 and ≤ the bytes after the headers.
/// No allocation; never reads outside `packet`.
rtp_parse_result parse_rtp(std::span<const std::uint8_t> packet) noexcept;

/// In-place header rewriting on a packet that passed `parse_rtp`. Each returns false and
/// changes nothing when `packet` is shorter than 12 bytes.
[[nodiscard]] bool set_rtp_sequence(std::span<std::uint8_t> packet, std::uint16_t seq) noexcept;
/// Sets the RTP timestamp (clock-rate units); see `set_rtp_sequence`.
[[nodiscard]] bool set_rtp_timestamp(std::span<std::uint8_t> packet, std::uint32_t ts) noexcept;
/// Sets the SSRC; see `set_rtp_sequence`.
[[nodiscard]] bool set_rtp_ssrc(std::span<std::uint8_t> packet, std::uint32_t ssrc) noexcept;
/// Sets the payload type (only the low 7 bits of `pt` are used); see `set_rtp_sequence`.
[[nodiscard]] bool set_rtp_payload_type(std::span<std::uint8_t> packet, std::uint8_t pt) noexcept;
/// Sets or clears the marker bit; see `set_rtp_sequence`.
[[nodiscard]] bool set_rtp_marker(std::span<std::uint8_t> packet, bool marker) noexcept;

/// What arrived on a port shared by RTP and RTCP (RFC 5761 §4).
enum class mux_kind : std::uint8_t {
  rtp,     ///< version 2 and second byte & 0x7F outside 64–95
  rtcp,    ///< version 2 and second byte & 0x7F in 64–95 (RTCP types 192–223)
  unknown  ///< too short or not version 2 (STUN, DTLS, garbage)
};

/// Classifies a datagram on an rtcp-mux port by its first two bytes only (no validation).
[[nodiscard]] mux_kind classify_muxed(std::span<const std::uint8_t> datagram) noexcept;

/// RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1).
enum class rtcp_type : std::uint8_t {
  sr = 200,     ///< sender report
  rr = 201,     ///< receiver report
  sdes = 202,   ///< source description
  bye = 203,    ///< goodbye
  app = 204,    ///< application-defined
  rtpfb = 205,  ///< transport-layer feedback
  psfb = 206,   ///< payload-specific feedback
};

/// Why an RTCP compound packet was rejected; `to_string` gives a fixed message.
enum class rtcp_error : std::uint8_t {
  none,               ///< not an error
  empty,              ///< zero bytes
  too_short,          ///< fewer than 4 bytes left for a packet header
  bad_version,        ///< a packet's version is not 2
  length_overflow,    ///< a packet's length field runs past the end of the datagram
  padding_not_last,   ///< P bit set on a packet that is not the last one
  bad_padding,        ///< pad count 0, or larger than the packet body
  sr_too_short,       ///< SR shorter than header + sender info + its report blocks
  rr_too_short,       ///< RR shorter than header + its report blocks
  bad_sdes,           ///< SDES chunks or items do not fit their packet
  bye_too_short,      ///< BYE shorter than its SSRC list (or reason length overruns)
  app_too_short,      ///< APP shorter than 12 bytes
  feedback_too_short  ///< RTPFB/PSFB shorter than 12 bytes
};

/// A fixed message naming the problem, e.g. "rtcp: length field runs past the datagram".
[[nodiscard]] std::string_view to_string(rtcp_error e) noexcept;

/// One report block of an SR or RR (RFC 3550 §6.4.1), host order. `offset` is the block's
/// byte offset inside the compound datagram, so a translator can rewrite it in place.
struct rtcp_report_block {
  std::uint32_t ssrc = 0;                  ///< source this block reports on
  std::uint8_t fraction_lost = 0;          ///< fraction lost, /256
  std::int32_t cumulative_lost = 0;        ///< packets lost (24-bit signed)
  std::uint32_t extended_highest_seq = 0;  ///< cycles << 16 | highest sequence received
  std::uint32_t jitter = 0;                ///< interarrival jitter, timestamp units
  std::uint32_t last_sr = 0;               ///< LSR: middle 32 bits of the last SR's NTP time
  std::uint32_t delay_since_last_sr = 0;   ///< DLSR, units of 1/65536 s
  std::size_t offset = 0;                  ///< byte offset of the block in the datagram
};

/// Sender info of an SR (RFC 3550 §6.4.1), host order.
struct rtcp_sender_info {
  std::uint64_t ntp_timestamp = 0;  ///< NTP time, 32.32 fixed point
  std::uint32_t rtp_timestamp = 0;  ///< RTP time matching ntp_timestamp
  std::uint32_t packet_count = 0;   ///< packets sent
  std::uint32_t octet_count = 0;    ///< payload octets sent
};

/// One packet of a validated compound datagram. Unknown types are carried as opaque `bytes`.
struct rtcp_packet_view {
  std::uint8_t type = 0;                ///< packet type byte (200–206 known; others opaque)
  std::uint8_t count = 0;               ///< the 5-bit RC/SC/FMT field
  bool padding = false;                 ///< P bit
  std::span<const std::uint8_t> bytes;  ///< the whole packet (header, body, padding)
  std::size_t offset = 0;               ///< byte offset of the packet in the datagram

  /// Sender SSRC of SR, RR, RTPFB, PSFB and the SSRC/CSRC of APP; 0 for others.
  [[nodiscard]] std::uint32_t sender_ssrc() const noexcept;
  /// Sender info; only meaningful when type == SR.
  [[nodiscard]] rtcp_sender_info sender_info() const noexcept;
  /// Number of report blocks: `count` for SR and RR, 0 for every other type.
  [[nodiscard]] std::size_t report_block_count() const noexcept;
  /// Report block `i` of an SR or RR; requires i < report_block_count().
  [[nodiscard]] rtcp_report_block report_block(std::size_t i) const noexcept;
};

struct rtcp_compound_parse_result;

/// A validated RTCP compound datagram: iterate it to get each packet in order. Holds a span
/// into the caller's buffer; no allocation.
class rtcp_compound_view {
 public:
  /// Forward iterator over the packets.
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;  ///< forward only
    using value_type = rtcp_packet_view;                  ///< each packet
    using difference_type = std::ptrdiff_t;               ///< unused
    using pointer = void;                                 ///< not addressable
    using reference = rtcp_packet_view;                   ///< yields values

    /// A singular iterator (compare only with other default-constructed ones).
    iterator() = default;
    /// The packet at the current position.
    [[nodiscard]] rtcp_packet_view operator*() const noexcept;
    /// Moves to the next packet.
    iterator& operator++() noexcept;
    /// Moves to the next packet, returning the old position.
    iterator operator++(int) noexcept {
      auto old = *this;
      ++*this;
      return old;
    }
    /// Same position in the same datagram.
    bool operator==(const iterator& o) const noexcept { return offset_ == o.offset_; }

   private:
    friend class rtcp_compound_view;
    iterator(std::span<const std::uint8_t> data, std::size_t offset) noexcept
        : data_(data), offset_(offset) {}
    std::span<const std::uint8_t> data_;
    std::size_t offset_ = 0;
  };

  /// An empty view (no packets); real ones come from `parse_rtcp_compound`.
  rtcp_compound_view() = default;
  /// First packet.
  [[nodiscard]] iterator begin() const noexcept { return {data_, 0}; }
  /// Past the last packet.
  [[nodiscard]] iterator end() const noexcept { return {data_, data_.size()}; }
  /// Number of packets in the datagram.
  [[nodiscard]] std::size_t size() const noexcept { return packets_; }
  /// The whole datagram.
  [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept { return data_; }

 private:
  friend rtcp_compound_parse_result parse_rtcp_compound(std::span<const std::uint8_t>) noexcept;
  std::span<const std::uint8_t> data_;
  std::size_t packets_ = 0;
};

/// The outcome of `parse_rtcp_compound`: `compound` is meaningful only when `ok()`; on error,
/// `error_offset` is the byte offset of the offending packet.
struct [[nodiscard]] rtcp_compound_parse_result {
  rtcp_compound_view compound;          ///< the packets, when ok()
  rtcp_error error = rtcp_error::none;  ///< why it was rejected, when !ok()
  std::size_t error_offset = 0;         ///< where, when !ok()
  /// True when the whole datagram is valid.
  [[nodiscard]] bool ok() const noexcept { return error == rtcp_error::none; }
  /// The fixed message for `error` ("" when ok()).
  [[nodiscard]] std::string_view error_message() const noexcept { return to_string(error); }
};

/// Validates an RTCP compound datagram (RFC 3550 §6.1, A.2): every packet version 2, its
/// length (32-bit words minus one) inside the datagram, padding only on the last packet with a
/// pad count that fits; SR/RR long enough for sender info and RC report blocks; SDES chunks
/// and items inside their packet; BYE SSRC list (and reason) inside; APP, RTPFB and PSFB at
/// least 12 bytes. Other packet types are accepted as opaque. The first packet need not be SR
/// or RR (reduced-size RTCP, RFC 5506). No allocation.
rtcp_compound_parse_result parse_rtcp_compound(std::span<const std::uint8_t> datagram) noexcept;

/// In-place rewriting of a datagram that passed `parse_rtcp_compound`, at the offsets its
/// views give (`rtcp_packet_view::offset`, `rtcp_report_block::offset`). Used to translate
/// reports about a stream whose packets were renumbered or resized on the way. Each returns
/// false and changes nothing when the offset does not leave room for the field (or, for the
/// sender counts, when the packet there is not an SR). No allocation; any thread.

/// Sets the sender packet count and sender octet count (payload octets) of the SR whose
/// first byte is at `packet_offset`.
[[nodiscard]] bool set_rtcp_sender_counts(std::span<std::uint8_t> datagram,
                                          std::size_t packet_offset, std::uint32_t packet_count,
                                          std::uint32_t octet_count) noexcept;

/// Sets the cumulative number of packets lost (clamped to the field's 24-bit signed range,
/// -8388608 to 8388607) and the extended highest sequence number received (cycles << 16 |
/// sequence) of the report block whose first byte (its SSRC) is at `block_offset`.
[[nodiscard]] bool set_rtcp_report_block_reception(std::span<std::uint8_t> datagram,
                                                   std::size_t block_offset,
                                                   std::int32_t cumulative_lost,
                                                   std::uint32_t extended_highest_seq) noexcept;

}  // namespace toneguard::media
