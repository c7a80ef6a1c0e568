#pragma once
// relay_worker's per-pair state, shared by its two backends (relay_worker.cpp: epoll and the
// common parts; relay_worker_uring.cpp: io_uring). Internal to the media library.

#include <cstdint>
#include <optional>

#include "toneguard/media/relay_worker.h"

namespace toneguard::media {

struct relay_worker::side {
  int fd = -1;
  std::uint16_t port = 0;
  std::optional<udp_endpoint> remote;       // where this side's peer is
  std::optional<udp_endpoint> rtcp_remote;  // RTCP to it, when it does not multiplex
  bool latch = true;                        // not yet latched, and allowed to
  bool strict_source = false;
  packet_filter* filter = nullptr;  // packets this side sends
  std::int64_t last_received_ms = -1;
  int fixed = -1;  // io_uring: the socket's index in the ring's registered files; -1: none
};

struct relay_worker::pair {
  side caller, agent;
  std::int64_t created_ms = 0;
  std::uint32_t generation = 0;  // io_uring: tags this pair's receives
};

}  // namespace toneguard::media
