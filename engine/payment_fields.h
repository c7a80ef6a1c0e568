#pragma once
// The payment dialog's per-field rules (private to engine): where a field's keys are kept, how
// long an entry is, how it is checked, and what is said to ask for it, to refuse it and to read
// it back. Pure functions; the flow between fields is payment_dialog.cpp.

#include <cstdint>
#include <optional>
#include <string_view>

#include "toneguard/engine/card_data.h"
#include "toneguard/engine/card_rules.h"
#include "toneguard/engine/money.h"
#include "toneguard/engine/payment_config.h"
#include "toneguard/engine/payment_dialog.h"
#include "toneguard/engine/prompt_plan.h"

namespace toneguard::engine::dialog_detail {

/// The card_data field that holds `f`'s keys, or nullopt when they are not secret (account
/// number, amount, the amount menu) and live in a plain string.
[[nodiscard]] std::optional<card_field> secret_field_of(dialog_field f) noexcept;

/// True for the fields of identification (their failure is identification-failed).
[[nodiscard]] bool is_identification_field(dialog_field f) noexcept;

/// Keys of a complete entry of `f`. `brand` is the card's brand (for the card number: of the
/// digits entered so far, unknown until detected; for the CVV: of the card).
struct entry_limits {
  int min_keys = 1;
  int max_keys = 1;
  bool hash_ends = true;
};
[[nodiscard]] entry_limits entry_limits_of(dialog_field f, const payment_config& c,
                                           card_brand brand) noexcept;

/// Whether the card of `brand` is asked its expiry / CVV under `c`, and the CVV's length.
[[nodiscard]] bool asks_expiry(card_brand brand, const payment_config& c) noexcept;
[[nodiscard]] bool asks_cvv(card_brand brand, const payment_config& c) noexcept;
[[nodiscard]] int cvv_digits(card_brand brand) noexcept;

/// True when `f`'s value is read back for 1/2 under `c` (never the PIN, date of birth or menu).
[[nodiscard]] bool confirms(dialog_field f, const payment_config& c) noexcept;

/// The outcome of checking one complete entry.
struct entry_verdict {
  /// Empty when accepted; else the error type (see progress_event::error).
  std::string_view error;
  /// When refused: what to say before asking again ("That card number is not valid.").
  prompt_plan refusal;
  /// When accepted: the amount (amount field) or the expiry (expiry field).
  std::int64_t amount_minor = 0;
  year_month expiry;
};

/// Checks the entry `keys` of `f` (never amount_choice, which is a menu).
[[nodiscard]] entry_verdict check_entry(dialog_field f, std::string_view keys,
                                        const payment_config& c, calendar_date today,
                                        card_brand brand, const prompt_language& lang);

/// Appends the question that asks for `f` ("Please enter your card number..."). For the amount
/// menu, `balance_minor` is the balance offered.
void say_question(dialog_field f, const payment_config& c, card_brand brand,
                  std::int64_t balance_minor, const prompt_language& lang, prompt_plan& plan);

/// Appends the read-back of an accepted value and the 1/2 question. `keys` is the entry (for
/// the card number only its last four are spoken); sets reads_card_data for the expiry, CVV and
/// postal code.
void say_read_back(dialog_field f, std::string_view keys, const card_data& card,
                   std::int64_t amount_minor, year_month expiry, const payment_config& c,
                   const prompt_language& lang, prompt_plan& plan);

/// Appends an amount in the configured currency.
void say_amount(std::int64_t minor, const payment_config& c, const prompt_language& lang,
                prompt_plan& plan);

}  // namespace toneguard::engine::dialog_detail
