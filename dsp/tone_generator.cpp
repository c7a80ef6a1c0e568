#include "toneguard/dsp/tone_generator.h"

#include <liquid/liquid.h>

#include <numbers>
#include <stdexcept>
#include <string>

namespace toneguard::dsp {

struct tone_generator::liquid_nco {
  nco_crcf handle;
  explicit liquid_nco(nco_crcf h) : handle(h) {}
  ~liquid_nco() { nco_crcf_destroy(handle); }
  liquid_nco(const liquid_nco&) = delete;
  liquid_nco& operator=(const liquid_nco&) = delete;
};

tone_generator::tone_generator(float frequency_hz, float peak, float sample_rate_hz,
                               float phase_rad)
    : peak_(peak) {
  if (!(sample_rate_hz > 0.0f)) {
    throw std::invalid_argument("tone_generator: sample_rate_hz must be > 0, got " +
                                std::to_string(sample_rate_hz));
  }
  if (!(frequency_hz > 0.0f && frequency_hz < sample_rate_hz / 2)) {
    throw std::invalid_argument("tone_generator: frequency_hz must be in (0, rate/2), got " +
                                std::to_string(frequency_hz));
  }
  // LIQUID_VCO computes sin/cos exactly rather than from a table: test tones stay clean.
  nco_ = std::make_unique<liquid_nco>(nco_crcf_create(LIQUID_VCO));
  nco_crcf_set_frequency(nco_->handle,
                         2.0f * std::numbers::pi_v<float> * frequency_hz / sample_rate_hz);
  nco_crcf_set_phase(nco_->handle, phase_rad);
}

tone_generator::~tone_generator() = default;
tone_generator::tone_generator(tone_generator&&) noexcept = default;
tone_generator& tone_generator::operator=(tone_generator&&) noexcept = default;

void tone_generator::add_to(std::span<float> out) noexcept {
  for (float& s : out) {
    s += peak_ * nco_crcf_sin(nco_->handle);
    nco_crcf_step(nco_->handle);
  }
}

}  // namespace toneguard::dsp
