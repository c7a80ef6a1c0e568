#pragma once
/// Money: ISO 4217 currencies with their minor units, and amounts held as integers in minor
/// units (cents), never as floating point. Plain values; any thread.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace toneguard::engine {

/// One ISO 4217 currency.
struct currency {
  /// The alphabetic code, e.g. "USD".
  std::string_view code;
  /// Digits after the decimal point: 2 for USD, 0 for JPY, 3 for KWD.
  int minor_units = 2;
  /// English names of one major and one minor unit, for prompts ("dollar", "cent"); an empty
  /// minor name when minor_units is 0.
  std::string_view major_name;
  std::string_view minor_name;

  friend bool operator==(const currency& a, const currency& b) { return a.code == b.code; }
};

/// Every currency toneguard knows, sorted by code.
[[nodiscard]] std::span<const currency> known_currencies() noexcept;

/// The currency with alphabetic `code` (case-insensitive), or nullopt.
[[nodiscard]] std::optional<currency> find_currency(std::string_view code) noexcept;

/// An amount of money: `minor` units of `code` (1999 USD = $19.99). Non-negative in payments.
struct money {
  std::int64_t minor = 0;
  currency code;
};

/// 10^minor_units: how many minor units make one major unit (100 for USD, 1 for JPY).
[[nodiscard]] std::int64_t minor_per_major(const currency& c) noexcept;

/// The amount as the gateway contract writes it: major units with a decimal point and exactly
/// minor_units decimals ("19.99", "1500", "1.250").
[[nodiscard]] std::string format_decimal(const money& m);

/// Parses keypad entry of an amount: either all digits in minor units ("1999" = 19.99 USD), or
/// with `*` as the decimal point ("19*99", "19*9" = 19.90, "19" with star_mode = 19.00).
/// `star_decimal`: the entry used `*` as the decimal point; plain digits are then major units.
/// Returns nullopt for an empty entry, more decimals than the currency has, or an amount above
/// 10^15 minor units.
[[nodiscard]] std::optional<std::int64_t> parse_keypad_amount(std::string_view keys,
                                                              const currency& c,
                                                              bool star_decimal) noexcept;

/// Parses a decimal amount as configs and the API write it ("19.99", "20", "0.5") into minor
/// units of `c`; nullopt when malformed, negative or more precise than the currency.
[[nodiscard]] std::optional<std::int64_t> parse_decimal_amount(std::string_view text,
                                                               const currency& c) noexcept;

}  // namespace toneguard::engine
