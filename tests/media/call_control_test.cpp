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
    "m=audio 50000 RTP/SAVP 8 96\r\n"
    "c=IN IP4 198.51.100.20\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:96 telephone-event/8000\r\n"
    "a=ptime:30\r\n"
    "a=rtcp-mux\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
    "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\n"
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
  EXPECT_TRUE(m.rtcp_mux());
  EXPECT_EQ(m.payload_types(), (std::vector<std::uint8_t>{8, 96}));
  ASSERT_EQ(m.crypto().size(), 1u);  // SDES passed through
  EXPECT_EQ(sdp.origin()->address, "198.51.100.20");

  const call* c = control.find("cid-2");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->agent.tag, "tt");
  EXPECT_EQ(c->caller.local_rtp_port, m.port());
  EXPECT_EQ(c->agent.local_rtp_port, offered.media()[0].port());
  EXPECT_EQ(c->agent.remote_address.address, "198.51.100.20");
  EXPECT_EQ(c->agent.remote_rtp_port, 50000);
  EXPECT_TRUE(c->agent.remote_rtcp_mux);
  EXPECT_EQ(c->agent.remote_rtcp_port, 50000);
  EXPECT_EQ(c->agent.proto, "RTP/SAVP");
  EXPECT_EQ(c->agent.telephone_event_pt, 96);
  EXPECT_EQ(c->agent.ptime_ms, 30u);
  ASSERT_EQ(c->agent.crypto.size(), 1u);
  EXPECT_EQ(c->agent.crypto[0].suite, "AES_CM_128_HMAC_SHA1_80");
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

  // Defaults: the caller's leg, silence, the daemon's delay.
  EXPECT_EQ(reason(control.handle(request({{"call-id", "c"}, {"command", "block DTMF"}}))), "ok");
  EXPECT_TRUE(c->dtmf.blocked);
  EXPECT_EQ(c->dtmf.mode, ng_dtmf_security::silence);
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
  EXPECT_EQ(*q.string_at("DTMF-security"), "silence");
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
