// The default English prompt set built with the project (tools/toneguard-prompts, CMake target
// prompts_en): complete for English and every file decodes to 8 kHz audio.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "toneguard/dsp/prompt_audio.h"
#include "toneguard/engine/prompt_plan.h"
#include "toneguard/engine/prompt_set.h"

namespace toneguard::engine {
namespace {

constexpr std::string_view espeak_ng = TONEGUARD_ESPEAK_NG;

outcome<prompt_set> built_set() {
  return load_prompt_set(std::filesystem::path(TONEGUARD_PROMPTS_EN_DIR));
}

TEST(PromptDefaultSet, IsCompleteForEnglish) {
  if (espeak_ng.empty()) GTEST_SKIP() << "espeak-ng is not installed: no default set is built";
  const auto set = built_set();
  ASSERT_TRUE(set.ok()) << set.message();
  EXPECT_EQ(set.value().language, "en");
  const auto incomplete = check_complete(set.value(), english_language());
  EXPECT_FALSE(incomplete.has_value()) << incomplete->message;
}

TEST(PromptDefaultSet, EveryFileDecodesAndAnAmountRenders) {
  if (espeak_ng.empty()) GTEST_SKIP() << "espeak-ng is not installed: no default set is built";
  const auto set = built_set();
  ASSERT_TRUE(set.ok()) << set.message();
  std::vector<dsp::prompt_file> files;
  for (const auto& [id, path] : set.value().files()) files.push_back({id, path});
  const auto audio = dsp::prompt_audio::load(files);
  ASSERT_TRUE(audio.ok()) << audio.error_message();
  EXPECT_EQ(audio.value().size(), english_language().phrase_ids().size());

  prompt_plan plan;
  english_language().say(prompt_message::payment_of, plan);
  english_language().say_amount({1999, *find_currency("USD")}, plan);
  const auto rendered = audio.value().render(plan.phrases);
  ASSERT_TRUE(rendered.ok()) << rendered.error_message();
  // "Your payment of nineteen dollars and ninety nine cents" takes a few seconds to say.
  const double seconds =
      static_cast<double>(rendered.value().size()) / dsp::prompt_audio::sample_rate_hz;
  EXPECT_GT(seconds, 2.0);
  EXPECT_LT(seconds, 10.0);
}

}  // namespace
}  // namespace toneguard::engine
