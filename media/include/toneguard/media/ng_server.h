#pragma once
/// The ng control transport: one UDP socket (IPv4 or IPv6) answering rtpengine's ng protocol
/// on one control thread. Each datagram is parsed; a cookie seen within 30 s gets the stored
/// reply without being executed again; malformed input gets `result: error` with an
/// `error-reason` under its cookie (without a cookie nobody can be answered: it is counted and
/// dropped); `ping` is answered here; every other command goes to an ng_handler.
///
/// Threads: run() is called by exactly one thread, the control thread, which owns the socket,
/// the reply cache and the handler calls. stop() and counters() may be called from any thread.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "toneguard/media/bencode.h"
#include "toneguard/media/daemon_options.h"
#include "toneguard/media/ng_message.h"
#include "toneguard/media/result.h"

namespace toneguard::media {

/// Executes ng commands other than ping. The call logic implements it.
class ng_handler {
 public:
  virtual ~ng_handler() = default;
  /// Executes `request` and returns the reply dictionary (`result` plus any other keys), e.g.
  /// ng_ok_reply() or ng_error_reply(). Called on the control thread only, once per request
  /// (retransmissions are answered from the cache). Should not throw; if it does, the request
  /// is answered with an error and counted as a handler failure.
  virtual bencode_value handle(const ng_request& request) = 0;
};

/// Largest ng datagram received, in bytes (the largest UDP payload fits).
inline constexpr std::size_t ng_max_datagram_bytes = 64 * 1024;

/// How long a reply stays in the duplicate-cookie cache (rtpengine keeps about 30 s).
inline constexpr std::chrono::seconds ng_reply_cache_ttl{30};

/// Number of ng_command values (for per-command counters).
inline constexpr std::size_t ng_command_count = 8;
/// Number of ng_error_kind values (for per-kind counters).
inline constexpr std::size_t ng_error_kind_count = 7;

/// A snapshot of the server's counters (plain values, any thread).
struct ng_server_stats {
  /// Datagrams received.
  std::uint64_t datagrams = 0;
  /// Requests parsed and executed, by ng_command (index = enum value).
  std::array<std::uint64_t, ng_command_count> requests{};
  /// Executed requests whose reply said `result: ok` (or `pong`), by command.
  std::array<std::uint64_t, ng_command_count> results_ok{};
  /// Executed requests whose reply said anything else (usually `error`), by command.
  std::array<std::uint64_t, ng_command_count> results_error{};
  /// Rejected datagrams, by ng_error_kind (index = enum value).
  std::array<std::uint64_t, ng_error_kind_count> errors{};
  /// Rejected datagrams without a cookie: dropped unanswered (also counted in `errors`).
  std::uint64_t dropped_without_cookie = 0;
  /// Retransmissions answered from the reply cache without executing.
  std::uint64_t cached_replies = 0;
  /// Handler calls that threw (answered with an error).
  std::uint64_t handler_failures = 0;
  /// Replies that could not be sent.
  std::uint64_t send_failures = 0;
};

/// The ng control socket and its control-thread loop.
class ng_server {
 public:
  /// Binds a UDP socket to `listen` (port 0: the system chooses; see local_port()); `handler`
  /// must outlive the server. Fails with a message naming the address when it cannot bind.
  [[nodiscard]] static result<std::unique_ptr<ng_server>> open(const ip_endpoint& listen,
                                                               ng_handler& handler);

  ~ng_server();
  ng_server(const ng_server&) = delete;
  ng_server& operator=(const ng_server&) = delete;

  /// The address the socket is bound to (e.g. "127.0.0.1", "::1"). Any thread.
  [[nodiscard]] const std::string& local_address() const noexcept;
  /// The port the socket is bound to (the real one when opened with port 0). Any thread.
  [[nodiscard]] std::uint16_t local_port() const noexcept;

  /// Receives and answers datagrams until stop(); the calling thread becomes the control
  /// thread. Returns after the datagram in progress is answered. Call once.
  void run();

  /// Stops accepting: the datagram being answered (if any) is finished, later ones are left
  /// unread, and run() returns. Any thread, any number of times; not async-signal-safe (call
  /// it from a thread that waits for signals).
  void stop();

  /// Runs `task` on the control thread, between requests (e.g. ending a call that timed out
  /// on a media worker). Any thread. Tasks posted after stop() are dropped.
  void post(std::function<void()> task);

  /// The counters now. Any thread (each counter is read atomically; the set is not one
  /// instant).
  [[nodiscard]] ng_server_stats stats() const noexcept;

  struct impl;

 private:
  explicit ng_server(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

}  // namespace toneguard::media
