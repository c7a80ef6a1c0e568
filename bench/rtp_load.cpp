// toneguard-rtp-load: CPU time per forwarded packet of an RTP proxy with DTMF detection and
// masking on, measured side by side for toneguard and rtpengine (userspace only) on loopback.
//
// For each proxy in turn (never two at once) it starts the daemon on free loopback ports, waits
// for ng `ping`, sets up calls through ng (offer, answer, block DTMF: the same messages to both),
// then sends RTP from its own sockets, the caller and the agent of every call, at a fixed rate
// paced by a 1 ms timer. A call has two streams: caller -> agent (PCMU speech with DTMF keys,
// detected and masked by the proxy) and agent -> caller (PCMU speech, relayed). After a warm-up
// it reads the daemon's CPU time (utime + stime of all its threads, /proc/PID/stat) over the
// measured interval and counts what reached the far ends.
//
// Usage: toneguard-rtp-load [--proxy toneguard|rtpengine|both] [--streams N] [--pps N]
//          [--seconds S] [--warmup S] [--runs N] [--delay-buffer MS] [--dtmf-security MODE]
//          [--rfc4733-every N] [--leak-check-calls N] [--daemon-threads N]
//          [--toneguard PATH] [--rtpengine PATH] [--toneguard-arg A]... [--rtpengine-arg A]...
//          [--speech-dir DIR] [--keep-logs] [--json]
// Exit status: 0 when every proxy was measured, 1 when one failed (named on stderr), 2 on a bad
// option.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <numbers>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "toneguard/dsp/dtmf_leak_scan.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/dsp/wav.h"
#include "toneguard/media/bencode.h"

namespace toneguard::bench {
namespace {

namespace fs = std::filesystem;
using media::bencode_dictionary;
using media::bencode_list;
using media::bencode_value;
using steady = std::chrono::steady_clock;

constexpr int samples_per_packet = 160;  // 20 ms of PCMU at 8 kHz
constexpr int rtp_header_bytes = 12;
constexpr std::uint8_t pt_pcmu = 0;
constexpr std::uint8_t pt_event = 101;

/// What to run, from the command line. Read-only once parsed; shared by every thread.
struct options {
  std::vector<std::string> proxies{"toneguard", "rtpengine"};
  int streams = 2000;        ///< RTP streams; a call is two (caller->agent, agent->caller)
  double pps = 50.0;         ///< packets per second per stream
  double seconds = 20.0;     ///< measured interval, s
  double warmup = 5.0;       ///< sending before the measured interval, s
  int runs = 1;              ///< repetitions of the whole comparison (median reported)
  int delay_buffer_ms = 60;  ///< `delay-buffer` in block DTMF (look-ahead for masking), ms
  std::string dtmf_security = "silence";  ///< `DTMF-security` in block DTMF
  int rfc4733_every = 10;     ///< every Nth call sends its keys as RFC 4733 events (0: none)
  int leak_check_calls = 4;   ///< in-band calls whose agent-side audio is scanned for keys
  int daemon_threads = 0;     ///< --num-threads for both daemons (0: their default)
  std::string toneguard_bin;  ///< default: toneguard next to this executable
  std::string rtpengine_bin = "rtpengine";
  std::vector<std::string> toneguard_args, rtpengine_args;  ///< extra daemon arguments
  std::string speech_dir = "/usr/share/asterisk/sounds/en";
  bool keep_logs = false;
  bool json = false;
};

/// One proxy's figures over one measured interval.
struct measurement {
  std::string proxy;
  int run = 0;
  bool ok = false;
  std::string error;  ///< what failed, when !ok
  int calls = 0;
  int streams = 0;
  int daemon_threads_seen = 0;        ///< threads of the daemon process (from /proc)
  double seconds = 0;                 ///< measured interval, s (wall clock)
  double offered_pps = 0;             ///< packets/s the options ask for
  double sent_pps = 0;                ///< packets/s actually sent in the interval
  double forwarded_pps = 0;           ///< packets/s received at the far ends
  double forwarded_to_agent_pps = 0;  ///< of those, caller -> agent (masked direction)
  double loss_percent = 0;            ///< 100 * (1 - forwarded / sent)
  double cpu_seconds = 0;             ///< daemon utime + stime over the interval, s
  double cpu_percent = 0;             ///< of one core
  double ns_per_packet = 0;           ///< daemon CPU ns per forwarded packet
  double generator_cpu_percent = 0;   ///< this program's CPU over the interval, % of one core
  double max_send_lag_ms = 0;         ///< worst lateness of a send tick in the interval, ms
  bool sender_realtime = false;       ///< the sender thread ran with SCHED_FIFO
  std::uint64_t send_errors = 0;      ///< send() failures (EAGAIN, refused)
  int leak_calls = 0;                 ///< calls scanned
  int keys_in_sent_audio = 0;         ///< key fragments the scan finds in what callers sent
  int fragments_at_agent = 0;         ///< key fragments the scan finds at the agents
  double setup_seconds = 0;           ///< ng set-up of all calls, s
};

volatile std::sig_atomic_t g_interrupted = 0;
void on_signal(int) {
  g_interrupted = 1;
}

// ---------------------------------------------------------------------------------------------
// Audio: one caller clip with keys in-band, the same clip without them (for RFC 4733 calls),
// and one agent clip. All μ-law, whole packets, looped by every stream from its own offset.

struct key_event {
  std::size_t first_packet;  // packets [first, first + count) carry the key
  std::size_t count;
  char key;
};

struct clips {
  std::vector<std::uint8_t> caller_inband;  // packets * 160
  std::vector<std::uint8_t> caller_plain;   // the same without the keys
  std::vector<std::uint8_t> agent;
  std::vector<key_event> keys;  // in caller_plain's packet index (RFC 4733 calls)
  // Per caller packet: index into keys, or -1.
  std::vector<int> key_at_packet;
  std::size_t caller_packets = 0, agent_packets = 0;
  std::string speech_source;
};

std::vector<std::vector<std::int16_t>> load_speech(const std::string& dir, std::size_t wanted) {
  std::vector<std::vector<std::int16_t>> out;
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".wav") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    if (out.size() == wanted) break;
    auto r = dsp::read_wav_file(f.string());
    if (!r.ok() || r.audio().sample_rate_hz != 8000) continue;
    auto s = r.audio().samples;
    if (s.size() < 8000) continue;          // prompts of at least a second
    if (s.size() > 20000) s.resize(20000);  // at most 2.5 s each
    out.push_back(std::move(s));
  }
  return out;
}

// Speech-like stand-in when no recordings are installed: a gliding harmonic voice, syllables
// of 150-300 ms.
std::vector<std::int16_t> synthetic_speech(std::uint32_t seed, double seconds) {
  std::mt19937 rng(seed);
  std::vector<std::int16_t> out;
  const auto n = static_cast<std::size_t>(seconds * 8000);
  double phase = 0;
  while (out.size() < n) {
    const int len = 1200 + static_cast<int>(rng() % 1200);
    const double f0 = 100 + rng() % 120, glide = (static_cast<int>(rng() % 80) - 40) / 8000.0;
    const double amp = 1500 + rng() % 2500;
    for (int i = 0; i < len; ++i) {
      const double f = f0 + glide * i, env = std::sin(std::numbers::pi * i / len);
      phase += 2 * std::numbers::pi * f / 8000;
      double v = 0;
      for (int h = 1; h <= 8; ++h) v += std::sin(h * phase) / h;
      out.push_back(static_cast<std::int16_t>(amp * env * v));
    }
  }
  out.resize(n);
  return out;
}

std::vector<std::uint8_t> to_ulaw_packets(const dsp::signal_builder& b) {
  auto pcm = b.pcm16();
  pcm.resize((pcm.size() + samples_per_packet - 1) / samples_per_packet * samples_per_packet, 0);
  std::vector<std::uint8_t> codes(pcm.size());
  dsp::g711_encode(dsp::g711_law::ulaw, pcm, codes);
  return codes;
}

clips build_clips(const options& o) {
  clips c;
  auto speech = load_speech(o.speech_dir, 8);
  if (speech.size() >= 2) {
    c.speech_source = o.speech_dir + " (" + std::to_string(speech.size()) + " prompts)";
  } else {
    speech.clear();
    for (std::uint32_t i = 0; i < 8; ++i) speech.push_back(synthetic_speech(11 + i, 2.0));
    c.speech_source = "synthetic (no 8 kHz WAV prompts in " + o.speech_dir + ")";
  }
  // Caller: four prompts, each followed by four keys of 80 ms with 120 ms gaps, the way a
  // caller types a card number in groups. Key levels vary from -8 to -20 dBm0 per tone.
  static constexpr std::string_view digits = "4929381726354018*#";
  dsp::signal_builder inband, plain;
  std::size_t key_no = 0;
  for (std::size_t p = 0; p < 4; ++p) {
    const auto& s = speech[p % speech.size()];
    inband.samples(s).silence(300);
    plain.samples(s).silence(300);
    for (int k = 0; k < 4; ++k, ++key_no) {
      // RFC 4733 keys start on a packet boundary; the in-band ones at the same samples.
      const std::size_t pad =
          (samples_per_packet - plain.size() % samples_per_packet) % samples_per_packet;
      inband.samples(std::vector<std::int16_t>(pad, 0));
      plain.samples(std::vector<std::int16_t>(pad, 0));
      const std::size_t start = plain.size() / samples_per_packet;
      const char key = digits[key_no % digits.size()];
      inband.dtmf(key, 80, {-8.0f - 4.0f * static_cast<float>(key_no % 4)});
      plain.silence(80);
      c.keys.push_back({start, 4, key});
      inband.silence(120);
      plain.silence(120);
    }
    inband.silence(400);
    plain.silence(400);
  }
  inband.add_white_noise(-50.0f, 7);
  plain.add_white_noise(-50.0f, 7);
  c.caller_inband = to_ulaw_packets(inband);
  c.caller_plain = to_ulaw_packets(plain);
  c.caller_packets = c.caller_plain.size() / samples_per_packet;
  c.key_at_packet.assign(c.caller_packets, -1);
  for (std::size_t i = 0; i < c.keys.size(); ++i)
    for (std::size_t j = 0; j < c.keys[i].count; ++j)
      c.key_at_packet[c.keys[i].first_packet + j] = static_cast<int>(i);

  dsp::signal_builder agent;
  for (std::size_t p = 4; p < 8; ++p) agent.samples(speech[p % speech.size()]).silence(500);
  agent.add_white_noise(-50.0f, 8);
  c.agent = to_ulaw_packets(agent);
  c.agent_packets = c.agent.size() / samples_per_packet;
  return c;
}

// ---------------------------------------------------------------------------------------------
// Sockets and processes.

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

// A UDP socket on 127.0.0.1 (port 0: the kernel chooses), or -1.
int udp_socket(std::uint16_t port = 0) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  const sockaddr_in a = loopback(port);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::uint16_t local_port(int fd) {
  sockaddr_in a{};
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  return ntohs(a.sin_port);
}

// A free UDP port on loopback for an ng socket (released before the daemon binds it).
std::uint16_t free_port() {
  const int fd = udp_socket();
  if (fd < 0) return 0;
  const std::uint16_t p = local_port(fd);
  ::close(fd);
  return p;
}

// `count` consecutive free UDP ports below the kernel's ephemeral range (where this program's
// own sockets come from), starting on an even port; 0 when none was found.
std::uint16_t free_port_range(int count, std::mt19937& rng) {
  const int lowest = 10000, highest = 32000 - count;
  for (int attempt = 0; attempt < 40 && highest > lowest; ++attempt) {
    const int base = (lowest + static_cast<int>(rng() % (highest - lowest))) & ~1;
    std::vector<int> held;
    bool ok = true;
    for (int p = base; p < base + count && ok; ++p) {
      const int fd = udp_socket(static_cast<std::uint16_t>(p));
      if (fd < 0)
        ok = false;
      else
        held.push_back(fd);
    }
    for (int fd : held) ::close(fd);
    if (ok) return static_cast<std::uint16_t>(base);
  }
  return 0;
}

std::string tail_of_file(const std::string& path, std::size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
    out += "    " + all[i] + "\n";
  return out;
}

std::string find_in_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(ss, dir, ':');) {
    const std::string p = dir + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  for (const char* dir : {"/usr/sbin", "/sbin"}) {
    const std::string p = std::string(dir) + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

/// A daemon started by this program, stdout and stderr to `log`. The destructor stops it
/// (SIGTERM, then SIGKILL after 5 s) and reaps it. Owned by the main thread.
class daemon_process {
 public:
  daemon_process(const std::vector<std::string>& argv, const std::string& log) : log_(log) {
    std::vector<std::string> storage = argv;
    std::vector<char*> args;
    for (auto& s : storage) args.push_back(s.data());
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the benchmark
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
      }
      ::setpgid(0, 0);
      ::execv(args[0], args.data());
      std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
      ::_exit(127);
    }
  }
  ~daemon_process() { stop(); }
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }

  /// The exit description when the process has ended ("exited with status 2", "killed by
  /// signal 11"), else nullopt.
  std::optional<std::string> ended() {
    if (status_) return status_;
    int raw = 0;
    if (pid_ <= 0 || ::waitpid(pid_, &raw, WNOHANG) != pid_) return std::nullopt;
    status_ = WIFEXITED(raw) ? "exited with status " + std::to_string(WEXITSTATUS(raw))
                             : "killed by signal " + std::to_string(WTERMSIG(raw));
    return status_;
  }

  void stop() {
    if (pid_ <= 0 || ended()) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 500 && !ended(); ++i) ::usleep(10'000);
    if (!ended()) {
      ::kill(pid_, SIGKILL);
      int raw = 0;
      ::waitpid(pid_, &raw, 0);
      status_ = "killed";
    }
  }

  [[nodiscard]] std::string log_tail() const { return tail_of_file(log_, 15); }

 private:
  pid_t pid_ = -1;
  std::string log_;
  std::optional<std::string> status_;
};

/// utime + stime of the whole process (all threads), in seconds, and its thread count; nullopt
/// when /proc/PID/stat cannot be read.
std::optional<std::pair<double, int>> process_cpu(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;
  for (std::string t; rest >> t;) f.push_back(t);
  // After "(comm)": state is field 3; utime 14, stime 15, num_threads 20 (1-based).
  if (f.size() < 18) return std::nullopt;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return std::pair{(std::stod(f[11]) + std::stod(f[12])) / ticks, std::stoi(f[17])};
}

double self_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// ng client.

class ng_client {
 public:
  explicit ng_client(std::uint16_t port) : fd_(udp_socket()), to_(loopback(port)) {}
  ~ng_client() {
    if (fd_ >= 0) ::close(fd_);
  }
  ng_client(const ng_client&) = delete;
  ng_client& operator=(const ng_client&) = delete;

  // The reply dictionary, or an error message. Retransmits the same cookie (the daemon's reply
  // cache answers duplicates) until `timeout_ms` has passed.
  media::result<bencode_value> request(bencode_dictionary body, int timeout_ms = 5000) {
    const std::string cookie = "b" + std::to_string(++serial_);
    const std::string datagram = cookie + " " + media::encode_bencode(std::move(body));
    const auto deadline = steady::now() + std::chrono::milliseconds(timeout_ms);
    std::string buf(65536, '\0');
    while (steady::now() < deadline) {
      ::sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<const sockaddr*>(&to_),
               sizeof to_);
      const auto resend = std::min(deadline, steady::now() + std::chrono::milliseconds(1000));
      while (steady::now() < resend) {
        pollfd p{fd_, POLLIN, 0};
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(resend - steady::now()).count();
        if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) != 1) continue;
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        if (n <= 0) continue;
        const std::string_view reply(buf.data(), static_cast<std::size_t>(n));
        if (reply.substr(0, cookie.size() + 1) != cookie + " ") continue;  // a stale reply
        auto value = media::decode_bencode(reply.substr(cookie.size() + 1));
        if (!value) return media::error{"undecodable ng reply: " + value.error_message()};
        if (!value.value().is_dictionary()) return media::error{"ng reply is not a dictionary"};
        const std::string* result = value.value().string_at("result");
        if (!result) return media::error{"ng reply without result"};
        if (*result == "error") {
          const std::string* why = value.value().string_at("error-reason");
          return media::error{"error: " + (why ? *why : std::string("(no error-reason)"))};
        }
        return std::move(value).value();
      }
    }
    return media::error{"no ng reply within " + std::to_string(timeout_ms) + " ms"};
  }

 private:
  int fd_;
  sockaddr_in to_;
  std::uint64_t serial_ = 0;
};

std::string sdp_for(std::uint16_t port, std::uint64_t session) {
  return "v=0\r\no=- " + std::to_string(session) +
         " 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " +
         std::to_string(port) +
         " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
         "a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";
}

// The m=audio port of the SDP in an ng reply, or 0.
std::uint16_t sdp_port(const bencode_value& reply) {
  const std::string* sdp = reply.string_at("sdp");
  if (!sdp) return 0;
  const auto at = sdp->find("m=audio ");
  if (at == std::string::npos) return 0;
  return static_cast<std::uint16_t>(std::atoi(sdp->c_str() + at + 8));
}

bencode_value string_list(std::initializer_list<const char*> items) {
  bencode_list l;
  for (const char* s : items) l.emplace_back(s);
  return bencode_value(std::move(l));
}

// ---------------------------------------------------------------------------------------------
// The load: per call two sockets (caller, agent), each sending to its proxy port.

struct call_endpoints {
  int caller_fd = -1, agent_fd = -1;
  bool rfc4733 = false;           // keys as telephone-events instead of in-band
  std::size_t caller_offset = 0;  // packet offset into the caller clip
  std::size_t agent_offset = 0;
  std::uint32_t caller_ssrc = 0, agent_ssrc = 0, caller_ts0 = 0, agent_ts0 = 0;
  int leak_slot = -1;  // index into the captures, or -1
};

/// Counters shared by the sender, the receiver and the main thread (relaxed atomics: totals only).
struct load_counters {
  std::atomic<std::uint64_t> sent{0}, send_errors{0};
  std::atomic<std::uint64_t> received_at_agent{0}, received_at_caller{0};
  std::atomic<std::int64_t> max_lag_ns{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> realtime{false};  // the sender runs SCHED_FIFO
  std::atomic<bool> capture_sent{false}, capture_received{false};
  // Receive snapshot: the main thread sets 1; the receiver drains every socket, stores the
  // totals below and sets 0.
  std::atomic<int> snapshot_request{0};
  std::uint64_t snapshot_at_agent = 0, snapshot_at_caller = 0;
};

struct capture {
  std::vector<std::uint8_t> sent;      // caller payloads sent (μ-law)
  std::vector<std::uint8_t> received;  // payloads that reached the agent (μ-law)
};

void sender_loop(const options& o, const clips& clip, std::vector<call_endpoints>& calls,
                 std::vector<capture>& captures, load_counters& k) {
  const std::size_t streams = calls.size() * 2;
  const double rate = o.pps * static_cast<double>(streams);  // packets/s, all streams
  // Pacing first: a real-time priority (when permitted, e.g. as root) keeps the 1 ms ticks on
  // time on a busy machine; the thread sleeps between ticks, so it takes no more than it sends.
  sched_param sp{};
  sp.sched_priority = 10;
  k.realtime = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &sp) == 0;
  std::array<std::uint8_t, rtp_header_bytes + samples_per_packet> packet{};
  packet[0] = 0x80;
  timespec next{};
  ::clock_gettime(CLOCK_MONOTONIC, &next);
  const auto start = steady::now();
  std::uint64_t done = 0;
  while (!k.stop.load(std::memory_order_relaxed)) {
    next.tv_nsec += 1'000'000;
    if (next.tv_nsec >= 1'000'000'000) {
      next.tv_nsec -= 1'000'000'000;
      ++next.tv_sec;
    }
    ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
    const double elapsed = std::chrono::duration<double>(steady::now() - start).count();
    const auto due = static_cast<std::uint64_t>(elapsed * rate);
    if (due > done) {
      // How late the oldest packet of this tick is.
      const double oldest = static_cast<double>(done) / rate;
      const auto lag = static_cast<std::int64_t>((elapsed - oldest) * 1e9);
      if (lag > k.max_lag_ns.load(std::memory_order_relaxed)) k.max_lag_ns.store(lag);
    }
    const bool capturing = k.capture_sent.load(std::memory_order_relaxed);
    std::uint64_t sent = 0, errors = 0;
    for (; done < due; ++done) {
      const std::size_t s = done % streams;
      const std::uint64_t n = done / streams;  // packet number within the stream
      call_endpoints& c = calls[s / 2];
      const bool from_caller = s % 2 == 0;
      std::size_t size = rtp_header_bytes + samples_per_packet;
      std::uint32_t ts, ssrc;
      std::uint8_t pt = pt_pcmu, marker = 0;
      if (from_caller) {
        const std::size_t i = (c.caller_offset + n) % clip.caller_packets;
        ts = c.caller_ts0 + static_cast<std::uint32_t>(n * samples_per_packet);
        ssrc = c.caller_ssrc;
        const int key = c.rfc4733 ? clip.key_at_packet[i] : -1;
        if (key >= 0) {
          // RFC 4733: one event packet in place of each audio packet of the key; the
          // timestamp stays at the key's start, the duration grows, the last one ends it.
          const key_event& e = clip.keys[static_cast<std::size_t>(key)];
          const std::size_t into = i - e.first_packet;
          ts -= static_cast<std::uint32_t>(into * samples_per_packet);
          pt = pt_event;
          marker = into == 0 ? 0x80 : 0;
          const std::uint8_t code = e.key == '*' ? 10 : e.key == '#' ? 11 : e.key - '0';
          const auto duration = static_cast<std::uint16_t>((into + 1) * samples_per_packet);
          packet[12] = code;
          packet[13] = static_cast<std::uint8_t>((into + 1 == e.count ? 0x80 : 0) | 10);
          packet[14] = static_cast<std::uint8_t>(duration >> 8);
          packet[15] = static_cast<std::uint8_t>(duration);
          size = rtp_header_bytes + 4;
        } else {
          const auto& audio = c.rfc4733 ? clip.caller_plain : clip.caller_inband;
          std::memcpy(packet.data() + rtp_header_bytes, &audio[i * samples_per_packet],
                      samples_per_packet);
          if (capturing && c.leak_slot >= 0) {
            auto& cap = captures[static_cast<std::size_t>(c.leak_slot)].sent;
            cap.insert(cap.end(), &audio[i * samples_per_packet],
                       &audio[i * samples_per_packet] + samples_per_packet);
          }
        }
      } else {
        const std::size_t i = (c.agent_offset + n) % clip.agent_packets;
        ts = c.agent_ts0 + static_cast<std::uint32_t>(n * samples_per_packet);
        ssrc = c.agent_ssrc;
        std::memcpy(packet.data() + rtp_header_bytes, &clip.agent[i * samples_per_packet],
                    samples_per_packet);
      }
      packet[1] = static_cast<std::uint8_t>(marker | pt);
      packet[2] = static_cast<std::uint8_t>(n >> 8);
      packet[3] = static_cast<std::uint8_t>(n);
      for (int b = 0; b < 4; ++b) {
        packet[4 + b] = static_cast<std::uint8_t>(ts >> (24 - 8 * b));
        packet[8 + b] = static_cast<std::uint8_t>(ssrc >> (24 - 8 * b));
      }
      const int fd = from_caller ? c.caller_fd : c.agent_fd;
      if (::send(fd, packet.data(), size, MSG_DONTWAIT) == static_cast<ssize_t>(size))
        ++sent;
      else
        ++errors;
    }
    k.sent.fetch_add(sent, std::memory_order_relaxed);
    if (errors) k.send_errors.fetch_add(errors, std::memory_order_relaxed);
  }
}

// Drains every socket that has data, then sleeps, so that each recvmmsg takes a few packets.
void receiver_loop(std::vector<call_endpoints>& calls, std::vector<capture>& captures,
                   load_counters& k) {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = i * 2;  // even: the agent's socket (caller -> agent); odd: the caller's
    ::epoll_ctl(ep, EPOLL_CTL_ADD, calls[i].agent_fd, &e);
    e.data.u64 = i * 2 + 1;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, calls[i].caller_fd, &e);
  }
  constexpr int batch = 32;
  std::vector<std::array<std::uint8_t, 1500>> buffers(batch);
  std::array<iovec, batch> iov{};
  std::array<mmsghdr, batch> msgs{};
  std::vector<epoll_event> events(4096);
  auto drain = [&](int timeout_ms) {
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), timeout_ms);
    const bool capturing = k.capture_received.load(std::memory_order_relaxed);
    std::uint64_t at_agent = 0, at_caller = 0;
    for (int i = 0; i < n; ++i) {
      const std::size_t id = events[static_cast<std::size_t>(i)].data.u64;
      call_endpoints& c = calls[id / 2];
      const bool agent_side = id % 2 == 0;
      const int fd = agent_side ? c.agent_fd : c.caller_fd;
      for (;;) {
        for (int j = 0; j < batch; ++j) {
          iov[j] = {buffers[j].data(), buffers[j].size()};
          msgs[j] = {};
          msgs[j].msg_hdr.msg_iov = &iov[j];
          msgs[j].msg_hdr.msg_iovlen = 1;
        }
        const int got = ::recvmmsg(fd, msgs.data(), batch, MSG_DONTWAIT, nullptr);
        if (got <= 0) break;
        (agent_side ? at_agent : at_caller) += static_cast<std::uint64_t>(got);
        if (capturing && agent_side && c.leak_slot >= 0) {
          for (int j = 0; j < got; ++j) {
            const auto* p = buffers[j].data();
            const std::size_t len = msgs[j].msg_len;
            if (len < 12 || (p[1] & 0x7f) != pt_pcmu) continue;
            std::size_t h = 12 + 4u * (p[0] & 0x0f);
            if (p[0] & 0x10 && len >= h + 4) h += 4 + 4u * ((p[h + 2] << 8) | p[h + 3]);
            if (len <= h) continue;
            auto& cap = captures[static_cast<std::size_t>(c.leak_slot)].received;
            cap.insert(cap.end(), p + h, p + len);
          }
        }
        if (got < batch) break;
      }
    }
    k.received_at_agent.fetch_add(at_agent, std::memory_order_relaxed);
    k.received_at_caller.fetch_add(at_caller, std::memory_order_relaxed);
  };
  while (!k.stop.load(std::memory_order_relaxed)) {
    drain(20);
    // Let packets gather so that each socket is drained with few system calls (about 2.5
    // packets per recvmmsg at 50 packets/s), but answer a snapshot request within 2 ms.
    for (int i = 0; i < 25 && k.snapshot_request.load() == 0; ++i) ::usleep(2'000);
    if (k.snapshot_request.load() == 1) {
      drain(0);
      k.snapshot_at_agent = k.received_at_agent.load();
      k.snapshot_at_caller = k.received_at_caller.load();
      k.snapshot_request.store(0);
    }
  }
  ::close(ep);
}

int scan_keys(const std::vector<std::uint8_t>& ulaw) {
  if (ulaw.empty()) return 0;
  std::vector<float> audio(ulaw.size());
  dsp::g711_decode(dsp::g711_law::ulaw, ulaw, audio);
  return static_cast<int>(dsp::scan_for_dtmf_leaks(audio).size());
}

// ---------------------------------------------------------------------------------------------
// One proxy, one run.

struct daemon_profile {
  std::string name;
  std::vector<std::string> argv;
};

std::optional<daemon_profile> make_profile(const options& o, const std::string& name,
                                           const std::string& dir, std::uint16_t ng_port,
                                           std::uint16_t port_min, std::uint16_t port_max,
                                           std::string& error) {
  daemon_profile p{name, {}};
  if (name == "toneguard") {
    const std::string bin = find_in_path(o.toneguard_bin);
    if (bin.empty()) {
      error = "toneguard: no executable at " + o.toneguard_bin +
              " (build it: ninja -C build toneguard)";
      return std::nullopt;
    }
    p.argv = {bin,
              "--listen-ng",
              "127.0.0.1:" + std::to_string(ng_port),
              "--interface",
              "127.0.0.1",
              "--port-min",
              std::to_string(port_min),
              "--port-max",
              std::to_string(port_max),
              "--log-level",
              "warn"};
    if (o.daemon_threads > 0) {
      p.argv.push_back("--num-threads");
      p.argv.push_back(std::to_string(o.daemon_threads));
    }
    p.argv.insert(p.argv.end(), o.toneguard_args.begin(), o.toneguard_args.end());
    return p;
  }
  if (name == "rtpengine") {
    const std::string bin = find_in_path(o.rtpengine_bin);
    if (bin.empty()) {
      error = "rtpengine: `" + o.rtpengine_bin +
              "` not found; install the Debian package rtpengine-daemon "
              "(apt-get install rtpengine-daemon, or run tools/bench-proxy)";
      return std::nullopt;
    }
    // A config file of our own, so that /etc/rtpengine/rtpengine.conf (kernel table 0,
    // recording, other ports) plays no part. table = -1: userspace forwarding only, no kernel
    // module.
    const std::string conf = dir + "/rtpengine.conf";
    std::ofstream f(conf);
    f << "[rtpengine]\n"
      << "table = -1\n"
      << "interface = 127.0.0.1\n"
      << "listen-ng = 127.0.0.1:" << ng_port << "\n"
      << "port-min = " << port_min << "\nport-max = " << port_max << "\n"
      << "foreground = true\nlog-stderr = true\nlog-level = 4\n"
      << "timeout = 60\nsilent-timeout = 3600\n";
    if (o.daemon_threads > 0) f << "num-threads = " << o.daemon_threads << "\n";
    f.close();
    if (!f) {
      error = "rtpengine: cannot write " + conf;
      return std::nullopt;
    }
    p.argv = {bin, "--config-file=" + conf, "--config-section=rtpengine"};
    p.argv.insert(p.argv.end(), o.rtpengine_args.begin(), o.rtpengine_args.end());
    return p;
  }
  error = "unknown proxy `" + name + "` (toneguard, rtpengine or both)";
  return std::nullopt;
}

measurement run_one(const options& o, const clips& clip, const std::string& name, int run,
                    std::mt19937& rng) {
  measurement m;
  m.proxy = name;
  m.run = run;
  const int calls_wanted = (o.streams + 1) / 2;
  m.calls = calls_wanted;
  m.streams = calls_wanted * 2;
  m.offered_pps = o.pps * m.streams;
  auto fail = [&](std::string why) {
    m.ok = false;
    m.error = std::move(why);
    return m;
  };

  char templ[] = "/tmp/toneguard-rtp-load.XXXXXX";
  if (!::mkdtemp(templ)) return fail("cannot create a temporary directory");
  const std::string dir = templ;
  struct cleanup {
    std::string dir;
    bool keep;
    ~cleanup() {
      std::error_code ec;
      if (!keep) fs::remove_all(dir, ec);
    }
  } remove_dir{dir, o.keep_logs};

  // Ports: 4 per call (RTP and RTCP on both sides) plus room.
  const int port_count = 4 * calls_wanted + calls_wanted / 4 + 64;
  const std::uint16_t port_min = free_port_range(port_count, rng);
  const std::uint16_t ng_port = free_port();
  if (!port_min || !ng_port)
    return fail(name + ": no free range of " + std::to_string(port_count) +
                " UDP ports on loopback");
  const auto port_max = static_cast<std::uint16_t>(port_min + port_count - 1);
  std::string error;
  const auto profile = make_profile(o, name, dir, ng_port, port_min, port_max, error);
  if (!profile) return fail(error);
  const std::string log = dir + "/" + name + ".log";
  if (o.keep_logs) std::fprintf(stderr, "%s: log in %s\n", name.c_str(), log.c_str());
  daemon_process daemon(profile->argv, log);
  if (daemon.pid() <= 0) return fail(name + ": fork failed");

  // Wait until ng answers ping.
  ng_client ng(ng_port);
  {
    const auto deadline = steady::now() + std::chrono::seconds(15);
    bool pong = false;
    while (!pong && steady::now() < deadline && !g_interrupted) {
      if (auto how = daemon.ended())
        return fail(name + " " + *how + " before answering ng ping; its log ends:\n" +
                    daemon.log_tail());
      bencode_dictionary ping;
      ping.set("command", "ping");
      auto r = ng.request(std::move(ping), 300);
      pong = r && r.value().string_at("result") && *r.value().string_at("result") == "pong";
    }
    if (!pong)
      return fail(name + ": no pong on ng port " + std::to_string(ng_port) +
                  " within 15 s; its log ends:\n" + daemon.log_tail());
  }

  // Calls: offer (caller's SDP), answer (agent's SDP), block DTMF from the caller. The same
  // messages go to both proxies.
  std::vector<call_endpoints> calls(static_cast<std::size_t>(calls_wanted));
  struct fd_closer {
    std::vector<call_endpoints>& calls;
    ~fd_closer() {
      for (auto& c : calls) {
        if (c.caller_fd >= 0) ::close(c.caller_fd);
        if (c.agent_fd >= 0) ::close(c.agent_fd);
      }
    }
  } close_fds{calls};
  std::vector<capture> captures;
  const auto setup_start = steady::now();
  for (int i = 0; i < calls_wanted && !g_interrupted; ++i) {
    call_endpoints& c = calls[static_cast<std::size_t>(i)];
    c.caller_fd = udp_socket();
    c.agent_fd = udp_socket();
    if (c.caller_fd < 0 || c.agent_fd < 0)
      return fail("cannot open UDP sockets for call " + std::to_string(i) + ": " +
                  std::strerror(errno) + " (ulimit -n?)");
    c.rfc4733 = o.rfc4733_every > 0 && i % o.rfc4733_every == o.rfc4733_every - 1;
    c.caller_offset = rng() % clip.caller_packets;
    c.agent_offset = rng() % clip.agent_packets;
    c.caller_ssrc = static_cast<std::uint32_t>(rng());
    c.agent_ssrc = static_cast<std::uint32_t>(rng());
    c.caller_ts0 = static_cast<std::uint32_t>(rng());
    c.agent_ts0 = static_cast<std::uint32_t>(rng());
    if (!c.rfc4733 && static_cast<int>(captures.size()) < o.leak_check_calls) {
      c.leak_slot = static_cast<int>(captures.size());
      captures.emplace_back();
    }
    const std::string call_id = "bench-" + std::to_string(run) + "-" + std::to_string(i);
    bencode_dictionary offer;
    offer.set("command", "offer");
    offer.set("call-id", call_id);
    offer.set("from-tag", "caller-" + std::to_string(i));
    offer.set("sdp", sdp_for(local_port(c.caller_fd), 1000 + static_cast<std::uint64_t>(i)));
    offer.set("ICE", "remove");
    offer.set("replace", string_list({"origin", "session-connection"}));
    offer.set("flags", string_list({"detect DTMF"}));
    auto offered = ng.request(std::move(offer));
    if (!offered)
      return fail(name + ": ng offer of call " + std::to_string(i) + ": " +
                  offered.error_message());
    const std::uint16_t agent_facing = sdp_port(offered.value());

    bencode_dictionary answer;
    answer.set("command", "answer");
    answer.set("call-id", call_id);
    answer.set("from-tag", "caller-" + std::to_string(i));
    answer.set("to-tag", "agent-" + std::to_string(i));
    answer.set("sdp", sdp_for(local_port(c.agent_fd), 2000 + static_cast<std::uint64_t>(i)));
    answer.set("ICE", "remove");
    answer.set("replace", string_list({"origin", "session-connection"}));
    answer.set("flags", string_list({"detect DTMF"}));
    auto answered = ng.request(std::move(answer));
    if (!answered)
      return fail(name + ": ng answer of call " + std::to_string(i) + ": " +
                  answered.error_message());
    const std::uint16_t caller_facing = sdp_port(answered.value());
    if (!agent_facing || !caller_facing)
      return fail(name + ": no m=audio port in the SDP of the offer or answer reply of call " +
                  std::to_string(i));

    bencode_dictionary block;
    block.set("command", "block DTMF");
    block.set("call-id", call_id);
    block.set("from-tag", "caller-" + std::to_string(i));
    block.set("DTMF-security", o.dtmf_security);
    block.set("delay-buffer", o.delay_buffer_ms);
    block.set("flags", string_list({"detect DTMF"}));
    auto blocked = ng.request(std::move(block));
    if (!blocked)
      return fail(name + ": ng block DTMF of call " + std::to_string(i) + ": " +
                  blocked.error_message());

    const sockaddr_in to_caller_facing = loopback(caller_facing);
    const sockaddr_in to_agent_facing = loopback(agent_facing);
    if (::connect(c.caller_fd, reinterpret_cast<const sockaddr*>(&to_caller_facing),
                  sizeof to_caller_facing) != 0 ||
        ::connect(c.agent_fd, reinterpret_cast<const sockaddr*>(&to_agent_facing),
                  sizeof to_agent_facing) != 0)
      return fail(std::string("connect: ") + std::strerror(errno));
  }
  if (g_interrupted) return fail("interrupted");
  m.setup_seconds = std::chrono::duration<double>(steady::now() - setup_start).count();

  load_counters k;
  std::thread receiver([&] { receiver_loop(calls, captures, k); });
  std::thread sender([&] { sender_loop(o, clip, calls, captures, k); });
  struct joiner {
    load_counters& k;
    std::thread& a;
    std::thread& b;
    ~joiner() {
      k.stop = true;
      if (a.joinable()) a.join();
      if (b.joinable()) b.join();
    }
  } join_threads{k, sender, receiver};

  auto sleep_for = [&](double s) {
    const auto until = steady::now() + std::chrono::duration<double>(s);
    while (steady::now() < until && !g_interrupted && !daemon.ended())
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  };
  // The receive counts lag the sends by the proxy's delay and the receiver's batching; they
  // are read this much later than the send counts, so both cover the same packets.
  const double shift = 0.1 + o.delay_buffer_ms / 1000.0;
  auto receive_snapshot = [&]() -> std::pair<std::uint64_t, std::uint64_t> {
    k.snapshot_request.store(1);
    while (k.snapshot_request.load() != 0)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    return {k.snapshot_at_agent, k.snapshot_at_caller};
  };
  sleep_for(o.warmup);
  const auto t0 = steady::now();
  const auto cpu0 = process_cpu(daemon.pid());
  const double self0 = self_cpu_seconds();
  const std::uint64_t sent0 = k.sent.load();
  k.max_lag_ns.store(0);  // lateness counts from here
  k.capture_sent = true;
  sleep_for(shift);
  const auto [agent0, caller0] = receive_snapshot();
  k.capture_received = true;
  sleep_for(o.seconds - shift);
  const auto t1 = steady::now();
  const auto cpu1 = process_cpu(daemon.pid());
  const double self1 = self_cpu_seconds();
  const std::uint64_t sent1 = k.sent.load();
  const double lag_ms = static_cast<double>(k.max_lag_ns.load()) / 1e6;
  k.capture_sent = false;
  sleep_for(shift);
  const auto [agent1, caller1] = receive_snapshot();
  k.capture_received = false;
  k.stop = true;
  sender.join();
  receiver.join();
  if (g_interrupted) return fail("interrupted");
  if (auto how = daemon.ended())
    return fail(name + " " + *how + " during the load; its log ends:\n" + daemon.log_tail());
  if (!cpu0 || !cpu1)
    return fail(name + ": cannot read /proc/" + std::to_string(daemon.pid()) + "/stat");
  daemon.stop();

  m.seconds = std::chrono::duration<double>(t1 - t0).count();
  const double sent = static_cast<double>(sent1 - sent0);
  const double fwd_agent = static_cast<double>(agent1 - agent0);
  const double fwd = fwd_agent + static_cast<double>(caller1 - caller0);
  m.sent_pps = sent / m.seconds;
  m.forwarded_pps = fwd / m.seconds;
  m.forwarded_to_agent_pps = fwd_agent / m.seconds;
  m.loss_percent = sent > 0 ? 100.0 * (1.0 - fwd / sent) : 0;
  m.cpu_seconds = cpu1->first - cpu0->first;
  m.cpu_percent = 100.0 * m.cpu_seconds / m.seconds;
  m.ns_per_packet = fwd > 0 ? 1e9 * m.cpu_seconds / fwd : 0;
  m.daemon_threads_seen = cpu1->second;
  m.generator_cpu_percent = 100.0 * (self1 - self0) / m.seconds;
  m.max_send_lag_ms = lag_ms;
  m.send_errors = k.send_errors.load();
  m.sender_realtime = k.realtime.load();
  m.leak_calls = static_cast<int>(captures.size());
  for (const auto& cap : captures) {
    m.keys_in_sent_audio += scan_keys(cap.sent);
    m.fragments_at_agent += scan_keys(cap.received);
  }
  m.ok = true;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Output.

std::string machine_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string l; std::getline(in, l);)
    if (l.rfind("model name", 0) == 0) {
      const auto c = l.find(':');
      return c == std::string::npos ? l : l.substr(c + 2);
    }
  return "unknown";
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\')
      out += '\\', out += ch;
    else if (ch == '\n')
      out += "\\n";
    else if (static_cast<unsigned char>(ch) < 0x20)
      out += ' ';
    else
      out += ch;
  }
  return out;
}

void print_json_measurement(const measurement& m, const char* run_label) {
  std::printf("    {\"proxy\": \"%s\", \"run\": %s, \"ok\": %s", m.proxy.c_str(), run_label,
              m.ok ? "true" : "false");
  if (!m.ok) {
    std::printf(", \"error\": \"%s\"}", json_escape(m.error).c_str());
    return;
  }
  std::printf(
      ", \"calls\": %d, \"streams\": %d, \"seconds\": %.3f, \"offered_pps\": %.1f, "
      "\"sent_pps\": %.1f, \"forwarded_pps\": %.1f, \"forwarded_to_agent_pps\": %.1f, "
      "\"loss_percent\": %.3f, \"cpu_seconds\": %.3f, \"cpu_percent\": %.2f, "
      "\"cpu_ns_per_forwarded_packet\": %.1f, \"daemon_threads\": %d, "
      "\"generator_cpu_percent\": %.1f, \"max_send_lag_ms\": %.2f, \"sender_realtime\": %s, "
      "\"send_errors\": %llu, "
      "\"leak_check_calls\": %d, \"keys_in_sent_audio\": %d, \"key_fragments_at_agent\": %d, "
      "\"setup_seconds\": %.2f, \"carried\": %s}",
      m.calls, m.streams, m.seconds, m.offered_pps, m.sent_pps, m.forwarded_pps,
      m.forwarded_to_agent_pps, m.loss_percent, m.cpu_seconds, m.cpu_percent, m.ns_per_packet,
      m.daemon_threads_seen, m.generator_cpu_percent, m.max_send_lag_ms,
      m.sender_realtime ? "true" : "false", static_cast<unsigned long long>(m.send_errors),
      m.leak_calls, m.keys_in_sent_audio, m.fragments_at_agent, m.setup_seconds,
      m.sent_pps >= 0.99 * m.offered_pps && m.loss_percent < 1.0 ? "true" : "false");
}

void print_table_row(const measurement& m, const std::string& run_label) {
  if (!m.ok) {
    std::printf("%-10s %-6s FAILED: %s\n", m.proxy.c_str(), run_label.c_str(), m.error.c_str());
    return;
  }
  // Carried: the generator sent the offered load and the proxy forwarded it (within 1%).
  const bool carried = m.sent_pps >= 0.99 * m.offered_pps && m.loss_percent < 1.0;
  std::printf("%-10s %-6s %7d %9.0f %9.0f %9.0f %6.2f %7.2f %6.1f %9.0f %6.1f %6.1f %5d/%-5d%s\n",
              m.proxy.c_str(), run_label.c_str(), m.streams, m.offered_pps, m.sent_pps,
              m.forwarded_pps, m.loss_percent, m.cpu_seconds, m.cpu_percent, m.ns_per_packet,
              m.generator_cpu_percent, m.max_send_lag_ms, m.fragments_at_agent,
              m.keys_in_sent_audio, carried ? "" : "  NOT CARRIED");
}

// The run whose ns/packet is the median of `all` for `proxy` (odd count: the middle one; even:
// the lower middle), or nullptr when no run succeeded.
const measurement* median_run(const std::vector<measurement>& all, const std::string& proxy) {
  std::vector<const measurement*> ok;
  for (const auto& m : all)
    if (m.proxy == proxy && m.ok) ok.push_back(&m);
  if (ok.empty()) return nullptr;
  std::sort(ok.begin(), ok.end(),
            [](auto* a, auto* b) { return a->ns_per_packet < b->ns_per_packet; });
  return ok[(ok.size() - 1) / 2];
}

void usage(std::FILE* to) {
  std::fprintf(
      to,
      "usage: toneguard-rtp-load [OPTION]...\n"
      "CPU time per forwarded RTP packet of toneguard and rtpengine, DTMF detection and\n"
      "masking on, one proxy after the other on loopback.\n\n"
      "  --proxy toneguard|rtpengine|both  (default both)\n"
      "  --streams N          RTP streams, two per call (default 2000)\n"
      "  --pps N              packets per second per stream (default 50)\n"
      "  --seconds S          measured interval (default 20)\n"
      "  --warmup S           load before the measured interval (default 5)\n"
      "  --runs N             repeat the comparison, report the median (default 1)\n"
      "  --delay-buffer MS    block DTMF delay-buffer, the masking look-ahead (default 60)\n"
      "  --dtmf-security M    block DTMF DTMF-security (default silence)\n"
      "  --rfc4733-every N    every Nth call sends keys as RFC 4733 events (default 10;\n"
      "                       0: all in-band)\n"
      "  --leak-check-calls N in-band calls whose agent audio is scanned for keys (default 4)\n"
      "  --daemon-threads N   --num-threads for both daemons (default: theirs)\n"
      "  --toneguard PATH     (default: toneguard next to this program)\n"
      "  --rtpengine PATH     (default: rtpengine in PATH)\n"
      "  --toneguard-arg A, --rtpengine-arg A   extra daemon argument (repeatable)\n"
      "  --speech-dir DIR     8 kHz WAV prompts for the speech (default\n"
      "                       /usr/share/asterisk/sounds/en; synthetic if none)\n"
      "  --keep-logs          keep the daemons' logs and config (paths on stderr)\n"
      "  --json               one JSON document instead of the table\n");
}

int main_impl(int argc, char** argv) {
  options o;
  {
    std::error_code ec;
    const auto self = fs::read_symlink("/proc/self/exe", ec);
    o.toneguard_bin = ec ? "toneguard" : (self.parent_path() / "toneguard").string();
  }
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "toneguard-rtp-load: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&]() -> double {
      const std::string v = value();
      char* end = nullptr;
      const double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(d >= 0)) {
        std::fprintf(stderr, "toneguard-rtp-load: %s: not a non-negative number: %s\n", a.c_str(),
                     v.c_str());
        std::exit(2);
      }
      return d;
    };
    if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "--proxy") {
      const std::string p = value();
      if (p == "both")
        o.proxies = {"toneguard", "rtpengine"};
      else if (p == "toneguard" || p == "rtpengine")
        o.proxies = {p};
      else {
        std::fprintf(stderr, "toneguard-rtp-load: --proxy: toneguard, rtpengine or both\n");
        return 2;
      }
    } else if (a == "--streams")
      o.streams = static_cast<int>(number());
    else if (a == "--pps")
      o.pps = number();
    else if (a == "--seconds")
      o.seconds = number();
    else if (a == "--warmup")
      o.warmup = number();
    else if (a == "--runs")
      o.runs = static_cast<int>(number());
    else if (a == "--delay-buffer")
      o.delay_buffer_ms = static_cast<int>(number());
    else if (a == "--dtmf-security")
      o.dtmf_security = value();
    else if (a == "--rfc4733-every")
      o.rfc4733_every = static_cast<int>(number());
    else if (a == "--leak-check-calls")
      o.leak_check_calls = static_cast<int>(number());
    else if (a == "--daemon-threads")
      o.daemon_threads = static_cast<int>(number());
    else if (a == "--toneguard")
      o.toneguard_bin = value();
    else if (a == "--rtpengine")
      o.rtpengine_bin = value();
    else if (a == "--toneguard-arg")
      o.toneguard_args.push_back(value());
    else if (a == "--rtpengine-arg")
      o.rtpengine_args.push_back(value());
    else if (a == "--speech-dir")
      o.speech_dir = value();
    else if (a == "--keep-logs")
      o.keep_logs = true;
    else if (a == "--json")
      o.json = true;
    else {
      std::fprintf(stderr, "toneguard-rtp-load: unknown option %s\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (o.streams < 2 || o.pps <= 0 || o.seconds < 1 || o.runs < 1) {
    std::fprintf(
        stderr,
        "toneguard-rtp-load: need --streams >= 2, --pps > 0, --seconds >= 1, --runs >= 1\n");
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  const clips clip = build_clips(o);
  std::mt19937 rng(static_cast<unsigned>(::getpid()) ^ 0x5eedu);
  if (!o.json) {
    std::printf(
        "toneguard-rtp-load: %d streams (%d calls: caller->agent masked, agent->caller "
        "relayed) at %.0f packets/s each, PCMU 20 ms; %.0f s warm-up, %.0f s measured; "
        "block DTMF %s, delay-buffer %d ms; every %s call's keys as RFC 4733\n",
        (o.streams + 1) / 2 * 2, (o.streams + 1) / 2, o.pps, o.warmup, o.seconds,
        o.dtmf_security.c_str(), o.delay_buffer_ms,
        o.rfc4733_every > 0 ? (std::to_string(o.rfc4733_every) + "th").c_str() : "no");
    std::printf("machine: %s, %ld CPUs online; speech: %s; one proxy at a time\n\n",
                machine_model().c_str(), ::sysconf(_SC_NPROCESSORS_ONLN),
                clip.speech_source.c_str());
    std::printf("%-10s %-6s %7s %9s %9s %9s %6s %7s %6s %9s %6s %6s %s\n", "proxy", "run",
                "streams", "offered/s", "sent/s", "fwd/s", "loss%", "CPU s", "CPU%", "ns/fwdpkt",
                "gen%", "lag ms", "leaks/keys");
    std::fflush(stdout);
  }
  std::vector<measurement> all;
  for (int run = 1; run <= o.runs && !g_interrupted; ++run)
    for (const auto& proxy : o.proxies) {
      if (g_interrupted) break;
      all.push_back(run_one(o, clip, proxy, run, rng));
      if (!o.json) {
        print_table_row(all.back(), std::to_string(run));
        std::fflush(stdout);
      }
      if (!all.back().ok)
        std::fprintf(stderr, "toneguard-rtp-load: %s\n", all.back().error.c_str());
    }
  if (!o.json)
    std::printf(
        "\nCPU s, CPU%%: the daemon's utime + stime (all threads) over the measured interval, "
        "%% of one core;\nns/fwdpkt: that CPU time per packet received at the far ends (both "
        "directions);\ngen%%: this program's own CPU; lag ms: worst lateness of a 1 ms send tick;\n"
        "leaks/keys: DTMF fragments an attacker's scan finds in what %d agents received / in what "
        "their callers sent.\n",
        o.leak_check_calls);
  bool failed = g_interrupted != 0;
  for (const auto& m : all) failed = failed || !m.ok;

  if (o.json) {
    std::printf(
        "{\n  \"machine\": \"%s\", \"cpus\": %ld, \"streams\": %d, \"pps_per_stream\": %.1f,"
        " \"seconds\": %.1f, \"warmup\": %.1f, \"delay_buffer_ms\": %d, "
        "\"dtmf_security\": \"%s\", \"rfc4733_every\": %d, \"speech\": \"%s\",\n"
        "  \"runs\": [\n",
        json_escape(machine_model()).c_str(), ::sysconf(_SC_NPROCESSORS_ONLN),
        (o.streams + 1) / 2 * 2, o.pps, o.seconds, o.warmup, o.delay_buffer_ms,
        json_escape(o.dtmf_security).c_str(), o.rfc4733_every,
        json_escape(clip.speech_source).c_str());
    for (std::size_t i = 0; i < all.size(); ++i) {
      print_json_measurement(all[i], std::to_string(all[i].run).c_str());
      std::printf(i + 1 < all.size() ? ",\n" : "\n");
    }
    std::printf("  ],\n  \"median\": [\n");
    bool first = true;
    for (const auto& proxy : o.proxies)
      if (const measurement* m = median_run(all, proxy)) {
        std::printf(first ? "" : ",\n");
        print_json_measurement(*m, std::to_string(m->run).c_str());
        first = false;
      }
    std::printf("\n  ]\n}\n");
  } else if (o.runs > 1) {
    std::printf("\nmedian run by ns per forwarded packet:\n");
    for (const auto& proxy : o.proxies)
      if (const measurement* m = median_run(all, proxy)) print_table_row(*m, "median");
  }
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace toneguard::bench

int main(int argc, char** argv) {
  return toneguard::bench::main_impl(argc, argv);
}
