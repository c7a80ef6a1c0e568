// toneguard-rtp-load: CPU time per forwarded packet of an RTP proxy with DTMF detection and
// masking on, measured side by side for toneguard and rtpengine (userspace only) on loopback,
// with rtpengine's plain forwarding of the same load as the baseline.
//
// For each proxy in turn (never two at once) it starts the daemon on free loopback ports, waits
// for ng `ping`, sets up calls through ng (offer, answer, block DTMF: the same messages to both;
// `rtpengine-plain` gets no block DTMF), then sends RTP from its own sockets, the caller and the
// agent of every call, at a fixed rate paced by a 1 ms timer. A call has two streams: caller ->
// agent (PCMU speech with DTMF keys, detected and masked by the proxy) and agent -> caller (PCMU
// speech, relayed). After a warm-up it reads the daemon's CPU time (utime + stime of all its
// threads, /proc/PID/stat) over the measured interval, counts what reached the far ends, times
// every matched packet from send to the kernel's receive stamp, and reads the daemon's resident
// memory before the calls and after the warm-up (/proc/PID/status).
//
// Usage: toneguard-rtp-load [--proxy toneguard|rtpengine|rtpengine-plain|both|all]
//          [--streams N] [--pps N] [--seconds S] [--warmup S] [--runs N] [--delay-buffer MS]
//          [--dtmf-security MODE] [--rfc4733-every N] [--leak-check-calls N]
//          [--daemon-threads N] [--shared-sockets | --socket-per-leg]
//          [--scale CALLS,CALLS,...] [--scale-csv PATH] [--scale-png PATH]
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
#include <sys/uio.h>
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
#include <memory>
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
  std::vector<std::string> proxies{"toneguard", "rtpengine-plain", "rtpengine"};
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
  /// One caller socket and one agent socket for all calls (sendmmsg/recvmmsg, demultiplexed
  /// by the proxy's port) instead of a connected socket per call leg.
  bool shared_sockets = true;
  std::vector<int> scale_calls;  ///< --scale: concurrent calls per load step (empty: no sweep)
  std::string scale_csv = "out/bench/scaling.csv";
  std::string scale_png = "out/bench/scaling.png";
  bool keep_logs = false;
  bool json = false;
};

/// Added latency of one direction over the measured interval: kernel receive stamp at the far
/// end minus the generator's send time, for the packets matched by stream and RTP timestamp.
struct latency_summary {
  /// 10 µs bins (upper edge; 200.01: 200 ms or more), max exact; NaN when none was timed, ms
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  std::uint64_t matched = 0;                  ///< audio packets timed
  std::uint64_t unmatched = 0;  ///< audio packets whose timestamp matched no recent send
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
  double sender_cpu_percent = 0;      ///< of that, the sender thread's, % of one core
  double receiver_cpu_percent = 0;    ///< of that, the receiver thread's, % of one core
  double max_send_lag_ms = 0;         ///< worst lateness of a send tick in the interval, ms
  bool sender_realtime = false;       ///< the sender thread ran with SCHED_FIFO
  std::uint64_t send_errors = 0;      ///< send() failures (EAGAIN, refused)
  int leak_calls = 0;                 ///< calls scanned
  int keys_in_sent_audio = 0;         ///< key fragments the scan finds in what callers sent
  int fragments_at_agent = 0;         ///< key fragments the scan finds at the agents
  double setup_seconds = 0;           ///< ng set-up of all calls, s
  bool shared_sockets = false;        ///< the generator's socket mode
  int delay_buffer_ms = 0;            ///< look-ahead asked for in block DTMF (0: not sent), ms
  latency_summary to_agent, to_caller;  ///< caller -> agent (masked), agent -> caller
  std::uint64_t socket_drops = 0;  ///< datagrams our receive sockets dropped (SO_RXQ_OVFL)
  double rss_idle_kib = 0, rss_loaded_kib = 0;    ///< daemon VmRSS after ping / warm-up, KiB
  double anon_idle_kib = 0, anon_loaded_kib = 0;  ///< daemon RssAnon after ping / warm-up, KiB
  double rss_kib_per_call = 0, anon_kib_per_call = 0;  ///< (loaded - idle) / calls, KiB
  /// Median over the scanned calls of audio_shift_ms() (-1: not found), ms.
  double audio_shift_ms = -1;
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

/// VmRSS and RssAnon of a process from /proc/PID/status, KiB; nullopt when unreadable.
std::optional<std::pair<double, double>> process_memory_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  double rss = -1, anon = -1;
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("VmRSS:", 0) == 0) rss = std::atof(l.c_str() + 6);
    if (l.rfind("RssAnon:", 0) == 0) anon = std::atof(l.c_str() + 8);
  }
  if (rss < 0 || anon < 0) return std::nullopt;
  return std::pair{rss, anon};
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
// The load: per call leg a socket of its own, connected to its proxy port; or (shared sockets)
// one socket for every caller leg and one for every agent leg, each datagram addressed to its
// call's proxy port.

struct call_endpoints {
  int caller_fd = -1, agent_fd = -1;  // per-leg sockets; -1 with shared sockets
  sockaddr_in to_caller_facing{}, to_agent_facing{};  // where the caller / the agent sends
  bool rfc4733 = false;           // keys as telephone-events instead of in-band
  std::size_t caller_offset = 0;  // packet offset into the caller clip
  std::size_t agent_offset = 0;
  std::uint32_t caller_ssrc = 0, agent_ssrc = 0, caller_ts0 = 0, agent_ts0 = 0;
  int leak_slot = -1;  // index into the captures, or -1
  // Last SO_RXQ_OVFL count seen on the per-leg sockets (the receiver thread's).
  std::uint32_t caller_drops = 0, agent_drops = 0;
};

/// The generator's two sockets with --shared-sockets (else both -1): every caller leg sends and
/// receives on `caller_fd`, every agent leg on `agent_fd`. Owned by run_one.
struct shared_sockets {
  int caller_fd = -1, agent_fd = -1;
  std::vector<std::int32_t> call_at_port;  ///< call whose proxy port is the index, or -1
  ~shared_sockets() {
    if (caller_fd >= 0) ::close(caller_fd);
    if (agent_fd >= 0) ::close(agent_fd);
  }
};

std::int64_t realtime_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

/// Kernel receive stamps (SCM_TIMESTAMPNS, CLOCK_REALTIME like realtime_ns()) and the socket's
/// drop count (SO_RXQ_OVFL) on every datagram read from `fd`.
void enable_receive_stamps(int fd) {
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  ::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
}

/// Socket buffers of `bytes` in both directions: past the sysctl limits when permitted (root,
/// SO_*BUFFORCE), else as large as net.core.[rw]mem_max allow. Returns the receive buffer the
/// kernel granted, bytes.
int enlarge_buffers(int fd, int bytes) {
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  int granted = 0;
  socklen_t n = sizeof granted;
  ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &n);
  return granted;
}

constexpr std::size_t send_ring_slots = 64;  // 1.28 s of one stream's packets

/// Send times of every stream's last 64 packets, for the far end to time what arrives. Slot
/// stream * 64 + (packet number mod 64) holds (RTP timestamp << 32) | (realtime_ns() mod 2^32);
/// stream 2i is call i's caller -> agent, 2i + 1 its agent -> caller. For an RFC 4733 event
/// packet the timestamp is the one its audio packet would have carried. The sender stores, the
/// receiver loads, both relaxed: a slot read too early or already overwritten holds another
/// timestamp, and the packet is not timed.
using send_ring = std::vector<std::atomic<std::uint64_t>>;

/// Latencies in 10 µs bins up to 200 ms (the last bin holds all later ones). The receiver
/// thread's while it runs; the main thread reads it after joining.
class latency_histogram {
 public:
  static constexpr std::int64_t bin_ns = 10'000;
  static constexpr std::size_t bins = 20'000;

  latency_histogram() : counts_(bins + 1, 0) {}

  void add(std::int64_t ns) {
    const auto b = std::min(static_cast<std::size_t>(ns / bin_ns), bins);
    ++counts_[b];
    ++total_;
    max_ns_ = std::max(max_ns_, ns);
  }

  [[nodiscard]] std::uint64_t total() const { return total_; }
  [[nodiscard]] double max_ms() const { return static_cast<double>(max_ns_) / 1e6; }

  /// The upper edge of the bin holding the q-quantile (0 < q <= 1), ms; 0 when empty.
  [[nodiscard]] double quantile_ms(double q) const {
    if (total_ == 0) return 0;
    const auto want = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b <= bins; ++b) {
      seen += counts_[b];
      if (seen >= want) return static_cast<double>((b + 1) * bin_ns) / 1e6;
    }
    return max_ms();
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::int64_t max_ns_ = 0;
};

/// What the receiver timed over the measured interval; read after it has been joined.
struct receive_record {
  latency_histogram to_agent, to_caller;
  std::uint64_t unmatched_to_agent = 0, unmatched_to_caller = 0;
  std::uint64_t socket_drops = 0;  ///< SO_RXQ_OVFL totals of our receive sockets, whole run
};

/// Counters shared by the sender, the receiver and the main thread (relaxed atomics: totals only).
struct load_counters {
  std::atomic<std::uint64_t> sent{0}, send_errors{0};
  std::atomic<std::uint64_t> received_at_agent{0}, received_at_caller{0};
  std::atomic<std::int64_t> max_lag_ns{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> realtime{false};  // the sender runs SCHED_FIFO
  // capture_received also marks the measured receive interval, in which packets are timed.
  std::atomic<bool> capture_sent{false}, capture_received{false};
  // Receive snapshot: the main thread sets 1; the receiver drains every socket, stores the
  // totals below and sets 0.
  std::atomic<int> snapshot_request{0};
  std::uint64_t snapshot_at_agent = 0, snapshot_at_caller = 0;
  /// CPU time of the sender and the receiver thread so far, refreshed every pass, ns.
  std::atomic<std::int64_t> sender_cpu_ns{0}, receiver_cpu_ns{0};
};

std::int64_t thread_cpu_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

struct capture {
  std::vector<std::uint8_t> sent;      // caller payloads sent (μ-law)
  std::vector<std::uint8_t> received;  // payloads that reached the agent (μ-law)
  std::uint32_t sent_ts0 = 0, received_ts0 = 0;  // RTP timestamps of their first samples
};

constexpr std::size_t packet_bytes = rtp_header_bytes + samples_per_packet;

/// Datagrams gathered for one sendmmsg on a shared socket, each with its own destination.
struct outbox {
  // Stamped together before one sendmmsg, which delivers them one after the other (~4 µs
  // each on loopback here): the last one's stamp is early by up to ~30 µs.
  static constexpr int capacity = 8;
  int fd = -1;
  int count = 0;
  std::array<std::array<std::uint8_t, packet_bytes>, capacity> packets{};
  std::array<iovec, capacity> iov{};
  std::array<mmsghdr, capacity> msgs{};
  std::array<std::atomic<std::uint64_t>*, capacity> slot{};  ///< where each send time goes
  std::array<std::uint32_t, capacity> ts{};                  ///< each one's ring timestamp

  explicit outbox(int socket) : fd(socket) {
    for (int i = 0; i < capacity; ++i) {
      packets[i][0] = 0x80;
      iov[i].iov_base = packets[i].data();
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
  }

  // Stamps and sends what is gathered; adds to `sent` and `errors`.
  void flush(std::uint64_t& sent, std::uint64_t& errors) {
    if (count == 0) return;
    const auto now = static_cast<std::uint32_t>(realtime_ns());
    for (int i = 0; i < count; ++i)
      slot[i]->store(static_cast<std::uint64_t>(ts[i]) << 32 | now, std::memory_order_relaxed);
    int done = 0;
    while (done < count) {
      const int r = ::sendmmsg(fd, msgs.data() + done, static_cast<unsigned>(count - done),
                               MSG_DONTWAIT);
      if (r > 0) {
        done += r;
        sent += static_cast<std::uint64_t>(r);
      } else {
        ++done;  // the first one failed; skip it
        ++errors;
      }
    }
    count = 0;
  }
};

void sender_loop(const options& o, const clips& clip, std::vector<call_endpoints>& calls,
                 const shared_sockets& shared, send_ring& ring, std::vector<capture>& captures,
                 load_counters& k) {
  const std::size_t streams = calls.size() * 2;
  const double rate = o.pps * static_cast<double>(streams);  // packets/s, all streams
  // Pacing first: a real-time priority (when permitted, e.g. as root) keeps the 1 ms ticks on
  // time on a busy machine; the thread sleeps between ticks, so it takes no more than it sends.
  sched_param sp{};
  sp.sched_priority = 10;
  k.realtime = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &sp) == 0;

  // Writes packet `seq` (of all streams, round robin) into `packet` from byte 1 on; returns its
  // size, and in `ring_ts` the timestamp its audio packet carries.
  auto build = [&](std::uint64_t seq, std::uint8_t* packet, bool capturing,
                   std::uint32_t& ring_ts) -> std::size_t {
    const std::size_t s = seq % streams;
    const std::uint64_t n = seq / streams;  // packet number within the stream
    call_endpoints& c = calls[s / 2];
    const bool from_caller = s % 2 == 0;
    std::size_t size = packet_bytes;
    std::uint32_t ts, ssrc;
    std::uint8_t pt = pt_pcmu, marker = 0;
    if (from_caller) {
      const std::size_t i = (c.caller_offset + n) % clip.caller_packets;
      ts = c.caller_ts0 + static_cast<std::uint32_t>(n * samples_per_packet);
      ring_ts = ts;
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
        std::memcpy(packet + rtp_header_bytes, &audio[i * samples_per_packet],
                    samples_per_packet);
        if (capturing && c.leak_slot >= 0) {
          auto& slot = captures[static_cast<std::size_t>(c.leak_slot)];
          auto& cap = slot.sent;
          if (cap.empty()) slot.sent_ts0 = ts;
          cap.insert(cap.end(), &audio[i * samples_per_packet],
                     &audio[i * samples_per_packet] + samples_per_packet);
        }
      }
    } else {
      const std::size_t i = (c.agent_offset + n) % clip.agent_packets;
      ts = c.agent_ts0 + static_cast<std::uint32_t>(n * samples_per_packet);
      ring_ts = ts;
      ssrc = c.agent_ssrc;
      std::memcpy(packet + rtp_header_bytes, &clip.agent[i * samples_per_packet],
                  samples_per_packet);
    }
    packet[1] = static_cast<std::uint8_t>(marker | pt);
    packet[2] = static_cast<std::uint8_t>(n >> 8);
    packet[3] = static_cast<std::uint8_t>(n);
    for (int b = 0; b < 4; ++b) {
      packet[4 + b] = static_cast<std::uint8_t>(ts >> (24 - 8 * b));
      packet[8 + b] = static_cast<std::uint8_t>(ssrc >> (24 - 8 * b));
    }
    return size;
  };

  const bool is_shared = shared.caller_fd >= 0;
  std::array<std::uint8_t, packet_bytes> packet{};
  packet[0] = 0x80;
  // Heap, once: two outboxes are 6 KiB, too much for a thread's stack to take lightly.
  auto from_callers = std::make_unique<outbox>(shared.caller_fd);
  auto from_agents = std::make_unique<outbox>(shared.agent_fd);
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
      call_endpoints& c = calls[s / 2];
      const bool from_caller = s % 2 == 0;
      auto& slot = ring[s * send_ring_slots + (done / streams) % send_ring_slots];
      if (is_shared) {
        outbox& box = from_caller ? *from_callers : *from_agents;
        const int j = box.count;
        box.iov[j].iov_len = build(done, box.packets[j].data(), capturing, box.ts[j]);
        box.msgs[j].msg_hdr.msg_name = from_caller ? &c.to_caller_facing : &c.to_agent_facing;
        box.slot[j] = &slot;
        if (++box.count == outbox::capacity) box.flush(sent, errors);
        continue;
      }
      std::uint32_t ring_ts = 0;
      const std::size_t size = build(done, packet.data(), capturing, ring_ts);
      slot.store(static_cast<std::uint64_t>(ring_ts) << 32 |
                     static_cast<std::uint32_t>(realtime_ns()),
                 std::memory_order_relaxed);
      const int fd = from_caller ? c.caller_fd : c.agent_fd;
      if (::send(fd, packet.data(), size, MSG_DONTWAIT) == static_cast<ssize_t>(size))
        ++sent;
      else
        ++errors;
    }
    if (is_shared) {
      from_callers->flush(sent, errors);
      from_agents->flush(sent, errors);
    }
    k.sent.fetch_add(sent, std::memory_order_relaxed);
    if (errors) k.send_errors.fetch_add(errors, std::memory_order_relaxed);
    k.sender_cpu_ns.store(thread_cpu_ns(), std::memory_order_relaxed);
  }
}

// Drains every socket that has data, then sleeps, so that each recvmmsg takes a few packets.
// Packets are timed by their kernel receive stamps, so the sleep adds nothing to the latency.
void receiver_loop(std::vector<call_endpoints>& calls, const shared_sockets& shared,
                   const send_ring& ring, std::vector<capture>& captures, load_counters& k,
                   receive_record& rec) {
  const bool is_shared = shared.caller_fd >= 0;
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (is_shared) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = 0;  // 0: agent legs (caller -> agent); 1: caller legs
    ::epoll_ctl(ep, EPOLL_CTL_ADD, shared.agent_fd, &e);
    e.data.u64 = 1;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, shared.caller_fd, &e);
  } else {
    for (std::size_t i = 0; i < calls.size(); ++i) {
      epoll_event e{};
      e.events = EPOLLIN;
      e.data.u64 = i * 2;  // even: the agent's socket (caller -> agent); odd: the caller's
      ::epoll_ctl(ep, EPOLL_CTL_ADD, calls[i].agent_fd, &e);
      e.data.u64 = i * 2 + 1;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, calls[i].caller_fd, &e);
    }
  }
  constexpr int batch = 64;
  constexpr std::size_t control_bytes =
      CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(std::uint32_t)) + 32;
  std::vector<std::array<std::uint8_t, 1500>> buffers(batch);
  std::vector<std::array<std::uint8_t, control_bytes>> controls(batch);
  std::vector<sockaddr_in> sources(batch);
  std::vector<iovec> iov(batch);
  std::vector<mmsghdr> msgs(batch);
  std::vector<epoll_event> events(4096);
  std::uint32_t shared_drops[2] = {0, 0};

  // One datagram from the proxy to call `ci`'s agent (agent_side) or caller.
  auto on_packet = [&](std::size_t ci, bool agent_side, int j, bool measuring, bool capturing) {
    call_endpoints& c = calls[ci];
    msghdr& h = msgs[j].msg_hdr;
    const std::uint8_t* p = buffers[j].data();
    const std::size_t len = msgs[j].msg_len;
    std::int64_t rx_ns = -1;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&h); cm; cm = CMSG_NXTHDR(&h, cm)) {
      if (cm->cmsg_level != SOL_SOCKET) continue;
      if (cm->cmsg_type == SCM_TIMESTAMPNS) {
        timespec t{};
        std::memcpy(&t, CMSG_DATA(cm), sizeof t);
        rx_ns = static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
      } else if (cm->cmsg_type == SO_RXQ_OVFL) {
        std::uint32_t d = 0;
        std::memcpy(&d, CMSG_DATA(cm), sizeof d);
        std::uint32_t& seen = is_shared ? shared_drops[agent_side ? 0 : 1]
                                        : (agent_side ? c.agent_drops : c.caller_drops);
        seen = std::max(seen, d);
      }
    }
    if (len < rtp_header_bytes || (p[1] & 0x7f) != pt_pcmu) return;
    if (measuring && rx_ns >= 0) {
      // Audio only: event packets share their key's timestamp, and may be withheld.
      const std::uint32_t ts = static_cast<std::uint32_t>(p[4]) << 24 |
                               static_cast<std::uint32_t>(p[5]) << 16 |
                               static_cast<std::uint32_t>(p[6]) << 8 | p[7];
      const std::uint32_t ts0 = agent_side ? c.caller_ts0 : c.agent_ts0;
      const std::size_t stream = ci * 2 + (agent_side ? 0 : 1);
      const std::size_t slot = (ts - ts0) / samples_per_packet % send_ring_slots;
      const std::uint64_t sent = ring[stream * send_ring_slots + slot].load(
          std::memory_order_relaxed);
      const auto dt = static_cast<std::int32_t>(static_cast<std::uint32_t>(rx_ns) -
                                                static_cast<std::uint32_t>(sent));
      if (static_cast<std::uint32_t>(sent >> 32) != ts || dt < 0)
        ++(agent_side ? rec.unmatched_to_agent : rec.unmatched_to_caller);
      else
        (agent_side ? rec.to_agent : rec.to_caller).add(dt);
    }
    if (capturing && agent_side && c.leak_slot >= 0) {
      std::size_t h0 = rtp_header_bytes + 4u * (p[0] & 0x0f);
      if (p[0] & 0x10 && len >= h0 + 4) h0 += 4 + 4u * ((p[h0 + 2] << 8) | p[h0 + 3]);
      if (len <= h0) return;
      auto& slot = captures[static_cast<std::size_t>(c.leak_slot)];
      if (slot.received.empty())
        slot.received_ts0 = static_cast<std::uint32_t>(p[4]) << 24 |
                            static_cast<std::uint32_t>(p[5]) << 16 |
                            static_cast<std::uint32_t>(p[6]) << 8 | p[7];
      slot.received.insert(slot.received.end(), p + h0, p + len);
    }
  };

  auto drain = [&](int timeout_ms) {
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), timeout_ms);
    const bool capturing = k.capture_received.load(std::memory_order_relaxed);
    std::uint64_t at_agent = 0, at_caller = 0;
    for (int i = 0; i < n; ++i) {
      const std::size_t id = events[static_cast<std::size_t>(i)].data.u64;
      const bool agent_side = id % 2 == 0;
      int fd;
      if (is_shared)
        fd = agent_side ? shared.agent_fd : shared.caller_fd;
      else
        fd = agent_side ? calls[id / 2].agent_fd : calls[id / 2].caller_fd;
      for (;;) {
        for (int j = 0; j < batch; ++j) {
          iov[j] = {buffers[j].data(), buffers[j].size()};
          msgs[j] = {};
          msgs[j].msg_hdr.msg_iov = &iov[j];
          msgs[j].msg_hdr.msg_iovlen = 1;
          msgs[j].msg_hdr.msg_control = controls[j].data();
          msgs[j].msg_hdr.msg_controllen = control_bytes;
          if (is_shared) {
            msgs[j].msg_hdr.msg_name = &sources[j];
            msgs[j].msg_hdr.msg_namelen = sizeof(sockaddr_in);
          }
        }
        const int got = ::recvmmsg(fd, msgs.data(), batch, MSG_DONTWAIT, nullptr);
        if (got <= 0) break;
        for (int j = 0; j < got; ++j) {
          std::size_t ci = id / 2;
          if (is_shared) {
            const std::int32_t call = shared.call_at_port[ntohs(sources[j].sin_port)];
            if (call < 0) continue;  // not from a call's RTP port (RTCP, a stray)
            ci = static_cast<std::size_t>(call);
          }
          ++(agent_side ? at_agent : at_caller);
          on_packet(ci, agent_side, j, capturing, capturing);
        }
        if (got < batch) break;
      }
    }
    k.received_at_agent.fetch_add(at_agent, std::memory_order_relaxed);
    k.received_at_caller.fetch_add(at_caller, std::memory_order_relaxed);
  };
  // Let packets gather so that each socket is drained with few system calls: per-leg sockets
  // every ~50 ms (about 2.5 packets per recvmmsg at 50 packets/s), the two shared ones every
  // ~2 ms (their batches fill anyway). Either answers a snapshot request within 2 ms.
  const int naps = is_shared ? 1 : 25;
  while (!k.stop.load(std::memory_order_relaxed)) {
    drain(20);
    k.receiver_cpu_ns.store(thread_cpu_ns(), std::memory_order_relaxed);
    for (int i = 0; i < naps && k.snapshot_request.load() == 0; ++i) ::usleep(2'000);
    if (k.snapshot_request.load() == 1) {
      drain(0);
      k.snapshot_at_agent = k.received_at_agent.load();
      k.snapshot_at_caller = k.received_at_caller.load();
      k.snapshot_request.store(0);
    }
  }
  rec.socket_drops = std::uint64_t{shared_drops[0]} + shared_drops[1];
  for (const auto& c : calls) rec.socket_drops += std::uint64_t{c.caller_drops} + c.agent_drops;
  ::close(ep);
}

int scan_keys(const std::vector<std::uint8_t>& ulaw) {
  if (ulaw.empty()) return 0;
  std::vector<float> audio(ulaw.size());
  dsp::g711_decode(dsp::g711_law::ulaw, ulaw, audio);
  return static_cast<int>(dsp::scan_for_dtmf_leaks(audio).size());
}

// How far the audio the agent received lags behind the RTP timestamps it came with, ms: the
// shift D for which the audio at timestamp T equals what the caller sent at T - D, found by
// cross-correlation over -20..250 ms (2 s of audio from 0.1 s in); nullopt when the capture is
// too short. A proxy that holds packets back shows D = 0; one that delays the audio inside the
// stream (and forwards each packet at once) shows its look-ahead. Assumes no loss in between.
std::optional<double> audio_shift_ms(const capture& cap) {
  constexpr std::ptrdiff_t start = 800, window = 16000, min_d = -160, max_d = 2000;
  const auto rn = static_cast<std::ptrdiff_t>(cap.received.size());
  const auto sn = static_cast<std::ptrdiff_t>(cap.sent.size());
  if (rn < start + window) return std::nullopt;
  std::vector<float> r(cap.received.size()), s(cap.sent.size());
  dsp::g711_decode(dsp::g711_law::ulaw, cap.received, r);
  dsp::g711_decode(dsp::g711_law::ulaw, cap.sent, s);
  // received[i] has timestamp received_ts0 + i; sent[j] has sent_ts0 + j; j = i + k.
  const auto base = static_cast<std::int32_t>(cap.received_ts0 - cap.sent_ts0);
  double best = -1;
  std::optional<double> shift;
  for (std::ptrdiff_t d = min_d; d <= max_d; ++d) {
    const std::ptrdiff_t k = base - d;
    if (start + k < 0 || start + k + window > sn) continue;
    double dot = 0, rr = 0, ss = 0;
    for (std::ptrdiff_t i = start; i < start + window; ++i) {
      const double a = r[static_cast<std::size_t>(i)], b = s[static_cast<std::size_t>(i + k)];
      dot += a * b;
      rr += a * a;
      ss += b * b;
    }
    const double score = rr > 0 && ss > 0 ? dot / std::sqrt(rr * ss) : 0;
    if (score > best) {
      best = score;
      shift = static_cast<double>(d) / 8.0;
    }
  }
  return best > 0.5 ? shift : std::nullopt;
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
  if (name == "rtpengine" || name == "rtpengine-plain") {
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
  error = "unknown proxy `" + name + "` (toneguard, rtpengine or rtpengine-plain)";
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
  m.shared_sockets = o.shared_sockets;
  // rtpengine-plain: the same calls without block DTMF, i.e. plain userspace forwarding.
  const bool masking = name != "rtpengine-plain";
  m.delay_buffer_ms = masking ? o.delay_buffer_ms : 0;
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
  const auto memory_idle = process_memory_kib(daemon.pid());

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
  shared_sockets shared;
  if (o.shared_sockets) {
    shared.caller_fd = udp_socket();
    shared.agent_fd = udp_socket();
    if (shared.caller_fd < 0 || shared.agent_fd < 0)
      return fail(std::string("cannot open the shared UDP sockets: ") + std::strerror(errno));
    // Room for a second of the whole load each way, so that a stalled receiver drops nothing.
    for (int fd : {shared.caller_fd, shared.agent_fd}) {
      enlarge_buffers(fd, 64 << 20);
      enable_receive_stamps(fd);
    }
    shared.call_at_port.assign(65536, -1);
  }
  std::vector<capture> captures;
  const auto setup_start = steady::now();
  for (int i = 0; i < calls_wanted && !g_interrupted; ++i) {
    call_endpoints& c = calls[static_cast<std::size_t>(i)];
    if (!o.shared_sockets) {
      c.caller_fd = udp_socket();
      c.agent_fd = udp_socket();
      if (c.caller_fd < 0 || c.agent_fd < 0)
        return fail("cannot open UDP sockets for call " + std::to_string(i) + ": " +
                    std::strerror(errno) + " (ulimit -n?)");
      enable_receive_stamps(c.caller_fd);
      enable_receive_stamps(c.agent_fd);
    }
    const int caller_fd = o.shared_sockets ? shared.caller_fd : c.caller_fd;
    const int agent_fd = o.shared_sockets ? shared.agent_fd : c.agent_fd;
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
    offer.set("sdp", sdp_for(local_port(caller_fd), 1000 + static_cast<std::uint64_t>(i)));
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
    answer.set("sdp", sdp_for(local_port(agent_fd), 2000 + static_cast<std::uint64_t>(i)));
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

    if (masking) {
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
    }

    c.to_caller_facing = loopback(caller_facing);
    c.to_agent_facing = loopback(agent_facing);
    if (o.shared_sockets) {
      shared.call_at_port[caller_facing] = i;
      shared.call_at_port[agent_facing] = i;
    } else if (::connect(c.caller_fd, reinterpret_cast<const sockaddr*>(&c.to_caller_facing),
                         sizeof c.to_caller_facing) != 0 ||
               ::connect(c.agent_fd, reinterpret_cast<const sockaddr*>(&c.to_agent_facing),
                         sizeof c.to_agent_facing) != 0) {
      return fail(std::string("connect: ") + std::strerror(errno));
    }
  }
  if (g_interrupted) return fail("interrupted");
  m.setup_seconds = std::chrono::duration<double>(steady::now() - setup_start).count();

  // The send ring, every slot holding a timestamp its stream never sends (ts0 + 160 j + 1).
  send_ring ring(calls.size() * 2 * send_ring_slots);
  for (std::size_t s = 0; s < calls.size() * 2; ++s) {
    const std::uint32_t ts0 = s % 2 == 0 ? calls[s / 2].caller_ts0 : calls[s / 2].agent_ts0;
    for (std::size_t j = 0; j < send_ring_slots; ++j)
      ring[s * send_ring_slots + j].store(
          static_cast<std::uint64_t>(ts0 + samples_per_packet * j + 1) << 32);
  }
  auto record = std::make_unique<receive_record>();
  load_counters k;
  std::thread receiver([&] { receiver_loop(calls, shared, ring, captures, k, *record); });
  std::thread sender([&] { sender_loop(o, clip, calls, shared, ring, captures, k); });
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
  const double shift = 0.1 + m.delay_buffer_ms / 1000.0;
  auto receive_snapshot = [&]() -> std::pair<std::uint64_t, std::uint64_t> {
    k.snapshot_request.store(1);
    while (k.snapshot_request.load() != 0)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    return {k.snapshot_at_agent, k.snapshot_at_caller};
  };
  sleep_for(o.warmup);
  const auto memory_loaded = process_memory_kib(daemon.pid());
  const auto t0 = steady::now();
  const auto cpu0 = process_cpu(daemon.pid());
  const double self0 = self_cpu_seconds();
  const std::int64_t send_cpu0 = k.sender_cpu_ns.load(), receive_cpu0 = k.receiver_cpu_ns.load();
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
  const std::int64_t send_cpu1 = k.sender_cpu_ns.load(), receive_cpu1 = k.receiver_cpu_ns.load();
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
  m.sender_cpu_percent = 100.0 * static_cast<double>(send_cpu1 - send_cpu0) / 1e9 / m.seconds;
  m.receiver_cpu_percent =
      100.0 * static_cast<double>(receive_cpu1 - receive_cpu0) / 1e9 / m.seconds;
  m.max_send_lag_ms = lag_ms;
  m.send_errors = k.send_errors.load();
  m.sender_realtime = k.realtime.load();
  auto summarize = [](const latency_histogram& h, std::uint64_t unmatched) {
    latency_summary l;
    const bool any = h.total() > 0;
    l.p50_ms = any ? h.quantile_ms(0.50) : std::nan("");
    l.p99_ms = any ? h.quantile_ms(0.99) : std::nan("");
    l.max_ms = any ? h.max_ms() : std::nan("");
    l.matched = h.total();
    l.unmatched = unmatched;
    return l;
  };
  m.to_agent = summarize(record->to_agent, record->unmatched_to_agent);
  m.to_caller = summarize(record->to_caller, record->unmatched_to_caller);
  m.socket_drops = record->socket_drops;
  if (memory_idle && memory_loaded) {
    m.rss_idle_kib = memory_idle->first;
    m.anon_idle_kib = memory_idle->second;
    m.rss_loaded_kib = memory_loaded->first;
    m.anon_loaded_kib = memory_loaded->second;
    m.rss_kib_per_call = (m.rss_loaded_kib - m.rss_idle_kib) / m.calls;
    m.anon_kib_per_call = (m.anon_loaded_kib - m.anon_idle_kib) / m.calls;
  }
  m.leak_calls = static_cast<int>(captures.size());
  std::vector<double> shifts;
  for (const auto& cap : captures)
    if (const auto d = audio_shift_ms(cap)) shifts.push_back(*d);
  if (!shifts.empty()) {
    std::sort(shifts.begin(), shifts.end());
    m.audio_shift_ms = shifts[(shifts.size() - 1) / 2];
  }
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

// p99 of caller -> agent audio delay beyond the look-ahead asked for, ms: packet transit p99,
// plus the audio's shift inside the stream (toneguard's look-ahead; 0 for rtpengine, which
// holds the packets instead), minus the delay-buffer.
double c2a_p99_beyond_lookahead_ms(const measurement& m) {
  return m.to_agent.p99_ms + std::max(m.audio_shift_ms, 0.0) - m.delay_buffer_ms;
}

// Whether the generator sent the offered load and the proxy forwarded it (within 1%).
bool carried(const measurement& m) {
  return m.sent_pps >= 0.99 * m.offered_pps && m.loss_percent < 1.0;
}

// The run whose ns/packet is the median of `all` for `proxy` at `calls` (odd count: the middle
// one; even: the lower middle), or nullptr when no run succeeded.
const measurement* median_run(const std::vector<measurement>& all, const std::string& proxy,
                              int calls) {
  std::vector<const measurement*> ok;
  for (const auto& m : all)
    if (m.proxy == proxy && m.calls == calls && m.ok) ok.push_back(&m);
  if (ok.empty()) return nullptr;
  std::sort(ok.begin(), ok.end(),
            [](auto* a, auto* b) { return a->ns_per_packet < b->ns_per_packet; });
  return ok[(ok.size() - 1) / 2];
}

// `v` with 3 decimals, or null when it is not a number.
std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string json_latency(const latency_summary& l) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"p50\": %s, \"p99\": %s, \"max\": %s, \"timed\": %llu, "
                "\"unmatched\": %llu}",
                json_number(l.p50_ms).c_str(), json_number(l.p99_ms).c_str(),
                json_number(l.max_ms).c_str(), static_cast<unsigned long long>(l.matched),
                static_cast<unsigned long long>(l.unmatched));
  return buf;
}

// One JSON line for `proxy` at `calls`: its median run of `all`, with the run settings, and for
// toneguard the ratios of the rtpengine profiles' ns/packet to its own at the same load.
void print_json_line(const options& o, const clips& clip, const std::vector<measurement>& all,
                     const std::string& proxy, int calls) {
  std::string runs_ns;
  const measurement* last_failure = nullptr;
  for (const auto& m : all) {
    if (m.proxy != proxy || m.calls != calls) continue;
    if (!m.ok) last_failure = &m;
    if (!m.ok) continue;
    char b[32];
    std::snprintf(b, sizeof b, "%s%.1f", runs_ns.empty() ? "" : ", ", m.ns_per_packet);
    runs_ns += b;
  }
  std::printf(
      "{\"proxy\": \"%s\", \"calls\": %d, \"streams\": %d, \"machine\": \"%s\", \"cpus\": %ld, "
      "\"pps_per_stream\": %.1f, \"seconds\": %.1f, \"warmup\": %.1f, "
      "\"dtmf_security\": \"%s\", \"rfc4733_every\": %d, \"speech\": \"%s\", "
      "\"shared_sockets\": %s, \"runs\": %d, ",
      proxy.c_str(), calls, calls * 2, json_escape(machine_model()).c_str(),
      ::sysconf(_SC_NPROCESSORS_ONLN), o.pps, o.seconds, o.warmup,
      json_escape(o.dtmf_security).c_str(), o.rfc4733_every,
      json_escape(clip.speech_source).c_str(), o.shared_sockets ? "true" : "false", o.runs);
  const measurement* m = median_run(all, proxy, calls);
  if (!m) {
    std::printf("\"ok\": false, \"error\": \"%s\"}\n",
                last_failure ? json_escape(last_failure->error).c_str() : "not run");
    return;
  }
  std::printf(
      "\"ok\": true, \"median_run\": %d, \"ns_per_packet_all_runs\": [%s], "
      "\"seconds_measured\": %.3f, \"offered_pps\": %.1f, \"sent_pps\": %.1f, "
      "\"forwarded_pps\": %.1f, \"forwarded_to_agent_pps\": %.1f, \"loss_percent\": %.3f, "
      "\"cpu_seconds\": %.3f, \"cpu_percent\": %.2f, \"cpu_ns_per_forwarded_packet\": %.1f, "
      "\"daemon_threads\": %d, \"generator_cpu_percent\": %.1f, \"sender_cpu_percent\": %.1f, "
      "\"receiver_cpu_percent\": %.1f, \"max_send_lag_ms\": %.2f, "
      "\"sender_realtime\": %s, \"send_errors\": %llu, \"socket_drops\": %llu, "
      "\"leak_check_calls\": %d, \"keys_in_sent_audio\": %d, \"key_fragments_at_agent\": %d, "
      "\"setup_seconds\": %.2f, \"carried\": %s, \"delay_buffer_ms\": %d, "
      "\"latency_caller_to_agent_ms\": %s, \"latency_agent_to_caller_ms\": %s, "
      "\"caller_to_agent_p99_beyond_delay_buffer_ms\": %s, "
      "\"caller_to_agent_audio_shift_ms\": %.3f, "
      "\"rss_kib_idle\": %.0f, \"rss_kib_loaded\": %.0f, \"rss_anon_kib_idle\": %.0f, "
      "\"rss_anon_kib_loaded\": %.0f, \"rss_kib_per_call\": %.2f, "
      "\"rss_anon_kib_per_call\": %.2f",
      m->run, runs_ns.c_str(), m->seconds, m->offered_pps, m->sent_pps, m->forwarded_pps,
      m->forwarded_to_agent_pps, m->loss_percent, m->cpu_seconds, m->cpu_percent,
      m->ns_per_packet, m->daemon_threads_seen, m->generator_cpu_percent, m->sender_cpu_percent,
      m->receiver_cpu_percent, m->max_send_lag_ms,
      m->sender_realtime ? "true" : "false", static_cast<unsigned long long>(m->send_errors),
      static_cast<unsigned long long>(m->socket_drops), m->leak_calls, m->keys_in_sent_audio,
      m->fragments_at_agent, m->setup_seconds, carried(*m) ? "true" : "false",
      m->delay_buffer_ms, json_latency(m->to_agent).c_str(), json_latency(m->to_caller).c_str(),
      json_number(c2a_p99_beyond_lookahead_ms(*m)).c_str(), m->audio_shift_ms, m->rss_idle_kib, m->rss_loaded_kib,
      m->anon_idle_kib, m->anon_loaded_kib, m->rss_kib_per_call, m->anon_kib_per_call);
  if (proxy == "toneguard" && m->ns_per_packet > 0)
    for (const char* other : {"rtpengine-plain", "rtpengine"})
      if (const measurement* r = median_run(all, other, calls)) {
        std::string key = other;
        std::replace(key.begin(), key.end(), '-', '_');
        std::printf(", \"ratio_vs_%s\": %.3f", key.c_str(), r->ns_per_packet / m->ns_per_packet);
      }
  std::printf("}\n");
}

void print_table_header() {
  std::printf("%-15s %-6s %7s %9s %9s %9s %6s %7s %6s %9s %6s %6s %8s %s\n", "proxy", "run",
              "streams", "offered/s", "sent/s", "fwd/s", "loss%", "CPU s", "CPU%", "ns/fwdpkt",
              "gen%", "lag ms", "KiB/call", "leaks/keys");
}

void print_table_row(const measurement& m, const std::string& run_label) {
  if (!m.ok) {
    std::printf("%-15s %-6s FAILED: %s\n", m.proxy.c_str(), run_label.c_str(), m.error.c_str());
    return;
  }
  std::printf(
      "%-15s %-6s %7d %9.0f %9.0f %9.0f %6.2f %7.2f %6.1f %9.0f %6.1f %6.1f %8.2f %5d/%-5d%s\n",
      m.proxy.c_str(), run_label.c_str(), m.streams, m.offered_pps, m.sent_pps, m.forwarded_pps,
      m.loss_percent, m.cpu_seconds, m.cpu_percent, m.ns_per_packet, m.generator_cpu_percent,
      m.max_send_lag_ms, m.rss_kib_per_call, m.fragments_at_agent, m.keys_in_sent_audio,
      carried(m) ? "" : "  NOT CARRIED");
  const auto& a = m.to_agent;
  const auto& c = m.to_caller;
  std::printf(
      "%-22s latency ms, caller->agent p50 %.2f p99 %.2f max %.2f (delay-buffer %d; %llu "
      "timed, %llu unmatched); agent->caller p50 %.2f p99 %.2f max %.2f (%llu timed, %llu "
      "unmatched); caller->agent audio shift %.3f ms; socket drops %llu; RssAnon %.2f "
      "KiB/call; gen%% send %.1f receive %.1f\n",
      "", a.p50_ms, a.p99_ms, a.max_ms, m.delay_buffer_ms,
      static_cast<unsigned long long>(a.matched), static_cast<unsigned long long>(a.unmatched),
      c.p50_ms, c.p99_ms, c.max_ms, static_cast<unsigned long long>(c.matched),
      static_cast<unsigned long long>(c.unmatched), m.audio_shift_ms,
      static_cast<unsigned long long>(m.socket_drops), m.anon_kib_per_call,
      m.sender_cpu_percent, m.receiver_cpu_percent);
}

// "toneguard's ns/packet is 1/X of rtpengine-plain's ..." for one load, when measured.
void print_ratios(const std::vector<measurement>& all, int calls) {
  const measurement* t = median_run(all, "toneguard", calls);
  if (!t || t->ns_per_packet <= 0) return;
  std::string line;
  for (const char* other : {"rtpengine-plain", "rtpengine"})
    if (const measurement* r = median_run(all, other, calls)) {
      char b[96];
      std::snprintf(b, sizeof b, "%s %s %.2f", line.empty() ? "" : ",", other,
                    r->ns_per_packet / t->ns_per_packet);
      line += b;
    }
  if (!line.empty())
    std::printf("%d calls: ns/pkt of the other proxy / toneguard's:%s\n", calls, line.c_str());
}

// The scaling table, proxies in the order asked, loads ascending within each (gnuplot draws
// each proxy's rows as one line). Rewritten after every load step.
bool write_scale_csv(const options& o, const std::vector<measurement>& all) {
  std::error_code ec;
  const fs::path path(o.scale_csv);
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  std::ofstream f(path);
  f << "calls,proxy,streams,cpu_percent,ns_per_packet,loss_percent,c2a_p50_ms,c2a_p99_ms,"
       "a2c_p50_ms,a2c_p99_ms,delay_buffer_ms,kib_per_call,anon_kib_per_call,carried,"
       "c2a_audio_shift_ms,c2a_p99_beyond_lookahead_ms\n";
  std::vector<int> loads = o.scale_calls;
  std::sort(loads.begin(), loads.end());
  char row[512];
  for (const auto& proxy : o.proxies)
    for (int calls : loads)
      if (const measurement* m = median_run(all, proxy, calls)) {
        std::snprintf(row, sizeof row,
                      "%d,%s,%d,%.2f,%.1f,%.3f,%.3f,%.3f,%.3f,%.3f,%d,%.2f,%.2f,%d,%.3f,%.3f\n",
                      calls, proxy.c_str(), m->streams, m->cpu_percent, m->ns_per_packet,
                      m->loss_percent, m->to_agent.p50_ms, m->to_agent.p99_ms,
                      m->to_caller.p50_ms, m->to_caller.p99_ms, m->delay_buffer_ms,
                      m->rss_kib_per_call, m->anon_kib_per_call, carried(*m) ? 1 : 0,
                      m->audio_shift_ms, c2a_p99_beyond_lookahead_ms(*m));
        f << row;
      }
  return static_cast<bool>(f);
}

// Draws the scaling CSV with gnuplot: CPU vs calls, p99 added latency vs calls. Returns a
// sentence for the reader (the PNG's path, or why there is none).
std::string plot_scale(const options& o) {
  const std::string gnuplot = find_in_path("gnuplot");
  if (gnuplot.empty())
    return "no PNG: gnuplot is not installed (apt-get install gnuplot-nox); the CSV is " +
           o.scale_csv;
  std::error_code ec;
  const fs::path png(o.scale_png);
  if (png.has_parent_path()) fs::create_directories(png.parent_path(), ec);
  fs::path script_path = png;
  script_path.replace_extension(".gp");
  std::string proxies;
  for (const auto& p : o.proxies) proxies += (proxies.empty() ? "" : " ") + p;
  std::ofstream f(script_path);
  // Columns: 1 calls, 2 proxy, 4 CPU %, 10 agent->caller p99, 16 caller->agent p99 beyond the
  // look-ahead. Log scale for the latency: an overloaded proxy's seconds next to 0.1 ms.
  f << "set datafile separator ','\n"
    << "set terminal pngcairo size 1500,600 font ',10'\n"
    << "set output '" << o.scale_png << "'\n"
    << "proxies = '" << proxies << "'\n"
    << "set multiplot layout 1,2 title 'toneguard-rtp-load: PCMU " << o.pps
    << " packets/s per stream, 2 streams per call, delay-buffer " << o.delay_buffer_ms
    << " ms (" << (o.shared_sockets ? "shared sockets" : "socket per leg")
    << "); only loads carried with < 1% loss'\n"
    << "set grid\nset key top left\nset xlabel 'concurrent calls'\n"
    << "set ylabel 'daemon CPU, % of one core'\nset yrange [0:*]\n"
    << "n = words(proxies)\n"
    << "plot for [i=1:n] '" << o.scale_csv
    << "' skip 1 using 1:(strcol(2) eq word(proxies, i) && $14 > 0 ? $4 : NaN) with linespoints lw 2 "
       "lc i title word(proxies, i)\n"
    << "set ylabel 'p99 added latency, ms (floor 0.01)'\nset logscale y\nset yrange [*:*]\n"
    << "clamp(v) = v < 0.01 ? 0.01 : v\n"
    << "plot for [i=1:n] '" << o.scale_csv
    << "' skip 1 using 1:(strcol(2) eq word(proxies, i) && $14 > 0 ? clamp($16) : NaN) with linespoints "
       "lw 2 lc i title word(proxies, i).' caller->agent, beyond the look-ahead', \\\n"
    << "     for [i=1:n] '" << o.scale_csv
    << "' skip 1 using 1:(strcol(2) eq word(proxies, i) && $14 > 0 ? clamp($10) : NaN) with linespoints "
       "dt 2 lc i title word(proxies, i).' agent->caller'\n"
    << "unset multiplot\n";
  f.close();
  if (!f) return "no PNG: cannot write " + script_path.string();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(gnuplot.c_str(), gnuplot.c_str(), script_path.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0)
    return "no PNG: gnuplot failed on " + script_path.string();
  return "plot: " + o.scale_png + " (script " + script_path.string() + ")";
}

void usage(std::FILE* to) {
  std::fprintf(
      to,
      "usage: toneguard-rtp-load [OPTION]...\n"
      "CPU time per forwarded RTP packet, added latency and memory per call of toneguard and\n"
      "rtpengine with DTMF detection and masking on, and of rtpengine forwarding plainly, one\n"
      "proxy after the other on loopback.\n\n"
      "  --proxy P            toneguard, rtpengine (block DTMF), rtpengine-plain (no block\n"
      "                       DTMF), both (toneguard and rtpengine) or all (default: all)\n"
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
      "  --shared-sockets     one socket for all callers, one for all agents (sendmmsg,\n"
      "                       recvmmsg; default)\n"
      "  --socket-per-leg     a connected socket per call leg, one send() per packet\n"
      "  --scale C1,C2,...    measure every proxy at each number of concurrent calls\n"
      "  --scale-csv PATH     the sweep's table (default out/bench/scaling.csv)\n"
      "  --scale-png PATH     its plot, when gnuplot is installed (default\n"
      "                       out/bench/scaling.png)\n"
      "  --toneguard PATH     (default: toneguard next to this program)\n"
      "  --rtpengine PATH     (default: rtpengine in PATH)\n"
      "  --toneguard-arg A, --rtpengine-arg A   extra daemon argument (repeatable)\n"
      "  --speech-dir DIR     8 kHz WAV prompts for the speech (default\n"
      "                       /usr/share/asterisk/sounds/en; synthetic if none)\n"
      "  --keep-logs          keep the daemons' logs and config (paths on stderr)\n"
      "  --json               one JSON line per proxy and load (its median run) instead of\n"
      "                       the table\n");
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
      else if (p == "all")
        o.proxies = {"toneguard", "rtpengine-plain", "rtpengine"};
      else if (p == "toneguard" || p == "rtpengine" || p == "rtpengine-plain")
        o.proxies = {p};
      else {
        std::fprintf(stderr,
                     "toneguard-rtp-load: --proxy: toneguard, rtpengine, rtpengine-plain, both "
                     "or all\n");
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
    else if (a == "--shared-sockets")
      o.shared_sockets = true;
    else if (a == "--socket-per-leg")
      o.shared_sockets = false;
    else if (a == "--scale") {
      std::stringstream list(value());
      for (std::string item; std::getline(list, item, ',');) {
        const int calls = std::atoi(item.c_str());
        if (calls < 1) {
          std::fprintf(stderr, "toneguard-rtp-load: --scale: not a call count: %s\n",
                       item.c_str());
          return 2;
        }
        o.scale_calls.push_back(calls);
      }
    } else if (a == "--scale-csv")
      o.scale_csv = value();
    else if (a == "--scale-png")
      o.scale_png = value();
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
  // The loads, in concurrent calls: the sweep's, or the one --streams asks for.
  const bool sweep = !o.scale_calls.empty();
  const std::vector<int> loads = sweep ? o.scale_calls : std::vector<int>{(o.streams + 1) / 2};
  if (!o.json) {
    std::printf(
        "toneguard-rtp-load: %s calls (2 streams each: caller->agent masked, agent->caller "
        "relayed) at %.0f packets/s per stream, PCMU 20 ms; %.0f s warm-up, %.0f s measured; "
        "block DTMF %s, delay-buffer %d ms (not sent to rtpengine-plain); every %s call's keys "
        "as RFC 4733\n",
        sweep ? "sweep over" : std::to_string(loads[0]).c_str(), o.pps, o.warmup, o.seconds,
        o.dtmf_security.c_str(), o.delay_buffer_ms,
        o.rfc4733_every > 0 ? (std::to_string(o.rfc4733_every) + "th").c_str() : "no");
    std::printf(
        "machine: %s, %ld CPUs online; speech: %s; one proxy at a time; generator sockets: "
        "%s\n\n",
        machine_model().c_str(), ::sysconf(_SC_NPROCESSORS_ONLN), clip.speech_source.c_str(),
        o.shared_sockets ? "shared (one per side, sendmmsg/recvmmsg)"
                         : "one connected socket per call leg");
    print_table_header();
    std::fflush(stdout);
  }
  std::vector<measurement> all;
  for (int calls : loads) {
    options at = o;
    at.streams = calls * 2;
    for (int run = 1; run <= o.runs && !g_interrupted; ++run)
      for (const auto& proxy : o.proxies) {
        if (g_interrupted) break;
        all.push_back(run_one(at, clip, proxy, run, rng));
        if (!o.json) {
          print_table_row(all.back(), std::to_string(run));
          std::fflush(stdout);
        }
        if (!all.back().ok)
          std::fprintf(stderr, "toneguard-rtp-load: %s\n", all.back().error.c_str());
      }
    if (o.json) {
      for (const auto& proxy : o.proxies) print_json_line(o, clip, all, proxy, calls);
      std::fflush(stdout);
    }
    if (sweep && !write_scale_csv(o, all))
      std::fprintf(stderr, "toneguard-rtp-load: cannot write %s\n", o.scale_csv.c_str());
    if (g_interrupted) break;
  }
  if (!o.json) {
    if (o.runs > 1) {
      std::printf("\nmedian run by ns per forwarded packet:\n");
      for (int calls : loads)
        for (const auto& proxy : o.proxies)
          if (const measurement* m = median_run(all, proxy, calls)) print_table_row(*m, "median");
    }
    std::printf("\n");
    for (int calls : loads) print_ratios(all, calls);
    std::printf(
        "\nCPU s, CPU%%: the daemon's utime + stime (all threads) over the measured interval, "
        "%% of one core;\nns/fwdpkt: that CPU time per packet received at the far ends (both "
        "directions);\ngen%%: this program's own CPU; lag ms: worst lateness of a 1 ms send tick;\n"
        "KiB/call: the daemon's VmRSS after the warm-up minus after ng ping, per call;\n"
        "latency: kernel receive stamp minus send time of the audio packets matched by stream "
        "and RTP timestamp\n(10 us bins, upper edge), i.e. packet transit; rtpengine holds "
        "caller->agent packets for the\ndelay-buffer, toneguard forwards them at once with the "
        "audio shifted by its look-ahead inside the\nstream (\"audio shift\": the audio at RTP "
        "time T is what the caller sent at T - shift, by\ncross-correlation of the scanned "
        "calls); audio delay = transit + shift;\n"
        "leaks/keys: DTMF fragments an attacker's scan finds in what %d agents received / in what "
        "their callers sent\n(rtpengine-plain masks nothing).\n",
        o.leak_check_calls);
  }
  if (sweep) {
    const std::string plot = plot_scale(o);
    std::fprintf(o.json ? stderr : stdout, "%sscaling table: %s; %s\n", o.json ? "" : "\n",
                 o.scale_csv.c_str(), plot.c_str());
  }
  bool failed = g_interrupted != 0;
  for (const auto& m : all) failed = failed || !m.ok;
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace toneguard::bench

int main(int argc, char** argv) {
  return toneguard::bench::main_impl(argc, argv);
}
