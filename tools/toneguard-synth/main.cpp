// toneguard-synth: a caller's side of a call as a WAV file: recorded speech, then DTMF keys
// pressed at human timing with speech between groups, and line noise. Prints what it put
// where as JSON lines (the ground truth for toneguard-detect and the demo).
//
//   toneguard-synth -o OUT.wav [--digits KEYS] [--speech DIR] [--encoding pcm16|ulaw|alaw]
//                   [--level DBM0] [--noise DBM0] [--seed N]

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "toneguard/dsp/dtmf.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/dsp/wav.h"

namespace {

using namespace toneguard;

constexpr const char* usage =
    "usage: toneguard-synth -o OUT.wav [--digits KEYS] [--speech DIR] [--encoding "
    "pcm16|ulaw|alaw]\n"
    "                       [--level DBM0] [--noise DBM0] [--seed N]\n"
    "Writes 8 kHz mono audio: speech prompts from DIR (default: Debian's asterisk English\n"
    "sounds), the KEYS pressed at human timing (70-130 ms tones, 90-250 ms gaps, speech every\n"
    "4 keys), white noise at --noise dBm0 (default -50). Prints one JSON line per key and per\n"
    "speech piece: what, start_ms, end_ms.\n";

int fail(const std::string& why) {
  std::fprintf(stderr, "toneguard-synth: %s\n", why.c_str());
  return 2;
}

std::vector<std::filesystem::path> speech_files(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != decltype(it){}; it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ".wav") files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, digits = "4111111111111111#", speech_dir = "/usr/share/asterisk/sounds/en";
  std::string encoding = "pcm16";
  float level = -8.0f, noise = -50.0f;
  unsigned seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "toneguard-synth: %s needs a value\n%s", name, usage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "-o")
      out = value("-o");
    else if (a == "--digits")
      digits = value("--digits");
    else if (a == "--speech")
      speech_dir = value("--speech");
    else if (a == "--encoding")
      encoding = value("--encoding");
    else if (a == "--level")
      level = std::strtof(value("--level"), nullptr);
    else if (a == "--noise")
      noise = std::strtof(value("--noise"), nullptr);
    else if (a == "--seed")
      seed = static_cast<unsigned>(std::strtoul(value("--seed"), nullptr, 10));
    else if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else {
      return fail("unknown argument '" + a + "'\n" + usage);
    }
  }
  if (out.empty()) return fail(std::string("-o OUT.wav is required\n") + usage);
  for (char k : digits) {
    if (!dsp::dtmf_tones(k)) return fail(std::string("--digits: '") + k + "' is not a DTMF key");
  }
  dsp::wav_audio::encoding stored_as;
  if (encoding == "pcm16")
    stored_as = dsp::wav_audio::encoding::pcm16;
  else if (encoding == "ulaw")
    stored_as = dsp::wav_audio::encoding::ulaw;
  else if (encoding == "alaw")
    stored_as = dsp::wav_audio::encoding::alaw;
  else
    return fail("--encoding must be pcm16, ulaw or alaw, got '" + encoding + "'");

  const auto prompts = speech_files(speech_dir);
  if (prompts.empty()) return fail("no .wav files under --speech " + speech_dir);

  std::mt19937 rng(seed);
  auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  dsp::signal_builder call;
  auto ms_at = [&](std::size_t sample) { return static_cast<double>(sample) / 8.0; };

  auto say = [&]() -> bool {
    const auto& file =
        prompts[std::uniform_int_distribution<std::size_t>(0, prompts.size() - 1)(rng)];
    auto wav = dsp::read_wav_file(file.string());
    if (!wav.ok() || wav.audio().sample_rate_hz != 8000) return true;  // skip what is not 8 kHz
    const std::size_t start = call.size();
    call.samples(std::span<const std::int16_t>(wav.audio().samples));
    std::printf("{\"speech\": \"%s\", \"start_ms\": %.3f, \"end_ms\": %.3f}\n",
                file.filename().c_str(), ms_at(start), ms_at(call.size()));
    return true;
  };

  call.silence(uniform(200, 400));
  say();
  call.silence(uniform(300, 600));
  for (std::size_t i = 0; i < digits.size(); ++i) {
    const double on = uniform(70, 130);
    const std::size_t start = call.size();
    call.dtmf(digits[i], on,
              {level + static_cast<float>(uniform(-3, 3)), static_cast<float>(uniform(-2, 4)),
               static_cast<float>(uniform(-0.01, 0.01)), static_cast<float>(uniform(-0.01, 0.01))});
    std::printf("{\"digit\": \"%c\", \"start_ms\": %.3f, \"end_ms\": %.3f}\n", digits[i],
                ms_at(start), ms_at(call.size()));
    call.silence(uniform(90, 250));
    if (i % 4 == 3 && i + 1 < digits.size()) {
      say();
      call.silence(uniform(200, 400));
    }
  }
  call.silence(300);
  say();
  call.silence(200);
  call.add_white_noise(noise, seed);

  if (auto error = dsp::write_wav_file(out, 8000, call.pcm16(), stored_as)) {
    return fail(out + ": " + *error);
  }
  return 0;
}
