#pragma once
/// rtpengine's ng control protocol, the subset toneguard speaks: request datagrams
/// (`<cookie> <bencode dictionary>`), the keys we use, replies, and the duplicate-cookie reply
/// cache. Parsing never throws on bad input; errors carry a kind for counters and a message
/// for the reply's `error-reason`.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "toneguard/media/bencode.h"
#include "toneguard/media/result.h"
#include "toneguard/media/sdp.h"

namespace toneguard::media {

/// The ng commands toneguard executes, spelled on the wire as rtpengine spells them
/// (case-sensitive): "ping", "offer", "answer", "delete", "query", "list", "block DTMF",
/// "unblock DTMF".
enum class ng_command { ping, offer, answer, delete_call, query, list, block_dtmf, unblock_dtmf };

/// The wire spelling of `command`, e.g. "block DTMF".
[[nodiscard]] std::string_view ng_command_name(ng_command command) noexcept;

/// The command spelled `name` exactly as rtpengine spells it, or nullopt.
[[nodiscard]] std::optional<ng_command> parse_ng_command(std::string_view name) noexcept;

/// Why a datagram was rejected, for counters (one counter per kind).
enum class ng_error_kind {
  malformed_datagram,  ///< no cookie, or no space after it
  malformed_bencode,   ///< the body is not valid bencode
  not_a_dictionary,    ///< the body is valid bencode but not a dictionary
  missing_command,     ///< no `command` key
  unknown_command,     ///< a `command` toneguard does not support
  bad_key_type,        ///< a key we use holds the wrong bencode type
  bad_key_value,       ///< a key we use holds a value out of its range or set
};

/// A short stable name for `kind`, e.g. "malformed_bencode" (for metric labels).
[[nodiscard]] std::string_view ng_error_kind_name(ng_error_kind kind) noexcept;

/// rtpengine's `DTMF-security` modes: what the far side gets while DTMF is blocked.
enum class ng_dtmf_security { drop, silence, tone, random, zero, dtmf, off };

/// The wire spelling of `mode`, e.g. "silence", "DTMF".
[[nodiscard]] std::string_view ng_dtmf_security_name(ng_dtmf_security mode) noexcept;

/// True when `a` and `b` name the same ng key or flag the way rtpengine spells them: ASCII case
/// ignored and '-', '_' and ' ' equal ("trust address" == "trust-address", "SIP_source_address"
/// == "sip-source-address", "block DTMF" == "block-dtmf"). rtpengine lists several of these
/// spellings per flag; toneguard accepts every one of them, and a few more.
[[nodiscard]] bool ng_name_equal(std::string_view a, std::string_view b) noexcept;

/// The RTP profiles toneguard speaks toward an endpoint, spelled as in SDP and in rtpengine's
/// `transport-protocol` key: "RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF" (SAVP: SDES-SRTP).
/// Returns the canonical spelling of `name` (case ignored), or nullopt for any other protocol.
[[nodiscard]] std::optional<std::string_view> ng_rtp_profile(std::string_view name) noexcept;

/// A parsed, validated ng request. Owns its data; a plain value (any thread may hold one).
///
/// parse_ng_request() checks the types (and, where stated, the values) of every key below, so
/// the accessors only report "absent". Keys are found by their exact name first, then by any
/// spelling ng_name_equal() accepts ("received from", "transport protocol", "DTMF security").
/// List-valued keys accept, as rtpengine does, either a bencode list of byte strings or one
/// byte string of comma-separated items ("origin,session-connection"). Flags and list items are
/// compared with ng_name_equal(). Unknown keys, flags and list items are kept and ignored, as
/// rtpengine ignores them.
struct ng_request {
  /// The cookie, copied from the datagram (the reply must echo it).
  std::string cookie;
  /// The command.
  ng_command command = ng_command::ping;
  /// The whole request dictionary, unknown keys included (always a dictionary).
  bencode_value body;

  /// `call-id`, or nullopt when absent. Views point into `body`: valid while it lives.
  [[nodiscard]] std::optional<std::string_view> call_id() const { return string_key("call-id"); }
  /// `from-tag`, or nullopt.
  [[nodiscard]] std::optional<std::string_view> from_tag() const { return string_key("from-tag"); }
  /// `to-tag`, or nullopt.
  [[nodiscard]] std::optional<std::string_view> to_tag() const { return string_key("to-tag"); }
  /// `via-branch`, or nullopt.
  [[nodiscard]] std::optional<std::string_view> via_branch() const {
    return string_key("via-branch");
  }
  /// `label` (a name for the leg of the from-tag, shown by query), or nullopt.
  [[nodiscard]] std::optional<std::string_view> label() const { return string_key("label"); }
  /// `record-call` ("yes", "no", "on", "off"), or nullopt. toneguard records nothing.
  [[nodiscard]] std::optional<std::string_view> record_call() const {
    return string_key("record-call");
  }
  /// `sdp`, the session description (bytes as sent), or nullopt.
  [[nodiscard]] std::optional<std::string_view> sdp() const { return string_key("sdp"); }
  /// `ICE` (e.g. "remove", "force"), or nullopt. toneguard does no ICE whatever it says.
  [[nodiscard]] std::optional<std::string_view> ice() const { return string_key("ICE"); }
  /// The RTP profile requested for the leg the SDP goes to, in its canonical spelling
  /// ("RTP/AVP", "RTP/AVPF", "RTP/SAVP" or "RTP/SAVPF"): the `transport-protocol` key when
  /// given (parse_ng_request accepts no other value), else the last item of `flags` that is one
  /// of those four (rtpengine takes them as flags too), else nullopt.
  [[nodiscard]] std::optional<std::string_view> transport_protocol() const;
  /// `received-from`: the address the SIP message came from, ["IP4"|"IP6", address]; checked by
  /// parse_ng_request (two items, a family and an address of that family). nullopt when absent.
  [[nodiscard]] std::optional<network_address> received_from() const;

  /// `flags` items in order (e.g. "trust-address", "symmetric"); empty when absent.
  [[nodiscard]] std::vector<std::string_view> flags() const { return list_key("flags"); }
  /// True when `flags` contains `flag` (compared with ng_name_equal).
  [[nodiscard]] bool has_flag(std::string_view flag) const;
  /// `replace` items (e.g. "origin", "session-connection"); empty when absent.
  [[nodiscard]] std::vector<std::string_view> replace() const { return list_key("replace"); }
  /// True when `replace` holds `what` or `flags` holds "replace-<what>" (e.g. "origin":
  /// "replace-origin"), compared with ng_name_equal.
  [[nodiscard]] bool replaces(std::string_view what) const;
  /// `direction` items (interface names, usually two); empty when absent.
  [[nodiscard]] std::vector<std::string_view> direction() const { return list_key("direction"); }
  /// `rtcp-mux` items (e.g. "offer", "demux", "accept"); empty when absent.
  [[nodiscard]] std::vector<std::string_view> rtcp_mux() const { return list_key("rtcp-mux"); }
  /// True when `rtcp-mux` holds `item` or `flags` holds "rtcp-mux-<item>" (ng_name_equal).
  [[nodiscard]] bool has_rtcp_mux(std::string_view item) const;

  /// False when the last of the flags "trust-address" and "SIP-source-address" is
  /// "SIP-source-address": the media address is then `received-from`. True otherwise
  /// (trust-address, the SDP's address, is rtpengine's default).
  [[nodiscard]] bool trust_address() const;
  /// True when the last of the flags "symmetric" and "asymmetric" is "asymmetric".
  [[nodiscard]] bool asymmetric() const;
  /// True with the flag "strict-source".
  [[nodiscard]] bool strict_source() const { return has_flag("strict-source"); }
  /// True with the flag "port-latching".
  [[nodiscard]] bool port_latching() const { return has_flag("port-latching"); }
  /// True with the flag "block-dtmf" (also spelled "block DTMF"): on offer/answer, DTMF is
  /// masked from the start of the call.
  [[nodiscard]] bool block_dtmf() const { return has_flag("block-dtmf"); }

  /// `DTMF-security`, or nullopt when absent.
  [[nodiscard]] std::optional<ng_dtmf_security> dtmf_security() const;
  /// `delay-buffer` in ms (bencode integer or decimal string, as rtpengine accepts both;
  /// 0 to ng_max_delay_buffer_ms), or nullopt when absent.
  [[nodiscard]] std::optional<std::int64_t> delay_buffer_ms() const;

  /// The value of `key` in the body, found as the class comment says, or nullptr.
  [[nodiscard]] const bencode_value* find_key(std::string_view key) const;
  /// The byte string at any `key` of the body, or nullopt when absent or not a string.
  [[nodiscard]] std::optional<std::string_view> string_key(std::string_view key) const;
  /// The items of a list-valued `key` (list of strings, or comma-separated string); empty when
  /// absent or of another type.
  [[nodiscard]] std::vector<std::string_view> list_key(std::string_view key) const;
};

/// Largest `delay-buffer` accepted, in ms; larger values are bad_key_value.
inline constexpr std::int64_t ng_max_delay_buffer_ms = 10'000;

/// Details of a rejected datagram, for the error reply and the counters.
struct ng_parse_failure {
  /// Why it was rejected.
  ng_error_kind kind = ng_error_kind::malformed_datagram;
  /// The cookie when one could be read (reply with an error under it), else empty (drop the
  /// datagram: there is nobody to answer). Points into the datagram passed in.
  std::string_view cookie;
};

/// Parses one ng request datagram: `<cookie> <bencode dictionary>`, the cookie a non-empty
/// run of non-space bytes followed by exactly one space. The dictionary must hold `command`
/// (a byte string naming a supported command); the types and values of the keys that
/// ng_request has accessors for are checked; other keys are kept and otherwise ignored.
///
/// On failure, returns the message (for `error-reason`) and, when `failure` is not nullptr,
/// fills it with the kind and the cookie.
[[nodiscard]] result<ng_request> parse_ng_request(std::string_view datagram,
                                                  ng_parse_failure* failure = nullptr);

/// `<cookie> <bencode of reply>`: the datagram answering a request with `cookie`.
[[nodiscard]] std::string encode_ng_reply(std::string_view cookie, const bencode_value& reply);

/// `{"result": "pong"}`, the reply to ping.
[[nodiscard]] bencode_value ng_pong_reply();

/// `{"result": "ok"}` followed by the entries of `extra` (e.g. "sdp"), in their order; an
/// entry named "result" in `extra` is skipped.
[[nodiscard]] bencode_value ng_ok_reply(const bencode_dictionary& extra = {});

/// `{"result": "error", "error-reason": reason}`, as rtpengine answers failures.
[[nodiscard]] bencode_value ng_error_reply(std::string_view reason);

/// rtpengine's duplicate-cookie cache: a retransmitted request (same cookie) gets the stored
/// reply and is not executed again.
///
/// Bounded by entry count and total bytes (cookies plus replies); entries expire after a time
/// to live (rtpengine keeps about 30 s). Time is passed in, never read here; pass a
/// non-decreasing `now`. Lookups and stores are O(1) amortized.
///
/// Not thread-safe: owned and used by the one control thread that answers ng requests.
class ng_reply_cache {
 public:
  /// The clock whose time points are passed in.
  using clock = std::chrono::steady_clock;

  /// A cache holding at most `max_entries` replies and `max_bytes` bytes (cookie plus reply
  /// sizes), each for `time_to_live`.
  explicit ng_reply_cache(std::size_t max_entries = 10'000, std::size_t max_bytes = 64u << 20,
                          std::chrono::milliseconds time_to_live = std::chrono::seconds(30));

  /// The reply stored for `cookie` if it has not expired at `now`; evicts expired entries.
  [[nodiscard]] std::optional<std::string> lookup(std::string_view cookie, clock::time_point now);

  /// Stores `reply` for `cookie` at `now` (replacing an earlier one), then evicts expired
  /// entries and the oldest ones while over a bound. A reply larger than the byte bound is not
  /// stored.
  void store(std::string_view cookie, std::string reply, clock::time_point now);

  /// Number of replies held (expired ones count until the next lookup or store).
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  /// Bytes held (cookies plus replies).
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

 private:
  struct entry {
    std::string cookie;
    std::string reply;
    clock::time_point stored_at;
  };
  void evict_expired(clock::time_point now);
  void erase(std::list<entry>::iterator it);

  std::size_t max_entries_;
  std::size_t max_bytes_;
  std::chrono::milliseconds time_to_live_;
  std::size_t bytes_ = 0;
  std::list<entry> entries_;                                                // oldest first
  std::unordered_map<std::string_view, std::list<entry>::iterator> index_;  // views into entries_
};

}  // namespace toneguard::media
