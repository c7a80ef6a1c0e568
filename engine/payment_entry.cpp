// The payment dialog's collection of one field: keys into card_data (or a plain string for
// what is not secret), `*`, `#`, completion at the longest length, checks, read-back and 1/2,
// first-digit and inter-digit timeouts, attempts. The flow between fields is payment_dialog.cpp.
#include "payment_dialog_state.h"
#include "payment_fields.h"

namespace toneguard::engine {

namespace {

bool is_digit(char k) {
  return k >= '0' && k <= '9';
}

}  // namespace

using dialog_detail::entry_phase;
using dialog_detail::secret_field_of;

const field_settings& payment_dialog::state::settings() const {
  return config.field(field);
}

// The keys of the current entry: in card_data for secret fields, else in plain_keys.
std::string_view payment_dialog::state::entry_keys() const {
  if (const auto secret = secret_field_of(field)) return card.reveal(*secret);
  return plain_keys;
}

// Counting keys needs no look at them.
std::size_t payment_dialog::state::entry_size() const {
  if (const auto secret = secret_field_of(field)) return card.size(*secret);
  return plain_keys.size();
}

void payment_dialog::state::clear_entry() {
  if (const auto secret = secret_field_of(field)) card.clear(*secret);
  plain_keys.clear();
  star_is_decimal_point = false;
  announced_brand = card_brand::unknown;
}

// The brand that shapes the current field: the digits so far for the card number, the
// accepted card's for the CVV.
card_brand payment_dialog::state::field_brand() const {
  return field == dialog_field::card_number ? card.brand() : brand;
}

void payment_dialog::state::start_field(dialog_field f, prompt_plan before) {
  stage = dialog_stage::collecting;
  field = f;
  attempt = 1;
  open_entry(std::move(before));
}

void payment_dialog::state::open_entry(prompt_plan before) {
  phase = entry_phase::entry;
  clear_entry();
  const dialog_detail::entry_limits limits =
      dialog_detail::entry_limits_of(field, config, field_brand());
  const field_settings& s = settings();
  emit(collect_field{field, false, limits.min_keys, limits.max_keys, limits.hash_ends,
                     s.first_digit_timeout_ms, s.inter_digit_timeout_ms, attempt, s.attempts});
  report(progress_kind::field_started, true);
  dialog_detail::say_question(field, config, brand, balance.value_or(0), *lang, before);
  play(std::move(before), true);
  deadline.reset();
}

void payment_dialog::state::open_confirmation(prompt_plan before) {
  phase = entry_phase::confirmation;
  const field_settings& s = settings();
  emit(collect_field{field, true, 1, 1, false, s.first_digit_timeout_ms, s.inter_digit_timeout_ms,
                     attempt, s.attempts});
  report(progress_kind::confirmation_started, true);
  dialog_detail::say_read_back(field, entry_keys(), card, entry_amount, entry_expiry, config, *lang,
                               before);
  play(std::move(before), true);
  deadline.reset();
}

void payment_dialog::state::on_key(char k) {
  const bool known = is_digit(k) || k == '*' || k == '#';
  if (!known) return;
  if (stage == dialog_stage::awaiting_identity && k == '*') return cancel_by_star();
  if (stage != dialog_stage::collecting) return;
  if (playing && playing_barge_in) stop_playing();
  if (phase == entry_phase::entry) return entry_key(k);
  confirmation_key(k);
}

void payment_dialog::state::entry_key(char k) {
  if (field == dialog_field::amount_choice) return menu_key(k);
  if (k == '*') {
    const bool decimal_point = field == dialog_field::amount &&
                               config.amount_keys == amount_entry::star_decimal &&
                               !plain_keys.empty() && !star_is_decimal_point;
    if (!decimal_point) return cancel_by_star();
    plain_keys += '*';
    star_is_decimal_point = true;
    report(progress_kind::digits_entered, true);
    deadline = now + settings().inter_digit_timeout_ms;
    return;
  }
  if (k == '#') return complete_entry();
  if (const auto secret = secret_field_of(field)) {
    if (!card.append(*secret, k)) return complete_entry();
  } else {
    plain_keys += k;
  }
  report(progress_kind::digits_entered, true);
  if (field == dialog_field::card_number) {
    const card_brand b = card.brand();
    if (b != card_brand::unknown && b != announced_brand) {
      announced_brand = b;
      report(progress_kind::brand_detected, true);
    }
  }
  const auto limits = dialog_detail::entry_limits_of(field, config, field_brand());
  if (static_cast<int>(entry_size()) >= limits.max_keys) return complete_entry();
  deadline = now + settings().inter_digit_timeout_ms;
}

void payment_dialog::state::menu_key(char k) {
  if (k == '*') return cancel_by_star();
  if (k == '1') {
    report(progress_kind::field_valid, true);
    amount = balance;
    return start_field(dialog_field::card_number, {});
  }
  if (k == '2') {
    report(progress_kind::field_valid, true);
    return start_field(dialog_field::amount, {});
  }
  refuse_entry("invalid-key", say({prompt_message::entry_invalid}));
}

void payment_dialog::state::complete_entry() {
  deadline.reset();
  if (entry_size() == 0) {
    return refuse_entry("no-entry", say({prompt_message::no_entry_received}));
  }
  dialog_detail::entry_verdict verdict =
      dialog_detail::check_entry(field, entry_keys(), config, today, field_brand(), *lang);
  if (!verdict.error.empty()) return refuse_entry(verdict.error, std::move(verdict.refusal));
  report(progress_kind::field_valid, true);
  entry_amount = verdict.amount_minor;
  entry_expiry = verdict.expiry;
  if (field == dialog_field::card_number) brand = card.brand();
  if (dialog_detail::confirms(field, config)) {
    confirmation_misses = 0;
    return open_confirmation({});
  }
  field_done();
}

void payment_dialog::state::refuse_entry(std::string_view err, prompt_plan refusal) {
  ++failed_entries;
  last_error = std::string(err);
  report(progress_kind::field_invalid, true, err);
  clear_entry();
  if (++attempt > settings().attempts) return give_up();
  open_entry(std::move(refusal));
}

void payment_dialog::state::confirmation_key(char k) {
  if (k == '*') return cancel_by_star();
  if (k == '1') {
    report(progress_kind::field_confirmed, true);
    return field_done();
  }
  if (k == '2') {
    report(progress_kind::field_reentry, true);
    clear_entry();
    if (++attempt > settings().attempts) {
      last_error = "re-entered";
      return give_up();
    }
    return open_entry({});
  }
  confirmation_miss("invalid-key", prompt_message::entry_invalid);
}

void payment_dialog::state::confirmation_miss(std::string_view err, prompt_message said) {
  ++failed_entries;
  last_error = std::string(err);
  report(progress_kind::field_invalid, true, err);
  if (++confirmation_misses >= settings().attempts) return give_up();
  open_confirmation(say({said}));
}

void payment_dialog::state::give_up() {
  failed_field = field;
  error = last_error;
  if (dialog_detail::is_identification_field(field)) {
    return conclude(payment_outcome::identification_failed, failure_route(),
                    say({prompt_message::identification_failed}));
  }
  conclude(payment_outcome::too_many_failed_attempts, failure_route(),
           say({prompt_message::too_many_attempts}));
}

// The value of the current field is accepted (and confirmed): on to the next step.
void payment_dialog::state::field_done() {
  switch (field) {
    case dialog_field::account_number:
      account_number = plain_keys;
      return start_field(config.identification.method == identification_method::date_of_birth
                             ? dialog_field::date_of_birth
                             : dialog_field::pin,
                         {});
    case dialog_field::pin:
    case dialog_field::date_of_birth:
      return send_identity();
    case dialog_field::amount:
      amount = entry_amount;
      return start_field(dialog_field::card_number, {});
    case dialog_field::amount_choice:
    case dialog_field::card_number:
    case dialog_field::expiry:
    case dialog_field::cvv:
    case dialog_field::postal_code:
      return next_card_field();
  }
}

void payment_dialog::state::next_card_field() {
  const auto after = [&](dialog_field f) { return static_cast<int>(field) < static_cast<int>(f); };
  if (after(dialog_field::expiry) && dialog_detail::asks_expiry(brand, config))
    return start_field(dialog_field::expiry, {});
  if (after(dialog_field::cvv) && dialog_detail::asks_cvv(brand, config))
    return start_field(dialog_field::cvv, {});
  if (after(dialog_field::postal_code) && config.ask_postal_code)
    return start_field(dialog_field::postal_code, {});
  send_to_gateway();
}

void payment_dialog::state::entry_timed_out() {
  const auto keys = static_cast<int>(entry_size());
  if (keys == 0) return refuse_entry("no-entry", say({prompt_message::no_entry_received}));
  // Like `#`: a variable-length entry long enough to be complete is submitted (Twilio <Pay>
  // validates what it has after its timeout); a shorter one was not received.
  const auto limits = dialog_detail::entry_limits_of(field, config, field_brand());
  if (limits.hash_ends && keys >= limits.min_keys) return complete_entry();
  refuse_entry("incomplete", say({prompt_message::no_entry_received}));
}

}  // namespace toneguard::engine
