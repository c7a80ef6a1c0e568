#pragma once
/// The DTMF receiver: one per audio channel, fed 8 kHz linear audio in blocks of any length.
///
/// How it decides (docs/architecture.md has the reasoning): the audio is cut into 5 ms
/// analysis blocks (40 samples). For each block a goertzel_bank gives the complex DFT value of
/// the 8 DTMF frequencies; the strongest row and column are fitted to the block by least
/// squares (two sines at the nominal frequencies), which yields each tone's level and phase
/// and how much of the block's energy the pair explains. A block is a *tone block* when both
/// levels are above the minimum, the twist is within limits and the pair explains most of the
/// energy. The phase advance from block to block measures each tone's frequency error.
/// A digit starts after `min_on_ms` of consecutive tone blocks of the same key whose
/// accumulated frequency error is within tolerance; it ends after `min_off_ms` without one.
/// Onset and end are placed to the sample from how much of the boundary block the tone fills.
///
/// Thread ownership: a receiver belongs to one thread at a time; no shared state.

#include <complex>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace toneguard::dsp {

/// Thresholds. Defaults meet references.md's requirement table.
struct dtmf_receiver_config {
  /// Minimum level of each tone, dBm0. Below −55 dBm0 is always rejected.
  float min_level_dbm0 = -36.0f;
  /// Largest accepted excess of the low group over the high group, dB ("normal twist").
  float max_normal_twist_db = 10.0f;
  /// Largest accepted excess of the high group over the low group, dB ("reverse twist").
  float max_reverse_twist_db = 6.5f;
  /// Largest accepted frequency error of each tone, as a fraction of its nominal frequency.
  float max_frequency_error = 0.026f;
  /// Share of a block's energy the two fitted tones must explain to make a tone block.
  float min_tone_purity = 0.80f;
  /// A tone must last this long to become a digit, ms (tones < 20 ms are rejected).
  int min_on_ms = 25;
  /// A digit ends after this long without its tones, ms (a 10 ms break does not end it).
  int min_off_ms = 25;
};

/// Checks a configuration; returns a message naming the first bad field, or nullopt.
[[nodiscard]] std::optional<std::string> validate(const dtmf_receiver_config& config);

/// What a receiver reports. Sample positions count from the first sample fed (0-based).
struct dtmf_event {
  enum class kind : std::uint8_t {
    /// A tone block was seen: a key may be starting at `onset_sample`. Early warning for
    /// maskers, from 5 ms of audio; followed by digit_start or tone_cleared.
    tone_suspected,
    /// The suspected tone did not become a digit.
    tone_cleared,
    /// A digit is confirmed; `onset_sample` is its estimated start.
    digit_start,
    /// The digit ended at `end_sample` (estimated).
    digit_end,
  };
  kind what;
  char key;                   ///< '0'-'9', '*', '#', 'A'-'D'
  std::int64_t onset_sample;  ///< estimated first sample of the tone
  std::int64_t end_sample;  ///< estimated sample after the tone (digit_end, tone_cleared); else −1
  std::int64_t at_sample;   ///< stream position when the receiver decided (samples fed so far)
};

/// Receives events; called synchronously from process() on the caller's thread.
class dtmf_listener {
 public:
  virtual void on_dtmf(const dtmf_event& event) = 0;

 protected:
  ~dtmf_listener() = default;
};

/// A configuration checked and turned into the units the receiver tests with. Built once and
/// shared by any number of receivers (immutable: any thread may read it), so that a channel's
/// state holds only what changes per channel.
class dtmf_receiver_settings {
 public:
  /// Throws std::invalid_argument with validate()'s message for a bad configuration.
  explicit dtmf_receiver_settings(const dtmf_receiver_config& config = {});

  [[nodiscard]] const dtmf_receiver_config& config() const noexcept { return config_; }

 private:
  friend class dtmf_receiver;
  dtmf_receiver_config config_;
  float min_tone_power_;     // mean square per sample of one tone at min_level_dbm0
  float max_normal_twist_;   // power ratio
  float max_reverse_twist_;  // power ratio
  float min_purity_;
  float relaxed_purity_;  // for the blocks of a digit that is on
  std::int32_t min_on_samples_;
  std::int32_t min_off_blocks_;
  float frequency_cos2_[8];        // per bin: cos^2 of the largest accepted phase error per block
  float loose_frequency_cos2_[8];  // the same for a single block pair (noisier, so wider)
};

/// The settings of the default configuration, shared by receivers built without settings.
[[nodiscard]] const dtmf_receiver_settings& default_dtmf_receiver_settings();

class dtmf_receiver {
 public:
  /// Sample rate the receiver works at, Hz.
  static constexpr int sample_rate_hz = 8000;
  /// Analysis block, samples (5 ms).
  static constexpr int block_samples = 40;

  /// A receiver with the default settings.
  dtmf_receiver() : dtmf_receiver(default_dtmf_receiver_settings()) {}
  /// A receiver with `settings`, which must outlive it.
  explicit dtmf_receiver(const dtmf_receiver_settings& settings) noexcept;

  /// Feeds 8 kHz audio in 16-bit linear units. Any length, including 0. Never allocates.
  void process(std::span<const float> audio, dtmf_listener& listener) noexcept;
  void process(std::span<const std::int16_t> audio, dtmf_listener& listener) noexcept;
  /// Feeds G.711 μ-law (`alaw` false) or A-law codes; decoding uses the SIMD kernels.
  void process_g711(std::span<const std::uint8_t> codes, bool alaw,
                    dtmf_listener& listener) noexcept;

  /// Ends the stream: reports the end of a digit still on (at the current position).
  void flush(dtmf_listener& listener) noexcept;

  /// Back to the state of a new receiver; the configuration stays.
  void reset() noexcept;

  /// Samples fed so far.
  [[nodiscard]] std::int64_t position() const noexcept { return position_; }

  /// The key of the digit currently on, or '\0'.
  [[nodiscard]] char current_key() const noexcept;

 private:
  void prefetch_state() const noexcept;
  float quiet_block_energy() const noexcept;
  void advance(std::size_t samples, dtmf_listener& listener) noexcept;
  struct bin_powers;
  struct block_view;
  void finish_block(dtmf_listener& listener) noexcept;
  void analyze(block_view& block, const bin_powers& powers, bool candidate) const noexcept;
  void follow_digit(const block_view& block, dtmf_listener& listener) noexcept;
  void follow_run(const block_view& block, dtmf_listener& listener) noexcept;
  void commit_if_ready(const block_view& block, dtmf_listener& listener) noexcept;
  void next_block() noexcept;

  // Laid out by cache line. A channel's state is touched once per packet and is usually cold
  // by then, so lines touched per block are the cost: a block with nothing to follow (most of
  // them) touches lines 0-2 only, and process() prefetches them while the kernel runs.
  // Line 0: the block being filled.
  alignas(64) float bins_acc_[16];  // re of the 8 bins, then im
  // Line 1: what every block reads, then the first half of the previous block's bins.
  const dtmf_receiver_settings* settings_;
  std::int64_t position_;
  float energy_acc_;
  std::int32_t block_fill_;
  std::int16_t run_blocks_;  // tone blocks in the run being followed (0: none)
  char digit_key_;           // the digit currently on, or '\0'
  std::int8_t run_row_, run_column_;
  bool suspected_;
  float prev_bins_[16];  // the previous complete block's bins
  float prev_energy_;    // and its energy

  // The run of tone blocks being followed.
  std::complex<float> run_row_phase_, run_column_phase_;  // summed block-to-block phase advance
  float run_row_spread_, run_column_spread_;              // summed magnitudes of those advances
  float run_amplitude_;                                   // summed amplitude of its blocks
  std::int64_t run_onset_;
  bool run_starts_in_first_block_;  // nothing of the tone in the block before the run

  // The digit currently on.
  std::int8_t digit_row_, digit_column_;
  std::int16_t off_blocks_;
  float digit_amplitude_;  // mean amplitude of its tone blocks
  float last_block_fill_;  // share of the last tone block the tone filled
  std::int64_t digit_onset_;
  std::int64_t digit_end_;
};

}  // namespace toneguard::dsp
