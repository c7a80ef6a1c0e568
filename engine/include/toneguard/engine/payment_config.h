#pragma once
/// The payment dialog's configuration (one per deployment, read at start-up from the `[payment]`
/// table of a TOML file) and the per-payment request (one per payment, from the IVR, the agent's
/// desktop or the API). Plain values, validated where they enter: parse_payment_config and
/// validate_payment_request name the key or field that is wrong. Any thread; a loaded config is
/// immutable and may be shared by every dialog (each dialog keeps its own copy).

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "toneguard/engine/card_rules.h"
#include "toneguard/engine/gateway_contract.h"
#include "toneguard/engine/money.h"
#include "toneguard/engine/result.h"

namespace toneguard::engine {

/// How the caller reached secure payment (product.md, step 1).
enum class payment_mode : std::uint8_t {
  automated,       // from another IVR; the call continues there afterwards
  agent_assisted,  // an agent started the payment; the caller goes back to the agent
};

/// What the agent hears during an agent-assisted payment.
enum class agent_treatment : std::uint8_t {
  removed,       // the agent hears nothing and stays reserved to resume the call
  stay_on_line,  // the agent hears the caller's voice with every key masked
};

/// How masked keys sound toward the agent (the media masker's mode).
enum class masking_mode : std::uint8_t { silence, tone, random };

/// How an unidentified caller is identified (product.md, step 2).
enum class identification_method : std::uint8_t {
  pin,            // account number, then a PIN, verified by a REST call
  date_of_birth,  // account number, then a date of birth DDMMYYYY, verified by a REST call
  transfer,       // the call goes to a configured identification target and comes back
};

/// Where a payment that did not succeed sends the call (the configured exit result).
enum class payment_exit : std::uint8_t {
  transfer_to_queue,  // to the exit queue, with the payment's context, for manual processing
  return_to_agent,    // back to the agent who started the payment (agent-assisted only)
  return_to_ivr,      // back to the IVR that sent the caller, with the result (automated only)
};

/// How the caller types an amount.
enum class amount_entry : std::uint8_t {
  star_decimal,  // `*` is the decimal point; digits alone are major units ("19*99", "20")
  minor_units,   // digits only, in minor units ("1999" = 19.99); `*` always cancels
};

/// The fields the dialog collects, in flow order. Menus (the full-balance choice) are fields
/// too, so that timeouts and attempts are configured the same way.
enum class dialog_field : std::uint8_t {
  account_number,
  pin,
  date_of_birth,
  amount_choice,  // "full balance: press 1, another amount: press 2"
  amount,
  card_number,
  expiry,
  cvv,
  postal_code,
};
inline constexpr std::size_t dialog_field_count = 9;

/// The field's name in configs, events and reports: "account-number", "pin", "date-of-birth",
/// "amount-choice", "amount", "card-number", "expiry", "cvv", "postal-code".
[[nodiscard]] std::string_view field_name(dialog_field f) noexcept;

/// Names as they appear in configs and reports: "automated", "agent-assisted"; "removed",
/// "stay-on-line"; "silence", "tone", "random"; "pin", "date-of-birth", "transfer";
/// "transfer-to-queue", "return-to-agent", "return-to-ivr"; "star-decimal", "minor-units".
[[nodiscard]] std::string_view mode_name(payment_mode m) noexcept;
[[nodiscard]] std::string_view treatment_name(agent_treatment t) noexcept;
[[nodiscard]] std::string_view masking_name(masking_mode m) noexcept;
[[nodiscard]] std::string_view identification_name(identification_method m) noexcept;
[[nodiscard]] std::string_view exit_name(payment_exit e) noexcept;
[[nodiscard]] std::string_view amount_entry_name(amount_entry e) noexcept;

/// Timeouts and attempts of one field (`[payment.fields.<name>]`).
struct field_settings {
  /// From the end of the field's prompt to the first key, ms (1000..120000).
  int first_digit_timeout_ms = 10'000;
  /// Between two keys of one entry, ms (1000..60000).
  int inter_digit_timeout_ms = 5'000;
  /// Entries of the field the caller gets (the first one included) before the dialog gives up
  /// with too-many-failed-attempts (1..10). A refused value, a missed entry and a "2 = enter it
  /// again" each use one.
  int attempts = 3;
  /// Read the value back and ask for 1 (correct) or 2 (enter again). Never for the PIN and the
  /// date of birth, which are never read back.
  bool confirm = true;
};

/// Identification and verification of an unidentified caller (`[payment.identification]`).
struct identification_settings {
  identification_method method = identification_method::pin;
  /// Where method transfer sends the call (a queue, flow or number the platform knows).
  std::string target;
  /// Verifications (account number + secret) the caller gets before identification-failed
  /// (1..10).
  int attempts = 3;
};

/// Configuration of every payment dialog (`[payment]`). Amounts are minor units of `currency`.
struct payment_config {
  /// The mode of a payment whose request does not say (`mode`).
  payment_mode mode = payment_mode::automated;
  /// The agent treatment of agent-assisted payments whose request does not say.
  agent_treatment treatment = agent_treatment::removed;
  /// Accepted card brands (`allowed-brands`); empty accepts every known brand.
  std::vector<card_brand> allowed_brands;
  /// The currency of payments (`currency`).
  currency payment_currency = *find_currency("USD");
  /// Smallest and largest amount a payment may have, minor units (`min-amount`, `max-amount`,
  /// written as decimal strings such as "1.00"); default 1 and 10,000 major units.
  std::int64_t min_amount_minor = 100;
  std::int64_t max_amount_minor = 1'000'000;
  /// How the caller types an amount (`amount-entry`).
  amount_entry amount_keys = amount_entry::star_decimal;
  /// Declined gateway attempts before the configured exit (`max-declines`, 1..10).
  int max_declines = 3;
  /// Where a payment that did not succeed goes, per mode (`[payment.exit]`): automated
  /// transfer-to-queue or return-to-ivr; agent-assisted return-to-agent or transfer-to-queue.
  payment_exit exit_automated = payment_exit::transfer_to_queue;
  payment_exit exit_assisted = payment_exit::return_to_agent;
  /// The queue of transfer-to-queue (`exit.queue`).
  std::string exit_queue = "payments";
  /// Timeouts, attempts and confirmation per field, indexed by dialog_field.
  std::array<field_settings, dialog_field_count> fields = default_fields();
  /// Account number length, digits (`fields.account-number.min-length`/`max-length`, 1..32).
  int account_number_min_length = 4;
  int account_number_max_length = 16;
  /// PIN length, digits (`fields.pin.min-length`/`max-length`, 1..8).
  int pin_min_length = 4;
  int pin_max_length = 8;
  /// An expiry more than this many years ahead is refused (`fields.expiry.max-years-ahead`,
  /// 1..50).
  int expiry_max_years_ahead = 20;
  /// Ask the expiry of brands whose cards may lack one (`fields.expiry.when-optional`).
  bool expiry_when_optional = true;
  /// Ask the CVV of brands whose cards may lack one (`fields.cvv.when-optional`).
  bool cvv_when_optional = false;
  /// Ask the billing postal code (`fields.postal-code.ask`), digits only, this many
  /// (`min-length`/`max-length`, 1..10).
  bool ask_postal_code = false;
  int postal_code_min_length = 5;
  int postal_code_max_length = 5;
  identification_settings identification;
  /// The prompt language tag (`language`, e.g. "en") and the prompt set manifest
  /// (`prompt-set`, a path; empty for the built-in default set of the language).
  std::string language = "en";
  std::string prompt_set;
  /// How masked keys sound toward the agent (`masking`).
  masking_mode masking = masking_mode::silence;
  /// Read the transaction reference to the caller on success (`announce-reference`).
  bool announce_reference = true;
  /// The gateway and the identification service (`[payment.gateway]`); both URLs default to
  /// "sandbox", the embedded sandbox gateway.
  gateway_settings gateway = sandbox_gateway_settings();

  [[nodiscard]] const field_settings& field(dialog_field f) const noexcept {
    return fields[static_cast<std::size_t>(f)];
  }
  [[nodiscard]] field_settings& field(dialog_field f) noexcept {
    return fields[static_cast<std::size_t>(f)];
  }

  /// The default per-field settings: 10 s first digit, 5 s between digits, 3 attempts;
  /// confirmation on for amount, card number, expiry and postal code, off for the rest (the
  /// CVV is not read back unless configured).
  [[nodiscard]] static std::array<field_settings, dialog_field_count> default_fields() noexcept;

  /// Gateway settings whose charge and identification URLs are "sandbox".
  [[nodiscard]] static gateway_settings sandbox_gateway_settings() {
    gateway_settings g;
    g.url = g.identify_url = "sandbox";
    return g;
  }
};

/// The configuration every key at its default: valid as it is.
[[nodiscard]] payment_config default_payment_config();

/// Reads the `[payment]` table of a TOML text (other top-level tables are left to their
/// owners; a missing `[payment]` gives the defaults). Subtables: `[payment.exit]`,
/// `[payment.identification]`, `[payment.gateway]`, `[payment.fields.<field-name>]`. An
/// unknown key (with a near-miss suggestion), a wrong type, an out-of-range value or an
/// inconsistent pair (min above max) fails with a message such as
///   "payment config x.toml: key 'payment.max-declines': expected an integer 1..10, got 0".
/// `origin` names the text in messages (a file name). Never throws.
[[nodiscard]] outcome<payment_config> parse_payment_config(std::string_view toml_text,
                                                           std::string_view origin);

/// Checks a config built in code (the same rules as parse_payment_config); the message names
/// the key.
[[nodiscard]] outcome<payment_config> validate_payment_config(payment_config config);

/// One payment, as the IVR, the agent's desktop or the API asks for it. No card data.
struct payment_request {
  /// Unique per payment, 1..64 of [A-Za-z0-9._-]; the gateway's transaction ids derive from it
  /// ("<payment_id>-<attempt>").
  std::string payment_id;
  /// Customer or account identifier (recommended), up to 64 printable characters.
  std::string account_id;
  /// The amount to charge, minor units (> 0); when absent the caller enters it.
  std::optional<std::int64_t> amount_minor;
  /// The outstanding balance, minor units (> 0); the caller may choose to pay it in full.
  std::optional<std::int64_t> balance_minor;
  /// Payment reference for the merchant's records (optional, up to 128 printable characters).
  std::string reference;
  /// ISO 4217 code; empty for the configured currency (the only one accepted).
  std::string currency_code;
  /// Overrides of the configured mode and agent treatment.
  std::optional<payment_mode> mode;
  std::optional<agent_treatment> treatment;
  /// The caller is already identified: identification is skipped.
  bool identified = false;
  /// Free-form parameters passed through to the gateway (up to 32; keys 1..64 of
  /// [A-Za-z0-9._-], values up to 256 printable characters, never card data).
  std::map<std::string, std::string> parameters;
};

/// Checks a request against the config; the message names the field, e.g.
/// "payment request: field 'amount': 0 is not above zero". Values that look like a card number
/// (13-19 digits passing Luhn) in the account id, reference or parameters are refused so that
/// card data cannot enter through them.
[[nodiscard]] outcome<payment_request> validate_payment_request(payment_request request,
                                                                const payment_config& config);

}  // namespace toneguard::engine
