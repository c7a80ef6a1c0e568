// The secure segment through the media plane, over loopback sockets: prompts played to the
// caller (replacing or mixed with the agent's audio, queued, stopped, paced by the playout
// clock), the agent removed and restored, and the caller's and agent's streams continuous
// across every switch.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/digit_trace.h"
#include "support/loopback.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/media/media_plane.h"
#include "toneguard/media/rtp.h"

namespace toneguard::media {
namespace {

using peer = ::toneguard::testing::udp_peer;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr std::uint8_t pcmu = 0;
constexpr std::uint8_t events_pt = 101;
constexpr std::uint8_t ulaw_silence = 0xFF;

std::vector<std::uint8_t> rtp(std::uint8_t pt, std::uint16_t seq, std::uint32_t ts,
                              std::uint32_t ssrc, std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> p(12);
  p[0] = 0x80;
  p[1] = pt;
  p[2] = static_cast<std::uint8_t>(seq >> 8);
  p[3] = static_cast<std::uint8_t>(seq);
  for (int i = 0; i < 4; ++i) {
    p[static_cast<std::size_t>(4 + i)] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
    p[static_cast<std::size_t>(8 + i)] = static_cast<std::uint8_t>(ssrc >> (24 - 8 * i));
  }
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

std::vector<std::uint8_t> ulaw(std::span<const std::int16_t> pcm) {
  std::vector<std::uint8_t> codes(pcm.size());
  dsp::g711_encode(dsp::g711_law::ulaw, pcm, codes);
  return codes;
}

// One packet as a peer received it.
struct received {
  bool marker = false;
  std::uint8_t pt = 0;
  std::uint16_t seq = 0;
  std::uint32_t ts = 0;
  std::uint32_t ssrc = 0;
  std::vector<std::uint8_t> payload;
  steady_clock::time_point at;
};

// Everything `p` receives for `ms`.
std::vector<received> collect(peer& p, int ms) {
  std::vector<received> out;
  const auto until = steady_clock::now() + milliseconds(ms);
  while (steady_clock::now() < until) {
    const auto left = std::chrono::duration_cast<milliseconds>(until - steady_clock::now()).count();
    const auto got = p.receive(static_cast<int>(std::max<std::int64_t>(left, 1)));
    if (!got) continue;
    const std::span bytes(reinterpret_cast<const std::uint8_t*>(got->data()), got->size());
    const auto parsed = parse_rtp(bytes);
    if (!parsed.ok()) continue;
    const rtp_view& v = parsed.view;
    out.push_back({v.marker, v.payload_type, v.sequence, v.timestamp, v.ssrc,
                   std::vector<std::uint8_t>(v.payload.begin(), v.payload.end()),
                   steady_clock::now()});
  }
  return out;
}

void append(std::vector<received>& to, const std::vector<received>& more) {
  to.insert(to.end(), more.begin(), more.end());
}

bool all_of_code(const received& r, std::uint8_t code) {
  return !r.payload.empty() &&
         std::all_of(r.payload.begin(), r.payload.end(), [&](auto c) { return c == code; });
}

// One stream as its receiver needs it: one SSRC, every sequence number once and in order, and
// timestamps moving on by whole packets (160 samples) and never by more than `max_packets`.
void expect_continuous(const std::vector<received>& stream, int max_packets = 4) {
  ASSERT_FALSE(stream.empty());
  for (std::size_t i = 1; i < stream.size(); ++i) {
    EXPECT_EQ(stream[i].ssrc, stream[0].ssrc) << "packet " << i;
    EXPECT_EQ(static_cast<std::uint16_t>(stream[i].seq - stream[i - 1].seq), 1) << "packet " << i;
    const auto step = static_cast<std::int32_t>(stream[i].ts - stream[i - 1].ts);
    EXPECT_TRUE(step >= 160 && step <= 160 * max_packets && step % 160 == 0)
        << "packet " << i << ": timestamp step " << step;
  }
}

// The prompt outcomes the plane reported, as "7:finished 8:stopped".
class prompt_log {
 public:
  prompt_handler handler() {
    return [this](const std::string&, std::uint64_t id, prompt_outcome outcome) {
      std::lock_guard lock(mutex_);
      if (!text_.empty()) text_ += ' ';
      text_ += std::to_string(id) + ':' +
               (outcome == prompt_outcome::finished  ? "finished"
                : outcome == prompt_outcome::stopped ? "stopped"
                                                     : "failed");
    };
  }
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }
  // Waits up to `ms` for `needle` to be reported.
  bool wait_for(const std::string& needle, int ms = 3000) {
    for (int waited = 0; waited < ms; waited += 5) {
      if (text().find(needle) != std::string::npos) return true;
      ::usleep(5000);
    }
    return false;
  }

 private:
  std::mutex mutex_;
  std::string text_;
};

// An agent that talks: one PCMU packet of `code`s every 20 ms, from its own thread.
class talker {
 public:
  talker(peer& from, std::uint16_t to, std::uint8_t code)
      : thread_([this, &from, to, code] {
          const std::vector<std::uint8_t> audio(160, code);
          for (std::uint16_t n = 0; !stop_; ++n) {
            from.send_to(to, rtp(pcmu, static_cast<std::uint16_t>(1000 + n), 50'000u + 160u * n,
                                 0xA6E17, audio));
            std::this_thread::sleep_for(milliseconds(20));
          }
        }) {}
  ~talker() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct no_keys : digit_sink {
  void on_digit(std::string_view, leg, const digit_event&) override {}
};

// A relayed PCMU call on four consecutive free ports; the caller leg also has
// telephone-events. The plane reports its prompts' outcomes to `prompts`.
struct fixture {
  // Keys go to `keys`, or nowhere when it is null.
  explicit fixture(digit_sink* keys = nullptr)
      : plane(reporting_to(prompts), keys != nullptr ? *keys : ignored_keys) {
    base = static_cast<std::uint16_t>(::toneguard::testing::free_port_range(4));
    c.call_id = "secure-call";
    for (auto [side, local, remote] :
         {std::tuple{&c.caller, base, caller.port()},
          std::tuple{&c.agent, static_cast<std::uint16_t>(base + 2), agent.port()}}) {
      side->local_rtp_port = local;
      side->has_remote = true;
      side->remote_address = network_address::from_string("127.0.0.1").value();
      side->remote_rtp_port = remote;
      side->remote_rtcp_port = remote;
      side->remote_rtcp_mux = true;
      side->rtcp_mux = true;
      side->g711.push_back({pcmu, g711_law::mu_law});
      side->ptime_ms = 20;
    }
    c.caller.telephone_event_pt = events_pt;
  }
  void start() {
    plane.apply(c);
    ::usleep(50'000);  // the worker sets the call up between polls
  }
  std::uint16_t caller_facing() const { return base; }
  std::uint16_t agent_facing() const { return static_cast<std::uint16_t>(base + 2); }

  static media_plane_config reporting_to(prompt_log& log) {
    media_plane_config config;
    config.on_prompt = log.handler();
    return config;
  }

  // Before the plane, which calls them until it stops.
  no_keys ignored_keys;
  prompt_log prompts;
  media_plane plane;
  peer caller, agent;
  std::uint16_t base = 0;
  call c;
};

std::vector<std::int16_t> ramp(std::size_t samples, int step) {
  std::vector<std::int16_t> pcm(samples);
  for (std::size_t i = 0; i < samples; ++i) {
    pcm[i] = static_cast<std::int16_t>((static_cast<int>(i) * step) % 20000 - 10000);
  }
  return pcm;
}

constexpr std::uint8_t agent_code = 0x55;  // what the talking agent sends

TEST(secure_segment, a_prompt_replaces_the_removed_agent_and_the_callers_stream_stays_continuous) {
  fixture f;
  f.start();
  talker agent(f.agent, f.agent_facing(), agent_code);
  std::vector<received> heard = collect(f.caller, 200);
  ASSERT_GE(heard.size(), 5u);
  EXPECT_EQ(heard.front().ssrc, 0xA6E17u) << "relayed as the agent sent it";

  const std::vector<std::int16_t> prompt = ramp(800, 37);  // 100 ms: five packets
  f.plane.set_agent_removed(f.c.call_id, true);
  f.plane.play_to_caller(f.c.call_id, 7, prompt);
  append(heard, collect(f.caller, 400));
  f.plane.set_agent_removed(f.c.call_id, false);
  append(heard, collect(f.caller, 300));

  expect_continuous(heard);
  EXPECT_EQ(heard.front().ssrc, 0xA6E17u);
  // What the caller heard, in order: the agent, silence, the prompt's five packets exactly,
  // silence (removed, nothing to play), the agent again.
  const std::vector<std::uint8_t> codes = ulaw(prompt);
  std::string kinds;
  std::size_t prompt_packets = 0;
  for (const received& r : heard) {
    ASSERT_EQ(r.pt, pcmu);
    ASSERT_EQ(r.payload.size(), 160u);
    char kind = '?';
    if (all_of_code(r, agent_code)) {
      kind = 'A';
    } else if (all_of_code(r, ulaw_silence)) {
      kind = 'S';
    } else if (prompt_packets < 5 &&
               std::equal(r.payload.begin(), r.payload.end(),
                          codes.begin() + static_cast<std::ptrdiff_t>(160 * prompt_packets))) {
      kind = 'P';
      ++prompt_packets;
    }
    if (kinds.empty() || kinds.back() != kind) kinds += kind;
  }
  EXPECT_TRUE(kinds == "APSA" || kinds == "ASPSA") << kinds;
  EXPECT_EQ(prompt_packets, 5u);
  EXPECT_EQ(f.prompts.text(), "7:finished");
  // The first packet after each switch is marked.
  for (std::size_t i = 1; i < heard.size(); ++i) {
    const bool from_agent = all_of_code(heard[i], agent_code);
    if (from_agent != all_of_code(heard[i - 1], agent_code)) {
      EXPECT_TRUE(heard[i].marker) << "packet " << i;
    }
  }
}

TEST(secure_segment, a_prompt_is_mixed_with_the_agent_on_the_line_with_saturation) {
  fixture f;
  f.start();
  const std::uint8_t agent_voice = dsp::g711_encode(dsp::g711_law::ulaw, std::int16_t{4000});
  talker agent(f.agent, f.agent_facing(), agent_voice);
  std::vector<received> heard = collect(f.caller, 200);
  ASSERT_FALSE(heard.empty());

  // 200 ms at 2000, then 200 ms at 31000 (which the agent's 4000 takes over full scale).
  std::vector<std::int16_t> prompt(1600, 2000);
  std::fill(prompt.begin() + 1600 / 2, prompt.end(), std::int16_t{31000});
  f.plane.play_to_caller(f.c.call_id, 1, prompt);
  append(heard, collect(f.caller, 700));
  ASSERT_TRUE(f.prompts.wait_for("1:finished"));

  expect_continuous(heard);
  const std::int16_t agent_level = dsp::g711_decode(dsp::g711_law::ulaw, agent_voice);
  auto code = [](int linear) {
    return dsp::g711_encode(dsp::g711_law::ulaw, static_cast<std::int16_t>(linear));
  };
  std::size_t mixed = 0, prompt_only = 0, saturated = 0, agent_only = 0;
  for (const received& r : heard) {
    for (const std::uint8_t c : r.payload) {
      if (c == agent_voice) {
        ++agent_only;
      } else if (c == code(agent_level + 2000)) {
        ++mixed;
      } else if (c == code(32767)) {
        ++saturated;
      } else if (c == code(2000) || c == code(31000)) {
        ++prompt_only;  // the agent's next packet had not arrived yet
      } else {
        ADD_FAILURE() << "unexpected code " << int{c};
        return;
      }
    }
  }
  // Agent audio missing from a packet now and then (jitter against the playout clock) is
  // fine; most of the prompt has the agent under it.
  EXPECT_EQ(mixed + prompt_only + saturated, 1600u);
  EXPECT_GE(mixed, 400u);
  EXPECT_GE(saturated, 400u);
  EXPECT_GT(agent_only, 0u);
}

TEST(secure_segment, queued_prompts_play_gapless_in_order_and_stop_cuts_the_rest) {
  fixture f;
  f.start();
  f.plane.set_agent_removed(f.c.call_id, true);  // no agent audio: the prompts alone
  const std::vector<std::int16_t> first = ramp(400, 11), second = ramp(8000, 29),
                                  third = ramp(800, 5);
  f.plane.play_to_caller(f.c.call_id, 1, first);
  f.plane.play_to_caller(f.c.call_id, 2, second);
  f.plane.play_to_caller(f.c.call_id, 3, third);
  ASSERT_TRUE(f.prompts.wait_for("1:finished"));
  f.plane.stop_prompt(f.c.call_id, 99);  // not queued: nothing changes
  f.plane.stop_prompt(f.c.call_id, 2);
  ASSERT_TRUE(f.prompts.wait_for("3:stopped"));
  f.plane.play_to_caller(f.c.call_id, 4, ramp(160, 3));
  ASSERT_TRUE(f.prompts.wait_for("4:finished"));
  EXPECT_EQ(f.prompts.text(), "1:finished 2:stopped 3:stopped 4:finished");

  // The first packets: the first prompt and, straight after it in the same packet, the second.
  std::vector<received> heard = collect(f.caller, 100);
  std::vector<std::int16_t> joined = first;
  joined.insert(joined.end(), second.begin(), second.begin() + 80);
  const std::vector<std::uint8_t> codes = ulaw(joined);
  std::size_t start = 0;
  while (start < heard.size() && all_of_code(heard[start], ulaw_silence)) ++start;
  ASSERT_GE(heard.size(), start + 3);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_TRUE(std::equal(heard[start + k].payload.begin(), heard[start + k].payload.end(),
                           codes.begin() + static_cast<std::ptrdiff_t>(160 * k)))
        << "packet " << k;
  }
  expect_continuous(heard);
}

TEST(secure_segment, a_silent_agent_still_gets_the_prompt_played_at_real_time_pace) {
  fixture f;
  f.start();
  // The agent stays on the line but never sends: the playout clock alone paces the prompt.
  const auto started = steady_clock::now();
  f.plane.play_to_caller(f.c.call_id, 5, ramp(8000, 13));  // 1 s: 50 packets
  std::vector<received> heard = collect(f.caller, 300);
  // A third of a second in, about 15 packets have gone out: not all at once, not none.
  EXPECT_GE(heard.size(), 5u);
  EXPECT_LE(heard.size(), 30u);
  append(heard, collect(f.caller, 1700));
  EXPECT_EQ(heard.size(), 50u);
  ASSERT_TRUE(f.prompts.wait_for("5:finished"));
  EXPECT_GE(heard.back().at - started, milliseconds(700));
  expect_continuous(heard, 1);

  // Removed and nothing to play: silence, at the same pace.
  f.plane.set_agent_removed(f.c.call_id, true);
  std::vector<received> silence = collect(f.caller, 500);
  EXPECT_GE(silence.size(), 10u);
  EXPECT_LE(silence.size(), 40u);
  for (const received& r : silence) EXPECT_TRUE(all_of_code(r, ulaw_silence));
  expect_continuous(silence, 1);
  // The same stream after a pause: the next sequence number, the time that passed.
  ASSERT_FALSE(silence.empty());
  EXPECT_EQ(silence.front().ssrc, heard.back().ssrc);
  EXPECT_EQ(static_cast<std::uint16_t>(silence.front().seq - heard.back().seq), 1);
  const auto pause = static_cast<std::int32_t>(silence.front().ts - heard.back().ts);
  EXPECT_EQ(pause % 160, 0);
  EXPECT_GE(pause, 160 * 10) << "at least the time between the collections";
  EXPECT_GE(f.plane.totals().generated, 50u);
}

TEST(secure_segment, the_removed_agent_hears_continuous_silence_and_no_key_then_the_caller) {
  ::toneguard::testing::digit_trace keys;  // read after the plane has stopped
  std::vector<received> heard;
  std::int64_t leaked = -1;
  std::size_t removed_from = 0, restored_from = 0;
  {
    fixture f(&keys);
    f.start();
    std::uint16_t seq = 7000;
    std::uint32_t ts = 90'000;
    auto say = [&](const std::vector<std::int16_t>& pcm) {
      const std::vector<std::uint8_t> codes = ulaw(pcm);
      for (std::size_t at = 0; at + 160 <= codes.size(); at += 160) {
        f.caller.send_to(f.caller_facing(),
                         rtp(pcmu, seq++, ts, 0xCA11E4, std::span(codes).subspan(at, 160)));
        ts += 160;
        ::usleep(2000);
      }
    };
    auto voice = [](double ms) {
      dsp::signal_builder b;
      b.tone(440, ms, -15);
      return b.pcm16();
    };
    say(voice(200));
    append(heard, collect(f.agent, 100));
    removed_from = heard.size();

    f.plane.set_agent_removed(f.c.call_id, true);
    ::usleep(50'000);
    say(voice(200));
    dsp::signal_builder in_band;
    in_band.dtmf('5', 100, {-8.0f}).silence(60);
    say(in_band.pcm16());
    say(voice(100));
    // '9' as RFC 4733: the caller stops its audio during the event.
    const std::uint32_t event_ts = ts;
    for (int k = 1; k <= 6; ++k) {
      const bool end = k >= 4;
      const auto duration = static_cast<std::uint16_t>(std::min(k, 4) * 160);
      const std::uint8_t event[4] = {9, static_cast<std::uint8_t>(end ? 0x80 | 10 : 10),
                                     static_cast<std::uint8_t>(duration >> 8),
                                     static_cast<std::uint8_t>(duration)};
      f.caller.send_to(f.caller_facing(), rtp(events_pt, seq++, event_ts, 0xCA11E4, event));
      ::usleep(2000);
    }
    ts += 6 * 160;  // the time the event's packets took
    say(voice(200));
    append(heard, collect(f.agent, 100));
    restored_from = heard.size();

    f.plane.set_agent_removed(f.c.call_id, false);
    ::usleep(50'000);
    say(voice(200));
    append(heard, collect(f.agent, 100));
    leaked = f.plane.totals().leaked_samples;
  }
  // The event's two repeated ends carry no new time: withheld, they leave one timestamp step of
  // three packets (sequence numbers stay continuous).
  expect_continuous(heard, 3);
  ASSERT_GT(restored_from, removed_from);
  ASSERT_GT(heard.size(), restored_from + 2);
  for (std::size_t i = 0; i < heard.size(); ++i) EXPECT_EQ(heard[i].pt, pcmu) << "packet " << i;
  // Before: the caller's voice. Removed: every packet silence, keys and all. Restored: the
  // look-ahead's packet from the removed time is silence too, then the caller's voice.
  EXPECT_FALSE(all_of_code(heard[removed_from - 1], ulaw_silence));
  for (std::size_t i = removed_from; i < restored_from; ++i) {
    EXPECT_TRUE(all_of_code(heard[i], ulaw_silence)) << "packet " << i;
  }
  EXPECT_TRUE(all_of_code(heard[restored_from], ulaw_silence));
  for (std::size_t i = restored_from + 1; i < heard.size(); ++i) {
    EXPECT_FALSE(all_of_code(heard[i], ulaw_silence)) << "packet " << i;
  }
  EXPECT_EQ(leaked, 0);
  // The keys still reach the dialog.
  EXPECT_EQ(keys.trace(), "5+5-9+9-");
}

TEST(secure_segment, set_masking_masks_the_callers_keys_toward_the_agent) {
  fixture f;
  f.start();
  f.plane.set_masking(f.c.call_id, true, dsp::mask_mode::silence);
  ::usleep(50'000);
  const std::uint8_t event[4] = {3, 10, 0, 160};
  f.caller.send_to(f.caller_facing(), rtp(events_pt, 1, 8000, 0xCA11E4, event));
  const std::vector<received> heard = collect(f.agent, 200);
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0].pt, pcmu) << "the key went out as (masked) audio";
}

TEST(secure_segment, prompts_fail_without_g711_toward_the_caller_or_without_the_call) {
  fixture f;
  f.c.caller.g711.clear();
  f.c.agent.g711.clear();
  f.start();
  f.plane.play_to_caller(f.c.call_id, 1, ramp(160, 1));
  f.plane.play_to_caller("no-such-call", 2, ramp(160, 1));
  ASSERT_TRUE(f.prompts.wait_for("1:failed"));
  ASSERT_TRUE(f.prompts.wait_for("2:failed"));
}

}  // namespace
}  // namespace toneguard::media
