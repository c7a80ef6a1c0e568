#include "toneguard/dsp/dtmf_receiver.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <numbers>
#include <stdexcept>

#include "toneguard/dsp/dtmf.h"
#include "toneguard/dsp/goertzel_bank.h"
#include "toneguard/dsp/levels.h"
#include "toneguard/simd/kernels.h"

namespace toneguard::dsp {
namespace {

constexpr int S = dtmf_receiver::block_samples;
static_assert(S <= static_cast<int>(simd::bank16_max_run),
              "a block must fit one G.711 kernel call");
constexpr double rate = dtmf_receiver::sample_rate_hz;

// Bins 0..3 are the rows, 4..7 the columns.
constexpr std::array<float, 8> bin_hz{dtmf_row_hz[0],    dtmf_row_hz[1],    dtmf_row_hz[2],
                                      dtmf_row_hz[3],    dtmf_column_hz[0], dtmf_column_hz[1],
                                      dtmf_column_hz[2], dtmf_column_hz[3]};

// Shared, immutable tables: the bank's basis, and for each row/column pair the inverse Gram
// matrix of the four basis functions (cos and -sin of both tones over one block), which turns
// the pair's four bin values into the least-squares fit of two sines.
struct receiver_tables {
  goertzel_bank bank{bin_hz, S, static_cast<float>(rate)};
  std::array<std::array<float, 16>, 16> inverse_gram{};  // [row*4+column][4x4 row-major]
  std::array<std::complex<float>, 8>
      block_rotation{};  // e^{-j w_b S}: nominal phase advance removed

  receiver_tables() {
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 4; ++c) {
        const double wr = 2 * std::numbers::pi * bin_hz[r] / rate;
        const double wc = 2 * std::numbers::pi * bin_hz[4 + c] / rate;
        double g[4][8] = {};
        for (int i = 0; i < S; ++i) {
          const double u[4] = {std::cos(wr * i), -std::sin(wr * i), std::cos(wc * i),
                               -std::sin(wc * i)};
          for (int a = 0; a < 4; ++a) {
            for (int b = 0; b < 4; ++b) g[a][b] += u[a] * u[b];
          }
        }
        for (int a = 0; a < 4; ++a) g[a][4 + a] = 1.0;
        // Gauss-Jordan on a small, well-conditioned matrix (the tones are > 1 bin apart).
        for (int p = 0; p < 4; ++p) {
          int best = p;
          for (int q = p + 1; q < 4; ++q) {
            if (std::abs(g[q][p]) > std::abs(g[best][p])) best = q;
          }
          std::swap(g[p], g[best]);
          const double pivot = g[p][p];
          for (double& v : g[p]) v /= pivot;
          for (int q = 0; q < 4; ++q) {
            if (q == p) continue;
            const double f = g[q][p];
            for (int k = 0; k < 8; ++k) g[q][k] -= f * g[p][k];
          }
        }
        auto& m = inverse_gram[static_cast<std::size_t>(r * 4 + c)];
        for (int a = 0; a < 4; ++a) {
          for (int b = 0; b < 4; ++b)
            m[static_cast<std::size_t>(a * 4 + b)] = static_cast<float>(g[a][4 + b]);
        }
      }
    }
    for (int b = 0; b < 8; ++b) {
      const double phase = -2 * std::numbers::pi * bin_hz[b] * S / rate;
      block_rotation[static_cast<std::size_t>(b)] = {static_cast<float>(std::cos(phase)),
                                                     static_cast<float>(std::sin(phase))};
    }
  }
};

const receiver_tables& tables() {
  static const receiver_tables t;
  return t;
}

// Two sines fitted to one block: complex amplitudes (peak, phase at the block's first sample)
// and the energy they explain.
struct pair_fit {
  std::complex<float> row, column;
  float explained;
};

pair_fit fit_pair(const receiver_tables& t, const float* bins, int r, int c) noexcept {
  const auto& m = t.inverse_gram[static_cast<std::size_t>(r * 4 + c)];
  const float b[4] = {bins[r], bins[8 + r], bins[4 + c], bins[12 + c]};
  float theta[4];
  for (int a = 0; a < 4; ++a) {
    theta[a] =
        m[a * 4 + 0] * b[0] + m[a * 4 + 1] * b[1] + m[a * 4 + 2] * b[2] + m[a * 4 + 3] * b[3];
  }
  return {{theta[0], theta[1]},
          {theta[2], theta[3]},
          theta[0] * b[0] + theta[1] * b[1] + theta[2] * b[2] + theta[3] * b[3]};
}

// Phase advance of a tone from one block to the next, nominal advance removed: its angle is
// 2*pi*(frequency error)*S/rate.
std::complex<float> phase_advance(const receiver_tables& t, std::complex<float> now,
                                  std::complex<float> before, int bin) noexcept {
  return now * std::conj(before) * t.block_rotation[static_cast<std::size_t>(bin)];
}

// |angle(z)| <= the bin's largest accepted error, without computing the angle.
bool within_angle(std::complex<float> z, float cos2_limit) noexcept {
  const float re = z.real();
  return re > 0.0f && re * re >= cos2_limit * std::norm(z);
}

// |sum of phase advances| / sum of |phase advances| of a run: 1 for a steady tone; noise at
// 12 dB SNR keeps it above 0.97, glides and voices fall below.
constexpr float min_phase_coherence = 0.95f;

// |z| without std::abs's overflow-safe (and slow) hypot: our values are far from overflow.
inline float magnitude(std::complex<float> z) noexcept {
  return std::sqrt(std::norm(z));
}

// Energy over one block of the two fitted sines alone, without their beat.
inline float tone_energy(const pair_fit& fit) noexcept {
  return (std::norm(fit.row) + std::norm(fit.column)) * (0.5f * S);
}

// By value, so that it compiles to one max instruction (std::max's reference result does not).
inline float larger(float a, float b) noexcept {
  return a > b ? a : b;
}

float ratio_db(float db) {
  return std::pow(10.0f, db / 10.0f);
}

}  // namespace

std::optional<std::string> validate(const dtmf_receiver_config& c) {
  auto bad = [](const char* field, float value, const char* rule) {
    return std::string("dtmf_receiver_config.") + field + " = " + std::to_string(value) + ": " +
           rule;
  };
  if (!(c.min_level_dbm0 >= -55.0f && c.min_level_dbm0 <= 0.0f)) {
    return bad("min_level_dbm0", c.min_level_dbm0, "must be in [-55, 0] dBm0");
  }
  if (!(c.max_normal_twist_db >= 0.0f && c.max_normal_twist_db <= 20.0f)) {
    return bad("max_normal_twist_db", c.max_normal_twist_db, "must be in [0, 20] dB");
  }
  if (!(c.max_reverse_twist_db >= 0.0f && c.max_reverse_twist_db <= 20.0f)) {
    return bad("max_reverse_twist_db", c.max_reverse_twist_db, "must be in [0, 20] dB");
  }
  if (!(c.max_frequency_error > 0.0f && c.max_frequency_error <= 0.05f)) {
    return bad("max_frequency_error", c.max_frequency_error, "must be in (0, 0.05]");
  }
  if (!(c.min_tone_purity > 0.0f && c.min_tone_purity < 1.0f)) {
    return bad("min_tone_purity", c.min_tone_purity, "must be in (0, 1)");
  }
  if (c.min_on_ms < 10 || c.min_on_ms > 200) {
    return bad("min_on_ms", static_cast<float>(c.min_on_ms), "must be in [10, 200] ms");
  }
  if (c.min_off_ms < 15 || c.min_off_ms > 200) {
    return bad("min_off_ms", static_cast<float>(c.min_off_ms), "must be in [15, 200] ms");
  }
  return std::nullopt;
}

dtmf_receiver_settings::dtmf_receiver_settings(const dtmf_receiver_config& config)
    : config_(config) {
  if (auto error = validate(config)) throw std::invalid_argument(*error);
  (void)tables();  // built here, never on the packet path
  min_tone_power_ = dbm0_to_power(config.min_level_dbm0);
  max_normal_twist_ = ratio_db(config.max_normal_twist_db);
  max_reverse_twist_ = ratio_db(config.max_reverse_twist_db);
  min_purity_ = config.min_tone_purity;
  relaxed_purity_ = config.min_tone_purity * 0.6f;
  min_on_samples_ = config.min_on_ms * dtmf_receiver::sample_rate_hz / 1000;
  min_off_blocks_ = (config.min_off_ms * dtmf_receiver::sample_rate_hz / 1000 + S - 1) / S;
  for (int b = 0; b < 8; ++b) {
    const double angle = 2 * std::numbers::pi * config.max_frequency_error *
                         bin_hz[static_cast<std::size_t>(b)] * S / rate;
    frequency_cos2_[b] = static_cast<float>(std::cos(angle) * std::cos(angle));
    // A single block pair is noisier than the run's sum: it only has to be roughly right.
    const double loose = std::min(angle * 1.6, std::numbers::pi / 2 * 0.98);
    loose_frequency_cos2_[b] = static_cast<float>(std::cos(loose) * std::cos(loose));
  }
}

const dtmf_receiver_settings& default_dtmf_receiver_settings() {
  static const dtmf_receiver_settings defaults;
  return defaults;
}

dtmf_receiver::dtmf_receiver(const dtmf_receiver_settings& settings) noexcept
    : settings_(&settings) {
  reset();
}

void dtmf_receiver::reset() noexcept {
  std::fill(std::begin(bins_acc_), std::end(bins_acc_), 0.0f);
  energy_acc_ = 0.0f;
  block_fill_ = 0;
  position_ = 0;
  std::fill(std::begin(prev_bins_), std::end(prev_bins_), 0.0f);
  prev_energy_ = 0.0f;
  run_starts_in_first_block_ = false;
  run_row_ = run_column_ = -1;
  run_blocks_ = 0;
  run_row_phase_ = run_column_phase_ = {0.0f, 0.0f};
  run_row_spread_ = run_column_spread_ = 0.0f;
  run_amplitude_ = 0.0f;
  run_onset_ = -1;
  suspected_ = false;
  digit_key_ = '\0';
  digit_row_ = digit_column_ = -1;
  off_blocks_ = 0;
  digit_onset_ = digit_end_ = -1;
  digit_amplitude_ = 0.0f;
  last_block_fill_ = 1.0f;
}

char dtmf_receiver::current_key() const noexcept {
  return digit_key_;
}

void dtmf_receiver::process(std::span<const float> audio, dtmf_listener& listener) noexcept {
  prefetch_state();
  const auto& bank = tables().bank;
  while (!audio.empty()) {
    const std::size_t take =
        std::min<std::size_t>(audio.size(), static_cast<std::size_t>(S - block_fill_));
    bank.accumulate(audio.first(take), block_fill_, bins_acc_, &energy_acc_);
    advance(take, listener);
    audio = audio.subspan(take);
  }
}

void dtmf_receiver::process(std::span<const std::int16_t> audio, dtmf_listener& listener) noexcept {
  float block[S];
  const auto& k = simd::kernels();
  while (!audio.empty()) {
    const std::size_t take = std::min<std::size_t>(audio.size(), S);
    k.int16_to_float(audio.data(), block, take);
    process(std::span<const float>(block, take), listener);
    audio = audio.subspan(take);
  }
}

void dtmf_receiver::process_g711(std::span<const std::uint8_t> codes, bool alaw,
                                 dtmf_listener& listener) noexcept {
  prefetch_state();
  // A piece never exceeds one block (40 <= bank16_max_run codes, checked at compile time).
  const auto correlate = tables().bank.g711(alaw);
  while (!codes.empty()) {
    const std::size_t take =
        std::min<std::size_t>(codes.size(), static_cast<std::size_t>(S - block_fill_));
    // A whole block below the least energy of a tone block needs no bins (finish_block's
    // first test would drop it): the kernel then only decodes it.
    const float min_energy = block_fill_ == 0 && take == S ? quiet_block_energy() : 0.0f;
    correlate(codes.first(take), block_fill_, bins_acc_, &energy_acc_, min_energy);
    advance(take, listener);
    codes = codes.subspan(take);
  }
}

float dtmf_receiver::quiet_block_energy() const noexcept {
  // Two tones at the minimum level (relaxed while a digit is on) over one block.
  return S * settings_->min_tone_power_ * (digit_key_ != '\0' ? 0.25f : 1.0f);
}

void dtmf_receiver::prefetch_state() const noexcept {
  // Lines 1 and 2 (line 0 the kernel loads itself): they arrive while the bank runs.
  const char* state = reinterpret_cast<const char*>(this);
  __builtin_prefetch(state + 64, 1);
  __builtin_prefetch(state + 128, 1);
}

void dtmf_receiver::advance(std::size_t samples, dtmf_listener& listener) noexcept {
  block_fill_ += static_cast<std::int32_t>(samples);
  position_ += static_cast<std::int64_t>(samples);
  if (block_fill_ == S) finish_block(listener);
}

void dtmf_receiver::flush(dtmf_listener& listener) noexcept {
  if (digit_key_ != '\0') {
    const std::int64_t end = off_blocks_ > 0 ? digit_end_ : position_;
    listener.on_dtmf({dtmf_event::kind::digit_end, digit_key_, digit_onset_, end, position_});
    digit_key_ = '\0';
    digit_row_ = digit_column_ = -1;
  } else if (suspected_) {
    listener.on_dtmf({dtmf_event::kind::tone_cleared, dtmf_keys[run_row_][run_column_], run_onset_,
                      position_, position_});
  }
  suspected_ = false;
  run_blocks_ = 0;
  run_row_ = run_column_ = -1;
}

// Power of each bin of a finished block: |X|^2 of the rows and of the columns.
struct dtmf_receiver::bin_powers {
  float row[4];
  float column[4];
};

// What one finished block shows, in the terms the receiver's steps use.
struct dtmf_receiver::block_view {
  std::int64_t start;  // stream position of its first sample
  float energy;
  int row = 0, column = 0;  // the pair that explains it best
  pair_fit fit{};
  float amplitude = 0.0f;   // |row| + |column| of the fit
  bool tone = false;        // a tone block (strict, or relaxed for the digit that is on)
  bool digit_pair = false;  // the pair is the digit that is on
  bool same_run = false;    // and continues the run being followed
  std::complex<float> row_advance{}, column_advance{};  // phase advance since the last block
};

void dtmf_receiver::finish_block(dtmf_listener& listener) noexcept {
  const dtmf_receiver_settings& limits = *settings_;
  const float energy = energy_acc_;
  bin_powers powers;
  for (int k = 0; k < 4; ++k) {
    powers.row[k] = bins_acc_[k] * bins_acc_[k] + bins_acc_[8 + k] * bins_acc_[8 + k];
    powers.column[k] = bins_acc_[4 + k] * bins_acc_[4 + k] + bins_acc_[12 + k] * bins_acc_[12 + k];
  }
  const bool digit_on = digit_key_ != '\0';
  // The strongest bins bound what any pair can explain (bin power * 2/S is a tone's energy in
  // the block, give or take leakage): most speech and noise blocks stop here, before any fit
  // and before the branchy choice of candidates. Maxima without branches: noise makes them
  // unpredictable. Two tones at the (relaxed, while a digit is on) minimum level need at least
  // the energy floor.
  const float purity_floor = digit_on ? limits.relaxed_purity_ : limits.min_purity_;
  const float strongest =
      larger(larger(powers.row[0], powers.row[1]), larger(powers.row[2], powers.row[3])) +
      larger(larger(powers.column[0], powers.column[1]),
             larger(powers.column[2], powers.column[3]));
  const bool candidate =
      energy >= quiet_block_energy() && strongest * (2.0f / S) >= 0.65f * purity_floor * energy;
  if (candidate || digit_on || run_blocks_ > 0) {
    block_view block{position_ - S, energy};
    analyze(block, powers, candidate);
    follow_digit(block, listener);
    follow_run(block, listener);
    commit_if_ready(block, listener);
  }
  // Otherwise speech, noise or silence with nothing being followed: the common case.
  next_block();
}

void dtmf_receiver::analyze(block_view& b, const bin_powers& powers,
                            bool candidate) const noexcept {
  const receiver_tables& t = tables();
  const dtmf_receiver_settings& limits = *settings_;
  const float* row_power = powers.row;
  const float* col_power = powers.column;
  const bool digit_on = digit_key_ != '\0';
  const float relaxed_floor = limits.min_tone_power_ * 0.25f;
  const float purity_floor = digit_on ? limits.relaxed_purity_ : limits.min_purity_;
  if (candidate && run_blocks_ > 0) {
    // A run is being followed: when its own pair still explains the block clearly, no other
    // pair can do better by enough to matter, and the search below is skipped.
    const pair_fit same = fit_pair(t, bins_acc_, run_row_, run_column_);
    if (same.explained >= 0.9f * b.energy) {
      b.row = run_row_;
      b.column = run_column_;
      b.fit = same;
      candidate = false;
    }
  }
  if (candidate) {
    // The strongest row and column, then the runner-up of each group where it comes close:
    // the other group's tone leaks into neighbouring bins unevenly (by twist), so the pair
    // whose least-squares fit explains most energy decides. A runner-up is tried when it is
    // within 6 dB and its bins could explain enough energy.
    int row1, row2, col1, col2;
    auto top_two = [](const float* p, int& first, int& second) {
      first = p[1] > p[0] ? 1 : 0;
      second = 1 - first;
      for (int k = 2; k < 4; ++k) {
        if (p[k] > p[first]) {
          second = first;
          first = k;
        } else if (p[k] > p[second]) {
          second = k;
        }
      }
    };
    top_two(row_power, row1, row2);
    top_two(col_power, col1, col2);
    b.row = row1;
    b.column = col1;
    b.fit = fit_pair(t, bins_acc_, row1, col1);
    auto consider = [&](int rr, int cc) {
      const pair_fit other = fit_pair(t, bins_acc_, rr, cc);
      if (other.explained > b.fit.explained) {
        b.fit = other;
        b.row = rr;
        b.column = cc;
      }
    };
    constexpr float close = 0.25f;
    const float needed = 0.5f * purity_floor * b.energy * (S / 2.0f);
    if (row_power[row2] > close * row_power[row1] && row_power[row2] + col_power[col1] >= needed) {
      consider(row2, col1);
    }
    if (col_power[col2] > close * col_power[col1] && row_power[row1] + col_power[col2] >= needed) {
      consider(row1, col2);
    }
  }

  b.digit_pair = digit_on && b.row == digit_row_ && b.column == digit_column_;
  if (b.fit.explained > 0.0f) {
    const float level_floor = b.digit_pair ? relaxed_floor : limits.min_tone_power_;
    const float row_power_fit = std::norm(b.fit.row) * 0.5f;
    const float column_power_fit = std::norm(b.fit.column) * 0.5f;
    const float twist_slack = b.digit_pair ? 1.6f : 1.0f;
    b.tone =
        row_power_fit >= level_floor && column_power_fit >= level_floor &&
        row_power_fit <= column_power_fit * limits.max_normal_twist_ * twist_slack &&
        column_power_fit <= row_power_fit * limits.max_reverse_twist_ * twist_slack &&
        b.fit.explained >= (b.digit_pair ? limits.relaxed_purity_ : limits.min_purity_) * b.energy;
  }

  // Frequency: the phase advance of both tones since the previous block, for the same pair.
  b.same_run = b.tone && run_blocks_ > 0 && b.row == run_row_ && b.column == run_column_;
  if (b.tone && (b.same_run || (b.digit_pair && off_blocks_ == 0))) {
    const pair_fit before = fit_pair(t, prev_bins_, b.row, b.column);
    b.row_advance = phase_advance(t, b.fit.row, before.row, b.row);
    b.column_advance = phase_advance(t, b.fit.column, before.column, 4 + b.column);
    if (!within_angle(b.row_advance, limits.loose_frequency_cos2_[b.row]) ||
        !within_angle(b.column_advance, limits.loose_frequency_cos2_[4 + b.column])) {
      b.tone = false;
      b.same_run = false;
    }
  }
  b.amplitude = magnitude(b.fit.row) + magnitude(b.fit.column);
}

void dtmf_receiver::follow_digit(const block_view& b, dtmf_listener& listener) noexcept {
  // The digit that is on continues with its own tones and ends after min_off without them.
  if (digit_key_ == '\0') return;
  if (b.tone && b.digit_pair) {
    off_blocks_ = 0;
    last_block_fill_ = std::min(1.0f, b.amplitude / std::max(digit_amplitude_, 1e-3f));
    return;
  }
  if (off_blocks_ == 0) {
    // The tone stopped in the last tone block (if it was weaker) or early in this one.
    const pair_fit here = fit_pair(tables(), bins_acc_, digit_row_, digit_column_);
    const float here_fill = std::min(
        1.0f, (magnitude(here.row) + magnitude(here.column)) / std::max(digit_amplitude_, 1e-3f));
    digit_end_ = last_block_fill_ < 0.9f ? b.start - S + std::llround(last_block_fill_ * S)
                                         : b.start + std::llround(here_fill * S);
  }
  if (++off_blocks_ >= settings_->min_off_blocks_) {
    listener.on_dtmf(
        {dtmf_event::kind::digit_end, digit_key_, digit_onset_, digit_end_, position_});
    digit_key_ = '\0';
    digit_row_ = digit_column_ = -1;
    off_blocks_ = 0;
  }
}

void dtmf_receiver::follow_run(const block_view& b, dtmf_listener& listener) noexcept {
  // The run of tone blocks that may become a digit.
  if (b.same_run) {
    if (run_blocks_ == 1 && run_starts_in_first_block_) {
      // Nothing of the tone before the run's first block, which may itself have been only
      // partly tone (yet pure enough to pass): the tone began as far from that block's end as
      // its share of a whole block's tone energy says. (Energy, not the fitted amplitude: a
      // fit to a cut-off sine can overshoot, depending on phase. The whole block's energy is
      // taken from the fitted amplitudes, which do not beat as the sum of two tones does.)
      const float fill = prev_energy_ / std::max(tone_energy(b.fit), 1e-3f);
      if (fill < 0.9f) {
        run_onset_ = b.start - std::llround(std::max(fill, 0.0f) * S);
        run_amplitude_ = b.amplitude;
      }
    }
    ++run_blocks_;
    run_row_phase_ += b.row_advance;
    run_column_phase_ += b.column_advance;
    run_row_spread_ += magnitude(b.row_advance);
    run_column_spread_ += magnitude(b.column_advance);
    run_amplitude_ += b.amplitude;
    return;
  }
  if (run_blocks_ > 0 && suspected_) {
    listener.on_dtmf({dtmf_event::kind::tone_cleared, dtmf_keys[run_row_][run_column_], run_onset_,
                      b.start, position_});
  }
  suspected_ = false;
  run_blocks_ = 0;
  run_row_ = run_column_ = -1;
  if (!b.tone) return;

  run_row_ = static_cast<std::int8_t>(b.row);
  run_column_ = static_cast<std::int8_t>(b.column);
  run_blocks_ = 1;
  run_row_phase_ = run_column_phase_ = {0.0f, 0.0f};
  run_row_spread_ = run_column_spread_ = 0.0f;
  run_amplitude_ = b.amplitude;
  // The previous block holds the tone's first part, if any. Both the tone's fitted amplitude
  // there and the block's energy bound how much; the smaller wins (energy also counts
  // whatever preceded the tone, the fit can overshoot).
  const pair_fit before = fit_pair(tables(), prev_bins_, b.row, b.column);
  const float fill = std::min(
      {1.0f, (magnitude(before.row) + magnitude(before.column)) / std::max(b.amplitude, 1e-3f),
       prev_energy_ / std::max(tone_energy(b.fit), 1e-3f)});
  run_onset_ = b.start - std::llround(fill * S);
  run_starts_in_first_block_ = fill < 0.1f;
  if (!b.digit_pair) {
    suspected_ = true;
    listener.on_dtmf(
        {dtmf_event::kind::tone_suspected, dtmf_keys[b.row][b.column], run_onset_, -1, position_});
  }
}

void dtmf_receiver::commit_if_ready(const block_view& b, dtmf_listener& listener) noexcept {
  const dtmf_receiver_settings& limits = *settings_;
  // Commit: long enough, both tones' mean frequency error within tolerance, and steady: the
  // block-to-block phase advances agree (a tone has one frequency; a glide or a voice does not).
  auto steady = [](std::complex<float> sum, float sum_of_magnitudes) {
    return std::norm(sum) >=
           min_phase_coherence * min_phase_coherence * sum_of_magnitudes * sum_of_magnitudes;
  };
  // The tone may stop inside this block (which can still pass as a tone block when it is
  // mostly filled): count only the part its amplitude says it fills.
  const float fill_now =
      run_blocks_ > 0 ? b.amplitude * run_blocks_ / std::max(run_amplitude_, 1e-3f) : 0.0f;
  const std::int64_t tone_end = fill_now >= 0.9f ? position_ : b.start + std::llround(fill_now * S);
  if (run_blocks_ >= 2 && suspected_ && tone_end - run_onset_ >= limits.min_on_samples_ &&
      within_angle(run_row_phase_, limits.frequency_cos2_[run_row_]) &&
      within_angle(run_column_phase_, limits.frequency_cos2_[4 + run_column_]) &&
      steady(run_row_phase_, run_row_spread_) && steady(run_column_phase_, run_column_spread_)) {
    if (digit_key_ != '\0') {
      const std::int64_t end = off_blocks_ > 0 ? digit_end_ : run_onset_;
      listener.on_dtmf({dtmf_event::kind::digit_end, digit_key_, digit_onset_, end, position_});
    }
    digit_key_ = dtmf_keys[run_row_][run_column_];
    digit_row_ = run_row_;
    digit_column_ = run_column_;
    digit_onset_ = run_onset_;
    off_blocks_ = 0;
    last_block_fill_ = 1.0f;
    suspected_ = false;
    listener.on_dtmf({dtmf_event::kind::digit_start, digit_key_, digit_onset_, -1, position_});
  }
  if (digit_key_ != '\0' && run_blocks_ > 0 && run_row_ == digit_row_ &&
      run_column_ == digit_column_) {
    // Track the digit's level as it goes so that its end is placed against its own amplitude.
    digit_amplitude_ = run_amplitude_ / run_blocks_;
  }
}

void dtmf_receiver::next_block() noexcept {
  // Fixed-size copies the compiler expands in place (std::copy became a memmove call).
  std::memcpy(prev_bins_, bins_acc_, sizeof prev_bins_);
  std::memset(bins_acc_, 0, sizeof bins_acc_);
  prev_energy_ = energy_acc_;
  energy_acc_ = 0.0f;
  block_fill_ = 0;
}

}  // namespace toneguard::dsp
