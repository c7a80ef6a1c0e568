#include "toneguard/media/caller_stream.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "toneguard/dsp/g711.h"
#include "toneguard/media/rtp.h"

namespace toneguard::media {
namespace {

constexpr std::size_t rtp_header_bytes = 12;
constexpr std::size_t max_ptime_samples = 480;  // 60 ms at 8 kHz

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
      masker_(config.masker),
      keys_(sink, call_id_, leg::caller),
      masking_(config.masking),
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
      config.event_payload_type == config.audio_payload_type) {
    throw std::invalid_argument(
        "caller_stream_config.event_payload_type must be -1 or 0-127 and differ from the audio's");
  }
}

void caller_stream::set_masking(bool on) noexcept {
  if (masking_ && !on) masker_.release();
  if (!on) event_key_on_ = false;
  masking_ = on;
}

std::int64_t caller_stream::stream_ms(std::uint32_t timestamp) const noexcept {
  return static_cast<std::int32_t>(timestamp - base_ts_) / 8;
}

void caller_stream::on_in_band(const dsp::dtmf_event& event) noexcept {
  if (masking_) masker_.on_dtmf(event);
  auto ms = [this](std::int64_t sample) {
    return stream_ms(static_cast<std::uint32_t>(sample + sample_to_ts_));
  };
  if (event.what == dsp::dtmf_event::kind::digit_start) {
    keys_.key_started(event.key, digit_source::in_band, ms(event.onset_sample));
  } else if (event.what == dsp::dtmf_event::kind::digit_end) {
    keys_.key_ended(event.key, digit_source::in_band, ms(event.end_sample));
  }
}

void caller_stream::on_telephone_event(const telephone_event_report& report) noexcept {
  if (!report.key) return;  // flash and other events are not keys
  const std::int64_t at = masker_.position();
  if (report.kind == telephone_event_kind::key_start) {
    keys_.key_started(*report.key, digit_source::telephone_event,
                      stream_ms(report.start_timestamp));
    if (masking_ && !event_key_on_) {
      masker_.on_dtmf({dsp::dtmf_event::kind::digit_start, *report.key, at, -1, at});
      event_key_on_ = true;
    }
  } else {
    keys_.key_ended(*report.key, digit_source::telephone_event,
                    stream_ms(report.start_timestamp + report.duration));
    if (event_key_on_) {
      masker_.on_dtmf({dsp::dtmf_event::kind::digit_end, *report.key, at, at, at});
      event_key_on_ = false;
    }
  }
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
  in_band_events listener(*this);
  std::uint8_t masked[160];

  if (packet.payload_type == config_.audio_payload_type) {
    ++stats_.audio_packets;
    for (const auto& report : events_.advance(packet.timestamp)) on_telephone_event(report);
    sample_to_ts_ = static_cast<std::int64_t>(packet.timestamp) - receiver_.position();
    const std::span<std::uint8_t> payload =
        buffer.subspan(packet.header_length, packet.payload.size());
    for (std::size_t done = 0; done < payload.size(); done += sizeof masked) {
      const auto piece = payload.subspan(done, std::min(sizeof masked, payload.size() - done));
      receiver_.process_g711(piece, config_.alaw, listener);
      masker_.process_g711(piece, std::span(masked, piece.size()), config_.alaw);
      std::memcpy(piece.data(), masked, piece.size());
    }
    have_audio_ = true;
    last_audio_seq_ = packet.sequence;
    last_audio_ts_ = packet.timestamp + static_cast<std::uint32_t>(payload.size());
    return caller_packet::forward;
  }

  if (config_.event_payload_type >= 0 && packet.payload_type == config_.event_payload_type) {
    ++stats_.event_packets;
    for (const auto& report :
         events_.feed(packet.sequence, packet.timestamp, packet.marker, packet.payload)) {
      on_telephone_event(report);
    }
    if (!masking_) return caller_packet::forward;
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
    const std::uint8_t silence =
        dsp::g711_encode(config_.alaw ? dsp::g711_law::alaw : dsp::g711_law::ulaw, std::int16_t{0});
    const std::uint32_t ssrc = packet.ssrc;
    const std::uint16_t sequence = packet.sequence;
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
    last_audio_seq_ = sequence;
    last_audio_ts_ = ts + static_cast<std::uint32_t>(ptime_samples_);
    ++stats_.events_replaced;
    return caller_packet::forward;
  }

  ++stats_.other_packets;
  return caller_packet::forward;
}

}  // namespace toneguard::media
