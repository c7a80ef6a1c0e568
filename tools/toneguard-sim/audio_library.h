#pragma once
/// The sounds the simulated people make: recorded speech played file after file, and DTMF keys
/// rendered once at the configured length and level. Loaded before the calls start; read-only
/// afterwards, so any number of calls share one library (one thread).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace toneguard::sim {

/// 8 kHz mono recordings from a folder, decoded to 16-bit linear PCM.
class speech_library {
 public:
  /// An empty library: players fed from it give silence.
  speech_library() = default;
  /// Every readable 8 kHz WAV file directly in `dir` (sorted by name; others are skipped), or
  /// a message naming the problem (no such folder, no usable file).
  [[nodiscard]] static std::variant<speech_library, std::string> load(const std::string& dir);
  /// Number of recordings.
  [[nodiscard]] std::size_t size() const noexcept { return files_.size(); }
  /// Recording `i` (i < size()).
  [[nodiscard]] std::span<const std::int16_t> file(std::size_t i) const noexcept {
    return files_[i];
  }

 private:
  std::vector<std::vector<std::int16_t>> files_;
};

/// Plays a library's recordings in turn from a starting file, stepping `stride` files each
/// time (callers and agents use different starts so they never say the same thing), with a
/// short pause between files. Not thread-safe; one per endpoint.
class speech_player {
 public:
  /// Plays from `library` (which must outlive the player), starting at file `first`.
  speech_player(const speech_library& library, std::size_t first, std::size_t stride);
  /// Fills `out` with the next samples (silence when the library is empty).
  void next(std::span<std::int16_t> out) noexcept;

 private:
  const speech_library* library_;
  std::size_t file_;
  std::size_t stride_;
  std::size_t offset_ = 0;
  std::size_t pause_left_ = 0;
};

/// Every DTMF key as 16-bit PCM, `tone_ms` long, each tone at `level_dbm0`.
class key_tones {
 public:
  key_tones(int tone_ms, float level_dbm0);
  /// The samples of `key` ('0'-'9', '*', '#', 'A'-'D'); empty for anything else.
  [[nodiscard]] std::span<const std::int16_t> samples(char key) const noexcept;
  /// Length of every key, samples.
  [[nodiscard]] std::size_t length() const noexcept { return length_; }

 private:
  std::size_t length_ = 0;
  std::array<std::vector<std::int16_t>, 16> keys_;
};

/// The RFC 4733 event code of a key (0-9, * = 10, # = 11, A-D = 12-15); -1 for anything else.
[[nodiscard]] int rfc4733_event_code(char key) noexcept;

}  // namespace toneguard::sim
