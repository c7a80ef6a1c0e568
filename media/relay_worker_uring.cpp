// relay_worker's io_uring backend. Every socket has one multishot receive into a ring of
// provided buffers; a datagram is filtered in its buffer and sent from it with sendmsg, and the
// buffer goes back to the ring when the send completes. The ring defers its task work to the
// owner's waits (DEFER_TASKRUN), so the receives of all sockets that became readable run in one
// wait, and the sends of a batch go out in one submit: a few system calls per batch instead of
// epoll_wait + recvmmsg + sendmmsg per datagram.

#include <liburing.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "relay_worker_parts.h"
#include "toneguard/media/relay_worker.h"

namespace toneguard::media {

namespace {

// user_data of a receive: the flag, the pair's generation, its slot and side.
constexpr std::uint64_t receive_flag = std::uint64_t{1} << 63;
// user_data of a send: the flag and the buffer id.
constexpr std::uint64_t send_flag = std::uint64_t{1} << 62;
// user_data 0: a cancellation, whose own completion needs nothing.

std::uint64_t receive_tag(std::uint32_t generation, int id, bool agent_side) {
  return receive_flag | (std::uint64_t{generation & 0x3fffffffu} << 32) |
         (static_cast<std::uint64_t>(static_cast<std::uint32_t>(id)) << 1) | (agent_side ? 1u : 0u);
}

// Kernel 6.12: io_uring_getevents_arg's former padding is min_wait_usec (liburing 2.3 predates
// it), and this feature bit says the kernel reads it.
constexpr unsigned feature_min_timeout = 1u << 15;
struct getevents_arg {
  std::uint64_t sigmask = 0;
  std::uint32_t sigmask_sz = 0;
  std::uint32_t min_wait_usec = 0;
  std::uint64_t ts = 0;
};

}  // namespace

struct relay_worker::uring {
  // Where a buffer's datagram is going: stable until the send completes.
  struct outgoing {
    msghdr message{};
    iovec data{};
    sockaddr_in6 to{};  // large enough for either family
    int fd = -1;        // or registered file index, when fixed
    bool fixed = false;
  };

  io_uring ring{};
  bool ring_open = false;
  bool enabled = false;  // enabled on the owner's first submit (SINGLE_ISSUER)
  bool min_wait = false;
  // Sends carry their destination in the SQE (IORING_OP_SEND with an address, no msghdr to
  // copy) unless the kernel refused that once; then sendmsg.
  bool use_sendmsg = false;
  int coalesce_us = 0;
  // Registered files: slot id × 2 + side. Spares the kernel a file lookup per operation.
  unsigned registered_files = 0;
  io_uring_buf_ring* buffer_ring = nullptr;
  std::size_t buffer_ring_bytes = 0;
  std::uint8_t* memory = nullptr;  // ring_buffers × ring_buffer_bytes
  int returned = 0;                // buffers added back since the last advance
  msghdr receive_template{};
  std::unique_ptr<outgoing[]> sends;

  ~uring() {
    if (ring_open) io_uring_queue_exit(&ring);  // cancels every request, drops their files
    if (buffer_ring != nullptr) ::munmap(buffer_ring, buffer_ring_bytes);
    if (memory != nullptr) ::munmap(memory, std::size_t{ring_buffers} * ring_buffer_bytes);
  }

  std::uint8_t* buffer(unsigned id) const noexcept {
    return memory + std::size_t{id} * ring_buffer_bytes;
  }

  void give_back(unsigned id) noexcept {
    io_uring_buf_ring_add(buffer_ring, buffer(id), ring_buffer_bytes,
                          static_cast<unsigned short>(id), io_uring_buf_ring_mask(ring_buffers),
                          returned++);
  }

  void publish_returned() noexcept {
    if (returned == 0) return;
    io_uring_buf_ring_advance(buffer_ring, returned);
    returned = 0;
  }

  int submit() noexcept {
    if (!enabled) {
      // liburing 2.3 declares io_uring_enable_rings but does not export it.
      if (::syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr,
                    0) < 0) {
        return -1;
      }
      enabled = true;
    }
    return io_uring_submit(&ring);
  }

  io_uring_sqe* next_sqe() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (sqe == nullptr && submit() >= 0) sqe = io_uring_get_sqe(&ring);
    return sqe;
  }

  // Queues buffer `id`'s datagram as sends[id] describes it; false when the ring is full.
  bool queue_send(unsigned id) noexcept {
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) return false;
    outgoing& o = sends[id];
    if (use_sendmsg) {
      io_uring_prep_sendmsg(sqe, o.fd, &o.message, 0);
    } else {
      io_uring_prep_send(sqe, o.fd, o.data.iov_base, o.data.iov_len, 0);
      io_uring_prep_send_set_addr(sqe, reinterpret_cast<const sockaddr*>(&o.to),
                                  static_cast<std::uint16_t>(o.message.msg_namelen));
    }
    if (o.fixed) sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, send_flag | id);
    return true;
  }
};

void relay_worker::uring_deleter::operator()(uring* u) const noexcept {
  delete u;
}

std::unique_ptr<relay_worker::uring, relay_worker::uring_deleter> relay_worker::start_uring(
    int coalesce_us) {
  std::unique_ptr<uring, uring_deleter> u(new uring);
  io_uring_params params{};
  // The worker's thread is the only submitter, and task work runs when it waits. Disabled
  // until that thread's first submit, since the worker may be built on another thread.
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED |
                 IORING_SETUP_CQSIZE;
  params.cq_entries = 4 * ring_buffers;
  if (io_uring_queue_init_params(1024, &u->ring, &params) < 0) return nullptr;
  u->ring_open = true;
  if ((params.features & IORING_FEAT_EXT_ARG) == 0) return nullptr;
  u->min_wait = (params.features & feature_min_timeout) != 0 && coalesce_us > 0;
  u->coalesce_us = coalesce_us;

  u->buffer_ring_bytes = sizeof(io_uring_buf) * ring_buffers;
  void* ring_memory = ::mmap(nullptr, u->buffer_ring_bytes, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ring_memory == MAP_FAILED) return nullptr;
  u->buffer_ring = static_cast<io_uring_buf_ring*>(ring_memory);
  void* memory = ::mmap(nullptr, std::size_t{ring_buffers} * ring_buffer_bytes,
                        PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return nullptr;
  u->memory = static_cast<std::uint8_t*>(memory);
  io_uring_buf_ring_init(u->buffer_ring);
  io_uring_buf_reg registration{};
  registration.ring_addr = reinterpret_cast<std::uint64_t>(u->buffer_ring);
  registration.ring_entries = ring_buffers;
  registration.bgid = 0;
  if (io_uring_register_buf_ring(&u->ring, &registration, 0) != 0) return nullptr;
  for (unsigned id = 0; id < ring_buffers; ++id) u->give_back(id);
  u->publish_returned();

  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    const unsigned wanted = static_cast<unsigned>(std::min<rlim_t>(files.rlim_cur, 65536));
    if (wanted > 0 && io_uring_register_files_sparse(&u->ring, wanted) == 0)
      u->registered_files = wanted;
  }

  // Multishot receives write the source address (either family) ahead of each datagram.
  u->receive_template.msg_namelen = sizeof(sockaddr_in6);
  u->sends = std::make_unique<uring::outgoing[]>(ring_buffers);
  return u;
}

void relay_worker::arm_receive(int id, bool agent_side) noexcept {
  pair* p = find(id);
  if (p == nullptr) return;
  side& s = agent_side ? p->agent : p->caller;
  const unsigned index = static_cast<unsigned>(id) * 2 + (agent_side ? 1u : 0u);
  if (s.fixed < 0 && index < uring_->registered_files &&
      io_uring_register_files_update(&uring_->ring, index, &s.fd, 1) == 1) {
    s.fixed = static_cast<int>(index);
  }
  io_uring_sqe* sqe = uring_->next_sqe();
  if (sqe == nullptr) {
    ++stats_.receive_errors;
    return;
  }
  io_uring_prep_recvmsg_multishot(sqe, s.fixed >= 0 ? s.fixed : s.fd, &uring_->receive_template, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT | (s.fixed >= 0 ? IOSQE_FIXED_FILE : 0);
  sqe->buf_group = 0;
  io_uring_sqe_set_data64(sqe, receive_tag(p->generation, id, agent_side));
}

void relay_worker::cancel_receives(int id) noexcept {
  pair* p = find(id);
  if (p == nullptr) return;
  for (bool agent_side : {false, true}) {
    io_uring_sqe* sqe = uring_->next_sqe();
    if (sqe == nullptr) continue;
    io_uring_prep_cancel64(sqe, receive_tag(p->generation, id, agent_side), 0);
    io_uring_sqe_set_data64(sqe, 0);
  }
  // Sends still queued for these sockets go first; then the cancellations run (GETEVENTS runs
  // their task work), so the receives let go of the sockets and closing them frees the ports.
  if (uring_->submit() >= 0) io_uring_submit_and_get_events(&uring_->ring);
  for (side* s : {&p->caller, &p->agent}) {
    if (s->fixed < 0) continue;
    int none = -1;
    io_uring_register_files_update(&uring_->ring, static_cast<unsigned>(s->fixed), &none, 1);
    s->fixed = -1;
  }
}

void relay_worker::complete(const io_uring_cqe& cqe) noexcept {
  const std::uint64_t tag = cqe.user_data;
  const bool has_buffer = (cqe.flags & IORING_CQE_F_BUFFER) != 0;
  const unsigned buffer_id = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
  if ((tag & send_flag) != 0) {
    const auto id = static_cast<unsigned>(tag & 0xffffu);
    if (!uring_->use_sendmsg &&
        (cqe.res == -EINVAL || cqe.res == -EDESTADDRREQ || cqe.res == -ENOTCONN)) {
      // A kernel without addresses on IORING_OP_SEND: the same datagram again, by sendmsg.
      uring_->use_sendmsg = true;
      if (uring_->queue_send(id)) return;
    }
    if (cqe.res < 0) {
      ++stats_.send_failed;
    } else {
      ++stats_.forwarded;
    }
    uring_->give_back(id);
    return;
  }
  if ((tag & receive_flag) == 0) return;  // a cancellation's own completion

  const int id = static_cast<int>((tag >> 1) & 0x7fffffffu);
  const bool agent_side = (tag & 1u) != 0;
  pair* p = find(id);
  if (p != nullptr && (p->generation & 0x3fffffffu) != ((tag >> 32) & 0x3fffffffu)) p = nullptr;
  const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0;
  if (cqe.res < 0 || !has_buffer) {
    if (has_buffer) uring_->give_back(buffer_id);
    if (cqe.res != -ENOBUFS && cqe.res != -ECANCELED) ++stats_.receive_errors;
    // Out of buffers ends a multishot receive: it is armed again once buffers are back.
    if (!more && p != nullptr && cqe.res != -ECANCELED) arm_receive(id, agent_side);
    return;
  }
  if (!more && p != nullptr) arm_receive(id, agent_side);
  if (p == nullptr) {
    uring_->give_back(buffer_id);  // for a pair removed since
    return;
  }
  std::uint8_t* const buffer = uring_->buffer(buffer_id);
  io_uring_recvmsg_out* received =
      io_uring_recvmsg_validate(buffer, cqe.res, &uring_->receive_template);
  if (received == nullptr) {
    ++stats_.receive_errors;
    uring_->give_back(buffer_id);
    return;
  }
  auto* payload =
      static_cast<std::uint8_t*>(io_uring_recvmsg_payload(received, &uring_->receive_template));
  std::size_t length =
      io_uring_recvmsg_payload_length(received, cqe.res, &uring_->receive_template);
  if ((received->flags & MSG_TRUNC) != 0 || length > buffer_bytes) {
    ++stats_.received;
    ++stats_.oversize;
    uring_->give_back(buffer_id);
    return;
  }
  sockaddr_storage source{};
  const socklen_t source_length = std::min<socklen_t>(received->namelen, sizeof(sockaddr_in6));
  std::memcpy(&source, io_uring_recvmsg_name(received), source_length);

  side& in = agent_side ? p->agent : p->caller;
  side& out = agent_side ? p->caller : p->agent;
  const udp_endpoint* to =
      route(in, out, std::span(payload, buffer_bytes), length, source, source_length);
  if (to == nullptr) {
    uring_->give_back(buffer_id);
    return;
  }
  uring::outgoing& o = uring_->sends[buffer_id];
  o.fixed = out.fixed >= 0;
  o.fd = o.fixed ? out.fixed : out.fd;
  std::memcpy(&o.to, &to->address, std::min<std::size_t>(to->length, sizeof o.to));
  o.data = {payload, length};
  o.message = {};
  o.message.msg_name = &o.to;
  o.message.msg_namelen = to->length;
  o.message.msg_iov = &o.data;
  o.message.msg_iovlen = 1;
  if (!uring_->queue_send(buffer_id)) {
    ++stats_.send_failed;
    uring_->give_back(buffer_id);
  }
}

std::size_t relay_worker::poll_uring(int timeout_ms) noexcept {
  uring& u = *uring_;
  const std::uint64_t before = stats_.forwarded;
  if (io_uring_sq_ready(&u.ring) > 0 || !u.enabled) u.submit();  // receives armed since

  // One wait: runs the deferred receives of every socket that became readable. With the
  // kernel's minimum wait, it returns after coalesce_us with what has come, or at once with a
  // full batch; without, at the first completion.
  if (io_uring_cq_ready(&u.ring) == 0) {
    getevents_arg arg;
    __kernel_timespec timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1'000'000LL};
    arg.ts = reinterpret_cast<std::uint64_t>(&timeout);
    unsigned wait_for = timeout_ms > 0 ? 1u : 0u;
    if (u.min_wait && timeout_ms > 0) {
      wait_for = batch;
      arg.min_wait_usec = static_cast<std::uint32_t>(u.coalesce_us);
    }
    ::syscall(__NR_io_uring_enter, u.ring.ring_fd, 0, wait_for,
              IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
  }
  now_ms_ = monotonic_ms();

  // Completions, then the sends they queued; sends that complete at once are reaped in the
  // next round, so their buffers are back before the next wait.
  bool received_any = false;
  for (int round = 0; round < 4; ++round) {
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    const std::uint64_t received_before = stats_.received;
    io_uring_for_each_cqe(&u.ring, head, cqe) {
      complete(*cqe);
      ++seen;
    }
    io_uring_cq_advance(&u.ring, seen);
    received_any = received_any || stats_.received != received_before;
    u.publish_returned();
    if (io_uring_sq_ready(&u.ring) == 0) break;
    u.submit();
  }
  if (received_any) ++stats_.receive_calls;
  return static_cast<std::size_t>(stats_.forwarded - before);
}

}  // namespace toneguard::media
