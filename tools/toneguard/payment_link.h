#pragma once
/// The daemon's joins between media and engine (design.md: only the daemon sees both):
///  - media_call: the payment service's call_media over the media plane, with prompt plans
///    rendered to audio from the loaded prompt set;
///  - key_router: keys the media plane finds go to the payment service (the caller's) and to
///    the metrics;
///  - metrics_sync: the media plane's and ng server's counters copied into the Prometheus
///    metrics when /metrics is read.

#include <array>
#include <atomic>
#include <mutex>
#include <string>

#include "toneguard/dsp/prompt_audio.h"
#include "toneguard/engine/metrics.h"
#include "toneguard/engine/payment_service.h"
#include "toneguard/engine/status_callback.h"
#include "toneguard/media/digits.h"
#include "toneguard/media/media_plane.h"
#include "toneguard/media/ng_server.h"

namespace toneguard::daemon {

/// The masking kind the media plane uses for a payment's masking mode.
[[nodiscard]] dsp::mask_mode media_mask_mode(engine::masking_mode m) noexcept;

/// call_media over the media plane (called on the payment service's thread).
class media_call final : public engine::call_media {
 public:
  /// `media` and `prompts` must outlive this object.
  media_call(media::media_plane& media, const dsp::prompt_audio& prompts)
      : media_(media), prompts_(prompts) {}

  /// Renders `plan` (its phrases joined with their gaps) and queues it toward the caller. A
  /// plan that cannot be rendered is reported failed through the media plane's prompt handler
  /// path: the caller of play_prompt learns it from prompt_done.
  void play_prompt(const std::string& call_id, std::uint64_t prompt_id,
                   const engine::prompt_plan& plan) override;
  void stop_prompt(const std::string& call_id, std::uint64_t prompt_id) override;
  void set_masking(const std::string& call_id, bool on, engine::masking_mode mode) override;
  void set_agent_removed(const std::string& call_id, bool removed) override;

  /// Where failed renders are reported (set once the service exists; any thread).
  void set_service(engine::payment_service* service) noexcept { service_.store(service); }

 private:
  media::media_plane& media_;
  const dsp::prompt_audio& prompts_;
  std::atomic<engine::payment_service*> service_{nullptr};
};

/// The media plane's digit sink: counts keys by source in the metrics and hands the caller's
/// key presses (their start) to the payment service. Media worker threads.
class key_router final : public media::digit_sink {
 public:
  explicit key_router(engine::toneguard_metrics& metrics) : metrics_(metrics) {}
  void on_digit(std::string_view call_id, media::leg from,
                const media::digit_event& event) override;
  /// Set once the service exists (any thread).
  void set_service(engine::payment_service* service) noexcept { service_.store(service); }

 private:
  engine::toneguard_metrics& metrics_;
  std::atomic<engine::payment_service*> service_{nullptr};
};

/// Copies counters that media and the ng server keep into the metrics (counters by the
/// increase since the last sync). Any thread; one sync at a time.
class metrics_sync {
 public:
  /// Registers the status callback counters in `registry` (which holds `metrics` too).
  metrics_sync(engine::metrics_registry& registry, engine::toneguard_metrics& metrics,
               const media::media_plane& media);
  /// The status callback sender whose counters are copied too (set once it exists).
  void set_callbacks(const engine::status_callback_sender* sender) noexcept {
    callbacks_.store(sender);
  }
  /// The ng server whose stats are copied too (set once it exists).
  void set_ng_server(const media::ng_server* ng) noexcept { ng_.store(ng); }
  /// Brings the metrics up to date.
  void sync();

 private:
  engine::toneguard_metrics& metrics_;
  const media::media_plane& media_;
  std::atomic<const media::ng_server*> ng_{nullptr};
  std::atomic<const engine::status_callback_sender*> callbacks_{nullptr};
  // toneguard_status_callbacks_total{result}: delivered, retried, failed, dropped, abandoned.
  std::array<engine::counter, 5> callback_counters_;
  std::array<std::uint64_t, 5> last_callbacks_{};
  std::mutex mutex_;
  media::media_totals last_media_;
  media::ng_server_stats last_ng_;
  std::uint64_t last_packets_out_ = 0;
  std::uint64_t last_masked_ms_ = 0;
};

}  // namespace toneguard::daemon
