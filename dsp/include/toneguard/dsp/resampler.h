#pragma once
/// 16 kHz -> 8 kHz decimation for wideband input (16 kHz WAV files, wideband legs) ahead of
/// the 8 kHz DTMF receiver. A linear-phase low-pass FIR (liquid-dsp Kaiser design, unity gain
/// at DC) keeps 0-3.4 kHz flat within 0.02 dB and rejects >= 58 dB from 4.6 kHz and >= 65 dB
/// from 5 kHz, so nothing above 4 kHz folds back into the telephone band.
/// Not thread-safe: one owner (one worker thread) per resampler.

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace toneguard::dsp {

class resampler_16k_to_8k {
 public:
  /// Group delay in output (8 kHz) samples: input sample 2k appears at output sample
  /// k + delay_samples_8k (1.5 ms). Subtract it from output positions to get input times.
  static constexpr int delay_samples_8k = 12;

  /// Throws std::runtime_error if liquid-dsp cannot create the filter.
  resampler_16k_to_8k();
  ~resampler_16k_to_8k();
  /// A moved-from resampler may only be destroyed or assigned to.
  resampler_16k_to_8k(resampler_16k_to_8k&&) noexcept;
  resampler_16k_to_8k& operator=(resampler_16k_to_8k&&) noexcept;
  resampler_16k_to_8k(const resampler_16k_to_8k&) = delete;
  resampler_16k_to_8k& operator=(const resampler_16k_to_8k&) = delete;

  /// Number of 8 kHz samples the next process() call yields for `input_samples` 16 kHz
  /// samples (one per input pair, counting a sample carried over from an odd-length call).
  [[nodiscard]] std::size_t output_size(std::size_t input_samples) const noexcept;

  /// Decimates `in16k` into the start of `out8k` and returns the number of samples written,
  /// output_size(in16k.size()). `out8k.size()` must be at least that. An odd sample left at
  /// the end is carried into the next call, so any split of a signal into chunks gives the
  /// same output as one call. Never allocates.
  std::size_t process(std::span<const float> in16k, std::span<float> out8k) noexcept;

  /// As above, appending the output to `out8k`.
  void process(std::span<const float> in16k, std::vector<float>& out8k);

  /// Clears the filter history and any carried sample, as if newly constructed.
  void reset() noexcept;

 private:
  struct liquid_decimator;
  std::unique_ptr<liquid_decimator> decimator_;
  float carried_sample_ = 0.0f;
  bool has_carried_sample_ = false;
};

}  // namespace toneguard::dsp
