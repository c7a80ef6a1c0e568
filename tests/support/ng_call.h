#pragma once
// A call set up through the real daemon over ng, for tests: the SDP of a loopback endpoint,
// ng requests and replies, and PCMU and telephone-event RTP packets.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/loopback.h"
#include "toneguard/media/bencode.h"

namespace toneguard::testing {

// An SDP offering PCMU (0) and telephone-event (101) on `port`, RTCP on `rtcp_port`.
inline std::string sdp_for(std::uint16_t port, std::uint16_t rtcp_port) {
  return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " +
         std::to_string(port) +
         " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
         "a=fmtp:101 0-16\r\na=ptime:20\r\na=rtcp:" +
         std::to_string(rtcp_port) + "\r\n";
}

// The m= port of the SDP in an ng reply, or 0.
inline std::uint16_t reply_port(const std::string& reply) {
  const auto at = reply.find("m=audio ");
  if (at == std::string::npos) return 0;
  return static_cast<std::uint16_t>(std::atoi(reply.c_str() + at + 8));
}

// Sends one ng request from `control` to the daemon's ng `port`; the reply, or "".
inline std::string ng(udp_peer& control, std::uint16_t port, const std::string& cookie,
                      media::bencode_dictionary dict) {
  const std::string datagram =
      cookie + " " + media::encode_bencode(media::bencode_value(std::move(dict)));
  control.send_to(port, datagram.data(), datagram.size());
  return control.receive(2000).value_or("");
}

// An RTP header (version 2) with payload type `pt`, `marker`, `seq`, `ts` and SSRC `ssrc`.
inline std::vector<std::uint8_t> rtp_header(std::uint8_t pt, bool marker, std::uint16_t seq,
                                            std::uint32_t ts, std::uint32_t ssrc) {
  std::vector<std::uint8_t> p(12);
  p[0] = 0x80;
  p[1] = static_cast<std::uint8_t>(pt | (marker ? 0x80 : 0));
  p[2] = static_cast<std::uint8_t>(seq >> 8);
  p[3] = static_cast<std::uint8_t>(seq);
  for (int i = 0; i < 4; ++i) p[4 + i] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) p[8 + i] = static_cast<std::uint8_t>(ssrc >> (24 - 8 * i));
  return p;
}

// A PCMU packet of 160 codes.
inline std::vector<std::uint8_t> pcmu_packet(std::uint16_t seq, std::uint32_t ts,
                                             const std::uint8_t* codes, std::uint32_t ssrc = 7) {
  std::vector<std::uint8_t> p = rtp_header(0, false, seq, ts, ssrc);
  p.insert(p.end(), codes, codes + 160);
  return p;
}

// A caller and an agent endpoint on loopback with a call between them through the daemon.
struct ng_call {
  udp_peer control, caller, agent, caller_rtcp, agent_rtcp;
  std::uint16_t caller_facing = 0;  // where the caller sends (the daemon's port toward it)
  std::uint16_t agent_facing = 0;   // where the agent sends

  // Offer (with `offer_extra` keys) and answer of call `call_id`; true when both replied
  // with SDP.
  bool set_up(std::uint16_t ng_port, const std::string& call_id,
              const std::vector<std::pair<std::string, std::string>>& offer_extra = {}) {
    using media::bencode_dictionary;
    using media::bencode_value;
    bencode_dictionary offer;
    offer.set("command", bencode_value(std::string("offer")));
    offer.set("call-id", bencode_value(call_id));
    offer.set("from-tag", bencode_value(std::string("caller-tag")));
    offer.set("sdp", bencode_value(sdp_for(caller.port(), caller_rtcp.port())));
    for (const auto& [k, v] : offer_extra) offer.set(k, bencode_value(v));
    agent_facing = reply_port(ng(control, ng_port, call_id + "-o", offer));
    bencode_dictionary answer;
    answer.set("command", bencode_value(std::string("answer")));
    answer.set("call-id", bencode_value(call_id));
    answer.set("from-tag", bencode_value(std::string("caller-tag")));
    answer.set("to-tag", bencode_value(std::string("agent-tag")));
    answer.set("sdp", bencode_value(sdp_for(agent.port(), agent_rtcp.port())));
    caller_facing = reply_port(ng(control, ng_port, call_id + "-a", answer));
    return agent_facing != 0 && caller_facing != 0;
  }

  // Deletes the call; true when the daemon said ok.
  bool tear_down(std::uint16_t ng_port, const std::string& call_id) {
    using media::bencode_dictionary;
    using media::bencode_value;
    bencode_dictionary del;
    del.set("command", bencode_value(std::string("delete")));
    del.set("call-id", bencode_value(call_id));
    return ng(control, ng_port, call_id + "-d", del).find("2:ok") != std::string::npos;
  }
};

}  // namespace toneguard::testing
