#pragma once
// toneguard-detect's captures: the RTP streams among a capture's UDP datagrams, and the DTMF
// each one carries (in-band keys in its G.711 audio, RFC 4733 telephone-events). No libpcap
// here (capture_reader.h reads the files), so that the fuzz target can feed bytes straight in.
// Allocates (it is a file tool, not the packet path), but never per datagram beyond amortized
// growth of its stores; never throws on bad input; one thread.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "toneguard/media/packet_dissect.h"

namespace toneguard::tools {

/// One UDP datagram of a capture, as `media::dissect_packet` found it.
struct udp_datagram {
  media::flow_endpoint source;            ///< sender
  media::flow_endpoint destination;       ///< receiver
  std::int64_t capture_time_us = 0;       ///< capture timestamp, µs since any fixed epoch
  std::span<const std::uint8_t> payload;  ///< UDP payload; read only during the call to `add`
};

/// One RTP packet of a stream; its payload is in the stream's `payloads` store.
struct rtp_stream_packet {
  std::int64_t sequence = 0;  ///< extended sequence number (wrap-around removed)
  /// Samples (8 kHz RTP clock) from the stream's earliest RTP time: the RTP timestamp with
  /// wrap-around removed; after a timestamp discontinuity (a jump far beyond the capture
  /// time that passed), it continues from the previous packet by the capture time instead.
  std::int64_t stream_time = 0;
  std::int64_t capture_time_us = 0;  ///< capture timestamp, µs
  std::uint32_t timestamp = 0;       ///< RTP timestamp as sent
  std::uint32_t payload_offset = 0;  ///< first byte of the payload in `rtp_stream::payloads`
  std::uint32_t payload_size = 0;    ///< payload bytes (padding removed)
  std::uint16_t raw_sequence = 0;    ///< RTP sequence number as sent
  std::uint8_t payload_type = 0;     ///< RTP payload type
  bool marker = false;               ///< M bit
};

/// What a packet of a stream carries.
enum class payload_kind : std::uint8_t {
  pcmu,             ///< G.711 μ-law (payload type 0)
  pcma,             ///< G.711 A-law (payload type 8)
  telephone_event,  ///< RFC 4733 (a dynamic payload type that looks like one; see `finish`)
  other,            ///< anything else (skipped)
};

/// One RTP stream: one direction of a UDP flow and one SSRC.
struct rtp_stream {
  media::flow_endpoint source;                     ///< sender
  media::flow_endpoint destination;                ///< receiver
  std::uint32_t ssrc = 0;                          ///< synchronization source
  std::vector<rtp_stream_packet> packets;          ///< by sequence number, duplicates dropped
  std::vector<std::uint8_t> payloads;              ///< the packets' payloads, back to back
  std::optional<std::uint8_t> telephone_event_pt;  ///< the payload type taken for RFC 4733

  /// "10.0.0.1:4000->10.0.0.2:5000".
  [[nodiscard]] std::string name() const;
  /// What `p` carries.
  [[nodiscard]] payload_kind kind_of(const rtp_stream_packet& p) const noexcept;
  /// The payload of `p` (a packet of this stream).
  [[nodiscard]] std::span<const std::uint8_t> payload(const rtp_stream_packet& p) const noexcept;
};

/// Groups a capture's UDP datagrams into RTP streams. Feed every datagram in capture order
/// with `add`, then take the streams with `finish`.
class rtp_stream_collector {
 public:
  /// Keeps `d` if it parses as RTP (version 2, a header that fits, not RTCP); other datagrams
  /// are only counted.
  void add(const udp_datagram& d);

  /// The streams that pass the RTP heuristic, in the order of their first packet: at least
  /// `min_packets` packets (distinct sequence numbers); at least 3 in 4 successive sequence
  /// numbers (capture order) within -50..+100 of the one before; and G.711 audio (payload
  /// type 0 or 8) or telephone-events (a payload type 96–127 whose every packet has a 4-byte
  /// payload). Packets are put in sequence order (wrap-around handled, duplicates dropped)
  /// and given their stream time. Leaves the collector empty.
  [[nodiscard]] std::vector<rtp_stream> finish();

  /// UDP datagrams given to `add`.
  [[nodiscard]] std::uint64_t datagrams() const noexcept { return datagrams_; }

  /// Fewest packets a stream needs.
  static constexpr std::size_t min_packets = 4;

 private:
  struct stream_key {
    media::flow_endpoint source;
    media::flow_endpoint destination;
    std::uint32_t ssrc = 0;
    friend auto operator<=>(const stream_key&, const stream_key&) = default;
  };
  std::map<stream_key, std::size_t> index_;
  std::vector<rtp_stream> streams_;
  std::uint64_t datagrams_ = 0;
};

/// Where a DTMF key was found in a stream.
enum class dtmf_source : std::uint8_t {
  in_band,  ///< tones in the G.711 audio
  rfc4733,  ///< a telephone-event
};

/// One key a stream carries. Times are ms of stream time (see `rtp_stream_packet`).
struct stream_digit {
  char key = '?';                             ///< '0'–'9', '*', '#', 'A'–'D'
  dtmf_source source = dtmf_source::in_band;  ///< how it was sent
  double start_ms = 0;     ///< onset (in-band: estimated; RFC 4733: the event's timestamp)
  double end_ms = 0;       ///< end (RFC 4733: start + the final duration)
  double detected_ms = 0;  ///< when the receiver committed; RFC 4733: the end of the first
                           ///< packet's duration (when the sender knew the key)
};

/// One DTMF fragment found by an audit of a stream (`--leak`). Times in ms of stream time.
struct stream_leak {
  dtmf_source source = dtmf_source::in_band;  ///< in-band fragment or telephone-event
  double at_ms = 0;                           ///< first window / the event's timestamp
  std::optional<char> key;      ///< the key; nullopt for a telephone-event that is not a key
  std::uint8_t event = 0;       ///< RFC 4733 only: the event code
  double duration_ms = 0;       ///< RFC 4733 only: the event's duration
  float row_level_dbm0 = 0;     ///< in-band only
  float column_level_dbm0 = 0;  ///< in-band only
};

/// What `analyze_stream` found.
struct stream_findings {
  std::vector<stream_digit> digits;   ///< by start time
  std::vector<stream_leak> leaks;     ///< by time; filled only when asked for
  bool has_telephone_events = false;  ///< the stream carries RFC 4733 packets
};

/// The DTMF in one stream: its G.711 audio placed by stream time (gaps as silence) through a
/// dtmf_receiver in 20 ms frames, and its telephone-events through a
/// media::telephone_event_receiver; with `scan_leaks`, also every in-band fragment
/// (dsp::scan_for_dtmf_leaks) and every telephone-event. Gaps are filled with at most 200 ms
/// of silence (times stay right), so a stream's memory stays near its audio's size.
[[nodiscard]] stream_findings analyze_stream(const rtp_stream& stream, bool scan_leaks);

}  // namespace toneguard::tools
