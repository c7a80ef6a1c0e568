#include "toneguard/engine/money.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace toneguard::engine {
namespace {

// Sorted by code for binary search.
constexpr std::array kCurrencies{
    currency{"AUD", 2, "dollar", "cent"},   currency{"BHD", 3, "dinar", "fils"},
    currency{"BRL", 2, "real", "centavo"},  currency{"CAD", 2, "dollar", "cent"},
    currency{"CHF", 2, "franc", "centime"}, currency{"CLP", 0, "peso", ""},
    currency{"CNY", 2, "yuan", "fen"},      currency{"CZK", 2, "koruna", "haler"},
    currency{"DKK", 2, "krone", "ore"},     currency{"EUR", 2, "euro", "cent"},
    currency{"GBP", 2, "pound", "penny"},   currency{"HKD", 2, "dollar", "cent"},
    currency{"INR", 2, "rupee", "paisa"},   currency{"ISK", 0, "krona", ""},
    currency{"JOD", 3, "dinar", "fils"},    currency{"JPY", 0, "yen", ""},
    currency{"KRW", 0, "won", ""},          currency{"KWD", 3, "dinar", "fils"},
    currency{"MXN", 2, "peso", "centavo"},  currency{"NOK", 2, "krone", "ore"},
    currency{"NZD", 2, "dollar", "cent"},   currency{"OMR", 3, "rial", "baisa"},
    currency{"PLN", 2, "zloty", "grosz"},   currency{"SEK", 2, "krona", "ore"},
    currency{"SGD", 2, "dollar", "cent"},   currency{"TND", 3, "dinar", "millime"},
    currency{"USD", 2, "dollar", "cent"},   currency{"ZAR", 2, "rand", "cent"},
};

constexpr std::int64_t kMaxMinor = 1'000'000'000'000'000;  // 10^15

}  // namespace

std::span<const currency> known_currencies() noexcept {
  return kCurrencies;
}

std::optional<currency> find_currency(std::string_view code) noexcept {
  if (code.size() != 3) return std::nullopt;
  char upper[3];
  for (int i = 0; i < 3; ++i)
    upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(code[i])));
  const std::string_view key(upper, 3);
  const auto it =
      std::lower_bound(kCurrencies.begin(), kCurrencies.end(), key,
                       [](const currency& c, std::string_view k) { return c.code < k; });
  if (it == kCurrencies.end() || it->code != key) return std::nullopt;
  return *it;
}

std::int64_t minor_per_major(const currency& c) noexcept {
  std::int64_t f = 1;
  for (int i = 0; i < c.minor_units; ++i) f *= 10;
  return f;
}

std::string format_decimal(const money& m) {
  const std::int64_t per = minor_per_major(m.code);
  const bool negative = m.minor < 0;
  const std::uint64_t magnitude =
      negative ? 0 - static_cast<std::uint64_t>(m.minor) : static_cast<std::uint64_t>(m.minor);
  std::string out = negative ? "-" : "";
  out += std::to_string(magnitude / static_cast<std::uint64_t>(per));
  if (m.code.minor_units > 0) {
    std::string frac = std::to_string(magnitude % static_cast<std::uint64_t>(per));
    out += '.';
    out.append(static_cast<std::size_t>(m.code.minor_units) - frac.size(), '0');
    out += frac;
  }
  return out;
}

namespace {

// Parses "major[sep fraction]" where sep is `point`; nullopt on anything else.
std::optional<std::int64_t> parse_major_fraction(std::string_view text, char point,
                                                 const currency& c) noexcept {
  if (text.empty()) return std::nullopt;
  const auto sep = text.find(point);
  const std::string_view major = text.substr(0, sep);
  const std::string_view fraction =
      sep == std::string_view::npos ? std::string_view{} : text.substr(sep + 1);
  if (major.empty() && fraction.empty()) return std::nullopt;
  if (sep != std::string_view::npos && fraction.empty()) return std::nullopt;
  if (fraction.size() > static_cast<std::size_t>(c.minor_units)) return std::nullopt;
  const std::int64_t per = minor_per_major(c);
  std::int64_t major_value = 0;
  for (char ch : major) {
    if (ch < '0' || ch > '9') return std::nullopt;
    major_value = major_value * 10 + (ch - '0');
    if (major_value > kMaxMinor / per) return std::nullopt;
  }
  std::int64_t fraction_value = 0;
  for (char ch : fraction) {
    if (ch < '0' || ch > '9') return std::nullopt;
    fraction_value = fraction_value * 10 + (ch - '0');
  }
  for (std::size_t i = fraction.size(); i < static_cast<std::size_t>(c.minor_units); ++i) {
    fraction_value *= 10;
  }
  const std::int64_t total = major_value * per + fraction_value;
  if (total > kMaxMinor) return std::nullopt;
  return total;
}

}  // namespace

std::optional<std::int64_t> parse_keypad_amount(std::string_view keys, const currency& c,
                                                bool star_decimal) noexcept {
  if (keys.empty()) return std::nullopt;
  if (star_decimal) return parse_major_fraction(keys, '*', c);
  std::int64_t total = 0;
  for (char ch : keys) {
    if (ch < '0' || ch > '9') return std::nullopt;
    total = total * 10 + (ch - '0');
    if (total > kMaxMinor) return std::nullopt;
  }
  return total;
}

std::optional<std::int64_t> parse_decimal_amount(std::string_view text,
                                                 const currency& c) noexcept {
  return parse_major_fraction(text, '.', c);
}

}  // namespace toneguard::engine
