#pragma once
// What a simulated caller types for a card in tests: a valid expiry that stays valid.

#include <cstdio>
#include <ctime>
#include <string>

namespace toneguard::testing {

// December of next year as MMYY, the expiry a test caller types.
inline std::string expiry_mmyy() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[8];
  std::snprintf(text, sizeof text, "12%02d", (local.tm_year + 1900 + 1) % 100);
  return text;
}

}  // namespace toneguard::testing
