#include "toneguard/media/telephone_event.h"

namespace toneguard::media {
namespace {

// Serial-number "a is before b" (RFC 1982 style) for 32- and 16-bit counters.
bool ts_before(std::uint32_t a, std::uint32_t b) noexcept {
  return static_cast<std::int32_t>(a - b) < 0;
}
bool seq_before(std::uint16_t a, std::uint16_t b) noexcept {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(a - b)) < 0;
}

}  // namespace

std::optional<telephone_event_payload> parse_telephone_event(
    std::span<const std::uint8_t> payload) noexcept {
  if (payload.size() < 4) return std::nullopt;
  telephone_event_payload p;
  p.event = payload[0];
  p.end = (payload[1] & 0x80) != 0;
  p.reserved = (payload[1] & 0x40) != 0;
  p.volume = payload[1] & 0x3F;
  p.duration = static_cast<std::uint16_t>((payload[2] << 8) | payload[3]);
  return p;
}

std::optional<char> dtmf_key_of(std::uint8_t event) noexcept {
  static constexpr char keys[] = "0123456789*#ABCD";
  if (event < 16) return keys[event];
  return std::nullopt;
}

telephone_event_report telephone_event_receiver::make_report(
    telephone_event_kind kind) const noexcept {
  telephone_event_report r;
  r.kind = kind;
  r.event = event_;
  r.key = dtmf_key_of(event_);
  r.volume = volume_;
  r.start_timestamp = start_ts_;
  r.duration = (segment_ts_ - start_ts_) + segment_duration_;
  r.start_sequence = start_seq_;
  r.start_seen = start_seen_;
  return r;
}

void telephone_event_receiver::end_current(telephone_event_reports& out,
                                           bool synthesized) noexcept {
  auto r = make_report(telephone_event_kind::key_end);
  r.end_synthesized = synthesized;
  out.push(r);
  active_ = false;
  have_ended_ = true;
  ended_ts_ = segment_ts_;
}

telephone_event_reports telephone_event_receiver::feed(
    std::uint16_t sequence, std::uint32_t timestamp, bool marker,
    std::span<const std::uint8_t> payload) noexcept {
  telephone_event_reports out;
  ++stats_.packets;
  const auto parsed = parse_telephone_event(payload);
  if (!parsed) {
    ++stats_.malformed;
    return out;
  }
  const telephone_event_payload& p = *parsed;

  const bool seq_is_old = have_last_ && seq_before(sequence, highest_seq_);
  if (!have_last_ || seq_before(highest_seq_, sequence)) highest_seq_ = sequence;
  have_last_ = true;

  // Rule 2: an update of the current segment.
  if (active_ && timestamp == segment_ts_) {
    if (p.event == event_) {
      if (p.duration > segment_duration_) {
        segment_duration_ = p.duration;
      } else if (!p.end) {
        ++stats_.duplicates;
      }
      volume_ = p.volume;
      if (p.end) end_current(out, false);
      return out;
    }
    // A different code on the same timestamp: falls through to rule 6.
  } else {
    // Rule 3: repeats of the end that was already reported.
    if (!active_ && have_ended_ && timestamp == ended_ts_) {
      ++stats_.duplicates;
      return out;
    }
    // Rule 4: a late packet of an earlier event.
    const bool have_reference = active_ || have_ended_;
    const std::uint32_t reference = active_ ? segment_ts_ : ended_ts_;
    if (have_reference && ts_before(timestamp, reference) && seq_is_old) {
      ++stats_.stale;
      return out;
    }
    // Rule 5: the next segment of a long event.
    if (active_ && p.event == event_ && !marker && !ts_before(timestamp, segment_ts_)) {
      const std::uint32_t gap = timestamp - segment_ts_;
      if (gap >= segment_duration_ && gap <= 0xFFFF) {
        ++stats_.segments;
        segment_ts_ = timestamp;
        segment_duration_ = p.duration;
        volume_ = p.volume;
        if (p.end) end_current(out, false);
        return out;
      }
    }
  }

  // Rule 6: a new event.
  if (active_) end_current(out, true);
  active_ = true;
  event_ = p.event;
  volume_ = p.volume;
  start_ts_ = timestamp;
  segment_ts_ = timestamp;
  segment_duration_ = p.duration;
  start_seq_ = sequence;
  start_seen_ = marker;
  out.push(make_report(telephone_event_kind::key_start));
  if (p.end) end_current(out, false);
  return out;
}

telephone_event_reports telephone_event_receiver::advance(std::uint32_t now) noexcept {
  telephone_event_reports out;
  if (!active_) return out;
  const std::uint32_t last = segment_ts_ + segment_duration_;
  if (ts_before(last, now) && now - last > config_.end_gap) end_current(out, true);
  return out;
}

void telephone_event_receiver::reset() noexcept {
  const auto stats = stats_;
  *this = telephone_event_receiver(config_);
  stats_ = stats;
}

}  // namespace toneguard::media
