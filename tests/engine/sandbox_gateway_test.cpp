// The embedded sandbox gateway: its decisions (pure) against the documented tables, and the
// server itself over real HTTP and HTTPS on loopback with ephemeral ports.
#include "toneguard/engine/sandbox_gateway.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "toneguard/engine/card_rules.h"
#include "toneguard/engine/gateway_client.h"

namespace toneguard::engine {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;

constexpr year_month kToday{2026, 11};

std::string charge_json(std::string_view pan, std::string_view txid = "tx-1",
                        std::string_view amount = "19.99", std::string_view currency = "USD",
                        std::string_view cvv = "737", std::string_view month = "12",
                        std::string_view year = "2030", std::string_view method = "charge") {
  json::object o;
  o["transaction_id"] = txid;
  o["method"] = method;
  o["cardnumber"] = pan;
  o["cvv"] = cvv;
  o["expiry_month"] = month;
  o["expiry_year"] = year;
  o["postal_code"] = nullptr;
  o["chargeAmount"] = amount;
  o["currency_code"] = currency;
  o["token_type"] = nullptr;
  o["description"] = "order 1";
  o["parameters"] = json::object{{"customer", "c1"}};
  return json::serialize(o);
}

std::string error_code_of(const sandbox_answer& a) {
  const auto v = json::parse(a.body);
  const auto* c = v.as_object().if_contains("error_code");
  return c != nullptr && c->is_string() ? std::string(c->get_string()) : std::string();
}

TEST(SandboxGateway, TestCardsAreLuhnValidAndListedOnce) {
  std::set<std::string_view> seen;
  for (const auto& card : sandbox_test_cards()) {
    EXPECT_TRUE(luhn_valid(card.number)) << card.number;
    EXPECT_TRUE(seen.insert(card.number).second) << card.number;
    EXPECT_EQ(card.behaviour == sandbox_behaviour::approve ||
                  card.behaviour == sandbox_behaviour::slow_reply ||
                  card.behaviour == sandbox_behaviour::never_reply,
              card.error_code.empty())
        << card.number;
  }
}

TEST(SandboxGateway, ApprovesTheApprovedTestCardsAndAnyOtherLuhnValidNumber) {
  for (const auto& card : sandbox_test_cards()) {
    if (card.behaviour != sandbox_behaviour::approve) continue;
    const auto a = answer_charge(charge_json(card.number), 7, kToday);
    EXPECT_EQ(a.status, 200u) << card.number << " " << a.body;
    EXPECT_NE(a.body.find("\"charge_id\":\"ch_sbx_000007\""), std::string::npos) << a.body;
    EXPECT_TRUE(a.processed);
  }
  const auto other = answer_charge(charge_json("4242424242424242"), 1, kToday);
  EXPECT_EQ(other.status, 200u);
  EXPECT_EQ(other.last_four, "4242");
}

TEST(SandboxGateway, DeclinesTheDeclineCardsWith402AndTheirCode) {
  for (const auto& card : sandbox_test_cards()) {
    if (card.behaviour != sandbox_behaviour::decline) continue;
    const auto a = answer_charge(charge_json(card.number), 1, kToday);
    EXPECT_EQ(a.status, 402u) << card.number;
    EXPECT_EQ(error_code_of(a), card.error_code);
    EXPECT_TRUE(is_card_decline(card.error_code)) << card.error_code;
    EXPECT_TRUE(a.processed);
  }
}

TEST(SandboxGateway, ErrorCardsAnswer500And503And429) {
  EXPECT_EQ(answer_charge(charge_json("4000000000005001"), 1, kToday).status, 500u);
  const auto busy = answer_charge(charge_json("4000000000005035"), 1, kToday);
  EXPECT_EQ(busy.status, 503u);
  EXPECT_FALSE(busy.processed);
  const auto limited = answer_charge(charge_json("4000000000004293"), 1, kToday);
  EXPECT_EQ(limited.status, 429u);
  EXPECT_FALSE(limited.processed);
  EXPECT_EQ(answer_charge(charge_json("4000000000003006"), 1, kToday).behaviour,
            sandbox_behaviour::slow_reply);
  EXPECT_EQ(answer_charge(charge_json("4000000000009003"), 1, kToday).behaviour,
            sandbox_behaviour::never_reply);
}

TEST(SandboxGateway, BadLuhnOrLengthIsDeclinedInvalidCard) {
  EXPECT_EQ(error_code_of(answer_charge(charge_json("4111111111111112"), 1, kToday)),
            "invalid_card");
  EXPECT_EQ(error_code_of(answer_charge(charge_json("42"), 1, kToday)), "invalid_card");
  const auto letters = answer_charge(charge_json("4111x11111111111"), 1, kToday);
  EXPECT_EQ(letters.status, 400u);
  EXPECT_FALSE(letters.processed);
}

TEST(SandboxGateway, CvvAndExpiryAreChecked) {
  const auto pan = "4111111111111111";
  EXPECT_EQ(error_code_of(answer_charge(charge_json(pan, "t", "1.00", "USD", "12"), 1, kToday)),
            "invalid_cvc");
  EXPECT_EQ(answer_charge(charge_json(pan, "t", "1.00", "USD", ""), 1, kToday).status, 200u);
  EXPECT_EQ(error_code_of(answer_charge(charge_json(pan, "t", "1.00", "USD", "737", "10", "2026"),
                                        1, kToday)),
            "expired_card");
  EXPECT_EQ(
      answer_charge(charge_json(pan, "t", "1.00", "USD", "737", "11", "26"), 1, kToday).status,
      200u);  // valid through the end of its month
  EXPECT_EQ(error_code_of(answer_charge(charge_json(pan, "t", "1.00", "USD", "737", "13", "2030"),
                                        1, kToday)),
            "invalid_expiry");
}

TEST(SandboxGateway, AmountsParseStrictlyInTheCurrencysMinorUnits) {
  const auto pan = "4111111111111111";
  EXPECT_EQ(answer_charge(charge_json(pan, "t", "19.99"), 1, kToday).status, 200u);
  EXPECT_EQ(answer_charge(charge_json(pan, "t", "1500", "JPY"), 1, kToday).status, 200u);
  EXPECT_EQ(answer_charge(charge_json(pan, "t", "1.250", "KWD"), 1, kToday).status, 200u);
  for (const char* bad : {"19.9", "19.999", "-1.00", "1e3", ".50", "19,99", "", "0.00", " 1.00"}) {
    const auto a = answer_charge(charge_json(pan, "t", bad), 1, kToday);
    EXPECT_EQ(a.status, 400u) << bad;
    EXPECT_FALSE(a.processed) << bad;
  }
  EXPECT_EQ(answer_charge(charge_json(pan, "t", "15.00", "JPY"), 1, kToday).status, 400u);
  EXPECT_EQ(answer_charge(charge_json(pan, "t", "1.00", "XXX"), 1, kToday).status, 400u);
  // A number instead of a decimal string is malformed.
  auto o = json::parse(charge_json(pan)).as_object();
  o["chargeAmount"] = 19.99;
  EXPECT_EQ(answer_charge(json::serialize(o), 1, kToday).status, 400u);
}

TEST(SandboxGateway, TokenizeAnswersATokenIdAndMayHaveNoAmount) {
  const auto a = answer_charge(
      charge_json("4111111111111111", "tok-1", "", "USD", "737", "12", "2030", "tokenize"), 3,
      kToday);
  EXPECT_EQ(a.status, 200u) << a.body;
  EXPECT_NE(a.body.find("\"token_id\":\"tok_sbx_000003\""), std::string::npos) << a.body;
}

TEST(SandboxGateway, MalformedRequestsNameTheProblem) {
  EXPECT_NE(answer_charge("not json", 1, kToday).body.find("not a JSON object"), std::string::npos);
  EXPECT_NE(answer_charge("[]", 1, kToday).body.find("not a JSON object"), std::string::npos);
  EXPECT_NE(answer_charge(R"({"method":"charge"})", 1, kToday).body.find("transaction_id"),
            std::string::npos);
  auto o = json::parse(charge_json("4111111111111111")).as_object();
  o.erase("cardnumber");
  EXPECT_NE(answer_charge(json::serialize(o), 1, kToday).body.find("no cardnumber"),
            std::string::npos);
}

TEST(SandboxGateway, AnswersNeverCarryCardData) {
  for (const auto& card : sandbox_test_cards()) {
    const auto a =
        answer_charge(charge_json(card.number, "t", "1.00", "USD", "737", "12", "2030"), 1, kToday);
    EXPECT_EQ(a.body.find(card.number), std::string::npos) << a.body;
    EXPECT_EQ(a.body.find("737"), std::string::npos) << a.body;
    EXPECT_EQ(a.body.find("2030"), std::string::npos) << a.body;
    EXPECT_EQ(a.fingerprint.find(card.number), std::string::npos);
  }
}

TEST(SandboxGateway, IdentifiesTheTestAccounts) {
  const auto body = [](std::string_view account, std::string_view kind, std::string_view secret) {
    json::object o{
        {"request_id", "id-1"}, {"account_id", account}, {"kind", kind}, {"secret", secret}};
    return json::serialize(o);
  };
  const auto by_pin = answer_identify(body("12345678", "pin", "1234"));
  EXPECT_EQ(by_pin.status, 200u);
  const auto reply = parse_identity_reply(by_pin.status, by_pin.body);
  EXPECT_EQ(reply.outcome, identity_outcome::verified);
  EXPECT_EQ(reply.customer_id, "cust_12345678");
  EXPECT_EQ(reply.balance_minor, 12550);
  EXPECT_EQ(
      parse_identity_reply(200, answer_identify(body("12345678", "date_of_birth", "01021980")).body)
          .outcome,
      identity_outcome::verified);
  const auto no_balance = answer_identify(body("23456789", "pin", "2468"));
  EXPECT_FALSE(parse_identity_reply(200, no_balance.body).balance_minor.has_value());
  EXPECT_EQ(
      parse_identity_reply(200, answer_identify(body("12345678", "pin", "9999")).body).outcome,
      identity_outcome::not_verified);
  EXPECT_EQ(
      parse_identity_reply(200, answer_identify(body("11111111", "pin", "1234")).body).outcome,
      identity_outcome::not_verified);
  EXPECT_EQ(answer_identify(body("99999999", "pin", "1234")).status, 500u);
  EXPECT_EQ(answer_identify(body("12345678", "password", "1234")).status, 400u);
  EXPECT_EQ(answer_identify("{").status, 400u);
}

// --- the server, through a small blocking HTTP client ---------------------------------------

struct raw_reply {
  unsigned status = 0;
  std::string body;
  std::string www_authenticate;
};

raw_reply post(std::uint16_t port, std::string_view target, const std::string& body,
               const std::string& authorization, const std::string& idempotency_key = "") {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(5));
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req(http::verb::post, target, 11);
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  if (!authorization.empty()) req.set(http::field::authorization, authorization);
  if (!idempotency_key.empty()) req.set("Idempotency-Key", idempotency_key);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return {res.result_int(), res.body(), std::string(res[http::field::www_authenticate])};
}

std::unique_ptr<sandbox_gateway> start_plain() {
  sandbox_settings s;
  s.tls = false;
  auto sandbox = sandbox_gateway::start(s);
  EXPECT_TRUE(sandbox.ok()) << sandbox.message();
  return std::move(sandbox).value();
}

const std::string kAuth = basic_authorization("sandbox", "sandbox");

TEST(SandboxGateway, StartsOnAnEphemeralPortAndReportsItsUrls) {
  auto sandbox = start_plain();
  ASSERT_NE(sandbox->port(), 0);
  EXPECT_EQ(sandbox->url(), "http://127.0.0.1:" + std::to_string(sandbox->port()) + "/charge");
  EXPECT_EQ(sandbox->identify_url(),
            "http://127.0.0.1:" + std::to_string(sandbox->port()) + "/identify");
  EXPECT_TRUE(sandbox->certificate_pem().empty());
  sandbox->stop();
  sandbox->stop();  // idempotent
}

TEST(SandboxGateway, RefusesAPortInUseWithAMessage) {
  auto first = start_plain();
  sandbox_settings s;
  s.tls = false;
  s.port = first->port();
  auto second = sandbox_gateway::start(s);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.message().find("cannot listen"), std::string::npos) << second.message();
  sandbox_settings by_name;
  by_name.address = "localhost";  // an IP address is required
  EXPECT_FALSE(sandbox_gateway::start(by_name).ok());
}

TEST(SandboxGateway, RefusesMissingOrWrongCredentials) {
  auto sandbox = start_plain();
  const auto none = post(sandbox->port(), "/charge", charge_json("4111111111111111"), "");
  EXPECT_EQ(none.status, 401u);
  EXPECT_NE(none.www_authenticate.find("Basic"), std::string::npos);
  const auto wrong = post(sandbox->port(), "/charge", charge_json("4111111111111111"),
                          basic_authorization("sandbox", "nope"));
  EXPECT_EQ(wrong.status, 401u);
  EXPECT_EQ(sandbox->counters().unauthorized, 2u);
  EXPECT_EQ(sandbox->counters().charges, 0u);
}

TEST(SandboxGateway, AReplayReturnsTheSameReplyAndNeverChargesTwice) {
  auto sandbox = start_plain();
  const auto body = charge_json("4111111111111111", "order-42");
  const auto first = post(sandbox->port(), "/charge", body, kAuth, "order-42");
  const auto second = post(sandbox->port(), "/charge", body, kAuth, "order-42");
  EXPECT_EQ(first.status, 200u);
  EXPECT_EQ(second.status, first.status);
  EXPECT_EQ(second.body, first.body);
  const auto c = sandbox->counters();
  EXPECT_EQ(c.charges, 1u);
  EXPECT_EQ(c.replays, 1u);
  EXPECT_EQ(c.requests, 2u);
  EXPECT_EQ(sandbox->recorded_last_four("order-42"), "1111");
}

TEST(SandboxGateway, DeclinesAndServerErrorsAreReplayedToo) {
  auto sandbox = start_plain();
  const auto declined = charge_json("4000000000000002", "d-1");
  EXPECT_EQ(post(sandbox->port(), "/charge", declined, kAuth).status, 402u);
  EXPECT_EQ(post(sandbox->port(), "/charge", declined, kAuth).status, 402u);
  const auto failed = charge_json("4000000000005001", "e-1");
  EXPECT_EQ(post(sandbox->port(), "/charge", failed, kAuth).status, 500u);
  EXPECT_EQ(post(sandbox->port(), "/charge", failed, kAuth).status, 500u);
  const auto c = sandbox->counters();
  EXPECT_EQ(c.declines, 1u);
  EXPECT_EQ(c.server_errors, 1u);
  EXPECT_EQ(c.replays, 2u);
}

TEST(SandboxGateway, NotProcessedRepliesAreNotRecorded) {
  auto sandbox = start_plain();
  const auto busy = charge_json("4000000000005035", "b-1");
  EXPECT_EQ(post(sandbox->port(), "/charge", busy, kAuth).status, 503u);
  EXPECT_EQ(post(sandbox->port(), "/charge", busy, kAuth).status, 503u);
  EXPECT_EQ(sandbox->counters().not_processed, 2u);
  EXPECT_EQ(sandbox->counters().replays, 0u);
  EXPECT_EQ(sandbox->recorded_last_four("b-1"), "");
}

TEST(SandboxGateway, AReplayOfAnotherRequestIsAConflict) {
  auto sandbox = start_plain();
  EXPECT_EQ(post(sandbox->port(), "/charge", charge_json("4111111111111111", "c-1", "10.00"), kAuth)
                .status,
            200u);
  const auto other =
      post(sandbox->port(), "/charge", charge_json("4111111111111111", "c-1", "20.00"), kAuth);
  EXPECT_EQ(other.status, 409u);
  EXPECT_NE(other.body.find("idempotency_conflict"), std::string::npos);
  EXPECT_EQ(sandbox->counters().charges, 1u);
}

TEST(SandboxGateway, TheIdempotencyKeyMustBeTheTransactionId) {
  auto sandbox = start_plain();
  const auto r =
      post(sandbox->port(), "/charge", charge_json("4111111111111111", "k-1"), kAuth, "k-2");
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.body.find("idempotency_key_mismatch"), std::string::npos);
  EXPECT_EQ(sandbox->counters().charges, 0u);
}

TEST(SandboxGateway, UnknownPathsAre404AndIdentifyIsServed) {
  auto sandbox = start_plain();
  EXPECT_EQ(post(sandbox->port(), "/nope", "{}", kAuth).status, 404u);
  const auto id =
      post(sandbox->port(), "/identify",
           R"({"request_id":"r1","account_id":"12345678","kind":"pin","secret":"1234"})", kAuth);
  EXPECT_EQ(id.status, 200u);
  EXPECT_NE(id.body.find("\"verified\":true"), std::string::npos) << id.body;
  EXPECT_EQ(sandbox->counters().identifications, 1u);
}

TEST(SandboxGateway, StopEndsAHeldReplyPromptly) {
  auto sandbox = start_plain();
  const std::uint16_t port = sandbox->port();
  // A raw client whose request will never be answered.
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req(http::verb::post, "/charge", 11);
  req.set(http::field::authorization, kAuth);
  req.body() = charge_json("4000000000009003", "never-1");
  req.prepare_payload();
  http::write(stream, req);
  for (int i = 0; i < 100 && sandbox->counters().charges == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(sandbox->counters().charges, 1u);  // charged, reply held
  const auto t0 = std::chrono::steady_clock::now();
  sandbox->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  // The connection was closed without a reply.
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  beast::error_code ec;
  stream.expires_after(std::chrono::seconds(2));
  http::read(stream, buffer, res, ec);
  EXPECT_TRUE(ec);
}

// --- TLS ------------------------------------------------------------------------------------

TEST(SandboxGateway, GeneratesACertificateForLocalhostAndExportsItsPem) {
  auto sandbox = sandbox_gateway::start(sandbox_settings{});
  ASSERT_TRUE(sandbox.ok()) << sandbox.message();
  const std::string& pem = sandbox.value()->certificate_pem();
  ASSERT_NE(pem.find("-----BEGIN CERTIFICATE-----"), std::string::npos);
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_host(cert, "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert, "::1", 0), 1);
  EXPECT_NE(X509_check_host(cert, "example.com", 0, 0, nullptr), 1);
  X509_free(cert);
  EXPECT_EQ(sandbox.value()->url().rfind("https://127.0.0.1:", 0), 0u);
}

// Writes a fresh self-signed certificate and key (PEM) for localhost to two files.
void write_cert_and_key(const std::filesystem::path& cert_path,
                        const std::filesystem::path& key_path) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 42);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  FILE* f = std::fopen(cert_path.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(key_path.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
}

TEST(SandboxGateway, LoadsACertificateAndKeyFromFiles) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("toneguard-sandbox-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  write_cert_and_key(dir / "cert.pem", dir / "key.pem");
  sandbox_settings s;
  s.cert_file = (dir / "cert.pem").string();
  s.key_file = (dir / "key.pem").string();
  auto sandbox = sandbox_gateway::start(s);
  ASSERT_TRUE(sandbox.ok()) << sandbox.message();
  std::ifstream in(dir / "cert.pem");
  const std::string file_pem((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(sandbox.value()->certificate_pem(), file_pem);

  s.key_file = (dir / "missing.pem").string();
  const auto missing = sandbox_gateway::start(s);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("key_file"), std::string::npos) << missing.message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace toneguard::engine
