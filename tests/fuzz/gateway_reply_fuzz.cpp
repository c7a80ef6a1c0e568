// libFuzzer target: arbitrary bytes as a payment gateway's reply (to a charge, a tokenize and an
// identification) and as a request body to the sandbox gateway. The first byte picks the HTTP
// status; the rest is the body. Parsing must never crash or throw; an approval needs status 200
// and a printable reference; a decline needs a 4xx status and a card decline code; messages
// stay bounded. The sandbox's answer must be a JSON object with a known status and never echo
// the request's card number.
#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "toneguard/engine/gateway_client.h"
#include "toneguard/engine/sandbox_gateway.h"

using namespace toneguard::engine;

namespace {

constexpr std::array<unsigned, 12> kStatuses{200, 200, 200, 201, 400, 401,
                                             402, 404, 429, 500, 502, 503};

void require(bool ok) {
  if (!ok) std::abort();
}

void check_reply(gateway_method method, unsigned status, std::string_view body) {
  const gateway_reply r = parse_gateway_reply(method, status, body);
  switch (r.outcome) {
    case gateway_outcome::approved:
      require(status == 200);
      require(!r.reference.empty() && r.reference.size() <= 128);
      for (char c : r.reference) require(c > 0x20 && c < 0x7f);
      require(r.error_code.empty());
      break;
    case gateway_outcome::declined:
      require(status >= 400 && status < 500);
      require(is_card_decline(r.error_code));
      break;
    case gateway_outcome::error:
      require(!r.error_code.empty());
      require(r.reference.empty());
      break;
  }
  require(r.error_message.size() < 600);
  for (char c : r.error_message) require(c >= 0x20 && c < 0x7f);
}

void check_identity(unsigned status, std::string_view body) {
  const identity_reply r = parse_identity_reply(status, body);
  if (r.outcome == identity_outcome::verified) {
    require(status == 200);
    require(!r.customer_id.empty() && r.customer_id.size() <= 128);
    if (r.balance_minor) require(*r.balance_minor >= 0);
  } else {
    require(r.customer_id.empty());
  }
  require(r.error_message.size() < 600);
}

void check_sandbox(std::string_view body) {
  const sandbox_answer a = answer_charge(body, 1, year_month{2026, 11});
  const unsigned allowed[] = {200, 400, 402, 429, 500, 503};
  require(std::find(std::begin(allowed), std::end(allowed), a.status) != std::end(allowed));
  boost::system::error_code ec;
  const auto reply = boost::json::parse(a.body, ec);
  require(!ec && reply.is_object());
  // A card number (8 or more digits) must not come back (unless the client chose to repeat it
  // elsewhere).
  const auto request = boost::json::parse(body, ec);
  if (!ec && request.is_object()) {
    const auto* pan = request.as_object().if_contains("cardnumber");
    const auto* txid = request.as_object().if_contains("transaction_id");
    const auto digits = [](std::string_view t) {
      return std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (pan != nullptr && pan->is_string() && pan->get_string().size() >= 8 &&
        digits(pan->get_string())) {
      const std::string number(pan->get_string());
      const bool repeated =
          txid != nullptr && txid->is_string() &&
          std::string_view(txid->get_string()).find(number) != std::string_view::npos;
      if (!repeated) require(a.body.find(number) == std::string::npos);
    }
  }
  const sandbox_answer id = answer_identify(body);
  require(id.status == 200 || id.status == 400 || id.status == 500);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned status = kStatuses[data[0] % kStatuses.size()];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  check_reply(gateway_method::charge, status, body);
  check_reply(gateway_method::tokenize, status, body);
  check_identity(status, body);
  check_sandbox(body);
  return 0;
}
