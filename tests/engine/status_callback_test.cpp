// The status callback sender: the pure helpers, then real deliveries to a scripted Beast
// HTTP/HTTPS server on loopback (retries, timeouts, order, overflow, TLS, stop).
#include "toneguard/engine/status_callback.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/self_signed_certificate.h"
#include "toneguard/engine/api_server.h"

namespace toneguard::engine {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::int64_t kNow = 1'700'000'000;

// Polls `done` every few milliseconds until it holds or `limit` passes.
template <class Pred>
bool eventually(Pred done, std::chrono::milliseconds limit = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

std::string hex_hmac(std::string_view key, std::string_view text) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
  std::string out;
  char two[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(two, sizeof two, "%02x", mac[i]);
    out += two;
  }
  return out;
}

// --- pure helpers ---------------------------------------------------------------------------

TEST(StatusCallbackSignature, IsTheHexHmacSha256OfTimestampDotBody) {
  const std::string body = R"({"type":"result","payment_id":"pay_x"})";
  const std::string sig = status_callback_signature("whsec_test", kNow, body);
  EXPECT_EQ(sig, "t=1700000000,v1=" + hex_hmac("whsec_test", "1700000000." + body));
  EXPECT_EQ(sig.size(), std::string("t=1700000000,v1=").size() + 64);
  EXPECT_NE(status_callback_signature("whsec_other", kNow, body), sig);
  EXPECT_NE(status_callback_signature("whsec_test", kNow + 1, body), sig);
}

TEST(StatusCallbackBackoff, DoublesFromTheBaseUpToTheCap) {
  EXPECT_EQ(status_callback_backoff_ms(0, 500, 30'000), 0);
  EXPECT_EQ(status_callback_backoff_ms(1, 500, 30'000), 500);
  EXPECT_EQ(status_callback_backoff_ms(2, 500, 30'000), 1000);
  EXPECT_EQ(status_callback_backoff_ms(3, 500, 30'000), 2000);
  EXPECT_EQ(status_callback_backoff_ms(6, 500, 30'000), 16'000);
  EXPECT_EQ(status_callback_backoff_ms(7, 500, 30'000), 30'000);
  EXPECT_EQ(status_callback_backoff_ms(1000, 500, 30'000), 30'000);
  EXPECT_EQ(status_callback_backoff_ms(3, 0, 30'000), 0);
}

TEST(StatusCallbackSettings, BadSettingsAreRefusedNamingTheSetting) {
  const auto refused = [](auto change, std::string_view name) {
    status_callback_settings s;
    change(s);
    auto r = status_callback_sender::start(s);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_NE(r.message().find(name), std::string::npos) << r.message();
  };
  refused([](auto& s) { s.connect_timeout_ms = 0; }, "connect_timeout_ms");
  refused([](auto& s) { s.total_timeout_ms = 0; }, "total_timeout_ms");
  refused([](auto& s) { s.max_attempts = 0; }, "max_attempts");
  refused([](auto& s) { s.backoff_base_ms = -1; }, "backoff_base_ms");
  refused([](auto& s) { s.backoff_cap_ms = 100; }, "backoff_cap_ms");  // below the base
  refused([](auto& s) { s.backoff_jitter_percent = 101; }, "backoff_jitter_percent");
  refused([](auto& s) { s.concurrency = 0; }, "concurrency");
  refused([](auto& s) { s.queue_capacity = 0; }, "queue_capacity");
  refused([](auto& s) { s.url_queue_capacity = 20'000; }, "url_queue_capacity");
  refused([](auto& s) { s.max_body_bytes = 0; }, "max_body_bytes");
  refused([](auto& s) { s.stop_grace_ms = -1; }, "stop_grace_ms");
  refused([](auto& s) { s.ca_file = "/nonexistent/ca.pem"; }, "ca_file");
  auto ok = status_callback_sender::start(status_callback_settings{});
  EXPECT_TRUE(ok.ok()) << ok.message();
}

// --- a scripted webhook receiver ------------------------------------------------------------

// What the receiver does with one request.
struct reply_plan {
  unsigned status = 200;
  int delay_ms = 0;
  bool hang = false;  // read the request, then hold the connection without answering
  std::string retry_after;
};

// One request as the receiver read it.
struct received {
  std::string target;
  std::string method;
  std::string body;
  std::string content_type;
  std::string user_agent;
  std::string delivery;
  std::string signature;
  bool has_signature = false;
  std::chrono::steady_clock::time_point at;
};

using toneguard::testing::make_self_signed;
using toneguard::testing::pem_pair;

// Accepts on 127.0.0.1 (ephemeral port) on its own thread; for each connection reads one
// request, records it, asks `plan` what to do, and answers (after a delay) or hangs.
class webhook_server {
 public:
  using planner = std::function<reply_plan(const received&, int index)>;

  explicit webhook_server(planner plan, const pem_pair* tls = nullptr)
      : plan_(std::move(plan)),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    if (tls != nullptr) {
      tls_.emplace(ssl::context::tls_server);
      tls_->use_certificate_chain(asio::buffer(tls->cert));
      tls_->use_private_key(asio::buffer(tls->key), ssl::context::pem);
    }
    do_accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~webhook_server() {
    io_.stop();
    thread_.join();
  }
  webhook_server(const webhook_server&) = delete;
  webhook_server& operator=(const webhook_server&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url(std::string_view path = "/hook", std::string_view host = "127.0.0.1") const {
    return std::string(tls_ ? "https" : "http") + "://" + std::string(host) + ":" +
           std::to_string(port()) + std::string(path);
  }
  std::vector<received> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return requests_.size();
  }
  int max_concurrent() const { return max_concurrent_.load(); }
  int connections() const { return connections_.load(); }

 private:
  template <class Stream>
  struct session : std::enable_shared_from_this<session<Stream>> {
    session(webhook_server& s, Stream stream)
        : server(s), stream(std::move(stream)), timer(s.io_) {}

    void start() {
      if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        do_read();
      } else {
        stream.async_handshake(ssl::stream_base::server,
                               [self = this->shared_from_this()](beast::error_code ec) {
                                 if (!ec) self->do_read();
                               });
      }
    }
    void do_read() {
      http::async_read(stream, buffer, request,
                       [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                         if (!ec) self->on_read();
                       });
    }
    void on_read() {
      received r;
      r.target = std::string(request.target());
      r.method = std::string(request.method_string());
      r.body = request.body();
      r.content_type = std::string(request[http::field::content_type]);
      r.user_agent = std::string(request[http::field::user_agent]);
      r.delivery = std::string(request["X-Toneguard-Delivery"]);
      r.has_signature = request.find("X-Toneguard-Signature") != request.end();
      r.signature = std::string(request["X-Toneguard-Signature"]);
      r.at = std::chrono::steady_clock::now();
      int index = 0;
      {
        std::lock_guard lock(server.mu_);
        index = static_cast<int>(server.requests_.size());
        server.requests_.push_back(r);
      }
      const int now = ++server.handling_;
      int seen = server.max_concurrent_.load();
      while (now > seen && !server.max_concurrent_.compare_exchange_weak(seen, now)) {
      }
      const reply_plan p = server.plan_(r, index);
      if (p.hang) {
        server.held_.push_back(this->shared_from_this());
        return;
      }
      reply.result(p.status);
      reply.version(11);
      reply.set(http::field::content_type, "text/plain");
      if (!p.retry_after.empty()) reply.set(http::field::retry_after, p.retry_after);
      if (p.status != 204 && p.status != 304) reply.body() = "ok";  // those may have none
      reply.keep_alive(false);
      reply.prepare_payload();
      timer.expires_after(std::chrono::milliseconds(p.delay_ms));
      timer.async_wait([self = this->shared_from_this()](beast::error_code) {
        --self->server.handling_;
        http::async_write(self->stream, self->reply, [self](beast::error_code, std::size_t) {
          beast::error_code ignored;
          beast::get_lowest_layer(self->stream)
              .socket()
              .shutdown(tcp::socket::shutdown_both, ignored);
        });
      });
    }

    webhook_server& server;
    Stream stream;
    asio::steady_timer timer;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> reply;
  };

  void do_accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      ++connections_;
      if (tls_) {
        std::make_shared<session<ssl::stream<beast::tcp_stream>>>(
            *this, ssl::stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls_))
            ->start();
      } else {
        std::make_shared<session<beast::tcp_stream>>(*this, beast::tcp_stream(std::move(socket)))
            ->start();
      }
      do_accept();
    });
  }

  planner plan_;
  asio::io_context io_;
  std::optional<ssl::context> tls_;
  tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<void>> held_;  // server thread only
  mutable std::mutex mu_;
  std::vector<received> requests_;
  std::atomic<int> handling_{0};
  std::atomic<int> max_concurrent_{0};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

reply_plan answer(unsigned status) {
  reply_plan p;
  p.status = status;
  return p;
}

// --- deliveries -----------------------------------------------------------------------------

class StatusCallback : public ::testing::Test {
 protected:
  // Small timeouts and backoffs (20, 40, 80 ms, capped at 100), a fixed signing clock, no
  // jitter, and every on_failure report kept.
  status_callback_settings fast_settings() {
    status_callback_settings s;
    s.connect_timeout_ms = 500;
    s.total_timeout_ms = 1000;
    s.max_attempts = 3;
    s.backoff_base_ms = 20;
    s.backoff_cap_ms = 100;
    s.backoff_jitter_percent = 0;
    s.stop_grace_ms = 200;
    s.secret = "whsec_test";
    s.unix_time = [] { return kNow; };
    s.on_failure = [this](const status_callback_failure& f) {
      std::lock_guard lock(mu_);
      failures_.push_back(f);
    };
    return s;
  }

  std::unique_ptr<status_callback_sender> start(const status_callback_settings& s) {
    auto r = status_callback_sender::start(s);
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  std::vector<status_callback_failure> failures() {
    std::lock_guard lock(mu_);
    return failures_;
  }

  std::mutex mu_;
  std::vector<status_callback_failure> failures_;
};

TEST_F(StatusCallback, DeliversAPostWithTheHeadersAndTheBodyUnchanged) {
  webhook_server server([](const received&, int) { return answer(200); });
  auto sender = start(fast_settings());
  const std::string body = R"({"type":"progress","kind":"card_number_entered","digits":16})";
  ASSERT_TRUE(sender->enqueue(server.url("/hooks/pay_1?x=1"), body));
  ASSERT_TRUE(eventually([&] { return sender->counters().delivered == 1; }));
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/hooks/pay_1?x=1");
  EXPECT_EQ(reqs[0].body, body);
  EXPECT_EQ(reqs[0].content_type, "application/json");
  EXPECT_EQ(reqs[0].user_agent, "toneguard/0.1");
  EXPECT_EQ(reqs[0].delivery.rfind("dlv_", 0), 0u) << reqs[0].delivery;
  EXPECT_EQ(reqs[0].delivery.size(), 4u + 32u);
  EXPECT_TRUE(reqs[0].has_signature);
  const auto c = sender->counters();
  EXPECT_EQ(c.retried, 0u);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_EQ(c.queued, 0u);
  EXPECT_EQ(c.in_flight, 0u);
}

TEST_F(StatusCallback, SignatureVerifiesWithTheSecretAndIsAbsentWithout) {
  webhook_server server([](const received&, int) { return answer(204); });
  auto sender = start(fast_settings());
  const std::string body = R"({"type":"result","payment_id":"pay_abc","result":"success"})";
  ASSERT_TRUE(sender->enqueue(server.url(), body));
  ASSERT_TRUE(eventually([&] { return sender->counters().delivered == 1; }));
  const received r = server.requests().at(0);
  // What a receiver does: split t= and v1=, recompute over "t.body" with its secret.
  const auto comma = r.signature.find(",v1=");
  ASSERT_EQ(r.signature.rfind("t=", 0), 0u) << r.signature;
  ASSERT_NE(comma, std::string::npos) << r.signature;
  const std::string t = r.signature.substr(2, comma - 2);
  EXPECT_EQ(t, std::to_string(kNow));
  EXPECT_EQ(r.signature.substr(comma + 4), hex_hmac("whsec_test", t + "." + r.body));

  auto s = fast_settings();
  s.secret.clear();
  auto unsigned_sender = start(s);
  ASSERT_TRUE(unsigned_sender->enqueue(server.url(), body));
  ASSERT_TRUE(eventually([&] { return unsigned_sender->counters().delivered == 1; }));
  EXPECT_FALSE(server.requests().at(1).has_signature);
  EXPECT_NE(server.requests().at(1).delivery, r.delivery);
}

TEST_F(StatusCallback, OrderIsKeptPerUrlWhileUrlsGoInParallel) {
  // Random small delays so that deliveries to different URLs interleave.
  std::atomic<unsigned> seed{12345};
  webhook_server server([&](const received&, int) {
    reply_plan p;
    p.delay_ms = static_cast<int>((seed.fetch_add(7919) * 2654435761u) >> 29);  // 0..7 ms
    p.status = 200;
    return p;
  });
  auto s = fast_settings();
  s.concurrency = 4;
  auto sender = start(s);
  constexpr int kUrls = 8;
  constexpr int kMessages = 15;
  for (int m = 0; m < kMessages; ++m) {
    for (int u = 0; u < kUrls; ++u) {
      ASSERT_TRUE(sender->enqueue(server.url("/pay_" + std::to_string(u)),
                                  R"({"seq":)" + std::to_string(m) + "}"));
    }
  }
  ASSERT_TRUE(eventually([&] { return sender->counters().delivered == kUrls * kMessages; }, 20s))
      << sender->counters().delivered;
  std::map<std::string, std::vector<std::string>> per_url;
  for (const auto& r : server.requests()) per_url[r.target].push_back(r.body);
  ASSERT_EQ(per_url.size(), static_cast<std::size_t>(kUrls));
  for (const auto& [target, bodies] : per_url) {
    ASSERT_EQ(bodies.size(), static_cast<std::size_t>(kMessages)) << target;
    for (int m = 0; m < kMessages; ++m) {
      EXPECT_EQ(bodies[m], R"({"seq":)" + std::to_string(m) + "}") << target;
    }
  }
  EXPECT_LE(server.max_concurrent(), 4);
  EXPECT_GT(server.max_concurrent(), 1);
}

TEST_F(StatusCallback, ServerErrorThenSuccessIsRetriedWithTheSameDeliveryId) {
  webhook_server server([](const received&, int i) { return answer(i == 0 ? 503 : 200); });
  auto sender = start(fast_settings());
  ASSERT_TRUE(sender->enqueue(server.url(), R"({"n":1})"));
  ASSERT_TRUE(eventually([&] { return sender->counters().delivered == 1; }));
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].delivery, reqs[1].delivery);
  EXPECT_EQ(reqs[0].body, reqs[1].body);
  EXPECT_TRUE(reqs[1].has_signature);
  // The reply is sent after the request is recorded and timers never fire early: the first
  // backoff (20 ms) separates the two.
  EXPECT_GE(reqs[1].at - reqs[0].at, 15ms);
  const auto c = sender->counters();
  EXPECT_EQ(c.retried, 1u);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_TRUE(failures().empty());
}

TEST_F(StatusCallback, RateLimitedIsRetriedNoSoonerThanRetryAfterUpToTheCap) {
  webhook_server server([](const received&, int i) {
    reply_plan p = answer(i == 0 ? 429 : 200);
    p.retry_after = "1";  // 1 s, cut to the 300 ms cap
    return p;
  });
  auto s = fast_settings();
  s.backoff_cap_ms = 300;
  auto sender = start(s);
  ASSERT_TRUE(sender->enqueue(server.url(), "{}"));
  ASSERT_TRUE(eventually([&] { return sender->counters().delivered == 1; }));
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_GE(reqs[1].at - reqs[0].at, 250ms);  // as in the 503 test, a safe lower bound
  EXPECT_EQ(sender->counters().retried, 1u);
}

TEST_F(StatusCallback, ClientErrorIsNotRetriedAndIsCountedFailedWithoutTheBody) {
  webhook_server server([](const received&, int) { return answer(400); });
  auto sender = start(fast_settings());
  ASSERT_TRUE(sender->enqueue(server.url("/secret-path?token=abc"), R"({"marker":"BODYTEXT"})"));
  ASSERT_TRUE(eventually([&] { return sender->counters().failed == 1; }));
  std::this_thread::sleep_for(100ms);  // longer than any backoff: a retry would have come
  EXPECT_EQ(server.count(), 1u);
  const auto c = sender->counters();
  EXPECT_EQ(c.retried, 0u);
  EXPECT_EQ(c.delivered, 0u);
  const auto f = failures();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].host, "127.0.0.1");
  EXPECT_EQ(f[0].http_status, 400u);
  EXPECT_EQ(f[0].attempts, 1);
  EXPECT_NE(f[0].reason.find("400"), std::string::npos) << f[0].reason;
  EXPECT_EQ(f[0].delivery_id, server.requests().at(0).delivery);
  for (const std::string* text : {&f[0].host, &f[0].reason}) {
    EXPECT_EQ(text->find("BODYTEXT"), std::string::npos);
    EXPECT_EQ(text->find("secret-path"), std::string::npos);
    EXPECT_EQ(text->find("token"), std::string::npos);
  }
}

TEST_F(StatusCallback, ConnectionRefusedIsRetriedThenGivenUp) {
  std::uint16_t port = 0;
  {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  auto sender = start(fast_settings());
  ASSERT_TRUE(sender->enqueue("http://127.0.0.1:" + std::to_string(port) + "/hook", "{}"));
  ASSERT_TRUE(eventually([&] { return sender->counters().failed == 1; }));
  const auto c = sender->counters();
  EXPECT_EQ(c.retried, 2u);  // max_attempts 3
  EXPECT_EQ(c.delivered, 0u);
  const auto f = failures();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].attempts, 3);
  EXPECT_EQ(f[0].http_status, 0u);
  EXPECT_NE(f[0].reason.find("connect_failed"), std::string::npos) << f[0].reason;
}

TEST_F(StatusCallback, HangingServerTimesOutThenTheRetryIsDelivered) {
  webhook_server server([](const received&, int i) {
    reply_plan p;
    p.hang = i == 0;
    return p;
  });
  auto s = fast_settings();
  s.total_timeout_ms = 300;
  auto sender = start(s);
  ASSERT_TRUE(sender->enqueue(server.url(), R"({"n":1})"));
  ASSERT_TRUE(eventually([&] { return sender->counters().delivered == 1; }));
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].delivery, reqs[1].delivery);
  EXPECT_EQ(sender->counters().retried, 1u);

  // Every attempt hanging: given up after max_attempts timeouts.
  webhook_server mute([](const received&, int) {
    reply_plan p;
    p.hang = true;
    return p;
  });
  s.max_attempts = 2;
  auto mute_sender = start(s);
  ASSERT_TRUE(mute_sender->enqueue(mute.url(), "{}"));
  ASSERT_TRUE(eventually([&] { return mute_sender->counters().failed == 1; }));
  const auto f = failures();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].reason.find("timeout"), std::string::npos) << f[0].reason;
  EXPECT_EQ(f[0].attempts, 2);
}

TEST_F(StatusCallback, FullQueuesRefuseNewMessagesAndCountThem) {
  webhook_server server([](const received&, int) {
    reply_plan p;
    p.hang = true;
    return p;
  });
  auto s = fast_settings();
  s.total_timeout_ms = 60'000;
  s.concurrency = 1;
  s.queue_capacity = 5;
  s.url_queue_capacity = 3;
  auto sender = start(s);
  ASSERT_TRUE(sender->enqueue(server.url("/a"), R"({"n":0})"));
  ASSERT_TRUE(eventually([&] { return server.count() == 1; }));  // in flight, out of the queue
  int accepted_a = 0;
  for (int i = 1; i <= 5; ++i) accepted_a += sender->enqueue(server.url("/a"), "{}") ? 1 : 0;
  EXPECT_EQ(accepted_a, 3);  // url_queue_capacity
  int accepted_b = 0;
  for (int i = 0; i < 5; ++i) accepted_b += sender->enqueue(server.url("/b"), "{}") ? 1 : 0;
  EXPECT_EQ(accepted_b, 2);  // queue_capacity 5, 3 already queued for /a
  auto c = sender->counters();
  EXPECT_EQ(c.dropped_overflow, 5u);
  EXPECT_EQ(c.queued, 5u);
  EXPECT_EQ(c.in_flight, 1u);
  sender->stop();
  c = sender->counters();
  EXPECT_EQ(c.abandoned, 6u);  // 5 queued and 1 in flight
  EXPECT_EQ(c.queued, 0u);
  EXPECT_EQ(c.in_flight, 0u);
  EXPECT_FALSE(sender->enqueue(server.url("/a"), "{}"));
  EXPECT_EQ(sender->counters().abandoned, 7u);
}

TEST_F(StatusCallback, HttpsDeliversToACertificateTrustedThroughTheCaFile) {
  const pem_pair pem = make_self_signed();
  const auto dir = std::filesystem::temp_directory_path() /
                   ("toneguard-status-callback-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto ca = dir / "ca.pem";
  std::ofstream(ca) << pem.cert;
  webhook_server server([](const received&, int) { return answer(200); }, &pem);
  auto s = fast_settings();
  s.ca_file = ca.string();
  auto sender = start(s);
  ASSERT_TRUE(sender->enqueue(server.url("/ip"), R"({"tls":1})"));
  ASSERT_TRUE(sender->enqueue(server.url("/name", "localhost"), R"({"tls":2})"));
  ASSERT_TRUE(eventually([&] { return sender->counters().delivered == 2; }))
      << (failures().empty() ? "" : failures()[0].reason);
  EXPECT_EQ(server.count(), 2u);
  std::filesystem::remove_all(dir);
}

TEST_F(StatusCallback, HttpsRefusesACertificateTheTrustStoreDoesNotKnow) {
  const pem_pair pem = make_self_signed();
  webhook_server server([](const received&, int) { return answer(200); }, &pem);
  auto s = fast_settings();
  s.max_attempts = 2;
  auto sender = start(s);  // the system trust store
  ASSERT_TRUE(sender->enqueue(server.url(), "{}"));
  ASSERT_TRUE(eventually([&] { return sender->counters().failed == 1; }));
  EXPECT_EQ(server.count(), 0u);  // nothing was sent
  const auto f = failures();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].reason.find("tls_certificate"), std::string::npos) << f[0].reason;
  EXPECT_EQ(f[0].attempts, 2);
}

TEST_F(StatusCallback, StopWhileDeliveriesHangReturnsPromptly) {
  webhook_server server([](const received&, int) {
    reply_plan p;
    p.hang = true;
    return p;
  });
  auto s = fast_settings();
  s.total_timeout_ms = 600'000;
  s.connect_timeout_ms = 600'000;
  s.stop_grace_ms = 200;
  auto sender = start(s);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(sender->enqueue(server.url("/p" + std::to_string(i)), "{}"));
  }
  ASSERT_TRUE(eventually([&] { return server.count() == 4; }));  // concurrency 4
  const auto before = std::chrono::steady_clock::now();
  sender->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 3s);  // the grace is 200 ms
  const auto c = sender->counters();
  EXPECT_EQ(c.abandoned, 6u);
  EXPECT_EQ(c.delivered + c.failed, 0u);
  sender->stop();  // idempotent
}

TEST_F(StatusCallback, BadUrlsAndOversizedBodiesAreGivenUpAtOnce) {
  auto s = fast_settings();
  s.allow_plain_http = false;
  s.max_body_bytes = 100;
  auto sender = start(s);
  ASSERT_TRUE(sender->enqueue("ftp://example.com/x", "{}"));
  ASSERT_TRUE(sender->enqueue("http://192.0.2.1/hook", "{}"));  // plain http off loopback
  EXPECT_FALSE(sender->enqueue("https://example.com/x", std::string(101, ' ')));
  ASSERT_TRUE(eventually([&] { return failures().size() == 3; }));
  EXPECT_EQ(sender->counters().failed, 3u);
  std::vector<std::string> reasons;
  for (const auto& f : failures()) {
    EXPECT_EQ(f.attempts, 0);
    reasons.push_back(f.reason);
  }
  for (std::string_view says : {"max_body_bytes", "bad url: scheme", "bad url: plain http"}) {
    EXPECT_EQ(
        std::count_if(reasons.begin(), reasons.end(),
                      [&](const std::string& r) { return r.find(says) != std::string::npos; }),
        1)
        << says;
  }
}

TEST_F(StatusCallback, PlainHttpToAnyHostIsSentWhenAllowed) {
  // 0.0.0.0 is not a loopback address, yet on Linux a connection to it reaches the local host:
  // a plain http URL off loopback that still arrives at the test server.
  webhook_server server([](const received&, int) { return answer(200); });
  auto sender = start(fast_settings());  // allow_plain_http by default
  ASSERT_TRUE(sender->enqueue(server.url("/hook", "0.0.0.0"), "{}"));
  ASSERT_TRUE(eventually([&] { return sender->counters().delivered == 1; }))
      << (failures().empty() ? "" : failures()[0].reason);
  EXPECT_EQ(server.count(), 1u);
}

TEST_F(StatusCallback, TheHookPlugsIntoTheApiServerAndMayOutliveTheSender) {
  webhook_server server([](const received&, int) { return answer(200); });
  api_server_settings api;
  {
    auto sender = start(fast_settings());
    api.on_status_callback = sender->hook();
    api.on_status_callback(server.url(), R"({"type":"progress"})");
    ASSERT_TRUE(eventually([&] { return sender->counters().delivered == 1; }));
  }
  api.on_status_callback(server.url(), "{}");  // after the sender is gone: ignored
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(server.count(), 1u);
}

}  // namespace
}  // namespace toneguard::engine
