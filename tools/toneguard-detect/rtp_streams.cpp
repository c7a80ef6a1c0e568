#include "rtp_streams.h"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "toneguard/dsp/dtmf_leak_scan.h"
#include "toneguard/dsp/dtmf_receiver.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/media/rtp.h"
#include "toneguard/media/telephone_event.h"

namespace toneguard::tools {
namespace {

constexpr std::uint8_t pt_pcmu = 0;
constexpr std::uint8_t pt_pcma = 8;
constexpr std::int64_t samples_per_ms = 8;
constexpr std::int64_t samples_per_second = 8000;
// A timestamp step more than this much beyond the capture time that passed (or further back
// than one long-event segment) is a discontinuity: the sender restarted its clock.
constexpr std::int64_t timestamp_slack = 10 * samples_per_second;
constexpr std::int64_t max_backward_step = 0x10000 + samples_per_second;
// A discontinuity continues the stream by the capture time, at most this much.
constexpr std::int64_t max_discontinuity_gap = 3600 * samples_per_second;
// Longest silence fed for a gap: enough for the receiver to end a key and for no leak window
// to span it; longer gaps are skipped in the stream's time map instead.
constexpr std::int64_t max_gap_fill = 200 * samples_per_ms;
constexpr std::size_t receiver_frame = 160;  // 20 ms, as RTP delivers it

bool consistent_step(std::uint16_t from, std::uint16_t to) noexcept {
  const auto step = static_cast<std::int16_t>(static_cast<std::uint16_t>(to - from));
  return step >= -50 && step <= 100;
}

// The telephone-event payload type of a stream: a dynamic type (96–127) whose every packet
// has the 4-byte RFC 4733 payload. Dynamic audio codecs (Opus, AMR, ...) send larger frames.
std::optional<std::uint8_t> find_telephone_event_pt(const rtp_stream& s) {
  std::array<std::uint32_t, 32> count{};
  std::array<bool, 32> other_size{};
  for (const auto& p : s.packets) {
    if (p.payload_type < 96) continue;
    const std::size_t i = p.payload_type - 96u;
    ++count[i];
    other_size[i] = other_size[i] || p.payload_size != 4;
  }
  std::optional<std::uint8_t> best;
  std::uint32_t best_count = 0;
  for (std::size_t i = 0; i < count.size(); ++i) {
    if (count[i] > best_count && !other_size[i]) {
      best = static_cast<std::uint8_t>(96 + i);
      best_count = count[i];
    }
  }
  return best;
}

bool passes_heuristic(const rtp_stream& s) {
  if (s.packets.size() < rtp_stream_collector::min_packets) return false;
  std::size_t consistent = 0;
  for (std::size_t i = 1; i < s.packets.size(); ++i) {
    consistent += consistent_step(s.packets[i - 1].raw_sequence, s.packets[i].raw_sequence);
  }
  if (4 * consistent < 3 * (s.packets.size() - 1)) return false;
  if (s.telephone_event_pt) return true;
  return std::any_of(s.packets.begin(), s.packets.end(), [](const rtp_stream_packet& p) {
    return (p.payload_type == pt_pcmu || p.payload_type == pt_pcma) && p.payload_size > 0;
  });
}

// Capture order -> sequence order with extended sequence numbers and stream times.
void order_packets(rtp_stream& s) {
  auto& packets = s.packets;
  std::int64_t extended = packets.front().raw_sequence;
  for (std::size_t i = 1; i < packets.size(); ++i) {
    extended += static_cast<std::int16_t>(
        static_cast<std::uint16_t>(packets[i].raw_sequence - packets[i - 1].raw_sequence));
    packets[i].sequence = extended;
  }
  packets.front().sequence = packets.front().raw_sequence;
  std::stable_sort(packets.begin(), packets.end(),
                   [](const auto& a, const auto& b) { return a.sequence < b.sequence; });
  packets.erase(std::unique(packets.begin(), packets.end(),
                            [](const auto& a, const auto& b) { return a.sequence == b.sequence; }),
                packets.end());

  packets.front().stream_time = 0;
  for (std::size_t i = 1; i < packets.size(); ++i) {
    const auto& before = packets[i - 1];
    auto& p = packets[i];
    const std::int64_t step =
        static_cast<std::int32_t>(static_cast<std::uint32_t>(p.timestamp - before.timestamp));
    const std::int64_t elapsed = std::clamp<std::int64_t>(
        (p.capture_time_us - before.capture_time_us) / 1000 * samples_per_ms, 0,
        max_discontinuity_gap);
    const bool discontinuity = step < -max_backward_step || step > elapsed + timestamp_slack;
    p.stream_time = before.stream_time + (discontinuity ? elapsed : step);
  }
  // Time 0 is the earliest RTP time in the stream (a late first packet, or an event that began
  // before the first packet sent, can lie before the first packet in sequence order).
  const auto earliest =
      std::min_element(packets.begin(), packets.end(), [](const auto& a, const auto& b) {
        return a.stream_time < b.stream_time;
      })->stream_time;
  for (auto& p : packets) p.stream_time -= earliest;
}

// A stream's audio as fed to the receiver and the leak scan: packets appended in stream time,
// gaps filled with up to `max_gap_fill` samples of silence, overlaps dropped; anchors map
// positions in `audio` back to stream time.
class audio_timeline {
 public:
  void append(std::int64_t stream_time, std::span<const std::uint8_t> codes, dsp::g711_law law) {
    if (codes.empty()) return;
    if (audio_.empty()) {
      anchors_.push_back({0, stream_time});
    } else {
      std::int64_t gap = stream_time - end_;
      if (gap < 0) {
        // Overlaps what is already there (a late or repeated packet): keep the new part only.
        if (-gap >= static_cast<std::int64_t>(codes.size())) return;
        codes = codes.subspan(static_cast<std::size_t>(-gap));
        stream_time = end_;
        gap = 0;
      }
      const std::int64_t fill = std::min({gap, max_gap_fill, fill_budget_});
      audio_.resize(audio_.size() + static_cast<std::size_t>(fill), 0.0f);
      fill_budget_ -= fill;
      if (fill < gap) anchors_.push_back({static_cast<std::int64_t>(audio_.size()), stream_time});
    }
    // Silence may grow only as much as audio arrives, so a capture of tiny packets with huge
    // timestamp gaps cannot make the timeline large.
    fill_budget_ += static_cast<std::int64_t>(codes.size());
    const std::size_t at = audio_.size();
    audio_.resize(at + codes.size());
    dsp::g711_decode(law, codes, std::span<float>(audio_).subspan(at));
    end_ = stream_time + static_cast<std::int64_t>(codes.size());
  }

  [[nodiscard]] const std::vector<float>& audio() const noexcept { return audio_; }

  /// Stream time in ms of a position in `audio` (positions past the end extrapolate).
  [[nodiscard]] double stream_ms(std::int64_t position) const noexcept {
    if (anchors_.empty()) return 0;
    auto it = std::upper_bound(anchors_.begin(), anchors_.end(), position,
                               [](std::int64_t p, const anchor& a) { return p < a.position; });
    if (it != anchors_.begin()) --it;
    // An onset estimated before the first sample fed is the stream's start.
    return static_cast<double>(
               std::max<std::int64_t>(it->stream_time + (position - it->position), 0)) /
           static_cast<double>(samples_per_ms);
  }

 private:
  struct anchor {
    std::int64_t position;
    std::int64_t stream_time;
  };
  std::vector<float> audio_;
  std::vector<anchor> anchors_;
  std::int64_t end_ = 0;
  std::int64_t fill_budget_ = max_gap_fill;
};

class in_band_collector : public dsp::dtmf_listener {
 public:
  explicit in_band_collector(const audio_timeline& timeline) : timeline_(timeline) {}
  void on_dtmf(const dsp::dtmf_event& e) override {
    if (e.what == dsp::dtmf_event::kind::digit_start) {
      const double onset = timeline_.stream_ms(e.onset_sample);
      digits.push_back(
          {e.key, dtmf_source::in_band, onset, onset, timeline_.stream_ms(e.at_sample)});
    } else if (e.what == dsp::dtmf_event::kind::digit_end && !digits.empty()) {
      digits.back().end_ms = timeline_.stream_ms(e.end_sample);
    }
  }
  std::vector<stream_digit> digits;

 private:
  const audio_timeline& timeline_;
};

double ms_of(std::int64_t stream_time) {
  return static_cast<double>(std::max<std::int64_t>(stream_time, 0)) /
         static_cast<double>(samples_per_ms);
}

// The RFC 4733 events of a stream, each with its stream time.
struct timed_event {
  std::optional<char> key;
  std::uint8_t event = 0;
  std::int64_t start = 0;     // stream time
  std::int64_t detected = 0;  // stream time
  std::int64_t duration = 0;  // samples; -1 until the end is reported
};

std::vector<timed_event> telephone_events(const rtp_stream& s) {
  std::vector<timed_event> events;
  if (!s.telephone_event_pt) return events;
  media::telephone_event_receiver receiver;
  // A report's timestamps are RTP time; `reference` is the packet just given to the receiver.
  auto take = [&](const media::telephone_event_reports& reports, const rtp_stream_packet& reference,
                  std::int64_t first_duration) {
    for (const auto& r : reports) {
      const std::int64_t start =
          reference.stream_time + static_cast<std::int32_t>(static_cast<std::uint32_t>(
                                      r.start_timestamp - reference.timestamp));
      if (r.kind == media::telephone_event_kind::key_start) {
        events.push_back({r.key, r.event, start, start + first_duration, -1});
      } else if (!events.empty()) {
        events.back().duration = r.duration;
      }
    }
  };
  for (const auto& p : s.packets) {
    if (s.kind_of(p) == payload_kind::telephone_event) {
      const auto payload = s.payload(p);
      const auto parsed = media::parse_telephone_event(payload);
      take(receiver.feed(p.raw_sequence, p.timestamp, p.marker, payload), p,
           parsed ? parsed->duration : 0);
    } else {
      take(receiver.advance(p.timestamp), p, 0);
    }
  }
  // An event still on when the capture ends: its last duration is its length.
  const auto& last = s.packets.back();
  const std::uint32_t later = last.timestamp + 0x10000u + 2 * samples_per_second;
  take(receiver.advance(later), last, 0);
  for (auto& e : events) e.duration = std::max<std::int64_t>(e.duration, 0);
  return events;
}

}  // namespace

std::string rtp_stream::name() const {
  return source.to_string() + "->" + destination.to_string();
}

payload_kind rtp_stream::kind_of(const rtp_stream_packet& p) const noexcept {
  if (p.payload_type == pt_pcmu) return payload_kind::pcmu;
  if (p.payload_type == pt_pcma) return payload_kind::pcma;
  if (telephone_event_pt && p.payload_type == *telephone_event_pt) {
    return payload_kind::telephone_event;
  }
  return payload_kind::other;
}

std::span<const std::uint8_t> rtp_stream::payload(const rtp_stream_packet& p) const noexcept {
  return std::span<const std::uint8_t>(payloads).subspan(p.payload_offset, p.payload_size);
}

void rtp_stream_collector::add(const udp_datagram& d) {
  ++datagrams_;
  if (media::classify_muxed(d.payload) != media::mux_kind::rtp) return;
  const auto parsed = media::parse_rtp(d.payload);
  if (!parsed.ok()) return;
  const auto& v = parsed.view;
  const stream_key key{d.source, d.destination, v.ssrc};
  auto [it, inserted] = index_.try_emplace(key, streams_.size());
  if (inserted) {
    auto& s = streams_.emplace_back();
    s.source = d.source;
    s.destination = d.destination;
    s.ssrc = v.ssrc;
  }
  auto& s = streams_[it->second];
  // Offsets are 32-bit: a stream stops growing at 4 GiB of payload.
  if (s.payloads.size() + v.payload.size() > std::numeric_limits<std::uint32_t>::max()) return;
  rtp_stream_packet p;
  p.capture_time_us = d.capture_time_us;
  p.timestamp = v.timestamp;
  p.raw_sequence = v.sequence;
  p.payload_type = v.payload_type;
  p.marker = v.marker;
  p.payload_offset = static_cast<std::uint32_t>(s.payloads.size());
  p.payload_size = static_cast<std::uint32_t>(v.payload.size());
  s.packets.push_back(p);
  s.payloads.insert(s.payloads.end(), v.payload.begin(), v.payload.end());
}

std::vector<rtp_stream> rtp_stream_collector::finish() {
  std::vector<rtp_stream> found;
  for (auto& s : streams_) {
    s.telephone_event_pt = find_telephone_event_pt(s);
    if (!passes_heuristic(s)) continue;
    order_packets(s);
    // Repeated sequence numbers count once.
    if (s.packets.size() < min_packets) continue;
    found.push_back(std::move(s));
  }
  streams_.clear();
  index_.clear();
  return found;
}

stream_findings analyze_stream(const rtp_stream& stream, bool scan_leaks) {
  stream_findings out;
  if (stream.packets.empty()) return out;
  audio_timeline timeline;
  for (const auto& p : stream.packets) {
    const auto kind = stream.kind_of(p);
    if (kind == payload_kind::pcmu || kind == payload_kind::pcma) {
      timeline.append(p.stream_time, stream.payload(p),
                      kind == payload_kind::pcmu ? dsp::g711_law::ulaw : dsp::g711_law::alaw);
    }
  }

  const auto& audio = timeline.audio();
  dsp::dtmf_receiver receiver;
  in_band_collector in_band(timeline);
  for (std::size_t i = 0; i < audio.size(); i += receiver_frame) {
    receiver.process(
        std::span<const float>(audio).subspan(i, std::min(receiver_frame, audio.size() - i)),
        in_band);
  }
  receiver.flush(in_band);
  out.digits = std::move(in_band.digits);

  const auto events = telephone_events(stream);
  out.has_telephone_events = stream.telephone_event_pt.has_value();
  for (const auto& e : events) {
    if (e.key) {
      out.digits.push_back({*e.key, dtmf_source::rfc4733, ms_of(e.start),
                            ms_of(e.start + e.duration), ms_of(e.detected)});
    }
  }
  std::stable_sort(out.digits.begin(), out.digits.end(),
                   [](const auto& a, const auto& b) { return a.start_ms < b.start_ms; });

  if (scan_leaks) {
    for (const auto& leak : dsp::scan_for_dtmf_leaks(audio)) {
      stream_leak l;
      l.at_ms = timeline.stream_ms(leak.position);
      l.key = leak.key;
      l.row_level_dbm0 = leak.row_level_dbm0;
      l.column_level_dbm0 = leak.column_level_dbm0;
      out.leaks.push_back(l);
    }
    for (const auto& e : events) {
      stream_leak l;
      l.source = dtmf_source::rfc4733;
      l.at_ms = ms_of(e.start);
      l.key = e.key;
      l.event = e.event;
      l.duration_ms = static_cast<double>(e.duration) / static_cast<double>(samples_per_ms);
      out.leaks.push_back(l);
    }
    std::stable_sort(out.leaks.begin(), out.leaks.end(),
                     [](const auto& a, const auto& b) { return a.at_ms < b.at_ms; });
  }
  return out;
}

}  // namespace toneguard::tools
