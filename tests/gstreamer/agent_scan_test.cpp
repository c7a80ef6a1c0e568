// The leak scanner the integration tests trust (tests/support/agent_scan.h), proved on the
// real masker's output: a 1 ms fragment of any key at -20 dBm0 planted inside a masked key is
// found in every masking kind (silence, the flat 500 Hz tone, comfort noise), and the clean
// masked output is never flagged.

#include "support/agent_scan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "toneguard/dsp/dtmf.h"
#include "toneguard/dsp/dtmf_leak_scan.h"
#include "toneguard/dsp/dtmf_masker.h"
#include "toneguard/dsp/dtmf_receiver.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/levels.h"
#include "toneguard/dsp/signal_builder.h"

namespace {

using toneguard::testing::key_interval;
using toneguard::testing::scan_key_windows;
namespace dsp = toneguard::dsp;

constexpr double pi = 3.14159265358979323846;

// Every key once, over a 440 Hz background with line noise, μ-law coded, through the
// receiver and the masker in `mode` 20 ms at a time (as the proxy runs them), decoded.
struct masked_call {
  std::vector<float> caller;
  std::vector<float> agent;
  std::vector<key_interval> keys;
  std::int64_t delay = 0;
  std::int64_t leaked = 0;
};

masked_call run_masker(dsp::mask_mode mode) {
  dsp::signal_builder b;
  masked_call call;
  for (char key : dsp::dtmf_all_keys) {
    b.tone(440, 60, -20);
    const auto begin = static_cast<std::int64_t>(b.size());
    b.dtmf(key, 70, {-10.0f});
    call.keys.push_back({key, begin, static_cast<std::int64_t>(b.size())});
  }
  b.tone(440, 100, -20).add_white_noise(-50, 7);
  const auto pcm = b.pcm16();
  std::vector<std::uint8_t> codes(pcm.size()), out(pcm.size());
  dsp::g711_encode(dsp::g711_law::ulaw, pcm, codes);
  dsp::dtmf_masker_config config;
  config.mode = mode;
  dsp::dtmf_receiver receiver;
  dsp::dtmf_masker masker(config);
  for (std::size_t i = 0; i < codes.size(); i += 160) {
    const std::size_t n = std::min<std::size_t>(160, codes.size() - i);
    receiver.process_g711(std::span(codes).subspan(i, n), false, masker);
    masker.process_g711(std::span(codes).subspan(i, n), std::span(out).subspan(i, n), false);
  }
  call.caller.resize(codes.size());
  call.agent.resize(out.size());
  dsp::g711_decode(dsp::g711_law::ulaw, codes, call.caller);
  dsp::g711_decode(dsp::g711_law::ulaw, out, call.agent);
  call.delay = masker.lookahead_samples();
  call.leaked = masker.leaked_samples();
  return call;
}

// `audio` with `samples` of `key` at `level_dbm0` per tone added at `at`, through μ-law again.
std::vector<float> with_fragment(const std::vector<float>& audio, char key, std::int64_t at,
                                 int samples, float level_dbm0, double phase_row,
                                 double phase_column) {
  const auto tones = *dsp::dtmf_tones(key);
  const double peak = dsp::dbm0_to_peak(level_dbm0);
  std::vector<float> out = audio;
  for (int i = 0; i < samples; ++i) {
    const double t = static_cast<double>(i) / 8000.0;
    out[static_cast<std::size_t>(at + i)] +=
        static_cast<float>(peak * (std::sin(2 * pi * tones.row_hz * t + phase_row) +
                                   std::sin(2 * pi * tones.column_hz * t + phase_column)));
  }
  std::vector<std::int16_t> pcm(out.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    pcm[i] = static_cast<std::int16_t>(std::clamp(std::lround(out[i]), -32768L, 32767L));
  }
  std::vector<std::uint8_t> codes(pcm.size());
  dsp::g711_encode(dsp::g711_law::ulaw, pcm, codes);
  dsp::g711_decode(dsp::g711_law::ulaw, codes, out);
  return out;
}

const char* mode_name(dsp::mask_mode mode) {
  return mode == dsp::mask_mode::silence     ? "silence"
         : mode == dsp::mask_mode::flat_tone ? "flat 500 Hz tone"
                                             : "comfort noise";
}

constexpr dsp::mask_mode all_modes[] = {dsp::mask_mode::silence, dsp::mask_mode::flat_tone,
                                        dsp::mask_mode::comfort_noise};

TEST(agent_scan, clean_masked_output_is_never_flagged_in_any_masking_kind) {
  for (const auto mode : all_modes) {
    const auto call = run_masker(mode);
    ASSERT_EQ(call.leaked, 0) << mode_name(mode);
    toneguard::testing::key_window_scan_config every_sample;
    every_sample.step_samples = 1;
    const auto hits = scan_key_windows(call.agent, call.keys, call.delay, every_sample);
    EXPECT_TRUE(hits.empty()) << mode_name(mode) << ": " << toneguard::testing::describe(hits);
    // With a margin: the weaker tone of the best-fitting pair in any masked window stays at
    // least 10 dB under the level threshold.
    float loudest = -200.0f;
    for (const auto& k : call.keys) {
      for (std::int64_t at = k.begin + call.delay; at + 16 <= k.end + call.delay; ++at) {
        const auto f = toneguard::testing::fit_key_pair(
            std::span(call.agent).subspan(static_cast<std::size_t>(at), 16), k.key,
            every_sample.masking_tones_hz);
        loudest = std::max(loudest, std::min(f.row_level_dbm0, f.column_level_dbm0));
      }
    }
    EXPECT_LT(loudest, every_sample.min_tone_level_dbm0 - 10.0f) << mode_name(mode);
    std::printf(
        "[ measured ] %s: weaker tone of any key's pair in masked output at most %.1f dBm0\n",
        mode_name(mode), loudest);
    // The library's scanner with 2 ms windows agrees, over each masked key.
    for (const auto& k : call.keys) {
      dsp::dtmf_leak_scan_config two_ms;
      two_ms.window_samples = 16;
      two_ms.hop_samples = 2;
      const auto inside = std::span(call.agent)
                              .subspan(static_cast<std::size_t>(k.begin + call.delay),
                                       static_cast<std::size_t>(k.end - k.begin));
      EXPECT_TRUE(dsp::scan_for_dtmf_leaks(inside, two_ms).empty())
          << mode_name(mode) << " key " << k.key;
    }
    EXPECT_EQ(toneguard::testing::spandsp_digits(call.agent), "") << mode_name(mode);
  }
}

TEST(agent_scan, the_unmasked_keys_light_up_every_window) {
  const auto call = run_masker(dsp::mask_mode::silence);
  // The caller's own audio, scanned as if it had reached the agent undelayed.
  const auto hits = scan_key_windows(call.caller, call.keys, 0);
  std::int64_t windows = 0;
  for (const auto& k : call.keys) windows += (k.end - k.begin - 16) / 2 + 1;
  EXPECT_GE(static_cast<std::int64_t>(hits.size()), windows * 95 / 100);
  EXPECT_EQ(toneguard::testing::spandsp_digits(call.caller), "0123456789*#ABCD");
}

TEST(agent_scan, finds_a_1_ms_fragment_of_any_key_at_minus_20_dbm0_in_every_masking_kind) {
  std::mt19937 rng(20);
  std::uniform_real_distribution<double> phase(0.0, 2 * pi);
  float weakest = 0.0f;  // over all plants: the weaker tone of the best window that fired
  for (const auto mode : all_modes) {
    const auto call = run_masker(mode);
    for (const auto& k : call.keys) {
      const std::int64_t first = k.begin + call.delay;
      const std::int64_t last = k.end + call.delay - 8;
      // At the first sample of the key's interval, in its middle, at its last 1 ms, and at
      // random places.
      std::vector<std::int64_t> places{first, (first + last) / 2, last};
      std::uniform_int_distribution<std::int64_t> anywhere(first, last);
      for (int i = 0; i < 8; ++i) places.push_back(anywhere(rng));
      for (const auto at : places) {
        const auto planted =
            with_fragment(call.agent, k.key, at, 8, -20.0f, phase(rng), phase(rng));
        const key_interval only[] = {k};
        const auto hits = scan_key_windows(planted, only, call.delay);
        float strongest = -200.0f;
        for (const auto& h : hits) {
          strongest = std::max(strongest, std::min(h.row_level_dbm0, h.column_level_dbm0));
        }
        if (!hits.empty()) weakest = std::min(weakest, strongest);
        EXPECT_FALSE(hits.empty()) << mode_name(mode) << " key " << k.key << " at " << at;
        for (const auto& h : hits) {
          EXPECT_LT(std::abs(h.position - at), 16) << mode_name(mode) << " key " << k.key;
        }
      }
    }
  }
  std::printf(
      "[ measured ] planted 1 ms fragments at -20 dBm0: every one found; the weakest "
      "best window's weaker tone at %.1f dBm0\n",
      weakest);
}

TEST(agent_scan, finds_the_delay_of_a_masked_stream_and_its_untouched_audio) {
  const auto call = run_masker(dsp::mask_mode::flat_tone);
  const auto d = toneguard::testing::find_delay(call.caller, call.agent, 800, call.keys);
  EXPECT_EQ(d.lag, call.delay);
  EXPECT_GT(d.correlation, 0.999);
  // Outside the keys (plus guard and hangover) the agent has the caller's samples exactly.
  const auto same = toneguard::testing::differing_samples_outside_keys(call.caller, call.agent,
                                                                       call.delay, call.keys, 80);
  EXPECT_GT(same.compared, 5000);
  EXPECT_EQ(same.differing, 0);
  EXPECT_GT(toneguard::testing::correlation_outside_keys(call.caller, call.agent, call.delay,
                                                         call.keys, 80),
            0.9999);
}

}  // namespace
