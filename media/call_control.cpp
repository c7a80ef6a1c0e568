#include "toneguard/media/call_control.h"

#include <algorithm>
#include <string>
#include <utility>

namespace toneguard::media {

range_port_allocator::range_port_allocator(std::uint16_t port_min, std::uint16_t port_max) {
  first_ = port_min + (port_min % 2u);
  if (first_ + 1u <= port_max) in_use_.assign((port_max - first_ + 1u) / 2u, false);
}

std::optional<std::uint16_t> range_port_allocator::allocate_pair() {
  const std::size_t n = in_use_.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t slot = (next_ + i) % n;
    if (in_use_[slot]) continue;
    in_use_[slot] = true;
    ++used_;
    next_ = (slot + 1) % n;
    return static_cast<std::uint16_t>(first_ + 2u * slot);
  }
  return std::nullopt;
}

void range_port_allocator::release(std::uint16_t rtp_port) {
  if (rtp_port < first_ || (rtp_port - first_) % 2u != 0) return;
  const std::size_t slot = (rtp_port - first_) / 2u;
  if (slot >= in_use_.size() || !in_use_[slot]) return;
  in_use_[slot] = false;
  --used_;
}

namespace {

bool contains(const std::vector<std::string_view>& items, std::string_view item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// The stream toneguard proxies: the first RTP audio m= section.
std::optional<std::size_t> audio_stream(const session_description& sdp) {
  const auto media = sdp.media();
  for (std::size_t i = 0; i < media.size(); ++i) {
    if (media[i].media() == "audio" && media[i].is_rtp()) return i;
  }
  return std::nullopt;
}

call_leg remote_of(const media_description& m, const network_address& address) {
  call_leg leg;
  leg.has_remote = true;
  leg.remote_address = address;
  leg.remote_rtp_port = m.port();
  leg.remote_rtcp_mux = m.rtcp_mux();
  if (leg.remote_rtcp_mux) {
    leg.remote_rtcp_port = m.port();
  } else if (const auto rtcp = m.rtcp()) {
    leg.remote_rtcp_port = rtcp->port;
  } else {
    leg.remote_rtcp_port = static_cast<std::uint16_t>(m.port() + 1u);
  }
  leg.proto = m.proto();
  leg.payload_types = m.payload_types();
  leg.g711 = m.g711_payload_types();
  const auto events = m.telephone_event_payload_types();
  if (!events.empty()) leg.telephone_event_pt = events.front();
  leg.ptime_ms = m.ptime();
  leg.crypto = m.crypto();
  return leg;
}

// Points the proxied stream at toneguard: every c= it uses, its m= port and a=rtcp. Other m=
// sections are rejected (port 0): toneguard relays one stream per call.
void rewrite(session_description& sdp, std::size_t stream, std::optional<std::uint16_t> port,
             const network_address& advertised, bool replace_origin) {
  auto media = sdp.media();
  for (std::size_t i = 0; i < media.size(); ++i) {
    if (i != stream) {
      media[i].set_port(0);
      continue;
    }
    media_description& m = media[i];
    if (m.connection()) m.set_connection(advertised);
    if (!port) continue;  // the stream is rejected (port 0): keep it so
    m.set_port(*port);
    if (m.rtcp_mux()) {
      if (m.rtcp()) m.set_rtcp(*port, std::nullopt);
    } else {
      m.set_rtcp(static_cast<std::uint16_t>(*port + 1u), std::nullopt);
    }
  }
  // Every stream goes through toneguard (or is rejected), so the session c= never keeps the
  // phone's address; `replace: session-connection` asks for no more than this.
  if (sdp.connection()) sdp.set_connection(advertised);
  if (replace_origin) sdp.set_origin_address(advertised);
}

std::string_view leg_name(leg which) {
  return which == leg::caller ? "caller" : "agent";
}

}  // namespace

call_control::call_control(network_address advertised, port_allocator& ports)
    : advertised_(std::move(advertised)), ports_(ports) {}

call_control::~call_control() {
  for (auto& [id, c] : calls_) release_ports(c);
}

const call* call_control::find(std::string_view call_id) const {
  const auto it = calls_.find(call_id);
  return it == calls_.end() ? nullptr : &it->second;
}

void call_control::release_ports(call& c) {
  for (call_leg* l : {&c.caller, &c.agent}) {
    if (l->local_rtp_port) ports_.release(*l->local_rtp_port);
    l->local_rtp_port.reset();
  }
}

bencode_value call_control::handle(const ng_request& request) {
  switch (request.command) {
    case ng_command::ping:
      return ng_pong_reply();
    case ng_command::offer:
      return offer_or_answer(request, true);
    case ng_command::answer:
      return offer_or_answer(request, false);
    case ng_command::delete_call:
      return delete_call(request);
    case ng_command::query:
      return query(request);
    case ng_command::list:
      return list(request);
    case ng_command::block_dtmf:
      return block_dtmf(request, true);
    case ng_command::unblock_dtmf:
      return block_dtmf(request, false);
  }
  return ng_error_reply("Unrecognized command");
}

bencode_value call_control::offer_or_answer(const ng_request& request, bool is_offer) {
  const auto sdp_text = request.sdp();
  if (!sdp_text) return ng_error_reply("No SDP body in message");
  const auto call_id = request.call_id();
  if (!call_id) return ng_error_reply("No call-id in message");
  const auto from_tag = request.from_tag();
  if (!from_tag) return ng_error_reply("No from-tag in message");
  const auto to_tag = request.to_tag();
  if (!is_offer && !to_tag) return ng_error_reply("No to-tag in message");

  auto parsed = session_description::parse(*sdp_text);
  if (!parsed) return ng_error_reply("Failed to parse SDP: " + parsed.error_message());
  session_description& sdp = parsed.value();
  const auto stream = audio_stream(sdp);
  if (!stream) return ng_error_reply("Failed to parse SDP: no RTP audio stream");
  const media_description& m = sdp.media()[*stream];
  const auto address = sdp.connection_of(m);
  if (!address) return ng_error_reply("Failed to parse SDP: no c= for the audio stream");

  const auto it = calls_.find(*call_id);
  call fresh;
  call* c = nullptr;
  leg sender = leg::caller;  // whose SDP this is; the reply goes to the other leg
  if (it == calls_.end()) {
    if (!is_offer) return ng_error_reply("Unknown call-id");
    fresh.call_id = std::string(*call_id);
    fresh.created = now_;
    fresh.caller.tag = std::string(*from_tag);
    c = &fresh;
  } else {
    c = &it->second;
    // A re-INVITE from the called side swaps the roles of from-tag and to-tag.
    leg from;
    if (*from_tag == c->caller.tag) {
      from = leg::caller;
    } else if (!c->agent.tag.empty() && *from_tag == c->agent.tag) {
      from = leg::agent;
    } else {
      return ng_error_reply("Unknown from-tag");
    }
    sender = is_offer ? from : (from == leg::caller ? leg::agent : leg::caller);
  }
  const leg receiver = sender == leg::caller ? leg::agent : leg::caller;

  call_leg& to = c->side(receiver);
  if (m.port() != 0 && !to.local_rtp_port) {
    to.local_rtp_port = ports_.allocate_pair();
    if (!to.local_rtp_port) return ng_error_reply("no free ports");
  }

  call_leg& from = c->side(sender);
  call_leg recorded = remote_of(m, *address);
  recorded.tag = from.tag;
  if (!is_offer && to_tag) recorded.tag = std::string(*to_tag);
  recorded.local_rtp_port = from.local_rtp_port;
  from = std::move(recorded);

  rewrite(sdp, *stream, m.port() != 0 ? to.local_rtp_port : std::nullopt, advertised_,
          contains(request.replace(), "origin"));

  bencode_dictionary extra;
  extra.insert("sdp", sdp.serialize());
  if (c == &fresh) calls_.emplace(fresh.call_id, std::move(fresh));
  return ng_ok_reply(extra);
}

bencode_value call_control::delete_call(const ng_request& request) {
  const auto call_id = request.call_id();
  if (!call_id) return ng_error_reply("No call-id in message");
  const auto it = calls_.find(*call_id);
  if (it == calls_.end()) return ng_error_reply("Unknown call-id");
  const call& c = it->second;
  const auto known = [&c](std::string_view tag) {
    return tag == c.caller.tag || (!c.agent.tag.empty() && tag == c.agent.tag);
  };
  const auto from_tag = request.from_tag();
  const auto to_tag = request.to_tag();
  if ((from_tag && !known(*from_tag)) || (to_tag && !known(*to_tag))) {
    return ng_error_reply("Unknown call-id");
  }
  release_ports(it->second);
  calls_.erase(it);
  return ng_ok_reply();
}

bencode_value call_control::query(const ng_request& request) const {
  const auto call_id = request.call_id();
  if (!call_id) return ng_error_reply("No call-id in message");
  const call* c = find(*call_id);
  if (!c) return ng_error_reply("Unknown call-id");

  bencode_dictionary tags;
  for (const leg which : {leg::caller, leg::agent}) {
    const call_leg& l = c->side(which);
    if (l.tag.empty()) continue;
    bencode_dictionary d;
    d.insert("tag", l.tag);
    d.insert("leg", leg_name(which));
    if (l.local_rtp_port) d.insert("local port", *l.local_rtp_port);
    if (l.has_remote) {
      d.insert("remote address", l.remote_address.address);
      d.insert("remote port", l.remote_rtp_port);
    }
    tags.insert(l.tag, std::move(d));
  }
  bencode_dictionary extra;
  extra.insert("created", c->created);
  extra.insert("DTMF blocked", c->dtmf.blocked ? 1 : 0);
  extra.insert("DTMF-security", ng_dtmf_security_name(c->dtmf.mode));
  if (c->dtmf.delay_buffer_ms) extra.insert("delay-buffer", *c->dtmf.delay_buffer_ms);
  extra.insert("tags", std::move(tags));
  return ng_ok_reply(extra);
}

bencode_value call_control::list(const ng_request& request) const {
  const auto limit = request.body.integer_at("limit");
  bencode_list ids;
  for (const auto& [id, c] : calls_) {
    if (limit && std::cmp_greater_equal(ids.size(), std::max<std::int64_t>(*limit, 0))) break;
    ids.emplace_back(id);
  }
  bencode_dictionary extra;
  extra.insert("calls", std::move(ids));
  return ng_ok_reply(extra);
}

bencode_value call_control::block_dtmf(const ng_request& request, bool block) {
  const auto call_id = request.call_id();
  if (!call_id) return ng_error_reply("No call-id in message");
  const auto it = calls_.find(*call_id);
  if (it == calls_.end()) return ng_error_reply("Unknown call-id");
  call& c = it->second;
  leg which = leg::caller;
  if (const auto from_tag = request.from_tag()) {
    if (*from_tag == c.caller.tag) {
      which = leg::caller;
    } else if (!c.agent.tag.empty() && *from_tag == c.agent.tag) {
      which = leg::agent;
    } else {
      return ng_error_reply("Unknown from-tag");
    }
  }
  if (!block) {
    c.dtmf.blocked = false;
    return ng_ok_reply();
  }
  c.dtmf.blocked = true;
  c.dtmf.from = which;
  c.dtmf.mode = request.dtmf_security().value_or(ng_dtmf_security::silence);
  c.dtmf.delay_buffer_ms = request.delay_buffer_ms();
  return ng_ok_reply();
}

}  // namespace toneguard::media
