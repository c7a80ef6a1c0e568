#include "bench_mode.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/spandsp_dtmf.h"
#include "toneguard/dsp/dtmf_receiver.h"
#include "toneguard/dsp/g711.h"
#include "toneguard/dsp/resampler.h"
#include "toneguard/dsp/wav.h"
#include "toneguard/simd/isa.h"

namespace toneguard::tools {
namespace {

constexpr std::size_t frame_samples = 160;  // 20 ms at 8 kHz
constexpr double rate_hz = dsp::dtmf_receiver::sample_rate_hz;

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

/// Counts confirmed digits; the proxy would hand them to the call here.
class digit_counter final : public dsp::dtmf_listener {
 public:
  void on_dtmf(const dsp::dtmf_event& event) override {
    if (event.what == dsp::dtmf_event::kind::digit_start) ++digits;
  }
  std::int64_t digits = 0;
};

/// The file's audio as μ-law, looped: frame(c, f) is channel c's 20 ms frame number f. Each
/// channel starts at its own sample offset, spread over the file, so channels differ.
class looped_ulaw {
 public:
  looped_ulaw(std::vector<std::uint8_t> codes, int channels)
      : size_(codes.size()), codes_(std::move(codes)) {
    // A frame may start anywhere: keep one frame's worth of the start after the end.
    codes_.insert(codes_.end(), codes_.begin(),
                  codes_.begin() + static_cast<std::ptrdiff_t>(frame_samples));
    for (int c = 0; c < channels; ++c) {
      offsets_.push_back((static_cast<std::size_t>(c) * size_ / static_cast<std::size_t>(channels) +
                          static_cast<std::size_t>(c) * 37) %
                         size_);
    }
  }

  [[nodiscard]] std::span<const std::uint8_t> frame(int channel, std::size_t index) const noexcept {
    const std::size_t at =
        (offsets_[static_cast<std::size_t>(channel)] + index * frame_samples) % size_;
    return {codes_.data() + at, frame_samples};
  }

 private:
  std::size_t size_;
  std::vector<std::uint8_t> codes_;
  std::vector<std::size_t> offsets_;
};

/// The file's audio at 8 kHz (read_wav_file gives 8000 or 16000 Hz).
std::vector<std::int16_t> narrowband(dsp::wav_audio audio) {
  if (audio.sample_rate_hz == 8000) return std::move(audio.samples);
  const std::vector<float> wide(audio.samples.begin(), audio.samples.end());
  std::vector<float> narrow;
  dsp::resampler_16k_to_8k().process(wide, narrow);
  std::vector<std::int16_t> out(narrow.size());
  std::transform(narrow.begin(), narrow.end(), out.begin(), [](float s) {
    return static_cast<std::int16_t>(std::lrint(std::clamp(s, -32768.0f, 32767.0f)));
  });
  return out;
}

struct run_result {
  std::int64_t samples = 0;
  double cpu_s = 0;
  std::int64_t digits = 0;
};

/// The JSON fields of one receiver's run (without braces).
std::string json_fields(const run_result& r) {
  const double per_s = static_cast<double>(r.samples) / r.cpu_s;
  char text[320];
  std::snprintf(
      text, sizeof text,
      "\"samples\": %lld, \"cpu_s\": %.6f, \"samples_per_s\": %.0f, \"ns_per_sample\": %.3f, "
      "\"realtime_channels_per_core\": %.0f, \"digits_detected\": %lld",
      static_cast<long long>(r.samples), r.cpu_s, per_s,
      1e9 * r.cpu_s / static_cast<double>(r.samples), per_s / rate_hz,
      static_cast<long long>(r.digits));
  return text;
}

// Every frame index, every channel in turn, on this thread: as a proxy worker runs its calls.
template <typename Receiver, typename Feed>
run_result run_channels(std::vector<Receiver>& receivers, const looped_ulaw& audio,
                        std::size_t frames, Feed feed) {
  run_result result;
  const double start = thread_cpu_seconds();
  for (std::size_t f = 0; f < frames; ++f) {
    for (std::size_t c = 0; c < receivers.size(); ++c)
      feed(receivers[c], audio.frame(static_cast<int>(c), f));
  }
  result.cpu_s = thread_cpu_seconds() - start;
  result.samples = static_cast<std::int64_t>(frames * frame_samples * receivers.size());
  return result;
}

}  // namespace

int run_bench(const bench_options& options) {
  const char* file = options.file.c_str();
  if (options.channels < 1) {
    std::fprintf(stderr, "toneguard-detect: --channels must be at least 1 (got %d)\n",
                 options.channels);
    return 2;
  }
  dsp::wav_result wav = dsp::read_wav_file(options.file);
  if (!wav) {
    std::fprintf(stderr, "toneguard-detect: %s: %s\n", file, wav.error().c_str());
    return 2;
  }
  const std::vector<std::int16_t> linear = narrowband(std::move(wav).audio());
  if (linear.size() < frame_samples) {
    std::fprintf(stderr, "toneguard-detect: %s: %zu samples, shorter than one 20 ms frame\n", file,
                 linear.size());
    return 2;
  }

  std::vector<std::uint8_t> codes(linear.size());
  dsp::g711_encode(dsp::g711_law::ulaw, linear, codes);
  const looped_ulaw audio(std::move(codes), options.channels);
  const std::size_t frames = std::max<std::size_t>(
      1, options.seconds > 0
             ? static_cast<std::size_t>(options.seconds * rate_hz / frame_samples + 0.5)
             : linear.size() / frame_samples);
  const auto channels = static_cast<std::size_t>(options.channels);

  std::vector<dsp::dtmf_receiver> receivers(channels);
  digit_counter counter;
  run_result ours =
      run_channels(receivers, audio, frames,
                   [&counter](dsp::dtmf_receiver& rx, std::span<const std::uint8_t> frame) {
                     rx.process_g711(frame, /*alaw=*/false, counter);
                   });
  ours.digits = counter.digits;

  std::string line = "{\"isa\": \"" + std::string(simd::isa_name(simd::active_isa())) +
                     "\", \"channels\": " + std::to_string(options.channels) + ", " +
                     json_fields(ours);
  if (options.compare_spandsp) {
    std::vector<bench::spandsp_dtmf_receiver> references(channels);
    run_result theirs =
        run_channels(references, audio, frames,
                     [](bench::spandsp_dtmf_receiver& rx, std::span<const std::uint8_t> frame) {
                       rx.process_ulaw(frame);  // decodes to int16 first: part of spandsp's cost
                     });
    for (const auto& rx : references) theirs.digits += rx.digit_count();
    char speedup[64];
    std::snprintf(speedup, sizeof speedup, "%.3f", theirs.cpu_s / ours.cpu_s);
    line += ", \"spandsp\": {" + json_fields(theirs) + "}, \"speedup_vs_spandsp\": " + speedup;
  }
  std::printf("%s}\n", line.c_str());
  return 0;
}

}  // namespace toneguard::tools
