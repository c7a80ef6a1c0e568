#pragma once
/// The DTMF masker: delays a stream by a fixed look-ahead and replaces every sample of every
/// DTMF tone in it, from the tone's onset, not from its detection. It listens to the
/// dtmf_receiver that sees the same stream: an early `tone_suspected` opens a masked span
/// back at the tone's estimated onset (minus a guard), and the span closes at the tone's end
/// (plus a hangover) when the digit ends or the suspicion is cleared. Because the output lags
/// the input by the look-ahead, a span that opens up to that long after its onset still
/// covers the whole tone; what it cannot cover any more is counted as leaked.
///
/// Per stream, per packet: feed the receiver first (with this masker as its listener), then
/// the masker with the same samples. One owner thread; never allocates after construction.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "toneguard/dsp/dtmf_receiver.h"
#include "toneguard/dsp/g711.h"

namespace toneguard::dsp {

/// What replaces masked audio.
enum class mask_mode : std::uint8_t {
  silence,        ///< zeros
  flat_tone,      ///< one steady tone, the same for every key
  comfort_noise,  ///< low-level white noise
};

struct dtmf_masker_config {
  /// Delay of the output behind the input, ms. Zero leak needs it to cover the receiver's
  /// early warning (5-10 ms after onset) plus the onset estimate's error: 10 ms measured
  /// with audio fed a sample at a time (docs/benchmarks.md); the default leaves half again.
  int lookahead_ms = 15;
  /// Masking starts this long before the estimated onset, ms.
  int guard_ms = 3;
  /// And ends this long after the estimated end, ms.
  int hangover_ms = 5;
  mask_mode mode = mask_mode::silence;
  /// flat_tone: frequency, Hz, and level, dBm0. Far from the DTMF band and from call-progress
  /// tones, so that nothing downstream hears a key or a signal in it.
  float tone_hz = 500.0f;
  float tone_level_dbm0 = -20.0f;
  /// comfort_noise: level, dBm0.
  float noise_level_dbm0 = -60.0f;
  /// The masker is fed G.711 codes only (process_g711), so it keeps no float delay line:
  /// 6.4 KB less per stream at the largest look-ahead. process() must not be called then.
  bool g711_only = false;
};

/// Checks a configuration; returns a message naming the first bad field, or nullopt.
[[nodiscard]] std::optional<std::string> validate(const dtmf_masker_config& config);

class dtmf_masker final : public dtmf_listener {
 public:
  /// Largest look-ahead accepted, ms.
  static constexpr int max_lookahead_ms = 200;

  /// Throws std::invalid_argument with validate()'s message for a bad configuration.
  explicit dtmf_masker(const dtmf_masker_config& config = {});

  /// From the receiver that sees the same stream (called during its process()).
  void on_dtmf(const dtmf_event& event) override;

  /// Takes the next in.size() input samples and writes as many output samples to `out`
  /// (out.size() >= in.size()): the input delayed by the look-ahead, masked where a tone is.
  /// The first look-ahead's worth of output is silence. In 16-bit linear units.
  void process(std::span<const float> in, std::span<float> out) noexcept;

  /// The same for G.711 codes (μ-law, or A-law when `alaw`): the codes are delayed as they
  /// are, and only masked samples are encoded anew, so unmasked audio passes bit-exact. The
  /// first look-ahead's worth of output is silence codes. Use one of the two process()
  /// overloads per masker, and one law.
  void process_g711(std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                    bool alaw) noexcept;

  /// What replaces masked audio from the next output sample on (e.g. a later `block DTMF`
  /// asks for another kind).
  void set_mode(mask_mode mode) noexcept { config_.mode = mode; }

  /// Changes the look-ahead (clamped to [0, max_lookahead_ms]) as a delay buffer does: a
  /// longer one puts silence into the output for the difference, a shorter one skips the
  /// oldest delayed samples (a skipped key is never heard, so it is not a leak). Positions
  /// and spans keep their meaning. Does not allocate (the line is sized for the maximum).
  void set_lookahead(int lookahead_ms) noexcept;
  [[nodiscard]] mask_mode mode() const noexcept { return config_.mode; }

  /// Ends every masked span at the current input position and forgets what is on (masking
  /// switched off while a key may be on).
  void release() noexcept;

  /// Input samples taken so far: the stream position of the next input sample.
  [[nodiscard]] std::int64_t position() const noexcept { return in_position_; }

  /// Samples masked so far.
  [[nodiscard]] std::int64_t masked_samples() const noexcept { return masked_; }
  /// Samples of a tone that had already gone out when its span opened: a leak. Zero is the
  /// requirement; more means the look-ahead is too short.
  [[nodiscard]] std::int64_t leaked_samples() const noexcept { return leaked_; }
  /// Output delay, samples.
  [[nodiscard]] int lookahead_samples() const noexcept { return delay_; }

 private:
  struct span_of_stream {
    std::int64_t begin;
    std::int64_t end;  // open while a tone may be on
  };
  static constexpr std::int64_t open = INT64_MAX;

  void open_span(std::int64_t begin) noexcept;
  void close_span(std::int64_t end) noexcept;
  [[nodiscard]] bool masked_at(std::int64_t position) noexcept;
  [[nodiscard]] float mask_sample() noexcept;

  dtmf_masker_config config_;
  int delay_;
  int guard_;
  int hangover_;
  template <class Sample, class Mask>
  void run(std::span<const Sample> in, std::span<Sample> out, std::vector<Sample>& line,
           Mask mask) noexcept;

  std::vector<float> line_;              // the delay line, delay_ samples, circular
  std::vector<std::uint8_t> code_line_;  // the same for G.711 codes
  bool code_line_filled_ = false;        // with silence codes of the stream's law
  std::uint8_t code_line_silence_ = 0;   // that law's silence code
  std::size_t line_at_ = 0;              // next slot to read and overwrite
  std::int64_t in_position_ = 0;         // input samples taken
  std::array<span_of_stream, 8> spans_{};
  std::size_t span_count_ = 0;
  bool digit_on_ = false;      // between digit_start and digit_end
  bool suspicion_on_ = false;  // between tone_suspected and digit_start or tone_cleared
  std::int64_t masked_ = 0;
  std::int64_t leaked_ = 0;
  // Masking signals: a rotating phasor for the tone, a linear congruential generator for noise.
  float tone_re_ = 1.0f, tone_im_ = 0.0f, tone_step_re_ = 1.0f, tone_step_im_ = 0.0f;
  float tone_peak_ = 0.0f, noise_scale_ = 0.0f;
  std::uint32_t noise_state_ = 0x12345678u;
};

}  // namespace toneguard::dsp
