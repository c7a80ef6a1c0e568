#pragma once
// What the GStreamer call tests need around the C API: pipelines from gst-launch syntax with
// bounded waits, a check for missing elements, SRTP keys from a=crypto lines, and a UDP tap
// that forwards datagrams on loopback while recording each with its arrival time (the raw
// RTP of a leg, whether SRTP or not). Everything stops what it starts.

#include <gst/gst.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace toneguard::testing::gst {

// gst_init, once per process.
void init();

// The names in `elements` that this GStreamer does not have ("" when it has them all).
[[nodiscard]] std::string missing_elements(const std::vector<std::string>& elements);

// A pipeline described in gst-launch syntax. The destructor sets it to NULL and frees it.
class pipeline {
 public:
  explicit pipeline(const std::string& description);
  ~pipeline();
  pipeline(const pipeline&) = delete;
  pipeline& operator=(const pipeline&) = delete;

  [[nodiscard]] bool ok() const { return pipeline_ != nullptr && error_.empty(); }
  [[nodiscard]] const std::string& error() const { return error_; }
  // The element named `name` (a new reference: release with gst_object_unref), or nullptr.
  [[nodiscard]] GstElement* element(const char* name) const;

  // Sets PLAYING and waits up to `timeout` for the state change; false on failure.
  bool play(std::chrono::milliseconds timeout);
  // Waits for end of stream; false on an error message or when `timeout` passes.
  bool wait_eos(std::chrono::milliseconds timeout);
  // Sends end of stream into the pipeline (sinks finish their files) and waits for it.
  bool finish(std::chrono::milliseconds timeout);
  // The pipeline's running time, ns (0 before it plays).
  [[nodiscard]] std::uint64_t running_time_ns() const;

 private:
  GstElement* pipeline_ = nullptr;
  std::string error_;
};

// The master key||salt of an SDP's a=crypto line for `suite` (the first one), or nullopt.
struct crypto_line {
  std::string suite;
  std::vector<std::uint8_t> key_salt;
};
[[nodiscard]] std::optional<crypto_line> find_crypto(const std::string& sdp);
[[nodiscard]] std::string to_hex(const std::vector<std::uint8_t>& bytes);
[[nodiscard]] std::string to_base64(const std::vector<std::uint8_t>& bytes);
[[nodiscard]] std::vector<std::uint8_t> from_base64(const std::string& text);
// srtpenc/srtpdec names for an SDES suite: cipher and RTP auth ("aes-128-icm",
// "hmac-sha1-80"); SRTCP always takes hmac-sha1-80 with the AES-CM suites.
[[nodiscard]] std::string srtp_auth_for(const std::string& suite);

// Caps an srtpdec's "request-key" handler returns: the key and the suite's ciphers.
struct srtp_key_request {
  std::vector<std::uint8_t> key_salt;
  std::string auth;  // hmac-sha1-80 or hmac-sha1-32
};
// Connects `srtpdec`'s "request-key" signal to answer with `request` (which must outlive the
// pipeline).
void answer_key_requests(GstElement* srtpdec, const srtp_key_request* request);

// One datagram as the tap saw it.
struct datagram {
  std::chrono::steady_clock::time_point at;
  std::vector<std::uint8_t> bytes;
};

// A UDP socket on 127.0.0.1 (port chosen by the kernel) that forwards what it receives to
// 127.0.0.1:forward_port (when set) and records it. `tamper` (0-based index of a received
// datagram) flips one byte of that datagram's last byte before forwarding.
class udp_tap {
 public:
  udp_tap();
  ~udp_tap();
  udp_tap(const udp_tap&) = delete;
  udp_tap& operator=(const udp_tap&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }
  void forward_to(std::uint16_t port) { forward_port_.store(port); }
  void tamper_with(std::int64_t index) { tamper_index_.store(index); }
  // Stops the thread; the recording stays.
  void stop();
  // Waits until nothing has arrived for `quiet` (at most `timeout`).
  void wait_quiet(std::chrono::milliseconds quiet, std::chrono::milliseconds timeout);
  [[nodiscard]] std::vector<datagram> recorded() const;

 private:
  void run();
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<std::uint16_t> forward_port_{0};
  std::atomic<std::int64_t> tamper_index_{-1};
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<datagram> recorded_;
  std::thread thread_;
};

}  // namespace toneguard::testing::gst
