#pragma once
/// One direction of one call, packet by packet: finds every key in it (in-band tones in
/// G.711 audio and RFC 4733 telephone-events), reports each press once to a digit_sink, and
/// while masking is on takes every trace of the keys out of what goes on (toward the agent).
///
/// Four modes, from the configuration:
/// - **G.711** (`g711`, the default): audio always goes out delayed by the masker's
///   look-ahead, so that switching masking on or off never bends the stream's timing.
///   Telephone-event packets, while masking is on, go out as audio packets of the masking
///   kind, with the stream's sequence numbers and with timestamps on the audio timeline (no
///   gaps for the agent). Sequence numbers are kept 1:1.
/// - **No decodable audio** (`g711 = false`: G.722, Opus, G.729, ...): telephone-events are
///   found and reported; audio passes untouched and undelayed (in-band tones in it cannot be
///   found: there is no decoder). While masking is on, telephone-event packets are withheld
///   (nothing of the call's codec can be synthesized in their place) and the sequence numbers
///   of everything forwarded are renumbered so that the agent sees no gap.
/// - **Detect-only** (`detect_only`, e.g. the agent-to-caller direction): keys are found and
///   reported (as `config.from`), nothing is masked, delayed or renumbered, and every packet
///   passes bit-exact; `set_masking` is ignored. With G.711 or without.
///
/// Because the stream may renumber and resize packets, RTCP about it is translated here too:
/// `translate_rtcp_to_agent` for the sender's own reports, `translate_rtcp_to_caller` for the
/// receiver's reports about this stream.
///
/// Sockets and SRTP are not here: packets come in after SRTP/SRTCP unprotect and go out
/// before protect. One owner thread (the call's worker) calls everything; no allocation after
/// construction, and nothing on the packet path throws or locks.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "toneguard/dsp/dtmf_masker.h"
#include "toneguard/dsp/dtmf_receiver.h"
#include "toneguard/media/digits.h"
#include "toneguard/media/rtp.h"
#include "toneguard/media/telephone_event.h"

namespace toneguard::media {

/// How a stream is built; checked once by the constructor.
struct caller_stream_config {
  /// The G.711 payload type (0 PCMU, 8 PCMA, or dynamic). With `g711 = false`, the audio
  /// codec's payload type, used only to count packets: every other packet passes, and its
  /// timestamp is taken as the stream's RTP time.
  std::uint8_t audio_payload_type = 0;
  bool alaw = false;               ///< the audio is A-law (PCMA); G.711 only
  int event_payload_type = 101;    ///< telephone-event payload type; -1 when none
  int ptime_ms = 20;               ///< audio packet duration, ms (10-60, whole 10s); G.711 only
  bool masking = false;            ///< mask toward the agent from the start (not detect-only)
  dsp::dtmf_masker_config masker;  ///< look-ahead and masking kind; G.711 only
  /// The audio is G.711 (`audio_payload_type`, `alaw`), which the stream decodes to find
  /// in-band tones and masks in place. False: a codec toneguard cannot decode; only
  /// telephone-events are found and masked (see the class comment).
  bool g711 = true;
  /// RTP clock rate of the telephone-event payload type, Hz (its a=rtpmap rate). Audio
  /// timestamps must run on the same clock (RFC 4733 §2.1): they end an event whose packets
  /// stopped. Must be 8000 with G.711; 8000-96000 otherwise (e.g. 48000 with Opus).
  std::uint32_t clock_rate_hz = 8000;
  /// Find and report keys only: never mask, delay, renumber or rewrite anything, and ignore
  /// `masking` and `set_masking`. For the agent-to-caller direction.
  bool detect_only = false;
  /// Which side of the call sends this stream; keys are reported with it.
  leg from = leg::caller;
};

/// What a packet became.
enum class caller_packet : std::uint8_t {
  forward,  ///< send the (rewritten) packet on
  drop,     ///< do not send; the stream counts why: malformed, late (stats().late), or a key's
            ///< telephone-event packet withheld on purpose (stats().events_withheld)
};

/// Counters of one stream (read by the owning thread).
struct caller_stream_stats {
  std::uint64_t audio_packets = 0;
  std::uint64_t event_packets = 0;
  std::uint64_t events_replaced = 0;  ///< telephone-event packets sent as audio (G.711)
  /// Telephone-event packets not sent while masking: without G.711, or from a G.711 sender
  /// that keeps sending (masked) audio during its events.
  std::uint64_t events_withheld = 0;
  std::uint64_t other_packets = 0;  ///< other payload types, relayed untouched
  std::uint64_t malformed = 0;      ///< dropped: not RTP, or a payload of the wrong size
  /// Dropped: G.711 audio whose time has already gone out to the agent (reordered,
  /// duplicated), or a packet later than the renumbering remembers (over 64 withheld events
  /// late), which could not be given a sequence number that collides with nothing.
  std::uint64_t late = 0;
  /// Samples of silence put in for lost audio packets (keeps the audio one look-ahead behind
  /// its timestamps).
  std::uint64_t filled_samples = 0;
  std::uint64_t rtcp_rewritten = 0;  ///< RTCP datagrams changed by the translate functions
  std::uint64_t rtcp_malformed = 0;  ///< RTCP datagrams that failed compound validation
};

class caller_stream {
 public:
  /// Throws std::invalid_argument naming the bad field. `receiver_settings` and `sink` must
  /// outlive the stream.
  caller_stream(const caller_stream_config& config,
                const dsp::dtmf_receiver_settings& receiver_settings, digit_sink& sink,
                std::string call_id);

  /// One RTP packet of the stream, `length` bytes at the start of `buffer`, rewritten in
  /// place; `length` is updated (with G.711 a replaced event packet grows to an audio packet,
  /// so `buffer` needs room for a 12-byte header plus one ptime of audio; without G.711
  /// packets keep their size). Send the packet only on `forward`; `drop` is counted here.
  caller_packet process(std::span<std::uint8_t> buffer, std::size_t& length) noexcept;

  /// Translates an RTCP datagram the stream's sender sent (a compound packet, plain RTCP:
  /// after SRTCP unprotect), `length` bytes at the start of `packet`, in place and at the
  /// same length, before it goes to the receiver (the agent). Each SR from the stream's SSRC
  /// gets its sender packet and octet counts corrected by what this stream changed: minus
  /// the withheld event packets and their payload octets, plus the octets that replacement
  /// audio added. Everything else is left as it is; when nothing was withheld or replaced
  /// the bytes are untouched. Returns false when the datagram is not valid RTCP (it is left
  /// untouched and counted in stats().rtcp_malformed): drop it.
  [[nodiscard]] bool translate_rtcp_to_agent(std::span<std::uint8_t> packet,
                                             std::size_t length) noexcept;

  /// Translates an RTCP datagram from the stream's receiver (the agent), in place and at the
  /// same length, before it goes back to the sender (the caller). Report blocks (in SR and RR)
  /// about the stream's SSRC carry the receiver's view of the renumbered sequence; their
  /// extended highest sequence number is mapped back to the sender's numbering, and their
  /// cumulative lost loses the withheld packets the receiver saw as lost (late events that
  /// could not be renumbered). Everything else is left as it is; when the stream renumbered
  /// nothing (always with G.711 and detect-only) the bytes are untouched. Returns false when
  /// the datagram is not valid RTCP (left untouched, counted in stats().rtcp_malformed).
  [[nodiscard]] bool translate_rtcp_to_caller(std::span<std::uint8_t> packet,
                                              std::size_t length) noexcept;

  /// Masking toward the agent on or off (ng `block DTMF` / `unblock DTMF`, the payment
  /// engine). Switched on while a key is on, the rest of that key is masked (from what has
  /// not yet gone out). Switched off, in-band masking stops at once, but a telephone-event
  /// key already being masked stays masked (replaced or withheld) until it ends. Ignored in
  /// detect-only mode.
  void set_masking(bool on) noexcept;
  /// What replaces masked audio from now on (a later `block DTMF` with another kind); the
  /// look-ahead stays. G.711 only (nothing is synthesized otherwise).
  /// Changes the look-ahead toward the agent, ms (a later `block DTMF` with a delay-buffer):
  /// a longer one puts silence into the agent's audio for the difference, a shorter one skips
  /// that much of the delayed audio. Ignored in detect-only streams.
  void set_lookahead(int lookahead_ms) noexcept;
  void set_mask_mode(dsp::mask_mode mode) noexcept { masker_.set_mode(mode); }

  /// Masking is on (always false in detect-only mode).
  [[nodiscard]] bool masking() const noexcept { return masking_; }

  /// Counters since construction.
  [[nodiscard]] const caller_stream_stats& stats() const noexcept { return stats_; }
  /// Samples of a key that reached the agent while masking was on (the requirement is 0).
  [[nodiscard]] std::int64_t leaked_samples() const noexcept { return masker_.leaked_samples(); }
  /// Samples of audio masked toward the agent so far (8 kHz).
  [[nodiscard]] std::int64_t masked_samples() const noexcept { return masker_.masked_samples(); }

 private:
  class in_band_events;
  void on_in_band(const dsp::dtmf_event& event) noexcept;
  void on_telephone_event(const telephone_event_report& report) noexcept;
  void feed_events(const telephone_event_reports& reports) noexcept;
  void mask_open(std::int64_t onset) noexcept;
  void mask_close_if_all_off(std::int64_t end) noexcept;
  [[nodiscard]] bool any_key_on() const noexcept;
  [[nodiscard]] std::int64_t stream_ms(std::uint32_t timestamp) const noexcept;
  bool renumber(std::span<std::uint8_t> buffer, std::uint16_t seq) noexcept;
  // The compound packet, or nullopt (counted as malformed) when it is not valid RTCP.
  std::optional<rtcp_compound_view> checked_rtcp(std::span<const std::uint8_t> datagram) noexcept;
  caller_packet process_g711(std::span<std::uint8_t> buffer, std::size_t& length, bool newest,
                             const rtp_view& packet) noexcept;

  // Renumbering (no G.711, masking on): see caller_stream.cpp.
  void follow_ssrc(std::uint32_t ssrc) noexcept;
  [[nodiscard]] bool see_sequence(std::uint16_t seq) noexcept;
  void withhold_event(std::uint16_t seq, bool newest, std::size_t payload_octets) noexcept;
  [[nodiscard]] bool outgoing_sequence(std::uint16_t seq, std::uint16_t& out) const noexcept;
  [[nodiscard]] std::uint32_t sender_offset_of(std::uint16_t receiver_seq) const noexcept;

  caller_stream_config config_;
  std::string call_id_;
  dsp::dtmf_receiver receiver_;
  dsp::dtmf_masker masker_;
  telephone_event_receiver events_;
  key_merger keys_;
  caller_stream_stats stats_;
  bool masking_;
  std::size_t ptime_samples_;

  bool have_audio_ = false;              // last_audio_* are meaningful
  bool have_real_audio_ = false;         // real_audio_end_ts_ is meaningful
  std::uint32_t real_audio_end_ts_ = 0;  // end of the last audio packet the sender sent
  bool events_decided_ = false;          // decided_event_ts_ is meaningful
  std::uint32_t decided_event_ts_ = 0;   // the event audio_with_events_ was decided for
  bool audio_with_events_ = false;       // its sender sends audio during it: withhold it
  std::uint16_t last_audio_seq_ = 0;
  std::uint32_t last_audio_ts_ = 0;
  bool have_base_ = false;
  std::uint32_t base_ts_ = 0;      // the stream's first timestamp: stream time 0
  std::int64_t sample_to_ts_ = 0;  // audio sample position + this = RTP timestamp (no loss)

  // What is on, per source, whether or not masking is: the masked span stays open while
  // either source has a key on (the masker itself knows only one "digit on").
  bool in_band_digit_ = false;         // between the receiver's digit_start and digit_end
  bool in_band_suspicion_ = false;     // between tone_suspected and digit_start or tone_cleared
  std::int64_t in_band_onset_ = 0;     // onset of what is on in-band, stream samples
  bool event_key_on_ = false;          // a telephone-event key is on
  std::int64_t event_onset_ = 0;       // where it started, stream samples
  std::int64_t pending_end_ = -1;      // latest end of a source that ended while another is on
  bool event_masked_ = false;          // the event on is being replaced or withheld
  std::uint32_t masked_event_ts_ = 0;  // timestamp of the last event packet seen

  // Sequence renumbering state, for the current SSRC.
  static constexpr std::size_t remembered_drops = 64;
  bool have_ssrc_ = false;
  std::uint32_t ssrc_ = 0;
  bool have_highest_ = false;
  std::uint16_t highest_seq_ = 0;  // highest sequence number seen (sender's numbering)
  std::array<std::uint16_t, remembered_drops> drops_{};  // renumbered withheld seqs, oldest first
  std::size_t drop_count_ = 0;                           // entries in drops_
  std::uint32_t retired_drops_ = 0;    // withheld and renumbered, no longer in drops_
  std::uint16_t newest_retired_ = 0;   // the newest of those
  bool retired_out_of_reach_ = false;  // newest_retired_ is too old to compare with
  std::uint32_t gap_drops_ = 0;        // withheld but not renumbered: the receiver counts them lost
  std::uint32_t packets_removed_ = 0;  // SR correction: packets withheld
  std::uint32_t octets_added_ = 0;     // SR correction: payload octets added (mod 2^32)
};

}  // namespace toneguard::media
