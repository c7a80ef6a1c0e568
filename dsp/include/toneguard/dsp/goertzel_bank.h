#pragma once
/// A bank of up to 8 single-bin DFTs over fixed-length blocks: the complex values the
/// Goertzel algorithm computes, evaluated by correlation with a precomputed cosine/sine basis.
/// The Goertzel recurrence is serial per filter; the correlation form runs all 8 bins (16 real
/// sums) in one SIMD multiply-add per sample and can be fed a block in pieces.
/// Immutable after construction; share one bank between any number of channels and threads.

#include <algorithm>
#include <complex>
#include <cstdint>
#include <memory>
#include <span>

#include "toneguard/simd/kernels.h"

namespace toneguard::dsp {

class goertzel_bank {
 public:
  static constexpr int max_bins = 8;
  /// Floats in an accumulator: re of bins 0..7, then im of bins 0..7.
  static constexpr int accumulator_size = 16;

  /// Bins at `frequencies_hz` (1..8 of them, each in (0, rate/2)) over blocks of
  /// `block_samples` (> 0) samples at `sample_rate_hz`. Unused bins stay zero.
  /// Throws std::invalid_argument naming the bad argument.
  goertzel_bank(std::span<const float> frequencies_hz, int block_samples,
                float sample_rate_hz = 8000.0f);

  /// Adds the contribution of `samples`, which sit at positions [offset, offset + size) of the
  /// block, to `acc` (accumulator_size floats), and their squares to `*energy` (the block's
  /// energy, squared 16-bit units). Requires offset + size <= block_samples().
  /// After a whole block, bin b is X_b = acc[b] + j*acc[8+b] = sum_i x[i] e^{-j w_b i}.
  void accumulate(std::span<const float> samples, int offset, float* acc,
                  float* energy) const noexcept;
  /// The same for G.711 codes (μ-law, or A-law when `alaw`), decoded inside the kernel. On
  /// targets with integer dot products the sums use the basis rounded to Q12 (relative
  /// error of each term below 2^-13). When the codes' energy is below `min_energy`, only the
  /// energy is added (for callers that discard the bins of quiet blocks; runs of more than
  /// simd::bank16_max_run codes are always correlated).
  /// The G.711 correlation of this bank for one law, chosen once: a caller that feeds many
  /// pieces (the receiver, per block) takes one and calls it per piece. A piece must not
  /// exceed simd::bank16_max_run codes; `min_energy` as for accumulate_g711().
  struct g711_correlator {
    decltype(simd::kernel_table::correlate_bank16_ulaw) kernel;
    simd::bank16_basis basis;
    void operator()(std::span<const std::uint8_t> codes, int offset, float* acc, float* energy,
                    float min_energy = 0.0f) const noexcept {
      kernel(codes.data(), codes.size(), basis, static_cast<std::size_t>(offset), acc, energy,
             min_energy);
    }
  };
  [[nodiscard]] g711_correlator g711(bool alaw) const noexcept {
    const auto& k = simd::kernels();
    return {alaw ? k.correlate_bank16_alaw : k.correlate_bank16_ulaw,
            {basis_.get(), q12_pairs_.get()}};
  }

  /// Any number of codes, in pieces the kernels take.
  void accumulate_g711(std::span<const std::uint8_t> codes, bool alaw, int offset, float* acc,
                       float* energy, float min_energy = 0.0f) const noexcept {
    const g711_correlator correlate = g711(alaw);
    // min_energy speaks of the whole run, so it applies only when one call covers it.
    const float skip_below = codes.size() <= simd::bank16_max_run ? min_energy : 0.0f;
    for (std::size_t done = 0; done < codes.size(); done += simd::bank16_max_run) {
      correlate(codes.subspan(done, std::min(simd::bank16_max_run, codes.size() - done)),
                offset + static_cast<int>(done), acc, energy, skip_below);
    }
  }

  /// Bin b of a finished accumulator.
  [[nodiscard]] static std::complex<float> bin(const float* acc, int b) noexcept {
    return {acc[b], acc[max_bins + b]};
  }

  [[nodiscard]] int block_samples() const noexcept { return block_samples_; }

  [[nodiscard]] int bins() const noexcept { return bins_; }

 private:
  int block_samples_;
  int bins_;
  std::unique_ptr<float[]> basis_;  // block_samples_ rows of 16 floats: cos(w_b i), -sin(w_b i)
  std::unique_ptr<std::int16_t[]> q12_pairs_;  // the same in Q12, rows interleaved in pairs
};

}  // namespace toneguard::dsp
