// libFuzzer target: toneguard-detect's capture side after the link layer, fed datagrams carved
// from the input (each: 1 byte choosing one of four flows, 1 byte of capture-time step in ms,
// 2-byte length, then that many bytes): stream grouping, the RTP heuristic, ordering by
// sequence number, placement by timestamp, and the DTMF analysis with the leak scan.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "rtp_streams.h"

namespace {

using namespace toneguard;

media::flow_endpoint endpoint(std::uint8_t host, std::uint16_t port) {
  media::flow_endpoint e;
  e.address = {10, 0, 0, host};
  e.port = port;
  return e;
}

bool finite_non_negative(double ms) {
  return std::isfinite(ms) && ms >= 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tools::rtp_stream_collector collector;
  std::int64_t time_us = 0;
  std::size_t pos = 0;
  while (size - pos >= 4) {
    const std::uint8_t flow = data[pos] & 3;
    time_us += std::int64_t{data[pos + 1]} * 1000;
    const std::size_t length = std::size_t{data[pos + 2]} << 8 | data[pos + 3];
    pos += 4;
    if (length > size - pos) break;
    collector.add({endpoint(flow, static_cast<std::uint16_t>(4000 + flow)),
                   endpoint(9, 5000),
                   time_us,
                   {data + pos, length}});
    pos += length;
  }
  for (const auto& stream : collector.finish()) {
    if (stream.packets.size() < tools::rtp_stream_collector::min_packets) std::abort();
    for (std::size_t i = 0; i < stream.packets.size(); ++i) {
      const auto& p = stream.packets[i];
      if (i > 0 && stream.packets[i - 1].sequence >= p.sequence) std::abort();
      if (std::size_t{p.payload_offset} + p.payload_size > stream.payloads.size()) std::abort();
    }
    const auto found = tools::analyze_stream(stream, true);
    for (const auto& d : found.digits) {
      if (!finite_non_negative(d.start_ms) || !std::isfinite(d.end_ms)) std::abort();
    }
    for (const auto& l : found.leaks) {
      if (!std::isfinite(l.at_ms)) std::abort();
    }
  }
  return 0;
}
