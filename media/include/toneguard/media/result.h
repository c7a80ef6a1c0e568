#pragma once
/// Results of operations that can fail on bad input: a value, or one message that names the
/// problem (for logs, counters and ng `error-reason`). Never throws on bad input.

#include <string>
#include <utility>
#include <variant>

namespace toneguard::media {

/// A failure: a short message naming what is wrong, e.g. "bencode: unterminated string at
/// offset 12".
struct error {
  std::string message;
};

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : state_(std::move(value)) {}  // NOLINT: implicit on purpose
  result(error e) : state_(std::move(e)) {}      // NOLINT: implicit on purpose

  [[nodiscard]] bool ok() const noexcept { return std::holds_alternative<T>(state_); }
  explicit operator bool() const noexcept { return ok(); }

  /// The value; only when ok().
  [[nodiscard]] const T& value() const& { return std::get<T>(state_); }
  [[nodiscard]] T& value() & { return std::get<T>(state_); }
  [[nodiscard]] T&& value() && { return std::get<T>(std::move(state_)); }
  /// The message; only when !ok().
  [[nodiscard]] const std::string& error_message() const { return std::get<error>(state_).message; }

 private:
  std::variant<T, error> state_;
};

}  // namespace toneguard::media
