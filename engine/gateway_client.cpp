#include "toneguard/engine/gateway_client.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <string.h>  // explicit_bzero

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <optional>
#include <type_traits>
#include <utility>

#include "beast_names.h"

namespace toneguard::engine {

void wipe_memory(void* p, std::size_t n) noexcept {
  if (p != nullptr && n != 0) explicit_bzero(p, n);
}

void wipe(secret_string& s) noexcept {
  // The whole capacity: a shorter value may have overwritten a longer one.
  s.resize(s.capacity());
  wipe_memory(s.data(), s.size());
  s.clear();
}

namespace {

// Boost.JSON storage that wipes each block it frees (card values pass through JSON values and
// the parser's temporary stack).
class zeroizing_resource final : public json::memory_resource {
  // Boost.JSON 1.81 frees some blocks with another alignment than it asked for (string keys:
  // 1, then 16), so every alignment up to the default one takes the plain operators.
  static constexpr std::size_t kDefaultAlign = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

  void* do_allocate(std::size_t n, std::size_t align) override {
    if (align <= kDefaultAlign) return ::operator new(n);
    return ::operator new(n, std::align_val_t(align));
  }
  void do_deallocate(void* p, std::size_t n, std::size_t align) override {
    wipe_memory(p, n);
    if (align <= kDefaultAlign) {
      ::operator delete(p);
    } else {
      ::operator delete(p, std::align_val_t(align));
    }
  }
  bool do_is_equal(const json::memory_resource& other) const noexcept override {
    return this == &other;
  }
};

}  // namespace

json::storage_ptr zeroizing_json_storage() noexcept {
  static zeroizing_resource resource;
  return json::storage_ptr(&resource);
}

// --- contract names and decline codes ---------------------------------------------------

namespace {

// Sorted for binary search.
constexpr std::array<std::string_view, 23> kDeclineCodes{
    "card_declined",
    "card_not_supported",
    "card_velocity_exceeded",
    "do_not_honor",
    "expired_card",
    "fraudulent",
    "incorrect_cvc",
    "incorrect_number",
    "incorrect_postal_code",
    "incorrect_zip",
    "insufficient_funds",
    "invalid_card",
    "invalid_cvc",
    "invalid_expiry",
    "invalid_expiry_month",
    "invalid_expiry_year",
    "invalid_number",
    "lost_card",
    "pickup_card",
    "restricted_card",
    "stolen_card",
    "transaction_not_allowed",
    "withdrawal_count_limit_exceeded",
};

}  // namespace

std::span<const std::string_view> card_decline_codes() noexcept {
  return kDeclineCodes;
}

bool is_card_decline(std::string_view code) noexcept {
  return std::binary_search(kDeclineCodes.begin(), kDeclineCodes.end(), code);
}

std::string_view method_name(gateway_method m) noexcept {
  return m == gateway_method::tokenize ? "tokenize" : "charge";
}

std::string_view verification_kind_name(verification_kind k) noexcept {
  return k == verification_kind::date_of_birth ? "date_of_birth" : "pin";
}

// --- URLs -------------------------------------------------------------------------------

bool is_loopback_host(std::string_view host) noexcept {
  if (host.size() == 9) {
    std::string lower(host);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "localhost") return true;
  }
  error_code ec;
  const auto addr = asio::ip::make_address(std::string(host), ec);
  return !ec && addr.is_loopback();
}

outcome<gateway_url> parse_gateway_url(std::string_view url) {
  const auto fail = [&](std::string_view why) {
    return failure{"gateway url: " + std::string(why)};
  };
  gateway_url out;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return fail("expected http:// or https://");
  std::string scheme(url.substr(0, scheme_end));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme == "https") {
    out.tls = true;
  } else if (scheme == "http") {
    out.tls = false;
  } else {
    return fail("scheme must be http or https");
  }
  std::string_view rest = url.substr(scheme_end + 3);
  const auto path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  if (path.find('#') != std::string_view::npos) return fail("a fragment (#) has no place here");
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return fail("the path has a space or a non-ASCII character");
    }
  }
  if (authority.find('@') != std::string_view::npos) {
    return fail("credentials belong in the username and password settings, not the URL");
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("unclosed '[' in an IPv6 host");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("expected ':' after the IPv6 host");
      port = after.substr(1);
      if (port.empty()) return fail("empty port");
    }
    error_code ec;
    asio::ip::make_address_v6(out.host, ec);
    if (ec) return fail("'[...]' must hold an IPv6 address");
  } else {
    const auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return fail("empty port");
    }
  }
  if (out.host.empty()) return fail("no host");
  for (char c : out.host) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':';
    if (!ok) return fail("the host has a character that is not allowed in a host name");
  }
  if (!port.empty()) {
    int value = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || value > 65535) return fail("the port must be 1..65535");
      value = value * 10 + (c - '0');
    }
    if (value < 1 || value > 65535) return fail("the port must be 1..65535");
    out.port = std::to_string(value);
  } else {
    out.port = out.tls ? "443" : "80";
  }
  if (!out.tls && !is_loopback_host(out.host)) {
    return fail(
        "plain http is allowed only to a loopback host (localhost, 127.0.0.0/8, ::1); card "
        "data would travel unencrypted");
  }
  out.target = path.empty() ? "/" : std::string(path);
  if (out.target.front() == '?') out.target.insert(out.target.begin(), '/');
  out.host_header = std::string(authority);
  return out;
}

// --- reply parsing ----------------------------------------------------------------------

namespace {

constexpr std::size_t kMaxText = 200;
constexpr std::size_t kMaxReference = 128;

// Text the gateway sent, made safe for logs: at most kMaxText bytes, control characters and
// non-ASCII bytes replaced, and every digit hidden as '#' so that a gateway echoing a card
// number, CVV or expiry cannot carry it into our logs.
std::string clean_text(std::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), kMaxText));
  for (char c : text.substr(0, kMaxText)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out.push_back(' ');
    } else if (u >= 0x80) {
      out.push_back('?');
    } else if (c >= '0' && c <= '9') {
      out.push_back('#');
    } else {
      out.push_back(c);
    }
  }
  if (text.size() > kMaxText) out += "...";
  return out;
}

// An error_code from the gateway: 1..64 of [a-z0-9_.-] (lowercased, digits hidden as in
// clean_text); nullopt when it is not a code.
std::optional<std::string> clean_code(std::string_view code) {
  if (code.empty() || code.size() > 64) return std::nullopt;
  std::string out;
  for (char c : code) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u)) {
      out.push_back(static_cast<char>(std::tolower(u)));
    } else if (std::isdigit(u)) {
      out.push_back('#');
    } else if (c == '_' || c == '.' || c == '-') {
      out.push_back(c);
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::string status_code_name(unsigned status) {
  return "http_" + std::to_string(status);
}

const char* kind_name(json::kind k) {
  switch (k) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "something else";
}

// The charge_id / token_id: a non-empty printable-ASCII string (or an integer) of at most
// kMaxReference characters.
outcome<std::string> read_reference(const json::object& obj, std::string_view field) {
  const auto* v = obj.if_contains(field);
  const std::string name(field);
  if (v == nullptr || v->is_null()) return failure{"no " + name};
  std::string ref;
  if (v->is_string()) {
    ref = std::string(v->get_string());
  } else if (v->is_int64()) {
    ref = std::to_string(v->get_int64());
  } else if (v->is_uint64()) {
    ref = std::to_string(v->get_uint64());
  } else {
    return failure{name + " is " + kind_name(v->kind()) + ", expected a string"};
  }
  if (ref.empty()) return failure{name + " is empty"};
  if (ref.size() > kMaxReference) {
    return failure{name + " is longer than " + std::to_string(kMaxReference) + " characters"};
  }
  for (char c : ref) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return failure{name + " has a character outside printable ASCII"};
    }
  }
  return ref;
}

// Parses `body` as one JSON object (default storage: replies carry no card data).
outcome<json::object> parse_object(std::string_view body) {
  error_code ec;
  json::value jv = json::parse(body, ec);
  if (ec) return failure{"the body is not JSON (" + ec.message() + ")"};
  if (!jv.is_object()) {
    return failure{std::string("the body is ") + kind_name(jv.kind()) + ", not a JSON object"};
  }
  return std::move(jv.as_object());
}

gateway_reply parse_gateway_reply_unguarded(gateway_method method, unsigned status,
                                            std::string_view body) {
  gateway_reply r;
  r.outcome = gateway_outcome::error;
  const auto bad = [&](std::string code, std::string why) {
    r.outcome = gateway_outcome::error;
    r.error_code = std::move(code);
    r.error_message = "gateway reply: HTTP " + std::to_string(status) + ": " + std::move(why);
    return r;
  };
  const std::string fallback_code = status == 200 ? "bad_reply" : status_code_name(status);
  if (status >= 200 && status < 300 && status != 200) {
    return bad(status_code_name(status), "unexpected status (the contract answers 200)");
  }
  auto parsed = parse_object(body);
  if (!parsed) return bad(fallback_code, parsed.message());
  const json::object& obj = parsed.value();
  const json::value* code_value = obj.if_contains("error_code");
  const bool code_is_null = code_value == nullptr || code_value->is_null();

  if (status == 200) {
    if (!code_is_null) {
      if (code_value->is_string()) {
        const auto code = clean_code(code_value->get_string());
        return bad("bad_reply", "error_code '" + code.value_or("?") +
                                    "' with status 200 (the contract sends null)");
      }
      return bad("bad_reply", std::string("error_code is ") + kind_name(code_value->kind()) +
                                  ", expected null with status 200");
    }
    const std::string_view field = method == gateway_method::tokenize ? "token_id" : "charge_id";
    auto ref = read_reference(obj, field);
    if (!ref) return bad("bad_reply", ref.message());
    r.outcome = gateway_outcome::approved;
    r.reference = std::move(ref).value();
    return r;
  }

  if (code_is_null) return bad(fallback_code, "no error_code");
  if (!code_value->is_string()) {
    return bad(fallback_code,
               std::string("error_code is ") + kind_name(code_value->kind()) + ", not a string");
  }
  const auto code = clean_code(code_value->get_string());
  if (!code) {
    return bad(fallback_code, "error_code is not a code (1..64 letters, digits, '_', '.', '-')");
  }
  std::string message;
  if (const json::value* m = obj.if_contains("error_message"); m != nullptr && !m->is_null()) {
    if (!m->is_string()) {
      return bad(fallback_code,
                 std::string("error_message is ") + kind_name(m->kind()) + ", not a string");
    }
    message = clean_text(m->get_string());
  }
  r.error_code = *code;
  r.outcome = status >= 400 && status < 500 && is_card_decline(*code) ? gateway_outcome::declined
                                                                      : gateway_outcome::error;
  r.error_message = "gateway: HTTP " + std::to_string(status) + " " + *code;
  if (!message.empty()) r.error_message += ": " + message;
  return r;
}

identity_reply parse_identity_reply_unguarded(unsigned status, std::string_view body) {
  identity_reply r;
  r.outcome = identity_outcome::error;
  const auto bad = [&](const std::string& why) {
    r.outcome = identity_outcome::error;
    r.error_message = "identification reply: HTTP " + std::to_string(status) + ": " + why;
    return r;
  };
  auto parsed = parse_object(body);
  if (status != 200) {
    std::string why = "not verified by the service";
    if (parsed) {
      const json::object& obj = parsed.value();
      const json::value* c = obj.if_contains("error_code");
      const json::value* m = obj.if_contains("error_message");
      if (c != nullptr && c->is_string()) {
        why = clean_code(c->get_string()).value_or("(an error_code that is not a code)");
      }
      if (m != nullptr && m->is_string()) why += ": " + clean_text(m->get_string());
    }
    return bad(why);
  }
  if (!parsed) return bad(parsed.message());
  const json::object& obj = parsed.value();
  const json::value* verified = obj.if_contains("verified");
  if (verified == nullptr || verified->is_null()) return bad("no 'verified'");
  if (!verified->is_bool()) {
    return bad(std::string("'verified' is ") + kind_name(verified->kind()) +
               ", expected a boolean");
  }
  if (!verified->get_bool()) {
    r.outcome = identity_outcome::not_verified;
    return r;
  }
  auto customer = read_reference(obj, "customer_id");
  if (!customer) return bad(customer.message());
  const json::value* balance = obj.if_contains("balance");
  if (balance != nullptr && !balance->is_null()) {
    if (!balance->is_string()) {
      return bad(std::string("balance is ") + kind_name(balance->kind()) +
                 ", expected a decimal string");
    }
    const json::value* cur = obj.if_contains("currency_code");
    if (cur == nullptr || !cur->is_string()) return bad("balance without a currency_code");
    const auto c = find_currency(cur->get_string());
    if (!c) return bad("unknown currency_code");
    const auto minor = parse_decimal_amount(balance->get_string(), *c);
    if (!minor) return bad("balance is not a decimal amount in the currency's minor units");
    r.balance_minor = *minor;
  }
  r.outcome = identity_outcome::verified;
  r.customer_id = std::move(customer).value();
  return r;
}

}  // namespace

gateway_reply parse_gateway_reply(gateway_method method, unsigned http_status,
                                  std::string_view body) noexcept {
  try {
    return parse_gateway_reply_unguarded(method, http_status, body);
  } catch (...) {
    gateway_reply r;
    r.outcome = gateway_outcome::error;
    r.error_code = "bad_reply";
    r.error_message = "gateway reply: out of memory while parsing";
    return r;
  }
}

identity_reply parse_identity_reply(unsigned http_status, std::string_view body) noexcept {
  try {
    return parse_identity_reply_unguarded(http_status, body);
  } catch (...) {
    identity_reply r;
    r.outcome = identity_outcome::error;
    r.error_message = "identification reply: out of memory while parsing";
    return r;
  }
}

std::string basic_authorization(std::string_view username, std::string_view password) {
  std::string in;
  in.reserve(username.size() + 1 + password.size());
  in.append(username).append(":").append(password);
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return "Basic " + out;
}

// --- the client ---------------------------------------------------------------------------

struct gateway_client::state {
  gateway_settings settings;
  gateway_url charge_url;
  std::optional<gateway_url> identify_url;
  /// "Basic <base64>" or empty.
  std::string authorization;
  /// Shared by every connection; SSL_new on a shared SSL_CTX is thread-safe.
  mutable ssl::context tls{ssl::context::tls_client};
};

namespace {

constexpr std::size_t kMaxReplyBytes = 64 * 1024;

// A keyed fingerprint of a card number (HMAC-SHA-256 under a per-process random key), so a
// reply can be checked for an echoed card number after the request body is wiped, without
// keeping the number.
using pan_fingerprint = std::array<unsigned char, 32>;

std::optional<pan_fingerprint> fingerprint_pan(std::string_view digits) {
  static const auto key = [] {
    std::array<unsigned char, 32> k{};
    if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) k.fill(0x5a);
    return k;
  }();
  pan_fingerprint out{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(digits.data()), digits.size(), out.data(),
           &len) == nullptr) {
    return std::nullopt;
  }
  return out;
}

// Masks every run of 12..19 digits in `text` whose fingerprint is the card's.
void hide_echoed_pan(std::string& text, const std::optional<pan_fingerprint>& pan) {
  if (!pan) return;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    const std::size_t n = j - i;
    if (n >= 12 && n <= 19 && fingerprint_pan(std::string_view(text).substr(i, n)) == *pan) {
      text.replace(i, n, "[card number]");
      j = i + 13;
    }
    i = j;
  }
}

struct exchange_result {
  /// An HTTP reply was read (status and body valid).
  bool delivered = false;
  unsigned status = 0;
  std::string body;
  /// When not delivered: our code and message (no card data).
  std::string error_code;
  std::string error_message;
  int requests = 0;
  std::int64_t latency_ms = 0;
};

bool not_processed_status(unsigned status) {
  return status == 503 || status == 429;
}

// One POST with its retries: resolve -> connect -> [handshake] -> write -> read, all on one
// strand; each retry uses a fresh connection.
template <bool Tls>
class exchange : public std::enable_shared_from_this<exchange<Tls>> {
 public:
  using stream_type = std::conditional_t<Tls, ssl::stream<beast::tcp_stream>, beast::tcp_stream>;

  exchange(asio::io_context& io, std::shared_ptr<const gateway_client::state> st,
           const gateway_url& url, secret_string body, const std::string& idempotency_key,
           std::function<void(exchange_result)> done)
      : strand_(asio::make_strand(io)),
        state_(std::move(st)),
        url_(url),
        resolver_(strand_),
        backoff_(strand_),
        done_(std::move(done)) {
    const auto& s = state_->settings;
    connect_timeout_ = std::chrono::milliseconds(s.connect_timeout_ms);
    read_timeout_ = std::chrono::milliseconds(s.read_timeout_ms);
    max_attempts_ = s.max_attempts;
    request_.method(http::verb::post);
    request_.target(url_.target);
    request_.version(11);
    request_.set(http::field::host, url_.host_header);
    request_.set(http::field::user_agent, "toneguard");
    request_.set(http::field::content_type, "application/json");
    request_.set(http::field::accept, "application/json");
    if (!state_->authorization.empty()) {
      request_.set(http::field::authorization, state_->authorization);
    }
    if (!idempotency_key.empty()) request_.set("Idempotency-Key", idempotency_key);
    request_.keep_alive(false);
    request_.body() = std::move(body);
    request_.prepare_payload();
  }

  ~exchange() { wipe(request_.body()); }

  void start() {
    started_ = std::chrono::steady_clock::now();
    asio::post(strand_, [self = this->shared_from_this()] { self->do_resolve(); });
  }

 private:
  void do_resolve() {
    error_code ec;
    asio::ip::make_address(url_.host, ec);
    const auto flags = ec ? tcp::resolver::flags() : tcp::resolver::numeric_host;
    resolver_.async_resolve(
        url_.host, url_.port, flags,
        beast::bind_front_handler(&exchange::on_resolve, this->shared_from_this()));
  }

  void on_resolve(error_code ec, tcp::resolver::results_type results) {
    if (ec) {
      ++requests_;
      return retry_or_fail(/*resolve_again=*/true, "resolve_failed",
                           "cannot resolve " + url_.host + " (" + ec.message() + ")");
    }
    endpoints_ = std::move(results);
    do_connect();
  }

  void do_connect() {
    ++requests_;
    buffer_.clear();
    if constexpr (Tls) {
      stream_.emplace(strand_, state_->tls);
    } else {
      stream_.emplace(strand_);
    }
    auto& tcp_layer = beast::get_lowest_layer(*stream_);
    tcp_layer.expires_after(connect_timeout_);
    tcp_layer.async_connect(
        endpoints_, beast::bind_front_handler(&exchange::on_connect, this->shared_from_this()));
  }

  void on_connect(error_code ec, const tcp::endpoint&) {
    if (ec == beast::error::timeout) {
      return retry_or_fail(false, "connect_timeout",
                           "no connection to " + where() + " within " +
                               std::to_string(connect_timeout_.count()) + " ms");
    }
    if (ec) {
      return retry_or_fail(false, "connect_failed",
                           "cannot connect to " + where() + " (" + ec.message() + ")");
    }
    if constexpr (Tls) {
      do_handshake();
    } else {
      do_write();
    }
  }

  void do_handshake() {
    SSL* ssl_handle = stream_->native_handle();
    error_code ec;
    asio::ip::make_address(url_.host, ec);
    if (!ec) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), url_.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl_handle, url_.host.c_str());
      SSL_set1_host(ssl_handle, url_.host.c_str());
    }
    beast::get_lowest_layer(*stream_).expires_after(connect_timeout_);
    stream_->async_handshake(
        ssl::stream_base::client,
        beast::bind_front_handler(&exchange::on_handshake, this->shared_from_this()));
  }

  void on_handshake(error_code ec) {
    if (!ec) return do_write();
    if (ec == beast::error::timeout) {
      return retry_or_fail(false, "connect_timeout",
                           "no TLS handshake with " + where() + " within " +
                               std::to_string(connect_timeout_.count()) + " ms");
    }
    if constexpr (Tls) {
      const long verify = SSL_get_verify_result(stream_->native_handle());
      if (state_->settings.verify_peer && verify != X509_V_OK) {
        // A certificate the trust store refuses will be refused again: no retry.
        return fail("tls_certificate", "the certificate of " + where() + " is not trusted (" +
                                           X509_verify_cert_error_string(verify) + ")");
      }
    }
    retry_or_fail(false, "tls_handshake_failed",
                  "TLS handshake with " + where() + " failed (" + ec.message() + ")");
  }

  void do_write() {
    beast::get_lowest_layer(*stream_).expires_after(read_timeout_);
    http::async_write(*stream_, request_,
                      beast::bind_front_handler(&exchange::on_write, this->shared_from_this()));
  }

  void on_write(error_code ec, std::size_t) {
    // No further send can follow the last attempt's: the card data goes now.
    if (requests_ >= max_attempts_) wipe(request_.body());
    if (ec == beast::error::timeout) {
      return fail("timeout", "the request to " + where() + " was not sent within " +
                                 std::to_string(read_timeout_.count()) +
                                 " ms; the outcome is unknown");
    }
    if (ec) {
      return fail("io_error", "sending to " + where() + " failed (" + ec.message() +
                                  "); the outcome is unknown");
    }
    do_read();
  }

  void do_read() {
    parser_.emplace();
    parser_->body_limit(kMaxReplyBytes);
    http::async_read(*stream_, buffer_, *parser_,
                     beast::bind_front_handler(&exchange::on_read, this->shared_from_this()));
  }

  void on_read(error_code ec, std::size_t) {
    if (ec == beast::error::timeout) {
      return fail("timeout", "no reply from " + where() + " within " +
                                 std::to_string(read_timeout_.count()) +
                                 " ms after the request was sent; the outcome is unknown");
    }
    if (ec) {
      return fail("io_error", "reading the reply from " + where() + " failed (" + ec.message() +
                                  "); the outcome is unknown");
    }
    const unsigned status = parser_->get().result_int();
    if (not_processed_status(status) && requests_ < max_attempts_) {
      close();
      return do_backoff(false);
    }
    exchange_result r;
    r.delivered = true;
    r.status = status;
    r.body = std::move(parser_->get().body());
    finish(std::move(r));
  }

  void retry_or_fail(bool resolve_again, std::string code, std::string message) {
    close();
    if (requests_ < max_attempts_) return do_backoff(resolve_again);
    if (requests_ > 1) message += " (" + std::to_string(requests_) + " attempts)";
    fail(std::move(code), std::move(message));
  }

  void do_backoff(bool resolve_again) {
    backoff_.expires_after(
        std::chrono::milliseconds(state_->settings.retry_backoff_ms * requests_));
    backoff_.async_wait([self = this->shared_from_this(), resolve_again](error_code ec) {
      if (ec) return self->fail("cancelled", "the retry was cancelled");
      if (resolve_again) {
        self->do_resolve();
      } else {
        self->do_connect();
      }
    });
  }

  void fail(std::string code, std::string message) {
    exchange_result r;
    r.error_code = std::move(code);
    r.error_message = "gateway: " + std::move(message);
    finish(std::move(r));
  }

  void finish(exchange_result r) {
    wipe(request_.body());
    close();
    if (!done_) return;
    r.requests = requests_;
    r.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - started_)
                       .count();
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(r));
  }

  void close() {
    // No TLS close_notify: the reply is complete (Content-Length or chunked framing) before
    // we close, so a truncation cannot go unnoticed, and a hung peer cannot delay the caller.
    if (stream_) {
      error_code ignored;
      beast::get_lowest_layer(*stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
      beast::get_lowest_layer(*stream_).close();
    }
  }

  std::string where() const { return url_.host_header; }

  asio::strand<asio::io_context::executor_type> strand_;
  std::shared_ptr<const gateway_client::state> state_;
  gateway_url url_;
  tcp::resolver resolver_;
  tcp::resolver::results_type endpoints_;
  asio::steady_timer backoff_;
  std::optional<stream_type> stream_;
  beast::flat_buffer buffer_;
  http::request<secret_body> request_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::function<void(exchange_result)> done_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::milliseconds connect_timeout_{};
  std::chrono::milliseconds read_timeout_{};
  int max_attempts_ = 1;
  int requests_ = 0;
};

void launch(asio::io_context& io, std::shared_ptr<const gateway_client::state> st,
            const gateway_url& url, secret_string body, const std::string& key,
            std::function<void(exchange_result)> done) {
  if (url.tls) {
    std::make_shared<exchange<true>>(io, std::move(st), url, std::move(body), key, std::move(done))
        ->start();
  } else {
    std::make_shared<exchange<false>>(io, std::move(st), url, std::move(body), key, std::move(done))
        ->start();
  }
}

// Serializes `jv` into zeroizing storage (the serializer writes straight into it).
secret_string serialize_secret(const json::value& jv) {
  secret_string out;
  // Large enough for a whole request in one read(), so card strings go straight into `out`.
  out.resize(2048);
  std::size_t used = 0;
  json::serializer sr;
  sr.reset(&jv);
  while (!sr.done()) {
    if (used == out.size()) out.resize(out.size() * 2);  // the allocator wipes the old block
    used += sr.read(out.data() + used, out.size() - used).size();
  }
  // Zero the unused tail rather than keep stale bytes past size().
  wipe_memory(out.data() + used, out.size() - used);
  out.resize(used);
  return out;
}

bool valid_transaction_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == ':';
  });
}

// A JSON string in zeroizing storage holding the revealed value, or null when it is empty.
json::value secret_value(std::string_view v) {
  if (v.empty()) return json::value(nullptr, zeroizing_json_storage());
  return json::value(json::string(v, zeroizing_json_storage()));
}

outcome<secret_string> charge_body(const gateway_request& request, const card_data& card) {
  if (!valid_transaction_id(request.transaction_id)) {
    return failure{"transaction_id must be 1..128 of letters, digits, '-', '_', '.', ':'"};
  }
  if (request.amount.minor < 0) return failure{"the amount is negative"};
  if (request.amount.code.code.empty()) return failure{"the amount has no currency"};
  const std::string_view pan = card.reveal(card_field::pan);
  const std::string_view expiry = card.reveal(card_field::expiry);
  if (pan.empty()) return failure{"no card number"};
  if (!expiry.empty() && expiry.size() != 4) return failure{"the expiry must be MMYY"};

  const json::storage_ptr sp = zeroizing_json_storage();
  json::object body(sp);
  body["transaction_id"] = request.transaction_id;
  body["method"] = method_name(request.method);
  body["cardnumber"] = secret_value(pan);
  body["cvv"] = secret_value(card.reveal(card_field::cvv));
  if (expiry.empty()) {
    body["expiry_month"] = nullptr;
    body["expiry_year"] = nullptr;
  } else {
    body["expiry_month"] = secret_value(expiry.substr(0, 2));
    json::string year(sp);
    year.append("20");
    year.append(expiry.substr(2, 2));
    body["expiry_year"] = std::move(year);
  }
  body["postal_code"] = secret_value(card.reveal(card_field::postal_code));
  body["chargeAmount"] = format_decimal(request.amount);
  body["currency_code"] = request.amount.code.code;
  if (auto t = request.parameters.find("token_type"); t != request.parameters.end()) {
    body["token_type"] = t->second;
  } else {
    body["token_type"] = nullptr;
  }
  body["description"] = request.description;
  json::object parameters(sp);
  for (const auto& [k, v] : request.parameters) parameters[k] = v;
  body["parameters"] = std::move(parameters);
  return serialize_secret(json::value(std::move(body)));
}

outcome<secret_string> identify_body(const identity_request& request, const card_data& secret) {
  if (!valid_transaction_id(request.request_id)) {
    return failure{"request_id must be 1..128 of letters, digits, '-', '_', '.', ':'"};
  }
  if (request.account_id.empty() || request.account_id.size() > 64) {
    return failure{"account_id must be 1..64 characters"};
  }
  const std::string_view value = secret.reveal(card_field::verification);
  if (value.empty()) return failure{"no verification secret"};
  json::object body(zeroizing_json_storage());
  body["request_id"] = request.request_id;
  body["account_id"] = request.account_id;
  body["kind"] = verification_kind_name(request.kind);
  body["secret"] = secret_value(value);
  return serialize_secret(json::value(std::move(body)));
}

outcome<std::string> check_settings(const gateway_settings& s) {
  const auto in = [](int v, int lo, int hi) { return v >= lo && v <= hi; };
  if (!in(s.connect_timeout_ms, 1, 600000)) {
    return failure{"gateway settings: connect_timeout_ms must be 1..600000"};
  }
  if (!in(s.read_timeout_ms, 1, 600000)) {
    return failure{"gateway settings: read_timeout_ms must be 1..600000"};
  }
  if (!in(s.max_attempts, 1, 10)) return failure{"gateway settings: max_attempts must be 1..10"};
  if (!in(s.retry_backoff_ms, 0, 10000)) {
    return failure{"gateway settings: retry_backoff_ms must be 0..10000"};
  }
  if (s.username.find(':') != std::string::npos) {
    return failure{"gateway settings: the username may not contain ':' (HTTP Basic)"};
  }
  for (const auto* v : {&s.username, &s.password}) {
    for (char c : *v) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return failure{"gateway settings: the credentials have a control character"};
      }
    }
  }
  if (s.username.empty()) return std::string();
  return basic_authorization(s.username, s.password);
}

template <class Reply, class Done>
void post_reply(asio::io_context& io, Reply reply, Done done) {
  asio::post(
      io, [reply = std::move(reply), done = std::move(done)]() mutable { done(std::move(reply)); });
}

void start_charge(asio::io_context& io, const std::shared_ptr<const gateway_client::state>& st,
                  const gateway_request& request, const card_data& card,
                  std::function<void(gateway_reply)> done) {
  gateway_reply early;
  early.outcome = gateway_outcome::error;
  early.error_code = "bad_request";
  std::optional<pan_fingerprint> pan;
  outcome<secret_string> body = failure{""};
  try {
    body = charge_body(request, card);
    if (body) pan = fingerprint_pan(card.reveal(card_field::pan));
  } catch (const std::exception&) {
    body = failure{"out of memory while building the request"};
  }
  if (!body) {
    early.error_message = "gateway request: " + body.message();
    return post_reply(io, std::move(early), std::move(done));
  }
  const gateway_method method = request.method;
  auto on_done = [done = std::move(done), method, pan](exchange_result r) {
    gateway_reply reply;
    if (r.delivered) {
      reply = parse_gateway_reply(method, r.status, r.body);
      if (not_processed_status(r.status) && r.requests > 1) {
        reply.error_message += " (" + std::to_string(r.requests) + " attempts)";
      }
    } else {
      reply.outcome = gateway_outcome::error;
      reply.error_code = std::move(r.error_code);
      reply.error_message = std::move(r.error_message);
    }
    hide_echoed_pan(reply.reference, pan);
    reply.latency_ms = r.latency_ms;
    reply.requests = r.requests;
    done(std::move(reply));
  };
  launch(io, st, st->charge_url, std::move(body).value(), request.transaction_id,
         std::move(on_done));
}

void start_identify(asio::io_context& io, const std::shared_ptr<const gateway_client::state>& st,
                    const identity_request& request, const card_data& secret,
                    std::function<void(identity_reply)> done) {
  identity_reply early;
  early.outcome = identity_outcome::error;
  if (!st->identify_url) {
    early.error_message = "identification: no identify_url configured";
    return post_reply(io, std::move(early), std::move(done));
  }
  outcome<secret_string> body = failure{""};
  try {
    body = identify_body(request, secret);
  } catch (const std::exception&) {
    body = failure{"out of memory while building the request"};
  }
  if (!body) {
    early.error_message = "identification request: " + body.message();
    return post_reply(io, std::move(early), std::move(done));
  }
  auto on_done = [done = std::move(done)](exchange_result r) {
    identity_reply reply;
    if (r.delivered) {
      reply = parse_identity_reply(r.status, r.body);
    } else {
      reply.outcome = identity_outcome::error;
      reply.error_message = std::move(r.error_message);
    }
    reply.latency_ms = r.latency_ms;
    done(std::move(reply));
  };
  launch(io, st, *st->identify_url, std::move(body).value(), request.request_id,
         std::move(on_done));
}

}  // namespace

gateway_client::gateway_client(asio::io_context& io, std::shared_ptr<const state> s)
    : io_(&io), state_(std::move(s)) {}

outcome<gateway_client> gateway_client::create(asio::io_context& io, gateway_settings settings) {
  auto st = std::make_shared<state>();
  auto auth = check_settings(settings);
  if (!auth) return failure{auth.message()};
  st->authorization = std::move(auth).value();
  auto url = parse_gateway_url(settings.url);
  if (!url) return failure{"gateway settings: url: " + url.message()};
  st->charge_url = std::move(url).value();
  if (!settings.identify_url.empty()) {
    auto id_url = parse_gateway_url(settings.identify_url);
    if (!id_url) return failure{"gateway settings: identify_url: " + id_url.message()};
    st->identify_url = std::move(id_url).value();
  }

  SSL_CTX* ctx = st->tls.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Plaintext records are wiped from OpenSSL's buffers once read.
  SSL_CTX_set_options(ctx,
                      SSL_OP_CLEANSE_PLAINTEXT | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  error_code ec;
  st->tls.set_verify_mode(settings.verify_peer ? ssl::verify_peer : ssl::verify_none, ec);
  if (!settings.ca_pem.empty()) {
    st->tls.add_certificate_authority(asio::buffer(settings.ca_pem), ec);
    if (ec) return failure{"gateway settings: ca_pem: " + ec.message()};
  }
  if (!settings.ca_file.empty()) {
    st->tls.load_verify_file(settings.ca_file, ec);
    if (ec) return failure{"gateway settings: ca_file '" + settings.ca_file + "': " + ec.message()};
  }
  if (!settings.ca_dir.empty()) {
    st->tls.add_verify_path(settings.ca_dir, ec);
    if (ec) return failure{"gateway settings: ca_dir '" + settings.ca_dir + "': " + ec.message()};
  }
  if (settings.ca_pem.empty() && settings.ca_file.empty() && settings.ca_dir.empty()) {
    st->tls.set_default_verify_paths(ec);
    if (ec) return failure{"gateway settings: the system trust store: " + ec.message()};
  }
  st->settings = std::move(settings);
  return gateway_client(io, std::move(st));
}

void gateway_client::async_charge(const gateway_request& request, const card_data& card,
                                  std::function<void(gateway_reply)> done) const {
  start_charge(*io_, state_, request, card, std::move(done));
}

void gateway_client::async_identify(const identity_request& request, const card_data& secret,
                                    std::function<void(identity_reply)> done) const {
  start_identify(*io_, state_, request, secret, std::move(done));
}

gateway_reply gateway_client::charge(const gateway_request& request, const card_data& card) const {
  asio::io_context io;
  gateway_reply out;
  start_charge(io, state_, request, card, [&out](gateway_reply r) { out = std::move(r); });
  io.run();
  return out;
}

identity_reply gateway_client::identify(const identity_request& request,
                                        const card_data& secret) const {
  asio::io_context io;
  identity_reply out;
  start_identify(io, state_, request, secret, [&out](identity_reply r) { out = std::move(r); });
  io.run();
  return out;
}

const gateway_settings& gateway_client::settings() const noexcept {
  return state_->settings;
}

}  // namespace toneguard::engine
