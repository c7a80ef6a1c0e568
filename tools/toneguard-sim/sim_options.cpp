#include "sim_options.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>

namespace toneguard::sim {
namespace {

constexpr const char* usage_text = R"(usage: toneguard-sim [OPTION]...

Runs simulated calls against a running toneguard daemon: call set-up over ng (offer, answer,
delete), a caller and an agent endpoint per call sending G.711 RTP at real time on loopback,
keys typed at human pace (in-band tones, RFC 4733 events or both), payments through the
payment API in both modes with the sandbox gateway's test cards. It records what the agent
receives and checks it for leaked keys, and reports calls, payments by outcome, leaks,
added latency, packet loss and CPU as one JSON object. Card data is never printed.

Daemon:
  --ng HOST:PORT          ng control socket (default 127.0.0.1:2223)
  --api URL               payment API, http://HOST:PORT (needed unless --no-payment)
  --token TOKEN           bearer token of the API
  --token-file FILE       the token, read from FILE (first line)
  --daemon-pid PID        also report the daemon's CPU time (from /proc/PID/stat)

Calls:
  --calls N               calls at the same time (default 1)
  --total N               calls overall (default: --calls)
  --duration S            seconds of talk before and after the payment; with --no-payment
                          the call's length, key groups in progress finishing (default 5)
  --call-interval MS      between two call starts (default 50)
  --codec pcmu|pcma       the audio codec both endpoints send (default pcmu)
  --speech DIR|none       8 kHz WAV recordings both endpoints play in turn, the caller and
                          the agent different files (default /usr/share/asterisk/sounds/en)
  --seed N                random seed: which files, keys, pauses (default 1)

Keys:
  --digits inband|rfc4733|both   how keys are sent (default inband)
  --tone-ms MS            how long a key is held (default 120)
  --gap-ms MIN-MAX        pause between keys (default 120-250)
  --think-ms MIN-MAX      pause after a question before the first key (default 300-600)
  --key-level DBM0        level of each tone of an in-band key (default -10)

Payments:
  --no-payment            no payment: calls, media and card-like keys typed at random
  --block-dtmf            send ng "block DTMF" for each call (masking without a payment)
  --await-payment         start no payment: wait for one started on the call by someone else
                          (an agent in the panel, an IVR) and answer it as the caller
  --mode automated|agent-assisted|both   (default both: alternating per call)
  --amount DECIMAL        amount of each payment (default 19.99)
  --currency CODE         (default USD)
  --amount-keys star-decimal|minor-units   how an asked amount is typed (default star-decimal)
  --card NUMBER           the card typed (default 4111111111111111, a sandbox test card)
  --cvv DIGITS            (default 123, or 1234 for American Express)
  --postal-code DIGITS    (default 94107)
  --declines SHARE        share of payments (0..1) that type the sandbox's declined card
                          4000000000000002 instead: they must not succeed (default 0)
  --payment-timeout S     a payment without a result by then fails (default 180)

Output:
  --json FILE             write the report to FILE instead of stdout
  --plot FILE.png         per-second payments, latency and loss over time (needs gnuplot)
  --no-progress           no progress bar (shown only when stderr is a terminal anyway)
  --help                  this text

Exit status: 0 when every call finished, no key leaked and every payment ended as expected;
1 otherwise; 2 for a bad option.
)";

bool parse_int(std::string_view text, long long min, long long max, long long& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out >= min && out <= max;
}

bool parse_double(const std::string& text, double min, double max, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(text.c_str(), &end);
  return errno == 0 && end == text.c_str() + text.size() && out >= min && out <= max;
}

bool all_digits(std::string_view s, std::size_t min, std::size_t max) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool parse_range(std::string_view text, ms_range& out) {
  const auto dash = text.find('-');
  long long a = 0;
  long long b = 0;
  if (dash == std::string_view::npos) {
    if (!parse_int(text, 0, 60000, a)) return false;
    out = {static_cast<int>(a), static_cast<int>(a)};
    return true;
  }
  if (!parse_int(text.substr(0, dash), 0, 60000, a) ||
      !parse_int(text.substr(dash + 1), 0, 60000, b) || b < a) {
    return false;
  }
  out = {static_cast<int>(a), static_cast<int>(b)};
  return true;
}

// "http://HOST:PORT" with an optional trailing '/'.
bool parse_api_url(std::string_view url, std::string& host, std::uint16_t& port) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) return false;
  url.remove_prefix(scheme.size());
  if (!url.empty() && url.back() == '/') url.remove_suffix(1);
  const auto colon = url.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  long long p = 0;
  if (!parse_int(url.substr(colon + 1), 1, 65535, p)) return false;
  host = std::string(url.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.find_first_of("/?#@") != std::string::npos) return false;
  port = static_cast<std::uint16_t>(p);
  return true;
}

}  // namespace

const char* sim_usage() noexcept {
  return usage_text;
}

const char* digit_transport_name(digit_transport t) noexcept {
  switch (t) {
    case digit_transport::inband:
      return "inband";
    case digit_transport::rfc4733:
      return "rfc4733";
    case digit_transport::both:
      return "both";
  }
  return "inband";
}

sim_parse_result parse_sim_options(int argc, const char* const* argv) {
  sim_options o;
  bool total_given = false;
  bool api_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view name = argv[i];
    if (name == "--help" || name == "-h") return sim_help{};
    if (name == "--no-payment") {
      o.payments = false;
      continue;
    }
    if (name == "--block-dtmf") {
      o.block_dtmf = true;
      continue;
    }
    if (name == "--await-payment") {
      o.await_payment = true;
      continue;
    }
    if (name == "--no-progress") {
      o.progress = false;
      continue;
    }
    if (name.substr(0, 2) != "--") return "unexpected argument '" + std::string(name) + "'";
    static constexpr std::string_view with_value[] = {"--ng",
                                                      "--api",
                                                      "--token",
                                                      "--token-file",
                                                      "--daemon-pid",
                                                      "--calls",
                                                      "--total",
                                                      "--duration",
                                                      "--call-interval",
                                                      "--codec",
                                                      "--speech",
                                                      "--seed",
                                                      "--digits",
                                                      "--tone-ms",
                                                      "--gap-ms",
                                                      "--think-ms",
                                                      "--key-level",
                                                      "--mode",
                                                      "--amount",
                                                      "--currency",
                                                      "--amount-keys",
                                                      "--card",
                                                      "--cvv",
                                                      "--postal-code",
                                                      "--declines",
                                                      "--payment-timeout",
                                                      "--json",
                                                      "--plot"};
    if (std::find(std::begin(with_value), std::end(with_value), name) == std::end(with_value)) {
      return "unknown option " + std::string(name) + " (see --help)";
    }
    if (i + 1 >= argc) return "option " + std::string(name) + " needs a value (see --help)";
    const std::string value = argv[++i];
    long long n = 0;
    if (name == "--ng") {
      const auto colon = value.rfind(':');
      in6_addr a6{};
      in_addr a4{};
      if (colon == std::string::npos ||
          !parse_int(std::string_view(value).substr(colon + 1), 1, 65535, n)) {
        return "--ng: expected HOST:PORT with a numeric address, e.g. 127.0.0.1:2223";
      }
      o.ng_host = value.substr(0, colon);
      if (o.ng_host.size() > 2 && o.ng_host.front() == '[') {
        o.ng_host = o.ng_host.substr(1, o.ng_host.size() - 2);
      }
      if (::inet_pton(AF_INET, o.ng_host.c_str(), &a4) != 1 &&
          ::inet_pton(AF_INET6, o.ng_host.c_str(), &a6) != 1) {
        return "--ng: '" + o.ng_host + "' is not a numeric IPv4 or IPv6 address";
      }
      o.ng_port = static_cast<std::uint16_t>(n);
    } else if (name == "--api") {
      if (!parse_api_url(value, o.api_host, o.api_port)) {
        return "--api: expected http://HOST:PORT (https is not supported)";
      }
      api_given = true;
    } else if (name == "--token") {
      o.token = value;
    } else if (name == "--token-file") {
      std::ifstream in(value);
      if (!in) return "--token-file: cannot read " + value;
      std::getline(in, o.token);
      while (!o.token.empty() && (o.token.back() == '\r' || o.token.back() == ' ')) {
        o.token.pop_back();
      }
      if (o.token.empty()) return "--token-file: " + value + " holds no token";
    } else if (name == "--daemon-pid") {
      if (!parse_int(value, 1, 1 << 30, n)) return "--daemon-pid: expected a process id";
      o.daemon_pid = static_cast<int>(n);
    } else if (name == "--calls") {
      if (!parse_int(value, 1, 10000, n)) return "--calls: expected 1..10000";
      o.concurrent_calls = static_cast<int>(n);
    } else if (name == "--total") {
      if (!parse_int(value, 1, 10000000, n)) return "--total: expected 1..10000000";
      o.total_calls = static_cast<int>(n);
      total_given = true;
    } else if (name == "--duration") {
      if (!parse_double(value, 0.0, 86400.0, o.duration_s)) {
        return "--duration: expected seconds, 0..86400";
      }
    } else if (name == "--call-interval") {
      if (!parse_int(value, 0, 600000, n)) return "--call-interval: expected 0..600000 ms";
      o.call_interval_ms = static_cast<int>(n);
    } else if (name == "--codec") {
      if (value == "pcmu") {
        o.alaw = false;
      } else if (value == "pcma") {
        o.alaw = true;
      } else {
        return "--codec: expected pcmu or pcma";
      }
    } else if (name == "--speech") {
      o.speech_dir = value;
    } else if (name == "--seed") {
      if (!parse_int(value, 0, (1LL << 62), n)) return "--seed: expected a non-negative integer";
      o.seed = static_cast<std::uint64_t>(n);
    } else if (name == "--digits") {
      if (value == "inband") {
        o.digits = digit_transport::inband;
      } else if (value == "rfc4733") {
        o.digits = digit_transport::rfc4733;
      } else if (value == "both") {
        o.digits = digit_transport::both;
      } else {
        return "--digits: expected inband, rfc4733 or both";
      }
    } else if (name == "--tone-ms") {
      if (!parse_int(value, 40, 2000, n)) return "--tone-ms: expected 40..2000";
      o.tone_ms = static_cast<int>(n);
    } else if (name == "--gap-ms") {
      if (!parse_range(value, o.gap_ms) || o.gap_ms.min < 60) {
        return "--gap-ms: expected MIN-MAX in ms, MIN at least 60 (e.g. 120-250)";
      }
    } else if (name == "--think-ms") {
      if (!parse_range(value, o.think_ms)) return "--think-ms: expected MIN-MAX in ms";
    } else if (name == "--key-level") {
      double level = 0;
      if (!parse_double(value, -40.0, 0.0, level)) return "--key-level: expected -40..0 dBm0";
      o.key_level_dbm0 = static_cast<float>(level);
    } else if (name == "--mode") {
      if (value == "automated") {
        o.modes = payment_modes::automated;
      } else if (value == "agent-assisted") {
        o.modes = payment_modes::agent_assisted;
      } else if (value == "both") {
        o.modes = payment_modes::both;
      } else {
        return "--mode: expected automated, agent-assisted or both";
      }
    } else if (name == "--amount") {
      const auto dot = value.find('.');
      if (value.empty() || !all_digits(value.substr(0, dot), 1, 12) ||
          (dot != std::string::npos && !all_digits(value.substr(dot + 1), 1, 3))) {
        return "--amount: expected a decimal amount such as 19.99";
      }
      o.amount = value;
    } else if (name == "--currency") {
      if (value.size() != 3) return "--currency: expected an ISO 4217 code such as USD";
      o.currency = value;
    } else if (name == "--amount-keys") {
      if (value == "star-decimal") {
        o.amount_minor_units = false;
      } else if (value == "minor-units") {
        o.amount_minor_units = true;
      } else {
        return "--amount-keys: expected star-decimal or minor-units";
      }
    } else if (name == "--card") {
      // The message never repeats the value: it may be a real card number.
      if (!all_digits(value, 12, 19)) return "--card: expected 12-19 digits";
      o.card = value;
    } else if (name == "--cvv") {
      if (!all_digits(value, 3, 4)) return "--cvv: expected 3 or 4 digits";
      o.cvv = value;
    } else if (name == "--postal-code") {
      if (!all_digits(value, 1, 10)) return "--postal-code: expected 1-10 digits";
      o.postal_code = value;
    } else if (name == "--declines") {
      if (!parse_double(value, 0.0, 1.0, o.decline_share)) {
        return "--declines: expected a share between 0 and 1";
      }
    } else if (name == "--payment-timeout") {
      if (!parse_double(value, 1.0, 86400.0, o.payment_timeout_s)) {
        return "--payment-timeout: expected 1..86400 s";
      }
    } else if (name == "--json") {
      o.json_path = value;
    } else if (name == "--plot") {
      o.plot_path = value;
    } else {
      return "unknown option " + std::string(name) + " (see --help)";
    }
  }
  if (!total_given) o.total_calls = o.concurrent_calls;
  if (o.payments && !api_given) return "--api is needed for payments (or give --no-payment)";
  if (o.payments && o.token.empty()) {
    return "--token or --token-file is needed for payments (or give --no-payment)";
  }
  return o;
}

}  // namespace toneguard::sim
