#pragma once
/// What toneguard-sim measures and how it reports it: per-call records, latency histograms,
/// per-second buckets for the plot, the JSON report, and the gnuplot PNG. The records never
/// hold card data (outcomes, brands and last four digits only). One thread.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim_options.h"

namespace toneguard::sim {

/// Milliseconds in bins of 10 µs up to 2 s (larger values go to the last bin; max is exact).
class latency_histogram {
 public:
  latency_histogram();
  /// Counts one value, ms (negative values count as 0).
  void add(double ms) noexcept;
  /// The value at quantile `q` (0..1), ms: the upper edge of its bin; 0 when empty.
  [[nodiscard]] double quantile(double q) const noexcept;
  [[nodiscard]] double max() const noexcept { return max_; }
  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }

 private:
  std::vector<std::uint32_t> bins_;
  std::uint64_t count_ = 0;
  double max_ = 0.0;
};

/// One second of the run (from the first call's start), for the plot.
struct second_bucket {
  int active_calls = 0;        ///< the most calls in progress during the second
  int payments_succeeded = 0;  ///< results that came in during the second
  int payments_failed = 0;
  std::uint64_t lost_packets = 0;   ///< caller-to-agent sequence gaps found during the second
  std::uint64_t received = 0;       ///< caller-to-agent packets received
  double latency_sum_ms = 0.0;      ///< added latency of those packets (when the call's audio
  std::uint64_t latency_count = 0;  ///< delay is known, else transit only)
  double latency_max_ms = 0.0;
};

/// What became of one call.
struct call_record {
  std::string call_id;
  std::string mode = "none";  ///< "automated", "agent-assisted" or "none" (no payment)
  bool finished = false;      ///< set up, media ran, deleted
  std::string error;          ///< why it did not finish or its payment failed, no card data
  std::optional<std::string> outcome;  ///< the payment's result ("success", ...)
  bool declined_card = false;          ///< the caller typed the sandbox's declined card
  bool payment_as_expected = true;
  std::string brand;      ///< from the result
  std::string last_four;  ///< from the result (last four digits only)
  int keys_typed = 0;
  int key_regions_scanned = 0;    ///< groups of keys whose agent audio was scanned
  int key_regions_unscanned = 0;  ///< groups the agent's audio did not cover
  int leaks = 0;                  ///< DTMF fragments the scanner found in the agent's audio
  std::uint64_t rfc4733_packets_leaked = 0;  ///< telephone-event packets the agent received
  std::uint64_t rfc4733_events_leaked = 0;   ///< distinct events among them
  std::uint64_t caller_sent = 0;
  std::uint64_t agent_received = 0;  ///< caller-to-agent packets received by the agent
  std::uint64_t lost = 0;            ///< caller-to-agent: expected by sequence - received
  std::uint64_t agent_sent = 0;
  std::uint64_t caller_received = 0;
  std::optional<double> audio_delay_ms;  ///< how far the agent's audio lags the caller's
};

/// Everything a run collects.
struct sim_totals {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  latency_histogram transit;  ///< packet send -> receive, caller to agent, ms
  latency_histogram added;    ///< transit + the call's audio delay, ms
  std::vector<second_bucket> seconds;
  std::vector<call_record> calls;
  std::uint64_t late_frames = 0;  ///< frames the sim sent more than 20 ms late (overload)
  int active_calls = 0;
  int payments_succeeded = 0;
  int payments_failed = 0;
  int leaks = 0;
  /// The bucket of `now` (created as needed).
  second_bucket& bucket(std::chrono::steady_clock::time_point now);
};

/// CPU seconds (user + system).
struct cpu_usage {
  double sim_seconds = 0.0;
  std::optional<double> daemon_seconds;
};

/// The daemon's user + system CPU seconds from /proc/PID/stat; nullopt when unreadable.
[[nodiscard]] std::optional<double> process_cpu_seconds(int pid);
/// This process's user + system CPU seconds (getrusage).
[[nodiscard]] double own_cpu_seconds();

/// True when every call finished, nothing leaked and every payment ended as expected.
[[nodiscard]] bool run_passed(const sim_options& options, const sim_totals& totals);

/// The report: one JSON object (see toneguard-sim --help and the README).
[[nodiscard]] std::string report_json(const sim_options& options, const sim_totals& totals,
                                      const cpu_usage& cpu, double wall_seconds);

/// Writes `path` (PNG) with gnuplot: per second, active calls and payments, added latency,
/// lost packets. nullopt on success, else a message naming the problem.
[[nodiscard]] std::optional<std::string> write_plot(const std::string& path,
                                                    const sim_totals& totals);

}  // namespace toneguard::sim
