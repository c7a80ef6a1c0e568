// libFuzzer target: arbitrary bytes as the JSON body of "start a payment". Parsing must never
// throw or crash; a refusal starts with "payment request" and quotes no digit run a card number
// could hide in; an accepted request passes validate_payment_request again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "toneguard/engine/payment_api.h"
#include "toneguard/engine/payment_config.h"

using namespace toneguard::engine;

namespace {

bool has_digit_run(std::string_view s, std::size_t n) {
  std::size_t run = 0;
  for (const char c : s) {
    run = (c >= '0' && c <= '9') ? run + 1 : 0;
    if (run >= n) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const payment_config config = default_payment_config();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_start_payment(text, config);
  if (!parsed.ok()) {
    if (parsed.message().rfind("payment request", 0) != 0) std::abort();
    if (has_digit_run(parsed.message(), 12)) std::abort();
    return 0;
  }
  const payment_start& s = parsed.value();
  if (s.request.payment_id.empty()) std::abort();
  if (!validate_payment_request(s.request, config).ok()) std::abort();
  if (s.request.amount_minor && *s.request.amount_minor <= 0) std::abort();
  if (!s.status_callback.empty() && s.status_callback.rfind("http", 0) != 0) std::abort();
  return 0;
}
