#include "toneguard/media/relay_worker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "relay_worker_parts.h"
#include "toneguard/media/rtp.h"

namespace toneguard::media {

result<udp_endpoint> udp_endpoint::from(std::string_view address, std::uint16_t port) {
  udp_endpoint e;
  const std::string text(address);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&e.address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&e.address);
  if (text.find('\0') == std::string::npos &&
      inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    e.length = sizeof(sockaddr_in);
    return e;
  }
  if (text.find('\0') == std::string::npos &&
      inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    e.length = sizeof(sockaddr_in6);
    return e;
  }
  return error{"'" + text + "' is not an IPv4 or IPv6 address"};
}

std::uint16_t udp_endpoint::port() const noexcept {
  if (address.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  if (address.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  return 0;
}

bool udp_endpoint::operator==(const udp_endpoint& other) const noexcept {
  return length == other.length && std::memcmp(&address, &other.address, length) == 0;
}

std::string_view backend_name(relay_backend backend) noexcept {
  switch (backend) {
    case relay_backend::io_uring:
      return "io_uring";
    case relay_backend::epoll:
      return "epoll";
    case relay_backend::automatic:
      break;
  }
  return "auto";
}

namespace {

// epoll user data: the pair's slot and which of its sockets.
std::uint64_t tag(int id, bool agent_side) {
  return (static_cast<std::uint64_t>(id) << 1) | (agent_side ? 1u : 0u);
}

bool same_source(const udp_endpoint& remote, const sockaddr_storage& source,
                 socklen_t length) noexcept {
  return remote.length == length && std::memcmp(&remote.address, &source, length) == 0;
}

}  // namespace

std::int64_t relay_worker::monotonic_ms() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

relay_worker::relay_worker(relay_backend backend, int coalesce_us) {
  if (backend != relay_backend::epoll) {
    uring_ = start_uring(coalesce_us);
    if (uring_) {
      backend_ = relay_backend::io_uring;
    } else if (backend == relay_backend::io_uring) {
      throw std::runtime_error(
          "relay_worker: io_uring is not available (kernel 6.1+ with io_uring enabled needed)");
    }
  }
  if (backend_ == relay_backend::epoll) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0)
      throw std::runtime_error(std::string("relay_worker: epoll_create1: ") + std::strerror(errno));
  }
  now_ms_ = monotonic_ms();
}

relay_worker::~relay_worker() {
  for (std::size_t id = 0; id < pairs_.size(); ++id) remove_pair(static_cast<int>(id));
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

relay_worker::pair* relay_worker::find(int id) const noexcept {
  if (id < 0 || static_cast<std::size_t>(id) >= pairs_.size()) return nullptr;
  return pairs_[static_cast<std::size_t>(id)].get();
}

result<int> relay_worker::add_pair(std::string_view local_address, const relay_side& caller,
                                   const relay_side& agent) {
  auto p = std::make_unique<pair>();
  p->created_ms = monotonic_ms();
  p->generation = next_generation_++;
  int id = static_cast<int>(pairs_.size());
  if (!free_slots_.empty()) id = free_slots_.back();
  auto open_side = [&](side& s, const relay_side& config,
                       bool agent_side) -> std::optional<std::string> {
    s.remote = config.remote;
    s.rtcp_remote = config.rtcp_remote;
    s.latch = config.latch;
    s.strict_source = config.strict_source;
    s.filter = config.filter;
    if (s.fd >= 0) {
      // Bound since the offer: what arrived before anyone could be sent it is stale.
      std::uint8_t stale[1];
      while (::recv(s.fd, stale, sizeof stale, MSG_DONTWAIT | MSG_TRUNC) >= 0) ++stats_.no_remote;
    } else {
      auto local = udp_endpoint::from(local_address, config.port);
      if (!local) return local.error_message();
      s.fd =
          ::socket(local.value().address.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (s.fd < 0) return std::string("socket: ") + std::strerror(errno);
      if (::bind(s.fd, reinterpret_cast<const sockaddr*>(&local.value().address),
                 local.value().length) != 0) {
        return "bind " + std::string(local_address) + " port " + std::to_string(config.port) +
               ": " + std::strerror(errno);
      }
    }
    udp_endpoint bound;
    bound.length = sizeof bound.address;
    ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&bound.address), &bound.length);
    s.port = bound.port();
    if (backend_ == relay_backend::io_uring) return std::nullopt;  // armed once stored
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag(id, agent_side);
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s.fd, &ev) != 0)
      return std::string("epoll_ctl: ") + std::strerror(errno);
    return std::nullopt;
  };
  // Given sockets are ours from here on, whatever happens below.
  p->caller.fd = caller.fd;
  p->agent.fd = agent.fd;
  for (auto [s, config, agent_side] :
       {std::tuple{&p->caller, &caller, false}, std::tuple{&p->agent, &agent, true}}) {
    if (auto failure = open_side(*s, *config, agent_side)) {
      for (side* opened : {&p->caller, &p->agent}) {
        if (opened->fd >= 0) ::close(opened->fd);
      }
      return error{"relay_worker: " + *failure};
    }
  }
  if (static_cast<std::size_t>(id) == pairs_.size()) {
    pairs_.push_back(std::move(p));
  } else {
    free_slots_.pop_back();
    pairs_[static_cast<std::size_t>(id)] = std::move(p);
  }
  if (backend_ == relay_backend::io_uring) {
    arm_receive(id, false);
    arm_receive(id, true);
  }
  return id;
}

void relay_worker::remove_pair(int id) noexcept {
  if (id < 0 || static_cast<std::size_t>(id) >= pairs_.size() ||
      !pairs_[static_cast<std::size_t>(id)])
    return;
  auto& p = *pairs_[static_cast<std::size_t>(id)];
  if (backend_ == relay_backend::io_uring) cancel_receives(id);
  for (side* s : {&p.caller, &p.agent}) {
    if (epoll_fd_ >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s->fd, nullptr);
    ::close(s->fd);
  }
  pairs_[static_cast<std::size_t>(id)].reset();
  // Pairs come and go between polls, so no event of a poll names a reused slot.
  try {
    free_slots_.push_back(id);
  } catch (...) {
    // Out of memory: the slot is simply not reused.
  }
}

std::optional<std::pair<std::uint16_t, std::uint16_t>> relay_worker::ports(int id) const noexcept {
  if (id < 0 || static_cast<std::size_t>(id) >= pairs_.size() ||
      !pairs_[static_cast<std::size_t>(id)]) {
    return std::nullopt;
  }
  const auto& p = *pairs_[static_cast<std::size_t>(id)];
  return std::pair{p.caller.port, p.agent.port};
}

std::optional<std::pair<std::optional<udp_endpoint>, std::optional<udp_endpoint>>>
relay_worker::remotes(int id) const noexcept {
  if (id < 0 || static_cast<std::size_t>(id) >= pairs_.size() ||
      !pairs_[static_cast<std::size_t>(id)]) {
    return std::nullopt;
  }
  const auto& p = *pairs_[static_cast<std::size_t>(id)];
  return std::pair{p.caller.remote, p.agent.remote};
}

std::optional<pair_activity> relay_worker::activity(int id) const noexcept {
  if (id < 0 || static_cast<std::size_t>(id) >= pairs_.size() ||
      !pairs_[static_cast<std::size_t>(id)]) {
    return std::nullopt;
  }
  const auto& p = *pairs_[static_cast<std::size_t>(id)];
  return pair_activity{p.created_ms, p.caller.last_received_ms, p.agent.last_received_ms};
}

bool relay_worker::send(int id, bool to_caller, std::span<const std::uint8_t> datagram) noexcept {
  if (id < 0 || static_cast<std::size_t>(id) >= pairs_.size() ||
      !pairs_[static_cast<std::size_t>(id)]) {
    return false;
  }
  const side& out = to_caller ? pairs_[static_cast<std::size_t>(id)]->caller
                              : pairs_[static_cast<std::size_t>(id)]->agent;
  if (!out.remote) {
    ++stats_.no_remote;
    return false;
  }
  if (::sendto(out.fd, datagram.data(), datagram.size(), 0,
               reinterpret_cast<const sockaddr*>(&out.remote->address), out.remote->length) < 0) {
    ++stats_.send_failed;
    return false;
  }
  ++stats_.generated;
  return true;
}

std::size_t relay_worker::poll_once(int timeout_ms) noexcept {
  if (backend_ == relay_backend::io_uring) return poll_uring(timeout_ms);
  epoll_event events[64];
  const int ready = ::epoll_wait(epoll_fd_, events, 64, timeout_ms);
  now_ms_ = monotonic_ms();
  const std::uint64_t before = stats_.forwarded;
  for (int i = 0; i < ready; ++i) {
    const auto id = static_cast<std::size_t>(events[i].data.u64 >> 1);
    if (id < pairs_.size() && pairs_[id]) relay_from(*pairs_[id], (events[i].data.u64 & 1u) == 0);
  }
  return static_cast<std::size_t>(stats_.forwarded - before);
}

const udp_endpoint* relay_worker::route(side& in, side& out, std::span<std::uint8_t> room,
                                        std::size_t& length, const sockaddr_storage& source,
                                        socklen_t source_length) noexcept {
  ++stats_.received;
  in.last_received_ms = now_ms_;
  if (in.latch) {
    // Symmetric RTP: the side's first packet says where its peer is, whatever the SDP said.
    udp_endpoint from;
    std::memcpy(&from.address, &source, source_length);
    from.length = source_length;
    in.remote = from;
    in.latch = false;
  }
  if (in.strict_source && in.remote && !same_source(*in.remote, source, source_length)) {
    ++stats_.wrong_source;
    return nullptr;
  }
  if (!out.remote) {
    ++stats_.no_remote;
    return nullptr;
  }
  if (in.filter != nullptr && !in.filter->filter(room, length)) {
    ++stats_.filtered;
    return nullptr;
  }
  if (out.rtcp_remote &&
      classify_muxed(std::span<const std::uint8_t>(room.data(), length)) == mux_kind::rtcp) {
    return &*out.rtcp_remote;
  }
  return &*out.remote;
}

void relay_worker::relay_from(pair& p, bool from_caller) noexcept {
  side& in = from_caller ? p.caller : p.agent;
  side& out = from_caller ? p.agent : p.caller;
  mmsghdr received[batch];
  iovec received_iov[batch];
  sockaddr_storage sources[batch];
  mmsghdr sending[batch];
  iovec sending_iov[batch];
  for (;;) {
    for (std::size_t i = 0; i < batch; ++i) {
      received_iov[i] = {buffers_[i].data(), buffers_[i].size()};
      received[i] = {};
      received[i].msg_hdr.msg_iov = &received_iov[i];
      received[i].msg_hdr.msg_iovlen = 1;
      received[i].msg_hdr.msg_name = &sources[i];
      received[i].msg_hdr.msg_namelen = sizeof sources[i];
    }
    const int n = ::recvmmsg(in.fd, received, batch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    ++stats_.receive_calls;
    unsigned count = 0;
    for (int i = 0; i < n; ++i) {
      auto& buffer = buffers_[static_cast<std::size_t>(i)];
      if ((received[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
        ++stats_.received;
        ++stats_.oversize;
        continue;
      }
      std::size_t length = received[i].msg_len;
      const udp_endpoint* to =
          route(in, out, std::span(buffer), length, sources[i], received[i].msg_hdr.msg_namelen);
      if (to == nullptr) continue;
      sending_iov[count] = {buffer.data(), length};
      sending[count] = {};
      sending[count].msg_hdr.msg_iov = &sending_iov[count];
      sending[count].msg_hdr.msg_iovlen = 1;
      sending[count].msg_hdr.msg_name = const_cast<sockaddr_storage*>(&to->address);
      sending[count].msg_hdr.msg_namelen = to->length;
      ++count;
    }
    if (count > 0) {
      const int sent = ::sendmmsg(out.fd, sending, count, 0);
      const unsigned ok = sent > 0 ? static_cast<unsigned>(sent) : 0u;
      stats_.forwarded += ok;
      stats_.send_failed += count - ok;
    }
    if (static_cast<std::size_t>(n) < batch) return;  // drained
  }
}

}  // namespace toneguard::media
