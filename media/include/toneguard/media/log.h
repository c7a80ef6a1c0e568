#pragma once
/// Structured logs: one line per event on stderr, `key=value` pairs, always starting with
/// `ts=<UTC ISO 8601 with ms> level=<level> msg=<message>`. Values that hold spaces, quotes,
/// `=` or control bytes are double-quoted with `\"`, `\\` and `\xNN` escapes, so a line is
/// always one line and splits unambiguously.
///
/// Any thread may log: each event is written with one call under a mutex. Never log digits,
/// card data or anything else secret (product rule), only counts and identifiers.

#include <chrono>
#include <cstdio>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace toneguard::media {

/// Severity, most severe first. An event is written when its level is at or above the
/// configured one (`error` < `warn` < `info` < `debug` in verbosity).
enum class log_level { error, warn, info, debug };

/// The name of `level`: "error", "warn", "info" or "debug".
[[nodiscard]] std::string_view log_level_name(log_level level) noexcept;

/// The level named `name` ("error", "warn" or "warning", "info", "debug"), or a syslog-style
/// number as rtpengine accepts: 0-3 error, 4 warn, 5-6 info, 7 debug. Nullopt otherwise.
[[nodiscard]] std::optional<log_level> parse_log_level(std::string_view name) noexcept;

/// One `key=value` pair of an event; `key` must be a plain word (letters, digits, `-`, `_`).
struct log_field {
  std::string_view key;
  std::string value;
};

/// The line (with its trailing newline) for an event at wall-clock time `ts`.
[[nodiscard]] std::string format_log_line(std::chrono::system_clock::time_point ts, log_level level,
                                          std::string_view msg,
                                          std::initializer_list<log_field> fields);
/// As above, with the fields in a span.
[[nodiscard]] std::string format_log_line(std::chrono::system_clock::time_point ts, log_level level,
                                          std::string_view msg, std::span<const log_field> fields);

/// Sets the most verbose level written (default info). Any thread.
void set_log_level(log_level level) noexcept;

/// True when an event at `level` would be written. Any thread.
[[nodiscard]] bool log_enabled(log_level level) noexcept;

/// Writes an event to stderr (or the sink set by set_log_sink) when `level` is enabled.
/// Any thread; never throws (a failed write is ignored).
void log_event(log_level level, std::string_view msg,
               std::initializer_list<log_field> fields = {}) noexcept;
/// As above, with the fields in a span (fields built at run time).
void log_event(log_level level, std::string_view msg, std::span<const log_field> fields) noexcept;

/// Redirects events to `sink` (nullptr: back to stderr); for tests. Any thread.
void set_log_sink(std::FILE* sink) noexcept;

}  // namespace toneguard::media
