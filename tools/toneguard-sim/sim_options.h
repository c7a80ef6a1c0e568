#pragma once
/// toneguard-sim's command line: what to run against the daemon and how the simulated people
/// behave. Parsing is pure (no I/O except --token-file); a bad option gives a message naming it.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace toneguard::sim {

/// How the caller's keys reach the daemon.
enum class digit_transport : std::uint8_t {
  inband,   ///< DTMF tones in the G.711 audio
  rfc4733,  ///< RFC 4733 telephone-event packets (payload type 101)
  both,     ///< tones in the audio and events at the same time
};

/// Which payment modes the calls use.
enum class payment_modes : std::uint8_t { automated, agent_assisted, both };

/// A range of milliseconds, inclusive; a value is drawn uniformly.
struct ms_range {
  int min = 0;
  int max = 0;
};

/// Everything the command line sets.
struct sim_options {
  std::string ng_host = "127.0.0.1";  ///< ng control address (numeric)
  std::uint16_t ng_port = 2223;
  std::string api_host;  ///< payment API host (numeric or a name); empty: no API
  std::uint16_t api_port = 0;
  std::string token;         ///< bearer token of the payment API
  int concurrent_calls = 1;  ///< calls at the same time (--calls)
  int total_calls = 0;       ///< calls overall (--total); 0: the same as concurrent_calls
  double duration_s = 5.0;   ///< talk before and after the payment (no payment: the call)
  payment_modes modes = payment_modes::both;
  digit_transport digits = digit_transport::inband;
  bool alaw = false;        ///< send PCMA instead of PCMU
  bool payments = true;     ///< false with --no-payment
  bool block_dtmf = false;  ///< send ng "block DTMF" after the answer
  bool await_payment = false;  ///< payments are started by someone else (the agent panel)
  std::string card = "4111111111111111";
  std::string cvv;  ///< empty: 3 digits (4 for American Express)
  std::string postal_code = "94107";
  std::string declined_card = "4000000000000002";
  double decline_share = 0.0;  ///< share of payments that type the declined card (0..1)
  std::string amount = "19.99";
  std::string currency = "USD";
  bool amount_minor_units = false;   ///< amounts typed in minor units ("1999#"), not "19*99#"
  std::string account = "12345678";  ///< typed when the dialog asks for an account number
  std::string pin = "1234";
  std::string date_of_birth = "01021980";
  std::string speech_dir = "/usr/share/asterisk/sounds/en";  ///< "none": silence
  int tone_ms = 120;                                         ///< how long a key is held
  ms_range gap_ms{120, 250};                                 ///< between keys
  ms_range think_ms{300, 600};    ///< after a question before the first key
  float key_level_dbm0 = -10.0f;  ///< level of each tone of an in-band key
  std::uint64_t seed = 1;
  int call_interval_ms = 50;         ///< between two call starts
  double payment_timeout_s = 180.0;  ///< a payment with no result by then fails
  std::string json_path;             ///< empty: stdout
  std::string plot_path;             ///< empty: no plot
  int daemon_pid = 0;                ///< 0: the daemon's CPU is not measured
  bool progress = true;              ///< a progress bar when stderr is a terminal
};

/// What parse_sim_options() found: options, a request for help, or an error message.
struct sim_help {};
using sim_parse_result = std::variant<sim_options, sim_help, std::string>;

/// Parses argv (argv[0] is the program). --token-file is read here.
[[nodiscard]] sim_parse_result parse_sim_options(int argc, const char* const* argv);

/// The --help text.
[[nodiscard]] const char* sim_usage() noexcept;

/// "inband", "rfc4733" or "both".
[[nodiscard]] const char* digit_transport_name(digit_transport t) noexcept;

}  // namespace toneguard::sim
