#include "toneguard/engine/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace toneguard::engine {

namespace {

enum metric_type : int { counter_type, gauge_type, histogram_type };

std::string_view type_name(int type) {
  switch (type) {
    case counter_type:
      return "counter";
    case gauge_type:
      return "gauge";
    default:
      return "histogram";
  }
}

// Handles are never null, so that an update is one atomic operation without a branch; handles
// not (yet) registered count here.
std::atomic<std::uint64_t> counter_sink{0};
std::atomic<std::int64_t> gauge_sink{0};

histogram_cells& histogram_sink() {
  static histogram_cells cells{{}, std::make_unique<std::atomic<std::uint64_t>[]>(1)};
  return cells;
}

bool valid_metric_name(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool valid_label_name(std::string_view s) {
  if (s.empty() || s.starts_with("__")) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

void append_escaped_help(std::string& out, std::string_view s) {
  for (const char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_escaped_label_value(std::string& out, std::string_view s) {
  for (const char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// Go's strconv.FormatFloat(v, 'g', -1, 64) spelling as Prometheus writes it: the shortest text
// that reads back as `v`, "+Inf", "-Inf", "NaN".
std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  const auto r = std::to_chars(buffer, buffer + sizeof buffer, v);
  return std::string(buffer, r.ptr);
}

// `{a="x",b="y"}`, with `le` last when given; nothing when there are no labels at all.
void append_labels(std::string& out, const metric_labels& labels, const std::string* le) {
  if (labels.empty() && le == nullptr) return;
  out += '{';
  bool first = true;
  const auto one = [&](std::string_view name, std::string_view value) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    append_escaped_label_value(out, value);
    out += '"';
  };
  for (const auto& [name, value] : labels) one(name, value);
  if (le != nullptr) one("le", *le);
  out += '}';
}

}  // namespace

struct metrics_registry::series {
  metric_labels labels;
  std::unique_ptr<std::atomic<std::uint64_t>> counter_cell;
  std::unique_ptr<std::atomic<std::int64_t>> gauge_cell;
  std::unique_ptr<histogram_cells> histogram;
};

struct metrics_registry::family {
  std::string name;
  std::string help;
  int type = counter_type;
  std::vector<std::string> label_names;
  std::vector<std::unique_ptr<series>> members;
};

counter::counter() noexcept : cell_(&counter_sink) {}
gauge::gauge() noexcept : cell_(&gauge_sink) {}
histogram::histogram() noexcept : cells_(&histogram_sink()) {}

void histogram::observe(double v) noexcept {
  if (std::isnan(v)) return;
  const auto& bounds = cells_->bounds;
  const auto bucket =
      static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
  cells_->counts[bucket].fetch_add(1, std::memory_order_relaxed);
  cells_->sum.fetch_add(v, std::memory_order_relaxed);
}

std::uint64_t histogram::count() const noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= cells_->bounds.size(); ++i) {
    total += cells_->counts[i].load(std::memory_order_relaxed);
  }
  return total;
}

metrics_registry::metrics_registry() = default;
metrics_registry::~metrics_registry() = default;

outcome<metrics_registry::series*> metrics_registry::add_series(int type, std::string_view name,
                                                                std::string_view help,
                                                                metric_labels labels,
                                                                std::span<const double> bounds) {
  const std::string where = "metrics: " + std::string(name) + ": ";
  if (!valid_metric_name(name))
    return failure{"metrics: invalid metric name '" + std::string(name) + "'"};
  std::vector<std::string> label_names;
  for (const auto& [label, value] : labels) {
    if (!valid_label_name(label)) return failure{where + "invalid label name '" + label + "'"};
    if (type == histogram_type && label == "le") {
      return failure{where + "label 'le' is reserved for histogram buckets"};
    }
    if (std::find(label_names.begin(), label_names.end(), label) != label_names.end()) {
      return failure{where + "label '" + label + "' given twice"};
    }
    label_names.push_back(label);
  }
  if (type == histogram_type) {
    if (bounds.empty()) return failure{where + "a histogram needs at least one bucket"};
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
        return failure{where + "bucket bounds must be finite and strictly increasing"};
      }
    }
  }

  const std::lock_guard lock(mutex_);
  auto it = std::find_if(families_.begin(), families_.end(),
                         [&](const auto& f) { return f->name == name; });
  family* f = nullptr;
  if (it == families_.end()) {
    auto created = std::make_unique<family>();
    created->name = std::string(name);
    created->help = std::string(help);
    created->type = type;
    created->label_names = label_names;
    f = families_.emplace_back(std::move(created)).get();
  } else {
    f = it->get();
    if (f->type != type) {
      return failure{where + "already registered as a " + std::string(type_name(f->type))};
    }
    if (f->help != help) return failure{where + "registered before with another help text"};
    if (f->label_names != label_names) {
      return failure{where + "registered before with other label names"};
    }
    for (const auto& m : f->members) {
      if (m->labels == labels) return failure{where + "this series is already registered"};
    }
  }

  auto s = std::make_unique<series>();
  s->labels = std::move(labels);
  switch (type) {
    case counter_type:
      s->counter_cell = std::make_unique<std::atomic<std::uint64_t>>(0);
      break;
    case gauge_type:
      s->gauge_cell = std::make_unique<std::atomic<std::int64_t>>(0);
      break;
    default:
      s->histogram = std::make_unique<histogram_cells>();
      s->histogram->bounds.assign(bounds.begin(), bounds.end());
      s->histogram->counts = std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1);
      break;
  }
  return f->members.emplace_back(std::move(s)).get();
}

outcome<counter> metrics_registry::add_counter(std::string_view name, std::string_view help,
                                               metric_labels labels) {
  auto s = add_series(counter_type, name, help, std::move(labels), {});
  if (!s) return failure{s.message()};
  return counter(s.value()->counter_cell.get());
}

outcome<gauge> metrics_registry::add_gauge(std::string_view name, std::string_view help,
                                           metric_labels labels) {
  auto s = add_series(gauge_type, name, help, std::move(labels), {});
  if (!s) return failure{s.message()};
  return gauge(s.value()->gauge_cell.get());
}

outcome<histogram> metrics_registry::add_histogram(std::string_view name, std::string_view help,
                                                   std::span<const double> bounds,
                                                   metric_labels labels) {
  auto s = add_series(histogram_type, name, help, std::move(labels), bounds);
  if (!s) return failure{s.message()};
  return histogram(s.value()->histogram.get());
}

std::string metrics_registry::render() const {
  const std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP ";
    out += f->name;
    out += ' ';
    append_escaped_help(out, f->help);
    out += "\n# TYPE ";
    out += f->name;
    out += ' ';
    out += type_name(f->type);
    out += '\n';
    for (const auto& s : f->members) {
      if (f->type == counter_type) {
        out += f->name;
        append_labels(out, s->labels, nullptr);
        out += ' ' + std::to_string(s->counter_cell->load(std::memory_order_relaxed)) + '\n';
      } else if (f->type == gauge_type) {
        out += f->name;
        append_labels(out, s->labels, nullptr);
        out += ' ' + std::to_string(s->gauge_cell->load(std::memory_order_relaxed)) + '\n';
      } else {
        const histogram_cells& h = *s->histogram;
        // Cumulative, and +Inf and _count from the same reads, so that a scrape taken while
        // observations arrive is still self-consistent.
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i <= h.bounds.size(); ++i) {
          cumulative += h.counts[i].load(std::memory_order_relaxed);
          const std::string le = i < h.bounds.size() ? format_double(h.bounds[i]) : "+Inf";
          out += f->name;
          out += "_bucket";
          append_labels(out, s->labels, &le);
          out += ' ' + std::to_string(cumulative) + '\n';
        }
        out += f->name;
        out += "_sum";
        append_labels(out, s->labels, nullptr);
        out += ' ' + format_double(h.sum.load(std::memory_order_relaxed)) + '\n';
        out += f->name;
        out += "_count";
        append_labels(out, s->labels, nullptr);
        out += ' ' + std::to_string(cumulative) + '\n';
      }
    }
  }
  return out;
}

// --- toneguard_metrics -----------------------------------------------------------------------

static_assert(static_cast<std::size_t>(payment_outcome::cancelled) + 1 ==
              toneguard_metrics::payment_outcome_count);

outcome<toneguard_metrics> toneguard_metrics::register_in(metrics_registry& registry) {
  toneguard_metrics m;
  std::string error;
  const auto keep = [&error](auto result, auto& handle) {
    if (result.ok()) {
      handle = result.value();
    } else if (error.empty()) {
      error = result.message();
    }
  };
  const auto label = [](std::string_view name, std::string_view value) {
    return metric_labels{{std::string(name), std::string(value)}};
  };

  keep(registry.add_gauge("toneguard_calls_active", "Calls relayed now."), m.calls_active);
  keep(registry.add_counter("toneguard_calls_total", "Calls set up since start."), m.calls_total);
  for (std::size_t i = 0; i < payment_outcome_count; ++i) {
    keep(registry.add_counter("toneguard_payments_total", "Finished payments by outcome.",
                              label("outcome", result_name(static_cast<payment_outcome>(i)))),
         m.payments_by_outcome[i]);
  }
  for (std::size_t i = 0; i < digit_sources.size(); ++i) {
    keep(registry.add_counter("toneguard_digits_total", "Keys found, by how they arrived.",
                              label("source", digit_sources[i])),
         m.digits_by_source[i]);
  }
  keep(registry.add_counter("toneguard_masked_milliseconds_total",
                            "Audio masked toward agents, in milliseconds."),
       m.masked_milliseconds);
  keep(registry.add_histogram("toneguard_gateway_latency_seconds",
                              "Payment gateway request to reply, in seconds.",
                              gateway_latency_bounds),
       m.gateway_latency_seconds);
  keep(registry.add_counter("toneguard_packets_received_total", "Media datagrams received."),
       m.packets_received);
  keep(registry.add_counter("toneguard_packets_forwarded_total", "Media datagrams sent on."),
       m.packets_forwarded);
  for (std::size_t i = 0; i < drop_reasons.size(); ++i) {
    keep(registry.add_counter("toneguard_packets_dropped_total",
                              "Media datagrams not forwarded, by reason.",
                              label("reason", drop_reasons[i])),
         m.packets_dropped[i]);
  }
  for (std::size_t c = 0; c < ng_commands.size(); ++c) {
    for (std::size_t r = 0; r < ng_results.size(); ++r) {
      keep(registry.add_counter(
               "toneguard_ng_commands_total", "ng control commands by command and result.",
               {{"command", std::string(ng_commands[c])}, {"result", std::string(ng_results[r])}}),
           m.ng_commands_by_result[c][r]);
    }
  }
  if (!error.empty()) return failure{error};
  return m;
}

namespace {

template <std::size_t N>
std::size_t index_of(const std::array<std::string_view, N>& names, std::string_view name) {
  return static_cast<std::size_t>(std::find(names.begin(), names.end(), name) - names.begin());
}

}  // namespace

counter toneguard_metrics::digits(std::string_view source) const noexcept {
  const std::size_t i = index_of(digit_sources, source);
  return i < digits_by_source.size() ? digits_by_source[i] : counter{};
}

counter toneguard_metrics::dropped(std::string_view reason) const noexcept {
  const std::size_t i = index_of(drop_reasons, reason);
  return i < packets_dropped.size() ? packets_dropped[i] : counter{};
}

counter toneguard_metrics::ng_command(std::string_view command,
                                      std::string_view result) const noexcept {
  const std::size_t c = index_of(ng_commands, command);
  const std::size_t r = index_of(ng_results, result);
  return c < ng_commands.size() && r < ng_results.size() ? ng_commands_by_result[c][r] : counter{};
}

}  // namespace toneguard::engine
