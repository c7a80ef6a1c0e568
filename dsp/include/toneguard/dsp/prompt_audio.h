#pragma once
/// Prompt audio: the recordings of a prompt set held in memory as 8 kHz 16-bit mono, and plans
/// (sequences of phrase ids) rendered from them into one buffer of linear PCM or G.711.
/// dsp does not see engine: a set arrives as plain (phrase id, path) pairs, as
/// engine::prompt_set::files() lists them. Loading reads files and allocates: do it at start-up.
/// A loaded prompt_audio is immutable, so any number of threads may render from it at once.

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "toneguard/dsp/g711.h"

namespace toneguard::dsp {

/// A value, or one message naming what is wrong (and the file, where there is one).
template <class T>
class [[nodiscard]] prompt_result {
 public:
  prompt_result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  /// A failed result with `message`.
  static prompt_result failure(std::string message) {
    return prompt_result(error{std::move(message)});
  }

  /// True when value() may be called.
  [[nodiscard]] bool ok() const noexcept { return value_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  /// The value; only when ok().
  [[nodiscard]] const T& value() const& { return std::get<0>(value_); }
  [[nodiscard]] T&& value() && { return std::get<0>(std::move(value_)); }
  /// The message; only when !ok().
  [[nodiscard]] const std::string& error_message() const { return std::get<1>(value_).message; }

 private:
  struct error {
    std::string message;
  };
  explicit prompt_result(error e) : value_(std::move(e)) {}
  std::variant<T, error> value_;
};

/// One phrase of a prompt set: its id and its audio file.
struct prompt_file {
  std::string phrase_id;
  std::string path;
};

/// Lowest and highest WAV sample rate a prompt file may have, in Hz.
inline constexpr int min_prompt_rate_hz = 4000;
inline constexpr int max_prompt_rate_hz = 192000;

/// Reads one prompt recording as 8 kHz 16-bit mono linear PCM. Accepts what read_wav_file()
/// (wav.h) accepts, mono 16-bit PCM, μ-law or A-law, at any rate from min_prompt_rate_hz to
/// max_prompt_rate_hz (e.g. espeak-ng's 22050 Hz); rates other than 8 kHz are resampled
/// (resample_to_8k). Refuses an empty recording. Messages name `path`.
[[nodiscard]] prompt_result<std::vector<std::int16_t>> read_prompt_wav(const std::string& path);

/// Resamples 16-bit mono audio at `rate_hz` (min_prompt_rate_hz..max_prompt_rate_hz) to 8 kHz.
/// From above 8 kHz the last stage is always resampler_16k_to_8k, whose low-pass keeps 0-3.4 kHz
/// flat so nothing above 4 kHz folds into the telephone band: rates above 32 kHz are halved with
/// its filter, others brought to 16 kHz with liquid-dsp's multi-stage resampler (60 dB stop
/// band). Below 8 kHz liquid-dsp interpolates directly. Filter delays are compensated (within a
/// sample), so the output is time-aligned with the input and round(size * 8000 / rate_hz)
/// samples long. 8 kHz input is returned as is.
/// Precondition: `rate_hz` in range (otherwise throws std::invalid_argument).
[[nodiscard]] std::vector<std::int16_t> resample_to_8k(std::span<const std::int16_t> samples,
                                                       int rate_hz);

/// A prompt set's recordings in memory, 8 kHz 16-bit mono.
class prompt_audio {
 public:
  /// Sample rate of everything held and rendered, in Hz.
  static constexpr int sample_rate_hz = 8000;
  /// Longest gap render() puts between phrases, in ms.
  static constexpr int max_gap_ms = 2000;

  /// Loads every file (read_prompt_wav). Fails with the first unusable file, naming the
  /// phrase id and the path, or on a phrase id listed twice.
  [[nodiscard]] static prompt_result<prompt_audio> load(std::span<const prompt_file> files);

  /// Builds a set from audio already in memory (8 kHz 16-bit mono), e.g. for tests.
  [[nodiscard]] static prompt_audio from_samples(
      std::map<std::string, std::vector<std::int16_t>, std::less<>> phrases);

  /// The samples of `phrase_id`; empty when the set lacks it (no phrase is empty).
  [[nodiscard]] std::span<const std::int16_t> find(std::string_view phrase_id) const noexcept;

  /// Number of phrases held.
  [[nodiscard]] std::size_t size() const noexcept { return phrases_.size(); }
  /// Sum of all phrases' lengths, in samples.
  [[nodiscard]] std::size_t total_samples() const noexcept;

  /// The phrases one after another, with `gap_ms` (0..max_gap_ms) of silence between two
  /// phrases (none before the first or after the last). Fails naming the first phrase id the
  /// set lacks, or a gap out of range.
  [[nodiscard]] prompt_result<std::vector<std::int16_t>> render(
      std::span<const std::string> phrase_ids, int gap_ms = 0) const;

  /// As render(), G.711 encoded with `law`: one byte per sample.
  [[nodiscard]] prompt_result<std::vector<std::uint8_t>> render_g711(
      g711_law law, std::span<const std::string> phrase_ids, int gap_ms = 0) const;

 private:
  std::map<std::string, std::vector<std::int16_t>, std::less<>> phrases_;
};

}  // namespace toneguard::dsp
