#include "payment_fields.h"

#include <algorithm>

namespace toneguard::engine::dialog_detail {

namespace {

// Longest amount entry: 10^15 minor units have 16 digits; one more key for the `*`.
constexpr int kAmountMaxKeys = 17;
constexpr int kCardNumberMaxKeys = 19;
constexpr int kCardNumberMinKeys = 12;

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int two_digits(std::string_view s) {
  return (s[0] - '0') * 10 + (s[1] - '0');
}

bool leap_year(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int year, int month) {
  constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && leap_year(year) ? 29 : days[month - 1];
}

// A date of birth DDMMYYYY: a real day, not after today, not before 1900.
bool valid_birth_date(std::string_view keys, calendar_date today) {
  if (keys.size() != 8 || !all_digits(keys)) return false;
  const int day = two_digits(keys.substr(0, 2));
  const int month = two_digits(keys.substr(2, 2));
  const int year = two_digits(keys.substr(4, 2)) * 100 + two_digits(keys.substr(6, 2));
  if (month < 1 || month > 12 || year < 1900 || day < 1 || day > days_in_month(year, month))
    return false;
  const auto key = [](int y, int m, int d) { return (y * 100 + m) * 100 + d; };
  return key(year, month, day) <= key(today.year, today.month, today.day);
}

entry_verdict refused(std::string_view error, const prompt_language& lang,
                      std::initializer_list<prompt_message> messages) {
  entry_verdict v;
  v.error = error;
  for (const prompt_message m : messages) lang.say(m, v.refusal);
  return v;
}

bool length_in(std::string_view keys, int lo, int hi) {
  const auto n = static_cast<int>(keys.size());
  return n >= lo && n <= hi;
}

}  // namespace

std::optional<card_field> secret_field_of(dialog_field f) noexcept {
  switch (f) {
    case dialog_field::pin:
    case dialog_field::date_of_birth:
      return card_field::verification;
    case dialog_field::card_number:
      return card_field::pan;
    case dialog_field::expiry:
      return card_field::expiry;
    case dialog_field::cvv:
      return card_field::cvv;
    case dialog_field::postal_code:
      return card_field::postal_code;
    case dialog_field::account_number:
    case dialog_field::amount_choice:
    case dialog_field::amount:
      break;
  }
  return std::nullopt;
}

bool is_identification_field(dialog_field f) noexcept {
  return f == dialog_field::account_number || f == dialog_field::pin ||
         f == dialog_field::date_of_birth;
}

int cvv_digits(card_brand brand) noexcept {
  const int n = cvv_length(brand);
  // A brand that may print none (Maestro) still has 3 digits when the caller is asked.
  return n > 0 ? n : 3;
}

bool asks_expiry(card_brand brand, const payment_config& c) noexcept {
  return !expiry_optional(brand) || c.expiry_when_optional;
}

bool asks_cvv(card_brand brand, const payment_config& c) noexcept {
  const bool optional = cvv_optional(brand) || cvv_length(brand) == 0;
  return !optional || c.cvv_when_optional;
}

bool confirms(dialog_field f, const payment_config& c) noexcept {
  if (f == dialog_field::pin || f == dialog_field::date_of_birth ||
      f == dialog_field::amount_choice)
    return false;
  return c.field(f).confirm;
}

entry_limits entry_limits_of(dialog_field f, const payment_config& c, card_brand brand) noexcept {
  switch (f) {
    case dialog_field::account_number:
      return {c.account_number_min_length, c.account_number_max_length, true};
    case dialog_field::pin:
      return {c.pin_min_length, c.pin_max_length, true};
    case dialog_field::date_of_birth:
      return {8, 8, false};
    case dialog_field::amount_choice:
      return {1, 1, false};
    case dialog_field::amount:
      return {1, kAmountMaxKeys, true};
    case dialog_field::card_number: {
      if (brand == card_brand::unknown) return {kCardNumberMinKeys, kCardNumberMaxKeys, true};
      const length_range r = card_number_lengths(brand);
      const int lo = std::clamp(r.min, 1, kCardNumberMaxKeys);
      return {lo, std::clamp(r.max, lo, kCardNumberMaxKeys), true};
    }
    case dialog_field::expiry:
      return {4, 4, false};
    case dialog_field::cvv: {
      const int n = cvv_digits(brand);
      return {n, n, false};
    }
    case dialog_field::postal_code:
      return {c.postal_code_min_length, c.postal_code_max_length,
              c.postal_code_min_length != c.postal_code_max_length};
  }
  return {};
}

entry_verdict check_entry(dialog_field f, std::string_view keys, const payment_config& c,
                          calendar_date today, card_brand brand, const prompt_language& lang) {
  using m = prompt_message;
  switch (f) {
    case dialog_field::account_number:
      if (!length_in(keys, c.account_number_min_length, c.account_number_max_length))
        return refused("wrong-length", lang, {m::entry_invalid});
      return {};
    case dialog_field::pin:
      if (!length_in(keys, c.pin_min_length, c.pin_max_length))
        return refused("wrong-length", lang, {m::entry_invalid});
      return {};
    case dialog_field::date_of_birth:
      if (!valid_birth_date(keys, today)) return refused("invalid-date", lang, {m::entry_invalid});
      return {};
    case dialog_field::amount: {
      const auto minor = parse_keypad_amount(keys, c.payment_currency,
                                             c.amount_keys == amount_entry::star_decimal);
      if (!minor) return refused("malformed", lang, {m::entry_invalid});
      if (*minor < c.min_amount_minor) {
        entry_verdict v = refused("below-minimum", lang, {m::amount_below_minimum});
        say_amount(c.min_amount_minor, c, lang, v.refusal);
        return v;
      }
      if (*minor > c.max_amount_minor) {
        entry_verdict v = refused("above-maximum", lang, {m::amount_above_maximum});
        say_amount(c.max_amount_minor, c, lang, v.refusal);
        return v;
      }
      entry_verdict v;
      v.amount_minor = *minor;
      return v;
    }
    case dialog_field::card_number: {
      const card_number_check check = check_card_number(keys, c.allowed_brands);
      if (check == card_number_check::ok) return {};
      return refused(check_name(check), lang,
                     {check == card_number_check::brand_not_allowed ? m::card_brand_not_accepted
                                                                    : m::card_number_invalid});
    }
    case dialog_field::expiry: {
      entry_verdict v;
      const expiry_check check = check_expiry(keys, year_month{today.year, today.month},
                                              c.expiry_max_years_ahead, &v.expiry);
      if (check == expiry_check::ok) return v;
      return refused(check_name(check), lang,
                     {check == expiry_check::expired ? m::card_expired : m::expiry_invalid});
    }
    case dialog_field::cvv:
      if (static_cast<int>(keys.size()) != cvv_digits(brand) || !all_digits(keys))
        return refused("wrong-length", lang, {m::security_code_invalid});
      return {};
    case dialog_field::postal_code:
      if (!length_in(keys, c.postal_code_min_length, c.postal_code_max_length))
        return refused("wrong-length", lang, {m::postal_code_invalid});
      return {};
    case dialog_field::amount_choice:
      break;
  }
  return refused("invalid-key", lang, {m::entry_invalid});
}

void say_amount(std::int64_t minor, const payment_config& c, const prompt_language& lang,
                prompt_plan& plan) {
  lang.say_amount(money{minor, c.payment_currency}, plan);
}

void say_question(dialog_field f, const payment_config& c, card_brand brand,
                  std::int64_t balance_minor, const prompt_language& lang, prompt_plan& plan) {
  using m = prompt_message;
  switch (f) {
    case dialog_field::account_number:
      return lang.say(m::enter_account_number, plan);
    case dialog_field::pin:
      return lang.say(m::enter_pin, plan);
    case dialog_field::date_of_birth:
      return lang.say(m::enter_date_of_birth, plan);
    case dialog_field::amount_choice:
      lang.say(m::amount_due_is, plan);
      say_amount(balance_minor, c, lang, plan);
      return lang.say(m::full_balance_or_other, plan);
    case dialog_field::amount:
      return lang.say(m::enter_amount, plan);
    case dialog_field::card_number:
      return lang.say(m::enter_card_number, plan);
    case dialog_field::expiry:
      return lang.say(m::enter_expiry, plan);
    case dialog_field::cvv:
      return lang.say(cvv_digits(brand) == 4 ? m::enter_security_code_amex : m::enter_security_code,
                      plan);
    case dialog_field::postal_code:
      return lang.say(m::enter_postal_code, plan);
  }
}

void say_read_back(dialog_field f, std::string_view keys, const card_data& card,
                   std::int64_t amount_minor, year_month expiry, const payment_config& c,
                   const prompt_language& lang, prompt_plan& plan) {
  using m = prompt_message;
  lang.say(m::you_entered, plan);
  switch (f) {
    case dialog_field::account_number:
      lang.say_digits(keys, plan);
      break;
    case dialog_field::amount:
      say_amount(amount_minor, c, lang, plan);
      break;
    case dialog_field::card_number:
      lang.say(m::card_ending_in, plan);
      lang.say_digits(card.last_four(), plan);
      break;
    case dialog_field::expiry:
      lang.say_month_year(expiry, plan);
      plan.reads_card_data = true;
      break;
    case dialog_field::cvv:
    case dialog_field::postal_code:
      lang.say_digits(keys, plan);
      plan.reads_card_data = true;
      break;
    case dialog_field::pin:
    case dialog_field::date_of_birth:
    case dialog_field::amount_choice:
      break;  // never read back
  }
  lang.say(m::confirm_or_reenter, plan);
}

}  // namespace toneguard::engine::dialog_detail
