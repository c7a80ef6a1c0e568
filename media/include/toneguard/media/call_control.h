#pragma once
/// The call control logic behind the ng protocol, as a pure library piece (no sockets, no
/// clock): calls keyed by call-id, each with two legs (caller = the offer's from-tag, agent =
/// the answer's to-tag), ports from a port_allocator, and SDP rewritten so that media flows
/// through toneguard. Semantics follow rtpengine: the offer's reply SDP goes to the callee (so
/// it advertises the agent-facing port), the answer's reply SDP goes to the caller.
///
/// Scope: one RTP audio stream per call (the first m= section with media "audio", an RTP proto
/// and a port other than 0, else the first audio RTP one); every other m= section is rejected
/// in the rewritten SDP (port 0, RFC 3264), keeping its formats but losing its a=crypto, a=rtcp
/// and ICE/DTLS attributes, its c= pointing at toneguard.
///
/// SRTP (SDES, RFC 4568), per leg: each leg is RTP/SAVP(F) or RTP/AVP(F) on its own, and
/// toneguard terminates SRTP on each SRTP leg with its own keys (an endpoint's key is never sent
/// to the other endpoint). An offer's reply uses the offerer's profile unless `transport-protocol`
/// (or an "RTP/AVP"-style flag) names another for the receiving leg; on a re-offer without one,
/// the receiving leg keeps the profile it answered with. Toward an SRTP leg toneguard offers one
/// fresh key per suite it supports (AES_CM_128_HMAC_SHA1_80 tag 1, AES_CM_128_HMAC_SHA1_32 tag 2,
/// AEAD_AES_128_GCM tag 3), or, when the offerer is SRTP too, one per supported suite of the
/// offerer in the offerer's order and with the offerer's tags. The answerer must accept exactly one
/// of them (one a=crypto with an offered tag and suite). Toward an SRTP offerer toneguard answers
/// the first a=crypto of the offer whose suite it supports, with its own key and the offerer's
/// tag. toneguard's keys are kept across re-offers while a leg keeps the same suite. DTLS-SRTP
/// (UDP/TLS/RTP/SAVP(F), or RTP/SAVP without a=crypto) is refused.
///
/// ICE: toneguard does none, so a=candidate, a=ice-ufrag, a=ice-pwd, a=ice-options, a=ice-lite,
/// a=ice-mismatch, a=end-of-candidates and a=remote-candidates are removed from every rewritten
/// SDP whatever the `ICE` key says (endpoints must send to toneguard's address), with the DTLS
/// attributes a=fingerprint, a=setup and a=tls-id and the session-level a=group.
///
/// Threads: a call_control is owned by the one control thread (the ng_server's run() thread):
/// handle() and find() and every other member are called on that thread only. Nothing here
/// locks; the relay step must copy what it needs from find() on the control thread.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "toneguard/media/digits.h"
#include "toneguard/media/ng_message.h"
#include "toneguard/media/ng_server.h"
#include "toneguard/media/sdp.h"
#include "toneguard/media/srtp.h"

namespace toneguard::media {

/// Hands out RTP/RTCP port pairs: an even RTP port, RTCP on RTP + 1. Used by the control
/// thread only.
class port_allocator {
 public:
  virtual ~port_allocator() = default;
  /// A free pair's RTP port (even; RTCP is +1), now in use; nullopt when none is free.
  virtual std::optional<std::uint16_t> allocate_pair() = 0;
  /// Returns the pair whose RTP port is `rtp_port` (one allocate_pair() returned). Releasing
  /// a port that is not in use is ignored.
  virtual void release(std::uint16_t rtp_port) = 0;
};

/// A port_allocator over [port_min, port_max] that only books ports (it binds no socket).
/// Pairs are handed out round-robin, so a released pair is reused as late as possible (stray
/// packets of an ended call rarely reach a new one). Not thread-safe.
class range_port_allocator final : public port_allocator {
 public:
  /// Pairs (p, p + 1) with p even and port_min <= p, p + 1 <= port_max. An empty range (no
  /// such pair) is allowed: every allocation fails.
  range_port_allocator(std::uint16_t port_min, std::uint16_t port_max);

  std::optional<std::uint16_t> allocate_pair() override;
  void release(std::uint16_t rtp_port) override;

  /// Number of pairs in the range.
  [[nodiscard]] std::size_t capacity() const noexcept { return in_use_.size(); }
  /// Number of pairs in use.
  [[nodiscard]] std::size_t used() const noexcept { return used_; }

 private:
  std::uint32_t first_ = 0;  // lowest RTP port of the range (even)
  std::vector<bool> in_use_;
  std::size_t next_ = 0;  // where the round-robin search starts
  std::size_t used_ = 0;
};

/// True for the SRTP profiles toneguard keys by SDES: "RTP/SAVP", "RTP/SAVPF".
[[nodiscard]] inline bool is_srtp_profile(std::string_view profile) noexcept {
  return profile == "RTP/SAVP" || profile == "RTP/SAVPF";
}

/// What one side of the call announced in its SDP, what was negotiated with it and the ports
/// toneguard uses toward it.
struct call_leg {
  /// The side's SIP tag (from-tag for the caller, to-tag for the agent); empty until known.
  std::string tag;
  /// The ng `label` given with this side's tag (shown by query); empty when none was given.
  std::string label;

  /// The port pair toneguard receives this side's media on (RTP; RTCP is +1 unless
  /// `rtcp_mux`), advertised in the SDP sent to this side; nullopt until allocated.
  std::optional<std::uint16_t> local_rtp_port;

  /// True once this side's SDP was seen (the fields below are valid).
  bool has_remote = false;
  /// Where this side's media is sent to (before any latching): its SDP's c= address, unless
  /// the request carrying that SDP had the flag "SIP-source-address" and a `received-from`, or
  /// the c= is unspecified (0.0.0.0 / ::, RFC 2543 hold) and the request had a `received-from`:
  /// then the `received-from` address. "trust-address" (the default, as in current rtpengine)
  /// means the SDP's address. May be unspecified (hold without received-from).
  network_address remote_address;
  /// The c= address exactly as this side's SDP gave it.
  network_address sdp_address;
  /// True when this side's c= was unspecified (0.0.0.0 / ::): the stream is on hold the
  /// RFC 2543 way. The SDP toneguard sends on keeps an unspecified c= so that the other side
  /// sees the hold.
  [[nodiscard]] bool hold() const noexcept { return sdp_address.is_unspecified(); }
  /// This side's RTP port (its m= port; 0 when it rejected or put the stream on hold that
  /// way).
  std::uint16_t remote_rtp_port = 0;
  /// The port this side receives RTCP on: its RTP port when `rtcp_mux`, else its a=rtcp port
  /// when given, else RTP + 1.
  std::uint16_t remote_rtcp_port = 0;
  /// True when this side's last SDP had a=rtcp-mux (offered or accepted).
  bool remote_rtcp_mux = false;
  /// RTCP to and from this side rides the RTP ports (toneguard's `local_rtp_port` and
  /// `remote_rtp_port`), as negotiated: for the answerer, its answer had a=rtcp-mux; for the
  /// offerer, its offer had a=rtcp-mux and toneguard's answer to it too (the answerer accepted
  /// it, or the offer's `rtcp-mux` list held "accept" or "demux"; never with "reject").
  /// Between an offer and its answer, the offerer's value is provisional.
  bool rtcp_mux = false;
  /// The m= proto of this side's last SDP: "RTP/AVP", "RTP/AVPF", "RTP/SAVP" or "RTP/SAVPF".
  std::string proto;
  /// Every payload type of the m= line, in order.
  std::vector<std::uint8_t> payload_types;
  /// The G.711 payload types (PCMU/PCMA), in m= order.
  std::vector<g711_payload> g711;
  /// The first telephone-event/8000 payload type, if any.
  std::optional<std::uint8_t> telephone_event_pt;
  /// a=ptime in ms, when given.
  std::optional<std::uint32_t> ptime_ms;
  /// The SDES a=crypto lines of this side's last SDP, as it sent them, in order (empty for
  /// plain RTP). For an offerer: every crypto it offered.
  std::vector<sdp_crypto> crypto;

  /// This leg is SRTP: this side's last SDP used RTP/SAVP or RTP/SAVPF. When true and the
  /// offer/answer exchange is complete, `remote_key` and `local_key` are both set (same
  /// suite); when false both are nullopt.
  [[nodiscard]] bool srtp() const noexcept { return is_srtp_profile(proto); }
  /// The key this side protects what it sends with (unprotect inbound with it): the a=crypto it
  /// answered with, or, for an offerer, its offered a=crypto that toneguard accepted. Set once
  /// the exchange is complete.
  std::optional<sdes_key> remote_key;
  /// The key toneguard protects what it sends to this side with (protect outbound with it):
  /// the key of toneguard's a=crypto that this side accepted, or, for an offerer, the key of
  /// toneguard's answer. Stays the same across re-offers while the suite does not change.
  std::optional<sdes_key> local_key;
  /// toneguard's keys in its last offer to this side, in offer order (empty when that offer was
  /// plain RTP or there was none). Kept so that re-offers reuse them.
  std::vector<sdes_key> offered_keys;

  /// Latch the remote address from the first packet this side sends (symmetric RTP, the
  /// default); false with the flag "asymmetric" on the request that carried this side's SDP:
  /// send to `remote_address` whatever the source of its packets.
  bool symmetric = true;
  /// After latching, drop packets from any other source (flag "strict-source" on the request
  /// that carried this side's SDP).
  bool strict_source = false;

  /// This side's a=rtcp port when its SDP gave one (to fall back to when rtcp-mux is refused).
  std::optional<std::uint16_t> remote_rtcp_attribute_port;
  /// rtcp-mux handling of the offer this side sent ("accept"/"demux" in `rtcp-mux`: answer
  /// its a=rtcp-mux with a=rtcp-mux whatever the answerer does).
  bool accept_rtcp_mux = false;
  /// "reject" in the `rtcp-mux` of the offer this side sent: never answer it with a=rtcp-mux.
  bool reject_rtcp_mux = false;
};

/// DTMF masking state of a call, as set by `block DTMF` / `unblock DTMF`, or from the start by
/// the flag "block-dtmf" on offer/answer.
struct dtmf_masking {
  /// True while DTMF is blocked. Set by `block DTMF`, and by an offer or answer with the flag
  /// "block-dtmf" (masked from the start of the call); cleared by `unblock DTMF` only.
  bool blocked = false;
  /// The leg whose DTMF is blocked (from-tag of `block DTMF`; the caller by default and with
  /// the "block-dtmf" flag, since toneguard masks the caller-to-agent direction).
  leg from = leg::caller;
  /// The `DTMF-security` mode of the last `block DTMF`, or of the last offer/answer that gave
  /// the key; nullopt: the daemon's default (`--dtmf-security`).
  std::optional<ng_dtmf_security> mode;
  /// The `delay-buffer` of the last `block DTMF`, or of the last offer/answer that gave the
  /// key, in ms; nullopt: the daemon's default.
  std::optional<std::int64_t> delay_buffer_ms;
};

/// One call: both legs and its DTMF masking state. Owned by call_control.
struct call {
  /// The SIP Call-ID.
  std::string call_id;
  /// The time passed to call_control::set_time() when the offer created the call.
  std::int64_t created = 0;
  /// The time passed to set_time() at the last successful offer, answer, block DTMF or
  /// unblock DTMF of this call.
  std::int64_t last_signal = 0;
  /// The index, among the m= sections of the last offer, of the audio stream toneguard relays.
  std::size_t stream_index = 0;
  /// The calling side (from-tag of the first offer).
  call_leg caller;
  /// The called side (to-tag of the answer).
  call_leg agent;
  /// DTMF blocking.
  dtmf_masking dtmf;

  /// The leg `which`.
  [[nodiscard]] call_leg& side(leg which) noexcept { return which == leg::caller ? caller : agent; }
  /// The leg `which`.
  [[nodiscard]] const call_leg& side(leg which) const noexcept {
    return which == leg::caller ? caller : agent;
  }
};

/// Executes offer, answer, delete, query, list, block DTMF, unblock DTMF and ping.
///
/// Request keys and flags honoured on offer/answer (names compared as ng_name_equal does;
/// unknown ones are ignored as rtpengine ignores them):
/// - `transport-protocol` / flags "RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF": the profile
///   of the leg the SDP goes to (offer only; an answer always gets the offerer's profile).
/// - flags "trust-address" (default), "SIP-source-address", `received-from`: the sender's
///   `remote_address` (see call_leg). "symmetric" (default), "asymmetric", "strict-source":
///   the sender's leg policy. "port-latching": accepted; toneguard always keeps its ports.
/// - `replace` "origin" / flag "replace-origin": the o= address becomes toneguard's;
///   "session-connection" / "replace-session-connection": accepted, the session c= is always
///   replaced (unless unspecified, see hold).
/// - `rtcp-mux` (or flags "rtcp-mux-<item>"), on offers: "offer" adds a=rtcp-mux toward the
///   answerer even if the offerer did not offer it; "demux" and "reject" leave it out;
///   "accept" and "demux" answer the offerer's a=rtcp-mux with a=rtcp-mux whatever the answerer
///   does; "reject" never does. By default a=rtcp-mux is passed on and answered as the
///   answerer answers.
/// - `ICE` (any value): accepted; ICE attributes are always removed.
/// - flag "block-dtmf", `DTMF-security`, `delay-buffer`: see dtmf_masking.
/// - `label`: stored for the from-tag's leg (offer) or the to-tag's leg (answer).
/// - `via-branch`, `direction`, `record-call`, `DTMF-log-dest`: accepted and ignored
///   (toneguard has one interface and records nothing).
///
/// Replies (rtpengine's keys and error wording):
/// - offer/answer: `result: ok`, `sdp`: the rewritten SDP. Errors: "No SDP body in message",
///   "No call-id in message", "No from-tag in message", "No to-tag in message" (answer),
///   "Failed to parse SDP: <reason>", "Unknown call-id" (answer without offer), "Unknown
///   from-tag", "no free ports", "Unsupported transport protocol <proto>", and
///   "Failed to negotiate SRTP: <reason>" (DTLS-SRTP offered, no supported crypto suite
///   offered, a bad a=crypto, an answer without exactly one a=crypto matching an offered one).
///   A failed request changes nothing.
/// - delete: `result: ok`; "Unknown call-id". The whole call is removed (tags, when given,
///   must belong to it).
/// - query: `result: ok`, `created` (int), `last signal` (int, see call::last_signal),
///   `DTMF blocked` (0/1), `DTMF-security` (mode name), `delay-buffer` (when set), `tags`: a
///   dictionary keyed by each known tag holding `tag`, `leg` ("caller"/"agent"), `label` (when
///   given), `local port` and, once its SDP was seen, `remote address`, `remote port`,
///   `protocol` and, for an SRTP leg with keys, `crypto suite`.
/// - list: `result: ok`, `calls`: call-ids in lexicographic order (at most `limit` when given).
/// - block DTMF / unblock DTMF: `result: ok`; "Unknown call-id", "Unknown from-tag".
/// - ping: `result: pong`.
class call_control final : public ng_handler {
 public:
  /// `advertised` is the address written into rewritten SDP (IPv4 or IPv6); `ports` must
  /// outlive this object.
  call_control(network_address advertised, port_allocator& ports);
  ~call_control() override;
  call_control(const call_control&) = delete;
  call_control& operator=(const call_control&) = delete;

  /// Executes `request` (control thread only). Never throws on bad input.
  bencode_value handle(const ng_request& request) override;

  /// Sets the time recorded as `created` for calls created from now on and as `last_signal`
  /// (e.g. Unix seconds); the daemon calls it before handle(). No clock is read here.
  void set_time(std::int64_t now) noexcept { now_ = now; }

  /// The call `call_id`, or nullptr. Valid until the next handle() (control thread only).
  [[nodiscard]] const call* find(std::string_view call_id) const;
  /// Number of calls.
  [[nodiscard]] std::size_t size() const noexcept { return calls_.size(); }

 private:
  bencode_value offer_or_answer(const ng_request& request, bool is_offer);
  bencode_value delete_call(const ng_request& request);
  bencode_value query(const ng_request& request) const;
  bencode_value list(const ng_request& request) const;
  bencode_value block_dtmf(const ng_request& request, bool block);
  void release_ports(call& c);

  network_address advertised_;
  port_allocator& ports_;
  std::int64_t now_ = 0;
  std::map<std::string, call, std::less<>> calls_;
};

}  // namespace toneguard::media
