// Test signals must be what they claim: level, frequency and length. Every receiver test
// rests on them.

#include "toneguard/dsp/signal_builder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>

#include "toneguard/dsp/levels.h"
#include "toneguard/dsp/tone_generator.h"

namespace toneguard::dsp {
namespace {

double mean_square(std::span<const float> x) {
  double sum = 0;
  for (float v : x) sum += static_cast<double>(v) * v;
  return sum / static_cast<double>(x.size());
}

// Power of x at one frequency (single DFT bin), as a fraction of x's total power.
double share_at(std::span<const float> x, double hz) {
  std::complex<double> acc;
  for (std::size_t i = 0; i < x.size(); ++i)
    acc += static_cast<double>(x[i]) *
           std::polar(1.0, -2 * std::numbers::pi * hz * static_cast<double>(i) / 8000);
  return 2 * std::norm(acc) / static_cast<double>(x.size() * x.size()) / mean_square(x);
}

TEST(tone_generator, sine_has_the_requested_level_and_frequency) {
  std::vector<float> x(8000, 0.0f);
  tone_generator(1000.0f, dbm0_to_peak(-10.0f)).add_to(x);
  EXPECT_NEAR(power_to_dbm0(static_cast<float>(mean_square(x))), -10.0, 0.01);
  EXPECT_NEAR(share_at(x, 1000.0), 1.0, 1e-3);
}

TEST(tone_generator, rejects_frequencies_outside_the_band_naming_them) {
  try {
    tone_generator g(5000.0f, 1000.0f);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("frequency_hz"), std::string::npos) << e.what();
  }
}

TEST(signal_builder, dtmf_key_has_its_two_tones_at_the_level_and_twist_asked) {
  signal_builder b;
  b.dtmf('5', 1000, {-10.0f, 4.0f});  // 770 Hz at -8 dBm0, 1336 Hz at -12 dBm0
  const auto& x = b.audio();
  ASSERT_EQ(x.size(), 8000u);
  const double total = mean_square(x);
  EXPECT_NEAR(10 * std::log10(share_at(x, 770) * total / dbm0_power), -8.0, 0.05);
  EXPECT_NEAR(10 * std::log10(share_at(x, 1336) * total / dbm0_power), -12.0, 0.05);
  EXPECT_NEAR(share_at(x, 770) + share_at(x, 1336), 1.0, 2e-3);
}

TEST(signal_builder, deviation_moves_the_tone) {
  signal_builder b;
  b.dtmf('1', 1000, {-10.0f, 0.0f, 0.035f, 0.0f});
  EXPECT_GT(share_at(b.audio(), 697 * 1.035), 0.45);
  EXPECT_LT(share_at(b.audio(), 697), 0.01);
}

TEST(signal_builder, white_noise_has_the_requested_power_and_is_repeatable) {
  signal_builder a, b;
  a.silence(1000).add_white_noise(-30.0f, 9);
  b.silence(1000).add_white_noise(-30.0f, 9);
  EXPECT_NEAR(power_to_dbm0(static_cast<float>(mean_square(a.audio()))), -30.0, 0.2);
  EXPECT_EQ(a.audio(), b.audio());
}

TEST(signal_builder, pieces_are_as_long_as_asked) {
  signal_builder b;
  b.silence(12.5).tone(1000, 20, -10).dtmf('#', 40);
  EXPECT_EQ(b.size(), 100u + 160u + 320u);
  EXPECT_EQ(b.pcm16().size(), b.size());
}

}  // namespace
}  // namespace toneguard::dsp
