#pragma once
/// One media worker: UDP sockets of the call legs it owns, relayed in batches (recvmmsg /
/// sendmmsg) from an epoll loop. A call's two legs form a pair: what the caller sends to the
/// caller-facing socket goes out of the agent-facing socket to the agent, through the call's
/// caller_stream (key detection and masking); what the agent sends goes back to the caller
/// untouched. Each side's remote address is given (trust-address) or latched from the first
/// packet that arrives on that side (symmetric RTP).
///
/// Linux only (epoll, recvmmsg). One thread owns a worker: it adds and removes pairs and
/// calls poll_once(); no locks, no allocation per packet.

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "toneguard/media/caller_stream.h"
#include "toneguard/media/result.h"

namespace toneguard::media {

/// An IPv4 or IPv6 UDP address.
struct udp_endpoint {
  sockaddr_storage address{};
  socklen_t length = 0;

  /// From an address literal and a port; an error names a bad literal.
  [[nodiscard]] static result<udp_endpoint> from(std::string_view address, std::uint16_t port);
  [[nodiscard]] std::uint16_t port() const noexcept;
  [[nodiscard]] bool operator==(const udp_endpoint& other) const noexcept;
};

/// Counters of one worker (read by its thread).
struct relay_stats {
  std::uint64_t received = 0;       ///< datagrams received
  std::uint64_t forwarded = 0;      ///< datagrams sent on
  std::uint64_t no_remote = 0;      ///< dropped: the other side's address is not known yet
  std::uint64_t filtered = 0;       ///< dropped by the caller_stream (malformed)
  std::uint64_t send_failed = 0;    ///< sendmmsg refused them
  std::uint64_t receive_calls = 0;  ///< recvmmsg calls (datagrams per call = received / this)
};

class relay_worker {
 public:
  /// Datagrams read or written per system call, at most.
  static constexpr std::size_t batch = 32;

  /// Throws std::runtime_error when epoll cannot be created.
  relay_worker();
  ~relay_worker();
  relay_worker(const relay_worker&) = delete;
  relay_worker& operator=(const relay_worker&) = delete;

  /// Binds the caller-facing and agent-facing sockets on `local_address` (ports as given; 0
  /// lets the kernel choose) and starts relaying between them. `filter` (may be null) sees
  /// every caller packet on its way to the agent and must outlive the pair. A remote given
  /// here is used as it is; otherwise the first packet from that side sets it. Returns the
  /// pair's id, or an error naming the address and port that could not be bound.
  [[nodiscard]] result<int> add_pair(std::string_view local_address, std::uint16_t caller_port,
                                     std::uint16_t agent_port, caller_stream* filter,
                                     std::optional<udp_endpoint> caller_remote = std::nullopt,
                                     std::optional<udp_endpoint> agent_remote = std::nullopt);

  /// Stops relaying a pair and closes its sockets.
  void remove_pair(int id) noexcept;

  /// The ports a pair's sockets are bound to (useful when they were chosen by the kernel).
  [[nodiscard]] std::optional<std::pair<std::uint16_t, std::uint16_t>> ports(int id) const noexcept;

  /// Waits up to `timeout_ms` for datagrams and relays every one that has arrived. Returns
  /// the datagrams forwarded.
  std::size_t poll_once(int timeout_ms) noexcept;

  [[nodiscard]] const relay_stats& stats() const noexcept { return stats_; }

 private:
  struct side;
  struct pair;
  void relay_from(pair& p, bool from_caller) noexcept;

  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<pair>> pairs_;  // slot = id; null when removed
  relay_stats stats_;
  // Batch buffers, reused for every call.
  std::array<std::array<std::uint8_t, 1500>, batch> buffers_{};
};

}  // namespace toneguard::media
