#pragma once
/// The payment service: runs the payment dialogs of live calls. The daemon tells it which calls
/// exist and which keys their callers press; it runs each call's payment_dialog, executes the
/// dialog's actions (prompts, masking and agent removal through the daemon's call_media; the
/// gateway through gateway_client; progress to the API's subscribers; segments and results to
/// the report store; outcomes and gateway latency to the metrics), and serves the API server
/// as its payment_backend.
///
/// Threads: the service owns one thread running its io_context: dialog events (keys, prompts,
/// timers, gateway replies, hang-ups, cancels) are handled there. One lock guards all state; the
/// daemon's calls and the API server's backend calls may come from any thread and take it
/// briefly: call_updated and start_payment do their work (report store writes included) on the
/// calling thread, the others post it. call_media is called with the lock held, on the service
/// thread or the thread of start_payment / call_ended; it must not call back into the service
/// except prompt_done (which only posts).
///
/// Segments (the report store's and the call's): a call begins in an `agent` segment when it is
/// answered; a payment ends it and opens `secure-ivr`; each gateway request is a
/// `payment-provider` segment; the payment's end closes the secure IVR with the result's name
/// and reopens `agent` (the agent, or for automated payments the IVR that continues the call).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "toneguard/engine/gateway_contract.h"
#include "toneguard/engine/metrics.h"
#include "toneguard/engine/payment_api.h"
#include "toneguard/engine/payment_config.h"
#include "toneguard/engine/payment_dialog.h"
#include "toneguard/engine/prompt_plan.h"
#include "toneguard/engine/report_store.h"
#include "toneguard/engine/result.h"

namespace toneguard::engine {

/// What the service asks of a call's media; the daemon implements it over its media plane,
/// tests with fakes. Called on the service thread only; must not block for long.
class call_media {
 public:
  virtual ~call_media() = default;
  /// Plays `plan` to the caller (never toward the agent) after any prompt already queued. The
  /// implementation reports prompt_done(call_id, prompt_id, ...) once it has played, been
  /// stopped, or failed (e.g. the call has no media): exactly once per prompt.
  virtual void play_prompt(const std::string& call_id, std::uint64_t prompt_id,
                           const prompt_plan& plan) = 0;
  /// Stops prompt `prompt_id` (and any queued after it).
  virtual void stop_prompt(const std::string& call_id, std::uint64_t prompt_id) = 0;
  /// Masks the caller's keys toward the agent, or stops.
  virtual void set_masking(const std::string& call_id, bool on, masking_mode mode) = 0;
  /// Takes the agent out of the call's audio (true) or brings it back (false).
  virtual void set_agent_removed(const std::string& call_id, bool removed) = 0;
};

/// A line for the daemon's log: level ("error", "warn", "info"), message, key-value fields.
/// Never card data: the service passes only ids, names and counts.
using service_log = std::function<void(std::string_view level, std::string_view message,
                                       std::vector<std::pair<std::string, std::string>> fields)>;

/// How the service runs.
struct payment_service_settings {
  /// The payment config (validated); its gateway url "sandbox" starts the embedded sandbox
  /// gateway on loopback HTTPS (and likewise identify_url).
  payment_config config = default_payment_config();
  /// This node's name in reports.
  std::string node = "toneguard";
  /// The SQLite reporting store's path; empty: nothing is stored.
  std::string report_db;
  /// Metrics to update (payments by outcome, gateway latency); may be null. Must outlive the
  /// service.
  toneguard_metrics* metrics = nullptr;
  /// The sandbox's reply delays are multiplied by this (tests use small factors).
  double sandbox_delay_scale = 1.0;
  /// The log; may be empty.
  service_log log;
};

/// Counters of the service (any thread).
struct payment_service_totals {
  std::uint64_t payments_started = 0;
  std::uint64_t payments_finished = 0;
  std::uint64_t payments_running = 0;
  std::uint64_t keys_delivered = 0;  ///< keys given to a running dialog
  std::uint64_t report_errors = 0;   ///< report store writes that failed
};

class payment_service final : public payment_backend {
 public:
  /// Loads the prompt language, opens the report store, starts the sandbox gateway if the
  /// config asks for it, creates the gateway client and starts the service thread. The
  /// failure names the problem. `media` must outlive the service.
  [[nodiscard]] static outcome<std::shared_ptr<payment_service>> start(
      payment_service_settings settings, call_media& media);

  /// Stops (stop()).
  ~payment_service() override;
  payment_service(const payment_service&) = delete;
  payment_service& operator=(const payment_service&) = delete;

  /// Ends every running payment (caller_hung_up: their results are recorded), closes the
  /// segments and stops the thread and the sandbox. Idempotent; any thread but the service's.
  void stop();

  // --- the daemon's calls (any thread) -------------------------------------------------------

  /// The call exists (offered) or changed: `state` "offered" or "answered", `legs` with media.
  /// The first "answered" opens its agent segment.
  void call_updated(const std::string& call_id, std::string_view state, int legs);
  /// The call ended (`reason`: "deleted", "timeout", ...): a running payment gets
  /// caller_hung_up; the call is forgotten after its payments are finished.
  void call_ended(const std::string& call_id, std::string_view reason);
  /// The caller pressed `key` ('0'-'9', '*', '#', 'A'-'D') on call `call_id` (its start).
  /// Ignored unless a payment runs on the call.
  void key_pressed(const std::string& call_id, char key);
  /// Prompt `prompt_id` of play_prompt finished (`played` false: stopped or failed).
  void prompt_done(const std::string& call_id, std::uint64_t prompt_id, bool played);

  /// Whether a payment runs on the call now (any thread).
  [[nodiscard]] bool payment_running(const std::string& call_id);
  /// Counters (any thread).
  [[nodiscard]] payment_service_totals totals();
  /// The embedded sandbox gateway's base URL, or empty when the config names a real gateway.
  [[nodiscard]] std::string sandbox_url() const;

  // --- payment_backend (the API server's threads) -------------------------------------------
  [[nodiscard]] std::vector<call_summary> list_calls() override;
  [[nodiscard]] std::optional<call_summary> find_call(const std::string& call_id) override;
  [[nodiscard]] backend_outcome<payment_status> start_payment(const std::string& call_id,
                                                              payment_request request) override;
  [[nodiscard]] backend_outcome<payment_status> cancel_payment(
      const std::string& payment_id) override;
  [[nodiscard]] std::optional<payment_status> find_payment(const std::string& payment_id) override;
  [[nodiscard]] backend_outcome<payment_subscription> subscribe(const std::string& payment_id,
                                                                update_sink sink) override;
  void unsubscribe(std::uint64_t id) noexcept override;
  [[nodiscard]] backend_outcome<call_subscription> subscribe_call(const std::string& call_id,
                                                                  update_sink sink) override;
  [[nodiscard]] backend_outcome<report_page> query_reports(const report_query& query) override;

  /// The service's state and thread; defined in the .cpp.
  struct impl;

 private:
  explicit payment_service(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace toneguard::engine
