#pragma once
/// Looks for what is left of DTMF keys in audio that was supposed to be masked, the way an
/// attacker would: a least-squares fit of every key's two tones over short windows. With the
/// defaults it finds any fragment of 4 ms or more (3 ms: some keys) and stays quiet on noise
/// at -20 dBm0; shorter fragments can carry a key too, which is why the masker also counts
/// exactly what it let through (dtmf_masker::leaked_samples). For tests, toneguard-sim and
/// audits; allocates, not for the packet path. Thread-safe (no shared mutable state).

#include <cstdint>
#include <span>
#include <vector>

namespace toneguard::dsp {

struct dtmf_leak_scan_config {
  /// Window length and hop, samples at 8 kHz.
  int window_samples = 24;
  int hop_samples = 8;
  /// A window leaks a key when both of its tones fit at or above this level, dBm0...
  float min_tone_level_dbm0 = -45.0f;
  /// ...within this many dB of each other (a lone tone plus noise is not a key)...
  float max_twist_db = 12.0f;
  /// ...and together explain at least this share of the window's energy...
  float min_share = 0.85f;
  /// ...and the same key fits best in this many consecutive windows (noise fits some key in
  /// an odd window; a tone fragment fits the same one in each: 2 windows = 4 ms at 24/8).
  int min_windows = 2;
};

/// A run of windows that shows a key (reported once, at its first window).
struct dtmf_leak {
  std::int64_t position;  ///< first sample of the first window
  char key;
  float row_level_dbm0;
  float column_level_dbm0;
};

/// Every run of windows of `audio` (8 kHz, 16-bit linear units) that shows a key.
[[nodiscard]] std::vector<dtmf_leak> scan_for_dtmf_leaks(std::span<const float> audio,
                                                         const dtmf_leak_scan_config& config = {});

}  // namespace toneguard::dsp
