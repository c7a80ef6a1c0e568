#pragma once
/// The payment gateway as the payment dialog sees it: what a charge asks for and how the
/// gateway answered. The wire format (the "generic pay connector" JSON contract) lives in
/// gateway_client.h and sandbox_gateway.h; these are plain values. Any thread.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "toneguard/engine/money.h"

namespace toneguard::engine {

/// What the gateway is asked to do with the card.
enum class gateway_method : std::uint8_t {
  charge,    // take the amount now
  tokenize,  // store the card and return a token (amount may be 0)
};

/// One charge or tokenization attempt, without the card (the card_data goes beside it, so
/// this value can be logged and reported as it is).
struct gateway_request {
  /// Unique per payment attempt and reused on every retry of that attempt: the gateway's
  /// idempotency key and the contract's `transaction_id`.
  std::string transaction_id;
  gateway_method method = gateway_method::charge;
  money amount;
  /// Free text for the merchant's records (the payment reference), no card data.
  std::string description;
  /// The payment's pass-through parameters, sent as the contract's `parameters` object.
  std::map<std::string, std::string> parameters;
};

/// How a gateway attempt ended.
enum class gateway_outcome : std::uint8_t {
  approved,  // charged (charge_id) or tokenized (token_id)
  declined,  // the card was refused; a new card may be tried
  error,     // the gateway failed or could not be reached; the charge did not happen or its
             // fate is unknown
};

/// The gateway's answer to one gateway_request.
struct gateway_reply {
  gateway_outcome outcome = gateway_outcome::error;
  /// The charge_id or token_id when approved.
  std::string reference;
  /// The contract's error_code when declined or error ("card_declined",
  /// "insufficient_funds", "timeout", "http_500", ...).
  std::string error_code;
  /// A message for logs and reports (never card data).
  std::string error_message;
  /// Milliseconds from the first request to the reply, all retries included.
  std::int64_t latency_ms = 0;
  /// HTTP requests made (1 plus retries).
  int requests = 0;
};

/// Where and how the gateway and the identification service are reached (`[payment.gateway]`
/// of the payment config; gateway_client.h uses them). The password is a secret: never log or
/// report these settings.
struct gateway_settings {
  /// The charge endpoint: "https://host[:port]/path". "http://" is accepted only to a loopback
  /// host (localhost, 127.0.0.0/8, ::1), for the embedded sandbox and tests: card data never
  /// travels unencrypted off the machine. In a payment config, "sandbox" names the embedded
  /// sandbox gateway (the config's default); the program that starts it puts its URL here
  /// before making a client.
  std::string url;
  /// HTTP Basic credentials; no Authorization header when username is empty. The username may
  /// not contain ':'.
  std::string username;
  std::string password;
  /// Trusted CAs: a PEM file, a hashed directory (c_rehash), or PEM text in memory (e.g. the
  /// sandbox's certificate_pem()). When all three are empty the system store is used.
  std::string ca_file;
  std::string ca_dir;
  std::string ca_pem;
  /// Milliseconds allowed to connect, TLS handshake included, per HTTP request (100..60000).
  int connect_timeout_ms = 3'000;
  /// Milliseconds allowed from the first byte sent to the whole reply read, per HTTP request
  /// (100..120000).
  int read_timeout_ms = 15'000;
  /// HTTP requests per gateway attempt, retries with the same transaction_id included (1..10;
  /// 1 = no retry).
  int max_attempts = 2;
  /// Milliseconds before retry n (n = 1, 2, ...): retry_backoff_ms x n, 0..10000.
  int retry_backoff_ms = 200;
  /// The identification (verify PIN / date of birth) endpoint, same forms as `url` ("sandbox"
  /// in a payment config, its default); empty when identification is not used.
  std::string identify_url;
  /// Verify the server's certificate chain and its host name (or IP address). Turn off only in
  /// development; then any server is believed.
  bool verify_peer = true;
  /// Charge the card, or tokenize it.
  gateway_method method = gateway_method::charge;
};

/// Identification and verification of a caller: the account number they entered, checked
/// with the secret in card_data's `verification` field (which travels beside this value, never
/// inside it).
enum class verification_kind : std::uint8_t { pin, date_of_birth };

struct identity_request {
  /// Unique per verification attempt (logged; no secret).
  std::string request_id;
  /// The account number the caller entered (an identifier, not a secret).
  std::string account_id;
  verification_kind kind = verification_kind::pin;
};

/// How a verification ended.
enum class identity_outcome : std::uint8_t {
  verified,      // account exists and the secret matches
  not_verified,  // unknown account or wrong secret (indistinguishable on purpose)
  error,         // the service failed or could not be reached
};

struct identity_reply {
  identity_outcome outcome = identity_outcome::error;
  /// The customer id the service returned when verified (passed on to the payment).
  std::string customer_id;
  /// The outstanding balance the service returned, in minor units, when it knows one.
  std::optional<std::int64_t> balance_minor;
  std::string error_message;
  std::int64_t latency_ms = 0;
};

}  // namespace toneguard::engine
