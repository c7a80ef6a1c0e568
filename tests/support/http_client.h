#pragma once
// A blocking HTTP/1.1 client for tests: one request per connection (Connection: close) to a
// loopback port, with a timeout. Plain sockets, so that a test of the API server does not use
// the server's own library to talk to it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace toneguard::testing {

struct http_response {
  int status = 0;                              // 0: no response (connection failed or timed out)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Sends `method path` with `headers` and `body` to 127.0.0.1:`port`; waits at most
// `timeout_ms` for the whole response.
inline http_response http_request(std::uint16_t port, const std::string& method,
                                  const std::string& path,
                                  const std::vector<std::pair<std::string, std::string>>& headers,
                                  const std::string& body = {}, int timeout_ms = 5000) {
  http_response out;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return out;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return out;
  }
  std::string request =
      method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  if (!body.empty() || method == "POST") {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return out;
    }
    sent += static_cast<std::size_t>(n);
  }
  std::string raw;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buffer[8192];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    raw.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.compare(0, 9, "HTTP/1.1 ") != 0) return out;
  out.status = std::atoi(raw.c_str() + 9);
  std::size_t line = raw.find("\r\n") + 2;
  while (line < head_end) {
    const std::size_t end = raw.find("\r\n", line);
    const std::size_t colon = raw.find(':', line);
    if (colon != std::string::npos && colon < end) {
      std::string name = raw.substr(line, colon - line);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::size_t value = colon + 1;
      while (value < end && raw[value] == ' ') ++value;
      out.headers[name] = raw.substr(value, end - value);
    }
    line = end + 2;
  }
  out.body = raw.substr(head_end + 4);
  if (out.headers["transfer-encoding"] == "chunked") {
    std::string decoded;
    std::size_t at = 0;
    while (at < out.body.size()) {
      const std::size_t size = std::strtoul(out.body.c_str() + at, nullptr, 16);
      const std::size_t data = out.body.find("\r\n", at);
      if (size == 0 || data == std::string::npos) break;
      decoded += out.body.substr(data + 2, size);
      at = data + 2 + size + 2;
    }
    out.body = std::move(decoded);
  }
  return out;
}

}  // namespace toneguard::testing
