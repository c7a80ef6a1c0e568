#pragma once
// The payment dialog's state and steps (private to engine): payment_dialog.cpp holds the flow
// between fields (start, identification, amount, gateway, the end, event dispatch) and
// payment_entry.cpp the collection of one field (keys, checks, read-back, timeouts).

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "toneguard/engine/card_data.h"
#include "toneguard/engine/payment_dialog.h"

namespace toneguard::engine {

namespace dialog_detail {

/// What the keys of the current field are answering.
enum class entry_phase : std::uint8_t { entry, confirmation };

/// Where the call goes when the payment ends.
enum class exit_route : std::uint8_t { none, ivr, agent, queue };

}  // namespace dialog_detail

struct payment_dialog::state {
  using entry_phase = dialog_detail::entry_phase;
  using exit_route = dialog_detail::exit_route;

  state(payment_config c, payment_request r, const prompt_language& l, calendar_date t)
      : config(std::move(c)),
        request(std::move(r)),
        lang(&l),
        today(t),
        mode(request.mode.value_or(config.mode)),
        treatment(request.treatment.value_or(config.treatment)) {}

  // Fixed for the payment.
  payment_config config;
  payment_request request;
  const prompt_language* lang;
  calendar_date today;
  payment_mode mode;
  agent_treatment treatment;
  card_data card;

  dialog_stage stage = dialog_stage::not_started;
  std::int64_t now = 0;
  std::vector<dialog_action> out;  // the actions of the call in progress

  // The field being collected.
  dialog_field field = dialog_field::card_number;
  entry_phase phase = entry_phase::entry;
  int attempt = 0;
  int confirmation_misses = 0;
  std::string plain_keys;  // account number, amount, menu: not secret
  bool star_is_decimal_point = false;
  card_brand announced_brand = card_brand::unknown;
  std::int64_t entry_amount = 0;
  year_month entry_expiry;
  std::string last_error;

  // Prompts and time.
  std::uint64_t last_prompt_id = 0;
  std::optional<std::uint64_t> playing;
  bool playing_barge_in = false;
  std::optional<std::int64_t> deadline;

  // The payment so far.
  std::string account_number;
  std::string customer_id;
  std::optional<std::int64_t> amount;
  std::optional<std::int64_t> balance;
  card_brand brand = card_brand::unknown;  // of the accepted card number
  std::string last_four;                   // of the last card submitted
  int gateway_attempts = 0;
  int declines = 0;
  int failed_entries = 0;
  int verifications = 0;
  std::string pending_transaction_id;
  std::string pending_identity_id;
  bool hung_up = false;
  bool cancel_pending = false;
  bool masking_on = false;
  std::int64_t started_ms = 0;
  std::optional<dialog_field> failed_field;
  std::string error;
  exit_route route = exit_route::none;
  std::optional<payment_result> result;

  // --- helpers and the flow between fields (payment_dialog.cpp) ---------------------------

  std::int64_t reply_safety_ms() const;
  void emit(dialog_action a);
  void report(progress_kind kind, bool about_field, std::string_view err = {});
  void play(prompt_plan plan, bool barge_in);
  void stop_playing();
  prompt_plan say(std::initializer_list<prompt_message> messages) const;
  exit_route failure_route() const;
  // Where a payment goes when nothing failed (success, cancel): back where it came from.
  exit_route natural_route() const;
  call_context context() const;
  void start();
  void begin_secure_session();
  void start_amount(prompt_plan plan);
  void send_identity();
  void on_identity(const identity_replied& e);
  // The final word of identification (the service's, or the identification target's).
  void identified(const identity_reply& reply);
  void send_to_gateway();
  void on_gateway(const gateway_replied& e);
  void gateway_answered(const gateway_reply& reply);
  void on_timer();
  void on_prompt_finished(std::uint64_t id);
  void on_hang_up();
  void on_cancel();
  void cancel_by_star();
  // Decides the result, clears every card field and plays the closing announcement (then
  // exit_now); without one when the caller is gone.
  void conclude(payment_outcome o, exit_route r, prompt_plan closing,
                std::string_view transaction_reference = {});
  void exit_now();
  // An exception inside the dialog: whatever was emitted stays, the payment ends.
  void fail_internally() noexcept;
  void dispatch(const dialog_event& event);

  // --- one field: keys, checks, read-back, timeouts (payment_entry.cpp) -------------------

  const field_settings& settings() const;
  // The keys of the current entry: in card_data for secret fields, else in plain_keys.
  std::string_view entry_keys() const;
  // Counting keys needs no look at them.
  std::size_t entry_size() const;
  void clear_entry();
  // The brand that shapes the current field: the digits so far for the card number, the
  // accepted card's for the CVV.
  card_brand field_brand() const;
  void start_field(dialog_field f, prompt_plan before);
  void open_entry(prompt_plan before);
  void open_confirmation(prompt_plan before);
  void on_key(char k);
  void entry_key(char k);
  void menu_key(char k);
  void complete_entry();
  void refuse_entry(std::string_view err, prompt_plan refusal);
  void confirmation_key(char k);
  void confirmation_miss(std::string_view err, prompt_message said);
  void give_up();
  // The value of the current field is accepted (and confirmed): on to the next step.
  void field_done();
  void next_card_field();
  void entry_timed_out();
};

}  // namespace toneguard::engine
