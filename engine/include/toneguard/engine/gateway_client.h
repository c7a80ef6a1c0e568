#pragma once
/// The payment gateway client: the "generic pay connector" JSON contract over HTTP/1.1 and
/// HTTPS (Boost.Beast, Boost.Asio, OpenSSL), and the identification call beside it.
///
/// The contract (docs/sandbox-gateway.md has the full text):
///   POST <url>, Content-Type: application/json, HTTP Basic auth, `Idempotency-Key: <id>`,
///   body {transaction_id, method: "charge"|"tokenize", cardnumber, cvv, expiry_month ("MM"),
///         expiry_year ("YYYY"), postal_code, chargeAmount (decimal string with exactly the
///         currency's minor units, "19.99"), currency_code, token_type, description,
///         parameters {string: string}}.
///   200 {charge_id | token_id, error_code: null}            -> approved
///   4xx {error_code: <a card decline code>, error_message}  -> declined (card_decline_codes())
///   other non-200 {error_code, error_message}               -> error
///
/// Identification: POST <identify_url> {request_id, account_id, kind: "pin"|"date_of_birth",
/// secret} -> 200 {verified: true, customer_id, balance?, currency_code?} | 200 {verified:
/// false} | non-200 {error_code, error_message} (error).
///
/// Retries (bounded by max_attempts, backoff retry_backoff_ms x attempt) happen ONLY where the
/// charge cannot have happened: the host name did not resolve, the connection was refused or
/// timed out, the TLS handshake failed (except certificate verification failures, which are
/// configuration errors and end at once), all before the request was sent; and HTTP 503 and
/// 429 replies, which the contract defines as "not processed". Every retry carries the same
/// transaction_id and Idempotency-Key. A read timeout after the request was sent ends the
/// attempt with error_code "timeout" (the charge's fate is unknown) and is never retried.
/// The client's own error codes: resolve_failed, connect_failed, connect_timeout,
/// tls_handshake_failed, tls_certificate, timeout, io_error (the outcome is unknown), bad_reply,
/// http_<status>, bad_request (refused before sending: bad transaction_id, no card number...).
///
/// Card data: the values are copied from card_data::reveal() into a JSON body held in
/// zeroizing memory before async_charge returns (the caller may clear its card_data right
/// after); the body is wiped (explicit_bzero) after the last send and when the operation ends.
/// No card value ever appears in an error message, a reply or an exception text: the messages
/// are ours; in text from the gateway every digit is hidden, and a reference that repeats the
/// card number (checked against a keyed hash of it, not the number) is masked.

#include <boost/json/storage_ptr.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>

#include "toneguard/engine/card_data.h"
#include "toneguard/engine/gateway_contract.h"
#include "toneguard/engine/result.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace toneguard::engine {

/// A gateway URL taken apart.
struct gateway_url {
  /// https (true) or http.
  bool tls = true;
  /// Host name or IP address, without IPv6 brackets.
  std::string host;
  /// Port, as text ("443" by default for https, "80" for http).
  std::string port;
  /// Path and query sent in the request line ("/" when the URL has none).
  std::string target;
  /// The Host header value ("host" or "host:port", brackets kept for IPv6).
  std::string host_header;
};

/// Parses a gateway URL (rules in gateway_settings::url). Failure names the problem; never
/// throws. Any thread.
[[nodiscard]] outcome<gateway_url> parse_gateway_url(std::string_view url);

/// True when `host` (a name or an address without brackets) is loopback: "localhost",
/// 127.0.0.0/8 or ::1.
[[nodiscard]] bool is_loopback_host(std::string_view host) noexcept;

/// The error codes that mean the card was refused (declined outcome, a new card may be tried),
/// sorted: card_declined, card_not_supported, card_velocity_exceeded, do_not_honor,
/// expired_card, fraudulent, incorrect_cvc, incorrect_number, incorrect_postal_code,
/// incorrect_zip, insufficient_funds, invalid_card, invalid_cvc, invalid_expiry,
/// invalid_expiry_month, invalid_expiry_year, invalid_number, lost_card, pickup_card,
/// restricted_card, stolen_card, transaction_not_allowed, withdrawal_count_limit_exceeded.
[[nodiscard]] std::span<const std::string_view> card_decline_codes() noexcept;

/// True when `code` (an error_code) is in card_decline_codes().
[[nodiscard]] bool is_card_decline(std::string_view code) noexcept;

/// Turns one HTTP reply (status and body bytes) to a charge or tokenize request into a
/// gateway_reply (outcome, reference, error_code, error_message; latency_ms and requests are
/// left 0). Pure, never throws, any input (it is fuzzed):
///   200 + JSON object with charge_id (charge) or token_id (tokenize) a non-empty string or
///   integer and error_code null or absent -> approved; 4xx + error_code in
///   card_decline_codes() -> declined; any other status with an error_code -> error with that
///   code; a body that is not JSON, not an object, or lacks a field -> error "bad_reply"
///   (2xx) or "http_<status>" with a message naming the problem.
/// Text taken from the body (error_code, error_message) is cut to 200 characters, control
/// characters become spaces, non-ASCII bytes '?', and every digit '#': a gateway echoing a
/// card number, CVV or expiry cannot carry it into our logs.
[[nodiscard]] gateway_reply parse_gateway_reply(gateway_method method, unsigned http_status,
                                                std::string_view body) noexcept;

/// Turns one HTTP reply to an identification request into an identity_reply: 200 {verified:
/// true, customer_id (non-empty string), balance (decimal string) with currency_code} ->
/// verified (balance_minor set when both balance and a known currency_code are present and
/// valid); 200 {verified: false} -> not_verified; anything else -> error with a message naming
/// the problem. Pure, never throws, any input.
[[nodiscard]] identity_reply parse_identity_reply(unsigned http_status,
                                                  std::string_view body) noexcept;

/// The HTTP Basic Authorization header value: "Basic " + base64(username ":" password).
[[nodiscard]] std::string basic_authorization(std::string_view username, std::string_view password);

/// The contract's name for a method: "charge", "tokenize".
[[nodiscard]] std::string_view method_name(gateway_method m) noexcept;

/// The contract's name for a verification kind: "pin", "date_of_birth".
[[nodiscard]] std::string_view verification_kind_name(verification_kind k) noexcept;

/// Zeroizes `n` bytes at `p` (explicit_bzero: the compiler may not drop it). Any thread.
void wipe_memory(void* p, std::size_t n) noexcept;

/// An allocator that wipes (explicit_bzero) every block it gives back, for strings and
/// buffers that carry card data: growth and destruction leave no copies behind.
template <class T>
struct zeroizing_allocator {
  using value_type = T;
  zeroizing_allocator() noexcept = default;
  template <class U>
  zeroizing_allocator(const zeroizing_allocator<U>&) noexcept {}  // NOLINT: rebinding
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept {
    wipe_memory(p, n * sizeof(T));
    ::operator delete(p);
  }
  template <class U>
  friend bool operator==(const zeroizing_allocator&, const zeroizing_allocator<U>&) noexcept {
    return true;
  }
};

/// A std::string whose storage is wiped whenever it is released. Small values may sit in the
/// object itself (no allocation); call wipe() before such an object dies.
using secret_string = std::basic_string<char, std::char_traits<char>, zeroizing_allocator<char>>;

/// Zeroizes `s` (its whole capacity) and empties it.
void wipe(secret_string& s) noexcept;

/// Boost.JSON storage that wipes every block it frees: values and parsers holding card data
/// use it. The resource lives for the whole program. Any thread.
[[nodiscard]] boost::json::storage_ptr zeroizing_json_storage() noexcept;

/// A gateway client. Cheap to copy (the settings and the TLS context are shared, immutable
/// after create). Operations are independent, each on its own strand of the io_context given
/// to create(); any thread may start them, also while others are in flight.
class gateway_client {
 public:
  /// Checks `settings` (URLs, timeouts, attempts, credentials) and loads the trust store.
  /// The failure names the bad setting. `io` must outlive every operation started.
  [[nodiscard]] static outcome<gateway_client> create(boost::asio::io_context& io,
                                                      gateway_settings settings);

  /// Charges or tokenizes `card` as `request` asks. The card values are copied into the
  /// zeroizing request body before this returns, so the caller may clear `card` at once.
  /// `done` is called exactly once, on a thread running the io_context (never inside this
  /// call), unless the io_context is stopped and destroyed first. Any thread.
  void async_charge(const gateway_request& request, const card_data& card,
                    std::function<void(gateway_reply)> done) const;

  /// Verifies a caller: `secret` holds the PIN or date of birth (DDMMYYYY) in its
  /// card_field::verification. Same threading and lifetime rules as async_charge; an error
  /// reply when no identify_url is configured.
  void async_identify(const identity_request& request, const card_data& secret,
                      std::function<void(identity_reply)> done) const;

  /// Blocking charge for tools and tests: runs a private io_context on the calling thread
  /// until the reply. Never call it from a handler of an io_context the caller relies on.
  [[nodiscard]] gateway_reply charge(const gateway_request& request, const card_data& card) const;

  /// Blocking identification, as charge().
  [[nodiscard]] identity_reply identify(const identity_request& request,
                                        const card_data& secret) const;

  /// The settings this client was created with.
  [[nodiscard]] const gateway_settings& settings() const noexcept;

  /// The shared, immutable part (settings, parsed URLs, TLS context); defined in the .cpp.
  struct state;

 private:
  gateway_client(boost::asio::io_context& io, std::shared_ptr<const state> s);
  boost::asio::io_context* io_;
  std::shared_ptr<const state> state_;
};

}  // namespace toneguard::engine
