#include "gstreamer/gst_harness.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

namespace toneguard::testing::gst {

void init() {
  static const bool done = [] {
    gst_init(nullptr, nullptr);
    return true;
  }();
  (void)done;
}

std::string missing_elements(const std::vector<std::string>& elements) {
  init();
  std::string missing;
  for (const auto& name : elements) {
    GstElementFactory* f = gst_element_factory_find(name.c_str());
    if (f == nullptr) {
      missing += (missing.empty() ? "" : ", ") + name;
    } else {
      gst_object_unref(f);
    }
  }
  return missing;
}

pipeline::pipeline(const std::string& description) {
  init();
  GError* err = nullptr;
  pipeline_ = gst_parse_launch(description.c_str(), &err);
  if (err != nullptr) {
    error_ = std::string("cannot build \"") + description + "\": " + err->message;
    g_error_free(err);
  }
}

pipeline::~pipeline() {
  if (pipeline_ != nullptr) {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_element_get_state(pipeline_, nullptr, nullptr, 5 * GST_SECOND);
    gst_object_unref(pipeline_);
  }
}

GstElement* pipeline::element(const char* name) const {
  return pipeline_ == nullptr ? nullptr : gst_bin_get_by_name(GST_BIN(pipeline_), name);
}

bool pipeline::play(std::chrono::milliseconds timeout) {
  if (!ok()) return false;
  if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    error_ = "cannot set the pipeline to PLAYING";
    return false;
  }
  const auto r = gst_element_get_state(pipeline_, nullptr, nullptr,
                                       static_cast<GstClockTime>(timeout.count()) * GST_MSECOND);
  if (r == GST_STATE_CHANGE_FAILURE) {
    error_ = "the pipeline failed to reach PLAYING";
    return false;
  }
  return true;
}

bool pipeline::wait_eos(std::chrono::milliseconds timeout) {
  GstBus* bus = gst_element_get_bus(pipeline_);
  GstMessage* m =
      gst_bus_timed_pop_filtered(bus, static_cast<GstClockTime>(timeout.count()) * GST_MSECOND,
                                 static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  gst_object_unref(bus);
  if (m == nullptr) {
    error_ = "no end of stream within " + std::to_string(timeout.count()) + " ms";
    return false;
  }
  bool eos = GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS;
  if (!eos) {
    GError* err = nullptr;
    gchar* debug = nullptr;
    gst_message_parse_error(m, &err, &debug);
    error_ = std::string("pipeline error: ") + (err ? err->message : "?") + " (" +
             (debug ? debug : "") + ")";
    if (err) g_error_free(err);
    g_free(debug);
  }
  gst_message_unref(m);
  return eos;
}

bool pipeline::finish(std::chrono::milliseconds timeout) {
  if (!ok()) return false;
  gst_element_send_event(pipeline_, gst_event_new_eos());
  return wait_eos(timeout);
}

std::uint64_t pipeline::running_time_ns() const {
  if (pipeline_ == nullptr) return 0;
  GstClock* clock = gst_element_get_clock(pipeline_);
  if (clock == nullptr) return 0;
  const GstClockTime now = gst_clock_get_time(clock);
  gst_object_unref(clock);
  const GstClockTime base = gst_element_get_base_time(pipeline_);
  return now > base ? now - base : 0;
}

std::optional<crypto_line> find_crypto(const std::string& sdp) {
  const auto at = sdp.find("a=crypto:");
  if (at == std::string::npos) return std::nullopt;
  const auto eol = sdp.find_first_of("\r\n", at);
  const std::string line = sdp.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
  // a=crypto:<tag> <suite> inline:<base64>[|...]
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
  const auto in = line.find("inline:");
  if (sp2 == std::string::npos || in == std::string::npos) return std::nullopt;
  crypto_line c;
  c.suite = line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto b64 = line.substr(in + 7);
  const auto cut = b64.find_first_of("| ;");
  if (cut != std::string::npos) b64.resize(cut);
  c.key_salt = from_base64(b64);
  return c;
}

std::string to_hex(const std::vector<std::uint8_t>& bytes) {
  std::string s;
  char two[3];
  for (auto b : bytes) {
    std::snprintf(two, sizeof two, "%02x", b);
    s += two;
  }
  return s;
}

std::string to_base64(const std::vector<std::uint8_t>& bytes) {
  gchar* t = g_base64_encode(bytes.data(), bytes.size());
  std::string s(t);
  g_free(t);
  return s;
}

std::vector<std::uint8_t> from_base64(const std::string& text) {
  gsize n = 0;
  guchar* d = g_base64_decode(text.c_str(), &n);
  std::vector<std::uint8_t> out(d, d + n);
  g_free(d);
  return out;
}

std::string srtp_auth_for(const std::string& suite) {
  return suite == "AES_CM_128_HMAC_SHA1_32" ? "hmac-sha1-32" : "hmac-sha1-80";
}

namespace {
GstCaps* on_request_key(GstElement*, guint ssrc, gpointer data) {
  const auto* request = static_cast<const srtp_key_request*>(data);
  GstBuffer* key = gst_buffer_new_memdup(request->key_salt.data(), request->key_salt.size());
  GstCaps* caps = gst_caps_new_simple(
      "application/x-srtp", "ssrc", G_TYPE_UINT, ssrc, "srtp-key", GST_TYPE_BUFFER, key,
      "srtp-cipher", G_TYPE_STRING, "aes-128-icm", "srtp-auth", G_TYPE_STRING,
      request->auth.c_str(), "srtcp-cipher", G_TYPE_STRING, "aes-128-icm", "srtcp-auth",
      G_TYPE_STRING, "hmac-sha1-80", nullptr);
  gst_buffer_unref(key);
  return caps;
}
}  // namespace

void answer_key_requests(GstElement* srtpdec, const srtp_key_request* request) {
  g_signal_connect(srtpdec, "request-key", G_CALLBACK(on_request_key),
                   const_cast<srtp_key_request*>(request));
}

udp_tap::udp_tap() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n);
  port_ = ntohs(a.sin_port);
  int size = 1 << 20;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  thread_ = std::thread([this] { run(); });
}

udp_tap::~udp_tap() {
  stop();
  ::close(fd_);
}

void udp_tap::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void udp_tap::run() {
  std::vector<std::uint8_t> buf(65536);
  std::int64_t index = 0;
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) != 1) continue;
    sockaddr_in from{};
    socklen_t n = sizeof from;
    const ssize_t got =
        ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &n);
    if (got <= 0) continue;
    const auto now = std::chrono::steady_clock::now();
    const std::uint16_t forward = forward_port_.load();
    if (forward != 0 && ntohs(from.sin_port) == forward) continue;  // the far side answering
    datagram d{now, std::vector<std::uint8_t>(buf.begin(), buf.begin() + got)};
    if (index++ == tamper_index_.load() && !d.bytes.empty()) d.bytes.back() ^= 0x5a;
    if (forward != 0) {
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      to.sin_port = htons(forward);
      ::sendto(fd_, d.bytes.data(), d.bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    }
    std::lock_guard lock(mutex_);
    recorded_.push_back(std::move(d));
  }
}

void udp_tap::wait_quiet(std::chrono::milliseconds quiet, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mutex_);
      const auto last =
          recorded_.empty() ? std::chrono::steady_clock::time_point{} : recorded_.back().at;
      if (!recorded_.empty() && std::chrono::steady_clock::now() - last >= quiet) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<datagram> udp_tap::recorded() const {
  std::lock_guard lock(mutex_);
  return recorded_;
}

}  // namespace toneguard::testing::gst
