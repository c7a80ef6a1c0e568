#pragma once
/// Signal level conventions. Samples are 16-bit linear PCM units (as decoded from G.711),
/// held as int16 or float.

#include <cmath>

namespace toneguard::dsp {

/// Peak amplitude of a sine at 0 dBm0 in 16-bit linear units: 3.14 dB below the G.711
/// overload point (32768 * 10^(-3.14/20)).
inline constexpr float dbm0_sine_peak = 22740.0f;

/// Mean square (power per sample) of a sine at 0 dBm0.
inline constexpr float dbm0_power = dbm0_sine_peak * dbm0_sine_peak / 2.0f;

/// Peak amplitude of a sine at `dbm0`.
[[nodiscard]] inline float dbm0_to_peak(float dbm0) noexcept {
  return dbm0_sine_peak * std::pow(10.0f, dbm0 / 20.0f);
}

/// Mean square per sample of a signal at `dbm0`.
[[nodiscard]] inline float dbm0_to_power(float dbm0) noexcept {
  return dbm0_power * std::pow(10.0f, dbm0 / 10.0f);
}

/// Level in dBm0 of a signal with mean square `power` per sample.
[[nodiscard]] inline float power_to_dbm0(float power) noexcept {
  return 10.0f * std::log10(power / dbm0_power);
}

}  // namespace toneguard::dsp
