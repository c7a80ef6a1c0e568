#pragma once
/// The payment dialog: the secure IVR of one payment as a pure state machine. Events go in
/// (keys, timer, prompt finished, gateway and identification replies, hang-up, cancel), actions
/// come out (play or stop a prompt, collect a field, masking on/off, remove the agent, call the
/// gateway, verify an identity, transfer, return to the agent or the IVR, masked progress,
/// finish with a result). No sockets, threads or clocks: the caller passes a steady-clock time
/// in ms with every call and executes the actions in order.
///
/// Time. After every start()/on_event() the caller reads next_deadline_ms() and sends
/// timer_expired at or after that time; a timer_expired before the deadline (a stale timer) is
/// ignored, so the caller may keep one timer per dialog and never cancel it. There are no
/// start/stop timer actions. The first-digit timer of a field starts when its prompt finishes
/// (prompt_finished); the inter-digit timer restarts with every key. While the gateway or the
/// identification service is asked, a safety deadline (the gateway settings' max_attempts x
/// (connect + read timeout) + 5 s) ends the wait: as payment-connector-error for the gateway,
/// as identification-failed for the identification service. While a prompt plays there is no
/// deadline: the caller reports prompt_finished for every prompt the dialog did not stop.
///
/// Prompts. Each play_prompt carries an id; prompt_finished must echo it (a finished event for
/// a stopped or older prompt is ignored). Prompts of an entry (a field's question, its errors,
/// its read-back) allow barge-in: a key while one plays emits stop_prompt and counts as the
/// first key of the entry. The "processing" and the closing announcements do not: keys (and
/// `*`) are ignored while the gateway is asked and during the closing announcement.
///
/// Keys. `*` cancels (caller-interrupted-with-star) anywhere the caller is asked for something,
/// except inside an amount entry in star-decimal mode, where the first `*` after a digit is
/// the decimal point (a second `*`, or a `*` before any digit, cancels). `#` ends an entry
/// early (variable-length fields; on a fixed-length field the short entry is refused). Entries
/// complete by themselves at their longest length (a card number at its brand's longest).
/// 'A'-'D' are ignored. In a read-back, 1 = correct, 2 = enter it again.
///
/// Card data. The dialog owns one card_data: the PAN, expiry, CVV, postal code and the PIN or
/// date of birth go into it key by key, never into a std::string. The gateway client reads it
/// through card() while executing call_gateway (and the identification client for
/// verify_identity) and must take what it needs before the next event to this dialog. Fields
/// are cleared on re-entry, when the gateway or identification reply arrives, on hang-up and
/// on finish. Progress events and results never carry a digit of card data (the result has the
/// last four only); a play_prompt that speaks an expiry, CVV or postal code has
/// reads_card_data set.
///
/// Idempotency. Every gateway attempt (one card submitted) gets transaction_id
/// "<payment_id>-<n>", n counting attempts from 1. The dialog never re-sends an attempt: the
/// gateway client retries one attempt itself with the same transaction_id. After a decline the
/// next card is a new attempt with n + 1. A gateway error (or the safety deadline) ends the
/// payment with payment-connector-error; a reply that arrives after that is ignored.
///
/// Threads: one dialog is owned by one thread (the call's); it is not thread-safe. It may be
/// moved; a moved-from dialog may only be destroyed or assigned to. No exception leaves start() or
/// on_event(): an unexpected failure ends the payment with internal-error.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "toneguard/engine/card_data.h"
#include "toneguard/engine/card_rules.h"
#include "toneguard/engine/gateway_contract.h"
#include "toneguard/engine/money.h"
#include "toneguard/engine/payment_config.h"
#include "toneguard/engine/prompt_plan.h"

namespace toneguard::engine {

/// A day of the calendar (the caller's local date), for expiry and date-of-birth checks: the
/// dialog has no clock.
struct calendar_date {
  int year = 0;   // four digits
  int month = 0;  // 1..12
  int day = 0;    // 1..31
};

// --- results --------------------------------------------------------------------------------

/// How a payment ended.
enum class payment_outcome : std::uint8_t {
  success,                       // approved (charged or tokenized)
  too_many_failed_attempts,      // a field's attempts or the declines ran out
  payment_connector_error,       // the gateway failed, could not be reached or did not answer
  caller_interrupted_with_star,  // the caller pressed `*`
  caller_hung_up,                // the caller hung up before the payment was decided
  validation_error,              // the payment request was refused (see payment_result::error)
  identification_failed,         // the caller could not be identified and verified
  internal_error,                // an unexpected failure inside the dialog
  cancelled,                     // cancelled by the agent, the IVR or the API (cancel_requested)
};

/// The result's name for the API, events and reports: "success", "too-many-failed-attempts",
/// "payment-connector-error", "caller-interrupted-with-star", "caller-hung-up",
/// "validation-error", "identification-failed", "internal-error", "cancelled".
[[nodiscard]] std::string_view result_name(payment_outcome o) noexcept;

/// What a payment came to, attached to the call. No card data beyond brand and last four.
struct payment_result {
  payment_outcome outcome = payment_outcome::internal_error;
  std::string payment_id;
  /// The gateway's charge_id or token_id when approved.
  std::string transaction_reference;
  /// The last gateway attempt's transaction_id (empty when no card was submitted).
  std::string transaction_id;
  /// The card of the last gateway attempt (unknown / empty when none was submitted).
  card_brand brand = card_brand::unknown;
  std::string last_four;
  /// The amount being paid, minor units of `payment_currency`; 0 when not decided yet.
  std::int64_t amount_minor = 0;
  currency payment_currency;
  /// The customer id: the request's account id, or the one identification returned.
  std::string customer_id;
  /// Gateway attempts (cards submitted), declines among them, and refused or missed entries of
  /// every field (timeouts, invalid values, invalid confirmation keys).
  int attempts = 0;
  int declines = 0;
  int failed_entries = 0;
  /// The field whose attempts ran out (too-many-failed-attempts, identification-failed).
  std::optional<dialog_field> failed_field;
  /// Why, as a short name: the field's last error ("luhn-failed", "no-entry"), the gateway's
  /// error_code, or the request validation message. Empty on success.
  std::string error;
  /// Steady-clock ms of start() and of the finish.
  std::int64_t started_ms = 0;
  std::int64_t finished_ms = 0;
};

// --- progress (masked, for the agent panel and reports) --------------------------------------

enum class progress_kind : std::uint8_t {
  session_started,              // start(): the payment began
  identification_pending,       // verify_identity sent, or transferred for identification
  identification_verified,      //
  identification_not_verified,  // a verification failed; another try may follow
  field_started,                // an entry of `field` begins (attempt of max_attempts)
  digits_entered,               // `digits` keys entered so far in this entry
  brand_detected,               // the card number's brand is known: `brand`
  field_valid,                  // the entry passed its checks
  field_invalid,                // refused or missed: `error` ("luhn-failed", "no-entry", ...)
  confirmation_started,         // the value is read back; 1/2 expected
  field_confirmed,              // the caller pressed 1
  field_reentry,                // the caller pressed 2
  gateway_pending,              // call_gateway sent (attempt = gateway attempt)
  gateway_declined,             // `error` = the gateway's error_code
  gateway_approved,             //
  gateway_failed,               // `error` = the gateway's error_code
  finished,                     // `outcome` is the result
};

/// "session-started", "identification-pending", ..., "finished".
[[nodiscard]] std::string_view progress_kind_name(progress_kind k) noexcept;

/// One masked progress event. Never a digit value: counts, names and the brand only.
struct progress_event {
  progress_kind kind = progress_kind::session_started;
  std::optional<dialog_field> field;
  /// Keys entered so far in the current entry (digits_entered).
  int digits = 0;
  card_brand brand = card_brand::unknown;
  /// The error type: a check_name() string of card_rules.h ("luhn-failed", "expired", ...) or
  /// one of "no-entry", "incomplete", "wrong-length", "below-minimum", "above-maximum",
  /// "malformed", "invalid-date", "invalid-key"; or a gateway error_code.
  std::string error;
  /// Which entry of the field (from 1), and how many it may have; for gateway_pending the
  /// gateway attempt (from 1) and the maximum of declines.
  int attempt = 0;
  int max_attempts = 0;
  std::optional<payment_outcome> outcome;
  /// Steady-clock ms.
  std::int64_t at_ms = 0;
};

// --- events (in) ----------------------------------------------------------------------------

/// A key the caller pressed: '0'-'9', '*', '#' ('A'-'D' and anything else are ignored).
struct key_pressed {
  char key = 0;
};
/// The deadline of next_deadline_ms() has passed.
struct timer_expired {};
/// The prompt of play_prompt `id` has finished playing.
struct prompt_finished {
  std::uint64_t id = 0;
};
/// The gateway answered the call_gateway whose request had `transaction_id`.
struct gateway_replied {
  std::string transaction_id;
  gateway_reply reply;
};
/// The identification service answered verify_identity `request_id`; or, after a transfer for
/// identification, the call came back (request_id empty) with the outcome of that application.
struct identity_replied {
  std::string request_id;
  identity_reply reply;
};
/// The caller hung up.
struct caller_hung_up {};
/// The agent, the IVR or the API cancels the payment.
struct cancel_requested {};

using dialog_event = std::variant<key_pressed, timer_expired, prompt_finished, gateway_replied,
                                  identity_replied, caller_hung_up, cancel_requested>;

// --- actions (out) --------------------------------------------------------------------------

/// Context handed on with a transfer or a return: payment id, result, mode, customer id, amount,
/// currency, attempts, declines, brand, last four, failed field, error. Never card data.
using call_context = std::map<std::string, std::string>;

/// Play `plan` to the caller (only to the caller: never toward the agent). Echo `id` in
/// prompt_finished. `barge_in`: a key stops it (the dialog then sends stop_prompt).
struct play_prompt {
  std::uint64_t id = 0;
  prompt_plan plan;
  bool barge_in = false;
};
/// Stop prompt `id` now (barge-in, or the gateway answered during "processing").
struct stop_prompt {
  std::uint64_t id = 0;
};
/// The dialog now collects `field` (or, with `confirmation`, its 1/2 read-back answer) with
/// these limits. Informational: the dialog does the collecting from key_pressed events.
struct collect_field {
  dialog_field field = dialog_field::card_number;
  bool confirmation = false;
  /// Keys of a complete entry; the entry completes by itself at max_keys.
  int min_keys = 0;
  int max_keys = 0;
  /// `#` ends the entry early.
  bool hash_ends = false;
  int first_digit_timeout_ms = 0;
  int inter_digit_timeout_ms = 0;
  int attempt = 0;
  int max_attempts = 0;
};
/// Mask (or stop masking) the caller's keys toward the agent/contact-center side.
struct set_masking {
  bool on = false;
  masking_mode mode = masking_mode::silence;
};
/// Agent-assisted with treatment "removed": take the agent out of the audio (the agent stays
/// reserved). return_to_agent brings the agent back.
struct remove_agent {};
/// Charge or tokenize: build the request from `request` and card() now.
struct call_gateway {
  gateway_request request;
};
/// Verify the caller: `request` plus card()'s verification field.
struct verify_identity {
  identity_request request;
};
/// Why the call is transferred.
enum class transfer_purpose : std::uint8_t {
  identification,  // to the identification target; it comes back with identity_replied
  exit_queue,      // to the exit queue for manual processing (the payment is over)
};
/// Transfer the call to `target` with `context`.
struct transfer_call {
  transfer_purpose purpose = transfer_purpose::exit_queue;
  std::string target;
  call_context context;
};
/// Agent-assisted: hand the caller back to the agent (restoring the agent's audio if removed).
struct return_to_agent {
  call_context context;
};
/// Automated: the call continues in the IVR that sent it, with the result.
struct return_to_ivr {
  call_context context;
};
/// The payment is over; attach `result` to the call. Always the last action of a dialog.
struct finish_payment {
  payment_result result;
};
/// A masked progress event for the agent panel, the API and reports.
struct report_progress {
  progress_event event;
};

using dialog_action = std::variant<play_prompt, stop_prompt, collect_field, set_masking,
                                   remove_agent, call_gateway, verify_identity, transfer_call,
                                   return_to_agent, return_to_ivr, finish_payment, report_progress>;

// --- the dialog -----------------------------------------------------------------------------

/// Where a dialog is.
enum class dialog_stage : std::uint8_t {
  not_started,
  awaiting_identification_transfer,  // transferred to the identification target
  collecting,                        // a field's entry or its read-back
  awaiting_identity,                 // verify_identity sent
  awaiting_gateway,                  // call_gateway sent
  closing,                           // the closing announcement plays; then the exit
  finished,                          // finish_payment was emitted
};

/// "not-started", "awaiting-identification-transfer", "collecting", "awaiting-identity",
/// "awaiting-gateway", "closing", "finished".
[[nodiscard]] std::string_view stage_name(dialog_stage s) noexcept;

/// The secure IVR of one payment (see the file comment).
class payment_dialog {
 public:
  /// `config` should come from parse_payment_config/validate_payment_config; `request` is
  /// checked by start() (a refused request ends the payment with validation-error).
  /// `language` must outlive the dialog (languages are immutable singletons). `today` is the
  /// caller's local date. Allocates the card_data.
  payment_dialog(payment_config config, payment_request request, const prompt_language& language,
                 calendar_date today);
  ~payment_dialog();
  payment_dialog(payment_dialog&&) noexcept;
  payment_dialog& operator=(payment_dialog&&) noexcept;
  payment_dialog(const payment_dialog&) = delete;
  payment_dialog& operator=(const payment_dialog&) = delete;

  /// Begins the payment at steady-clock time `now_ms`: masking on, the agent removed (per
  /// treatment), the first prompt. Once; later calls return nothing.
  [[nodiscard]] std::vector<dialog_action> start(std::int64_t now_ms);

  /// Handles one event at steady-clock time `now_ms` (never earlier than the previous call's).
  /// Events that do not fit the current stage (a key while the gateway is asked, a stale reply)
  /// are ignored. After finish_payment every event returns nothing.
  [[nodiscard]] std::vector<dialog_action> on_event(const dialog_event& event, std::int64_t now_ms);

  /// When the dialog next needs timer_expired, steady-clock ms; nullopt when it waits for
  /// something else (a prompt to finish, a reply, nothing at all).
  [[nodiscard]] std::optional<std::int64_t> next_deadline_ms() const noexcept;

  [[nodiscard]] dialog_stage stage() const noexcept;
  /// The field being collected (meaningful in stage collecting).
  [[nodiscard]] dialog_field field() const noexcept;
  [[nodiscard]] bool finished() const noexcept;
  /// The result once the payment is decided (from the closing announcement on), else nullopt.
  [[nodiscard]] const std::optional<payment_result>& result() const noexcept;

  /// The card data, for the gateway client executing call_gateway and the identification client
  /// executing verify_identity (see the file comment). Never log it.
  [[nodiscard]] const card_data& card() const noexcept;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace toneguard::engine
