#include "toneguard/engine/payment_config.h"

#include <gtest/gtest.h>

#include <string>

namespace toneguard::engine {
namespace {

// Parses `text` as "x.toml" and returns the failure message ("" when it parsed).
std::string error_of(std::string_view text) {
  const auto parsed = parse_payment_config(text, "x.toml");
  return parsed.ok() ? std::string() : parsed.message();
}

payment_config parsed(std::string_view text) {
  auto c = parse_payment_config(text, "x.toml");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.message());
  return c.ok() ? std::move(c).value() : default_payment_config();
}

TEST(PaymentConfig, DefaultsAreValidAndSane) {
  const payment_config c = default_payment_config();
  EXPECT_TRUE(validate_payment_config(c).ok());
  EXPECT_EQ(c.mode, payment_mode::automated);
  EXPECT_EQ(c.treatment, agent_treatment::removed);
  EXPECT_TRUE(c.allowed_brands.empty());  // every brand
  EXPECT_EQ(c.payment_currency.code, "USD");
  EXPECT_EQ(c.min_amount_minor, 100);
  EXPECT_EQ(c.max_amount_minor, 1'000'000);
  EXPECT_EQ(c.amount_keys, amount_entry::star_decimal);
  EXPECT_EQ(c.max_declines, 3);
  EXPECT_EQ(c.exit_automated, payment_exit::transfer_to_queue);
  EXPECT_EQ(c.exit_assisted, payment_exit::return_to_agent);
  EXPECT_EQ(c.field(dialog_field::card_number).first_digit_timeout_ms, 10'000);
  EXPECT_EQ(c.field(dialog_field::card_number).inter_digit_timeout_ms, 5'000);
  EXPECT_EQ(c.field(dialog_field::card_number).attempts, 3);
  EXPECT_TRUE(c.field(dialog_field::card_number).confirm);
  EXPECT_TRUE(c.field(dialog_field::expiry).confirm);
  EXPECT_FALSE(c.field(dialog_field::cvv).confirm);  // a CVV is not spoken unless configured
  EXPECT_FALSE(c.field(dialog_field::pin).confirm);
  EXPECT_FALSE(c.ask_postal_code);
  EXPECT_FALSE(c.cvv_when_optional);
  EXPECT_EQ(c.identification.method, identification_method::pin);
  EXPECT_EQ(c.language, "en");
  EXPECT_EQ(c.masking, masking_mode::silence);
  EXPECT_EQ(c.gateway.url, "sandbox");
}

TEST(PaymentConfig, NoPaymentTableGivesTheDefaultsAndOtherTablesAreLeftToTheirOwners) {
  const payment_config c = parsed("[media]\nport-min = 30000\n[reporting]\nfile = \"x.db\"\n");
  EXPECT_EQ(c.max_declines, 3);
  EXPECT_EQ(c.payment_currency.code, "USD");
}

TEST(PaymentConfig, EveryKeyIsParsed) {
  const payment_config c = parsed(R"(
[payment]
mode = "agent-assisted"
agent-treatment = "stay-on-line"
allowed-brands = ["visa", "mastercard", "amex"]
currency = "EUR"
min-amount = "5.50"
max-amount = 2500
amount-entry = "minor-units"
max-declines = 5
language = "pt-BR"
prompt-set = "/usr/share/toneguard/prompts/pt/manifest.toml"
masking = "tone"
announce-reference = false

[payment.exit]
automated = "return-to-ivr"
assisted = "transfer-to-queue"
queue = "payments-manual"

[payment.identification]
method = "date-of-birth"
target = "id-and-v"
attempts = 2

[payment.gateway]
url = "https://pay.example.com/charge"
identify-url = "https://crm.example.com/verify"
username = "merchant"
password = "s3cret"
ca-file = "/etc/ssl/certs/ca.pem"
connect-timeout-ms = 2000
read-timeout-ms = 20000
max-attempts = 4
method = "tokenize"

[payment.fields.account-number]
first-digit-timeout-ms = 8000
inter-digit-timeout-ms = 4000
attempts = 4
confirm = true
min-length = 6
max-length = 10

[payment.fields.pin]
attempts = 2
min-length = 4
max-length = 6

[payment.fields.date-of-birth]
first-digit-timeout-ms = 12000

[payment.fields.amount]
attempts = 5
confirm = false

[payment.fields.card-number]
first-digit-timeout-ms = 15000
inter-digit-timeout-ms = 6000
attempts = 2
confirm = false

[payment.fields.expiry]
max-years-ahead = 10
when-optional = false

[payment.fields.cvv]
confirm = true
when-optional = true

[payment.fields.postal-code]
ask = true
min-length = 3
max-length = 9
)");
  EXPECT_EQ(c.mode, payment_mode::agent_assisted);
  EXPECT_EQ(c.treatment, agent_treatment::stay_on_line);
  EXPECT_EQ(c.allowed_brands, (std::vector<card_brand>{card_brand::visa, card_brand::mastercard,
                                                       card_brand::american_express}));
  EXPECT_EQ(c.payment_currency.code, "EUR");
  EXPECT_EQ(c.min_amount_minor, 550);
  EXPECT_EQ(c.max_amount_minor, 250'000);
  EXPECT_EQ(c.amount_keys, amount_entry::minor_units);
  EXPECT_EQ(c.max_declines, 5);
  EXPECT_EQ(c.language, "pt-BR");
  EXPECT_EQ(c.prompt_set, "/usr/share/toneguard/prompts/pt/manifest.toml");
  EXPECT_EQ(c.masking, masking_mode::tone);
  EXPECT_FALSE(c.announce_reference);
  EXPECT_EQ(c.exit_automated, payment_exit::return_to_ivr);
  EXPECT_EQ(c.exit_assisted, payment_exit::transfer_to_queue);
  EXPECT_EQ(c.exit_queue, "payments-manual");
  EXPECT_EQ(c.identification.method, identification_method::date_of_birth);
  EXPECT_EQ(c.identification.target, "id-and-v");
  EXPECT_EQ(c.identification.attempts, 2);
  EXPECT_EQ(c.gateway.url, "https://pay.example.com/charge");
  EXPECT_EQ(c.gateway.identify_url, "https://crm.example.com/verify");
  EXPECT_EQ(c.gateway.username, "merchant");
  EXPECT_EQ(c.gateway.password, "s3cret");
  EXPECT_EQ(c.gateway.ca_file, "/etc/ssl/certs/ca.pem");
  EXPECT_EQ(c.gateway.connect_timeout_ms, 2000);
  EXPECT_EQ(c.gateway.read_timeout_ms, 20'000);
  EXPECT_EQ(c.gateway.max_attempts, 4);
  EXPECT_EQ(c.gateway.method, gateway_method::tokenize);
  const field_settings& account = c.field(dialog_field::account_number);
  EXPECT_EQ(account.first_digit_timeout_ms, 8000);
  EXPECT_EQ(account.inter_digit_timeout_ms, 4000);
  EXPECT_EQ(account.attempts, 4);
  EXPECT_TRUE(account.confirm);
  EXPECT_EQ(c.account_number_min_length, 6);
  EXPECT_EQ(c.account_number_max_length, 10);
  EXPECT_EQ(c.field(dialog_field::pin).attempts, 2);
  EXPECT_EQ(c.pin_max_length, 6);
  EXPECT_EQ(c.field(dialog_field::date_of_birth).first_digit_timeout_ms, 12'000);
  EXPECT_EQ(c.field(dialog_field::amount).attempts, 5);
  EXPECT_EQ(c.field(dialog_field::amount_choice).attempts, 5);  // the menu follows the amount
  EXPECT_FALSE(c.field(dialog_field::amount).confirm);
  const field_settings& card = c.field(dialog_field::card_number);
  EXPECT_EQ(card.first_digit_timeout_ms, 15'000);
  EXPECT_EQ(card.inter_digit_timeout_ms, 6000);
  EXPECT_EQ(card.attempts, 2);
  EXPECT_FALSE(card.confirm);
  EXPECT_EQ(c.expiry_max_years_ahead, 10);
  EXPECT_FALSE(c.expiry_when_optional);
  EXPECT_TRUE(c.field(dialog_field::cvv).confirm);
  EXPECT_TRUE(c.cvv_when_optional);
  EXPECT_TRUE(c.ask_postal_code);
  EXPECT_EQ(c.postal_code_min_length, 3);
  EXPECT_EQ(c.postal_code_max_length, 9);
}

TEST(PaymentConfig, OutOfRangeValueNamesTheKeyTheRangeAndTheValue) {
  EXPECT_EQ(error_of("[payment]\nmax-declines = 0\n"),
            "payment config x.toml: key 'payment.max-declines': expected an integer 1..10, got 0");
  EXPECT_EQ(error_of("[payment.fields.card-number]\nattempts = 11\n"),
            "payment config x.toml: key 'payment.fields.card-number.attempts': expected an "
            "integer 1..10, got 11");
  EXPECT_EQ(error_of("[payment.gateway]\nread-timeout-ms = 50\n"),
            "payment config x.toml: key 'payment.gateway.read-timeout-ms': expected an integer "
            "100..120000, got 50");
}

TEST(PaymentConfig, WrongTypeNamesTheKeyAndTheTypeFound) {
  EXPECT_EQ(error_of("[payment]\nmax-declines = \"3\"\n"),
            "payment config x.toml: key 'payment.max-declines': expected an integer 1..10, got "
            "the string '3'");
  EXPECT_EQ(error_of("[payment]\nannounce-reference = \"yes\"\n"),
            "payment config x.toml: key 'payment.announce-reference': expected a boolean (true "
            "or false), got the string 'yes'");
  EXPECT_EQ(error_of("[payment]\ngateway = 3\n"),
            "payment config x.toml: key 'payment.gateway': expected a table, got 3");
  EXPECT_EQ(error_of("payment = true\n"),
            "payment config x.toml: key 'payment': expected a table, got true");
  EXPECT_NE(error_of("[payment]\nallowed-brands = \"visa\"\n")
                .find("key 'payment.allowed-brands': expected a non-empty array"),
            std::string::npos);
}

TEST(PaymentConfig, UnknownKeyIsNamedWithTheNearestKnownKey) {
  EXPECT_EQ(error_of("[payment]\nmax-decline = 3\n"),
            "payment config x.toml: unknown key 'payment.max-decline' (did you mean "
            "'payment.max-declines'?)");
  EXPECT_EQ(error_of("[payment]\nmax_declines = 3\n"),
            "payment config x.toml: unknown key 'payment.max_declines' (did you mean "
            "'payment.max-declines'?)");
  EXPECT_EQ(error_of("[payment.gateway]\nurll = \"sandbox\"\n"),
            "payment config x.toml: unknown key 'payment.gateway.urll' (did you mean "
            "'payment.gateway.url'?)");
  EXPECT_EQ(error_of("[payment.fields.card-numbr]\nattempts = 3\n"),
            "payment config x.toml: unknown key 'payment.fields.card-numbr' (did you mean "
            "'payment.fields.card-number'?)");
  EXPECT_EQ(error_of("[payment]\ncolour = \"blue\"\n"),
            "payment config x.toml: unknown key 'payment.colour'");
}

TEST(PaymentConfig, ATyposPaymentTableIsNotSilentlyIgnored) {
  EXPECT_EQ(error_of("[paymnet]\nmax-declines = 3\n"),
            "payment config x.toml: unknown table 'paymnet' (did you mean 'payment'?)");
}

TEST(PaymentConfig, PinAndDateOfBirthHaveNoConfirmationKey) {
  EXPECT_NE(error_of("[payment.fields.pin]\nconfirm = true\n")
                .find("unknown key 'payment.fields.pin.confirm'"),
            std::string::npos);
  payment_config c = default_payment_config();
  c.field(dialog_field::date_of_birth).confirm = true;
  EXPECT_EQ(validate_payment_config(c).message(),
            "payment config: key 'payment.fields.date-of-birth.confirm': a PIN or date of birth "
            "is never read back");
}

TEST(PaymentConfig, ChoicesListTheAcceptedNames) {
  EXPECT_EQ(error_of("[payment]\nmode = \"manual\"\n"),
            "payment config x.toml: key 'payment.mode': expected one of automated or "
            "agent-assisted, got the string 'manual'");
  EXPECT_EQ(error_of("[payment]\nmasking = \"beep\"\n"),
            "payment config x.toml: key 'payment.masking': expected one of silence, tone or "
            "random, got the string 'beep'");
  EXPECT_EQ(error_of("[payment.exit]\nautomated = \"return-to-agent\"\n"),
            "payment config x.toml: key 'payment.exit.automated': expected one of "
            "transfer-to-queue or return-to-ivr, got the string 'return-to-agent'");
}

TEST(PaymentConfig, AllowedBrandsAreKnownBrandNamesListedOnce) {
  EXPECT_EQ(parsed("[payment]\nallowed-brands = [\"VISA\", \"american-express\"]\n").allowed_brands,
            (std::vector<card_brand>{card_brand::visa, card_brand::american_express}));
  EXPECT_NE(error_of("[payment]\nallowed-brands = [\"visa\", \"carte-blanche\"]\n")
                .find("key 'payment.allowed-brands': 'carte-blanche' is not a card brand (visa, "
                      "mastercard, amex"),
            std::string::npos);
  EXPECT_NE(error_of("[payment]\nallowed-brands = [\"visa\", \"visa\"]\n").find("listed twice"),
            std::string::npos);
  EXPECT_NE(error_of("[payment]\nallowed-brands = []\n").find("non-empty"), std::string::npos);
}

TEST(PaymentConfig, AmountsAreDecimalStringsInTheCurrencyAndMinimumIsNotAboveMaximum) {
  EXPECT_EQ(parsed("[payment]\nmin-amount = \"0.50\"\n").min_amount_minor, 50);
  EXPECT_EQ(error_of("[payment]\nmin-amount = 1.5\n"),
            "payment config x.toml: key 'payment.min-amount': expected an amount as a decimal "
            "string such as \"19.99\" (or whole units), got a float");
  EXPECT_EQ(error_of("[payment]\ncurrency = \"JPY\"\nmin-amount = \"1.50\"\n"),
            "payment config x.toml: key 'payment.min-amount': expected an amount above zero in "
            "JPY with at most 0 decimals, got '1.50'");
  EXPECT_EQ(error_of("[payment]\nmin-amount = \"0\"\n"),
            "payment config x.toml: key 'payment.min-amount': expected an amount above zero in "
            "USD with at most 2 decimals, got '0'");
  EXPECT_EQ(error_of("[payment]\nmin-amount = \"50.00\"\nmax-amount = \"20.00\"\n"),
            "payment config x.toml: key 'payment.max-amount': 20.00 is below the minimum 50.00");
  EXPECT_EQ(error_of("[payment]\ncurrency = \"XYZ\"\n"),
            "payment config x.toml: key 'payment.currency': expected an ISO 4217 currency code "
            "such as \"USD\", got the string 'XYZ'");
}

TEST(PaymentConfig, UnsetAmountBoundsFollowTheCurrency) {
  const payment_config yen = parsed("[payment]\ncurrency = \"JPY\"\n");
  EXPECT_EQ(yen.min_amount_minor, 1);
  EXPECT_EQ(yen.max_amount_minor, 10'000);
  const payment_config dinar = parsed("[payment]\ncurrency = \"KWD\"\n");
  EXPECT_EQ(dinar.min_amount_minor, 1000);
}

TEST(PaymentConfig, LengthPairsMustBeOrdered) {
  EXPECT_EQ(error_of("[payment.fields.postal-code]\nmin-length = 6\nmax-length = 5\n"),
            "payment config x.toml: key 'payment.fields.postal-code.max-length': expected "
            "min-length <= max-length within 1..10, got 6..5");
  EXPECT_NE(error_of("[payment.fields.pin]\nmax-length = 9\n")
                .find("key 'payment.fields.pin.max-length': expected an integer 1..8, got 9"),
            std::string::npos);
}

TEST(PaymentConfig, ATransferNeedsItsTarget) {
  EXPECT_EQ(error_of("[payment.identification]\nmethod = \"transfer\"\n"),
            "payment config x.toml: key 'payment.identification.target': identification method "
            "'transfer' needs a target");
  EXPECT_EQ(parsed("[payment.identification]\nmethod = \"transfer\"\ntarget = \"idv\"\n")
                .identification.target,
            "idv");
}

TEST(PaymentConfig, GatewayUrlIsTheSandboxOrHttps) {
  EXPECT_EQ(error_of("[payment.gateway]\nurl = \"http://pay.example.com/\"\n"),
            "payment config x.toml: key 'payment.gateway.url': 'http://pay.example.com/' must be "
            "\"sandbox\" or an https:// URL (http:// only to localhost)");
  EXPECT_EQ(parsed("[payment.gateway]\nurl = \"http://127.0.0.1:8080/charge\"\n").gateway.url,
            "http://127.0.0.1:8080/charge");
}

TEST(PaymentConfig, ThePasswordIsNeverEchoed) {
  const std::string e = error_of("[payment.gateway]\npassword = \"hunter2\\u0001\"\n");
  EXPECT_FALSE(e.empty());
  EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
}

TEST(PaymentConfig, LanguageIsALanguageTag) {
  EXPECT_NE(error_of("[payment]\nlanguage = \"english!\"\n").find("key 'payment.language'"),
            std::string::npos);
}

TEST(PaymentConfig, ASyntaxErrorNamesItsLine) {
  const std::string e = error_of("[payment]\nmax-declines = \n");
  EXPECT_EQ(e.rfind("payment config x.toml: line 2", 0), 0u) << e;
}

TEST(PaymentConfig, ConfigBuiltInCodeIsCheckedByTheSameRules) {
  payment_config c = default_payment_config();
  c.max_declines = 0;
  EXPECT_EQ(validate_payment_config(c).message(),
            "payment config: key 'payment.max-declines': expected an integer 1..10, got 0");
  c = default_payment_config();
  c.exit_queue.clear();
  EXPECT_EQ(
      validate_payment_config(c).message(),
      "payment config: key 'payment.exit.queue': a transfer-to-queue exit needs a queue name");
}

payment_request good_request() {
  payment_request r;
  r.payment_id = "pay-42";
  r.account_id = "ACME-1001";
  r.amount_minor = 1999;
  r.reference = "INV-2026-0001";
  r.parameters = {{"order", "A-17"}};
  return r;
}

TEST(PaymentRequest, AValidRequestPasses) {
  EXPECT_TRUE(validate_payment_request(good_request(), default_payment_config()).ok());
  payment_request r = good_request();
  r.amount_minor.reset();
  r.balance_minor = 12'345;
  r.currency_code = "usd";
  EXPECT_TRUE(validate_payment_request(r, default_payment_config()).ok());
}

TEST(PaymentRequest, EachFieldIsCheckedByName) {
  const payment_config c = default_payment_config();
  const auto error = [&](auto change) {
    payment_request r = good_request();
    change(r);
    const auto v = validate_payment_request(r, c);
    return v.ok() ? std::string() : v.message();
  };
  EXPECT_EQ(error([](payment_request& r) { r.payment_id = "pay 42"; }),
            "payment request: field 'payment-id': expected 1..64 of letters, digits, '.', '_' and "
            "'-', got 'pay 42'");
  EXPECT_EQ(error([](payment_request& r) { r.amount_minor = 0; }),
            "payment request: field 'amount': must be above zero");
  EXPECT_EQ(error([](payment_request& r) { r.amount_minor = 2'000'000; }),
            "payment request: field 'amount': 20000.00 is above the maximum 10000.00");
  EXPECT_EQ(error([](payment_request& r) { r.currency_code = "EUR"; }),
            "payment request: field 'currency': 'EUR' is not the configured currency USD");
  EXPECT_EQ(error([](payment_request& r) { r.balance_minor = -5; }),
            "payment request: field 'balance': must be above zero");
  EXPECT_EQ(error([](payment_request& r) { r.parameters["bad key"] = "x"; }),
            "payment request: field 'parameters': key 'bad key' is not 1..64 of letters, digits, "
            "'.', '_' and '-'");
}

TEST(PaymentRequest, CardNumbersCannotEnterThroughTheRequest) {
  const payment_config c = default_payment_config();
  payment_request r = good_request();
  r.parameters["note"] = "card 4111 1111 1111 1111";
  const auto v = validate_payment_request(r, c);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.message().find("4111"), std::string::npos) << v.message();
  r = good_request();
  r.reference = "4111111111111111";
  EXPECT_FALSE(validate_payment_request(r, c).ok());
  r = good_request();
  r.account_id = "4111-1111-1111-1111";
  EXPECT_FALSE(validate_payment_request(r, c).ok());
  r = good_request();
  r.payment_id = "4111111111111111";
  EXPECT_FALSE(validate_payment_request(r, c).ok());
  r = good_request();
  r.parameters = {{"4111111111111111", "x"}};
  EXPECT_FALSE(validate_payment_request(r, c).ok());
  r = good_request();
  r.reference = "4111111111111112";  // 16 digits failing Luhn: an order number, not a card
  EXPECT_TRUE(validate_payment_request(r, c).ok());
}

}  // namespace
}  // namespace toneguard::engine
