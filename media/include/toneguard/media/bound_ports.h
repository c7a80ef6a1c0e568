#pragma once
/// Media ports that are really ours: a port_allocator that binds the RTP and RTCP sockets of
/// a pair when it hands the pair out (at the offer, as rtpengine does), skipping ports some
/// other process holds, and keeps the sockets until the media plane takes them. Without it a
/// port taken by someone else between the offer and the answer would fail the call's media.
///
/// Threads: the control thread only (call_control allocates and releases, the media plane
/// takes while applying a call on the same thread).

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "toneguard/media/call_control.h"

namespace toneguard::media {

class bound_port_allocator final : public port_allocator {
 public:
  /// Pairs (p, p + 1), p even, within [port_min, port_max], bound on `local_address` (an IPv4
  /// or IPv6 literal).
  bound_port_allocator(std::string local_address, std::uint16_t port_min, std::uint16_t port_max);
  ~bound_port_allocator() override;
  bound_port_allocator(const bound_port_allocator&) = delete;
  bound_port_allocator& operator=(const bound_port_allocator&) = delete;

  /// The next pair whose two ports could both be bound, with its sockets held; nullopt when
  /// every pair is booked or held by others.
  std::optional<std::uint16_t> allocate_pair() override;
  /// Books the pair free again and closes whichever of its sockets were not taken.
  void release(std::uint16_t rtp_port) override;

  /// Hands over the bound socket of `port` (an RTP or RTCP port of an allocated pair): the
  /// caller owns and closes it from now on. -1 when it is not held (never allocated, or
  /// taken already).
  [[nodiscard]] int take(std::uint16_t port) noexcept;

  /// Pairs skipped so far because another process held one of their ports.
  [[nodiscard]] std::uint64_t skipped() const noexcept { return skipped_; }
  /// Number of pairs in use.
  [[nodiscard]] std::size_t used() const noexcept { return range_.used(); }

 private:
  std::string local_address_;
  range_port_allocator range_;
  std::map<std::uint16_t, int> held_;  // port -> bound socket not yet taken
  std::uint64_t skipped_ = 0;
};

}  // namespace toneguard::media
