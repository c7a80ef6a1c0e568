#pragma once
/// Metrics: a small Prometheus registry (counters, gauges, histograms) rendered in the text
/// exposition format 0.0.4, and `toneguard_metrics`, the daemon's metrics registered in one.
///
/// Every series (a metric name plus a fixed set of label values) is registered at start-up and
/// handed back as a handle; updating a handle is one relaxed atomic operation, lock-free and
/// callable from any thread. Label values are fixed at registration, so nothing seen at run
/// time (a call id, a key, a card digit) can ever become a label.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "toneguard/engine/payment_dialog.h"
#include "toneguard/engine/result.h"

namespace toneguard::engine {

/// A series' labels as (name, value) pairs, in the order they are rendered.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// A monotonically increasing count. A handle into its registry (which must outlive it);
/// copyable. Any thread. A default-constructed counter counts into a sink that is never
/// rendered.
class counter {
 public:
  counter() noexcept;
  /// Adds `n`.
  void add(std::uint64_t n = 1) noexcept { cell_->fetch_add(n, std::memory_order_relaxed); }
  /// The current count.
  [[nodiscard]] std::uint64_t value() const noexcept {
    return cell_->load(std::memory_order_relaxed);
  }

 private:
  friend class metrics_registry;
  explicit counter(std::atomic<std::uint64_t>* cell) noexcept : cell_(cell) {}
  std::atomic<std::uint64_t>* cell_;
};

/// A value that goes up and down (an integer, e.g. calls now active). A handle like counter.
/// Any thread. A default-constructed gauge writes into a sink that is never rendered.
class gauge {
 public:
  gauge() noexcept;
  /// Sets the value.
  void set(std::int64_t v) noexcept { cell_->store(v, std::memory_order_relaxed); }
  /// Adds `n` (negative to subtract).
  void add(std::int64_t n = 1) noexcept { cell_->fetch_add(n, std::memory_order_relaxed); }
  /// Subtracts `n`.
  void sub(std::int64_t n = 1) noexcept { cell_->fetch_sub(n, std::memory_order_relaxed); }
  /// The current value.
  [[nodiscard]] std::int64_t value() const noexcept {
    return cell_->load(std::memory_order_relaxed);
  }

 private:
  friend class metrics_registry;
  explicit gauge(std::atomic<std::int64_t>* cell) noexcept : cell_(cell) {}
  std::atomic<std::int64_t>* cell_;
};

/// The cells of one histogram series (inside the registry; use `histogram`).
struct histogram_cells {
  /// Upper bounds of the buckets, strictly increasing and finite; +Inf is implicit.
  std::vector<double> bounds;
  /// Observations per bucket, not cumulative: counts[i] for bounds[i-1] < v <= bounds[i],
  /// counts[bounds.size()] above the last bound.
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts;
  std::atomic<double> sum{0.0};
};

/// Observations counted in fixed buckets (e.g. gateway latency in seconds). A handle like
/// counter. Any thread. A default-constructed histogram observes into a sink never rendered.
class histogram {
 public:
  histogram() noexcept;
  /// Counts `v` in the first bucket whose upper bound is >= v and adds it to the sum. NaN is
  /// ignored.
  void observe(double v) noexcept;
  /// Observations so far (the +Inf bucket).
  [[nodiscard]] std::uint64_t count() const noexcept;
  /// The sum of the observations.
  [[nodiscard]] double sum() const noexcept { return cells_->sum.load(std::memory_order_relaxed); }

 private:
  friend class metrics_registry;
  explicit histogram(histogram_cells* cells) noexcept : cells_(cells) {}
  histogram_cells* cells_;
};

/// Counters, gauges and histograms by name, rendered in registration order. Series of one
/// name form one family: they share the help text, the type and the label names (in the same
/// order) and differ in label values.
///
/// Threads: registration and render() take an internal mutex (registration belongs at
/// start-up; handles never lock). Not copyable or movable: handles point into it.
class metrics_registry {
 public:
  metrics_registry();
  ~metrics_registry();
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  /// Registers a counter series. Fails on an invalid metric or label name
  /// ([a-zA-Z_:][a-zA-Z0-9_:]*, labels [a-zA-Z_][a-zA-Z0-9_]* not starting with "__"), a
  /// series already registered, or a family registered with another type, help or label
  /// names.
  [[nodiscard]] outcome<counter> add_counter(std::string_view name, std::string_view help,
                                             metric_labels labels = {});
  /// Registers a gauge series; as add_counter.
  [[nodiscard]] outcome<gauge> add_gauge(std::string_view name, std::string_view help,
                                         metric_labels labels = {});
  /// Registers a histogram series with bucket upper bounds `bounds` (at least one, finite,
  /// strictly increasing; +Inf is added); as add_counter, and the label "le" is refused.
  [[nodiscard]] outcome<histogram> add_histogram(std::string_view name, std::string_view help,
                                                 std::span<const double> bounds,
                                                 metric_labels labels = {});

  /// Every family in the Prometheus text exposition format 0.0.4: "# HELP", "# TYPE", then
  /// one line per series (histograms: cumulative `_bucket{le=...}` lines ending with +Inf,
  /// `_sum`, `_count`); help text escapes `\` and newline, label values `\`, `"` and
  /// newline. Values are read one at a time, not at one instant. Any thread.
  [[nodiscard]] std::string render() const;

 private:
  struct family;
  struct series;
  [[nodiscard]] outcome<series*> add_series(int type, std::string_view name, std::string_view help,
                                            metric_labels labels, std::span<const double> bounds);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<family>> families_;  // pointers: handles keep their addresses
};

/// The daemon's metrics (product.md, Metrics), registered under their names. Label values are
/// the fixed sets below; no card data, no call ids and no key values are ever labels.
struct toneguard_metrics {
  /// toneguard_digits_total{source}: how a key arrived.
  static constexpr std::array<std::string_view, 2> digit_sources{"in-band", "rfc4733"};
  /// toneguard_packets_dropped_total{reason}: why a media packet was not forwarded.
  static constexpr std::array<std::string_view, 6> drop_reasons{
      "no-remote", "wrong-source", "malformed", "srtp-failure", "late", "send-failed"};
  /// toneguard_ng_commands_total{command}: the ng commands as rtpengine spells them, and
  /// "unknown" for datagrams without a supported command.
  static constexpr std::array<std::string_view, 9> ng_commands{
      "ping", "offer",      "answer",       "delete", "query",
      "list", "block DTMF", "unblock DTMF", "unknown"};
  /// toneguard_ng_commands_total{result}.
  static constexpr std::array<std::string_view, 2> ng_results{"ok", "error"};
  /// toneguard_gateway_latency_seconds bucket upper bounds, seconds.
  static constexpr std::array<double, 12> gateway_latency_bounds{0.05, 0.1, 0.25, 0.5,  1.0,  2.0,
                                                                 3.0,  5.0, 10.0, 15.0, 20.0, 30.0};
  /// The number of payment outcomes (payment_outcome::success .. cancelled).
  static constexpr std::size_t payment_outcome_count = 9;

  /// Registers every metric below in `registry` (which must outlive the result), with every
  /// series at 0. Fails only if `registry` already holds one of these names.
  [[nodiscard]] static outcome<toneguard_metrics> register_in(metrics_registry& registry);

  /// toneguard_calls_active: calls relayed now.
  gauge calls_active;
  /// toneguard_calls_total: calls set up since start.
  counter calls_total;
  /// toneguard_payments_total{outcome}: finished payments by result_name(), indexed by
  /// payment_outcome.
  std::array<counter, payment_outcome_count> payments_by_outcome;
  /// toneguard_digits_total{source}, indexed as digit_sources.
  std::array<counter, digit_sources.size()> digits_by_source;
  /// toneguard_masked_milliseconds_total: audio masked toward agents, ms.
  counter masked_milliseconds;
  /// toneguard_gateway_latency_seconds: payment gateway request to reply, seconds.
  histogram gateway_latency_seconds;
  /// toneguard_packets_received_total / toneguard_packets_forwarded_total: media datagrams.
  counter packets_received;
  counter packets_forwarded;
  /// toneguard_packets_dropped_total{reason}, indexed as drop_reasons.
  std::array<counter, drop_reasons.size()> packets_dropped;
  /// toneguard_ng_commands_total{command,result}, indexed [command][result] as ng_commands and
  /// ng_results.
  std::array<std::array<counter, ng_results.size()>, ng_commands.size()> ng_commands_by_result;

  /// The payments counter of `o`.
  [[nodiscard]] counter& payments(payment_outcome o) noexcept {
    return payments_by_outcome[static_cast<std::size_t>(o)];
  }
  /// The counter of a label value from the fixed sets above (e.g. digits("rfc4733"),
  /// dropped("late"), ng_command("offer", "ok")); the default (sink) counter for a value not
  /// in its set. Looks the value up: cache the handle outside hot loops.
  [[nodiscard]] counter digits(std::string_view source) const noexcept;
  [[nodiscard]] counter dropped(std::string_view reason) const noexcept;
  [[nodiscard]] counter ng_command(std::string_view command,
                                   std::string_view result) const noexcept;
};

}  // namespace toneguard::engine
