#include "toneguard/media/rtp.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace toneguard::media {
namespace {

using bytes = std::vector<std::uint8_t>;

// A PCMU packet as a phone sends it: V=2, PT 0, seq 0x1234, ts 0x00A0B0C0, SSRC 0xDEADBEEF.
bytes pcmu_packet(std::size_t payload = 160) {
  bytes b = {0x80, 0x00, 0x12, 0x34, 0x00, 0xA0, 0xB0, 0xC0, 0xDE, 0xAD, 0xBE, 0xEF};
  b.resize(12 + payload, 0xFF);
  return b;
}

TEST(rtp_parse, plain_pcmu_packet_exposes_every_header_field) {
  const bytes pkt = pcmu_packet();
  const auto r = parse_rtp(pkt);
  ASSERT_TRUE(r.ok()) << r.error_message();
  EXPECT_FALSE(r.view.marker);
  EXPECT_EQ(r.view.payload_type, 0);
  EXPECT_EQ(r.view.sequence, 0x1234);
  EXPECT_EQ(r.view.timestamp, 0x00A0B0C0u);
  EXPECT_EQ(r.view.ssrc, 0xDEADBEEFu);
  EXPECT_EQ(r.view.csrc_count(), 0u);
  EXPECT_FALSE(r.view.has_extension);
  EXPECT_EQ(r.view.header_length, 12u);
  EXPECT_EQ(r.view.payload.size(), 160u);
  EXPECT_EQ(r.view.payload.data(), pkt.data() + 12);
  EXPECT_EQ(r.view.padding_length, 0u);
}

TEST(rtp_parse, csrcs_extension_and_padding_are_all_located) {
  bytes pkt = {0xB2, 0xE5, 0x00, 0x01, 0,    0,    0,    10,
               0,    0,    0,    1,                             // V2 P X CC=2, M, PT 101
               0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22,  // CSRCs
               0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0x00, 0x00,  // one-byte ext, 1 word
               0x01, 0x80, 0x03, 0x20,                          // payload (event 1, E)
               0x00, 0x00, 0x03};                               // 3 bytes of padding
  const auto r = parse_rtp(pkt);
  ASSERT_TRUE(r.ok()) << r.error_message();
  EXPECT_TRUE(r.view.marker);
  EXPECT_EQ(r.view.payload_type, 101);
  ASSERT_EQ(r.view.csrc_count(), 2u);
  EXPECT_EQ(r.view.csrc(0), 0x11111111u);
  EXPECT_EQ(r.view.csrc(1), 0x22222222u);
  EXPECT_TRUE(r.view.has_extension);
  EXPECT_EQ(r.view.extension_profile, 0xBEDE);
  ASSERT_EQ(r.view.extension.size(), 4u);
  EXPECT_EQ(r.view.extension[1], 0xAA);
  EXPECT_EQ(r.view.header_length, 28u);
  EXPECT_EQ(r.view.padding_length, 3u);
  ASSERT_EQ(r.view.payload.size(), 4u);
  EXPECT_EQ(r.view.payload[0], 0x01);
  EXPECT_EQ(r.view.payload[3], 0x20);
}

TEST(rtp_parse, padding_may_consume_the_whole_payload) {
  bytes pkt = pcmu_packet(0);
  pkt[0] |= 0x20;
  pkt.insert(pkt.end(), {0, 0, 0, 4});
  const auto r = parse_rtp(pkt);
  ASSERT_TRUE(r.ok()) << r.error_message();
  EXPECT_TRUE(r.view.payload.empty());
}

TEST(rtp_parse, rejects_packet_shorter_than_fixed_header) {
  const bytes pkt = {0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0};
  const auto r = parse_rtp(pkt);
  EXPECT_EQ(r.error, rtp_error::too_short);
  EXPECT_EQ(r.error_message(), "rtp: packet shorter than the 12-byte header");
  EXPECT_EQ(parse_rtp({}).error, rtp_error::too_short);
}

TEST(rtp_parse, rejects_version_other_than_2) {
  for (std::uint8_t first : {0x00, 0x40, 0xC0}) {
    bytes pkt = pcmu_packet();
    pkt[0] = first;
    const auto r = parse_rtp(pkt);
    EXPECT_EQ(r.error, rtp_error::bad_version);
    EXPECT_EQ(r.error_message(), "rtp: version is not 2");
  }
}

TEST(rtp_parse, rejects_csrc_count_that_does_not_fit) {
  bytes pkt = pcmu_packet(7);  // 19 bytes: room for one CSRC, not two
  pkt[0] = 0x82;
  const auto r = parse_rtp(pkt);
  EXPECT_EQ(r.error, rtp_error::csrc_overflow);
  EXPECT_EQ(r.error_message(), "rtp: CSRC list runs past the end of the packet");
  pkt[0] = 0x81;
  EXPECT_TRUE(parse_rtp(pkt).ok());
}

TEST(rtp_parse, rejects_extension_header_or_words_that_do_not_fit) {
  bytes pkt = pcmu_packet(3);  // X set, but no room for the 4-byte extension header
  pkt[0] = 0x90;
  EXPECT_EQ(parse_rtp(pkt).error, rtp_error::extension_overflow);
  pkt = pcmu_packet(8);  // header fits, length says 2 words (8 bytes) but only 4 follow
  pkt[0] = 0x90;
  pkt[12] = 0xBE;
  pkt[13] = 0xDE;
  pkt[14] = 0;
  pkt[15] = 2;
  const auto r = parse_rtp(pkt);
  EXPECT_EQ(r.error, rtp_error::extension_overflow);
  EXPECT_EQ(r.error_message(), "rtp: header extension runs past the end of the packet");
  pkt[15] = 1;
  EXPECT_TRUE(parse_rtp(pkt).ok());
}

TEST(rtp_parse, rejects_zero_pad_count) {
  bytes pkt = pcmu_packet(4);
  pkt[0] |= 0x20;
  pkt.back() = 0;
  const auto r = parse_rtp(pkt);
  EXPECT_EQ(r.error, rtp_error::padding_zero);
  EXPECT_EQ(r.error_message(), "rtp: padding bit set but pad count is 0");
}

TEST(rtp_parse, rejects_pad_count_larger_than_payload) {
  bytes pkt = pcmu_packet(4);
  pkt[0] |= 0x20;
  pkt.back() = 5;
  const auto r = parse_rtp(pkt);
  EXPECT_EQ(r.error, rtp_error::padding_overflow);
  EXPECT_EQ(r.error_message(), "rtp: pad count larger than the payload");
}

TEST(rtp_parse, never_reads_past_any_truncation_of_a_full_packet) {
  bytes full = {0xB1, 0xE5, 0x00, 0x01, 0,    0,    0,    10,   0,    0,
                0,    1,    0x11, 0x11, 0x11, 0x11, 0xBE, 0xDE, 0x00, 0x01,
                0x10, 0xAA, 0x00, 0x00, 0x01, 0x80, 0x03, 0x20, 0x02};
  for (std::size_t n = 0; n < full.size(); ++n) {
    bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    const auto r = parse_rtp(cut);  // ASan checks the bounds
    if (r.ok()) {
      EXPECT_LE(r.view.header_length + r.view.payload.size(), n);
    }
  }
}

TEST(rtp_rewrite, sets_sequence_timestamp_ssrc_payload_type_and_marker_in_place) {
  bytes pkt = pcmu_packet();
  ASSERT_TRUE(set_rtp_sequence(pkt, 0xFFFE));
  ASSERT_TRUE(set_rtp_timestamp(pkt, 0x01020304));
  ASSERT_TRUE(set_rtp_ssrc(pkt, 0xCAFEBABE));
  ASSERT_TRUE(set_rtp_payload_type(pkt, 8));
  ASSERT_TRUE(set_rtp_marker(pkt, true));
  auto r = parse_rtp(pkt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.view.sequence, 0xFFFE);
  EXPECT_EQ(r.view.timestamp, 0x01020304u);
  EXPECT_EQ(r.view.ssrc, 0xCAFEBABEu);
  EXPECT_EQ(r.view.payload_type, 8);
  EXPECT_TRUE(r.view.marker);
  ASSERT_TRUE(set_rtp_marker(pkt, false));
  ASSERT_TRUE(set_rtp_payload_type(pkt, 0xFF));  // only 7 bits used
  r = parse_rtp(pkt);
  EXPECT_FALSE(r.view.marker);
  EXPECT_EQ(r.view.payload_type, 127);
  EXPECT_EQ(pkt[0], 0x80);  // first byte untouched
}

TEST(rtp_rewrite, refuses_buffers_shorter_than_the_header) {
  bytes shorty(11, 0x80);
  EXPECT_FALSE(set_rtp_sequence(shorty, 1));
  EXPECT_FALSE(set_rtp_timestamp(shorty, 1));
  EXPECT_FALSE(set_rtp_ssrc(shorty, 1));
  EXPECT_FALSE(set_rtp_payload_type(shorty, 1));
  EXPECT_FALSE(set_rtp_marker(shorty, true));
  EXPECT_EQ(shorty, bytes(11, 0x80));
}

TEST(rtp_mux, second_byte_64_to_95_after_masking_marker_is_rtcp) {
  EXPECT_EQ(classify_muxed(bytes{0x80, 0x00}), mux_kind::rtp);
  EXPECT_EQ(classify_muxed(bytes{0x80, 0xE5}), mux_kind::rtp);  // PT 101 with marker
  EXPECT_EQ(classify_muxed(bytes{0x80, 200}), mux_kind::rtcp);  // SR
  EXPECT_EQ(classify_muxed(bytes{0x81, 201}), mux_kind::rtcp);  // RR
  EXPECT_EQ(classify_muxed(bytes{0x80, 192}), mux_kind::rtcp);  // 64 | 0x80
  EXPECT_EQ(classify_muxed(bytes{0x80, 223}), mux_kind::rtcp);  // 95 | 0x80
  EXPECT_EQ(classify_muxed(bytes{0x80, 96}), mux_kind::rtp);
  EXPECT_EQ(classify_muxed(bytes{0x80, 63}), mux_kind::rtp);
  EXPECT_EQ(classify_muxed(bytes{0x00, 0x01}), mux_kind::unknown);  // STUN
  EXPECT_EQ(classify_muxed(bytes{0x16, 0xFE}), mux_kind::unknown);  // DTLS
  EXPECT_EQ(classify_muxed(bytes{0x80}), mux_kind::unknown);
}

// SR with one report block + RR with one block + SDES CNAME, as a phone sends them.
bytes sr_rr_sdes_compound() {
  return {                                                 // SR, RC=1, length 12 words (52 bytes)
          0x81, 200, 0x00, 0x0C, 0xDE, 0xAD, 0xBE, 0xEF,   //
          0xE8, 0x00, 0x00, 0x01, 0x80, 0x00, 0x00, 0x00,  // NTP
          0x00, 0x00, 0x1F, 0x40, 0x00, 0x00, 0x00, 0x32,  // RTP ts 8000, 50 packets
          0x00, 0x00, 0x1F, 0x40,                          // 8000 octets
          0x11, 0x22, 0x33, 0x44, 0x05, 0xFF, 0xFF, 0xFE,  // block: ssrc, 5/256, lost -2
          0x00, 0x01, 0x12, 0x34, 0x00, 0x00, 0x00, 0x2A,  // ext seq 0x11234, jitter 42
          0xAB, 0xCD, 0xEF, 0x01, 0x00, 0x01, 0x80, 0x00,  // LSR, DLSR 1.5 s
                                                           // RR, RC=1, length 7 words (32 bytes)
          0x81, 201, 0x00, 0x07, 0xDE, 0xAD, 0xBE, 0xEF,   //
          0x55, 0x66, 0x77, 0x88, 0x00, 0x00, 0x00, 0x03,  //
          0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x07,  //
          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
          0x00,  //
                 // SDES, SC=1, CNAME "user@host" (9 bytes): 4 + 4 + 2 + 9 + 1 null = 20 → 5 words
          0x81, 202, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF,  //
          0x01, 0x09, 'u', 's', 'e', 'r', '@', 'h', 'o', 's', 't', 0x00};
}

TEST(rtcp_parse, sr_rr_sdes_compound_gives_report_blocks) {
  const bytes d = sr_rr_sdes_compound();
  const auto r = parse_rtcp_compound(d);
  ASSERT_TRUE(r.ok()) << r.error_message() << " at " << r.error_offset;
  ASSERT_EQ(r.compound.size(), 3u);
  auto it = r.compound.begin();
  const rtcp_packet_view sr = *it++;
  EXPECT_EQ(sr.type, 200);
  EXPECT_EQ(sr.sender_ssrc(), 0xDEADBEEFu);
  EXPECT_EQ(sr.sender_info().rtp_timestamp, 8000u);
  EXPECT_EQ(sr.sender_info().packet_count, 50u);
  EXPECT_EQ(sr.sender_info().ntp_timestamp, 0xE800000180000000ull);
  ASSERT_EQ(sr.report_block_count(), 1u);
  const rtcp_report_block b = sr.report_block(0);
  EXPECT_EQ(b.ssrc, 0x11223344u);
  EXPECT_EQ(b.fraction_lost, 5);
  EXPECT_EQ(b.cumulative_lost, -2);
  EXPECT_EQ(b.extended_highest_seq, 0x00011234u);
  EXPECT_EQ(b.jitter, 42u);
  EXPECT_EQ(b.last_sr, 0xABCDEF01u);
  EXPECT_EQ(b.delay_since_last_sr, 0x00018000u);
  EXPECT_EQ(b.offset, 28u);
  const rtcp_packet_view rr = *it++;
  EXPECT_EQ(rr.type, 201);
  EXPECT_EQ(rr.offset, 52u);
  ASSERT_EQ(rr.report_block_count(), 1u);
  EXPECT_EQ(rr.report_block(0).ssrc, 0x55667788u);
  EXPECT_EQ(rr.report_block(0).cumulative_lost, 3);
  EXPECT_EQ(rr.report_block(0).extended_highest_seq, 0xFFFFu);
  EXPECT_EQ(rr.report_block(0).offset, 60u);
  const rtcp_packet_view sdes = *it++;
  EXPECT_EQ(sdes.type, 202);
  EXPECT_EQ(sdes.report_block_count(), 0u);
  EXPECT_EQ(sdes.bytes.size(), 20u);
  EXPECT_TRUE(it == r.compound.end());
}

TEST(rtcp_parse, feedback_bye_app_and_unknown_types_are_carried) {
  const bytes d = {0x81, 201, 0x00, 0x01, 0, 0, 0, 1,  // RR with no blocks (RC=0 → 1)
                   0x81, 205, 0x00, 0x03, 0, 0, 0, 1, 0,   0,   0,   2,
                   0,    1,   0,    0,                                     // RTPFB generic NACK
                   0x81, 206, 0x00, 0x02, 0, 0, 0, 1, 0,   0,   0,   2,    // PSFB PLI
                   0x80, 204, 0x00, 0x02, 0, 0, 0, 1, 'n', 'a', 'm', 'e',  // APP
                   0x80, 207, 0x00, 0x00,                                  // XR-like: opaque
                   0x81, 203, 0x00, 0x01, 0, 0, 0, 1};                     // BYE
  const auto r = parse_rtcp_compound(bytes(d.begin(), d.end()));
  ASSERT_FALSE(r.ok());  // the first RR says RC=1 but carries no block
  EXPECT_EQ(r.error, rtcp_error::rr_too_short);
  EXPECT_EQ(r.error_offset, 0u);
  bytes fixed = d;
  fixed[0] = 0x80;
  const auto ok = parse_rtcp_compound(fixed);
  ASSERT_TRUE(ok.ok()) << ok.error_message() << " at " << ok.error_offset;
  EXPECT_EQ(ok.compound.size(), 6u);
  std::vector<int> types;
  for (const auto& p : ok.compound) types.push_back(p.type);
  EXPECT_EQ(types, (std::vector<int>{201, 205, 206, 204, 207, 203}));
}

TEST(rtcp_parse, rejects_each_malformation_with_its_message) {
  EXPECT_EQ(parse_rtcp_compound({}).error_message(), "rtcp: empty datagram");
  bytes d = sr_rr_sdes_compound();

  bytes v = d;
  v[52] = 0x41;  // RR with version 1
  auto r = parse_rtcp_compound(v);
  EXPECT_EQ(r.error_message(), "rtcp: version is not 2");
  EXPECT_EQ(r.error_offset, 52u);

  bytes l = d;
  l[52 + 3] = 0x40;  // RR length 64 words
  EXPECT_EQ(parse_rtcp_compound(l).error_message(),
            "rtcp: length field runs past the end of the datagram");

  bytes t = d;
  t.push_back(0x80);
  t.push_back(201);
  t.push_back(0);
  EXPECT_EQ(parse_rtcp_compound(t).error_message(),
            "rtcp: fewer than 4 bytes left for a packet header");

  bytes p = d;
  p[0] |= 0x20;  // padding on the first packet
  EXPECT_EQ(parse_rtcp_compound(p).error_message(),
            "rtcp: padding bit set on a packet that is not the last");

  bytes pad = {0xA0, 201, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 0};  // last byte pad count 0
  EXPECT_EQ(parse_rtcp_compound(pad).error_message(),
            "rtcp: pad count is 0 or larger than the packet");
  pad.back() = 4;
  EXPECT_TRUE(parse_rtcp_compound(pad).ok());

  bytes sr = {0x80, 200, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 0};  // SR without sender info
  EXPECT_EQ(parse_rtcp_compound(sr).error_message(),
            "rtcp: SR shorter than its sender info and report blocks");

  bytes sdes = {0x81, 202, 0x00, 0x02, 0, 0, 0, 1, 0x01, 0x09, 'a', 'b'};  // item overruns
  EXPECT_EQ(parse_rtcp_compound(sdes).error_message(),
            "rtcp: SDES chunk or item runs past the end of the packet");

  bytes bye = {0x82, 203, 0x00, 0x01, 0, 0, 0, 1};  // SC=2, one SSRC
  EXPECT_EQ(parse_rtcp_compound(bye).error_message(),
            "rtcp: BYE shorter than its SSRC list or reason");

  bytes app = {0x80, 204, 0x00, 0x01, 0, 0, 0, 1};
  EXPECT_EQ(parse_rtcp_compound(app).error_message(), "rtcp: APP shorter than 12 bytes");

  bytes fb = {0x81, 205, 0x00, 0x01, 0, 0, 0, 1};
  EXPECT_EQ(parse_rtcp_compound(fb).error_message(), "rtcp: feedback packet shorter than 12 bytes");
}

TEST(rtcp_parse, never_reads_past_any_truncation_of_a_compound) {
  const bytes d = sr_rr_sdes_compound();
  for (std::size_t n = 0; n < d.size(); ++n) {
    bytes cut(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(n));
    const auto r = parse_rtcp_compound(cut);
    if (r.ok()) {
      for (const auto& p : r.compound) {
        for (std::size_t i = 0; i < p.report_block_count(); ++i) (void)p.report_block(i);
      }
    }
  }
}

TEST(rtcp_rewrite, sets_sender_counts_of_an_sr_in_place_and_nothing_else) {
  bytes d = sr_rr_sdes_compound();
  const bytes before = d;
  ASSERT_TRUE(set_rtcp_sender_counts(d, 0, 47, 7200));
  const auto r = parse_rtcp_compound(d);
  ASSERT_TRUE(r.ok());
  const rtcp_sender_info info = (*r.compound.begin()).sender_info();
  EXPECT_EQ(info.packet_count, 47u);
  EXPECT_EQ(info.octet_count, 7200u);
  EXPECT_EQ(info.rtp_timestamp, 8000u);
  EXPECT_EQ(info.ntp_timestamp, 0xE800000180000000ull);
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (i < 20 || i >= 28) {
      EXPECT_EQ(d[i], before[i]) << i;
    }
  }
}

TEST(rtcp_rewrite, sender_counts_refuse_a_packet_that_is_not_an_sr_or_does_not_fit) {
  bytes d = sr_rr_sdes_compound();
  const bytes before = d;
  EXPECT_FALSE(set_rtcp_sender_counts(d, 52, 1, 1));  // the RR
  EXPECT_FALSE(set_rtcp_sender_counts(d, d.size() - 20, 1, 1));
  EXPECT_FALSE(set_rtcp_sender_counts(d, d.size() + 4, 1, 1));
  bytes cut(d.begin(), d.begin() + 27);
  EXPECT_FALSE(set_rtcp_sender_counts(cut, 0, 1, 1));
  EXPECT_EQ(d, before);
}

TEST(rtcp_rewrite, sets_cumulative_lost_and_extended_highest_of_a_report_block) {
  bytes d = sr_rr_sdes_compound();
  const bytes before = d;
  ASSERT_TRUE(set_rtcp_report_block_reception(d, 28, -5, 0x00021240));
  ASSERT_TRUE(set_rtcp_report_block_reception(d, 60, 0x7FFFFF + 10, 0x10));  // clamped
  const auto r = parse_rtcp_compound(d);
  ASSERT_TRUE(r.ok());
  auto it = r.compound.begin();
  const rtcp_report_block a = (*it++).report_block(0);
  EXPECT_EQ(a.cumulative_lost, -5);
  EXPECT_EQ(a.extended_highest_seq, 0x00021240u);
  EXPECT_EQ(a.fraction_lost, 5);
  EXPECT_EQ(a.jitter, 42u);
  EXPECT_EQ(a.last_sr, 0xABCDEF01u);
  const rtcp_report_block b = (*it).report_block(0);
  EXPECT_EQ(b.cumulative_lost, 0x7FFFFF);
  EXPECT_EQ(b.extended_highest_seq, 0x10u);
  ASSERT_TRUE(set_rtcp_report_block_reception(d, 28, -0x900000, 0));
  EXPECT_EQ((*parse_rtcp_compound(d).compound.begin()).report_block(0).cumulative_lost, -0x800000);
  EXPECT_FALSE(set_rtcp_report_block_reception(d, d.size() - 23, 0, 0));
  EXPECT_FALSE(set_rtcp_report_block_reception(d, d.size() + 1, 0, 0));
  // Only the two fields of the two blocks changed.
  for (std::size_t i = 0; i < d.size(); ++i) {
    const bool field = (i >= 28 + 5 && i < 28 + 12) || (i >= 60 + 5 && i < 60 + 12);
    if (!field) {
      EXPECT_EQ(d[i], before[i]) << i;
    }
  }
}

}  // namespace
}  // namespace toneguard::media
