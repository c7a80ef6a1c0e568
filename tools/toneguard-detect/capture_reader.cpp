#include "capture_reader.h"

#include <pcap/pcap.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <memory>

namespace toneguard::tools {
namespace {

struct pcap_closer {
  void operator()(pcap_t* p) const noexcept { pcap_close(p); }
};
using pcap_handle = std::unique_ptr<pcap_t, pcap_closer>;

std::string link_type_name(int link) {
  const char* name = pcap_datalink_val_to_name(link);
  return std::to_string(link) + (name != nullptr ? " (" + std::string(name) + ")" : "");
}

}  // namespace

capture_format sniff_capture_format(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<unsigned char, 4> magic{};
  if (!in.read(reinterpret_cast<char*>(magic.data()), magic.size())) return capture_format::none;
  const std::uint32_t big = std::uint32_t{magic[0]} << 24 | std::uint32_t{magic[1]} << 16 |
                            std::uint32_t{magic[2]} << 8 | magic[3];
  switch (big) {
    case 0xA1B2C3D4:  // microseconds, written big-endian
    case 0xD4C3B2A1:  // microseconds, little-endian
    case 0xA1B23C4D:  // nanoseconds, big-endian
    case 0x4D3CB2A1:  // nanoseconds, little-endian
      return capture_format::pcap;
    case 0x0A0D0D0A:  // pcapng section header block (the same in both byte orders)
      return capture_format::pcapng;
    default:
      return capture_format::none;
  }
}

capture_contents read_capture(const std::string& path) {
  capture_contents out;
  std::array<char, PCAP_ERRBUF_SIZE> errbuf{};
  pcap_handle pcap(pcap_open_offline(path.c_str(), errbuf.data()));
  if (!pcap) {
    out.error = "cannot read capture: " + std::string(errbuf.data());
    return out;
  }
  const int link = pcap_datalink(pcap.get());
  if (!media::link_type_supported(link)) {
    out.error = "unsupported link-layer type " + link_type_name(link) +
                " (Ethernet, Linux cooked SLL/SLL2, raw IP and BSD loopback are read)";
    return out;
  }

  rtp_stream_collector collector;
  for (;;) {
    pcap_pkthdr* header = nullptr;
    const std::uint8_t* data = nullptr;
    const int status = pcap_next_ex(pcap.get(), &header, &data);
    if (status == PCAP_ERROR_BREAK) break;  // end of file
    if (status != 1) {
      out.error = "truncated or corrupt capture after " + std::to_string(out.frames) +
                  " frames: " + pcap_geterr(pcap.get());
      break;
    }
    ++out.frames;
    const auto frame = media::dissect_packet({data, header->caplen}, link);
    if (!frame.ok()) continue;
    ++out.udp_datagrams;
    collector.add({frame.source, frame.destination,
                   std::int64_t{header->ts.tv_sec} * 1'000'000 + header->ts.tv_usec,
                   frame.payload});
  }
  out.streams = collector.finish();
  if (out.streams.empty() && out.error.empty()) {
    out.error = "no RTP stream found (" + std::to_string(out.frames) + " frames, " +
                std::to_string(out.udp_datagrams) + " UDP datagrams)";
  }
  return out;
}

}  // namespace toneguard::tools
