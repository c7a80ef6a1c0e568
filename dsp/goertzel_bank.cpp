#include "toneguard/dsp/goertzel_bank.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include "toneguard/simd/kernels.h"

namespace toneguard::dsp {

goertzel_bank::goertzel_bank(std::span<const float> frequencies_hz, int block_samples,
                             float sample_rate_hz)
    : block_samples_(block_samples), bins_(static_cast<int>(frequencies_hz.size())) {
  if (frequencies_hz.empty() || frequencies_hz.size() > max_bins) {
    throw std::invalid_argument("goertzel_bank: needs 1 to 8 frequencies, got " +
                                std::to_string(frequencies_hz.size()));
  }
  if (block_samples <= 0) {
    throw std::invalid_argument("goertzel_bank: block_samples must be > 0, got " +
                                std::to_string(block_samples));
  }
  for (float f : frequencies_hz) {
    if (!(f > 0.0f && f < sample_rate_hz / 2)) {
      throw std::invalid_argument("goertzel_bank: frequency " + std::to_string(f) +
                                  " Hz is not in (0, rate/2)");
    }
  }
  static_assert(accumulator_size == simd::bank_width);
  basis_ = std::make_unique<float[]>(static_cast<std::size_t>(block_samples) * accumulator_size);
  // Value-initialized: an odd block's last pair gets a zero partner row.
  q12_pairs_ = std::make_unique<std::int16_t[]>(static_cast<std::size_t>(block_samples + 1) / 2 *
                                                2 * accumulator_size);
  for (int i = 0; i < block_samples; ++i) {
    float* row = &basis_[static_cast<std::size_t>(i) * accumulator_size];
    for (int b = 0; b < max_bins; ++b) {
      if (b < bins_) {
        const double w = 2.0 * std::numbers::pi * frequencies_hz[b] / sample_rate_hz;
        row[b] = static_cast<float>(std::cos(w * i));
        row[max_bins + b] = static_cast<float>(-std::sin(w * i));
      } else {
        row[b] = row[max_bins + b] = 0.0f;
      }
    }
    std::int16_t* pair = &q12_pairs_[static_cast<std::size_t>(i / 2) * 2 * accumulator_size +
                                     static_cast<std::size_t>(i % 2)];
    for (int j = 0; j < accumulator_size; ++j)
      pair[2 * j] = static_cast<std::int16_t>(std::lrint(row[j] * 4096.0f));
  }
}

void goertzel_bank::accumulate(std::span<const float> samples, int offset, float* acc,
                               float* energy) const noexcept {
  simd::kernels().correlate_bank16(samples.data(), samples.size(),
                                   &basis_[static_cast<std::size_t>(offset) * accumulator_size],
                                   acc, energy);
}

}  // namespace toneguard::dsp
