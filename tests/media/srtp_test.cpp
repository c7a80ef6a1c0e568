#include "toneguard/media/srtp.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace toneguard::media {
namespace {

using bytes = std::vector<std::uint8_t>;

constexpr srtp_suite all_suites[] = {srtp_suite::aes_cm_128_hmac_sha1_80,
                                     srtp_suite::aes_cm_128_hmac_sha1_32,
                                     srtp_suite::aead_aes_128_gcm};

// RFC 4568 §4's example key (its MKI left out).
constexpr std::string_view rfc_key_text = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
// 1..28 in base64 (a GCM key and salt), with its padding.
constexpr std::string_view gcm_key_text = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHA==";

bytes from_hex(std::string_view hex) {
  bytes out;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  }
  return out;
}

// The parse must fail with a message that contains `expected` and no part of the key text.
void expect_error(std::string_view value, std::string_view expected,
                  std::string_view key_text = rfc_key_text) {
  const auto r = parse_crypto_value(value);
  ASSERT_FALSE(r.ok()) << value;
  const std::string& message = r.error_message();
  EXPECT_NE(message.find(expected), std::string::npos) << message;
  EXPECT_EQ(message.rfind("a=crypto: ", 0), 0u) << message;
  // No 6 consecutive characters of the key (36 bits) appear in the message.
  for (std::size_t i = 0; i + 6 <= key_text.size(); ++i) {
    EXPECT_EQ(message.find(key_text.substr(i, 6)), std::string::npos)
        << "message shows key material: " << message;
  }
}

TEST(SdesParse, rfc_4568_example_key_for_each_aes_cm_suite) {
  for (auto suite : {srtp_suite::aes_cm_128_hmac_sha1_80, srtp_suite::aes_cm_128_hmac_sha1_32}) {
    const std::string value =
        "1 " + std::string(srtp_suite_name(suite)) + " inline:" + std::string(rfc_key_text);
    const auto r = parse_crypto_value(value);
    ASSERT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(r.value().tag, 1u);
    EXPECT_EQ(r.value().suite, suite);
    const bytes expected = from_hex("3d2d6e40255e7821426a75667239293f2c2335685c603d265d7b71695051");
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), r.value().key_salt.begin()));
    EXPECT_EQ(r.value().key_salt[30], 0);
    EXPECT_EQ(r.value().key_salt[31], 0);
  }
}

TEST(SdesParse, gcm_key_with_and_without_padding) {
  for (std::string_view text : {gcm_key_text, gcm_key_text.substr(0, 38)}) {
    const auto r = parse_crypto_value("7 AEAD_AES_128_GCM inline:" + std::string(text));
    ASSERT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(r.value().tag, 7u);
    EXPECT_EQ(r.value().suite, srtp_suite::aead_aes_128_gcm);
    for (std::size_t i = 0; i < 28; ++i) EXPECT_EQ(r.value().key_salt[i], i + 1);
    EXPECT_EQ(r.value().key_salt[28], 0);
  }
}

TEST(SdesParse, lifetimes_are_accepted_and_ignored) {
  const std::string base = "1 AES_CM_128_HMAC_SHA1_80 inline:" + std::string(rfc_key_text);
  const auto plain = parse_crypto_value(base);
  ASSERT_TRUE(plain.ok());
  for (std::string_view lifetime : {"|2^20", "|2^31", "|1048576", "|0"}) {
    const auto r = parse_crypto_value(base + std::string(lifetime));
    ASSERT_TRUE(r.ok()) << lifetime << ": " << r.error_message();
    EXPECT_EQ(r.value(), plain.value());
  }
}

TEST(SdesParse, largest_tag_tabs_line_end_and_ignored_session_parameters) {
  const std::string key = std::string(rfc_key_text);
  for (const std::string& value : {
           "999999999 AES_CM_128_HMAC_SHA1_80 inline:" + key,
           "2\tAES_CM_128_HMAC_SHA1_80  inline:" + key + "\r\n",
           "3 AES_CM_128_HMAC_SHA1_80 inline:" + key + " KDR=0 WSH=128 FEC_ORDER=FEC_SRTP",
           "4 AES_CM_128_HMAC_SHA1_80 inline:" + key + " FEC_KEY=inline:" + key + " X-FOO",
       }) {
    const auto r = parse_crypto_value(value);
    ASSERT_TRUE(r.ok()) << value << ": " << r.error_message();
    EXPECT_EQ(r.value().suite, srtp_suite::aes_cm_128_hmac_sha1_80);
  }
  EXPECT_EQ(parse_crypto_value("999999999 AES_CM_128_HMAC_SHA1_80 inline:" + key).value().tag,
            999999999u);
}

TEST(SdesParse, missing_fields_and_bad_tags) {
  const std::string key = std::string(rfc_key_text);
  expect_error("", "needs '<tag> <crypto-suite> inline:<key>'");
  expect_error("1 AES_CM_128_HMAC_SHA1_80", "needs");
  expect_error("AES_CM_128_HMAC_SHA1_80 inline:" + key, "needs");
  expect_error("1234567890 AES_CM_128_HMAC_SHA1_80 inline:" + key, "tag is not 1 to 9 digits");
  expect_error("1a AES_CM_128_HMAC_SHA1_80 inline:" + key, "tag is not 1 to 9 digits");
  expect_error("-1 AES_CM_128_HMAC_SHA1_80 inline:" + key, "tag is not 1 to 9 digits");
}

TEST(SdesParse, unsupported_suites_are_named_but_a_key_in_their_place_is_not) {
  const std::string key = std::string(rfc_key_text);
  expect_error("1 AES_256_CM_HMAC_SHA1_80 inline:" + key,
               "crypto suite AES_256_CM_HMAC_SHA1_80 is not supported");
  expect_error("1 F8_128_HMAC_SHA1_80 inline:" + key,
               "crypto suite F8_128_HMAC_SHA1_80 is not supported");
  expect_error("1 aes_cm_128_hmac_sha1_80 inline:" + key, "crypto suite is not supported");
  expect_error("1 inline:" + key + " AES_CM_128_HMAC_SHA1_80", "crypto suite is not supported");
  expect_error("1 " + key + " inline:" + key, "crypto suite is not supported");
}

TEST(SdesParse, several_keys_and_mki_are_refused) {
  const std::string key = std::string(rfc_key_text);
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^20|1:4;inline:" + key,
               "several keys are not supported");
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + key + ";inline:" + key,
               "several keys are not supported");
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^20|1:32", "MKI is not supported");
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|1:4", "MKI is not supported");
}

TEST(SdesParse, bad_key_methods_and_lifetimes) {
  const std::string key = std::string(rfc_key_text);
  expect_error("1 AES_CM_128_HMAC_SHA1_80 uri:" + key, "key method is not inline");
  expect_error("1 AES_CM_128_HMAC_SHA1_80 INLINE:" + key, "key method is not inline");
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^", "key lifetime");
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|", "key lifetime");
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|2^20|2^20", "key lifetime");
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "|forever", "key lifetime");
}

TEST(SdesParse, base64_errors_name_the_character_not_the_key) {
  std::string key = std::string(rfc_key_text);
  std::string bad = key;
  bad[5] = '*';
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + bad, "'*' at offset 5, which is not base64");
  bad[5] = '-';  // base64url is not the alphabet RFC 4568 uses
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + bad, "'-' at offset 5");
  bad[5] = '\x01';
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + bad, "'\\x01' at offset 5");
  bad = key;
  bad[10] = '=';
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + bad, "'=' padding before its end");
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:", "key is empty");
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:|2^20", "key is empty");
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + key.substr(0, 37),
               "key's base64 length is not valid");
  expect_error("1 AEAD_AES_128_GCM inline:" + std::string(gcm_key_text.substr(0, 38)) + "=",
               "key's base64 padding is not valid", gcm_key_text);
  expect_error("1 AEAD_AES_128_GCM inline:" + std::string(gcm_key_text) + "=",
               "key's base64 padding is not valid", gcm_key_text);
}

TEST(SdesParse, key_length_must_match_the_suite) {
  const std::string key = std::string(rfc_key_text);
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + key.substr(0, 32),
               "key is 24 bytes, AES_CM_128_HMAC_SHA1_80 takes 30 (master key and salt)");
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "AAAA", "key is 33 bytes");
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + std::string(gcm_key_text),
               "key is 28 bytes, AES_CM_128_HMAC_SHA1_80 takes 30", gcm_key_text);
  expect_error("1 AEAD_AES_128_GCM inline:" + key, "key is 30 bytes, AEAD_AES_128_GCM takes 28");
  // A huge key is refused from its length, before anything is decoded.
  expect_error("1 AES_CM_128_HMAC_SHA1_80 inline:" + std::string(4000, 'A'), "key is 3000 bytes");
}

TEST(SdesParse, session_parameters_that_weaken_protection_are_refused) {
  const std::string prefix = "1 AES_CM_128_HMAC_SHA1_80 inline:" + std::string(rfc_key_text);
  expect_error(prefix + " UNENCRYPTED_SRTP", "unsupported session parameter UNENCRYPTED_SRTP");
  expect_error(prefix + " WSH=64 UNENCRYPTED_SRTCP",
               "unsupported session parameter UNENCRYPTED_SRTCP");
  expect_error(prefix + " UNAUTHENTICATED_SRTP",
               "unsupported session parameter UNAUTHENTICATED_SRTP");
  expect_error(prefix + " KDR=20", "unsupported session parameter KDR");
  // An unknown parameter may carry a key: it is never quoted.
  const auto r = parse_crypto_value(prefix + " FEC_KEY=inline:" + std::string(rfc_key_text) +
                                    " UNENCRYPTED_SRTP");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error_message(), "a=crypto: unsupported session parameter UNENCRYPTED_SRTP");
}

TEST(SdesKey, crypto_values_round_trip_for_every_suite) {
  for (auto suite : all_suites) {
    const sdes_key key = generate_sdes_key(suite, 42);
    EXPECT_EQ(key.tag, 42u);
    EXPECT_EQ(key.suite, suite);
    const std::string value = key.to_crypto_value();
    EXPECT_EQ(value.rfind("42 " + std::string(srtp_suite_name(suite)) + " inline:", 0), 0u);
    const auto parsed = parse_crypto_value(value);
    ASSERT_TRUE(parsed.ok()) << parsed.error_message();
    EXPECT_EQ(parsed.value(), key);
  }
  sdes_key gcm;
  gcm.suite = srtp_suite::aead_aes_128_gcm;
  for (std::size_t i = 0; i < 28; ++i) gcm.key_salt[i] = static_cast<std::uint8_t>(i + 1);
  EXPECT_EQ(gcm.to_crypto_value(), "1 AEAD_AES_128_GCM inline:" + std::string(gcm_key_text));
}

TEST(SdesKey, generated_keys_differ_and_fill_only_the_suites_length) {
  const sdes_key a = generate_sdes_key(srtp_suite::aead_aes_128_gcm);
  const sdes_key b = generate_sdes_key(srtp_suite::aead_aes_128_gcm);
  EXPECT_NE(a.key_salt, b.key_salt);
  EXPECT_EQ(a.tag, 1u);
  for (std::size_t i = 28; i < 32; ++i) EXPECT_EQ(a.key_salt[i], 0);
}

TEST(SdesKey, suite_names_lengths_and_status_names) {
  for (auto suite : all_suites) {
    EXPECT_EQ(srtp_suite_from_name(srtp_suite_name(suite)), suite);
  }
  EXPECT_EQ(srtp_suite_from_name("AES_CM_128_HMAC_SHA1_80 "), std::nullopt);
  EXPECT_EQ(srtp_suite_from_name("AEAD_AES_256_GCM"), std::nullopt);
  EXPECT_EQ(srtp_key_salt_length(srtp_suite::aes_cm_128_hmac_sha1_80), 30u);
  EXPECT_EQ(srtp_key_salt_length(srtp_suite::aes_cm_128_hmac_sha1_32), 30u);
  EXPECT_EQ(srtp_key_salt_length(srtp_suite::aead_aes_128_gcm), 28u);
  EXPECT_EQ(srtp_rtp_overhead(srtp_suite::aes_cm_128_hmac_sha1_80), 10u);
  EXPECT_EQ(srtp_rtp_overhead(srtp_suite::aes_cm_128_hmac_sha1_32), 4u);
  EXPECT_EQ(srtp_rtp_overhead(srtp_suite::aead_aes_128_gcm), 16u);
  EXPECT_EQ(srtp_rtcp_overhead(srtp_suite::aes_cm_128_hmac_sha1_32), 14u);
  EXPECT_EQ(srtp_rtcp_overhead(srtp_suite::aead_aes_128_gcm), srtp_max_overhead);
  EXPECT_EQ(srtp_status_name(srtp_status::ok), "ok");
  EXPECT_EQ(srtp_status_name(srtp_status::auth_failed), "auth_failed");
  EXPECT_EQ(srtp_status_name(srtp_status::replayed), "replayed");
  EXPECT_EQ(srtp_status_name(srtp_status::malformed), "malformed");
  EXPECT_EQ(srtp_status_name(srtp_status::no_room), "no_room");
}

// ---- sessions

constexpr std::uint8_t canary = 0xA5;
constexpr std::size_t canary_bytes = 32;

// An RTP packet (PT 0) in a buffer with srtp_max_overhead bytes of room and a canary after it.
struct packet_buffer {
  bytes data;
  std::size_t length = 0;

  std::span<std::uint8_t> room() { return std::span(data).first(data.size() - canary_bytes); }
  bool canary_intact() const {
    return std::all_of(data.end() - canary_bytes, data.end(),
                       [](std::uint8_t b) { return b == canary; });
  }
};

packet_buffer rtp_packet(std::uint32_t ssrc, std::uint16_t seq, std::size_t payload = 160) {
  packet_buffer p;
  p.data = {0x80,
            0x00,
            static_cast<std::uint8_t>(seq >> 8),
            static_cast<std::uint8_t>(seq),
            0x00,
            0x01,
            static_cast<std::uint8_t>(seq >> 8),
            static_cast<std::uint8_t>(seq),
            static_cast<std::uint8_t>(ssrc >> 24),
            static_cast<std::uint8_t>(ssrc >> 16),
            static_cast<std::uint8_t>(ssrc >> 8),
            static_cast<std::uint8_t>(ssrc)};
  for (std::size_t i = 0; i < payload; ++i)
    p.data.push_back(static_cast<std::uint8_t>(i * 7 + seq));
  p.length = p.data.size();
  p.data.resize(p.length + srtp_max_overhead, 0);
  p.data.resize(p.data.size() + canary_bytes, canary);
  return p;
}

// A receiver report with one report block.
packet_buffer rtcp_packet(std::uint32_t ssrc) {
  packet_buffer p;
  p.data = {0x81,
            201,
            0x00,
            0x07,
            static_cast<std::uint8_t>(ssrc >> 24),
            static_cast<std::uint8_t>(ssrc >> 16),
            static_cast<std::uint8_t>(ssrc >> 8),
            static_cast<std::uint8_t>(ssrc)};
  for (std::size_t i = 0; i < 24; ++i) p.data.push_back(static_cast<std::uint8_t>(i));
  p.length = p.data.size();
  p.data.resize(p.length + srtp_max_overhead, 0);
  p.data.resize(p.data.size() + canary_bytes, canary);
  return p;
}

struct session_pair {
  std::unique_ptr<srtp_session> out;
  std::unique_ptr<srtp_session> in;
};

session_pair make_pair(const sdes_key& key) {
  auto out = srtp_session::create(key, srtp_session::direction::outbound);
  auto in = srtp_session::create(key, srtp_session::direction::inbound);
  EXPECT_TRUE(out.ok() && in.ok());
  if (!out.ok() || !in.ok()) return {};
  return {std::move(out).value(), std::move(in).value()};
}

TEST(SrtpSession, rtp_and_rtcp_round_trip_for_every_suite_and_several_ssrcs) {
  for (auto suite : all_suites) {
    SCOPED_TRACE(srtp_suite_name(suite));
    auto s = make_pair(generate_sdes_key(suite));
    ASSERT_TRUE(s.out && s.in);
    for (std::uint32_t ssrc : {0x11111111u, 0xDEADBEEFu, 0x00000001u}) {
      for (std::uint16_t seq = 65530; seq != 6; ++seq) {  // across a rollover
        packet_buffer p = rtp_packet(ssrc, seq);
        const bytes plain(p.data.begin(), p.data.begin() + static_cast<long>(p.length));
        ASSERT_EQ(s.out->protect_rtp(p.room(), p.length), srtp_status::ok);
        EXPECT_EQ(p.length, plain.size() + srtp_rtp_overhead(suite));
        EXPECT_TRUE(p.canary_intact());
        EXPECT_TRUE(std::equal(plain.begin(), plain.begin() + 12, p.data.begin()));
        EXPECT_FALSE(std::equal(plain.begin() + 12, plain.end(), p.data.begin() + 12));
        ASSERT_EQ(s.in->unprotect_rtp(p.room(), p.length), srtp_status::ok);
        ASSERT_EQ(p.length, plain.size());
        EXPECT_TRUE(std::equal(plain.begin(), plain.end(), p.data.begin()));
      }
      for (int i = 0; i < 3; ++i) {
        packet_buffer p = rtcp_packet(ssrc);
        const bytes plain(p.data.begin(), p.data.begin() + static_cast<long>(p.length));
        ASSERT_EQ(s.out->protect_rtcp(p.room(), p.length), srtp_status::ok);
        EXPECT_EQ(p.length, plain.size() + srtp_rtcp_overhead(suite));
        EXPECT_TRUE(p.canary_intact());
        ASSERT_EQ(s.in->unprotect_rtcp(p.room(), p.length), srtp_status::ok);
        ASSERT_EQ(p.length, plain.size());
        EXPECT_TRUE(std::equal(plain.begin(), plain.end(), p.data.begin()));
      }
    }
  }
}

TEST(SrtpSession, sha1_32_has_a_4_byte_rtp_tag_and_an_80_bit_rtcp_tag) {
  auto s = make_pair(generate_sdes_key(srtp_suite::aes_cm_128_hmac_sha1_32));
  ASSERT_TRUE(s.out && s.in);
  packet_buffer p = rtp_packet(7, 100);
  const std::size_t plain = p.length;
  ASSERT_EQ(s.out->protect_rtp(p.room(), p.length), srtp_status::ok);
  EXPECT_EQ(p.length, plain + 4);
  packet_buffer c = rtcp_packet(7);
  const std::size_t plain_rtcp = c.length;
  ASSERT_EQ(s.out->protect_rtcp(c.room(), c.length), srtp_status::ok);
  EXPECT_EQ(c.length, plain_rtcp + 4 + 10);
}

TEST(SrtpSession, tampering_anywhere_fails_authentication) {
  for (auto suite : all_suites) {
    SCOPED_TRACE(srtp_suite_name(suite));
    auto s = make_pair(generate_sdes_key(suite));
    ASSERT_TRUE(s.out && s.in);
    std::uint16_t seq = 1000;
    const std::size_t protected_length = rtp_packet(99, 0).length + srtp_rtp_overhead(suite);
    for (std::size_t at : {std::size_t{1}, std::size_t{7}, std::size_t{20}, protected_length - 1}) {
      packet_buffer p = rtp_packet(99, seq++);
      ASSERT_EQ(s.out->protect_rtp(p.room(), p.length), srtp_status::ok);
      packet_buffer genuine = p;
      p.data[at] ^= 0x01;
      EXPECT_EQ(s.in->unprotect_rtp(p.room(), p.length), srtp_status::auth_failed) << at;
      // The genuine packet still passes afterwards (a failure does not enter the replay window).
      EXPECT_EQ(s.in->unprotect_rtp(genuine.room(), genuine.length), srtp_status::ok) << at;
    }
    packet_buffer c = rtcp_packet(99);
    ASSERT_EQ(s.out->protect_rtcp(c.room(), c.length), srtp_status::ok);
    c.data[12] ^= 0x80;
    EXPECT_EQ(s.in->unprotect_rtcp(c.room(), c.length), srtp_status::auth_failed);
  }
}

TEST(SrtpSession, replays_are_refused_and_reordering_within_1024_packets_is_not) {
  for (auto suite : all_suites) {
    SCOPED_TRACE(srtp_suite_name(suite));
    auto s = make_pair(generate_sdes_key(suite));
    ASSERT_TRUE(s.out && s.in);
    std::vector<packet_buffer> sent;
    for (std::uint16_t seq = 0; seq < 1100; ++seq) {
      sent.push_back(rtp_packet(5, seq, 20));
      ASSERT_EQ(s.out->protect_rtp(sent.back().room(), sent.back().length), srtp_status::ok);
    }
    auto receive = [&](std::size_t i) {
      packet_buffer copy = sent[i];
      return s.in->unprotect_rtp(copy.room(), copy.length);
    };
    EXPECT_EQ(receive(1099), srtp_status::ok);
    EXPECT_EQ(receive(1099), srtp_status::replayed);
    EXPECT_EQ(receive(1099 - 600), srtp_status::ok);  // beyond libsrtp's default 128
    EXPECT_EQ(receive(1099 - 600), srtp_status::replayed);
    EXPECT_EQ(receive(1099 - 1023), srtp_status::ok);
    EXPECT_EQ(receive(1099 - 1030), srtp_status::replayed);  // older than the window

    packet_buffer c = rtcp_packet(5);
    ASSERT_EQ(s.out->protect_rtcp(c.room(), c.length), srtp_status::ok);
    packet_buffer again = c;
    EXPECT_EQ(s.in->unprotect_rtcp(c.room(), c.length), srtp_status::ok);
    EXPECT_EQ(s.in->unprotect_rtcp(again.room(), again.length), srtp_status::replayed);
  }
}

TEST(SrtpSession, an_outbound_session_never_protects_one_sequence_number_twice) {
  auto s = make_pair(generate_sdes_key(srtp_suite::aes_cm_128_hmac_sha1_80));
  ASSERT_TRUE(s.out && s.in);
  packet_buffer first = rtp_packet(3, 500);
  ASSERT_EQ(s.out->protect_rtp(first.room(), first.length), srtp_status::ok);
  packet_buffer repeat = rtp_packet(3, 500, 80);
  const std::size_t plain = repeat.length;
  EXPECT_EQ(s.out->protect_rtp(repeat.room(), repeat.length), srtp_status::replayed);
  EXPECT_EQ(repeat.length, plain);
  packet_buffer other_ssrc = rtp_packet(4, 500);
  EXPECT_EQ(s.out->protect_rtp(other_ssrc.room(), other_ssrc.length), srtp_status::ok);
}

TEST(SrtpSession, a_wrong_key_fails_authentication) {
  for (auto suite : all_suites) {
    SCOPED_TRACE(srtp_suite_name(suite));
    const sdes_key key = generate_sdes_key(suite);
    sdes_key other = key;
    other.key_salt[3] ^= 0x40;
    sdes_key other_salt = key;
    other_salt.key_salt[srtp_key_salt_length(suite) - 1] ^= 0x01;
    auto out = srtp_session::create(key, srtp_session::direction::outbound);
    ASSERT_TRUE(out.ok()) << out.error_message();
    std::uint16_t seq = 1;
    for (const sdes_key& wrong : {other, other_salt}) {
      auto in = srtp_session::create(wrong, srtp_session::direction::inbound);
      ASSERT_TRUE(in.ok()) << in.error_message();
      packet_buffer p = rtp_packet(8, seq++);
      ASSERT_EQ(out.value()->protect_rtp(p.room(), p.length), srtp_status::ok);
      EXPECT_EQ(in.value()->unprotect_rtp(p.room(), p.length), srtp_status::auth_failed);
      packet_buffer c = rtcp_packet(8);
      ASSERT_EQ(out.value()->protect_rtcp(c.room(), c.length), srtp_status::ok);
      EXPECT_EQ(in.value()->unprotect_rtcp(c.room(), c.length), srtp_status::auth_failed);
    }
  }
}

TEST(SrtpSession, short_malformed_and_misdirected_packets_are_refused_before_libsrtp) {
  for (auto suite : all_suites) {
    SCOPED_TRACE(srtp_suite_name(suite));
    auto s = make_pair(generate_sdes_key(suite));
    ASSERT_TRUE(s.out && s.in);
    packet_buffer p = rtp_packet(9, 1);
    std::size_t length = 11;
    EXPECT_EQ(s.in->unprotect_rtp(p.room(), length), srtp_status::malformed);
    length = 12;  // a header and no tag
    EXPECT_EQ(s.in->unprotect_rtp(p.room(), length), srtp_status::malformed);
    length = 7;
    EXPECT_EQ(s.in->unprotect_rtcp(p.room(), length), srtp_status::malformed);
    length = 0;
    EXPECT_EQ(s.in->unprotect_rtp(p.room(), length), srtp_status::malformed);
    EXPECT_EQ(s.in->unprotect_rtcp(p.room(), length), srtp_status::malformed);
    EXPECT_EQ(s.out->protect_rtp(p.room(), length), srtp_status::malformed);
    EXPECT_EQ(s.out->protect_rtcp(p.room(), length), srtp_status::malformed);
    length = p.room().size() + 1;  // longer than the buffer
    EXPECT_EQ(s.in->unprotect_rtp(p.room(), length), srtp_status::malformed);
    EXPECT_EQ(s.out->protect_rtp(p.room(), length), srtp_status::malformed);

    // Version 1, and CSRCs or an extension that do not fit.
    packet_buffer v1 = rtp_packet(9, 2);
    v1.data[0] = 0x40;
    EXPECT_EQ(s.out->protect_rtp(v1.room(), v1.length), srtp_status::malformed);
    packet_buffer csrcs = rtp_packet(9, 3, 40);
    csrcs.data[0] = 0x8F;
    EXPECT_EQ(s.out->protect_rtp(csrcs.room(), csrcs.length), srtp_status::malformed);
    packet_buffer ext = rtp_packet(9, 4, 8);
    ext.data[0] = 0x90;
    ext.data[14] = 0x01;  // 256 words of extension in 8 bytes
    EXPECT_EQ(s.out->protect_rtp(ext.room(), ext.length), srtp_status::malformed);

    // Wrong direction.
    packet_buffer q = rtp_packet(9, 5);
    const std::size_t plain = q.length;
    EXPECT_EQ(s.in->protect_rtp(q.room(), q.length), srtp_status::malformed);
    EXPECT_EQ(s.in->protect_rtcp(q.room(), q.length), srtp_status::malformed);
    EXPECT_EQ(q.length, plain);
    ASSERT_EQ(s.out->protect_rtp(q.room(), q.length), srtp_status::ok);
    packet_buffer r = q;
    EXPECT_EQ(s.out->unprotect_rtp(r.room(), r.length), srtp_status::malformed);
    EXPECT_EQ(s.out->unprotect_rtcp(r.room(), r.length), srtp_status::malformed);
    EXPECT_EQ(s.in->unprotect_rtp(q.room(), q.length), srtp_status::ok);
  }
}

TEST(SrtpSession, protect_needs_room_for_the_tag) {
  for (auto suite : all_suites) {
    SCOPED_TRACE(srtp_suite_name(suite));
    auto s = make_pair(generate_sdes_key(suite));
    ASSERT_TRUE(s.out && s.in);
    packet_buffer p = rtp_packet(10, 1);
    const std::size_t plain = p.length;
    auto exact = std::span(p.data).first(plain + srtp_rtp_overhead(suite));
    EXPECT_EQ(s.out->protect_rtp(exact.first(exact.size() - 1), p.length), srtp_status::no_room);
    EXPECT_EQ(p.length, plain);
    EXPECT_EQ(s.out->protect_rtp(exact, p.length), srtp_status::ok);
    EXPECT_EQ(p.length, exact.size());

    packet_buffer c = rtcp_packet(10);
    const std::size_t plain_rtcp = c.length;
    auto exact_rtcp = std::span(c.data).first(plain_rtcp + srtp_rtcp_overhead(suite));
    EXPECT_EQ(s.out->protect_rtcp(exact_rtcp.first(exact_rtcp.size() - 1), c.length),
              srtp_status::no_room);
    EXPECT_EQ(s.out->protect_rtcp(exact_rtcp, c.length), srtp_status::ok);
    EXPECT_EQ(c.length, exact_rtcp.size());
  }
}

// ---- known answers: AES_CM_128_HMAC_SHA1_80 computed independently with OpenSSL's libcrypto

// AES-128 in counter mode from `iv` over `data` (the keystream itself when data is zeros).
bytes aes_ctr(std::span<const std::uint8_t> key, std::span<const std::uint8_t> iv, bytes data) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nullptr, key.data(), iv.data()), 1);
  EXPECT_EQ(EVP_EncryptUpdate(ctx, data.data(), &n, data.data(), static_cast<int>(data.size())), 1);
  EVP_CIPHER_CTX_free(ctx);
  return data;
}

bytes hmac_sha1(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data) {
  bytes mac(20);
  unsigned int n = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), mac.data(),
       &n);
  EXPECT_EQ(n, 20u);
  return mac;
}

// RFC 3711 §4.3.1 with key_derivation_rate 0: the AES-CM PRF keyed with the master key, from
// IV = (master salt XOR label << 48) * 2^16.
bytes derive(std::span<const std::uint8_t> master_key, std::span<const std::uint8_t> master_salt,
             std::uint8_t label, std::size_t length) {
  bytes iv(16, 0);
  std::copy(master_salt.begin(), master_salt.end(), iv.begin());
  iv[7] ^= label;
  return aes_ctr(master_key, iv, bytes(length, 0));
}

struct session_keys {
  bytes cipher, auth, salt;
};

session_keys derive_all(std::span<const std::uint8_t> master_key,
                        std::span<const std::uint8_t> master_salt, std::uint8_t first_label) {
  return {derive(master_key, master_salt, first_label, 16),
          derive(master_key, master_salt, first_label + 1, 20),
          derive(master_key, master_salt, first_label + 2, 14)};
}

// RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16).
bytes packet_iv(const bytes& salt, std::uint32_t ssrc, std::uint64_t index) {
  bytes iv(16, 0);
  std::copy(salt.begin(), salt.end(), iv.begin());
  for (int b = 0; b < 4; ++b) iv[4 + b] ^= static_cast<std::uint8_t>(ssrc >> (24 - 8 * b));
  for (int b = 0; b < 6; ++b) iv[8 + b] ^= static_cast<std::uint8_t>(index >> (40 - 8 * b));
  return iv;
}

TEST(SrtpKnownAnswer, reference_matches_rfc_3711_b2_keystream_and_b3_key_derivation) {
  const bytes b2_key = from_hex("2B7E151628AED2A6ABF7158809CF4F3C");
  const bytes b2_iv = from_hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000");
  EXPECT_EQ(aes_ctr(b2_key, b2_iv, bytes(32, 0)),
            from_hex("E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB"));

  const bytes master_key = from_hex("E1F97A0D3E018BE0D64FA32C06DE4139");
  const bytes master_salt = from_hex("0EC675AD498AFEEBB6960B3AABE6");
  const session_keys k = derive_all(master_key, master_salt, 0);
  EXPECT_EQ(k.cipher, from_hex("C61E7A93744F39EE10734AFE3FF7A087"));
  EXPECT_EQ(k.salt, from_hex("30CBBC08863D8C85D49DB34A9AE1"));
  EXPECT_EQ(k.auth, from_hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"));
}

sdes_key rfc_3711_b3_key() {
  sdes_key key;
  const bytes master = from_hex("E1F97A0D3E018BE0D64FA32C06DE41390EC675AD498AFEEBB6960B3AABE6");
  std::copy(master.begin(), master.end(), key.key_salt.begin());
  return key;
}

TEST(SrtpKnownAnswer, protect_rtp_matches_an_independent_aes_cm_hmac_sha1_80_packet) {
  const sdes_key key = rfc_3711_b3_key();
  const auto master_key = std::span(key.key_salt).first(16);
  const auto master_salt = std::span(key.key_salt).subspan(16, 14);
  const session_keys k = derive_all(master_key, master_salt, 0);

  auto out = srtp_session::create(key, srtp_session::direction::outbound);
  ASSERT_TRUE(out.ok()) << out.error_message();
  for (std::uint16_t seq : {std::uint16_t{0x1234}, std::uint16_t{0x1235}}) {
    // One CSRC, so that the encrypted part starts after it.
    packet_buffer p = rtp_packet(0xCAFEBABE, seq, 37);
    p.data[0] = 0x81;
    const std::size_t plain_length = p.length;

    bytes expected(p.data.begin(), p.data.begin() + static_cast<long>(plain_length));
    const std::size_t header = 16;
    const bytes iv = packet_iv(k.salt, 0xCAFEBABE, seq);  // ROC 0
    const bytes body = aes_ctr(k.cipher, iv, bytes(expected.begin() + header, expected.end()));
    std::copy(body.begin(), body.end(), expected.begin() + header);
    bytes authenticated = expected;
    authenticated.insert(authenticated.end(), {0, 0, 0, 0});  // ROC
    const bytes tag = hmac_sha1(k.auth, authenticated);
    expected.insert(expected.end(), tag.begin(), tag.begin() + 10);

    ASSERT_EQ(out.value()->protect_rtp(p.room(), p.length), srtp_status::ok);
    ASSERT_EQ(p.length, expected.size());
    EXPECT_EQ(bytes(p.data.begin(), p.data.begin() + static_cast<long>(p.length)), expected);

    // And the other way: our inbound session opens the reference packet.
    auto in = srtp_session::create(key, srtp_session::direction::inbound);
    ASSERT_TRUE(in.ok());
    packet_buffer r = rtp_packet(0, 0);
    std::copy(expected.begin(), expected.end(), r.data.begin());
    r.length = expected.size();
    ASSERT_EQ(in.value()->unprotect_rtp(r.room(), r.length), srtp_status::ok);
    EXPECT_EQ(r.length, plain_length);
  }
}

TEST(SrtpKnownAnswer, protect_rtcp_matches_an_independent_srtcp_packet) {
  const sdes_key key = rfc_3711_b3_key();
  const auto master_key = std::span(key.key_salt).first(16);
  const auto master_salt = std::span(key.key_salt).subspan(16, 14);
  const session_keys k = derive_all(master_key, master_salt, 3);  // SRTCP labels 3, 4, 5

  auto out = srtp_session::create(key, srtp_session::direction::outbound);
  ASSERT_TRUE(out.ok()) << out.error_message();
  packet_buffer p = rtcp_packet(0x01020304);
  const bytes plain(p.data.begin(), p.data.begin() + static_cast<long>(p.length));
  ASSERT_EQ(out.value()->protect_rtcp(p.room(), p.length), srtp_status::ok);
  ASSERT_EQ(p.length, plain.size() + 14);

  // The E flag must be set; the index is the sender's to choose, so it is read back.
  const std::size_t trailer = plain.size();
  ASSERT_EQ(p.data[trailer] & 0x80, 0x80);
  const std::uint32_t index = (std::uint32_t{p.data[trailer] & 0x7Fu} << 24) |
                              (std::uint32_t{p.data[trailer + 1]} << 16) |
                              (std::uint32_t{p.data[trailer + 2]} << 8) | p.data[trailer + 3];
  bytes expected = plain;
  const bytes body = aes_ctr(k.cipher, packet_iv(k.salt, 0x01020304, index),
                             bytes(plain.begin() + 8, plain.end()));
  std::copy(body.begin(), body.end(), expected.begin() + 8);
  expected.insert(expected.end(), p.data.begin() + static_cast<long>(trailer),
                  p.data.begin() + static_cast<long>(trailer) + 4);
  const bytes tag = hmac_sha1(k.auth, expected);
  expected.insert(expected.end(), tag.begin(), tag.begin() + 10);
  EXPECT_EQ(bytes(p.data.begin(), p.data.begin() + static_cast<long>(p.length)), expected);
}

// RFC 7714: AES-128-GCM over the payload, the header as associated data, a 16-byte tag; the
// IV is (00 00 || SSRC || ROC || SEQ) XOR the 12-byte session salt (§8.1). The session key and
// salt come from the AES-CM PRF (§11) with the 96-bit master salt padded with zeros.
TEST(SrtpKnownAnswer, protect_rtp_matches_an_independent_aead_aes_128_gcm_packet) {
  sdes_key key;
  key.suite = srtp_suite::aead_aes_128_gcm;
  const bytes master = from_hex("E1F97A0D3E018BE0D64FA32C06DE41390EC675AD498AFEEBB6960B3A");
  std::copy(master.begin(), master.end(), key.key_salt.begin());
  bytes padded_salt(master.begin() + 16, master.end());
  padded_salt.resize(14, 0);
  const bytes cipher_key = derive(std::span(master).first(16), padded_salt, 0, 16);
  const bytes salt = derive(std::span(master).first(16), padded_salt, 2, 12);

  auto out = srtp_session::create(key, srtp_session::direction::outbound);
  ASSERT_TRUE(out.ok()) << out.error_message();
  const std::uint16_t seq = 0x4321;
  packet_buffer p = rtp_packet(0x0A0B0C0D, seq, 50);
  const bytes plain(p.data.begin(), p.data.begin() + static_cast<long>(p.length));

  bytes iv = {0, 0, 0x0A, 0x0B, 0x0C, 0x0D, 0, 0, 0, 0, 0x43, 0x21};
  for (std::size_t i = 0; i < 12; ++i) iv[i] ^= salt[i];
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  ASSERT_EQ(EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, nullptr, nullptr), 1);
  ASSERT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, nullptr), 1);
  ASSERT_EQ(EVP_EncryptInit_ex(ctx, nullptr, nullptr, cipher_key.data(), iv.data()), 1);
  ASSERT_EQ(EVP_EncryptUpdate(ctx, nullptr, &n, plain.data(), 12), 1);  // the header
  bytes expected = plain;
  ASSERT_EQ(EVP_EncryptUpdate(ctx, expected.data() + 12, &n, plain.data() + 12,
                              static_cast<int>(plain.size() - 12)),
            1);
  ASSERT_EQ(EVP_EncryptFinal_ex(ctx, expected.data() + 12 + n, &n), 1);
  bytes tag(16);
  ASSERT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag.data()), 1);
  EVP_CIPHER_CTX_free(ctx);
  expected.insert(expected.end(), tag.begin(), tag.end());

  ASSERT_EQ(out.value()->protect_rtp(p.room(), p.length), srtp_status::ok);
  EXPECT_EQ(bytes(p.data.begin(), p.data.begin() + static_cast<long>(p.length)), expected);
}

}  // namespace
}  // namespace toneguard::media
