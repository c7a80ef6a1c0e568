// BM_dtmf_receiver_ulaw/<isa>/160 and BM_spandsp_dtmf_rx/160: one receiver fed 20 ms μ-law
// frames, round and round a 10 s recording of speech-like sound with a digit every second.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "bench/benchmark_suites.h"
#include "bench/dtmf_harness.h"
#include "bench/spandsp_dtmf.h"
#include "toneguard/dsp/dtmf.h"
#include "toneguard/dsp/dtmf_receiver.h"
#include "toneguard/dsp/levels.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/simd/isa.h"

namespace toneguard::bench {
namespace {

constexpr double recording_seconds = 10.0;

// Voiced syllables (harmonics of a gliding 90-220 Hz pitch, shaped by two random formants) with
// pauses between them, about −15 dBm0 while voiced: the receivers' usual input, which also
// makes them evaluate their rejection logic.
std::vector<float> speech_like_sound(std::size_t samples, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  constexpr float rate = dsp::dtmf_receiver::sample_rate_hz;
  std::vector<float> out(samples, 0.0f);
  std::size_t at = 0;
  while (at < samples) {
    const auto length = static_cast<std::size_t>(rate * (0.12f + 0.2f * uniform(rng)));
    const auto pause = static_cast<std::size_t>(rate * 0.15f * uniform(rng));
    const float f0_start = 90.0f + 130.0f * uniform(rng), f0_end = 90.0f + 130.0f * uniform(rng);
    const float formant1 = 300.0f + 600.0f * uniform(rng),
                formant2 = 900.0f + 1600.0f * uniform(rng);
    const float peak = dsp::dbm0_to_peak(-15.0f) * (0.5f + uniform(rng));
    double phase = 0.0;
    for (std::size_t i = 0; i < length && at + i < samples; ++i) {
      const float t = static_cast<float>(i) / static_cast<float>(length);
      const float f0 = f0_start + (f0_end - f0_start) * t;
      phase += 2.0 * std::numbers::pi * f0 / rate;
      float voiced = 0.0f;
      for (int h = 1; f0 * static_cast<float>(h) < 3400.0f; ++h) {
        const float f = f0 * static_cast<float>(h);
        const float weight = 1.0f / (1.0f + std::pow((f - formant1) / 150.0f, 2.0f)) +
                             0.5f / (1.0f + std::pow((f - formant2) / 250.0f, 2.0f));
        voiced += weight * static_cast<float>(std::sin(phase * h));
      }
      const float envelope = std::sin(std::numbers::pi_v<float> * t);
      out[at + i] = peak * envelope * (0.4f * voiced + 0.05f * gauss(rng));
    }
    at += length + pause;
  }
  return out;
}

// The benchmark recording as μ-law: speech-like sound plus one 60 ms key at −10 dBm0 a second.
const std::vector<std::uint8_t>& recording_ulaw() {
  static const std::vector<std::uint8_t> codes = [] {
    dsp::signal_builder digits;
    for (int second = 0; second < static_cast<int>(recording_seconds); ++second) {
      digits.silence(470.0)
          .dtmf(dsp::dtmf_all_keys[static_cast<std::size_t>(second) % 16], 60.0)
          .silence(470.0);
    }
    std::vector<float> mix = speech_like_sound(digits.size(), 2024);
    std::transform(mix.begin(), mix.end(), digits.audio().begin(), mix.begin(), std::plus<>());
    return ulaw_encode(dsp::signal_builder().samples(mix).pcm16());
  }();
  return codes;
}

// Calls feed(frame) once per iteration, going round the recording 20 ms at a time.
template <typename Feed>
void run_frames(benchmark::State& state, Feed feed) {
  const std::vector<std::uint8_t>& codes = recording_ulaw();
  const std::size_t frames = codes.size() / frame_samples;
  std::size_t frame = 0;
  for (auto _ : state) {
    feed(std::span<const std::uint8_t>(codes).subspan(frame * frame_samples, frame_samples));
    if (++frame == frames) frame = 0;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(frame_samples));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(frame_samples));
}

// Sanity check beside the speed: digits found per pass over the recording (it holds 10).
void set_digits_per_pass(benchmark::State& state, std::int64_t digits) {
  const double passes = static_cast<double>(state.iterations()) * frame_samples /
                        static_cast<double>(recording_ulaw().size());
  state.counters["digits_per_pass"] = passes > 0 ? static_cast<double>(digits) / passes : 0.0;
}

void bm_dtmf_receiver_ulaw(benchmark::State& state) {
  dsp::dtmf_receiver receiver;
  toneguard_digit_log log;
  run_frames(state, [&](std::span<const std::uint8_t> frame) {
    receiver.process_g711(frame, /*alaw=*/false, log);
  });
  set_digits_per_pass(state, log.digit_count());
}

void bm_spandsp_dtmf_rx(benchmark::State& state) {
  spandsp_dtmf_receiver receiver;
  run_frames(state, [&](std::span<const std::uint8_t> frame) { receiver.process_ulaw(frame); });
  set_digits_per_pass(state, receiver.digit_count());
}

}  // namespace

void register_dsp_benchmarks() {
  const std::string isa(simd::isa_name(simd::active_isa()));
  benchmark::RegisterBenchmark(("BM_dtmf_receiver_ulaw/" + isa + "/160").c_str(),
                               bm_dtmf_receiver_ulaw);
  benchmark::RegisterBenchmark("BM_spandsp_dtmf_rx/160", bm_spandsp_dtmf_rx);
}

}  // namespace toneguard::bench
