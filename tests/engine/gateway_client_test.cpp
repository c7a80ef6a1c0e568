// The gateway client: the reply parser (pure) and real HTTP/HTTPS exchanges on loopback with
// the sandbox gateway and with a tiny raw server answering canned bytes.
#include "toneguard/engine/gateway_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "toneguard/engine/sandbox_gateway.h"

namespace toneguard::engine {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

constexpr std::string_view kCvv = "737";
constexpr std::string_view kExpiry = "1230";  // December 2030

card_data make_card(std::string_view pan, std::string_view expiry = kExpiry,
                    std::string_view cvv = kCvv, std::string_view postal = "") {
  card_data card;
  for (char c : pan) EXPECT_TRUE(card.append(card_field::pan, c));
  for (char c : expiry) EXPECT_TRUE(card.append(card_field::expiry, c));
  for (char c : cvv) EXPECT_TRUE(card.append(card_field::cvv, c));
  for (char c : postal) EXPECT_TRUE(card.append(card_field::postal_code, c));
  return card;
}

card_data make_secret(std::string_view secret) {
  card_data card;
  for (char c : secret) EXPECT_TRUE(card.append(card_field::verification, c));
  return card;
}

gateway_request usd_charge(std::string id, std::int64_t minor = 1999) {
  gateway_request r;
  r.transaction_id = std::move(id);
  r.amount = money{minor, *find_currency("USD")};
  r.description = "invoice 7";
  r.parameters = {{"customer", "c-9"}};
  return r;
}

// No card value anywhere a reply can carry text.
void expect_no_card_data(const gateway_reply& r, std::string_view pan) {
  for (const std::string* text : {&r.reference, &r.error_code, &r.error_message}) {
    EXPECT_EQ(text->find(pan), std::string::npos) << *text;
    EXPECT_EQ(text->find(kCvv), std::string::npos) << *text;
    EXPECT_EQ(text->find(kExpiry), std::string::npos) << *text;
    EXPECT_EQ(text->find("2030"), std::string::npos) << *text;
  }
}

// --- parse_gateway_reply (pure) -------------------------------------------------------------

TEST(GatewayReply, Status200WithChargeIdAndNullErrorCodeIsApproved) {
  const auto r =
      parse_gateway_reply(gateway_method::charge, 200, R"({"charge_id":"ch_1","error_code":null})");
  EXPECT_EQ(r.outcome, gateway_outcome::approved);
  EXPECT_EQ(r.reference, "ch_1");
  const auto t = parse_gateway_reply(gateway_method::tokenize, 200, R"({"token_id":"tok_1"})");
  EXPECT_EQ(t.outcome, gateway_outcome::approved);
  EXPECT_EQ(t.reference, "tok_1");
  EXPECT_EQ(parse_gateway_reply(gateway_method::charge, 200, R"({"charge_id":12345})").reference,
            "12345");
}

TEST(GatewayReply, CardDeclineCodesOn4xxAreDeclined) {
  for (std::string_view code : card_decline_codes()) {
    const std::string body =
        R"({"error_code":")" + std::string(code) + R"(","error_message":"Declined."})";
    const auto r = parse_gateway_reply(gateway_method::charge, 402, body);
    EXPECT_EQ(r.outcome, gateway_outcome::declined) << code;
    EXPECT_EQ(r.error_code, code);
    EXPECT_NE(r.error_message.find("Declined."), std::string::npos);
  }
  EXPECT_TRUE(std::is_sorted(card_decline_codes().begin(), card_decline_codes().end()));
}

TEST(GatewayReply, OtherCodesAndStatusesAreErrors) {
  EXPECT_EQ(parse_gateway_reply(gateway_method::charge, 400,
                                R"({"error_code":"invalid_request","error_message":"x"})")
                .outcome,
            gateway_outcome::error);
  // A decline code with a 5xx status is not a decline: the gateway failed.
  EXPECT_EQ(
      parse_gateway_reply(gateway_method::charge, 500, R"({"error_code":"card_declined"})").outcome,
      gateway_outcome::error);
  const auto html = parse_gateway_reply(gateway_method::charge, 502, "<html>Bad gateway</html>");
  EXPECT_EQ(html.outcome, gateway_outcome::error);
  EXPECT_EQ(html.error_code, "http_502");
  EXPECT_NE(html.error_message.find("not JSON"), std::string::npos) << html.error_message;
  EXPECT_EQ(parse_gateway_reply(gateway_method::charge, 201, R"({"charge_id":"c"})").outcome,
            gateway_outcome::error);
}

TEST(GatewayReply, MalformedRepliesAreErrorsNamingTheProblem) {
  struct expectation {
    const char* body;
    const char* says;
  };
  for (const auto& [body, says] : {
           expectation{"", "not JSON"},
           expectation{"{\"charge_id\":", "not JSON"},
           expectation{"[1,2]", "an array, not a JSON object"},
           expectation{R"({"error_code":null})", "no charge_id"},
           expectation{R"({"charge_id":""})", "charge_id is empty"},
           expectation{R"({"charge_id":{"a":1}})", "charge_id is an object"},
           expectation{R"({"charge_id":"c 1"})", "outside printable ASCII"},
           expectation{R"({"charge_id":"c","error_code":"card_declined"})", "status 200"},
           expectation{R"({"charge_id":"c","error_code":5})", "error_code is a number"},
       }) {
    const auto r = parse_gateway_reply(gateway_method::charge, 200, body);
    EXPECT_EQ(r.outcome, gateway_outcome::error) << body;
    EXPECT_EQ(r.error_code, "bad_reply") << body;
    EXPECT_NE(r.error_message.find(says), std::string::npos) << body << " -> " << r.error_message;
  }
  EXPECT_NE(parse_gateway_reply(gateway_method::tokenize, 200, R"({"charge_id":"c"})")
                .error_message.find("no token_id"),
            std::string::npos);
  const auto no_code = parse_gateway_reply(gateway_method::charge, 402, R"({"error_message":"x"})");
  EXPECT_EQ(no_code.outcome, gateway_outcome::error);
  EXPECT_NE(no_code.error_message.find("no error_code"), std::string::npos);
  EXPECT_NE(parse_gateway_reply(gateway_method::charge, 402, R"({"error_code":"a b"})")
                .error_message.find("not a code"),
            std::string::npos);
}

TEST(GatewayReply, GatewayTextIsCleanedOfDigitsAndControlCharacters) {
  const auto r = parse_gateway_reply(
      gateway_method::charge, 402,
      R"({"error_code":"card_declined","error_message":"card 4111111111111111 cvv 737 exp 12/30\r\nX"})");
  EXPECT_EQ(r.outcome, gateway_outcome::declined);
  EXPECT_EQ(r.error_message.find("4111"), std::string::npos) << r.error_message;
  EXPECT_EQ(r.error_message.find("737"), std::string::npos) << r.error_message;
  EXPECT_EQ(r.error_message.find("12/30"), std::string::npos) << r.error_message;
  EXPECT_EQ(r.error_message.find('\n'), std::string::npos);
  const std::string long_message(5000, 'x');
  const auto cut = parse_gateway_reply(
      gateway_method::charge, 402,
      R"({"error_code":"card_declined","error_message":")" + long_message + "\"}");
  EXPECT_LT(cut.error_message.size(), 300u);
}

TEST(GatewayReply, IdentityRepliesAreParsedStrictly) {
  const auto v = parse_identity_reply(
      200, R"({"verified":true,"customer_id":"cust_1","balance":"10.50","currency_code":"USD"})");
  EXPECT_EQ(v.outcome, identity_outcome::verified);
  EXPECT_EQ(v.balance_minor, 1050);
  EXPECT_EQ(parse_identity_reply(200, R"({"verified":false})").outcome,
            identity_outcome::not_verified);
  EXPECT_NE(parse_identity_reply(200, R"({"verified":true})").error_message.find("customer_id"),
            std::string::npos);
  EXPECT_NE(parse_identity_reply(200, R"({"verified":"yes"})").error_message.find("boolean"),
            std::string::npos);
  EXPECT_NE(parse_identity_reply(200, R"({"verified":true,"customer_id":"c","balance":"1.5"})")
                .error_message.find("currency_code"),
            std::string::npos);
  EXPECT_EQ(parse_identity_reply(500, R"({"error_code":"down"})").outcome, identity_outcome::error);
}

TEST(GatewaySecrets, WipeZeroesTheWholeCapacityAndEmpties) {
  secret_string s(64, '7');
  s.resize(10);  // a shorter value over a longer one
  const std::size_t capacity = s.capacity();
  wipe(s);
  EXPECT_TRUE(s.empty());
  ASSERT_GE(s.capacity(), capacity);
  for (std::size_t i = 0; i < capacity; ++i) EXPECT_EQ(s.data()[i], '\0') << i;
}

TEST(GatewaySecrets, JsonValuesInZeroizingStorageRoundTrip) {
  json::object o(zeroizing_json_storage());
  o["cardnumber"] = "4111111111111111";
  EXPECT_EQ(json::serialize(o), R"({"cardnumber":"4111111111111111"})");
  EXPECT_TRUE(o.storage()->is_equal(*zeroizing_json_storage()));
}

// --- URLs and settings -------------------------------------------------------------------

TEST(GatewayUrl, ParsesSchemeHostPortAndTarget) {
  auto u = parse_gateway_url("https://pay.example.com/v1/charge?x=1");
  ASSERT_TRUE(u.ok()) << u.message();
  EXPECT_TRUE(u.value().tls);
  EXPECT_EQ(u.value().host, "pay.example.com");
  EXPECT_EQ(u.value().port, "443");
  EXPECT_EQ(u.value().target, "/v1/charge?x=1");
  auto v6 = parse_gateway_url("http://[::1]:8080");
  ASSERT_TRUE(v6.ok()) << v6.message();
  EXPECT_EQ(v6.value().host, "::1");
  EXPECT_EQ(v6.value().port, "8080");
  EXPECT_EQ(v6.value().target, "/");
  EXPECT_EQ(v6.value().host_header, "[::1]:8080");
  EXPECT_TRUE(parse_gateway_url("http://localhost:1/x").ok());
  EXPECT_TRUE(parse_gateway_url("http://127.0.0.9/x").ok());
}

TEST(GatewayUrl, PlainHttpIsRefusedOffLoopbackAndBadUrlsNameTheProblem) {
  const auto off = parse_gateway_url("http://pay.example.com/charge");
  ASSERT_FALSE(off.ok());
  EXPECT_NE(off.message().find("loopback"), std::string::npos) << off.message();
  EXPECT_FALSE(parse_gateway_url("http://10.0.0.1/charge").ok());
  EXPECT_FALSE(parse_gateway_url("ftp://x/").ok());
  EXPECT_FALSE(parse_gateway_url("pay.example.com").ok());
  EXPECT_FALSE(parse_gateway_url("https://user:pw@pay.example.com/").ok());
  EXPECT_FALSE(parse_gateway_url("https://pay.example.com:0/").ok());
  EXPECT_FALSE(parse_gateway_url("https://pay.example.com:70000/").ok());
  EXPECT_FALSE(parse_gateway_url("https:///x").ok());
  EXPECT_FALSE(parse_gateway_url("https://[::1/x").ok());
  EXPECT_FALSE(parse_gateway_url("https://a b/x").ok());
}

// --- against the sandbox --------------------------------------------------------------------

class GatewayClientTest : public ::testing::Test {
 protected:
  void SetUp() override { sandbox_ = start_sandbox(sandbox_settings_for_test()); }

  static sandbox_settings sandbox_settings_for_test() {
    sandbox_settings s;
    s.delay_scale = 0.05;  // the slow card answers after 150 ms
    s.username = "merchant";
    s.password = "s3cret";
    return s;
  }

  static std::unique_ptr<sandbox_gateway> start_sandbox(const sandbox_settings& s) {
    auto sandbox = sandbox_gateway::start(s);
    EXPECT_TRUE(sandbox.ok()) << sandbox.message();
    return sandbox.ok() ? std::move(sandbox).value() : nullptr;
  }

  gateway_settings settings() const {
    gateway_settings s;
    s.url = sandbox_->url();
    s.identify_url = sandbox_->identify_url();
    s.username = "merchant";
    s.password = "s3cret";
    s.ca_pem = sandbox_->certificate_pem();
    s.connect_timeout_ms = 2000;
    s.read_timeout_ms = 2000;
    s.max_attempts = 3;
    s.retry_backoff_ms = 10;
    return s;
  }

  gateway_client client(const gateway_settings& s) {
    auto c = gateway_client::create(io_, s);
    EXPECT_TRUE(c.ok()) << c.message();
    return std::move(c).value();
  }

  gateway_reply charge(std::string_view pan, const std::string& id) {
    return client(settings()).charge(usd_charge(id), make_card(pan));
  }

  asio::io_context io_;
  std::unique_ptr<sandbox_gateway> sandbox_;
};

using GatewayClient = GatewayClientTest;

// The fixture's sandbox is idle here; only create() is exercised.
TEST_F(GatewayClient, SettingsAreCheckedWithAMessageNamingTheSetting) {
  asio::io_context io;
  gateway_settings s;
  s.url = "https://127.0.0.1:1/charge";
  s.read_timeout_ms = 0;
  auto bad = gateway_client::create(io, s);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("read_timeout_ms"), std::string::npos);
  s.read_timeout_ms = 1000;
  s.max_attempts = 0;
  EXPECT_NE(gateway_client::create(io, s).message().find("max_attempts"), std::string::npos);
  s.max_attempts = 3;
  s.username = "a:b";
  EXPECT_NE(gateway_client::create(io, s).message().find("username"), std::string::npos);
  s.username = "u";
  s.ca_file = "/nonexistent/ca.pem";
  EXPECT_NE(gateway_client::create(io, s).message().find("ca_file"), std::string::npos);
  s.ca_file.clear();
  s.url = "http://pay.example.com/charge";
  EXPECT_NE(gateway_client::create(io, s).message().find("loopback"), std::string::npos);
}

TEST_F(GatewayClient, ApprovedChargeOverHttpsWithTheSandboxCertificateTrusted) {
  const auto r = charge("4111111111111111", "t-approved");
  EXPECT_EQ(r.outcome, gateway_outcome::approved) << r.error_message;
  EXPECT_EQ(r.reference.rfind("ch_sbx_", 0), 0u) << r.reference;
  EXPECT_EQ(r.requests, 1);
  EXPECT_TRUE(r.error_code.empty());
  EXPECT_EQ(sandbox_->counters().charges, 1u);
  EXPECT_EQ(sandbox_->recorded_last_four("t-approved"), "1111");
  expect_no_card_data(r, "4111111111111111");
}

TEST_F(GatewayClient, TokenizeReturnsTheTokenId) {
  auto req = usd_charge("t-token", 0);
  req.method = gateway_method::tokenize;
  const auto r = client(settings()).charge(req, make_card("5555555555554444"));
  EXPECT_EQ(r.outcome, gateway_outcome::approved) << r.error_message;
  EXPECT_EQ(r.reference.rfind("tok_sbx_", 0), 0u) << r.reference;
  EXPECT_EQ(sandbox_->counters().tokens, 1u);
}

TEST_F(GatewayClient, DeclinedCardIsDeclined) {
  const auto r = charge("4000000000000002", "t-declined");
  EXPECT_EQ(r.outcome, gateway_outcome::declined);
  EXPECT_EQ(r.error_code, "card_declined");
  expect_no_card_data(r, "4000000000000002");
}

TEST_F(GatewayClient, InsufficientFundsIsDeclined) {
  const auto r = charge("4000000000009995", "t-funds");
  EXPECT_EQ(r.outcome, gateway_outcome::declined);
  EXPECT_EQ(r.error_code, "insufficient_funds");
}

TEST_F(GatewayClient, ServerErrorIsAnErrorAndNotRetried) {
  const auto r = charge("4000000000005001", "t-500");
  EXPECT_EQ(r.outcome, gateway_outcome::error);
  EXPECT_EQ(r.error_code, "server_error");
  EXPECT_EQ(r.requests, 1);
  EXPECT_EQ(sandbox_->counters().requests, 1u);
}

TEST_F(GatewayClient, ReadTimeoutIsAnUnknownOutcomeAndIsNotRetried) {
  auto s = settings();
  s.read_timeout_ms = 300;
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = client(s).charge(usd_charge("t-never"), make_card("4000000000009003"));
  EXPECT_EQ(r.outcome, gateway_outcome::error);
  EXPECT_EQ(r.error_code, "timeout");
  EXPECT_NE(r.error_message.find("unknown"), std::string::npos) << r.error_message;
  EXPECT_EQ(r.requests, 1);
  EXPECT_GE(r.latency_ms, 300);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_EQ(sandbox_->counters().requests, 1u);
  expect_no_card_data(r, "4000000000009003");
}

TEST_F(GatewayClient, ATimedOutChargeIsSettledByReplayingItsTransactionId) {
  auto s = settings();
  s.read_timeout_ms = 200;
  const auto lost = client(s).charge(usd_charge("t-lost"), make_card("4000000000009003"));
  ASSERT_EQ(lost.error_code, "timeout");
  // The sandbox charged; the same transaction id now returns that charge, and no second one.
  const auto replay = client(s).charge(usd_charge("t-lost"), make_card("4000000000009003"));
  EXPECT_EQ(replay.outcome, gateway_outcome::approved) << replay.error_message;
  EXPECT_EQ(sandbox_->counters().charges, 1u);
  EXPECT_EQ(sandbox_->counters().replays, 1u);
}

TEST_F(GatewayClient, SlowReplyWithinTheReadTimeoutIsApproved) {
  const auto r = charge("4000000000003006", "t-slow");
  EXPECT_EQ(r.outcome, gateway_outcome::approved) << r.error_message;
  EXPECT_GE(r.latency_ms, 150);
  EXPECT_EQ(r.requests, 1);
}

TEST_F(GatewayClient, NotProcessedRepliesAreRetriedWithTheSameKeyUpToMaxAttempts) {
  const auto busy = charge("4000000000005035", "t-503");
  EXPECT_EQ(busy.outcome, gateway_outcome::error);
  EXPECT_EQ(busy.error_code, "service_unavailable");
  EXPECT_EQ(busy.requests, 3);
  EXPECT_NE(busy.error_message.find("3 attempts"), std::string::npos) << busy.error_message;
  EXPECT_EQ(sandbox_->counters().not_processed, 3u);
  const auto limited = charge("4000000000004293", "t-429");
  EXPECT_EQ(limited.error_code, "rate_limited");
  EXPECT_EQ(limited.requests, 3);
  EXPECT_EQ(sandbox_->counters().charges, 0u);
}

TEST_F(GatewayClient, SameTransactionIdTwiceChargesOnceWithTheSameReply) {
  const auto c = client(settings());
  const auto first = c.charge(usd_charge("t-twice"), make_card("4111111111111111"));
  const auto second = c.charge(usd_charge("t-twice"), make_card("4111111111111111"));
  EXPECT_EQ(first.outcome, gateway_outcome::approved);
  EXPECT_EQ(second.outcome, gateway_outcome::approved);
  EXPECT_EQ(second.reference, first.reference);
  EXPECT_EQ(sandbox_->counters().charges, 1u);
  EXPECT_EQ(sandbox_->counters().replays, 1u);
}

TEST_F(GatewayClient, WrongCredentialsAreAnError) {
  auto s = settings();
  s.password = "wrong";
  const auto r = client(s).charge(usd_charge("t-auth"), make_card("4111111111111111"));
  EXPECT_EQ(r.outcome, gateway_outcome::error);
  EXPECT_EQ(r.error_code, "unauthorized");
  EXPECT_EQ(r.requests, 1);
  EXPECT_EQ(sandbox_->counters().unauthorized, 1u);
  EXPECT_EQ(sandbox_->counters().charges, 0u);
}

TEST_F(GatewayClient, UntrustedCertificateFailsWithoutRetry) {
  auto s = settings();
  s.ca_pem.clear();  // the system store does not know the sandbox
  const auto r = client(s).charge(usd_charge("t-untrusted"), make_card("4111111111111111"));
  EXPECT_EQ(r.outcome, gateway_outcome::error);
  EXPECT_EQ(r.error_code, "tls_certificate");
  EXPECT_EQ(r.requests, 1);
  EXPECT_EQ(sandbox_->counters().requests, 0u);
}

TEST_F(GatewayClient, AnotherSandboxesCertificateIsNotTrusted) {
  auto other = start_sandbox(sandbox_settings_for_test());
  auto s = settings();
  s.ca_pem = other->certificate_pem();
  const auto r = client(s).charge(usd_charge("t-other"), make_card("4111111111111111"));
  EXPECT_EQ(r.error_code, "tls_certificate");
  EXPECT_EQ(sandbox_->counters().requests, 0u);
}

TEST_F(GatewayClient, TrustedCertificateFromACaFile) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("toneguard-gw-ca-" + std::to_string(::getpid()) + ".pem");
  std::ofstream(path) << sandbox_->certificate_pem();
  auto s = settings();
  s.ca_pem.clear();
  s.ca_file = path.string();
  const auto r = client(s).charge(usd_charge("t-cafile"), make_card("4111111111111111"));
  EXPECT_EQ(r.outcome, gateway_outcome::approved) << r.error_message;
  std::filesystem::remove(path);
}

TEST_F(GatewayClient, HostNameVerificationRefusesACertificateForAnotherAddress) {
  // The generated certificate names localhost, 127.0.0.1 and ::1; 127.0.0.2 is loopback too
  // but not in it.
  auto s2 = sandbox_settings_for_test();
  s2.address = "127.0.0.2";
  auto other = start_sandbox(s2);
  ASSERT_NE(other, nullptr);
  auto s = settings();
  s.url = other->url();
  s.ca_pem = other->certificate_pem();
  const auto r = client(s).charge(usd_charge("t-host"), make_card("4111111111111111"));
  EXPECT_EQ(r.error_code, "tls_certificate");
  EXPECT_NE(r.error_message.find("mismatch"), std::string::npos) << r.error_message;
  // By name: "localhost" is in the certificate.
  s = settings();
  s.url = "https://localhost:" + std::to_string(sandbox_->port()) + "/charge";
  const auto by_name = client(s).charge(usd_charge("t-name"), make_card("4111111111111111"));
  EXPECT_EQ(by_name.outcome, gateway_outcome::approved) << by_name.error_message;
}

TEST_F(GatewayClient, PlainHttpToALoopbackSandbox) {
  sandbox_settings plain = sandbox_settings_for_test();
  plain.tls = false;
  auto sandbox = start_sandbox(plain);
  auto s = settings();
  s.url = sandbox->url();
  const auto r = client(s).charge(usd_charge("t-plain"), make_card("4111111111111111"));
  EXPECT_EQ(r.outcome, gateway_outcome::approved) << r.error_message;
}

TEST_F(GatewayClient, ConnectionRefusedIsRetriedMaxAttemptsTimesThenAnError) {
  std::uint16_t port = 0;
  {
    // A port that was just free: nothing listens there now.
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  auto s = settings();
  s.url = "https://127.0.0.1:" + std::to_string(port) + "/charge";
  s.max_attempts = 4;
  const auto r = client(s).charge(usd_charge("t-refused"), make_card("4111111111111111"));
  EXPECT_EQ(r.outcome, gateway_outcome::error);
  EXPECT_EQ(r.error_code, "connect_failed");
  EXPECT_EQ(r.requests, 4);
  EXPECT_NE(r.error_message.find("4 attempts"), std::string::npos) << r.error_message;
  EXPECT_NE(r.error_message.find("refused"), std::string::npos) << r.error_message;
  expect_no_card_data(r, "4111111111111111");
}

TEST_F(GatewayClient, AsyncChargeRunsOnTheCallersIoContextAndTheCardMayBeClearedAtOnce) {
  const auto c = client(settings());
  std::vector<gateway_reply> replies;
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id ran_on;
  {
    card_data card = make_card("5555555555554444");
    c.async_charge(usd_charge("t-async"), card, [&](gateway_reply r) {
      ran_on = std::this_thread::get_id();
      replies.push_back(std::move(r));
    });
    card.clear_all();  // the body already holds its copy
  }
  EXPECT_TRUE(replies.empty());  // never called inside async_charge
  std::thread runner([this] { io_.run(); });
  runner.join();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].outcome, gateway_outcome::approved) << replies[0].error_message;
  EXPECT_NE(ran_on, caller);
}

TEST_F(GatewayClient, ConcurrentChargesOnOneIoContext) {
  const auto c = client(settings());
  std::atomic<int> approved{0};
  for (int i = 0; i < 8; ++i) {
    c.async_charge(usd_charge("t-many-" + std::to_string(i)), make_card("4111111111111111"),
                   [&](gateway_reply r) {
                     if (r.outcome == gateway_outcome::approved) ++approved;
                   });
  }
  std::thread a([this] { io_.run(); });
  std::thread b([this] { io_.run(); });
  a.join();
  b.join();
  EXPECT_EQ(approved.load(), 8);
  EXPECT_EQ(sandbox_->counters().charges, 8u);
}

TEST_F(GatewayClient, BadRequestsAreRefusedBeforeAnythingIsSent) {
  const auto c = client(settings());
  EXPECT_EQ(c.charge(usd_charge(""), make_card("4111111111111111")).error_code, "bad_request");
  EXPECT_EQ(c.charge(usd_charge("a\r\nX-Evil: 1"), make_card("4111111111111111")).error_code,
            "bad_request");
  EXPECT_EQ(c.charge(usd_charge("t-nocard"), card_data{}).error_code, "bad_request");
  EXPECT_EQ(c.charge(usd_charge("t-neg", -5), make_card("4111111111111111")).error_code,
            "bad_request");
  EXPECT_EQ(sandbox_->counters().requests, 0u);
}

TEST_F(GatewayClient, NoReplyOrErrorEverCarriesCardData) {
  auto s = settings();
  s.read_timeout_ms = 300;
  const auto c = client(s);
  for (const auto& card : sandbox_test_cards()) {
    const auto r =
        c.charge(usd_charge("t-clean-" + std::string(card.number)), make_card(card.number));
    expect_no_card_data(r, card.number);
  }
}

// --- identification ---------------------------------------------------------------------

TEST_F(GatewayClient, IdentificationVerifiedWithBalance) {
  identity_request req{"id-1", "12345678", verification_kind::pin};
  const auto r = client(settings()).identify(req, make_secret("1234"));
  EXPECT_EQ(r.outcome, identity_outcome::verified) << r.error_message;
  EXPECT_EQ(r.customer_id, "cust_12345678");
  EXPECT_EQ(r.balance_minor, 12550);
  req.kind = verification_kind::date_of_birth;
  EXPECT_EQ(client(settings()).identify(req, make_secret("01021980")).outcome,
            identity_outcome::verified);
}

TEST_F(GatewayClient, IdentificationNotVerified) {
  const identity_request req{"id-2", "12345678", verification_kind::pin};
  const auto r = client(settings()).identify(req, make_secret("9999"));
  EXPECT_EQ(r.outcome, identity_outcome::not_verified);
  EXPECT_EQ(r.error_message.find("9999"), std::string::npos);
}

TEST_F(GatewayClient, IdentificationErrors) {
  const identity_request down{"id-3", "99999999", verification_kind::pin};
  const auto r = client(settings()).identify(down, make_secret("1234"));
  EXPECT_EQ(r.outcome, identity_outcome::error);
  EXPECT_NE(r.error_message.find("identity_unavailable"), std::string::npos) << r.error_message;
  auto s = settings();
  s.identify_url.clear();
  const auto none = client(s).identify(down, make_secret("1234"));
  EXPECT_EQ(none.outcome, identity_outcome::error);
  EXPECT_NE(none.error_message.find("identify_url"), std::string::npos);
}

// --- a raw server answering canned bytes ----------------------------------------------------

// Accepts connections on 127.0.0.1 (ephemeral port) on its own thread; reads one HTTP request
// per connection, keeps it, writes `reply` verbatim and closes. A silent server accepts and
// holds connections without reading or writing anything.
class raw_server {
 public:
  explicit raw_server(std::string reply, bool silent = false)
      : reply_(std::move(reply)),
        silent_(silent),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    do_accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~raw_server() {
    asio::post(io_, [this] {
      acceptor_.close();
      for (auto& s : held_) s.close();
    });
    thread_.join();
  }
  std::string url(std::string_view scheme = "http") const {
    return std::string(scheme) +
           "://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/pay";
  }
  http::request<http::string_body> last_request() {
    std::lock_guard lock(mu_);
    return last_;
  }
  int connections() const { return connections_.load(); }

 private:
  void do_accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      ++connections_;
      if (silent_) {
        held_.push_back(std::move(socket));
        return do_accept();
      }
      beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(socket, buffer, req, ec);
      {
        std::lock_guard lock(mu_);
        last_ = req;
      }
      asio::write(socket, asio::buffer(reply_), ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
      do_accept();
    });
  }

  std::string reply_;
  bool silent_ = false;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::vector<tcp::socket> held_;
  std::atomic<int> connections_{0};
  std::thread thread_;
  std::mutex mu_;
  http::request<http::string_body> last_;
};

std::string http_reply(std::string_view status_line, std::string_view body) {
  return "HTTP/1.1 " + std::string(status_line) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + std::string(body);
}

gateway_reply charge_raw(const raw_server& server, std::string_view pan = "4111111111111111",
                         std::string_view scheme = "http", int max_attempts = 3) {
  asio::io_context io;
  gateway_settings s;
  s.url = server.url(scheme);
  s.connect_timeout_ms = 200;
  s.max_attempts = max_attempts;
  s.username = "u";
  s.password = "p";
  s.read_timeout_ms = 2000;
  s.retry_backoff_ms = 10;
  auto c = gateway_client::create(io, s);
  EXPECT_TRUE(c.ok()) << c.message();
  return c.value().charge(usd_charge("t-raw"), make_card(pan, kExpiry, kCvv, "SW1A1AA"));
}

TEST(GatewayClientRaw, TheRequestFollowsTheContract) {
  raw_server server(http_reply("200 OK", R"({"charge_id":"ch_9","error_code":null})"));
  const auto r = charge_raw(server);
  EXPECT_EQ(r.outcome, gateway_outcome::approved) << r.error_message;
  const auto req = server.last_request();
  EXPECT_EQ(req.method(), http::verb::post);
  EXPECT_EQ(req.target(), "/pay");
  EXPECT_EQ(req[http::field::authorization], basic_authorization("u", "p"));
  EXPECT_EQ(req[http::field::authorization], "Basic dTpw");
  EXPECT_EQ(req["Idempotency-Key"], "t-raw");
  EXPECT_EQ(req[http::field::content_type], "application/json");
  const auto body = json::parse(req.body()).as_object();
  EXPECT_EQ(body.at("transaction_id"), "t-raw");
  EXPECT_EQ(body.at("method"), "charge");
  EXPECT_EQ(body.at("cardnumber"), "4111111111111111");
  EXPECT_EQ(body.at("cvv"), "737");
  EXPECT_EQ(body.at("expiry_month"), "12");
  EXPECT_EQ(body.at("expiry_year"), "2030");
  EXPECT_EQ(body.at("postal_code"), "SW1A1AA");
  EXPECT_EQ(body.at("chargeAmount"), "19.99");
  EXPECT_EQ(body.at("currency_code"), "USD");
  EXPECT_TRUE(body.at("token_type").is_null());
  EXPECT_EQ(body.at("description"), "invoice 7");
  EXPECT_EQ(body.at("parameters").as_object().at("customer"), "c-9");
}

TEST(GatewayClientRaw, MalformedRepliesAreErrorsNamingTheProblem) {
  {
    raw_server server(http_reply("200 OK", "hello"));
    const auto r = charge_raw(server);
    EXPECT_EQ(r.outcome, gateway_outcome::error);
    EXPECT_EQ(r.error_code, "bad_reply");
    EXPECT_NE(r.error_message.find("not JSON"), std::string::npos) << r.error_message;
  }
  {
    raw_server server(http_reply("200 OK", R"({"error_code":null})"));
    const auto r = charge_raw(server);
    EXPECT_EQ(r.error_code, "bad_reply");
    EXPECT_NE(r.error_message.find("no charge_id"), std::string::npos) << r.error_message;
  }
  {
    raw_server server("garbage that is not HTTP\r\n\r\n");
    const auto r = charge_raw(server);
    EXPECT_EQ(r.outcome, gateway_outcome::error);
    EXPECT_EQ(r.error_code, "io_error");
    EXPECT_NE(r.error_message.find("reading the reply"), std::string::npos) << r.error_message;
    EXPECT_EQ(r.requests, 1);
  }
  {
    raw_server server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"charge_id\"");
    const auto r = charge_raw(server);
    EXPECT_EQ(r.outcome, gateway_outcome::error);  // cut short: not approved
    EXPECT_EQ(r.error_code, "io_error");
  }
}

TEST(GatewayClientRaw, ATlsHandshakeThatTimesOutIsRetriedAsNothingWasSent) {
  raw_server silent("", /*silent=*/true);
  const auto r = charge_raw(silent, "4111111111111111", "https", 2);
  EXPECT_EQ(r.outcome, gateway_outcome::error);
  EXPECT_EQ(r.error_code, "connect_timeout");
  EXPECT_EQ(r.requests, 2);
  EXPECT_NE(r.error_message.find("2 attempts"), std::string::npos) << r.error_message;
  EXPECT_EQ(silent.connections(), 2);
}

TEST(GatewayClientRaw, AFailedTlsHandshakeIsRetriedAsNothingWasSent) {
  raw_server not_tls(http_reply("200 OK", R"({"charge_id":"x"})"));
  const auto r = charge_raw(not_tls, "4111111111111111", "https", 3);
  EXPECT_EQ(r.outcome, gateway_outcome::error);
  EXPECT_EQ(r.error_code, "tls_handshake_failed");
  EXPECT_EQ(r.requests, 3);
  EXPECT_EQ(not_tls.connections(), 3);
  expect_no_card_data(r, "4111111111111111");
}

TEST(GatewayClientRaw, AGatewayEchoingCardDataCannotCarryItIntoTheReply) {
  {
    raw_server server(
        http_reply("200 OK", R"({"charge_id":"4111111111111111","error_code":null})"));
    const auto r = charge_raw(server);
    EXPECT_EQ(r.outcome, gateway_outcome::approved);
    EXPECT_EQ(r.reference, "[card number]");
  }
  {
    raw_server server(http_reply(
        "402 Payment Required",
        R"({"error_code":"card_declined","error_message":"card 4111111111111111 cvv 737 exp 1230"})"));
    const auto r = charge_raw(server);
    EXPECT_EQ(r.outcome, gateway_outcome::declined);
    expect_no_card_data(r, "4111111111111111");
  }
}

}  // namespace
}  // namespace toneguard::engine
