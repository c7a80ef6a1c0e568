#include "toneguard/media/call_control.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <utility>

namespace toneguard::media {
namespace {

const std::string phone_sdp =
    "v=0\r\n"
    "o=- 1545997027 1 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=rtcp:40001\r\n"
    "a=sendrecv\r\n"
    "a=x-vendor-thing:42\r\n";

const std::string agent_sdp =
    "v=0\r\n"
    "o=agent 77 2 IN IP4 198.51.100.20\r\n"
    "s=agent\r\n"
    "t=0 0\r\n"
    "m=audio 50000 RTP/AVP 8 96\r\n"
    "c=IN IP4 198.51.100.20\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:96 telephone-event/8000\r\n"
    "a=ptime:30\r\n"
    "a=rtcp-mux\r\n"
    "a=sendrecv\r\n";

using entries = std::initializer_list<std::pair<std::string, bencode_value>>;

// A request as Kamailio's rtpengine module sends it, through the real parser.
ng_request request(entries keys) {
  bencode_dictionary d;
  for (const auto& [k, v] : keys) d.insert(k, v);
  auto r = parse_ng_request("16742_3 " + encode_bencode(d));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error_message());
  return std::move(r).value();
}

ng_request offer(std::string_view call_id, std::string_view from_tag, const std::string& sdp,
                 bencode_list replace = {}) {
  return request({{"sdp", sdp},
                  {"call-id", call_id},
                  {"via-branch", "z9hG4bK776asdhds"},
                  {"from-tag", from_tag},
                  {"flags", bencode_list{"trust-address"}},
                  {"replace", std::move(replace)},
                  {"received-from", bencode_list{"IP4", "203.0.113.5"}},
                  {"command", "offer"}});
}

ng_request answer(std::string_view call_id, std::string_view from_tag, std::string_view to_tag,
                  const std::string& sdp) {
  return request({{"sdp", sdp},
                  {"call-id", call_id},
                  {"from-tag", from_tag},
                  {"to-tag", to_tag},
                  {"flags", bencode_list{"trust-address"}},
                  {"command", "answer"}});
}

std::string reason(const bencode_value& reply) {
  EXPECT_NE(reply.string_at("result"), nullptr);
  if (reply.string_at("result") && *reply.string_at("result") == "ok") return "ok";
  const std::string* r = reply.string_at("error-reason");
  return r ? *r : "<no error-reason>";
}

session_description reply_sdp(const bencode_value& reply) {
  EXPECT_EQ(reason(reply), "ok");
  const std::string* text = reply.string_at("sdp");
  EXPECT_NE(text, nullptr);
  auto parsed = session_description::parse(text ? *text : "");
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error_message());
  return std::move(parsed).value();
}

const network_address ip4 = network_address::from_string("203.0.113.1").value();

struct fixture : ::testing::Test {
  range_port_allocator ports{30000, 30099};
  call_control control{ip4, ports};
};

using call_control_test = fixture;

TEST_F(call_control_test, OfferRewritesSdpForTheAgent) {
  control.set_time(1'700'000'000);
  const auto reply = control.handle(offer("cid-1@pbx", "caller-tag", phone_sdp));
  const session_description sdp = reply_sdp(reply);

  ASSERT_TRUE(sdp.connection());
  EXPECT_EQ(sdp.connection()->address, "203.0.113.1");
  ASSERT_EQ(sdp.media().size(), 1u);
  const media_description& m = sdp.media()[0];
  EXPECT_GE(m.port(), 30000);
  EXPECT_LE(m.port(), 30098);
  EXPECT_EQ(m.port() % 2, 0);
  ASSERT_TRUE(m.rtcp());
  EXPECT_EQ(m.rtcp()->port, m.port() + 1);
  EXPECT_EQ(m.payload_types(), (std::vector<std::uint8_t>{0, 8, 101}));
  EXPECT_EQ(m.telephone_event_payload_types(), (std::vector<std::uint8_t>{101}));
  EXPECT_EQ(m.attribute("x-vendor-thing"), "42");
  EXPECT_EQ(m.fmtp(101), "0-16");
  // Without replace=origin the o= line is the phone's.
  ASSERT_TRUE(sdp.origin());
  EXPECT_EQ(sdp.origin()->address, "192.0.2.10");

  const call* c = control.find("cid-1@pbx");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->created, 1'700'000'000);
  EXPECT_EQ(c->caller.tag, "caller-tag");
  EXPECT_EQ(c->agent.local_rtp_port, m.port());
  EXPECT_FALSE(c->caller.local_rtp_port);
  EXPECT_TRUE(c->caller.has_remote);
  EXPECT_EQ(c->caller.remote_address.address, "192.0.2.10");
  EXPECT_EQ(c->caller.remote_rtp_port, 40000);
  EXPECT_EQ(c->caller.remote_rtcp_port, 40001);
  EXPECT_FALSE(c->caller.remote_rtcp_mux);
  ASSERT_EQ(c->caller.g711.size(), 2u);
  EXPECT_EQ(c->caller.g711[0].payload_type, 0);
  EXPECT_EQ(c->caller.g711[0].law, g711_law::mu_law);
  EXPECT_EQ(c->caller.g711[1].law, g711_law::a_law);
  EXPECT_EQ(c->caller.telephone_event_pt, 101);
  EXPECT_EQ(c->caller.ptime_ms, 20u);
  EXPECT_TRUE(c->caller.crypto.empty());
  EXPECT_FALSE(c->agent.has_remote);
  EXPECT_EQ(ports.used(), 1u);
}

TEST_F(call_control_test, ReplaceOriginRewritesTheOriginLine) {
  const auto reply =
      control.handle(offer("cid-o", "ft", phone_sdp, bencode_list{"origin", "session-connection"}));
  const session_description sdp = reply_sdp(reply);
  ASSERT_TRUE(sdp.origin());
  EXPECT_EQ(sdp.origin()->address, "203.0.113.1");
  EXPECT_EQ(sdp.origin()->session_id, "1545997027");
  EXPECT_EQ(sdp.connection()->address, "203.0.113.1");
}

TEST_F(call_control_test, AnswerGivesTheCallerFacingSdp) {
  const auto offered = reply_sdp(control.handle(offer("cid-2", "ft", phone_sdp)));
  const auto reply = control.handle(answer("cid-2", "ft", "tt", agent_sdp));
  const session_description sdp = reply_sdp(reply);

  const media_description& m = sdp.media()[0];
  ASSERT_TRUE(m.connection());  // the media-level c= is rewritten in place
  EXPECT_EQ(m.connection()->address, "203.0.113.1");
  EXPECT_FALSE(sdp.connection());
  EXPECT_NE(m.port(), offered.media()[0].port());
  EXPECT_GE(m.port(), 30000);
  // The caller did not offer rtcp-mux: the agent's a=rtcp-mux is not answered to it.
  EXPECT_FALSE(m.rtcp_mux());
  ASSERT_TRUE(m.rtcp());
  EXPECT_EQ(m.rtcp()->port, m.port() + 1);
  EXPECT_EQ(m.payload_types(), (std::vector<std::uint8_t>{8, 96}));
  EXPECT_TRUE(m.crypto().empty());
  EXPECT_EQ(m.proto(), "RTP/AVP");
  EXPECT_EQ(sdp.origin()->address, "198.51.100.20");

  const call* c = control.find("cid-2");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->agent.tag, "tt");
  EXPECT_EQ(c->caller.local_rtp_port, m.port());
  EXPECT_EQ(c->agent.local_rtp_port, offered.media()[0].port());
  EXPECT_EQ(c->agent.remote_address.address, "198.51.100.20");
  EXPECT_EQ(c->agent.remote_rtp_port, 50000);
  EXPECT_TRUE(c->agent.remote_rtcp_mux);
  EXPECT_TRUE(c->agent.rtcp_mux);
  EXPECT_EQ(c->agent.remote_rtcp_port, 50000);
  EXPECT_FALSE(c->caller.rtcp_mux);
  EXPECT_EQ(c->caller.remote_rtcp_port, 40001);
  EXPECT_EQ(c->agent.proto, "RTP/AVP");
  EXPECT_EQ(c->agent.telephone_event_pt, 96);
  EXPECT_EQ(c->agent.ptime_ms, 30u);
  EXPECT_TRUE(c->agent.crypto.empty());
  EXPECT_FALSE(c->agent.srtp());
  EXPECT_FALSE(c->caller.srtp());
  EXPECT_FALSE(c->agent.remote_key);
  EXPECT_FALSE(c->caller.local_key);
  EXPECT_EQ(ports.used(), 2u);
}

TEST_F(call_control_test, ReofferAndReanswerKeepPorts) {
  const auto first = reply_sdp(control.handle(offer("cid-3", "ft", phone_sdp)));
  const auto ans1 = reply_sdp(control.handle(answer("cid-3", "ft", "tt", agent_sdp)));
  std::string moved = phone_sdp;
  moved.replace(moved.find("m=audio 40000"), 13, "m=audio 40100");
  const auto second = reply_sdp(control.handle(offer("cid-3", "ft", moved)));
  const auto ans2 = reply_sdp(control.handle(answer("cid-3", "ft", "tt", agent_sdp)));
  EXPECT_EQ(first.media()[0].port(), second.media()[0].port());
  EXPECT_EQ(ans1.media()[0].port(), ans2.media()[0].port());
  EXPECT_EQ(control.find("cid-3")->caller.remote_rtp_port, 40100);
  EXPECT_EQ(ports.used(), 2u);
  EXPECT_EQ(control.size(), 1u);

  // A re-INVITE from the agent: from-tag is the agent's; the reply goes to the caller.
  const auto reinvite = reply_sdp(control.handle(offer("cid-3", "tt", agent_sdp)));
  EXPECT_EQ(reinvite.media()[0].port(), ans1.media()[0].port());
  EXPECT_EQ(ports.used(), 2u);
}

TEST_F(call_control_test, DeleteReleasesPortsForTheNextCall) {
  range_port_allocator tiny(40000, 40003);  // two pairs: one call
  call_control small(ip4, tiny);
  const auto a = reply_sdp(small.handle(offer("c1", "ft", phone_sdp)));
  const auto b = reply_sdp(small.handle(answer("c1", "ft", "tt", agent_sdp)));
  EXPECT_EQ(tiny.used(), 2u);
  EXPECT_EQ(reason(small.handle(offer("c2", "ft2", phone_sdp))), "no free ports");
  EXPECT_EQ(small.find("c2"), nullptr);

  EXPECT_EQ(reason(small.handle(request(
                {{"call-id", "c1"}, {"from-tag", "ft"}, {"to-tag", "tt"}, {"command", "delete"}}))),
            "ok");
  EXPECT_EQ(tiny.used(), 0u);
  EXPECT_EQ(small.find("c1"), nullptr);
  const auto c = reply_sdp(small.handle(offer("c2", "ft2", phone_sdp)));
  const auto reused = c.media()[0].port();
  EXPECT_TRUE(reused == a.media()[0].port() || reused == b.media()[0].port());
}

TEST_F(call_control_test, AnswerFailsCleanlyWhenPortsRunOut) {
  range_port_allocator one(40000, 40001);
  call_control small(ip4, one);
  reply_sdp(small.handle(offer("c1", "ft", phone_sdp)));
  EXPECT_EQ(reason(small.handle(answer("c1", "ft", "tt", agent_sdp))), "no free ports");
  EXPECT_FALSE(small.find("c1")->agent.has_remote);
  EXPECT_TRUE(small.find("c1")->agent.tag.empty());
}

TEST_F(call_control_test, Errors) {
  EXPECT_EQ(reason(control.handle(request({{"call-id", "nope"}, {"command", "delete"}}))),
            "Unknown call-id");
  EXPECT_EQ(reason(control.handle(request({{"call-id", "nope"}, {"command", "query"}}))),
            "Unknown call-id");
  EXPECT_EQ(reason(control.handle(answer("nope", "ft", "tt", agent_sdp))), "Unknown call-id");
  EXPECT_EQ(reason(control.handle(request({{"call-id", "nope"}, {"command", "block DTMF"}}))),
            "Unknown call-id");
  EXPECT_EQ(
      reason(control.handle(request({{"call-id", "x"}, {"from-tag", "ft"}, {"command", "offer"}}))),
      "No SDP body in message");
  EXPECT_EQ(reason(control.handle(request({{"sdp", phone_sdp}, {"command", "offer"}}))),
            "No call-id in message");
  EXPECT_EQ(
      reason(control.handle(request({{"sdp", phone_sdp}, {"call-id", "x"}, {"command", "offer"}}))),
      "No from-tag in message");
  EXPECT_EQ(reason(control.handle(request(
                {{"sdp", phone_sdp}, {"call-id", "x"}, {"from-tag", "f"}, {"command", "answer"}}))),
            "No to-tag in message");
  EXPECT_EQ(reason(control.handle(request({{"command", "delete"}}))), "No call-id in message");

  const std::string bad = reason(control.handle(offer("x", "ft", "v=0\r\nm=audio port\r\n")));
  EXPECT_EQ(bad.rfind("Failed to parse SDP: ", 0), 0u) << bad;
  EXPECT_EQ(reason(control.handle(offer("x", "ft",
                                        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
                                        "c=IN IP4 192.0.2.1\r\nt=0 0\r\n"
                                        "m=video 4000 RTP/AVP 96\r\n"))),
            "Failed to parse SDP: no RTP audio stream");
  EXPECT_EQ(control.size(), 0u);
  EXPECT_EQ(ports.used(), 0u);

  reply_sdp(control.handle(offer("c", "ft", phone_sdp)));
  EXPECT_EQ(reason(control.handle(offer("c", "stranger", phone_sdp))), "Unknown from-tag");
  EXPECT_EQ(reason(control.handle(answer("c", "stranger", "tt", agent_sdp))), "Unknown from-tag");
  EXPECT_EQ(reason(control.handle(
                request({{"call-id", "c"}, {"from-tag", "zz"}, {"command", "delete"}}))),
            "Unknown call-id");
  EXPECT_NE(control.find("c"), nullptr);
}

TEST_F(call_control_test, BlockAndUnblockDtmf) {
  reply_sdp(control.handle(offer("c", "ft", phone_sdp)));
  reply_sdp(control.handle(answer("c", "ft", "tt", agent_sdp)));
  EXPECT_FALSE(control.find("c")->dtmf.blocked);

  EXPECT_EQ(reason(control.handle(request({{"call-id", "c"},
                                           {"from-tag", "ft"},
                                           {"DTMF-security", "tone"},
                                           {"delay-buffer", 20},
                                           {"command", "block DTMF"}}))),
            "ok");
  const call* c = control.find("c");
  EXPECT_TRUE(c->dtmf.blocked);
  EXPECT_EQ(c->dtmf.from, leg::caller);
  EXPECT_EQ(c->dtmf.mode, ng_dtmf_security::tone);
  EXPECT_EQ(c->dtmf.delay_buffer_ms, 20);

  const auto q = control.handle(request({{"call-id", "c"}, {"command", "query"}}));
  EXPECT_EQ(q.integer_at("DTMF blocked"), 1);
  ASSERT_NE(q.string_at("DTMF-security"), nullptr);
  EXPECT_EQ(*q.string_at("DTMF-security"), "tone");
  EXPECT_EQ(q.integer_at("delay-buffer"), 20);

  EXPECT_EQ(reason(control.handle(request({{"call-id", "c"}, {"command", "unblock DTMF"}}))), "ok");
  EXPECT_FALSE(control.find("c")->dtmf.blocked);

  // Defaults: the caller's leg, the daemon's masking kind and delay.
  EXPECT_EQ(reason(control.handle(request({{"call-id", "c"}, {"command", "block DTMF"}}))), "ok");
  EXPECT_TRUE(c->dtmf.blocked);
  EXPECT_FALSE(c->dtmf.mode);
  EXPECT_FALSE(c->dtmf.delay_buffer_ms);

  EXPECT_EQ(reason(control.handle(request({{"call-id", "c"},
                                           {"from-tag", "tt"},
                                           {"delay-buffer", "40"},
                                           {"command", "block DTMF"}}))),
            "ok");
  EXPECT_EQ(c->dtmf.from, leg::agent);
  EXPECT_EQ(c->dtmf.delay_buffer_ms, 40);
  EXPECT_EQ(reason(control.handle(
                request({{"call-id", "c"}, {"from-tag", "zz"}, {"command", "block DTMF"}}))),
            "Unknown from-tag");
}

TEST_F(call_control_test, ListAndQuery) {
  control.set_time(111);
  reply_sdp(control.handle(offer("b-call", "ft", phone_sdp)));
  control.set_time(222);
  const auto offered = reply_sdp(control.handle(offer("a-call", "ft", phone_sdp)));
  const auto answered = reply_sdp(control.handle(answer("a-call", "ft", "tt", agent_sdp)));

  const auto l = control.handle(request({{"command", "list"}}));
  EXPECT_EQ(reason(l), "ok");
  ASSERT_NE(l.list_at("calls"), nullptr);
  EXPECT_EQ(*l.list_at("calls"), (bencode_list{"a-call", "b-call"}));
  const auto limited = control.handle(request({{"limit", 1}, {"command", "list"}}));
  EXPECT_EQ(*limited.list_at("calls"), (bencode_list{"a-call"}));

  const auto q = control.handle(request({{"call-id", "a-call"}, {"command", "query"}}));
  EXPECT_EQ(reason(q), "ok");
  EXPECT_EQ(q.integer_at("created"), 222);
  EXPECT_EQ(q.integer_at("DTMF blocked"), 0);
  EXPECT_FALSE(q.string_at("DTMF-security"));  // not given: the daemon default applies
  EXPECT_EQ(q.find("delay-buffer"), nullptr);
  const bencode_dictionary* tags = q.dictionary_at("tags");
  ASSERT_NE(tags, nullptr);
  ASSERT_EQ(tags->size(), 2u);
  const bencode_dictionary* ft = tags->dictionary_at("ft");
  const bencode_dictionary* tt = tags->dictionary_at("tt");
  ASSERT_NE(ft, nullptr);
  ASSERT_NE(tt, nullptr);
  EXPECT_EQ(*ft->string_at("leg"), "caller");
  EXPECT_EQ(ft->integer_at("local port"), answered.media()[0].port());
  EXPECT_EQ(*ft->string_at("remote address"), "192.0.2.10");
  EXPECT_EQ(ft->integer_at("remote port"), 40000);
  EXPECT_EQ(*tt->string_at("leg"), "agent");
  EXPECT_EQ(tt->integer_at("local port"), offered.media()[0].port());
  EXPECT_EQ(tt->integer_at("remote port"), 50000);

  // Before the answer only the caller's tag is known.
  const auto qb = control.handle(request({{"call-id", "b-call"}, {"command", "query"}}));
  EXPECT_EQ(qb.dictionary_at("tags")->size(), 1u);
  EXPECT_EQ(qb.integer_at("created"), 111);
}

TEST_F(call_control_test, Ping) {
  const auto reply = control.handle(request({{"command", "ping"}}));
  EXPECT_EQ(*reply.string_at("result"), "pong");
}

TEST_F(call_control_test, Ipv6InterfaceAndOtherStreamsRejected) {
  range_port_allocator p6(20000, 20010);
  call_control v6(network_address::from_string("2001:db8::7").value(), p6);
  const std::string sdp_in =
      "v=0\r\n"
      "o=- 5 1 IN IP6 2001:db8::10\r\n"
      "s=-\r\n"
      "c=IN IP6 2001:db8::10\r\n"
      "t=0 0\r\n"
      "m=audio 40000 RTP/AVP 0 101\r\n"
      "a=rtpmap:101 telephone-event/8000\r\n"
      "a=rtcp-mux\r\n"
      "m=video 40002 RTP/AVP 96\r\n"
      "a=rtpmap:96 H264/90000\r\n";
  const auto sdp = reply_sdp(v6.handle(offer("c6", "ft", sdp_in, bencode_list{"origin"})));
  ASSERT_TRUE(sdp.connection());
  EXPECT_EQ(sdp.connection()->type, address_type::ip6);
  EXPECT_EQ(sdp.connection()->address, "2001:db8::7");
  EXPECT_EQ(sdp.origin()->address, "2001:db8::7");
  EXPECT_EQ(sdp.origin()->addrtype, address_type::ip6);
  ASSERT_EQ(sdp.media().size(), 2u);
  EXPECT_EQ(sdp.media()[0].port(), 20000);
  EXPECT_TRUE(sdp.media()[0].rtcp_mux());
  EXPECT_EQ(sdp.media()[1].port(), 0);
  EXPECT_EQ(v6.find("c6")->caller.remote_address.type, address_type::ip6);
  EXPECT_TRUE(v6.find("c6")->caller.remote_rtcp_mux);
}

// --- SRTP (SDES) per leg -------------------------------------------------------------------

const std::string caller_key80 = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
const std::string caller_key32 = "NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj";

// The phone's offer as RTP/SAVP with two SDES keys (80-bit tag 1, 32-bit tag 2).
const std::string srtp_phone_sdp =
    "v=0\r\n"
    "o=- 1545997027 1 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/SAVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" +
    caller_key80 + "|2^31\r\n" + "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" + caller_key32 +
    "\r\n"
    "a=sendrecv\r\n";

// The agent's answer with profile `proto` and the a=crypto lines `crypto` (values).
std::string agent_answer(std::string_view proto, std::initializer_list<std::string> crypto) {
  std::string sdp =
      "v=0\r\n"
      "o=agent 77 2 IN IP4 198.51.100.20\r\n"
      "s=agent\r\n"
      "c=IN IP4 198.51.100.20\r\n"
      "t=0 0\r\n"
      "m=audio 50000 " +
      std::string(proto) +
      " 0 101\r\n"
      "a=rtpmap:0 PCMU/8000\r\n"
      "a=rtpmap:101 telephone-event/8000\r\n";
  for (const auto& c : crypto) sdp += "a=crypto:" + c + "\r\n";
  return sdp + "a=sendrecv\r\n";
}

ng_request offer_with(std::string_view call_id, std::string_view from_tag, const std::string& sdp,
                      entries extra) {
  bencode_dictionary d;
  d.insert("sdp", sdp);
  d.insert("call-id", call_id);
  d.insert("from-tag", from_tag);
  for (const auto& [k, v] : extra) d.insert(k, v);
  d.insert("command", "offer");
  auto r = parse_ng_request("5_1 " + encode_bencode(d));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error_message());
  return std::move(r).value();
}

ng_request answer_with(std::string_view call_id, std::string_view from_tag, std::string_view to_tag,
                       const std::string& sdp, entries extra) {
  bencode_dictionary d;
  d.insert("sdp", sdp);
  d.insert("call-id", call_id);
  d.insert("from-tag", from_tag);
  d.insert("to-tag", to_tag);
  for (const auto& [k, v] : extra) d.insert(k, v);
  d.insert("command", "answer");
  auto r = parse_ng_request("5_2 " + encode_bencode(d));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error_message());
  return std::move(r).value();
}

// The keys of a stream's a=crypto lines, parsed as the SRTP layer parses them.
std::vector<sdes_key> keys_of(const media_description& m) {
  std::vector<sdes_key> out;
  for (const auto& c : m.crypto()) {
    auto k = parse_crypto_value(c.to_value());
    EXPECT_TRUE(k.ok()) << c.to_value();
    if (k.ok()) out.push_back(k.value());
  }
  return out;
}

sdes_key key_from(const std::string& value) {
  auto k = parse_crypto_value(value);
  EXPECT_TRUE(k.ok()) << value;
  return k.ok() ? k.value() : sdes_key{};
}

TEST_F(call_control_test, SrtpCallerToSrtpAgentUsesToneguardsOwnKeysBothWays) {
  const auto offered = reply_sdp(control.handle(offer("s1", "ft", srtp_phone_sdp)));
  const media_description& to_agent = offered.media()[0];
  EXPECT_EQ(to_agent.proto(), "RTP/SAVP");
  const auto agent_keys = keys_of(to_agent);
  ASSERT_EQ(agent_keys.size(), 2u);
  // The caller's suites, in its order and with its tags, but toneguard's keys.
  EXPECT_EQ(agent_keys[0].tag, 1u);
  EXPECT_EQ(agent_keys[0].suite, srtp_suite::aes_cm_128_hmac_sha1_80);
  EXPECT_EQ(agent_keys[1].tag, 2u);
  EXPECT_EQ(agent_keys[1].suite, srtp_suite::aes_cm_128_hmac_sha1_32);
  const sdes_key caller80 = key_from("1 AES_CM_128_HMAC_SHA1_80 inline:" + caller_key80);
  const sdes_key caller32 = key_from("2 AES_CM_128_HMAC_SHA1_32 inline:" + caller_key32);
  EXPECT_NE(agent_keys[0].key_salt, caller80.key_salt);
  EXPECT_NE(agent_keys[1].key_salt, caller32.key_salt);
  EXPECT_NE(agent_keys[0].key_salt, agent_keys[1].key_salt);
  {
    const call* c = control.find("s1");
    EXPECT_TRUE(c->caller.srtp());
    EXPECT_EQ(c->caller.crypto.size(), 2u);  // every offered crypto is recorded
    EXPECT_EQ(c->agent.offered_keys, agent_keys);
  }

  // The agent picks toneguard's 32-bit key (tag 2) and gives its own.
  const sdes_key agent_own = generate_sdes_key(srtp_suite::aes_cm_128_hmac_sha1_32, 2);
  const auto answered = reply_sdp(control.handle(
      answer("s1", "ft", "tt", agent_answer("RTP/SAVP", {agent_own.to_crypto_value()}))));
  const media_description& to_caller = answered.media()[0];
  EXPECT_EQ(to_caller.proto(), "RTP/SAVP");
  const auto caller_keys = keys_of(to_caller);
  ASSERT_EQ(caller_keys.size(), 1u);

  const call* c = control.find("s1");
  ASSERT_TRUE(c->agent.srtp());
  ASSERT_TRUE(c->agent.remote_key && c->agent.local_key);
  EXPECT_EQ(*c->agent.remote_key, agent_own);
  EXPECT_EQ(*c->agent.local_key, agent_keys[1]);
  // The caller gets toneguard's key for its first suite, under its tag.
  ASSERT_TRUE(c->caller.srtp());
  ASSERT_TRUE(c->caller.remote_key && c->caller.local_key);
  EXPECT_EQ(*c->caller.remote_key, caller80);
  EXPECT_EQ(caller_keys[0], *c->caller.local_key);
  EXPECT_EQ(caller_keys[0].tag, 1u);
  EXPECT_EQ(caller_keys[0].suite, srtp_suite::aes_cm_128_hmac_sha1_80);
  EXPECT_NE(caller_keys[0].key_salt, caller80.key_salt);
  EXPECT_NE(caller_keys[0].key_salt, agent_own.key_salt);
  EXPECT_NE(caller_keys[0].key_salt, agent_keys[0].key_salt);

  // A re-INVITE with the same crypto keeps every key.
  const sdes_key caller_local = *c->caller.local_key;
  const sdes_key agent_local = *c->agent.local_key;
  const auto reoffered = reply_sdp(control.handle(offer("s1", "ft", srtp_phone_sdp)));
  EXPECT_EQ(keys_of(reoffered.media()[0]), agent_keys);
  const auto reanswered = reply_sdp(control.handle(
      answer("s1", "ft", "tt", agent_answer("RTP/SAVP", {agent_own.to_crypto_value()}))));
  EXPECT_EQ(keys_of(reanswered.media()[0]), caller_keys);
  c = control.find("s1");
  EXPECT_EQ(*c->caller.local_key, caller_local);
  EXPECT_EQ(*c->agent.local_key, agent_local);
  EXPECT_EQ(*c->caller.remote_key, caller80);

  // A re-INVITE from the agent, offering both suites: the caller is offered the key it already
  // has for its suite, and the agent's keys never reach it.
  const sdes_key agent80 = generate_sdes_key(srtp_suite::aes_cm_128_hmac_sha1_80, 1);
  const auto from_agent = reply_sdp(control.handle(
      offer("s1", "tt",
            agent_answer("RTP/SAVP", {agent80.to_crypto_value(), agent_own.to_crypto_value()}))));
  const auto toward_caller = keys_of(from_agent.media()[0]);
  ASSERT_EQ(toward_caller.size(), 2u);
  EXPECT_EQ(toward_caller[0], caller_local);
  EXPECT_EQ(toward_caller[1].suite, srtp_suite::aes_cm_128_hmac_sha1_32);
  EXPECT_NE(toward_caller[1].key_salt, agent_own.key_salt);
  // The caller answers with its own 80-bit key again: nothing changes.
  const auto back = reply_sdp(control.handle(
      answer("s1", "tt", "ft",
             agent_answer("RTP/SAVP", {"1 AES_CM_128_HMAC_SHA1_80 inline:" + caller_key80}))));
  c = control.find("s1");
  EXPECT_EQ(*c->caller.local_key, caller_local);
  EXPECT_EQ(*c->caller.remote_key, caller80);
  EXPECT_EQ(*c->agent.remote_key, agent80);
  EXPECT_EQ(keys_of(back.media()[0]), std::vector<sdes_key>{*c->agent.local_key});
}

TEST_F(call_control_test, SrtpCallerToPlainAgentWithTransportProtocol) {
  // As Kamailio sends it: rtpengine_offer("... RTP/AVP") becomes the transport-protocol key.
  const auto offered = reply_sdp(
      control.handle(offer_with("s2", "ft", srtp_phone_sdp, {{"transport-protocol", "RTP/AVP"}})));
  EXPECT_EQ(offered.media()[0].proto(), "RTP/AVP");
  EXPECT_TRUE(offered.media()[0].crypto().empty());
  EXPECT_TRUE(control.find("s2")->agent.offered_keys.empty());

  const auto answered =
      reply_sdp(control.handle(answer("s2", "ft", "tt", agent_answer("RTP/AVP", {}))));
  const media_description& to_caller = answered.media()[0];
  EXPECT_EQ(to_caller.proto(), "RTP/SAVP");
  const auto caller_keys = keys_of(to_caller);
  ASSERT_EQ(caller_keys.size(), 1u);
  const call* c = control.find("s2");
  EXPECT_FALSE(c->agent.srtp());
  EXPECT_FALSE(c->agent.remote_key);
  EXPECT_FALSE(c->agent.local_key);
  ASSERT_TRUE(c->caller.srtp() && c->caller.local_key && c->caller.remote_key);
  EXPECT_EQ(caller_keys[0], *c->caller.local_key);
  EXPECT_EQ(*c->caller.remote_key, key_from("1 AES_CM_128_HMAC_SHA1_80 inline:" + caller_key80));

  // A re-INVITE without the key keeps the agent on the plain RTP it answered with; the same
  // profile given as a flag (rtpengine accepts both) works too.
  const auto again = reply_sdp(control.handle(offer("s2", "ft", srtp_phone_sdp)));
  EXPECT_EQ(again.media()[0].proto(), "RTP/AVP");
  const auto flagged = reply_sdp(control.handle(
      offer_with("s3", "ft", srtp_phone_sdp, {{"flags", bencode_list{"RTP/AVPF"}}})));
  EXPECT_EQ(flagged.media()[0].proto(), "RTP/AVPF");
  EXPECT_TRUE(flagged.media()[0].crypto().empty());
}

TEST_F(call_control_test, PlainCallerToSrtpAgentGetsToneguardsThreeSuites) {
  const auto offered = reply_sdp(
      control.handle(offer_with("s4", "ft", phone_sdp, {{"transport-protocol", "RTP/SAVP"}})));
  const media_description& to_agent = offered.media()[0];
  EXPECT_EQ(to_agent.proto(), "RTP/SAVP");
  const auto agent_keys = keys_of(to_agent);
  ASSERT_EQ(agent_keys.size(), 3u);
  EXPECT_EQ(agent_keys[0].tag, 1u);
  EXPECT_EQ(agent_keys[0].suite, srtp_suite::aes_cm_128_hmac_sha1_80);
  EXPECT_EQ(agent_keys[1].tag, 2u);
  EXPECT_EQ(agent_keys[1].suite, srtp_suite::aes_cm_128_hmac_sha1_32);
  EXPECT_EQ(agent_keys[2].tag, 3u);
  EXPECT_EQ(agent_keys[2].suite, srtp_suite::aead_aes_128_gcm);

  const sdes_key agent_own = generate_sdes_key(srtp_suite::aead_aes_128_gcm, 3);
  const auto answered = reply_sdp(control.handle(
      answer("s4", "ft", "tt", agent_answer("RTP/SAVP", {agent_own.to_crypto_value()}))));
  EXPECT_EQ(answered.media()[0].proto(), "RTP/AVP");
  EXPECT_TRUE(answered.media()[0].crypto().empty());
  const call* c = control.find("s4");
  EXPECT_FALSE(c->caller.srtp());
  EXPECT_FALSE(c->caller.remote_key);
  EXPECT_FALSE(c->caller.local_key);
  ASSERT_TRUE(c->agent.srtp() && c->agent.remote_key && c->agent.local_key);
  EXPECT_EQ(*c->agent.remote_key, agent_own);
  EXPECT_EQ(*c->agent.local_key, agent_keys[2]);
}

TEST_F(call_control_test, SrtpNegotiationErrorsChangeNothing) {
  const std::string failure = "Failed to negotiate SRTP: ";
  // DTLS-SRTP, as WebRTC offers it, and RTP/SAVP with a fingerprint but no a=crypto.
  const std::string dtls =
      "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
      "m=audio 4000 UDP/TLS/RTP/SAVPF 0\r\n"
      "a=fingerprint:sha-256 AB:CD\r\na=setup:actpass\r\n";
  std::string r = reason(control.handle(offer("e", "ft", dtls)));
  EXPECT_EQ(r.rfind(failure + "DTLS-SRTP is not supported", 0), 0u) << r;
  std::string savp_dtls = dtls;
  savp_dtls.replace(savp_dtls.find("UDP/TLS/RTP/SAVPF"), 17, "RTP/SAVP");
  r = reason(control.handle(offer("e", "ft", savp_dtls)));
  EXPECT_EQ(r.rfind(failure + "DTLS-SRTP is not supported", 0), 0u) << r;
  std::string savp_bare = savp_dtls;
  savp_bare.erase(savp_bare.find("a=fingerprint"));
  EXPECT_EQ(reason(control.handle(offer("e", "ft", savp_bare))),
            failure + "RTP/SAVP without a=crypto");

  // Only suites toneguard does not support.
  std::string aes256 = srtp_phone_sdp;
  for (std::size_t at; (at = aes256.find("AES_CM_128_HMAC_SHA1_")) != std::string::npos;) {
    aes256.replace(at, 21, "AES_256_CM_HMAC_SHA1_");
  }
  EXPECT_EQ(reason(control.handle(offer("e", "ft", aes256))),
            failure + "no supported SRTP crypto suite offered");
  // A bad key: parse_crypto_value's message.
  const std::string bad_value = "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=";
  std::string bad = phone_sdp;
  bad.replace(bad.find("RTP/AVP"), 7, "RTP/SAVP");
  bad += "a=crypto:" + bad_value + "\r\n";
  EXPECT_EQ(reason(control.handle(offer("e", "ft", bad))),
            failure + parse_crypto_value(bad_value).error_message());
  EXPECT_EQ(control.size(), 0u);
  EXPECT_EQ(ports.used(), 0u);

  // Answers: one a=crypto with a tag and suite toneguard offered.
  reply_sdp(control.handle(offer("e", "ft", srtp_phone_sdp)));
  const call before = *control.find("e");
  const sdes_key k80 = generate_sdes_key(srtp_suite::aes_cm_128_hmac_sha1_80, 1);
  const sdes_key k32 = generate_sdes_key(srtp_suite::aes_cm_128_hmac_sha1_32, 2);
  EXPECT_EQ(reason(control.handle(answer("e", "ft", "tt", agent_answer("RTP/SAVP", {})))),
            failure + "RTP/SAVP without a=crypto");
  EXPECT_EQ(reason(control.handle(
                answer("e", "ft", "tt",
                       agent_answer("RTP/SAVP", {k80.to_crypto_value(), k32.to_crypto_value()})))),
            failure + "the answer must carry exactly one a=crypto, it has 2");
  sdes_key k7 = k80;
  k7.tag = 7;
  EXPECT_EQ(reason(control.handle(
                answer("e", "ft", "tt", agent_answer("RTP/SAVP", {k7.to_crypto_value()})))),
            failure + "the answer's a=crypto tag 7 was not offered");
  sdes_key swapped = k32;
  swapped.tag = 1;  // toneguard offered the 80-bit suite under tag 1
  EXPECT_EQ(reason(control.handle(
                answer("e", "ft", "tt", agent_answer("RTP/SAVP", {swapped.to_crypto_value()})))),
            failure +
                "the answer's a=crypto tag 1 has suite AES_CM_128_HMAC_SHA1_32, offered "
                "AES_CM_128_HMAC_SHA1_80");
  const call& after = *control.find("e");
  EXPECT_FALSE(after.agent.has_remote);
  EXPECT_TRUE(after.agent.tag.empty());
  EXPECT_EQ(after.agent.offered_keys, before.agent.offered_keys);
  EXPECT_FALSE(after.caller.local_key);
  EXPECT_EQ(ports.used(), 1u);
}

TEST_F(call_control_test, UnsupportedSuitesAreSkippedWhenAnotherIsOffered) {
  std::string mixed = srtp_phone_sdp;
  mixed.replace(mixed.find("a=crypto:1 AES_CM_128_HMAC_SHA1_80"), 34,
                "a=crypto:1 AES_256_CM_HMAC_SHA1_80");
  const auto offered = reply_sdp(control.handle(offer("m", "ft", mixed)));
  const auto keys = keys_of(offered.media()[0]);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].tag, 2u);
  const sdes_key k32 = generate_sdes_key(srtp_suite::aes_cm_128_hmac_sha1_32, 2);
  const auto answered = reply_sdp(
      control.handle(answer("m", "ft", "tt", agent_answer("RTP/SAVP", {k32.to_crypto_value()}))));
  const auto to_caller = keys_of(answered.media()[0]);
  ASSERT_EQ(to_caller.size(), 1u);
  EXPECT_EQ(to_caller[0].tag, 2u);
  EXPECT_EQ(to_caller[0].suite, srtp_suite::aes_cm_128_hmac_sha1_32);
}

// --- Kamailio's rtpengine module -----------------------------------------------------------

// A softphone's offer: video first, then audio, ICE candidates, a=group:BUNDLE.
const std::string video_first_sdp =
    "v=0\r\n"
    "o=- 20518 0 IN IP4 10.0.0.5\r\n"
    "s=-\r\n"
    "c=IN IP4 10.0.0.5\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1\r\n"
    "a=ice-options:trickle\r\n"
    "m=video 52000 RTP/AVP 96\r\n"
    "c=IN IP4 10.0.0.5\r\n"
    "a=rtpmap:96 H264/90000\r\n"
    "a=rtcp:52001\r\n"
    "a=candidate:1 1 UDP 2130706431 10.0.0.5 52000 typ host\r\n"
    "a=mid:0\r\n"
    "m=audio 52002 RTP/AVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=ice-ufrag:F7gI\r\n"
    "a=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n"
    "a=candidate:1 1 UDP 2130706431 10.0.0.5 52002 typ host\r\n"
    "a=candidate:2 1 UDP 1694498815 203.0.113.77 52002 typ srflx raddr 10.0.0.5 rport 52002\r\n"
    "a=end-of-candidates\r\n"
    "a=mid:1\r\n"
    "m=audio 52004 RTP/AVP 8\r\n"
    "a=rtcp:52005 IN IP4 10.0.0.5\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" +
    caller_key80 +
    "\r\n"
    "a=sendrecv\r\n";

bool mentions(const std::string& sdp, std::string_view what) {
  return sdp.find(what) != std::string::npos;
}

TEST_F(call_control_test, KamailioOfferWithVideoFirstIceAndTwoAudioStreams) {
  const auto reply =
      control.handle(offer_with("k1", "ft", video_first_sdp,
                                {{"via-branch", "z9hG4bK776asdhds"},
                                 {"flags", bencode_list{"trust-address"}},
                                 {"replace", bencode_list{"origin", "session-connection"}},
                                 {"received-from", bencode_list{"IP4", "127.0.0.1"}},
                                 {"ICE", "remove"},
                                 {"transport-protocol", "RTP/AVP"},
                                 {"label", "callee"}}));
  const std::string* text = reply.string_at("sdp");
  ASSERT_NE(text, nullptr) << reason(reply);
  for (std::string_view gone : {"candidate", "ice-", "end-of-candidates", "group:BUNDLE",
                                "10.0.0.5", "52001", "52005", "a=crypto"}) {
    EXPECT_FALSE(mentions(*text, gone)) << gone << " in\n" << *text;
  }
  const session_description sdp = reply_sdp(reply);
  ASSERT_EQ(sdp.media().size(), 3u);
  EXPECT_EQ(sdp.media()[0].port(), 0);
  EXPECT_EQ(sdp.media()[0].formats(), (std::vector<std::string>{"96"}));
  EXPECT_EQ(sdp.media()[0].connection()->address, "203.0.113.1");
  EXPECT_EQ(sdp.media()[1].port(), control.find("k1")->agent.local_rtp_port);
  EXPECT_EQ(sdp.media()[1].rtcp()->port, sdp.media()[1].port() + 1);
  EXPECT_EQ(sdp.media()[1].payload_types(), (std::vector<std::uint8_t>{0, 101}));
  EXPECT_EQ(sdp.media()[2].port(), 0);
  EXPECT_EQ(sdp.media()[2].formats(), (std::vector<std::string>{"8"}));
  EXPECT_EQ(sdp.origin()->address, "203.0.113.1");
  EXPECT_EQ(sdp.connection()->address, "203.0.113.1");

  const call* c = control.find("k1");
  EXPECT_EQ(c->stream_index, 1u);
  EXPECT_EQ(c->caller.remote_rtp_port, 52002);
  EXPECT_EQ(c->caller.remote_address.address, "10.0.0.5");  // trust-address: the SDP's
  EXPECT_EQ(c->caller.label, "callee");

  // The agent answers the three sections; its audio is the second one again.
  const std::string agent =
      "v=0\r\no=agent 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
      "m=video 0 RTP/AVP 96\r\n"
      "m=audio 50000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
      "m=audio 0 RTP/AVP 8\r\n";
  const auto answered = reply_sdp(control.handle(answer("k1", "ft", "tt", agent)));
  ASSERT_EQ(answered.media().size(), 3u);
  EXPECT_EQ(answered.media()[0].port(), 0);
  EXPECT_EQ(answered.media()[1].port(), c->caller.local_rtp_port);
  EXPECT_EQ(answered.media()[2].port(), 0);
  EXPECT_EQ(c->agent.remote_rtp_port, 50000);
}

TEST_F(call_control_test, SipSourceAddressAndHoldUseReceivedFrom) {
  auto sip_source = offer_with("a1", "ft", phone_sdp,
                               {{"flags", bencode_list{"SIP source address"}},
                                {"received-from", bencode_list{"IP4", "203.0.113.99"}}});
  reply_sdp(control.handle(sip_source));
  EXPECT_EQ(control.find("a1")->caller.remote_address.address, "203.0.113.99");
  EXPECT_EQ(control.find("a1")->caller.sdp_address.address, "192.0.2.10");
  // The last of trust-address and SIP-source-address wins.
  reply_sdp(
      control.handle(offer_with("a1", "ft", phone_sdp,
                                {{"flags", bencode_list{"SIP-source-address", "trust-address"}},
                                 {"received-from", bencode_list{"IP4", "203.0.113.99"}}})));
  EXPECT_EQ(control.find("a1")->caller.remote_address.address, "192.0.2.10");

  // RFC 2543 hold: c=0.0.0.0. The agent sees the hold; the media address comes from
  // received-from when there is one.
  std::string held = phone_sdp;
  held.replace(held.find("c=IN IP4 192.0.2.10"), 19, "c=IN IP4 0.0.0.0");
  const auto on_hold = reply_sdp(control.handle(
      offer_with("a1", "ft", held, {{"received-from", bencode_list{"IP4", "203.0.113.99"}}})));
  EXPECT_EQ(on_hold.connection()->address, "0.0.0.0");
  EXPECT_EQ(on_hold.origin()->address, "192.0.2.10");
  const call* c = control.find("a1");
  EXPECT_TRUE(c->caller.hold());
  EXPECT_EQ(c->caller.remote_address.address, "203.0.113.99");
  reply_sdp(control.handle(offer("a2", "ft", held)));
  reply_sdp(control.handle(offer_with("a3", "ft", held, {})));
  EXPECT_TRUE(control.find("a3")->caller.remote_address.is_unspecified());
}

TEST_F(call_control_test, LatchingPolicyFlagsInAnySpelling) {
  reply_sdp(control.handle(
      offer_with("p1", "ft", phone_sdp,
                 {{"flags", bencode_list{"asymmetric", "strict source", "port_latching"}}})));
  const call* c = control.find("p1");
  EXPECT_FALSE(c->caller.symmetric);
  EXPECT_TRUE(c->caller.strict_source);
  reply_sdp(control.handle(
      answer_with("p1", "ft", "tt", agent_sdp, {{"flags", bencode_list{"Strict-Source"}}})));
  EXPECT_TRUE(c->agent.symmetric);
  EXPECT_TRUE(c->agent.strict_source);
  // Each SDP's request sets its sender's policy again; "symmetric" after "asymmetric" wins.
  reply_sdp(control.handle(
      offer_with("p1", "ft", phone_sdp, {{"flags", bencode_list{"asymmetric", "symmetric"}}})));
  EXPECT_TRUE(c->caller.symmetric);
  EXPECT_FALSE(c->caller.strict_source);
  EXPECT_TRUE(c->agent.strict_source);
}

std::string with_mux(std::string sdp) {
  sdp.insert(sdp.find("a=sendrecv"), "a=rtcp-mux\r\n");
  return sdp;
}

std::string without_mux(std::string sdp) {
  sdp.erase(sdp.find("a=rtcp-mux\r\n"), 12);
  return sdp;
}

TEST_F(call_control_test, RtcpMuxOfferDemuxAcceptReject) {
  // Default: passed on, and answered as the agent answers.
  auto o = reply_sdp(control.handle(offer("x1", "ft", with_mux(phone_sdp))));
  EXPECT_TRUE(o.media()[0].rtcp_mux());
  EXPECT_EQ(o.media()[0].rtcp()->port, o.media()[0].port() + 1);  // the fallback
  auto a = reply_sdp(control.handle(answer("x1", "ft", "tt", without_mux(agent_sdp))));
  EXPECT_FALSE(a.media()[0].rtcp_mux());
  const call* c = control.find("x1");
  EXPECT_TRUE(c->caller.remote_rtcp_mux);
  EXPECT_FALSE(c->caller.rtcp_mux);
  EXPECT_EQ(c->caller.remote_rtcp_port, 40001);  // its a=rtcp
  EXPECT_FALSE(c->agent.rtcp_mux);
  EXPECT_EQ(c->agent.remote_rtcp_port, 50001);

  // demux: not offered to the agent, accepted from the caller.
  o = reply_sdp(control.handle(
      offer_with("x2", "ft", with_mux(phone_sdp), {{"rtcp-mux", bencode_list{"demux"}}})));
  EXPECT_FALSE(o.media()[0].rtcp_mux());
  a = reply_sdp(control.handle(answer("x2", "ft", "tt", without_mux(agent_sdp))));
  EXPECT_TRUE(a.media()[0].rtcp_mux());
  c = control.find("x2");
  EXPECT_TRUE(c->caller.rtcp_mux);
  EXPECT_EQ(c->caller.remote_rtcp_port, 40000);
  EXPECT_FALSE(c->agent.rtcp_mux);

  // reject: neither offered to the agent nor answered to the caller.
  o = reply_sdp(control.handle(
      offer_with("x3", "ft", with_mux(phone_sdp), {{"rtcp-mux", bencode_list{"reject"}}})));
  EXPECT_FALSE(o.media()[0].rtcp_mux());
  a = reply_sdp(control.handle(answer("x3", "ft", "tt", agent_sdp)));
  EXPECT_FALSE(a.media()[0].rtcp_mux());
  EXPECT_FALSE(control.find("x3")->caller.rtcp_mux);
  EXPECT_EQ(control.find("x3")->caller.remote_rtcp_port, 40001);

  // offer: added toward the agent; accept (here as a flag): answered to the caller whatever
  // the agent says.
  o = reply_sdp(
      control.handle(offer_with("x4", "ft", phone_sdp, {{"rtcp-mux", bencode_list{"offer"}}})));
  EXPECT_TRUE(o.media()[0].rtcp_mux());
  reply_sdp(control.handle(answer("x4", "ft", "tt", agent_sdp)));
  EXPECT_TRUE(control.find("x4")->agent.rtcp_mux);
  EXPECT_FALSE(control.find("x4")->caller.rtcp_mux);  // the caller did not offer it
  reply_sdp(control.handle(
      offer_with("x5", "ft", with_mux(phone_sdp), {{"flags", bencode_list{"rtcp-mux-accept"}}})));
  a = reply_sdp(control.handle(answer("x5", "ft", "tt", without_mux(agent_sdp))));
  EXPECT_TRUE(a.media()[0].rtcp_mux());
  EXPECT_TRUE(control.find("x5")->caller.rtcp_mux);
}

TEST_F(call_control_test, BlockDtmfFlagMasksFromTheStart) {
  reply_sdp(control.handle(offer_with("d1", "ft", phone_sdp,
                                      {{"flags", bencode_list{"trust-address", "block DTMF"}},
                                       {"DTMF-security", "random"},
                                       {"delay-buffer", 30}})));
  const call* c = control.find("d1");
  EXPECT_TRUE(c->dtmf.blocked);
  EXPECT_EQ(c->dtmf.from, leg::caller);
  EXPECT_EQ(c->dtmf.mode, ng_dtmf_security::random);
  EXPECT_EQ(c->dtmf.delay_buffer_ms, 30);
  // An answer without the flag leaves it blocked.
  reply_sdp(control.handle(answer("d1", "ft", "tt", agent_sdp)));
  EXPECT_TRUE(c->dtmf.blocked);

  reply_sdp(control.handle(offer("d2", "ft", phone_sdp)));
  EXPECT_FALSE(control.find("d2")->dtmf.blocked);
  reply_sdp(control.handle(
      answer_with("d2", "ft", "tt", agent_sdp, {{"flags", bencode_list{"block-dtmf"}}})));
  EXPECT_TRUE(control.find("d2")->dtmf.blocked);
  EXPECT_FALSE(control.find("d2")->dtmf.mode);  // the daemon's default kind
}

TEST_F(call_control_test, QueryShowsLastSignalLabelProtocolAndSuite) {
  control.set_time(100);
  reply_sdp(control.handle(offer_with("q", "ft", srtp_phone_sdp, {{"label", "customer"}})));
  control.set_time(105);
  const sdes_key k = generate_sdes_key(srtp_suite::aes_cm_128_hmac_sha1_80, 1);
  reply_sdp(control.handle(answer_with(
      "q", "ft", "tt", agent_answer("RTP/SAVP", {k.to_crypto_value()}), {{"label", "agent"}})));
  auto q = control.handle(request({{"call-id", "q"}, {"command", "query"}}));
  EXPECT_EQ(q.integer_at("created"), 100);
  EXPECT_EQ(q.integer_at("last signal"), 105);
  const bencode_dictionary* ft = q.dictionary_at("tags")->dictionary_at("ft");
  const bencode_dictionary* tt = q.dictionary_at("tags")->dictionary_at("tt");
  EXPECT_EQ(*ft->string_at("label"), "customer");
  EXPECT_EQ(*tt->string_at("label"), "agent");
  EXPECT_EQ(*ft->string_at("protocol"), "RTP/SAVP");
  EXPECT_EQ(*ft->string_at("crypto suite"), "AES_CM_128_HMAC_SHA1_80");
  control.set_time(110);
  reason(control.handle(request({{"call-id", "q"}, {"command", "block DTMF"}})));
  q = control.handle(request({{"call-id", "q"}, {"command", "query"}}));
  EXPECT_EQ(q.integer_at("last signal"), 110);
  EXPECT_EQ(q.integer_at("created"), 100);
}

TEST(call_control_ports, RangeAllocatorPairsAndRoundRobin) {
  range_port_allocator p(30001, 30006);  // odd start: pairs 30002/3 and 30004/5
  EXPECT_EQ(p.capacity(), 2u);
  EXPECT_EQ(p.allocate_pair(), 30002);
  EXPECT_EQ(p.allocate_pair(), 30004);
  EXPECT_EQ(p.allocate_pair(), std::nullopt);
  p.release(30002);
  p.release(30002);  // twice: ignored
  p.release(30003);  // not an RTP port of a pair: ignored
  EXPECT_EQ(p.used(), 1u);
  EXPECT_EQ(p.allocate_pair(), 30002);
  p.release(30004);
  p.release(30002);
  EXPECT_EQ(p.allocate_pair(), 30004);  // round robin: the later pair first
  range_port_allocator empty(30000, 30000);
  EXPECT_EQ(empty.capacity(), 0u);
  EXPECT_EQ(empty.allocate_pair(), std::nullopt);
}

}  // namespace
}  // namespace toneguard::media
