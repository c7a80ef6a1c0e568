#include "toneguard/engine/status_callback.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "beast_names.h"
#include "toneguard/engine/gateway_client.h"

namespace toneguard::engine {

// --- pure helpers ---------------------------------------------------------------------------

std::string status_callback_signature(std::string_view secret, std::int64_t unix_seconds,
                                      std::string_view body) {
  const std::string t = std::to_string(unix_seconds);
  std::string signed_text;
  signed_text.reserve(t.size() + 1 + body.size());
  signed_text.append(t).append(".").append(body);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int len = 0;
  // HMAC() refuses a null key pointer even with length 0.
  static const unsigned char kEmpty = 0;
  const void* key = secret.empty() ? static_cast<const void*>(&kEmpty) : secret.data();
  if (HMAC(EVP_sha256(), key, static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(),
           mac.data(), &len) == nullptr) {
    len = 0;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "t=" + t + ",v1=";
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[mac[i] >> 4]);
    out.push_back(kHex[mac[i] & 0xf]);
  }
  return out;
}

std::int64_t status_callback_backoff_ms(int retry, int base_ms, int cap_ms) noexcept {
  if (retry < 1 || base_ms <= 0 || cap_ms <= 0) return 0;
  std::int64_t wait = base_ms;
  for (int i = 1; i < retry && wait < cap_ms; ++i) wait *= 2;
  return std::min<std::int64_t>(wait, cap_ms);
}

namespace {

constexpr std::string_view kUserAgent = "toneguard/0.1";

// A callback URL taken apart. gateway URLs follow the same rules except that they refuse plain
// http off loopback (card data); here that is a setting.
outcome<gateway_url> parse_callback_url(std::string_view url, bool allow_plain_http) {
  const auto strip = [](const std::string& why) {
    // "gateway url: <why>" -> "<why>".
    const auto colon = why.find(": ");
    return failure{colon == std::string::npos ? why : why.substr(colon + 2)};
  };
  auto parsed = parse_gateway_url(url);
  if (parsed) return parsed;
  constexpr std::string_view kHttp = "http://";
  const bool plain = url.size() >= kHttp.size() &&
                     std::equal(kHttp.begin(), kHttp.end(), url.begin(), [](char a, char b) {
                       return a == std::tolower(static_cast<unsigned char>(b));
                     });
  if (!plain) return strip(parsed.message());
  // Plain http off loopback: parse as https to check the rest, then put the plain scheme and
  // its default port back.
  auto as_https = parse_gateway_url("https://" + std::string(url.substr(kHttp.size())));
  if (!as_https) return strip(as_https.message());
  if (!allow_plain_http) {
    return failure{"plain http is allowed only to a loopback host (allow_plain_http is off)"};
  }
  gateway_url out = std::move(as_https).value();
  out.tls = false;
  const std::string& authority = out.host_header;
  const bool explicit_port = authority.front() == '[' ? authority.find("]:") != std::string::npos
                                                      : authority.find(':') != std::string::npos;
  if (!explicit_port) out.port = "80";
  return out;
}

// The host of `url` for reports, or "" when it cannot be parsed.
std::string host_of(std::string_view url) {
  auto parsed = parse_callback_url(url, true);
  return parsed ? parsed.value().host : std::string();
}

std::string random_delivery_id() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // Never reached in practice; a clock-and-counter id is still unique within this process.
    static std::atomic<std::uint64_t> counter{0};
    const auto now =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    const std::uint64_t n = counter.fetch_add(1);
    std::memcpy(bytes.data(), &now, sizeof now);
    std::memcpy(bytes.data() + 8, &n, sizeof n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "dlv_";
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

bool retryable_status(unsigned status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

// Retry-After in whole seconds ("120"); the HTTP-date form is ignored.
std::optional<std::int64_t> retry_after_ms(std::string_view value) {
  if (value.empty() || value.size() > 9) return std::nullopt;
  std::int64_t seconds = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    seconds = seconds * 10 + (c - '0');
  }
  return seconds * 1000;
}

struct message {
  std::string url;
  std::string body;
  std::string delivery_id;
};

// How one delivery ended.
enum class delivery_end : std::uint8_t { delivered, failed, abandoned };

outcome<bool> check_settings(const status_callback_settings& s) {
  const auto in = [](auto v, auto lo, auto hi) { return v >= lo && v <= hi; };
  const auto bad = [](std::string_view what) {
    return failure{"status callback settings: " + std::string(what)};
  };
  if (!in(s.connect_timeout_ms, 1, 600'000)) return bad("connect_timeout_ms must be 1..600000");
  if (!in(s.total_timeout_ms, 1, 600'000)) return bad("total_timeout_ms must be 1..600000");
  if (!in(s.max_attempts, 1, 50)) return bad("max_attempts must be 1..50");
  if (!in(s.backoff_base_ms, 0, 600'000)) return bad("backoff_base_ms must be 0..600000");
  if (!in(s.backoff_cap_ms, s.backoff_base_ms, 3'600'000)) {
    return bad("backoff_cap_ms must be backoff_base_ms..3600000");
  }
  if (!in(s.backoff_jitter_percent, 0, 100)) return bad("backoff_jitter_percent must be 0..100");
  if (!in(s.concurrency, 1, 64)) return bad("concurrency must be 1..64");
  if (!in(s.queue_capacity, std::size_t{1}, std::size_t{1'000'000})) {
    return bad("queue_capacity must be 1..1000000");
  }
  if (!in(s.url_queue_capacity, std::size_t{1}, s.queue_capacity)) {
    return bad("url_queue_capacity must be 1..queue_capacity");
  }
  if (!in(s.max_body_bytes, std::size_t{1}, std::size_t{16} << 20)) {
    return bad("max_body_bytes must be 1..16777216");
  }
  if (!in(s.stop_grace_ms, 0, 60'000)) return bad("stop_grace_ms must be 0..60000");
  return true;
}

class delivery_base {
 public:
  virtual ~delivery_base() = default;
  virtual void start() = 0;
};

}  // namespace

// --- the sender's state -----------------------------------------------------------------------

struct status_callback_sender::impl {
  // One URL's queue. `scheduled`: the URL is in `ready` or has a delivery under way.
  struct url_queue {
    std::deque<message> pending;
    bool scheduled = false;
  };

  explicit impl(status_callback_settings s) : settings(std::move(s)) {}

  bool enqueue(std::string_view url, std::string_view json);
  void stop();
  status_callback_counters counters() const;

  // Sender thread only.
  void pump();
  void begin_stop();
  void attempt_started() { ++attempts_in_flight; }
  void attempt_ended();
  void finished(const std::string& url, delivery_end end);
  void report(status_callback_failure f) noexcept;
  bool stopping_now() {
    std::lock_guard lock(mu);
    return stopping;
  }
  std::int64_t jitter_ms(std::int64_t wait);
  std::int64_t unix_now() const;

  const status_callback_settings settings;
  // Shared by every connection; SSL_new on a shared SSL_CTX is thread-safe.
  ssl::context tls{ssl::context::tls_client};

  // Destroyed by stop() after the thread is joined (its handlers own the deliveries).
  std::optional<asio::io_context> io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;

  mutable std::mutex mu;
  // Guarded by mu.
  std::unordered_map<std::string, url_queue> queues;
  std::deque<std::string> ready;  // URLs with pending messages and no delivery, oldest first
  std::size_t queued = 0;         // messages in `queues`
  std::size_t active = 0;         // deliveries started and not finished
  bool pump_posted = false;
  bool stopping = false;
  std::mutex stop_mu;  // serializes stop() callers
  bool stopped = false;

  // Sender thread only.
  int attempts_in_flight = 0;
  std::optional<asio::steady_timer> grace;
  std::minstd_rand rng{std::random_device{}()};

  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> retried{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> dropped_overflow{0};
  std::atomic<std::uint64_t> abandoned{0};
};

namespace {

// One message: attempts with backoff until delivered or given up. Runs on the sender's single
// thread, so it needs no strand.
template <bool Tls>
class delivery final : public delivery_base, public std::enable_shared_from_this<delivery<Tls>> {
 public:
  using stream_type = std::conditional_t<Tls, ssl::stream<beast::tcp_stream>, beast::tcp_stream>;

  delivery(status_callback_sender::impl& owner, message m, gateway_url url)
      : owner_(owner),
        url_text_(std::move(m.url)),
        url_(std::move(url)),
        resolver_(*owner.io),
        deadline_(*owner.io),
        backoff_(*owner.io) {
    request_.method(http::verb::post);
    request_.target(url_.target);
    request_.version(11);
    request_.set(http::field::host, url_.host_header);
    request_.set(http::field::user_agent, kUserAgent);
    request_.set(http::field::content_type, "application/json");
    request_.set("X-Toneguard-Delivery", m.delivery_id);
    request_.keep_alive(false);
    delivery_id_ = std::move(m.delivery_id);
    request_.body() = std::move(m.body);
    request_.prepare_payload();
  }

  void start() override { start_attempt(); }

 private:
  using self_ptr = std::shared_ptr<delivery>;
  self_ptr self() { return this->shared_from_this(); }

  void start_attempt() {
    ++attempts_;
    in_attempt_ = true;
    timed_out_ = false;
    owner_.attempt_started();
    attempt_deadline_ = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(owner_.settings.total_timeout_ms);
    if (!owner_.settings.secret.empty()) {
      request_.set(
          "X-Toneguard-Signature",
          status_callback_signature(owner_.settings.secret, owner_.unix_now(), request_.body()));
    }
    // The deadline also covers the resolve, which has no timeout of its own.
    deadline_.expires_at(attempt_deadline_);
    deadline_.async_wait([self = self(), attempt = attempts_](error_code ec) {
      if (ec || !self->in_attempt_ || attempt != self->attempts_) return;
      self->timed_out_ = true;
      self->resolver_.cancel();
      self->close();
    });
    error_code ec;
    asio::ip::make_address(url_.host, ec);
    const auto flags = ec ? tcp::resolver::flags() : tcp::resolver::numeric_host;
    resolver_.async_resolve(url_.host, url_.port, flags,
                            beast::bind_front_handler(&delivery::on_resolve, self()));
  }

  std::chrono::milliseconds remaining() const {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        attempt_deadline_ - std::chrono::steady_clock::now());
    return std::max(left, std::chrono::milliseconds(1));
  }

  std::chrono::milliseconds connect_budget() const {
    return std::min(remaining(), std::chrono::milliseconds(owner_.settings.connect_timeout_ms));
  }

  bool is_timeout(error_code ec) const { return timed_out_ || ec == beast::error::timeout; }

  void on_resolve(error_code ec, tcp::resolver::results_type results) {
    if (is_timeout(ec)) return end_attempt_retry(0, "timeout (resolving the host)");
    if (ec) return end_attempt_retry(0, "resolve_failed (" + ec.message() + ")");
    if constexpr (Tls) {
      stream_.emplace(*owner_.io, owner_.tls);
    } else {
      stream_.emplace(*owner_.io);
    }
    auto& tcp_layer = beast::get_lowest_layer(*stream_);
    tcp_layer.expires_after(connect_budget());
    tcp_layer.async_connect(results, beast::bind_front_handler(&delivery::on_connect, self()));
  }

  void on_connect(error_code ec, const tcp::endpoint&) {
    if (is_timeout(ec)) return end_attempt_retry(0, "connect_timeout");
    if (ec) return end_attempt_retry(0, "connect_failed (" + ec.message() + ")");
    if constexpr (Tls) {
      SSL* handle = stream_->native_handle();
      error_code not_ip;
      asio::ip::make_address(url_.host, not_ip);
      if (!not_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle), url_.host.c_str());
      } else {
        SSL_set_tlsext_host_name(handle, url_.host.c_str());
        SSL_set1_host(handle, url_.host.c_str());
      }
      beast::get_lowest_layer(*stream_).expires_after(connect_budget());
      stream_->async_handshake(ssl::stream_base::client,
                               beast::bind_front_handler(&delivery::on_handshake, self()));
    } else {
      do_write();
    }
  }

  void on_handshake(error_code ec) {
    if (!ec) return do_write();
    if (is_timeout(ec)) return end_attempt_retry(0, "connect_timeout (TLS handshake)");
    if constexpr (Tls) {
      const long verify = SSL_get_verify_result(stream_->native_handle());
      if (owner_.settings.verify_peer && verify != X509_V_OK) {
        return end_attempt_retry(
            0, std::string("tls_certificate (") + X509_verify_cert_error_string(verify) + ")");
      }
    }
    end_attempt_retry(0, "tls_handshake_failed (" + ec.message() + ")");
  }

  void do_write() {
    beast::get_lowest_layer(*stream_).expires_after(remaining());
    http::async_write(*stream_, request_, beast::bind_front_handler(&delivery::on_write, self()));
  }

  void on_write(error_code ec, std::size_t) {
    if (is_timeout(ec)) return end_attempt_retry(0, "timeout (sending)");
    if (ec) return end_attempt_retry(0, "io_error (sending: " + ec.message() + ")");
    parser_.emplace();
    // Only the header is read: the body, however large, is never needed.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    http::async_read_header(*stream_, buffer_, *parser_,
                            beast::bind_front_handler(&delivery::on_read, self()));
  }

  void on_read(error_code ec, std::size_t) {
    if (is_timeout(ec)) return end_attempt_retry(0, "timeout (waiting for the reply)");
    if (ec) return end_attempt_retry(0, "io_error (reading the reply: " + ec.message() + ")");
    const auto& reply = parser_->get();
    const unsigned status = reply.result_int();
    if (status >= 200 && status <= 299) {
      end_attempt();
      return owner_.finished(url_text_, delivery_end::delivered);
    }
    if (retryable_status(status)) {
      std::optional<std::int64_t> after;
      if (const auto it = reply.find(http::field::retry_after); it != reply.end()) {
        after = retry_after_ms(std::string_view(it->value().data(), it->value().size()));
      }
      return end_attempt_retry(status, "http " + std::to_string(status), after);
    }
    end_attempt();
    give_up(status, "http " + std::to_string(status));
  }

  void close() {
    // No TLS close_notify: the reply header is all we wanted, and a hung peer must not delay us.
    if (stream_) {
      error_code ignored;
      auto& sock = beast::get_lowest_layer(*stream_).socket();
      sock.shutdown(tcp::socket::shutdown_both, ignored);
      beast::get_lowest_layer(*stream_).close();
    }
  }

  void end_attempt() {
    in_attempt_ = false;
    deadline_.cancel();
    close();
    buffer_.clear();
    owner_.attempt_ended();
  }

  // The attempt failed in a way worth retrying: retry after the backoff, or give up.
  void end_attempt_retry(unsigned status, std::string reason,
                         std::optional<std::int64_t> retry_after = std::nullopt) {
    end_attempt();
    if (owner_.stopping_now()) return owner_.finished(url_text_, delivery_end::abandoned);
    if (attempts_ >= owner_.settings.max_attempts) {
      return give_up(status, std::move(reason) + " after " + std::to_string(attempts_) +
                                 (attempts_ == 1 ? " attempt" : " attempts"));
    }
    const auto& s = owner_.settings;
    std::int64_t wait = owner_.jitter_ms(
        status_callback_backoff_ms(attempts_, s.backoff_base_ms, s.backoff_cap_ms));
    if (retry_after) wait = std::max(wait, std::min<std::int64_t>(*retry_after, s.backoff_cap_ms));
    ++owner_.retried;
    backoff_.expires_after(std::chrono::milliseconds(wait));
    backoff_.async_wait([self = self()](error_code ec) {
      if (ec) return;  // only the io_context's end cancels it
      if (self->owner_.stopping_now()) {
        return self->owner_.finished(self->url_text_, delivery_end::abandoned);
      }
      self->start_attempt();
    });
  }

  void give_up(unsigned status, std::string reason) {
    status_callback_failure f;
    f.host = url_.host;
    f.http_status = status;
    f.attempts = attempts_;
    f.reason = std::move(reason);
    f.delivery_id = delivery_id_;
    owner_.report(std::move(f));
    owner_.finished(url_text_, delivery_end::failed);
  }

  status_callback_sender::impl& owner_;
  std::string url_text_;
  gateway_url url_;
  std::string delivery_id_;
  tcp::resolver resolver_;
  asio::steady_timer deadline_;
  asio::steady_timer backoff_;
  std::optional<stream_type> stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::chrono::steady_clock::time_point attempt_deadline_;
  int attempts_ = 0;
  bool in_attempt_ = false;
  bool timed_out_ = false;
};

}  // namespace

bool status_callback_sender::impl::enqueue(std::string_view url, std::string_view json) {
  if (json.size() > settings.max_body_bytes) {
    status_callback_failure f;
    f.host = host_of(url);
    f.reason = "body larger than max_body_bytes (" + std::to_string(json.size()) + " bytes)";
    std::lock_guard lock(mu);
    if (stopping) {
      ++abandoned;
      return false;
    }
    ++failed;
    // on_failure runs on the sender's thread.
    asio::post(*io, [this, f = std::move(f)]() mutable { report(std::move(f)); });
    return false;
  }
  message m{std::string(url), std::string(json), random_delivery_id()};
  std::lock_guard lock(mu);
  if (stopping) {
    ++abandoned;
    return false;
  }
  if (queued >= settings.queue_capacity) {
    ++dropped_overflow;
    return false;
  }
  auto it = queues.find(m.url);
  if (it == queues.end()) it = queues.try_emplace(m.url).first;
  url_queue& q = it->second;
  if (q.pending.size() >= settings.url_queue_capacity) {
    ++dropped_overflow;
    return false;
  }
  q.pending.push_back(std::move(m));
  ++queued;
  if (!q.scheduled) {
    q.scheduled = true;
    ready.push_back(it->first);
  }
  // Posted under the lock: stop() destroys the io_context only after taking it and seeing no
  // more posts can come.
  if (!pump_posted && active < static_cast<std::size_t>(settings.concurrency)) {
    pump_posted = true;
    asio::post(*io, [this] { pump(); });
  }
  return true;
}

void status_callback_sender::impl::pump() {
  std::vector<message> starting;
  {
    std::lock_guard lock(mu);
    pump_posted = false;
    if (stopping) return;
    while (active < static_cast<std::size_t>(settings.concurrency) && !ready.empty()) {
      auto it = queues.find(ready.front());
      ready.pop_front();
      if (it == queues.end() || it->second.pending.empty()) continue;  // not reached
      starting.push_back(std::move(it->second.pending.front()));
      it->second.pending.pop_front();
      --queued;
      ++active;
    }
  }
  for (message& m : starting) {
    auto url = parse_callback_url(m.url, settings.allow_plain_http);
    if (!url) {
      status_callback_failure f;
      f.host = host_of(m.url);
      f.reason = "bad url: " + url.message();
      f.delivery_id = m.delivery_id;
      report(std::move(f));
      finished(m.url, delivery_end::failed);
      continue;
    }
    std::shared_ptr<delivery_base> d;
    if (url.value().tls) {
      d = std::make_shared<delivery<true>>(*this, std::move(m), std::move(url).value());
    } else {
      d = std::make_shared<delivery<false>>(*this, std::move(m), std::move(url).value());
    }
    d->start();
  }
}

void status_callback_sender::impl::finished(const std::string& url, delivery_end end) {
  // Counted under the lock, with `active`, so counters() never sees a message twice.
  std::lock_guard lock(mu);
  switch (end) {
    case delivery_end::delivered:
      ++delivered;
      break;
    case delivery_end::failed:
      ++failed;
      break;
    case delivery_end::abandoned:
      ++abandoned;
      break;
  }
  --active;
  const auto it = queues.find(url);
  if (it != queues.end()) {
    if (it->second.pending.empty()) {
      queues.erase(it);
    } else {
      // Behind the URLs already waiting: round robin between URLs.
      ready.push_back(it->first);
    }
  }
  // Posted, not called: a run of bad URLs would otherwise recurse through pump().
  if (!ready.empty() && !pump_posted && !stopping) {
    pump_posted = true;
    asio::post(*io, [this] { pump(); });
  }
}

void status_callback_sender::impl::attempt_ended() {
  --attempts_in_flight;
  if (attempts_in_flight == 0 && grace) io->stop();  // stopping, and nothing left to wait for
}

void status_callback_sender::impl::begin_stop() {
  if (attempts_in_flight == 0 || settings.stop_grace_ms == 0) return io->stop();
  grace.emplace(*io);
  grace->expires_after(std::chrono::milliseconds(settings.stop_grace_ms));
  grace->async_wait([this](error_code ec) {
    if (!ec) io->stop();
  });
}

void status_callback_sender::impl::report(status_callback_failure f) noexcept {
  if (!settings.on_failure) return;
  try {
    settings.on_failure(f);
  } catch (...) {
    // The hook's failure is the daemon's to report; deliveries go on.
  }
}

std::int64_t status_callback_sender::impl::jitter_ms(std::int64_t wait) {
  if (wait <= 0 || settings.backoff_jitter_percent == 0) return std::max<std::int64_t>(wait, 0);
  std::uniform_int_distribution<std::int64_t> cut(0, wait * settings.backoff_jitter_percent / 100);
  return wait - cut(rng);
}

std::int64_t status_callback_sender::impl::unix_now() const {
  if (settings.unix_time) return settings.unix_time();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void status_callback_sender::impl::stop() {
  std::lock_guard stop_lock(stop_mu);
  if (stopped) return;
  {
    std::lock_guard lock(mu);
    stopping = true;
    asio::post(*io, [this] { begin_stop(); });
  }
  if (thread.joinable()) thread.join();
  // The thread is gone: what is left is abandoned. Destroying the io_context destroys the
  // pending handlers and with them the deliveries, their sockets and timers.
  grace.reset();
  work.reset();
  io.reset();
  std::lock_guard lock(mu);
  abandoned += queued + active;
  queued = 0;
  active = 0;
  queues.clear();
  ready.clear();
  stopped = true;
}

status_callback_counters status_callback_sender::impl::counters() const {
  status_callback_counters c;
  // Under the lock: a message moves between the gauges and the totals under it, so it is
  // never seen twice or not at all.
  std::lock_guard lock(mu);
  c.delivered = delivered.load();
  c.retried = retried.load();
  c.failed = failed.load();
  c.dropped_overflow = dropped_overflow.load();
  c.abandoned = abandoned.load();
  c.queued = queued;
  c.in_flight = active;
  return c;
}

// --- the public face --------------------------------------------------------------------------

status_callback_sender::status_callback_sender(std::shared_ptr<impl> p) : impl_(std::move(p)) {}

status_callback_sender::~status_callback_sender() {
  stop();
}

outcome<std::unique_ptr<status_callback_sender>> status_callback_sender::start(
    status_callback_settings settings) {
  if (auto ok = check_settings(settings); !ok) return failure{ok.message()};
  auto p = std::make_shared<impl>(std::move(settings));
  const status_callback_settings& s = p->settings;
  SSL_CTX* ctx = p->tls.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  error_code ec;
  p->tls.set_verify_mode(s.verify_peer ? ssl::verify_peer : ssl::verify_none, ec);
  if (!s.ca_pem.empty()) {
    p->tls.add_certificate_authority(asio::buffer(s.ca_pem), ec);
    if (ec) return failure{"status callback settings: ca_pem: " + ec.message()};
  }
  if (!s.ca_file.empty()) {
    p->tls.load_verify_file(s.ca_file, ec);
    if (ec) {
      return failure{"status callback settings: ca_file '" + s.ca_file + "': " + ec.message()};
    }
  }
  if (s.ca_pem.empty() && s.ca_file.empty()) {
    p->tls.set_default_verify_paths(ec);
    if (ec) return failure{"status callback settings: the system trust store: " + ec.message()};
  }
  p->io.emplace(1);
  p->work.emplace(p->io->get_executor());
  impl* raw = p.get();
  try {
    p->thread = std::thread([raw] {
      for (;;) {
        try {
          raw->io->run();
          return;
        } catch (...) {
          // A handler ran out of memory; keep serving the others.
        }
      }
    });
  } catch (const std::system_error& e) {
    return failure{std::string("status callback sender: cannot start its thread: ") + e.what()};
  }
  return std::unique_ptr<status_callback_sender>(new status_callback_sender(std::move(p)));
}

bool status_callback_sender::enqueue(std::string_view url, std::string_view json) {
  return impl_->enqueue(url, json);
}

std::function<void(const std::string&, const std::string&)> status_callback_sender::hook() const {
  return [p = impl_](const std::string& url, const std::string& json) { p->enqueue(url, json); };
}

void status_callback_sender::stop() {
  impl_->stop();
}

status_callback_counters status_callback_sender::counters() const {
  return impl_->counters();
}

}  // namespace toneguard::engine
