#include "toneguard/engine/money.h"

#include <gtest/gtest.h>

namespace toneguard::engine {
namespace {

currency usd() {
  return *find_currency("USD");
}

TEST(Money, CurrenciesCarryTheirMinorUnits) {
  EXPECT_EQ(find_currency("usd")->minor_units, 2);
  EXPECT_EQ(find_currency("JPY")->minor_units, 0);
  EXPECT_EQ(find_currency("KWD")->minor_units, 3);
  EXPECT_FALSE(find_currency("XXX").has_value());
  EXPECT_FALSE(find_currency("US").has_value());
  for (std::size_t i = 1; i < known_currencies().size(); ++i) {
    EXPECT_LT(known_currencies()[i - 1].code, known_currencies()[i].code);
  }
}

TEST(Money, DecimalFormatHasExactlyTheMinorUnits) {
  EXPECT_EQ(format_decimal({1999, usd()}), "19.99");
  EXPECT_EQ(format_decimal({5, usd()}), "0.05");
  EXPECT_EQ(format_decimal({1500, *find_currency("JPY")}), "1500");
  EXPECT_EQ(format_decimal({1250, *find_currency("KWD")}), "1.250");
}

TEST(Money, KeypadAmountInMinorUnitsOrWithStarAsDecimalPoint) {
  EXPECT_EQ(parse_keypad_amount("1999", usd(), false), 1999);
  EXPECT_EQ(parse_keypad_amount("19*99", usd(), true), 1999);
  EXPECT_EQ(parse_keypad_amount("19*9", usd(), true), 1990);
  EXPECT_EQ(parse_keypad_amount("19", usd(), true), 1900);
  EXPECT_FALSE(parse_keypad_amount("19*999", usd(), true).has_value());
  EXPECT_FALSE(parse_keypad_amount("19*", usd(), true).has_value());
  EXPECT_FALSE(parse_keypad_amount("1*2*3", usd(), true).has_value());
  EXPECT_FALSE(parse_keypad_amount("", usd(), false).has_value());
  EXPECT_FALSE(parse_keypad_amount("99999999999999999999", usd(), false).has_value());
}

TEST(Money, DecimalAmountsFromConfigAndApi) {
  EXPECT_EQ(parse_decimal_amount("20", usd()), 2000);
  EXPECT_EQ(parse_decimal_amount("0.5", usd()), 50);
  EXPECT_EQ(parse_decimal_amount(".5", usd()), 50);
  EXPECT_FALSE(parse_decimal_amount("-1", usd()).has_value());
  EXPECT_FALSE(parse_decimal_amount("1.234", usd()).has_value());
  EXPECT_FALSE(parse_decimal_amount("1.", usd()).has_value());
  EXPECT_FALSE(parse_decimal_amount("abc", usd()).has_value());
}

}  // namespace
}  // namespace toneguard::engine
