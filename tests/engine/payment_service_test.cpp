// The payment service without media: a fake call_media that finishes every prompt at once, the
// real dialog, the embedded sandbox gateway over HTTPS, an in-memory SQLite report store and
// the metrics. The caller answers what the masked progress asks, through key_pressed.

#include "toneguard/engine/payment_service.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "support/test_cards.h"

namespace toneguard::engine {
namespace {

using namespace std::chrono_literals;

// Records what the service asks of the media; prompts finish at once.
class fake_media final : public call_media {
 public:
  void play_prompt(const std::string& call_id, std::uint64_t id, const prompt_plan&) override {
    std::lock_guard lock(mutex);
    ++prompts;
    if (service != nullptr) service->prompt_done(call_id, id, true);
  }
  void stop_prompt(const std::string&, std::uint64_t) override {}
  void set_masking(const std::string&, bool on, masking_mode) override {
    std::lock_guard lock(mutex);
    masking = on;
    ++masking_changes;
  }
  void set_agent_removed(const std::string&, bool removed) override {
    std::lock_guard lock(mutex);
    agent_removed = removed;
    if (removed) ++removals;
  }

  std::mutex mutex;
  payment_service* service = nullptr;
  int prompts = 0;
  bool masking = false;
  int masking_changes = 0;
  bool agent_removed = false;
  int removals = 0;
};

// Collects a payment's updates.
struct update_log {
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<payment_update> updates;

  update_sink sink() {
    return [this](const payment_update& u) {
      std::lock_guard lock(mutex);
      updates.push_back(u);
      changed.notify_all();
    };
  }
  // The next update, or nullopt after `timeout`.
  std::optional<payment_update> next(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, timeout, [&] { return !updates.empty(); })) return std::nullopt;
    payment_update u = updates.front();
    updates.pop_front();
    return u;
  }
};

using toneguard::testing::expiry_mmyy;

class PaymentService : public ::testing::Test {
 protected:
  void SetUp() override {
    auto registered = toneguard_metrics::register_in(registry);
    ASSERT_TRUE(registered.ok());
    metrics.emplace(registered.value());
    payment_service_settings settings;
    settings.report_db = ":memory:";
    settings.metrics = &*metrics;
    settings.sandbox_delay_scale = 0.01;
    auto started = payment_service::start(settings, media);
    ASSERT_TRUE(started.ok()) << started.message();
    service = started.value();
    media.service = service.get();
  }
  void TearDown() override {
    if (service) service->stop();
    media.service = nullptr;
  }

  payment_request request(const std::string& id) {
    payment_request r;
    r.payment_id = id;
    r.amount_minor = 1999;
    r.identified = true;
    r.mode = payment_mode::agent_assisted;
    r.treatment = agent_treatment::removed;
    return r;
  }

  void type(const std::string& call_id, const std::string& keys) {
    for (char k : keys) service->key_pressed(call_id, k);
  }

  // The payment's result, skipping the progress before it.
  static std::optional<payment_result> wait_for_result(update_log& log) {
    while (auto u = log.next()) {
      if (const auto* r = std::get_if<payment_result>(&*u)) return *r;
    }
    return std::nullopt;
  }

  // Answers the dialog from its progress until the result; the result.
  std::optional<payment_result> answer(update_log& log, const std::string& call_id,
                                       const std::string& card) {
    while (auto u = log.next()) {
      if (const auto* r = std::get_if<payment_result>(&*u)) return *r;
      const auto& p = std::get<progress_event>(*u);
      if (p.kind == progress_kind::confirmation_started) type(call_id, "1");
      if (p.kind == progress_kind::field_started && p.field) {
        if (*p.field == dialog_field::card_number) type(call_id, card + "#");
        if (*p.field == dialog_field::expiry) type(call_id, expiry_mmyy());
        if (*p.field == dialog_field::cvv) type(call_id, "737");
      }
    }
    return std::nullopt;
  }

  metrics_registry registry;
  std::optional<toneguard_metrics> metrics;
  fake_media media;
  std::shared_ptr<payment_service> service;
};

TEST_F(PaymentService, a_payment_runs_to_success_and_is_reported) {
  service->call_updated("call-1", "offered", 1);
  service->call_updated("call-1", "answered", 2);
  auto started = service->start_payment("call-1", request("pay-1"));
  ASSERT_TRUE(started.ok()) << started.failure().message;
  EXPECT_TRUE(service->payment_running("call-1"));
  EXPECT_EQ(service->find_call("call-1")->state, "in-payment");
  update_log log;
  auto sub = service->subscribe("pay-1", log.sink());
  ASSERT_TRUE(sub.ok());
  EXPECT_NE(sub.value().id, 0u);
  const auto result = answer(log, "call-1", "4111111111111111");
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->outcome, payment_outcome::success);
  EXPECT_EQ(result->last_four, "1111");
  EXPECT_FALSE(result->transaction_reference.empty());
  {
    std::lock_guard lock(media.mutex);
    EXPECT_GT(media.prompts, 3);
    EXPECT_EQ(media.removals, 1);
    EXPECT_FALSE(media.agent_removed);  // restored at the end
    EXPECT_FALSE(media.masking);
  }
  EXPECT_FALSE(service->payment_running("call-1"));
  EXPECT_EQ(service->find_payment("pay-1")->state, payment_state::finished);
  EXPECT_EQ(metrics->payments(payment_outcome::success).value(), 1u);
  EXPECT_EQ(metrics->gateway_latency_seconds.count(), 1u);
  EXPECT_EQ(metrics->calls_total.value(), 1u);

  service->call_ended("call-1", "deleted");
  std::this_thread::sleep_for(100ms);
  report_query q;
  q.to_ms = 253402300799999;
  auto page = service->query_reports(q);
  ASSERT_TRUE(page.ok()) << page.failure().message;
  ASSERT_EQ(page.value().calls.size(), 1u);
  const call_report& call = page.value().calls.front();
  ASSERT_EQ(call.segments.size(), 5u);
  EXPECT_EQ(call.segments[0].kind, segment_kind::agent);
  EXPECT_EQ(call.segments[0].outcome, "secure-payment");
  EXPECT_EQ(call.segments[1].kind, segment_kind::secure_ivr);
  EXPECT_EQ(call.segments[2].kind, segment_kind::payment_provider);
  EXPECT_EQ(call.segments[2].outcome, "approved");
  EXPECT_EQ(call.segments[3].outcome, "success");
  EXPECT_EQ(call.segments[4].outcome, "call-ended");
  ASSERT_EQ(call.payments.size(), 1u);
  EXPECT_EQ(call.payments[0].outcome, payment_outcome::success);
  EXPECT_EQ(call.call.end_reason, "deleted");
  // The finished payment stays readable after its call has gone.
  EXPECT_TRUE(service->find_payment("pay-1").has_value());
  EXPECT_FALSE(service->find_call("call-1").has_value());
}

TEST_F(PaymentService, starts_that_do_not_fit_are_refused) {
  EXPECT_EQ(service->start_payment("nobody", request("p0")).failure().error,
            backend_error::unknown_call);
  service->call_updated("ringing", "offered", 1);
  EXPECT_EQ(service->start_payment("ringing", request("p1")).failure().error,
            backend_error::invalid_request);
  service->call_updated("call-2", "answered", 2);
  ASSERT_TRUE(service->start_payment("call-2", request("p2")).ok());
  EXPECT_EQ(service->start_payment("call-2", request("p3")).failure().error,
            backend_error::payment_in_progress);
  service->call_updated("call-3", "answered", 2);
  EXPECT_EQ(service->start_payment("call-3", request("p2")).failure().error,
            backend_error::payment_id_in_use);
  EXPECT_EQ(service->cancel_payment("nope").failure().error, backend_error::unknown_payment);
  EXPECT_EQ(service->subscribe("nope", [](const payment_update&) {}).failure().error,
            backend_error::unknown_payment);
}

TEST_F(PaymentService, a_hang_up_ends_the_payment_as_caller_hung_up) {
  service->call_updated("call-4", "answered", 2);
  ASSERT_TRUE(service->start_payment("call-4", request("p4")).ok());
  update_log log;
  ASSERT_TRUE(service->subscribe("p4", log.sink()).ok());
  type("call-4", "4111");
  service->call_ended("call-4", "timeout");
  const std::optional<payment_result> result = wait_for_result(log);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->outcome, payment_outcome::caller_hung_up);
  EXPECT_EQ(metrics->payments(payment_outcome::caller_hung_up).value(), 1u);
  // Its subscription is gone with the result: a new one gets the snapshot only.
  auto late = service->subscribe("p4", [](const payment_update&) { FAIL(); });
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late.value().id, 0u);
  ASSERT_TRUE(late.value().snapshot.result.has_value());
}

TEST_F(PaymentService, cancel_ends_the_payment_and_a_finished_one_cannot_be_cancelled) {
  service->call_updated("call-5", "answered", 2);
  ASSERT_TRUE(service->start_payment("call-5", request("p5")).ok());
  update_log log;
  ASSERT_TRUE(service->subscribe("p5", log.sink()).ok());
  ASSERT_TRUE(service->cancel_payment("p5").ok());
  const std::optional<payment_result> result = wait_for_result(log);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->outcome, payment_outcome::cancelled);
  EXPECT_EQ(service->cancel_payment("p5").failure().error, backend_error::payment_finished);
  // The call can take another payment now.
  EXPECT_TRUE(service->start_payment("call-5", request("p6")).ok());
}

TEST_F(PaymentService, stop_ends_running_payments_and_refuses_new_ones) {
  service->call_updated("call-7", "answered", 2);
  ASSERT_TRUE(service->start_payment("call-7", request("p7")).ok());
  service->stop();
  const auto status = service->find_payment("p7");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->state, payment_state::finished);
  EXPECT_EQ(status->result->outcome, payment_outcome::caller_hung_up);
  EXPECT_EQ(service->start_payment("call-7", request("p8")).failure().error,
            backend_error::unavailable);
}

}  // namespace
}  // namespace toneguard::engine

namespace toneguard::engine {
namespace {

TEST_F(PaymentService, a_calls_segments_are_followed_live_until_it_ends) {
  service->call_updated("call-9", "answered", 2);
  update_log log;
  auto sub = service->subscribe_call("call-9", log.sink());
  ASSERT_TRUE(sub.ok());
  ASSERT_EQ(sub.value().segments.size(), 1u);  // the agent segment from the answer
  EXPECT_EQ(sub.value().segments[0].kind, segment_kind::agent);
  EXPECT_FALSE(sub.value().segments[0].ended_at_ms.has_value());
  ASSERT_TRUE(service->start_payment("call-9", request("p9")).ok());
  // The agent segment ends, the secure IVR begins.
  auto first = log.next();
  ASSERT_TRUE(first && std::holds_alternative<segment_record>(*first));
  EXPECT_EQ(std::get<segment_record>(*first).kind, segment_kind::agent);
  EXPECT_EQ(std::get<segment_record>(*first).outcome, "secure-payment");
  EXPECT_TRUE(std::get<segment_record>(*first).ended_at_ms.has_value());
  auto second = log.next();
  ASSERT_TRUE(second && std::holds_alternative<segment_record>(*second));
  EXPECT_EQ(std::get<segment_record>(*second).kind, segment_kind::secure_ivr);
  EXPECT_EQ(std::get<segment_record>(*second).payment_id, "p9");
  service->call_ended("call-9", "deleted");
  std::optional<call_ended_event> ended;
  std::vector<std::string> outcomes;
  while (auto u = log.next()) {
    if (const auto* e = std::get_if<call_ended_event>(&*u)) {
      ended = *e;
      break;
    }
    if (const auto* seg = std::get_if<segment_record>(&*u)) outcomes.push_back(seg->outcome);
  }
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->reason, "deleted");
  ASSERT_FALSE(outcomes.empty());
  EXPECT_EQ(outcomes.front(), "caller-hung-up");  // the secure IVR ended with the result
  EXPECT_EQ(service->subscribe_call("nobody", log.sink()).failure().error,
            backend_error::unknown_call);
}

}  // namespace
}  // namespace toneguard::engine
