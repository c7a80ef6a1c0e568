// libFuzzer target: arbitrary bytes as a payment config (TOML). Parsing must never throw or
// crash; a refused config names itself in the message, and an accepted one holds only valid
// values (the same rules validate_payment_config applies).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "toneguard/engine/payment_config.h"

using namespace toneguard::engine;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_payment_config(text, "fuzz");
  if (!parsed.ok()) {
    if (parsed.message().rfind("payment config fuzz: ", 0) != 0) std::abort();
    return 0;
  }
  const payment_config& c = parsed.value();
  if (!validate_payment_config(c).ok()) std::abort();
  if (c.min_amount_minor <= 0 || c.min_amount_minor > c.max_amount_minor) std::abort();
  if (c.max_declines < 1 || c.max_declines > 10) std::abort();
  for (const card_brand b : c.allowed_brands) {
    if (b == card_brand::unknown) std::abort();
  }
  for (const field_settings& f : c.fields) {
    if (f.attempts < 1 || f.first_digit_timeout_ms < 1000 || f.inter_digit_timeout_ms < 1000)
      std::abort();
  }
  return 0;
}
