#pragma once
// What the tests that talk to sockets share: a UDP endpoint on loopback with bounded waits,
// and the real daemon as a child process. Everything here stops what it starts.

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace toneguard::testing {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// The first (even) port of `count` consecutive UDP ports on 127.0.0.1 that nobody holds now,
// below the kernel's ephemeral range (so udp_peer sockets never land in it); 0 when none was
// found. Other tests run alongside, so a range is only likely to stay free.
inline int free_port_range(int count) {
  std::mt19937 rng(static_cast<unsigned>(::getpid()) ^ std::random_device{}());
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int base = 20000 + 2 * static_cast<int>(rng() % 6000);
    bool free = true;
    for (int p = base; p < base + count && free; ++p) {
      const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<std::uint16_t>(p));
      free = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
    }
    if (free) return base;
  }
  return 0;
}

// A UDP socket bound to 127.0.0.1 on a port the kernel chooses.
class udp_peer {
 public:
  udp_peer() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  ~udp_peer() { ::close(fd_); }
  udp_peer(const udp_peer&) = delete;
  udp_peer& operator=(const udp_peer&) = delete;

  std::uint16_t port() const {
    sockaddr_in a{};
    socklen_t n = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n);
    return ntohs(a.sin_port);
  }
  void send_to(std::uint16_t port, const void* data, std::size_t size) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    ::sendto(fd_, data, size, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  void send_to(std::uint16_t port, std::string_view data) {
    send_to(port, data.data(), data.size());
  }
  void send_to(std::uint16_t port, std::span<const std::uint8_t> data) {
    send_to(port, data.data(), data.size());
  }
  // The next datagram, or nothing after `timeout_ms`.
  std::optional<std::string> receive(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return std::nullopt;
    std::string data(70000, '\0');
    const ssize_t n = ::recv(fd_, data.data(), data.size(), 0);
    if (n < 0) return std::nullopt;
    data.resize(static_cast<std::size_t>(n));
    return data;
  }

 private:
  int fd_ = -1;
};

// A running toneguard with its stderr on a pipe. The destructor kills and reaps it.
class daemon_process {
 public:
  explicit daemon_process(const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    const std::string binary = std::string(TONEGUARD_BIN_DIR) + "/toneguard";
    std::vector<std::string> storage{binary};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDERR_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    err_fd_ = fds[0];
    ::fcntl(err_fd_, F_SETFL, ::fcntl(err_fd_, F_GETFL) | O_NONBLOCK);
  }
  ~daemon_process() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int raw = 0;
      ::waitpid(pid_, &raw, 0);
    }
    if (err_fd_ >= 0) ::close(err_fd_);
  }
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;

  // Reads stderr until `needle` appears or `timeout` passes; true when it appeared.
  bool wait_for_log(const std::string& needle, milliseconds timeout) {
    const auto deadline = steady_clock::now() + timeout;
    while (err_.find(needle) == std::string::npos) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{err_fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(err_fd_, buf, sizeof buf);
      if (n == 0) return err_.find(needle) != std::string::npos;  // the child closed stderr
      if (n > 0) err_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }

  // Waits up to `timeout` for the child to exit; its exit status, or nullopt (still running,
  // or killed by a signal).
  std::optional<int> wait_exit(milliseconds timeout) {
    const auto deadline = steady_clock::now() + timeout;
    while (!status_) {
      int raw = 0;
      const pid_t r = ::waitpid(pid_, &raw, WNOHANG);
      if (r == pid_) {
        status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
        break;
      }
      if (steady_clock::now() > deadline) return std::nullopt;
      ::usleep(10'000);
    }
    wait_for_log("\x01never", milliseconds(500));  // drain what is left of stderr
    return *status_ == -1 ? std::nullopt : status_;
  }

  void signal(int sig) { ::kill(pid_, sig); }
  const std::string& err() const { return err_; }

  // Reads whatever the daemon writes to stderr within `ms`.
  void read_for(int ms) {
    pollfd p{err_fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return;
    char buf[4096];
    const ssize_t n = ::read(err_fd_, buf, sizeof buf);
    if (n > 0) err_.append(buf, static_cast<std::size_t>(n));
  }

 private:
  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::string err_;
  std::optional<int> status_;
};

// The port the daemon logged in its "msg=listening proto=PROTO ... port=N" line, or 0.
inline std::uint16_t listening_port(const std::string& log, const std::string& proto = "ng") {
  const auto line = log.find("msg=listening proto=" + proto + " ");
  if (line == std::string::npos) return 0;
  const auto at = log.find(" port=", line);
  return at == std::string::npos ? 0 : static_cast<std::uint16_t>(std::atoi(log.c_str() + at + 6));
}

}  // namespace toneguard::testing
