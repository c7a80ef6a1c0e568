// toneguard-dtmf-compare: toneguard's DTMF receiver beside spandsp's dtmf_rx on the conditions
// of the requirement table (docs: references.md), then talk-off on recorded speech and music.
//
// Every trial is generated with fixed seeds (start offset against both receivers' blocks, tone
// phases and noise vary per trial), encoded to μ-law and fed to both receivers in the same
// 20 ms frames. "detect" passes when exactly the expected keys come out in order, "reject" when
// no digit does; "either" rows (the grey zone of the table) show how often the key came out.
//
// Usage: toneguard-dtmf-compare [--json] [--verbose] [--no-talk-off] [--trials-scale N]
//                               [--speech-dir DIR] [--music-dir DIR]
//   --verbose       the first failing trial of each row and each talk-off file with digits (stderr)
//   --trials-scale  trials per row = N times the row's base count (default 4; 1: quick run)

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <numbers>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "bench/dtmf_harness.h"
#include "toneguard/dsp/dtmf.h"
#include "toneguard/dsp/dtmf_leak_scan.h"
#include "toneguard/dsp/dtmf_masker.h"
#include "toneguard/dsp/levels.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/dsp/tone_generator.h"
#include "toneguard/dsp/wav.h"
#include "toneguard/simd/isa.h"

namespace toneguard::bench {
namespace {

constexpr float rate_hz = dsp::dtmf_receiver::sample_rate_hz;
constexpr double standard_tone_ms = 50.0;      // tones of level, frequency, twist and noise rows
constexpr float standard_level_dbm0 = -10.0f;  // per tone, where a row does not vary it

// ---- trial signals ------------------------------------------------------------------------

/// One generated trial: μ-law audio and the truth about it.
struct trial_signal {
  std::vector<std::uint8_t> ulaw;
  std::string keys;                  // expected keys in order ("" for a reject trial)
  std::vector<std::int64_t> onsets;  // first sample of each expected key's tone
  std::vector<std::int64_t> ends;    // sample after its tone
};

/// Appends the pieces of a trial. Tones start at random phases; the lead-in puts the first
/// piece at a random offset against the 40- and 102-sample blocks of the receivers.
class trial_builder {
 public:
  explicit trial_builder(std::uint32_t seed) : rng_(seed), noise_seed_(seed ^ 0x9e3779b9u) {
    builder_.silence(20.0 +
                     static_cast<double>(std::uniform_int_distribution<int>(0, 101)(rng_)) / 8.0);
  }

  std::mt19937& rng() noexcept { return rng_; }

  /// A DTMF key; `expected` false for a key that must not come out (its truth is not kept).
  trial_builder& key(char key, double ms, const dsp::dtmf_tone_spec& spec = {},
                     bool expected = true) {
    if (expected) {
      signal_.keys.push_back(key);
      signal_.onsets.push_back(position());
    }
    append_key(key, ms, spec);
    if (expected) signal_.ends.push_back(position());
    return *this;
  }

  /// More of the last expected key after a break: the same digit, interrupted (its onset stays,
  /// its end moves). New random phases, as after a real interruption.
  trial_builder& key_continued(double ms, const dsp::dtmf_tone_spec& spec = {}) {
    append_key(signal_.keys.back(), ms, spec);
    signal_.ends.back() = position();
    return *this;
  }

  /// A single sine.
  trial_builder& tone(float hz, double ms, float level_dbm0) {
    append_tones({{hz, level_dbm0}}, ms);
    return *this;
  }

  trial_builder& pause(double ms) {
    builder_.silence(ms);
    return *this;
  }

  /// Adds `tail_ms` of silence, then white noise at `noise_dbm0` over everything, and encodes.
  trial_signal finish(double tail_ms, std::optional<float> noise_dbm0 = std::nullopt) {
    builder_.silence(tail_ms);
    if (noise_dbm0) builder_.add_white_noise(*noise_dbm0, noise_seed_);
    signal_.ulaw = ulaw_encode(builder_.pcm16());
    return std::move(signal_);
  }

 private:
  struct sine {
    float hz, level_dbm0;
  };

  [[nodiscard]] std::int64_t position() const noexcept {
    return static_cast<std::int64_t>(builder_.size());
  }

  // As signal_builder::dtmf (twist split evenly around the level), at random start phases.
  void append_key(char key, double ms, const dsp::dtmf_tone_spec& spec) {
    const auto tones = dsp::dtmf_tones(key);
    append_tones(
        {{tones->row_hz * (1.0f + spec.row_deviation), spec.level_dbm0 + spec.twist_db / 2},
         {tones->column_hz * (1.0f + spec.column_deviation), spec.level_dbm0 - spec.twist_db / 2}},
        ms);
  }

  void append_tones(std::initializer_list<sine> sines, double ms) {
    std::vector<float> piece(builder_.samples_for_ms(ms), 0.0f);
    std::uniform_real_distribution<float> phase(0.0f, 2.0f * std::numbers::pi_v<float>);
    for (const sine& s : sines) {
      dsp::tone_generator(s.hz, dsp::dbm0_to_peak(s.level_dbm0), rate_hz, phase(rng_))
          .add_to(piece);
    }
    builder_.samples(piece);
  }

  std::mt19937 rng_;
  std::uint32_t noise_seed_;
  dsp::signal_builder builder_{rate_hz};
  trial_signal signal_;
};

// ---- conditions -----------------------------------------------------------------------------

enum class expectation { detect, reject, either };

std::string_view expectation_name(expectation e) {
  switch (e) {
    case expectation::detect:
      return "detect";
    case expectation::reject:
      return "reject";
    case expectation::either:
      return "either";
  }
  return "?";
}

struct condition {
  std::string group;
  std::string name;
  expectation expected;
  int trials;  // base count; --trials-scale multiplies it
  std::function<trial_signal(int trial, trial_builder&)> make;
  bool timing = false;  // its digits feed the latency section
};

char key_for_trial(int trial) {
  return dsp::dtmf_all_keys[static_cast<std::size_t>(trial) % 16];
}

// A row of single keys (all 16 in turn) of `ms` with `spec`, between silences.
condition single_keys(std::string group, std::string name, expectation expected, int trials,
                      dsp::dtmf_tone_spec spec, double ms = standard_tone_ms) {
  return {std::move(group), std::move(name), expected, trials,
          [spec, ms, expected](int trial, trial_builder& b) {
            b.key(key_for_trial(trial), ms, spec, expected != expectation::reject);
            return b.finish(80.0);
          }};
}

// The keys with 697 Hz (1 2 3 A), that tone off by `deviation`: must reject.
condition row_697_keys(float deviation) {
  char name[64];
  std::snprintf(name, sizeof name, "697 Hz %+.1f%% (keys 1 2 3 A)", 100.0 * deviation);
  return {"frequency", name, expectation::reject, 256, [deviation](int trial, trial_builder& b) {
            b.key(dsp::dtmf_keys[0][trial % 4], standard_tone_ms,
                  {standard_level_dbm0, 0.0f, deviation, 0.0f}, false);
            return b.finish(80.0);
          }};
}

// "low +1.5%", "high -3.5%", "low +1.5%, high -1.5%".
std::string deviation_label(float row, float column) {
  char text[48];
  if (column == 0)
    std::snprintf(text, sizeof text, "low %+.1f%%", 100.0 * row);
  else if (row == 0)
    std::snprintf(text, sizeof text, "high %+.1f%%", 100.0 * column);
  else
    std::snprintf(text, sizeof text, "low %+.1f%%, high %+.1f%%", 100.0 * row, 100.0 * column);
  return text;
}

std::vector<condition> all_conditions() {
  std::vector<condition> c;
  const float L = standard_level_dbm0;

  // Level per tone.
  for (float level : {0.0f, -10.0f, -20.0f, -25.0f}) {
    auto row =
        single_keys("level", std::to_string(static_cast<int>(level)) + " dBm0 per tone, 16 keys",
                    expectation::detect, 640, {level, 0.0f, 0.0f, 0.0f});
    row.timing = true;
    c.push_back(std::move(row));
  }
  c.push_back(single_keys("level", "-55 dBm0 per tone", expectation::reject, 256,
                          {-55.0f, 0.0f, 0.0f, 0.0f}));

  // Frequency deviation: each tone alone, then both in all sign combinations.
  for (float d : {0.015f, 0.035f}) {
    const expectation e = d < 0.02f ? expectation::detect : expectation::reject;
    const float pairs[][2] = {{d, 0}, {-d, 0}, {0, d}, {0, -d}, {d, d}, {-d, -d}, {d, -d}, {-d, d}};
    for (const auto& [row, column] : pairs) {
      c.push_back(
          single_keys("frequency", deviation_label(row, column), e, 320, {L, 0.0f, row, column}));
    }
  }
  c.push_back(row_697_keys(-0.035f));
  c.push_back(row_697_keys(0.035f));

  // Twist: limits, and the corners with the level range and the frequency tolerance.
  c.push_back(
      single_keys("twist", "+8 dB (low stronger)", expectation::detect, 320, {L, 8.0f, 0, 0}));
  c.push_back(
      single_keys("twist", "-4 dB (high stronger)", expectation::detect, 320, {L, -4.0f, 0, 0}));
  c.push_back(single_keys("twist", "+8 dB, high tone at -25 dBm0", expectation::detect, 320,
                          {-21.0f, 8.0f, 0, 0}));
  c.push_back(single_keys("twist", "-4 dB, low tone at -25 dBm0", expectation::detect, 320,
                          {-23.0f, -4.0f, 0, 0}));
  c.push_back(single_keys("twist", "+8 dB, low tone at 0 dBm0", expectation::detect, 320,
                          {-4.0f, 8.0f, 0, 0}));
  c.push_back(single_keys("twist", "-4 dB, high tone at 0 dBm0", expectation::detect, 320,
                          {-2.0f, -4.0f, 0, 0}));
  for (float twist : {8.0f, -4.0f}) {
    c.push_back({"twist",
                 (twist > 0 ? "+8" : "-4") + std::string(" dB, both tones off by 1.5% (any signs)"),
                 expectation::detect, 320, [twist, L](int trial, trial_builder& b) {
                   const float row = (trial & 16) ? 0.015f : -0.015f,
                               column = (trial & 32) ? 0.015f : -0.015f;
                   b.key(key_for_trial(trial), standard_tone_ms, {L, twist, row, column});
                   return b.finish(80.0);
                 }});
  }

  // Timing.
  c.push_back({"timing", "40 ms on / 40 ms off, all 16 keys shuffled", expectation::detect, 200,
               [L](int, trial_builder& b) {
                 std::array<char, 16> keys = dsp::dtmf_all_keys;
                 std::shuffle(keys.begin(), keys.end(), b.rng());
                 for (char k : keys) b.key(k, 40.0, {L, 0, 0, 0}).pause(40.0);
                 return b.finish(40.0);
               }});
  for (double ms : {15.0, 20.0, 22.0, 25.0, 40.0}) {
    const expectation e = ms < 24.0   ? expectation::reject
                          : ms < 40.0 ? expectation::either
                                      : expectation::detect;
    c.push_back(single_keys("timing",
                            "tone " + std::to_string(static_cast<int>(ms)) + " ms" +
                                (ms >= 20 && ms < 24 ? " (AT&T: reject <= 23 ms)" : ""),
                            e, 640, {L, 0, 0, 0}, ms));
  }
  c.push_back({"timing", "10 ms break inside a 100 ms digit (break at 5..85 ms)",
               expectation::detect, 16 * 33 * 2, [L](int trial, trial_builder& b) {
                 const double before = 5.0 + 2.5 * ((trial / 16) % 33);
                 b.key(key_for_trial(trial), before, {L, 0, 0, 0})
                     .pause(10.0)
                     .key_continued(90.0 - before, {L, 0, 0, 0});
                 return b.finish(80.0);
               }});
  c.push_back({"timing", "40 ms pause between two 50 ms tones of one key", expectation::detect, 320,
               [L](int trial, trial_builder& b) {
                 const char k = key_for_trial(trial);
                 b.key(k, standard_tone_ms, {L, 0, 0, 0})
                     .pause(40.0)
                     .key(k, standard_tone_ms, {L, 0, 0, 0});
                 return b.finish(80.0);
               }});

  // White noise over 0-4 kHz; SNR is each tone's power over the noise power.
  for (float snr : {20.0f, 15.0f, 12.0f, 10.0f}) {
    c.push_back({"noise",
                 "SNR " + std::to_string(static_cast<int>(snr)) + " dB (per tone, -10 dBm0)",
                 expectation::detect, 640, [snr, L](int trial, trial_builder& b) {
                   b.pause(150.0).key(key_for_trial(trial), standard_tone_ms, {L, 0, 0, 0});
                   return b.finish(150.0, L - snr);
                 }});
  }
  c.push_back({"noise", "noise alone, -20 dBm0, 1 s", expectation::reject, 100,
               [](int, trial_builder& b) { return b.pause(1000.0).finish(0.0, -20.0f); }});

  // Single tones.
  for (float level : {-10.0f, 0.0f}) {
    c.push_back(
        {"single tone",
         "one DTMF frequency alone, " + std::to_string(static_cast<int>(level)) + " dBm0, 100 ms",
         expectation::reject, 320, [level](int trial, trial_builder& b) {
           const int f = trial % 8;
           b.tone(f < 4 ? dsp::dtmf_row_hz[f] : dsp::dtmf_column_hz[f - 4], 100.0, level);
           return b.finish(80.0);
         }});
  }
  return c;
}

// ---- running and scoring --------------------------------------------------------------------

std::string keys_of(const std::vector<detected_digit>& digits) {
  std::string keys;
  for (const detected_digit& d : digits) keys.push_back(d.key);
  return keys;
}

double samples_to_ms(double samples) {
  return samples * 1000.0 / rate_hz;
}

/// Sorted values for percentiles (nearest rank).
struct distribution {
  std::vector<double> values;
  void add(double v) { values.push_back(v); }
  [[nodiscard]] double percentile(double p) {
    if (values.empty()) return NAN;
    std::sort(values.begin(), values.end());
    const auto rank =
        static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
    return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
  }
};

/// One receiver's results on one condition.
struct receiver_tally {
  int passed = 0;
  std::string first_failure;
};

/// One receiver's timing over the passing trials of the timing rows, in ms.
struct timing_stats {
  distribution latency, frame_latency, onset_error, abs_onset_error, end_error, abs_end_error;
};

void score(const trial_signal& trial, const std::vector<detected_digit>& got, const condition& cond,
           receiver_tally& tally, timing_stats& timing) {
  const std::string keys = keys_of(got);
  const bool pass = cond.expected == expectation::reject ? keys.empty() : keys == trial.keys;
  if (pass)
    ++tally.passed;
  else if (tally.first_failure.empty())
    tally.first_failure = "expected \"" + trial.keys + "\", got \"" + keys + "\"";
  if (!pass || !cond.timing) return;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const auto onset = static_cast<double>(trial.onsets[i]);
    const auto frame = static_cast<double>(frame_samples);
    timing.latency.add(samples_to_ms(static_cast<double>(got[i].detected_at) - onset));
    timing.frame_latency.add(
        samples_to_ms(std::ceil(static_cast<double>(got[i].detected_at) / frame) * frame - onset));
    if (got[i].onset >= 0) {
      const double e = samples_to_ms(static_cast<double>(got[i].onset) - onset);
      timing.onset_error.add(e);
      timing.abs_onset_error.add(std::abs(e));
    }
    if (got[i].end >= 0) {
      const double e = samples_to_ms(static_cast<double>(got[i].end - trial.ends[i]));
      timing.end_error.add(e);
      timing.abs_end_error.add(std::abs(e));
    }
  }
}

struct options {
  int trials_scale = 4;  // trials per row = the row's base count times this
  bool json = false;
  bool verbose = false;
  bool talk_off = true;
  std::string speech_dir = "/usr/share/asterisk/sounds/en";
  std::string music_dir = "/usr/share/asterisk/moh";
};

std::string percent(int passed, int trials) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%", 100.0 * passed / trials);
  return text;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out.push_back('\\');
    out.push_back(ch);
  }
  return out + "\"";
}

std::string ms_or_na(double v) {
  if (std::isnan(v)) return "n/a";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f ms", v);
  return text;
}

std::string json_number(double v) {
  if (std::isnan(v)) return "null";
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", v);
  return text;
}

/// Runs every condition and prints its row; returns the timing of (toneguard, spandsp).
std::pair<timing_stats, timing_stats> run_conditions(const options& opt) {
  const std::vector<condition> conditions = all_conditions();
  timing_stats timing_tg, timing_sp;
  std::string group;
  for (std::size_t index = 0; index < conditions.size(); ++index) {
    const condition& cond = conditions[index];
    receiver_tally tg, sp;
    const int trials = cond.trials * opt.trials_scale;
    for (int trial = 0; trial < trials; ++trial) {
      trial_builder builder(
          static_cast<std::uint32_t>(index * 100003 + static_cast<std::size_t>(trial) + 1));
      const trial_signal signal = cond.make(trial, builder);
      score(signal, detect_with_toneguard(signal.ulaw), cond, tg, timing_tg);
      score(signal, detect_with_spandsp(signal.ulaw), cond, sp, timing_sp);
    }
    const std::string measure = cond.expected == expectation::either ? "detected" : "pass";
    if (opt.json) {
      std::printf(
          "{\"group\":%s,\"condition\":%s,\"expected\":%s,\"trials\":%d,\"measure\":\"%s\","
          "\"toneguard\":%.4f,\"spandsp\":%.4f}\n",
          json_string(cond.group).c_str(), json_string(cond.name).c_str(),
          json_string(expectation_name(cond.expected)).c_str(), trials, measure.c_str(),
          static_cast<double>(tg.passed) / trials, static_cast<double>(sp.passed) / trials);
    } else {
      if (cond.group != group) {
        group = cond.group;
        std::printf(
            "\n### %s\n\n| condition | expected | trials | toneguard | spandsp "
            "|\n|---|---|---|---|---|\n",
            group.c_str());
      }
      std::printf("| %s | %s | %d | %s%s | %s%s |\n", cond.name.c_str(),
                  std::string(expectation_name(cond.expected)).c_str(), trials,
                  percent(tg.passed, trials).c_str(), measure == "pass" ? "" : " det.",
                  percent(sp.passed, trials).c_str(), measure == "pass" ? "" : " det.");
    }
    if (opt.verbose) {
      if (!tg.first_failure.empty())
        std::fprintf(stderr, "  %s / %s: toneguard first failure: %s\n", cond.group.c_str(),
                     cond.name.c_str(), tg.first_failure.c_str());
      if (!sp.first_failure.empty())
        std::fprintf(stderr, "  %s / %s: spandsp first failure: %s\n", cond.group.c_str(),
                     cond.name.c_str(), sp.first_failure.c_str());
    }
  }
  return {std::move(timing_tg), std::move(timing_sp)};
}

void print_timing(const options& opt, timing_stats& tg, timing_stats& sp) {
  struct line {
    const char* name;
    distribution* toneguard;
    distribution* spandsp;  // nullptr: spandsp has no such estimate
  };
  const line lines[] = {
      {"detection latency (decision - true onset)", &tg.latency, &sp.latency},
      {"detection latency at the end of its 20 ms frame", &tg.frame_latency, &sp.frame_latency},
      {"onset estimate error (signed)", &tg.onset_error, nullptr},
      {"onset estimate error, absolute", &tg.abs_onset_error, nullptr},
      {"end estimate error (signed)", &tg.end_error, nullptr},
      {"end estimate error, absolute", &tg.abs_end_error, nullptr},
  };
  const char* source = "level rows 0..-25 dBm0, 50 ms tones, passing trials";
  if (!opt.json) {
    std::printf(
        "\n### latency and onset (%s)\n\n| measure | toneguard median | toneguard p95 | spandsp "
        "median | spandsp p95 |\n"
        "|---|---|---|---|---|\n",
        source);
  }
  for (const line& l : lines) {
    const double tm = l.toneguard->percentile(50), tp = l.toneguard->percentile(95);
    const double sm = l.spandsp ? l.spandsp->percentile(50) : NAN,
                 sp95 = l.spandsp ? l.spandsp->percentile(95) : NAN;
    if (opt.json) {
      std::printf(
          "{\"group\":\"latency\",\"condition\":%s,\"source\":%s,\"toneguard\":{\"median_ms\":%s,"
          "\"p95_ms\":%s},"
          "\"spandsp\":{\"median_ms\":%s,\"p95_ms\":%s}}\n",
          json_string(l.name).c_str(), json_string(source).c_str(), json_number(tm).c_str(),
          json_number(tp).c_str(), json_number(sm).c_str(), json_number(sp95).c_str());
    } else {
      std::printf("| %s | %s | %s | %s | %s |\n", l.name, ms_or_na(tm).c_str(),
                  ms_or_na(tp).c_str(), ms_or_na(sm).c_str(), ms_or_na(sp95).c_str());
    }
  }
}

// ---- talk-off -------------------------------------------------------------------------------

struct talk_off_result {
  int files = 0, skipped = 0;
  double minutes = 0;
  std::string toneguard_keys, spandsp_keys;  // every false digit
  int false_warnings = 0;                    // toneguard tone_suspected that never became a digit
  double false_warning_ms = 0;  // their total length: speech a masker would hide needlessly
};

// The early warnings a masker acts on (issue 3): those cleared without a digit, and how long
// each lasted from its estimated onset to its clearing.
class warning_log final : public dsp::dtmf_listener {
 public:
  void on_dtmf(const dsp::dtmf_event& e) override {
    if (e.what != dsp::dtmf_event::kind::tone_cleared) return;
    ++cleared;
    cleared_samples += e.end_sample - e.onset_sample;
  }
  int cleared = 0;
  std::int64_t cleared_samples = 0;
};

warning_log warnings_over(std::span<const std::uint8_t> ulaw) {
  dsp::dtmf_receiver receiver;
  warning_log log;
  for (std::size_t i = 0; i < ulaw.size(); i += frame_samples) {
    receiver.process_g711(ulaw.subspan(i, std::min(frame_samples, ulaw.size() - i)), false, log);
  }
  receiver.flush(log);
  return log;
}

talk_off_result run_talk_off(const std::string& dir, const options& opt) {
  namespace fs = std::filesystem;
  talk_off_result result;
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator
           it(dir, fs::directory_options::follow_directory_symlink, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ".wav") files.push_back(it->path());
  }
  if (ec && files.empty())
    std::fprintf(stderr, "toneguard-dtmf-compare: %s: %s\n", dir.c_str(), ec.message().c_str());
  std::sort(files.begin(), files.end());
  for (const fs::path& path : files) {
    dsp::wav_result wav = dsp::read_wav_file(path.string());
    if (!wav || wav.audio().sample_rate_hz != 8000) {
      std::fprintf(stderr, "toneguard-dtmf-compare: skipped %s: %s\n", path.c_str(),
                   wav ? "not 8000 Hz" : wav.error().c_str());
      ++result.skipped;
      continue;
    }
    const std::vector<std::uint8_t> ulaw = ulaw_encode(wav.audio().samples);
    const std::string tg = keys_of(detect_with_toneguard(ulaw)),
                      sp = keys_of(detect_with_spandsp(ulaw));
    if (opt.verbose && (!tg.empty() || !sp.empty())) {
      std::fprintf(stderr, "  talk-off %s: toneguard \"%s\", spandsp \"%s\"\n", path.c_str(),
                   tg.c_str(), sp.c_str());
    }
    result.toneguard_keys += tg;
    result.spandsp_keys += sp;
    const warning_log warnings = warnings_over(ulaw);
    result.false_warnings += warnings.cleared;
    result.false_warning_ms += static_cast<double>(warnings.cleared_samples) * 1000.0 / rate_hz;
    result.minutes += static_cast<double>(ulaw.size()) / rate_hz / 60.0;
    ++result.files;
  }
  return result;
}

int digits_0_to_9(const std::string& keys) {
  return static_cast<int>(
      std::count_if(keys.begin(), keys.end(), [](char k) { return k >= '0' && k <= '9'; }));
}

void print_talk_off(const options& opt) {
  if (!opt.json) {
    std::printf(
        "\n### talk-off (false digits; 0-9 in brackets)\n\n| material | files | minutes | "
        "toneguard | spandsp | toneguard early warnings cleared (ms, per minute) |\n"
        "|---|---|---|---|---|---|\n");
  }
  // English speech and music always; the other languages of Debian's asterisk-core-sounds-*-wav
  // where installed, as more talk-off material.
  std::vector<std::pair<std::string, std::string>> material{{"speech", opt.speech_dir},
                                                            {"music", opt.music_dir}};
  for (const char* language : {"es", "fr", "it", "ru"}) {
    const std::string dir = "/usr/share/asterisk/sounds/" + std::string(language);
    if (std::filesystem::is_directory(dir))
      material.emplace_back("speech " + std::string(language), dir);
  }
  for (const auto& [name, dir] : material) {
    const talk_off_result r = run_talk_off(dir, opt);
    const int tg = static_cast<int>(r.toneguard_keys.size()),
              sp = static_cast<int>(r.spandsp_keys.size());
    if (opt.json) {
      std::printf(
          "{\"group\":\"talk-off\",\"condition\":%s,\"dir\":%s,\"files\":%d,\"skipped\":%d,"
          "\"minutes\":%.2f,"
          "\"toneguard\":{\"false_digits\":%d,\"false_digits_0_9\":%d,\"keys\":%s},"
          "\"spandsp\":{\"false_digits\":%d,\"false_digits_0_9\":%d,\"keys\":%s},"
          "\"toneguard_cleared_warnings\":%d,\"toneguard_cleared_warning_ms\":%.1f}\n",
          json_string(name).c_str(), json_string(dir).c_str(), r.files, r.skipped, r.minutes, tg,
          digits_0_to_9(r.toneguard_keys), json_string(r.toneguard_keys).c_str(), sp,
          digits_0_to_9(r.spandsp_keys), json_string(r.spandsp_keys).c_str(), r.false_warnings,
          r.false_warning_ms);
    } else {
      std::printf("| %s (%s) | %d | %.1f | %d (%d) | %d (%d) | %d (%.0f ms; %.1f ms/min) |\n",
                  name.c_str(), dir.c_str(), r.files, r.minutes, tg,
                  digits_0_to_9(r.toneguard_keys), sp, digits_0_to_9(r.spandsp_keys),
                  r.false_warnings, r.false_warning_ms,
                  r.minutes > 0 ? r.false_warning_ms / r.minutes : 0.0);
    }
  }
}

int usage(const char* problem) {
  std::fprintf(stderr,
               "toneguard-dtmf-compare: %s\nusage: toneguard-dtmf-compare [--json] [--verbose] "
               "[--no-talk-off]"
               " [--trials-scale N] [--speech-dir DIR] [--music-dir DIR]\n",
               problem);
  return 2;
}

// ---- masking ---------------------------------------------------------------------------------

// How much of a key gets through the masker at each look-ahead: keys of random level, twist,
// frequency error, length and alignment in line noise, fed a 20 ms frame at a time (as RTP
// brings them) and a sample at a time (the worst case: no frame to look into). toneguard only:
// spandsp has no masker.
void print_masking(const options& opt) {
  if (!opt.json) {
    std::printf(
        "\n### masking (toneguard): what gets through, by look-ahead\n\n"
        "| look-ahead | fed | keys | leaked samples | attacker's scan: fragments found | masked / "
        "key length |\n"
        "|---|---|---|---|---|---|\n");
  }
  const int trials_per_key = 3 * opt.trials_scale;
  for (int lookahead : {0, 5, 8, 10, 12, 15, 20}) {
    for (std::size_t frame : {frame_samples, std::size_t{1}}) {
      std::mt19937 rng(2024);
      auto u = [&](double lo, double hi) {
        return std::uniform_real_distribution<double>(lo, hi)(rng);
      };
      std::int64_t leaked = 0, masked = 0, key_samples = 0;
      std::size_t found = 0;
      int keys = 0;
      for (char key : dsp::dtmf_all_keys) {
        for (int t = 0; t < trials_per_key; ++t) {
          dsp::signal_builder b;
          b.silence(30 + u(0, 20));
          const double ms = u(40, 120);
          b.dtmf(key, ms,
                 {static_cast<float>(-u(3, 25)), static_cast<float>(u(-4, 8)),
                  static_cast<float>(u(-0.015, 0.015)), static_cast<float>(u(-0.015, 0.015))})
              .silence(100);
          b.add_white_noise(-45.0f, static_cast<std::uint32_t>(t * 131 + key));
          key_samples += static_cast<std::int64_t>(ms * 8);
          dsp::dtmf_receiver receiver;
          dsp::dtmf_masker_config config;
          config.lookahead_ms = lookahead;
          dsp::dtmf_masker masker(config);
          const auto& in = b.audio();
          std::vector<float> out(in.size());
          for (std::size_t i = 0; i < in.size(); i += frame) {
            const std::size_t n = std::min(frame, in.size() - i);
            receiver.process(std::span(in).subspan(i, n), masker);
            masker.process(std::span(in).subspan(i, n), std::span(out).subspan(i, n));
          }
          leaked += masker.leaked_samples();
          masked += masker.masked_samples();
          found += dsp::scan_for_dtmf_leaks(out).size();
          ++keys;
        }
      }
      const double ratio = static_cast<double>(masked) / static_cast<double>(key_samples);
      if (opt.json) {
        std::printf(
            "{\"group\":\"masking\",\"lookahead_ms\":%d,\"fed_samples\":%zu,\"keys\":%d,"
            "\"leaked_samples\":%lld,\"scan_fragments\":%zu,\"masked_per_key_sample\":%.3f}\n",
            lookahead, frame, keys, static_cast<long long>(leaked), found, ratio);
      } else {
        std::printf("| %d ms | %s | %d | %lld | %zu | %.2f |\n", lookahead,
                    frame == 1 ? "1 sample" : "20 ms frames", keys, static_cast<long long>(leaked),
                    found, ratio);
      }
    }
  }
}

}  // namespace
}  // namespace toneguard::bench

int main(int argc, char** argv) {
  using namespace toneguard::bench;
  options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--json")
      opt.json = true;
    else if (arg == "--verbose")
      opt.verbose = true;
    else if (arg == "--no-talk-off")
      opt.talk_off = false;
    else if (arg == "--trials-scale" && i + 1 < argc) {
      opt.trials_scale = std::atoi(argv[++i]);
      if (opt.trials_scale < 1) return usage("--trials-scale needs a whole number >= 1");
    } else if ((arg == "--speech-dir" || arg == "--music-dir") && i + 1 < argc)
      (arg == "--speech-dir" ? opt.speech_dir : opt.music_dir) = argv[++i];
    else
      return usage(("unknown or incomplete argument: " + std::string(arg)).c_str());
  }
  if (auto error = toneguard::simd::isa_environment_error()) return usage(error->c_str());
  if (!opt.json) {
    std::printf(
        "## toneguard vs spandsp 0.0.6 DTMF receivers (toneguard ISA: %s; μ-law, 20 ms frames)\n",
        std::string(toneguard::simd::isa_name(toneguard::simd::active_isa())).c_str());
  }
  auto [tg, sp] = run_conditions(opt);
  print_timing(opt, tg, sp);
  print_masking(opt);
  if (opt.talk_off) print_talk_off(opt);
  return 0;
}
