#include "toneguard/media/log.h"

#include <atomic>
#include <ctime>
#include <mutex>
#include <span>

namespace toneguard::media {

namespace {

std::atomic<log_level> current_level{log_level::info};
std::atomic<std::FILE*> current_sink{nullptr};
std::mutex write_mutex;

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

void append_value(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out += v;
    return;
  }
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

std::string_view log_level_name(log_level level) noexcept {
  switch (level) {
    case log_level::error:
      return "error";
    case log_level::warn:
      return "warn";
    case log_level::info:
      return "info";
    case log_level::debug:
      return "debug";
  }
  return "info";
}

std::optional<log_level> parse_log_level(std::string_view name) noexcept {
  if (name == "error") return log_level::error;
  if (name == "warn" || name == "warning") return log_level::warn;
  if (name == "info") return log_level::info;
  if (name == "debug") return log_level::debug;
  if (name.size() == 1 && name[0] >= '0' && name[0] <= '7') {
    const int n = name[0] - '0';
    if (n <= 3) return log_level::error;
    if (n == 4) return log_level::warn;
    if (n <= 6) return log_level::info;
    return log_level::debug;
  }
  return std::nullopt;
}

std::string format_log_line(std::chrono::system_clock::time_point ts, log_level level,
                            std::string_view msg, std::initializer_list<log_field> fields) {
  return format_log_line(ts, level, msg, std::span<const log_field>(fields.begin(), fields.size()));
}

std::string format_log_line(std::chrono::system_clock::time_point ts, log_level level,
                            std::string_view msg, std::span<const log_field> fields) {
  using namespace std::chrono;
  const auto ms_total = duration_cast<milliseconds>(ts.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms_total / 1000);
  const int ms = static_cast<int>(((ms_total % 1000) + 1000) % 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char stamp[40];
  const int n =
      std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  std::string line;
  line.reserve(96 + msg.size());
  line += "ts=";
  line.append(stamp, n > 0 ? static_cast<std::size_t>(n) : 0);
  line += " level=";
  line += log_level_name(level);
  line += " msg=";
  append_value(line, msg);
  for (const auto& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    append_value(line, f.value);
  }
  line += '\n';
  return line;
}

void set_log_level(log_level level) noexcept {
  current_level.store(level, std::memory_order_relaxed);
}

bool log_enabled(log_level level) noexcept {
  return static_cast<int>(level) <= static_cast<int>(current_level.load(std::memory_order_relaxed));
}

void log_event(log_level level, std::string_view msg,
               std::initializer_list<log_field> fields) noexcept {
  log_event(level, msg, std::span<const log_field>(fields.begin(), fields.size()));
}

void log_event(log_level level, std::string_view msg, std::span<const log_field> fields) noexcept {
  if (!log_enabled(level)) return;
  try {
    const std::string line = format_log_line(std::chrono::system_clock::now(), level, msg, fields);
    std::FILE* sink = current_sink.load(std::memory_order_relaxed);
    if (sink == nullptr) sink = stderr;
    const std::lock_guard lock(write_mutex);
    std::fwrite(line.data(), 1, line.size(), sink);
    std::fflush(sink);
  } catch (...) {
    // Logging must never take the daemon down (allocation failure while formatting).
  }
}

void set_log_sink(std::FILE* sink) noexcept {
  current_sink.store(sink, std::memory_order_relaxed);
}

}  // namespace toneguard::media
