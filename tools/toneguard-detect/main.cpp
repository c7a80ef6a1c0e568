// toneguard-detect: the DTMF digits in WAV files and in the RTP streams of pcap/pcapng
// captures (told apart by their magic bytes, not their names).
//
//   toneguard-detect [--json] FILE...
//   toneguard-detect --isa
//   toneguard-detect --bench CHANNELS FILE [--compare-spandsp] [--seconds S]
//
// Exit status: 0 all files read, 2 a file could not be read (the others are still processed)
// or bad usage.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench_mode.h"
#include "capture_reader.h"
#include "toneguard/dsp/dtmf_leak_scan.h"
#include "toneguard/dsp/dtmf_masker.h"
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
    "       toneguard-detect --leak [--json] FILE...\n"
    "       toneguard-detect --mask-to OUT.wav [--lookahead MS] [--mask-mode M] FILE\n"
    "Prints the DTMF digits found in each WAV file (PCM16, mu-law or A-law; 8 or 16 kHz; mono)\n"
    "or in each RTP stream of a pcap/pcapng capture (G.711 audio and RFC 4733 events; a file\n"
    "is a capture when its magic bytes say so, whatever its name).\n"
    "  --json             one JSON object per digit per line: file, digit, start_ms, end_ms, "
    "detected_ms\n"
    "                     (captures add stream, ssrc and source: in-band or rfc4733)\n"
    "  --isa              the SIMD targets this machine can run, the active one first\n"
    "  --bench            CHANNELS receivers over FILE on one thread, as the proxy runs them\n"
    "  --compare-spandsp  with --bench: spandsp's dtmf_rx over the same frames, and the ratio\n"
    "  --leak             instead of digits, every DTMF fragment left in each file (an attacker's\n"
    "                     scan of audio that should have been masked; in a capture, every\n"
    "                     RFC 4733 event counts too); exit status 1 if any\n"
    "  --mask-to OUT.wav  what an agent would hear: FILE with every key masked (8 kHz PCM16)\n"
    "  --lookahead MS     with --mask-to: the masker's look-ahead (default 15)\n"
    "  --mask-mode M      with --mask-to: silence (default), tone or noise\n"
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

// A file's audio at 8 kHz (16 kHz input resampled) and the resampler's delay in samples;
// nullopt, with a message on stderr naming the file, when it cannot be read.
struct audio_8k {
  std::vector<float> samples;
  double delay = 0;
  int source_rate_hz = 8000;
};

std::optional<audio_8k> load(const std::string& path) {
  auto wav = dsp::read_wav_file(path);
  if (!wav.ok()) {
    std::fprintf(stderr, "toneguard-detect: %s: %s\n", path.c_str(), wav.error().c_str());
    return std::nullopt;
  }
  const auto& audio = wav.audio();
  audio_8k out{{audio.samples.begin(), audio.samples.end()}, 0, audio.sample_rate_hz};
  if (audio.sample_rate_hz == 16000) {
    dsp::resampler_16k_to_8k resampler;
    std::vector<float> narrow;
    resampler.process(out.samples, narrow);
    // Push the filter's tail out so that a digit at the very end is still seen whole.
    std::vector<float> tail(
        static_cast<std::size_t>(2 * dsp::resampler_16k_to_8k::delay_samples_8k + 2), 0.0f);
    resampler.process(tail, narrow);
    out.samples = std::move(narrow);
    out.delay = dsp::resampler_16k_to_8k::delay_samples_8k;
  }
  return out;
}

constexpr std::size_t frame = 160;  // 20 ms, as RTP delivers it

// Decodes one file into digits; returns false when it cannot be read.
bool detect_file(const std::string& path, bool json) {
  const auto audio = load(path);
  if (!audio) return false;
  const auto& samples = audio->samples;
  dsp::dtmf_receiver receiver;
  digit_collector collector(audio->delay);
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

enum class file_outcome { unreadable, clean, leaks };

// The attacker's scan of one file: every DTMF fragment left in it.
file_outcome leak_file(const std::string& path, bool json) {
  const auto audio = load(path);
  if (!audio) return file_outcome::unreadable;
  const auto leaks = dsp::scan_for_dtmf_leaks(audio->samples);
  const std::string file = json_string(path);
  for (const auto& leak : leaks) {
    const double at_ms = (static_cast<double>(leak.position) - audio->delay) / 8.0;
    if (json) {
      std::printf(
          "{\"file\": %s, \"leak_ms\": %.3f, \"key\": \"%c\", \"row_dbm0\": %.1f, \"column_dbm0\": "
          "%.1f}\n",
          file.c_str(), at_ms, leak.key, leak.row_level_dbm0, leak.column_level_dbm0);
    } else {
      std::printf("%s: DTMF fragment at %.1f ms (key %c, %.1f/%.1f dBm0)\n", path.c_str(), at_ms,
                  leak.key, leak.row_level_dbm0, leak.column_level_dbm0);
    }
  }
  if (leaks.empty() && !json) std::printf("%s: no DTMF fragment\n", path.c_str());
  return leaks.empty() ? file_outcome::clean : file_outcome::leaks;
}

// What the agent would hear: the file through the receiver and the masker in 20 ms frames,
// written time-aligned with the input (the look-ahead delay removed) as 16-bit PCM at 8 kHz.
bool mask_file(const std::string& path, const std::string& out_path,
               const dsp::dtmf_masker_config& config) {
  const auto audio = load(path);
  if (!audio) return false;
  const auto& in = audio->samples;
  dsp::dtmf_receiver receiver;
  dsp::dtmf_masker masker(config);
  const auto delay = static_cast<std::size_t>(masker.lookahead_samples());
  // The input, then as much silence as the delay, so that the last sample comes out too.
  std::vector<float> padded(in);
  padded.resize(in.size() + delay, 0.0f);
  std::vector<float> out(padded.size());
  for (std::size_t i = 0; i < padded.size(); i += frame) {
    const std::size_t n = std::min(frame, padded.size() - i);
    receiver.process(std::span<const float>(padded).subspan(i, n), masker);
    masker.process(std::span<const float>(padded).subspan(i, n),
                   std::span<float>(out).subspan(i, n));
  }
  std::vector<std::int16_t> pcm(in.size());
  for (std::size_t i = 0; i < pcm.size(); ++i) {
    pcm[i] = static_cast<std::int16_t>(std::lrint(std::clamp(out[i + delay], -32768.0f, 32767.0f)));
  }
  if (auto error = dsp::write_wav_file(out_path, 8000, pcm)) {
    std::fprintf(stderr, "toneguard-detect: %s: %s\n", out_path.c_str(), error->c_str());
    return false;
  }
  std::printf("%s: masked %.1f ms, leaked %lld samples, look-ahead %d ms -> %s\n", path.c_str(),
              static_cast<double>(masker.masked_samples()) / 8.0,
              static_cast<long long>(masker.leaked_samples()), config.lookahead_ms,
              out_path.c_str());
  return true;
}

std::string stream_label(const tools::rtp_stream& s) {
  char ssrc[16];
  std::snprintf(ssrc, sizeof ssrc, "0x%08x", static_cast<unsigned>(s.ssrc));
  return s.name() + " ssrc=" + ssrc;
}

// The JSON fields naming a capture's stream: "file", "stream" and "ssrc".
std::string stream_json(const std::string& path, const tools::rtp_stream& s) {
  char ssrc[16];
  std::snprintf(ssrc, sizeof ssrc, "0x%08x", static_cast<unsigned>(s.ssrc));
  return "\"file\": " + json_string(path) + ", \"stream\": " + json_string(s.name()) +
         ", \"ssrc\": \"" + ssrc + "\"";
}

const char* source_name(tools::dtmf_source source) {
  return source == tools::dtmf_source::rfc4733 ? "rfc4733" : "in-band";
}

// A capture that could not be read (wholly or from some point on): one line on stderr.
bool report_capture_error(const std::string& path, const tools::capture_contents& capture) {
  if (capture.error.empty()) return true;
  std::fprintf(stderr, "toneguard-detect: %s: %s\n", path.c_str(), capture.error.c_str());
  return false;
}

// The digits of every RTP stream of a capture; false when it could not be read whole (the
// streams of the packets before a truncation are still printed).
bool detect_capture(const std::string& path, bool json) {
  const auto capture = tools::read_capture(path);
  for (const auto& stream : capture.streams) {
    const auto found = tools::analyze_stream(stream, false);
    if (json) {
      const std::string fields = stream_json(path, stream);
      for (const auto& d : found.digits) {
        std::printf(
            "{%s, \"digit\": \"%c\", \"source\": \"%s\", \"start_ms\": %.3f, \"end_ms\": "
            "%.3f, \"detected_ms\": %.3f}\n",
            fields.c_str(), d.key, source_name(d.source), d.start_ms, d.end_ms, d.detected_ms);
      }
    } else {
      std::string keys;
      for (const auto& d : found.digits) keys += d.key;
      std::printf("%s: %s: %s\n", path.c_str(), stream_label(stream).c_str(),
                  keys.empty() ? "(no digits)" : keys.c_str());
    }
  }
  return report_capture_error(path, capture);
}

// The audit of a capture: every in-band fragment and every RFC 4733 event in each stream.
file_outcome leak_capture(const std::string& path, bool json) {
  const auto capture = tools::read_capture(path);
  bool leaks = false;
  for (const auto& stream : capture.streams) {
    const auto found = tools::analyze_stream(stream, true);
    leaks = leaks || !found.leaks.empty();
    const std::string label = stream_label(stream);
    const std::string fields = stream_json(path, stream);
    for (const auto& leak : found.leaks) {
      const char key = leak.key.value_or('?');
      if (leak.source == tools::dtmf_source::in_band && json) {
        std::printf(
            "{%s, \"source\": \"in-band\", \"leak_ms\": %.3f, \"key\": \"%c\", "
            "\"row_dbm0\": %.1f, \"column_dbm0\": %.1f}\n",
            fields.c_str(), leak.at_ms, key, leak.row_level_dbm0, leak.column_level_dbm0);
      } else if (leak.source == tools::dtmf_source::in_band) {
        std::printf("%s: %s: DTMF fragment at %.1f ms (key %c, %.1f/%.1f dBm0)\n", path.c_str(),
                    label.c_str(), leak.at_ms, key, leak.row_level_dbm0, leak.column_level_dbm0);
      } else if (json) {
        const std::string key_json = leak.key ? "\"" + std::string(1, key) + "\"" : "null";
        std::printf(
            "{%s, \"source\": \"rfc4733\", \"leak_ms\": %.3f, \"key\": %s, \"event\": %d, "
            "\"duration_ms\": %.3f}\n",
            fields.c_str(), leak.at_ms, key_json.c_str(), leak.event, leak.duration_ms);
      } else {
        std::printf("%s: %s: RFC 4733 event at %.1f ms (%s %c, %.1f ms)\n", path.c_str(),
                    label.c_str(), leak.at_ms, leak.key ? "key" : "event", key, leak.duration_ms);
      }
    }
    if (found.leaks.empty() && !json) {
      std::printf("%s: %s: no DTMF fragment\n", path.c_str(), label.c_str());
    }
  }
  if (!report_capture_error(path, capture)) return file_outcome::unreadable;
  return leaks ? file_outcome::leaks : file_outcome::clean;
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
  bool leak = false;
  std::string mask_to;
  dsp::dtmf_masker_config mask_config;
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
    } else if (a == "--leak") {
      leak = true;
    } else if (a == "--mask-to") {
      if (i + 1 >= args.size()) return bad_usage("--mask-to needs OUT.wav");
      mask_to = args[++i];
    } else if (a == "--lookahead") {
      if (i + 1 >= args.size()) return bad_usage("--lookahead needs a value in ms");
      char* end = nullptr;
      const long ms = std::strtol(args[++i].c_str(), &end, 10);
      if (*end != '\0' || ms < 0 || ms > dsp::dtmf_masker::max_lookahead_ms) {
        return bad_usage("--lookahead must be a whole number of ms from 0 to 200, got '" + args[i] +
                         "'");
      }
      mask_config.lookahead_ms = static_cast<int>(ms);
    } else if (a == "--mask-mode") {
      if (i + 1 >= args.size()) return bad_usage("--mask-mode needs silence, tone or noise");
      const std::string& m = args[++i];
      if (m == "silence") {
        mask_config.mode = dsp::mask_mode::silence;
      } else if (m == "tone") {
        mask_config.mode = dsp::mask_mode::flat_tone;
      } else if (m == "noise") {
        mask_config.mode = dsp::mask_mode::comfort_noise;
      } else {
        return bad_usage("--mask-mode must be silence, tone or noise, got '" + m + "'");
      }
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
  if (!mask_to.empty()) {
    if (files.size() != 1) return bad_usage("--mask-to takes exactly one FILE");
    if (tools::sniff_capture_format(files.front()) != tools::capture_format::none) {
      std::fprintf(stderr, "toneguard-detect: %s: --mask-to reads a WAV file, not a capture\n",
                   files.front().c_str());
      return 2;
    }
    return mask_file(files.front(), mask_to, mask_config) ? 0 : 2;
  }
  if (leak) {
    bool unreadable = false, leaks = false;
    for (const auto& f : files) {
      const bool capture = tools::sniff_capture_format(f) != tools::capture_format::none;
      const auto outcome = capture ? leak_capture(f, json) : leak_file(f, json);
      unreadable = unreadable || outcome == file_outcome::unreadable;
      leaks = leaks || outcome == file_outcome::leaks;
    }
    return unreadable ? 2 : leaks ? 1 : 0;
  }

  int status = 0;
  for (const auto& f : files) {
    const bool capture = tools::sniff_capture_format(f) != tools::capture_format::none;
    if (!(capture ? detect_capture(f, json) : detect_file(f, json))) status = 2;
  }
  return status;
}
