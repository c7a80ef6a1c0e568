#include "toneguard/engine/prompt_set.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "support/temp_dir.h"

namespace toneguard::engine {
namespace {

namespace fs = std::filesystem;

using ::toneguard::testing::temp_dir;

std::string parse_error(std::string_view text) {
  const outcome<prompt_set> parsed = parse_prompt_manifest(text, "m.tsv", "/base");
  EXPECT_FALSE(parsed.ok()) << text;
  return parsed.ok() ? std::string() : parsed.message();
}

TEST(PromptSet, ManifestMapsPhraseIdsToFilesWithCommentsAndBlankLines) {
  const auto parsed = parse_prompt_manifest(
      "# the default English set\n"
      "\n"
      "language en\n"
      "digits/1\t/sounds/digits/1.wav\n"
      "  # indented comment\r\n"
      "toneguard/and\tgenerated/and.wav\r\n"
      "letters/a \t letters/a.wav \n",
      "m.tsv", "/base");
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  const prompt_set& set = parsed.value();
  EXPECT_EQ(set.language, "en");
  EXPECT_EQ(set.phrases.size(), 3u);
  EXPECT_EQ(*set.find("digits/1"), fs::path("/sounds/digits/1.wav"));
  EXPECT_EQ(*set.find("toneguard/and"), fs::path("/base/generated/and.wav"));
  EXPECT_EQ(*set.find("letters/a"), fs::path("/base/letters/a.wav"));
  EXPECT_EQ(set.phrases.at("toneguard/and").line, 6);
  EXPECT_EQ(set.find("digits/2"), nullptr);
}

TEST(PromptSet, RelativePathsStayRelativeWithoutABaseDirectory) {
  const auto parsed = parse_prompt_manifest("language en\nx\ta.wav\n", "m.tsv", {});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed.value().find("x"), fs::path("a.wav"));
}

TEST(PromptSet, BadLineNamesItsLineNumber) {
  EXPECT_EQ(parse_error("language en\n\ndigits/1 /x.wav\n"),
            "m.tsv:3: expected 'phrase-id<TAB>file' or 'language <tag>', got 'digits/1 /x.wav'");
}

TEST(PromptSet, DuplicatePhraseIdNamesBothLines) {
  EXPECT_EQ(parse_error("language en\ndigits/1\ta.wav\n# x\ndigits/1\tb.wav\n"),
            "m.tsv:4: duplicate phrase id 'digits/1' (first on line 2)");
}

TEST(PromptSet, PhraseIdsAndPathsAreChecked) {
  EXPECT_EQ(parse_error("language en\n\ta.wav\n"), "m.tsv:2: empty phrase id before the TAB");
  EXPECT_EQ(parse_error("language en\ndigits 1\ta.wav\n"),
            "m.tsv:2: phrase id 'digits 1' has characters other than A-Z a-z 0-9 / _ . -");
  EXPECT_EQ(parse_error("language en\ndigits/1\t\n"), "m.tsv:2: no file for phrase id 'digits/1'");
  EXPECT_EQ(parse_error("language en\ndigits/1\ta.wav\tb.wav\n"),
            "m.tsv:2: more than one TAB: expected 'phrase-id<TAB>file'");
  EXPECT_EQ(parse_error(std::string("language en\nx\ta") + '\0' + ".wav\n"),
            "m.tsv:2: file path for 'x' has control characters");
}

TEST(PromptSet, ManifestNeedsExactlyOneValidLanguageLine) {
  EXPECT_EQ(parse_error("digits/1\ta.wav\n"), "m.tsv: no 'language <tag>' line");
  EXPECT_EQ(parse_error(""), "m.tsv: no 'language <tag>' line");
  EXPECT_EQ(parse_error("language en\nlanguage es\n"),
            "m.tsv:2: second language line (the first is line 1)");
  EXPECT_EQ(parse_error("language e n\n"),
            "m.tsv:1: bad language tag 'e n' (letters, digits and '-')");
}

TEST(PromptSet, FormattedManifestParsesBack) {
  const std::string text = format_prompt_manifest(
      "en", {{"digits/1", "/s/1.wav"}, {"toneguard/and", "generated/and.wav"}},
      "line one\nline two");
  EXPECT_EQ(text,
            "# line one\n# line two\nlanguage en\ndigits/1\t/s/1.wav\ntoneguard/and\t"
            "generated/and.wav\n");
  const auto parsed = parse_prompt_manifest(text, "m.tsv", "/d");
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(parsed.value().files(),
            (std::vector<std::pair<std::string, std::string>>{
                {"digits/1", "/s/1.wav"}, {"toneguard/and", "/d/generated/and.wav"}}));
}

TEST(PromptSet, LoadResolvesFilesAgainstTheManifestDirectory) {
  temp_dir dir;
  dir.write("generated/and.wav", "RIFF");
  const fs::path absolute = dir.write("elsewhere/one.wav", "RIFF");
  dir.write("manifest.tsv",
            "language en\ntoneguard/and\tgenerated/and.wav\ndigits/1\t" + absolute.string() + "\n");
  for (const fs::path& path : {dir.path(), dir.path() / "manifest.tsv"}) {
    const auto loaded = load_prompt_set(path);
    ASSERT_TRUE(loaded.ok()) << loaded.message();
    EXPECT_EQ(*loaded.value().find("toneguard/and"), dir.path() / "generated/and.wav");
    EXPECT_EQ(*loaded.value().find("digits/1"), absolute);
    EXPECT_EQ(loaded.value().source, (dir.path() / "manifest.tsv").string());
  }
}

TEST(PromptSet, LoadFailsOnAMissingFileNamingItsLine) {
  temp_dir dir;
  dir.write("a.wav", "RIFF");
  dir.write("manifest.tsv", "language en\nx\ta.wav\ny\tmissing.wav\nz\talso-missing.wav\n");
  const auto loaded = load_prompt_set(dir.path());
  ASSERT_FALSE(loaded.ok());
  const std::string manifest = (dir.path() / "manifest.tsv").string();
  EXPECT_EQ(loaded.message(),
            manifest + ":3: file not found for 'y': " + (dir.path() / "missing.wav").string() +
                " (and 1 more missing files)");
}

TEST(PromptSet, LoadFailsOnAMissingManifestAndReportsParseErrorsWithItsPath) {
  temp_dir dir;
  const auto missing = load_prompt_set(dir.path());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.message(), (dir.path() / "manifest.tsv").string() + ": no such manifest file");
  dir.write("manifest.tsv", "language en\nnonsense\n");
  const auto bad = load_prompt_set(dir.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(), (dir.path() / "manifest.tsv").string() +
                               ":2: expected 'phrase-id<TAB>file' or 'language <tag>', got "
                               "'nonsense'");
}

TEST(PromptSet, CompletenessCheckNamesEveryMissingPhrase) {
  std::string text = "language en\n";
  const std::vector<std::string> ids = english_language().phrase_ids();
  for (const std::string& id : ids) {
    if (id != "digits/7" && id != "toneguard/enter-pin") text += id + "\tx.wav\n";
  }
  const auto parsed = parse_prompt_manifest(text, "m.tsv", "/d");
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  const auto incomplete = check_complete(parsed.value(), english_language());
  ASSERT_TRUE(incomplete.has_value());
  EXPECT_EQ(incomplete->message,
            "m.tsv: prompt set (en) lacks 2 phrases: digits/7, "
            "toneguard/enter-pin");

  const auto full =
      parse_prompt_manifest(text + "digits/7\tx.wav\ntoneguard/enter-pin\tx.wav\n", "m.tsv", "/d");
  ASSERT_TRUE(full.ok());
  EXPECT_FALSE(check_complete(full.value(), english_language()).has_value());
}

TEST(PromptSet, CompletenessCheckRefusesASetOfAnotherLanguage) {
  const auto parsed = parse_prompt_manifest("language es\n", "m.tsv", {});
  ASSERT_TRUE(parsed.ok());
  const auto wrong = check_complete(parsed.value(), english_language());
  ASSERT_TRUE(wrong.has_value());
  EXPECT_EQ(wrong->message, "m.tsv: prompt set speaks 'es', not 'en'");
}

}  // namespace
}  // namespace toneguard::engine
