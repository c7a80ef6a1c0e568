#pragma once
// An in-memory engine::payment_backend for tests and the panel's test server: calls, payments
// and subscriptions in maps under one mutex, with the checks the daemon's backend makes (unknown
// call, payment already running, payment id in use, payment over). No dialog runs: what a
// started payment reports is what emit() is given. Subclasses add what starting, cancelling and
// finishing a payment does through the hooks below.

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "toneguard/engine/payment_api.h"

namespace toneguard::testing {

/// The calls and payments a payment API server sees, in memory. Thread-safe; sinks are called
/// outside the lock, from the thread that calls emit().
class fake_payment_backend : public engine::payment_backend {
 public:
  /// Adds (or replaces) the call `call.call_id`.
  void add_call(const engine::call_summary& call) {
    std::lock_guard lock(mu_);
    calls_[call.call_id] = call;
  }

  std::vector<engine::call_summary> list_calls() override {
    std::lock_guard lock(mu_);
    std::vector<engine::call_summary> v;
    for (const auto& [id, c] : calls_) v.push_back(c);
    return v;
  }

  std::optional<engine::call_summary> find_call(const std::string& call_id) override {
    std::lock_guard lock(mu_);
    const auto it = calls_.find(call_id);
    if (it == calls_.end()) return std::nullopt;
    return it->second;
  }

  engine::backend_outcome<engine::payment_status> start_payment(
      const std::string& call_id, engine::payment_request request) override {
    using engine::backend_error;
    using engine::backend_failure;
    std::lock_guard lock(mu_);
    if (stopping()) return backend_failure{backend_error::unavailable, "shutting down"};
    const auto it = calls_.find(call_id);
    if (it == calls_.end()) return backend_failure{backend_error::unknown_call, "no such call"};
    if (!it->second.payment_id.empty() &&
        payments_.at(it->second.payment_id).state == engine::payment_state::running) {
      return backend_failure{backend_error::payment_in_progress,
                             "a payment is already running on this call"};
    }
    if (payments_.count(request.payment_id) != 0) {
      return backend_failure{backend_error::payment_id_in_use, "payment id already used"};
    }
    engine::payment_status s;
    s.payment_id = request.payment_id;
    s.call_id = call_id;
    s.request = std::move(request);
    it->second.payment_id = s.payment_id;
    payments_[s.payment_id] = s;
    on_started(it->second, s);
    return s;
  }

  engine::backend_outcome<engine::payment_status> cancel_payment(
      const std::string& payment_id) override {
    using engine::backend_error;
    using engine::backend_failure;
    std::lock_guard lock(mu_);
    const auto it = payments_.find(payment_id);
    if (it == payments_.end()) {
      return backend_failure{backend_error::unknown_payment, "no such payment"};
    }
    if (it->second.state == engine::payment_state::finished) {
      return backend_failure{backend_error::payment_finished, "the payment is over"};
    }
    on_cancel_requested(it->second);
    return it->second;
  }

  std::optional<engine::payment_status> find_payment(const std::string& payment_id) override {
    std::lock_guard lock(mu_);
    const auto it = payments_.find(payment_id);
    if (it == payments_.end()) return std::nullopt;
    return it->second;
  }

  engine::backend_outcome<engine::payment_subscription> subscribe(
      const std::string& payment_id, engine::update_sink sink) override {
    std::lock_guard lock(mu_);
    const auto it = payments_.find(payment_id);
    if (it == payments_.end()) {
      return engine::backend_failure{engine::backend_error::unknown_payment, "no such payment"};
    }
    if (it->second.state == engine::payment_state::finished) {
      return engine::payment_subscription{0, it->second};
    }
    const std::uint64_t id = ++next_subscription_;
    sinks_[id] = {payment_id, std::move(sink)};
    return engine::payment_subscription{id, it->second};
  }

  void unsubscribe(std::uint64_t id) noexcept override {
    std::lock_guard lock(mu_);
    sinks_.erase(id);
  }

  /// Records `u` as payment `payment_id`'s latest update (a payment_result finishes it; its
  /// subscriptions end) and hands it to the payment's sinks, from the calling thread, as the
  /// daemon's call threads would. Nothing once stopping().
  void emit(const std::string& payment_id, const engine::payment_update& u) {
    std::vector<engine::update_sink> targets;
    {
      std::lock_guard lock(mu_);
      if (stopping()) return;
      engine::payment_status& s = payments_.at(payment_id);
      if (const auto* e = std::get_if<engine::progress_event>(&u)) {
        s.last_progress = *e;
      } else {
        s.result = std::get<engine::payment_result>(u);
        s.state = engine::payment_state::finished;
        on_finished(calls_.at(s.call_id));
      }
      for (auto it = sinks_.begin(); it != sinks_.end();) {
        if (it->second.first == payment_id) {
          targets.push_back(it->second.second);
          if (s.state == engine::payment_state::finished) {
            it = sinks_.erase(it);
            continue;
          }
        }
        ++it;
      }
    }
    for (const auto& sink : targets) sink(u);
  }

 protected:
  // The hooks, all called with mu_ held.
  /// True once the backend shuts down: payments are refused (unavailable), updates dropped.
  virtual bool stopping() const { return false; }
  /// Payment `s` has started on `call`.
  virtual void on_started(engine::call_summary& /*call*/, const engine::payment_status& /*s*/) {}
  /// Payment `s`, still running, is asked to stop.
  virtual void on_cancel_requested(const engine::payment_status& /*s*/) {}
  /// A payment on `call` has its result.
  virtual void on_finished(engine::call_summary& /*call*/) {}

  std::mutex mu_;
  std::map<std::string, engine::call_summary> calls_;
  std::map<std::string, engine::payment_status> payments_;
  /// Subscription id -> (what it follows: a payment id, or "call:" and a call id; its sink).
  std::map<std::uint64_t, std::pair<std::string, engine::update_sink>> sinks_;
  std::uint64_t next_subscription_ = 0;
};

}  // namespace toneguard::testing
