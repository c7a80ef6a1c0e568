#include "toneguard/engine/prompt_plan.h"

#include <array>
#include <cctype>
#include <set>

namespace toneguard::engine {
namespace {

struct message_info {
  prompt_message message;
  std::string_view name;
  std::string_view text_en;
};

// In enum order (checked by the static_assert and at the lookup).
constexpr std::array kMessages{
    message_info{prompt_message::secure_session_start, "secure-session-start",
                 "You are now in a secure payment session. The agent cannot hear the numbers "
                 "you enter, and they are not recorded."},
    message_info{prompt_message::enter_account_number, "enter-account-number",
                 "Please enter your account number, followed by the pound key."},
    message_info{prompt_message::enter_pin, "enter-pin",
                 "Please enter your PIN, followed by the pound key."},
    message_info{prompt_message::enter_date_of_birth, "enter-date-of-birth",
                 "Please enter your date of birth: two digits for the day, two digits for the "
                 "month, and four digits for the year."},
    message_info{prompt_message::identification_failed, "identification-failed",
                 "We could not verify your identity."},
    message_info{prompt_message::amount_due_is, "amount-due-is", "The amount due is"},
    message_info{prompt_message::full_balance_or_other, "full-balance-or-other",
                 "To pay the full balance, press 1. To pay another amount, press 2."},
    message_info{prompt_message::enter_amount, "enter-amount",
                 "Please enter the amount, using the star key as the decimal point, followed by "
                 "the pound key."},
    message_info{prompt_message::amount_below_minimum, "amount-below-minimum",
                 "That amount is below the minimum of"},
    message_info{prompt_message::amount_above_maximum, "amount-above-maximum",
                 "That amount is above the maximum of"},
    message_info{prompt_message::you_entered, "you-entered", "You entered"},
    message_info{prompt_message::confirm_or_reenter, "confirm-or-reenter",
                 "If this is correct, press 1. To enter it again, press 2."},
    message_info{prompt_message::enter_card_number, "enter-card-number",
                 "Please enter your card number, followed by the pound key."},
    message_info{prompt_message::card_ending_in, "card-ending-in", "the card ending in"},
    message_info{prompt_message::card_number_invalid, "card-number-invalid",
                 "That card number is not valid."},
    message_info{prompt_message::card_brand_not_accepted, "card-brand-not-accepted",
                 "We do not accept that type of card."},
    message_info{prompt_message::enter_expiry, "enter-expiry",
                 "Please enter the expiry date: two digits for the month, then two digits for "
                 "the year."},
    message_info{prompt_message::expiry_invalid, "expiry-invalid",
                 "That expiry date is not valid."},
    message_info{prompt_message::card_expired, "card-expired", "That card has expired."},
    message_info{prompt_message::enter_security_code, "enter-security-code",
                 "Please enter the three digit security code from the back of your card."},
    message_info{prompt_message::enter_security_code_amex, "enter-security-code-amex",
                 "Please enter the four digit security code from the front of your card."},
    message_info{prompt_message::security_code_invalid, "security-code-invalid",
                 "That security code is not valid."},
    message_info{prompt_message::enter_postal_code, "enter-postal-code",
                 "Please enter your billing postal code, followed by the pound key."},
    message_info{prompt_message::postal_code_invalid, "postal-code-invalid",
                 "That postal code is not valid."},
    message_info{prompt_message::no_entry_received, "no-entry-received",
                 "We did not receive your entry."},
    message_info{prompt_message::entry_invalid, "entry-invalid", "That entry is not valid."},
    message_info{prompt_message::processing_payment, "processing-payment",
                 "Please wait while we process your payment."},
    message_info{prompt_message::payment_declined, "payment-declined",
                 "Your payment was declined."},
    message_info{prompt_message::try_another_card, "try-another-card", "Please try another card."},
    message_info{prompt_message::payment_approved, "payment-approved",
                 "Thank you. Your payment was successful."},
    message_info{prompt_message::payment_of, "payment-of", "Your payment of"},
    message_info{prompt_message::reference_is, "reference-is", "Your transaction reference is"},
    message_info{prompt_message::payment_unavailable, "payment-unavailable",
                 "We are unable to process your payment at this time."},
    message_info{prompt_message::too_many_attempts, "too-many-attempts",
                 "You have reached the maximum number of attempts."},
    message_info{prompt_message::payment_cancelled, "payment-cancelled",
                 "Your payment has been cancelled."},
    message_info{prompt_message::transferring, "transferring",
                 "Please hold while we transfer your call."},
    message_info{prompt_message::returning_to_agent, "returning-to-agent",
                 "Returning you to the agent."},
    message_info{prompt_message::expires, "expires", "expiring"},
    message_info{prompt_message::goodbye, "goodbye", "Thank you. Goodbye."},
};
static_assert(kMessages.back().message == prompt_message::goodbye);

constexpr auto kAllMessages = [] {
  std::array<prompt_message, kMessages.size()> all{};
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = kMessages[i].message;
  return all;
}();

constexpr bool messages_in_enum_order() {
  for (std::size_t i = 0; i < kMessages.size(); ++i) {
    if (static_cast<std::size_t>(kMessages[i].message) != i) return false;
  }
  return true;
}
static_assert(messages_in_enum_order());

const message_info& info(prompt_message m) noexcept {
  return kMessages[static_cast<std::size_t>(m) % kMessages.size()];
}

// The largest number say_number speaks as words; larger ones are read digit by digit.
constexpr std::uint64_t kMaxCardinal = 999'999'999'999;

// English plurals of the unit names in money.cpp's currency table. Where a name is missing the
// plural is the name + "s".
struct unit_word {
  std::string_view singular;
  std::string_view plural;
};
constexpr std::array kUnitPlurals{
    unit_word{"baisa", "baisa"},      unit_word{"cent", "cents"},
    unit_word{"centavo", "centavos"}, unit_word{"centime", "centimes"},
    unit_word{"dinar", "dinars"},     unit_word{"dollar", "dollars"},
    unit_word{"euro", "euros"},       unit_word{"fen", "fen"},
    unit_word{"fils", "fils"},        unit_word{"franc", "francs"},
    unit_word{"grosz", "groszy"},     unit_word{"haler", "haleru"},
    unit_word{"koruna", "korunas"},   unit_word{"krona", "kronor"},
    unit_word{"krone", "kroner"},     unit_word{"millime", "millimes"},
    unit_word{"ore", "ore"},          unit_word{"paisa", "paise"},
    unit_word{"penny", "pence"},      unit_word{"peso", "pesos"},
    unit_word{"pound", "pounds"},     unit_word{"rand", "rand"},
    unit_word{"real", "reais"},       unit_word{"rial", "rials"},
    unit_word{"rupee", "rupees"},     unit_word{"won", "won"},
    unit_word{"yen", "yen"},          unit_word{"yuan", "yuan"},
    unit_word{"zloty", "zlotys"},
};

std::string plural_of(std::string_view singular) {
  for (const unit_word& w : kUnitPlurals) {
    if (w.singular == singular) return std::string(w.plural);
  }
  return std::string(singular) + "s";
}

// A unit word as a phrase id: Asterisk has "dollars"; toneguard records the others.
std::string word_phrase_id(std::string_view word) {
  if (word == "dollars") return "digits/dollars";
  std::string id = "toneguard/";
  for (char c : word) {
    const auto u = static_cast<unsigned char>(c);
    id += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '-';
  }
  return id;
}

std::string digit_id(std::uint64_t n) {
  return "digits/" + std::to_string(n);
}

std::string letter_id(char c) {
  return std::string("letters/") + static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

std::string month_id(int month) {
  return "digits/mon-" + std::to_string(month - 1);
}

// What every language shares: message ids, digit strings, letters, months, currency words,
// and the shape of an amount. Subclasses supply the number rules.
class language_base : public prompt_language {
 public:
  void say(prompt_message m, prompt_plan& plan) const override {
    plan.phrases.push_back(message_phrase_id(m));
  }

  void say_number(std::int64_t n, prompt_plan& plan) const override {
    std::uint64_t magnitude = static_cast<std::uint64_t>(n);
    if (n < 0) {
      plan.phrases.emplace_back("digits/minus");
      magnitude = 0 - magnitude;
    }
    say_magnitude(magnitude, false, plan);
  }

  // An amount reads "<major> <unit> <and> <minor> <unit>"; a zero part is left out unless both
  // are zero ("zero dollars").
  void say_amount(const money& m, prompt_plan& plan) const override {
    std::uint64_t magnitude = static_cast<std::uint64_t>(m.minor);
    if (m.minor < 0) {
      plan.phrases.emplace_back("digits/minus");
      magnitude = 0 - magnitude;
    }
    const auto per = static_cast<std::uint64_t>(minor_per_major(m.code));
    const std::uint64_t major = magnitude / per;
    const std::uint64_t fraction = magnitude % per;
    if (major != 0 || fraction == 0) {
      say_magnitude(major, true, plan);
      say_unit(m.code, m.code.major_name, major != 1, plan);
    }
    if (fraction != 0) {
      if (major != 0) plan.phrases.emplace_back(conjunction_id());
      say_magnitude(fraction, true, plan);
      say_unit(m.code, m.code.minor_name, fraction != 1, plan);
    }
  }

  // Digits and letters one at a time; '*' and '#' as "star" and "pound"; anything else (spaces,
  // dashes of a formatted reference) is not spoken.
  void say_digits(std::string_view digits, prompt_plan& plan) const override {
    for (char c : digits) {
      if (c >= '0' && c <= '9') {
        plan.phrases.push_back(digit_id(static_cast<std::uint64_t>(c - '0')));
      } else if (std::isalpha(static_cast<unsigned char>(c))) {
        plan.phrases.push_back(letter_id(c));
      } else if (c == '*') {
        plan.phrases.emplace_back("digits/star");
      } else if (c == '#') {
        plan.phrases.emplace_back("digits/pound");
      }
    }
  }

  [[nodiscard]] std::vector<std::string> phrase_ids() const override {
    std::set<std::string> ids;
    for (prompt_message m : all_prompt_messages()) ids.insert(message_phrase_id(m));
    for (int d = 0; d <= 9; ++d) ids.insert(digit_id(static_cast<std::uint64_t>(d)));
    for (char c = 'a'; c <= 'z'; ++c) ids.insert(letter_id(c));
    for (int month = 1; month <= 12; ++month) ids.insert(month_id(month));
    for (const char* id : {"digits/minus", "digits/star", "digits/pound"}) {
      ids.insert(id);
    }
    ids.insert(std::string(conjunction_id()));
    for (const currency& c : known_currencies()) {
      for (std::string_view name : {c.major_name, c.minor_name}) {
        if (name.empty()) continue;
        ids.insert(word_phrase_id(name));
        ids.insert(word_phrase_id(plural_of(name)));
      }
    }
    add_number_ids(ids);
    return {ids.begin(), ids.end()};
  }

 protected:
  // Speaks 0..kMaxCardinal in words and anything larger digit by digit. `before_noun`: the
  // number counts a unit that follows (Spanish "un dólar" rather than "uno").
  void say_magnitude(std::uint64_t n, bool before_noun, prompt_plan& plan) const {
    if (n > kMaxCardinal) {
      say_digits(std::to_string(n), plan);
      return;
    }
    say_cardinal(n, before_noun, plan);
  }

  // A currency unit; a unit without a name (a currency toneguard does not know) is spelled by
  // the currency's code ("X T S").
  void say_unit(const currency& c, std::string_view name, bool plural, prompt_plan& plan) const {
    if (name.empty()) {
      say_digits(c.code, plan);
      return;
    }
    plan.phrases.push_back(word_phrase_id(plural ? plural_of(name) : std::string(name)));
  }

  virtual void say_cardinal(std::uint64_t n, bool before_noun, prompt_plan& plan) const = 0;
  [[nodiscard]] virtual std::string_view conjunction_id() const noexcept = 0;
  virtual void add_number_ids(std::set<std::string>& ids) const = 0;
};

// English: "one thousand two hundred five" (no "and" inside numbers), years as pairs.
class english_rules final : public language_base {
 public:
  [[nodiscard]] std::string_view tag() const noexcept override { return "en"; }

  // Years are read the way people say them: 2000-2009 as cardinals ("two thousand seven"),
  // other years as two pairs ("twenty twenty seven", "nineteen ninety nine"), a zero-padded
  // second pair with "oh" ("nineteen oh five"), whole centuries with "hundred" ("nineteen
  // hundred"), whole millennia as cardinals ("two thousand"). Outside 1000-9999: cardinal.
  void say_month_year(year_month ym, prompt_plan& plan) const override {
    plan.reads_card_data = true;
    if (ym.month >= 1 && ym.month <= 12) {
      plan.phrases.push_back(month_id(ym.month));
    } else {
      say_number(ym.month, plan);
    }
    const int y = ym.year;
    const int pair = y % 100;
    if (y < 1000 || y > 9999 || y % 1000 == 0 || (y >= 2000 && y <= 2009)) {
      say_number(y, plan);
    } else if (pair == 0) {
      say_number(y / 100, plan);
      plan.phrases.emplace_back("digits/hundred");
    } else if (pair < 10) {
      say_number(y / 100, plan);
      plan.phrases.emplace_back("digits/oh");
      plan.phrases.push_back(digit_id(static_cast<std::uint64_t>(pair)));
    } else {
      say_number(y / 100, plan);
      say_number(pair, plan);
    }
  }

 private:
  void say_cardinal(std::uint64_t n, bool /*before_noun*/, prompt_plan& plan) const override {
    if (n == 0) {
      plan.phrases.emplace_back("digits/0");
      return;
    }
    constexpr std::array<std::pair<std::uint64_t, const char*>, 3> scales{{
        {1'000'000'000, "digits/billion"},
        {1'000'000, "digits/million"},
        {1'000, "digits/thousand"},
    }};
    for (const auto& [scale, id] : scales) {
      const std::uint64_t group = n / scale % 1000;
      if (group == 0) continue;
      say_below_thousand(group, plan);
      plan.phrases.emplace_back(id);
    }
    if (n % 1000 != 0) say_below_thousand(n % 1000, plan);
  }

  static void say_below_thousand(std::uint64_t n, prompt_plan& plan) {
    if (n >= 100) {
      plan.phrases.push_back(digit_id(n / 100));
      plan.phrases.emplace_back("digits/hundred");
    }
    const std::uint64_t rest = n % 100;
    if (rest == 0) return;
    if (rest <= 20) {
      plan.phrases.push_back(digit_id(rest));
      return;
    }
    plan.phrases.push_back(digit_id(rest / 10 * 10));
    if (rest % 10 != 0) plan.phrases.push_back(digit_id(rest % 10));
  }

  [[nodiscard]] std::string_view conjunction_id() const noexcept override {
    return "toneguard/and";
  }

  void add_number_ids(std::set<std::string>& ids) const override {
    for (std::uint64_t n = 0; n <= 20; ++n) ids.insert(digit_id(n));
    for (std::uint64_t n = 30; n <= 90; n += 10) ids.insert(digit_id(n));
    for (const char* id :
         {"digits/hundred", "digits/thousand", "digits/million", "digits/billion", "digits/oh"}) {
      ids.insert(id);
    }
  }
};

// Spanish on Asterisk's es-MX names: 0-29 are single recordings ("digits/16" = "dieciséis",
// "digits/21" = "veintiuno"); 31-99 are "treinta y uno" (digits/30, digits/and, digits/1);
// 100 is "cien" (digits/hundred: the Debian package has no digits/100), 101-199 "ciento ..."
// (digits/100-and), 200-900 single recordings ("digits/500" = "quinientos"); "mil" without
// "un"; "un millón" (digits/1M, digits/million), "dos millones" (digits/millions); 10^9 is
// "mil millones". Gender and apocope are simplified: a number counting a unit that follows
// ("un dólar", "treinta y un mil") ends in "un" (digits/1M) even for feminine units ("un libra"
// rather than "una libra"), and 21 stays "veintiuno" ("veintiuno mil", not "veintiún mil").
// Month-years read "marzo de dos mil veintisiete". Amounts join their parts with "y".
class spanish_rules final : public language_base {
 public:
  [[nodiscard]] std::string_view tag() const noexcept override { return "es"; }

  void say_month_year(year_month ym, prompt_plan& plan) const override {
    plan.reads_card_data = true;
    if (ym.month >= 1 && ym.month <= 12) {
      plan.phrases.push_back(month_id(ym.month));
    } else {
      say_number(ym.month, plan);
    }
    plan.phrases.emplace_back("digits/es-de");
    say_number(ym.year, plan);
  }

 private:
  void say_cardinal(std::uint64_t n, bool before_noun, prompt_plan& plan) const override {
    if (n == 0) {
      plan.phrases.emplace_back("digits/0");
      return;
    }
    const std::uint64_t millions = n / 1'000'000;
    if (millions == 1) {
      plan.phrases.emplace_back("digits/1M");
      plan.phrases.emplace_back("digits/million");
    } else if (millions > 1) {
      say_below_million(millions, true, plan);
      plan.phrases.emplace_back("digits/millions");
    }
    if (n % 1'000'000 != 0) say_below_million(n % 1'000'000, before_noun, plan);
  }

  static void say_below_million(std::uint64_t n, bool before_noun, prompt_plan& plan) {
    const std::uint64_t thousands = n / 1000;
    if (thousands > 1) say_below_thousand(thousands, true, plan);
    if (thousands > 0) plan.phrases.emplace_back("digits/thousand");
    if (n % 1000 != 0) say_below_thousand(n % 1000, before_noun, plan);
  }

  static void say_below_thousand(std::uint64_t n, bool before_noun, prompt_plan& plan) {
    const std::uint64_t hundreds = n / 100;
    const std::uint64_t rest = n % 100;
    if (n == 100) {
      plan.phrases.emplace_back("digits/hundred");
      return;
    }
    if (hundreds == 1) {
      plan.phrases.emplace_back("digits/100-and");
    } else if (hundreds > 1) {
      plan.phrases.push_back(digit_id(hundreds * 100));
    }
    if (rest == 0) return;
    if (rest < 30) {
      say_unit_digit(rest, before_noun, plan);
      return;
    }
    plan.phrases.push_back(digit_id(rest / 10 * 10));
    if (rest % 10 != 0) {
      plan.phrases.emplace_back("digits/and");
      say_unit_digit(rest % 10, before_noun, plan);
    }
  }

  static void say_unit_digit(std::uint64_t n, bool before_noun, prompt_plan& plan) {
    plan.phrases.push_back(n == 1 && before_noun ? std::string("digits/1M") : digit_id(n));
  }

  [[nodiscard]] std::string_view conjunction_id() const noexcept override { return "digits/and"; }

  void add_number_ids(std::set<std::string>& ids) const override {
    for (std::uint64_t n = 0; n <= 29; ++n) ids.insert(digit_id(n));
    for (std::uint64_t n = 30; n <= 90; n += 10) ids.insert(digit_id(n));
    for (std::uint64_t n = 200; n <= 900; n += 100) ids.insert(digit_id(n));
    for (const char* id : {"digits/1M", "digits/hundred", "digits/100-and", "digits/thousand",
                           "digits/million", "digits/millions", "digits/and", "digits/es-de"}) {
      ids.insert(id);
    }
  }
};

constexpr std::array<std::string_view, 21> kEnglishSmall{
    "zero",     "one",     "two",     "three",     "four",     "five",     "six",
    "seven",    "eight",   "nine",    "ten",       "eleven",   "twelve",   "thirteen",
    "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"};
constexpr std::array<std::string_view, 10> kEnglishTens{
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};
constexpr std::array<std::string_view, 12> kEnglishMonths{
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

// The text of a "digits/..." id English produces; empty otherwise.
std::string english_digits_text(std::string_view name) {
  for (std::size_t i = 0; i < kEnglishSmall.size(); ++i) {
    if (name == std::to_string(i)) return std::string(kEnglishSmall[i]);
  }
  for (std::size_t i = 3; i < kEnglishTens.size(); ++i) {
    if (name == std::to_string(i * 10)) return std::string(kEnglishTens[i]);
  }
  for (std::size_t i = 0; i < kEnglishMonths.size(); ++i) {
    if (name == "mon-" + std::to_string(i)) return std::string(kEnglishMonths[i]);
  }
  for (std::string_view word :
       {"hundred", "thousand", "million", "billion", "minus", "oh", "star", "pound", "dollars"}) {
    if (name == word) return std::string(word);
  }
  return {};
}

}  // namespace

std::span<const prompt_message> all_prompt_messages() noexcept {
  return kAllMessages;
}

std::string_view message_text_en(prompt_message m) noexcept {
  return info(m).text_en;
}

std::string_view message_name(prompt_message m) noexcept {
  return info(m).name;
}

std::string message_phrase_id(prompt_message m) {
  return "toneguard/" + std::string(message_name(m));
}

const prompt_language& english_language() noexcept {
  static const english_rules english;
  return english;
}

const prompt_language& spanish_language() noexcept {
  static const spanish_rules spanish;
  return spanish;
}

std::span<const prompt_language* const> all_languages() noexcept {
  static const std::array<const prompt_language*, 2> languages{&english_language(),
                                                               &spanish_language()};
  return languages;
}

const prompt_language* find_language(std::string_view tag) noexcept {
  for (const prompt_language* language : all_languages()) {
    if (language->tag() == tag) return language;
  }
  return nullptr;
}

std::string phrase_text_en(std::string_view phrase_id) {
  constexpr std::string_view digits = "digits/";
  constexpr std::string_view letters = "letters/";
  constexpr std::string_view own = "toneguard/";
  if (phrase_id.starts_with(digits)) return english_digits_text(phrase_id.substr(digits.size()));
  if (phrase_id.starts_with(letters)) {
    const std::string_view letter = phrase_id.substr(letters.size());
    if (letter.size() == 1 && letter[0] >= 'a' && letter[0] <= 'z') {
      return std::string(1, static_cast<char>(std::toupper(static_cast<unsigned char>(letter[0]))));
    }
    return {};
  }
  if (!phrase_id.starts_with(own)) return {};
  for (const message_info& m : kMessages) {
    if (phrase_id.substr(own.size()) == m.name) return std::string(m.text_en);
  }
  if (phrase_id == "toneguard/and") return "and";
  for (const currency& c : known_currencies()) {
    for (std::string_view name : {c.major_name, c.minor_name}) {
      if (name.empty()) continue;
      if (phrase_id == word_phrase_id(name)) return std::string(name);
      const std::string plural = plural_of(name);
      if (phrase_id == word_phrase_id(plural)) return plural;
    }
  }
  return {};
}

}  // namespace toneguard::engine
