#pragma once
/// WAV files of telephone audio: parsing from bytes (no I/O), reading a file, and writing one.
/// Accepted: RIFF/WAVE, mono, 8000 or 16000 Hz, 16-bit PCM, 8-bit μ-law or 8-bit A-law
/// (format tags 1, 7, 6, or WAVE_FORMAT_EXTENSIBLE with one of those subformats).
/// All functions are thread-safe (no shared state); they allocate, so keep them off the
/// packet path.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace toneguard::dsp {

/// Decoded audio of a WAV file.
struct wav_audio {
  /// How the samples were stored in the file.
  enum class encoding : std::uint8_t { pcm16, ulaw, alaw };

  int sample_rate_hz = 8000;                   ///< 8000 or 16000
  encoding source_encoding = encoding::pcm16;  ///< as stored; `samples` are always linear
  std::vector<std::int16_t> samples;           ///< 16-bit linear PCM, G.711 decoded exactly
};

/// Either decoded audio or one short message naming what is wrong with the input.
class [[nodiscard]] wav_result {
 public:
  /// A successful result holding `audio`.
  static wav_result success(wav_audio audio) { return wav_result(std::move(audio)); }
  /// A failed result; `message` names the problem (e.g. "unsupported channel count 2 (mono only)").
  static wav_result failure(std::string message) { return wav_result(std::move(message)); }

  /// True when audio() may be called.
  [[nodiscard]] bool ok() const noexcept { return std::holds_alternative<wav_audio>(value_); }
  /// Same as ok(), for `if (auto result = parse_wav(bytes))`.
  explicit operator bool() const noexcept { return ok(); }

  /// The audio; only when ok().
  [[nodiscard]] const wav_audio& audio() const& { return std::get<wav_audio>(value_); }
  [[nodiscard]] wav_audio&& audio() && { return std::get<wav_audio>(std::move(value_)); }
  /// The error message; only when !ok().
  [[nodiscard]] const std::string& error() const { return std::get<std::string>(value_); }

 private:
  explicit wav_result(wav_audio audio) : value_(std::move(audio)) {}
  explicit wav_result(std::string message) : value_(std::move(message)) {}
  std::variant<wav_audio, std::string> value_;
};

/// Parses a whole WAV file held in `bytes`. Never reads outside `bytes`, and allocates only
/// for the samples actually present. Chunks other than "fmt " and "data" are skipped (with
/// RIFF's pad byte after odd-sized chunks); the first "data" chunk ends the parse.
[[nodiscard]] wav_result parse_wav(std::span<const std::uint8_t> bytes);

/// Largest file read_wav_file() accepts (1 GiB).
inline constexpr std::uint64_t max_wav_file_bytes = std::uint64_t{1} << 30;

/// Reads and parses the file at `path`. Errors name the problem: "cannot open: <reason>",
/// "cannot read: <reason>", a file larger than max_wav_file_bytes, or parse_wav()'s messages.
[[nodiscard]] wav_result read_wav_file(const std::string& path);

/// Writes `samples` (16-bit linear PCM) to `path` as a mono WAV file at `sample_rate_hz`,
/// stored as `stored_as` (16-bit PCM, or G.711 encoded with format tag 7 or 6).
/// Returns nullopt on success, otherwise a message naming the problem (a rate other than
/// 8000 or 16000 Hz, audio too long for a WAV file, "cannot write: <reason>").
[[nodiscard]] std::optional<std::string> write_wav_file(
    const std::string& path, int sample_rate_hz, std::span<const std::int16_t> samples,
    wav_audio::encoding stored_as = wav_audio::encoding::pcm16);

/// The bytes of such a file, as write_wav_file() writes them (for tests and in-memory use).
/// Precondition: `sample_rate_hz` is 8000 or 16000 and the data fits in 4 GiB (write_wav_file()
/// checks both; here a violation throws std::invalid_argument).
[[nodiscard]] std::vector<std::uint8_t> encode_wav(
    int sample_rate_hz, std::span<const std::int16_t> samples,
    wav_audio::encoding stored_as = wav_audio::encoding::pcm16);

}  // namespace toneguard::dsp
