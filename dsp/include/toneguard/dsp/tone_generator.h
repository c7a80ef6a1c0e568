#pragma once
/// Sine generation with liquid-dsp's numerically controlled oscillator: test signals and
/// (later) RFC 4733 events turned into audio. Not thread-safe: one owner per generator.

#include <memory>
#include <span>

namespace toneguard::dsp {

class tone_generator {
 public:
  /// A sine of `frequency_hz` with peak amplitude `peak` (16-bit linear units) sampled at
  /// `sample_rate_hz`, starting at phase `phase_rad`. Throws std::invalid_argument naming the
  /// bad argument when frequency is not in (0, rate/2) or the rate is not positive.
  tone_generator(float frequency_hz, float peak, float sample_rate_hz = 8000.0f,
                 float phase_rad = 0.0f);
  ~tone_generator();
  tone_generator(tone_generator&&) noexcept;
  tone_generator& operator=(tone_generator&&) noexcept;

  /// Adds the next out.size() samples of the tone to `out`. Never allocates.
  void add_to(std::span<float> out) noexcept;

 private:
  struct liquid_nco;
  std::unique_ptr<liquid_nco> nco_;
  float peak_;
};

}  // namespace toneguard::dsp
