#include "support/agent_scan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "bench/spandsp_dtmf.h"
#include "toneguard/dsp/dtmf.h"
#include "toneguard/dsp/levels.h"

namespace toneguard::testing {
namespace {

constexpr double pi = 3.14159265358979323846;

// Least squares over `x` with the columns cos/sin of each frequency: the energy the fit
// explains, and the coefficients (cos, sin per frequency).
struct fit_result {
  double explained = 0.0;
  std::vector<double> coefficients;
};

fit_result fit(std::span<const float> x, std::span<const double> frequencies_hz) {
  const std::size_t k = 2 * frequencies_hz.size();
  const std::size_t n = x.size();
  std::vector<double> basis(k * n);
  for (std::size_t f = 0; f < frequencies_hz.size(); ++f) {
    const double w = 2.0 * pi * frequencies_hz[f] / 8000.0;
    for (std::size_t i = 0; i < n; ++i) {
      basis[(2 * f) * n + i] = std::cos(w * static_cast<double>(i));
      basis[(2 * f + 1) * n + i] = std::sin(w * static_cast<double>(i));
    }
  }
  // Normal equations G c = b, solved by Gaussian elimination with partial pivoting; the
  // augmented matrix keeps b for the explained energy b'c.
  std::vector<double> g(k * (k + 1)), b(k);
  for (std::size_t r = 0; r < k; ++r) {
    double s = 0.0;
    for (std::size_t i = 0; i < n; ++i) s += basis[r * n + i] * x[i];
    b[r] = s;
    g[r * (k + 1) + k] = s;
    for (std::size_t c = 0; c < k; ++c) {
      double t = 0.0;
      for (std::size_t i = 0; i < n; ++i) t += basis[r * n + i] * basis[c * n + i];
      g[r * (k + 1) + c] = t;
    }
  }
  for (std::size_t col = 0; col < k; ++col) {
    std::size_t pivot = col;
    for (std::size_t r = col + 1; r < k; ++r) {
      if (std::abs(g[r * (k + 1) + col]) > std::abs(g[pivot * (k + 1) + col])) pivot = r;
    }
    if (pivot != col) {
      for (std::size_t c = 0; c <= k; ++c) std::swap(g[col * (k + 1) + c], g[pivot * (k + 1) + c]);
    }
    const double d = g[col * (k + 1) + col];
    if (std::abs(d) < 1e-12) continue;
    for (std::size_t r = 0; r < k; ++r) {
      if (r == col) continue;
      const double m = g[r * (k + 1) + col] / d;
      if (m == 0.0) continue;
      for (std::size_t c = col; c <= k; ++c) g[r * (k + 1) + c] -= m * g[col * (k + 1) + c];
    }
  }
  fit_result out;
  out.coefficients.resize(k);
  for (std::size_t r = 0; r < k; ++r) {
    const double d = g[r * (k + 1) + r];
    out.coefficients[r] = std::abs(d) < 1e-12 ? 0.0 : g[r * (k + 1) + k] / d;
    out.explained += b[r] * out.coefficients[r];
  }
  return out;
}

float level_dbm0(double amplitude) {
  if (amplitude <= 0.0) return -200.0f;
  return static_cast<float>(20.0 * std::log10(amplitude / toneguard::dsp::dbm0_sine_peak));
}

// Marks the caller samples inside some key (widened by `margin`).
std::vector<bool> key_mask(std::size_t size, std::span<const key_interval> keys,
                           std::int64_t margin) {
  std::vector<bool> in_key(size, false);
  for (const auto& k : keys) {
    const std::int64_t b = std::max<std::int64_t>(0, k.begin - margin);
    const std::int64_t e = std::min<std::int64_t>(static_cast<std::int64_t>(size), k.end + margin);
    for (std::int64_t i = b; i < e; ++i) in_key[static_cast<std::size_t>(i)] = true;
  }
  return in_key;
}

}  // namespace

pair_fit fit_key_pair(std::span<const float> window, char key,
                      std::span<const float> masking_tones_hz) {
  const auto tones = toneguard::dsp::dtmf_tones(key);
  if (!tones) return {-200.0f, -200.0f, 0.0f};
  std::vector<double> nuisance(masking_tones_hz.begin(), masking_tones_hz.end());
  std::vector<double> all = nuisance;
  all.push_back(tones->row_hz);
  all.push_back(tones->column_hz);
  double energy = 0.0;
  for (float v : window) energy += static_cast<double>(v) * v;
  const double before = nuisance.empty() ? 0.0 : fit(window, nuisance).explained;
  const fit_result with_pair = fit(window, all);
  const double left = energy - before;
  const double by_pair = with_pair.explained - before;
  const std::size_t r = 2 * nuisance.size();
  const auto& c = with_pair.coefficients;
  pair_fit out;
  out.row_level_dbm0 = level_dbm0(std::hypot(c[r], c[r + 1]));
  out.column_level_dbm0 = level_dbm0(std::hypot(c[r + 2], c[r + 3]));
  out.share =
      left > 1e-6 && by_pair > 0.0 ? static_cast<float>(std::min(1.0, by_pair / left)) : 0.0f;
  return out;
}

std::vector<key_window_hit> scan_key_windows(std::span<const float> agent,
                                             std::span<const key_interval> keys, std::int64_t delay,
                                             const key_window_scan_config& config) {
  std::vector<key_window_hit> hits;
  const std::int64_t size = static_cast<std::int64_t>(agent.size());
  const std::int64_t w = config.window_samples;
  for (const auto& k : keys) {
    const std::int64_t first = std::max<std::int64_t>(0, k.begin + delay - config.pad_samples);
    const std::int64_t last = std::min<std::int64_t>(size, k.end + delay + config.pad_samples);
    for (std::int64_t at = first; at + w <= last; at += config.step_samples) {
      const auto f =
          fit_key_pair(agent.subspan(static_cast<std::size_t>(at), static_cast<std::size_t>(w)),
                       k.key, config.masking_tones_hz);
      if (f.row_level_dbm0 >= config.min_tone_level_dbm0 &&
          f.column_level_dbm0 >= config.min_tone_level_dbm0 && f.share >= config.min_share) {
        hits.push_back({at, k.key, f.row_level_dbm0, f.column_level_dbm0, f.share});
      }
    }
  }
  return hits;
}

delay_estimate find_delay(std::span<const float> caller, std::span<const float> agent,
                          std::int64_t max_lag, std::span<const key_interval> keys,
                          std::int64_t margin) {
  const auto in_key = key_mask(caller.size(), keys, margin);
  // Caller samples that take part: outside keys and not near-silent.
  std::vector<std::int64_t> used;
  for (std::size_t i = 0; i < caller.size(); ++i) {
    if (!in_key[i] && std::abs(caller[i]) > 64.0f) used.push_back(static_cast<std::int64_t>(i));
  }
  delay_estimate best;
  for (std::int64_t lag = 0; lag <= max_lag; ++lag) {
    double xy = 0.0, xx = 0.0, yy = 0.0;
    for (const std::int64_t n : used) {
      const std::int64_t m = n + lag;
      if (m >= static_cast<std::int64_t>(agent.size())) break;
      const double x = caller[static_cast<std::size_t>(n)];
      const double y = agent[static_cast<std::size_t>(m)];
      xy += x * y;
      xx += x * x;
      yy += y * y;
    }
    if (xx <= 0.0 || yy <= 0.0) continue;
    const double r = xy / std::sqrt(xx * yy);
    if (r > best.correlation) best = {lag, r};
  }
  return best;
}

double correlation_outside_keys(std::span<const float> caller, std::span<const float> agent,
                                std::int64_t delay, std::span<const key_interval> keys,
                                std::int64_t margin) {
  const auto in_key = key_mask(caller.size(), keys, margin);
  double xy = 0.0, xx = 0.0, yy = 0.0;
  for (std::size_t n = 0; n < caller.size(); ++n) {
    const std::int64_t m = static_cast<std::int64_t>(n) + delay;
    if (in_key[n] || m < 0 || m >= static_cast<std::int64_t>(agent.size())) continue;
    const double x = caller[n];
    const double y = agent[static_cast<std::size_t>(m)];
    xy += x * y;
    xx += x * x;
    yy += y * y;
  }
  return xx > 0.0 && yy > 0.0 ? xy / std::sqrt(xx * yy) : 0.0;
}

sample_comparison differing_samples_outside_keys(std::span<const float> caller,
                                                 std::span<const float> agent, std::int64_t delay,
                                                 std::span<const key_interval> keys,
                                                 std::int64_t margin) {
  const auto in_key = key_mask(caller.size(), keys, margin);
  sample_comparison out;
  for (std::size_t n = 0; n < caller.size(); ++n) {
    const std::int64_t m = static_cast<std::int64_t>(n) + delay;
    if (in_key[n] || m < 0 || m >= static_cast<std::int64_t>(agent.size())) continue;
    ++out.compared;
    if (caller[n] != agent[static_cast<std::size_t>(m)]) ++out.differing;
  }
  return out;
}

std::string spandsp_digits(std::span<const float> audio) {
  std::vector<std::int16_t> pcm(audio.size());
  for (std::size_t i = 0; i < audio.size(); ++i) {
    pcm[i] = static_cast<std::int16_t>(std::clamp(std::lround(audio[i]), -32768L, 32767L));
  }
  toneguard::bench::spandsp_dtmf_receiver rx;
  rx.process(pcm);
  rx.flush();
  std::string keys;
  for (const auto& d : rx.take_digits()) keys += d.key;
  return keys;
}

std::string describe(std::span<const key_window_hit> hits, std::size_t at_most) {
  std::string s;
  char line[160];
  for (std::size_t i = 0; i < hits.size() && i < at_most; ++i) {
    std::snprintf(line, sizeof line,
                  "key %c at %lld (row %.1f dBm0, column %.1f dBm0, share %.2f); ", hits[i].key,
                  static_cast<long long>(hits[i].position), hits[i].row_level_dbm0,
                  hits[i].column_level_dbm0, hits[i].share);
    s += line;
  }
  if (hits.size() > at_most) s += "... " + std::to_string(hits.size()) + " in all";
  return s;
}

}  // namespace toneguard::testing
