#include "toneguard/engine/card_rules.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace toneguard::engine {
namespace {

// IIN (BIN) range table.
//
// Source: the ranges the schemes publish, as the Wikipedia article "Payment card number"
// (ISO/IEC 7812 IIN table) collects them, cross-checked with the public test card numbers of
// Stripe, Adyen and Braintree (tests/engine/card_rules_test.cpp):
//   Visa              4                                   13, 16, 19
//   Mastercard        51-55, 2221-2720                    16
//   American Express  34, 37                              15
//   Discover          6011, 644-649, 65, 622126-622925    16-19
//   Diners Club       300-305, 3095, 36, 38-39            14-19
//   JCB               3528-3589                           16-19
//   UnionPay          62, 81                              16-19
//   Maestro           50, 56-58, and 6 (every 6x range    12-19
//                     not claimed above: e.g. 6304,
//                     6759, 676770, 676774)
//
// Rules:
// - Every row is a range [lo, hi] of prefixes of `digits` digits (1 to 6).
// - Where rows overlap, the one with more digits (the more specific) wins: Discover's 6011,
//   644-649, 65 and 622126-622925 beat Maestro's 6; Discover's 622126-622925 beats UnionPay's 62.
//   No two rows of the same length overlap.
// - Schemes toneguard does not accept (Mir 2200-2204, UATP 1, Troy 9792, ...) are left out, so
//   they read as unknown; national schemes issued inside the ranges above (RuPay, Elo, Verve)
//   read as that range's brand, as published tables list them.
// - Mastercard's co-branded Diners Club US/Canada cards (54, 55) are Mastercard.
struct iin_range {
  std::uint32_t lo;
  std::uint32_t hi;
  int digits;
  card_brand brand;
};

constexpr std::array kIinRanges{
    iin_range{4, 4, 1, card_brand::visa},
    iin_range{51, 55, 2, card_brand::mastercard},
    iin_range{2221, 2720, 4, card_brand::mastercard},
    iin_range{34, 34, 2, card_brand::american_express},
    iin_range{37, 37, 2, card_brand::american_express},
    iin_range{6011, 6011, 4, card_brand::discover},
    iin_range{644, 649, 3, card_brand::discover},
    iin_range{65, 65, 2, card_brand::discover},
    iin_range{622126, 622925, 6, card_brand::discover},
    iin_range{300, 305, 3, card_brand::diners_club},
    iin_range{3095, 3095, 4, card_brand::diners_club},
    iin_range{36, 36, 2, card_brand::diners_club},
    iin_range{38, 39, 2, card_brand::diners_club},
    iin_range{3528, 3589, 4, card_brand::jcb},
    iin_range{62, 62, 2, card_brand::unionpay},
    iin_range{81, 81, 2, card_brand::unionpay},
    iin_range{50, 50, 2, card_brand::maestro},
    iin_range{56, 58, 2, card_brand::maestro},
    iin_range{6, 6, 1, card_brand::maestro},
};

constexpr int kIinDigits = 6;

constexpr std::uint32_t pow10(int n) noexcept {
  std::uint32_t p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

// The brand of a full six-digit IIN: the most specific row that contains it.
card_brand brand_of_iin(std::uint32_t iin) noexcept {
  card_brand best = card_brand::unknown;
  int best_digits = 0;
  for (const iin_range& r : kIinRanges) {
    const std::uint32_t prefix = iin / pow10(kIinDigits - r.digits);
    if (prefix >= r.lo && prefix <= r.hi && r.digits > best_digits) {
      best = r.brand;
      best_digits = r.digits;
    }
  }
  return best;
}

constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

constexpr bool all_digits(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), is_digit);
}

constexpr char to_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

constexpr std::array kAllBrands{
    card_brand::visa,     card_brand::mastercard,  card_brand::american_express,
    card_brand::discover, card_brand::diners_club, card_brand::jcb,
    card_brand::unionpay, card_brand::maestro,
};

}  // namespace

std::string_view brand_name(card_brand b) noexcept {
  switch (b) {
    case card_brand::visa:
      return "visa";
    case card_brand::mastercard:
      return "mastercard";
    case card_brand::american_express:
      return "amex";
    case card_brand::discover:
      return "discover";
    case card_brand::diners_club:
      return "diners";
    case card_brand::jcb:
      return "jcb";
    case card_brand::unionpay:
      return "unionpay";
    case card_brand::maestro:
      return "maestro";
    case card_brand::unknown:
      break;
  }
  return "unknown";
}

card_brand brand_from_name(std::string_view name) noexcept {
  for (const card_brand b : kAllBrands) {
    if (equals_ignoring_case(name, brand_name(b))) return b;
  }
  if (equals_ignoring_case(name, "american-express")) return card_brand::american_express;
  if (equals_ignoring_case(name, "diners-club")) return card_brand::diners_club;
  return card_brand::unknown;
}

std::span<const card_brand> all_card_brands() noexcept {
  return kAllBrands;
}

card_brand detect_brand(std::string_view digits) noexcept {
  if (!all_digits(digits)) return card_brand::unknown;
  // The IINs the input may still become form the interval [first, last]; the brand is known
  // once every IIN in it has the same brand. The brand only changes at a row's edges, so
  // checking `first` and every edge inside the interval covers all of it.
  const int known = static_cast<int>(std::min<std::size_t>(digits.size(), kIinDigits));
  std::uint32_t prefix = 0;
  for (int i = 0; i < known; ++i)
    prefix = prefix * 10 + static_cast<std::uint32_t>(digits[i] - '0');
  const std::uint32_t span = pow10(kIinDigits - known);
  const std::uint32_t first = prefix * span;
  const std::uint32_t last = first + span - 1;

  const card_brand brand = brand_of_iin(first);
  for (const iin_range& r : kIinRanges) {
    const std::uint32_t scale = pow10(kIinDigits - r.digits);
    for (const std::uint32_t edge : {r.lo * scale, (r.hi + 1) * scale}) {
      if (edge > first && edge <= last && brand_of_iin(edge) != brand) return card_brand::unknown;
    }
  }
  return brand;
}

length_range card_number_lengths(card_brand b) noexcept {
  switch (b) {
    case card_brand::visa:
      return {13, 19};
    case card_brand::mastercard:
      return {16, 16};
    case card_brand::american_express:
      return {15, 15};
    case card_brand::discover:
      return {16, 19};
    case card_brand::diners_club:
      return {14, 19};
    case card_brand::jcb:
      return {16, 19};
    case card_brand::unionpay:
      return {16, 19};
    case card_brand::maestro:
      return {12, 19};
    case card_brand::unknown:
      break;
  }
  return {0, 0};
}

bool valid_card_number_length(card_brand b, int length) noexcept {
  if (b == card_brand::visa) return length == 13 || length == 16 || length == 19;
  const length_range r = card_number_lengths(b);
  return r.max > 0 && length >= r.min && length <= r.max;
}

bool luhn_valid(std::string_view digits) noexcept {
  if (digits.size() < 2 || !all_digits(digits)) return false;
  int sum = 0;
  bool twice = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    int d = *it - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

int cvv_length(card_brand b) noexcept {
  return b == card_brand::american_express ? 4 : 3;
}

bool cvv_optional(card_brand b) noexcept {
  return b == card_brand::maestro;
}

bool expiry_optional(card_brand b) noexcept {
  return b == card_brand::maestro;
}

std::string_view check_name(card_number_check c) noexcept {
  switch (c) {
    case card_number_check::ok:
      return "ok";
    case card_number_check::unknown_brand:
      return "unknown-brand";
    case card_number_check::brand_not_allowed:
      return "brand-not-allowed";
    case card_number_check::wrong_length:
      return "wrong-length";
    case card_number_check::luhn_failed:
      return "luhn-failed";
  }
  return "unknown";
}

card_number_check check_card_number(std::string_view digits,
                                    std::span<const card_brand> allowed) noexcept {
  const card_brand brand = detect_brand(digits);
  if (brand == card_brand::unknown) return card_number_check::unknown_brand;
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), brand) == allowed.end()) {
    return card_number_check::brand_not_allowed;
  }
  if (!valid_card_number_length(brand, static_cast<int>(digits.size()))) {
    return card_number_check::wrong_length;
  }
  if (!luhn_valid(digits)) return card_number_check::luhn_failed;
  return card_number_check::ok;
}

std::string_view check_name(expiry_check c) noexcept {
  switch (c) {
    case expiry_check::ok:
      return "ok";
    case expiry_check::malformed:
      return "malformed";
    case expiry_check::bad_month:
      return "bad-month";
    case expiry_check::expired:
      return "expired";
    case expiry_check::too_far_ahead:
      return "too-far-ahead";
  }
  return "unknown";
}

expiry_check check_expiry(std::string_view mmyy, year_month today, int max_years_ahead,
                          year_month* out) noexcept {
  if (mmyy.size() != 4 || !all_digits(mmyy)) return expiry_check::malformed;
  const int month = (mmyy[0] - '0') * 10 + (mmyy[1] - '0');
  if (month < 1 || month > 12) return expiry_check::bad_month;
  // Cards print two-digit years; every card in circulation expires in 20YY.
  const year_month expiry{2000 + (mmyy[2] - '0') * 10 + (mmyy[3] - '0'), month};
  // Months since year 0, so that year boundaries need no special case.
  const auto index = [](year_month ym) {
    return static_cast<long long>(ym.year) * 12 + (ym.month - 1);
  };
  const long long ahead = index(expiry) - index(today);
  if (ahead < 0) return expiry_check::expired;
  if (ahead > 12LL * std::max(max_years_ahead, 0)) return expiry_check::too_far_ahead;
  if (out != nullptr) *out = expiry;
  return expiry_check::ok;
}

}  // namespace toneguard::engine
