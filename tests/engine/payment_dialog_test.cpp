// The payment dialog, step by step as product.md tells the flow. Every test runs through the
// fixture, which records every action and, at the end of each test, checks that no card data
// left the dialog (expect_no_card_data_left).
#include "toneguard/engine/payment_dialog.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace toneguard::engine {
namespace {

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

std::string_view message_id(prompt_message m) {
  using p = prompt_message;
  switch (m) {
    case p::secure_session_start:
      return "secure-session-start";
    case p::enter_account_number:
      return "enter-account-number";
    case p::enter_pin:
      return "enter-pin";
    case p::enter_date_of_birth:
      return "enter-date-of-birth";
    case p::identification_failed:
      return "identification-failed";
    case p::amount_due_is:
      return "amount-due-is";
    case p::full_balance_or_other:
      return "full-balance-or-other";
    case p::enter_amount:
      return "enter-amount";
    case p::amount_below_minimum:
      return "amount-below-minimum";
    case p::amount_above_maximum:
      return "amount-above-maximum";
    case p::you_entered:
      return "you-entered";
    case p::confirm_or_reenter:
      return "confirm-or-reenter";
    case p::enter_card_number:
      return "enter-card-number";
    case p::card_ending_in:
      return "card-ending-in";
    case p::card_number_invalid:
      return "card-number-invalid";
    case p::card_brand_not_accepted:
      return "card-brand-not-accepted";
    case p::enter_expiry:
      return "enter-expiry";
    case p::expiry_invalid:
      return "expiry-invalid";
    case p::card_expired:
      return "card-expired";
    case p::enter_security_code:
      return "enter-security-code";
    case p::enter_security_code_amex:
      return "enter-security-code-amex";
    case p::security_code_invalid:
      return "security-code-invalid";
    case p::enter_postal_code:
      return "enter-postal-code";
    case p::postal_code_invalid:
      return "postal-code-invalid";
    case p::no_entry_received:
      return "no-entry-received";
    case p::entry_invalid:
      return "entry-invalid";
    case p::processing_payment:
      return "processing-payment";
    case p::payment_declined:
      return "payment-declined";
    case p::try_another_card:
      return "try-another-card";
    case p::payment_approved:
      return "payment-approved";
    case p::payment_of:
      return "payment-of";
    case p::reference_is:
      return "reference-is";
    case p::payment_unavailable:
      return "payment-unavailable";
    case p::too_many_attempts:
      return "too-many-attempts";
    case p::payment_cancelled:
      return "payment-cancelled";
    case p::transferring:
      return "transferring";
    case p::returning_to_agent:
      return "returning-to-agent";
    case p::expires:
      return "expires";
    case p::goodbye:
      return "goodbye";
  }
  return "?";
}

/// A prompt language whose phrase ids say what is spoken: "msg:enter-card-number",
/// "amount:19.99 USD", "digits:1111", "month-year:2028-12", "num:5". Independent of the real
/// languages, so these tests read clearly and test only the dialog.
class readable_language final : public prompt_language {
 public:
  std::string_view tag() const noexcept override { return "test"; }
  void say(prompt_message m, prompt_plan& plan) const override {
    plan.phrases.push_back("msg:" + std::string(message_id(m)));
  }
  void say_number(std::int64_t n, prompt_plan& plan) const override {
    plan.phrases.push_back("num:" + std::to_string(n));
  }
  void say_amount(const money& m, prompt_plan& plan) const override {
    plan.phrases.push_back("amount:" + format_decimal(m) + " " + std::string(m.code.code));
  }
  void say_digits(std::string_view digits, prompt_plan& plan) const override {
    plan.phrases.push_back("digits:" + std::string(digits));
  }
  // Unlike the real languages, this one leaves reads_card_data alone, so the tests prove that
  // the dialog flags an expiry read-back by itself.
  void say_month_year(year_month ym, prompt_plan& plan) const override {
    char text[32];
    std::snprintf(text, sizeof text, "month-year:%04d-%02d", ym.year, ym.month);
    plan.phrases.emplace_back(text);
  }
  std::vector<std::string> phrase_ids() const override { return {}; }
};

// Card numbers (public test numbers), and the other secrets the tests type.
constexpr std::string_view kVisa = "4111111111111111";
constexpr std::string_view kVisa13 = "4222222222222";
constexpr std::string_view kVisaLuhnFails = "4111111111111112";
constexpr std::string_view kVisaTooShort = "411111111111111";
constexpr std::string_view kMastercard = "5555555555554444";
constexpr std::string_view kAmex = "378282246310005";
constexpr std::string_view kMaestro = "6759649826438453";
constexpr std::array<std::string_view, 7> kCardNumbers{
    kVisa, kVisa13, kVisaLuhnFails, kVisaTooShort, kMastercard, kAmex, kMaestro};
constexpr std::string_view kExpiry = "1228";  // December 2028
constexpr std::string_view kCvv = "737";
constexpr std::string_view kAmexCvv = "7373";
constexpr std::string_view kPostal = "94107";
constexpr std::string_view kPin = "4921";
constexpr std::string_view kBirthDate = "15031980";
constexpr std::array<std::string_view, 6> kOtherSecrets{kExpiry, kCvv, kAmexCvv,
                                                        kPostal, kPin, kBirthDate};

std::string joined(const std::vector<std::string>& phrases) {
  std::string out;
  for (const auto& p : phrases) {
    if (!out.empty()) out += ' ';
    out += p;
  }
  return out;
}

std::string context_text(const call_context& c) {
  std::string out;
  for (const auto& [k, v] : c) out += " " + k + "=" + v;
  return out;
}

// Everything an action carries, as text: what the leak scan reads.
std::string describe(const dialog_action& action) {
  return std::visit(
      overloaded{
          [](const play_prompt& p) {
            return "play " + joined(p.plan.phrases) +
                   (p.plan.reads_card_data ? " [reads card data]" : "");
          },
          [](const stop_prompt&) { return std::string("stop-prompt"); },
          [](const collect_field& c) {
            return "collect " + std::string(field_name(c.field)) +
                   (c.confirmation ? " confirmation" : "");
          },
          [](const set_masking& m) {
            return m.on ? "masking on " + std::string(masking_name(m.mode))
                        : std::string("masking off");
          },
          [](const remove_agent&) { return std::string("remove-agent"); },
          [](const call_gateway& g) {
            std::string text = "call-gateway " + g.request.transaction_id + " " +
                               format_decimal(g.request.amount) + " " +
                               std::string(g.request.amount.code.code) + " " +
                               g.request.description;
            for (const auto& [k, v] : g.request.parameters) text += " " + k + "=" + v;
            return text;
          },
          [](const verify_identity& v) {
            return "verify-identity " + v.request.request_id + " " + v.request.account_id;
          },
          [](const transfer_call& t) { return "transfer " + t.target + context_text(t.context); },
          [](const return_to_agent& r) { return "return-to-agent" + context_text(r.context); },
          [](const return_to_ivr& r) { return "return-to-ivr" + context_text(r.context); },
          [](const finish_payment& f) {
            const payment_result& r = f.result;
            return "finish " + std::string(result_name(r.outcome)) + " " + r.transaction_reference +
                   " " + r.transaction_id + " " + std::string(brand_name(r.brand)) + " " +
                   r.last_four + " " + r.customer_id + " " + r.error;
          },
          [](const report_progress& p) {
            const progress_event& e = p.event;
            return "progress " + std::string(progress_kind_name(e.kind)) + " " +
                   (e.field ? std::string(field_name(*e.field)) : "") + " " + e.error + " " +
                   std::string(brand_name(e.brand));
          },
      },
      action);
}

// The action's kind, for checking the order of what the dialog asks for.
std::string kind_of(const dialog_action& action) {
  const std::string text = describe(action);
  if (text.rfind("masking", 0) == 0) return text.substr(0, text.find(' ', 8));
  return text.substr(0, text.find(' '));
}

class PaymentDialog : public ::testing::Test {
 protected:
  // An identified caller paying $19.99 passed in by the IVR.
  static payment_request default_request() {
    payment_request r;
    r.payment_id = "pay-7";
    r.account_id = "ACME-1";
    r.amount_minor = 1999;
    r.reference = "INV-1";
    r.identified = true;
    return r;
  }

  void TearDown() override { expect_no_card_data_left(); }

  // --- driving the dialog -------------------------------------------------------------------

  void begin() {
    run_.clear();
    playing_.reset();
    dialog_.emplace(config, request, language_, today);
    take(dialog_->start(now));
  }

  void send(const dialog_event& event) { take(dialog_->on_event(event, now)); }

  // The caller presses keys, 300 ms apart (barge-in when a prompt plays).
  void press(std::string_view keys) {
    for (const char k : keys) {
      now += 300;
      send(key_pressed{k});
    }
  }

  // The prompt that plays ends (after 2 s).
  void prompt_ends() {
    ASSERT_TRUE(playing_.has_value()) << "no prompt plays";
    const std::uint64_t id = *playing_;
    playing_.reset();
    now += 2000;
    send(prompt_finished{id});
  }

  // The caller listens to the prompt to its end, then presses keys.
  void answer(std::string_view keys) {
    if (playing_) prompt_ends();
    press(keys);
  }

  // The dialog's deadline passes.
  void time_passes() {
    const auto deadline = dialog_->next_deadline_ms();
    ASSERT_TRUE(deadline.has_value()) << "the dialog waits for no timer";
    now = *deadline;
    send(timer_expired{});
  }

  void gateway_answers(gateway_outcome outcome, std::string reference = "CH-9F3",
                       std::string error_code = {}) {
    const auto calls = all<call_gateway>();
    ASSERT_FALSE(calls.empty()) << "the gateway was not called";
    gateway_reply reply;
    reply.outcome = outcome;
    if (outcome == gateway_outcome::approved) reply.reference = std::move(reference);
    reply.error_code = std::move(error_code);
    reply.requests = 1;
    now += 1500;
    send(gateway_replied{calls.back().request.transaction_id, reply});
  }

  void identity_answers(identity_outcome outcome, std::string customer_id = "CUST-9",
                        std::optional<std::int64_t> balance = std::nullopt) {
    const auto calls = all<verify_identity>();
    ASSERT_FALSE(calls.empty()) << "no verification was asked";
    identity_reply reply;
    reply.outcome = outcome;
    reply.customer_id = std::move(customer_id);
    reply.balance_minor = balance;
    now += 500;
    send(identity_replied{calls.back().request.request_id, reply});
  }

  // A Visa card through number, expiry and CVV with the default settings (number and expiry
  // read back and confirmed), ending at the gateway.
  void enter_visa() {
    answer(std::string(kVisa) + "#");
    answer("1");
    answer(kExpiry);
    answer("1");
    answer(kCvv);
  }

  // --- what the dialog did ------------------------------------------------------------------

  template <class T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& a : run_) {
      if (const T* t = std::get_if<T>(&a)) out.push_back(*t);
    }
    return out;
  }

  template <class T>
  std::vector<T> latest() const {
    std::vector<T> out;
    for (const auto& a : last_) {
      if (const T* t = std::get_if<T>(&a)) out.push_back(*t);
    }
    return out;
  }

  // The phrases of the prompt played last, e.g. "msg:you-entered digits:1111 ...".
  std::string said() const {
    const auto plays = all<play_prompt>();
    return plays.empty() ? std::string() : joined(plays.back().plan.phrases);
  }

  const prompt_plan& last_plan() const {
    static const prompt_plan none;
    for (auto it = run_.rbegin(); it != run_.rend(); ++it) {
      if (const auto* p = std::get_if<play_prompt>(&*it)) return p->plan;
    }
    return none;
  }

  // The kinds of the last call's actions, without progress and collect_field: the steps the
  // daemon executes, e.g. {"masking on", "remove-agent", "play"}.
  std::vector<std::string> steps() const {
    std::vector<std::string> out;
    for (const auto& a : last_) {
      const std::string k = kind_of(a);
      if (k != "progress" && k != "collect") out.push_back(k);
    }
    return out;
  }

  std::vector<progress_event> progress() const {
    std::vector<progress_event> out;
    for (const auto& p : all<report_progress>()) out.push_back(p.event);
    return out;
  }

  std::vector<progress_event> progress_of(progress_kind kind) const {
    std::vector<progress_event> out;
    for (const auto& e : progress()) {
      if (e.kind == kind) out.push_back(e);
    }
    return out;
  }

  payment_result result() const {
    const auto finishes = all<finish_payment>();
    EXPECT_EQ(finishes.size(), 1u) << "finish_payment must come exactly once";
    return finishes.empty() ? payment_result{} : finishes.back().result;
  }

  std::size_t card_digits(card_field f) const { return dialog_->card().size(f); }

  bool card_cleared() const {
    for (const card_field f : {card_field::pan, card_field::expiry, card_field::cvv,
                               card_field::postal_code, card_field::verification}) {
      if (dialog_->card().size(f) != 0) return false;
    }
    return true;
  }

  // The leak scan, run over every action of every test: no card number (not even seven of
  // its digits in a row: first six and last four at most), no other secret outside a prompt
  // that says it reads card data, every prompt that speaks an expiry, CVV or postal code
  // flagged, no run of digits in a progress event's error; and card data gone once a payment ends.
  void expect_no_card_data_left() const {
    for (const auto& action : all_) {
      const std::string text = describe(action);
      for (const std::string_view pan : kCardNumbers) {
        for (std::size_t i = 0; i + 7 <= pan.size(); ++i) {
          EXPECT_EQ(text.find(pan.substr(i, 7)), std::string::npos) << "card digits in: " << text;
        }
      }
      if (const auto* play = std::get_if<play_prompt>(&action)) {
        for (const auto& phrase : play->plan.phrases) {
          const bool speaks_secret =
              phrase.rfind("month-year:", 0) == 0 ||
              std::any_of(kOtherSecrets.begin(), kOtherSecrets.end(),
                          [&](std::string_view s) { return phrase == "digits:" + std::string(s); });
          if (speaks_secret) {
            EXPECT_TRUE(play->plan.reads_card_data) << text;
          }
        }
        continue;
      }
      for (const std::string_view secret : kOtherSecrets) {
        EXPECT_EQ(text.find(secret), std::string::npos) << "secret in: " << text;
      }
      if (const auto* p = std::get_if<report_progress>(&action)) {
        int run = 0;
        for (const char c : p->event.error) {
          run = c >= '0' && c <= '9' ? run + 1 : 0;
          EXPECT_LE(run, 4) << "digits in a progress event: " << text;
        }
      }
    }
    if (dialog_ && dialog_->finished()) {
      EXPECT_TRUE(card_cleared());
    }
  }

  payment_config config = default_payment_config();
  payment_request request = default_request();
  calendar_date today{2026, 6, 15};
  std::int64_t now = 1'000'000;
  std::optional<payment_dialog> dialog_;

 private:
  void take(std::vector<dialog_action> actions) {
    for (const auto& a : actions) {
      if (const auto* p = std::get_if<play_prompt>(&a)) playing_ = p->id;
      if (const auto* s = std::get_if<stop_prompt>(&a); s != nullptr && playing_ == s->id)
        playing_.reset();
    }
    all_.insert(all_.end(), actions.begin(), actions.end());
    run_.insert(run_.end(), actions.begin(), actions.end());
    last_ = std::move(actions);
  }

  readable_language language_;
  std::optional<std::uint64_t> playing_;
  std::vector<dialog_action> all_;   // every action of the test (every run)
  std::vector<dialog_action> run_;   // the actions of the current dialog
  std::vector<dialog_action> last_;  // the actions of the last call
};

// --- the whole flow -------------------------------------------------------------------------

TEST_F(PaymentDialog, AutomatedHappyPathWithTheAmountPassedInEndsInSuccess) {
  begin();
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking on", "play"}));
  EXPECT_EQ(said(),
            "msg:secure-session-start msg:amount-due-is amount:19.99 USD msg:enter-card-number");

  answer(std::string(kVisa) + "#");
  EXPECT_EQ(said(), "msg:you-entered msg:card-ending-in digits:1111 msg:confirm-or-reenter");
  EXPECT_FALSE(last_plan().reads_card_data);  // the last four may be spoken
  answer("1");
  EXPECT_EQ(said(), "msg:enter-expiry");
  answer(kExpiry);
  EXPECT_EQ(said(), "msg:you-entered month-year:2028-12 msg:confirm-or-reenter");
  EXPECT_TRUE(last_plan().reads_card_data);
  answer("1");
  EXPECT_EQ(said(), "msg:enter-security-code");
  answer(kCvv);

  EXPECT_EQ(said(), "msg:processing-payment");
  const auto calls = latest<call_gateway>();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].request.transaction_id, "pay-7-1");
  EXPECT_EQ(calls[0].request.method, gateway_method::charge);
  EXPECT_EQ(calls[0].request.amount.minor, 1999);
  EXPECT_EQ(calls[0].request.amount.code.code, "USD");
  EXPECT_EQ(calls[0].request.description, "INV-1");
  // The gateway client reads the card from the dialog while it executes call_gateway.
  EXPECT_EQ(card_digits(card_field::pan), 16u);
  EXPECT_EQ(card_digits(card_field::expiry), 4u);
  EXPECT_EQ(card_digits(card_field::cvv), 3u);

  gateway_answers(gateway_outcome::approved, "CH-9F3");
  EXPECT_TRUE(card_cleared());
  EXPECT_EQ(steps(), (std::vector<std::string>{"stop-prompt", "play"}));
  EXPECT_EQ(said(),
            "msg:payment-approved msg:payment-of amount:19.99 USD msg:reference-is digits:CH9F3");
  prompt_ends();
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking off", "return-to-ivr", "finish"}));
  const payment_result r = result();
  EXPECT_EQ(r.outcome, payment_outcome::success);
  EXPECT_EQ(result_name(r.outcome), "success");
  EXPECT_EQ(r.transaction_reference, "CH-9F3");
  EXPECT_EQ(r.transaction_id, "pay-7-1");
  EXPECT_EQ(r.brand, card_brand::visa);
  EXPECT_EQ(r.last_four, "1111");
  EXPECT_EQ(r.amount_minor, 1999);
  EXPECT_EQ(r.payment_currency.code, "USD");
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.declines, 0);
  EXPECT_EQ(r.customer_id, "ACME-1");
  EXPECT_TRUE(dialog_->finished());
  EXPECT_EQ(latest<return_to_ivr>()[0].context.at("result"), "success");
  EXPECT_EQ(latest<return_to_ivr>()[0].context.at("transaction_reference"), "CH-9F3");
}

TEST_F(PaymentDialog, AgentAssistedWithTheAgentRemovedRemovesAndReturnsTheAgent) {
  request.mode = payment_mode::agent_assisted;
  config.treatment = agent_treatment::removed;
  begin();
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking on", "remove-agent", "play"}));
  enter_visa();
  gateway_answers(gateway_outcome::approved);
  EXPECT_EQ(said(),
            "msg:payment-approved msg:payment-of amount:19.99 USD msg:reference-is digits:CH9F3 "
            "msg:returning-to-agent");
  prompt_ends();
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking off", "return-to-agent", "finish"}));
  EXPECT_EQ(result().outcome, payment_outcome::success);
}

TEST_F(PaymentDialog, AgentAssistedWithTheAgentStayingOnTheLineOnlyMasks) {
  request.mode = payment_mode::agent_assisted;
  request.treatment = agent_treatment::stay_on_line;
  config.masking = masking_mode::tone;
  begin();
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking on", "play"}));
  EXPECT_EQ(latest<set_masking>()[0].mode, masking_mode::tone);
  enter_visa();
  gateway_answers(gateway_outcome::approved);
  prompt_ends();
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking off", "return-to-agent", "finish"}));
  EXPECT_TRUE(all<remove_agent>().empty());
}

// --- identification -------------------------------------------------------------------------

TEST_F(PaymentDialog, AnUnidentifiedCallerIsVerifiedByAccountNumberAndPin) {
  request.identified = false;
  begin();
  EXPECT_EQ(said(), "msg:secure-session-start msg:enter-account-number");
  answer("10012345#");
  EXPECT_EQ(said(), "msg:enter-pin");
  answer(std::string(kPin) + "#");
  const auto asks = latest<verify_identity>();
  ASSERT_EQ(asks.size(), 1u);
  EXPECT_EQ(asks[0].request.request_id, "pay-7-id-1");
  EXPECT_EQ(asks[0].request.account_id, "10012345");
  EXPECT_EQ(asks[0].request.kind, verification_kind::pin);
  EXPECT_EQ(card_digits(card_field::verification), 4u);  // for the identification client
  EXPECT_EQ(dialog_->stage(), dialog_stage::awaiting_identity);

  identity_answers(identity_outcome::verified, "CUST-9");
  EXPECT_EQ(card_digits(card_field::verification), 0u);
  EXPECT_EQ(said(), "msg:amount-due-is amount:19.99 USD msg:enter-card-number");
  enter_visa();
  gateway_answers(gateway_outcome::approved);
  prompt_ends();
  EXPECT_EQ(result().customer_id, "CUST-9");
}

TEST_F(PaymentDialog, AVerifiedCallersBalanceIsOfferedWhenNoAmountWasPassed) {
  request.identified = false;
  request.amount_minor.reset();
  begin();
  answer("10012345#");
  answer(std::string(kPin) + "#");
  identity_answers(identity_outcome::verified, "CUST-9", 4200);
  EXPECT_EQ(said(), "msg:amount-due-is amount:42.00 USD msg:full-balance-or-other");
}

TEST_F(PaymentDialog, AFailedVerificationAsksAgainUntilItsAttemptsRunOut) {
  request.identified = false;
  config.identification.attempts = 2;
  begin();
  answer("10012345#");
  answer(std::string(kPin) + "#");
  identity_answers(identity_outcome::not_verified);
  EXPECT_EQ(said(), "msg:identification-failed msg:enter-account-number");
  EXPECT_EQ(card_digits(card_field::verification), 0u);
  answer("10012345#");
  answer(std::string(kPin) + "#");
  EXPECT_EQ(latest<verify_identity>()[0].request.request_id, "pay-7-id-2");
  identity_answers(identity_outcome::not_verified);
  EXPECT_EQ(said(), "msg:identification-failed msg:transferring");
}

TEST_F(PaymentDialog, IdentificationFailureInAutomatedModeTransfersToTheQueueWithContext) {
  request.identified = false;
  config.identification.attempts = 1;
  config.exit_queue = "payments-manual";
  begin();
  answer("10012345#");
  answer(std::string(kPin) + "#");
  identity_answers(identity_outcome::not_verified);
  EXPECT_EQ(said(), "msg:identification-failed msg:transferring");
  prompt_ends();
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking off", "transfer", "finish"}));
  const transfer_call t = latest<transfer_call>()[0];
  EXPECT_EQ(t.purpose, transfer_purpose::exit_queue);
  EXPECT_EQ(t.target, "payments-manual");
  EXPECT_EQ(t.context.at("result"), "identification-failed");
  EXPECT_EQ(t.context.at("payment_id"), "pay-7");
  EXPECT_EQ(t.context.at("amount"), "19.99");
  EXPECT_EQ(result().outcome, payment_outcome::identification_failed);
}

TEST_F(PaymentDialog, IdentificationFailureInAgentAssistedModeReturnsToTheAgent) {
  request.identified = false;
  request.mode = payment_mode::agent_assisted;
  config.identification.attempts = 1;
  begin();
  answer("10012345#");
  answer(std::string(kPin) + "#");
  identity_answers(identity_outcome::not_verified);
  EXPECT_EQ(said(), "msg:identification-failed msg:returning-to-agent");
  prompt_ends();
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking off", "return-to-agent", "finish"}));
  EXPECT_EQ(result().outcome, payment_outcome::identification_failed);
}

TEST_F(PaymentDialog, AnIdentificationServiceErrorFailsIdentification) {
  request.identified = false;
  begin();
  answer("10012345#");
  answer(std::string(kPin) + "#");
  identity_answers(identity_outcome::error);
  prompt_ends();
  EXPECT_EQ(result().outcome, payment_outcome::identification_failed);
  EXPECT_EQ(result().error, "identification-error");
}

TEST_F(PaymentDialog, IdentificationByDateOfBirthTakesEightDigitsAndRefusesImpossibleDates) {
  request.identified = false;
  config.identification.method = identification_method::date_of_birth;
  begin();
  answer("10012345#");
  EXPECT_EQ(said(), "msg:enter-date-of-birth");
  answer("31021990");  // 31 February
  EXPECT_EQ(said(), "msg:entry-invalid msg:enter-date-of-birth");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "invalid-date");
  answer("01012030");  // not born yet
  EXPECT_EQ(said(), "msg:entry-invalid msg:enter-date-of-birth");
  answer(kBirthDate);  // complete at eight digits, no '#'
  const auto asks = latest<verify_identity>();
  ASSERT_EQ(asks.size(), 1u);
  EXPECT_EQ(asks[0].request.kind, verification_kind::date_of_birth);
  EXPECT_EQ(card_digits(card_field::verification), 8u);
}

TEST_F(PaymentDialog, AShortAccountNumberIsRefused) {
  request.identified = false;
  begin();
  answer("12#");
  EXPECT_EQ(said(), "msg:entry-invalid msg:enter-account-number");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "wrong-length");
}

TEST_F(PaymentDialog, TransferToTheIdentificationTargetAndBack) {
  request.identified = false;
  config.identification.method = identification_method::transfer;
  config.identification.target = "id-and-v";
  begin();
  EXPECT_EQ(steps(), (std::vector<std::string>{"transfer"}));  // masking starts after
  const transfer_call t = latest<transfer_call>()[0];
  EXPECT_EQ(t.purpose, transfer_purpose::identification);
  EXPECT_EQ(t.target, "id-and-v");
  EXPECT_EQ(t.context.at("payment_id"), "pay-7");
  EXPECT_EQ(dialog_->stage(), dialog_stage::awaiting_identification_transfer);
  EXPECT_FALSE(dialog_->next_deadline_ms().has_value());

  identity_reply back;
  back.outcome = identity_outcome::verified;
  back.customer_id = "CUST-3";
  send(identity_replied{"", back});
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking on", "play"}));
  EXPECT_EQ(said(),
            "msg:secure-session-start msg:amount-due-is amount:19.99 USD msg:enter-card-number");
  enter_visa();
  gateway_answers(gateway_outcome::approved);
  prompt_ends();
  EXPECT_EQ(result().customer_id, "CUST-3");
}

TEST_F(PaymentDialog, NotIdentifiedByTheIdentificationTargetFailsIdentification) {
  request.identified = false;
  config.identification.method = identification_method::transfer;
  config.identification.target = "id-and-v";
  begin();
  identity_reply back;
  back.outcome = identity_outcome::not_verified;
  send(identity_replied{"", back});
  EXPECT_EQ(said(), "msg:identification-failed msg:transferring");
  prompt_ends();
  EXPECT_EQ(steps(), (std::vector<std::string>{"transfer", "finish"}));  // masking never began
  EXPECT_EQ(result().outcome, payment_outcome::identification_failed);
}

// --- the amount -----------------------------------------------------------------------------

TEST_F(PaymentDialog, TheCallerEntersTheAmountWithStarAsTheDecimalPoint) {
  request.amount_minor.reset();
  begin();
  EXPECT_EQ(said(), "msg:secure-session-start msg:enter-amount");
  answer("25*50#");
  EXPECT_EQ(said(), "msg:you-entered amount:25.50 USD msg:confirm-or-reenter");
  answer("1");
  EXPECT_EQ(said(), "msg:enter-card-number");
  enter_visa();
  EXPECT_EQ(latest<call_gateway>()[0].request.amount.minor, 2550);
}

TEST_F(PaymentDialog, WithStarDecimalPlainDigitsAreWholeUnits) {
  request.amount_minor.reset();
  begin();
  answer("25#");
  EXPECT_EQ(said(), "msg:you-entered amount:25.00 USD msg:confirm-or-reenter");
}

TEST_F(PaymentDialog, TheCallerEntersTheAmountInMinorUnits) {
  request.amount_minor.reset();
  config.amount_keys = amount_entry::minor_units;
  begin();
  answer("2550#");
  EXPECT_EQ(said(), "msg:you-entered amount:25.50 USD msg:confirm-or-reenter");
}

TEST_F(PaymentDialog, AnAmountBelowTheMinimumIsRefusedSayingTheMinimum) {
  request.amount_minor.reset();
  config.min_amount_minor = 500;
  begin();
  answer("2*50#");
  EXPECT_EQ(said(), "msg:amount-below-minimum amount:5.00 USD msg:enter-amount");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "below-minimum");
  answer("5#");
  EXPECT_EQ(said(), "msg:you-entered amount:5.00 USD msg:confirm-or-reenter");
}

TEST_F(PaymentDialog, AnAmountAboveTheMaximumIsRefusedSayingTheMaximum) {
  request.amount_minor.reset();
  begin();
  answer("20000#");
  EXPECT_EQ(said(), "msg:amount-above-maximum amount:10000.00 USD msg:enter-amount");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "above-maximum");
}

TEST_F(PaymentDialog, AMalformedAmountIsRefused) {
  request.amount_minor.reset();
  begin();
  answer("19*999#");  // three decimals in dollars
  EXPECT_EQ(said(), "msg:entry-invalid msg:enter-amount");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "malformed");
}

TEST_F(PaymentDialog, ARequestedAmountBelowTheMinimumIsEnteredByTheCaller) {
  request.amount_minor = 50;
  begin();
  EXPECT_EQ(said(),
            "msg:secure-session-start msg:amount-below-minimum amount:1.00 USD msg:enter-amount");
}

TEST_F(PaymentDialog, TheCallerPaysTheFullBalanceWithOne) {
  request.amount_minor.reset();
  request.balance_minor = 12'345;
  begin();
  EXPECT_EQ(said(),
            "msg:secure-session-start msg:amount-due-is amount:123.45 USD "
            "msg:full-balance-or-other");
  answer("1");
  EXPECT_EQ(said(), "msg:enter-card-number");
  enter_visa();
  EXPECT_EQ(latest<call_gateway>()[0].request.amount.minor, 12'345);
}

TEST_F(PaymentDialog, TheCallerPaysAnotherAmountWithTwo) {
  request.amount_minor.reset();
  request.balance_minor = 12'345;
  begin();
  answer("2");
  EXPECT_EQ(said(), "msg:enter-amount");
  answer("50#");
  answer("1");
  enter_visa();
  EXPECT_EQ(latest<call_gateway>()[0].request.amount.minor, 5000);
}

TEST_F(PaymentDialog, AnotherKeyAtTheBalanceChoiceAsksAgain) {
  request.amount_minor.reset();
  request.balance_minor = 12'345;
  begin();
  answer("5");
  EXPECT_EQ(said(),
            "msg:entry-invalid msg:amount-due-is amount:123.45 USD msg:full-balance-or-other");
}

TEST_F(PaymentDialog, ABalanceAboveTheMaximumIsNotOfferedInFull) {
  request.amount_minor.reset();
  request.balance_minor = 5'000'000;
  begin();
  EXPECT_EQ(said(),
            "msg:secure-session-start msg:amount-due-is amount:50000.00 USD msg:enter-amount");
}

// --- the card number ------------------------------------------------------------------------

TEST_F(PaymentDialog, ACardNumberFailingLuhnIsRefusedAndAskedAgain) {
  begin();
  answer(std::string(kVisaLuhnFails) + "#");
  EXPECT_EQ(said(), "msg:card-number-invalid msg:enter-card-number");
  const progress_event invalid = progress_of(progress_kind::field_invalid).back();
  EXPECT_EQ(invalid.error, "luhn-failed");
  EXPECT_EQ(invalid.field, dialog_field::card_number);
  EXPECT_EQ(progress_of(progress_kind::field_started).back().attempt, 2);
  EXPECT_EQ(card_digits(card_field::pan), 0u);
}

TEST_F(PaymentDialog, ABrandNotAllowedIsRefused) {
  config.allowed_brands = {card_brand::visa, card_brand::mastercard};
  begin();
  answer(kAmex);  // complete at 15 digits
  EXPECT_EQ(said(), "msg:card-brand-not-accepted msg:enter-card-number");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "brand-not-allowed");
}

TEST_F(PaymentDialog, ACardNumberOfTheWrongLengthForItsBrandIsRefused) {
  begin();
  answer(std::string(kVisaTooShort) + "#");
  EXPECT_EQ(said(), "msg:card-number-invalid msg:enter-card-number");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "wrong-length");
}

TEST_F(PaymentDialog, HashEndsAVariableLengthCardNumber) {
  begin();
  answer(std::string(kVisa13) + "#");
  EXPECT_EQ(said(), "msg:you-entered msg:card-ending-in digits:2222 msg:confirm-or-reenter");
}

TEST_F(PaymentDialog, ACardNumberCompletesByItselfAtItsBrandsLongestLength) {
  begin();
  answer(kMastercard);  // 16 digits, Mastercard's only length: no '#'
  EXPECT_EQ(said(), "msg:you-entered msg:card-ending-in digits:4444 msg:confirm-or-reenter");
  EXPECT_EQ(latest<collect_field>()[0].confirmation, true);
}

TEST_F(PaymentDialog, TheBrandIsReportedOnceDetectedAndTheDigitsOnlyAsACount) {
  begin();
  answer(kMastercard);
  const auto brands = progress_of(progress_kind::brand_detected);
  ASSERT_EQ(brands.size(), 1u);
  EXPECT_EQ(brands[0].brand, card_brand::mastercard);
  const auto counts = progress_of(progress_kind::digits_entered);
  ASSERT_EQ(counts.size(), 16u);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(counts[i].digits, i + 1);
}

TEST_F(PaymentDialog, AmericanExpressAsksAFourDigitSecurityCode) {
  begin();
  answer(kAmex);
  answer("1");
  answer(kExpiry);
  answer("1");
  EXPECT_EQ(said(), "msg:enter-security-code-amex");
  EXPECT_EQ(latest<collect_field>()[0].max_keys, 4);
  answer(kAmexCvv);  // complete at four digits
  EXPECT_EQ(said(), "msg:processing-payment");
  EXPECT_EQ(card_digits(card_field::cvv), 4u);
}

TEST_F(PaymentDialog, AThreeDigitCodeIsTooShortForAmericanExpress) {
  begin();
  answer(kAmex);
  answer("1");
  answer(kExpiry);
  answer("1");
  answer(std::string(kCvv) + "#");
  EXPECT_EQ(said(), "msg:security-code-invalid msg:enter-security-code-amex");
}

TEST_F(PaymentDialog, TheSecurityCodeOfABrandWhereItIsOptionalIsSkippedUnlessConfigured) {
  begin();
  answer(std::string(kMaestro) + "#");
  answer("1");
  answer(kExpiry);
  answer("1");
  EXPECT_EQ(said(), "msg:processing-payment");
  EXPECT_EQ(card_digits(card_field::cvv), 0u);
}

TEST_F(PaymentDialog, TheSecurityCodeOfABrandWhereItIsOptionalIsAskedWhenConfigured) {
  config.cvv_when_optional = true;
  begin();
  answer(std::string(kMaestro) + "#");
  answer("1");
  answer(kExpiry);
  answer("1");
  EXPECT_EQ(said(), "msg:enter-security-code");
}

// --- expiry ---------------------------------------------------------------------------------

class PaymentDialogExpiry : public PaymentDialog {
 protected:
  // Takes the dialog to the expiry question.
  void to_expiry() {
    begin();
    answer(std::string(kVisa) + "#");
    answer("1");
  }
};

TEST_F(PaymentDialogExpiry, AnExpiredCardIsRefused) {
  to_expiry();
  answer("0526");  // May 2026, today is June 2026
  EXPECT_EQ(said(), "msg:card-expired msg:enter-expiry");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "expired");
  EXPECT_EQ(card_digits(card_field::expiry), 0u);
}

TEST_F(PaymentDialogExpiry, TheCurrentMonthIsNotExpired) {
  to_expiry();
  answer("0626");
  EXPECT_EQ(said(), "msg:you-entered month-year:2026-06 msg:confirm-or-reenter");
}

TEST_F(PaymentDialogExpiry, AnExpiryTooFarAheadIsRefused) {
  to_expiry();
  answer("0660");
  EXPECT_EQ(said(), "msg:expiry-invalid msg:enter-expiry");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "too-far-ahead");
}

TEST_F(PaymentDialogExpiry, ABadMonthIsRefused) {
  to_expiry();
  answer("1328");
  EXPECT_EQ(said(), "msg:expiry-invalid msg:enter-expiry");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "bad-month");
}

TEST_F(PaymentDialogExpiry, AShortExpiryEndedWithHashIsMalformed) {
  to_expiry();
  answer("12#");
  EXPECT_EQ(said(), "msg:expiry-invalid msg:enter-expiry");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "malformed");
}

// --- postal code ----------------------------------------------------------------------------

TEST_F(PaymentDialog, ThePostalCodeIsAskedWhenConfiguredAndReadBackAsCardData) {
  config.ask_postal_code = true;
  begin();
  enter_visa();
  EXPECT_EQ(said(), "msg:enter-postal-code");
  answer(kPostal);  // five digits: complete
  EXPECT_EQ(said(), "msg:you-entered digits:94107 msg:confirm-or-reenter");
  EXPECT_TRUE(last_plan().reads_card_data);
  answer("1");
  EXPECT_EQ(said(), "msg:processing-payment");
  EXPECT_EQ(card_digits(card_field::postal_code), 5u);
}

TEST_F(PaymentDialog, ThePostalCodeIsNotAskedByDefault) {
  begin();
  enter_visa();
  EXPECT_EQ(said(), "msg:processing-payment");
}

// --- read-back and confirmation -------------------------------------------------------------

TEST_F(PaymentDialog, TwoAtTheReadBackEntersTheFieldAgain) {
  begin();
  answer(std::string(kVisa) + "#");
  answer("2");
  EXPECT_EQ(said(), "msg:enter-card-number");
  EXPECT_EQ(card_digits(card_field::pan), 0u);
  EXPECT_EQ(progress_of(progress_kind::field_reentry).size(), 1u);
  EXPECT_EQ(progress_of(progress_kind::field_started).back().attempt, 2);
  answer(std::string(kMastercard));
  EXPECT_EQ(said(), "msg:you-entered msg:card-ending-in digits:4444 msg:confirm-or-reenter");
}

TEST_F(PaymentDialog, AnInvalidKeyAtTheReadBackRepeatsIt) {
  begin();
  answer(std::string(kVisa) + "#");
  answer("7");
  EXPECT_EQ(said(),
            "msg:entry-invalid msg:you-entered msg:card-ending-in digits:1111 "
            "msg:confirm-or-reenter");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "invalid-key");
  answer("#");
  answer("9");  // the third miss: the field's attempts are spent
  EXPECT_EQ(said(), "msg:too-many-attempts msg:transferring");
  prompt_ends();
  EXPECT_EQ(result().outcome, payment_outcome::too_many_failed_attempts);
  EXPECT_EQ(result().failed_field, dialog_field::card_number);
}

TEST_F(PaymentDialog, ConfirmationIsConfiguredPerField) {
  config.field(dialog_field::card_number).confirm = false;
  config.field(dialog_field::cvv).confirm = true;
  begin();
  answer(std::string(kVisa) + "#");
  EXPECT_EQ(said(), "msg:enter-expiry");
  answer(kExpiry);
  answer("1");
  answer(kCvv);
  EXPECT_EQ(said(), "msg:you-entered digits:737 msg:confirm-or-reenter");
  EXPECT_TRUE(last_plan().reads_card_data);
}

// --- star, hash, timeouts -------------------------------------------------------------------

TEST_F(PaymentDialog, StarCancelsAtEveryStage) {
  struct stage_case {
    std::string name;
    std::function<void()> prepare;  // before begin()
    std::function<void()> reach;    // after begin()
  };
  const auto none = [] {};
  const auto unidentified = [this] { request.identified = false; };
  const auto no_amount = [this] { request.amount_minor.reset(); };
  const auto postal = [this] { config.ask_postal_code = true; };
  const std::vector<stage_case> cases{
      {"account number", unidentified, none},
      {"pin", unidentified, [this] { answer("10012345#"); }},
      {"identity pending", unidentified,
       [this] {
         answer("10012345#");
         answer(std::string(kPin) + "#");
       }},
      {"balance choice",
       [this] {
         request.amount_minor.reset();
         request.balance_minor = 1000;
       },
       none},
      {"amount, first key", no_amount, none},
      {"amount read-back", no_amount, [this] { answer("12#"); }},
      {"card number", none, [this] { answer("4111"); }},
      {"card number read-back", none, [this] { answer(std::string(kVisa) + "#"); }},
      {"expiry", none,
       [this] {
         answer(std::string(kVisa) + "#");
         answer("1");
         answer("12");
       }},
      {"cvv", none,
       [this] {
         answer(std::string(kVisa) + "#");
         answer("1");
         answer(kExpiry);
         answer("1");
       }},
      {"postal code", postal,
       [this] {
         enter_visa();
         answer("94");
       }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    request = default_request();
    config = default_payment_config();
    c.prepare();
    begin();
    c.reach();
    ASSERT_FALSE(dialog_->finished());
    answer("*");
    EXPECT_EQ(said(), "msg:payment-cancelled");
    EXPECT_TRUE(card_cleared());
    prompt_ends();
    EXPECT_EQ(result().outcome, payment_outcome::caller_interrupted_with_star);
    EXPECT_EQ(result_name(result().outcome), "caller-interrupted-with-star");
    EXPECT_EQ(steps().back(), "finish");
  }
}

TEST_F(PaymentDialog, StarInAgentAssistedModeReturnsToTheAgent) {
  request.mode = payment_mode::agent_assisted;
  begin();
  answer("*");
  EXPECT_EQ(said(), "msg:payment-cancelled msg:returning-to-agent");
  prompt_ends();
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking off", "return-to-agent", "finish"}));
}

TEST_F(PaymentDialog, TheFirstDigitTimeoutRepromptsThenFailsTheFieldAfterItsAttempts) {
  begin();
  EXPECT_FALSE(dialog_->next_deadline_ms().has_value());  // the question still plays
  prompt_ends();
  EXPECT_EQ(dialog_->next_deadline_ms(), now + 10'000);
  time_passes();
  EXPECT_EQ(said(), "msg:no-entry-received msg:enter-card-number");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "no-entry");
  prompt_ends();
  time_passes();
  EXPECT_EQ(said(), "msg:no-entry-received msg:enter-card-number");
  prompt_ends();
  time_passes();
  EXPECT_EQ(said(), "msg:too-many-attempts msg:transferring");
  prompt_ends();
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking off", "transfer", "finish"}));
  const payment_result r = result();
  EXPECT_EQ(r.outcome, payment_outcome::too_many_failed_attempts);
  EXPECT_EQ(r.failed_field, dialog_field::card_number);
  EXPECT_EQ(r.error, "no-entry");
  EXPECT_EQ(r.failed_entries, 3);
  EXPECT_EQ(latest<transfer_call>()[0].context.at("failed_field"), "card-number");
}

TEST_F(PaymentDialog, TheInterDigitTimeoutRepromptsAnIncompleteEntry) {
  begin();
  answer("4111");
  EXPECT_EQ(dialog_->next_deadline_ms(), now + 5'000);
  time_passes();
  EXPECT_EQ(said(), "msg:no-entry-received msg:enter-card-number");
  EXPECT_EQ(progress_of(progress_kind::field_invalid).back().error, "incomplete");
  EXPECT_EQ(card_digits(card_field::pan), 0u);
}

TEST_F(PaymentDialog, TheInterDigitTimeoutSubmitsAVariableLengthEntryLongEnoughToBeComplete) {
  begin();
  answer(kVisa);  // no '#'
  time_passes();
  EXPECT_EQ(said(), "msg:you-entered msg:card-ending-in digits:1111 msg:confirm-or-reenter");
}

TEST_F(PaymentDialog, TheReadBackHasItsOwnTimeout) {
  begin();
  answer(std::string(kVisa) + "#");
  prompt_ends();
  time_passes();
  EXPECT_EQ(said(),
            "msg:no-entry-received msg:you-entered msg:card-ending-in digits:1111 "
            "msg:confirm-or-reenter");
}

TEST_F(PaymentDialog, AnEarlyOrStaleTimerIsIgnored) {
  begin();
  prompt_ends();
  const auto deadline = dialog_->next_deadline_ms();
  now = *deadline - 1;
  send(timer_expired{});
  EXPECT_TRUE(steps().empty());
  EXPECT_EQ(dialog_->next_deadline_ms(), deadline);
}

TEST_F(PaymentDialog, AKeyDuringAPromptStopsItAndStartsTheEntry) {
  begin();
  const std::uint64_t question = latest<play_prompt>()[0].id;
  press("4");
  EXPECT_EQ(steps(), (std::vector<std::string>{"stop-prompt"}));
  EXPECT_EQ(latest<stop_prompt>()[0].id, question);
  EXPECT_EQ(dialog_->next_deadline_ms(), now + 5'000);  // inter-digit from now on
  send(prompt_finished{question});                      // the player's late report changes nothing
  EXPECT_EQ(dialog_->next_deadline_ms(), now + 5'000);
}

TEST_F(PaymentDialog, LettersAThroughDAreIgnored) {
  begin();
  answer("4111A");
  EXPECT_EQ(progress_of(progress_kind::digits_entered).back().digits, 4);
}

// --- hang-up and cancel ---------------------------------------------------------------------

TEST_F(PaymentDialog, HangingUpMidEntryEndsWithCallerHungUpAndClearsTheCardData) {
  begin();
  answer(std::string(kVisa) + "#");
  answer("1");
  answer("12");
  send(caller_hung_up{});
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking off", "finish"}));
  EXPECT_TRUE(card_cleared());
  EXPECT_EQ(result().outcome, payment_outcome::caller_hung_up);
  EXPECT_EQ(result_name(result().outcome), "caller-hung-up");
  EXPECT_FALSE(dialog_->next_deadline_ms().has_value());
}

TEST_F(PaymentDialog, HangingUpWhileTheGatewayChargesWaitsForItsAnswer) {
  begin();
  enter_visa();
  send(caller_hung_up{});
  EXPECT_TRUE(steps().empty());
  EXPECT_TRUE(card_cleared());
  gateway_answers(gateway_outcome::approved);
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking off", "finish"}));
  EXPECT_EQ(result().outcome, payment_outcome::success);  // the money was taken
}

TEST_F(PaymentDialog, HangingUpWhileTheGatewayDeclinesIsCallerHungUp) {
  begin();
  enter_visa();
  send(caller_hung_up{});
  gateway_answers(gateway_outcome::declined, {}, "card_declined");
  EXPECT_EQ(result().outcome, payment_outcome::caller_hung_up);
  EXPECT_EQ(result().declines, 1);
}

TEST_F(PaymentDialog, HangingUpDuringTheClosingAnnouncementKeepsTheResult) {
  begin();
  enter_visa();
  gateway_answers(gateway_outcome::approved);
  send(caller_hung_up{});
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking off", "finish"}));
  EXPECT_EQ(result().outcome, payment_outcome::success);
}

TEST_F(PaymentDialog, ACancelFromTheApiEndsCancelled) {
  request.mode = payment_mode::agent_assisted;
  begin();
  answer("4111");
  send(cancel_requested{});
  EXPECT_EQ(said(), "msg:payment-cancelled msg:returning-to-agent");
  EXPECT_TRUE(card_cleared());
  prompt_ends();
  EXPECT_EQ(result().outcome, payment_outcome::cancelled);
}

TEST_F(PaymentDialog, ACancelCannotCallBackACardAlreadyCharged) {
  begin();
  enter_visa();
  send(cancel_requested{});
  EXPECT_TRUE(steps().empty());
  gateway_answers(gateway_outcome::approved);
  prompt_ends();
  EXPECT_EQ(result().outcome, payment_outcome::success);
}

TEST_F(PaymentDialog, KeysWhileTheGatewayIsAskedAreIgnored) {
  begin();
  enter_visa();
  press("*#12");
  EXPECT_TRUE(steps().empty());
  EXPECT_EQ(dialog_->stage(), dialog_stage::awaiting_gateway);
}

// --- declines and gateway errors ------------------------------------------------------------

TEST_F(PaymentDialog, ADeclineAsksForAnotherCardWithANewTransactionId) {
  begin();
  enter_visa();
  gateway_answers(gateway_outcome::declined, {}, "card_declined");
  EXPECT_EQ(said(), "msg:payment-declined msg:try-another-card msg:enter-card-number");
  EXPECT_TRUE(card_cleared());
  EXPECT_EQ(progress_of(progress_kind::gateway_declined).back().error, "card_declined");
  answer(kMastercard);
  answer("1");
  answer(kExpiry);
  answer("1");
  answer(kCvv);
  EXPECT_EQ(latest<call_gateway>()[0].request.transaction_id, "pay-7-2");
  gateway_answers(gateway_outcome::approved);
  prompt_ends();
  const payment_result r = result();
  EXPECT_EQ(r.outcome, payment_outcome::success);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(r.declines, 1);
  EXPECT_EQ(r.brand, card_brand::mastercard);
  EXPECT_EQ(r.last_four, "4444");
  EXPECT_EQ(r.transaction_id, "pay-7-2");
}

TEST_F(PaymentDialog, DeclinesUpToTheMaximumThenAutomatedModeGoesToTheQueue) {
  config.max_declines = 2;
  begin();
  enter_visa();
  gateway_answers(gateway_outcome::declined, {}, "card_declined");
  enter_visa();
  gateway_answers(gateway_outcome::declined, {}, "insufficient_funds");
  EXPECT_EQ(said(), "msg:payment-declined msg:too-many-attempts msg:transferring");
  prompt_ends();
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking off", "transfer", "finish"}));
  EXPECT_EQ(latest<transfer_call>()[0].target, "payments");
  const payment_result r = result();
  EXPECT_EQ(r.outcome, payment_outcome::too_many_failed_attempts);
  EXPECT_EQ(r.declines, 2);
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(r.error, "insufficient_funds");
  EXPECT_EQ(latest<transfer_call>()[0].context.at("declines"), "2");
  EXPECT_EQ(latest<transfer_call>()[0].context.at("last_four"), "1111");
}

TEST_F(PaymentDialog, DeclinesUpToTheMaximumThenAgentAssistedModeReturnsToTheAgent) {
  config.max_declines = 1;
  request.mode = payment_mode::agent_assisted;
  begin();
  enter_visa();
  gateway_answers(gateway_outcome::declined, {}, "card_declined");
  EXPECT_EQ(said(), "msg:payment-declined msg:too-many-attempts msg:returning-to-agent");
  prompt_ends();
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking off", "return-to-agent", "finish"}));
}

TEST_F(PaymentDialog, TheExitResultIsConfigured) {
  config.max_declines = 1;
  config.exit_automated = payment_exit::return_to_ivr;
  begin();
  enter_visa();
  gateway_answers(gateway_outcome::declined, {}, "card_declined");
  EXPECT_EQ(said(), "msg:payment-declined msg:too-many-attempts");
  prompt_ends();
  EXPECT_EQ(steps(), (std::vector<std::string>{"masking off", "return-to-ivr", "finish"}));
  EXPECT_EQ(latest<return_to_ivr>()[0].context.at("result"), "too-many-failed-attempts");
}

TEST_F(PaymentDialog, AGatewayErrorIsAPaymentConnectorError) {
  begin();
  enter_visa();
  gateway_answers(gateway_outcome::error, {}, "http_500");
  EXPECT_EQ(said(), "msg:payment-unavailable msg:transferring");
  EXPECT_TRUE(card_cleared());
  prompt_ends();
  const payment_result r = result();
  EXPECT_EQ(r.outcome, payment_outcome::payment_connector_error);
  EXPECT_EQ(result_name(r.outcome), "payment-connector-error");
  EXPECT_EQ(r.error, "http_500");
}

TEST_F(PaymentDialog, AGatewayErrorCodeCarryingDigitsIsNotPassedOn) {
  begin();
  enter_visa();
  gateway_answers(gateway_outcome::declined, {}, "bad_card_4111111111111111");
  EXPECT_EQ(progress_of(progress_kind::gateway_declined).back().error, "declined");
}

TEST_F(PaymentDialog, AGatewayThatNeverAnswersIsAConnectorErrorAndItsLateAnswerIsIgnored) {
  begin();
  enter_visa();
  const std::string id = latest<call_gateway>()[0].request.transaction_id;
  // 2 requests x (3 s connect + 15 s read) + 5 s
  EXPECT_EQ(dialog_->next_deadline_ms(), now + 41'000);
  time_passes();
  EXPECT_EQ(said(), "msg:payment-unavailable msg:transferring");
  gateway_reply late;
  late.outcome = gateway_outcome::approved;
  late.reference = "LATE";
  send(gateway_replied{id, late});
  EXPECT_TRUE(steps().empty());
  prompt_ends();
  EXPECT_EQ(result().outcome, payment_outcome::payment_connector_error);
  EXPECT_EQ(result().error, "timeout");
}

TEST_F(PaymentDialog, AReplyForAnotherTransactionIsIgnored) {
  begin();
  enter_visa();
  gateway_reply reply;
  reply.outcome = gateway_outcome::approved;
  send(gateway_replied{"pay-7-9", reply});
  EXPECT_TRUE(steps().empty());
  EXPECT_EQ(dialog_->stage(), dialog_stage::awaiting_gateway);
}

TEST_F(PaymentDialog, TokenizeAndPassThroughParametersReachTheGateway) {
  config.gateway.method = gateway_method::tokenize;
  request.parameters = {{"order", "A-17"}};
  begin();
  enter_visa();
  const gateway_request r = latest<call_gateway>()[0].request;
  EXPECT_EQ(r.method, gateway_method::tokenize);
  EXPECT_EQ(r.parameters.at("order"), "A-17");
}

TEST_F(PaymentDialog, TheReferenceIsAnnouncedOnlyWhenConfigured) {
  config.announce_reference = false;
  begin();
  enter_visa();
  gateway_answers(gateway_outcome::approved);
  EXPECT_EQ(said(), "msg:payment-approved msg:payment-of amount:19.99 USD");
}

// --- results --------------------------------------------------------------------------------

TEST_F(PaymentDialog, AttemptsDeclinesAndFailedEntriesAreCountedInTheResult) {
  begin();
  answer(std::string(kVisaLuhnFails) + "#");
  answer("12#");
  answer(std::string(kVisa) + "#");
  answer("1");
  answer("0526");
  answer(kExpiry);
  answer("1");
  answer(kCvv);
  gateway_answers(gateway_outcome::declined, {}, "card_declined");
  enter_visa();
  gateway_answers(gateway_outcome::approved);
  prompt_ends();
  const payment_result r = result();
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(r.declines, 1);
  EXPECT_EQ(r.failed_entries, 3);
  EXPECT_TRUE(r.error.empty());
}

TEST_F(PaymentDialog, ARefusedRequestIsAValidationError) {
  request.amount_minor = 0;
  begin();
  EXPECT_EQ(said(), "msg:payment-unavailable msg:transferring");
  prompt_ends();
  const payment_result r = result();
  EXPECT_EQ(r.outcome, payment_outcome::validation_error);
  EXPECT_EQ(result_name(r.outcome), "validation-error");
  EXPECT_EQ(r.error, "payment request: field 'amount': must be above zero");
}

TEST_F(PaymentDialog, ResultNamesAreTheApisNames) {
  EXPECT_EQ(result_name(payment_outcome::too_many_failed_attempts), "too-many-failed-attempts");
  EXPECT_EQ(result_name(payment_outcome::identification_failed), "identification-failed");
  EXPECT_EQ(result_name(payment_outcome::internal_error), "internal-error");
  EXPECT_EQ(result_name(payment_outcome::cancelled), "cancelled");
}

TEST_F(PaymentDialog, AFinishedDialogIgnoresEveryEvent) {
  begin();
  send(caller_hung_up{});
  EXPECT_TRUE(dialog_->finished());
  press("1");
  send(cancel_requested{});
  send(timer_expired{});
  EXPECT_TRUE(steps().empty());
}

TEST_F(PaymentDialog, ProgressNamesTheFieldTheAttemptAndTheLimits) {
  begin();
  const auto started = progress_of(progress_kind::field_started);
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].field, dialog_field::card_number);
  EXPECT_EQ(started[0].attempt, 1);
  EXPECT_EQ(started[0].max_attempts, 3);
  const collect_field c = latest<collect_field>()[0];
  EXPECT_EQ(c.field, dialog_field::card_number);
  EXPECT_EQ(c.min_keys, 12);
  EXPECT_EQ(c.max_keys, 19);
  EXPECT_TRUE(c.hash_ends);
  EXPECT_EQ(c.first_digit_timeout_ms, 10'000);
  EXPECT_EQ(c.inter_digit_timeout_ms, 5'000);
}

}  // namespace
}  // namespace toneguard::engine
