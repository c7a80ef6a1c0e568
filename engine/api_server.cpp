#include "toneguard/engine/api_server.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "beast_names.h"
#include "server_tls.h"
#include "toneguard/engine/report_store.h"

namespace toneguard::engine {

namespace websocket = boost::beast::websocket;

namespace {

enum class route_id : std::uint8_t {
  healthz,
  openapi,
  list_calls,
  get_call,
  start_payment,
  get_payment,
  cancel_payment,
  payment_events,
  reports,
  call_events,
};

// In route_id order.
constexpr std::array kRoutes{
    api_route{"GET", "/healthz"},
    api_route{"GET", "/openapi.json"},
    api_route{"GET", "/v1/calls"},
    api_route{"GET", "/v1/calls/{call_id}"},
    api_route{"POST", "/v1/calls/{call_id}/payments"},
    api_route{"GET", "/v1/payments/{payment_id}"},
    api_route{"POST", "/v1/payments/{payment_id}/cancel"},
    api_route{"GET", "/v1/payments/{payment_id}/events"},
    api_route{"GET", "/v1/reports"},
    api_route{"GET", "/v1/calls/{call_id}/events"},
};

using digest = std::array<unsigned char, 32>;

digest sha256(std::string_view a, std::string_view b = {}) {
  digest d{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned int n = 0;
  if (ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
      EVP_DigestUpdate(ctx, a.data(), a.size()) == 1 && EVP_DigestUpdate(ctx, "\0", 1) == 1 &&
      EVP_DigestUpdate(ctx, b.data(), b.size()) == 1) {
    EVP_DigestFinal_ex(ctx, d.data(), &n);
  }
  EVP_MD_CTX_free(ctx);
  return d;
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes one path segment or query value; nullopt when malformed or when it decodes
// to a control character.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
    out += c;
  }
  return out;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  if (path.empty() || path.front() != '/') return parts;
  path.remove_prefix(1);
  while (true) {
    const auto slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

// The routes a path matches (none: unknown), with the path's one parameter decoded.
struct route_match {
  std::vector<route_id> ids;  // every route whose path matches (their methods differ)
  std::string param;
  bool bad_param = false;
};

route_match match_routes(std::string_view path) {
  route_match m;
  const auto parts = split_path(path);
  for (std::size_t r = 0; r < kRoutes.size(); ++r) {
    const auto tparts = split_path(kRoutes[r].path);
    if (tparts.size() != parts.size()) continue;
    bool ok = true;
    std::string_view param;
    for (std::size_t i = 0; i < parts.size() && ok; ++i) {
      if (tparts[i].size() > 2 && tparts[i].front() == '{') {
        param = parts[i];
        ok = !param.empty();
      } else {
        ok = tparts[i] == parts[i];
      }
    }
    if (!ok) continue;
    m.ids.push_back(static_cast<route_id>(r));
    if (!param.empty()) {
      auto decoded = percent_decode(param);
      if (!decoded || decoded->size() > 256) {
        m.bad_param = true;
      } else {
        m.param = std::move(*decoded);
      }
    }
  }
  return m;
}

std::optional<std::string> query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto item = query.substr(0, amp);
    const auto eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == name) {
      return percent_decode(item.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

/// One HTTP answer, before it is written.
struct http_answer {
  http::status status = http::status::ok;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  /// A WebSocket upgrade to the events of this payment (the answer is then not written).
  std::optional<std::string> upgrade_payment_id;
  /// A WebSocket upgrade to the segments of this call.
  std::optional<std::string> upgrade_call_id;
};

http_answer json_answer(http::status status, const json::value& v) {
  http_answer a;
  a.status = status;
  a.body = json::serialize(v);
  return a;
}

http_answer error_answer(http::status status, std::string_view code, std::string_view message) {
  json::object inner;
  inner["code"] = code;
  inner["message"] = message;
  json::object o;
  o["error"] = std::move(inner);
  return json_answer(status, o);
}

http::status backend_status(backend_error e) {
  switch (e) {
    case backend_error::unknown_call:
    case backend_error::unknown_payment:
      return http::status::not_found;
    case backend_error::payment_in_progress:
    case backend_error::payment_id_in_use:
    case backend_error::payment_finished:
      return http::status::conflict;
    case backend_error::invalid_request:
      return http::status::bad_request;
    case backend_error::unavailable:
      return http::status::service_unavailable;
  }
  return http::status::internal_server_error;
}

http_answer backend_error_answer(const backend_failure& f) {
  return error_answer(backend_status(f.error), backend_error_code(f.error), f.message);
}

std::int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

/// Remembered payment starts by (token, Idempotency-Key). Guarded by its owner's mutex.
class idempotency_store {
 public:
  enum class verdict : std::uint8_t { fresh, replay, conflict, in_progress };

  idempotency_store(std::int64_t ttl_ms, std::size_t capacity)
      : ttl_ms_(ttl_ms), capacity_(std::max<std::size_t>(capacity, 1)) {}

  /// Looks `key` up; a fresh key is reserved (pending) until complete() or abandon().
  verdict begin(const std::string& key, const digest& fingerprint, std::int64_t now_ms,
                http_answer& replay) {
    expire(now_ms);
    if (const auto it = entries_.find(key); it != entries_.end()) {
      if (CRYPTO_memcmp(it->second.fingerprint.data(), fingerprint.data(), fingerprint.size()) !=
          0) {
        return verdict::conflict;
      }
      if (it->second.pending) return verdict::in_progress;
      replay = it->second.answer;
      return verdict::replay;
    }
    const std::uint64_t seq = ++sequence_;
    entries_[key] = entry{fingerprint, now_ms, seq, true, {}};
    order_.emplace_back(seq, key);
    return verdict::fresh;
  }

  /// Keeps `answer` for replays of `key`; the oldest keys go beyond the capacity (only here: a
  /// refused start must not push out a remembered one).
  void complete(const std::string& key, const http_answer& answer) {
    if (const auto it = entries_.find(key); it != entries_.end()) {
      it->second.pending = false;
      it->second.answer = answer;
    }
    while (entries_.size() > capacity_ && !order_.empty()) evict_front();
  }

  /// Forgets `key` (the start was refused: the client may retry it).
  void abandon(const std::string& key) { entries_.erase(key); }

 private:
  struct entry {
    digest fingerprint{};
    std::int64_t at_ms = 0;
    std::uint64_t seq = 0;
    bool pending = true;
    http_answer answer;
  };

  void expire(std::int64_t now_ms) {
    while (!order_.empty()) {
      const auto it = entries_.find(order_.front().second);
      if (it != entries_.end() && it->second.seq == order_.front().first &&
          it->second.at_ms + ttl_ms_ > now_ms) {
        break;
      }
      evict_front();
    }
  }

  void evict_front() {
    const auto it = entries_.find(order_.front().second);
    if (it != entries_.end() && it->second.seq == order_.front().first) entries_.erase(it);
    order_.pop_front();
  }

  std::int64_t ttl_ms_;
  std::size_t capacity_;
  std::uint64_t sequence_ = 0;
  std::unordered_map<std::string, entry> entries_;
  std::deque<std::pair<std::uint64_t, std::string>> order_;
};

/// Carries a backend's updates to a strand while open; closed (any thread) before the
/// io_context goes, so that a sink the backend still calls posts nothing.
struct update_relay {
  std::mutex mu;
  bool open = true;
  std::function<void(const payment_update&)> deliver;

  bool is_open() {
    std::lock_guard lock(mu);
    return open;
  }
  void push(const payment_update& u) {
    std::lock_guard lock(mu);
    if (open && deliver) deliver(u);
  }
  void close() {
    std::lock_guard lock(mu);
    open = false;
    deliver = nullptr;
  }
};

update_sink sink_of(const std::shared_ptr<update_relay>& relay) {
  return [relay](const payment_update& u) { relay->push(u); };
}

class session_base {
 public:
  virtual ~session_base() = default;
  /// Drops the session's subscription and closes its connection (on its strand). Any thread.
  virtual void cancel() = 0;
};

}  // namespace

// --- the server ---------------------------------------------------------------------------

struct api_server::impl {
  struct token_entry {
    digest hash{};
    bool read_only = false;
  };
  struct callback_watch {
    std::uint64_t subscription = 0;
    std::shared_ptr<update_relay> relay;
  };

  api_server_settings settings;
  std::shared_ptr<payment_backend> backend;
  std::vector<token_entry> tokens;
  std::uint16_t port = 0;

  // Guards everything below it.
  std::mutex mu;
  std::list<std::weak_ptr<session_base>> sessions;
  std::unordered_map<std::string, callback_watch> callbacks;  // by payment id
  idempotency_store idempotency{0, 1};
  bool stopping = false;

  std::optional<ssl::context> tls;
  std::unique_ptr<asio::io_context> io;
  std::optional<asio::strand<asio::io_context::executor_type>> callback_strand;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::once_flag stopped;

  void do_accept();
  void on_accept(error_code ec, tcp::socket socket);
  /// Keeps `s` for stop(); false (and `s` cancelled) when stopping. Any thread.
  bool track(const std::shared_ptr<session_base>& s);

  /// The index of the configured token `header` (an Authorization value) carries, or -1.
  int authenticate(std::string_view bearer) const;

  /// Answers one request. Any session strand.
  http_answer handle(const http::request<http::string_body>& request);
  http_answer handle_route(route_id id, const std::string& param,
                           const http::request<http::string_body>& request, int token);
  http_answer reports(const http::request<http::string_body>& request);
  http_answer start_payment(const std::string& call_id,
                            const http::request<http::string_body>& request, int token);
  void watch_status_callback(const std::string& payment_id, const std::string& url);
  void deliver_status_callback(const std::string& payment_id, const std::string& url,
                               const payment_update& u);
};

int api_server::impl::authenticate(std::string_view bearer) const {
  const digest presented = sha256(bearer);
  int found = -1;
  // Every token is compared, in constant time, whatever matches.
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const bool equal =
        CRYPTO_memcmp(presented.data(), tokens[i].hash.data(), presented.size()) == 0;
    found = equal ? static_cast<int>(i) : found;
  }
  return found;
}

http_answer api_server::impl::handle(const http::request<http::string_body>& request) {
  const std::string_view target = request.target();
  const auto qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  const std::string_view query =
      qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1);
  const bool get = request.method() == http::verb::get;

  const auto method_not_allowed = [](std::string_view allow) {
    auto a = error_answer(http::status::method_not_allowed, "method_not_allowed",
                          "this route takes " + std::string(allow));
    a.headers.emplace_back("Allow", std::string(allow));
    return a;
  };
  const auto unauthorized = [] {
    auto a = error_answer(http::status::unauthorized, "unauthorized",
                          "missing or unknown bearer token (Authorization: Bearer <token>)");
    a.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"toneguard\"");
    return a;
  };

  // The bearer token, or the events route's access_token.
  int token = -1;
  {
    const std::string_view auth = request[http::field::authorization];
    if (iequals_prefix(auth, "Bearer ")) {
      std::string_view t = auth.substr(7);
      while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
      if (!t.empty()) token = authenticate(t);
    }
  }

  if (path == "/healthz") {
    if (!get) return method_not_allowed("GET");
    json::object o;
    o["status"] = "ok";
    return json_answer(http::status::ok, o);
  }
  for (const api_extra_route& extra : settings.extra_routes) {
    if (extra.path != path) continue;
    if (!get) return method_not_allowed("GET");
    if (extra.requires_token && token < 0) return unauthorized();
    http_answer a;
    a.content_type = extra.content_type;
    a.body = extra.body();
    return a;
  }

  route_match m = match_routes(path);
  if (token < 0 && m.ids.size() == 1 &&
      (m.ids.front() == route_id::payment_events || m.ids.front() == route_id::call_events)) {
    if (auto t = query_value(query, "access_token"); t && !t->empty()) token = authenticate(*t);
  }
  if (token < 0) return unauthorized();
  if (m.ids.empty()) {
    return error_answer(http::status::not_found, "not_found", "no such route (see /openapi.json)");
  }
  if (m.bad_param) {
    return error_answer(http::status::bad_request, "invalid_path",
                        "the path's identifier is malformed or longer than 256 characters");
  }
  const std::string_view method = request.method_string();
  std::string allow;
  for (const route_id id : m.ids) {
    const api_route& r = kRoutes[static_cast<std::size_t>(id)];
    if (r.method == method) {
      if (r.method == "POST" && tokens[static_cast<std::size_t>(token)].read_only) {
        return error_answer(http::status::forbidden, "forbidden",
                            "this token is read-only; POST needs a full token");
      }
      return handle_route(id, m.param, request, token);
    }
    if (!allow.empty()) allow += ", ";
    allow += r.method;
  }
  return method_not_allowed(allow);
}

http_answer api_server::impl::handle_route(route_id id, const std::string& param,
                                           const http::request<http::string_body>& request,
                                           int token) {
  switch (id) {
    case route_id::healthz:
      break;  // answered before authentication
    case route_id::openapi: {
      http_answer a;
      a.body = std::string(openapi_document());
      return a;
    }
    case route_id::list_calls: {
      json::array calls;
      for (const call_summary& c : backend->list_calls()) calls.push_back(call_json(c));
      json::object o;
      o["calls"] = std::move(calls);
      return json_answer(http::status::ok, o);
    }
    case route_id::get_call: {
      const auto c = backend->find_call(param);
      if (!c) return error_answer(http::status::not_found, "unknown_call", "no such call");
      json::object o = call_json(*c);
      o["payment"] = nullptr;
      if (!c->payment_id.empty()) {
        if (const auto p = backend->find_payment(c->payment_id)) {
          o["payment"] = payment_status_json(*p, settings.config);
        }
      }
      return json_answer(http::status::ok, o);
    }
    case route_id::start_payment:
      return start_payment(param, request, token);
    case route_id::get_payment: {
      const auto p = backend->find_payment(param);
      if (!p) return error_answer(http::status::not_found, "unknown_payment", "no such payment");
      return json_answer(http::status::ok, payment_status_json(*p, settings.config));
    }
    case route_id::cancel_payment: {
      auto p = backend->cancel_payment(param);
      if (!p) return backend_error_answer(p.failure());
      return json_answer(http::status::accepted, payment_status_json(p.value(), settings.config));
    }
    case route_id::payment_events: {
      if (!websocket::is_upgrade(request)) {
        auto a = error_answer(http::status::upgrade_required, "websocket_required",
                              "this route is a WebSocket: send Upgrade: websocket");
        a.headers.emplace_back("Upgrade", "websocket");
        return a;
      }
      if (!backend->find_payment(param)) {
        return error_answer(http::status::not_found, "unknown_payment", "no such payment");
      }
      http_answer a;
      a.upgrade_payment_id = param;
      return a;
    }
    case route_id::reports:
      return reports(request);
    case route_id::call_events: {
      if (!websocket::is_upgrade(request)) {
        auto a = error_answer(http::status::upgrade_required, "websocket_required",
                              "this route is a WebSocket: send Upgrade: websocket");
        a.headers.emplace_back("Upgrade", "websocket");
        return a;
      }
      if (!backend->find_call(param)) {
        return error_answer(http::status::not_found, "unknown_call", "no such call");
      }
      http_answer a;
      a.upgrade_call_id = param;
      return a;
    }
  }
  return error_answer(http::status::not_found, "not_found", "no such route");
}

http_answer api_server::impl::reports(const http::request<http::string_body>& request) {
  const std::string_view target = request.target();
  const auto qmark = target.find('?');
  const std::string_view query =
      qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1);
  const auto bad = [](std::string_view name, std::string_view expected) {
    return error_answer(
        http::status::bad_request, "invalid_query",
        "query parameter '" + std::string(name) + "': expected " + std::string(expected));
  };
  const auto integer = [&](std::string_view name, std::int64_t low, std::int64_t high,
                           std::int64_t fallback) -> std::optional<std::int64_t> {
    const auto text = query_value(query, name);
    if (!text) return fallback;
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc{} || end != text->data() + text->size() || v < low || v > high) {
      return std::nullopt;
    }
    return v;
  };
  constexpr std::int64_t max_ms = 253402300799999;  // 9999-12-31
  report_query q;
  const auto from = integer("from", 0, max_ms, 0);
  if (!from) return bad("from", "Unix time in ms, 0..253402300799999");
  const auto to = integer("to", 0, max_ms, max_ms);
  if (!to) return bad("to", "Unix time in ms, 0..253402300799999");
  const auto limit = integer("limit", 1, 100000, 1000);
  if (!limit) return bad("limit", "a count 1..100000");
  q.from_ms = *from;
  q.to_ms = *to;
  q.limit = static_cast<std::size_t>(*limit);
  if (auto call = query_value(query, "call_id")) {
    if (call->empty() || call->size() > 256) return bad("call_id", "1..256 characters");
    q.call_id = std::move(*call);
  }
  const std::string format = query_value(query, "format").value_or("json");
  if (format != "json" && format != "csv") return bad("format", "json or csv");
  auto page = backend->query_reports(q);
  if (!page) return backend_error_answer(page.failure());
  http_answer a;
  if (format == "csv") {
    a.content_type = "text/csv; charset=utf-8";
    a.body = export_csv(page.value());
  } else {
    a.body = export_json(page.value());
  }
  return a;
}

http_answer api_server::impl::start_payment(const std::string& call_id,
                                            const http::request<http::string_body>& request,
                                            int token) {
  const std::string_view key = request["Idempotency-Key"];
  if (key.empty()) {
    return error_answer(http::status::bad_request, "missing_idempotency_key",
                        "header 'Idempotency-Key' is required to start a payment");
  }
  if (key.size() > 255 || !std::all_of(key.begin(), key.end(), [](char c) {
        return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
      })) {
    return error_answer(http::status::bad_request, "invalid_idempotency_key",
                        "header 'Idempotency-Key' must be 1..255 visible ASCII characters");
  }
  const std::string_view type = request[http::field::content_type];
  if (!iequals_prefix(type, "application/json")) {
    return error_answer(http::status::unsupported_media_type, "unsupported_media_type",
                        "the body must be application/json");
  }
  // Parsed before the key is looked at: a bad body changes nothing, the key included.
  auto parsed = parse_start_payment(request.body(), settings.config);
  if (!parsed) {
    const bool malformed = parsed.message().find("malformed JSON") != std::string::npos ||
                           parsed.message().find("expected a JSON object") != std::string::npos;
    return error_answer(http::status::bad_request, malformed ? "malformed_json" : "invalid_request",
                        parsed.message());
  }

  const std::string store_key = std::to_string(token) + ":" + std::string(key);
  const digest fingerprint = sha256(call_id, request.body());
  http_answer replay;
  idempotency_store::verdict v;
  {
    std::lock_guard lock(mu);
    v = idempotency.begin(store_key, fingerprint, steady_ms(), replay);
  }
  switch (v) {
    case idempotency_store::verdict::replay:
      replay.headers.emplace_back("Idempotent-Replayed", "true");
      return replay;
    case idempotency_store::verdict::conflict:
      return error_answer(http::status::conflict, "idempotency_conflict",
                          "this Idempotency-Key was used with another call or body");
    case idempotency_store::verdict::in_progress:
      return error_answer(http::status::conflict, "idempotency_in_progress",
                          "a request with this Idempotency-Key is still being answered");
    case idempotency_store::verdict::fresh:
      break;
  }

  payment_start& start = parsed.value();
  std::optional<backend_outcome<payment_status>> status;
  try {
    status.emplace(backend->start_payment(call_id, start.request));
  } catch (...) {
    std::lock_guard lock(mu);
    idempotency.abandon(store_key);
    throw;
  }
  if (!*status) {
    std::lock_guard lock(mu);
    idempotency.abandon(store_key);
    return backend_error_answer(status->failure());
  }
  const payment_status& s = status->value();
  http_answer a = json_answer(http::status::created, payment_status_json(s, settings.config));
  a.headers.emplace_back("Location", "/v1/payments/" + s.payment_id);
  {
    std::lock_guard lock(mu);
    idempotency.complete(store_key, a);
  }
  if (!start.status_callback.empty() && settings.on_status_callback) {
    try {
      watch_status_callback(s.payment_id, start.status_callback);
    } catch (...) {
      // The payment runs; only its status callbacks are lost (the 201 stands).
    }
  }
  return a;
}

void api_server::impl::watch_status_callback(const std::string& payment_id,
                                             const std::string& url) {
  auto relay = std::make_shared<update_relay>();
  relay->deliver = [this, payment_id, url](const payment_update& u) {
    asio::post(*callback_strand,
               [this, payment_id, url, u] { deliver_status_callback(payment_id, url, u); });
  };
  auto sub = backend->subscribe(payment_id, sink_of(relay));
  if (!sub) {
    relay->close();
    return;
  }
  const payment_status& snap = sub.value().snapshot;
  if (snap.last_progress) relay->push(*snap.last_progress);
  if (snap.result) {
    relay->push(*snap.result);
    return;
  }
  std::lock_guard lock(mu);
  if (stopping) {
    relay->close();
    backend->unsubscribe(sub.value().id);
    return;
  }
  callbacks[payment_id] = callback_watch{sub.value().id, relay};
}

void api_server::impl::deliver_status_callback(const std::string& payment_id,
                                               const std::string& url, const payment_update& u) {
  try {
    settings.on_status_callback(url, update_json_text(u));
  } catch (...) {
    // The hook's failure is the daemon's to report; the payment goes on.
  }
  if (std::holds_alternative<payment_result>(u)) {
    std::lock_guard lock(mu);
    if (const auto it = callbacks.find(payment_id); it != callbacks.end()) {
      it->second.relay->close();
      callbacks.erase(it);
    }
  }
}

bool api_server::impl::track(const std::shared_ptr<session_base>& s) {
  std::lock_guard lock(mu);
  sessions.remove_if([](const std::weak_ptr<session_base>& w) { return w.expired(); });
  if (stopping) {
    s->cancel();
    return false;
  }
  sessions.push_back(s);
  return true;
}

// --- sessions -----------------------------------------------------------------------------

namespace {

template <bool Tls>
using stream_type =
    std::conditional_t<Tls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

/// A WebSocket following one payment's updates, or one call's segments.
template <bool Tls>
class events_session : public session_base,
                       public std::enable_shared_from_this<events_session<Tls>> {
 public:
  /// Follows payment `id`, or with `call` true the call `id`.
  events_session(api_server::impl& owner, stream_type<Tls> stream, std::string id, bool call)
      : owner_(owner),
        ws_(std::move(stream)),
        payment_id_(std::move(id)),
        call_(call),
        relay_(std::make_shared<update_relay>()) {}

  /// Accepts the upgrade `request`. On the session's strand.
  void run(http::request<http::string_body> request) {
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& r) { r.set(http::field::server, "toneguard"); }));
    ws_.read_message_max(4096);
    ws_.async_accept(
        request, beast::bind_front_handler(&events_session::on_accept, this->shared_from_this()));
  }

  void cancel() override {
    close_subscription();
    asio::post(ws_.get_executor(),
               [self = this->shared_from_this()] { beast::get_lowest_layer(self->ws_).close(); });
  }

 private:
  void on_accept(error_code ec) {
    if (ec) return close_subscription();
    {
      std::weak_ptr<events_session> weak = this->shared_from_this();
      std::lock_guard lock(relay_->mu);
      relay_->deliver = [weak, ex = ws_.get_executor()](const payment_update& u) {
        asio::post(ex, [weak, u] {
          if (auto self = weak.lock()) self->on_update(u);
        });
      };
    }
    if (call_) return follow_call();
    std::optional<backend_outcome<payment_subscription>> sub;
    try {
      sub.emplace(owner_.backend->subscribe(payment_id_, sink_of(relay_)));
    } catch (...) {
      return fail("internal_error", "the payment's events could not be followed");
    }
    if (!*sub) return fail(backend_error_code(sub->failure().error), sub->failure().message);
    subscription_ = sub->value().id;
    if (!relay_->is_open()) close_subscription();  // cancel() came first
    const payment_status& snap = sub->value().snapshot;
    if (snap.last_progress) on_update(*snap.last_progress);
    if (snap.result) on_update(*snap.result);
    do_read();
  }

  void follow_call() {
    std::optional<backend_outcome<call_subscription>> sub;
    try {
      sub.emplace(owner_.backend->subscribe_call(payment_id_, sink_of(relay_)));
    } catch (...) {
      return fail("internal_error", "the call's events could not be followed");
    }
    if (!*sub) return fail(backend_error_code(sub->failure().error), sub->failure().message);
    subscription_ = sub->value().id;
    if (!relay_->is_open()) close_subscription();  // cancel() came first
    for (const segment_record& segment : sub->value().segments) on_update(segment);
    if (sub->value().ended) on_update(*sub->value().ended);
    do_read();
  }

  void fail(std::string_view code, std::string_view message) {
    json::object inner;
    inner["code"] = code;
    inner["message"] = message;
    json::object o;
    o["type"] = "error";
    o["error"] = std::move(inner);
    queue(json::serialize(o), true);
    do_read();
  }

  void on_update(const payment_update& u) {
    if (finished_) return;
    queue(update_json_text(u), is_last_update(u));
  }

  void queue(std::string text, bool last) {
    if (last_queued_) return;
    last_queued_ = last;
    if (last) close_subscription();
    outbox_.push_back(std::move(text));
    if (!writing_) do_write();
  }

  void do_write() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(outbox_.front()),
                    beast::bind_front_handler(&events_session::on_write, this->shared_from_this()));
  }

  void on_write(error_code ec, std::size_t) {
    writing_ = false;
    if (ec) return finish();
    outbox_.pop_front();
    if (!outbox_.empty()) return do_write();
    if (last_queued_) do_close();
  }

  void do_close() {
    ws_.async_close(websocket::close_code::normal,
                    beast::bind_front_handler(&events_session::on_close, this->shared_from_this()));
  }

  void on_close(error_code) { finish(); }

  void do_read() {
    ws_.async_read(in_,
                   beast::bind_front_handler(&events_session::on_read, this->shared_from_this()));
  }

  void on_read(error_code ec, std::size_t) {
    // closed (the client's or our close), operation_aborted (stop) and timeouts end it.
    if (ec) return finish();
    in_.consume(in_.size());  // the client has nothing to say; its messages are dropped
    do_read();
  }

  void finish() {
    finished_ = true;
    close_subscription();
  }

  // Any thread.
  void close_subscription() {
    relay_->close();
    if (const std::uint64_t id = subscription_.exchange(0); id != 0) {
      owner_.backend->unsubscribe(id);
    }
  }

  api_server::impl& owner_;
  websocket::stream<stream_type<Tls>> ws_;
  std::string payment_id_;  // or the call's id
  bool call_ = false;
  std::shared_ptr<update_relay> relay_;
  std::atomic<std::uint64_t> subscription_{0};
  beast::flat_buffer in_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool last_queued_ = false;
  bool finished_ = false;
};

/// One HTTP connection: requests in, answers out, until it closes or becomes a WebSocket.
template <bool Tls>
class http_session : public session_base, public std::enable_shared_from_this<http_session<Tls>> {
 public:
  http_session(api_server::impl& owner, tcp::socket socket)
      : owner_(owner),
        stream_(make_stream(owner, std::move(socket))),
        executor_(stream_.get_executor()) {}

  void run() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (Tls) {
        self->do_handshake();
      } else {
        self->do_read();
      }
    });
  }

  void cancel() override {
    // executor_: the stream may have moved to a WebSocket session.
    asio::post(executor_, [self = this->shared_from_this()] {
      self->cancelled_ = true;
      if (!self->handed_off_) beast::get_lowest_layer(self->stream_).close();
    });
  }

 private:
  static stream_type<Tls> make_stream(api_server::impl& owner, tcp::socket socket) {
    if constexpr (Tls) {
      return stream_type<Tls>(std::move(socket), *owner.tls);
    } else {
      return stream_type<Tls>(std::move(socket));
    }
  }

  std::chrono::milliseconds request_timeout() const {
    return std::chrono::milliseconds(owner_.settings.request_timeout_ms);
  }

  void do_handshake() {
    beast::get_lowest_layer(stream_).expires_after(request_timeout());
    stream_.async_handshake(
        ssl::stream_base::server,
        beast::bind_front_handler(&http_session::on_handshake, this->shared_from_this()));
  }

  void on_handshake(error_code ec) {
    if (ec) return;  // a client that refuses the certificate, or stop()
    do_read();
  }

  void do_read() {
    parser_.emplace();
    parser_->body_limit(owner_.settings.body_limit);
    beast::get_lowest_layer(stream_).expires_after(request_timeout());
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&http_session::on_read, this->shared_from_this()));
  }

  void on_read(error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) return do_close();
    if (ec == http::error::body_limit) {
      return answer(error_answer(http::status::payload_too_large, "body_too_large",
                                 "the body is larger than " +
                                     std::to_string(owner_.settings.body_limit) + " bytes"),
                    false);
    }
    if (ec == http::error::header_limit) {
      return answer(error_answer(http::status::request_header_fields_too_large, "headers_too_large",
                                 "the request's headers are too large"),
                    false);
    }
    // operation_aborted (stop), timeouts and resets: drop the connection quietly.
    if (ec == asio::error::operation_aborted || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::eof ||
        ec == ssl::error::stream_truncated || cancelled_) {
      return;
    }
    if (ec) {
      return answer(error_answer(http::status::bad_request, "malformed_http",
                                 "the request is not valid HTTP/1.1"),
                    false);
    }
    http::request<http::string_body> request = parser_->release();
    parser_.reset();
    http_answer a;
    try {
      a = owner_.handle(request);
    } catch (...) {
      a = error_answer(http::status::internal_server_error, "internal_error",
                       "the request could not be answered");
    }
    if (a.upgrade_payment_id || a.upgrade_call_id) {
      beast::get_lowest_layer(stream_).expires_never();
      handed_off_ = true;
      const bool call = a.upgrade_call_id.has_value();
      auto ws = std::make_shared<events_session<Tls>>(
          owner_, std::move(stream_), std::move(call ? *a.upgrade_call_id : *a.upgrade_payment_id),
          call);
      if (owner_.track(ws)) ws->run(std::move(request));
      return;
    }
    // The body could carry anything: it goes now.
    request.body().clear();
    request.body().shrink_to_fit();
    answer(std::move(a), request.keep_alive());
  }

  void answer(http_answer a, bool keep_alive) {
    keep_alive_ = keep_alive;
    response_.emplace(a.status, 11);
    response_->set(http::field::server, "toneguard");
    response_->set(http::field::content_type, a.content_type);
    response_->set(http::field::cache_control, "no-store");
    for (auto& [name, value] : a.headers) response_->set(name, value);
    response_->keep_alive(keep_alive_);
    response_->body() = std::move(a.body);
    response_->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(request_timeout());
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&http_session::on_write, this->shared_from_this()));
  }

  void on_write(error_code ec, std::size_t) {
    if (ec) return;
    response_.reset();
    if (!keep_alive_) return do_close();
    do_read();
  }

  void do_close() {
    if constexpr (Tls) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
      stream_.async_shutdown(
          beast::bind_front_handler(&http_session::on_shutdown, this->shared_from_this()));
    } else {
      // Half-close, then read what the client still sends (e.g. the rest of a body too large)
      // until it closes: closing with unread data would reset the connection and could
      // destroy the answer before the client reads it.
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
      do_drain();
    }
  }

  void do_drain() {
    stream_.async_read_some(
        asio::buffer(drain_),
        beast::bind_front_handler(&http_session::on_drain, this->shared_from_this()));
  }

  void on_drain(error_code ec, std::size_t) {
    if (ec) return beast::get_lowest_layer(stream_).close();
    do_drain();
  }

  void on_shutdown(error_code) { beast::get_lowest_layer(stream_).close(); }

  api_server::impl& owner_;
  stream_type<Tls> stream_;
  asio::any_io_executor executor_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::array<char, 4096> drain_{};
  bool keep_alive_ = false;
  bool cancelled_ = false;
  bool handed_off_ = false;
};

}  // namespace

void api_server::impl::do_accept() {
  acceptor->async_accept(asio::make_strand(*io), beast::bind_front_handler(&impl::on_accept, this));
}

void api_server::impl::on_accept(error_code ec, tcp::socket socket) {
  // operation_aborted: stop() closed the listener.
  if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
  if (!ec) {
    std::shared_ptr<session_base> s;
    if (settings.tls) {
      auto t = std::make_shared<http_session<true>>(*this, std::move(socket));
      s = t;
      if (track(s)) t->run();
    } else {
      auto t = std::make_shared<http_session<false>>(*this, std::move(socket));
      s = t;
      if (track(s)) t->run();
    }
  }
  do_accept();
}

// --- api_server -----------------------------------------------------------------------------

bool is_valid_api_token(std::string_view token) noexcept {
  return token.size() >= 16 && token.size() <= 256 &&
         std::all_of(token.begin(), token.end(), [](char c) {
           return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
         });
}

outcome<std::vector<api_token>> parse_api_token_file(std::string_view text,
                                                     std::string_view origin) {
  std::vector<api_token> tokens;
  const std::string where = "api-token-file " + std::string(origin.substr(0, 200));
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const std::size_t end = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // Words separated by spaces or tabs.
    std::vector<std::string_view> words;
    while (!line.empty()) {
      const std::size_t start = line.find_first_not_of(" \t");
      if (start == std::string_view::npos) break;
      line.remove_prefix(start);
      const std::size_t stop = std::min(line.find_first_of(" \t"), line.size());
      words.push_back(line.substr(0, stop));
      line.remove_prefix(stop);
    }
    if (words.empty() || words.front().front() == '#') continue;
    const std::string at = where + ": line " + std::to_string(number);
    if (words.size() > 2 || (words.size() == 2 && words[1] != "read-only")) {
      return failure{at + ": expected TOKEN or TOKEN read-only"};
    }
    if (!is_valid_api_token(words[0])) {
      return failure{at + ": a token is 16..256 printable ASCII characters without spaces"};
    }
    for (const api_token& t : tokens) {
      if (t.token == words[0]) return failure{at + ": the token is given twice"};
    }
    if (tokens.size() == 1000) return failure{where + ": more than 1000 tokens"};
    tokens.push_back({std::string(words[0]), words.size() == 2});
  }
  if (tokens.empty()) return failure{where + ": no token in it"};
  return tokens;
}

std::span<const api_route> api_routes() noexcept {
  return kRoutes;
}

api_server::api_server(std::shared_ptr<impl> p) : impl_(std::move(p)) {}

outcome<std::unique_ptr<api_server>> api_server::start(api_server_settings settings,
                                                       std::shared_ptr<payment_backend> backend) {
  const auto fail = [](std::string why) { return failure{"api server: " + why}; };
  if (!backend) return fail("no backend");
  if (settings.threads < 1 || settings.threads > 16) return fail("threads must be 1..16");
  if (settings.body_limit < 1 || settings.body_limit > 16 * 1024 * 1024) {
    return fail("body_limit must be 1..16777216 bytes");
  }
  if (settings.request_timeout_ms < 1) return fail("request_timeout_ms must be positive");
  if (settings.idempotency_ttl_ms < 1 || settings.idempotency_capacity < 1) {
    return fail("idempotency_ttl_ms and idempotency_capacity must be positive");
  }
  if (settings.tokens.empty()) return fail("give at least one token");
  auto p = std::make_shared<impl>();
  for (std::size_t i = 0; i < settings.tokens.size(); ++i) {
    const std::string& t = settings.tokens[i].token;
    if (!is_valid_api_token(t)) {
      return fail("token " + std::to_string(i + 1) +
                  " must be 16..256 printable ASCII characters without spaces");
    }
    const digest h = sha256(t);
    for (const auto& other : p->tokens) {
      if (other.hash == h) return fail("token " + std::to_string(i + 1) + " is given twice");
    }
    p->tokens.push_back(impl::token_entry{h, settings.tokens[i].read_only});
  }
  for (const api_extra_route& r : settings.extra_routes) {
    if (r.path.empty() || r.path.front() != '/' || !r.body) {
      return fail("an extra route needs a path starting with '/' and a body callback");
    }
    if (!match_routes(r.path).ids.empty())
      return fail("extra route '" + r.path + "' shadows a built-in route");
  }
  if (auto c = validate_payment_config(settings.config); !c) return fail(c.message());

  error_code ec;
  const auto address = asio::ip::make_address(settings.address, ec);
  if (ec) return fail("address '" + settings.address + "' is not an IP address");
  if (settings.tls) {
    p->tls.emplace(ssl::context::tls_server);
    detail::harden_server_tls(*p->tls);
    if (settings.cert_file.empty() || settings.key_file.empty()) {
      return fail("tls needs cert_file and key_file");
    }
    if (auto problem =
            detail::load_server_certificate(*p->tls, settings.cert_file, settings.key_file)) {
      return fail(*problem);
    }
  }

  p->idempotency = idempotency_store(settings.idempotency_ttl_ms, settings.idempotency_capacity);
  p->io = std::make_unique<asio::io_context>(settings.threads);
  p->callback_strand.emplace(asio::make_strand(*p->io));
  // On a strand: stop() closes it from another thread.
  p->acceptor.emplace(asio::make_strand(*p->io));
  const tcp::endpoint endpoint(address, settings.port);
  p->acceptor->open(endpoint.protocol(), ec);
  if (!ec) p->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) p->acceptor->bind(endpoint, ec);
  if (!ec) p->acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail("cannot listen on " + settings.address + ":" + std::to_string(settings.port) +
                " (" + ec.message() + ")");
  }
  p->port = p->acceptor->local_endpoint().port();
  p->settings = std::move(settings);
  p->backend = std::move(backend);
  p->do_accept();
  for (int i = 0; i < p->settings.threads; ++i) {
    p->threads.emplace_back([io = p->io.get()] { io->run(); });
  }
  return std::unique_ptr<api_server>(new api_server(std::move(p)));
}

api_server::~api_server() {
  stop();
}

void api_server::stop() {
  impl& p = *impl_;
  std::call_once(p.stopped, [&p] {
    std::list<std::weak_ptr<session_base>> sessions;
    std::unordered_map<std::string, impl::callback_watch> callbacks;
    {
      std::lock_guard lock(p.mu);
      p.stopping = true;
      sessions.swap(p.sessions);
      callbacks.swap(p.callbacks);
    }
    asio::post(p.acceptor->get_executor(), [&p] {
      error_code ignored;
      p.acceptor->close(ignored);
    });
    for (auto& w : sessions) {
      if (auto s = w.lock()) s->cancel();
    }
    for (auto& [id, watch] : callbacks) {
      watch.relay->close();
      p.backend->unsubscribe(watch.subscription);
    }
    // With the listener and every connection closed and every relay shut, run() runs out of
    // work and returns.
    for (auto& t : p.threads) t.join();
    p.threads.clear();
    p.acceptor.reset();
    p.callback_strand.reset();
    p.io.reset();
  });
}

std::uint16_t api_server::port() const noexcept {
  return impl_->port;
}

}  // namespace toneguard::engine
