#pragma once
/// Results of engine operations that can fail on bad input (config, gateway replies, manifests):
/// a value, or one message that names the problem. Never throws on bad input. Messages never
/// carry card data.

#include <string>
#include <utility>
#include <variant>

namespace toneguard::engine {

/// A failure: a short message naming what is wrong, e.g. "payment config: key 'max-declines':
/// expected an integer 1..10".
struct failure {
  std::string message;
};

/// A value or a failure.
template <class T>
class [[nodiscard]] outcome {
 public:
  outcome(T value) : state_(std::move(value)) {}  // NOLINT: implicit on purpose
  outcome(failure f) : state_(std::move(f)) {}    // NOLINT: implicit on purpose

  [[nodiscard]] bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  /// The value; only when ok().
  [[nodiscard]] const T& value() const& { return std::get<0>(state_); }
  [[nodiscard]] T& value() & { return std::get<0>(state_); }
  [[nodiscard]] T&& value() && { return std::get<0>(std::move(state_)); }
  /// The message; only when !ok().
  [[nodiscard]] const std::string& message() const { return std::get<1>(state_).message; }

 private:
  std::variant<T, failure> state_;
};

}  // namespace toneguard::engine
