#include "toneguard/engine/sandbox_gateway.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
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
#include <cstdio>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "beast_names.h"
#include "server_tls.h"
#include "toneguard/engine/gateway_client.h"
#include "toneguard/engine/money.h"

namespace toneguard::engine {

namespace {

constexpr std::array kTestCards{
    sandbox_test_card{"4111111111111111", "visa", sandbox_behaviour::approve, ""},
    sandbox_test_card{"4012888888881881", "visa", sandbox_behaviour::approve, ""},
    sandbox_test_card{"5555555555554444", "mastercard", sandbox_behaviour::approve, ""},
    sandbox_test_card{"2223003122003222", "mastercard", sandbox_behaviour::approve, ""},
    sandbox_test_card{"378282246310005", "amex", sandbox_behaviour::approve, ""},
    sandbox_test_card{"6011111111111117", "discover", sandbox_behaviour::approve, ""},
    sandbox_test_card{"3530111333300000", "jcb", sandbox_behaviour::approve, ""},
    sandbox_test_card{"36227206271667", "diners", sandbox_behaviour::approve, ""},
    sandbox_test_card{"6200000000000005", "unionpay", sandbox_behaviour::approve, ""},
    sandbox_test_card{"4000000000000002", "visa", sandbox_behaviour::decline, "card_declined"},
    sandbox_test_card{"4000000000009995", "visa", sandbox_behaviour::decline, "insufficient_funds"},
    sandbox_test_card{"4000000000000069", "visa", sandbox_behaviour::decline, "expired_card"},
    sandbox_test_card{"4000000000000127", "visa", sandbox_behaviour::decline, "incorrect_cvc"},
    sandbox_test_card{"4000000000003006", "visa", sandbox_behaviour::slow_reply, ""},
    sandbox_test_card{"4000000000009003", "visa", sandbox_behaviour::never_reply, ""},
    sandbox_test_card{"4000000000005001", "visa", sandbox_behaviour::server_error, "server_error"},
    sandbox_test_card{"4000000000005035", "visa", sandbox_behaviour::not_processed,
                      "service_unavailable"},
    sandbox_test_card{"4000000000004293", "visa", sandbox_behaviour::rate_limited, "rate_limited"},
};

constexpr std::array kTestAccounts{
    sandbox_test_account{"12345678", "1234", "01021980", "cust_12345678", "125.50", "USD", false},
    sandbox_test_account{"23456789", "2468", "15071992", "cust_23456789", "", "", false},
    sandbox_test_account{"99999999", "", "", "", "", "", true},
};

}  // namespace

std::span<const sandbox_test_card> sandbox_test_cards() noexcept {
  return kTestCards;
}

std::span<const sandbox_test_account> sandbox_test_accounts() noexcept {
  return kTestAccounts;
}

// --- the decisions (pure) -------------------------------------------------------------------

namespace {

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == ':';
  });
}

// Parses a request body that carries secrets: the parser's stack and the value live in
// zeroizing storage.
std::optional<json::value> parse_secret_json(std::string_view body) {
  json::parser p(zeroizing_json_storage());
  p.reset(zeroizing_json_storage());
  error_code ec;
  p.write(body.data(), body.size(), ec);  // the whole document, nothing after it
  if (ec) return std::nullopt;
  return p.release();
}

std::string error_body(std::string_view transaction_id, std::string_view code,
                       std::string_view message) {
  json::object o;
  if (!transaction_id.empty()) o["transaction_id"] = transaction_id;
  o["charge_id"] = nullptr;
  o["error_code"] = code;
  o["error_message"] = message;
  return json::serialize(o);
}

sandbox_answer reject(std::string_view transaction_id, std::string_view message) {
  sandbox_answer a;
  a.status = 400;
  a.transaction_id = std::string(transaction_id);
  a.body = error_body(transaction_id, "invalid_request", message);
  return a;
}

// A string field: absent and null give "", another type gives nullopt.
std::optional<std::string_view> optional_string(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::string_view();
  if (!v->is_string()) return std::nullopt;
  return std::string_view(v->get_string());
}

const sandbox_test_card* find_test_card(std::string_view number) {
  for (const auto& c : kTestCards) {
    if (c.number == number) return &c;
  }
  return nullptr;
}

std::string reference(std::string_view prefix, std::uint64_t sequence) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%06llu", static_cast<unsigned long long>(sequence));
  return std::string(prefix) + digits;
}

sandbox_answer answer_charge_unguarded(std::string_view body, std::uint64_t sequence,
                                       year_month today) {
  const auto parsed = parse_secret_json(body);
  if (!parsed || !parsed->is_object()) return reject("", "the body is not a JSON object");
  const json::object& o = parsed->as_object();

  const auto txid = optional_string(o, "transaction_id");
  if (!txid || !valid_id(*txid)) {
    return reject("", "transaction_id must be 1..128 of letters, digits, '-', '_', '.', ':'");
  }
  const std::string transaction_id(*txid);
  const auto method = optional_string(o, "method");
  if (!method || (*method != "charge" && *method != "tokenize")) {
    return reject(transaction_id, "method must be \"charge\" or \"tokenize\"");
  }
  const bool tokenize = *method == "tokenize";

  const auto currency_code = optional_string(o, "currency_code");
  if (!currency_code || currency_code->empty()) return reject(transaction_id, "no currency_code");
  const auto cur = find_currency(*currency_code);
  if (!cur) return reject(transaction_id, "unknown currency_code");
  const auto amount_text = optional_string(o, "chargeAmount");
  if (!amount_text) return reject(transaction_id, "chargeAmount must be a decimal string");
  std::int64_t amount = 0;
  if (!amount_text->empty()) {
    const auto minor = parse_decimal_amount(*amount_text, *cur);
    // Strict: exactly the currency's minor units, as format_decimal writes them.
    if (!minor || format_decimal(money{*minor, *cur}) != *amount_text) {
      return reject(transaction_id,
                    "chargeAmount must have exactly the currency's minor units (\"19.99\")");
    }
    amount = *minor;
  } else if (!tokenize) {
    return reject(transaction_id, "no chargeAmount");
  }
  if (!tokenize && amount <= 0) return reject(transaction_id, "chargeAmount must be above 0");

  for (const char* key : {"description", "postal_code", "token_type"}) {
    if (!optional_string(o, key)) {
      return reject(transaction_id, std::string(key) + " must be a string or null");
    }
  }
  if (const json::value* p = o.if_contains("parameters"); p != nullptr && !p->is_null()) {
    if (!p->is_object()) return reject(transaction_id, "parameters must be an object");
    for (const auto& kv : p->as_object()) {
      if (!kv.value().is_string()) {
        return reject(transaction_id, "parameters must map names to strings");
      }
    }
  }

  const auto number = optional_string(o, "cardnumber");
  if (!number || number->empty()) return reject(transaction_id, "no cardnumber");
  if (!all_digits(*number)) return reject(transaction_id, "cardnumber must be digits only");

  sandbox_answer a;
  a.transaction_id = transaction_id;
  if (number->size() >= 4) a.last_four = std::string(number->substr(number->size() - 4));
  a.fingerprint = std::string(*method) + "|" + std::to_string(amount) + "|" +
                  std::string(cur->code) + "|" + a.last_four;
  a.processed = true;

  const auto decline = [&](std::string_view code, std::string_view message) {
    a.status = 402;
    a.behaviour = sandbox_behaviour::decline;
    a.body = error_body(transaction_id, code, message);
    return a;
  };
  if (number->size() < 12 || number->size() > 19 || !luhn_valid(*number)) {
    return decline("invalid_card", "The card number is not valid.");
  }
  const auto cvv = optional_string(o, "cvv");
  if (!cvv) return decline("invalid_cvc", "The security code is not valid.");
  if (!cvv->empty() && (cvv->size() < 3 || cvv->size() > 4 || !all_digits(*cvv))) {
    return decline("invalid_cvc", "The security code is not valid.");
  }
  const auto month = optional_string(o, "expiry_month");
  const auto year = optional_string(o, "expiry_year");
  if (!month || !year) return decline("invalid_expiry", "The expiry date is not valid.");
  if (!month->empty() || !year->empty()) {
    const bool month_ok = (month->size() == 1 || month->size() == 2) && all_digits(*month);
    const bool year_ok = (year->size() == 2 || (year->size() == 4 && year->substr(0, 2) == "20")) &&
                         all_digits(*year);
    if (!month_ok || !year_ok) return decline("invalid_expiry", "The expiry date is not valid.");
    // check_expiry takes the keypad form MMYY; the buffer is wiped before it goes.
    std::array<char, 4> mmyy{};
    mmyy[0] = month->size() == 1 ? '0' : (*month)[0];
    mmyy[1] = (*month)[month->size() - 1];
    mmyy[2] = (*year)[year->size() - 2];
    mmyy[3] = (*year)[year->size() - 1];
    const auto check = check_expiry(std::string_view(mmyy.data(), mmyy.size()), today, 50);
    wipe_memory(mmyy.data(), mmyy.size());
    if (check == expiry_check::expired) {
      return decline("expired_card", "The card has expired.");
    }
    if (check != expiry_check::ok)
      return decline("invalid_expiry", "The expiry date is not valid.");
  }

  const sandbox_test_card* card = find_test_card(*number);
  a.behaviour = card != nullptr ? card->behaviour : sandbox_behaviour::approve;
  switch (a.behaviour) {
    case sandbox_behaviour::decline:
      return decline(card->error_code, card->error_code == "insufficient_funds"
                                           ? "The card has insufficient funds."
                                           : "The card was declined.");
    case sandbox_behaviour::server_error:
      a.status = 500;
      a.body = error_body(transaction_id, "server_error", "sandbox: simulated internal error");
      return a;
    case sandbox_behaviour::not_processed:
      a.status = 503;
      a.processed = false;
      a.body = error_body(transaction_id, "service_unavailable",
                          "sandbox: not processed, try again later");
      return a;
    case sandbox_behaviour::rate_limited:
      a.status = 429;
      a.processed = false;
      a.body =
          error_body(transaction_id, "rate_limited", "sandbox: not processed, too many requests");
      return a;
    case sandbox_behaviour::approve:
    case sandbox_behaviour::slow_reply:
    case sandbox_behaviour::never_reply:
      break;
  }
  a.status = 200;
  json::object reply;
  reply["transaction_id"] = transaction_id;
  if (tokenize) {
    reply["token_id"] = reference("tok_sbx_", sequence);
  } else {
    reply["charge_id"] = reference("ch_sbx_", sequence);
  }
  reply["error_code"] = nullptr;
  reply["error_message"] = nullptr;
  a.body = json::serialize(reply);
  return a;
}

bool equal_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

sandbox_answer answer_identify_unguarded(std::string_view body) {
  sandbox_answer a;
  const auto bad = [&](std::string_view message) {
    a.status = 400;
    json::object o;
    o["error_code"] = "invalid_request";
    o["error_message"] = message;
    a.body = json::serialize(o);
    return a;
  };
  const auto parsed = parse_secret_json(body);
  if (!parsed || !parsed->is_object()) return bad("the body is not a JSON object");
  const json::object& o = parsed->as_object();
  const auto request_id = optional_string(o, "request_id");
  if (!request_id || !valid_id(*request_id)) return bad("request_id is missing or malformed");
  a.transaction_id = std::string(*request_id);
  const auto account = optional_string(o, "account_id");
  if (!account || account->empty()) return bad("no account_id");
  const auto kind = optional_string(o, "kind");
  if (!kind || (*kind != "pin" && *kind != "date_of_birth")) {
    return bad("kind must be \"pin\" or \"date_of_birth\"");
  }
  const auto secret = optional_string(o, "secret");
  if (!secret || secret->empty()) return bad("no secret");

  a.status = 200;
  json::object reply;
  reply["request_id"] = *request_id;
  reply["verified"] = false;
  for (const auto& acct : kTestAccounts) {
    if (acct.account_id != *account) continue;
    if (acct.service_error) {
      a.status = 500;
      json::object e;
      e["error_code"] = "identity_unavailable";
      e["error_message"] = "sandbox: simulated identity service failure";
      a.body = json::serialize(e);
      return a;
    }
    const std::string_view expected = *kind == "pin" ? acct.pin : acct.date_of_birth;
    if (equal_secret(*secret, expected)) {
      reply["verified"] = true;
      reply["customer_id"] = acct.customer_id;
      if (!acct.balance.empty()) {
        reply["balance"] = acct.balance;
        reply["currency_code"] = acct.currency;
      }
    }
  }
  a.processed = true;
  a.body = json::serialize(reply);
  return a;
}

}  // namespace

sandbox_answer answer_charge(std::string_view body, std::uint64_t sequence,
                             year_month today) noexcept {
  try {
    return answer_charge_unguarded(body, sequence, today);
  } catch (...) {
    sandbox_answer a;
    a.status = 500;
    a.body = R"({"error_code":"server_error","error_message":"sandbox: out of memory"})";
    return a;
  }
}

sandbox_answer answer_identify(std::string_view body) noexcept {
  try {
    return answer_identify_unguarded(body);
  } catch (...) {
    sandbox_answer a;
    a.status = 500;
    a.body = R"({"error_code":"server_error","error_message":"sandbox: out of memory"})";
    return a;
  }
}

// --- TLS ----------------------------------------------------------------------------------

namespace {

template <auto Free>
struct openssl_deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO_free_all>>;
using bn_ptr = std::unique_ptr<BIGNUM, openssl_deleter<BN_free>>;
using ext_ptr = std::unique_ptr<X509_EXTENSION, openssl_deleter<X509_EXTENSION_free>>;

bool add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ext_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext != nullptr && X509_add_ext(cert, ext.get(), -1) == 1;
}

// A self-signed P-256 certificate for localhost / 127.0.0.1 / ::1, valid from an hour ago
// for 30 days, installed in `ctx`; returns its PEM.
outcome<std::string> install_self_signed(ssl::context& ctx) {
  const auto fail = [](std::string_view step) {
    return failure{"sandbox gateway: making the self-signed certificate failed at " +
                   std::string(step)};
  };
  pkey_ptr key(EVP_EC_gen("P-256"));
  if (!key) return fail("key generation");
  x509_ptr cert(X509_new());
  if (!cert) return fail("X509_new");
  X509_set_version(cert.get(), 2);
  bn_ptr serial(BN_new());
  if (!serial || BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return fail("serial number");
  }
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600);
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return fail("public key");
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("toneguard sandbox gateway"),
                             -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  // CA:TRUE so that this one certificate can be its own trust anchor in a client's store.
  if (!add_extension(cert.get(), NID_basic_constraints, "critical,CA:TRUE") ||
      !add_extension(cert.get(), NID_key_usage, "critical,digitalSignature,keyCertSign") ||
      !add_extension(cert.get(), NID_ext_key_usage, "serverAuth") ||
      !add_extension(cert.get(), NID_subject_key_identifier, "hash") ||
      !add_extension(cert.get(), NID_subject_alt_name,
                     "DNS:localhost,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1")) {
    return fail("extensions");
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return fail("signing");
  if (SSL_CTX_use_certificate(ctx.native_handle(), cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.native_handle(), key.get()) != 1) {
    return fail("installing it");
  }
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert.get()) != 1) return fail("PEM export");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

outcome<std::string> certificate_pem_of(ssl::context& ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx.native_handle());
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (cert == nullptr || !bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return failure{"sandbox gateway: cannot export the certificate"};
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

year_month today_utc() {
  using namespace std::chrono;
  const year_month_day d{floor<days>(system_clock::now())};
  return {static_cast<int>(d.year()), static_cast<int>(static_cast<unsigned>(d.month()))};
}

using secret_buffer = beast::basic_flat_buffer<zeroizing_allocator<char>>;

constexpr std::size_t kMaxRequestBytes = 64 * 1024;

class session_base {
 public:
  virtual ~session_base() = default;
  /// Closes the connection and cancels its timers, on its strand. Any thread.
  virtual void cancel() = 0;
};

}  // namespace

// --- the server ---------------------------------------------------------------------------

struct sandbox_gateway::impl {
  struct record {
    unsigned status = 0;
    std::string body;
    std::string fingerprint;
    std::string last_four;
  };

  sandbox_settings settings;
  std::string expected_authorization;
  std::string cert_pem;
  std::uint16_t port = 0;
  std::string base_url;

  // Guards everything below it.
  mutable std::mutex mu;
  sandbox_counters counters;
  std::map<std::string, record> records;
  std::uint64_t sequence = 0;
  std::list<std::weak_ptr<session_base>> sessions;
  bool stopping = false;

  std::optional<ssl::context> tls;
  std::unique_ptr<asio::io_context> io;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::once_flag stopped;

  void do_accept();
  void on_accept(error_code ec, tcp::socket socket);
  void forget_expired_sessions();

  /// Decides one request (auth, routing, idempotency). Any session thread.
  struct decision {
    unsigned status = 200;
    std::string body;
    std::chrono::milliseconds delay{0};
    bool never = false;
    bool unauthorized = false;
  };
  decision decide(const http::request<secret_body>& request);
};

namespace {

template <bool Tls>
class session : public session_base, public std::enable_shared_from_this<session<Tls>> {
 public:
  using stream_type = std::conditional_t<Tls, ssl::stream<beast::tcp_stream>, beast::tcp_stream>;

  session(sandbox_gateway::impl& owner, tcp::socket socket)
      : owner_(owner),
        stream_(make_stream(owner, std::move(socket))),
        hold_(stream_.get_executor()) {}

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
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->hold_.cancel();
      beast::get_lowest_layer(self->stream_).close();
    });
  }

 private:
  static stream_type make_stream(sandbox_gateway::impl& owner, tcp::socket socket) {
    if constexpr (Tls) {
      return stream_type(std::move(socket), *owner.tls);
    } else {
      return stream_type(std::move(socket));
    }
  }

  std::chrono::milliseconds request_timeout() const {
    return std::chrono::milliseconds(owner_.settings.request_timeout_ms);
  }

  void do_handshake() {
    beast::get_lowest_layer(stream_).expires_after(request_timeout());
    stream_.async_handshake(
        ssl::stream_base::server,
        beast::bind_front_handler(&session::on_handshake, this->shared_from_this()));
  }

  void on_handshake(error_code ec) {
    // A client that refuses our certificate ends here: nothing to answer.
    if (ec) return;
    do_read();
  }

  void do_read() {
    parser_.emplace();
    parser_->body_limit(kMaxRequestBytes);
    beast::get_lowest_layer(stream_).expires_after(request_timeout());
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&session::on_read, this->shared_from_this()));
  }

  void on_read(error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) return do_close();
    // operation_aborted (stop), timeouts and resets: drop the connection quietly.
    if (ec) return;
    auto& request = parser_->get();
    keep_alive_ = request.keep_alive();
    auto d = owner_.decide(request);
    wipe(request.body());
    parser_.reset();
    response_.emplace(static_cast<http::status>(d.status), 11);
    response_->set(http::field::server, "toneguard-sandbox-gateway");
    response_->set(http::field::content_type, "application/json");
    if (d.unauthorized) {
      response_->set(http::field::www_authenticate, "Basic realm=\"toneguard sandbox\"");
    }
    response_->keep_alive(keep_alive_);
    response_->body() = std::move(d.body);
    response_->prepare_payload();
    beast::get_lowest_layer(stream_).expires_never();
    if (d.never) {
      hold_.expires_after(std::chrono::milliseconds(owner_.settings.never_reply_hold_ms));
      hold_.async_wait([self = this->shared_from_this()](error_code) {
        beast::get_lowest_layer(self->stream_).close();
      });
      return;
    }
    if (d.delay.count() > 0) {
      hold_.expires_after(d.delay);
      hold_.async_wait(beast::bind_front_handler(&session::on_delay, this->shared_from_this()));
      return;
    }
    do_write();
  }

  void on_delay(error_code ec) {
    if (ec) return;  // operation_aborted: stop()
    do_write();
  }

  void do_write() {
    beast::get_lowest_layer(stream_).expires_after(request_timeout());
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&session::on_write, this->shared_from_this()));
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
          beast::bind_front_handler(&session::on_shutdown, this->shared_from_this()));
    } else {
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  void on_shutdown(error_code) { beast::get_lowest_layer(stream_).close(); }

  sandbox_gateway::impl& owner_;
  stream_type stream_;
  asio::steady_timer hold_;
  secret_buffer buffer_;
  std::optional<http::request_parser<secret_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  bool keep_alive_ = false;
};

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

}  // namespace

sandbox_gateway::impl::decision sandbox_gateway::impl::decide(
    const http::request<secret_body>& request) {
  decision d;
  const auto path = path_of(request.target());
  const bool charge = path == "/charge";
  if (charge) {
    std::lock_guard lock(mu);
    ++counters.requests;
  }
  const auto json_error = [&](unsigned status, std::string_view code, std::string_view message) {
    json::object o;
    o["error_code"] = code;
    o["error_message"] = message;
    d.status = status;
    d.body = json::serialize(o);
    return d;
  };
  if (!expected_authorization.empty()) {
    const auto got = request[http::field::authorization];
    if (got.size() != expected_authorization.size() ||
        CRYPTO_memcmp(got.data(), expected_authorization.data(), got.size()) != 0) {
      std::lock_guard lock(mu);
      ++counters.unauthorized;
      d.unauthorized = true;
      return json_error(401, "unauthorized", "sandbox: missing or wrong credentials");
    }
  }
  if (request.method() != http::verb::post) {
    return json_error(405, "method_not_allowed", "sandbox: POST only");
  }
  const std::string_view body(request.body().data(), request.body().size());
  if (path == "/identify") {
    {
      std::lock_guard lock(mu);
      ++counters.identifications;
    }
    auto a = answer_identify(body);
    d.status = a.status;
    d.body = std::move(a.body);
    return d;
  }
  if (!charge) return json_error(404, "not_found", "sandbox: POST /charge or /identify");

  std::uint64_t seq = 0;
  {
    std::lock_guard lock(mu);
    seq = ++sequence;
  }
  sandbox_answer a = answer_charge(body, seq, today_utc());
  const auto key = request["Idempotency-Key"];
  std::lock_guard lock(mu);
  if (!key.empty() && !a.transaction_id.empty() && key != a.transaction_id) {
    ++counters.rejected;
    return json_error(400, "idempotency_key_mismatch",
                      "sandbox: Idempotency-Key differs from transaction_id");
  }
  if (!a.transaction_id.empty()) {
    if (auto it = records.find(a.transaction_id); it != records.end()) {
      if (it->second.fingerprint != a.fingerprint || a.fingerprint.empty()) {
        ++counters.rejected;
        return json_error(409, "idempotency_conflict",
                          "sandbox: this transaction_id was used for another request");
      }
      ++counters.replays;
      d.status = it->second.status;
      d.body = it->second.body;
      return d;
    }
  }
  if (a.processed) {
    records[a.transaction_id] = record{a.status, a.body, a.fingerprint, a.last_four};
    switch (a.behaviour) {
      case sandbox_behaviour::decline:
        ++counters.declines;
        break;
      case sandbox_behaviour::server_error:
        ++counters.server_errors;
        break;
      default:
        if (a.status == 200) {
          if (a.body.find("\"token_id\"") != std::string::npos) {
            ++counters.tokens;
          } else {
            ++counters.charges;
          }
        }
        break;
    }
  } else if (a.status == 503 || a.status == 429) {
    ++counters.not_processed;
  } else {
    ++counters.rejected;
  }
  d.status = a.status;
  d.body = std::move(a.body);
  if (a.behaviour == sandbox_behaviour::slow_reply) {
    d.delay = std::chrono::milliseconds(
        static_cast<std::int64_t>(settings.slow_reply_ms * settings.delay_scale));
  }
  d.never = a.behaviour == sandbox_behaviour::never_reply;
  return d;
}

void sandbox_gateway::impl::do_accept() {
  acceptor->async_accept(asio::make_strand(*io), beast::bind_front_handler(&impl::on_accept, this));
}

void sandbox_gateway::impl::on_accept(error_code ec, tcp::socket socket) {
  // operation_aborted: stop() closed the listener.
  if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
  if (!ec) {
    std::shared_ptr<session_base> s;
    if (settings.tls) {
      auto t = std::make_shared<session<true>>(*this, std::move(socket));
      t->run();
      s = t;
    } else {
      auto t = std::make_shared<session<false>>(*this, std::move(socket));
      t->run();
      s = t;
    }
    std::lock_guard lock(mu);
    forget_expired_sessions();
    if (stopping) {
      s->cancel();
      return;
    }
    sessions.push_back(s);
  }
  do_accept();
}

void sandbox_gateway::impl::forget_expired_sessions() {
  sessions.remove_if([](const std::weak_ptr<session_base>& w) { return w.expired(); });
}

sandbox_gateway::sandbox_gateway(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

outcome<std::unique_ptr<sandbox_gateway>> sandbox_gateway::start(sandbox_settings settings) {
  auto p = std::make_unique<impl>();
  const auto fail = [](std::string why) { return failure{"sandbox gateway: " + why}; };
  if (settings.threads < 1 || settings.threads > 16) return fail("threads must be 1..16");
  if (!(settings.delay_scale >= 0.0 && settings.delay_scale <= 100.0)) {
    return fail("delay_scale must be 0..100");
  }
  if (settings.slow_reply_ms < 0 || settings.never_reply_hold_ms < 0 ||
      settings.request_timeout_ms < 1) {
    return fail("delays must be positive");
  }
  if (settings.username.find(':') != std::string::npos) {
    return fail("the username may not contain ':'");
  }
  error_code ec;
  const auto address = asio::ip::make_address(settings.address, ec);
  if (ec) return fail("address '" + settings.address + "' is not an IP address");

  if (settings.tls) {
    p->tls.emplace(ssl::context::tls_server);
    detail::harden_server_tls(*p->tls);
    if (settings.cert_file.empty() != settings.key_file.empty()) {
      return fail("give both cert_file and key_file, or neither");
    }
    if (settings.cert_file.empty()) {
      auto pem = install_self_signed(*p->tls);
      if (!pem) return failure{pem.message()};
      p->cert_pem = std::move(pem).value();
    } else {
      if (auto problem =
              detail::load_server_certificate(*p->tls, settings.cert_file, settings.key_file)) {
        return fail(*problem);
      }
      auto pem = certificate_pem_of(*p->tls);
      if (!pem) return failure{pem.message()};
      p->cert_pem = std::move(pem).value();
    }
  }
  if (!settings.username.empty()) {
    p->expected_authorization = basic_authorization(settings.username, settings.password);
  }

  p->io = std::make_unique<asio::io_context>(settings.threads);
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
  const std::string host = address.is_v6() ? "[" + settings.address + "]" : settings.address;
  p->base_url =
      std::string(settings.tls ? "https://" : "http://") + host + ":" + std::to_string(p->port);
  p->settings = std::move(settings);
  p->do_accept();
  for (int i = 0; i < p->settings.threads; ++i) {
    p->threads.emplace_back([io = p->io.get()] { io->run(); });
  }
  return std::unique_ptr<sandbox_gateway>(new sandbox_gateway(std::move(p)));
}

sandbox_gateway::~sandbox_gateway() {
  stop();
}

void sandbox_gateway::stop() {
  impl& p = *impl_;
  std::call_once(p.stopped, [&p] {
    std::list<std::weak_ptr<session_base>> sessions;
    {
      std::lock_guard lock(p.mu);
      p.stopping = true;
      sessions.swap(p.sessions);
    }
    asio::post(p.acceptor->get_executor(), [&p] {
      error_code ignored;
      p.acceptor->close(ignored);
    });
    for (auto& w : sessions) {
      if (auto s = w.lock()) s->cancel();
    }
    // With the listener closed and every connection and timer cancelled, run() runs out of
    // work and returns.
    for (auto& t : p.threads) t.join();
    p.threads.clear();
    // Handlers that never ran (none expected) go with the context, before the TLS context.
    p.acceptor.reset();
    p.io.reset();
  });
}

std::uint16_t sandbox_gateway::port() const noexcept {
  return impl_->port;
}

std::string sandbox_gateway::url() const {
  return impl_->base_url + "/charge";
}

std::string sandbox_gateway::identify_url() const {
  return impl_->base_url + "/identify";
}

const std::string& sandbox_gateway::certificate_pem() const noexcept {
  return impl_->cert_pem;
}

sandbox_counters sandbox_gateway::counters() const {
  std::lock_guard lock(impl_->mu);
  return impl_->counters;
}

std::string sandbox_gateway::recorded_last_four(const std::string& transaction_id) const {
  std::lock_guard lock(impl_->mu);
  const auto it = impl_->records.find(transaction_id);
  return it == impl_->records.end() ? std::string() : it->second.last_four;
}

}  // namespace toneguard::engine
