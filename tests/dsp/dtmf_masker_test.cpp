// The masker: zero leak toward the agent at the default look-ahead, checked both by its own
// count and by an attacker's scan of the output; speech passes untouched.

#include "toneguard/dsp/dtmf_masker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "toneguard/dsp/dtmf.h"
#include "toneguard/dsp/dtmf_leak_scan.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/levels.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/dsp/wav.h"

namespace toneguard::dsp {
namespace {

struct masked_run {
  std::vector<float> out;
  std::int64_t leaked;
  std::int64_t masked;
};

// Receiver then masker over the same audio, `frame` samples at a time, as the proxy will.
masked_run mask(const std::vector<float>& audio, std::size_t frame,
                const dtmf_masker_config& config = {}) {
  dtmf_receiver receiver;
  dtmf_masker masker(config);
  masked_run run{std::vector<float>(audio.size()), 0, 0};
  for (std::size_t i = 0; i < audio.size(); i += frame) {
    const std::size_t n = std::min(frame, audio.size() - i);
    receiver.process(std::span(audio).subspan(i, n), masker);
    masker.process(std::span(audio).subspan(i, n), std::span(run.out).subspan(i, n));
  }
  run.leaked = masker.leaked_samples();
  run.masked = masker.masked_samples();
  return run;
}

// Keys with random level, twist, frequency error, length and alignment, in line noise.
std::vector<float> random_keys(std::uint32_t seed, char key, float noise_dbm0 = -45.0f) {
  std::mt19937 rng(seed);
  auto u = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  signal_builder b;
  b.silence(30 + u(0, 20));
  b.dtmf(key, u(40, 120),
         {static_cast<float>(-u(3, 25)), static_cast<float>(u(-4, 8)),
          static_cast<float>(u(-0.015, 0.015)), static_cast<float>(u(-0.015, 0.015))})
      .silence(u(40, 80))
      .dtmf(key, u(40, 80), {-10.0f})
      .silence(100);
  b.add_white_noise(noise_dbm0, seed);
  return b.audio();
}

TEST(dtmf_masker, masks_every_key_with_zero_leak_at_the_default_lookahead) {
  for (char key : dtmf_all_keys) {
    for (std::uint32_t seed = 0; seed < 6; ++seed) {
      const auto audio = random_keys(seed * 97 + static_cast<std::uint32_t>(key), key);
      // 20 ms RTP frames, and the worst case: one sample at a time (no frame to look into).
      for (std::size_t frame : {160u, 1u}) {
        const auto run = mask(audio, frame);
        EXPECT_EQ(run.leaked, 0) << key << " seed " << seed << " frame " << frame;
        const auto leaks = scan_for_dtmf_leaks(run.out);
        EXPECT_TRUE(leaks.empty())
            << key << " seed " << seed << " frame " << frame << ": " << leaks.size()
            << " leaks, first at " << (leaks.empty() ? 0 : leaks[0].position);
        EXPECT_GT(run.masked, 0);
      }
    }
  }
}

TEST(dtmf_masker, zero_leak_holds_in_noise_at_12_db_snr) {
  for (char key : std::string("159#")) {
    for (std::uint32_t seed = 0; seed < 4; ++seed) {
      // Tones at -10 dBm0 (-7 dBm0 together), noise 12 dB below.
      signal_builder b;
      b.silence(37.0 + seed).dtmf(key, 60, {-10.0f}).silence(100);
      b.add_white_noise(-19.0f, seed);
      const auto run = mask(b.audio(), 1);
      EXPECT_EQ(run.leaked, 0) << key << " seed " << seed;
    }
  }
}

TEST(dtmf_masker, a_lookahead_too_short_leaks_and_both_checks_see_it) {
  dtmf_masker_config config;
  config.lookahead_ms = 0;
  std::int64_t leaked = 0;
  std::size_t scanned = 0;
  for (char key : std::string("0123456789")) {
    const auto run = mask(random_keys(7, key), 1, config);
    leaked += run.leaked;
    scanned += scan_for_dtmf_leaks(run.out).size();
  }
  EXPECT_GT(leaked, 0);
  EXPECT_GT(scanned, 0u);
}

TEST(dtmf_masker, a_10_ms_break_inside_a_key_leaks_nothing) {
  signal_builder b;
  b.silence(33).dtmf('6', 50, {-8.0f}).silence(10).dtmf('6', 50, {-8.0f}).silence(120);
  const auto run = mask(b.audio(), 160);
  EXPECT_EQ(run.leaked, 0);
  EXPECT_TRUE(scan_for_dtmf_leaks(run.out).empty());
}

TEST(dtmf_masker, a_key_held_for_two_seconds_is_masked_throughout) {
  signal_builder b;
  b.silence(21).dtmf('D', 2000, {-6.0f}).silence(100);
  const auto run = mask(b.audio(), 160);
  EXPECT_EQ(run.leaked, 0);
  EXPECT_TRUE(scan_for_dtmf_leaks(run.out).empty());
  EXPECT_GE(run.masked, 2000 * 8);
}

TEST(dtmf_masker, output_is_the_input_delayed_where_nothing_is_masked) {
  signal_builder b;
  b.tone(440, 300, -15).add_white_noise(-40, 3);  // no DTMF: nothing may change
  const auto& in = b.audio();
  dtmf_masker_config config;
  const auto run = mask(in, 160, config);
  ASSERT_EQ(run.masked, 0);
  const std::size_t delay = static_cast<std::size_t>(config.lookahead_ms) * 8;
  for (std::size_t i = 0; i < delay; ++i) ASSERT_EQ(run.out[i], 0.0f) << i;
  for (std::size_t i = delay; i < in.size(); ++i) ASSERT_EQ(run.out[i], in[i - delay]) << i;
}

TEST(dtmf_masker, each_mode_replaces_the_key_with_what_it_says) {
  signal_builder b;
  b.silence(50).dtmf('3', 200, {-6.0f}).silence(150);
  const std::size_t delay = 15 * 8;
  // The middle of the key in the output: 100 ms after its onset, 50 ms long.
  const std::size_t from = b.samples_for_ms(150) + delay, to = from + b.samples_for_ms(50);
  auto power_between = [&](const std::vector<float>& x) {
    double sum = 0;
    for (std::size_t i = from; i < to; ++i) sum += double(x[i]) * x[i];
    return power_to_dbm0(static_cast<float>(sum / static_cast<double>(to - from)));
  };
  for (mask_mode mode : {mask_mode::silence, mask_mode::flat_tone, mask_mode::comfort_noise}) {
    dtmf_masker_config config;
    config.mode = mode;
    const auto run = mask(b.audio(), 160, config);
    EXPECT_EQ(run.leaked, 0);
    EXPECT_TRUE(scan_for_dtmf_leaks(run.out).empty());
    dtmf_receiver check;
    struct count : dtmf_listener {
      int digits = 0;
      void on_dtmf(const dtmf_event& e) override {
        digits += e.what == dtmf_event::kind::digit_start;
      }
    } digits;
    check.process(run.out, digits);
    check.flush(digits);
    EXPECT_EQ(digits.digits, 0) << "a key is heard in the masked output";
    switch (mode) {
      case mask_mode::silence:
        EXPECT_TRUE(std::all_of(run.out.begin() + static_cast<long>(from),
                                run.out.begin() + static_cast<long>(to),
                                [](float v) { return v == 0.0f; }));
        break;
      case mask_mode::flat_tone:
        EXPECT_NEAR(power_between(run.out), config.tone_level_dbm0, 0.2);
        break;
      case mask_mode::comfort_noise:
        EXPECT_NEAR(power_between(run.out), config.noise_level_dbm0, 1.0);
        break;
    }
  }
}

TEST(dtmf_masker, speech_is_masked_for_at_most_a_fraction_of_a_percent) {
  // Every English prompt: whatever the early warnings mask without a key is lost speech.
  std::int64_t samples = 0, masked = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(TONEGUARD_SOUNDS_DIR)) {
    if (entry.path().extension() != ".wav") continue;
    auto wav = read_wav_file(entry.path().string());
    if (!wav.ok() || wav.audio().sample_rate_hz != 8000) continue;
    std::vector<float> audio(wav.audio().samples.begin(), wav.audio().samples.end());
    const auto run = mask(audio, 160);
    samples += static_cast<std::int64_t>(audio.size());
    masked += run.masked;
  }
  ASSERT_GT(samples, 8000 * 60 * 20);
  EXPECT_LT(static_cast<double>(masked) / static_cast<double>(samples), 0.002)
      << masked / 8 << " ms masked of " << samples / 8000 << " s";
}

TEST(dtmf_masker, rejects_bad_configuration_naming_the_field) {
  dtmf_masker_config c;
  c.lookahead_ms = 500;
  ASSERT_TRUE(validate(c).has_value());
  EXPECT_NE(validate(c)->find("lookahead_ms"), std::string::npos);
  EXPECT_THROW(dtmf_masker{c}, std::invalid_argument);
  c = {};
  c.tone_hz = 5000;
  EXPECT_NE(validate(c)->find("tone_hz"), std::string::npos);
  EXPECT_FALSE(validate(dtmf_masker_config{}).has_value());
}

}  // namespace
}  // namespace toneguard::dsp

namespace toneguard::dsp {
namespace {

TEST(dtmf_masker, g711_codes_pass_bit_exact_and_keys_are_masked_with_zero_leak) {
  for (bool alaw : {false, true}) {
    const g711_law law = alaw ? g711_law::alaw : g711_law::ulaw;
    signal_builder b;
    b.tone(440, 100, -15).dtmf('8', 70, {-9.0f}).tone(440, 200, -15).add_white_noise(-45, 9);
    const auto pcm = b.pcm16();
    std::vector<std::uint8_t> codes(pcm.size()), out(pcm.size());
    g711_encode(law, pcm, codes);
    dtmf_receiver receiver;
    dtmf_masker masker;
    for (std::size_t i = 0; i < codes.size(); i += 160) {
      const std::size_t n = std::min<std::size_t>(160, codes.size() - i);
      receiver.process_g711(std::span(codes).subspan(i, n), alaw, masker);
      masker.process_g711(std::span(codes).subspan(i, n), std::span(out).subspan(i, n), alaw);
    }
    EXPECT_EQ(masker.leaked_samples(), 0);
    EXPECT_GT(masker.masked_samples(), 70 * 8);
    const std::size_t delay = static_cast<std::size_t>(masker.lookahead_samples());
    // Before the lookahead fills: silence codes; outside the masked key: the input, delayed.
    EXPECT_EQ(out[0], g711_encode(law, std::int16_t{0}));
    for (std::size_t i = delay; i < delay + 90 * 8; ++i) ASSERT_EQ(out[i], codes[i - delay]) << i;
    std::vector<float> decoded(out.size());
    g711_decode(law, out, decoded);
    EXPECT_TRUE(scan_for_dtmf_leaks(decoded).empty()) << (alaw ? "A-law" : "mu-law");
  }
}

// A G.711-only masker (no float delay line, as each call's stream has) gives the same codes as
// one with both lines, also across a change of look-ahead.
TEST(dtmf_masker, a_g711_only_masker_gives_the_same_codes) {
  signal_builder b;
  b.tone(440, 100, -15).dtmf('5', 80, {-9.0f}).tone(440, 300, -15).dtmf('#', 60, {-12.0f});
  b.tone(440, 200, -15).add_white_noise(-45, 3);
  const auto pcm = b.pcm16();
  std::vector<std::uint8_t> codes(pcm.size()), both(pcm.size()), only(pcm.size());
  g711_encode(g711_law::ulaw, pcm, codes);
  dtmf_masker_config lean;
  lean.g711_only = true;
  dtmf_receiver receiver;
  dtmf_masker with_both, g711_only(lean);
  struct fan_out final : dtmf_listener {
    void on_dtmf(const dtmf_event& e) override {
      a->on_dtmf(e);
      b->on_dtmf(e);
    }
    dtmf_masker* a;
    dtmf_masker* b;
  } listeners;
  listeners.a = &with_both;
  listeners.b = &g711_only;
  for (std::size_t i = 0; i < codes.size(); i += 160) {
    if (i == 160 * 20) {
      with_both.set_lookahead(40);
      g711_only.set_lookahead(40);
    }
    const std::size_t n = std::min<std::size_t>(160, codes.size() - i);
    receiver.process_g711(std::span(codes).subspan(i, n), false, listeners);
    with_both.process_g711(std::span(codes).subspan(i, n), std::span(both).subspan(i, n), false);
    g711_only.process_g711(std::span(codes).subspan(i, n), std::span(only).subspan(i, n), false);
  }
  EXPECT_GT(g711_only.masked_samples(), 100 * 8);
  EXPECT_EQ(g711_only.masked_samples(), with_both.masked_samples());
  EXPECT_EQ(g711_only.leaked_samples(), 0);
  EXPECT_EQ(only, both);
}

// A delay buffer changed mid-stream: longer puts silence in for the difference, shorter
// skips the oldest delayed samples; either way the output then lags by the new look-ahead,
// and keys after the change are masked with zero leak.
TEST(dtmf_masker, the_lookahead_can_change_mid_stream_without_leaking) {
  signal_builder b;
  b.tone(440, 300, -20).dtmf('8', 80, {-8.0f}).tone(440, 300, -20).dtmf('1', 80, {-8.0f});
  b.tone(440, 300, -20);
  const std::vector<float> audio = b.audio();
  for (const int to_ms : {30, 10}) {
    dtmf_receiver receiver;
    dtmf_masker masker;  // 15 ms
    std::vector<float> out(audio.size());
    for (std::size_t i = 0; i < audio.size(); i += 160) {
      if (i == 1600) masker.set_lookahead(to_ms);  // 200 ms in, before the first key
      const std::size_t n = std::min<std::size_t>(160, audio.size() - i);
      receiver.process(std::span(audio).subspan(i, n), masker);
      masker.process(std::span(audio).subspan(i, n), std::span(out).subspan(i, n));
    }
    EXPECT_EQ(masker.lookahead_samples(), to_ms * 8);
    EXPECT_EQ(masker.leaked_samples(), 0) << to_ms;
    EXPECT_TRUE(scan_for_dtmf_leaks(out).empty()) << to_ms;
    // After the change, the 440 Hz stretch before the first key is the input delayed by
    // exactly the new look-ahead.
    const std::size_t d = static_cast<std::size_t>(to_ms) * 8;
    for (std::size_t i = 1760; i < 2300; ++i) ASSERT_EQ(out[i], audio[i - d]) << to_ms << " " << i;
    if (to_ms == 30) {
      // Growing by 15 ms put 120 samples of silence in at the change.
      for (std::size_t i = 1600; i < 1720; ++i) EXPECT_EQ(out[i], 0.0f) << i;
    }
  }
}

}  // namespace
}  // namespace toneguard::dsp
