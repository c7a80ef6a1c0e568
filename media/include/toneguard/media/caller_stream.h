#pragma once
/// The caller-to-agent direction of one call, packet by packet: finds every key the caller
/// presses (in-band tones in G.711 audio and RFC 4733 telephone-events), reports each press
/// once to a digit_sink, and while masking is on takes every trace of the keys out of what
/// goes to the agent. Audio always goes out delayed by the masker's look-ahead, so that
/// switching masking on or off never bends the stream's timing. Telephone-event packets,
/// while masking is on, go out as audio packets of the masking kind, with the stream's
/// sequence numbers and with timestamps on the audio timeline (no gaps for the agent).
///
/// Sockets and SRTP are not here: packets come in after SRTP unprotect and go out before
/// SRTP protect. One owner thread (the call's worker); no allocation after construction.

#include <cstdint>
#include <span>
#include <string>

#include "toneguard/dsp/dtmf_masker.h"
#include "toneguard/dsp/dtmf_receiver.h"
#include "toneguard/media/digits.h"
#include "toneguard/media/telephone_event.h"

namespace toneguard::media {

struct caller_stream_config {
  std::uint8_t audio_payload_type = 0;  ///< the G.711 payload type (0 PCMU, 8 PCMA, or dynamic)
  bool alaw = false;                    ///< the audio is A-law (PCMA)
  int event_payload_type = 101;         ///< telephone-event/8000 payload type; -1 when none
  int ptime_ms = 20;                    ///< audio packet duration, ms
  bool masking = false;                 ///< mask toward the agent from the start
  dsp::dtmf_masker_config masker;       ///< look-ahead and masking kind
};

/// What a caller packet became.
enum class caller_packet : std::uint8_t {
  forward,  ///< send the (rewritten) packet to the agent
  drop,     ///< malformed or not this stream's: count, do not send
};

/// Counters of one stream (read by the owning thread).
struct caller_stream_stats {
  std::uint64_t audio_packets = 0;
  std::uint64_t event_packets = 0;
  std::uint64_t events_replaced = 0;  ///< telephone-event packets sent as audio
  std::uint64_t other_packets = 0;    ///< other payload types, relayed untouched
  std::uint64_t malformed = 0;        ///< dropped: not RTP, or a payload of the wrong size
};

class caller_stream {
 public:
  /// Throws std::invalid_argument naming the bad field. `receiver_settings` and `sink` must
  /// outlive the stream.
  caller_stream(const caller_stream_config& config,
                const dsp::dtmf_receiver_settings& receiver_settings, digit_sink& sink,
                std::string call_id);

  /// One packet from the caller, `length` bytes at the start of `buffer`, rewritten in place;
  /// `length` is updated (a replaced event packet grows to an audio packet, so `buffer` needs
  /// room for a 12-byte header plus one ptime of audio).
  caller_packet process(std::span<std::uint8_t> buffer, std::size_t& length) noexcept;

  /// Masking toward the agent on or off (ng `block DTMF` / `unblock DTMF`, the payment engine).
  void set_masking(bool on) noexcept;
  [[nodiscard]] bool masking() const noexcept { return masking_; }

  [[nodiscard]] const caller_stream_stats& stats() const noexcept { return stats_; }
  /// Samples of a key that reached the agent while masking was on (the requirement is 0).
  [[nodiscard]] std::int64_t leaked_samples() const noexcept { return masker_.leaked_samples(); }

 private:
  class in_band_events;
  void on_in_band(const dsp::dtmf_event& event) noexcept;
  void on_telephone_event(const telephone_event_report& report) noexcept;
  [[nodiscard]] std::int64_t stream_ms(std::uint32_t timestamp) const noexcept;

  caller_stream_config config_;
  std::string call_id_;
  dsp::dtmf_receiver receiver_;
  dsp::dtmf_masker masker_;
  telephone_event_receiver events_;
  key_merger keys_;
  caller_stream_stats stats_;
  bool masking_;
  std::size_t ptime_samples_;

  bool have_audio_ = false;  // last_audio_* are meaningful
  std::uint16_t last_audio_seq_ = 0;
  std::uint32_t last_audio_ts_ = 0;
  bool have_base_ = false;
  std::uint32_t base_ts_ = 0;      // the stream's first timestamp: stream time 0
  std::int64_t sample_to_ts_ = 0;  // audio sample position + this = RTP timestamp (no loss)
  bool event_key_on_ = false;      // a telephone-event key is on (masked as one span)
};

}  // namespace toneguard::media
