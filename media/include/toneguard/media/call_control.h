#pragma once
/// The call control logic behind the ng protocol, as a pure library piece (no sockets, no
/// clock): calls keyed by call-id, each with two legs (caller = the offer's from-tag, agent =
/// the answer's to-tag), ports from a port_allocator, and SDP rewritten so that media flows
/// through toneguard. Semantics follow rtpengine: the offer's reply SDP goes to the callee (so
/// it advertises the agent-facing port), the answer's reply SDP goes to the caller.
///
/// Scope: one RTP audio stream per call (the first m= section with an RTP proto and media
/// "audio"); any other m= sections are rejected in the rewritten SDP (port set to 0, RFC 3264).
/// SDES a=crypto lines are recorded and passed through unchanged.
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

/// What one side of the call announced in its SDP and the ports toneguard uses toward it.
struct call_leg {
  /// The side's SIP tag (from-tag for the caller, to-tag for the agent); empty until known.
  std::string tag;

  /// The port pair toneguard receives this side's media on (RTP; RTCP is +1 unless
  /// `remote_rtcp_mux`), advertised in the SDP sent to this side; nullopt until allocated.
  std::optional<std::uint16_t> local_rtp_port;

  /// True once this side's SDP was seen (the fields below are valid).
  bool has_remote = false;
  /// This side's media address (its c=).
  network_address remote_address;
  /// This side's RTP port (its m= port; 0 when it rejected or put the stream on hold that
  /// way).
  std::uint16_t remote_rtp_port = 0;
  /// This side's RTCP port: a=rtcp when given, else RTP + 1; equal to RTP with rtcp-mux.
  std::uint16_t remote_rtcp_port = 0;
  /// True when this side offered or accepted a=rtcp-mux.
  bool remote_rtcp_mux = false;
  /// The m= proto, e.g. "RTP/AVP", "RTP/SAVP".
  std::string proto;
  /// Every payload type of the m= line, in order.
  std::vector<std::uint8_t> payload_types;
  /// The G.711 payload types (PCMU/PCMA), in m= order.
  std::vector<g711_payload> g711;
  /// The first telephone-event/8000 payload type, if any.
  std::optional<std::uint8_t> telephone_event_pt;
  /// a=ptime in ms, when given.
  std::optional<std::uint32_t> ptime_ms;
  /// The SDES a=crypto lines, in order (empty for plain RTP).
  std::vector<sdp_crypto> crypto;
};

/// DTMF masking state of a call, as set by `block DTMF` / `unblock DTMF`.
struct dtmf_masking {
  /// True while DTMF is blocked.
  bool blocked = false;
  /// The leg whose DTMF is blocked (from-tag of the request; the caller by default).
  leg from = leg::caller;
  /// The `DTMF-security` mode of the last `block DTMF` (silence when not given).
  ng_dtmf_security mode = ng_dtmf_security::silence;
  /// The `delay-buffer` of the last `block DTMF` in ms; nullopt: the daemon's default.
  std::optional<std::int64_t> delay_buffer_ms;
};

/// One call: both legs and its DTMF masking state. Owned by call_control.
struct call {
  /// The SIP Call-ID.
  std::string call_id;
  /// The time passed to call_control::set_time() when the offer created the call.
  std::int64_t created = 0;
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
/// Replies (rtpengine's keys and error wording):
/// - offer/answer: `result: ok`, `sdp`: the rewritten SDP. Errors: "No SDP body in message",
///   "No call-id in message", "No from-tag in message", "No to-tag in message" (answer),
///   "Failed to parse SDP: <reason>", "Unknown call-id" (answer without offer), "Unknown
///   from-tag", "no free ports".
/// - delete: `result: ok`; "Unknown call-id". The whole call is removed (tags, when given,
///   must belong to it).
/// - query: `result: ok`, `created` (int), `DTMF blocked` (0/1), `DTMF-security` (mode name),
///   `delay-buffer` (when set), `tags`: a dictionary keyed by each known tag holding `tag`,
///   `leg` ("caller"/"agent"), `local port` and, once its SDP was seen, `remote address` and
///   `remote port`.
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

  /// Sets the time recorded as `created` for calls created from now on (e.g. Unix seconds);
  /// the daemon calls it before handle(). No clock is read here.
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
