#include "toneguard/media/media_plane.h"

#include "toneguard/media/log.h"

namespace toneguard::media {

struct media_plane::relayed_call {
  std::unique_ptr<caller_stream> stream;
  int pair = -1;
  int rtcp_pair = -1;  // RTCP on port + 1; -1 with rtcp-mux (RTCP rides the RTP pair)
};

struct media_plane::worker_thread {
  relay_worker worker;
  std::map<std::string, std::unique_ptr<relayed_call>> relayed;  // owned by the thread
  std::mutex queue_mutex;
  std::deque<std::function<void(worker_thread&)>> queue;
  std::atomic<bool> queued{false};
  std::atomic<std::uint64_t> forwarded{0};
  std::thread thread;
};

namespace {

dsp::mask_mode mode_for(ng_dtmf_security security) {
  switch (security) {
    case ng_dtmf_security::tone:
    case ng_dtmf_security::dtmf:
      return dsp::mask_mode::flat_tone;
    case ng_dtmf_security::random:
      return dsp::mask_mode::comfort_noise;
    default:  // silence, zero, drop: the agent hears nothing of the key
      return dsp::mask_mode::silence;
  }
}

}  // namespace

media_plane::media_plane(std::string local_address, digit_sink& sink, int default_lookahead_ms,
                         int workers)
    : local_address_(std::move(local_address)),
      sink_(sink),
      default_lookahead_ms_(default_lookahead_ms) {
  for (int n = 0; n < std::max(workers, 1); ++n) {
    auto w = std::make_unique<worker_thread>();
    worker_thread* self = w.get();
    w->thread = std::thread([this, self] {
      while (!stopping_) {
        self->worker.poll_once(10);
        self->forwarded = self->worker.stats().forwarded;
        if (self->queued) {
          std::deque<std::function<void(worker_thread&)>> commands;
          {
            std::lock_guard lock(self->queue_mutex);
            commands.swap(self->queue);
            self->queued = false;
          }
          for (auto& command : commands) command(*self);
        }
      }
      for (auto& [id, relayed] : self->relayed) {
        self->worker.remove_pair(relayed->pair);
        self->worker.remove_pair(relayed->rtcp_pair);
      }
      self->relayed.clear();
    });
    workers_.push_back(std::move(w));
  }
}

media_plane::~media_plane() {
  stopping_ = true;
  for (auto& w : workers_) w->thread.join();
}

std::size_t media_plane::worker_of(const std::string& call_id) const noexcept {
  return std::hash<std::string>{}(call_id) % workers_.size();
}

std::uint64_t media_plane::forwarded() const noexcept {
  std::uint64_t total = 0;
  for (const auto& w : workers_) total += w->forwarded.load();
  return total;
}

void media_plane::post(const std::string& call_id, std::function<void(worker_thread&)> command) {
  worker_thread& w = *workers_[worker_of(call_id)];
  std::lock_guard lock(w.queue_mutex);
  w.queue.push_back(std::move(command));
  w.queued = true;
}

void media_plane::apply(const call& c) {
  const bool ready = c.caller.local_rtp_port && c.agent.local_rtp_port && c.caller.has_remote &&
                     c.agent.has_remote;
  if (!ready) return;
  const bool masking =
      c.dtmf.blocked && c.dtmf.from == leg::caller && c.dtmf.mode != ng_dtmf_security::off;
  const auto known = known_.find(c.call_id);
  if (known != known_.end()) {
    if (known->second != masking) {
      known->second = masking;
      post(c.call_id, [id = c.call_id, masking](worker_thread& w) {
        if (auto it = w.relayed.find(id); it != w.relayed.end() && it->second->stream)
          it->second->stream->set_masking(masking);
      });
    }
    return;
  }
  known_[c.call_id] = masking;

  caller_stream_config config;
  // Without G.711 there is no audio to search or mask (other codecs are relayed untouched);
  // RFC 4733 handling needs the caller_stream too, so such calls are relayed plainly for now.
  const bool g711 = !c.caller.g711.empty();
  if (g711) {
    config.audio_payload_type = c.caller.g711.front().payload_type;
    config.alaw = c.caller.g711.front().law == g711_law::a_law;
  }
  config.event_payload_type = c.caller.telephone_event_pt ? *c.caller.telephone_event_pt : -1;
  config.ptime_ms = c.caller.ptime_ms && *c.caller.ptime_ms % 10 == 0 && *c.caller.ptime_ms <= 60
                        ? static_cast<int>(*c.caller.ptime_ms)
                        : 20;
  config.masking = masking;
  config.masker.mode = mode_for(c.dtmf.mode);
  config.masker.lookahead_ms =
      c.dtmf.delay_buffer_ms
          ? static_cast<int>(std::min<std::int64_t>(*c.dtmf.delay_buffer_ms, 200))
          : default_lookahead_ms_;
  auto caller_remote =
      udp_endpoint::from(c.caller.remote_address.address, c.caller.remote_rtp_port);
  auto agent_remote = udp_endpoint::from(c.agent.remote_address.address, c.agent.remote_rtp_port);
  // RTCP gets its own pair on the ports above the RTP ones, relayed as it is (toneguard keeps
  // the stream's sequence numbers, so nothing in the reports needs translating), unless both
  // sides multiplex it onto RTP.
  const bool rtcp_mux = c.caller.remote_rtcp_mux && c.agent.remote_rtcp_mux;
  auto caller_rtcp = udp_endpoint::from(c.caller.remote_address.address, c.caller.remote_rtcp_port);
  auto agent_rtcp = udp_endpoint::from(c.agent.remote_address.address, c.agent.remote_rtcp_port);
  auto optional_of = [](const result<udp_endpoint>& r) {
    return r.ok() ? std::optional(r.value()) : std::nullopt;
  };
  const std::uint16_t caller_port = *c.caller.local_rtp_port, agent_port = *c.agent.local_rtp_port;
  post(c.call_id, [this, id = c.call_id, config, g711, caller_port, agent_port, rtcp_mux,
                   caller_remote = optional_of(caller_remote),
                   agent_remote = optional_of(agent_remote), caller_rtcp = optional_of(caller_rtcp),
                   agent_rtcp = optional_of(agent_rtcp)](worker_thread& w) mutable {
    auto relayed = std::make_unique<relayed_call>();
    if (g711) {
      try {
        relayed->stream = std::make_unique<caller_stream>(
            config, dsp::default_dtmf_receiver_settings(), sink_, id);
      } catch (const std::exception& e) {
        log_event(log_level::error, "call media refused", {{"call-id", id}, {"error", e.what()}});
        return;
      }
    } else {
      log_event(log_level::warn, "call without G.711: relayed, keys neither found nor masked",
                {{"call-id", id}});
    }
    auto pair = w.worker.add_pair(local_address_, caller_port, agent_port, relayed->stream.get(),
                                  caller_remote, agent_remote);
    if (!pair.ok()) {
      log_event(log_level::error, "call media refused",
                {{"call-id", id}, {"error", pair.error_message()}});
      return;
    }
    relayed->pair = pair.value();
    if (!rtcp_mux) {
      auto rtcp = w.worker.add_pair(local_address_, static_cast<std::uint16_t>(caller_port + 1),
                                    static_cast<std::uint16_t>(agent_port + 1), nullptr,
                                    caller_rtcp, agent_rtcp);
      if (rtcp.ok()) {
        relayed->rtcp_pair = rtcp.value();
      } else {
        log_event(log_level::warn, "call RTCP not relayed",
                  {{"call-id", id}, {"error", rtcp.error_message()}});
      }
    }
    log_event(log_level::info, "relaying",
              {{"call-id", id},
               {"caller-port", std::to_string(caller_port)},
               {"agent-port", std::to_string(agent_port)}});
    w.relayed[id] = std::move(relayed);
  });
}

void media_plane::remove(const std::string& call_id) {
  if (known_.erase(call_id) == 0) return;
  post(call_id, [call_id](worker_thread& w) {
    if (auto it = w.relayed.find(call_id); it != w.relayed.end()) {
      w.worker.remove_pair(it->second->pair);
      w.worker.remove_pair(it->second->rtcp_pair);
      w.relayed.erase(it);
      log_event(log_level::info, "call media stopped", {{"call-id", call_id}});
    }
  });
}

}  // namespace toneguard::media
