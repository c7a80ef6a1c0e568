// Prompt audio (dsp/prompt_audio.h): recordings loaded as 8 kHz mono from the rates people
// have (8 kHz Asterisk sounds, espeak-ng's 22.05 kHz), plans rendered sample-exact, G.711 out,
// and every unusable input refused with a message naming the file.

#include "toneguard/dsp/prompt_audio.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numbers>

#include "support/temp_dir.h"
#include "toneguard/dsp/wav.h"

namespace toneguard::dsp {
namespace {

namespace fs = std::filesystem;

// A temp_dir written with encoded audio.
class wav_dir : public ::toneguard::testing::temp_dir {
 public:
  wav_dir() : temp_dir("toneguard-prompt-audio") {}

  // Writes `bytes` to `name` and returns its path.
  std::string write(const std::string& name, std::span<const std::uint8_t> bytes) const {
    return temp_dir::write(
               name, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()))
        .string();
  }
};

std::vector<std::int16_t> tone(double frequency_hz, double rate_hz, std::size_t samples,
                               double peak = 8000.0, std::size_t silent_samples = 0) {
  std::vector<std::int16_t> out(silent_samples + samples, 0);
  const double w = 2.0 * std::numbers::pi * frequency_hz / rate_hz;
  for (std::size_t n = 0; n < samples; ++n) {
    out[silent_samples + n] =
        static_cast<std::int16_t>(std::lround(peak * std::sin(w * double(n))));
  }
  return out;
}

// A WAV of 16-bit samples at any rate: encode_wav() writes only 8 and 16 kHz, so its header's
// rate fields are patched afterwards.
std::vector<std::uint8_t> wav_at_rate(int rate_hz, std::span<const std::int16_t> samples) {
  std::vector<std::uint8_t> bytes = encode_wav(8000, samples);
  const auto fmt =
      std::search(bytes.begin(), bytes.end(), std::begin("fmt "), std::end("fmt ") - 1);
  const std::size_t body = static_cast<std::size_t>(fmt - bytes.begin()) + 8;
  const auto put_u32 = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
  };
  put_u32(body + 4, static_cast<std::uint32_t>(rate_hz));
  put_u32(body + 8, static_cast<std::uint32_t>(rate_hz) * 2);
  return bytes;
}

double rms(std::span<const std::int16_t> x) {
  double sum = 0.0;
  for (std::int16_t v : x) sum += double(v) * v;
  return std::sqrt(sum / static_cast<double>(x.size()));
}

// Sign changes per second: twice the frequency of a clean tone.
double zero_crossing_hz(std::span<const std::int16_t> x, double rate_hz) {
  int crossings = 0;
  for (std::size_t i = 1; i < x.size(); ++i) crossings += (x[i - 1] < 0) != (x[i] < 0);
  return crossings * rate_hz / (2.0 * static_cast<double>(x.size()));
}

prompt_audio sample_set() {
  return prompt_audio::from_samples({{"a", {1, 2, 3}}, {"b", {-4, 5}}});
}

TEST(PromptAudio, Loads8kHzWavSampleForSample) {
  wav_dir dir;
  const std::vector<std::int16_t> samples = tone(440, 8000, 800);
  const std::string path = dir.write("a.wav", encode_wav(8000, samples));
  const std::vector<prompt_file> files{{"digits/1", path}, {"digits/one-again", path}};
  auto loaded = prompt_audio::load(files);
  ASSERT_TRUE(loaded.ok()) << loaded.error_message();
  EXPECT_EQ(loaded.value().size(), 2u);
  const auto one = loaded.value().find("digits/1");
  EXPECT_EQ(std::vector<std::int16_t>(one.begin(), one.end()), samples);
  EXPECT_EQ(loaded.value().find("digits/one-again").size(), samples.size());
  EXPECT_EQ(loaded.value().total_samples(), 2 * samples.size());
}

TEST(PromptAudio, LoadsG711WavDecoded) {
  wav_dir dir;
  const std::vector<std::int16_t> samples = tone(440, 8000, 800);
  const std::string path = dir.write("u.wav", encode_wav(8000, samples, wav_audio::encoding::ulaw));
  auto audio = read_prompt_wav(path);
  ASSERT_TRUE(audio.ok()) << audio.error_message();
  EXPECT_EQ(audio.value().size(), samples.size());
  EXPECT_NEAR(rms(audio.value()), rms(samples), rms(samples) * 0.02);
}

TEST(PromptAudio, Loads16kHzWavDecimatedTo8kHz) {
  wav_dir dir;
  const std::vector<std::int16_t> samples = tone(1000, 16000, 16000);
  auto audio = read_prompt_wav(dir.write("w.wav", encode_wav(16000, samples)));
  ASSERT_TRUE(audio.ok()) << audio.error_message();
  ASSERT_EQ(audio.value().size(), 8000u);
  const std::span<const std::int16_t> middle = std::span(audio.value()).subspan(1000, 6000);
  EXPECT_NEAR(rms(middle), rms(samples), rms(samples) * 0.01);
  EXPECT_NEAR(zero_crossing_hz(middle, 8000), 1000, 2);
}

TEST(PromptAudio, Loads22050HzWavResampledTo8kHzKeepingLevelAndPitch) {
  wav_dir dir;
  const std::vector<std::int16_t> samples = tone(1000, 22050, 22050);
  auto audio = read_prompt_wav(dir.write("espeak.wav", wav_at_rate(22050, samples)));
  ASSERT_TRUE(audio.ok()) << audio.error_message();
  ASSERT_EQ(audio.value().size(), 8000u);
  const std::span<const std::int16_t> middle = std::span(audio.value()).subspan(1000, 6000);
  EXPECT_NEAR(rms(middle), rms(samples), rms(samples) * 0.02);  // within 0.2 dB
  EXPECT_NEAR(zero_crossing_hz(middle, 8000), 1000, 2);
}

TEST(PromptAudio, ResamplingKeepsLengthAndTiming) {
  for (int rate : {4000, 6000, 11025, 16000, 22050, 32000, 44100, 48000, 96000, 192000}) {
    SCOPED_TRACE(rate);
    // A 300 Hz burst with a Gaussian envelope centred half a second in stays centred there.
    std::vector<std::int16_t> in(static_cast<std::size_t>(rate) - 1);
    for (std::size_t i = 0; i < in.size(); ++i) {
      const double t = static_cast<double>(i) / rate - 0.5;
      in[i] = static_cast<std::int16_t>(std::lround(10000 * std::exp(-t * t / (2 * 0.004 * 0.004)) *
                                                    std::cos(2 * std::numbers::pi * 300 * t)));
    }
    const std::vector<std::int16_t> out = resample_to_8k(in, rate);
    EXPECT_EQ(out.size(), (in.size() * 8000 + static_cast<std::size_t>(rate) / 2) / rate);
    double weighted = 0.0;
    double energy = 0.0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      weighted += double(out[i]) * out[i] * static_cast<double>(i);
      energy += double(out[i]) * out[i];
    }
    EXPECT_NEAR(weighted / energy, 4000.0, 1.0);
  }
}

TEST(PromptAudio, ResamplingRemovesWhatWouldFoldIntoTheTelephoneBand) {
  // 7 kHz at 22.05 kHz would alias to 1 kHz at 8 kHz without a low-pass.
  const std::vector<std::int16_t> out = resample_to_8k(tone(7000, 22050, 22050), 22050);
  EXPECT_LT(rms(std::span(out).subspan(1000, 6000)), 8000 / std::sqrt(2.0) * 0.01);  // < -40 dB
}

TEST(PromptAudio, RenderConcatenatesPhrasesSampleExact) {
  const prompt_audio set = sample_set();
  auto rendered = set.render(std::vector<std::string>{"a", "b", "a"});
  ASSERT_TRUE(rendered.ok()) << rendered.error_message();
  EXPECT_EQ(rendered.value(), (std::vector<std::int16_t>{1, 2, 3, -4, 5, 1, 2, 3}));
}

TEST(PromptAudio, RenderPutsTheGapOnlyBetweenPhrases) {
  const prompt_audio set = sample_set();
  auto rendered = set.render(std::vector<std::string>{"a", "b"}, 1);
  ASSERT_TRUE(rendered.ok()) << rendered.error_message();
  std::vector<std::int16_t> expected{1, 2, 3};
  expected.insert(expected.end(), 8, 0);
  expected.insert(expected.end(), {-4, 5});
  EXPECT_EQ(rendered.value(), expected);
  auto empty = set.render(std::vector<std::string>{}, 100);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty.value().empty());
}

TEST(PromptAudio, RenderToG711HasOneBytePerSample) {
  const prompt_audio set = sample_set();
  const std::vector<std::string> plan{"a", "b", "a"};
  for (g711_law law : {g711_law::ulaw, g711_law::alaw}) {
    auto linear = set.render(plan, 20);
    auto coded = set.render_g711(law, plan, 20);
    ASSERT_TRUE(coded.ok()) << coded.error_message();
    ASSERT_EQ(coded.value().size(), 8u + 2 * 160);
    std::vector<std::uint8_t> expected(linear.value().size());
    g711_encode(law, linear.value(), expected);
    EXPECT_EQ(coded.value(), expected);
  }
}

TEST(PromptAudio, RenderRefusesAnUnknownPhraseId) {
  const prompt_audio set = sample_set();
  auto rendered = set.render(std::vector<std::string>{"a", "digits/7"});
  ASSERT_FALSE(rendered.ok());
  EXPECT_EQ(rendered.error_message(), "unknown phrase id 'digits/7' (not in the prompt set)");
  auto coded = set.render_g711(g711_law::alaw, std::vector<std::string>{"zz"});
  ASSERT_FALSE(coded.ok());
  EXPECT_EQ(coded.error_message(), "unknown phrase id 'zz' (not in the prompt set)");
}

TEST(PromptAudio, RenderRefusesAGapOutOfRange) {
  const prompt_audio set = sample_set();
  EXPECT_FALSE(set.render(std::vector<std::string>{"a"}, -1).ok());
  EXPECT_FALSE(set.render(std::vector<std::string>{"a"}, prompt_audio::max_gap_ms + 1).ok());
}

TEST(PromptAudio, UnusableFilesAreRefusedNamingPhraseAndFile) {
  wav_dir dir;
  const std::vector<std::int16_t> samples = tone(440, 8000, 80);
  std::vector<std::uint8_t> stereo = encode_wav(8000, samples);
  stereo[22] = 2;  // channel count in the canonical 44-byte header
  std::vector<std::uint8_t> eight_bit = encode_wav(8000, samples);
  eight_bit[34] = 8;  // bits per sample
  struct bad_file {
    std::string name;
    std::vector<std::uint8_t> bytes;
    std::string problem;
  };
  const std::vector<bad_file> cases{
      {"text.wav", {'h', 'e', 'l', 'l', 'o'}, "not a WAV file (no RIFF/WAVE header)"},
      {"stereo.wav", stereo, "unsupported channel count 2 (mono only)"},
      {"eight-bit.wav", eight_bit, "unsupported bits per sample 8 for PCM (16 supported)"},
      {"empty.wav", encode_wav(8000, std::vector<std::int16_t>{}), "no audio (empty data chunk)"},
      {"slow.wav", wav_at_rate(1000, samples),
       "unusable sample rate 1000 Hz (4000..192000 Hz "
       "supported)"},
  };
  for (const bad_file& c : cases) {
    const std::string path = dir.write(c.name, c.bytes);
    const std::vector<prompt_file> files{{"digits/1", path}};
    auto loaded = prompt_audio::load(files);
    ASSERT_FALSE(loaded.ok()) << c.name;
    EXPECT_EQ(loaded.error_message(), "phrase 'digits/1': " + path + ": " + c.problem);
  }
  const std::string missing = dir.write("x", {}) + "-missing.wav";
  auto loaded = prompt_audio::load(std::vector<prompt_file>{{"digits/2", missing}});
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error_message(),
            "phrase 'digits/2': " + missing + ": cannot open: No such file or directory");
}

TEST(PromptAudio, APhraseListedTwiceIsRefused) {
  wav_dir dir;
  const std::string path = dir.write("a.wav", encode_wav(8000, tone(440, 8000, 80)));
  auto loaded = prompt_audio::load(std::vector<prompt_file>{{"a", path}, {"a", path}});
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error_message(), "phrase 'a' listed twice");
}

}  // namespace
}  // namespace toneguard::dsp
