#pragma once
/// The daemon's options: command line and config file, with rtpengine's option names where the
/// meaning is the same (`--interface`, `--listen-ng`, `--port-min`, `--port-max`,
/// `--log-level`, `--num-threads`, `--config-file`), so carriers recognize them.
///
/// A config file is TOML (name ends in `.toml`) or YAML (`.yaml`, `.yml`); its keys are the
/// option names without the leading dashes (`listen-ng = "127.0.0.1:2223"`,
/// `interface = ["127.0.0.1", "::1"]`). The command line overrides the file. Every unknown
/// option or key, bad value or wrong type is an error whose message names it. Plain values:
/// any thread may use its own instances.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "toneguard/media/log.h"
#include "toneguard/media/relay_worker.h"
#include "toneguard/media/result.h"

namespace toneguard::media {

/// An IP address literal and a UDP port, e.g. 127.0.0.1:2223 or [::1]:2223.
struct ip_endpoint {
  /// The address literal as given, without brackets ("127.0.0.1", "::1").
  std::string address;
  /// The port; 0 lets the system choose (useful in tests).
  std::uint16_t port = 0;

  friend bool operator==(const ip_endpoint&, const ip_endpoint&) = default;
};

/// The smallest look-ahead at which no key leaks toward the agent, ms (measured with audio fed
/// one sample at a time; docs/benchmarks.md). Smaller per-call delay-buffers are raised to it.
inline constexpr int min_leak_free_delay_ms = 10;

/// Everything the daemon is configured with.
struct daemon_options {
  /// `--config-file`: the file read before the command line is applied; empty for none.
  std::string config_file;
  /// `--interface` (repeatable): local addresses media sockets bind to, IPv4 or IPv6
  /// literals. Default 127.0.0.1.
  std::vector<std::string> interfaces{"127.0.0.1"};
  /// `--listen-ng`: where the ng control socket listens. Default 127.0.0.1:2223.
  ip_endpoint listen_ng{"127.0.0.1", 2223};
  /// `--port-min`: lowest media port (1024..65535, at most port_max; even recommended, as RTP
  /// takes the even port and RTCP the next). Default 30000.
  std::uint16_t port_min = 30000;
  /// `--port-max`: highest media port. Default 39999.
  std::uint16_t port_max = 39999;
  /// `--log-level`: error, warn, info, debug, or a syslog number 0-7. Default info.
  log_level level = log_level::info;
  /// `--num-threads`: media workers (1..1024). Default one per core.
  unsigned num_threads = 1;
  /// `--io-backend`: how media workers move datagrams: auto (io_uring where the kernel has it,
  /// else epoll), io_uring or epoll. Default auto.
  relay_backend io_backend = relay_backend::automatic;
  /// `--io-coalesce-us`: how long an io_uring worker lets datagrams gather after the first,
  /// 0..5000 µs (the most latency it adds). Default default_coalesce_us.
  int io_coalesce_us = default_coalesce_us;
  /// `--timeout`: seconds without media from either side after which a call ends (rtpengine's
  /// name and default); 0 = never.
  int timeout_s = 60;
  /// `--final-timeout`: seconds after which any call ends; 0 = never.
  int final_timeout_s = 0;
  /// `--delay-buffer`: the masker's look-ahead in ms when `block DTMF` gives none
  /// (min_leak_free_delay_ms..200).
  int delay_buffer_ms = 15;
  /// `--dtmf-security`: the masking kind when `block DTMF` gives none: "silence", "tone"
  /// (flat 500 Hz) or "random" (comfort noise).
  std::string dtmf_security = "silence";
  /// `--mask-all-calls`: every call is masked toward the agent from its start.
  bool mask_all_calls = false;
  /// `--detect-agent-dtmf`: keys the agent sends are found too (reported, never masked).
  bool detect_agent_dtmf = false;
  /// `--strict-source`: every call drops media not from a side's latched address.
  bool strict_source = false;
  /// `--api-listen`: where the payment API, the agent panel and /metrics listen. Default
  /// 127.0.0.1:2280.
  ip_endpoint api_listen{"127.0.0.1", 2280};
  /// `--api-token-file`: the API's bearer tokens (see daemon_usage); empty: no API.
  std::string api_token_file;
  /// `--api-tls-cert`, `--api-tls-key`: HTTPS for the API; both empty: plain HTTP.
  std::string api_tls_cert;
  std::string api_tls_key;
  /// `--payment-config`: a TOML file whose `[payment]` table configures payments.
  std::string payment_config_file;
  /// True when the TOML config-file has a `[payment]` table (read by the daemon).
  bool payment_in_config_file = false;
  /// `--prompts`: the prompt set directory; empty: the default places.
  std::string prompts_dir;
  /// `--report-db`: the reporting store: a SQLite file path, or a `postgresql://` URI (shared by
  /// several nodes); empty: SQLite in memory.
  std::string report_db;
  /// `--node-name`: this node in reports; empty: the host name.
  std::string node_name;
  /// `--callback-secret-file`: the secret that signs status callbacks; empty: unsigned.
  std::string callback_secret_file;
  /// `--help` was given: print daemon_usage() and exit 0.
  bool help = false;
};

/// Which language a config text is in.
enum class config_format { toml, yaml };

/// The defaults: daemon_options{} with num_threads set to the number of cores (at least 1).
[[nodiscard]] daemon_options default_daemon_options();

/// Parses the command line (`argv[0]` is the program and is skipped): options as `--name
/// value` or `--name=value`. When `--config-file` is given, that file is read first (its
/// format from its name) and the command line then overrides it. Checks the result as a
/// whole (port_min <= port_max). On failure, the message names the option or key and the
/// problem, e.g. "config /etc/x.toml: unknown key 'listen_ng' (did you mean 'listen-ng'?)".
[[nodiscard]] result<daemon_options> parse_daemon_options(int argc, const char* const* argv);

/// Applies the config text `text` (in `format`) over `base` and returns the result; `origin`
/// names the text in messages (usually the file name). Does not check the result as a whole.
[[nodiscard]] result<daemon_options> parse_daemon_config_text(std::string_view text,
                                                              config_format format,
                                                              std::string_view origin,
                                                              daemon_options base);

/// The format a config file name implies (by extension), or an error naming the file.
[[nodiscard]] result<config_format> config_format_for(std::string_view file_name);

/// Parses `[v6]:port` or `v4:port` (port 0..65535) into an endpoint, or an error naming the
/// problem.
[[nodiscard]] result<ip_endpoint> parse_ip_endpoint(std::string_view text);

/// True when `text` is an IPv4 or IPv6 address literal (no brackets, no port).
[[nodiscard]] bool is_ip_literal(std::string_view text);

/// The `--help` text: every option, its default and its meaning.
[[nodiscard]] std::string daemon_usage();

}  // namespace toneguard::media
