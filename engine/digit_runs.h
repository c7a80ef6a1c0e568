#pragma once
// The digit-run scan behind the engine's card-number refusals (internal to engine): a request
// (payment_config.cpp) and a report row (report_store.cpp) each refuse text that may hold a
// card number, and each decides what a run of digits must be to count as one.

#include <string>
#include <string_view>

namespace toneguard::engine::detail {

/// Calls `is_card(run)` (run: a `std::string_view` of ASCII digits) for each run of digits in
/// `text`, spaces and dashes between digits skipped, so "4111 1111-1111 1111" is one run; true
/// as soon as one call returns true. Allocates the run; any thread.
template <class IsCard>
[[nodiscard]] bool any_digit_run(std::string_view text, IsCard&& is_card) {
  std::string run;
  const auto check = [&] {
    const bool card = !run.empty() && is_card(std::string_view(run));
    run.clear();
    return card;
  };
  for (const char c : text) {
    if (c >= '0' && c <= '9') {
      run += c;
    } else if ((c == ' ' || c == '-') && !run.empty()) {
      continue;
    } else if (check()) {
      return true;
    }
  }
  return check();
}

}  // namespace toneguard::engine::detail
