#pragma once
/// One media worker: UDP sockets of the call legs it owns, relayed in batches. With io_uring
/// (the default where the kernel allows it) every socket has a multishot receive into a ring of
/// provided buffers, and one wait collects the datagrams of all sockets and another system call
/// sends all of them: a few system calls per batch, not two per datagram. With epoll (the
/// fallback) each ready socket is drained with recvmmsg and relayed with sendmmsg. A call's two
/// legs form a pair: what the caller sends to the caller-facing socket goes out of the agent-facing
/// socket to the agent, and back, each way through that side's packet_filter (SRTP, key detection
/// and masking, RTCP translation). Each side's remote address comes from signalling and/or is
/// latched from the first packet that side sends (symmetric RTP); strict source drops packets from
/// anywhere else.
///
/// Linux only (io_uring, epoll, recvmmsg). One thread owns a worker: it adds and removes pairs
/// and calls poll_once() and send(); no locks, no allocation per packet. The worker may be
/// constructed on another thread; its ring starts on the owner's first call.

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "toneguard/media/result.h"

struct io_uring_cqe;  // liburing, used only by relay_worker_uring.cpp

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

/// What one direction of a pair does to each packet on its way: SRTP, key detection and
/// masking, RTCP translation. Called on the worker's thread; must not allocate or block.
class packet_filter {
 public:
  /// One packet, `length` bytes at the start of `buffer` (whose size is the room there is),
  /// rewritten in place; `length` is updated. Returns false to drop it (the filter counts why).
  virtual bool filter(std::span<std::uint8_t> buffer, std::size_t& length) noexcept = 0;

 protected:
  ~packet_filter() = default;
};

/// How one side of a pair is set up.
struct relay_side {
  /// Local port to bind (0: the kernel chooses), when `fd` is not given.
  std::uint16_t port = 0;
  /// A socket already bound (e.g. from bound_port_allocator::take since the offer), which the
  /// worker adopts: add_pair owns and closes it from then on, also when it fails. Datagrams
  /// waiting in it are dropped as stale. -1: bind `port`.
  int fd = -1;
  /// Where this side's peer is, from signalling (its SDP or the SIP source); nullopt: unknown
  /// until it sends.
  std::optional<udp_endpoint> remote;
  /// Symmetric RTP: the source of the first packet this side sends becomes its remote (once),
  /// so media reaches endpoints behind NAT. False ("asymmetric"): `remote` is kept.
  bool latch = true;
  /// Where RTCP that arrives multiplexed on the other side's RTP socket goes, when this side
  /// does not multiplex (rtcp-mux on one leg only); nullopt: with the RTP.
  std::optional<udp_endpoint> rtcp_remote;
  /// Drops packets whose source is not the remote (once the remote is known), e.g. from a
  /// third party spraying the port.
  bool strict_source = false;
  /// Sees every packet this side sends, before it goes to the other side; may be null (relay
  /// as it is). Must outlive the pair.
  packet_filter* filter = nullptr;
};

/// How a worker waits for datagrams and moves them.
enum class relay_backend {
  automatic,  ///< io_uring when the kernel offers what it needs (6.1+), else epoll
  io_uring,   ///< io_uring or nothing: the constructor throws when it cannot be set up
  epoll,      ///< epoll, recvmmsg and sendmmsg per socket
};

/// The backend's name as `--io-backend` spells it: "auto", "io_uring", "epoll".
[[nodiscard]] std::string_view backend_name(relay_backend backend) noexcept;

/// How long an io_uring worker lets datagrams gather once the first one is there, µs, so that
/// one wake-up serves many (kernel 6.12+; older kernels wake for each). Bounds the latency it
/// adds; 0: wake for every datagram.
inline constexpr int default_coalesce_us = 200;

/// Counters of one worker (read by its thread).
struct relay_stats {
  std::uint64_t received = 0;        ///< datagrams received
  std::uint64_t forwarded = 0;       ///< datagrams sent on
  std::uint64_t no_remote = 0;       ///< dropped: the other side's address is not known yet
  std::uint64_t wrong_source = 0;    ///< dropped: strict source, not from the latched address
  std::uint64_t filtered = 0;        ///< dropped by a filter (malformed, SRTP failures, ...)
  std::uint64_t send_failed = 0;     ///< the kernel refused to send them
  std::uint64_t oversize = 0;        ///< dropped: longer than buffer_bytes
  std::uint64_t receive_errors = 0;  ///< receives that failed (other than for lack of buffers)
  std::uint64_t receive_calls = 0;   ///< waits or recvmmsg calls that brought datagrams
  std::uint64_t generated = 0;       ///< datagrams sent with send() (made here, not relayed)
};

/// When a pair last heard from each side, in the worker's monotonic clock (ms).
struct pair_activity {
  std::int64_t created_ms = 0;       ///< when the pair was added
  std::int64_t caller_last_ms = -1;  ///< last datagram from the caller; -1: none yet
  std::int64_t agent_last_ms = -1;   ///< last datagram from the agent; -1: none yet
  /// The latest of the three: the pair has been silent since.
  [[nodiscard]] std::int64_t last_ms() const noexcept {
    return std::max({created_ms, caller_last_ms, agent_last_ms});
  }
};

class relay_worker {
 public:
  /// Datagrams read or written per system call, at most.
  static constexpr std::size_t batch = 32;
  /// Room in each packet buffer, bytes: a full Ethernet datagram.
  static constexpr std::size_t buffer_bytes = 1500;

  /// Buffers an io_uring worker receives into (a power of two); a datagram holds one from its
  /// arrival until it has been sent. When all are taken, datagrams wait in their sockets.
  static constexpr unsigned ring_buffers = 1024;
  /// Bytes of each: the kernel's receive header, the source address, then the datagram.
  static constexpr std::size_t ring_buffer_bytes = 2048;

  /// Throws std::runtime_error when epoll cannot be created, or io_uring when it is required.
  /// `coalesce_us`: see default_coalesce_us.
  explicit relay_worker(relay_backend backend = relay_backend::automatic,
                        int coalesce_us = default_coalesce_us);
  ~relay_worker();
  relay_worker(const relay_worker&) = delete;
  relay_worker& operator=(const relay_worker&) = delete;

  /// Binds the caller-facing and agent-facing sockets on `local_address` (or adopts the sides'
  /// given sockets) and starts relaying between them. Returns the pair's id, or an error naming the
  /// address and port that could not be bound.
  [[nodiscard]] result<int> add_pair(std::string_view local_address, const relay_side& caller,
                                     const relay_side& agent);

  /// Stops relaying a pair and closes its sockets.
  void remove_pair(int id) noexcept;

  /// The ports a pair's sockets are bound to (useful when they were chosen by the kernel).
  [[nodiscard]] std::optional<std::pair<std::uint16_t, std::uint16_t>> ports(int id) const noexcept;
  /// Where a pair's sides send to now (after latching); nullopt for an unknown pair.
  [[nodiscard]] std::optional<std::pair<std::optional<udp_endpoint>, std::optional<udp_endpoint>>>
  remotes(int id) const noexcept;
  /// When a pair last heard from its sides; nullopt for an unknown pair.
  [[nodiscard]] std::optional<pair_activity> activity(int id) const noexcept;

  /// Sends one datagram the owner made (not relayed: a prompt, silence) from the pair's
  /// caller-facing socket to the caller (`to_caller`) or from its agent-facing socket to the
  /// agent, as relayed packets go. Returns false (counted: no_remote, send_failed) when the
  /// pair or that side's address is unknown, or the socket refused it. No allocation.
  bool send(int id, bool to_caller, std::span<const std::uint8_t> datagram) noexcept;

  /// Waits up to `timeout_ms` for datagrams and relays every one that has arrived. Returns
  /// the datagrams forwarded.
  std::size_t poll_once(int timeout_ms) noexcept;

  /// The worker's clock: CLOCK_MONOTONIC in ms (as read by the last poll_once, or now).
  [[nodiscard]] static std::int64_t monotonic_ms() noexcept;

  [[nodiscard]] const relay_stats& stats() const noexcept { return stats_; }
  /// The backend in use: io_uring or epoll, never automatic.
  [[nodiscard]] relay_backend backend() const noexcept { return backend_; }

 private:
  struct side;
  struct pair;
  struct uring;
  struct uring_deleter {
    void operator()(uring* u) const noexcept;  // relay_worker_uring.cpp, where uring is known
  };
  void relay_from(pair& p, bool from_caller) noexcept;
  // Counts a datagram `length` bytes at the start of `room` from `source` and runs the side's
  // filter on it; returns where to send it, or null when it is dropped (counted).
  const udp_endpoint* route(side& in, side& out, std::span<std::uint8_t> room, std::size_t& length,
                            const sockaddr_storage& source, socklen_t source_length) noexcept;
  [[nodiscard]] pair* find(int id) const noexcept;
  // io_uring backend (relay_worker_uring.cpp).
  static std::unique_ptr<uring, uring_deleter> start_uring(int coalesce_us);
  void arm_receive(int id, bool agent_side) noexcept;
  void cancel_receives(int id) noexcept;
  std::size_t poll_uring(int timeout_ms) noexcept;
  void complete(const ::io_uring_cqe& cqe) noexcept;

  relay_backend backend_ = relay_backend::epoll;
  std::unique_ptr<uring, uring_deleter> uring_;  // io_uring backend only
  std::uint32_t next_generation_ = 0;  // tells a reused slot's receives from its predecessor's
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<pair>> pairs_;  // slot = id; null when removed
  std::vector<int> free_slots_;               // ids of removed pairs, reused
  relay_stats stats_;
  std::int64_t now_ms_ = 0;  // read once per poll
  // Batch buffers, reused for every call.
  std::array<std::array<std::uint8_t, buffer_bytes>, batch> buffers_{};
};

}  // namespace toneguard::media
