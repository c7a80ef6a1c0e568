#include "toneguard/media/rtp.h"

#include <algorithm>

namespace toneguard::media {
namespace {

std::uint16_t load16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint32_t load32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
void store16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void store32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

constexpr std::size_t rtp_fixed_header = 12;
constexpr std::size_t report_block_size = 24;
constexpr std::size_t sender_info_size = 20;

// Checks one RTCP packet's body against its type; `pkt` is the whole packet without padding.
rtcp_error check_rtcp_body(std::uint8_t type, std::uint8_t count,
                           std::span<const std::uint8_t> pkt) noexcept {
  const std::size_t n = pkt.size();
  switch (type) {
    case static_cast<std::uint8_t>(rtcp_type::sr):
      return n < 8 + sender_info_size + count * report_block_size ? rtcp_error::sr_too_short
                                                                  : rtcp_error::none;
    case static_cast<std::uint8_t>(rtcp_type::rr):
      return n < 8 + count * report_block_size ? rtcp_error::rr_too_short : rtcp_error::none;
    case static_cast<std::uint8_t>(rtcp_type::sdes): {
      std::size_t pos = 4;
      for (std::uint8_t chunk = 0; chunk < count; ++chunk) {
        if (n - pos < 4) return rtcp_error::bad_sdes;
        pos += 4;  // SSRC/CSRC
        // Items until a zero type byte, then padding to the next 32-bit boundary.
        for (;;) {
          if (pos >= n) return rtcp_error::bad_sdes;
          if (pkt[pos] == 0) break;
          if (n - pos < 2) return rtcp_error::bad_sdes;
          const std::size_t item_len = pkt[pos + 1];
          if (n - pos - 2 < item_len) return rtcp_error::bad_sdes;
          pos += 2 + item_len;
        }
        pos = (pos + 4) & ~std::size_t{3};  // the null terminator plus padding
        if (pos > n) return rtcp_error::bad_sdes;
      }
      return rtcp_error::none;
    }
    case static_cast<std::uint8_t>(rtcp_type::bye): {
      const std::size_t ssrcs_end = 4 + std::size_t{count} * 4;
      if (n < ssrcs_end) return rtcp_error::bye_too_short;
      if (n > ssrcs_end && n - ssrcs_end - 1 < pkt[ssrcs_end]) return rtcp_error::bye_too_short;
      return rtcp_error::none;
    }
    case static_cast<std::uint8_t>(rtcp_type::app):
      return n < 12 ? rtcp_error::app_too_short : rtcp_error::none;
    case static_cast<std::uint8_t>(rtcp_type::rtpfb):
    case static_cast<std::uint8_t>(rtcp_type::psfb):
      return n < 12 ? rtcp_error::feedback_too_short : rtcp_error::none;
    default:
      return rtcp_error::none;  // opaque
  }
}

}  // namespace

std::string_view to_string(rtp_error e) noexcept {
  switch (e) {
    case rtp_error::none:
      return "";
    case rtp_error::too_short:
      return "rtp: packet shorter than the 12-byte header";
    case rtp_error::bad_version:
      return "rtp: version is not 2";
    case rtp_error::csrc_overflow:
      return "rtp: CSRC list runs past the end of the packet";
    case rtp_error::extension_overflow:
      return "rtp: header extension runs past the end of the packet";
    case rtp_error::padding_zero:
      return "rtp: padding bit set but pad count is 0";
    case rtp_error::padding_overflow:
      return "rtp: pad count larger than the payload";
  }
  return "rtp: unknown error";
}

std::uint32_t rtp_view::csrc(std::size_t i) const noexcept {
  return load32(csrcs.data() + 4 * i);
}

rtp_parse_result parse_rtp(std::span<const std::uint8_t> packet) noexcept {
  rtp_parse_result r;
  const std::size_t n = packet.size();
  if (n < rtp_fixed_header) {
    r.error = rtp_error::too_short;
    return r;
  }
  const std::uint8_t* p = packet.data();
  if ((p[0] >> 6) != 2) {
    r.error = rtp_error::bad_version;
    return r;
  }
  const bool padding = (p[0] & 0x20) != 0;
  rtp_view& v = r.view;
  v.has_extension = (p[0] & 0x10) != 0;
  const std::size_t cc = p[0] & 0x0F;
  v.marker = (p[1] & 0x80) != 0;
  v.payload_type = p[1] & 0x7F;
  v.sequence = load16(p + 2);
  v.timestamp = load32(p + 4);
  v.ssrc = load32(p + 8);
  std::size_t pos = rtp_fixed_header;
  if (n - pos < cc * 4) {
    r.error = rtp_error::csrc_overflow;
    return r;
  }
  v.csrcs = packet.subspan(pos, cc * 4);
  pos += cc * 4;
  if (v.has_extension) {
    if (n - pos < 4) {
      r.error = rtp_error::extension_overflow;
      return r;
    }
    v.extension_profile = load16(p + pos);
    const std::size_t words = load16(p + pos + 2);
    pos += 4;
    if (n - pos < words * 4) {
      r.error = rtp_error::extension_overflow;
      return r;
    }
    v.extension = packet.subspan(pos, words * 4);
    pos += words * 4;
  }
  v.header_length = pos;
  std::size_t end = n;
  if (padding) {
    const std::size_t pad = p[n - 1];
    if (pad == 0) {
      r.error = rtp_error::padding_zero;
      return r;
    }
    if (pad > n - pos) {
      r.error = rtp_error::padding_overflow;
      return r;
    }
    v.padding_length = pad;
    end = n - pad;
  }
  v.payload = packet.subspan(pos, end - pos);
  return r;
}

bool set_rtp_sequence(std::span<std::uint8_t> packet, std::uint16_t seq) noexcept {
  if (packet.size() < rtp_fixed_header) return false;
  store16(packet.data() + 2, seq);
  return true;
}

bool set_rtp_timestamp(std::span<std::uint8_t> packet, std::uint32_t ts) noexcept {
  if (packet.size() < rtp_fixed_header) return false;
  store32(packet.data() + 4, ts);
  return true;
}

bool set_rtp_ssrc(std::span<std::uint8_t> packet, std::uint32_t ssrc) noexcept {
  if (packet.size() < rtp_fixed_header) return false;
  store32(packet.data() + 8, ssrc);
  return true;
}

bool set_rtp_payload_type(std::span<std::uint8_t> packet, std::uint8_t pt) noexcept {
  if (packet.size() < rtp_fixed_header) return false;
  packet[1] = static_cast<std::uint8_t>((packet[1] & 0x80) | (pt & 0x7F));
  return true;
}

bool set_rtp_marker(std::span<std::uint8_t> packet, bool marker) noexcept {
  if (packet.size() < rtp_fixed_header) return false;
  packet[1] = static_cast<std::uint8_t>((packet[1] & 0x7F) | (marker ? 0x80 : 0));
  return true;
}

mux_kind classify_muxed(std::span<const std::uint8_t> datagram) noexcept {
  if (datagram.size() < 2 || (datagram[0] >> 6) != 2) return mux_kind::unknown;
  const unsigned pt = datagram[1] & 0x7F;
  return pt >= 64 && pt <= 95 ? mux_kind::rtcp : mux_kind::rtp;
}

std::string_view to_string(rtcp_error e) noexcept {
  switch (e) {
    case rtcp_error::none:
      return "";
    case rtcp_error::empty:
      return "rtcp: empty datagram";
    case rtcp_error::too_short:
      return "rtcp: fewer than 4 bytes left for a packet header";
    case rtcp_error::bad_version:
      return "rtcp: version is not 2";
    case rtcp_error::length_overflow:
      return "rtcp: length field runs past the end of the datagram";
    case rtcp_error::padding_not_last:
      return "rtcp: padding bit set on a packet that is not the last";
    case rtcp_error::bad_padding:
      return "rtcp: pad count is 0 or larger than the packet";
    case rtcp_error::sr_too_short:
      return "rtcp: SR shorter than its sender info and report blocks";
    case rtcp_error::rr_too_short:
      return "rtcp: RR shorter than its report blocks";
    case rtcp_error::bad_sdes:
      return "rtcp: SDES chunk or item runs past the end of the packet";
    case rtcp_error::bye_too_short:
      return "rtcp: BYE shorter than its SSRC list or reason";
    case rtcp_error::app_too_short:
      return "rtcp: APP shorter than 12 bytes";
    case rtcp_error::feedback_too_short:
      return "rtcp: feedback packet shorter than 12 bytes";
  }
  return "rtcp: unknown error";
}

std::uint32_t rtcp_packet_view::sender_ssrc() const noexcept {
  switch (type) {
    case static_cast<std::uint8_t>(rtcp_type::sr):
    case static_cast<std::uint8_t>(rtcp_type::rr):
    case static_cast<std::uint8_t>(rtcp_type::app):
    case static_cast<std::uint8_t>(rtcp_type::rtpfb):
    case static_cast<std::uint8_t>(rtcp_type::psfb):
      return bytes.size() >= 8 ? load32(bytes.data() + 4) : 0;
    default:
      return 0;
  }
}

rtcp_sender_info rtcp_packet_view::sender_info() const noexcept {
  rtcp_sender_info s;
  if (type != static_cast<std::uint8_t>(rtcp_type::sr) || bytes.size() < 8 + sender_info_size) {
    return s;
  }
  const std::uint8_t* p = bytes.data() + 8;
  s.ntp_timestamp = (std::uint64_t{load32(p)} << 32) | load32(p + 4);
  s.rtp_timestamp = load32(p + 8);
  s.packet_count = load32(p + 12);
  s.octet_count = load32(p + 16);
  return s;
}

std::size_t rtcp_packet_view::report_block_count() const noexcept {
  return type == static_cast<std::uint8_t>(rtcp_type::sr) ||
                 type == static_cast<std::uint8_t>(rtcp_type::rr)
             ? count
             : 0;
}

rtcp_report_block rtcp_packet_view::report_block(std::size_t i) const noexcept {
  rtcp_report_block b;
  const std::size_t first =
      type == static_cast<std::uint8_t>(rtcp_type::sr) ? 8 + sender_info_size : 8;
  const std::size_t at = first + i * report_block_size;
  if (i >= report_block_count() || at + report_block_size > bytes.size()) return b;
  const std::uint8_t* p = bytes.data() + at;
  b.ssrc = load32(p);
  b.fraction_lost = p[4];
  std::uint32_t lost = (std::uint32_t{p[5]} << 16) | (std::uint32_t{p[6]} << 8) | p[7];
  // 24-bit two's complement.
  b.cumulative_lost = (lost & 0x800000) != 0 ? static_cast<std::int32_t>(lost) - 0x1000000
                                             : static_cast<std::int32_t>(lost);
  b.extended_highest_seq = load32(p + 8);
  b.jitter = load32(p + 12);
  b.last_sr = load32(p + 16);
  b.delay_since_last_sr = load32(p + 20);
  b.offset = offset + at;
  return b;
}

rtcp_packet_view rtcp_compound_view::iterator::operator*() const noexcept {
  rtcp_packet_view v;
  const std::uint8_t* p = data_.data() + offset_;
  v.padding = (p[0] & 0x20) != 0;
  v.count = p[0] & 0x1F;
  v.type = p[1];
  const std::size_t len = (std::size_t{load16(p + 2)} + 1) * 4;
  v.bytes = data_.subspan(offset_, len);
  v.offset = offset_;
  return v;
}

rtcp_compound_view::iterator& rtcp_compound_view::iterator::operator++() noexcept {
  offset_ += (std::size_t{load16(data_.data() + offset_ + 2)} + 1) * 4;
  return *this;
}

rtcp_compound_parse_result parse_rtcp_compound(std::span<const std::uint8_t> datagram) noexcept {
  rtcp_compound_parse_result r;
  const std::size_t n = datagram.size();
  if (n == 0) {
    r.error = rtcp_error::empty;
    return r;
  }
  std::size_t pos = 0;
  std::size_t packets = 0;
  while (pos < n) {
    r.error_offset = pos;
    if (n - pos < 4) {
      r.error = rtcp_error::too_short;
      return r;
    }
    const std::uint8_t* p = datagram.data() + pos;
    if ((p[0] >> 6) != 2) {
      r.error = rtcp_error::bad_version;
      return r;
    }
    const std::size_t len = (std::size_t{load16(p + 2)} + 1) * 4;
    if (len > n - pos) {
      r.error = rtcp_error::length_overflow;
      return r;
    }
    std::size_t body = len;
    if ((p[0] & 0x20) != 0) {
      if (pos + len != n) {
        r.error = rtcp_error::padding_not_last;
        return r;
      }
      const std::size_t pad = p[len - 1];
      if (pad == 0 || pad > len - 4) {
        r.error = rtcp_error::bad_padding;
        return r;
      }
      body = len - pad;
    }
    const rtcp_error e = check_rtcp_body(p[1], p[0] & 0x1F, datagram.subspan(pos, body));
    if (e != rtcp_error::none) {
      r.error = e;
      return r;
    }
    pos += len;
    ++packets;
  }
  r.error_offset = 0;
  r.compound.data_ = datagram;
  r.compound.packets_ = packets;
  return r;
}

bool set_rtcp_sender_counts(std::span<std::uint8_t> datagram, std::size_t packet_offset,
                            std::uint32_t packet_count, std::uint32_t octet_count) noexcept {
  if (packet_offset > datagram.size() || datagram.size() - packet_offset < 8 + sender_info_size ||
      datagram[packet_offset + 1] != static_cast<std::uint8_t>(rtcp_type::sr)) {
    return false;
  }
  std::uint8_t* info = datagram.data() + packet_offset + 8;
  store32(info + 12, packet_count);
  store32(info + 16, octet_count);
  return true;
}

bool set_rtcp_report_block_reception(std::span<std::uint8_t> datagram, std::size_t block_offset,
                                     std::int32_t cumulative_lost,
                                     std::uint32_t extended_highest_seq) noexcept {
  if (block_offset > datagram.size() || datagram.size() - block_offset < report_block_size) {
    return false;
  }
  const std::int32_t lost = std::clamp(cumulative_lost, -0x800000, 0x7FFFFF);
  const auto field = static_cast<std::uint32_t>(lost) & 0xFFFFFFu;  // 24-bit two's complement
  std::uint8_t* block = datagram.data() + block_offset;
  block[5] = static_cast<std::uint8_t>(field >> 16);
  block[6] = static_cast<std::uint8_t>(field >> 8);
  block[7] = static_cast<std::uint8_t>(field);
  store32(block + 8, extended_highest_seq);
  return true;
}

}  // namespace toneguard::media
