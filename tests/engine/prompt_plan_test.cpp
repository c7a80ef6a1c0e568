#include "toneguard/engine/prompt_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace toneguard::engine {
namespace {

// The plan as the English words its phrases speak ("<id>" for an id without English text).
std::string words(const prompt_plan& plan) {
  std::string out;
  for (const std::string& id : plan.phrases) {
    if (!out.empty()) out += ' ';
    const std::string text = phrase_text_en(id);
    out += text.empty() ? "<" + id + ">" : text;
  }
  return out;
}

std::string english_number(std::int64_t n) {
  prompt_plan plan;
  english_language().say_number(n, plan);
  return words(plan);
}

std::string english_amount(std::int64_t minor, std::string_view code) {
  prompt_plan plan;
  english_language().say_amount({minor, *find_currency(code)}, plan);
  return words(plan);
}

std::vector<std::string> spanish_number(std::int64_t n) {
  prompt_plan plan;
  spanish_language().say_number(n, plan);
  return plan.phrases;
}

using ids = std::vector<std::string>;

TEST(PromptPlan, EnglishNumbersBelowOneHundred) {
  EXPECT_EQ(english_number(0), "zero");
  EXPECT_EQ(english_number(7), "seven");
  EXPECT_EQ(english_number(13), "thirteen");
  EXPECT_EQ(english_number(20), "twenty");
  EXPECT_EQ(english_number(21), "twenty one");
  EXPECT_EQ(english_number(99), "ninety nine");
}

TEST(PromptPlan, EnglishHundredsAndThousandsHaveNoAnd) {
  EXPECT_EQ(english_number(100), "one hundred");
  EXPECT_EQ(english_number(105), "one hundred five");
  EXPECT_EQ(english_number(999), "nine hundred ninety nine");
  EXPECT_EQ(english_number(1000), "one thousand");
  EXPECT_EQ(english_number(1005), "one thousand five");
  EXPECT_EQ(english_number(1205), "one thousand two hundred five");
  EXPECT_EQ(english_number(12345), "twelve thousand three hundred forty five");
}

TEST(PromptPlan, EnglishMillionsAndBillions) {
  EXPECT_EQ(english_number(1'000'000), "one million");
  EXPECT_EQ(english_number(1'234'567'890),
            "one billion two hundred thirty four million five hundred sixty seven thousand "
            "eight hundred ninety");
  EXPECT_EQ(english_number(999'999'999'999),
            "nine hundred ninety nine billion nine hundred ninety nine million nine hundred "
            "ninety nine thousand nine hundred ninety nine");
}

TEST(PromptPlan, EnglishNumbersUseAsteriskSoundNames) {
  prompt_plan plan;
  english_language().say_number(1005, plan);
  EXPECT_EQ(plan.phrases, (ids{"digits/1", "digits/thousand", "digits/5"}));
}

TEST(PromptPlan, NumbersBeyondTheRangeAreReadDigitByDigitAndNegativesWithMinus) {
  EXPECT_EQ(english_number(1'000'000'000'000),
            "one zero zero zero zero zero zero zero zero zero "
            "zero zero zero");
  EXPECT_EQ(english_number(-5), "minus five");
}

TEST(PromptPlan, EnglishAmountWithMajorAndMinorUnits) {
  EXPECT_EQ(english_amount(1999, "USD"), "nineteen dollars and ninety nine cents");
  EXPECT_EQ(english_amount(101, "USD"), "one dollar and one cent");
  EXPECT_EQ(english_amount(250, "EUR"), "two euros and fifty cents");
  EXPECT_EQ(english_amount(199, "GBP"), "one pound and ninety nine pence");
}

TEST(PromptPlan, EnglishAmountLeavesOutAZeroPart) {
  EXPECT_EQ(english_amount(100, "USD"), "one dollar");
  EXPECT_EQ(english_amount(200, "USD"), "two dollars");
  EXPECT_EQ(english_amount(1, "USD"), "one cent");
  EXPECT_EQ(english_amount(5, "USD"), "five cents");
}

TEST(PromptPlan, EnglishZeroAmountIsZeroMajorUnits) {
  EXPECT_EQ(english_amount(0, "USD"), "zero dollars");
  EXPECT_EQ(english_amount(0, "JPY"), "zero yen");
}

TEST(PromptPlan, EnglishAmountInACurrencyWithoutMinorUnits) {
  EXPECT_EQ(english_amount(1500, "JPY"), "one thousand five hundred yen");
  EXPECT_EQ(english_amount(1, "KRW"), "one won");
}

TEST(PromptPlan, EnglishAmountInACurrencyWithThreeMinorUnits) {
  EXPECT_EQ(english_amount(1250, "KWD"), "one dinar and two hundred fifty fils");
  EXPECT_EQ(english_amount(1000, "KWD"), "one dinar");
  EXPECT_EQ(english_amount(7, "OMR"), "seven baisa");
}

TEST(PromptPlan, DollarsComeFromAsteriskOtherUnitsFromToneguard) {
  prompt_plan plan;
  english_language().say_amount({1999, *find_currency("USD")}, plan);
  EXPECT_EQ(plan.phrases, (ids{"digits/19", "digits/dollars", "toneguard/and", "digits/90",
                               "digits/9", "toneguard/cents"}));
  plan = {};
  english_language().say_amount({100, *find_currency("USD")}, plan);
  EXPECT_EQ(plan.phrases, (ids{"digits/1", "toneguard/dollar"}));
}

TEST(PromptPlan, EnglishAmountInACurrencyWithoutUnitNamesSpellsItsCode) {
  const currency unnamed{"XTS", 2, "", ""};
  prompt_plan plan;
  english_language().say_amount({1905, unnamed}, plan);
  EXPECT_EQ(words(plan), "nineteen X T S and five X T S");
}

TEST(PromptPlan, EnglishMonthYearReadsYearsInPairs) {
  auto month_year = [](int year, int month) {
    prompt_plan plan;
    english_language().say_month_year({year, month}, plan);
    return words(plan);
  };
  EXPECT_EQ(month_year(2027, 3), "March twenty twenty seven");
  EXPECT_EQ(month_year(2031, 12), "December twenty thirty one");
  EXPECT_EQ(month_year(2010, 1), "January twenty ten");
  EXPECT_EQ(month_year(2007, 6), "June two thousand seven");
  EXPECT_EQ(month_year(2000, 6), "June two thousand");
  EXPECT_EQ(month_year(1905, 6), "June nineteen oh five");
  EXPECT_EQ(month_year(1900, 6), "June nineteen hundred");
}

TEST(PromptPlan, MonthYearPlansReadCardData) {
  prompt_plan plan;
  english_language().say_month_year({2027, 3}, plan);
  EXPECT_TRUE(plan.reads_card_data);
  EXPECT_EQ(plan.phrases.front(), "digits/mon-2");
  prompt_plan number;
  english_language().say_number(2027, number);
  EXPECT_FALSE(number.reads_card_data);
}

TEST(PromptPlan, DigitStringsAreReadOneByOneWithLetters) {
  prompt_plan plan;
  english_language().say_digits("4A-7z#*", plan);
  EXPECT_EQ(plan.phrases,
            (ids{"digits/4", "letters/a", "digits/7", "letters/z", "digits/pound", "digits/star"}));
  EXPECT_EQ(words(plan), "four A seven Z pound star");
}

TEST(PromptPlan, MessagesUseToneguardPhrases) {
  prompt_plan plan;
  english_language().say(prompt_message::enter_card_number, plan);
  EXPECT_EQ(plan.phrases, (ids{"toneguard/enter-card-number"}));
  EXPECT_EQ(message_phrase_id(prompt_message::you_entered), "toneguard/you-entered");
}

TEST(PromptPlan, EveryMessageHasEnglishTextAndAToneguardPhrase) {
  std::set<std::string> seen;
  EXPECT_EQ(all_prompt_messages().size(), static_cast<std::size_t>(prompt_message::goodbye) + 1);
  for (prompt_message m : all_prompt_messages()) {
    EXPECT_FALSE(message_text_en(m).empty()) << message_name(m);
    const std::string id = message_phrase_id(m);
    EXPECT_TRUE(id.starts_with("toneguard/")) << id;
    EXPECT_EQ(phrase_text_en(id), message_text_en(m));
    EXPECT_TRUE(seen.insert(id).second) << "duplicate " << id;
  }
  EXPECT_EQ(message_text_en(prompt_message::enter_pin),
            "Please enter your PIN, followed by the pound key.");
}

// Plans of every kind, for the coverage checks below.
std::vector<prompt_plan> sample_plans(const prompt_language& language) {
  std::vector<prompt_plan> plans;
  auto add = [&](auto&& say) {
    prompt_plan plan;
    say(plan);
    plans.push_back(std::move(plan));
  };
  for (prompt_message m : all_prompt_messages()) add([&](prompt_plan& p) { language.say(m, p); });
  std::vector<std::int64_t> numbers{-7,           1'000'000'000'000, 999'999'999'999, 1'000'001'000,
                                    1'000'000,    2'000'000,         21'021,          101'101,
                                    1'234'567'890};
  for (std::int64_t n = 0; n <= 2100; ++n) numbers.push_back(n);
  for (std::int64_t n : numbers) add([&](prompt_plan& p) { language.say_number(n, p); });
  for (const currency& c : known_currencies()) {
    for (std::int64_t minor : {0, 1, 2, 21, 100, 101, 1000, 1001, 1999, 123456, -3}) {
      add([&](prompt_plan& p) { language.say_amount({minor, c}, p); });
    }
  }
  for (int month = 1; month <= 12; ++month) {
    for (int year : {1900, 1905, 1999, 2000, 2007, 2010, 2027, 2099, 2100, 2101}) {
      add([&](prompt_plan& p) { language.say_month_year({year, month}, p); });
    }
  }
  add([&](prompt_plan& p) {
    language.say_digits("0123456789*#abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", p);
  });
  return plans;
}

TEST(PromptPlan, EveryPhraseTheLanguageProducesIsInItsPhraseIds) {
  for (const prompt_language* language : all_languages()) {
    const std::vector<std::string> listed = language->phrase_ids();
    EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end()));
    EXPECT_EQ(std::adjacent_find(listed.begin(), listed.end()), listed.end());
    const std::set<std::string> known(listed.begin(), listed.end());
    std::set<std::string> produced;
    for (const prompt_plan& plan : sample_plans(*language)) {
      for (const std::string& id : plan.phrases) {
        EXPECT_TRUE(known.contains(id)) << language->tag() << ": " << id;
        produced.insert(id);
      }
    }
    // And nothing listed is dead weight that a prompt set would have to carry for nothing.
    for (const std::string& id : listed) {
      EXPECT_TRUE(produced.contains(id)) << language->tag() << " never says " << id;
    }
  }
}

TEST(PromptPlan, EveryEnglishPhraseHasEnglishText) {
  for (const std::string& id : english_language().phrase_ids()) {
    EXPECT_FALSE(phrase_text_en(id).empty()) << id;
  }
  EXPECT_EQ(phrase_text_en("digits/mon-2"), "March");
  EXPECT_EQ(phrase_text_en("toneguard/cents"), "cents");
  EXPECT_EQ(phrase_text_en("digits/21"), "");
  EXPECT_EQ(phrase_text_en("toneguard/no-such-thing"), "");
}

TEST(PromptPlan, FindLanguageByTag) {
  EXPECT_EQ(find_language("en"), &english_language());
  EXPECT_EQ(find_language("es"), &spanish_language());
  EXPECT_EQ(find_language("fr"), nullptr);
  EXPECT_EQ(english_language().tag(), "en");
  EXPECT_EQ(spanish_language().tag(), "es");
}

TEST(PromptPlan, SpanishNumbersBelowOneHundredAreSingleRecordingsUpTo29) {
  EXPECT_EQ(spanish_number(1), ids{"digits/1"});
  EXPECT_EQ(spanish_number(15), ids{"digits/15"});
  EXPECT_EQ(spanish_number(16), ids{"digits/16"});
  EXPECT_EQ(spanish_number(21), ids{"digits/21"});
  EXPECT_EQ(spanish_number(31), (ids{"digits/30", "digits/and", "digits/1"}));
}

TEST(PromptPlan, SpanishHundredsAreCienCientoAndTheirOwnWords) {
  EXPECT_EQ(spanish_number(100), ids{"digits/hundred"});
  EXPECT_EQ(spanish_number(101), (ids{"digits/100-and", "digits/1"}));
  EXPECT_EQ(spanish_number(500), ids{"digits/500"});
  EXPECT_EQ(spanish_number(999), (ids{"digits/900", "digits/90", "digits/and", "digits/9"}));
}

TEST(PromptPlan, SpanishThousandsAndMillions) {
  EXPECT_EQ(spanish_number(1000), ids{"digits/thousand"});
  EXPECT_EQ(spanish_number(2000), (ids{"digits/2", "digits/thousand"}));
  EXPECT_EQ(spanish_number(31'000),
            (ids{"digits/30", "digits/and", "digits/1M", "digits/thousand"}));
  EXPECT_EQ(spanish_number(1'000'000), (ids{"digits/1M", "digits/million"}));
  EXPECT_EQ(spanish_number(2'000'000), (ids{"digits/2", "digits/millions"}));
  EXPECT_EQ(spanish_number(1'000'000'000), (ids{"digits/thousand", "digits/millions"}));
}

TEST(PromptPlan, SpanishAmountSaysUnBeforeTheUnit) {
  prompt_plan plan;
  spanish_language().say_amount({101, *find_currency("USD")}, plan);
  EXPECT_EQ(plan.phrases,
            (ids{"digits/1M", "toneguard/dollar", "digits/and", "digits/1M", "toneguard/cent"}));
  plan = {};
  spanish_language().say_amount({1999, *find_currency("USD")}, plan);
  EXPECT_EQ(plan.phrases, (ids{"digits/19", "digits/dollars", "digits/and", "digits/90",
                               "digits/and", "digits/9", "toneguard/cents"}));
}

TEST(PromptPlan, SpanishMonthYear) {
  prompt_plan plan;
  spanish_language().say_month_year({2027, 3}, plan);
  EXPECT_EQ(plan.phrases,
            (ids{"digits/mon-2", "digits/es-de", "digits/2", "digits/thousand", "digits/27"}));
  EXPECT_TRUE(plan.reads_card_data);
}

}  // namespace
}  // namespace toneguard::engine
