// media::dissect_packet: captured frames of every supported link type down to their UDP
// payload, and every malformed or cut frame refused without reading outside it.

#include "toneguard/media/packet_dissect.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

namespace toneguard::media {
namespace {

using bytes = std::vector<std::uint8_t>;

void put16(bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

bytes concat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const bytes payload = {'h', 'e', 'l', 'l', 'o', ' ', 'r', 't', 'p'};

bytes udp(std::uint16_t source_port, std::uint16_t destination_port, const bytes& body) {
  bytes b;
  put16(b, source_port);
  put16(b, destination_port);
  put16(b, static_cast<std::uint16_t>(8 + body.size()));
  put16(b, 0);  // checksum: not checked
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

// IPv4 from 10.0.0.1 to 10.0.0.2; `flags_offset` is the flags and fragment offset field.
bytes ipv4(const bytes& body, std::uint8_t protocol = 17, std::uint16_t flags_offset = 0x4000,
           std::size_t option_words = 0) {
  const std::size_t header = 20 + 4 * option_words;
  bytes b = {static_cast<std::uint8_t>(0x40 | (header / 4)), 0};
  put16(b, static_cast<std::uint16_t>(header + body.size()));
  put16(b, 0x1234);  // identification
  put16(b, flags_offset);
  b.insert(b.end(), {64, protocol, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2});
  b.resize(header, 1);  // options: NOPs
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

// IPv6 from 2001:db8::1 to 2001:db8::2; `next` is the first next-header value.
bytes ipv6(const bytes& body, std::uint8_t next = 17) {
  bytes b = {0x60, 0, 0, 0};
  put16(b, static_cast<std::uint16_t>(body.size()));
  b.push_back(next);
  b.push_back(64);
  for (std::uint8_t last : {1, 2}) {
    const bytes address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last};
    b.insert(b.end(), address.begin(), address.end());
  }
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

// A hop-by-hop/destination-options style extension header of 8 × (1 + units) bytes.
bytes extension(std::uint8_t next, std::uint8_t units) {
  bytes b = {next, units};
  b.resize(8 + 8 * std::size_t{units}, 0);
  return b;
}

bytes ethernet(std::uint16_t type, const bytes& body,
               std::initializer_list<std::uint16_t> tags = {}) {
  bytes b(12, 0xAA);
  for (std::uint16_t tpid : tags) {
    put16(b, tpid);
    put16(b, 100);  // VLAN id
  }
  put16(b, type);
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

bytes sll(std::uint16_t protocol, const bytes& body) {
  bytes b(14, 0);
  put16(b, protocol);
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

bytes sll2(std::uint16_t protocol, const bytes& body) {
  bytes b;
  put16(b, protocol);
  b.resize(20, 0);
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

bytes family_header(std::uint32_t family, bool big_endian) {
  if (big_endian) {
    return {static_cast<std::uint8_t>(family >> 24), static_cast<std::uint8_t>(family >> 16),
            static_cast<std::uint8_t>(family >> 8), static_cast<std::uint8_t>(family)};
  }
  return {static_cast<std::uint8_t>(family), static_cast<std::uint8_t>(family >> 8),
          static_cast<std::uint8_t>(family >> 16), static_cast<std::uint8_t>(family >> 24)};
}

// Dissects a copy of exactly `frame.size()` bytes on the heap, so that a read past the end is
// caught by AddressSanitizer in the sanitizer build.
dissect_result dissect_exact(const bytes& frame, int link) {
  auto copy = std::make_unique<std::uint8_t[]>(frame.size() + (frame.empty() ? 1 : 0));
  std::copy(frame.begin(), frame.end(), copy.get());
  auto r = dissect_packet({copy.get(), frame.size()}, link);
  // The payload must point into the frame; compare as offsets before the copy goes.
  if (r.ok()) {
    EXPECT_GE(r.payload.data(), copy.get());
    EXPECT_LE(r.payload.data() + r.payload.size(), copy.get() + frame.size());
    static bytes kept;
    kept.assign(r.payload.begin(), r.payload.end());
    r.payload = kept;
  }
  return r;
}

void expect_udp_v4(const dissect_result& r) {
  ASSERT_TRUE(r.ok()) << to_string(r.error);
  EXPECT_EQ(r.source.to_string(), "10.0.0.1:4000");
  EXPECT_EQ(r.destination.to_string(), "10.0.0.2:5000");
  EXPECT_EQ(bytes(r.payload.begin(), r.payload.end()), payload);
}

void expect_udp_v6(const dissect_result& r) {
  ASSERT_TRUE(r.ok()) << to_string(r.error);
  EXPECT_EQ(r.source.to_string(), "[2001:db8::1]:4000");
  EXPECT_EQ(r.destination.to_string(), "[2001:db8::2]:5000");
  EXPECT_EQ(bytes(r.payload.begin(), r.payload.end()), payload);
}

const bytes v4_datagram = ipv4(udp(4000, 5000, payload));
const bytes v6_datagram = ipv6(udp(4000, 5000, payload));

TEST(PacketDissect, ethernet_ipv4_udp_gives_the_payload_and_both_endpoints) {
  expect_udp_v4(dissect_exact(ethernet(0x0800, v4_datagram), link_type::ethernet));
}

TEST(PacketDissect, ethernet_ipv6_udp_gives_the_payload_and_both_endpoints) {
  expect_udp_v6(dissect_exact(ethernet(0x86DD, v6_datagram), link_type::ethernet));
}

TEST(PacketDissect, vlan_tags_are_skipped_one_or_stacked) {
  expect_udp_v4(dissect_exact(ethernet(0x0800, v4_datagram, {0x8100}), link_type::ethernet));
  expect_udp_v4(
      dissect_exact(ethernet(0x0800, v4_datagram, {0x88A8, 0x8100}), link_type::ethernet));
  expect_udp_v6(dissect_exact(ethernet(0x86DD, v6_datagram, {0x9100}), link_type::ethernet));
}

TEST(PacketDissect, more_than_eight_vlan_tags_are_not_ip) {
  const auto frame =
      ethernet(0x0800, v4_datagram,
               {0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100, 0x8100});
  EXPECT_EQ(dissect_exact(frame, link_type::ethernet).error, dissect_error::not_ip);
}

TEST(PacketDissect, ethernet_padding_is_not_taken_for_payload) {
  auto frame = ethernet(0x0800, v4_datagram);
  frame.resize(frame.size() + 18, 0);  // short frames are padded to 60 bytes
  expect_udp_v4(dissect_exact(frame, link_type::ethernet));
}

TEST(PacketDissect, linux_cooked_sll_and_sll2) {
  expect_udp_v4(dissect_exact(sll(0x0800, v4_datagram), link_type::linux_sll));
  expect_udp_v6(dissect_exact(sll(0x86DD, v6_datagram), link_type::linux_sll));
  expect_udp_v4(dissect_exact(sll2(0x0800, v4_datagram), link_type::linux_sll2));
  expect_udp_v6(dissect_exact(sll2(0x86DD, v6_datagram), link_type::linux_sll2));
  EXPECT_EQ(dissect_exact(sll(0x0806, v4_datagram), link_type::linux_sll).error,
            dissect_error::not_ip);
}

TEST(PacketDissect, raw_ip_by_its_version_nibble) {
  for (int link : {link_type::raw, link_type::raw_linktype}) {
    expect_udp_v4(dissect_exact(v4_datagram, link));
    expect_udp_v6(dissect_exact(v6_datagram, link));
  }
  expect_udp_v4(dissect_exact(v4_datagram, link_type::ipv4));
  expect_udp_v6(dissect_exact(v6_datagram, link_type::ipv6));
  EXPECT_EQ(dissect_exact(v6_datagram, link_type::ipv4).error, dissect_error::bad_ip_header);
  EXPECT_EQ(dissect_exact(v4_datagram, link_type::ipv6).error, dissect_error::bad_ip_header);
}

TEST(PacketDissect, null_loopback_in_either_byte_order_and_every_inet6_value) {
  for (bool big : {false, true}) {
    expect_udp_v4(dissect_exact(concat({family_header(2, big), v4_datagram}), link_type::null));
    for (std::uint32_t inet6 : {10u, 24u, 28u, 30u}) {
      expect_udp_v6(
          dissect_exact(concat({family_header(inet6, big), v6_datagram}), link_type::null));
    }
  }
  EXPECT_EQ(dissect_exact(concat({family_header(7, false), v4_datagram}), link_type::null).error,
            dissect_error::not_ip);
}

TEST(PacketDissect, openbsd_loop_is_network_order) {
  expect_udp_v4(dissect_exact(concat({family_header(2, true), v4_datagram}), link_type::loop));
  EXPECT_EQ(dissect_exact(concat({family_header(2, false), v4_datagram}), link_type::loop).error,
            dissect_error::not_ip);
}

TEST(PacketDissect, ipv4_options_are_skipped) {
  expect_udp_v4(dissect_exact(ipv4(udp(4000, 5000, payload), 17, 0, 3), link_type::raw));
}

TEST(PacketDissect, ipv6_extension_headers_are_skipped) {
  // Hop-by-hop (0) -> destination options (60, 16 bytes) -> routing (43) -> UDP.
  const auto chain =
      concat({extension(60, 0), extension(43, 1), extension(17, 0), udp(4000, 5000, payload)});
  expect_udp_v6(dissect_exact(ipv6(chain, 0), link_type::raw));
  // Authentication header: length in 4-byte units minus 2 (here 12 + 4 = 16 bytes).
  bytes ah = {17, 2};
  ah.resize(16, 0);
  expect_udp_v6(dissect_exact(ipv6(concat({ah, udp(4000, 5000, payload)}), 51), link_type::raw));
  // An atomic fragment (offset 0, no more fragments) is a whole datagram.
  const bytes atomic = {17, 0, 0, 0, 0, 0, 0, 1};
  expect_udp_v6(
      dissect_exact(ipv6(concat({atomic, udp(4000, 5000, payload)}), 44), link_type::raw));
}

TEST(PacketDissect, ip_fragments_are_refused) {
  // IPv4: more fragments set; or a non-zero offset.
  EXPECT_EQ(dissect_exact(ipv4(udp(4000, 5000, payload), 17, 0x2000), link_type::raw).error,
            dissect_error::ip_fragment);
  EXPECT_EQ(dissect_exact(ipv4(payload, 17, 0x0010), link_type::raw).error,
            dissect_error::ip_fragment);
  // Don't-fragment alone is a whole datagram.
  expect_udp_v4(dissect_exact(ipv4(udp(4000, 5000, payload), 17, 0x4000), link_type::raw));
  // IPv6 fragment header: first piece (M set) and a later one (offset 8).
  const bytes first = {17, 0, 0, 1, 0, 0, 0, 1};
  const bytes later = {17, 0, 0, 8, 0, 0, 0, 1};
  EXPECT_EQ(
      dissect_exact(ipv6(concat({first, udp(4000, 5000, payload)}), 44), link_type::raw).error,
      dissect_error::ip_fragment);
  EXPECT_EQ(dissect_exact(ipv6(concat({later, payload}), 44), link_type::raw).error,
            dissect_error::ip_fragment);
}

TEST(PacketDissect, non_udp_is_refused) {
  EXPECT_EQ(dissect_exact(ipv4(payload, 6), link_type::raw).error, dissect_error::not_udp);
  EXPECT_EQ(dissect_exact(ipv6(payload, 6), link_type::raw).error, dissect_error::not_udp);
  EXPECT_EQ(dissect_exact(ipv6(concat({extension(58, 0), payload}), 0), link_type::raw).error,
            dissect_error::not_udp);
  EXPECT_EQ(dissect_exact(ethernet(0x0806, bytes(28, 0)), link_type::ethernet).error,
            dissect_error::not_ip);
}

TEST(PacketDissect, malformed_headers_are_named) {
  auto short_ihl = v4_datagram;
  short_ihl[0] = 0x44;  // header length 16 bytes
  EXPECT_EQ(dissect_exact(short_ihl, link_type::raw).error, dissect_error::bad_ip_header);
  auto total_below_header = v4_datagram;
  total_below_header[2] = 0;
  total_below_header[3] = 10;
  EXPECT_EQ(dissect_exact(total_below_header, link_type::raw).error, dissect_error::bad_ip_header);
  auto udp_length_7 = v4_datagram;
  udp_length_7[20 + 4] = 0;
  udp_length_7[20 + 5] = 7;
  EXPECT_EQ(dissect_exact(udp_length_7, link_type::raw).error, dissect_error::bad_udp_header);
  auto udp_length_past_ip = v4_datagram;
  udp_length_past_ip[20 + 5] = static_cast<std::uint8_t>(udp_length_past_ip[20 + 5] + 1);
  EXPECT_EQ(dissect_exact(udp_length_past_ip, link_type::raw).error, dissect_error::truncated);
  EXPECT_EQ(dissect_exact(bytes{0x50, 0, 0, 0}, link_type::raw).error, dissect_error::not_ip);
}

TEST(PacketDissect, unknown_link_types_are_refused) {
  EXPECT_FALSE(link_type_supported(147));
  EXPECT_TRUE(link_type_supported(link_type::linux_sll2));
  EXPECT_EQ(dissect_exact(v4_datagram, 147).error, dissect_error::unsupported_link_type);
}

TEST(PacketDissect, every_cut_of_every_frame_is_truncated_and_read_within_bounds) {
  const auto chain = concat({extension(60, 1), extension(17, 0), udp(4000, 5000, payload)});
  const std::vector<std::pair<bytes, int>> frames = {
      {ethernet(0x0800, v4_datagram, {0x8100, 0x8100}), link_type::ethernet},
      {ethernet(0x86DD, ipv6(chain, 0)), link_type::ethernet},
      {sll(0x0800, ipv4(udp(4000, 5000, payload), 17, 0, 2)), link_type::linux_sll},
      {sll2(0x86DD, v6_datagram), link_type::linux_sll2},
      {v4_datagram, link_type::raw},
      {v6_datagram, link_type::ipv6},
      {concat({family_header(2, false), v4_datagram}), link_type::null},
      {concat({family_header(30, true), v6_datagram}), link_type::loop},
  };
  for (const auto& [frame, link] : frames) {
    ASSERT_TRUE(dissect_exact(frame, link).ok()) << "link " << link;
    for (std::size_t n = 0; n < frame.size(); ++n) {
      const bytes cut(frame.begin(), frame.begin() + static_cast<long>(n));
      EXPECT_EQ(dissect_exact(cut, link).error, dissect_error::truncated)
          << "link " << link << ", " << n << " of " << frame.size() << " bytes";
    }
  }
}

TEST(PacketDissect, errors_and_endpoints_have_text) {
  for (auto e : {dissect_error::unsupported_link_type, dissect_error::truncated,
                 dissect_error::not_ip, dissect_error::bad_ip_header, dissect_error::ip_fragment,
                 dissect_error::not_udp, dissect_error::bad_udp_header}) {
    EXPECT_FALSE(to_string(e).empty());
  }
  flow_endpoint v4;
  v4.address = {192, 168, 0, 3};
  v4.port = 49176;
  EXPECT_EQ(v4.to_string(), "192.168.0.3:49176");
}

}  // namespace
}  // namespace toneguard::media
