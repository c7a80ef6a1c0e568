#include "api_client.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <memory>

namespace toneguard::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::ip::tcp;

namespace {

std::string host_header(const api_endpoint& api) {
  const bool v6 = api.host.find(':') != std::string::npos;
  return (v6 ? "[" + api.host + "]" : api.host) + ":" + std::to_string(api.port);
}

asio::awaitable<tcp::resolver::results_type> resolve(const api_endpoint& api,
                                                     boost::system::error_code& ec) {
  tcp::resolver resolver(co_await asio::this_coro::executor);
  // Arguments of a co_await are named locals: GCC 12 mishandles temporaries there.
  const std::string port = std::to_string(api.port);
  auto results = co_await resolver.async_resolve(api.host, port,
                                                 asio::redirect_error(asio::use_awaitable, ec));
  co_return results;
}

}  // namespace

namespace {

// One request on its own connection: `body` and the Idempotency-Key only when given.
asio::awaitable<media::result<http_reply>> exchange(const api_endpoint& api, http::verb verb,
                                                    std::string target, std::string body,
                                                    std::string idempotency_key,
                                                    std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  const auto endpoints = co_await resolve(api, ec);
  if (ec) co_return media::error{"api: cannot resolve " + api.host + ": " + ec.message()};
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(timeout);
  co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec)
    co_return media::error{"api: cannot connect to " + host_header(api) + ": " + ec.message()};
  const std::string what = std::string(http::to_string(verb)) + " " + target;
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, host_header(api));
  request.set(http::field::authorization, "Bearer " + api.token);
  if (!idempotency_key.empty()) request.set("Idempotency-Key", idempotency_key);
  if (verb == http::verb::post) {
    request.set(http::field::content_type, "application/json");
    request.body() = std::move(body);
    request.prepare_payload();
  }
  co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return media::error{"api: " + what + ": " + ec.message()};
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  co_await http::async_read(stream, buffer, response,
                            asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return media::error{"api: " + what + ": " + ec.message()};
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  co_return http_reply{static_cast<int>(response.result_int()), std::move(response.body())};
}

}  // namespace

asio::awaitable<media::result<http_reply>> post_json(const api_endpoint& api, std::string target,
                                                     std::string body, std::string idempotency_key,
                                                     std::chrono::milliseconds timeout) {
  co_return co_await exchange(api, http::verb::post, std::move(target), std::move(body),
                              std::move(idempotency_key), timeout);
}

asio::awaitable<media::result<http_reply>> get_json(const api_endpoint& api, std::string target,
                                                    std::chrono::milliseconds timeout) {
  co_return co_await exchange(api, http::verb::get, std::move(target), std::string(), std::string(),
                              timeout);
}

asio::awaitable<bool> follow_events(const api_endpoint& api, std::string target,
                                    std::function<void(std::string_view frame)> on_frame,
                                    std::chrono::steady_clock::time_point deadline,
                                    std::string* why) {
  auto fail = [why](std::string message) {
    if (why != nullptr) *why = std::move(message);
    return false;
  };
  boost::system::error_code ec;
  const auto endpoints = co_await resolve(api, ec);
  if (ec) co_return fail("api: cannot resolve " + api.host + ": " + ec.message());
  const auto executor = co_await asio::this_coro::executor;
  auto ws = std::make_shared<websocket::stream<beast::tcp_stream>>(executor);
  beast::get_lowest_layer(*ws).expires_after(std::chrono::seconds(10));
  co_await beast::get_lowest_layer(*ws).async_connect(
      endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fail("api: cannot connect to " + host_header(api) + ": " + ec.message());
  beast::get_lowest_layer(*ws).expires_never();
  // The deadline closes the socket under a pending read; the read then fails.
  auto guard = std::make_shared<asio::steady_timer>(executor, deadline);
  auto expired = std::make_shared<bool>(false);
  guard->async_wait([ws, expired](boost::system::error_code wait_ec) {
    if (wait_ec) return;
    *expired = true;
    beast::get_lowest_layer(*ws).close();
  });
  websocket::stream_base::timeout timeouts =
      websocket::stream_base::timeout::suggested(beast::role_type::client);
  ws->set_option(timeouts);
  const std::string token = api.token;
  ws->set_option(websocket::stream_base::decorator([token](websocket::request_type& request) {
    request.set(http::field::authorization, "Bearer " + token);
  }));
  websocket::response_type upgrade;
  const std::string host = host_header(api);
  co_await ws->async_handshake(upgrade, host, target,
                               asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    guard->cancel();
    co_return fail("api: WebSocket " + target + ": " +
                   (upgrade.result_int() != 0 ? "HTTP " + std::to_string(upgrade.result_int())
                                              : ec.message()));
  }
  beast::flat_buffer buffer;
  for (;;) {
    buffer.clear();
    co_await ws->async_read(buffer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == websocket::error::closed) {
      guard->cancel();
      co_return true;
    }
    if (ec) {
      guard->cancel();
      co_return fail(*expired ? "api: no result before the payment timeout"
                              : "api: WebSocket " + target + ": " + ec.message());
    }
    const auto data = buffer.cdata();
    on_frame(std::string_view(static_cast<const char*>(data.data()), data.size()));
  }
}

}  // namespace toneguard::sim
