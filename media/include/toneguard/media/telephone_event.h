#pragma once
/// RFC 4733 telephone-events: the 4-byte payload, and a per-stream receiver that turns the
/// packets of one RTP stream into key starts and key ends. Packet path: nothing here
/// allocates or throws.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace toneguard::media {

/// One RFC 4733 §2.3 event payload, host order.
struct telephone_event_payload {
  std::uint8_t event = 0;      ///< event code (0–15 are DTMF keys, 16 is flash, …)
  bool end = false;            ///< E bit: this report ends the event
  bool reserved = false;       ///< R bit (senders set it to 0; receivers ignore it)
  std::uint8_t volume = 0;     ///< power level, 0 to -63 dBm0 as 0–63
  std::uint16_t duration = 0;  ///< duration so far, RTP timestamp units from the segment start
};

/// Parses the first 4 bytes of `payload`; nullopt when fewer than 4 bytes are given.
[[nodiscard]] std::optional<telephone_event_payload> parse_telephone_event(
    std::span<const std::uint8_t> payload) noexcept;

/// The key of a DTMF event code: 0–9 → '0'–'9', 10 → '*', 11 → '#', 12–15 → 'A'–'D';
/// nullopt for every other code (16 flash, tones of RFC 4734, …).
[[nodiscard]] std::optional<char> dtmf_key_of(std::uint8_t event) noexcept;

/// What the receiver reports.
enum class telephone_event_kind : std::uint8_t {
  key_start,  ///< a new event began (its first packet seen, marker or not)
  key_end     ///< the event ended (E bit seen, or the end was synthesized)
};

/// One report from `telephone_event_receiver`; a value type, no ownership.
struct telephone_event_report {
  telephone_event_kind kind = telephone_event_kind::key_start;  ///< start or end
  std::uint8_t event = 0;                                       ///< event code
  std::optional<char> key;            ///< the DTMF key, or nullopt when the code is not a key
  std::uint8_t volume = 0;            ///< volume of the last packet seen (0–63, -dBm0)
  std::uint32_t start_timestamp = 0;  ///< RTP timestamp of the event's first segment
  std::uint32_t duration = 0;  ///< samples (timestamp units) from the start to the last report
                               ///< seen; across segments it may exceed 0xFFFF
  std::uint16_t start_sequence = 0;  ///< sequence number of the first packet seen of the event
  bool start_seen = false;       ///< the first packet seen carried the marker bit (false: the start
                                 ///< was lost, or the sender does not set it)
  bool end_synthesized = false;  ///< key_end only: no E packet was seen; the end was inferred
                                 ///< from a new event or from silence (`advance`)
};

/// Up to three reports produced by one call (end of the previous event, start of a new one,
/// and its end when its first packet seen already carries E). Fixed capacity, no allocation.
class telephone_event_reports {
 public:
  /// Number of reports (0–3).
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// True when nothing was reported.
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  /// Report `i`, in the order they happened; requires i < size().
  [[nodiscard]] const telephone_event_report& operator[](std::size_t i) const noexcept {
    return items_[i];
  }
  /// First report.
  [[nodiscard]] const telephone_event_report* begin() const noexcept { return items_.data(); }
  /// Past the last report.
  [[nodiscard]] const telephone_event_report* end() const noexcept { return items_.data() + size_; }
  /// Appends a report (ignored when full; the receiver never produces more than three).
  void push(const telephone_event_report& r) noexcept {
    if (size_ < items_.size()) items_[size_++] = r;
  }

 private:
  std::array<telephone_event_report, 3> items_{};
  std::size_t size_ = 0;
};

/// Counters of one receiver, for logs and metrics.
struct telephone_event_stats {
  std::uint64_t packets = 0;     ///< packets fed
  std::uint64_t malformed = 0;   ///< payload shorter than 4 bytes (ignored)
  std::uint64_t duplicates = 0;  ///< retransmitted updates and repeated end packets (ignored)
  std::uint64_t stale = 0;       ///< late packets of an earlier event (ignored)
  std::uint64_t segments = 0;    ///< long-event continuation segments (RFC 4733 §2.5.1.3)
};

/// Settings of a `telephone_event_receiver`.
struct telephone_event_receiver_config {
  /// An event with no packet for this many timestamp units past the end of its last reported
  /// duration is ended by `advance` (synthesized end). Default 4000 (500 ms at 8 kHz; senders
  /// send updates every 50 ms or so).
  std::uint32_t end_gap = 4000;
};

/// Turns the telephone-event packets of one RTP stream (one SSRC) into key starts and ends.
///
/// Rules, in the order they are applied to each packet (`feed`):
/// 1. A payload shorter than 4 bytes is ignored (counted as malformed).
/// 2. Same timestamp as the current event's segment: an update. The duration kept is the
///    largest seen, so duplicates and reordered updates with a smaller duration change nothing
///    (counted as duplicates). With the E bit, the event ends: one `key_end` with the final
///    duration. A different event code on the same timestamp ends the current event
///    (synthesized) and starts the new one.
/// 3. Same timestamp as the event that ended last: the repeated end packets (RFC 4733 sends
///    the end three times) or late updates; ignored (counted as duplicates), so an event ends
///    once.
/// 4. A timestamp before the current (or last ended) event's timestamp, on a packet whose
///    sequence number is also before the highest seen: a reordered packet of an earlier
///    event; ignored (counted as stale). If its sequence number is newer, the sender's
///    timestamps jumped back and the packet is treated as new (rule 6).
/// 5. A later timestamp with the same event code, no marker, while an event is on, starting no
///    earlier than the duration seen and at most 0xFFFF after the current segment: the next
///    segment of a long event (RFC 4733 §2.5.1.3). It continues the same key; the duration
///    counts from the first segment's timestamp. (Caveat: a re-press of the same key whose
///    three end packets and marker packet were all lost within 0xFFFF units reads as one key.)
/// 6. Anything else starts a new event: the event that is on, if any, ends first with a
///    synthesized `key_end`; then `key_start` (start_seen tells whether the marker was set: a
///    lost start still gives a start). If that first packet already carries E, `key_end`
///    follows at once.
///
/// `advance(now)` ends an event that has had no packet for `end_gap` units past the end of its
/// last duration (synthesized `key_end`). Pass the stream's current RTP time, e.g. the
/// timestamp of an audio packet of the same stream.
///
/// Timestamps and sequence numbers compare in serial (wrap-around) arithmetic. Call `reset`
/// when the SSRC changes. One instance per stream; not thread-safe (the stream's worker owns
/// it); never allocates.
class telephone_event_receiver {
 public:
  /// A receiver with the given settings.
  explicit telephone_event_receiver(telephone_event_receiver_config config = {}) noexcept
      : config_(config) {}

  /// Processes one telephone-event packet of this stream: its sequence number, RTP timestamp,
  /// marker bit and payload (without padding). Returns what happened (0–3 reports).
  [[nodiscard]] telephone_event_reports feed(std::uint16_t sequence, std::uint32_t timestamp,
                                             bool marker,
                                             std::span<const std::uint8_t> payload) noexcept;

  /// Tells the receiver the stream's current RTP time; ends an event that has gone silent for
  /// more than `end_gap` units (one synthesized `key_end`), otherwise reports nothing.
  [[nodiscard]] telephone_event_reports advance(std::uint32_t now) noexcept;

  /// Forgets all state (new SSRC); counters are kept. Reports nothing, even for an event that
  /// was on.
  void reset() noexcept;

  /// True while an event is on (started, not yet ended).
  [[nodiscard]] bool active() const noexcept { return active_; }

  /// Counters since construction.
  [[nodiscard]] const telephone_event_stats& stats() const noexcept { return stats_; }

 private:
  telephone_event_report make_report(telephone_event_kind kind) const noexcept;
  void end_current(telephone_event_reports& out, bool synthesized) noexcept;

  telephone_event_receiver_config config_;
  telephone_event_stats stats_;
  bool active_ = false;
  bool have_last_ = false;              // last_timestamp_/highest_sequence_ are meaningful
  std::uint8_t event_ = 0;              // current (or last) event code
  std::uint8_t volume_ = 0;             // volume of the last packet of the event
  std::uint32_t start_ts_ = 0;          // first segment's timestamp
  std::uint32_t segment_ts_ = 0;        // current segment's timestamp
  std::uint16_t segment_duration_ = 0;  // largest duration seen in the current segment
  std::uint16_t start_seq_ = 0;
  bool start_seen_ = false;
  bool have_ended_ = false;     // ended_ts_ is meaningful
  std::uint32_t ended_ts_ = 0;  // segment timestamp of the event that ended last
  std::uint16_t highest_seq_ = 0;
};

}  // namespace toneguard::media
