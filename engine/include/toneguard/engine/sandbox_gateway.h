#pragma once
/// The embedded sandbox gateway: the "generic pay connector" contract (gateway_client.h) served
/// over real HTTP/1.1 or HTTPS on an address of its own, with documented test cards, so that
/// toneguard, its tools and its tests run with no outside service. docs/sandbox-gateway.md
/// has the same tables.
///
/// Endpoints (POST, JSON, HTTP Basic auth with the configured credentials; 401 otherwise):
///   /charge    the charge and tokenize contract; Idempotency-Key, when sent, must equal the
///              body's transaction_id.
///   /identify  identification: {request_id, account_id, kind: "pin"|"date_of_birth", secret}.
///
/// Test cards (any CVV of 3-4 digits or none; any expiry not in the past or none):
///   number             brand       reply
///   4111111111111111   visa        200 approved
///   4012888888881881   visa        200 approved
///   5555555555554444   mastercard  200 approved
///   2223003122003222   mastercard  200 approved
///   378282246310005    amex        200 approved
///   6011111111111117   discover    200 approved
///   3530111333300000   jcb         200 approved
///   36227206271667     diners      200 approved
///   6200000000000005   unionpay    200 approved
///   4000000000000002   visa        402 card_declined
///   4000000000009995   visa        402 insufficient_funds
///   4000000000000069   visa        402 expired_card
///   4000000000000127   visa        402 incorrect_cvc
///   4000000000003006   visa        200 approved after slow_reply_ms (3000 ms x delay_scale)
///   4000000000009003   visa        charged, but the reply never comes (the client times out;
///                                  a replay of the transaction_id returns the approval)
///   4000000000005001   visa        500 server_error (processed: a replay returns it again)
///   4000000000005035   visa        503 service_unavailable, not processed (retry is safe)
///   4000000000004293   visa        429 rate_limited, not processed (retry is safe)
/// Any other number of 12-19 digits passing Luhn is approved; failing Luhn or of another
/// length: 402 invalid_card. CVV not 3-4 digits: 402 invalid_cvc; expiry malformed: 402
/// invalid_expiry, in the past: 402 expired_card. A malformed body, an unknown currency or an
/// amount not written with exactly the currency's minor units ("19.99" USD, "1500" JPY):
/// 400 invalid_request (not processed).
///
/// Test accounts for /identify (date of birth as DDMMYYYY):
///   account    PIN    date of birth  reply
///   12345678   1234   01021980       verified, customer_id cust_12345678, balance 125.50 USD
///   23456789   2468   15071992       verified, customer_id cust_23456789, no balance
///   99999999   any    any            500 identity_unavailable
///   any other account or a wrong secret: 200 {"verified": false}
///
/// Idempotency: the first processed reply to a transaction_id (approved, declined, 500) is
/// kept; a replay with the same method, amount, currency and last four returns it unchanged
/// and never charges twice (counters().replays); a replay that differs gets 409
/// idempotency_conflict. 400, 401, 429 and 503 replies are not kept.
///
/// Card data: the request body is read into zeroizing memory and wiped after the decision;
/// the sandbox keeps and logs nothing of a card but its last four digits.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "toneguard/engine/card_rules.h"
#include "toneguard/engine/result.h"

namespace toneguard::engine {

/// What the sandbox does with a charge.
enum class sandbox_behaviour : std::uint8_t {
  approve,        // 200 with charge_id / token_id
  decline,        // 402 with a card decline code
  slow_reply,     // approve after slow_reply_ms x delay_scale
  never_reply,    // approve (recorded) but never send the reply
  server_error,   // 500 server_error (recorded)
  not_processed,  // 503 service_unavailable (not recorded)
  rate_limited,   // 429 rate_limited (not recorded)
};

/// One documented test card.
struct sandbox_test_card {
  std::string_view number;
  std::string_view brand;
  sandbox_behaviour behaviour = sandbox_behaviour::approve;
  /// The error_code sent, for declines and errors; empty when approved.
  std::string_view error_code;
};

/// The test cards, in the order of the table above.
[[nodiscard]] std::span<const sandbox_test_card> sandbox_test_cards() noexcept;

/// One documented identification test account.
struct sandbox_test_account {
  std::string_view account_id;
  std::string_view pin;
  /// DDMMYYYY.
  std::string_view date_of_birth;
  std::string_view customer_id;
  /// Decimal in `currency`, or empty when the account has no balance to report.
  std::string_view balance;
  std::string_view currency;
  /// True for the account whose identification fails with a 500.
  bool service_error = false;
};

/// The test accounts, in the order of the table above.
[[nodiscard]] std::span<const sandbox_test_account> sandbox_test_accounts() noexcept;

/// The sandbox's configuration.
struct sandbox_settings {
  /// Listening address (an IP address; loopback in tests) and port; port 0 takes an
  /// ephemeral port, reported by port().
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  /// HTTPS (true) or plain HTTP.
  bool tls = true;
  /// PEM certificate (chain) and private key files; both empty: a self-signed P-256
  /// certificate for CN localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1, made in memory at
  /// start (certificate_pem() exports it).
  std::string cert_file;
  std::string key_file;
  /// HTTP Basic credentials every request must carry; an empty username turns auth off.
  std::string username = "sandbox";
  std::string password = "sandbox";
  /// Milliseconds the slow test card waits before its reply, before delay_scale.
  int slow_reply_ms = 3000;
  /// Factor on slow_reply_ms (tests use e.g. 0.05), 0..100.
  double delay_scale = 1.0;
  /// Milliseconds a never-replying request is held before the connection is closed without a
  /// reply (not scaled); stop() ends it earlier.
  int never_reply_hold_ms = 600000;
  /// Milliseconds a connection may take to send its request (handshake included).
  int request_timeout_ms = 10000;
  /// Threads running the sandbox's io_context, 1..16.
  int threads = 1;
};

/// What the sandbox has done since start (every number counts requests with valid
/// credentials unless said otherwise).
struct sandbox_counters {
  /// Requests to /charge, any outcome, valid credentials or not.
  std::uint64_t requests = 0;
  /// Approved charges made (each transaction_id at most once).
  std::uint64_t charges = 0;
  /// Approved tokenizations made.
  std::uint64_t tokens = 0;
  /// Declines made (each transaction_id at most once).
  std::uint64_t declines = 0;
  /// Replays answered from the idempotency record.
  std::uint64_t replays = 0;
  /// 500 replies recorded.
  std::uint64_t server_errors = 0;
  /// 503 and 429 replies (not processed).
  std::uint64_t not_processed = 0;
  /// 400 and 409 replies.
  std::uint64_t rejected = 0;
  /// Requests refused for missing or wrong credentials (any endpoint).
  std::uint64_t unauthorized = 0;
  /// Requests to /identify with valid credentials.
  std::uint64_t identifications = 0;
};

/// One HTTP answer of the sandbox, before delays.
struct sandbox_answer {
  unsigned status = 500;
  /// The JSON reply body (never card data).
  std::string body;
  sandbox_behaviour behaviour = sandbox_behaviour::approve;
  /// The request's transaction_id when it could be read (the idempotency key), else empty.
  std::string transaction_id;
  /// What a replay must match: method, amount, currency and last four digits.
  std::string fingerprint;
  /// The card's last four digits when the number could be read.
  std::string last_four;
  /// True when the answer is kept for replays (approved, declined, 500).
  bool processed = false;
};

/// The sandbox's decision on one /charge request body (the tables above), without the
/// idempotency record and the delays. `sequence` numbers the reference ("ch_sbx_000042");
/// `today` decides expiry. Pure, never throws, any input (it is fuzzed); the body's card values
/// pass only through zeroizing memory.
[[nodiscard]] sandbox_answer answer_charge(std::string_view body, std::uint64_t sequence,
                                           year_month today) noexcept;

/// The sandbox's answer to one /identify request body (the test accounts above). Pure, never
/// throws, any input; the secret is compared in constant time.
[[nodiscard]] sandbox_answer answer_identify(std::string_view body) noexcept;

/// A running sandbox gateway. Owns its io_context, threads and listening socket. Its
/// accessors may be called from any thread; stop() and the destructor from any thread but
/// the sandbox's own.
class sandbox_gateway {
 public:
  /// Binds, listens and starts the threads; the failure names the problem (bad address,
  /// port in use, unreadable certificate, ...).
  [[nodiscard]] static outcome<std::unique_ptr<sandbox_gateway>> start(sandbox_settings settings);

  /// Stops (stop()).
  ~sandbox_gateway();
  sandbox_gateway(const sandbox_gateway&) = delete;
  sandbox_gateway& operator=(const sandbox_gateway&) = delete;

  /// Closes the listener and every connection (held replies are dropped), then joins the
  /// threads. Idempotent. The counters stay readable.
  void stop();

  /// The bound port (the ephemeral one when settings.port was 0).
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// "https://127.0.0.1:<port>/charge" (http:// without TLS; IPv6 in brackets).
  [[nodiscard]] std::string url() const;
  /// The same for "/identify".
  [[nodiscard]] std::string identify_url() const;
  /// The server certificate in PEM, to trust exactly this sandbox (gateway_settings::ca_pem);
  /// empty without TLS.
  [[nodiscard]] const std::string& certificate_pem() const noexcept;
  /// A snapshot of the counters.
  [[nodiscard]] sandbox_counters counters() const;
  /// The last four digits the sandbox recorded for `transaction_id`, or empty.
  [[nodiscard]] std::string recorded_last_four(const std::string& transaction_id) const;

  /// The server's state and threads; defined in the .cpp.
  struct impl;

 private:
  explicit sandbox_gateway(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace toneguard::engine
