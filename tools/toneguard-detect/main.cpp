// toneguard-detect: the DTMF digits in WAV files.
//
//   toneguard-detect [--json] FILE...
//   toneguard-detect --isa
//   toneguard-detect --bench CHANNELS FILE [--compare-spandsp] [--seconds S]
//
// Exit status: 0 all files read, 2 a file could not be read (the others are still processed)
// or bad usage.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "bench_mode.h"
#include "toneguard/dsp/dtmf_receiver.h"
#include "toneguard/dsp/resampler.h"
#include "toneguard/dsp/wav.h"
#include "toneguard/simd/isa.h"

namespace {

using namespace toneguard;

constexpr const char* usage =
    "usage: toneguard-detect [--json] FILE...\n"
    "       toneguard-detect --isa\n"
    "       toneguard-detect --bench CHANNELS FILE [--compare-spandsp] [--seconds S]\n"
    "Prints the DTMF digits found in each WAV file (PCM16, mu-law or A-law; 8 or 16 kHz; mono).\n"
    "  --json             one JSON object per digit per line: file, digit, start_ms, end_ms, "
    "detected_ms\n"
    "  --isa              the SIMD targets this machine can run, the active one first\n"
    "  --bench            CHANNELS receivers over FILE on one thread, as the proxy runs them\n"
    "  --compare-spandsp  with --bench: spandsp's dtmf_rx over the same frames, and the ratio\n"
    "Environment: TONEGUARD_ISA=scalar|avx2|avx512|neon forces a SIMD target.\n";

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

struct found_digit {
  char key;
  double start_ms, end_ms, detected_ms;
};

class digit_collector : public dsp::dtmf_listener {
 public:
  explicit digit_collector(double delay_samples) : delay_(delay_samples) {}
  void on_dtmf(const dsp::dtmf_event& e) override {
    if (e.what == dsp::dtmf_event::kind::digit_start) {
      digits.push_back({e.key, ms(e.onset_sample), -1.0, ms(e.at_sample)});
    } else if (e.what == dsp::dtmf_event::kind::digit_end && !digits.empty()) {
      digits.back().end_ms = ms(e.end_sample);
    }
  }
  std::vector<found_digit> digits;

 private:
  // Stream position (8 kHz samples, after any resampling delay) -> file time in ms.
  double ms(std::int64_t sample) const {
    const double t =
        (static_cast<double>(sample) - delay_) / (dsp::dtmf_receiver::sample_rate_hz / 1000.0);
    return t < 0 ? 0 : t;
  }
  double delay_;
};

// Decodes one file into digits; returns false with a message on stderr when it cannot be read.
bool detect_file(const std::string& path, bool json) {
  auto wav = dsp::read_wav_file(path);
  if (!wav.ok()) {
    std::fprintf(stderr, "toneguard-detect: %s: %s\n", path.c_str(), wav.error().c_str());
    return false;
  }
  const auto& audio = wav.audio();
  std::vector<float> samples(audio.samples.begin(), audio.samples.end());
  double delay = 0;
  if (audio.sample_rate_hz == 16000) {
    dsp::resampler_16k_to_8k resampler;
    std::vector<float> narrow;
    resampler.process(samples, narrow);
    // Push the filter's tail out so that a digit at the very end is still seen whole.
    std::vector<float> tail(
        static_cast<std::size_t>(2 * dsp::resampler_16k_to_8k::delay_samples_8k + 2), 0.0f);
    resampler.process(tail, narrow);
    samples = std::move(narrow);
    delay = dsp::resampler_16k_to_8k::delay_samples_8k;
  }

  dsp::dtmf_receiver receiver;
  digit_collector collector(delay);
  constexpr std::size_t frame = 160;  // 20 ms, as RTP delivers it
  for (std::size_t i = 0; i < samples.size(); i += frame) {
    receiver.process(
        std::span<const float>(samples).subspan(i, std::min(frame, samples.size() - i)), collector);
  }
  receiver.flush(collector);

  if (json) {
    const std::string file = json_string(path);
    for (const auto& d : collector.digits) {
      std::printf(
          "{\"file\": %s, \"digit\": \"%c\", \"start_ms\": %.3f, \"end_ms\": %.3f, "
          "\"detected_ms\": %.3f}\n",
          file.c_str(), d.key, d.start_ms, d.end_ms, d.detected_ms);
    }
  } else {
    std::string keys;
    for (const auto& d : collector.digits) keys += d.key;
    std::printf("%s: %s\n", path.c_str(), keys.empty() ? "(no digits)" : keys.c_str());
  }
  return true;
}

int print_isas() {
  std::printf("active: %s\navailable:", std::string(simd::isa_name(simd::active_isa())).c_str());
  for (simd::isa t : simd::available_isas())
    std::printf(" %s", std::string(simd::isa_name(t)).c_str());
  std::printf("\n");
  return 0;
}

int bad_usage(const std::string& why) {
  std::fprintf(stderr, "toneguard-detect: %s\n%s", why.c_str(), usage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (auto error = simd::isa_environment_error()) {
    std::fprintf(stderr, "toneguard-detect: %s\n", error->c_str());
    return 2;
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return bad_usage("no input files");

  bool json = false;
  bool bench = false;
  tools::bench_options bench_options;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else if (a == "--isa") {
      return print_isas();
    } else if (a == "--json") {
      json = true;
    } else if (a == "--bench") {
      if (i + 1 >= args.size()) return bad_usage("--bench needs CHANNELS and FILE");
      bench = true;
      char* end = nullptr;
      const long channels = std::strtol(args[++i].c_str(), &end, 10);
      if (*end != '\0' || channels < 1 || channels > 10'000'000) {
        return bad_usage("--bench CHANNELS must be a whole number from 1 to 10000000, got '" +
                         args[i] + "'");
      }
      bench_options.channels = static_cast<int>(channels);
    } else if (a == "--compare-spandsp") {
      bench_options.compare_spandsp = true;
    } else if (a == "--seconds") {
      if (i + 1 >= args.size()) return bad_usage("--seconds needs a value");
      char* end = nullptr;
      bench_options.seconds = std::strtod(args[++i].c_str(), &end);
      if (*end != '\0' || !(bench_options.seconds > 0))
        return bad_usage("--seconds must be > 0, got '" + args[i] + "'");
    } else if (a == "--") {
      files.insert(files.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    } else if (a.size() > 1 && a[0] == '-') {
      return bad_usage("unknown option '" + a + "'");
    } else {
      files.push_back(a);
    }
  }

  if (bench) {
    if (files.size() != 1) return bad_usage("--bench takes exactly one FILE");
    bench_options.file = files.front();
    return tools::run_bench(bench_options);
  }
  if (bench_options.compare_spandsp) return bad_usage("--compare-spandsp goes with --bench");
  if (files.empty()) return bad_usage("no input files");

  int status = 0;
  for (const auto& f : files) {
    if (!detect_file(f, json)) status = 2;
  }
  return status;
}
