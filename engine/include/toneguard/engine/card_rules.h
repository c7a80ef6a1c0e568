#pragma once
/// Card rules: brand from the IIN (issuer identification number) prefix, lengths per brand,
/// the Luhn check, which further fields a brand asks for, and expiry checks. Pure functions on
/// digit strings; nothing here keeps, logs or formats card data. Any thread.

#include <cstdint>
#include <span>
#include <string_view>

namespace toneguard::engine {

/// Card brands toneguard recognizes.
enum class card_brand : std::uint8_t {
  unknown,
  visa,
  mastercard,
  american_express,
  discover,
  diners_club,
  jcb,
  unionpay,
  maestro,
};

/// The brand's display and config name: "visa", "mastercard", "amex", "discover", "diners",
/// "jcb", "unionpay", "maestro", "unknown".
[[nodiscard]] std::string_view brand_name(card_brand b) noexcept;

/// The brand named `name` (as brand_name writes it, case-insensitive; also "american-express",
/// "diners-club"), or card_brand::unknown.
[[nodiscard]] card_brand brand_from_name(std::string_view name) noexcept;

/// Every brand except unknown, in enum order.
[[nodiscard]] std::span<const card_brand> all_card_brands() noexcept;

/// The brand a (possibly partial) card number belongs to, from its leading digits; unknown
/// until enough digits are there to tell (at most 6) or when no range matches. Where ranges
/// overlap the more specific one wins (e.g. Discover's 622126-622925 inside UnionPay's 62).
/// `digits` holds only '0'-'9' (anything else gives unknown). The range table, its source and
/// its rules are documented in card_rules.cpp.
[[nodiscard]] card_brand detect_brand(std::string_view digits) noexcept;

/// Shortest and longest card number of a brand, in digits (Visa 13..19, Amex 15..15, ...).
struct length_range {
  int min = 0;
  int max = 0;
};
[[nodiscard]] length_range card_number_lengths(card_brand b) noexcept;

/// True when `length` is a valid card-number length for `b` (some brands allow only some
/// lengths within their range, e.g. Visa 13, 16 or 19).
[[nodiscard]] bool valid_card_number_length(card_brand b, int length) noexcept;

/// True when `digits` (only '0'-'9', at least 2) passes the Luhn mod-10 check.
[[nodiscard]] bool luhn_valid(std::string_view digits) noexcept;

/// CVV/CVC/CID length the brand prints: 4 for American Express, 3 for the others, 0 where a
/// brand's cards may carry none (Maestro is optional: 3, but `cvv_optional` says so). Unknown
/// gives 3, the common length.
[[nodiscard]] int cvv_length(card_brand b) noexcept;

/// True when a brand's cards may lack a security code (Maestro), so the caller may skip it.
[[nodiscard]] bool cvv_optional(card_brand b) noexcept;

/// Whether a brand's cards carry an expiry date the gateway needs (all known brands do; some
/// Maestro cards do not, so it is optional there).
[[nodiscard]] bool expiry_optional(card_brand b) noexcept;

/// Why a card number was refused; ok when it is acceptable.
enum class card_number_check : std::uint8_t {
  ok,
  unknown_brand,
  brand_not_allowed,
  wrong_length,
  luhn_failed,
};

/// The error type's name for events and reports ("unknown-brand", "brand-not-allowed",
/// "wrong-length", "luhn-failed", "ok").
[[nodiscard]] std::string_view check_name(card_number_check c) noexcept;

/// Checks a complete card number: brand known, allowed, length valid for it, Luhn valid.
/// `allowed` lists the accepted brands; empty means all.
[[nodiscard]] card_number_check check_card_number(std::string_view digits,
                                                  std::span<const card_brand> allowed) noexcept;

/// A month of a year, e.g. {2027, 3}.
struct year_month {
  int year = 0;   // four digits
  int month = 0;  // 1..12
  friend auto operator<=>(const year_month&, const year_month&) = default;
};

/// Why an expiry was refused; ok when it is acceptable.
enum class expiry_check : std::uint8_t { ok, malformed, bad_month, expired, too_far_ahead };

/// The error type's name ("malformed", "bad-month", "expired", "too-far-ahead", "ok").
[[nodiscard]] std::string_view check_name(expiry_check c) noexcept;

/// Checks a keypad expiry "MMYY" (exactly four digits) against `today`: a card is valid
/// through the last day of its month, so the current month is not expired; more than
/// `max_years_ahead` years after today is refused (a negative value counts as 0). The two-digit
/// year YY means 20YY. Order of checks: malformed (not four digits), bad month (00 or 13-99),
/// expired, too far ahead. `out` receives the parsed month when ok and is untouched otherwise.
[[nodiscard]] expiry_check check_expiry(std::string_view mmyy, year_month today,
                                        int max_years_ahead, year_month* out = nullptr) noexcept;

}  // namespace toneguard::engine
