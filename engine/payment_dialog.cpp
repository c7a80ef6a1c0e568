#include "toneguard/engine/payment_dialog.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <utility>

#include "payment_dialog_state.h"
#include "payment_fields.h"

namespace toneguard::engine {

namespace {

template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

// Gateway error codes come from outside: keep them short names ("card_declined", "http_500"),
// and drop one that carries a run of digits long enough to be card data echoed back.
std::string sanitized_code(std::string_view code, std::string_view fallback) {
  std::string out;
  int digit_run = 0;
  for (const char c : code.substr(0, 64)) {
    digit_run = std::isdigit(static_cast<unsigned char>(c)) != 0 ? digit_run + 1 : 0;
    if (digit_run > 4) return std::string(fallback);
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.')
      out += c;
  }
  return out.empty() ? std::string(fallback) : out;
}

// A reference is read to the caller as digits and letters only, at most 32 of them.
std::string speakable_reference(std::string_view reference) {
  std::string out;
  for (const char c : reference) {
    if (out.size() == 32) break;
    if (std::isalnum(static_cast<unsigned char>(c)) != 0)
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

using dialog_detail::entry_phase;
using dialog_detail::exit_route;

std::int64_t payment_dialog::state::reply_safety_ms() const {
  const gateway_settings& g = config.gateway;
  return static_cast<std::int64_t>(g.max_attempts) * (g.connect_timeout_ms + g.read_timeout_ms) +
         5'000;
}

void payment_dialog::state::emit(dialog_action a) {
  out.push_back(std::move(a));
}

void payment_dialog::state::report(progress_kind kind, bool about_field, std::string_view err) {
  progress_event e;
  e.kind = kind;
  e.at_ms = now;
  e.error = std::string(err);
  if (about_field) {
    e.field = field;
    e.attempt = attempt;
    e.max_attempts = settings().attempts;
    e.digits = static_cast<int>(entry_size());
  }
  if (kind == progress_kind::brand_detected) e.brand = announced_brand;
  if (kind == progress_kind::gateway_pending) {
    e.brand = brand;
    e.attempt = gateway_attempts;
    e.max_attempts = config.max_declines;
  }
  if (kind == progress_kind::finished && result) e.outcome = result->outcome;
  emit(report_progress{std::move(e)});
}

void payment_dialog::state::play(prompt_plan plan, bool barge_in) {
  stop_playing();
  const std::uint64_t id = ++last_prompt_id;
  playing = id;
  playing_barge_in = barge_in;
  emit(play_prompt{id, std::move(plan), barge_in});
}

void payment_dialog::state::stop_playing() {
  if (!playing) return;
  emit(stop_prompt{*playing});
  playing.reset();
}

prompt_plan payment_dialog::state::say(std::initializer_list<prompt_message> messages) const {
  prompt_plan plan;
  for (const prompt_message m : messages) lang->say(m, plan);
  return plan;
}

exit_route payment_dialog::state::failure_route() const {
  const payment_exit e =
      mode == payment_mode::automated ? config.exit_automated : config.exit_assisted;
  switch (e) {
    case payment_exit::transfer_to_queue:
      return exit_route::queue;
    case payment_exit::return_to_agent:
      return exit_route::agent;
    case payment_exit::return_to_ivr:
      return exit_route::ivr;
  }
  return exit_route::ivr;
}

// Where a payment goes when nothing failed (success, cancel): back where it came from.
exit_route payment_dialog::state::natural_route() const {
  return mode == payment_mode::automated ? exit_route::ivr : exit_route::agent;
}

call_context payment_dialog::state::context() const {
  call_context c;
  c["payment_id"] = request.payment_id;
  c["mode"] = std::string(mode_name(mode));
  if (result) c["result"] = std::string(result_name(result->outcome));
  const std::string& customer = customer_id.empty() ? request.account_id : customer_id;
  if (!customer.empty()) c["customer_id"] = customer;
  if (amount) c["amount"] = format_decimal(money{*amount, config.payment_currency});
  c["currency"] = std::string(config.payment_currency.code);
  c["attempts"] = std::to_string(gateway_attempts);
  c["declines"] = std::to_string(declines);
  if (brand != card_brand::unknown) c["brand"] = std::string(brand_name(brand));
  if (!last_four.empty()) c["last_four"] = last_four;
  if (failed_field) c["failed_field"] = std::string(field_name(*failed_field));
  if (!error.empty()) c["error"] = error;
  if (!request.reference.empty()) c["reference"] = request.reference;
  if (result && !result->transaction_reference.empty())
    c["transaction_reference"] = result->transaction_reference;
  return c;
}

void payment_dialog::state::start() {
  auto checked = validate_payment_request(request, config);
  customer_id = request.account_id;
  report(progress_kind::session_started, false);
  if (!checked.ok()) {
    error = checked.message();
    conclude(payment_outcome::validation_error, failure_route(),
             say({prompt_message::payment_unavailable}));
    return;
  }
  amount = request.amount_minor;
  balance = request.balance_minor;
  if (!request.identified && config.identification.method == identification_method::transfer) {
    stage = dialog_stage::awaiting_identification_transfer;
    report(progress_kind::identification_pending, false);
    emit(transfer_call{transfer_purpose::identification, config.identification.target, context()});
    return;
  }
  begin_secure_session();
}

void payment_dialog::state::begin_secure_session() {
  emit(set_masking{true, config.masking});
  masking_on = true;
  if (mode == payment_mode::agent_assisted && treatment == agent_treatment::removed)
    emit(remove_agent{});
  prompt_plan plan = say({prompt_message::secure_session_start});
  if (!request.identified && config.identification.method != identification_method::transfer) {
    start_field(dialog_field::account_number, std::move(plan));
  } else {
    start_amount(std::move(plan));
  }
}

void payment_dialog::state::start_amount(prompt_plan plan) {
  const std::int64_t lo = config.min_amount_minor;
  const std::int64_t hi = config.max_amount_minor;
  if (amount) {
    if (*amount < lo) {
      // A requested amount below the minimum: the caller enters one (the Genesys flow).
      lang->say(prompt_message::amount_below_minimum, plan);
      dialog_detail::say_amount(lo, config, *lang, plan);
      amount.reset();
      start_field(dialog_field::amount, std::move(plan));
      return;
    }
    lang->say(prompt_message::amount_due_is, plan);
    dialog_detail::say_amount(*amount, config, *lang, plan);
    start_field(dialog_field::card_number, std::move(plan));
  } else if (balance && *balance >= lo && *balance <= hi) {
    start_field(dialog_field::amount_choice, std::move(plan));
  } else {
    if (balance) {
      lang->say(prompt_message::amount_due_is, plan);
      dialog_detail::say_amount(*balance, config, *lang, plan);
    }
    start_field(dialog_field::amount, std::move(plan));
  }
}

void payment_dialog::state::send_identity() {
  ++verifications;
  pending_identity_id = request.payment_id + "-id-" + std::to_string(verifications);
  stage = dialog_stage::awaiting_identity;
  deadline = now + reply_safety_ms();
  report(progress_kind::identification_pending, false);
  identity_request r;
  r.request_id = pending_identity_id;
  r.account_id = account_number;
  r.kind = config.identification.method == identification_method::date_of_birth
               ? verification_kind::date_of_birth
               : verification_kind::pin;
  emit(verify_identity{std::move(r)});
}

void payment_dialog::state::on_identity(const identity_replied& e) {
  if (stage == dialog_stage::awaiting_identification_transfer) return identified(e.reply);
  if (stage != dialog_stage::awaiting_identity || e.request_id != pending_identity_id) return;
  card.clear(card_field::verification);
  deadline.reset();
  if (e.reply.outcome == identity_outcome::not_verified &&
      verifications < config.identification.attempts) {
    ++failed_entries;
    report(progress_kind::identification_not_verified, false, "not-verified");
    return start_field(dialog_field::account_number, say({prompt_message::identification_failed}));
  }
  identified(e.reply);
}

// The final word of identification (the service's, or the identification target's).
void payment_dialog::state::identified(const identity_reply& reply) {
  if (reply.outcome != identity_outcome::verified) {
    const bool not_verified = reply.outcome == identity_outcome::not_verified;
    error = not_verified ? "not-verified" : "identification-error";
    report(progress_kind::identification_not_verified, false, error);
    return conclude(payment_outcome::identification_failed, failure_route(),
                    say({prompt_message::identification_failed}));
  }
  report(progress_kind::identification_verified, false);
  if (!reply.customer_id.empty()) customer_id = reply.customer_id;
  if (!amount && !balance && reply.balance_minor && *reply.balance_minor > 0)
    balance = reply.balance_minor;
  if (stage == dialog_stage::awaiting_identification_transfer) {
    request.identified = true;
    return begin_secure_session();
  }
  start_amount({});
}

void payment_dialog::state::send_to_gateway() {
  ++gateway_attempts;
  pending_transaction_id = request.payment_id + "-" + std::to_string(gateway_attempts);
  brand = card.brand();
  last_four = card.last_four();
  stage = dialog_stage::awaiting_gateway;
  deadline = now + reply_safety_ms();
  report(progress_kind::gateway_pending, false);
  play(say({prompt_message::processing_payment}), false);
  gateway_request r;
  r.transaction_id = pending_transaction_id;
  r.method = config.gateway.method;
  r.amount = money{amount.value_or(0), config.payment_currency};
  r.description = request.reference;
  r.parameters = request.parameters;
  emit(call_gateway{std::move(r)});
}

void payment_dialog::state::on_gateway(const gateway_replied& e) {
  if (stage != dialog_stage::awaiting_gateway || e.transaction_id != pending_transaction_id) return;
  gateway_answered(e.reply);
}

void payment_dialog::state::gateway_answered(const gateway_reply& reply) {
  deadline.reset();
  if (hung_up) {
    playing.reset();
  } else {
    stop_playing();
  }
  // The gateway client took its copy when it executed call_gateway.
  card.clear_all();
  switch (reply.outcome) {
    case gateway_outcome::approved: {
      report(progress_kind::gateway_approved, false);
      prompt_plan plan = say({prompt_message::payment_approved, prompt_message::payment_of});
      dialog_detail::say_amount(amount.value_or(0), config, *lang, plan);
      const std::string spoken = speakable_reference(reply.reference);
      if (config.announce_reference && !spoken.empty()) {
        lang->say(prompt_message::reference_is, plan);
        lang->say_digits(spoken, plan);
      }
      conclude(payment_outcome::success, natural_route(), std::move(plan), reply.reference);
      return;
    }
    case gateway_outcome::declined: {
      ++declines;
      error = sanitized_code(reply.error_code, "declined");
      report(progress_kind::gateway_declined, false, error);
      if (hung_up) return conclude(payment_outcome::caller_hung_up, exit_route::none, {});
      if (cancel_pending) {
        return conclude(payment_outcome::cancelled, natural_route(),
                        say({prompt_message::payment_declined, prompt_message::payment_cancelled}));
      }
      if (declines >= config.max_declines) {
        return conclude(payment_outcome::too_many_failed_attempts, failure_route(),
                        say({prompt_message::payment_declined, prompt_message::too_many_attempts}));
      }
      error.clear();
      return start_field(dialog_field::card_number,
                         say({prompt_message::payment_declined, prompt_message::try_another_card}));
    }
    case gateway_outcome::error:
      break;
  }
  error = sanitized_code(reply.error_code, "gateway-error");
  report(progress_kind::gateway_failed, false, error);
  conclude(payment_outcome::payment_connector_error, failure_route(),
           say({prompt_message::payment_unavailable}));
}

void payment_dialog::state::on_timer() {
  if (!deadline || now < *deadline) return;  // stale or early
  deadline.reset();
  switch (stage) {
    case dialog_stage::collecting:
      if (phase == entry_phase::confirmation)
        return confirmation_miss("no-entry", prompt_message::no_entry_received);
      return entry_timed_out();
    case dialog_stage::awaiting_identity: {
      identity_reply r;
      r.outcome = identity_outcome::error;
      card.clear(card_field::verification);
      return identified(r);
    }
    case dialog_stage::awaiting_gateway: {
      gateway_reply r;
      r.outcome = gateway_outcome::error;
      r.error_code = "timeout";
      return gateway_answered(r);
    }
    default:
      return;
  }
}

void payment_dialog::state::on_prompt_finished(std::uint64_t id) {
  if (!playing || *playing != id) return;
  playing.reset();
  if (stage == dialog_stage::closing) return exit_now();
  // The first-digit timer runs from the end of the question (or the read-back).
  if (stage == dialog_stage::collecting &&
      (phase == entry_phase::confirmation || entry_size() == 0))
    deadline = now + settings().first_digit_timeout_ms;
}

void payment_dialog::state::on_hang_up() {
  if (hung_up) return;
  hung_up = true;
  switch (stage) {
    case dialog_stage::awaiting_gateway:
      // The charge may still succeed: the result waits for the gateway's answer.
      card.clear_all();
      return;
    case dialog_stage::closing:
      return exit_now();
    default:
      return conclude(payment_outcome::caller_hung_up, exit_route::none, {});
  }
}

void payment_dialog::state::on_cancel() {
  switch (stage) {
    case dialog_stage::awaiting_gateway:
      // A charge in flight cannot be called back: approved stays approved.
      cancel_pending = true;
      return;
    case dialog_stage::closing:
      return;
    default:
      return conclude(payment_outcome::cancelled, natural_route(),
                      say({prompt_message::payment_cancelled}));
  }
}

void payment_dialog::state::cancel_by_star() {
  conclude(payment_outcome::caller_interrupted_with_star, natural_route(),
           say({prompt_message::payment_cancelled}));
}

// Decides the result, clears every card field and plays the closing announcement (then
// exit_now); without one when the caller is gone.
void payment_dialog::state::conclude(payment_outcome o, exit_route r, prompt_plan closing,
                                     std::string_view transaction_reference) {
  deadline.reset();
  card.clear_all();
  plain_keys.clear();
  payment_result res;
  res.outcome = o;
  res.payment_id = request.payment_id;
  res.transaction_reference = std::string(transaction_reference);
  res.transaction_id = pending_transaction_id;
  res.brand = gateway_attempts > 0 ? brand : card_brand::unknown;
  res.last_four = last_four;
  res.amount_minor = amount.value_or(0);
  res.payment_currency = config.payment_currency;
  res.customer_id = customer_id;
  res.attempts = gateway_attempts;
  res.declines = declines;
  res.failed_entries = failed_entries;
  res.failed_field = failed_field;
  if (o != payment_outcome::success) res.error = error;
  res.started_ms = started_ms;
  res.finished_ms = now;
  result = std::move(res);
  route = r;
  if (hung_up) return exit_now();
  switch (r) {
    case exit_route::queue:
      lang->say(prompt_message::transferring, closing);
      break;
    case exit_route::agent:
      lang->say(prompt_message::returning_to_agent, closing);
      break;
    case exit_route::ivr:
    case exit_route::none:
      break;
  }
  stage = dialog_stage::closing;
  play(std::move(closing), false);
}

void payment_dialog::state::exit_now() {
  if (!hung_up) stop_playing();
  playing.reset();
  deadline.reset();
  if (masking_on) {
    emit(set_masking{false, config.masking});
    masking_on = false;
  }
  if (!hung_up) {
    switch (route) {
      case exit_route::queue:
        emit(transfer_call{transfer_purpose::exit_queue, config.exit_queue, context()});
        break;
      case exit_route::agent:
        emit(return_to_agent{context()});
        break;
      case exit_route::ivr:
        emit(return_to_ivr{context()});
        break;
      case exit_route::none:
        break;
    }
  }
  result->finished_ms = now;
  stage = dialog_stage::finished;
  report(progress_kind::finished, false);
  emit(finish_payment{*result});
}

// An exception inside the dialog: whatever was emitted stays, the payment ends.
void payment_dialog::state::fail_internally() noexcept {
  try {
    card.clear_all();
    if (!result) {
      error = "internal";
      route = failure_route();
      payment_result res;
      res.outcome = payment_outcome::internal_error;
      res.payment_id = request.payment_id;
      res.started_ms = started_ms;
      res.error = error;
      result = std::move(res);
    }
    exit_now();
  } catch (...) {
    stage = dialog_stage::finished;
    deadline.reset();
    out.clear();
  }
}

void payment_dialog::state::dispatch(const dialog_event& event) {
  std::visit(overloaded{
                 [&](const key_pressed& e) { on_key(e.key); },
                 [&](const timer_expired&) { on_timer(); },
                 [&](const prompt_finished& e) { on_prompt_finished(e.id); },
                 [&](const gateway_replied& e) { on_gateway(e); },
                 [&](const identity_replied& e) { on_identity(e); },
                 [&](const caller_hung_up&) { on_hang_up(); },
                 [&](const cancel_requested&) { on_cancel(); },
             },
             event);
}

payment_dialog::payment_dialog(payment_config config, payment_request request,
                               const prompt_language& language, calendar_date today)
    : state_(std::make_unique<state>(std::move(config), std::move(request), language, today)) {}

payment_dialog::~payment_dialog() = default;
payment_dialog::payment_dialog(payment_dialog&&) noexcept = default;
payment_dialog& payment_dialog::operator=(payment_dialog&&) noexcept = default;

std::vector<dialog_action> payment_dialog::start(std::int64_t now_ms) {
  state& s = *state_;
  if (s.stage != dialog_stage::not_started) return {};
  s.out.clear();
  s.now = now_ms;
  s.started_ms = now_ms;
  try {
    s.start();
  } catch (...) {
    s.fail_internally();
  }
  return std::exchange(s.out, {});
}

std::vector<dialog_action> payment_dialog::on_event(const dialog_event& event,
                                                    std::int64_t now_ms) {
  state& s = *state_;
  if (s.stage == dialog_stage::not_started || s.stage == dialog_stage::finished) return {};
  s.out.clear();
  s.now = std::max(s.now, now_ms);
  try {
    s.dispatch(event);
  } catch (...) {
    s.fail_internally();
  }
  return std::exchange(s.out, {});
}

std::optional<std::int64_t> payment_dialog::next_deadline_ms() const noexcept {
  return state_->deadline;
}

dialog_stage payment_dialog::stage() const noexcept {
  return state_->stage;
}

dialog_field payment_dialog::field() const noexcept {
  return state_->field;
}

bool payment_dialog::finished() const noexcept {
  return state_->stage == dialog_stage::finished;
}

const std::optional<payment_result>& payment_dialog::result() const noexcept {
  return state_->result;
}

const card_data& payment_dialog::card() const noexcept {
  return state_->card;
}

std::string_view result_name(payment_outcome o) noexcept {
  switch (o) {
    case payment_outcome::success:
      return "success";
    case payment_outcome::too_many_failed_attempts:
      return "too-many-failed-attempts";
    case payment_outcome::payment_connector_error:
      return "payment-connector-error";
    case payment_outcome::caller_interrupted_with_star:
      return "caller-interrupted-with-star";
    case payment_outcome::caller_hung_up:
      return "caller-hung-up";
    case payment_outcome::validation_error:
      return "validation-error";
    case payment_outcome::identification_failed:
      return "identification-failed";
    case payment_outcome::internal_error:
      return "internal-error";
    case payment_outcome::cancelled:
      return "cancelled";
  }
  return "internal-error";
}

std::string_view progress_kind_name(progress_kind k) noexcept {
  switch (k) {
    case progress_kind::session_started:
      return "session-started";
    case progress_kind::identification_pending:
      return "identification-pending";
    case progress_kind::identification_verified:
      return "identification-verified";
    case progress_kind::identification_not_verified:
      return "identification-not-verified";
    case progress_kind::field_started:
      return "field-started";
    case progress_kind::digits_entered:
      return "digits-entered";
    case progress_kind::brand_detected:
      return "brand-detected";
    case progress_kind::field_valid:
      return "field-valid";
    case progress_kind::field_invalid:
      return "field-invalid";
    case progress_kind::confirmation_started:
      return "confirmation-started";
    case progress_kind::field_confirmed:
      return "field-confirmed";
    case progress_kind::field_reentry:
      return "field-reentry";
    case progress_kind::gateway_pending:
      return "gateway-pending";
    case progress_kind::gateway_declined:
      return "gateway-declined";
    case progress_kind::gateway_approved:
      return "gateway-approved";
    case progress_kind::gateway_failed:
      return "gateway-failed";
    case progress_kind::finished:
      return "finished";
  }
  return "unknown";
}

std::string_view stage_name(dialog_stage s) noexcept {
  switch (s) {
    case dialog_stage::not_started:
      return "not-started";
    case dialog_stage::awaiting_identification_transfer:
      return "awaiting-identification-transfer";
    case dialog_stage::collecting:
      return "collecting";
    case dialog_stage::awaiting_identity:
      return "awaiting-identity";
    case dialog_stage::awaiting_gateway:
      return "awaiting-gateway";
    case dialog_stage::closing:
      return "closing";
    case dialog_stage::finished:
      return "finished";
  }
  return "unknown";
}

}  // namespace toneguard::engine
