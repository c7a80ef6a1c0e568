#include "toneguard/media/ng_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <exception>
#include <string_view>
#include <utility>
#include <vector>

#include "toneguard/media/log.h"

namespace toneguard::media {

namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

// Counters written by the control thread only (relaxed increments) and read by any thread.
struct atomic_stats {
  std::atomic<std::uint64_t> datagrams{0};
  std::array<std::atomic<std::uint64_t>, ng_command_count> requests{};
  std::array<std::atomic<std::uint64_t>, ng_command_count> results_ok{};
  std::array<std::atomic<std::uint64_t>, ng_command_count> results_error{};
  std::array<std::atomic<std::uint64_t>, ng_error_kind_count> errors{};
  std::atomic<std::uint64_t> dropped_without_cookie{0};
  std::atomic<std::uint64_t> cached_replies{0};
  std::atomic<std::uint64_t> handler_failures{0};
  std::atomic<std::uint64_t> send_failures{0};
};

void bump(std::atomic<std::uint64_t>& counter) {
  counter.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t read(const std::atomic<std::uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

// The cookie of a datagram as parse_ng_request() reads it: the bytes before the first space.
std::string_view cookie_of(std::string_view datagram) {
  const auto space = datagram.find(' ');
  if (space == std::string_view::npos || space == 0) return {};
  return datagram.substr(0, space);
}

}  // namespace

struct ng_server::impl {
  impl(ng_handler& h) : handler(h), socket(io) {}

  ng_handler& handler;
  asio::io_context io;
  udp::socket socket;
  std::string address;
  std::uint16_t port = 0;

  // Control thread only.
  std::vector<char> buffer = std::vector<char>(ng_max_datagram_bytes);
  udp::endpoint sender;
  ng_reply_cache cache{10'000, 64u << 20,
                       std::chrono::duration_cast<std::chrono::milliseconds>(ng_reply_cache_ttl)};
  bool stopping = false;

  atomic_stats counters;

  void do_receive() {
    socket.async_receive_from(
        asio::buffer(buffer), sender,
        [this](const boost::system::error_code& ec, std::size_t size) { on_receive(ec, size); });
  }

  void on_receive(const boost::system::error_code& ec, std::size_t size) {
    if (ec == asio::error::operation_aborted || stopping) return;  // normal shutdown
    if (!ec) answer(std::string_view(buffer.data(), size));
    do_receive();
  }

  void answer(std::string_view datagram) {
    bump(counters.datagrams);
    const auto now = ng_reply_cache::clock::now();
    if (const auto cookie = cookie_of(datagram); !cookie.empty()) {
      if (auto cached = cache.lookup(cookie, now)) {
        bump(counters.cached_replies);
        send(*cached);
        return;
      }
    }

    ng_parse_failure failure;
    auto parsed = parse_ng_request(datagram, &failure);
    if (!parsed.ok()) {
      bump(counters.errors[static_cast<std::size_t>(failure.kind)]);
      if (failure.cookie.empty()) {
        bump(counters.dropped_without_cookie);
        log_event(log_level::debug, "ng datagram dropped",
                  {{"reason", std::string(ng_error_kind_name(failure.kind))},
                   {"bytes", std::to_string(datagram.size())}});
        return;
      }
      log_event(log_level::debug, "ng request rejected",
                {{"reason", std::string(ng_error_kind_name(failure.kind))}});
      send(encode_ng_reply(failure.cookie, ng_error_reply(parsed.error_message())));
      return;
    }

    const ng_request& request = parsed.value();
    const auto command = static_cast<std::size_t>(request.command);
    bump(counters.requests[command]);
    bencode_value reply = execute(request);
    const std::string* result = reply.string_at("result");
    const bool ok = result != nullptr && (*result == "ok" || *result == "pong");
    bump(ok ? counters.results_ok[command] : counters.results_error[command]);
    std::string bytes = encode_ng_reply(request.cookie, reply);
    send(bytes);
    cache.store(request.cookie, std::move(bytes), now);
  }

  bencode_value execute(const ng_request& request) {
    if (request.command == ng_command::ping) return ng_pong_reply();
    try {
      return handler.handle(request);
    } catch (const std::exception& e) {
      bump(counters.handler_failures);
      log_event(log_level::error, "ng handler failed",
                {{"command", std::string(ng_command_name(request.command))}, {"what", e.what()}});
    } catch (...) {
      bump(counters.handler_failures);
      log_event(log_level::error, "ng handler failed",
                {{"command", std::string(ng_command_name(request.command))}});
    }
    return ng_error_reply(std::string(ng_command_name(request.command)) + ": internal error");
  }

  void send(std::string_view bytes) {
    boost::system::error_code ec;
    socket.send_to(asio::buffer(bytes.data(), bytes.size()), sender, 0, ec);
    if (ec) {
      bump(counters.send_failures);
      log_event(log_level::warn, "ng reply not sent", {{"error", ec.message()}});
    }
  }
};

result<std::unique_ptr<ng_server>> ng_server::open(const ip_endpoint& listen, ng_handler& handler) {
  auto state = std::make_unique<impl>(handler);
  const std::string where = listen.address + " port " + std::to_string(listen.port);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(listen.address, ec);
  if (ec) return error{"listen-ng: '" + listen.address + "' is not an IP address"};
  const udp::endpoint endpoint(address, listen.port);
  state->socket.open(endpoint.protocol(), ec);
  if (!ec) state->socket.bind(endpoint, ec);
  if (ec) return error{"listen-ng: cannot bind " + where + ": " + ec.message()};
  const auto local = state->socket.local_endpoint(ec);
  if (ec) return error{"listen-ng: " + where + ": " + ec.message()};
  state->address = local.address().to_string();
  state->port = local.port();
  return std::unique_ptr<ng_server>(new ng_server(std::move(state)));
}

ng_server::ng_server(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

ng_server::~ng_server() = default;

const std::string& ng_server::local_address() const noexcept {
  return impl_->address;
}

std::uint16_t ng_server::local_port() const noexcept {
  return impl_->port;
}

void ng_server::run() {
  impl_->do_receive();
  impl_->io.run();
}

void ng_server::stop() {
  impl* state = impl_.get();
  asio::post(state->io, [state] {
    state->stopping = true;
    boost::system::error_code ignored;
    state->socket.close(ignored);
  });
}

void ng_server::post(std::function<void()> task) {
  impl* state = impl_.get();
  asio::post(state->io, [state, task = std::move(task)] {
    if (state->stopping) return;
    try {
      task();
    } catch (const std::exception&) {
      // A task's failure must not stop the control thread; the task logs its own errors.
    }
  });
}

ng_server_stats ng_server::stats() const noexcept {
  const atomic_stats& c = impl_->counters;
  ng_server_stats s;
  s.datagrams = read(c.datagrams);
  for (std::size_t i = 0; i < ng_command_count; ++i) {
    s.requests[i] = read(c.requests[i]);
    s.results_ok[i] = read(c.results_ok[i]);
    s.results_error[i] = read(c.results_error[i]);
  }
  for (std::size_t i = 0; i < ng_error_kind_count; ++i) s.errors[i] = read(c.errors[i]);
  s.dropped_without_cookie = read(c.dropped_without_cookie);
  s.cached_replies = read(c.cached_replies);
  s.handler_failures = read(c.handler_failures);
  s.send_failures = read(c.send_failures);
  return s;
}

}  // namespace toneguard::media
