#pragma once
/// Prompt plans: what the payment dialog says, as a sequence of phrase ids that a prompt set
/// (prompt_set.h) maps to audio files. The dialog composes plans from language-independent
/// parts (fixed messages, numbers, amounts, digit strings, dates, references); a
/// prompt_language turns each part into phrase ids with its own number rules. Pure; any
/// thread (languages are immutable singletons).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "toneguard/engine/card_rules.h"
#include "toneguard/engine/money.h"

namespace toneguard::engine {

/// The fixed messages of the payment flow. Each has one phrase id per language
/// (`message_phrase_id`) and English wording (`message_text_en`) from which a missing
/// recording is generated at set-up.
enum class prompt_message : std::uint16_t {
  secure_session_start,      // "You are now in a secure payment session. ..."
  enter_account_number,      // "Please enter your account number, followed by the pound key."
  enter_pin,                 // "Please enter your PIN, followed by the pound key."
  enter_date_of_birth,       // "Please enter your date of birth: two digits for the day, ..."
  identification_failed,     // "We could not verify your identity."
  amount_due_is,             // "The amount due is"
  full_balance_or_other,     // "To pay the full balance, press 1. To pay another amount, ..."
  enter_amount,              // "Please enter the amount, using the star key as the decimal..."
  amount_below_minimum,      // "That amount is below the minimum of"
  amount_above_maximum,      // "That amount is above the maximum of"
  you_entered,               // "You entered"
  confirm_or_reenter,        // "If this is correct, press 1. To enter it again, press 2."
  enter_card_number,         // "Please enter your card number, followed by the pound key."
  card_ending_in,            // "the card ending in"
  card_number_invalid,       // "That card number is not valid."
  card_brand_not_accepted,   // "We do not accept that type of card."
  enter_expiry,              // "Please enter the expiry date: two digits for the month, ..."
  expiry_invalid,            // "That expiry date is not valid."
  card_expired,              // "That card has expired."
  enter_security_code,       // "Please enter the three digit security code from the back ..."
  enter_security_code_amex,  // "Please enter the four digit security code from the front ..."
  security_code_invalid,     // "That security code is not valid."
  enter_postal_code,         // "Please enter your billing postal code, followed by the pound key."
  postal_code_invalid,       // "That postal code is not valid."
  no_entry_received,         // "We did not receive your entry."
  entry_invalid,             // "That entry is not valid."
  processing_payment,        // "Please wait while we process your payment."
  payment_declined,          // "Your payment was declined."
  try_another_card,          // "Please try another card."
  payment_approved,          // "Thank you. Your payment was successful."
  payment_of,                // "Your payment of"
  reference_is,              // "Your transaction reference is"
  payment_unavailable,       // "We are unable to process your payment at this time."
  too_many_attempts,         // "You have reached the maximum number of attempts."
  payment_cancelled,         // "Your payment has been cancelled."
  transferring,              // "Please hold while we transfer your call."
  returning_to_agent,        // "Returning you to the agent."
  expires,                   // "expiring"
  goodbye,                   // "Thank you. Goodbye."
};

/// Every prompt_message, in enum order.
[[nodiscard]] std::span<const prompt_message> all_prompt_messages() noexcept;

/// The message's English wording, for TTS at set-up and for documentation.
[[nodiscard]] std::string_view message_text_en(prompt_message m) noexcept;

/// A sequence of phrase ids to play in order, e.g. {"toneguard/you-entered", "digits/1",
/// "digits/1"}. `reads_card_data` is set when the plan speaks a card field other than the last
/// four (an expiry read-back): such a plan must never be logged or reported, only played.
struct prompt_plan {
  std::vector<std::string> phrases;
  bool reads_card_data = false;

  friend bool operator==(const prompt_plan&, const prompt_plan&) = default;
};

/// A language's rules for turning plan parts into phrase ids. Implementations are stateless
/// and immutable.
class prompt_language {
 public:
  virtual ~prompt_language() = default;
  /// The language tag, e.g. "en", "es".
  [[nodiscard]] virtual std::string_view tag() const noexcept = 0;
  /// Appends the phrase id of a fixed message.
  virtual void say(prompt_message m, prompt_plan& plan) const = 0;
  /// Appends a cardinal number (0 .. 999,999,999,999): "one thousand two hundred five".
  virtual void say_number(std::int64_t n, prompt_plan& plan) const = 0;
  /// Appends an amount with its currency: "nineteen dollars and ninety nine cents".
  virtual void say_amount(const money& m, prompt_plan& plan) const = 0;
  /// Appends a digit string read one digit at a time ("one one one one"); letters A-Z are
  /// read as letters (for references).
  virtual void say_digits(std::string_view digits, prompt_plan& plan) const = 0;
  /// Appends a month and year ("March twenty twenty seven"). Month-years are spoken only for
  /// expiry read-backs, so this also sets plan.reads_card_data.
  virtual void say_month_year(year_month ym, prompt_plan& plan) const = 0;
  /// Every phrase id this language can produce, each once: a prompt set must hold all of
  /// them, checked at start-up.
  [[nodiscard]] virtual std::vector<std::string> phrase_ids() const = 0;
};

/// English, on Asterisk's core sound names ("digits/5", "digits/mon-2", "letters/a") plus
/// toneguard's own message phrases ("toneguard/enter-card-number").
[[nodiscard]] const prompt_language& english_language() noexcept;

/// The language with `tag`, or nullptr when toneguard has none.
[[nodiscard]] const prompt_language* find_language(std::string_view tag) noexcept;

/// Spanish ("es"), on the names of Asterisk's Spanish core sounds (asterisk-core-sounds-es-wav:
/// "digits/21" = "veintiuno", "digits/100-and" = "ciento", "digits/1M" = "un",
/// "digits/millions", "digits/es-de") plus the same toneguard/ phrase ids as English, recorded
/// in Spanish. It proves that plans are language-independent; toneguard ships no Spanish set.
[[nodiscard]] const prompt_language& spanish_language() noexcept;

/// Every language toneguard has, English first.
[[nodiscard]] std::span<const prompt_language* const> all_languages() noexcept;

/// The message's name in kebab case, e.g. "enter-card-number" (config, docs and phrase ids).
[[nodiscard]] std::string_view message_name(prompt_message m) noexcept;

/// The message's phrase id, the same in every language: "toneguard/" + message_name(m).
[[nodiscard]] std::string message_phrase_id(prompt_message m);

/// The English words an English phrase id stands for, from which a missing recording is
/// generated at set-up: "digits/20" is "twenty", "digits/mon-2" is "March", "letters/q" is "q",
/// "toneguard/cents" is "cents", "toneguard/enter-pin" is message_text_en(enter_pin). Empty for
/// an id English never produces (e.g. "digits/21").
[[nodiscard]] std::string phrase_text_en(std::string_view phrase_id);

}  // namespace toneguard::engine
