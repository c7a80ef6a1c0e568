#include "toneguard/media/media_plane.h"

#include <unistd.h>

#include <initializer_list>

#include "toneguard/media/bound_ports.h"
#include "toneguard/media/log.h"
#include "toneguard/media/rtp.h"
#include "toneguard/media/srtp.h"

namespace toneguard::media {

// Per-call counters, written by the call's worker only.
struct call_counters {
  std::uint64_t malformed = 0;
  std::uint64_t srtp_failures = 0;
};

// One direction of a call on one pair: SRTP unprotect, the stream (RTP) or the translation
// (RTCP), SRTP protect.
struct media_plane::direction_filter final : packet_filter {
  srtp_session* unprotect = nullptr;    // the sending side's key; null: plain RTP
  srtp_session* protect = nullptr;      // the receiving side's key; null: plain RTP
  caller_stream* stream = nullptr;      // RTP packets go through it; null: relayed as they are
  caller_stream* translator = nullptr;  // RTCP is translated by it; null: relayed as it is
  bool toward_agent = true;             // caller -> agent
  bool rtcp_only = false;               // the RTCP pair (else RTP, maybe with RTCP muxed in)
  call_counters* counters = nullptr;

  bool filter(std::span<std::uint8_t> buffer, std::size_t& length) noexcept override {
    const bool rtcp = rtcp_only || classify_muxed(std::span<const std::uint8_t>(
                                       buffer.data(), length)) == mux_kind::rtcp;
    if (unprotect != nullptr) {
      const srtp_status status = rtcp ? unprotect->unprotect_rtcp(buffer, length)
                                      : unprotect->unprotect_rtp(buffer, length);
      if (status != srtp_status::ok) {
        if (status == srtp_status::malformed) {
          ++counters->malformed;
        } else {
          ++counters->srtp_failures;
        }
        return false;
      }
    }
    if (rtcp) {
      if (translator != nullptr) {
        const bool valid = toward_agent ? translator->translate_rtcp_to_agent(buffer, length)
                                        : translator->translate_rtcp_to_caller(buffer, length);
        if (!valid) {
          ++counters->malformed;
          return false;
        }
      }
    } else if (stream != nullptr && stream->process(buffer, length) == caller_packet::drop) {
      return false;  // counted by the stream
    }
    if (protect != nullptr) {
      const srtp_status status =
          rtcp ? protect->protect_rtcp(buffer, length) : protect->protect_rtp(buffer, length);
      if (status != srtp_status::ok) {
        ++counters->malformed;
        return false;
      }
    }
    return true;
  }
};

struct media_plane::key_counter final : digit_sink {
  explicit key_counter(digit_sink& owner) : next(owner) {}
  void on_digit(std::string_view call_id, leg from, const digit_event& event) override {
    if (event.what == digit_event::phase::start) keys.fetch_add(1, std::memory_order_relaxed);
    next.on_digit(call_id, from, event);
  }
  digit_sink& next;
  std::atomic<std::uint64_t> keys{0};
};

struct media_plane::relayed_call {
  std::unique_ptr<caller_stream> caller;  // caller -> agent: keys found and masked
  std::unique_ptr<caller_stream> agent;   // agent -> caller: keys found (optional)
  std::unique_ptr<srtp_session> caller_in, caller_out, agent_in, agent_out;
  call_counters counters;
  direction_filter rtp_from_caller, rtp_from_agent, rtcp_from_caller, rtcp_from_agent;
  int pair = -1;
  int rtcp_pair = -1;  // RTCP on port + 1; -1 with rtcp-mux (RTCP rides the RTP pair)
  bool ended = false;  // a timeout was reported
};

struct media_plane::worker_thread {
  relay_worker worker;
  std::map<std::string, std::unique_ptr<relayed_call>> relayed;  // owned by the thread
  std::mutex queue_mutex;
  std::deque<std::function<void(worker_thread&)>> queue;
  std::atomic<bool> queued{false};
  // Published by the thread every 200 ms and when it stops, read by totals().
  std::atomic<std::uint64_t> calls{0}, received{0}, forwarded{0}, dropped{0}, malformed{0},
      srtp_failures{0}, timed_out{0};
  std::atomic<std::int64_t> leaked_samples{0};
  std::uint64_t ended_malformed = 0, ended_srtp_failures = 0;  // of calls already removed
  std::int64_t ended_leaked = 0;
  std::int64_t next_housekeeping_ms = 0;  // timeouts and counters are due
  std::thread thread;
};

namespace {

dsp::mask_mode mode_for(ng_dtmf_security security, dsp::mask_mode fallback) {
  switch (security) {
    case ng_dtmf_security::tone:
    case ng_dtmf_security::dtmf:
      return dsp::mask_mode::flat_tone;
    case ng_dtmf_security::random:
      return dsp::mask_mode::comfort_noise;
    case ng_dtmf_security::silence:
    case ng_dtmf_security::zero:
    case ng_dtmf_security::drop:
      return dsp::mask_mode::silence;
    default:
      return fallback;
  }
}

}  // namespace

media_plane::media_plane(media_plane_config config, digit_sink& sink, ended_handler on_ended)
    : config_(std::move(config)),
      sink_(std::make_unique<key_counter>(sink)),
      on_ended_(std::move(on_ended)) {
  for (int n = 0; n < std::max(config_.workers, 1); ++n) {
    auto w = std::make_unique<worker_thread>();
    worker_thread* self = w.get();
    w->thread = std::thread([this, self] { run_worker(*self); });
    workers_.push_back(std::move(w));
  }
}

media_plane::~media_plane() {
  stopping_ = true;
  for (auto& w : workers_) w->thread.join();
}

void media_plane::run_worker(worker_thread& w) {
  while (!stopping_) {
    w.worker.poll_once(10);
    if (w.queued) {
      std::deque<std::function<void(worker_thread&)>> commands;
      {
        std::lock_guard lock(w.queue_mutex);
        commands.swap(w.queue);
        w.queued = false;
      }
      for (auto& command : commands) command(w);
    }
    // Per-call work, a few times a second rather than after every wake-up: with thousands
    // of calls a worker wakes for nearly every batch.
    const std::int64_t now = relay_worker::monotonic_ms();
    if (now >= w.next_housekeeping_ms) {
      w.next_housekeeping_ms = now + 200;
      check_timeouts(w, now);
      publish_counters(w);
    }
  }
  publish_counters(w);
  for (auto& [id, relayed] : w.relayed) {
    w.worker.remove_pair(relayed->pair);
    w.worker.remove_pair(relayed->rtcp_pair);
  }
  w.relayed.clear();
}

void media_plane::publish_counters(worker_thread& w) {
  const relay_stats& s = w.worker.stats();
  std::uint64_t malformed = w.ended_malformed, srtp_failures = w.ended_srtp_failures;
  std::int64_t leaked = w.ended_leaked;
  for (const auto& [id, call] : w.relayed) {
    malformed += call->counters.malformed;
    srtp_failures += call->counters.srtp_failures;
    if (call->caller) {
      malformed += call->caller->stats().malformed;
      leaked += call->caller->leaked_samples();
    }
  }
  w.calls.store(w.relayed.size(), std::memory_order_relaxed);
  w.received.store(s.received, std::memory_order_relaxed);
  w.forwarded.store(s.forwarded, std::memory_order_relaxed);
  w.dropped.store(s.no_remote + s.wrong_source + s.send_failed, std::memory_order_relaxed);
  w.malformed.store(malformed, std::memory_order_relaxed);
  w.srtp_failures.store(srtp_failures, std::memory_order_relaxed);
  w.leaked_samples.store(leaked, std::memory_order_relaxed);
}

void media_plane::check_timeouts(worker_thread& w, std::int64_t now) {
  if (!on_ended_ || (config_.timeout_s <= 0 && config_.final_timeout_s <= 0)) return;
  for (auto& [id, call] : w.relayed) {
    if (call->ended) continue;
    auto activity = w.worker.activity(call->pair);
    if (!activity) continue;
    std::int64_t last = activity->last_ms();
    if (auto rtcp = w.worker.activity(call->rtcp_pair)) last = std::max(last, rtcp->last_ms());
    const char* reason = nullptr;
    if (config_.timeout_s > 0 && now - last > std::int64_t{config_.timeout_s} * 1000) {
      reason = "timeout";
    } else if (config_.final_timeout_s > 0 &&
               now - activity->created_ms > std::int64_t{config_.final_timeout_s} * 1000) {
      reason = "final-timeout";
    }
    if (reason == nullptr) continue;
    call->ended = true;
    w.timed_out.fetch_add(1, std::memory_order_relaxed);
    log_event(log_level::info, "call timed out", {{"call-id", id}, {"reason", reason}});
    on_ended_(id, reason);
  }
}

std::size_t media_plane::worker_of(const std::string& call_id) const noexcept {
  return std::hash<std::string>{}(call_id) % workers_.size();
}

media_totals media_plane::totals() const noexcept {
  media_totals t;
  t.keys = sink_->keys.load(std::memory_order_relaxed);
  for (const auto& w : workers_) {
    t.calls += w->calls.load(std::memory_order_relaxed);
    t.received += w->received.load(std::memory_order_relaxed);
    t.forwarded += w->forwarded.load(std::memory_order_relaxed);
    t.dropped += w->dropped.load(std::memory_order_relaxed);
    t.malformed += w->malformed.load(std::memory_order_relaxed);
    t.srtp_failures += w->srtp_failures.load(std::memory_order_relaxed);
    t.timed_out += w->timed_out.load(std::memory_order_relaxed);
    t.leaked_samples += w->leaked_samples.load(std::memory_order_relaxed);
  }
  return t;
}

void media_plane::post(const std::string& call_id, std::function<void(worker_thread&)> command) {
  worker_thread& w = *workers_[worker_of(call_id)];
  std::lock_guard lock(w.queue_mutex);
  w.queue.push_back(std::move(command));
  w.queued = true;
}

media_plane::masking_state media_plane::masking_of(const call& c) const {
  masking_state m;
  m.on = (c.dtmf.blocked && c.dtmf.from == leg::caller && c.dtmf.mode != ng_dtmf_security::off) ||
         config_.mask_all_calls;
  m.mode = c.dtmf.mode ? mode_for(*c.dtmf.mode, config_.default_mode) : config_.default_mode;
  // A delay-buffer under the leak-free minimum would let the start of a key through.
  m.lookahead_ms = c.dtmf.delay_buffer_ms
                       ? static_cast<int>(std::clamp<std::int64_t>(*c.dtmf.delay_buffer_ms,
                                                                   min_leak_free_delay_ms, 200))
                       : config_.default_lookahead_ms;
  return m;
}

namespace {

// What a leg's SDP says of the stream it sends: its codec, telephone-event type and ptime.
caller_stream_config stream_config_of(const call_leg& l) {
  caller_stream_config config;
  config.g711 = !l.g711.empty();
  if (config.g711) {
    config.audio_payload_type = l.g711.front().payload_type;
    config.alaw = l.g711.front().law == g711_law::a_law;
  }
  config.event_payload_type = l.telephone_event_pt ? *l.telephone_event_pt : -1;
  config.ptime_ms =
      l.ptime_ms && *l.ptime_ms % 10 == 0 && *l.ptime_ms <= 60 ? static_cast<int>(*l.ptime_ms) : 20;
  return config;
}

// A session for one direction of one leg; an error names the leg and the problem.
result<std::unique_ptr<srtp_session>> session_for(const std::optional<sdes_key>& key,
                                                  srtp_session::direction dir,
                                                  std::string_view what) {
  if (!key) return error{std::string(what) + ": SRTP leg without a key"};
  auto session = srtp_session::create(*key, dir);
  if (!session.ok()) return error{std::string(what) + ": " + session.error_message()};
  return std::move(session).value();
}

}  // namespace

void media_plane::apply(const call& c) {
  const bool ready = c.caller.local_rtp_port && c.agent.local_rtp_port && c.caller.has_remote &&
                     c.agent.has_remote;
  if (!ready) return;
  const masking_state masking = masking_of(c);
  const auto known = known_.find(c.call_id);
  if (known != known_.end()) {
    if (known->second != masking) {
      known->second = masking;
      post(c.call_id, [id = c.call_id, masking](worker_thread& w) {
        if (auto it = w.relayed.find(id); it != w.relayed.end() && it->second->caller) {
          it->second->caller->set_mask_mode(masking.mode);
          it->second->caller->set_lookahead(masking.lookahead_ms);
          it->second->caller->set_masking(masking.on);
        }
      });
    }
    return;
  }
  known_[c.call_id] = masking;

  // Without G.711 there is no audio to search or mask; RFC 4733 keys are still found, and
  // withheld toward the agent while masking is on.
  caller_stream_config config = stream_config_of(c.caller);
  config.masking = masking.on;
  config.masker.mode = masking.mode;
  config.masker.lookahead_ms = masking.lookahead_ms;

  std::optional<caller_stream_config> agent_config;
  if (config_.detect_agent_dtmf) {
    agent_config = stream_config_of(c.agent);
    agent_config->from = leg::agent;
    agent_config->detect_only = true;
  }

  auto optional_of = [](const result<udp_endpoint>& r) {
    return r.ok() ? std::optional(r.value()) : std::nullopt;
  };
  // The SDP's address is where each side is until its media says otherwise (latching).
  relay_side caller_rtp, agent_rtp, caller_rtcp, agent_rtcp;
  for (auto [rtp, rtcp, leg_ptr] : {std::tuple{&caller_rtp, &caller_rtcp, &c.caller},
                                    std::tuple{&agent_rtp, &agent_rtcp, &c.agent}}) {
    const call_leg& l = *leg_ptr;
    rtp->port = *l.local_rtp_port;
    rtcp->port = static_cast<std::uint16_t>(*l.local_rtp_port + 1);
    if (l.remote_rtp_port != 0)
      rtp->remote = optional_of(udp_endpoint::from(l.remote_address.address, l.remote_rtp_port));
    if (l.remote_rtcp_port != 0)
      rtcp->remote = optional_of(udp_endpoint::from(l.remote_address.address, l.remote_rtcp_port));
    rtp->latch = rtcp->latch = l.symmetric;
    rtp->strict_source = rtcp->strict_source = l.strict_source || config_.strict_source;
  }
  // RTCP rides the RTP pair only when both legs multiplex it; otherwise an RTCP pair on the
  // ports above carries it, and a leg that multiplexes alone has its RTCP sent on to the
  // other side's RTCP port.
  const bool rtcp_mux = c.caller.rtcp_mux && c.agent.rtcp_mux;
  if (config_.sockets != nullptr) {
    for (relay_side* side : {&caller_rtp, &agent_rtp, &caller_rtcp, &agent_rtcp})
      side->fd = config_.sockets->take(side->port);
  }
  if (!rtcp_mux && c.caller.rtcp_mux != c.agent.rtcp_mux) {
    relay_side& plain = c.caller.rtcp_mux ? agent_rtp : caller_rtp;
    plain.rtcp_remote = c.caller.rtcp_mux ? agent_rtcp.remote : caller_rtcp.remote;
  }
  struct keys {
    bool srtp = false;
    std::optional<sdes_key> remote, local;
  };
  const keys caller_keys{c.caller.srtp(), c.caller.remote_key, c.caller.local_key};
  const keys agent_keys{c.agent.srtp(), c.agent.remote_key, c.agent.local_key};

  post(c.call_id, [this, id = c.call_id, config, agent_config, caller_rtp, agent_rtp, caller_rtcp,
                   agent_rtcp, rtcp_mux, caller_keys, agent_keys](worker_thread& w) mutable {
    // Sockets bound since the offer that no relay pair has adopted yet: closed on refusal.
    auto close_unadopted = [](std::initializer_list<relay_side*> sides) {
      for (relay_side* side : sides) {
        if (side->fd >= 0) ::close(side->fd);
        side->fd = -1;
      }
    };
    auto refuse = [&](const std::string& why) {
      log_event(log_level::error, "call media refused", {{"call-id", id}, {"error", why}});
      close_unadopted({&caller_rtp, &agent_rtp, &caller_rtcp, &agent_rtcp});
    };
    auto r = std::make_unique<relayed_call>();
    try {
      r->caller = std::make_unique<caller_stream>(config, dsp::default_dtmf_receiver_settings(),
                                                  *sink_, id);
      if (agent_config) {
        r->agent = std::make_unique<caller_stream>(
            *agent_config, dsp::default_dtmf_receiver_settings(), *sink_, id);
      }
    } catch (const std::exception& e) {
      refuse(e.what());
      return;
    }
    for (auto [k, in, out, name] :
         {std::tuple{&caller_keys, &r->caller_in, &r->caller_out, "caller"},
          std::tuple{&agent_keys, &r->agent_in, &r->agent_out, "agent"}}) {
      if (!k->srtp) continue;
      auto inbound = session_for(k->remote, srtp_session::direction::inbound, name);
      auto outbound = session_for(k->local, srtp_session::direction::outbound, name);
      if (!inbound.ok() || !outbound.ok()) {
        refuse(!inbound.ok() ? inbound.error_message() : outbound.error_message());
        return;
      }
      *in = std::move(inbound).value();
      *out = std::move(outbound).value();
    }
    auto wire = [&](direction_filter& f, bool toward_agent, bool rtcp_only) {
      f.unprotect = toward_agent ? r->caller_in.get() : r->agent_in.get();
      f.protect = toward_agent ? r->agent_out.get() : r->caller_out.get();
      f.stream = rtcp_only ? nullptr : (toward_agent ? r->caller.get() : r->agent.get());
      f.translator = r->caller.get();
      f.toward_agent = toward_agent;
      f.rtcp_only = rtcp_only;
      f.counters = &r->counters;
    };
    wire(r->rtp_from_caller, true, false);
    wire(r->rtp_from_agent, false, false);
    wire(r->rtcp_from_caller, true, true);
    wire(r->rtcp_from_agent, false, true);
    caller_rtp.filter = &r->rtp_from_caller;
    agent_rtp.filter = &r->rtp_from_agent;
    caller_rtcp.filter = &r->rtcp_from_caller;
    agent_rtcp.filter = &r->rtcp_from_agent;

    auto pair = w.worker.add_pair(config_.local_address, caller_rtp, agent_rtp);
    caller_rtp.fd = agent_rtp.fd = -1;  // adopted (or closed) by add_pair
    if (!pair.ok()) {
      refuse(pair.error_message());
      return;
    }
    r->pair = pair.value();
    if (rtcp_mux) {
      close_unadopted({&caller_rtcp, &agent_rtcp});
    } else {
      auto rtcp = w.worker.add_pair(config_.local_address, caller_rtcp, agent_rtcp);
      if (rtcp.ok()) {
        r->rtcp_pair = rtcp.value();
      } else {
        log_event(log_level::warn, "call RTCP not relayed",
                  {{"call-id", id}, {"error", rtcp.error_message()}});
      }
    }
    log_event(log_level::info, "relaying",
              {{"call-id", id},
               {"caller-port", std::to_string(caller_rtp.port)},
               {"agent-port", std::to_string(agent_rtp.port)},
               {"caller-srtp", caller_keys.srtp ? "yes" : "no"},
               {"agent-srtp", agent_keys.srtp ? "yes" : "no"},
               {"g711", config.g711 ? "yes" : "no"},
               {"masking", config.masking ? "on" : "off"}});
    w.relayed[id] = std::move(r);
  });
}

void media_plane::remove(const std::string& call_id) {
  if (known_.erase(call_id) == 0) return;
  post(call_id, [call_id](worker_thread& w) {
    if (auto it = w.relayed.find(call_id); it != w.relayed.end()) {
      relayed_call& r = *it->second;
      w.worker.remove_pair(r.pair);
      w.worker.remove_pair(r.rtcp_pair);
      w.ended_malformed += r.counters.malformed + (r.caller ? r.caller->stats().malformed : 0);
      w.ended_srtp_failures += r.counters.srtp_failures;
      if (r.caller) w.ended_leaked += r.caller->leaked_samples();
      log_event(log_level::info, "call media stopped",
                {{"call-id", call_id},
                 {"malformed", std::to_string(r.counters.malformed)},
                 {"srtp-failures", std::to_string(r.counters.srtp_failures)},
                 {"leaked-samples", std::to_string(r.caller ? r.caller->leaked_samples() : 0)}});
      w.relayed.erase(it);
    }
  });
}

}  // namespace toneguard::media
