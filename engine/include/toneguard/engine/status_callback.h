#pragma once
/// Payment status callbacks (webhooks): the daemon's HTTP(S) client that delivers what the API
/// server hands to api_server_settings::on_status_callback (every progress event of a payment
/// with a "status_callback" URL, then its result), with retries, signatures and bounded memory.
///
/// Wire format of one delivery (one HTTP/1.1 request per attempt, `Connection: close`):
///   POST <url>
///   Content-Type: application/json
///   User-Agent: toneguard/0.1
///   X-Toneguard-Delivery: <id>              unique per message, the same on every retry of it
///   X-Toneguard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
///                                           only when a secret is configured; re-signed (new
///                                           t) on every attempt, as Stripe does, so receivers
///                                           may refuse old timestamps
///   <the JSON text, unchanged>
/// A receiver verifies by recomputing v1 over the raw body (status_callback_signature()) and
/// comparing in constant time, and dedupes on X-Toneguard-Delivery.
///
/// Replies: 2xx = delivered. 408, 429 and 5xx, a failed resolve, connect or TLS handshake
/// (certificate refusals included), a broken connection and a timeout are retried after a
/// backoff (status_callback_backoff_ms(), shortened by jitter, lengthened to a Retry-After of
/// whole seconds up to backoff_cap_ms) until max_attempts; every other status (other 4xx,
/// 1xx, 3xx: redirects are not followed) gives up at once. A message given up is counted
/// `failed` and reported through on_failure (URL host, HTTP status, attempts, our reason; never
/// the body, the path or the query).
///
/// Order: messages are queued per URL (the exact URL text): one URL's messages go one at a time
/// in enqueue order, the next only after the previous was delivered or given up, so the result
/// arrives after the progress events before it. Different URLs are served in parallel, at most
/// `concurrency` at a time, round robin. (The hook gives no payment id, so ordering is per URL;
/// receivers usually put the payment in the URL, which keeps payments independent.)
///
/// Memory: at most queue_capacity messages wait in all, url_queue_capacity per URL, each at
/// most max_body_bytes; enqueue() refuses the rest at once (counted dropped_overflow). It never
/// blocks on the network: it takes one mutex briefly and posts to the sender's thread.
///
/// Threads: the sender owns one io_context and one thread that runs every delivery, the
/// timers and on_failure. enqueue(), hook(), counters() and stop() may be called from any
/// thread except stop() from on_failure; the destructor stops.
///
/// Privacy: bodies are masked events (no card data), yet still never logged: on_failure and
/// every message name only the host.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "toneguard/engine/result.h"

namespace toneguard::engine {

/// A message that was given up, as reported to status_callback_settings::on_failure.
struct status_callback_failure {
  /// The URL's host (name or address, no port, path or query); empty when the URL has none.
  std::string host;
  /// The last HTTP status received; 0 when no reply was read (refused, timeout, bad URL...).
  unsigned http_status = 0;
  /// HTTP requests attempted (0 when the message never got that far, e.g. a bad URL).
  int attempts = 0;
  /// Our reason, e.g. "http 400", "connect_failed (Connection refused)", "timeout",
  /// "bad url: scheme must be http or https". Never text from the body or the reply.
  std::string reason;
  /// The message's X-Toneguard-Delivery id.
  std::string delivery_id;
};

/// Cumulative counts since start (plus two gauges), for the daemon's metrics.
struct status_callback_counters {
  /// Messages answered 2xx.
  std::uint64_t delivered = 0;
  /// Retries scheduled (attempts after the first of a message).
  std::uint64_t retried = 0;
  /// Messages given up: non-retryable status, attempts exhausted, bad URL, body too large.
  std::uint64_t failed = 0;
  /// Messages refused by enqueue() because a queue was full.
  std::uint64_t dropped_overflow = 0;
  /// Messages still queued, in flight or waiting for a retry when stop() ended the sender, and
  /// messages enqueued after stop().
  std::uint64_t abandoned = 0;
  /// Gauge: messages waiting in the queues (not yet started).
  std::uint64_t queued = 0;
  /// Gauge: messages being delivered (an attempt under way or waiting for a retry).
  std::uint64_t in_flight = 0;
};

/// The sender's configuration. Every duration is in milliseconds.
struct status_callback_settings {
  /// Time allowed to connect, TLS handshake included, per attempt (1..600000).
  int connect_timeout_ms = 3'000;
  /// Time allowed for one whole attempt: resolve, connect, handshake, send the request and
  /// read the reply's header (1..600000; the connect timeout counts within it).
  int total_timeout_ms = 10'000;
  /// HTTP requests per message, the first included (1..50; 1 = no retry).
  int max_attempts = 5;
  /// Wait before retry n (n = 1, 2, ...): backoff_base_ms x 2^(n-1), at most backoff_cap_ms
  /// (base 0..600000, cap base..3600000).
  int backoff_base_ms = 500;
  int backoff_cap_ms = 30'000;
  /// Each wait is shortened by a random 0..backoff_jitter_percent % (0..100; 0 in tests for
  /// exact schedules), so that receivers coming back up are not hit in lockstep.
  int backoff_jitter_percent = 20;
  /// Deliveries under way at once, to all URLs together (1..64).
  int concurrency = 4;
  /// Messages waiting in all queues (1..1000000), and per URL (1..queue_capacity).
  std::size_t queue_capacity = 10'000;
  std::size_t url_queue_capacity = 1'000;
  /// Largest body accepted by enqueue(), bytes (1..16 MiB); larger is counted failed.
  std::size_t max_body_bytes = 64 * 1024;
  /// The HMAC-SHA256 key of X-Toneguard-Signature; empty: no signature header.
  std::string secret;
  /// Trusted CAs for https: a PEM file and/or PEM text. Both empty: the system trust store.
  std::string ca_file;
  std::string ca_pem;
  /// Verify the receiver's certificate chain and host name (or IP address). Turn off only in
  /// development.
  bool verify_peer = true;
  /// Send to http:// URLs of any host. false: plain http only to loopback (localhost,
  /// 127.0.0.0/8, ::1), other http URLs are given up at once. The API accepts both schemes.
  bool allow_plain_http = true;
  /// stop() lets attempts already under way finish for at most this long (0..60000), then
  /// abandons them; messages queued or waiting for a retry are abandoned at once.
  int stop_grace_ms = 2'000;
  /// The clock of the signature's t=, Unix seconds; empty: the system clock. For tests.
  std::function<std::int64_t()> unix_time;
  /// Called on the sender's thread for every message given up (not for abandoned ones); must
  /// not block or call stop(). Exceptions are swallowed. Empty: not reported (still counted).
  std::function<void(const status_callback_failure&)> on_failure;
};

/// The X-Toneguard-Signature value: "t=<unix_seconds>,v1=<64 lowercase hex digits of
/// HMAC-SHA256(secret, "<unix_seconds>.<body>")>". Pure; any thread.
[[nodiscard]] std::string status_callback_signature(std::string_view secret,
                                                    std::int64_t unix_seconds,
                                                    std::string_view body);

/// The wait before retry `retry` (1 = the first retry), without jitter: base_ms x 2^(retry-1),
/// at most cap_ms; 0 for retry < 1. Pure; any thread.
[[nodiscard]] std::int64_t status_callback_backoff_ms(int retry, int base_ms, int cap_ms) noexcept;

/// Delivers status callbacks (see the file comment). Owns its io_context, its thread, every
/// connection and the queues.
class status_callback_sender {
 public:
  /// Checks `settings` (the failure names the bad one), loads the trust store and starts the
  /// thread.
  [[nodiscard]] static outcome<std::unique_ptr<status_callback_sender>> start(
      status_callback_settings settings);

  /// Stops (stop()).
  ~status_callback_sender();
  status_callback_sender(const status_callback_sender&) = delete;
  status_callback_sender& operator=(const status_callback_sender&) = delete;

  /// Queues `json` (sent unchanged as the body) for `url` and returns at once: true when
  /// queued; false when refused (a queue full: dropped_overflow; body too large: failed and
  /// on_failure; after stop(): abandoned). The URL is checked when its turn comes (a bad one
  /// is given up then). Any thread; never blocks on I/O.
  bool enqueue(std::string_view url, std::string_view json);

  /// A callable for api_server_settings::on_status_callback that enqueues. It keeps the
  /// sender's state alive, so it may outlive the sender: after stop() it only counts abandoned.
  [[nodiscard]] std::function<void(const std::string& url, const std::string& json)> hook() const;

  /// Refuses new messages, lets attempts under way finish for at most stop_grace_ms, abandons
  /// the rest (counted) and joins the thread: returns within about stop_grace_ms (plus a host
  /// name resolution already running, which cannot be interrupted). Idempotent; any thread but
  /// the sender's own.
  void stop();

  /// The counters now. Any thread.
  [[nodiscard]] status_callback_counters counters() const;

  /// The sender's state and thread; defined in the .cpp.
  struct impl;

 private:
  explicit status_callback_sender(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

}  // namespace toneguard::engine
