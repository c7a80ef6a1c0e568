#include "toneguard/media/media_plane.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <random>

#include "toneguard/dsp/g711.h"
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

namespace {

constexpr std::size_t rtp_header_bytes = 12;
constexpr std::size_t max_ptime_samples = 480;  // 60 ms at 8 kHz
// A late wake-up sends at most this many due packets at once; older ones are skipped.
constexpr std::int64_t max_burst = 5;
// The agent's audio waiting to be mixed with a prompt, at most, in ptimes: a bound on the
// delay mixing adds, with room for the agent's jitter against the playout clock.
constexpr std::size_t mix_ptimes = 3;

// CLOCK_MONOTONIC in µs: the playout clock (the worker's ms clock is too coarse to pace packets).
std::int64_t steady_us() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1000;
}

bool seq_after(std::uint16_t a, std::uint16_t b) noexcept {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(a - b)) > 0;
}

// What a call's secure segment needs from its SDP (the control thread works it out).
struct segment_setup {
  bool can_play = false;
  std::uint8_t out_pt = 0;
  dsp::g711_law out_law = dsp::g711_law::ulaw;
  int ptime_ms = 20;
  std::vector<std::pair<std::uint8_t, dsp::g711_law>> agent_audio;
};

struct queued_prompt {
  std::uint64_t id = 0;
  std::shared_ptr<const std::vector<std::int16_t>> audio;
  std::size_t played = 0;  // samples sent
};

}  // namespace

// A call's secure-segment state and the continuity of the caller's stream (see the header's
// comment). Owned by the call's worker; the filters call it on the packet path, the playout
// clock and the segment commands between polls.
struct media_plane::secure_segment {
  std::string call_id;

  // Toward the caller: what it is sent (the agent's stream, in the caller's G.711).
  bool can_play = false;  // G.711 toward the caller: prompts and silence can be made
  std::uint8_t out_pt = 0;
  dsp::g711_law out_law = dsp::g711_law::ulaw;
  std::size_t ptime_samples = 160;
  std::int64_t ptime_us = 20'000;
  // The agent's G.711 payload types, decoded for mixing.
  std::array<std::pair<std::uint8_t, dsp::g711_law>, 2> agent_audio{};
  std::size_t agent_audio_count = 0;

  // The caller's stream as the caller has seen it.
  bool have_out = false;          // a packet went to the caller
  std::uint32_t out_ssrc = 0;     // its SSRC
  std::uint16_t last_seq = 0;     // the newest sequence number sent
  std::uint32_t next_ts = 0;      // the timestamp after the newest packet's audio
  std::int64_t last_sent_us = 0;  // when that packet went (its deadline, when generated)
  bool generated = false;         // packets were made: the agent's are rewritten for good
  bool remap = true;              // the agent's next packet chooses new offsets
  bool have_agent_ssrc = false;
  std::uint32_t agent_ssrc = 0;
  std::uint16_t seq_offset = 0;
  std::uint32_t ts_offset = 0;
  bool mark_next = false;  // the first packet after a switch carries the marker bit

  // The segment.
  bool removed = false;
  std::deque<queued_prompt> prompts;
  bool playing = false;  // in the worker's playout list
  std::int64_t next_due_us = 0;
  std::vector<std::int16_t> mix;  // ring of the agent's decoded audio
  std::size_t mix_head = 0, mix_size = 0;

  // Toward the agent.
  bool caller_g711 = false;
  std::uint8_t caller_pt = 0;
  std::uint8_t caller_silence = 0xFF;
  int caller_ptime_ms = 20;
  int silence_tail = 0;  // packets still carrying removed-time audio (look-ahead)

  void set_up(const segment_setup& setup, const std::string& id, const caller_stream_config& caller,
              std::mt19937& random) {
    call_id = id;
    can_play = setup.can_play;
    out_pt = setup.out_pt;
    out_law = setup.out_law;
    ptime_samples = static_cast<std::size_t>(setup.ptime_ms) * 8;
    ptime_us = std::int64_t{setup.ptime_ms} * 1000;
    for (const auto& a : setup.agent_audio) {
      if (agent_audio_count < agent_audio.size()) agent_audio[agent_audio_count++] = a;
    }
    if (can_play && agent_audio_count != 0) mix.assign(mix_ptimes * ptime_samples, 0);
    // Until the agent is heard, a stream of our own (RFC 3550 wants them random).
    out_ssrc = static_cast<std::uint32_t>(random());
    last_seq = static_cast<std::uint16_t>(random());
    next_ts = static_cast<std::uint32_t>(random());
    caller_g711 = caller.g711;
    caller_pt = caller.audio_payload_type;
    caller_silence =
        dsp::g711_encode(caller.alaw ? dsp::g711_law::alaw : dsp::g711_law::ulaw, std::int16_t{0});
    caller_ptime_ms = caller.ptime_ms;
  }

  [[nodiscard]] bool active() const noexcept { return removed || !prompts.empty(); }

  // Where the caller's timestamps stand at `t_us`: after the newest packet's audio, plus the
  // time since it in whole ptimes beyond the one it was due in.
  [[nodiscard]] std::uint32_t next_ts_at(std::int64_t t_us) const noexcept {
    if (!have_out) return next_ts;
    const std::int64_t periods = (t_us - last_sent_us + ptime_us / 2) / ptime_us;
    const auto extra = static_cast<std::uint64_t>(
        std::clamp<std::int64_t>(periods - 1, 0, std::numeric_limits<std::uint32_t>::max()));
    return next_ts + static_cast<std::uint32_t>(extra * ptime_samples);
  }

  [[nodiscard]] const std::pair<std::uint8_t, dsp::g711_law>* agent_law(
      std::uint8_t pt) const noexcept {
    for (std::size_t i = 0; i < agent_audio_count; ++i) {
      if (agent_audio[i].first == pt) return &agent_audio[i];
    }
    return nullptr;
  }

  void queue_for_mix(std::span<const std::uint8_t> codes, dsp::g711_law law) noexcept {
    if (mix.empty()) return;
    codes = codes.last(std::min(codes.size(), mix.size()));
    const std::size_t over = mix_size + codes.size() > mix.size()
                                 ? mix_size + codes.size() - mix.size()
                                 : 0;  // the oldest go
    mix_head = (mix_head + over) % mix.size();
    mix_size -= over;
    std::size_t at = (mix_head + mix_size) % mix.size();
    while (!codes.empty()) {
      const std::size_t n = std::min(codes.size(), mix.size() - at);
      dsp::g711_decode(law, codes.first(n), std::span(mix).subspan(at, n));
      codes = codes.subspan(n);
      mix_size += n;
      at = 0;
    }
  }

  // Adds up to `out.size()` queued agent samples to `out`, with saturation.
  void mix_into(std::span<std::int16_t> out) noexcept {
    const std::size_t n = std::min(out.size(), mix_size);
    for (std::size_t i = 0; i < n; ++i) {
      const int sum = int{out[i]} + int{mix[(mix_head + i) % mix.size()]};
      out[i] = static_cast<std::int16_t>(std::clamp(sum, -32768, 32767));
    }
    mix_head = mix.empty() ? 0 : (mix_head + n) % mix.size();
    mix_size -= n;
  }

  // One RTP packet from the agent on its way to the caller (after SRTP unprotect); false: drop.
  bool toward_caller(std::span<std::uint8_t> buffer, std::size_t length) noexcept {
    if (!can_play) return !removed;  // nothing is ever generated: nothing to keep in step
    const auto parsed = parse_rtp(buffer.first(std::min(length, buffer.size())));
    if (!parsed.ok()) return true;  // not ours to judge; relayed as before
    const rtp_view& p = parsed.view;
    const auto* audio = agent_law(p.payload_type);
    if (active()) {
      if (!removed && audio != nullptr) queue_for_mix(p.payload, audio->second);
      return false;  // the playout clock sends the caller's packets now
    }
    const std::int64_t now = steady_us();
    std::uint16_t seq = p.sequence;
    std::uint32_t ts = p.timestamp;
    if (generated) {
      if (remap || !have_agent_ssrc || p.ssrc != agent_ssrc) {
        seq_offset = static_cast<std::uint16_t>(last_seq + 1 - p.sequence);
        ts_offset = next_ts_at(now) - p.timestamp;
        agent_ssrc = p.ssrc;
        have_agent_ssrc = true;
        remap = false;
        mark_next = true;
      }
      seq = static_cast<std::uint16_t>(seq + seq_offset);
      ts += ts_offset;
      (void)set_rtp_sequence(buffer, seq);
      (void)set_rtp_timestamp(buffer, ts);
      (void)set_rtp_ssrc(buffer, out_ssrc);
      if (mark_next) (void)set_rtp_marker(buffer, true);
      mark_next = false;
    } else {
      out_ssrc = p.ssrc;
    }
    if (!have_out || seq_after(seq, last_seq)) {
      if (audio != nullptr) {
        next_ts = ts + static_cast<std::uint32_t>(p.payload.size());
      } else if (!have_out) {
        next_ts = ts + static_cast<std::uint32_t>(ptime_samples);
      }
      have_out = true;
      last_seq = seq;
      last_sent_us = now;
    }
    return true;
  }

  // One RTP packet from the caller on its way to the agent (after the caller_stream);
  // false: drop.
  bool toward_agent(std::span<std::uint8_t> buffer, std::size_t length) noexcept {
    if (!removed && silence_tail == 0) return true;
    if (!caller_g711) return false;  // nothing can stand in for the caller's audio
    const auto parsed = parse_rtp(buffer.first(std::min(length, buffer.size())));
    if (!parsed.ok() || parsed.view.payload_type != caller_pt) return false;
    const auto offset = static_cast<std::size_t>(parsed.view.payload.data() - buffer.data());
    std::memset(buffer.data() + offset, caller_silence, parsed.view.payload.size());
    if (!removed) --silence_tail;
    return true;
  }
};

// One direction of a call on one pair: SRTP unprotect, the stream (RTP) or the translation
// (RTCP), SRTP protect.
struct media_plane::direction_filter final : packet_filter {
  srtp_session* unprotect = nullptr;    // the sending side's key; null: plain RTP
  srtp_session* protect = nullptr;      // the receiving side's key; null: plain RTP
  caller_stream* stream = nullptr;      // RTP packets go through it; null: relayed as they are
  caller_stream* translator = nullptr;  // RTCP is translated by it; null: relayed as it is
  secure_segment* segment = nullptr;    // RTP after the stream; null: relayed as it is
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
    } else {
      if (stream != nullptr && stream->process(buffer, length) == caller_packet::drop) {
        return false;  // counted by the stream
      }
      if (segment != nullptr && !(toward_agent ? segment->toward_agent(buffer, length)
                                               : segment->toward_caller(buffer, length))) {
        return false;
      }
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
  secure_segment segment;
  bool masking_wanted = false;  // as block DTMF or set_masking last said (removal forces it)
  int lookahead_ms = 15;
  direction_filter rtp_from_caller, rtp_from_agent, rtcp_from_caller, rtcp_from_agent;
  int pair = -1;
  int rtcp_pair = -1;  // RTCP on port + 1; -1 with rtcp-mux (RTCP rides the RTP pair)
  bool ended = false;  // a timeout was reported
};

struct media_plane::worker_thread {
  worker_thread(relay_backend backend, int coalesce_us) : worker(backend, coalesce_us) {}
  relay_worker worker;
  std::map<std::string, std::unique_ptr<relayed_call>> relayed;  // owned by the thread
  std::mutex queue_mutex;
  std::deque<std::function<void(worker_thread&)>> queue;
  std::atomic<bool> queued{false};
  // Published by the thread every 200 ms and when it stops, read by totals().
  std::atomic<std::uint64_t> calls{0}, received{0}, forwarded{0}, dropped{0}, malformed{0},
      srtp_failures{0}, timed_out{0}, generated{0}, no_remote{0}, wrong_source{0}, send_failed{0};
  std::atomic<std::int64_t> leaked_samples{0}, masked_samples{0};
  std::uint64_t ended_malformed = 0, ended_srtp_failures = 0;  // of calls already removed
  std::int64_t ended_leaked = 0, ended_masked = 0;
  std::int64_t next_housekeeping_ms = 0;        // timeouts and counters are due
  std::vector<relayed_call*> playing;           // calls whose playout clock runs
  std::mt19937 random{std::random_device{}()};  // a stream's first SSRC, sequence, timestamp
  std::array<std::uint8_t, relay_worker::buffer_bytes> packet{};  // a generated packet
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
    auto w = std::make_unique<worker_thread>(config_.backend, config_.coalesce_us);
    worker_thread* self = w.get();
    w->thread = std::thread([this, self] { run_worker(*self); });
    workers_.push_back(std::move(w));
  }
}

media_plane::~media_plane() {
  stopping_ = true;
  for (auto& w : workers_) w->thread.join();
}

relay_backend media_plane::backend() const noexcept { return workers_.front()->worker.backend(); }

void media_plane::run_worker(worker_thread& w) {
  while (!stopping_) {
    int timeout_ms = 10;
    if (!w.playing.empty()) {
      std::int64_t due = std::numeric_limits<std::int64_t>::max();
      for (const relayed_call* r : w.playing) due = std::min(due, r->segment.next_due_us);
      timeout_ms = static_cast<int>(
          std::clamp<std::int64_t>((due - steady_us() + 999) / 1000, 0, timeout_ms));
    }
    w.worker.poll_once(timeout_ms);
    if (w.queued) {
      std::deque<std::function<void(worker_thread&)>> commands;
      {
        std::lock_guard lock(w.queue_mutex);
        commands.swap(w.queue);
        w.queued = false;
      }
      for (auto& command : commands) command(w);
    }
    play_due(w);
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
  w.playing.clear();
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
  std::int64_t masked = w.ended_masked;
  for (const auto& [id, call] : w.relayed) {
    malformed += call->counters.malformed;
    srtp_failures += call->counters.srtp_failures;
    if (call->caller) {
      malformed += call->caller->stats().malformed;
      leaked += call->caller->leaked_samples();
      masked += call->caller->masked_samples();
    }
  }
  w.calls.store(w.relayed.size(), std::memory_order_relaxed);
  w.received.store(s.received, std::memory_order_relaxed);
  w.forwarded.store(s.forwarded, std::memory_order_relaxed);
  w.generated.store(s.generated, std::memory_order_relaxed);
  w.dropped.store(s.no_remote + s.wrong_source + s.send_failed + s.oversize,
                  std::memory_order_relaxed);
  w.no_remote.store(s.no_remote, std::memory_order_relaxed);
  w.wrong_source.store(s.wrong_source, std::memory_order_relaxed);
  w.send_failed.store(s.send_failed, std::memory_order_relaxed);
  w.malformed.store(malformed, std::memory_order_relaxed);
  w.srtp_failures.store(srtp_failures, std::memory_order_relaxed);
  w.leaked_samples.store(leaked, std::memory_order_relaxed);
  w.masked_samples.store(masked, std::memory_order_relaxed);
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
    t.generated += w->generated.load(std::memory_order_relaxed);
    t.dropped += w->dropped.load(std::memory_order_relaxed);
    t.no_remote += w->no_remote.load(std::memory_order_relaxed);
    t.wrong_source += w->wrong_source.load(std::memory_order_relaxed);
    t.send_failed += w->send_failed.load(std::memory_order_relaxed);
    t.malformed += w->malformed.load(std::memory_order_relaxed);
    t.srtp_failures += w->srtp_failures.load(std::memory_order_relaxed);
    t.timed_out += w->timed_out.load(std::memory_order_relaxed);
    t.leaked_samples += w->leaked_samples.load(std::memory_order_relaxed);
    t.masked_samples += w->masked_samples.load(std::memory_order_relaxed);
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

dsp::g711_law law_of(g711_law law) {
  return law == g711_law::a_law ? dsp::g711_law::alaw : dsp::g711_law::ulaw;
}

segment_setup segment_setup_of(const call& c) {
  segment_setup s;
  // The caller hears the agent's stream: its payload type when the caller has it too, else
  // the caller's first G.711; the agent stream's ptime.
  const auto& theirs = c.caller.g711;
  if (!theirs.empty()) {
    s.can_play = true;
    g711_payload chosen = theirs.front();
    for (const g711_payload& agent : c.agent.g711) {
      if (std::any_of(theirs.begin(), theirs.end(), [&](const g711_payload& p) {
            return p.payload_type == agent.payload_type && p.law == agent.law;
          })) {
        chosen = agent;
        break;
      }
    }
    s.out_pt = chosen.payload_type;
    s.out_law = law_of(chosen.law);
  }
  s.ptime_ms = stream_config_of(c.agent).ptime_ms;
  for (const g711_payload& agent : c.agent.g711) {
    if (s.agent_audio.size() < 2 &&
        std::none_of(s.agent_audio.begin(), s.agent_audio.end(),
                     [&](const auto& a) { return a.second == law_of(agent.law); })) {
      s.agent_audio.emplace_back(agent.payload_type, law_of(agent.law));
    }
  }
  return s;
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
          relayed_call& r = *it->second;
          r.caller->set_mask_mode(masking.mode);
          r.caller->set_lookahead(masking.lookahead_ms);
          r.lookahead_ms = masking.lookahead_ms;
          r.masking_wanted = masking.on;
          update_masking(r);
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
  const segment_setup segment = segment_setup_of(c);

  post(c.call_id, [this, id = c.call_id, config, agent_config, caller_rtp, agent_rtp, caller_rtcp,
                   agent_rtcp, rtcp_mux, caller_keys, agent_keys, segment,
                   lookahead_ms = masking.lookahead_ms](worker_thread& w) mutable {
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
    r->masking_wanted = config.masking;
    r->lookahead_ms = lookahead_ms;
    r->segment.set_up(segment, id, config, w.random);
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
      f.segment = rtcp_only ? nullptr : &r->segment;
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
               {"masking", config.masking ? "on" : "off"},
               {"prompts", r->segment.can_play ? "yes" : "no"}});
    if (auto old = w.relayed.find(id); old != w.relayed.end()) stop_playing(w, *old->second);
    w.relayed[id] = std::move(r);
  });
}

void media_plane::remove(const std::string& call_id) {
  if (known_.erase(call_id) == 0) return;
  post(call_id, [this, call_id](worker_thread& w) {
    if (auto it = w.relayed.find(call_id); it != w.relayed.end()) {
      relayed_call& r = *it->second;
      w.worker.remove_pair(r.pair);
      w.worker.remove_pair(r.rtcp_pair);
      w.ended_malformed += r.counters.malformed + (r.caller ? r.caller->stats().malformed : 0);
      w.ended_srtp_failures += r.counters.srtp_failures;
      if (r.caller) w.ended_leaked += r.caller->leaked_samples();
      if (r.caller) w.ended_masked += r.caller->masked_samples();
      stop_playing(w, r);
      std::deque<queued_prompt> unplayed;
      unplayed.swap(r.segment.prompts);
      log_event(log_level::info, "call media stopped",
                {{"call-id", call_id},
                 {"malformed", std::to_string(r.counters.malformed)},
                 {"srtp-failures", std::to_string(r.counters.srtp_failures)},
                 {"leaked-samples", std::to_string(r.caller ? r.caller->leaked_samples() : 0)}});
      w.relayed.erase(it);
      for (const queued_prompt& p : unplayed) report_prompt(call_id, p.id, prompt_outcome::stopped);
    }
  });
}

// --- The secure segment ------------------------------------------------------------------------

void media_plane::report_prompt(const std::string& call_id, std::uint64_t prompt_id,
                                prompt_outcome outcome) {
  if (config_.on_prompt) config_.on_prompt(call_id, prompt_id, outcome);
}

void media_plane::update_masking(relayed_call& r) {
  if (r.caller) r.caller->set_masking(r.masking_wanted || r.segment.removed);
}

void media_plane::start_playing(worker_thread& w, relayed_call& r) {
  secure_segment& s = r.segment;
  if (s.playing || !s.can_play || !s.active()) return;
  // The first packet is due one ptime after the last one the caller got (or now, if that has
  // passed), and its timestamp follows on at the clock's pace.
  const std::int64_t now = steady_us();
  s.next_due_us = s.have_out ? std::max(now, s.last_sent_us + s.ptime_us) : now;
  s.next_ts = s.next_ts_at(s.next_due_us);
  s.mark_next = true;
  s.mix_head = s.mix_size = 0;
  s.playing = true;
  w.playing.push_back(&r);
}

void media_plane::stop_playing(worker_thread& w, relayed_call& r) {
  if (!r.segment.playing) return;
  r.segment.playing = false;
  r.segment.remap = true;  // the agent's next packet continues the caller's stream
  std::erase(w.playing, &r);
}

void media_plane::play_due(worker_thread& w) {
  if (w.playing.empty()) return;
  const std::int64_t now = steady_us();
  // By index: a finished segment leaves the list below (a prompt handler cannot change it:
  // what it asks for waits in the queue for the next poll).
  for (std::size_t i = 0; i < w.playing.size();) {
    relayed_call& r = *w.playing[i];
    secure_segment& s = r.segment;
    for (std::int64_t sent = 0; s.active() && s.next_due_us <= now; ++sent) {
      if (sent == max_burst) {
        // Too late to catch up: skip what is left, and let the timestamps show the gap.
        const std::int64_t skipped = (now - s.next_due_us) / s.ptime_us + 1;
        s.next_ts +=
            static_cast<std::uint32_t>(skipped * static_cast<std::int64_t>(s.ptime_samples));
        s.next_due_us += skipped * s.ptime_us;
        s.mark_next = true;
        break;
      }
      play_one(w, r, s.next_due_us);
      s.next_due_us += s.ptime_us;
    }
    if (s.active()) {
      ++i;
    } else {
      stop_playing(w, r);  // the next call moves into slot i
    }
  }
}

void media_plane::play_one(worker_thread& w, relayed_call& r, std::int64_t due_us) {
  secure_segment& s = r.segment;
  const std::size_t n = std::min(s.ptime_samples, max_ptime_samples);
  std::array<std::int16_t, max_ptime_samples> frame{};
  // Prompts follow each other without a gap; `done` of them end in this packet.
  std::size_t filled = 0, done = 0;
  for (auto it = s.prompts.begin(); it != s.prompts.end() && filled < n; ++it) {
    const std::vector<std::int16_t>& audio = *it->audio;
    const std::size_t take = std::min(n - filled, audio.size() - it->played);
    std::copy_n(audio.begin() + static_cast<std::ptrdiff_t>(it->played), take,
                frame.begin() + static_cast<std::ptrdiff_t>(filled));
    it->played += take;
    filled += take;
    if (it->played < audio.size()) break;
    ++done;
  }
  if (!s.removed) s.mix_into(std::span(frame).first(n));

  std::span<std::uint8_t> packet(w.packet);
  const auto seq = static_cast<std::uint16_t>(s.last_seq + 1);
  const std::uint32_t ts = s.next_ts;
  packet[0] = 0x80;  // version 2; no padding, extension or CSRCs
  packet[1] = static_cast<std::uint8_t>((s.mark_next ? 0x80 : 0) | s.out_pt);
  packet[2] = static_cast<std::uint8_t>(seq >> 8);
  packet[3] = static_cast<std::uint8_t>(seq);
  for (int i = 0; i < 4; ++i) {
    packet[static_cast<std::size_t>(4 + i)] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
    packet[static_cast<std::size_t>(8 + i)] = static_cast<std::uint8_t>(s.out_ssrc >> (24 - 8 * i));
  }
  dsp::g711_encode(s.out_law, std::span<const std::int16_t>(frame.data(), n),
                   packet.subspan(rtp_header_bytes, n));
  std::size_t length = rtp_header_bytes + n;
  // A packet that cannot be protected is lost to the caller; the stream moves on regardless.
  if (r.caller_out == nullptr || r.caller_out->protect_rtp(packet, length) == srtp_status::ok) {
    (void)w.worker.send(r.pair, true, packet.first(length));
  } else {
    ++r.counters.malformed;
  }
  s.mark_next = false;
  s.have_out = true;
  s.generated = true;
  s.last_seq = seq;
  s.next_ts = ts + static_cast<std::uint32_t>(n);
  s.last_sent_us = due_us;

  for (; done > 0; --done) {
    const std::uint64_t id = s.prompts.front().id;
    s.prompts.pop_front();  // its audio is freed here, on the worker
    report_prompt(s.call_id, id, prompt_outcome::finished);
  }
}

void media_plane::play_to_caller(const std::string& call_id, std::uint64_t prompt_id,
                                 std::shared_ptr<const std::vector<std::int16_t>> audio) {
  post(call_id, [this, call_id, prompt_id, audio = std::move(audio)](worker_thread& w) mutable {
    const auto it = w.relayed.find(call_id);
    const char* why = it == w.relayed.end()           ? "call not relayed"
                      : !it->second->segment.can_play ? "no G.711 toward the caller"
                      : audio == nullptr              ? "no audio"
                                                      : nullptr;
    if (why != nullptr) {
      log_event(log_level::warn, "prompt not played",
                {{"call-id", call_id}, {"prompt", std::to_string(prompt_id)}, {"error", why}});
      report_prompt(call_id, prompt_id, prompt_outcome::failed);
      return;
    }
    relayed_call& r = *it->second;
    r.segment.prompts.push_back({prompt_id, std::move(audio), 0});
    start_playing(w, r);
  });
}

void media_plane::play_to_caller(const std::string& call_id, std::uint64_t prompt_id,
                                 std::vector<std::int16_t> audio) {
  play_to_caller(call_id, prompt_id,
                 std::make_shared<const std::vector<std::int16_t>>(std::move(audio)));
}

void media_plane::stop_prompt(const std::string& call_id, std::uint64_t prompt_id) {
  post(call_id, [this, call_id, prompt_id](worker_thread& w) {
    const auto it = w.relayed.find(call_id);
    if (it == w.relayed.end()) return;
    auto& prompts = it->second->segment.prompts;
    const auto from = std::find_if(prompts.begin(), prompts.end(),
                                   [&](const queued_prompt& p) { return p.id == prompt_id; });
    if (from == prompts.end()) return;
    std::vector<std::uint64_t> stopped;
    for (auto p = from; p != prompts.end(); ++p) stopped.push_back(p->id);
    prompts.erase(from, prompts.end());
    // The playout clock stops at its next turn if nothing else keeps it going.
    for (const std::uint64_t id : stopped) report_prompt(call_id, id, prompt_outcome::stopped);
  });
}

void media_plane::set_agent_removed(const std::string& call_id, bool removed) {
  post(call_id, [call_id, removed](worker_thread& w) {
    const auto it = w.relayed.find(call_id);
    if (it == w.relayed.end()) return;
    relayed_call& r = *it->second;
    secure_segment& s = r.segment;
    if (s.removed == removed) return;
    s.removed = removed;
    if (!removed && s.caller_g711) {
      // The caller_stream's look-ahead still holds audio from the removed time.
      s.silence_tail = (r.lookahead_ms + s.caller_ptime_ms - 1) / s.caller_ptime_ms;
    } else {
      s.silence_tail = 0;
    }
    // Mixing starts with what arrives from now on.
    s.mix_head = s.mix_size = 0;
    update_masking(r);
    start_playing(w, r);
    log_event(log_level::info, removed ? "agent removed" : "agent restored",
              {{"call-id", call_id}});
  });
}

void media_plane::set_masking(const std::string& call_id, bool on, dsp::mask_mode mode) {
  post(call_id, [call_id, on, mode](worker_thread& w) {
    const auto it = w.relayed.find(call_id);
    if (it == w.relayed.end() || !it->second->caller) return;
    relayed_call& r = *it->second;
    r.caller->set_mask_mode(mode);
    r.masking_wanted = on;
    update_masking(r);
  });
}

}  // namespace toneguard::media
