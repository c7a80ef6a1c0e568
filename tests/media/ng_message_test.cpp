#include "toneguard/media/ng_message.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace toneguard::media {
namespace {

// A bencode byte string, so hand-written datagrams below stay readable.
std::string bs(std::string_view s) {
  return std::to_string(s.size()) + ":" + std::string(s);
}

const std::string offer_sdp =
    "v=0\r\n"
    "o=- 1545997027 1 IN IP4 198.51.100.1\r\n"
    "s=-\r\n"
    "c=IN IP4 198.51.100.1\r\n"
    "t=0 0\r\n"
    "m=audio 30000 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=sendrecv\r\n";

// An offer as Kamailio's rtpengine module sends it: keys in insertion order (sdp first,
// command late), cookie "<pid>_<counter>".
std::string kamailio_offer() {
  return "16742_3 d" + bs("sdp") + bs(offer_sdp) + bs("call-id") +
         bs("a84b4c76e66710@pc33.example.com") + bs("via-branch") + bs("z9hG4bK776asdhds") +
         bs("from-tag") + bs("1928301774") + bs("flags") + "l" + bs("trust-address") + "e" +
         bs("replace") + "l" + bs("origin") + bs("session-connection") + "e" + bs("DTMF-security") +
         bs("silence") + bs("delay-buffer") + "i40e" + bs("received-from") + "l" + bs("IP4") +
         bs("203.0.113.5") + "e" + bs("command") + bs("offer") + "e";
}

ng_request parse_ok(std::string_view datagram) {
  auto r = parse_ng_request(datagram);
  EXPECT_TRUE(r.ok()) << r.error_message();
  return r.ok() ? r.value() : ng_request{};
}

// Parses a datagram that must fail; returns the kind and checks that the message names `what`.
ng_error_kind parse_failure(std::string_view datagram, std::string_view what) {
  ng_parse_failure failure;
  auto r = parse_ng_request(datagram, &failure);
  EXPECT_FALSE(r.ok());
  if (!r.ok()) {
    EXPECT_NE(r.error_message().find(what), std::string::npos) << r.error_message();
  }
  return failure.kind;
}

TEST(ng_request, kamailio_offer_parses_with_every_key) {
  const ng_request req = parse_ok(kamailio_offer());
  EXPECT_EQ(req.cookie, "16742_3");
  EXPECT_EQ(req.command, ng_command::offer);
  EXPECT_EQ(req.call_id(), "a84b4c76e66710@pc33.example.com");
  EXPECT_EQ(req.from_tag(), "1928301774");
  EXPECT_EQ(req.to_tag(), std::nullopt);
  EXPECT_EQ(req.via_branch(), "z9hG4bK776asdhds");
  EXPECT_EQ(req.sdp(), offer_sdp);
  EXPECT_EQ(req.flags(), (std::vector<std::string_view>{"trust-address"}));
  EXPECT_TRUE(req.has_flag("trust-address"));
  EXPECT_FALSE(req.has_flag("symmetric"));
  EXPECT_EQ(req.replace(), (std::vector<std::string_view>{"origin", "session-connection"}));
  EXPECT_EQ(req.dtmf_security(), ng_dtmf_security::silence);
  EXPECT_EQ(req.delay_buffer_ms(), 40);
}

TEST(ng_request, unknown_keys_are_kept_and_ignored) {
  const ng_request req = parse_ok(kamailio_offer());
  ASSERT_NE(req.body.list_at("received-from"), nullptr);
  EXPECT_EQ(req.body.list_at("received-from")->size(), 2u);
}

TEST(ng_request, ping_parses) {
  const ng_request req = parse_ok("5323_1 d7:command4:pinge");
  EXPECT_EQ(req.cookie, "5323_1");
  EXPECT_EQ(req.command, ng_command::ping);
}

TEST(ng_request, block_dtmf_with_call_id_parses) {
  const ng_request req = parse_ok("x7a1 d" + bs("call-id") + bs("a84b4c76e66710@pc33.example.com") +
                                  bs("command") + bs("block DTMF") + "e");
  EXPECT_EQ(req.command, ng_command::block_dtmf);
  EXPECT_EQ(req.call_id(), "a84b4c76e66710@pc33.example.com");
  EXPECT_EQ(req.dtmf_security(), std::nullopt);
  EXPECT_EQ(req.delay_buffer_ms(), std::nullopt);
}

TEST(ng_request, delete_with_tags_parses) {
  const ng_request req = parse_ok(
      "16742_9 d" + bs("call-id") + bs("a84b4c76e66710@pc33.example.com") + bs("from-tag") +
      bs("1928301774") + bs("to-tag") + bs("a6c85cf") + bs("command") + bs("delete") + "e");
  EXPECT_EQ(req.command, ng_command::delete_call);
  EXPECT_EQ(req.to_tag(), "a6c85cf");
}

TEST(ng_request, every_supported_command_is_recognized_in_rtpengine_spelling) {
  for (const char* name :
       {"ping", "offer", "answer", "delete", "query", "list", "block DTMF", "unblock DTMF"}) {
    const auto command = parse_ng_command(name);
    ASSERT_TRUE(command.has_value()) << name;
    EXPECT_EQ(ng_command_name(*command), name);
  }
}

TEST(ng_request, commands_are_case_sensitive) {
  EXPECT_EQ(parse_ng_command("block dtmf"), std::nullopt);
  EXPECT_EQ(parse_ng_command("Ping"), std::nullopt);
  EXPECT_EQ(parse_ng_command("block_DTMF"), std::nullopt);
}

TEST(ng_request, unknown_command_is_an_error_naming_it) {
  EXPECT_EQ(parse_failure("c1 d7:command10:play mediae", "unknown command \"play media\""),
            ng_error_kind::unknown_command);
}

TEST(ng_request, missing_command_is_an_error) {
  EXPECT_EQ(parse_failure("c1 d7:call-id1:xe", "no \"command\" key"),
            ng_error_kind::missing_command);
}

TEST(ng_request, command_that_is_not_a_string_is_a_bad_key_type) {
  EXPECT_EQ(parse_failure("c1 d7:commandi1ee", "\"command\" is an integer"),
            ng_error_kind::bad_key_type);
}

TEST(ng_request, datagram_without_space_is_malformed_and_has_no_cookie) {
  ng_parse_failure failure;
  auto r = parse_ng_request("d7:command4:pinge", &failure);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(failure.kind, ng_error_kind::malformed_datagram);
  EXPECT_TRUE(failure.cookie.empty());
  EXPECT_NE(r.error_message().find("no space after the cookie"), std::string::npos);
}

TEST(ng_request, empty_cookie_is_malformed) {
  EXPECT_EQ(parse_failure(" d7:command4:pinge", "empty cookie"), ng_error_kind::malformed_datagram);
}

TEST(ng_request, missing_body_is_malformed) {
  EXPECT_EQ(parse_failure("c1 ", "no bencode body"), ng_error_kind::malformed_datagram);
}

TEST(ng_request, malformed_bencode_is_reported_with_the_cookie) {
  ng_parse_failure failure;
  auto r = parse_ng_request("c42 d7:command4:ping", &failure);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(failure.kind, ng_error_kind::malformed_bencode);
  EXPECT_EQ(failure.cookie, "c42");
  EXPECT_NE(r.error_message().find("bencode: dictionary at offset 0 has no terminating 'e'"),
            std::string::npos)
      << r.error_message();
}

TEST(ng_request, body_that_is_not_a_dictionary_is_rejected) {
  EXPECT_EQ(parse_failure("c1 l4:pinge", "body is a list, not a dictionary"),
            ng_error_kind::not_a_dictionary);
}

TEST(ng_request, string_key_of_the_wrong_type_is_a_bad_key_type) {
  EXPECT_EQ(parse_failure("c1 d7:command5:offer7:call-idi5ee",
                          "\"call-id\" is an integer, not a byte string"),
            ng_error_kind::bad_key_type);
}

TEST(ng_request, list_key_with_a_non_string_item_is_a_bad_key_type) {
  EXPECT_EQ(
      parse_failure("c1 d7:command5:offer5:flagsl13:trust-addressi1eee", "item 1 of key \"flags\""),
      ng_error_kind::bad_key_type);
  EXPECT_EQ(
      parse_failure("c1 d7:command5:offer7:replacei1ee", "\"replace\" is an integer, not a list"),
      ng_error_kind::bad_key_type);
}

TEST(ng_request, list_key_given_as_comma_separated_string_is_split_as_rtpengine_does) {
  const ng_request req =
      parse_ok("c1 d7:command5:offer7:replace25:origin,session-connection8:rtcp-mux5:demuxe");
  EXPECT_EQ(req.replace(), (std::vector<std::string_view>{"origin", "session-connection"}));
  EXPECT_EQ(req.rtcp_mux(), (std::vector<std::string_view>{"demux"}));
}

TEST(ng_request, direction_ice_and_transport_protocol_are_read) {
  const ng_request req =
      parse_ok("c1 d7:command6:answer9:directionl8:external8:internale3:ICE6:remove" +
               bs("transport-protocol") + bs("RTP/SAVP") + "e");
  EXPECT_EQ(req.direction(), (std::vector<std::string_view>{"external", "internal"}));
  EXPECT_EQ(req.ice(), "remove");
  EXPECT_EQ(req.transport_protocol(), "RTP/SAVP");
}

TEST(ng_request, every_dtmf_security_mode_is_accepted) {
  for (const char* mode : {"drop", "silence", "tone", "random", "zero", "DTMF", "off"}) {
    const ng_request req = parse_ok("c1 d7:command10:block DTMF13:DTMF-security" + bs(mode) + "e");
    ASSERT_TRUE(req.dtmf_security().has_value()) << mode;
    EXPECT_EQ(ng_dtmf_security_name(*req.dtmf_security()), mode);
  }
}

TEST(ng_request, unknown_dtmf_security_mode_is_a_bad_key_value) {
  EXPECT_EQ(parse_failure("c1 d7:command10:block DTMF13:DTMF-security4:loude",
                          "unknown DTMF-security mode \"loud\""),
            ng_error_kind::bad_key_value);
}

TEST(ng_request, delay_buffer_given_as_decimal_string_is_accepted) {
  const ng_request req = parse_ok("c1 d7:command10:block DTMF12:delay-buffer2:20e");
  EXPECT_EQ(req.delay_buffer_ms(), 20);
}

TEST(ng_request, delay_buffer_that_is_not_a_number_or_out_of_range_is_a_bad_key_value) {
  EXPECT_EQ(parse_failure("c1 d7:command10:block DTMF12:delay-buffer3:20xe",
                          "\"20x\" is not a decimal integer"),
            ng_error_kind::bad_key_value);
  EXPECT_EQ(parse_failure("c1 d7:command10:block DTMF12:delay-bufferi-1ee",
                          "-1 ms is outside 0..10000 ms"),
            ng_error_kind::bad_key_value);
  EXPECT_EQ(
      parse_failure("c1 d7:command10:block DTMF12:delay-bufferlee", "\"delay-buffer\" is a list"),
      ng_error_kind::bad_key_type);
}

// The offer of the brief's example, as Kamailio's rtpengine module builds it from
// rtpengine_offer("trust-address replace-origin replace-session-connection ICE=remove RTP/AVP").
std::string kamailio_flags_offer() {
  return "31_7 d" + bs("command") + bs("offer") + bs("call-id") + bs("8fa0c1@10.0.0.5") +
         bs("flags") + "l" + bs("trust-address") + "e" + bs("replace") + "l" + bs("origin") +
         bs("session-connection") + "e" + bs("received-from") + "l" + bs("IP4") + bs("127.0.0.1") +
         "e" + bs("ICE") + bs("remove") + bs("transport-protocol") + bs("RTP/AVP") +
         bs("via-branch") + bs("z9hG4bK.bq2") + bs("from-tag") + bs("a1b2") + bs("sdp") +
         bs(offer_sdp) + "e";
}

TEST(ng_request, kamailio_offer_with_flags_replace_received_from_ice_and_transport) {
  const ng_request req = parse_ok(kamailio_flags_offer());
  EXPECT_TRUE(req.trust_address());
  EXPECT_TRUE(req.replaces("origin"));
  EXPECT_TRUE(req.replaces("session-connection"));
  EXPECT_EQ(req.received_from(), network_address::from_string("127.0.0.1").value());
  EXPECT_EQ(req.ice(), "remove");
  EXPECT_EQ(req.transport_protocol(), "RTP/AVP");
  EXPECT_EQ(req.via_branch(), "z9hG4bK.bq2");
  EXPECT_FALSE(req.asymmetric());
  EXPECT_FALSE(req.strict_source());
  EXPECT_FALSE(req.block_dtmf());
}

TEST(ng_request, names_compare_as_rtpengine_spells_them) {
  EXPECT_TRUE(ng_name_equal("trust address", "trust-address"));
  EXPECT_TRUE(ng_name_equal("strict_source", "strict-source"));
  EXPECT_TRUE(ng_name_equal("SIP-source-address", "sip source address"));
  EXPECT_TRUE(ng_name_equal("block DTMF", "block-dtmf"));
  EXPECT_FALSE(ng_name_equal("trust-address", "trust-addresses"));
  EXPECT_FALSE(ng_name_equal("trustaddress", "trust-address"));
}

TEST(ng_request, flags_in_any_spelling_and_the_last_one_wins) {
  const ng_request req =
      parse_ok("c1 d7:command5:offer5:flagsl" + bs("trust address") + bs("SIP_source_address") +
               bs("Asymmetric") + bs("strict source") + bs("port-latching") + bs("block DTMF") +
               bs("replace-origin") + bs("rtcp-mux-demux") + bs("no-such-flag") + "ee");
  EXPECT_TRUE(req.has_flag("trust-address"));
  EXPECT_FALSE(req.trust_address());  // SIP-source-address came last
  EXPECT_TRUE(req.asymmetric());
  EXPECT_TRUE(req.strict_source());
  EXPECT_TRUE(req.port_latching());
  EXPECT_TRUE(req.block_dtmf());
  EXPECT_TRUE(req.replaces("origin"));
  EXPECT_FALSE(req.replaces("session-connection"));
  EXPECT_TRUE(req.has_rtcp_mux("demux"));
  EXPECT_FALSE(req.has_rtcp_mux("offer"));
  EXPECT_EQ(req.transport_protocol(), std::nullopt);

  const ng_request back =
      parse_ok("c1 d7:command5:offer5:flagsl10:asymmetric9:symmetric13:trust-addressee");
  EXPECT_FALSE(back.asymmetric());
  EXPECT_TRUE(back.trust_address());
  EXPECT_TRUE(parse_ok("c1 d7:command5:offere").trust_address());  // rtpengine's default
}

TEST(ng_request, keys_spelled_with_spaces_are_found) {
  const ng_request req =
      parse_ok("c1 d7:command5:offer" + bs("received from") + "l3:IP6" + bs("2001:db8::5:1") + "e" +
               bs("transport protocol") + bs("rtp/savpf") + bs("DTMF security") + bs("tone") +
               bs("delay buffer") + "i25e" + bs("rtcp mux") + "l6:rejecte" + bs("label") +
               bs("caller") + bs("record call") + bs("no") + "e");
  EXPECT_EQ(req.received_from(), network_address::from_string("2001:db8::5:1").value());
  EXPECT_EQ(req.transport_protocol(), "RTP/SAVPF");  // canonical spelling
  EXPECT_EQ(req.dtmf_security(), ng_dtmf_security::tone);
  EXPECT_EQ(req.delay_buffer_ms(), 25);
  EXPECT_TRUE(req.has_rtcp_mux("reject"));
  EXPECT_EQ(req.label(), "caller");
  EXPECT_EQ(req.record_call(), "no");
  // Spelled variants are type-checked too.
  EXPECT_EQ(parse_failure("c1 d7:command5:offer18:transport protocoli1ee",
                          "\"transport-protocol\" is an integer"),
            ng_error_kind::bad_key_type);
}

TEST(ng_request, transport_protocol_comes_from_the_key_or_a_profile_flag) {
  EXPECT_EQ(
      parse_ok("c1 d7:command5:offer5:flagsl8:RTP/SAVP13:trust-addressee").transport_protocol(),
      "RTP/SAVP");
  EXPECT_EQ(parse_ok("c1 d7:command5:offer5:flagsl8:RTP/SAVPe18:transport-protocol7:RTP/AVPe")
                .transport_protocol(),
            "RTP/AVP");
  EXPECT_EQ(parse_failure("c1 d7:command5:offer18:transport-protocol16:UDP/TLS/RTP/SAVPe",
                          "does not do DTLS-SRTP"),
            ng_error_kind::bad_key_value);
  EXPECT_EQ(parse_failure("c1 d7:command5:offer18:transport-protocol7:TCP/RTPe",
                          "transport-protocol \"TCP/RTP\" is not supported"),
            ng_error_kind::bad_key_value);
  EXPECT_EQ(ng_rtp_profile("rtp/avpf"), "RTP/AVPF");
  EXPECT_EQ(ng_rtp_profile("UDP/TLS/RTP/SAVP"), std::nullopt);
}

TEST(ng_request, received_from_must_be_a_family_and_an_address_of_it) {
  EXPECT_EQ(
      parse_ok("c1 d7:command5:offer13:received-from" + bs("IP4,192.0.2.7") + "e").received_from(),
      network_address::from_string("192.0.2.7").value());
  for (const char* bad : {"l3:IP4e", "l3:IP48:2001:db8e", "l3:IPX9:192.0.2.7e",
                          "l3:IP49:192.0.2.75:extrae", "l3:IP48:pbx.homee"}) {
    EXPECT_EQ(parse_failure(std::string("c1 d7:command5:offer13:received-from") + bad + "e",
                            "received-from is not"),
              ng_error_kind::bad_key_value)
        << bad;
  }
  EXPECT_EQ(parse_failure("c1 d7:command5:offer13:received-fromi4ee", "\"received-from\" is"),
            ng_error_kind::bad_key_type);
}

TEST(ng_reply, pong_is_result_pong) {
  EXPECT_EQ(encode_ng_reply("5323_1", ng_pong_reply()), "5323_1 d6:result4:ponge");
}

TEST(ng_reply, ok_carries_extra_fields_after_result) {
  bencode_dictionary extra;
  extra.insert("sdp", "v=0\r\n");
  extra.insert("result", "ignored");
  EXPECT_EQ(encode_ng_reply("c1", ng_ok_reply(extra)), "c1 d6:result2:ok3:sdp5:v=0\r\ne");
  EXPECT_EQ(encode_ng_reply("c1", ng_ok_reply()), "c1 d6:result2:oke");
}

TEST(ng_reply, error_carries_the_reason) {
  EXPECT_EQ(encode_ng_reply("c1", ng_error_reply("Unknown call-id")),
            "c1 d6:result5:error12:error-reason15:Unknown call-ide");
}

TEST(ng_reply, error_reply_for_a_parse_failure_decodes_as_a_dictionary) {
  ng_parse_failure failure;
  auto r = parse_ng_request("c9 d7:command4:ping", &failure);
  ASSERT_FALSE(r.ok());
  const std::string reply = encode_ng_reply(failure.cookie, ng_error_reply(r.error_message()));
  ASSERT_EQ(reply.rfind("c9 ", 0), 0u);
  auto decoded = decode_bencode(std::string_view(reply).substr(3));
  ASSERT_TRUE(decoded.ok()) << decoded.error_message();
  EXPECT_EQ(*decoded.value().string_at("result"), "error");
  EXPECT_EQ(*decoded.value().string_at("error-reason"), r.error_message());
}

using namespace std::chrono_literals;
const ng_reply_cache::clock::time_point t0{};

TEST(ng_reply_cache, retransmitted_cookie_gets_the_stored_reply) {
  ng_reply_cache cache;
  EXPECT_EQ(cache.lookup("16742_3", t0), std::nullopt);
  cache.store("16742_3", "16742_3 d6:result4:ponge", t0);
  EXPECT_EQ(cache.lookup("16742_3", t0 + 1s), "16742_3 d6:result4:ponge");
}

TEST(ng_reply_cache, different_cookies_get_their_own_replies) {
  ng_reply_cache cache;
  cache.store("a", "reply a", t0);
  cache.store("b", "reply b", t0);
  EXPECT_EQ(cache.lookup("a", t0), "reply a");
  EXPECT_EQ(cache.lookup("b", t0), "reply b");
  EXPECT_EQ(cache.lookup("c", t0), std::nullopt);
}

TEST(ng_reply_cache, replies_expire_after_the_time_to_live) {
  ng_reply_cache cache(100, 1 << 20, 30s);
  cache.store("a", "reply a", t0);
  EXPECT_EQ(cache.lookup("a", t0 + 29999ms), "reply a");
  EXPECT_EQ(cache.lookup("a", t0 + 30s), std::nullopt);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(ng_reply_cache, oldest_reply_is_evicted_over_the_entry_capacity) {
  ng_reply_cache cache(2);
  cache.store("a", "1", t0);
  cache.store("b", "2", t0 + 1ms);
  cache.store("c", "3", t0 + 2ms);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.lookup("a", t0 + 3ms), std::nullopt);
  EXPECT_EQ(cache.lookup("b", t0 + 3ms), "2");
  EXPECT_EQ(cache.lookup("c", t0 + 3ms), "3");
}

TEST(ng_reply_cache, oldest_reply_is_evicted_over_the_byte_capacity) {
  ng_reply_cache cache(100, 10);
  cache.store("a", "1234", t0);  // 5 bytes
  cache.store("b", "1234", t0);  // 10 bytes
  cache.store("c", "1234", t0);  // would be 15: evicts a
  EXPECT_EQ(cache.bytes(), 10u);
  EXPECT_EQ(cache.lookup("a", t0), std::nullopt);
  EXPECT_EQ(cache.lookup("c", t0), "1234");
  cache.store("d", std::string(20, 'x'), t0);  // larger than the bound: not stored
  EXPECT_EQ(cache.lookup("d", t0), std::nullopt);
  EXPECT_EQ(cache.lookup("b", t0), "1234");
}

TEST(ng_reply_cache, storing_a_cookie_again_replaces_its_reply) {
  ng_reply_cache cache;
  cache.store("a", "old", t0);
  cache.store("a", "new", t0 + 1s);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.lookup("a", t0 + 30500ms), "new");
}

}  // namespace
}  // namespace toneguard::media
