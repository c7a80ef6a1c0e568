// toneguard-sandbox-gateway: the embedded sandbox payment gateway, standalone.
//
//   toneguard-sandbox-gateway [--listen ADDR:PORT] [--tls | --no-tls] [--cert FILE --key FILE]
//                             [--cert-out FILE] [--user NAME] [--password PW]
//                             [--delay-scale X] [--threads N]
//
// Runs until SIGTERM or SIGINT. Exit status: 0 after a clean stop, 2 bad usage or the sandbox
// could not start.

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "toneguard/engine/card_data.h"
#include "toneguard/engine/sandbox_gateway.h"

namespace {

using namespace toneguard::engine;

constexpr const char* usage =
    "usage: toneguard-sandbox-gateway [--listen ADDR:PORT] [--tls | --no-tls]\n"
    "                                 [--cert FILE --key FILE] [--cert-out FILE]\n"
    "                                 [--user NAME] [--password PW] [--delay-scale X]\n"
    "                                 [--threads N]\n"
    "Serves the payment gateway contract (POST /charge, POST /identify; JSON; HTTP Basic auth)\n"
    "with test cards, so toneguard runs with no outside service. Stops on SIGTERM or SIGINT.\n"
    "  --listen ADDR:PORT  where to listen (default 127.0.0.1:8443; IPv6 as [::1]:8443; port 0\n"
    "                      takes an ephemeral port)\n"
    "  --tls / --no-tls    HTTPS (default) or plain HTTP (clients accept plain HTTP only on\n"
    "                      loopback)\n"
    "  --cert, --key       PEM certificate chain and key; without them a self-signed\n"
    "                      certificate for localhost, 127.0.0.1 and ::1 is made at start\n"
    "  --cert-out FILE     write the certificate (PEM) there, for clients to trust exactly it\n"
    "  --user, --password  the Basic credentials required (default sandbox / sandbox; an empty\n"
    "                      user turns auth off)\n"
    "  --delay-scale X     factor on the slow card's 3000 ms delay (default 1)\n"
    "  --threads N         worker threads (default 1)\n";

void print_tables() {
  std::printf("\nTest cards (any CVV of 3-4 digits or none; any expiry not in the past):\n");
  for (const auto& card : sandbox_test_cards()) {
    const char* what = "";
    switch (card.behaviour) {
      case sandbox_behaviour::approve:
        what = "200 approved";
        break;
      case sandbox_behaviour::decline:
        what = "402 declined";
        break;
      case sandbox_behaviour::slow_reply:
        what = "200 approved after the slow delay";
        break;
      case sandbox_behaviour::never_reply:
        what = "charged, reply never sent (client timeout)";
        break;
      case sandbox_behaviour::server_error:
        what = "500";
        break;
      case sandbox_behaviour::not_processed:
        what = "503 not processed";
        break;
      case sandbox_behaviour::rate_limited:
        what = "429 not processed";
        break;
    }
    std::printf("  %-19.*s %-11.*s %s%s%.*s\n", static_cast<int>(card.number.size()),
                card.number.data(), static_cast<int>(card.brand.size()), card.brand.data(), what,
                card.error_code.empty() ? "" : " ", static_cast<int>(card.error_code.size()),
                card.error_code.data());
  }
  std::printf(
      "  any other Luhn-valid number of 12-19 digits: 200 approved; otherwise 402 "
      "invalid_card\n");
  std::printf("\nTest accounts for /identify (PIN, or date of birth DDMMYYYY):\n");
  for (const auto& a : sandbox_test_accounts()) {
    if (a.service_error) {
      std::printf("  %-9.*s any secret: 500 identity_unavailable\n",
                  static_cast<int>(a.account_id.size()), a.account_id.data());
      continue;
    }
    std::printf("  %-9.*s PIN %.*s, date of birth %.*s -> %.*s",
                static_cast<int>(a.account_id.size()), a.account_id.data(),
                static_cast<int>(a.pin.size()), a.pin.data(),
                static_cast<int>(a.date_of_birth.size()), a.date_of_birth.data(),
                static_cast<int>(a.customer_id.size()), a.customer_id.data());
    if (!a.balance.empty()) {
      std::printf(", balance %.*s %.*s", static_cast<int>(a.balance.size()), a.balance.data(),
                  static_cast<int>(a.currency.size()), a.currency.data());
    }
    std::printf("\n");
  }
  std::printf("  any other account or a wrong secret: not verified\n");
}

bool parse_listen(std::string_view text, sandbox_settings& s) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return false;
  s.address = std::string(host);
  s.port = static_cast<std::uint16_t>(value);
  return true;
}

int bad_usage(const char* why) {
  std::fprintf(stderr, "toneguard-sandbox-gateway: %s\n%s", why, usage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Charge requests carry card numbers through this process's memory.
  make_process_undumpable();
  sandbox_settings settings;
  settings.port = 8443;
  std::string cert_out;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--help" || arg == "-h") {
      std::printf("%s", usage);
      print_tables();
      return 0;
    }
    if (arg == "--tls") {
      settings.tls = true;
    } else if (arg == "--no-tls") {
      settings.tls = false;
    } else if (arg == "--listen") {
      const char* v = value();
      if (v == nullptr || !parse_listen(v, settings)) return bad_usage("--listen needs ADDR:PORT");
    } else if (arg == "--cert" || arg == "--key" || arg == "--cert-out" || arg == "--user" ||
               arg == "--password") {
      const char* v = value();
      if (v == nullptr) return bad_usage("an option needs a value");
      if (arg == "--cert") settings.cert_file = v;
      if (arg == "--key") settings.key_file = v;
      if (arg == "--cert-out") cert_out = v;
      if (arg == "--user") settings.username = v;
      if (arg == "--password") settings.password = v;
    } else if (arg == "--delay-scale") {
      const char* v = value();
      char* end = nullptr;
      if (v == nullptr || (settings.delay_scale = std::strtod(v, &end), *end != '\0')) {
        return bad_usage("--delay-scale needs a number");
      }
    } else if (arg == "--threads") {
      const char* v = value();
      char* end = nullptr;
      if (v == nullptr ||
          (settings.threads = static_cast<int>(std::strtol(v, &end, 10)), *end != '\0')) {
        return bad_usage("--threads needs a number");
      }
    } else {
      return bad_usage("unknown option");
    }
  }

  // Blocked before the sandbox's threads exist, so that they inherit the mask and only
  // sigwait() below sees the signals.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto sandbox = sandbox_gateway::start(settings);
  if (!sandbox) {
    std::fprintf(stderr, "toneguard-sandbox-gateway: %s\n", sandbox.message().c_str());
    return 2;
  }
  if (!cert_out.empty()) {
    std::ofstream out(cert_out);
    out << sandbox.value()->certificate_pem();
    if (!out) {
      std::fprintf(stderr, "toneguard-sandbox-gateway: cannot write %s\n", cert_out.c_str());
      return 2;
    }
  }
  std::printf("toneguard-sandbox-gateway: listening on %s and %s (%s)\n",
              sandbox.value()->url().c_str(), sandbox.value()->identify_url().c_str(),
              settings.username.empty() ? "no auth" : ("user " + settings.username).c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  sandbox.value()->stop();
  const auto c = sandbox.value()->counters();
  std::printf(
      "toneguard-sandbox-gateway: stopped (%llu requests, %llu charges, %llu declines, %llu "
      "replays)\n",
      static_cast<unsigned long long>(c.requests), static_cast<unsigned long long>(c.charges),
      static_cast<unsigned long long>(c.declines), static_cast<unsigned long long>(c.replays));
  return 0;
}
