#include "toneguard/media/caller_stream.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "toneguard/dsp/g711.h"

namespace toneguard::media {
namespace {

constexpr std::size_t rtp_header_bytes = 12;
constexpr std::size_t max_ptime_samples = 480;  // 60 ms at 8 kHz
// A timestamp this far (samples) from where the audio is expected is a new timeline (the
// sender restarted or skipped), not loss or reordering: 1 s.
constexpr std::int32_t max_timeline_jump = 8000;
// Sequence numbers further apart than this are not compared: a remembered number that far
// behind the newest is retired, and a packet that far behind is taken as a restart.
constexpr std::uint16_t comparable_distance = 16384;

bool seq_after(std::uint16_t a, std::uint16_t b) noexcept {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(a - b)) > 0;
}

}  // namespace

// Forwards the in-band receiver's events to the stream (a listener cannot be the stream
// itself without exposing dsp's listener in media's public interface).
class caller_stream::in_band_events final : public dsp::dtmf_listener {
 public:
  explicit in_band_events(caller_stream& stream) : stream_(stream) {}
  void on_dtmf(const dsp::dtmf_event& event) override { stream_.on_in_band(event); }

 private:
  caller_stream& stream_;
};

caller_stream::caller_stream(const caller_stream_config& config,
                             const dsp::dtmf_receiver_settings& receiver_settings, digit_sink& sink,
                             std::string call_id)
    : config_(config),
      call_id_(std::move(call_id)),
      receiver_(receiver_settings),
      masker_([&] {
        dsp::dtmf_masker_config masker = config.masker;
        masker.g711_only = true;  // the stream masks codes, never linear samples
        return masker;
      }()),
      events_(telephone_event_receiver_config{
          // The receiver's default gap (500 ms) in this clock's units.
          static_cast<std::uint32_t>(std::uint64_t{4000} * config.clock_rate_hz / 8000)}),
      keys_(sink, call_id_, config.from),
      masking_(config.masking && !config.detect_only),
      ptime_samples_(static_cast<std::size_t>(config.ptime_ms) * 8) {
  if (config.ptime_ms < 10 || config.ptime_ms > 60 || config.ptime_ms % 10 != 0) {
    throw std::invalid_argument(
        "caller_stream_config.ptime_ms = " + std::to_string(config.ptime_ms) +
        ": must be 10, 20, 30, 40, 50 or 60 ms");
  }
  if (config.audio_payload_type > 127) {
    throw std::invalid_argument("caller_stream_config.audio_payload_type must be 0-127");
  }
  if (config.event_payload_type > 127 || config.event_payload_type < -1 ||
      (config.g711 && config.event_payload_type == config.audio_payload_type)) {
    throw std::invalid_argument(
        "caller_stream_config.event_payload_type must be -1 or 0-127 and differ from the audio's");
  }
  if (config.g711 ? config.clock_rate_hz != 8000
                  : config.clock_rate_hz < 8000 || config.clock_rate_hz > 96000) {
    throw std::invalid_argument(
        "caller_stream_config.clock_rate_hz = " + std::to_string(config.clock_rate_hz) +
        ": must be 8000 with G.711, 8000-96000 otherwise");
  }
}

// --- Keys and the masker ---------------------------------------------------------------------

bool caller_stream::any_key_on() const noexcept {
  return in_band_digit_ || in_band_suspicion_ || event_key_on_;
}

// The masker sees one merged source: every opening as a digit_start, and a digit_end only
// when neither source has anything on, at the later of their ends. Its own "digit on" flag
// would otherwise let the source that ends first close the span under the other one.
void caller_stream::mask_open(std::int64_t onset) noexcept {
  if (!masking_ || !config_.g711) return;
  masker_.on_dtmf({dsp::dtmf_event::kind::digit_start, '\0', onset, -1, masker_.position()});
}

void caller_stream::mask_close_if_all_off(std::int64_t end) noexcept {
  pending_end_ = std::max(pending_end_, end);
  if (any_key_on()) return;
  if (masking_ && config_.g711) {
    masker_.on_dtmf(
        {dsp::dtmf_event::kind::digit_end, '\0', pending_end_, pending_end_, masker_.position()});
  }
  pending_end_ = -1;
}

void caller_stream::set_masking(bool on) noexcept {
  if (config_.detect_only || on == masking_) return;
  if (!on) {
    masker_.release();
    masking_ = false;
    return;
  }
  masking_ = true;
  if (any_key_on()) {
    // What has already gone out is not ours to mask; the rest of the key is.
    std::int64_t onset = INT64_MAX;
    if (in_band_digit_ || in_band_suspicion_) onset = std::min(onset, in_band_onset_);
    if (event_key_on_) onset = std::min(onset, event_onset_);
    mask_open(std::max(onset, masker_.position() - masker_.lookahead_samples()));
  }
}

std::int64_t caller_stream::stream_ms(std::uint32_t timestamp) const noexcept {
  return std::int64_t{static_cast<std::int32_t>(timestamp - base_ts_)} * 1000 /
         config_.clock_rate_hz;
}

void caller_stream::on_in_band(const dsp::dtmf_event& event) noexcept {
  auto ms = [this](std::int64_t sample) {
    return stream_ms(static_cast<std::uint32_t>(sample + sample_to_ts_));
  };
  const bool was_on = in_band_digit_ || in_band_suspicion_;
  switch (event.what) {
    case dsp::dtmf_event::kind::tone_suspected:
    case dsp::dtmf_event::kind::digit_start: {
      in_band_onset_ = was_on ? std::min(in_band_onset_, event.onset_sample) : event.onset_sample;
      const bool digit = event.what == dsp::dtmf_event::kind::digit_start;
      // As the masker counts them: a suspicion that becomes a digit is that digit.
      in_band_digit_ = in_band_digit_ || digit;
      in_band_suspicion_ = !digit;
      mask_open(event.onset_sample);
      if (digit) keys_.key_started(event.key, digit_source::in_band, ms(event.onset_sample));
      break;
    }
    case dsp::dtmf_event::kind::digit_end:
      in_band_digit_ = false;
      keys_.key_ended(event.key, digit_source::in_band, ms(event.end_sample));
      mask_close_if_all_off(event.end_sample);
      break;
    case dsp::dtmf_event::kind::tone_cleared:
      in_band_suspicion_ = false;
      mask_close_if_all_off(event.end_sample);
      break;
  }
}

void caller_stream::on_telephone_event(const telephone_event_report& report) noexcept {
  if (!report.key) return;  // flash and other events are not keys
  const std::int64_t at = masker_.position();
  if (report.kind == telephone_event_kind::key_start) {
    keys_.key_started(*report.key, digit_source::telephone_event,
                      stream_ms(report.start_timestamp));
    if (!event_key_on_) {
      event_key_on_ = true;
      event_onset_ = at;
      mask_open(at);
    }
  } else {
    keys_.key_ended(*report.key, digit_source::telephone_event,
                    stream_ms(report.start_timestamp + report.duration));
    if (event_key_on_) {
      event_key_on_ = false;
      mask_close_if_all_off(at);
    }
  }
}

void caller_stream::feed_events(const telephone_event_reports& reports) noexcept {
  for (const auto& report : reports) on_telephone_event(report);
}

// --- Renumbering -------------------------------------------------------------------------------
//
// Without G.711, a withheld event packet leaves a hole in the sequence; every packet after it
// goes out with its number minus the holes before it. Holes are remembered by the sender's
// sequence number (the newest `remembered_drops`), so that a reordered packet still gets the
// number of its own place, and an agent's report can be mapped back. Only a withheld packet
// newer than everything seen can be taken out of the numbering; an older one (reordered) left
// its number behind already, and the agent sees it as lost (`gap_drops_`).

void caller_stream::follow_ssrc(std::uint32_t ssrc) noexcept {
  if (have_ssrc_ && ssrc == ssrc_) return;
  // A new source: the agent sees a new stream, numbered as the sender numbers it.
  have_ssrc_ = true;
  ssrc_ = ssrc;
  have_highest_ = false;
  drop_count_ = 0;
  retired_drops_ = 0;
  retired_out_of_reach_ = false;
  gap_drops_ = 0;
  packets_removed_ = 0;
  octets_added_ = 0;
  have_audio_ = false;
  have_real_audio_ = false;
  events_decided_ = false;
}

// Returns whether `seq` is newer than every number seen before (or starts a new numbering).
bool caller_stream::see_sequence(std::uint16_t seq) noexcept {
  if (!have_highest_) {
    have_highest_ = true;
    highest_seq_ = seq;
    return true;
  }
  const std::uint16_t behind = static_cast<std::uint16_t>(highest_seq_ - seq);
  if (seq_after(seq, highest_seq_)) {
    highest_seq_ = seq;
  } else if (behind < comparable_distance) {
    return false;  // reordered or duplicate: nothing moves
  } else {
    // Far behind: the sender restarted its numbering. The holes so far stay as one offset.
    retired_drops_ += static_cast<std::uint32_t>(drop_count_);
    drop_count_ = 0;
    retired_out_of_reach_ = true;
    highest_seq_ = seq;
    return true;
  }
  std::size_t old = 0;
  while (old < drop_count_ &&
         static_cast<std::uint16_t>(highest_seq_ - drops_[old]) >= comparable_distance) {
    newest_retired_ = drops_[old];
    retired_out_of_reach_ = false;
    ++retired_drops_;
    ++old;
  }
  if (old != 0) {
    std::copy(drops_.begin() + static_cast<std::ptrdiff_t>(old),
              drops_.begin() + static_cast<std::ptrdiff_t>(drop_count_), drops_.begin());
    drop_count_ -= old;
  }
  if (retired_drops_ != 0 && !retired_out_of_reach_ &&
      static_cast<std::uint16_t>(highest_seq_ - newest_retired_) >= comparable_distance) {
    retired_out_of_reach_ = true;
  }
  return true;
}

void caller_stream::withhold_event(std::uint16_t seq, bool newest,
                                   std::size_t payload_octets) noexcept {
  ++stats_.events_withheld;
  for (std::size_t i = 0; i < drop_count_; ++i) {
    if (drops_[i] == seq) return;  // a duplicate of a packet already withheld
  }
  if (newest) {
    if (drop_count_ == drops_.size()) {
      newest_retired_ = drops_[0];
      retired_out_of_reach_ = false;
      ++retired_drops_;
      std::copy(drops_.begin() + 1, drops_.end(), drops_.begin());
      --drop_count_;
    }
    drops_[drop_count_++] = seq;
  } else {
    ++gap_drops_;
  }
  ++packets_removed_;
  octets_added_ -= static_cast<std::uint32_t>(payload_octets);
}

bool caller_stream::outgoing_sequence(std::uint16_t seq, std::uint16_t& out) const noexcept {
  if (retired_drops_ != 0 && !retired_out_of_reach_ && !seq_after(seq, newest_retired_)) {
    return false;  // before holes no longer remembered: its place is unknown
  }
  std::uint32_t offset = retired_drops_;
  for (std::size_t i = 0; i < drop_count_; ++i) {
    if (drops_[i] == seq) return false;  // a withheld packet's number: taken by the next one
    if (seq_after(seq, drops_[i])) ++offset;
  }
  out = static_cast<std::uint16_t>(seq - offset);
  return true;
}

std::uint32_t caller_stream::sender_offset_of(std::uint16_t receiver_seq) const noexcept {
  // Between the k-th and (k+1)-th remembered holes, sender = receiver + retired + k.
  for (std::size_t k = drop_count_; k > 0; --k) {
    const std::uint32_t offset = retired_drops_ + static_cast<std::uint32_t>(k);
    if (seq_after(static_cast<std::uint16_t>(receiver_seq + offset), drops_[k - 1])) {
      return offset;
    }
  }
  return retired_drops_;
}

// --- RTCP ---------------------------------------------------------------------------------------

std::optional<rtcp_compound_view> caller_stream::checked_rtcp(
    std::span<const std::uint8_t> datagram) noexcept {
  const auto parsed = parse_rtcp_compound(datagram);
  if (!parsed.ok()) {
    ++stats_.rtcp_malformed;
    return std::nullopt;
  }
  return parsed.compound;
}

bool caller_stream::translate_rtcp_to_agent(std::span<std::uint8_t> packet,
                                            std::size_t length) noexcept {
  const auto datagram = packet.first(std::min(length, packet.size()));
  const auto compound = checked_rtcp(datagram);
  if (!compound) return false;
  if (!have_ssrc_ || (packets_removed_ == 0 && octets_added_ == 0)) return true;
  bool changed = false;
  for (const rtcp_packet_view p : *compound) {
    if (p.type != static_cast<std::uint8_t>(rtcp_type::sr) || p.sender_ssrc() != ssrc_) continue;
    const rtcp_sender_info info = p.sender_info();
    changed = set_rtcp_sender_counts(datagram, p.offset, info.packet_count - packets_removed_,
                                     info.octet_count + octets_added_) ||
              changed;
  }
  if (changed) ++stats_.rtcp_rewritten;
  return true;
}

bool caller_stream::translate_rtcp_to_caller(std::span<std::uint8_t> packet,
                                             std::size_t length) noexcept {
  const auto datagram = packet.first(std::min(length, packet.size()));
  const auto compound = checked_rtcp(datagram);
  if (!compound) return false;
  if (!have_ssrc_ || (retired_drops_ == 0 && drop_count_ == 0 && gap_drops_ == 0)) return true;
  bool changed = false;
  for (const rtcp_packet_view p : *compound) {
    for (std::size_t i = 0; i < p.report_block_count(); ++i) {
      const rtcp_report_block block = p.report_block(i);
      if (block.ssrc != ssrc_) continue;
      const std::uint32_t highest =
          block.extended_highest_seq +
          sender_offset_of(static_cast<std::uint16_t>(block.extended_highest_seq));
      const auto lost = static_cast<std::int32_t>(
          std::max<std::int64_t>(std::int64_t{block.cumulative_lost} - gap_drops_, -0x800000));
      if (highest == block.extended_highest_seq && lost == block.cumulative_lost) continue;
      changed = set_rtcp_report_block_reception(datagram, block.offset, lost, highest) || changed;
    }
  }
  if (changed) ++stats_.rtcp_rewritten;
  return true;
}

// --- Packets ------------------------------------------------------------------------------------

bool caller_stream::renumber(std::span<std::uint8_t> buffer, std::uint16_t seq) noexcept {
  std::uint16_t out = seq;
  if (!outgoing_sequence(seq, out)) {
    ++stats_.late;
    return false;
  }
  if (out != seq) (void)set_rtp_sequence(buffer, out);
  return true;
}

caller_packet caller_stream::process_g711(std::span<std::uint8_t> buffer, std::size_t& length,
                                          bool newest, const rtp_view& packet) noexcept {
  in_band_events listener(*this);
  std::uint8_t masked[160];
  const std::uint8_t silence =
      dsp::g711_encode(config_.alaw ? dsp::g711_law::alaw : dsp::g711_law::ulaw, std::int16_t{0});

  if (packet.payload_type == config_.audio_payload_type) {
    ++stats_.audio_packets;
    feed_events(events_.advance(packet.timestamp));
    const std::span<std::uint8_t> payload =
        buffer.subspan(packet.header_length, packet.payload.size());
    if (config_.detect_only) {
      sample_to_ts_ = static_cast<std::int64_t>(packet.timestamp) - receiver_.position();
      receiver_.process_g711(payload, config_.alaw, listener);
      return caller_packet::forward;
    }
    if (have_audio_) {
      const auto ahead = static_cast<std::int32_t>(packet.timestamp - last_audio_ts_);
      if (ahead < 0 && ahead > -max_timeline_jump) {
        // Its time has gone out already (reordered, duplicated, or covered by an event
        // packet sent as audio): the masker's timeline cannot go back.
        ++stats_.late;
        return caller_packet::drop;
      }
      if (ahead > 0 && ahead <= max_timeline_jump) {
        // Lost packets: their time goes through as silence, so that every packet's audio
        // stays exactly one look-ahead behind its timestamp.
        std::uint8_t quiet[sizeof masked];
        std::fill(std::begin(quiet), std::end(quiet), silence);
        for (std::int32_t done = 0; done < ahead; done += static_cast<std::int32_t>(sizeof quiet)) {
          const auto n =
              static_cast<std::size_t>(std::min<std::int32_t>(sizeof quiet, ahead - done));
          receiver_.process_g711(std::span(quiet, n), config_.alaw, listener);
          masker_.process_g711(std::span(quiet, n), std::span(masked, n), config_.alaw);
        }
        stats_.filled_samples += static_cast<std::uint64_t>(ahead);
      }
    }
    if (!renumber(buffer, packet.sequence)) return caller_packet::drop;
    sample_to_ts_ = static_cast<std::int64_t>(packet.timestamp) - receiver_.position();
    for (std::size_t done = 0; done < payload.size(); done += sizeof masked) {
      const auto piece = payload.subspan(done, std::min(sizeof masked, payload.size() - done));
      receiver_.process_g711(piece, config_.alaw, listener);
      masker_.process_g711(piece, std::span(masked, piece.size()), config_.alaw);
      std::memcpy(piece.data(), masked, piece.size());
    }
    have_audio_ = true;
    last_audio_seq_ = packet.sequence;
    last_audio_ts_ = packet.timestamp + static_cast<std::uint32_t>(payload.size());
    have_real_audio_ = true;
    real_audio_end_ts_ = last_audio_ts_;
    return caller_packet::forward;
  }

  if (config_.event_payload_type >= 0 && packet.payload_type == config_.event_payload_type) {
    ++stats_.event_packets;
    const bool was_active = events_.active();
    const std::uint64_t repeats_before = events_.stats().duplicates;
    feed_events(events_.feed(packet.sequence, packet.timestamp, packet.marker, packet.payload));
    const bool repeat = events_.stats().duplicates != repeats_before;
    if (config_.detect_only) return caller_packet::forward;
    // A key masked so far stays masked to its end, even if masking went off meanwhile: its
    // later packets would name it.
    const bool mask =
        masking_ || (event_masked_ && (was_active || packet.timestamp == masked_event_ts_));
    event_masked_ = mask;
    masked_event_ts_ = packet.timestamp;
    if (!mask)
      return renumber(buffer, packet.sequence) ? caller_packet::forward : caller_packet::drop;
    if (repeat) {
      // A retransmitted update or a repeated end carries no new time: replaced by audio it
      // would push the audio timeline ahead of the sender's (and the real audio after the key
      // would then be dropped as late), so it is withheld and the sequence closes up behind it.
      withhold_event(packet.sequence, newest, packet.payload.size());
      return caller_packet::drop;
    }
    if (!events_decided_ || packet.timestamp != decided_event_ts_) {
      // Decided once per event (its packets share its start timestamp): when the event
      // starts before the end of the audio already received, the sender sends audio during
      // its events. That audio is masked already, so the event's packets are withheld and
      // the sequence closes up behind them; otherwise they stand in for the missing audio.
      events_decided_ = true;
      decided_event_ts_ = packet.timestamp;
      audio_with_events_ =
          have_real_audio_ && static_cast<std::int32_t>(packet.timestamp - real_audio_end_ts_) < 0;
    }
    if (audio_with_events_) {
      withhold_event(packet.sequence, newest, packet.payload.size());
      return caller_packet::drop;
    }
    if (!renumber(buffer, packet.sequence)) return caller_packet::drop;
    if (buffer.size() < rtp_header_bytes + ptime_samples_ || ptime_samples_ > max_ptime_samples) {
      ++stats_.malformed;
      return caller_packet::drop;
    }
    // One ptime of audio in its place, on the audio timeline: the masker's delayed output
    // over silence, masked while the key is on.
    const std::uint32_t ts =
        have_audio_ ? last_audio_ts_ +
                          static_cast<std::uint32_t>(
                              static_cast<std::uint16_t>(packet.sequence - last_audio_seq_ - 1) *
                              ptime_samples_)
                    : packet.timestamp;
    const std::uint32_t ssrc = packet.ssrc;
    std::uint16_t sequence = packet.sequence;
    (void)outgoing_sequence(packet.sequence, sequence);
    octets_added_ += static_cast<std::uint32_t>(ptime_samples_ - packet.payload.size());
    buffer[0] = 0x80;  // version 2; no padding, extension or CSRCs
    buffer[1] = config_.audio_payload_type;
    buffer[2] = static_cast<std::uint8_t>(sequence >> 8);
    buffer[3] = static_cast<std::uint8_t>(sequence);
    for (int i = 0; i < 4; ++i) {
      buffer[4 + i] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
      buffer[8 + i] = static_cast<std::uint8_t>(ssrc >> (24 - 8 * i));
    }
    std::uint8_t quiet[sizeof masked];
    std::fill(std::begin(quiet), std::end(quiet), silence);
    for (std::size_t done = 0; done < ptime_samples_; done += sizeof masked) {
      const std::size_t n = std::min(sizeof masked, ptime_samples_ - done);
      receiver_.process_g711(std::span(quiet, n), config_.alaw, listener);
      masker_.process_g711(std::span(quiet, n), buffer.subspan(rtp_header_bytes + done, n),
                           config_.alaw);
    }
    length = rtp_header_bytes + ptime_samples_;
    have_audio_ = true;
    last_audio_seq_ = packet.sequence;
    last_audio_ts_ = ts + static_cast<std::uint32_t>(ptime_samples_);
    ++stats_.events_replaced;
    return caller_packet::forward;
  }

  ++stats_.other_packets;
  if (config_.detect_only) return caller_packet::forward;
  return renumber(buffer, packet.sequence) ? caller_packet::forward : caller_packet::drop;
}

caller_packet caller_stream::process(std::span<std::uint8_t> buffer, std::size_t& length) noexcept {
  const auto parsed = parse_rtp(buffer.first(std::min(length, buffer.size())));
  if (!parsed.ok()) {
    ++stats_.malformed;
    return caller_packet::drop;
  }
  const rtp_view& packet = parsed.view;
  if (!have_base_) {
    base_ts_ = packet.timestamp;
    have_base_ = true;
  }
  follow_ssrc(packet.ssrc);
  const bool newest = see_sequence(packet.sequence);
  if (config_.g711) return process_g711(buffer, length, newest, packet);

  // No decodable audio: only telephone-events are followed.
  const bool renumber = !config_.detect_only;
  if (config_.event_payload_type >= 0 && packet.payload_type == config_.event_payload_type) {
    ++stats_.event_packets;
    const bool was_active = events_.active();
    feed_events(events_.feed(packet.sequence, packet.timestamp, packet.marker, packet.payload));
    if (renumber) {
      const bool withhold =
          masking_ || (event_masked_ && (was_active || packet.timestamp == masked_event_ts_));
      event_masked_ = withhold;
      masked_event_ts_ = packet.timestamp;
      if (withhold) {
        withhold_event(packet.sequence, newest, packet.payload.size());
        return caller_packet::drop;
      }
    }
  } else {
    ++(packet.payload_type == config_.audio_payload_type ? stats_.audio_packets
                                                         : stats_.other_packets);
    // RFC 4733 §2.1: the events run on the audio's clock.
    feed_events(events_.advance(packet.timestamp));
  }
  if (!renumber) return caller_packet::forward;
  std::uint16_t sequence = packet.sequence;
  if (!outgoing_sequence(packet.sequence, sequence)) {
    ++stats_.late;
    return caller_packet::drop;
  }
  if (sequence != packet.sequence) (void)set_rtp_sequence(buffer, sequence);
  return caller_packet::forward;
}

void caller_stream::set_lookahead(int lookahead_ms) noexcept {
  if (!config_.detect_only) masker_.set_lookahead(lookahead_ms);
}

}  // namespace toneguard::media
