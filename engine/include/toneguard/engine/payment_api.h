#pragma once
/// The payment service's API model, between the HTTP + WebSocket server (api_server.h) and the
/// daemon that runs calls and payment dialogs: the backend interface the daemon implements,
/// the parser of a "start a payment" body, and the JSON renderers of calls, payments, masked
/// progress and results. Nothing here carries card data: progress is counts, names and the
/// brand; a result has the brand and the last four digits only.
///
/// JSON field names are snake_case; names of values come from the engine's name functions
/// (result_name, progress_kind_name, field_name, mode_name, treatment_name, brand_name).

#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "toneguard/engine/payment_config.h"
#include "toneguard/engine/payment_dialog.h"
#include "toneguard/engine/report_store.h"
#include "toneguard/engine/result.h"

namespace toneguard::engine {

// --- the model ------------------------------------------------------------------------------

/// One call as the API lists it. No phone numbers.
struct call_summary {
  /// The call's id (the SIP Call-ID the ng protocol named it by).
  std::string call_id;
  /// When the call began, Unix time in ms.
  std::int64_t started_ms = 0;
  /// The backend's word for the call's state, e.g. "ringing", "answered", "in-payment".
  std::string state;
  /// Legs (media sides) the call has.
  int legs = 0;
  /// The running payment, or else the call's last one; empty when it never had one.
  std::string payment_id;
};

/// Where a payment is.
enum class payment_state : std::uint8_t {
  running,   // the dialog runs
  finished,  // the result is known
};

/// "running", "finished".
[[nodiscard]] std::string_view payment_state_name(payment_state s) noexcept;

/// A payment as the API reports it. No card data.
struct payment_status {
  std::string payment_id;
  std::string call_id;
  payment_state state = payment_state::running;
  /// The request it was started with (amount, currency, account, reference, mode...).
  payment_request request;
  /// The latest masked progress event, if any.
  std::optional<progress_event> last_progress;
  /// The result once finished.
  std::optional<payment_result> result;
};

/// Why the backend refused an operation; the API maps each to an HTTP status.
enum class backend_error : std::uint8_t {
  unknown_call,         // 404: no such call
  unknown_payment,      // 404: no such payment
  payment_in_progress,  // 409: a payment already runs on the call
  payment_id_in_use,    // 409: the payment id was used before
  payment_finished,     // 409: the payment is over (cancel)
  invalid_request,      // 400: the request does not fit the call or the config
  unavailable,          // 503: the backend cannot take it now (shutting down, overloaded)
};

/// The API's error code of `e`: "unknown_call", "unknown_payment", "payment_in_progress",
/// "payment_id_in_use", "payment_finished", "invalid_request", "unavailable".
[[nodiscard]] std::string_view backend_error_code(backend_error e) noexcept;

/// A refusal: which, and a message naming the problem (never a value of the request).
struct backend_failure {
  backend_error error = backend_error::invalid_request;
  std::string message;
};

/// A value or a backend_failure.
template <class T>
class [[nodiscard]] backend_outcome {
 public:
  backend_outcome(T value) : state_(std::move(value)) {}        // NOLINT: implicit on purpose
  backend_outcome(backend_failure f) : state_(std::move(f)) {}  // NOLINT: implicit on purpose

  [[nodiscard]] bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  /// The value; only when ok().
  [[nodiscard]] const T& value() const& { return std::get<0>(state_); }
  [[nodiscard]] T& value() & { return std::get<0>(state_); }
  /// The failure; only when !ok().
  [[nodiscard]] const backend_failure& failure() const { return std::get<1>(state_); }

 private:
  std::variant<T, backend_failure> state_;
};

/// The end of a call: the last update of a call's event stream.
struct call_ended_event {
  std::string call_id;
  /// Wall clock, ms since the Unix epoch.
  std::int64_t ended_at_ms = 0;
  /// "deleted", "timeout", "final-timeout", ...
  std::string reason;
};

/// One update a subscriber receives. A payment's stream: masked progress events, then the
/// result (its last update). A call's stream: its segments as they begin and end (a
/// segment_record with ended_at_ms empty while it lasts), then call_ended_event (its last).
using payment_update =
    std::variant<progress_event, payment_result, segment_record, call_ended_event>;

/// True for the last update of a stream (a result, a call's end).
[[nodiscard]] inline bool is_last_update(const payment_update& u) noexcept {
  return std::holds_alternative<payment_result>(u) || std::holds_alternative<call_ended_event>(u);
}

/// Receives the updates of one payment. Called by the backend from its own threads, one call
/// at a time per subscription, in the order the dialog emitted them; must return quickly and
/// must not call back into the backend (the API server's sinks only post to its own strand).
using update_sink = std::function<void(const payment_update&)>;

/// A registered sink and the payment as it was at registration.
struct payment_subscription {
  /// Pass to unsubscribe(); 0 when nothing was registered (the payment had finished).
  std::uint64_t id = 0;
  /// The payment when the sink was registered: the sink receives exactly the updates after it.
  payment_status snapshot;
};

/// A registered call sink and the call as it was at registration.
struct call_subscription {
  /// Pass to unsubscribe(); 0 when nothing was registered (the call had ended).
  std::uint64_t id = 0;
  /// The call's segments so far, in the order they began (the sink gets the changes after).
  std::vector<segment_record> segments;
  /// Set when the call has ended (then nothing was registered).
  std::optional<call_ended_event> ended;
};

/// What the API server needs of the daemon: its calls and their payments. Implemented by the
/// daemon (and by fakes in tests).
///
/// Threads: every member is called from the API server's threads (several at once when the
/// server runs more than one), never from inside a sink; members must be thread-safe and must
/// not block on the network or on a call's thread for long (they run on the server's event
/// loop). Sinks are called from the backend's threads (see update_sink). Exceptions thrown by
/// a member are caught by the server and answered with 500.
class payment_backend {
 public:
  virtual ~payment_backend() = default;

  /// Every current call.
  [[nodiscard]] virtual std::vector<call_summary> list_calls() = 0;

  /// The call `call_id`, or nullopt.
  [[nodiscard]] virtual std::optional<call_summary> find_call(const std::string& call_id) = 0;

  /// Starts a secure payment on call `call_id` with `request` (already parsed and checked
  /// against the config by parse_start_payment; request.payment_id is set). The status of the
  /// new payment (state running), or: unknown_call, payment_in_progress, payment_id_in_use,
  /// invalid_request (the request does not fit this call), unavailable.
  [[nodiscard]] virtual backend_outcome<payment_status> start_payment(const std::string& call_id,
                                                                      payment_request request) = 0;

  /// Asks payment `payment_id` to stop (the dialog gets cancel_requested; its result, usually
  /// cancelled, follows as an update). The status after the request, or: unknown_payment,
  /// payment_finished.
  [[nodiscard]] virtual backend_outcome<payment_status> cancel_payment(
      const std::string& payment_id) = 0;

  /// Payment `payment_id` (running or finished; finished payments are kept at least as long as
  /// their call), or nullopt.
  [[nodiscard]] virtual std::optional<payment_status> find_payment(
      const std::string& payment_id) = 0;

  /// Registers `sink` for the updates of payment `payment_id`, atomically with taking the
  /// snapshot: the sink gets every update after the snapshot and none before. A payment that
  /// has finished registers nothing (id 0; the snapshot has the result). After delivering the
  /// result the backend drops the sink by itself. Fails with unknown_payment.
  [[nodiscard]] virtual backend_outcome<payment_subscription> subscribe(
      const std::string& payment_id, update_sink sink) = 0;

  /// Drops subscription `id` (unknown or already dropped ids are ignored). A sink call already
  /// running may still finish; the API server's sinks tolerate that.
  virtual void unsubscribe(std::uint64_t id) noexcept = 0;

  /// Registers `sink` for the segments of call `call_id` as they begin and end, and its end
  /// (atomically with the snapshot, as subscribe()). Fails with unknown_call, or unavailable
  /// when the backend does not follow segments (the default). unsubscribe() drops it.
  [[nodiscard]] virtual backend_outcome<call_subscription> subscribe_call(
      const std::string& call_id, update_sink sink) {
    (void)call_id;
    (void)sink;
    return backend_failure{backend_error::unavailable, "call events are not followed"};
  }

  /// The calls of the reporting store that `query` selects, with their segments and payments.
  /// Fails with unavailable when the backend keeps no reports (the default).
  [[nodiscard]] virtual backend_outcome<report_page> query_reports(const report_query& query) {
    (void)query;
    return backend_failure{backend_error::unavailable, "no reporting store"};
  }
};

// --- starting a payment ---------------------------------------------------------------------

/// A parsed "start a payment" body: the request and where to report its status.
struct payment_start {
  payment_request request;
  /// The status-callback URL (http:// or https://), or empty for none.
  std::string status_callback;
};

/// Parses and checks the JSON body of POST /v1/calls/{call_id}/payments against `config`:
///   amount, balance     decimal strings in major units ("19.99"), converted with
///                       parse_decimal_amount into minor units of the currency; optional
///   currency            ISO 4217 code; optional (the configured one)
///   account_id, reference, payment_id   strings; optional (payment_id is generated when absent)
///   mode                "automated" | "agent-assisted"; optional
///   treatment           "removed" | "stay-on-line"; optional
///   identified          boolean; optional
///   parameters          object of string values; optional
///   status_callback     http:// or https:// URL, up to 2048 characters; optional
/// A JSON null is the same as absent; any other field is refused. Then validate_payment_request.
/// Failures name the field and never quote a value, e.g.
///   "payment request: field 'amount': expected a decimal string such as \"19.99\"".
/// Pure apart from the random generated payment id; never throws;
/// any input (it is fuzzed). Any thread.
[[nodiscard]] outcome<payment_start> parse_start_payment(std::string_view json_text,
                                                         const payment_config& config);

/// A new random payment id: "pay_" and 28 random lowercase letters (131 bits; no digits, so it
/// can never look like a card number). Any thread.
[[nodiscard]] std::string generate_payment_id();

// --- JSON -----------------------------------------------------------------------------------

/// {"type": "progress", "kind", "at_ms", and what the kind carries: "field", "digits",
/// "brand", "error", "attempt", "max_attempts", "outcome"}. Never a digit value.
[[nodiscard]] boost::json::object progress_json(const progress_event& e);

/// {"type": "result", "payment_id", "result" (result_name), "transaction_reference",
/// "transaction_id", "brand", "last_four", "amount" (decimal), "amount_minor", "currency",
/// "customer_id", "attempts", "declines", "failed_entries", "failed_field", "error",
/// "started_ms", "finished_ms"}.
[[nodiscard]] boost::json::object result_json(const payment_result& r);

/// {"call_id", "started_ms", "state", "legs", "payment_id"}.
[[nodiscard]] boost::json::object call_json(const call_summary& c);

/// {"payment_id", "call_id", "state", "amount", "balance", "currency", "account_id",
/// "reference", "mode", "treatment", "identified", "events_url", "last_progress" (progress_json
/// or null), "result" (result_json or null)}. Pass-through parameters are not echoed.
[[nodiscard]] boost::json::object payment_status_json(const payment_status& s,
                                                      const payment_config& config);

/// {"type": "segment", "id", "call_id", "kind" (segment_kind_name), "started_at_ms",
/// "ended_at_ms" (null while it lasts), "outcome", "payment_id" (null when none)}.
[[nodiscard]] boost::json::object segment_json(const segment_record& s);

/// {"type": "call-ended", "call_id", "ended_at_ms", "reason"}.
[[nodiscard]] boost::json::object call_ended_json(const call_ended_event& e);

/// The JSON text of an update: progress_json, result_json, segment_json or call_ended_json,
/// serialized.
[[nodiscard]] std::string update_json_text(const payment_update& u);

}  // namespace toneguard::engine
