#include "toneguard/media/sdp.h"

#include <gtest/gtest.h>

#include <string>

namespace toneguard::media {
namespace {

// An offer as a SIP phone sends it through Kamailio: PCMU, PCMA, telephone-event, a=rtcp.
constexpr const char* phone_offer =
    "v=0\r\n"
    "o=- 3867543212 3867543212 IN IP4 192.168.1.20\r\n"
    "s=Yealink SIP-T46S\r\n"
    "c=IN IP4 192.168.1.20\r\n"
    "t=0 0\r\n"
    "m=audio 11780 RTP/AVP 0 8 18 9 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=fmtp:18 annexb=no\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=ptime:20\r\n"
    "a=rtcp:11781 IN IP4 192.168.1.20\r\n"
    "a=x-vendor-thing:keep me\r\n"
    "a=sendrecv\r\n";

constexpr const char* ipv6_offer =
    "v=0\n"
    "o=alice 2890844526 2890844527 IN IP6 2001:db8::10\n"
    "s=-\n"
    "c=IN IP6 2001:db8::10\n"
    "t=0 0\n"
    "m=audio 49170 RTP/AVP 8 96\n"
    "a=rtpmap:96 telephone-event/8000\n"
    "a=fmtp:96 0-16\n"
    "a=rtcp:49171\n"
    "a=recvonly\n";

constexpr const char* srtp_offer =
    "v=0\r\n"
    "o=- 1 2 IN IP4 203.0.113.5\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "m=audio 20000 RTP/SAVP 0 101\r\n"
    "c=IN IP4 203.0.113.5\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
    "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzcyAoc2VuZGVy|2^20|1:4\r\n"
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj\r\n"
    "a=sendrecv\r\n";

constexpr const char* mux_offer =
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126\r\n"
    "c=IN IP4 198.51.100.7\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=mid:0\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n"
    "a=sendonly\r\n";

session_description parse_ok(const char* text) {
  auto r = session_description::parse(text);
  EXPECT_TRUE(r.ok()) << r.error_message();
  return r.ok() ? std::move(r).value() : session_description{};
}

std::string parse_error(const std::string& text) {
  auto r = session_description::parse(text);
  return r.ok() ? std::string("(accepted)") : r.error_message();
}

TEST(sdp_parse, phone_offer_gives_origin_connection_and_codecs) {
  const auto sd = parse_ok(phone_offer);
  const auto o = sd.origin();
  ASSERT_TRUE(o);
  EXPECT_EQ(o->username, "-");
  EXPECT_EQ(o->session_id, "3867543212");
  EXPECT_EQ(o->session_version, "3867543212");
  EXPECT_EQ(o->addrtype, address_type::ip4);
  EXPECT_EQ(o->address, "192.168.1.20");
  EXPECT_EQ(sd.connection(), (network_address{address_type::ip4, "192.168.1.20"}));
  ASSERT_EQ(sd.media().size(), 1u);
  const auto& m = sd.media()[0];
  EXPECT_EQ(m.media(), "audio");
  EXPECT_EQ(m.port(), 11780);
  EXPECT_EQ(m.proto(), "RTP/AVP");
  EXPECT_EQ(m.payload_types(), (std::vector<std::uint8_t>{0, 8, 18, 9, 101}));
  EXPECT_FALSE(m.connection());
  EXPECT_EQ(sd.connection_of(m)->address, "192.168.1.20");
  const auto g729 = m.rtpmap(18);
  ASSERT_TRUE(g729);
  EXPECT_EQ(g729->encoding, "G729");
  EXPECT_EQ(g729->clock_rate, 8000u);
  EXPECT_EQ(g729->channels, 1u);
  EXPECT_EQ(m.fmtp(18), "annexb=no");
  EXPECT_EQ(m.fmtp(101), "0-15");
  EXPECT_FALSE(m.fmtp(0));
  EXPECT_EQ(m.ptime(), 20u);
  const auto rtcp = m.rtcp();
  ASSERT_TRUE(rtcp);
  EXPECT_EQ(rtcp->port, 11781);
  EXPECT_EQ(rtcp->address, (network_address{address_type::ip4, "192.168.1.20"}));
  EXPECT_FALSE(m.rtcp_mux());
  EXPECT_EQ(m.direction(), media_direction::sendrecv);
  EXPECT_EQ(m.telephone_event_payload_types(), (std::vector<std::uint8_t>{101}));
  const auto g711 = m.g711_payload_types();
  ASSERT_EQ(g711.size(), 2u);
  EXPECT_EQ(g711[0].payload_type, 0);
  EXPECT_EQ(g711[0].law, g711_law::mu_law);
  EXPECT_EQ(g711[1].payload_type, 8);
  EXPECT_EQ(g711[1].law, g711_law::a_law);
  EXPECT_EQ(m.attribute("x-vendor-thing"), "keep me");
}

TEST(sdp_parse, ipv6_offer_with_lf_line_ends_and_static_pcma) {
  const auto sd = parse_ok(ipv6_offer);
  EXPECT_EQ(sd.origin()->addrtype, address_type::ip6);
  EXPECT_EQ(sd.connection(), (network_address{address_type::ip6, "2001:db8::10"}));
  const auto& m = sd.media()[0];
  EXPECT_EQ(m.telephone_event_payload_types(), (std::vector<std::uint8_t>{96}));
  const auto g711 = m.g711_payload_types();
  ASSERT_EQ(g711.size(), 1u);
  EXPECT_EQ(g711[0].payload_type, 8);  // static, no rtpmap
  EXPECT_EQ(g711[0].law, g711_law::a_law);
  EXPECT_EQ(m.rtcp()->port, 49171);
  EXPECT_FALSE(m.rtcp()->address);
  EXPECT_EQ(sd.direction_of(m), media_direction::recvonly);
  // Serialized with CRLF.
  EXPECT_EQ(sd.serialize().find("\r\n"), 3u);
}

TEST(sdp_parse, srtp_offer_gives_both_crypto_lines_with_keys) {
  const auto sd = parse_ok(srtp_offer);
  const auto& m = sd.media()[0];
  EXPECT_EQ(m.proto(), "RTP/SAVP");
  EXPECT_EQ(m.connection()->address, "203.0.113.5");
  const auto c = m.crypto();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].tag, 1u);
  EXPECT_EQ(c[0].suite, "AES_CM_128_HMAC_SHA1_80");
  EXPECT_EQ(c[0].key(), "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzcyAoc2VuZGVy");
  EXPECT_EQ(c[0].key_params,
            "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzcyAoc2VuZGVy|2^20|1:4");
  EXPECT_EQ(c[1].tag, 2u);
  EXPECT_EQ(c[1].suite, "AES_CM_128_HMAC_SHA1_32");
  EXPECT_EQ(c[1].key(), "NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj");
  EXPECT_TRUE(c[1].session_params.empty());
}

TEST(sdp_parse, rtcp_mux_offer_with_opus_and_no_g711_rtpmaps) {
  const auto sd = parse_ok(mux_offer);
  const auto& m = sd.media()[0];
  EXPECT_EQ(m.proto(), "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(m.port(), 9);
  EXPECT_TRUE(m.rtcp_mux());
  EXPECT_EQ(m.rtpmap(111)->channels, 2u);
  EXPECT_EQ(m.rtpmap(111)->clock_rate, 48000u);
  EXPECT_EQ(m.fmtp(111), "minptime=10;useinbandfec=1");
  EXPECT_EQ(m.telephone_event_payload_types(), (std::vector<std::uint8_t>{126}));
  EXPECT_EQ(m.g711_payload_types().size(), 2u);
  EXPECT_EQ(sd.direction_of(m), media_direction::sendonly);
  EXPECT_FALSE(sd.connection());
}

TEST(sdp_parse, round_trip_is_byte_identical_for_crlf_input) {
  for (const char* text : {phone_offer, srtp_offer, mux_offer}) {
    EXPECT_EQ(parse_ok(text).serialize(), text);
  }
}

TEST(sdp_parse, tolerates_trailing_whitespace_and_blank_lines_at_end) {
  const auto sd = parse_ok(
      "v=0 \r\no=- 1 1 IN IP4 10.0.0.1  \r\ns=-\r\nc=IN IP4 10.0.0.1\t\r\nt=0 0\r\n"
      "m=audio 4000 RTP/AVP 0 \r\na=rtcp-mux \r\na=rtcp:4001 \r\n\r\n\r\n");
  EXPECT_EQ(sd.connection()->address, "10.0.0.1");
  EXPECT_EQ(sd.media()[0].formats(), (std::vector<std::string>{"0"}));
  EXPECT_TRUE(sd.media()[0].rtcp_mux());
  EXPECT_EQ(sd.media()[0].rtcp()->port, 4001);
}

TEST(sdp_parse, multiple_media_sections_and_port_count) {
  const auto sd = parse_ok(
      "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n"
      "m=audio 4000/2 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n"
      "m=video 0 RTP/AVP 31\r\nb=AS:256\r\n");
  ASSERT_EQ(sd.media().size(), 2u);
  EXPECT_EQ(sd.media()[0].port_count(), 2u);
  EXPECT_EQ(sd.media()[1].media(), "video");
  EXPECT_EQ(sd.media()[1].port(), 0);
  EXPECT_EQ(sd.media()[1].lines().size(), 1u);
  EXPECT_FALSE(sd.connection_of(sd.media()[1]));
}

TEST(sdp_rewrite, proxy_rewrite_of_phone_offer_keeps_unknown_lines_in_order) {
  auto sd = parse_ok(phone_offer);
  const auto pub = network_address::from_string("203.0.113.1");
  ASSERT_TRUE(pub.ok());
  EXPECT_TRUE(sd.set_origin_address(pub.value()));
  sd.set_connection(pub.value());
  auto& m = sd.media()[0];
  m.set_port(30000);
  m.set_rtcp(30001, pub.value());
  EXPECT_EQ(sd.serialize(),
            "v=0\r\n"
            "o=- 3867543212 3867543212 IN IP4 203.0.113.1\r\n"
            "s=Yealink SIP-T46S\r\n"
            "c=IN IP4 203.0.113.1\r\n"
            "t=0 0\r\n"
            "m=audio 30000 RTP/AVP 0 8 18 9 101\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:8 PCMA/8000\r\n"
            "a=rtpmap:18 G729/8000\r\n"
            "a=fmtp:18 annexb=no\r\n"
            "a=rtpmap:9 G722/8000\r\n"
            "a=fmtp:101 0-15\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n"
            "a=ptime:20\r\n"
            "a=rtcp:30001 IN IP4 203.0.113.1\r\n"
            "a=x-vendor-thing:keep me\r\n"
            "a=sendrecv\r\n");
  // And it parses back to the same values.
  const auto again = parse_ok(sd.serialize().c_str());
  EXPECT_EQ(again.media()[0].port(), 30000);
  EXPECT_EQ(again.serialize(), sd.serialize());
}

TEST(sdp_rewrite, origin_and_connection_switch_to_ipv6) {
  auto sd = parse_ok(phone_offer);
  const auto v6 = network_address::from_string("2001:db8::1").value();
  EXPECT_EQ(v6.type, address_type::ip6);
  EXPECT_TRUE(sd.set_origin_address(v6));
  sd.set_connection(v6);
  EXPECT_EQ(sd.origin()->addrtype, address_type::ip6);
  EXPECT_EQ(sd.origin()->address, "2001:db8::1");
  EXPECT_EQ(sd.connection(), v6);
  EXPECT_NE(sd.serialize().find("c=IN IP6 2001:db8::1\r\n"), std::string::npos);
}

TEST(sdp_rewrite, media_connection_is_added_after_m_line_when_absent) {
  auto sd = parse_ok(phone_offer);
  sd.media()[0].set_connection(network_address::from_string("10.1.2.3").value());
  EXPECT_EQ(sd.media()[0].lines().front().type, 'c');
  EXPECT_EQ(sd.media()[0].connection()->address, "10.1.2.3");
  EXPECT_EQ(sd.connection()->address, "192.168.1.20");  // session c= untouched
}

TEST(sdp_rewrite, session_connection_is_added_before_t_line_when_absent) {
  auto sd = parse_ok(srtp_offer);
  sd.set_connection(network_address::from_string("10.0.0.9").value());
  const std::string out = sd.serialize();
  EXPECT_NE(out.find("s=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"), std::string::npos);
}

TEST(sdp_rewrite, rtcp_mux_and_rtcp_port_toggle) {
  auto sd = parse_ok(phone_offer);
  auto& m = sd.media()[0];
  m.set_rtcp_mux(true);
  m.set_rtcp_mux(true);
  EXPECT_TRUE(m.rtcp_mux());
  EXPECT_EQ(sd.serialize().find("a=rtcp-mux"), sd.serialize().rfind("a=rtcp-mux"));
  m.set_rtcp(30000, std::nullopt);
  EXPECT_EQ(m.rtcp()->port, 30000);
  EXPECT_FALSE(m.rtcp()->address);
  m.set_rtcp_mux(false);
  EXPECT_FALSE(m.rtcp_mux());
  auto mux = parse_ok(mux_offer);
  mux.media()[0].set_rtcp_mux(false);
  EXPECT_EQ(mux.serialize().find("rtcp-mux"), std::string::npos);
}

TEST(sdp_rewrite, crypto_lines_are_replaced_in_place) {
  auto sd = parse_ok(srtp_offer);
  auto& m = sd.media()[0];
  const sdp_crypto ours{1, "AES_CM_128_HMAC_SHA1_80",
                        "inline:b3VycyBvdXJzIG91cnMgb3VycyBvdXJzIG91cnM=", ""};
  m.set_crypto(std::span<const sdp_crypto>(&ours, 1));
  const auto c = m.crypto();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].key(), "b3VycyBvdXJzIG91cnMgb3VycyBvdXJzIG91cnM=");
  // In the place of the old ones: before a=sendrecv.
  EXPECT_EQ(m.lines()[3].value.substr(0, 7), "crypto:");
  EXPECT_EQ(m.lines()[4].value, "sendrecv");
  m.set_crypto({});
  EXPECT_TRUE(m.crypto().empty());
}

TEST(sdp_rewrite, remove_attributes_by_name) {
  auto sd = parse_ok(phone_offer);
  auto& m = sd.media()[0];
  EXPECT_EQ(m.remove_attributes("rtpmap"), 5u);
  EXPECT_EQ(m.remove_attributes("rtcp"), 1u);
  EXPECT_EQ(m.remove_attributes("nothing"), 0u);
  EXPECT_TRUE(m.rtpmaps().empty());
  EXPECT_FALSE(m.rtcp());
  EXPECT_EQ(m.attribute("ptime"), "20");
  auto mux = parse_ok(mux_offer);
  EXPECT_EQ(mux.remove_attributes("group"), 1u);
}

TEST(sdp_rewrite, proto_is_set_and_serialized) {
  auto sd = parse_ok(srtp_offer);
  sd.media()[0].set_proto("RTP/AVP");
  sd.media()[0].set_crypto({});
  EXPECT_NE(sd.serialize().find("m=audio 20000 RTP/AVP 0 101\r\n"), std::string::npos);
  const auto again = parse_ok(sd.serialize().c_str());
  EXPECT_EQ(again.media()[0].proto(), "RTP/AVP");
  EXPECT_TRUE(again.media()[0].crypto().empty());
}

TEST(sdp_rewrite, ice_and_dtls_attributes_are_removed_by_name_list) {
  auto sd = parse_ok(
      "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-lite\r\na=ice-options:trickle\r\n"
      "a=fingerprint:sha-256 AB:CD\r\n"
      "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.1\r\na=ice-ufrag:abcd\r\n"
      "a=ice-pwd:0123456789abcdef012345\r\n"
      "a=candidate:1 1 UDP 2130706431 10.0.0.1 4000 typ host\r\na=end-of-candidates\r\n"
      "a=remote-candidates:1 10.0.0.9 5000\r\na=setup:actpass\r\na=sendrecv\r\n"
      "m=video 4002 RTP/AVP 96\r\na=candidate:1 1 UDP 2130706431 10.0.0.1 4002 typ host\r\n");
  constexpr std::string_view names[] = {"candidate",         "ice-ufrag",   "ice-pwd",
                                        "ice-options",       "ice-lite",    "end-of-candidates",
                                        "remote-candidates", "fingerprint", "setup"};
  EXPECT_EQ(sd.remove_attributes(names), 3u);
  EXPECT_EQ(sd.media()[0].remove_attributes(names), 6u);
  EXPECT_EQ(sd.media()[1].remove_attributes(names), 1u);
  EXPECT_EQ(sd.media()[0].lines().size(), 2u);  // c= and a=sendrecv
  EXPECT_EQ(sd.serialize().find("ice"), std::string::npos);
  EXPECT_EQ(sd.serialize().find("candidate"), std::string::npos);
}

TEST(sdp_address, unspecified_addresses_mean_hold) {
  EXPECT_TRUE(network_address::from_string("0.0.0.0").value().is_unspecified());
  EXPECT_TRUE(network_address::from_string("::").value().is_unspecified());
  EXPECT_TRUE(network_address::from_string("0:0::0").value().is_unspecified());
  EXPECT_FALSE(network_address::from_string("0.0.0.1").value().is_unspecified());
  EXPECT_FALSE(network_address::from_string("::1").value().is_unspecified());
  EXPECT_FALSE((network_address{address_type::ip4, "not an address"}.is_unspecified()));
  EXPECT_EQ(network_address::unspecified(address_type::ip4).address, "0.0.0.0");
  EXPECT_EQ(network_address::unspecified(address_type::ip6),
            (network_address{address_type::ip6, "::"}));
  const auto held = parse_ok(
      "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\n"
      "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n");
  EXPECT_TRUE(held.connection_of(held.media()[0])->is_unspecified());
}

TEST(sdp_address, from_string_detects_the_type_and_rejects_names) {
  EXPECT_EQ(network_address::from_string("192.0.2.1").value().type, address_type::ip4);
  EXPECT_EQ(network_address::from_string("::1").value().type, address_type::ip6);
  EXPECT_EQ(network_address::from_string("pbx.example.com").error_message(),
            "address 'pbx.example.com' is neither IPv4 nor IPv6");
}

const std::string head = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n";
// The head and one PCMU media section (line 5), for the media attributes' errors.
const std::string audio_head = head + "m=audio 4000 RTP/AVP 0\r\n";

TEST(sdp_reject, empty_input) {
  EXPECT_EQ(parse_error(""), "sdp: empty input");
  EXPECT_EQ(parse_error("\r\n\r\n"), "sdp: empty input");
}

TEST(sdp_reject, first_line_not_v0) {
  EXPECT_EQ(parse_error("o=- 1 1 IN IP4 10.0.0.1\r\nv=0\r\n"), "sdp: line 1: expected v=0 first");
  EXPECT_EQ(parse_error("v=1\r\n"), "sdp: line 1: expected v=0 first");
}

TEST(sdp_reject, line_not_of_form_x_equals) {
  EXPECT_EQ(parse_error(head + "hello world\r\n"),
            "sdp: line 5: 'hello world' is not of the form <letter>=<value>");
  EXPECT_EQ(parse_error(head + "\r\nm=audio 1 RTP/AVP 0\r\n"),
            "sdp: line 5: '' is not of the form <letter>=<value>");
  EXPECT_EQ(parse_error(head + "A=x\r\n"),
            "sdp: line 5: 'A=x' is not of the form <letter>=<value>");
}

TEST(sdp_reject, control_characters) {
  EXPECT_EQ(parse_error(head + std::string("a=x\0y\r\n", 7)),
            "sdp: line 5: control character 0x00");
  EXPECT_EQ(parse_error(head + "a=x\ry\r\n"), "sdp: line 5: control character 0x0D");
}

TEST(sdp_reject, bad_m_line) {
  EXPECT_EQ(parse_error(head + "m=audio 70000 RTP/AVP 0\r\n"),
            "sdp: line 5: m= port '70000' is not a number 0-65535");
  EXPECT_EQ(parse_error(head + "m=audio -1 RTP/AVP 0\r\n"),
            "sdp: line 5: m= port '-1' is not a number 0-65535");
  EXPECT_EQ(parse_error(head + "m=audio abc RTP/AVP 0\r\n"),
            "sdp: line 5: m= port 'abc' is not a number 0-65535");
  EXPECT_EQ(parse_error(head + "m=audio 4000/0 RTP/AVP 0\r\n"),
            "sdp: line 5: m= port count '0' is not a number 1-65535");
  EXPECT_EQ(parse_error(head + "m=audio 4000 RTP/AVP\r\n"), "sdp: line 5: m= has no formats");
  EXPECT_EQ(parse_error(head + "m=audio 4000\r\n"),
            "sdp: line 5: m= needs '<media> <port> <proto> <format>...'");
}

TEST(sdp_reject, bad_c_line) {
  EXPECT_EQ(parse_error(head + "c=XX IP4 10.0.0.1\r\n"), "sdp: line 5: c= nettype 'XX' is not IN");
  EXPECT_EQ(parse_error(head + "c=IN IP5 10.0.0.1\r\n"),
            "sdp: line 5: c= addrtype 'IP5' is not IP4 or IP6");
  EXPECT_EQ(parse_error(head + "c=IN IP4 x\r\n"),
            "sdp: line 5: c= address 'x' is not an IPv4 address");
  EXPECT_EQ(parse_error(head + "c=IN IP4 2001:db8::1\r\n"),
            "sdp: line 5: c= address '2001:db8::1' is not an IPv4 address");
  EXPECT_EQ(parse_error(head + "c=IN IP6 10.0.0.1\r\n"),
            "sdp: line 5: c= address '10.0.0.1' is not an IPv6 address");
  EXPECT_EQ(parse_error(head + "c=IN IP4 224.2.1.1/127\r\n"),
            "sdp: line 5: c= address '224.2.1.1/127' is not an IPv4 address");
  EXPECT_EQ(parse_error(head + "c=IN IP4\r\n"),
            "sdp: line 5: c= needs '<nettype> <addrtype> <address>'");
  // In a media section too.
  EXPECT_EQ(parse_error(head + "m=audio 1 RTP/AVP 0\r\nc=IN IP4 300.1.1.1\r\n"),
            "sdp: line 6: c= address '300.1.1.1' is not an IPv4 address");
}

TEST(sdp_reject, bad_o_line) {
  EXPECT_EQ(parse_error("v=0\r\no=- 1 1 IN IP4\r\n"),
            "sdp: line 2: o= needs '<username> <sess-id> <sess-version> <nettype> <addrtype> "
            "<address>'");
  EXPECT_EQ(parse_error("v=0\r\no=- 1 1 ATM IP4 x\r\n"), "sdp: line 2: o= nettype 'ATM' is not IN");
}

TEST(sdp_reject, bad_rtcp_attribute) {
  EXPECT_EQ(parse_error(audio_head + "a=rtcp:99999\r\n"),
            "sdp: line 6: a=rtcp port '99999' is not a number 0-65535");
  EXPECT_EQ(parse_error(audio_head + "a=rtcp:\r\n"),
            "sdp: line 6: a=rtcp needs '<port> [IN <addrtype> <address>]'");
  EXPECT_EQ(parse_error(audio_head + "a=rtcp:4001 IN IP4 nowhere\r\n"),
            "sdp: line 6: a=rtcp address 'nowhere' is not an IPv4 address");
}

TEST(sdp_reject, bad_rtpmap_and_crypto) {
  EXPECT_EQ(parse_error(audio_head + "a=rtpmap:200 PCMU/8000\r\n"),
            "sdp: line 6: a=rtpmap payload type '200' is not a number 0-127");
  EXPECT_EQ(parse_error(audio_head + "a=rtpmap:0 PCMU\r\n"),
            "sdp: line 6: a=rtpmap 'PCMU' is not <encoding>/<clock rate>");
  EXPECT_EQ(parse_error(audio_head + "a=rtpmap:0 PCMU/fast\r\n"),
            "sdp: line 6: a=rtpmap clock rate 'fast' is not a positive number");
  EXPECT_EQ(parse_error(audio_head + "a=crypto:1 AES_CM_128_HMAC_SHA1_80\r\n"),
            "sdp: line 6: a=crypto needs '<tag> <suite> inline:<key>'");
  EXPECT_EQ(parse_error(audio_head + "a=crypto:1 AES_CM_128_HMAC_SHA1_80 key:abc\r\n"),
            "sdp: line 6: a=crypto key params 'key:abc' do not start with inline:<key>");
}

TEST(sdp_reject, unreasonable_sizes) {
  EXPECT_EQ(parse_error(head + std::string(70000, 'x')),
            "sdp: input of 70042 bytes exceeds the 65536-byte limit");
  std::string many = head;
  for (int i = 0; i < 3000; ++i) many += "a=x\n";
  EXPECT_EQ(parse_error(many), "sdp: more than 2048 lines");
  std::string media = head;
  for (int i = 0; i < 65; ++i) media += "m=audio 1 RTP/AVP 0\n";
  EXPECT_EQ(parse_error(media), "sdp: line 69: more than 64 media sections");
}

}  // namespace
}  // namespace toneguard::media
