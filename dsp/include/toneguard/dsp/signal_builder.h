#pragma once
/// Builds test audio piece by piece: DTMF keys with given level, twist and frequency error,
/// single tones, silence, recorded speech, and white noise at a given SNR. Used by tests,
/// the comparison program and toneguard-synth. Not for the packet path (it allocates).

#include <cstdint>
#include <span>
#include <vector>

namespace toneguard::dsp {

/// How one DTMF key is rendered.
struct dtmf_tone_spec {
  float level_dbm0 = -10.0f;   ///< level of each tone before twist, dBm0
  float twist_db = 0.0f;       ///< > 0: low group stronger by this much; < 0: high group stronger
  float row_deviation = 0.0f;  ///< relative frequency error of the low tone (0.015 = +1.5%)
  float column_deviation = 0.0f;  ///< relative frequency error of the high tone
};

class signal_builder {
 public:
  /// `sample_rate_hz` applies to everything appended.
  explicit signal_builder(float sample_rate_hz = 8000.0f) : rate_(sample_rate_hz) {}

  /// Appends `ms` milliseconds of silence.
  signal_builder& silence(double ms);
  /// Appends key `key` for `ms` milliseconds. The twist is split evenly between the tones
  /// around `level_dbm0`. Throws std::invalid_argument for a character that is not a key.
  signal_builder& dtmf(char key, double ms, const dtmf_tone_spec& spec = {});
  /// Appends a single sine.
  signal_builder& tone(float frequency_hz, double ms, float level_dbm0);
  /// Appends two sines of independent frequencies and levels.
  signal_builder& dual_tone(float f1_hz, float level1_dbm0, float f2_hz, float level2_dbm0,
                            double ms);
  /// Appends samples as they are (16-bit linear units).
  signal_builder& samples(std::span<const float> audio);
  signal_builder& samples(std::span<const std::int16_t> audio);
  /// Adds white Gaussian noise of power `noise_dbm0` over everything appended so far.
  /// Deterministic for a given seed.
  signal_builder& add_white_noise(float noise_dbm0, std::uint32_t seed);

  /// Current length in samples: the offset at which the next piece starts.
  [[nodiscard]] std::size_t size() const noexcept { return audio_.size(); }
  /// Milliseconds -> samples at this builder's rate (rounded to nearest).
  [[nodiscard]] std::size_t samples_for_ms(double ms) const noexcept;

  [[nodiscard]] const std::vector<float>& audio() const noexcept { return audio_; }
  /// The audio clipped and rounded to 16-bit PCM.
  [[nodiscard]] std::vector<std::int16_t> pcm16() const;

 private:
  float rate_;
  std::vector<float> audio_;
};

}  // namespace toneguard::dsp
