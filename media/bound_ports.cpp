#include "toneguard/media/bound_ports.h"

#include <sys/socket.h>
#include <unistd.h>

#include "toneguard/media/relay_worker.h"

namespace toneguard::media {

namespace {

// A non-blocking UDP socket bound to address:port, or -1.
int bind_udp(const std::string& address, std::uint16_t port) {
  const auto local = udp_endpoint::from(address, port);
  if (!local) return -1;
  const int fd =
      ::socket(local.value().address.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&local.value().address), local.value().length) !=
      0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

bound_port_allocator::bound_port_allocator(std::string local_address, std::uint16_t port_min,
                                           std::uint16_t port_max)
    : local_address_(std::move(local_address)), range_(port_min, port_max) {}

bound_port_allocator::~bound_port_allocator() {
  for (const auto& [port, fd] : held_) ::close(fd);
}

std::optional<std::uint16_t> bound_port_allocator::allocate_pair() {
  for (std::size_t tried = 0; tried < range_.capacity(); ++tried) {
    const auto port = range_.allocate_pair();
    if (!port) return std::nullopt;
    const int rtp = bind_udp(local_address_, *port);
    const int rtcp =
        rtp >= 0 ? bind_udp(local_address_, static_cast<std::uint16_t>(*port + 1)) : -1;
    if (rtp >= 0 && rtcp >= 0) {
      held_[*port] = rtp;
      held_[static_cast<std::uint16_t>(*port + 1)] = rtcp;
      return port;
    }
    // Someone else holds it: the round robin moves on, and the pair is tried again later.
    if (rtp >= 0) ::close(rtp);
    range_.release(*port);
    ++skipped_;
  }
  return std::nullopt;
}

void bound_port_allocator::release(std::uint16_t rtp_port) {
  for (const auto port : {rtp_port, static_cast<std::uint16_t>(rtp_port + 1)}) {
    if (const auto it = held_.find(port); it != held_.end()) {
      ::close(it->second);
      held_.erase(it);
    }
  }
  range_.release(rtp_port);
}

int bound_port_allocator::take(std::uint16_t port) noexcept {
  const auto it = held_.find(port);
  if (it == held_.end()) return -1;
  const int fd = it->second;
  held_.erase(it);
  return fd;
}

}  // namespace toneguard::media
