// The DTMF receiver against the requirement table of references.md: one test per row,
// named after it, on generated signals with fixed seeds. Talk-off on real recordings is in
// dtmf_talkoff_test.cpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "dtmf_test_support.h"
#include "toneguard/dsp/dtmf.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/signal_builder.h"

namespace toneguard::dsp {
namespace {

using testing::receive;

// One key in silence, starting at a seed-dependent offset so that the tone falls at every
// position relative to the receiver's 5 ms blocks. Returns the onset in samples.
std::size_t one_key(signal_builder& b, char key, double ms, const dtmf_tone_spec& spec,
                    std::uint32_t seed) {
  std::mt19937 rng(seed);
  b.silence(20.0 + std::uniform_real_distribution<double>(0.0, 10.0)(rng));
  const std::size_t onset = b.size();
  b.dtmf(key, ms, spec).silence(80);
  return onset;
}

// Every key, several alignments: the receiver must report exactly that key once.
void expect_every_key_detected(double ms, const dtmf_tone_spec& spec, float noise_dbm0 = -200.0f) {
  for (char key : dtmf_all_keys) {
    for (std::uint32_t seed = 0; seed < 4; ++seed) {
      signal_builder b;
      one_key(b, key, ms, spec, seed * 31 + static_cast<std::uint32_t>(key));
      if (noise_dbm0 > -100.0f)
        b.add_white_noise(noise_dbm0, seed + 1000u * static_cast<std::uint32_t>(key));
      EXPECT_EQ(receive(b.audio()).keys(), std::string(1, key))
          << "key " << key << " seed " << seed << " level " << spec.level_dbm0 << " twist "
          << spec.twist_db << " dev " << spec.row_deviation << "/" << spec.column_deviation;
    }
  }
}

void expect_every_key_rejected(double ms, const dtmf_tone_spec& spec) {
  for (char key : dtmf_all_keys) {
    for (std::uint32_t seed = 0; seed < 4; ++seed) {
      signal_builder b;
      one_key(b, key, ms, spec, seed * 31 + static_cast<std::uint32_t>(key));
      EXPECT_EQ(receive(b.audio()).keys(), "")
          << "key " << key << " seed " << seed << " ms " << ms << " dev " << spec.row_deviation
          << "/" << spec.column_deviation;
    }
  }
}

TEST(dtmf_receiver, detects_every_key_at_0_to_minus_25_dbm0_per_tone) {
  for (float level : {0.0f, -5.0f, -10.0f, -15.0f, -20.0f, -25.0f})
    expect_every_key_detected(50, {level});
}

TEST(dtmf_receiver, detects_with_1_5_percent_deviation_on_either_or_both_tones) {
  for (float dr : {-0.015f, 0.0f, 0.015f}) {
    for (float dc : {-0.015f, 0.0f, 0.015f}) expect_every_key_detected(50, {-10.0f, 0.0f, dr, dc});
  }
}

TEST(dtmf_receiver, detects_with_low_group_8_db_stronger) {
  expect_every_key_detected(50, {-10.0f, 8.0f});
  expect_every_key_detected(50, {-10.0f, 8.0f, 0.015f, -0.015f});
}

TEST(dtmf_receiver, detects_with_high_group_4_db_stronger) {
  expect_every_key_detected(50, {-10.0f, -4.0f});
  expect_every_key_detected(50, {-10.0f, -4.0f, -0.015f, 0.015f});
}

TEST(dtmf_receiver, detects_40_ms_on_40_ms_off_sequence_of_all_keys) {
  for (std::uint32_t seed = 0; seed < 4; ++seed) {
    signal_builder b;
    b.silence(13.0 * seed + 5.0);
    std::string sent;
    for (char key : dtmf_all_keys) {
      b.dtmf(key, 40, {-10.0f}).silence(40);
      sent += key;
    }
    b.silence(60);
    EXPECT_EQ(receive(b.audio()).keys(), sent) << "seed " << seed;
  }
}

TEST(dtmf_receiver, detects_in_white_noise_at_12_db_snr) {
  // Each tone at -10 dBm0 makes -7 dBm0 of signal; noise 12 dB below that.
  expect_every_key_detected(50, {-10.0f}, -19.0f);
  expect_every_key_detected(50, {-20.0f}, -29.0f);
}

TEST(dtmf_receiver, rejects_a_tone_off_by_3_5_percent) {
  for (float d : {-0.035f, 0.035f}) {
    expect_every_key_rejected(60, {-10.0f, 0.0f, d, 0.0f});
    expect_every_key_rejected(60, {-10.0f, 0.0f, 0.0f, d});
  }
}

TEST(dtmf_receiver, rejects_tones_shorter_than_20_ms) {
  for (double ms : {10.0, 15.0, 19.0}) expect_every_key_rejected(ms, {-10.0f});
}

TEST(dtmf_receiver, rejects_22_ms_tones_as_att_asks) {
  expect_every_key_rejected(22, {-10.0f});
}

TEST(dtmf_receiver, rejects_single_tones) {
  for (float f : {697.0f, 770.0f, 852.0f, 941.0f, 1209.0f, 1336.0f, 1477.0f, 1633.0f}) {
    for (float level : {0.0f, -10.0f, -25.0f}) {
      signal_builder b;
      b.silence(20).tone(f, 200, level).silence(50);
      EXPECT_EQ(receive(b.audio()).keys(), "") << f << " Hz at " << level << " dBm0";
    }
  }
}

TEST(dtmf_receiver, rejects_tones_at_or_below_minus_55_dbm0) {
  expect_every_key_rejected(60, {-55.0f});
}

TEST(dtmf_receiver, ten_ms_interruption_inside_a_digit_does_not_split_it) {
  for (int offset = 0; offset < 40; offset += 3) {
    signal_builder b;
    b.silence(20)
        .dtmf('5', 45.0 + offset * 0.125, {-10.0f})
        .silence(10)
        .dtmf('5', 60, {-10.0f})
        .silence(60);
    EXPECT_EQ(receive(b.audio()).keys(), "5") << "offset " << offset;
  }
}

TEST(dtmf_receiver, forty_ms_pause_splits_digits) {
  for (int offset = 0; offset < 40; offset += 3) {
    signal_builder b;
    b.silence(20)
        .dtmf('5', 45.0 + offset * 0.125, {-10.0f})
        .silence(40)
        .dtmf('5', 45, {-10.0f})
        .silence(60);
    EXPECT_EQ(receive(b.audio()).keys(), "55") << "offset " << offset;
  }
}

TEST(dtmf_receiver, reports_within_40_ms_of_onset_median_and_estimates_onset_within_5_ms) {
  std::vector<double> latency_ms;
  for (char key : dtmf_all_keys) {
    for (std::uint32_t seed = 0; seed < 8; ++seed) {
      signal_builder b;
      const auto onset = static_cast<std::int64_t>(one_key(b, key, 60, {-10.0f}, seed * 7 + 3));
      const auto tones = dtmf_tones(key);
      const std::size_t end = static_cast<std::size_t>(onset) + b.samples_for_ms(60);
      const auto log = receive(b.audio());
      ASSERT_EQ(log.digits.size(), 1u) << key;
      const auto& d = log.digits.front();
      EXPECT_NEAR(static_cast<double>(d.onset - onset) / 8.0, 0.0, 5.0) << key << " seed " << seed;
      EXPECT_NEAR(static_cast<double>(d.end - static_cast<std::int64_t>(end)) / 8.0, 0.0, 5.0)
          << key;
      latency_ms.push_back(static_cast<double>(d.detected - onset) / 8.0);
      (void)tones;
    }
  }
  std::sort(latency_ms.begin(), latency_ms.end());
  EXPECT_LE(latency_ms[latency_ms.size() / 2], 40.0);
}

TEST(dtmf_receiver, signals_tone_suspected_with_onset_before_the_digit) {
  signal_builder b;
  const auto onset = static_cast<std::int64_t>(one_key(b, '7', 60, {-10.0f}, 11));
  const auto log = receive(b.audio());
  ASSERT_EQ(log.keys(), "7");
  const auto first = log.events.front();
  EXPECT_EQ(first.what, dtmf_event::kind::tone_suspected);
  EXPECT_EQ(first.key, '7');
  EXPECT_NEAR(static_cast<double>(first.onset_sample - onset) / 8.0, 0.0, 5.0);
  // The early warning comes from short windows: within 12 ms of the onset, long before the digit.
  EXPECT_LE(first.at_sample - onset, 12 * 8);
  EXPECT_LT(first.at_sample, log.digits.front().detected);
}

TEST(dtmf_receiver, suspected_tone_that_is_no_digit_is_cleared) {
  signal_builder b;
  b.silence(20).dtmf('3', 15, {-10.0f}).silence(60);
  const auto log = receive(b.audio());
  EXPECT_EQ(log.keys(), "");
  ASSERT_FALSE(log.events.empty());
  EXPECT_EQ(log.events.back().what, dtmf_event::kind::tone_cleared);
}

TEST(dtmf_receiver, blocks_of_any_length_give_the_same_digits) {
  signal_builder b;
  b.silence(7);
  for (char key : std::string("159*0#D")) b.dtmf(key, 45, {-12.0f}).silence(45);
  b.add_white_noise(-35.0f, 5);
  const auto reference = receive(b.audio(), 160);
  ASSERT_EQ(reference.keys(), "159*0#D");
  for (std::size_t chunk : {1u, 7u, 39u, 40u, 41u, 80u, 159u, 161u, 240u, 1000u}) {
    const auto log = receive(b.audio(), chunk);
    ASSERT_EQ(log.digits.size(), reference.digits.size()) << "chunk " << chunk;
    for (std::size_t i = 0; i < log.digits.size(); ++i) {
      EXPECT_EQ(log.digits[i].key, reference.digits[i].key);
      EXPECT_EQ(log.digits[i].onset, reference.digits[i].onset) << "chunk " << chunk;
    }
  }
}

TEST(dtmf_receiver, int16_and_g711_input_give_the_same_digits_as_float) {
  signal_builder b;
  b.silence(10).dtmf('8', 50, {-8.0f}).silence(50).dtmf('B', 50, {-8.0f}).silence(50);
  const auto pcm = b.pcm16();
  dtmf_receiver rx;
  testing::event_log log16;
  rx.process(std::span<const std::int16_t>(pcm), log16);
  rx.flush(log16);
  EXPECT_EQ(log16.keys(), "8B");
  std::vector<std::uint8_t> ulaw(pcm.size()), alaw(pcm.size());
  for (std::size_t i = 0; i < pcm.size(); ++i) {
    ulaw[i] = g711_encode(g711_law::ulaw, pcm[i]);
    alaw[i] = g711_encode(g711_law::alaw, pcm[i]);
  }
  for (bool is_alaw : {false, true}) {
    dtmf_receiver g;
    testing::event_log log;
    g.process_g711(is_alaw ? alaw : ulaw, is_alaw, log);
    g.flush(log);
    EXPECT_EQ(log.keys(), "8B") << (is_alaw ? "A-law" : "mu-law");
  }
}

TEST(dtmf_receiver, state_per_channel_is_at_most_512_bytes) {
  EXPECT_LE(sizeof(dtmf_receiver), 512u);
}

TEST(dtmf_receiver, rejects_bad_configuration_naming_the_field) {
  dtmf_receiver_config c;
  c.max_frequency_error = 0.2f;
  const auto error = validate(c);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("max_frequency_error"), std::string::npos) << *error;
  EXPECT_THROW(dtmf_receiver_settings{c}, std::invalid_argument);
  c = {};
  c.min_on_ms = 0;
  ASSERT_TRUE(validate(c).has_value());
  EXPECT_NE(validate(c)->find("min_on_ms"), std::string::npos);
  EXPECT_FALSE(validate(dtmf_receiver_config{}).has_value());
}

TEST(dtmf_receiver, reset_forgets_the_stream) {
  signal_builder b;
  b.silence(10).dtmf('2', 60, {-10.0f});
  dtmf_receiver rx;
  testing::event_log log;
  rx.process(b.audio(), log);
  EXPECT_EQ(rx.current_key(), '2');
  rx.reset();
  EXPECT_EQ(rx.current_key(), '\0');
  EXPECT_EQ(rx.position(), 0);
}

}  // namespace
}  // namespace toneguard::dsp
