#pragma once
/// The payment API's client side (docs/openapi.json), as an agent desktop or an IVR platform
/// uses it: JSON POSTs with a bearer token and an Idempotency-Key, and a payment's events
/// followed over WebSocket. Plain HTTP (the daemon's API on loopback). Coroutines on the
/// caller's io_context; nothing here prints anything.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "toneguard/media/result.h"

namespace toneguard::sim {

/// Where the API is and how to authenticate.
struct api_endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string token;
};

/// An HTTP reply: status and body.
struct http_reply {
  int status = 0;
  std::string body;
};

/// POSTs `body` (JSON) to `target` with `Authorization: Bearer` and `Idempotency-Key`; the
/// reply, or a message naming what failed (connect, timeout after `timeout`).
[[nodiscard]] boost::asio::awaitable<media::result<http_reply>> post_json(
    const api_endpoint& api, std::string target, std::string body, std::string idempotency_key,
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// GETs `target` with `Authorization: Bearer`; the reply, or a message naming what failed.
[[nodiscard]] boost::asio::awaitable<media::result<http_reply>> get_json(
    const api_endpoint& api, std::string target,
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Opens `target` as a WebSocket and hands every text frame to `on_frame` until the server
/// closes (true: a normal close) or `deadline` passes or the connection fails (false, with
/// `*why` naming the problem when given).
[[nodiscard]] boost::asio::awaitable<bool> follow_events(
    const api_endpoint& api, std::string target,
    std::function<void(std::string_view frame)> on_frame,
    std::chrono::steady_clock::time_point deadline, std::string* why);

}  // namespace toneguard::sim
