#pragma once
// What the integration tests ask of an agent's recording (8 kHz, 16-bit linear units):
//
// - scan_key_windows: the zero-leak check. Over every key the caller sent, every 2 ms window
//   (16 samples) that lies inside that key's interval on the agent's timeline is fitted, by
//   least squares, with the key's own two tones (cos and sin at f_low and f_high) after the
//   masking tone the attacker knows of (500 Hz, what `DTMF-security tone` plays) has been
//   fitted out. A window shows the key when both fitted tones reach min_tone_level_dbm0 and
//   the pair explains at least min_share of the energy left. agent_scan_test.cpp proves the
//   thresholds: a planted 1 ms fragment of any key at -20 dBm0 is found in silence, in the
//   flat 500 Hz tone and in comfort noise, and clean masked output is never flagged.
// - find_delay: how far the agent's audio lags the caller's (cross-correlation of the
//   caller's audio outside the keys).
// - correlation_outside_keys / differing_samples_outside_keys: the speech is intact.
// - spandsp_digits: the keys spandsp's dtmf_rx finds in a recording.
//
// For tests only: allocates, double precision, no attempt at speed.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace toneguard::testing {

// One key as the caller sent it: samples [begin, end) of the caller's audio.
struct key_interval {
  char key;
  std::int64_t begin;
  std::int64_t end;
};

struct key_window_scan_config {
  int window_samples = 16;  // 2 ms
  int step_samples = 2;
  // Both tones of the pair at or above this level (a full-window sine of the fitted
  // amplitude), dBm0...
  float min_tone_level_dbm0 = -40.0f;
  // ...and the pair explains at least this share of the window's energy left after the
  // masking tones are fitted out.
  float min_share = 0.3f;
  // Tones an attacker knows are there and removes first (the masker's flat tone).
  std::vector<float> masking_tones_hz{500.0f};
  // Windows may start this many samples before the interval and end this many after it.
  int pad_samples = 0;
};

// One window that shows a key.
struct key_window_hit {
  std::int64_t position;  // first sample of the window, agent recording
  char key;
  float row_level_dbm0;
  float column_level_dbm0;
  float share;
};

// The least-squares fit of `key`'s pair over `window` (after the masking tones): the tones'
// levels and the pair's share. For the unit test and diagnostics.
struct pair_fit {
  float row_level_dbm0;
  float column_level_dbm0;
  float share;
};
[[nodiscard]] pair_fit fit_key_pair(std::span<const float> window, char key,
                                    std::span<const float> masking_tones_hz);

// Every window of `agent` inside some key interval moved by `delay` (agent sample =
// caller sample + delay) in which that key's pair is present.
[[nodiscard]] std::vector<key_window_hit> scan_key_windows(
    std::span<const float> agent, std::span<const key_interval> keys, std::int64_t delay,
    const key_window_scan_config& config = {});

struct delay_estimate {
  std::int64_t lag = -1;     // agent sample = caller sample + lag
  double correlation = 0.0;  // normalized, at that lag
};

// The lag in [0, max_lag] at which `agent` best matches `caller`, over the caller's samples
// outside `keys` (each widened by `margin` samples) and where the caller is not silent.
[[nodiscard]] delay_estimate find_delay(std::span<const float> caller, std::span<const float> agent,
                                        std::int64_t max_lag,
                                        std::span<const key_interval> keys = {},
                                        std::int64_t margin = 160);

// Normalized correlation of agent[n + delay] with caller[n] over the caller's samples outside
// the keys (each widened by `margin`) that the agent's recording covers.
[[nodiscard]] double correlation_outside_keys(std::span<const float> caller,
                                              std::span<const float> agent, std::int64_t delay,
                                              std::span<const key_interval> keys,
                                              std::int64_t margin);

// How many of those samples differ at all, and how many were compared.
struct sample_comparison {
  std::int64_t compared = 0;
  std::int64_t differing = 0;
};
[[nodiscard]] sample_comparison differing_samples_outside_keys(std::span<const float> caller,
                                                               std::span<const float> agent,
                                                               std::int64_t delay,
                                                               std::span<const key_interval> keys,
                                                               std::int64_t margin);

// The keys spandsp's dtmf_rx reports in `audio`, in order.
[[nodiscard]] std::string spandsp_digits(std::span<const float> audio);

// For messages: "key 5 at 1234 (row -21.0 dBm0, column -20.5 dBm0, share 0.93); ...".
[[nodiscard]] std::string describe(std::span<const key_window_hit> hits, std::size_t at_most = 8);

}  // namespace toneguard::testing
