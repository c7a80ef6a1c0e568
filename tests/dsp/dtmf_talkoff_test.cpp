// Talk-off: speech and music must never produce a digit. Every English prompt of Debian's
// asterisk-core-sounds-en-wav and every music-on-hold track of asterisk-moh-opsound-wav, at
// the recorded level and at -10 dB and +6 dB, through the default receiver.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "dtmf_test_support.h"
#include "toneguard/dsp/wav.h"

namespace toneguard::dsp {
namespace {

struct talkoff_result {
  int files = 0;
  double minutes = 0;
  std::vector<std::string> false_digits;  // "file: keys @ gain"
  std::vector<std::string> unreadable;
};

talkoff_result run_talkoff(const std::filesystem::path& dir) {
  talkoff_result result;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".wav")
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    auto wav = read_wav_file(path.string());
    if (!wav.ok() || wav.audio().sample_rate_hz != 8000) {
      result.unreadable.push_back(path.string() + ": " + (wav.ok() ? "not 8 kHz" : wav.error()));
      continue;
    }
    ++result.files;
    const auto& pcm = wav.audio().samples;
    result.minutes += static_cast<double>(pcm.size()) / 8000.0 / 60.0;
    std::vector<float> audio(pcm.size());
    for (float gain : {1.0f, 0.316f, 2.0f}) {
      std::transform(pcm.begin(), pcm.end(), audio.begin(),
                     [gain](std::int16_t s) { return std::clamp(s * gain, -32768.0f, 32767.0f); });
      const auto log = testing::receive(audio);
      if (!log.digits.empty()) {
        result.false_digits.push_back(path.filename().string() + ": " + log.keys() + " at gain " +
                                      std::to_string(gain));
      }
    }
  }
  return result;
}

void expect_no_talkoff(const char* dir, double min_minutes) {
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir << " is missing: tools/test installs it";
  const auto r = run_talkoff(dir);
  EXPECT_TRUE(r.unreadable.empty()) << r.unreadable.front();
  EXPECT_GE(r.minutes, min_minutes) << "too little audio found in " << dir;
  std::string all;
  for (const auto& f : r.false_digits) all += f + "\n";
  EXPECT_TRUE(r.false_digits.empty()) << r.false_digits.size() << " false digits in " << r.files
                                      << " files (" << r.minutes << " min):\n"
                                      << all;
  ::testing::Test::RecordProperty("files", r.files);
  ::testing::Test::RecordProperty("minutes", std::to_string(r.minutes));
}

TEST(dtmf_talkoff, no_digit_from_any_english_speech_recording) {
  expect_no_talkoff(TONEGUARD_SOUNDS_DIR, 20.0);
}

TEST(dtmf_talkoff, no_digit_from_music) {
  expect_no_talkoff(TONEGUARD_MUSIC_DIR, 10.0);
}

}  // namespace
}  // namespace toneguard::dsp
