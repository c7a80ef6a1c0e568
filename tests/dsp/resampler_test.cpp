// 16 kHz -> 8 kHz decimation (dsp/resampler.h): level and frequency kept in the telephone
// band, nothing above 4 kHz folding back, chunking invisible, and the stated delay exact.

#include "toneguard/dsp/resampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "toneguard/dsp/levels.h"

namespace {

using toneguard::dsp::resampler_16k_to_8k;

constexpr float input_rate_hz = 16000.0f;
constexpr float output_rate_hz = 8000.0f;
// Output samples skipped before measuring: the filter's start-up transient.
constexpr std::size_t settle_8k = 4 * resampler_16k_to_8k::delay_samples_8k;

// Sines computed in double precision, so the measured rejection is the filter's, not the
// spurs of a float oscillator (about -56 dB at 7.9 kHz).
std::vector<float> tone_16k(float frequency_hz, float peak, std::size_t samples,
                            std::size_t silent_samples = 0) {
  std::vector<float> audio(silent_samples + samples, 0.0f);
  const double w = 2.0 * std::numbers::pi * frequency_hz / input_rate_hz;
  for (std::size_t n = 0; n < samples; ++n)
    audio[silent_samples + n] = static_cast<float>(peak * std::sin(w * double(n)));
  return audio;
}

std::vector<float> decimate(std::span<const float> in16k) {
  resampler_16k_to_8k resampler;
  std::vector<float> out;
  resampler.process(in16k, out);
  return out;
}

double mean_square(std::span<const float> x) {
  double sum = 0.0;
  for (float v : x) sum += double(v) * v;
  return sum / static_cast<double>(x.size());
}

double db(double power_ratio) {
  return 10.0 * std::log10(power_ratio);
}

// Least-squares fit of a sine of `frequency_hz`: its peak amplitude, and the power of what
// the sine does not explain relative to the signal's power (dB).
struct sine_fit {
  double peak;
  double residual_db;
};

sine_fit fit_sine(std::span<const float> x, double frequency_hz, double rate_hz) {
  const double w = 2.0 * std::numbers::pi * frequency_hz / rate_hz;
  double in_phase = 0.0, quadrature = 0.0;
  for (std::size_t n = 0; n < x.size(); ++n) {
    in_phase += x[n] * std::cos(w * double(n));
    quadrature += x[n] * std::sin(w * double(n));
  }
  const double scale = 2.0 / static_cast<double>(x.size());
  const double a = in_phase * scale, b = quadrature * scale;
  double residual = 0.0;
  for (std::size_t n = 0; n < x.size(); ++n) {
    const double e = x[n] - (a * std::cos(w * double(n)) + b * std::sin(w * double(n)));
    residual += e * e;
  }
  return {std::hypot(a, b), db(residual / static_cast<double>(x.size()) / mean_square(x))};
}

TEST(resampler_16k_to_8k, one_kilohertz_tone_keeps_its_level_and_frequency) {
  const float peak = toneguard::dsp::dbm0_to_peak(-10.0f);
  const std::vector<float> out = decimate(tone_16k(1000.0f, peak, 16000));
  ASSERT_EQ(out.size(), 8000u);
  // A whole number of 1 kHz periods (8 samples each) after the transient.
  const std::span<const float> steady = std::span(out).subspan(settle_8k, 7800);
  const sine_fit fit = fit_sine(steady, 1000.0, output_rate_hz);
  EXPECT_NEAR(20.0 * std::log10(fit.peak / peak), 0.0, 0.2);
  EXPECT_NEAR(db(mean_square(steady) / (double(peak) * peak / 2.0)), 0.0, 0.2);
  EXPECT_LT(fit.residual_db, -50.0) << "the output is not a clean 1 kHz sine at 8 kHz";
}

TEST(resampler_16k_to_8k, telephone_band_tones_keep_their_level) {
  for (float frequency : {300.0f, 697.0f, 1633.0f, 3000.0f, 3400.0f}) {
    const float peak = 10000.0f;
    const std::vector<float> out = decimate(tone_16k(frequency, peak, 32000));
    const std::span<const float> steady = std::span(out).subspan(settle_8k);
    const sine_fit fit = fit_sine(steady, frequency, output_rate_hz);
    EXPECT_NEAR(20.0 * std::log10(fit.peak / peak), 0.0, 0.2) << frequency << " Hz";
    EXPECT_LT(fit.residual_db, -50.0) << frequency << " Hz";
  }
}

TEST(resampler_16k_to_8k, tones_above_four_kilohertz_are_attenuated_at_least_50_db) {
  for (float frequency : {5000.0f, 6000.0f, 7000.0f, 7900.0f}) {
    const float peak = toneguard::dsp::dbm0_to_peak(0.0f);
    const std::vector<float> in = tone_16k(frequency, peak, 16000);
    const std::vector<float> out = decimate(in);
    const double attenuation_db =
        db(mean_square(std::span(out).subspan(settle_8k)) / mean_square(in));
    EXPECT_LT(attenuation_db, -50.0) << frequency << " Hz";
  }
}

TEST(resampler_16k_to_8k, odd_length_chunks_give_the_same_output_as_one_call) {
  std::mt19937 rng(42);
  std::normal_distribution<float> noise(0.0f, 3000.0f);
  std::vector<float> in(2001);
  for (float& x : in) x = noise(rng);
  const std::vector<float> whole = decimate(in);
  ASSERT_EQ(whole.size(), in.size() / 2);

  resampler_16k_to_8k resampler;
  std::vector<float> chunked;
  constexpr std::size_t chunk_lengths[] = {1, 3, 0, 2, 7, 160, 5, 1, 1, 33};
  std::size_t at = 0;
  for (std::size_t i = 0; at < in.size(); ++i) {
    const std::size_t length =
        std::min(chunk_lengths[i % std::size(chunk_lengths)], in.size() - at);
    EXPECT_EQ(resampler.output_size(length), (length + (at % 2)) / 2) << "at " << at;
    resampler.process(std::span(in).subspan(at, length), chunked);
    at += length;
  }
  EXPECT_EQ(chunked, whole);
}

TEST(resampler_16k_to_8k, span_output_reports_the_samples_written) {
  resampler_16k_to_8k resampler;
  std::vector<float> in(7, 1.0f);
  std::vector<float> out(8, -1.0f);
  EXPECT_EQ(resampler.process(in, std::span<float>(out)), 3u);
  EXPECT_EQ(out[3], -1.0f) << "wrote past the reported count";
  EXPECT_EQ(resampler.process(std::span(in).first(1), std::span<float>(out)),
            1u);  // the carried sample pairs up
  EXPECT_EQ(resampler.process({}, std::span<float>(out)), 0u);
}

TEST(resampler_16k_to_8k, delay_is_as_stated) {
  constexpr std::size_t impulse_pair = 100;
  for (std::size_t phase : {0u, 1u}) {
    std::vector<float> in(800, 0.0f);
    in[2 * impulse_pair + phase] = 1.0f;
    const std::vector<float> out = decimate(in);
    const std::size_t expected = impulse_pair + resampler_16k_to_8k::delay_samples_8k;
    if (phase == 0) {
      // The filter is symmetric: an impulse on an output-aligned sample peaks exactly at the delay.
      const auto peak = std::max_element(out.begin(), out.end()) - out.begin();
      EXPECT_EQ(static_cast<std::size_t>(peak), expected);
      for (std::size_t k = 1; k < 10; ++k)
        EXPECT_NEAR(out[expected - k], out[expected + k], 1e-6f) << k;
    } else {
      // Half a sample later: equal neighbours straddle the delay.
      EXPECT_NEAR(out[expected], out[expected + 1], 1e-6f);
      EXPECT_GT(out[expected], out[expected - 1]);
      EXPECT_GT(out[expected + 1], out[expected + 2]);
    }
  }
}

TEST(resampler_16k_to_8k, tone_burst_onset_appears_after_the_stated_delay) {
  // A 1 kHz burst starting at input sample 1600 (output 800): its envelope crosses half its
  // final amplitude at the delayed onset, within one output sample.
  const std::vector<float> in = tone_16k(1000.0f, 10000.0f, 1600, 1600);
  const std::vector<float> out = decimate(in);
  std::vector<float> envelope(out.size(), 0.0f);
  const std::size_t window = 4;  // half a 1 kHz period at 8 kHz: max |x| tracks the envelope
  for (std::size_t n = window; n < out.size(); ++n) {
    for (std::size_t k = 0; k < window; ++k)
      envelope[n] = std::max(envelope[n], std::fabs(out[n - k]));
  }
  const auto crossing =
      std::find_if(envelope.begin(), envelope.end(), [](float e) { return e > 5000.0f; }) -
      envelope.begin();
  const auto expected = static_cast<std::ptrdiff_t>(800 + resampler_16k_to_8k::delay_samples_8k);
  EXPECT_NEAR(static_cast<double>(crossing), static_cast<double>(expected), 2.0);
}

TEST(resampler_16k_to_8k, reset_forgets_the_history) {
  std::vector<float> in = tone_16k(1000.0f, 5000.0f, 401);
  resampler_16k_to_8k resampler;
  std::vector<float> first;
  resampler.process(in, first);
  resampler.reset();
  std::vector<float> again;
  resampler.process(in, again);
  EXPECT_EQ(again, first);
}

TEST(resampler_16k_to_8k, moving_keeps_the_filter_state) {
  const std::vector<float> in = tone_16k(700.0f, 5000.0f, 1001);
  const std::vector<float> whole = decimate(in);
  resampler_16k_to_8k original;
  std::vector<float> out;
  original.process(std::span(in).first(301), out);
  resampler_16k_to_8k moved(std::move(original));
  moved.process(std::span(in).subspan(301), out);
  EXPECT_EQ(out, whole);
}

}  // namespace
