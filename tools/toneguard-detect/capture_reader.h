#pragma once
// toneguard-detect's capture files: pcap and pcapng read with libpcap, each frame dissected
// (media::dissect_packet) and its UDP datagrams grouped into RTP streams (rtp_streams.h).
// libpcap is linked into toneguard-detect only, never into the daemon.

#include <cstdint>
#include <string>
#include <vector>

#include "rtp_streams.h"

namespace toneguard::tools {

/// The container a file's first four bytes name.
enum class capture_format : std::uint8_t {
  none,    ///< not a capture (or unreadable): handled as WAV
  pcap,    ///< libpcap: a1b2c3d4 / a1b23c4d (ns) in either byte order
  pcapng,  ///< pcapng: a section header block, 0a0d0d0a
};

/// The format of the file at `path` by its magic bytes, never by its name; `none` when it
/// cannot be opened or is shorter than 4 bytes (the WAV reader then names the problem).
[[nodiscard]] capture_format sniff_capture_format(const std::string& path);

/// A capture's RTP streams, or why it could not be read.
struct capture_contents {
  std::vector<rtp_stream> streams;  ///< in the order of their first packet
  /// Empty when the whole file was read and held RTP; otherwise one line naming the problem
  /// (without the file name). When the file is truncated or corrupt after some packets,
  /// `streams` still holds what the packets before it gave.
  std::string error;
  std::uint64_t frames = 0;         ///< frames read
  std::uint64_t udp_datagrams = 0;  ///< whole UDP datagrams among them
};

/// Reads the capture at `path`: a file libpcap cannot open, a link-layer type
/// media::dissect_packet does not know, a truncated or corrupt record, or a file without any
/// RTP stream give `error`. Allocates; any thread (one file per call).
[[nodiscard]] capture_contents read_capture(const std::string& path);

}  // namespace toneguard::tools
