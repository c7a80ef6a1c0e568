#pragma once
/// The payment service's HTTP + WebSocket API (Boost.Beast), for agent desktops, CRMs and IVR
/// platforms: list and inspect calls, start a secure payment on a call, follow its masked
/// progress over WebSocket, cancel it, read its result. docs/openapi.json describes it (the
/// server embeds that file and serves it at /openapi.json).
///
/// Routes (JSON bodies; every error is {"error": {"code": "...", "message": "..."}}):
///   GET  /healthz                          no token: {"status": "ok"}
///   GET  /openapi.json                     the OpenAPI 3.0 document
///   GET  /v1/calls                         {"calls": [call_json...]}
///   GET  /v1/calls/{call_id}               call_json, with "payment" (status or null)
///   POST /v1/calls/{call_id}/payments      start a payment (Idempotency-Key required): 201
///   GET  /v1/payments/{payment_id}         payment_status_json
///   POST /v1/payments/{payment_id}/cancel  202 with the status after the request
///   GET  /v1/payments/{payment_id}/events  WebSocket: the status's last progress, then every
///                                          progress event and the result as JSON text
///                                          frames; closes (normal) after the result
///   GET  /v1/calls/{call_id}/events        WebSocket: the call's segments so far, then each
///                                          segment as it begins and ends, then
///                                          {"type": "call-ended"}; closes after it
///   GET  /v1/reports                       the reporting store: calls started in [from, to)
///                                          (ms), call_id, limit, format=json|csv
/// plus the settings' extra routes (GET, exact paths: the daemon's /metrics, / and /panel).
///
/// Authentication: `Authorization: Bearer <token>` with a configured token (compared in
/// constant time): 401 when missing or unknown, 403 when a read-only token asks for a POST.
/// Browsers cannot set headers on a WebSocket, so the events routes also take the token as
/// the query parameter `access_token`.
///
/// Status codes: 400 malformed JSON, an invalid field (the message names it, never its value)
/// or a missing Idempotency-Key; 404 unknown route, call or payment; 405 wrong method (with
/// Allow); 409 a payment already running on the call, an Idempotency-Key reused with another
/// body (or still in progress), cancelling a finished payment; 413 a body above body_limit;
/// 415 a body that is not application/json; 426 the events route without a WebSocket
/// upgrade; 500 the backend threw; 503 the backend is unavailable.
///
/// Idempotency: a successful start (201) is remembered under its token and Idempotency-Key
/// with a digest of the call id and the body, for idempotency_ttl_ms (24 h) and at most
/// idempotency_capacity keys (the oldest go first). The same key and body answer the same 201
/// again without starting anything; the same key with another call or body answers 409.
/// Refused starts are not remembered: the client may fix the request and retry the key.
///
/// Status callbacks: a payment started with "status_callback" gets every progress event and
/// its result passed to settings.on_status_callback(url, json) - a hook, not an HTTP client:
/// the daemon delivers them (it owns the outgoing HTTP client and its retry policy). Without
/// the hook the URL is accepted and nothing is sent.
///
/// Privacy: request bodies are never logged or echoed; error messages name fields, not values;
/// nothing the server sends carries a digit of card data (the backend's events are masked).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "toneguard/engine/payment_api.h"
#include "toneguard/engine/payment_config.h"
#include "toneguard/engine/result.h"

namespace toneguard::engine {

/// One API token.
struct api_token {
  /// The bearer token: 16..256 characters, printable ASCII without spaces.
  std::string token;
  /// Read-only tokens may GET (and follow events) but not POST.
  bool read_only = false;
};

/// A GET route the daemon adds (metrics, the agent panel): an exact path and its body.
struct api_extra_route {
  /// The path, e.g. "/metrics"; may not be one of the built-in routes.
  std::string path;
  /// The Content-Type sent, e.g. "text/plain; version=0.0.4" or "text/html; charset=utf-8".
  std::string content_type = "text/plain; charset=utf-8";
  /// True: a token is required (read-only is enough); false: served to anyone.
  bool requires_token = false;
  /// Produces the body; called on one of the server's threads for every request; must not
  /// block. An exception is answered with 500.
  std::function<std::string()> body;
};

/// The API server's configuration.
struct api_server_settings {
  /// Listening address (an IP address) and port; port 0 takes an ephemeral port (port()).
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  /// HTTPS with the PEM certificate (chain) and key files; false: plain HTTP.
  bool tls = false;
  std::string cert_file;
  std::string key_file;
  /// The accepted tokens; at least one.
  std::vector<api_token> tokens;
  /// The payment config: amounts, currency and limits of requests.
  payment_config config = default_payment_config();
  /// Largest request body, bytes (1..16 MiB); larger gets 413.
  std::size_t body_limit = 64 * 1024;
  /// Milliseconds a connection may take to send one request (the TLS handshake included);
  /// an idle keep-alive connection is closed after the same time.
  int request_timeout_ms = 30'000;
  /// How long and how many Idempotency-Keys are remembered.
  std::int64_t idempotency_ttl_ms = 24LL * 3600 * 1000;
  std::size_t idempotency_capacity = 10'000;
  /// Threads running the server's io_context, 1..16.
  int threads = 1;
  /// Extra GET routes (see api_extra_route).
  std::vector<api_extra_route> extra_routes;
  /// Called with a payment's status-callback URL and the JSON text of each of its updates
  /// (progress_json, then result_json), in order, on one of the server's threads; must not
  /// block (queue the delivery). Empty: callbacks are not delivered.
  std::function<void(const std::string& url, const std::string& json)> on_status_callback;
};

/// True when `token` may be an API token: 16..256 printable ASCII characters without spaces.
[[nodiscard]] bool is_valid_api_token(std::string_view token) noexcept;

/// Reads an API token file: one token per line, "TOKEN" or "TOKEN read-only" (words separated
/// by spaces or tabs, CRLF accepted); blank lines and lines starting with '#' are skipped.
/// Fails on a malformed line, an invalid or repeated token, more than 1000 tokens, or no token;
/// the message names `origin` and the line, never a token. Pure; any input (it is fuzzed).
[[nodiscard]] outcome<std::vector<api_token>> parse_api_token_file(std::string_view text,
                                                                   std::string_view origin);

/// One built-in route: method ("GET"/"POST") and path template ("/v1/calls/{call_id}"), as
/// docs/openapi.json writes them.
struct api_route {
  std::string_view method;
  std::string_view path;
};

/// Every built-in route, in the order of the file comment.
[[nodiscard]] std::span<const api_route> api_routes() noexcept;

/// The OpenAPI 3.0 document, docs/openapi.json as it was at build time (embedded by the build).
[[nodiscard]] std::string_view openapi_document() noexcept;

/// A running API server. Owns its io_context, threads, listening socket and connections.
/// port(), stop() and the destructor may be called from any thread but the server's own.
class api_server {
 public:
  /// Checks `settings`, binds, listens and starts the threads; the failure names the problem
  /// (bad address, port in use, unreadable certificate, bad token...). `backend` is used from
  /// the server's threads until stop() returns.
  [[nodiscard]] static outcome<std::unique_ptr<api_server>> start(
      api_server_settings settings, std::shared_ptr<payment_backend> backend);

  /// Stops (stop()).
  ~api_server();
  api_server(const api_server&) = delete;
  api_server& operator=(const api_server&) = delete;

  /// Closes the listener and every connection and WebSocket (without a close frame), drops
  /// every subscription, then joins the threads. Idempotent.
  void stop();

  /// The bound port (the ephemeral one when settings.port was 0).
  [[nodiscard]] std::uint16_t port() const noexcept;

  /// The server's state and threads; defined in the .cpp.
  struct impl;

 private:
  explicit api_server(std::shared_ptr<impl> p);
  std::shared_ptr<impl> impl_;
};

}  // namespace toneguard::engine
