#include "toneguard/engine/payment_service.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "toneguard/engine/gateway_client.h"
#include "toneguard/engine/sandbox_gateway.h"

namespace toneguard::engine {

namespace {

namespace asio = boost::asio;
using log_fields = std::vector<std::pair<std::string, std::string>>;

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

calendar_date today_local() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  return {local.tm_year + 1900, local.tm_mon + 1, local.tm_mday};
}

// Finished payments stay readable through the API after their call has gone, up to this many.
constexpr std::size_t finished_payments_kept = 10'000;

}  // namespace

struct payment_service::impl {
  struct payment_session {
    payment_status status;
    std::optional<payment_dialog> dialog;
    std::unique_ptr<asio::steady_timer> timer;
    std::uint64_t timer_generation = 0;
    std::map<std::uint64_t, update_sink> sinks;
    std::int64_t started_wall_ms = 0;
    bool agent_removed = false;
    bool masking = false;
  };
  struct call_entry {
    call_summary summary;
    bool recorded = false;  // in the report store
    bool answered = false;
    bool ended = false;
    bool end_reported = false;  // the report store and the call's subscribers know
    std::optional<std::int64_t> open_segment;
    std::string running_payment;           // empty when none
    std::vector<segment_record> segments;  // the latest ones (live events' snapshot)
    std::map<std::uint64_t, update_sink> sinks;
  };

  payment_service_settings settings;
  call_media* media = nullptr;
  const prompt_language* language = nullptr;
  std::optional<report_store> store;
  std::unique_ptr<sandbox_gateway> sandbox;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::optional<gateway_client> gateway;
  std::thread thread;
  bool stopped = false;

  std::mutex mutex;  // guards everything below
  std::map<std::string, call_entry> calls;
  std::map<std::string, std::shared_ptr<payment_session>> payments;
  std::deque<std::string> finished_order;
  std::map<std::uint64_t, std::string> subscription_payment;
  std::map<std::uint64_t, std::string> subscription_call;
  std::uint64_t next_subscription = 1;
  payment_service_totals counters;

  void log(std::string_view level, std::string_view message, log_fields fields) const {
    if (settings.log) settings.log(level, message, std::move(fields));
  }

  // --- report store (service thread, lock held) --------------------------------------------

  void report_failed(const std::string& what, const std::string& message) {
    ++counters.report_errors;
    log("warn", "report store write failed", {{"what", what}, {"error", message}});
  }

  void record_call(call_entry& c) {
    if (!store || c.recorded) return;
    call_record record;
    record.call_id = c.summary.call_id;
    record.node = settings.node;
    record.started_at_ms = c.summary.started_ms;
    if (auto r = store->record_call_started(record); !r) {
      report_failed("call", r.message());
    } else {
      c.recorded = true;
    }
  }

  void end_segment(call_entry& c, std::string_view how) {
    if (!c.open_segment) return;
    const std::int64_t now = wall_ms();
    if (store && c.recorded && *c.open_segment > 0) {
      if (auto r = store->end_segment(*c.open_segment, now, how); !r) {
        report_failed("segment", r.message());
      }
    }
    c.open_segment.reset();
    if (!c.segments.empty() && !c.segments.back().ended_at_ms) {
      segment_record& last = c.segments.back();
      last.ended_at_ms = std::max(now, last.started_at_ms);
      last.outcome = std::string(how);
      publish_call(c, last);
    }
  }

  void publish_call(call_entry& c, const payment_update& update) {
    for (auto& [id, sink] : c.sinks) sink(update);
    if (is_last_update(update)) {
      for (auto& [id, sink] : c.sinks) subscription_call.erase(id);
      c.sinks.clear();
    }
  }

  void begin_segment(call_entry& c, segment_kind kind, std::string_view how_previous_ended,
                     std::optional<std::string_view> payment_id = std::nullopt) {
    end_segment(c, how_previous_ended);
    if (c.ended) return;
    const std::int64_t now = wall_ms();
    c.open_segment = 0;  // tracked without a store too, so the ends stay paired
    if (store && c.recorded) {
      auto id = store->begin_segment(c.summary.call_id, kind, now, payment_id);
      if (!id) {
        report_failed("segment", id.message());
      } else {
        c.open_segment = id.value();
      }
    }
    segment_record record;
    record.id = *c.open_segment;
    record.call_id = c.summary.call_id;
    record.kind = kind;
    record.started_at_ms = now;
    if (payment_id) record.payment_id = std::string(*payment_id);
    // A long call keeps its latest segments for the live snapshot; the store has them all.
    if (c.segments.size() >= 256) c.segments.erase(c.segments.begin());
    c.segments.push_back(std::move(record));
    publish_call(c, c.segments.back());
  }

  // --- updates to subscribers (service thread, lock held) ----------------------------------

  void publish(payment_session& s, const payment_update& update) {
    for (auto& [id, sink] : s.sinks) sink(update);
    if (std::holds_alternative<payment_result>(update)) {
      for (auto& [id, sink] : s.sinks) subscription_payment.erase(id);
      s.sinks.clear();
    }
  }

  // --- dialogs (service thread, lock held) -------------------------------------------------

  void dispatch(const std::shared_ptr<payment_session>& s, const dialog_event& event) {
    if (!s->dialog || s->dialog->finished()) return;
    execute(s, s->dialog->on_event(event, steady_ms()));
  }

  void arm_timer(const std::shared_ptr<payment_session>& s) {
    if (!s->dialog || s->dialog->finished()) {
      s->timer->cancel();
      return;
    }
    const auto deadline = s->dialog->next_deadline_ms();
    const std::uint64_t generation = ++s->timer_generation;
    if (!deadline) {
      s->timer->cancel();
      return;
    }
    s->timer->expires_at(
        std::chrono::steady_clock::time_point(std::chrono::milliseconds(*deadline)));
    s->timer->async_wait([this, s, generation](const boost::system::error_code& ec) {
      if (ec) return;
      std::lock_guard lock(mutex);
      if (generation != s->timer_generation) return;
      dispatch(s, timer_expired{});
    });
  }

  void execute(const std::shared_ptr<payment_session>& s, std::vector<dialog_action> actions) {
    for (dialog_action& action : actions) {
      std::visit([&](auto& a) { on(s, a); }, action);
    }
    arm_timer(s);
  }

  call_entry* call_of(const payment_session& s) {
    const auto it = calls.find(s.status.call_id);
    return it == calls.end() ? nullptr : &it->second;
  }

  void on(const std::shared_ptr<payment_session>& s, play_prompt& a) {
    media->play_prompt(s->status.call_id, a.id, a.plan);
  }
  void on(const std::shared_ptr<payment_session>& s, stop_prompt& a) {
    media->stop_prompt(s->status.call_id, a.id);
  }
  void on(const std::shared_ptr<payment_session>&, collect_field&) {}
  void on(const std::shared_ptr<payment_session>& s, set_masking& a) {
    s->masking = a.on;
    media->set_masking(s->status.call_id, a.on, a.mode);
  }
  void on(const std::shared_ptr<payment_session>& s, remove_agent&) {
    s->agent_removed = true;
    media->set_agent_removed(s->status.call_id, true);
  }
  void restore_agent(payment_session& s) {
    if (!s.agent_removed) return;
    s.agent_removed = false;
    media->set_agent_removed(s.status.call_id, false);
  }
  void on(const std::shared_ptr<payment_session>& s, call_gateway& a) {
    if (call_entry* c = call_of(*s)) {
      begin_segment(*c, segment_kind::payment_provider, "gateway-request", s->status.payment_id);
    }
    const std::string transaction_id = a.request.transaction_id;
    log("info", "gateway request",
        {{"payment-id", s->status.payment_id}, {"transaction-id", transaction_id}});
    // The client copies the card values into its request body before returning; its reply
    // comes on this service's thread.
    gateway->async_charge(
        a.request, s->dialog->card(), [this, s, transaction_id](gateway_reply reply) {
          std::lock_guard lock(mutex);
          if (settings.metrics != nullptr) {
            settings.metrics->gateway_latency_seconds.observe(
                static_cast<double>(reply.latency_ms) / 1000.0);
          }
          if (call_entry* c = call_of(*s)) {
            begin_segment(*c, segment_kind::secure_ivr,
                          reply.outcome == gateway_outcome::approved   ? "approved"
                          : reply.outcome == gateway_outcome::declined ? "declined"
                                                                       : "error",
                          s->status.payment_id);
          }
          dispatch(s, gateway_replied{transaction_id, std::move(reply)});
        });
  }
  void on(const std::shared_ptr<payment_session>& s, verify_identity& a) {
    const std::string request_id = a.request.request_id;
    gateway->async_identify(a.request, s->dialog->card(),
                            [this, s, request_id](identity_reply reply) {
                              std::lock_guard lock(mutex);
                              dispatch(s, identity_replied{request_id, std::move(reply)});
                            });
  }
  void on(const std::shared_ptr<payment_session>& s, transfer_call& a) {
    // A media proxy cannot transfer a SIP call: the IVR platform or the agent's desktop does,
    // following the payment's events and result. An identification transfer therefore cannot
    // come back, and the dialog is told so at once rather than left waiting.
    const bool identification = a.purpose == transfer_purpose::identification;
    log("info", "transfer asked of the call's owner",
        {{"payment-id", s->status.payment_id},
         {"purpose", identification ? "identification" : "exit-queue"},
         {"target", a.target}});
    if (identification) {
      asio::post(io, [this, s] {
        std::lock_guard lock(mutex);
        identity_reply reply;
        reply.outcome = identity_outcome::error;
        reply.error_message = "transfers are made by the call's owner, not the media proxy";
        dispatch(s, identity_replied{"", reply});
      });
    }
  }
  void on(const std::shared_ptr<payment_session>& s, return_to_agent&) { restore_agent(*s); }
  void on(const std::shared_ptr<payment_session>& s, return_to_ivr&) { restore_agent(*s); }
  void on(const std::shared_ptr<payment_session>& s, report_progress& a) {
    s->status.last_progress = a.event;
    publish(*s, a.event);
  }
  void on(const std::shared_ptr<payment_session>& s, finish_payment& a) {
    restore_agent(*s);
    if (s->masking) {
      s->masking = false;
      media->set_masking(s->status.call_id, false, settings.config.masking);
    }
    const payment_result& r = a.result;
    s->status.state = payment_state::finished;
    s->status.result = r;
    ++counters.payments_finished;
    if (settings.metrics != nullptr) settings.metrics->payments(r.outcome).add();
    log("info", "payment finished",
        {{"payment-id", r.payment_id},
         {"call-id", s->status.call_id},
         {"result", std::string(result_name(r.outcome))},
         {"attempts", std::to_string(r.attempts)},
         {"declines", std::to_string(r.declines)}});
    if (call_entry* c = call_of(*s)) {
      c->running_payment.clear();
      if (!c->ended) c->summary.state = "answered";
      if (store && c->recorded) {
        payment_record record;
        record.payment_id = r.payment_id;
        record.call_id = c->summary.call_id;
        record.mode = s->status.request.mode.value_or(settings.config.mode);
        record.outcome = r.outcome;
        record.amount_minor = r.amount_minor;
        record.currency = std::string(r.payment_currency.code);
        record.brand = r.brand;
        record.last_four = r.last_four;
        record.transaction_reference = r.transaction_reference;
        record.transaction_id = r.transaction_id;
        record.attempts = r.attempts;
        record.declines = r.declines;
        record.started_at_ms = s->started_wall_ms;
        record.finished_at_ms = wall_ms();
        if (auto w = store->record_payment(record); !w) report_failed("payment", w.message());
      }
      begin_segment(*c, segment_kind::agent, result_name(r.outcome));
      forget_if_done(c->summary.call_id);
    }
    publish(*s, r);
    finished_order.push_back(r.payment_id);
    while (finished_order.size() > finished_payments_kept) {
      payments.erase(finished_order.front());
      finished_order.pop_front();
    }
    // The dialog (and its card_data page) goes now; the status stays.
    asio::post(io, [s] { s->dialog.reset(); });
  }

  void forget_if_done(const std::string& call_id) {
    const auto it = calls.find(call_id);
    if (it != calls.end() && it->second.end_reported && it->second.running_payment.empty()) {
      calls.erase(it);
    }
  }
};

payment_service::payment_service(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

payment_service::~payment_service() {
  stop();
}

outcome<std::shared_ptr<payment_service>> payment_service::start(payment_service_settings settings,
                                                                 call_media& media) {
  auto p = std::make_unique<impl>();
  p->media = &media;
  p->language = find_language(settings.config.language);
  if (p->language == nullptr) {
    return failure{"payment service: no prompt language '" + settings.config.language + "'"};
  }
  if (!settings.report_db.empty()) {
    auto opened = report_store::open(settings.report_db);
    if (!opened) return failure{"payment service: " + opened.message()};
    p->store.emplace(std::move(opened).value());
  }
  gateway_settings gateway = settings.config.gateway;
  if (gateway.url == "sandbox" || gateway.identify_url == "sandbox") {
    sandbox_settings s;
    s.delay_scale = settings.sandbox_delay_scale;
    auto started = sandbox_gateway::start(s);
    if (!started) return failure{"payment service: sandbox gateway: " + started.message()};
    p->sandbox = std::move(started).value();
    if (gateway.url == "sandbox") gateway.url = p->sandbox->url();
    if (gateway.identify_url == "sandbox") gateway.identify_url = p->sandbox->identify_url();
    gateway.username = s.username;
    gateway.password = s.password;
    gateway.ca_pem = p->sandbox->certificate_pem();
  }
  auto client = gateway_client::create(p->io, gateway);
  if (!client) return failure{"payment service: gateway: " + client.message()};
  p->gateway.emplace(std::move(client).value());
  p->settings = std::move(settings);
  impl* raw = p.get();
  p->thread = std::thread([raw] {
    for (;;) {
      try {
        raw->io.run();
        return;
      } catch (const std::exception& e) {
        raw->log("error", "payment service handler failed", {{"what", e.what()}});
      }
    }
  });
  return std::shared_ptr<payment_service>(new payment_service(std::move(p)));
}

void payment_service::stop() {
  impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    if (s.stopped) return;
    s.stopped = true;
  }
  // Running payments end as if the caller hung up: their results and segments are recorded
  // before the thread stops.
  asio::post(s.io, [&s] {
    std::lock_guard lock(s.mutex);
    std::vector<std::shared_ptr<impl::payment_session>> running;
    for (auto& [id, p] : s.payments) {
      if (p->status.state == payment_state::running) running.push_back(p);
    }
    for (auto& p : running) s.dispatch(p, caller_hung_up{});
    for (auto& [id, p] : s.payments) p->timer->cancel();
    s.io.stop();
  });
  s.work.reset();
  if (s.thread.joinable()) s.thread.join();
  if (s.sandbox) s.sandbox->stop();
}

void payment_service::call_updated(const std::string& call_id, std::string_view state, int legs) {
  // Synchronous (under the lock, on the caller's thread): a payment may be started on the call
  // right after, from this thread or the API's.
  impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  if (s.stopped) return;
  auto [it, inserted] = s.calls.try_emplace(call_id);
  impl::call_entry& c = it->second;
  if (inserted) {
    c.summary.call_id = call_id;
    c.summary.started_ms = wall_ms();
    c.summary.state = "offered";
    if (s.settings.metrics != nullptr) s.settings.metrics->calls_total.add();
    s.record_call(c);
  }
  c.summary.legs = legs;
  if (state == "answered" && !c.answered) {
    c.answered = true;
    if (c.running_payment.empty()) c.summary.state = "answered";
    s.begin_segment(c, segment_kind::agent, "");
  }
}

void payment_service::call_ended(const std::string& call_id, std::string_view reason) {
  asio::post(impl_->io, [&s = *impl_, call_id, reason = std::string(reason)] {
    std::lock_guard lock(s.mutex);
    const auto it = s.calls.find(call_id);
    if (it == s.calls.end()) return;
    impl::call_entry& c = it->second;
    c.ended = true;
    c.summary.state = "ended";
    if (!c.running_payment.empty()) {
      if (auto p = s.payments.find(c.running_payment); p != s.payments.end()) {
        auto session = p->second;
        s.dispatch(session, caller_hung_up{});
      }
    }
    s.end_segment(c, "call-ended");
    const std::int64_t now = wall_ms();
    if (s.store && c.recorded) {
      if (auto r = s.store->record_call_ended(call_id, now, reason); !r) {
        s.report_failed("call", r.message());
      }
    }
    s.publish_call(c, call_ended_event{call_id, now, reason});
    c.end_reported = true;
    s.forget_if_done(call_id);
  });
}

void payment_service::key_pressed(const std::string& call_id, char key) {
  asio::post(impl_->io, [&s = *impl_, call_id, key] {
    std::lock_guard lock(s.mutex);
    const auto it = s.calls.find(call_id);
    if (it == s.calls.end() || it->second.running_payment.empty()) return;
    const auto p = s.payments.find(it->second.running_payment);
    if (p == s.payments.end()) return;
    ++s.counters.keys_delivered;
    auto session = p->second;
    s.dispatch(session, ::toneguard::engine::key_pressed{key});
  });
}

void payment_service::prompt_done(const std::string& call_id, std::uint64_t prompt_id,
                                  bool played) {
  asio::post(impl_->io, [&s = *impl_, call_id, prompt_id, played] {
    std::lock_guard lock(s.mutex);
    const auto it = s.calls.find(call_id);
    if (it == s.calls.end() || it->second.running_payment.empty()) return;
    const auto p = s.payments.find(it->second.running_payment);
    if (p == s.payments.end()) return;
    if (!played) {
      s.log("debug", "prompt not played to the end",
            {{"call-id", call_id}, {"prompt", std::to_string(prompt_id)}});
    }
    auto session = p->second;
    s.dispatch(session, prompt_finished{prompt_id});
  });
}

bool payment_service::payment_running(const std::string& call_id) {
  std::lock_guard lock(impl_->mutex);
  const auto it = impl_->calls.find(call_id);
  return it != impl_->calls.end() && !it->second.running_payment.empty();
}

payment_service_totals payment_service::totals() {
  std::lock_guard lock(impl_->mutex);
  payment_service_totals t = impl_->counters;
  t.payments_running = t.payments_started - t.payments_finished;
  return t;
}

std::string payment_service::sandbox_url() const {
  return impl_->sandbox ? impl_->sandbox->url() : std::string();
}

std::vector<call_summary> payment_service::list_calls() {
  std::lock_guard lock(impl_->mutex);
  std::vector<call_summary> out;
  for (const auto& [id, c] : impl_->calls) {
    if (!c.ended) out.push_back(c.summary);
  }
  return out;
}

std::optional<call_summary> payment_service::find_call(const std::string& call_id) {
  std::lock_guard lock(impl_->mutex);
  const auto it = impl_->calls.find(call_id);
  if (it == impl_->calls.end() || it->second.ended) return std::nullopt;
  return it->second.summary;
}

backend_outcome<payment_status> payment_service::start_payment(const std::string& call_id,
                                                               payment_request request) {
  impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  if (s.stopped) return backend_failure{backend_error::unavailable, "the service is stopping"};
  const auto it = s.calls.find(call_id);
  if (it == s.calls.end() || it->second.ended) {
    return backend_failure{backend_error::unknown_call, "no call with this id"};
  }
  impl::call_entry& c = it->second;
  if (!c.answered) {
    return backend_failure{backend_error::invalid_request,
                           "the call is not answered yet: its media does not flow"};
  }
  if (!c.running_payment.empty()) {
    return backend_failure{backend_error::payment_in_progress,
                           "a payment already runs on this call"};
  }
  if (s.payments.contains(request.payment_id)) {
    return backend_failure{backend_error::payment_id_in_use, "the payment id was used before"};
  }
  auto session = std::make_shared<impl::payment_session>();
  session->status.payment_id = request.payment_id;
  session->status.call_id = call_id;
  session->status.state = payment_state::running;
  session->status.request = request;
  session->started_wall_ms = wall_ms();
  session->timer = std::make_unique<asio::steady_timer>(s.io);
  session->dialog.emplace(s.settings.config, std::move(request), *s.language, today_local());
  s.payments.emplace(session->status.payment_id, session);
  c.running_payment = session->status.payment_id;
  c.summary.payment_id = session->status.payment_id;
  c.summary.state = "in-payment";
  ++s.counters.payments_started;
  s.log("info", "payment started",
        {{"payment-id", session->status.payment_id},
         {"call-id", call_id},
         {"mode",
          std::string(mode_name(session->status.request.mode.value_or(s.settings.config.mode)))}});
  s.begin_segment(c, segment_kind::secure_ivr, "secure-payment", session->status.payment_id);
  payment_status status = session->status;
  asio::post(s.io, [&s, session] {
    std::lock_guard later(s.mutex);
    if (!session->dialog) return;
    s.execute(session, session->dialog->start(steady_ms()));
  });
  return status;
}

backend_outcome<payment_status> payment_service::cancel_payment(const std::string& payment_id) {
  impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  const auto it = s.payments.find(payment_id);
  if (it == s.payments.end()) {
    return backend_failure{backend_error::unknown_payment, "no payment with this id"};
  }
  if (it->second->status.state == payment_state::finished) {
    return backend_failure{backend_error::payment_finished, "the payment is over"};
  }
  auto session = it->second;
  asio::post(s.io, [&s, session] {
    std::lock_guard later(s.mutex);
    s.dispatch(session, cancel_requested{});
  });
  return session->status;
}

std::optional<payment_status> payment_service::find_payment(const std::string& payment_id) {
  std::lock_guard lock(impl_->mutex);
  const auto it = impl_->payments.find(payment_id);
  if (it == impl_->payments.end()) return std::nullopt;
  return it->second->status;
}

backend_outcome<payment_subscription> payment_service::subscribe(const std::string& payment_id,
                                                                 update_sink sink) {
  impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  const auto it = s.payments.find(payment_id);
  if (it == s.payments.end()) {
    return backend_failure{backend_error::unknown_payment, "no payment with this id"};
  }
  payment_subscription sub;
  sub.snapshot = it->second->status;
  if (it->second->status.state == payment_state::running) {
    sub.id = s.next_subscription++;
    it->second->sinks.emplace(sub.id, std::move(sink));
    s.subscription_payment.emplace(sub.id, payment_id);
  }
  return sub;
}

void payment_service::unsubscribe(std::uint64_t id) noexcept {
  impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  if (const auto it = s.subscription_payment.find(id); it != s.subscription_payment.end()) {
    if (auto p = s.payments.find(it->second); p != s.payments.end()) p->second->sinks.erase(id);
    s.subscription_payment.erase(it);
  }
  if (const auto it = s.subscription_call.find(id); it != s.subscription_call.end()) {
    if (auto c = s.calls.find(it->second); c != s.calls.end()) c->second.sinks.erase(id);
    s.subscription_call.erase(it);
  }
}

backend_outcome<call_subscription> payment_service::subscribe_call(const std::string& call_id,
                                                                   update_sink sink) {
  impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  const auto it = s.calls.find(call_id);
  if (it == s.calls.end()) return backend_failure{backend_error::unknown_call, "no such call"};
  impl::call_entry& c = it->second;
  call_subscription sub;
  sub.segments = c.segments;
  if (c.end_reported) {
    sub.ended = call_ended_event{
        call_id, c.segments.empty() ? 0 : c.segments.back().ended_at_ms.value_or(0), "ended"};
    return sub;
  }
  sub.id = s.next_subscription++;
  c.sinks.emplace(sub.id, std::move(sink));
  s.subscription_call.emplace(sub.id, call_id);
  return sub;
}

}  // namespace toneguard::engine

namespace toneguard::engine {

backend_outcome<report_page> payment_service::query_reports(const report_query& query) {
  impl& s = *impl_;
  std::lock_guard lock(s.mutex);
  if (!s.store) return backend_failure{backend_error::unavailable, "no reporting store"};
  auto page = s.store->query_calls(query);
  if (!page) return backend_failure{backend_error::invalid_request, page.message()};
  return std::move(page).value();
}

}  // namespace toneguard::engine
