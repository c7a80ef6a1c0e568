#include "toneguard/media/call_control.h"

#include <algorithm>
#include <array>
#include <exception>
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

// toneguard does no ICE and no DTLS: these never survive a rewrite, since endpoints must send
// to toneguard's address and key SRTP with toneguard by SDES.
constexpr std::array<std::string_view, 11> foreign_attributes{
    "candidate",    "ice-ufrag",         "ice-pwd",           "ice-options", "ice-lite",
    "ice-mismatch", "end-of-candidates", "remote-candidates", "fingerprint", "setup",
    "tls-id"};

// The suites toneguard offers to an SRTP leg when the offerer is plain RTP: rtpengine's order,
// with tags 1, 2, 3.
constexpr std::array<srtp_suite, 3> own_suites{srtp_suite::aes_cm_128_hmac_sha1_80,
                                               srtp_suite::aes_cm_128_hmac_sha1_32,
                                               srtp_suite::aead_aes_128_gcm};

const std::string srtp_failure = "Failed to negotiate SRTP: ";

// The stream toneguard proxies: `preferred` when it is an RTP audio section (the answer keeps
// the offer's choice), else the first RTP audio section with a port, else the first one.
std::optional<std::size_t> audio_stream(const session_description& sdp,
                                        std::optional<std::size_t> preferred) {
  const auto media = sdp.media();
  const auto usable = [&media](std::size_t i) {
    return media[i].media() == "audio" && media[i].is_rtp();
  };
  if (preferred && *preferred < media.size() && usable(*preferred)) return preferred;
  std::optional<std::size_t> first;
  for (std::size_t i = 0; i < media.size(); ++i) {
    if (!usable(i)) continue;
    if (media[i].port() != 0) return i;
    if (!first) first = i;
  }
  return first;
}

// The keys of an offer's a=crypto lines that toneguard can use, in order. Lines of suites it
// does not support are skipped (the answerer picks one it supports, RFC 4568 §7.1.1). None
// usable is an error naming the first unparsable line of a supported suite, if any.
result<std::vector<sdes_key>> usable_keys(const std::vector<sdp_crypto>& lines) {
  std::vector<sdes_key> out;
  std::string problem;
  for (const auto& line : lines) {
    if (!srtp_suite_from_name(line.suite)) continue;
    auto key = parse_crypto_value(line.to_value());
    if (!key) {
      if (problem.empty()) problem = key.error_message();
      continue;
    }
    out.push_back(key.value());
  }
  if (out.empty()) {
    return error{srtp_failure +
                 (problem.empty() ? "no supported SRTP crypto suite offered" : problem)};
  }
  return out;
}

// toneguard's key for `suite` with `tag`: one it already gave `to` for that suite (re-offers
// keep keys), else a fresh one. Throws std::runtime_error when the kernel has no randomness.
sdes_key own_key(const call_leg& to, srtp_suite suite, std::uint32_t tag) {
  std::optional<sdes_key> found;
  if (to.local_key && to.local_key->suite == suite) found = to.local_key;
  for (const auto& k : to.offered_keys) {
    if (!found && k.suite == suite) found = k;
  }
  sdes_key key = found ? *found : generate_sdes_key(suite, tag);
  key.tag = tag;
  return key;
}

sdp_crypto crypto_line(const sdes_key& key) {
  const std::string value = key.to_crypto_value();  // "<tag> <suite> inline:<key>"
  const std::size_t params = value.find("inline:");
  return sdp_crypto{key.tag, std::string(srtp_suite_name(key.suite)),
                    params == std::string::npos ? std::string() : value.substr(params), ""};
}

// What the rewritten SDP says for the relayed stream.
struct rewrite_plan {
  std::size_t stream = 0;
  std::optional<std::uint16_t> port;  // nullopt: the stream is rejected (port 0) and stays so
  std::string_view proto;
  std::vector<sdp_crypto> crypto;
  bool rtcp_mux = false;
  bool offer = false;
  bool replace_origin = false;
};

// Points the SDP at toneguard: every c= (an unspecified one stays unspecified: RFC 2543 hold),
// the stream's port, proto, a=crypto and a=rtcp/a=rtcp-mux. Other m= sections are rejected
// (port 0): toneguard relays one stream per call.
void rewrite(session_description& sdp, const rewrite_plan& plan,
             const network_address& advertised) {
  const auto toward = [&advertised](const network_address& a) {
    return a.is_unspecified() ? network_address::unspecified(advertised.type) : advertised;
  };
  sdp.remove_attributes(foreign_attributes);
  // Bundling needs one transport per group; toneguard's streams are separate.
  sdp.remove_attributes("group");
  auto media = sdp.media();
  for (std::size_t i = 0; i < media.size(); ++i) {
    media_description& m = media[i];
    m.remove_attributes(foreign_attributes);
    if (const auto c = m.connection()) m.set_connection(toward(*c));
    if (i != plan.stream) {
      m.set_port(0);
      m.set_crypto({});
      m.remove_attributes("rtcp");
      continue;
    }
    m.set_proto(plan.proto);
    m.set_crypto(plan.crypto);
    m.set_rtcp_mux(plan.rtcp_mux);
    if (!plan.port) {
      m.remove_attributes("rtcp");
      continue;
    }
    m.set_port(*plan.port);
    if (plan.rtcp_mux && !plan.offer) {
      if (m.rtcp()) m.set_rtcp(*plan.port, std::nullopt);
    } else {
      // In an offer with a=rtcp-mux this is the fallback port (RFC 5761 §5.1.3).
      m.set_rtcp(static_cast<std::uint16_t>(*plan.port + 1u), std::nullopt);
    }
  }
  // Every stream goes through toneguard (or is rejected), so the session c= never keeps the
  // phone's address; `replace: session-connection` asks for no more than this.
  if (const auto c = sdp.connection()) sdp.set_connection(toward(*c));
  if (plan.replace_origin) sdp.set_origin_address(advertised);
}

bool has_session_fingerprint(const session_description& sdp) {
  return std::any_of(sdp.lines().begin(), sdp.lines().end(), [](const sdp_line& l) {
    return l.type == 'a' && l.value.starts_with("fingerprint:");
  });
}

void set_rtcp_port(call_leg& l) {
  l.remote_rtcp_port = l.rtcp_mux ? l.remote_rtp_port
                                  : l.remote_rtcp_attribute_port.value_or(
                                        static_cast<std::uint16_t>(l.remote_rtp_port + 1u));
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

  const auto it = calls_.find(*call_id);
  leg sender = leg::caller;  // whose SDP this is; the reply goes to the other leg
  if (it == calls_.end()) {
    if (!is_offer) return ng_error_reply("Unknown call-id");
  } else {
    const call& c = it->second;
    // A re-INVITE from the called side swaps the roles of from-tag and to-tag.
    leg from;
    if (*from_tag == c.caller.tag) {
      from = leg::caller;
    } else if (!c.agent.tag.empty() && *from_tag == c.agent.tag) {
      from = leg::agent;
    } else {
      return ng_error_reply("Unknown from-tag");
    }
    sender = is_offer ? from : (from == leg::caller ? leg::agent : leg::caller);
  }
  const leg receiver = sender == leg::caller ? leg::agent : leg::caller;

  std::optional<std::size_t> preferred;
  if (!is_offer) preferred = it->second.stream_index;
  const auto stream = audio_stream(sdp, preferred);
  if (!stream) return ng_error_reply("Failed to parse SDP: no RTP audio stream");
  const media_description& m = sdp.media()[*stream];
  if (m.proto().find("TLS") != std::string::npos) {
    return ng_error_reply(srtp_failure + "DTLS-SRTP is not supported (the audio stream is " +
                          m.proto() + "); toneguard keys SRTP with SDES a=crypto only");
  }
  const auto profile = ng_rtp_profile(m.proto());
  if (!profile) return ng_error_reply("Unsupported transport protocol " + m.proto());
  const auto address = sdp.connection_of(m);
  if (!address) return ng_error_reply("Failed to parse SDP: no c= for the audio stream");

  // Everything is decided on a copy, so that a failed request changes nothing.
  call work;
  if (it == calls_.end()) {
    work.call_id = std::string(*call_id);
    work.created = now_;
    work.caller.tag = std::string(*from_tag);
  } else {
    work = it->second;
  }
  call_leg& from = work.side(sender);
  call_leg& to = work.side(receiver);

  // The sender's SDP.
  const std::vector<sdp_crypto> crypto = m.crypto();
  const bool sender_srtp = is_srtp_profile(*profile);
  if (sender_srtp && crypto.empty()) {
    const bool dtls = m.attribute("fingerprint") || has_session_fingerprint(sdp);
    return ng_error_reply(srtp_failure +
                          (dtls ? "DTLS-SRTP is not supported (" + m.proto() +
                                      " with a=fingerprint and no a=crypto); toneguard keys SRTP "
                                      "with SDES a=crypto only"
                                : m.proto() + " without a=crypto"));
  }
  if (!is_offer && to_tag) from.tag = std::string(*to_tag);
  if (const auto label = request.label()) from.label = std::string(*label);
  from.has_remote = true;
  from.sdp_address = *address;
  const auto received_from = request.received_from();
  from.remote_address =
      received_from && (!request.trust_address() || from.hold()) ? *received_from : *address;
  from.remote_rtp_port = m.port();
  from.remote_rtcp_mux = m.rtcp_mux();
  from.remote_rtcp_attribute_port.reset();
  if (const auto rtcp = m.rtcp()) from.remote_rtcp_attribute_port = rtcp->port;
  from.proto = std::string(*profile);
  from.payload_types = m.payload_types();
  from.g711 = m.g711_payload_types();
  const auto events = m.telephone_event_payload_types();
  from.telephone_event_pt.reset();
  if (!events.empty()) from.telephone_event_pt = events.front();
  from.ptime_ms = m.ptime();
  from.crypto = crypto;
  from.symmetric = !request.asymmetric();
  from.strict_source = request.strict_source();

  rewrite_plan plan;
  plan.stream = *stream;
  plan.offer = is_offer;
  plan.replace_origin = request.replaces("origin");
  try {
    if (is_offer) {
      std::vector<sdes_key> offered;
      if (sender_srtp) {
        auto usable = usable_keys(crypto);
        if (!usable) return ng_error_reply(usable.error_message());
        offered = std::move(usable).value();
      }
      if (!sender_srtp) {
        from.remote_key.reset();
        from.local_key.reset();
      }
      const auto requested = request.transport_protocol();
      plan.proto = requested ? *requested : to.has_remote ? std::string_view(to.proto) : *profile;
      std::vector<sdes_key> own;
      if (is_srtp_profile(plan.proto)) {
        std::vector<std::pair<srtp_suite, std::uint32_t>> suites;
        for (const auto& k : offered) {
          const bool seen = std::any_of(suites.begin(), suites.end(),
                                        [&k](const auto& s) { return s.first == k.suite; });
          if (!seen) suites.emplace_back(k.suite, k.tag);
        }
        if (suites.empty()) {
          for (std::size_t i = 0; i < own_suites.size(); ++i) {
            suites.emplace_back(own_suites[i], static_cast<std::uint32_t>(i + 1));
          }
        }
        for (const auto& [suite, tag] : suites) own.push_back(own_key(to, suite, tag));
        for (const auto& k : own) plan.crypto.push_back(crypto_line(k));
      }
      to.offered_keys = std::move(own);
      const bool demux = request.has_rtcp_mux("demux");
      const bool reject = request.has_rtcp_mux("reject");
      plan.rtcp_mux = (m.rtcp_mux() || request.has_rtcp_mux("offer")) && !demux && !reject;
      from.accept_rtcp_mux = demux || request.has_rtcp_mux("accept");
      from.reject_rtcp_mux = reject;
      from.rtcp_mux = m.rtcp_mux() && !reject;
      set_rtcp_port(from);
      work.stream_index = *stream;
    } else {
      // The answerer accepts one of toneguard's keys and gives its own.
      if (sender_srtp) {
        if (crypto.size() != 1) {
          return ng_error_reply(srtp_failure +
                                "the answer must carry exactly one a=crypto, it has " +
                                std::to_string(crypto.size()));
        }
        const auto accepted =
            std::find_if(from.offered_keys.begin(), from.offered_keys.end(),
                         [&crypto](const sdes_key& k) { return k.tag == crypto.front().tag; });
        if (accepted == from.offered_keys.end()) {
          return ng_error_reply(srtp_failure + "the answer's a=crypto tag " +
                                std::to_string(crypto.front().tag) + " was not offered");
        }
        auto key = parse_crypto_value(crypto.front().to_value());
        if (!key) return ng_error_reply(srtp_failure + key.error_message());
        if (key.value().suite != accepted->suite) {
          return ng_error_reply(srtp_failure + "the answer's a=crypto tag " +
                                std::to_string(accepted->tag) + " has suite " +
                                crypto.front().suite + ", offered " +
                                std::string(srtp_suite_name(accepted->suite)));
        }
        from.remote_key = key.value();
        from.local_key = *accepted;
      } else {
        from.remote_key.reset();
        from.local_key.reset();
      }
      from.rtcp_mux = m.rtcp_mux();
      set_rtcp_port(from);

      // toneguard answers the offerer's SRTP with its own key for the first suite it supports.
      plan.proto = to.has_remote ? std::string_view(to.proto) : *profile;
      if (to.srtp()) {
        const auto offered = usable_keys(to.crypto);
        if (!offered) return ng_error_reply(offered.error_message());
        const sdes_key& chosen = offered.value().front();
        to.local_key = own_key(to, chosen.suite, chosen.tag);
        to.remote_key = chosen;
        plan.crypto.push_back(crypto_line(*to.local_key));
      } else {
        to.remote_key.reset();
        to.local_key.reset();
      }
      to.rtcp_mux =
          to.remote_rtcp_mux && !to.reject_rtcp_mux && (m.rtcp_mux() || to.accept_rtcp_mux);
      set_rtcp_port(to);
      plan.rtcp_mux = to.rtcp_mux;
    }
  } catch (const std::exception& e) {
    return ng_error_reply(srtp_failure + e.what());
  }

  if (request.block_dtmf()) {
    work.dtmf.blocked = true;
    work.dtmf.from = leg::caller;
  }
  if (const auto mode = request.dtmf_security()) work.dtmf.mode = *mode;
  if (const auto ms = request.delay_buffer_ms()) work.dtmf.delay_buffer_ms = *ms;

  // Ports last: nothing above can fail after one is taken.
  if (m.port() != 0 && !to.local_rtp_port) {
    to.local_rtp_port = ports_.allocate_pair();
    if (!to.local_rtp_port) return ng_error_reply("no free ports");
  }
  if (m.port() != 0) plan.port = to.local_rtp_port;
  rewrite(sdp, plan, advertised_);

  work.last_signal = now_;
  bencode_dictionary extra;
  extra.insert("sdp", sdp.serialize());
  if (it == calls_.end()) {
    calls_.emplace(work.call_id, std::move(work));
  } else {
    it->second = std::move(work);
  }
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
    if (!l.label.empty()) d.insert("label", l.label);
    if (l.local_rtp_port) d.insert("local port", *l.local_rtp_port);
    if (l.has_remote) {
      d.insert("remote address", l.remote_address.address);
      d.insert("remote port", l.remote_rtp_port);
      d.insert("protocol", l.proto);
      if (l.srtp() && l.remote_key) d.insert("crypto suite", srtp_suite_name(l.remote_key->suite));
    }
    tags.insert(l.tag, std::move(d));
  }
  bencode_dictionary extra;
  extra.insert("created", c->created);
  extra.insert("last signal", c->last_signal);
  extra.insert("DTMF blocked", c->dtmf.blocked ? 1 : 0);
  if (c->dtmf.mode) extra.insert("DTMF-security", ng_dtmf_security_name(*c->dtmf.mode));
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
  c.last_signal = now_;
  if (!block) {
    c.dtmf.blocked = false;
    return ng_ok_reply();
  }
  c.dtmf.blocked = true;
  c.dtmf.from = which;
  c.dtmf.mode = request.dtmf_security();
  c.dtmf.delay_buffer_ms = request.delay_buffer_ms();
  return ng_ok_reply();
}

}  // namespace toneguard::media
