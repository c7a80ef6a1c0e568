// Secure payments on live calls through the real daemon: ng call set-up, G.711 RTP at real time
// on loopback both ways, the payment API over HTTP, the embedded sandbox gateway over HTTPS. The
// caller answers what the dialog asks (as the API's masked progress shows it) with keys typed
// in-band or as RFC 4733 events; the agent side is checked for every trace of a key, and every
// output (the daemon's log, every API response) for the card data used.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.h"
#include "support/loopback.h"
#include "support/ng_call.h"
#include "support/test_cards.h"
#include "toneguard/dsp/dtmf_leak_scan.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/signal_builder.h"

namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using toneguard::testing::daemon_process;
using toneguard::testing::http_request;
using toneguard::testing::http_response;
using toneguard::testing::ng_call;

constexpr const char* token = "test-token-0123456789abcdef";
constexpr const char* read_only_token = "read-only-token-0123456789";
constexpr const char* pan = "4111111111111111";
constexpr const char* cvv = "737";

// The expiry the caller types: December of next year, MMYY.
using toneguard::testing::expiry_mmyy;

enum class key_mode { in_band, rfc4733 };

// Both endpoints' RTP at real time: the caller sends PCMU (silence, or the keys queued as tones
// or telephone-events), the agent sends a quiet 300 Hz tone; what each receives is kept.
class media_pump {
 public:
  media_pump(ng_call& call, key_mode mode) : call_(call), mode_(mode) {
    thread_ = std::thread([this] { run(); });
  }
  ~media_pump() { stop(); }

  void stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }

  // Queues `keys` to be typed (100 ms each, 150 ms apart), after `delay_ms` of silence.
  void type(const std::string& keys, int delay_ms = 400) {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < delay_ms / 20; ++i) queue_.push_back({0, false, {}});
    for (char key : keys) {
      // One continuous 100 ms tone, cut into five packets.
      toneguard::dsp::signal_builder b;
      b.dtmf(key, 100, {-8.0f});
      std::vector<std::uint8_t> codes(800);
      toneguard::dsp::g711_encode(toneguard::dsp::g711_law::ulaw, b.pcm16(), codes);
      for (int i = 0; i < 5; ++i) {
        queue_.push_back(
            {key, i == 4,
             std::vector<std::uint8_t>(codes.begin() + 160 * i, codes.begin() + 160 * (i + 1))});
      }
      for (int i = 0; i < 8; ++i) queue_.push_back({0, false, {}});
    }
  }

  bool idle() {
    std::lock_guard lock(mutex_);
    return queue_.empty();
  }

  // What the agent heard (decoded PCMU, in order), telephone-events it received, and packets
  // the caller received from the daemon.
  std::vector<float> agent_heard() {
    std::lock_guard lock(mutex_);
    return agent_heard_;
  }
  int agent_events() const { return agent_events_.load(); }
  int caller_packets() const { return caller_packets_.load(); }
  double caller_energy() const { return caller_energy_.load(); }

 private:
  struct frame {
    char key;                         // 0: silence
    bool last;                        // the last 20 ms of the key
    std::vector<std::uint8_t> codes;  // the key's PCMU for this packet
  };

  void run() {
    using clock = std::chrono::steady_clock;
    auto next = clock::now();
    std::uint16_t seq = 100;
    std::uint32_t ts = 0;
    std::uint16_t agent_seq = 500;
    std::uint32_t agent_ts = 0;
    std::vector<std::uint8_t> silence(160, 0xFF);
    std::vector<std::uint8_t> agent_audio(160);
    {
      toneguard::dsp::signal_builder b;
      b.tone(300, 20, -30);
      toneguard::dsp::g711_encode(toneguard::dsp::g711_law::ulaw, b.pcm16(), agent_audio);
    }
    std::uint32_t event_ts = 0;
    int event_frames = 0;
    while (running_) {
      frame f{0, false, {}};
      {
        std::lock_guard lock(mutex_);
        if (!queue_.empty()) {
          f = queue_.front();
          queue_.pop_front();
        }
      }
      if (f.key != 0 && mode_ == key_mode::rfc4733) {
        // RFC 4733: one event, its duration growing each packet, the end sent three times.
        if (event_frames == 0) event_ts = ts;
        ++event_frames;
        const int code = f.key == '*' ? 10 : f.key == '#' ? 11 : f.key - '0';
        for (int copies = f.last ? 3 : 1; copies > 0; --copies) {
          auto p = toneguard::testing::rtp_header(101, event_frames == 1, seq++, event_ts, 7);
          const std::uint16_t duration = static_cast<std::uint16_t>(160 * event_frames);
          p.insert(
              p.end(),
              {static_cast<std::uint8_t>(code), static_cast<std::uint8_t>((f.last ? 0x80 : 0) | 10),
               static_cast<std::uint8_t>(duration >> 8), static_cast<std::uint8_t>(duration)});
          call_.caller.send_to(call_.caller_facing, p.data(), p.size());
        }
        if (f.last) event_frames = 0;
      } else if (f.key != 0) {
        const auto p = toneguard::testing::pcmu_packet(seq++, ts, f.codes.data());
        call_.caller.send_to(call_.caller_facing, p.data(), p.size());
      } else {
        const auto p = toneguard::testing::pcmu_packet(seq++, ts, silence.data());
        call_.caller.send_to(call_.caller_facing, p.data(), p.size());
      }
      ts += 160;
      const auto back =
          toneguard::testing::pcmu_packet(agent_seq++, agent_ts, agent_audio.data(), 9);
      agent_ts += 160;
      call_.agent.send_to(call_.agent_facing, back.data(), back.size());

      next += 20ms;
      while (clock::now() < next) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(next - clock::now()).count();
        receive(static_cast<int>(std::max<long long>(left, 0)));
      }
    }
  }

  void receive(int timeout_ms) {
    if (auto got = call_.agent.receive(0)) {
      if (got->size() >= 12 && (static_cast<std::uint8_t>((*got)[1]) & 0x7F) == 101) {
        ++agent_events_;
      } else if (got->size() == 172) {
        std::vector<float> decoded(160);
        toneguard::dsp::g711_decode(
            toneguard::dsp::g711_law::ulaw,
            std::span(reinterpret_cast<const std::uint8_t*>(got->data()) + 12, 160), decoded);
        std::lock_guard lock(mutex_);
        agent_heard_.insert(agent_heard_.end(), decoded.begin(), decoded.end());
      }
      return;
    }
    if (auto got = call_.caller.receive(std::min(timeout_ms, 5))) {
      ++caller_packets_;
      if (got->size() == 172) {
        std::vector<float> decoded(160);
        toneguard::dsp::g711_decode(
            toneguard::dsp::g711_law::ulaw,
            std::span(reinterpret_cast<const std::uint8_t*>(got->data()) + 12, 160), decoded);
        double e = 0;
        for (float v : decoded) e += static_cast<double>(v) * v;
        caller_energy_ = caller_energy_.load() + e;
      }
    }
  }

  ng_call& call_;
  key_mode mode_;
  std::atomic<bool> running_{true};
  std::mutex mutex_;
  std::deque<frame> queue_;
  std::vector<float> agent_heard_;
  std::atomic<int> agent_events_{0};
  std::atomic<int> caller_packets_{0};
  std::atomic<double> caller_energy_{0};
  std::thread thread_;
};

// A webhook receiver on loopback: answers 200 to every POST and keeps the bodies.
class callback_receiver {
 public:
  callback_receiver() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &size) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~callback_receiver() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mutex_);
    return bodies_;
  }

 private:
  void run() {
    while (running_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      std::string request;
      const auto deadline = std::chrono::steady_clock::now() + 2s;
      while (std::chrono::steady_clock::now() < deadline) {
        const auto head = request.find("\r\n\r\n");
        if (head != std::string::npos) {
          const auto length_at = request.find("Content-Length: ");
          const std::size_t length =
              length_at == std::string::npos ? 0 : std::atoi(request.c_str() + length_at + 16);
          if (request.size() >= head + 4 + length) {
            std::lock_guard lock(mutex_);
            bodies_.push_back(request.substr(head + 4, length));
            break;
          }
        }
        pollfd c{client, POLLIN, 0};
        if (::poll(&c, 1, 50) <= 0) continue;
        char buffer[4096];
        const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<std::size_t>(n));
      }
      const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      ::send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(client);
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> running_{true};
  std::mutex mutex_;
  std::vector<std::string> bodies_;
  std::thread thread_;
};

// A daemon with the API on, its token file in a temporary directory.
class payment_daemon {
 public:
  payment_daemon() {
    dir_ = std::filesystem::temp_directory_path() /
           ("tg-payment-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "tokens") << "# tokens\n"
                                   << token << "\n"
                                   << read_only_token << " read-only\n";
    port_min_ = toneguard::testing::free_port_range(100);
    daemon_ = std::make_unique<daemon_process>(std::vector<std::string>{
        "--listen-ng", "127.0.0.1:0", "--port-min", std::to_string(port_min_), "--port-max",
        std::to_string(port_min_ + 99), "--api-listen", "127.0.0.1:0", "--api-token-file",
        (dir_ / "tokens").string(), "--report-db", (dir_ / "reports.db").string()});
    if (daemon_->wait_for_log("proto=api", 10000ms)) {
      ng_port_ = toneguard::testing::listening_port(daemon_->err(), "ng");
      api_port_ = toneguard::testing::listening_port(daemon_->err(), "api");
    }
  }
  ~payment_daemon() {
    daemon_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  bool up() const { return ng_port_ != 0 && api_port_ != 0; }
  std::uint16_t ng_port() const { return ng_port_; }
  daemon_process& process() { return *daemon_; }
  const std::filesystem::path& dir() const { return dir_; }

  // An API request; every response is kept for the card data scan.
  http_response api(const std::string& method, const std::string& path,
                    const std::string& body = {}, const std::string& bearer = token,
                    const std::string& idempotency_key = {}) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!bearer.empty()) headers.push_back({"Authorization", "Bearer " + bearer});
    if (!body.empty()) headers.push_back({"Content-Type", "application/json"});
    if (!idempotency_key.empty()) headers.push_back({"Idempotency-Key", idempotency_key});
    http_response r = http_request(api_port_, method, path, headers, body);
    responses_ += r.body;
    responses_ += '\n';
    return r;
  }
  const std::string& responses() const { return responses_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  int port_min_ = 0;
  std::unique_ptr<daemon_process> daemon_;
  std::uint16_t ng_port_ = 0;
  std::uint16_t api_port_ = 0;
  std::string responses_;
};

// Answers the dialog's questions as the API shows them until the payment has a result (or
// `limit` passes); the final status.
json::object answer_until_done(payment_daemon& d, media_pump& pump, const std::string& payment_id,
                               std::chrono::seconds limit = 90s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string last_seen;
  while (std::chrono::steady_clock::now() < deadline) {
    const http_response r = d.api("GET", "/v1/payments/" + payment_id);
    if (r.status != 200) {
      std::this_thread::sleep_for(100ms);
      continue;
    }
    const json::object status = json::parse(r.body).as_object();
    if (!status.at("result").is_null()) return status;
    const json::value& progress = status.at("last_progress");
    const std::string seen = json::serialize(progress);
    if (progress.is_object() && seen != last_seen && pump.idle()) {
      last_seen = seen;
      const json::object& p = progress.as_object();
      const std::string kind(p.at("kind").as_string());
      if (kind == "confirmation-started") {
        pump.type("1");
      } else if (kind == "field-started") {
        const std::string field(p.at("field").as_string());
        if (field == "card-number") pump.type(std::string(pan) + "#");
        if (field == "expiry") pump.type(expiry_mmyy());
        if (field == "cvv") pump.type(cvv);
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  return {};
}

// Nothing the daemon wrote or the API answered carries the card data.
void expect_no_card_data(payment_daemon& d) {
  const std::string everything = d.process().err() + d.responses();
  EXPECT_EQ(everything.find(pan), std::string::npos);
  EXPECT_EQ(everything.find("411111111111"), std::string::npos);
  EXPECT_EQ(everything.find(std::string("cvv=") + cvv), std::string::npos);
  EXPECT_EQ(everything.find(expiry_mmyy() + "\""), std::string::npos);
}

// The agent heard no key: no DTMF fragment in its audio and no telephone-event.
void expect_no_leak(media_pump& pump) {
  const auto heard = pump.agent_heard();
  EXPECT_GT(heard.size(), 8000u * 2);
  EXPECT_TRUE(toneguard::dsp::scan_for_dtmf_leaks(heard).empty());
  EXPECT_EQ(pump.agent_events(), 0);
}

std::string start_payment(payment_daemon& d, const std::string& call_id, const std::string& body,
                          const std::string& key) {
  const http_response r = d.api("POST", "/v1/calls/" + call_id + "/payments", body, token, key);
  EXPECT_EQ(r.status, 201) << r.body;
  if (r.status != 201) return {};
  return std::string(json::parse(r.body).at("payment_id").as_string());
}

void run_payment(key_mode mode, const std::string& body) {
  payment_daemon d;
  ASSERT_TRUE(d.up()) << d.process().err();
  ng_call call;
  ASSERT_TRUE(call.set_up(d.ng_port(), "pay-call-1"));
  media_pump pump(call, mode);
  ASSERT_TRUE(d.process().wait_for_log("msg=relaying", 5000ms)) << d.process().err();
  std::this_thread::sleep_for(500ms);

  const std::string payment_id = start_payment(d, "pay-call-1", body, "key-1");
  ASSERT_FALSE(payment_id.empty());
  const json::object status = answer_until_done(d, pump, payment_id);
  ASSERT_FALSE(status.empty()) << "no result in time\n" << d.process().err();
  const json::object& result = status.at("result").as_object();
  EXPECT_EQ(result.at("result").as_string(), "success") << json::serialize(result);
  EXPECT_EQ(result.at("last_four").as_string(), "1111");
  EXPECT_EQ(result.at("brand").as_string(), "visa");
  EXPECT_FALSE(result.at("transaction_reference").as_string().empty());
  // The caller heard the prompts.
  EXPECT_GT(pump.caller_packets(), 100);
  EXPECT_GT(pump.caller_energy(), 1e6);
  std::this_thread::sleep_for(300ms);
  pump.stop();
  expect_no_leak(pump);

  // The call shows its payment; metrics count it; the report store has the segments.
  const http_response call_json = d.api("GET", "/v1/calls/pay-call-1");
  EXPECT_EQ(call_json.status, 200);
  EXPECT_NE(call_json.body.find(payment_id), std::string::npos);
  const http_response metrics = d.api("GET", "/metrics");
  EXPECT_NE(metrics.body.find("toneguard_payments_total{outcome=\"success\"} 1"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("toneguard_gateway_latency_seconds_count 1"), std::string::npos);
  ASSERT_TRUE(call.tear_down(d.ng_port(), "pay-call-1"));

  // The reporting store (a real SQLite file) has the call's segments in order and the payment.
  std::this_thread::sleep_for(200ms);
  const http_response report = d.api("GET", "/v1/reports?call_id=pay-call-1");
  ASSERT_EQ(report.status, 200) << report.body;
  const json::value page = json::parse(report.body);
  ASSERT_EQ(page.at("calls").as_array().size(), 1u) << report.body;
  const json::object& reported = page.at("calls").at(0).as_object();
  std::vector<std::string> kinds;
  for (const auto& segment : reported.at("segments").as_array()) {
    kinds.emplace_back(segment.at("kind").as_string());
  }
  const std::vector<std::string> expected{"agent", "secure-ivr", "payment-provider", "secure-ivr",
                                          "agent"};
  EXPECT_EQ(kinds, expected) << report.body;
  EXPECT_EQ(reported.at("end_reason").as_string(), "deleted");
  ASSERT_EQ(reported.at("payments").as_array().size(), 1u);
  EXPECT_EQ(reported.at("payments").at(0).at("outcome").as_string(), "success");
  EXPECT_EQ(reported.at("payments").at(0).at("last_four").as_string(), "1111");
  const http_response csv = d.api("GET", "/v1/reports?call_id=pay-call-1&format=csv");
  EXPECT_EQ(csv.status, 200);
  EXPECT_NE(csv.body.find("payment-provider"), std::string::npos) << csv.body;
  EXPECT_EQ(d.api("GET", "/v1/reports?from=yesterday").status, 400);
  EXPECT_TRUE(std::filesystem::exists(d.dir() / "reports.db"));

  d.process().signal(SIGTERM);
  EXPECT_TRUE(d.process().wait_for_log("msg=stopped", 10000ms)) << d.process().err();
  EXPECT_NE(d.process().err().find("payments-finished=1"), std::string::npos);
  EXPECT_NE(d.process().err().find("leaked-samples=0"), std::string::npos);
  expect_no_card_data(d);
}

TEST(payment_call, agent_assisted_payment_with_in_band_keys_and_the_agent_removed) {
  run_payment(
      key_mode::in_band,
      R"({"amount":"19.99","reference":"order-1","mode":"agent-assisted","identified":true,)"
      R"("treatment":"removed"})");
}

TEST(payment_call, automated_payment_with_rfc4733_keys) {
  run_payment(key_mode::rfc4733,
              R"({"amount":"5.00","reference":"order-2","mode":"automated","identified":true})");
}

// An IVR platform starts a fully automated payment with the ng key on the offer; it runs once
// the call is answered.
TEST(payment_call, an_ng_key_on_the_offer_starts_an_automated_payment) {
  payment_daemon d;
  ASSERT_TRUE(d.up()) << d.process().err();
  ng_call call;
  ASSERT_TRUE(call.set_up(
      d.ng_port(), "ivr-call",
      {{"toneguard-payment", R"({"amount":"7.50","reference":"ivr-7","identified":true})"}}));
  media_pump pump(call, key_mode::in_band);
  std::string payment_id;
  for (int i = 0; i < 50 && payment_id.empty(); ++i) {
    const http_response r = d.api("GET", "/v1/calls/ivr-call");
    if (r.status == 200) {
      const json::value call_json = json::parse(r.body);
      const json::value& p = call_json.at("payment_id");
      if (p.is_string()) payment_id = std::string(p.as_string());
    }
    if (payment_id.empty()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_FALSE(payment_id.empty()) << d.process().err();
  const json::object status = answer_until_done(d, pump, payment_id);
  ASSERT_FALSE(status.empty()) << d.process().err();
  EXPECT_EQ(status.at("mode").as_string(), "automated");
  EXPECT_EQ(status.at("reference").as_string(), "ivr-7");
  EXPECT_EQ(status.at("result").at("result").as_string(), "success");
  pump.stop();
  expect_no_leak(pump);
  expect_no_card_data(d);
}

// Bad API input gets the right error and changes nothing: no payment starts, no call changes.
TEST(payment_call, bad_api_input_is_refused_and_changes_nothing) {
  payment_daemon d;
  ASSERT_TRUE(d.up()) << d.process().err();
  ng_call call;
  ASSERT_TRUE(call.set_up(d.ng_port(), "quiet-call"));
  const std::string good = R"({"amount":"10.00","reference":"r"})";
  EXPECT_EQ(d.api("POST", "/v1/calls/no-such-call/payments", good, token, "k1").status, 404);
  EXPECT_EQ(
      d.api("POST", "/v1/calls/quiet-call/payments", R"({"amount":"ten"})", token, "k2").status,
      400);
  EXPECT_EQ(d.api("POST", "/v1/calls/quiet-call/payments", R"({"amount":)", token, "k3").status,
            400);
  EXPECT_EQ(
      d.api("POST", "/v1/calls/quiet-call/payments", good, "wrong-token-0123456789", "k4").status,
      401);
  EXPECT_EQ(d.api("POST", "/v1/calls/quiet-call/payments", good, read_only_token, "k5").status,
            403);
  EXPECT_EQ(d.api("POST", "/v1/calls/quiet-call/payments", good, token, "").status, 400);
  EXPECT_EQ(d.api("GET", "/v1/payments/pay_nosuchpayment").status, 404);
  // A card number smuggled into the reference is refused, and not echoed.
  const http_response smuggled =
      d.api("POST", "/v1/calls/quiet-call/payments",
            std::string(R"({"amount":"1.00","reference":")") + pan + R"("})", token, "k6");
  EXPECT_EQ(smuggled.status, 400);

  // Still no payment on the call, and none counted.
  const http_response after = d.api("GET", "/v1/calls/quiet-call");
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_TRUE(json::parse(after.body).at("payment").is_null()) << after.body;
  const http_response metrics = d.api("GET", "/metrics");
  EXPECT_EQ(metrics.body.find("toneguard_payments_total{outcome=\"success\"} 1"),
            std::string::npos);

  // Now a good start (its status posted to a webhook), then the same key replayed: the same
  // payment, not a second one; the same key with another body: 409.
  callback_receiver webhook;
  ASSERT_NE(webhook.port(), 0);
  const std::string with_callback = R"({"amount":"10.00","reference":"r","status_callback":)"
                                    R"("http://127.0.0.1:)" +
                                    std::to_string(webhook.port()) + R"(/hook"})";
  const http_response first =
      d.api("POST", "/v1/calls/quiet-call/payments", with_callback, token, "k7");
  ASSERT_EQ(first.status, 201) << first.body;
  const http_response replay =
      d.api("POST", "/v1/calls/quiet-call/payments", with_callback, token, "k7");
  EXPECT_EQ(replay.status, 201);
  EXPECT_EQ(json::parse(replay.body).at("payment_id"), json::parse(first.body).at("payment_id"));
  EXPECT_EQ(
      d.api("POST", "/v1/calls/quiet-call/payments", R"({"amount":"11.00"})", token, "k7").status,
      409);
  EXPECT_EQ(d.api("POST", "/v1/calls/quiet-call/payments", good, token, "k8").status, 409);
  // Cancelled, it ends as cancelled.
  const std::string id(json::parse(first.body).at("payment_id").as_string());
  EXPECT_EQ(d.api("POST", "/v1/payments/" + id + "/cancel", "", token).status, 202);
  std::string result;
  for (int i = 0; i < 50 && result.empty(); ++i) {
    const http_response r = d.api("GET", "/v1/payments/" + id);
    const json::value status = json::parse(r.body);
    const json::value& res = status.at("result");
    if (res.is_object()) result = std::string(res.at("result").as_string());
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(result, "cancelled");
  // The webhook got the progress and, last, the result.
  std::vector<std::string> posted;
  for (int i = 0; i < 50; ++i) {
    posted = webhook.bodies();
    if (!posted.empty() && posted.back().find("\"type\":\"result\"") != std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_FALSE(posted.empty());
  EXPECT_NE(posted.back().find("\"result\":\"cancelled\""), std::string::npos) << posted.back();
  EXPECT_NE(posted.front().find("\"type\":\"progress\""), std::string::npos) << posted.front();
  expect_no_card_data(d);
}

}  // namespace
