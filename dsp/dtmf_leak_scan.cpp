#include "toneguard/dsp/dtmf_leak_scan.h"

#include <array>
#include <cmath>
#include <numbers>

#include "toneguard/dsp/dtmf.h"
#include "toneguard/dsp/levels.h"

namespace toneguard::dsp {
namespace {

// Solves the 4x4 system g * x = b in place (Gaussian elimination with partial pivoting);
// false when g is singular.
bool solve4(std::array<std::array<double, 4>, 4> g, std::array<double, 4>& b) {
  for (int p = 0; p < 4; ++p) {
    int best = p;
    for (int q = p + 1; q < 4; ++q) {
      if (std::abs(g[q][p]) > std::abs(g[best][p])) best = q;
    }
    if (std::abs(g[best][p]) < 1e-12) return false;
    std::swap(g[p], g[best]);
    std::swap(b[p], b[best]);
    for (int q = p + 1; q < 4; ++q) {
      const double f = g[q][p] / g[p][p];
      for (int k = p; k < 4; ++k) g[q][k] -= f * g[p][k];
      b[q] -= f * b[p];
    }
  }
  for (int p = 3; p >= 0; --p) {
    for (int k = p + 1; k < 4; ++k) b[p] -= g[p][k] * b[k];
    b[p] /= g[p][p];
  }
  return true;
}

}  // namespace

std::vector<dtmf_leak> scan_for_dtmf_leaks(std::span<const float> audio,
                                           const dtmf_leak_scan_config& config) {
  std::vector<dtmf_leak> leaks;
  const auto n = static_cast<std::size_t>(config.window_samples);
  if (n == 0 || config.hop_samples <= 0 || audio.size() < n) return leaks;
  const double min_power = dbm0_to_power(config.min_tone_level_dbm0);
  const double max_twist = std::pow(10.0, config.max_twist_db / 10.0);

  // Basis per frequency over one window: cos and sin, and the Gram matrix of each key's four.
  std::array<float, 8> hz{};
  for (int r = 0; r < 4; ++r)
    hz[static_cast<std::size_t>(r)] = dtmf_row_hz[static_cast<std::size_t>(r)];
  for (int c = 0; c < 4; ++c)
    hz[static_cast<std::size_t>(4 + c)] = dtmf_column_hz[static_cast<std::size_t>(c)];
  std::vector<std::array<double, 16>> basis(n);  // [i][2f] = cos, [i][2f+1] = sin
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t f = 0; f < 8; ++f) {
      const double w = 2 * std::numbers::pi * hz[f] / 8000.0 * static_cast<double>(i);
      basis[i][2 * f] = std::cos(w);
      basis[i][2 * f + 1] = std::sin(w);
    }
  }

  // The best key of each window in turn; a run of min_windows windows with the same one is
  // reported once.
  char run_key = '\0';
  int run_length = 0;
  dtmf_leak run_first{};
  for (std::size_t start = 0; start + n <= audio.size();
       start += static_cast<std::size_t>(config.hop_samples)) {
    std::array<double, 16> corr{};
    double energy = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double x = audio[start + i];
      energy += x * x;
      for (std::size_t k = 0; k < 16; ++k) corr[k] += x * basis[i][k];
    }
    char best_key = '\0';
    double best_explained = 0;
    dtmf_leak best{};
    // Two tones at the minimum level need at least this much energy in the window.
    if (energy >= 2.0 * min_power * static_cast<double>(n) * 0.5) {
      for (int r = 0; r < 4; ++r) {
        for (int c = 0; c < 4; ++c) {
          const std::size_t idx[4] = {
              static_cast<std::size_t>(2 * r), static_cast<std::size_t>(2 * r + 1),
              static_cast<std::size_t>(2 * (4 + c)), static_cast<std::size_t>(2 * (4 + c) + 1)};
          std::array<std::array<double, 4>, 4> g{};
          std::array<double, 4> b{};
          for (int a = 0; a < 4; ++a) {
            b[static_cast<std::size_t>(a)] = corr[idx[a]];
            for (int e = 0; e < 4; ++e) {
              double sum = 0;
              for (std::size_t i = 0; i < n; ++i) sum += basis[i][idx[a]] * basis[i][idx[e]];
              g[static_cast<std::size_t>(a)][static_cast<std::size_t>(e)] = sum;
            }
          }
          std::array<double, 4> theta = b;
          if (!solve4(g, theta)) continue;
          double explained = 0;
          for (int a = 0; a < 4; ++a) {
            explained += theta[static_cast<std::size_t>(a)] * b[static_cast<std::size_t>(a)];
          }
          const double row_power = (theta[0] * theta[0] + theta[1] * theta[1]) / 2;
          const double column_power = (theta[2] * theta[2] + theta[3] * theta[3]) / 2;
          if (row_power >= min_power && column_power >= min_power &&
              row_power <= max_twist * column_power && column_power <= max_twist * row_power &&
              explained >= config.min_share * energy && explained > best_explained) {
            best_explained = explained;
            best_key = dtmf_keys[r][c];
            best = {static_cast<std::int64_t>(start), best_key,
                    power_to_dbm0(static_cast<float>(row_power)),
                    power_to_dbm0(static_cast<float>(column_power))};
          }
        }
      }
    }
    if (best_key != '\0' && best_key == run_key) {
      if (++run_length == config.min_windows) leaks.push_back(run_first);
    } else {
      run_key = best_key;
      run_length = best_key != '\0' ? 1 : 0;
      run_first = best;
      if (run_length == config.min_windows) leaks.push_back(run_first);
    }
  }
  return leaks;
}

}  // namespace toneguard::dsp
