// The payment service's HTTP + WebSocket API: the body parser and JSON renderers alone, then
// the real server on loopback ephemeral ports with a fake backend, over a small Beast client
// (plain and TLS). Every client operation has a 5 s deadline; every server is stopped.
#include "toneguard/engine/api_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_payment_backend.h"
#include "support/self_signed_certificate.h"
#include "toneguard/engine/payment_api.h"

namespace {

using namespace toneguard::engine;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace json = boost::json;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr const char* kFullToken = "full-token-0123456789abcdef";
constexpr const char* kReadToken = "read-token-0123456789abcdef";

bool has_digit_run(std::string_view s, std::size_t n) {
  std::size_t run = 0;
  for (const char c : s) {
    run = (c >= '0' && c <= '9') ? run + 1 : 0;
    if (run >= n) return true;
  }
  return false;
}

// True when some string inside `v` has a digit run a card number could hide in (12 or more:
// references and ids have shorter ones, a result's last four is the most of a card it may carry).
bool carries_digit_values(const json::value& v) {
  if (v.is_string()) return has_digit_run(v.get_string(), 12);
  if (v.is_object()) {
    for (const auto& [k, x] : v.get_object()) {
      if (carries_digit_values(x)) return true;
    }
  }
  if (v.is_array()) {
    for (const auto& x : v.get_array()) {
      if (carries_digit_values(x)) return true;
    }
  }
  return false;
}

// --- the parser and the renderers ---------------------------------------------------------

TEST(PaymentApiParse, FullBodyIsRead) {
  const auto r = parse_start_payment(
      R"({"amount": "19.99", "balance": "125.50", "currency": "USD", "account_id": "12345678",
          "reference": "INV-1", "mode": "agent-assisted", "treatment": "stay-on-line",
          "identified": true, "parameters": {"campaign": "spring"}, "payment_id": "pay-42",
          "status_callback": "https://crm.example/hook"})",
      default_payment_config());
  ASSERT_TRUE(r.ok()) << r.message();
  const payment_start& s = r.value();
  EXPECT_EQ(s.request.amount_minor, 1999);
  EXPECT_EQ(s.request.balance_minor, 12550);
  EXPECT_EQ(s.request.currency_code, "USD");
  EXPECT_EQ(s.request.account_id, "12345678");
  EXPECT_EQ(s.request.reference, "INV-1");
  EXPECT_EQ(s.request.mode, payment_mode::agent_assisted);
  EXPECT_EQ(s.request.treatment, agent_treatment::stay_on_line);
  EXPECT_TRUE(s.request.identified);
  EXPECT_EQ(s.request.parameters.at("campaign"), "spring");
  EXPECT_EQ(s.request.payment_id, "pay-42");
  EXPECT_EQ(s.status_callback, "https://crm.example/hook");
}

TEST(PaymentApiParse, PaymentIdIsGeneratedWhenAbsent) {
  const auto a = parse_start_payment(R"({"amount": "5"})", default_payment_config());
  const auto b =
      parse_start_payment(R"({"amount": "5", "payment_id": null})", default_payment_config());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a.value().request.payment_id.rfind("pay_", 0), 0u);
  EXPECT_EQ(a.value().request.payment_id.size(), 32u);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(parse_start_payment("{}", default_payment_config()).ok()) << "a generated id";
  }
  EXPECT_NE(a.value().request.payment_id, b.value().request.payment_id);
}

TEST(PaymentApiParse, BadAmountNamesTheFieldNotTheValue) {
  for (const char* body : {R"({"amount": 19.99})", R"({"amount": "19.999"})", R"({"amount": "-5"})",
                           R"({"amount": "0"})", R"({"amount": "777777777.77"})"}) {
    const auto r = parse_start_payment(body, default_payment_config());
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.message().find("'amount'"), std::string::npos) << r.message();
    EXPECT_EQ(r.message().find("19.999"), std::string::npos) << r.message();
  }
}

TEST(PaymentApiParse, MalformedJsonIsNamed) {
  for (const char* body : {"", "{", "[1,2]", "{\"amount\": }", "nul"}) {
    const auto r = parse_start_payment(body, default_payment_config());
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.message().rfind("payment request: ", 0), 0u) << r.message();
  }
  EXPECT_NE(parse_start_payment("{", default_payment_config()).message().find("malformed JSON"),
            std::string::npos);
}

TEST(PaymentApiParse, EveryFieldIsChecked) {
  const std::map<std::string, std::string> bad = {
      {R"({"mode": "manual"})", "'mode'"},
      {R"({"treatment": 1})", "'treatment'"},
      {R"({"identified": "yes"})", "'identified'"},
      {R"({"parameters": {"a": 1}})", "'parameters'"},
      {R"({"parameters": []})", "'parameters'"},
      {R"({"currency": "XYZ"})", "'currency'"},
      {R"({"currency": "EUR"})", "'currency'"},
      {R"({"payment_id": "has space"})", "'payment_id'"},
      {R"({"account_id": 7})", "'account_id'"},
      {R"({"status_callback": "ftp://x"})", "'status_callback'"},
      {R"({"colour": "red"})", "'colour'"},
  };
  for (const auto& [body, field] : bad) {
    const auto r = parse_start_payment(body, default_payment_config());
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.message().find(field), std::string::npos) << body << " -> " << r.message();
  }
}

TEST(PaymentApiParse, CardDataCannotEnterThroughAnyField) {
  for (
      const char* body :
      {R"({"reference": "4111111111111111"})", R"({"account_id": "4111111111111111"})",
       R"({"parameters": {"note": "4111111111111111"}})", R"({"4111111111111111": "x"})",
       R"({"parameters": {"k8888888888888888": "4111111111111111"}})",
       R"({"parameters": {"k8888888888888888888888888888": "\u0001"}})",
       R"({"parameters": {"a888888888888888888888888888888888888888888888888888888888888888888t": "a"}})"}) {
    const auto r = parse_start_payment(body, default_payment_config());
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_FALSE(has_digit_run(r.message(), 12)) << r.message();
  }
}

TEST(PaymentApiJson, ProgressCarriesCountsAndNamesNeverDigits) {
  progress_event e;
  e.kind = progress_kind::digits_entered;
  e.field = dialog_field::card_number;
  e.digits = 6;
  e.brand = card_brand::visa;
  e.attempt = 1;
  e.max_attempts = 3;
  const json::object o = progress_json(e);
  EXPECT_EQ(o.at("type"), "progress");
  EXPECT_EQ(o.at("kind"), "digits-entered");
  EXPECT_EQ(o.at("field"), "card-number");
  EXPECT_EQ(o.at("digits"), 6);
  EXPECT_EQ(o.at("brand"), "visa");
  EXPECT_EQ(o.at("attempt"), 1);

  e = progress_event{};
  e.kind = progress_kind::field_invalid;
  e.field = dialog_field::card_number;
  e.error = "luhn-failed";
  const json::object invalid = progress_json(e);
  EXPECT_EQ(invalid.at("error"), "luhn-failed");
  EXPECT_FALSE(invalid.contains("digits"));
}

TEST(PaymentApiJson, ResultCarriesBrandAndLastFourOnly) {
  payment_result r;
  r.outcome = payment_outcome::success;
  r.payment_id = "pay-1";
  r.brand = card_brand::mastercard;
  r.last_four = "4444";
  r.amount_minor = 1999;
  r.payment_currency = *find_currency("USD");
  r.transaction_reference = "ch_sbx_000001";
  const json::object o = result_json(r);
  EXPECT_EQ(o.at("result"), "success");
  EXPECT_EQ(o.at("brand"), "mastercard");
  EXPECT_EQ(o.at("last_four"), "4444");
  EXPECT_EQ(o.at("amount"), "19.99");
  EXPECT_EQ(o.at("currency"), "USD");
  EXPECT_FALSE(carries_digit_values(o));
}

// --- a fake backend -----------------------------------------------------------------------

class fake_backend : public toneguard::testing::fake_payment_backend {
 public:
  fake_backend() {
    add_call("call-1@example", "answered");
    add_call("call-2@example", "answered");
  }

  void add_call(const std::string& id, const std::string& state) {
    fake_payment_backend::add_call(call_summary{id, 1'700'000'000'000, state, 2, ""});
  }

  /// A call's segments: one agent segment so far; later ones come from emit_call().
  backend_outcome<call_subscription> subscribe_call(const std::string& call_id,
                                                    update_sink sink) override {
    std::lock_guard lock(mu_);
    if (!calls_.contains(call_id)) return backend_failure{backend_error::unknown_call, "no call"};
    call_subscription sub;
    segment_record agent;
    agent.id = 1;
    agent.call_id = call_id;
    agent.started_at_ms = 1000;
    sub.segments.push_back(agent);
    sub.id = ++next_subscription_;
    sinks_[sub.id] = {"call:" + call_id, std::move(sink)};
    return sub;
  }

  /// The call's segments change (`u` a segment_record or call_ended_event).
  void emit_call(const std::string& call_id, const payment_update& u) {
    std::vector<update_sink> targets;
    {
      std::lock_guard lock(mu_);
      for (const auto& [id, s] : sinks_) {
        if (s.first == "call:" + call_id) targets.push_back(s.second);
      }
    }
    for (const auto& sink : targets) sink(u);
  }

  std::size_t subscribers(const std::string& payment_id) {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& [id, s] : sinks_) n += s.first == payment_id ? 1 : 0;
    return n;
  }

  bool wait_for_subscribers(const std::string& payment_id, std::size_t n) {
    for (int i = 0; i < 500; ++i) {
      if (subscribers(payment_id) == n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  std::atomic<int> starts{0};
  std::atomic<int> cancels{0};

 private:
  void on_started(call_summary& /*call*/, const payment_status& /*s*/) override { ++starts; }
  void on_cancel_requested(const payment_status& /*s*/) override { ++cancels; }
};

// --- a small client -------------------------------------------------------------------------

struct reply {
  unsigned status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  json::value json() const {
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    return ec ? json::value() : v;
  }
  std::string error_code() const {
    const auto v = json();
    if (!v.is_object() || !v.as_object().contains("error")) return "";
    return std::string(v.at("error").at("code").as_string());
  }
  std::string error_message() const {
    const auto v = json();
    if (!v.is_object() || !v.as_object().contains("error")) return "";
    return std::string(v.at("error").at("message").as_string());
  }
};

struct request_spec {
  http::verb method = http::verb::get;
  std::string target;
  std::string body;
  std::string token = kFullToken;
  std::map<std::string, std::string> headers;
  bool json_body = true;
};

class client {
 public:
  explicit client(std::uint16_t port, std::string ca_pem = {})
      : port_(port), ca_pem_(std::move(ca_pem)), tls_ctx_(ssl::context::tls_client) {
    if (!ca_pem_.empty()) {
      tls_ctx_.add_certificate_authority(asio::buffer(ca_pem_));
      tls_ctx_.set_verify_mode(ssl::verify_peer);
    }
  }

  reply fetch(const request_spec& spec) {
    http::request<http::string_body> req(spec.method, spec.target, 11);
    req.set(http::field::host, "localhost");
    if (!spec.token.empty()) req.set(http::field::authorization, "Bearer " + spec.token);
    if (!spec.body.empty() && spec.json_body)
      req.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : spec.headers) req.set(k, v);
    req.body() = spec.body;
    req.prepare_payload();
    if (ca_pem_.empty()) {
      beast::tcp_stream s(io_);
      if (!connect(s)) return {};
      return exchange(s, req);
    }
    beast::ssl_stream<beast::tcp_stream> s(io_, tls_ctx_);
    if (!connect(beast::get_lowest_layer(s)) || !handshake(s)) return {};
    return exchange(s, req);
  }

  reply get(const std::string& target, std::string token = kFullToken) {
    request_spec r;
    r.target = target;
    r.token = std::move(token);
    return fetch(r);
  }

  reply post(const std::string& target, std::string body, std::string key,
             std::string token = kFullToken) {
    request_spec r;
    r.method = http::verb::post;
    r.target = target;
    r.body = std::move(body);
    r.token = std::move(token);
    if (!key.empty()) r.headers["Idempotency-Key"] = std::move(key);
    return fetch(r);
  }

  /// Opens the events WebSocket of `payment_id` and reads frames until the server closes
  /// (or `after_open` has run and 5 s pass). `after_open` runs once the upgrade is done.
  struct ws_log {
    bool opened = false;
    unsigned refused_status = 0;
    std::vector<std::string> frames;
    bool closed_normally = false;
  };
  ws_log follow(const std::string& payment_id, const std::function<void()>& after_open,
                bool token_in_query = false) {
    ws_log log;
    if (ca_pem_.empty()) {
      websocket::stream<beast::tcp_stream> ws(io_);
      if (!connect(beast::get_lowest_layer(ws))) return log;
      run_ws(ws, payment_id, after_open, token_in_query, log);
    } else {
      websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(io_, tls_ctx_);
      if (!connect(beast::get_lowest_layer(ws)) || !handshake(ws.next_layer())) return log;
      run_ws(ws, payment_id, after_open, token_in_query, log);
    }
    return log;
  }

 private:
  bool connect(beast::tcp_stream& s) {
    boost::system::error_code result = asio::error::timed_out;
    s.expires_after(5s);
    s.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_),
                    [&](boost::system::error_code ec) { result = ec; });
    run();
    return !result;
  }

  bool handshake(beast::ssl_stream<beast::tcp_stream>& s) {
    s.set_verify_callback(ssl::host_name_verification("localhost"));
    boost::system::error_code result = asio::error::timed_out;
    beast::get_lowest_layer(s).expires_after(5s);
    s.async_handshake(ssl::stream_base::client, [&](boost::system::error_code ec) { result = ec; });
    run();
    return !result;
  }

  template <class Stream>
  reply exchange(Stream& s, http::request<http::string_body>& req) {
    reply out;
    http::response_parser<http::string_body> res;
    res.body_limit(1 << 20);
    beast::flat_buffer buffer;
    beast::get_lowest_layer(s).expires_after(5s);
    http::async_write(s, req, [&](boost::system::error_code, std::size_t) {});
    // Read at once: the server may answer (413) before the whole body is sent.
    http::async_read(s, buffer, res, [&](boost::system::error_code ec, std::size_t) {
      if (ec) return;
      out.status = res.get().result_int();
      out.body = res.get().body();
      for (const auto& f : res.get()) {
        out.headers[std::string(f.name_string())] = std::string(f.value());
      }
    });
    run();
    return out;
  }

  template <class Ws>
  void run_ws(Ws& ws, const std::string& payment_id, const std::function<void()>& after_open,
              bool token_in_query, ws_log& log) {
    const std::string token = kFullToken;
    ws.set_option(websocket::stream_base::decorator([&](websocket::request_type& r) {
      if (!token_in_query) r.set(http::field::authorization, "Bearer " + token);
    }));
    websocket::response_type res;
    boost::system::error_code result = asio::error::timed_out;
    beast::get_lowest_layer(ws).expires_after(5s);
    // A target of its own (starting with '/'), or the payment's events.
    std::string target =
        payment_id.starts_with('/') ? payment_id : "/v1/payments/" + payment_id + "/events";
    if (token_in_query) target += "?access_token=" + token;
    ws.async_handshake(res, "localhost", target,
                       [&](boost::system::error_code ec) { result = ec; });
    run();
    if (result) {
      log.refused_status = res.result_int();
      return;
    }
    log.opened = true;
    beast::get_lowest_layer(ws).expires_never();
    ws.set_option(websocket::stream_base::timeout{5s, 5s, false});
    bool done = false;
    beast::flat_buffer buffer;
    std::function<void()> read_one = [&] {
      ws.async_read(buffer, [&](boost::system::error_code ec, std::size_t) {
        if (ec) {
          log.closed_normally =
              ec == websocket::error::closed && ws.reason().code == websocket::close_code::normal;
          done = true;
          return;
        }
        log.frames.push_back(beast::buffers_to_string(buffer.data()));
        buffer.consume(buffer.size());
        read_one();
      });
    };
    read_one();
    // Until the stream ends (the stream's own idle timer stays queued after that).
    const auto until_done = [&] {
      io_.restart();
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (!done && std::chrono::steady_clock::now() < deadline && io_.run_one_for(1s) > 0) {
      }
    };
    if (after_open) {
      std::thread t(after_open);
      until_done();
      t.join();
    } else {
      until_done();
    }
    EXPECT_TRUE(done);
  }

  void run() {
    io_.restart();
    io_.run_for(10s);
  }

  std::uint16_t port_;
  std::string ca_pem_;
  asio::io_context io_;
  ssl::context tls_ctx_;
};

// --- the server under test ----------------------------------------------------------------

api_server_settings test_settings() {
  api_server_settings s;
  s.tokens = {api_token{kFullToken, false}, api_token{kReadToken, true}};
  return s;
}

class ApiServer : public ::testing::Test {
 protected:
  void SetUp() override { start(test_settings()); }
  void TearDown() override {
    if (server) server->stop();
  }

  void start(api_server_settings s) {
    if (server) server->stop();
    auto started = api_server::start(std::move(s), backend);
    ASSERT_TRUE(started.ok()) << started.message();
    server = std::move(started).value();
    ASSERT_NE(server->port(), 0);
  }

  client make_client() { return client(server->port()); }

  // Starts a payment on call-1; returns its id.
  std::string start_payment(client& c, const std::string& key = "key-1") {
    const auto r = c.post("/v1/calls/call-1@example/payments",
                          R"({"amount": "19.99", "reference": "INV-1"})", key);
    EXPECT_EQ(r.status, 201u) << r.body;
    return std::string(r.json().at("payment_id").as_string());
  }

  std::shared_ptr<fake_backend> backend = std::make_shared<fake_backend>();
  std::unique_ptr<api_server> server;
};

progress_event progress(progress_kind k, std::optional<dialog_field> f = std::nullopt,
                        int digits = 0) {
  progress_event e;
  e.kind = k;
  e.field = f;
  e.digits = digits;
  return e;
}

payment_result approved(const std::string& payment_id) {
  payment_result r;
  r.outcome = payment_outcome::success;
  r.payment_id = payment_id;
  r.brand = card_brand::visa;
  r.last_four = "1111";
  r.amount_minor = 1999;
  r.payment_currency = *find_currency("USD");
  r.transaction_reference = "ch_sbx_000001";
  r.attempts = 1;
  return r;
}

TEST_F(ApiServer, HealthzNeedsNoToken) {
  auto c = make_client();
  const auto r = c.get("/healthz", "");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.json().at("status"), "ok");
}

TEST_F(ApiServer, ListsCalls) {
  auto c = make_client();
  const auto r = c.get("/v1/calls");
  ASSERT_EQ(r.status, 200u) << r.body;
  const json::value doc = r.json();
  const auto& calls = doc.at("calls").as_array();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].at("call_id"), "call-1@example");
  EXPECT_EQ(calls[0].at("legs"), 2);
  EXPECT_TRUE(calls[0].at("payment_id").is_null());
}

TEST_F(ApiServer, InspectsACallWithItsPayment) {
  auto c = make_client();
  const std::string id = start_payment(c);
  const auto r = c.get("/v1/calls/call-1%40example");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(std::string(r.json().at("payment_id").as_string()), id);
  EXPECT_EQ(r.json().at("payment").at("state"), "running");
  EXPECT_EQ(r.json().at("payment").at("amount"), "19.99");
}

TEST_F(ApiServer, UnknownCallIs404AndStartsNothing) {
  auto c = make_client();
  EXPECT_EQ(c.get("/v1/calls/nope").error_code(), "unknown_call");
  const auto r = c.post("/v1/calls/nope/payments", R"({"amount": "1.00"})", "k-404");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.error_code(), "unknown_call");
  EXPECT_EQ(backend->starts, 0);
}

TEST_F(ApiServer, StartsAPayment) {
  auto c = make_client();
  const auto r =
      c.post("/v1/calls/call-1@example/payments",
             R"({"amount": "19.99", "mode": "agent-assisted", "payment_id": "p-1"})", "key-1");
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(r.json().at("payment_id"), "p-1");
  EXPECT_EQ(r.json().at("state"), "running");
  EXPECT_EQ(r.json().at("mode"), "agent-assisted");
  EXPECT_EQ(r.json().at("events_url"), "/v1/payments/p-1/events");
  EXPECT_EQ(r.headers.at("Location"), "/v1/payments/p-1");
  EXPECT_EQ(backend->starts, 1);
}

TEST_F(ApiServer, IdempotentReplayReturnsTheFirstAnswerWithoutStarting) {
  auto c = make_client();
  const std::string body = R"({"amount": "19.99"})";
  const auto first = c.post("/v1/calls/call-1@example/payments", body, "same-key");
  const auto again = c.post("/v1/calls/call-1@example/payments", body, "same-key");
  ASSERT_EQ(first.status, 201u);
  EXPECT_EQ(again.status, 201u);
  EXPECT_EQ(again.body, first.body);  // the generated payment id included
  EXPECT_EQ(again.headers.at("Idempotent-Replayed"), "true");
  EXPECT_EQ(backend->starts, 1);
}

TEST_F(ApiServer, IdempotencyKeyWithAnotherBodyIsAConflict) {
  auto c = make_client();
  ASSERT_EQ(c.post("/v1/calls/call-1@example/payments", R"({"amount": "19.99"})", "k").status,
            201u);
  const auto other = c.post("/v1/calls/call-1@example/payments", R"({"amount": "20.00"})", "k");
  EXPECT_EQ(other.status, 409u);
  EXPECT_EQ(other.error_code(), "idempotency_conflict");
  EXPECT_NE(other.error_message().find("Idempotency-Key"), std::string::npos);
  const auto other_call =
      c.post("/v1/calls/call-2@example/payments", R"({"amount": "19.99"})", "k");
  EXPECT_EQ(other_call.status, 409u);
  EXPECT_EQ(backend->starts, 1);
}

TEST_F(ApiServer, IdempotencyKeysAreBoundedInNumberAndTime) {
  auto s = test_settings();
  s.idempotency_capacity = 1;
  start(std::move(s));
  auto c = make_client();
  const std::string body = R"({"amount": "1.00"})";
  ASSERT_EQ(c.post("/v1/calls/call-1@example/payments", body, "a").status, 201u);
  ASSERT_EQ(c.post("/v1/calls/call-2@example/payments", body, "b").status, 201u);
  // "a" was forgotten for "b": its replay reaches the backend again.
  EXPECT_EQ(c.post("/v1/calls/call-1@example/payments", body, "a").error_code(),
            "payment_in_progress");
  EXPECT_EQ(c.post("/v1/calls/call-2@example/payments", body, "b").status, 201u);

  auto t = test_settings();
  t.idempotency_ttl_ms = 20;
  start(std::move(t));
  backend->add_call("call-3@example", "answered");
  auto d = make_client();
  ASSERT_EQ(d.post("/v1/calls/call-3@example/payments", body, "c").status, 201u);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(d.post("/v1/calls/call-3@example/payments", body, "c").error_code(),
            "payment_in_progress");
  EXPECT_EQ(backend->starts, 3);
}

TEST_F(ApiServer, StopIsPromptAfterAClientLeftAWebSocketAbruptly) {
  auto c = make_client();
  const std::string id = start_payment(c);
  {
    asio::io_context io;
    tcp::socket raw(io);
    raw.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->port()));
    websocket::stream<tcp::socket> ws(std::move(raw));
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& r) {
      r.set(http::field::authorization, std::string("Bearer ") + kFullToken);
    }));
    ws.handshake("localhost", "/v1/payments/" + id + "/events");
    ASSERT_TRUE(backend->wait_for_subscribers(id, 1));
  }  // closed without a close frame
  EXPECT_TRUE(backend->wait_for_subscribers(id, 0));
  const auto t0 = std::chrono::steady_clock::now();
  server->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST_F(ApiServer, IdempotencyKeyIsRequired) {
  auto c = make_client();
  const auto r = c.post("/v1/calls/call-1@example/payments", R"({"amount": "19.99"})", "");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.error_code(), "missing_idempotency_key");
  EXPECT_EQ(backend->starts, 0);
}

TEST_F(ApiServer, RefusedStartIsNotRememberedUnderItsKey) {
  auto c = make_client();
  EXPECT_EQ(c.post("/v1/calls/call-1@example/payments", R"({"amount": "x"})", "k").status, 400u);
  EXPECT_EQ(c.post("/v1/calls/call-1@example/payments", R"({"amount": "1.00"})", "k").status, 201u);
}

TEST_F(ApiServer, SecondPaymentOnACallIs409) {
  auto c = make_client();
  start_payment(c, "k1");
  const auto r = c.post("/v1/calls/call-1@example/payments", R"({"amount": "2.00"})", "k2");
  EXPECT_EQ(r.status, 409u);
  EXPECT_EQ(r.error_code(), "payment_in_progress");
}

TEST_F(ApiServer, BadAmountIs400NamingAmount) {
  auto c = make_client();
  const auto r = c.post("/v1/calls/call-1@example/payments", R"({"amount": "19.999"})", "k-amount");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.error_code(), "invalid_request");
  EXPECT_NE(r.error_message().find("'amount'"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("19.999"), std::string::npos) << "the value is echoed";
  EXPECT_EQ(backend->starts, 0);
}

TEST_F(ApiServer, MalformedJsonIs400) {
  auto c = make_client();
  const auto r = c.post("/v1/calls/call-1@example/payments", R"({"amount": )", "k-json");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.error_code(), "malformed_json");
  EXPECT_NE(r.error_message().find("malformed JSON"), std::string::npos);
  EXPECT_EQ(backend->starts, 0);
}

TEST_F(ApiServer, BodyMustBeJson) {
  auto c = make_client();
  request_spec r;
  r.method = http::verb::post;
  r.target = "/v1/calls/call-1@example/payments";
  r.body = "amount=1";
  r.json_body = false;
  r.headers["Idempotency-Key"] = "k";
  r.headers["Content-Type"] = "application/x-www-form-urlencoded";
  EXPECT_EQ(c.fetch(r).status, 415u);
}

TEST_F(ApiServer, MissingOrWrongTokenIs401) {
  auto c = make_client();
  const auto none = c.get("/v1/calls", "");
  EXPECT_EQ(none.status, 401u);
  EXPECT_EQ(none.error_code(), "unauthorized");
  EXPECT_EQ(none.headers.count("WWW-Authenticate"), 1u);
  EXPECT_EQ(c.get("/v1/calls", "full-token-0123456789abcdeX").status, 401u);
  EXPECT_EQ(c.get("/v1/calls", "full").status, 401u);
  const auto post =
      c.post("/v1/calls/call-1@example/payments", R"({"amount": "1.00"})", "k", "wrong-token");
  EXPECT_EQ(post.status, 401u);
  EXPECT_EQ(c.get("/v1/nothing-here", "").status, 401u);
  EXPECT_EQ(backend->starts, 0);
}

TEST_F(ApiServer, ReadOnlyTokenMayReadButNotPost) {
  auto c = make_client();
  EXPECT_EQ(c.get("/v1/calls", kReadToken).status, 200u);
  const auto r =
      c.post("/v1/calls/call-1@example/payments", R"({"amount": "1.00"})", "k", kReadToken);
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(r.error_code(), "forbidden");
  const std::string id = start_payment(c);
  EXPECT_EQ(c.post("/v1/payments/" + id + "/cancel", "", "", kReadToken).status, 403u);
  EXPECT_EQ(backend->starts, 1);
  EXPECT_EQ(backend->cancels, 0);
}

TEST_F(ApiServer, CancelsAPayment) {
  auto c = make_client();
  const std::string id = start_payment(c);
  const auto r = c.post("/v1/payments/" + id + "/cancel", "", "");
  EXPECT_EQ(r.status, 202u) << r.body;
  EXPECT_EQ(backend->cancels, 1);
  EXPECT_EQ(c.post("/v1/payments/nope/cancel", "", "").error_code(), "unknown_payment");
  payment_result cancelled;
  cancelled.outcome = payment_outcome::cancelled;
  cancelled.payment_id = id;
  backend->emit(id, cancelled);
  const auto late = c.post("/v1/payments/" + id + "/cancel", "", "");
  EXPECT_EQ(late.status, 409u);
  EXPECT_EQ(late.error_code(), "payment_finished");
}

TEST_F(ApiServer, ReadsAPaymentAndItsResult) {
  auto c = make_client();
  const std::string id = start_payment(c);
  EXPECT_TRUE(c.get("/v1/payments/" + id).json().at("result").is_null());
  backend->emit(id, progress(progress_kind::gateway_pending));
  backend->emit(id, approved(id));
  const auto r = c.get("/v1/payments/" + id, kReadToken);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.json().at("state"), "finished");
  EXPECT_EQ(r.json().at("last_progress").at("kind"), "gateway-pending");
  EXPECT_EQ(r.json().at("result").at("result"), "success");
  EXPECT_EQ(r.json().at("result").at("last_four"), "1111");
  EXPECT_EQ(r.json().at("reference"), "INV-1");
  EXPECT_EQ(c.get("/v1/payments/nope").error_code(), "unknown_payment");
}

TEST_F(ApiServer, EventsStreamMaskedProgressThenTheResultThenClose) {
  auto c = make_client();
  const std::string id = start_payment(c);
  const auto log = c.follow(id, [&] {
    ASSERT_TRUE(backend->wait_for_subscribers(id, 1));
    backend->emit(id, progress(progress_kind::field_started, dialog_field::card_number));
    for (int n = 1; n <= 16; ++n) {
      backend->emit(id, progress(progress_kind::digits_entered, dialog_field::card_number, n));
    }
    progress_event brand = progress(progress_kind::brand_detected, dialog_field::card_number);
    brand.brand = card_brand::visa;
    backend->emit(id, brand);
    backend->emit(id, progress(progress_kind::field_valid, dialog_field::card_number));
    backend->emit(id, progress(progress_kind::gateway_pending));
    backend->emit(id, approved(id));
  });
  ASSERT_TRUE(log.opened);
  ASSERT_EQ(log.frames.size(), 21u);
  const std::set<std::string> allowed = {"type",  "kind",    "field",        "digits",  "brand",
                                         "error", "attempt", "max_attempts", "outcome", "at_ms"};
  for (std::size_t i = 0; i + 1 < log.frames.size(); ++i) {
    const auto v = json::parse(log.frames[i]);
    EXPECT_EQ(v.at("type"), "progress");
    EXPECT_FALSE(carries_digit_values(v)) << log.frames[i];
    for (const auto& [key, value] : v.as_object()) {
      EXPECT_EQ(allowed.count(std::string(key)), 1u) << key;
      if (key == "digits") {
        EXPECT_TRUE(value.is_int64()) << "a count, never the digits";
      }
    }
  }
  EXPECT_EQ(json::parse(log.frames[16]).at("digits"), 16);
  EXPECT_EQ(json::parse(log.frames[17]).at("brand"), "visa");
  const auto last = json::parse(log.frames.back());
  EXPECT_EQ(last.at("type"), "result");
  EXPECT_EQ(last.at("result"), "success");
  EXPECT_FALSE(carries_digit_values(last));
  EXPECT_TRUE(log.closed_normally);
  EXPECT_TRUE(backend->wait_for_subscribers(id, 0));
}

TEST_F(ApiServer, EventsOfAFinishedPaymentSendTheResultAtOnce) {
  auto c = make_client();
  const std::string id = start_payment(c);
  backend->emit(id, progress(progress_kind::gateway_pending));
  backend->emit(id, approved(id));
  const auto log = c.follow(id, nullptr, /*token_in_query=*/true);
  ASSERT_TRUE(log.opened);
  ASSERT_EQ(log.frames.size(), 2u);
  EXPECT_EQ(json::parse(log.frames[0]).at("kind"), "gateway-pending");
  EXPECT_EQ(json::parse(log.frames[1]).at("result"), "success");
  EXPECT_TRUE(log.closed_normally);
}

TEST_F(ApiServer, EventsNeedATokenAKnownPaymentAndAnUpgrade) {
  auto c = make_client();
  const std::string id = start_payment(c);
  EXPECT_EQ(c.follow("nope", nullptr).refused_status, 404u);
  EXPECT_EQ(c.get("/v1/payments/" + id + "/events").status, 426u);
  EXPECT_EQ(c.get("/v1/payments/" + id + "/events", "").status, 401u);
}

TEST_F(ApiServer, BodyTooLargeIs413) {
  auto c = make_client();
  const std::string huge = "{\"reference\": \"" + std::string(100 * 1024, 'x') + "\"}";
  const auto r = c.post("/v1/calls/call-1@example/payments", huge, "k-big");
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(r.error_code(), "body_too_large");
  EXPECT_EQ(backend->starts, 0);
  EXPECT_EQ(c.get("/healthz", "").status, 200u);  // the server goes on
}

TEST_F(ApiServer, UnknownRouteIs404WrongMethodIs405) {
  auto c = make_client();
  EXPECT_EQ(c.get("/v1/nothing").status, 404u);
  EXPECT_EQ(c.get("/v1/nothing").error_code(), "not_found");
  const auto r = c.post("/v1/calls", "{}", "k");
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(r.headers.at("Allow"), "GET");
  EXPECT_EQ(c.get("/v1/calls/call-1@example/payments").headers.at("Allow"), "POST");
}

TEST_F(ApiServer, ExtraRoutesServeMetricsAndThePanel) {
  auto s = test_settings();
  s.extra_routes.push_back(
      api_extra_route{"/metrics", "text/plain; version=0.0.4", true, [] { return "up 1\n"; }});
  s.extra_routes.push_back(api_extra_route{"/panel", "text/html; charset=utf-8", false,
                                           [] { return "<html>panel</html>"; }});
  start(std::move(s));
  auto c = make_client();
  const auto m = c.get("/metrics");
  EXPECT_EQ(m.status, 200u);
  EXPECT_EQ(m.body, "up 1\n");
  EXPECT_EQ(m.headers.at("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_EQ(c.get("/metrics", "").status, 401u);
  const auto p = c.get("/panel", "");
  EXPECT_EQ(p.status, 200u);
  EXPECT_EQ(p.body, "<html>panel</html>");

  auto bad = test_settings();
  bad.extra_routes.push_back(api_extra_route{"/v1/calls", "text/plain", false, [] { return ""; }});
  EXPECT_FALSE(api_server::start(std::move(bad), backend).ok());
}

TEST_F(ApiServer, StatusCallbackHookGetsEveryUpdate) {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> delivered;
  auto s = test_settings();
  s.on_status_callback = [&](const std::string& url, const std::string& text) {
    std::lock_guard lock(mu);
    delivered.emplace_back(url, text);
  };
  start(std::move(s));
  auto c = make_client();
  const auto r = c.post("/v1/calls/call-1@example/payments",
                        R"({"amount": "1.00", "status_callback": "https://crm.example/h"})", "k");
  ASSERT_EQ(r.status, 201u) << r.body;
  const std::string id(r.json().at("payment_id").as_string());
  ASSERT_TRUE(backend->wait_for_subscribers(id, 1));
  backend->emit(id, progress(progress_kind::field_started, dialog_field::card_number));
  backend->emit(id, approved(id));
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mu);
      if (delivered.size() == 2) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard lock(mu);
  ASSERT_EQ(delivered.size(), 2u);
  EXPECT_EQ(delivered[0].first, "https://crm.example/h");
  EXPECT_EQ(json::parse(delivered[0].second).at("kind"), "field-started");
  EXPECT_EQ(json::parse(delivered[1].second).at("result"), "success");
}

TEST_F(ApiServer, StopClosesOpenWebSocketsAndDropsSubscriptions) {
  auto c = make_client();
  const std::string id = start_payment(c);
  const auto log = c.follow(id, [&] {
    ASSERT_TRUE(backend->wait_for_subscribers(id, 1));
    const auto t0 = std::chrono::steady_clock::now();
    server->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    // The backend may still call a sink it took before: nothing may break.
    backend->emit(id, progress(progress_kind::gateway_pending));
  });
  EXPECT_TRUE(log.opened);
  EXPECT_FALSE(log.closed_normally);
  EXPECT_EQ(backend->subscribers(id), 0u);
}

// --- TLS ------------------------------------------------------------------------------------

struct pem_files {
  std::filesystem::path cert;
  std::filesystem::path key;
  std::string cert_pem;
};

// A self-signed certificate for localhost in two PEM files under the temp directory.
pem_files make_self_signed() {
  const toneguard::testing::pem_pair pem = toneguard::testing::make_self_signed();
  const auto dir =
      std::filesystem::temp_directory_path() / ("toneguard-api-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  pem_files out;
  out.cert = dir / "cert.pem";
  out.key = dir / "key.pem";
  std::ofstream(out.cert) << pem.cert;
  std::ofstream(out.key) << pem.key;
  out.cert_pem = pem.cert;
  return out;
}

TEST_F(ApiServer, TlsServesTheSameApi) {
  const pem_files pem = make_self_signed();
  auto s = test_settings();
  s.tls = true;
  s.cert_file = pem.cert;
  s.key_file = pem.key;
  start(std::move(s));
  client c(server->port(), pem.cert_pem);
  EXPECT_EQ(c.get("/v1/calls").status, 200u);
  EXPECT_EQ(c.get("/v1/calls", "").status, 401u);
  const auto r = c.post("/v1/calls/call-1@example/payments", R"({"amount": "1.00"})", "k-tls");
  ASSERT_EQ(r.status, 201u) << r.body;
  const std::string id(r.json().at("payment_id").as_string());
  const auto log = c.follow(id, [&] {
    ASSERT_TRUE(backend->wait_for_subscribers(id, 1));
    backend->emit(id, progress(progress_kind::session_started));
    backend->emit(id, approved(id));
  });
  ASSERT_EQ(log.frames.size(), 2u);
  EXPECT_EQ(json::parse(log.frames[1]).at("result"), "success");
  // A plain-HTTP client gets nothing from the TLS port.
  client plain(server->port());
  EXPECT_EQ(plain.get("/healthz", "").status, 0u);
  std::filesystem::remove_all(pem.cert.parent_path());

  auto missing = test_settings();
  missing.tls = true;
  missing.cert_file = "/nonexistent/cert.pem";
  missing.key_file = "/nonexistent/key.pem";
  const auto refused = api_server::start(std::move(missing), backend);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("cert_file"), std::string::npos);
}

// --- the OpenAPI document -------------------------------------------------------------------

std::string repo_openapi() {
  const auto path = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() /
                    "docs" / "openapi.json";
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_F(ApiServer, ServesTheOpenApiDocumentOfTheRepo) {
  const std::string file = repo_openapi();
  ASSERT_FALSE(file.empty());
  auto c = make_client();
  const auto r = c.get("/openapi.json", kReadToken);
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, file) << "rebuild: the embedded document is older than docs/openapi.json";
  EXPECT_EQ(r.headers.at("Content-Type"), "application/json");
}

TEST(ApiOpenApi, DescribesEveryRouteTheServerImplements) {
  const json::value doc = json::parse(openapi_document());
  EXPECT_EQ(std::string(doc.at("openapi").as_string()).substr(0, 2), "3.");
  const json::object& paths = doc.at("paths").as_object();
  for (const api_route& r : api_routes()) {
    std::string method(r.method);
    for (auto& ch : method) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    ASSERT_TRUE(paths.contains(r.path)) << r.path;
    EXPECT_TRUE(paths.at(r.path).as_object().contains(method)) << r.method << " " << r.path;
  }
  // And nothing the server does not implement.
  std::size_t operations = 0;
  for (const auto& [path, item] : paths) operations += item.as_object().size();
  EXPECT_EQ(operations, api_routes().size());
}

TEST(ApiServerSettings, BadSettingsAreNamed) {
  auto backend = std::make_shared<fake_backend>();
  auto no_tokens = test_settings();
  no_tokens.tokens.clear();
  EXPECT_NE(api_server::start(no_tokens, backend).message().find("token"), std::string::npos);
  auto short_token = test_settings();
  short_token.tokens.push_back(api_token{"short", false});
  EXPECT_NE(api_server::start(short_token, backend).message().find("token 3"), std::string::npos);
  auto bad_address = test_settings();
  bad_address.address = "not-an-ip";
  EXPECT_NE(api_server::start(bad_address, backend).message().find("address"), std::string::npos);
}

}  // namespace

namespace {

TEST_F(ApiServer, CallEventsStreamSegmentsThenTheCallsEnd) {
  auto c = make_client();
  const auto log = c.follow("/v1/calls/call-1@example/events", [&] {
    ASSERT_TRUE(backend->wait_for_subscribers("call:call-1@example", 1));
    segment_record ended;
    ended.id = 1;
    ended.call_id = "call-1@example";
    ended.started_at_ms = 1000;
    ended.ended_at_ms = 2000;
    ended.outcome = "secure-payment";
    backend->emit_call("call-1@example", ended);
    segment_record ivr;
    ivr.id = 2;
    ivr.call_id = "call-1@example";
    ivr.kind = segment_kind::secure_ivr;
    ivr.started_at_ms = 2000;
    ivr.payment_id = "pay-1";
    backend->emit_call("call-1@example", ivr);
    backend->emit_call("call-1@example", call_ended_event{"call-1@example", 3000, "deleted"});
  });
  ASSERT_TRUE(log.opened);
  ASSERT_EQ(log.frames.size(), 4u);
  const auto first = json::parse(log.frames[0]);
  EXPECT_EQ(first.at("type"), "segment");
  EXPECT_EQ(first.at("kind"), "agent");
  EXPECT_TRUE(first.at("ended_at_ms").is_null());
  EXPECT_EQ(json::parse(log.frames[1]).at("outcome"), "secure-payment");
  EXPECT_EQ(json::parse(log.frames[2]).at("kind"), "secure-ivr");
  EXPECT_EQ(json::parse(log.frames[2]).at("payment_id"), "pay-1");
  EXPECT_EQ(json::parse(log.frames[3]).at("type"), "call-ended");
  EXPECT_TRUE(log.closed_normally);
}

TEST_F(ApiServer, CallEventsOfAnUnknownCallAre404) {
  auto c = make_client();
  const auto log = c.follow("/v1/calls/nobody/events", [] {});
  EXPECT_FALSE(log.opened);
}

}  // namespace

namespace {

TEST(ApiTokenFile, ReadsTokensAndReadOnlyOnes) {
  const auto tokens = parse_api_token_file(
      "# the desk\nfull-token-0123456789abcdef\n\n  read-token-0123456789abcdef\tread-only\r\n",
      "t");
  ASSERT_TRUE(tokens.ok()) << tokens.message();
  ASSERT_EQ(tokens.value().size(), 2u);
  EXPECT_EQ(tokens.value()[0].token, "full-token-0123456789abcdef");
  EXPECT_FALSE(tokens.value()[0].read_only);
  EXPECT_EQ(tokens.value()[1].token, "read-token-0123456789abcdef");
  EXPECT_TRUE(tokens.value()[1].read_only);
}

TEST(ApiTokenFile, RefusalsNameTheLineNeverTheToken) {
  const auto short_token = parse_api_token_file("# x\nshort-token\n", "/etc/t");
  ASSERT_FALSE(short_token.ok());
  EXPECT_EQ(short_token.message(),
            "api-token-file /etc/t: line 2: a token is 16..256 printable ASCII characters "
            "without spaces");
  const auto flag = parse_api_token_file("full-token-0123456789abcdef writer\n", "t");
  ASSERT_FALSE(flag.ok());
  EXPECT_EQ(flag.message().find("full-token"), std::string::npos);
  EXPECT_NE(flag.message().find("line 1"), std::string::npos);
  EXPECT_FALSE(
      parse_api_token_file("a-token-0123456789abcdef\na-token-0123456789abcdef\n", "t").ok());
  EXPECT_FALSE(parse_api_token_file("# only a comment\n", "t").ok());
  EXPECT_FALSE(parse_api_token_file("", "t").ok());
}

}  // namespace
