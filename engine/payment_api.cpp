#include "toneguard/engine/payment_api.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <random>

#include "toneguard/engine/card_rules.h"
#include "toneguard/engine/gateway_client.h"
#include "toneguard/engine/money.h"

namespace toneguard::engine {

namespace json = boost::json;

std::string_view payment_state_name(payment_state s) noexcept {
  switch (s) {
    case payment_state::running:
      return "running";
    case payment_state::finished:
      return "finished";
  }
  return "unknown";
}

std::string_view backend_error_code(backend_error e) noexcept {
  switch (e) {
    case backend_error::unknown_call:
      return "unknown_call";
    case backend_error::unknown_payment:
      return "unknown_payment";
    case backend_error::payment_in_progress:
      return "payment_in_progress";
    case backend_error::payment_id_in_use:
      return "payment_id_in_use";
    case backend_error::payment_finished:
      return "payment_finished";
    case backend_error::invalid_request:
      return "invalid_request";
    case backend_error::unavailable:
      return "unavailable";
  }
  return "internal_error";
}

std::string generate_payment_id() {
  // Letters only: an id with a long digit run could be refused as looking like a card number.
  static constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyz";
  constexpr std::size_t kLength = 28;  // 28 x log2(26) = 131 bits
  std::string id = "pay_";
  std::random_device fallback;
  while (id.size() < 4 + kLength) {
    std::array<unsigned char, 32> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
      for (auto& b : bytes) b = static_cast<unsigned char>(fallback());
    }
    for (const unsigned char b : bytes) {
      // 234 = 9 x 26: below it every letter is equally likely.
      if (b < 234 && id.size() < 4 + kLength) id += kLetters[b % 26];
    }
  }
  return id;
}

// --- parsing --------------------------------------------------------------------------------

namespace {

failure field_failure(std::string_view field, std::string_view text) {
  return failure{"payment request: field '" + std::string(field) + "': " + std::string(text)};
}

// A field name from the client is quoted only when it is plainly a name: a body could carry
// anything, also in its keys.
std::string printable_field_name(std::string_view key) {
  const bool plain =
      !key.empty() && key.size() <= 40 && std::all_of(key.begin(), key.end(), [](char c) {
        return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '-';
      });
  return plain ? "'" + std::string(key) + "'" : std::string("(a name that is not a plain word)");
}

bool id_text(std::string_view s, std::size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// validate_payment_request names fields as the config does ("account-id"); the API's JSON
// names are snake_case. It may quote a parameter's name: digit runs in it are blanked, so that
// no message of the API can carry a card number.
std::string api_field_names(std::string message) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 2> kRenames{{
      {"'payment-id'", "'payment_id'"},
      {"'account-id'", "'account_id'"},
  }};
  for (const auto& [from, to] : kRenames) {
    for (auto at = message.find(from); at != std::string::npos; at = message.find(from, at)) {
      message.replace(at, from.size(), to);
      at += to.size();
    }
  }
  std::string out;
  std::string digits;
  const auto flush = [&] {
    out += digits.size() >= 6 ? std::string("#") : digits;
    digits.clear();
  };
  for (const char c : message) {
    if (c >= '0' && c <= '9') {
      digits += c;
      continue;
    }
    flush();
    out += c;
  }
  flush();
  return out;
}

bool valid_callback_url(std::string_view url) {
  if (url.size() > 2048) return false;
  std::string_view rest;
  if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return false;
  }
  if (rest.empty() || rest.front() == '/') return false;
  return std::all_of(url.begin(), url.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

outcome<payment_start> parse_start_payment_unguarded(std::string_view text,
                                                     const payment_config& config) {
  // The body could carry anything: parse it in memory that is wiped when freed.
  json::parse_options options;
  options.max_depth = 8;
  boost::system::error_code ec;
  json::value doc = json::parse(json::string_view(text.data(), text.size()), ec,
                                zeroizing_json_storage(), options);
  if (ec) return failure{"payment request: malformed JSON (" + ec.message() + ")"};
  if (!doc.is_object()) return failure{"payment request: expected a JSON object"};
  const json::object& o = doc.get_object();

  payment_start start;
  payment_request& r = start.request;
  std::optional<std::string> amount_text;
  std::optional<std::string> balance_text;

  const auto string_of = [](const json::value& v) -> std::optional<std::string> {
    if (!v.is_string()) return std::nullopt;
    return std::string(v.get_string());
  };
  for (const auto& [key, value] : o) {
    if (value.is_null()) continue;
    const std::string_view k(key.data(), key.size());
    if (k == "amount" || k == "balance") {
      auto s = string_of(value);
      if (!s) return field_failure(k, "expected a decimal string such as \"19.99\"");
      (k == "amount" ? amount_text : balance_text) = std::move(s);
    } else if (k == "currency" || k == "account_id" || k == "reference" || k == "payment_id" ||
               k == "status_callback") {
      auto s = string_of(value);
      if (!s) return field_failure(k, "expected a string");
      if (k == "currency") {
        if (!find_currency(*s)) return field_failure(k, "not a known ISO 4217 currency code");
        r.currency_code = std::move(*s);
      } else if (k == "account_id") {
        r.account_id = std::move(*s);
      } else if (k == "reference") {
        r.reference = std::move(*s);
      } else if (k == "payment_id") {
        r.payment_id = std::move(*s);
        if (!id_text(r.payment_id, 64)) {
          return field_failure(k, "expected 1..64 of letters, digits, '.', '_' and '-'");
        }
      } else {
        if (!valid_callback_url(*s)) {
          return field_failure(k, "expected an http:// or https:// URL of up to 2048 characters");
        }
        start.status_callback = std::move(*s);
      }
    } else if (k == "mode") {
      const auto s = string_of(value);
      if (s == mode_name(payment_mode::automated)) {
        r.mode = payment_mode::automated;
      } else if (s == mode_name(payment_mode::agent_assisted)) {
        r.mode = payment_mode::agent_assisted;
      } else {
        return field_failure(k, "expected \"automated\" or \"agent-assisted\"");
      }
    } else if (k == "treatment") {
      const auto s = string_of(value);
      if (s == treatment_name(agent_treatment::removed)) {
        r.treatment = agent_treatment::removed;
      } else if (s == treatment_name(agent_treatment::stay_on_line)) {
        r.treatment = agent_treatment::stay_on_line;
      } else {
        return field_failure(k, "expected \"removed\" or \"stay-on-line\"");
      }
    } else if (k == "identified") {
      if (!value.is_bool()) return field_failure(k, "expected true or false");
      r.identified = value.get_bool();
    } else if (k == "parameters") {
      if (!value.is_object()) return field_failure(k, "expected an object of strings");
      for (const auto& [pk, pv] : value.get_object()) {
        if (!id_text(std::string_view(pk.data(), pk.size()), 64)) {
          return field_failure(k, "a name is not 1..64 of letters, digits, '.', '_' and '-'");
        }
        if (!pv.is_string()) return field_failure(k, "every value must be a string");
        r.parameters[std::string(pk)] = std::string(pv.get_string());
      }
    } else {
      return failure{"payment request: unknown field " + printable_field_name(k)};
    }
  }

  const currency money_currency =
      r.currency_code.empty() ? config.payment_currency : *find_currency(r.currency_code);
  if (amount_text) {
    r.amount_minor = parse_decimal_amount(*amount_text, money_currency);
    if (!r.amount_minor) {
      return field_failure("amount", "expected a decimal string such as \"19.99\" with at most " +
                                         std::to_string(money_currency.minor_units) + " decimals");
    }
  }
  if (balance_text) {
    r.balance_minor = parse_decimal_amount(*balance_text, money_currency);
    if (!r.balance_minor) {
      return field_failure("balance", "expected a decimal string such as \"19.99\" with at most " +
                                          std::to_string(money_currency.minor_units) + " decimals");
    }
  }
  // validate_payment_request would quote the amount; the API names the limit only.
  if (r.amount_minor && *r.amount_minor > config.max_amount_minor) {
    return field_failure(
        "amount",
        "above the maximum " + format_decimal(money{config.max_amount_minor, money_currency}));
  }
  if (r.payment_id.empty()) r.payment_id = generate_payment_id();
  auto checked = validate_payment_request(std::move(r), config);
  if (!checked) return failure{api_field_names(checked.message())};
  start.request = std::move(checked).value();
  return start;
}

}  // namespace

outcome<payment_start> parse_start_payment(std::string_view json_text,
                                           const payment_config& config) {
  try {
    return parse_start_payment_unguarded(json_text, config);
  } catch (const std::bad_alloc&) {
    return failure{"payment request: out of memory"};
  } catch (...) {
    return failure{"payment request: could not be read"};
  }
}

// --- JSON -----------------------------------------------------------------------------------

json::object progress_json(const progress_event& e) {
  json::object o;
  o["type"] = "progress";
  o["kind"] = progress_kind_name(e.kind);
  if (e.field) o["field"] = field_name(*e.field);
  if (e.kind == progress_kind::digits_entered) o["digits"] = e.digits;
  if (e.brand != card_brand::unknown) o["brand"] = brand_name(e.brand);
  if (!e.error.empty()) o["error"] = e.error;
  if (e.attempt > 0) o["attempt"] = e.attempt;
  if (e.max_attempts > 0) o["max_attempts"] = e.max_attempts;
  if (e.outcome) o["outcome"] = result_name(*e.outcome);
  o["at_ms"] = e.at_ms;
  return o;
}

json::object result_json(const payment_result& r) {
  json::object o;
  o["type"] = "result";
  o["payment_id"] = r.payment_id;
  o["result"] = result_name(r.outcome);
  o["transaction_reference"] = r.transaction_reference;
  o["transaction_id"] = r.transaction_id;
  o["brand"] = brand_name(r.brand);
  o["last_four"] = r.last_four;
  if (r.payment_currency.code.empty()) {
    o["amount"] = nullptr;
    o["currency"] = nullptr;
  } else {
    o["amount"] = format_decimal(money{r.amount_minor, r.payment_currency});
    o["currency"] = r.payment_currency.code;
  }
  o["amount_minor"] = r.amount_minor;
  o["customer_id"] = r.customer_id;
  o["attempts"] = r.attempts;
  o["declines"] = r.declines;
  o["failed_entries"] = r.failed_entries;
  if (r.failed_field) {
    o["failed_field"] = field_name(*r.failed_field);
  } else {
    o["failed_field"] = nullptr;
  }
  o["error"] = r.error;
  o["started_ms"] = r.started_ms;
  o["finished_ms"] = r.finished_ms;
  return o;
}

json::object call_json(const call_summary& c) {
  json::object o;
  o["call_id"] = c.call_id;
  o["started_ms"] = c.started_ms;
  o["state"] = c.state;
  o["legs"] = c.legs;
  if (c.payment_id.empty()) {
    o["payment_id"] = nullptr;
  } else {
    o["payment_id"] = c.payment_id;
  }
  return o;
}

json::object payment_status_json(const payment_status& s, const payment_config& config) {
  const payment_request& r = s.request;
  const currency c = r.currency_code.empty()
                         ? config.payment_currency
                         : find_currency(r.currency_code).value_or(config.payment_currency);
  const auto amount = [&c](const std::optional<std::int64_t>& minor) -> json::value {
    if (!minor) return nullptr;
    return json::value(format_decimal(money{*minor, c}));
  };
  json::object o;
  o["payment_id"] = s.payment_id;
  o["call_id"] = s.call_id;
  o["state"] = payment_state_name(s.state);
  o["amount"] = amount(r.amount_minor);
  o["balance"] = amount(r.balance_minor);
  o["currency"] = c.code;
  o["account_id"] = r.account_id;
  o["reference"] = r.reference;
  o["mode"] = r.mode ? json::value(mode_name(*r.mode)) : json::value(nullptr);
  o["treatment"] = r.treatment ? json::value(treatment_name(*r.treatment)) : json::value(nullptr);
  o["identified"] = r.identified;
  o["events_url"] = "/v1/payments/" + s.payment_id + "/events";
  o["last_progress"] = s.last_progress ? json::value(progress_json(*s.last_progress)) : nullptr;
  o["result"] = s.result ? json::value(result_json(*s.result)) : nullptr;
  return o;
}

json::object segment_json(const segment_record& s) {
  json::object o;
  o["type"] = "segment";
  o["id"] = s.id;
  o["call_id"] = s.call_id;
  o["kind"] = segment_kind_name(s.kind);
  o["started_at_ms"] = s.started_at_ms;
  o["ended_at_ms"] = s.ended_at_ms ? json::value(*s.ended_at_ms) : json::value(nullptr);
  o["outcome"] = s.outcome;
  o["payment_id"] = s.payment_id ? json::value(*s.payment_id) : json::value(nullptr);
  return o;
}

json::object call_ended_json(const call_ended_event& e) {
  json::object o;
  o["type"] = "call-ended";
  o["call_id"] = e.call_id;
  o["ended_at_ms"] = e.ended_at_ms;
  o["reason"] = e.reason;
  return o;
}

std::string update_json_text(const payment_update& u) {
  if (const auto* e = std::get_if<progress_event>(&u)) return json::serialize(progress_json(*e));
  if (const auto* r = std::get_if<payment_result>(&u)) return json::serialize(result_json(*r));
  if (const auto* s = std::get_if<segment_record>(&u)) return json::serialize(segment_json(*s));
  return json::serialize(call_ended_json(std::get<call_ended_event>(u)));
}

}  // namespace toneguard::engine
