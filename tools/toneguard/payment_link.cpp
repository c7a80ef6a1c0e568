#include "payment_link.h"

#include "toneguard/media/log.h"
#include "toneguard/media/ng_message.h"

namespace toneguard::daemon {

dsp::mask_mode media_mask_mode(engine::masking_mode m) noexcept {
  switch (m) {
    case engine::masking_mode::tone:
      return dsp::mask_mode::flat_tone;
    case engine::masking_mode::random:
      return dsp::mask_mode::comfort_noise;
    case engine::masking_mode::silence:
      break;
  }
  return dsp::mask_mode::silence;
}

void media_call::play_prompt(const std::string& call_id, std::uint64_t prompt_id,
                             const engine::prompt_plan& plan) {
  auto pcm = prompts_.render(plan.phrases);
  if (!pcm.ok()) {
    media::log_event(media::log_level::error, "prompt not rendered",
                     {{"call-id", call_id}, {"error", pcm.error_message()}});
    if (engine::payment_service* service = service_.load()) {
      service->prompt_done(call_id, prompt_id, false);
    }
    return;
  }
  media_.play_to_caller(call_id, prompt_id, std::move(pcm).value());
}

void media_call::stop_prompt(const std::string& call_id, std::uint64_t prompt_id) {
  media_.stop_prompt(call_id, prompt_id);
}

void media_call::set_masking(const std::string& call_id, bool on, engine::masking_mode mode) {
  media_.set_masking(call_id, on, media_mask_mode(mode));
}

void media_call::set_agent_removed(const std::string& call_id, bool removed) {
  media_.set_agent_removed(call_id, removed);
}

void key_router::on_digit(std::string_view call_id, media::leg from,
                          const media::digit_event& event) {
  // Never the key's value: while a payment runs, a key is card data.
  media::log_event(media::log_level::info,
                   event.what == media::digit_event::phase::start ? "key pressed" : "key released",
                   {{"call-id", std::string(call_id)},
                    {"leg", from == media::leg::caller ? "caller" : "agent"},
                    {"source", event.source == media::digit_source::in_band           ? "in-band"
                               : event.source == media::digit_source::telephone_event ? "rfc4733"
                                                                                      : "both"}});
  if (event.what != media::digit_event::phase::start) return;
  switch (event.source) {
    case media::digit_source::in_band:
      metrics_.digits_by_source[0].add();
      break;
    case media::digit_source::telephone_event:
      metrics_.digits_by_source[1].add();
      break;
    case media::digit_source::both:
      metrics_.digits_by_source[0].add();
      metrics_.digits_by_source[1].add();
      break;
  }
  if (from != media::leg::caller) return;
  if (engine::payment_service* service = service_.load()) {
    service->key_pressed(std::string(call_id), event.key);
  }
}

metrics_sync::metrics_sync(engine::metrics_registry& registry, engine::toneguard_metrics& metrics,
                           const media::media_plane& media)
    : metrics_(metrics), media_(media) {
  constexpr std::array<const char*, 5> results{"delivered", "retried", "failed", "dropped",
                                               "abandoned"};
  for (std::size_t i = 0; i < results.size(); ++i) {
    auto c = registry.add_counter("toneguard_status_callbacks_total",
                                  "Payment status callbacks by what became of them.",
                                  {{"result", results[i]}});
    if (c) callback_counters_[i] = c.value();
  }
}

void metrics_sync::sync() {
  std::lock_guard lock(mutex_);
  const media::media_totals now = media_.totals();
  const auto grow = [](engine::counter& c, std::uint64_t now_value, std::uint64_t& last) {
    if (now_value > last) c.add(now_value - last);
    last = now_value;
  };
  metrics_.calls_active.set(static_cast<std::int64_t>(now.calls));
  grow(metrics_.packets_received, now.received, last_media_.received);
  // Packets out: relayed ones and those made here (prompts, silence toward the caller).
  grow(metrics_.packets_forwarded, now.forwarded + now.generated, last_packets_out_);
  auto no_remote = metrics_.dropped("no-remote");
  auto wrong_source = metrics_.dropped("wrong-source");
  auto malformed = metrics_.dropped("malformed");
  auto srtp = metrics_.dropped("srtp-failure");
  auto send_failed = metrics_.dropped("send-failed");
  grow(no_remote, now.no_remote, last_media_.no_remote);
  grow(wrong_source, now.wrong_source, last_media_.wrong_source);
  grow(malformed, now.malformed, last_media_.malformed);
  grow(srtp, now.srtp_failures, last_media_.srtp_failures);
  grow(send_failed, now.send_failed, last_media_.send_failed);
  const auto masked_ms = static_cast<std::uint64_t>(now.masked_samples / 8);
  grow(metrics_.masked_milliseconds, masked_ms, last_masked_ms_);

  if (const engine::status_callback_sender* sender = callbacks_.load()) {
    const engine::status_callback_counters c = sender->counters();
    const std::array<std::uint64_t, 5> now_callbacks{c.delivered, c.retried, c.failed,
                                                     c.dropped_overflow, c.abandoned};
    for (std::size_t i = 0; i < now_callbacks.size(); ++i) {
      grow(callback_counters_[i], now_callbacks[i], last_callbacks_[i]);
    }
  }

  if (const media::ng_server* ng = ng_.load()) {
    const media::ng_server_stats stats = ng->stats();
    for (std::size_t i = 0; i < media::ng_command_count; ++i) {
      const std::string_view name = media::ng_command_name(static_cast<media::ng_command>(i));
      auto ok = metrics_.ng_command(name, "ok");
      auto error = metrics_.ng_command(name, "error");
      grow(ok, stats.results_ok[i], last_ng_.results_ok[i]);
      grow(error, stats.results_error[i], last_ng_.results_error[i]);
    }
    std::uint64_t rejected = 0;
    for (const auto n : stats.errors) rejected += n;
    std::uint64_t last_rejected = 0;
    for (const auto n : last_ng_.errors) last_rejected += n;
    auto unknown = metrics_.ng_command("unknown", "error");
    if (rejected > last_rejected) unknown.add(rejected - last_rejected);
    last_ng_.errors = stats.errors;
  }
}

}  // namespace toneguard::daemon
