// toneguard-detect as a user runs it: real files in a temporary directory, the real binary.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>

#include "support/run_command.h"
#include "toneguard/dsp/signal_builder.h"
#include "toneguard/dsp/wav.h"

namespace toneguard {
namespace {

namespace fs = std::filesystem;

using run_result = toneguard::testing::command_result;

run_result run_detect(const std::string& args, const std::string& environment = "") {
  return toneguard::testing::run_command(environment + " " + std::string(TONEGUARD_BIN_DIR) +
                                         "/toneguard-detect " + args);
}

// The number that follows the first occurrence of `key` in `text` (NaN when absent).
double number_after(const std::string& text, const std::string& key) {
  const auto at = text.find(key);
  if (at == std::string::npos) return std::numeric_limits<double>::quiet_NaN();
  return std::strtod(text.c_str() + at + key.size(), nullptr);
}

class detect_cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tg_detect_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const dsp::signal_builder& b, int rate,
                    dsp::wav_audio::encoding enc = dsp::wav_audio::encoding::pcm16) {
    const auto path = (dir_ / name).string();
    EXPECT_FALSE(dsp::write_wav_file(path, rate, b.pcm16(), enc).has_value());
    return path;
  }
  fs::path dir_;
};

TEST_F(detect_cli, prints_the_digits_of_each_file) {
  dsp::signal_builder b;
  b.silence(100).dtmf('1', 60).silence(80).dtmf('#', 60).silence(100);
  const auto ulaw = write("a.wav", b, 8000, dsp::wav_audio::encoding::ulaw);
  const auto alaw = write("b.wav", b, 8000, dsp::wav_audio::encoding::alaw);
  const auto r = run_detect(ulaw + " " + alaw);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, ulaw + ": 1#\n" + alaw + ": 1#\n");
}

TEST_F(detect_cli, json_gives_one_object_per_digit_with_times) {
  dsp::signal_builder b;
  b.silence(100).dtmf('5', 60).silence(100);
  const auto path = write("five.wav", b, 8000);
  const auto r = run_detect("--json " + path);
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  const std::string expected_start =
      "{\"file\": \"" + path + "\", \"digit\": \"5\", \"start_ms\": ";
  ASSERT_EQ(r.out.rfind(expected_start, 0), 0u) << r.out;
  EXPECT_EQ(r.out.substr(r.out.size() - 2), "}\n");
  const double start = number_after(r.out, "\"start_ms\": ");
  const double end = number_after(r.out, "\"end_ms\": ");
  const double detected = number_after(r.out, "\"detected_ms\": ");
  EXPECT_NEAR(start, 100.0, 5.0);
  EXPECT_NEAR(end, 160.0, 5.0);
  EXPECT_GT(detected, start);
  EXPECT_LE(detected - start, 40.0);
}

TEST_F(detect_cli, reads_16_khz_files_with_times_in_file_time) {
  dsp::signal_builder b(16000.0f);
  b.silence(100).dtmf('9', 60).silence(60).dtmf('D', 60).silence(100);
  const auto path = write("wide.wav", b, 16000);
  const auto r = run_detect("--json " + path);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string nine = "\"digit\": \"9\", \"start_ms\": ";
  ASSERT_NE(r.out.find(nine), std::string::npos) << r.out;
  EXPECT_NEAR(number_after(r.out, nine), 100.0, 5.0);
  EXPECT_NE(r.out.find("\"digit\": \"D\""), std::string::npos) << r.out;
}

TEST_F(detect_cli, bad_files_are_named_on_stderr_and_the_others_still_processed) {
  dsp::signal_builder b;
  b.silence(50).dtmf('7', 60).silence(50);
  const auto good = write("good.wav", b, 8000);
  const auto not_wav = (dir_ / "notes.txt").string();
  std::ofstream(not_wav) << "this is not audio";
  const auto truncated = (dir_ / "short.wav").string();
  {
    auto bytes = dsp::encode_wav(8000, b.pcm16());
    std::ofstream(truncated, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), 100);
  }
  const auto stereo = (dir_ / "stereo.wav").string();
  {
    auto bytes = dsp::encode_wav(8000, b.pcm16());
    bytes[22] = 2;  // channel count in the fmt chunk
    std::ofstream(stereo, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
  }
  const auto missing = (dir_ / "missing.wav").string();
  const auto r = run_detect(not_wav + " " + good + " " + truncated + " " + stereo + " " + missing);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, good + ": 7\n");
  for (const auto& f : {not_wav, truncated, stereo, missing}) {
    EXPECT_NE(r.err.find(f + ": "), std::string::npos) << "no message for " << f << " in:\n"
                                                       << r.err;
  }
  EXPECT_NE(r.err.find("channel"), std::string::npos) << r.err;
  // One line per bad file.
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 4) << r.err;
}

TEST_F(detect_cli, mask_to_writes_what_the_agent_hears_with_no_key_left) {
  dsp::signal_builder b;
  b.silence(200).dtmf('4', 80, {-8.0f}).silence(100).tone(440, 300, -15).silence(100);
  const auto caller = write("caller.wav", b, 8000, dsp::wav_audio::encoding::ulaw);
  const auto agent = (dir_ / "agent.wav").string();
  const auto masked = run_detect("--mask-to " + agent + " " + caller);
  ASSERT_EQ(masked.status, 0) << masked.err;
  EXPECT_NE(masked.out.find("leaked 0 samples"), std::string::npos) << masked.out;
  EXPECT_EQ(run_detect(agent).out, agent + ": (no digits)\n");
  const auto scan = run_detect("--leak " + agent);
  EXPECT_EQ(scan.status, 0) << scan.out;
  EXPECT_EQ(scan.out, agent + ": no DTMF fragment\n");
  // Time-aligned with the input, and the speech after the key is still there.
  auto wav = dsp::read_wav_file(agent);
  ASSERT_TRUE(wav.ok()) << wav.error();
  ASSERT_EQ(wav.audio().samples.size(), b.size());
  double speech = 0;
  for (std::size_t i = b.samples_for_ms(420); i < b.samples_for_ms(660); ++i) {
    speech += std::abs(wav.audio().samples[i]);
  }
  EXPECT_GT(speech, 0.0);
}

TEST_F(detect_cli, leak_reports_each_fragment_and_exits_1) {
  dsp::signal_builder b;
  b.silence(100).dtmf('#', 6, {-10.0f}).silence(100);
  const auto path = write("fragment.wav", b, 8000);
  const auto r = run_detect("--leak --json " + path);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.out.find("\"key\": \"#\""), std::string::npos) << r.out;
  EXPECT_NEAR(number_after(r.out, "\"leak_ms\": "), 100.0, 3.0) << r.out;
}

TEST_F(detect_cli, isa_lists_the_targets_and_unknown_options_are_refused) {
  const auto r = run_detect("--isa");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("scalar"), std::string::npos) << r.out;
  const auto bad = run_detect("--frobnicate x.wav");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("--frobnicate"), std::string::npos) << bad.err;
}

TEST_F(detect_cli, forcing_an_unknown_isa_is_an_error_naming_it) {
  const auto r = run_detect("--isa", "TONEGUARD_ISA=sparc");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("TONEGUARD_ISA=sparc"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace toneguard
