#include "toneguard/dsp/signal_builder.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>

#include "toneguard/dsp/dtmf.h"
#include "toneguard/dsp/levels.h"
#include "toneguard/dsp/tone_generator.h"

namespace toneguard::dsp {

std::size_t signal_builder::samples_for_ms(double ms) const noexcept {
  return static_cast<std::size_t>(std::llround(ms * rate_ / 1000.0));
}

signal_builder& signal_builder::silence(double ms) {
  audio_.resize(audio_.size() + samples_for_ms(ms), 0.0f);
  return *this;
}

signal_builder& signal_builder::dual_tone(float f1_hz, float level1_dbm0, float f2_hz,
                                          float level2_dbm0, double ms) {
  const std::size_t start = audio_.size();
  audio_.resize(start + samples_for_ms(ms), 0.0f);
  std::span<float> piece(audio_.data() + start, audio_.size() - start);
  tone_generator(f1_hz, dbm0_to_peak(level1_dbm0), rate_).add_to(piece);
  // A different start phase keeps the two tones from peaking together at the first sample.
  tone_generator(f2_hz, dbm0_to_peak(level2_dbm0), rate_, 1.0f).add_to(piece);
  return *this;
}

signal_builder& signal_builder::dtmf(char key, double ms, const dtmf_tone_spec& spec) {
  const auto tones = dtmf_tones(key);
  if (!tones)
    throw std::invalid_argument(std::string("signal_builder::dtmf: not a DTMF key: '") + key + "'");
  return dual_tone(tones->row_hz * (1.0f + spec.row_deviation), spec.level_dbm0 + spec.twist_db / 2,
                   tones->column_hz * (1.0f + spec.column_deviation),
                   spec.level_dbm0 - spec.twist_db / 2, ms);
}

signal_builder& signal_builder::tone(float frequency_hz, double ms, float level_dbm0) {
  const std::size_t start = audio_.size();
  audio_.resize(start + samples_for_ms(ms), 0.0f);
  tone_generator(frequency_hz, dbm0_to_peak(level_dbm0), rate_)
      .add_to(std::span<float>(audio_.data() + start, audio_.size() - start));
  return *this;
}

signal_builder& signal_builder::samples(std::span<const float> audio) {
  audio_.insert(audio_.end(), audio.begin(), audio.end());
  return *this;
}

signal_builder& signal_builder::samples(std::span<const std::int16_t> audio) {
  for (std::int16_t s : audio) audio_.push_back(static_cast<float>(s));
  return *this;
}

signal_builder& signal_builder::add_white_noise(float noise_dbm0, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss(0.0f, std::sqrt(dbm0_to_power(noise_dbm0)));
  for (float& s : audio_) s += gauss(rng);
  return *this;
}

std::vector<std::int16_t> signal_builder::pcm16() const {
  std::vector<std::int16_t> out(audio_.size());
  std::transform(audio_.begin(), audio_.end(), out.begin(), [](float s) {
    return static_cast<std::int16_t>(std::lrint(std::clamp(s, -32768.0f, 32767.0f)));
  });
  return out;
}

}  // namespace toneguard::dsp
