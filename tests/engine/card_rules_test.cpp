#include "toneguard/engine/card_rules.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace toneguard::engine {
namespace {

// A number of `length` digits that starts with `prefix`, zero-filled, with a valid Luhn check
// digit: for range boundaries that no published test card covers.
std::string luhn_number(std::string prefix, std::size_t length) {
  prefix.resize(length - 1, '0');
  for (char check = '0'; check <= '9'; ++check) {
    if (luhn_valid(prefix + check)) return prefix + check;
  }
  return {};
}

constexpr std::span<const card_brand> kAll{};

TEST(CardRules, BrandNamesRoundTripCaseInsensitively) {
  for (const card_brand b : all_card_brands()) {
    EXPECT_EQ(brand_from_name(brand_name(b)), b) << brand_name(b);
  }
  EXPECT_EQ(brand_name(card_brand::american_express), "amex");
  EXPECT_EQ(brand_name(card_brand::diners_club), "diners");
  EXPECT_EQ(brand_name(card_brand::unknown), "unknown");
  EXPECT_EQ(brand_from_name("VISA"), card_brand::visa);
  EXPECT_EQ(brand_from_name("MasterCard"), card_brand::mastercard);
  EXPECT_EQ(brand_from_name("American-Express"), card_brand::american_express);
  EXPECT_EQ(brand_from_name("diners-club"), card_brand::diners_club);
  EXPECT_EQ(brand_from_name("visa "), card_brand::unknown);
  EXPECT_EQ(brand_from_name(""), card_brand::unknown);
}

TEST(CardRules, AllCardBrandsListsEveryBrandButUnknownInEnumOrder) {
  const auto brands = all_card_brands();
  ASSERT_EQ(brands.size(), 8u);
  for (std::size_t i = 0; i < brands.size(); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(brands[i]), i + 1);
  }
}

TEST(CardRules, PublishedTestCardsOfEveryBrandAreDetectedAndValid) {
  struct known_card {
    const char* pan;
    card_brand brand;
  };
  constexpr std::array kCards{
      known_card{"4111111111111111", card_brand::visa},
      known_card{"4012888888881881", card_brand::visa},
      known_card{"4222222222222", card_brand::visa},
      known_card{"5555555555554444", card_brand::mastercard},
      known_card{"5105105105105100", card_brand::mastercard},
      known_card{"2223003122003222", card_brand::mastercard},
      known_card{"378282246310005", card_brand::american_express},
      known_card{"371449635398431", card_brand::american_express},
      known_card{"6011111111111117", card_brand::discover},
      known_card{"6011000990139424", card_brand::discover},
      known_card{"6445644564456445", card_brand::discover},
      known_card{"3056930009020004", card_brand::diners_club},
      known_card{"36227206271667", card_brand::diners_club},
      known_card{"38520000023237", card_brand::diners_club},
      known_card{"30569309025904", card_brand::diners_club},
      known_card{"3566002020360505", card_brand::jcb},
      known_card{"3530111333300000", card_brand::jcb},
      known_card{"6200000000000005", card_brand::unionpay},
      known_card{"6205500000000000004", card_brand::unionpay},
      known_card{"6759649826438453", card_brand::maestro},
      known_card{"6304000000000000", card_brand::maestro},
      known_card{"6771798021000008", card_brand::maestro},
  };
  for (const known_card& c : kCards) {
    EXPECT_EQ(detect_brand(c.pan), c.brand) << c.pan;
    EXPECT_TRUE(luhn_valid(c.pan)) << c.pan;
    EXPECT_EQ(check_card_number(c.pan, kAll), card_number_check::ok) << c.pan;
  }
}

TEST(CardRules, VisaIsEveryNumberStartingWith4) {
  EXPECT_EQ(detect_brand("400000"), card_brand::visa);
  EXPECT_EQ(detect_brand("499999"), card_brand::visa);
  EXPECT_EQ(detect_brand("390000"), card_brand::diners_club);
  EXPECT_EQ(detect_brand("500000"), card_brand::maestro);
}

TEST(CardRules, MastercardIs51To55) {
  EXPECT_EQ(detect_brand("500000"), card_brand::maestro);
  EXPECT_EQ(detect_brand("510000"), card_brand::mastercard);
  EXPECT_EQ(detect_brand("559999"), card_brand::mastercard);
  EXPECT_EQ(detect_brand("560000"), card_brand::maestro);
}

TEST(CardRules, MastercardIncludesThe2221To2720Range) {
  EXPECT_EQ(detect_brand("222099"), card_brand::unknown);
  EXPECT_EQ(detect_brand("222100"), card_brand::mastercard);
  EXPECT_EQ(detect_brand("272099"), card_brand::mastercard);
  EXPECT_EQ(detect_brand("272100"), card_brand::unknown);
  EXPECT_EQ(check_card_number("2221000000000009", kAll), card_number_check::ok);
  EXPECT_EQ(check_card_number("2720000000000005", kAll), card_number_check::ok);
  EXPECT_EQ(check_card_number(luhn_number("2220", 16), kAll), card_number_check::unknown_brand);
  EXPECT_EQ(check_card_number(luhn_number("2721", 16), kAll), card_number_check::unknown_brand);
}

TEST(CardRules, AmericanExpressIs34And37) {
  EXPECT_EQ(detect_brand("33"), card_brand::unknown);
  EXPECT_EQ(detect_brand("34"), card_brand::american_express);
  EXPECT_EQ(detect_brand("35"), card_brand::unknown);
  EXPECT_EQ(detect_brand("37"), card_brand::american_express);
  EXPECT_EQ(detect_brand("370000"), card_brand::american_express);
  EXPECT_EQ(detect_brand("379999"), card_brand::american_express);
}

TEST(CardRules, DiscoverIs6011And644To649And65And622126To622925) {
  EXPECT_EQ(detect_brand("601099"), card_brand::maestro);
  EXPECT_EQ(detect_brand("601100"), card_brand::discover);
  EXPECT_EQ(detect_brand("601199"), card_brand::discover);
  EXPECT_EQ(detect_brand("601200"), card_brand::maestro);
  EXPECT_EQ(detect_brand("643999"), card_brand::maestro);
  EXPECT_EQ(detect_brand("644000"), card_brand::discover);
  EXPECT_EQ(detect_brand("649999"), card_brand::discover);
  EXPECT_EQ(detect_brand("650000"), card_brand::discover);
  EXPECT_EQ(detect_brand("659999"), card_brand::discover);
  EXPECT_EQ(detect_brand("660000"), card_brand::maestro);
}

TEST(CardRules, DiscoverWinsInside622126To622925OfUnionPay62) {
  EXPECT_EQ(detect_brand("622125"), card_brand::unionpay);
  EXPECT_EQ(detect_brand("622126"), card_brand::discover);
  EXPECT_EQ(detect_brand("622925"), card_brand::discover);
  EXPECT_EQ(detect_brand("622926"), card_brand::unionpay);
  EXPECT_EQ(check_card_number("6221250000000001", kAll), card_number_check::ok);
  EXPECT_EQ(check_card_number("6221260000000000", kAll), card_number_check::ok);
  EXPECT_EQ(check_card_number("6229250000000003", kAll), card_number_check::ok);
  EXPECT_EQ(detect_brand("6221260000000000"), card_brand::discover);
  EXPECT_EQ(detect_brand("6229260000000002"), card_brand::unionpay);
}

TEST(CardRules, DinersClubIs300To305And3095And36And38To39) {
  EXPECT_EQ(detect_brand("299999"), card_brand::unknown);
  EXPECT_EQ(detect_brand("300000"), card_brand::diners_club);
  EXPECT_EQ(detect_brand("305999"), card_brand::diners_club);
  EXPECT_EQ(detect_brand("306000"), card_brand::unknown);
  EXPECT_EQ(detect_brand("309499"), card_brand::unknown);
  EXPECT_EQ(detect_brand("309500"), card_brand::diners_club);
  EXPECT_EQ(detect_brand("309599"), card_brand::diners_club);
  EXPECT_EQ(detect_brand("309600"), card_brand::unknown);
  EXPECT_EQ(detect_brand("36"), card_brand::diners_club);
  EXPECT_EQ(detect_brand("38"), card_brand::diners_club);
  EXPECT_EQ(detect_brand("39"), card_brand::diners_club);
  EXPECT_EQ(check_card_number("30000000000004", kAll), card_number_check::ok);
  EXPECT_EQ(check_card_number("30950000000000", kAll), card_number_check::ok);
}

TEST(CardRules, JcbIs3528To3589) {
  EXPECT_EQ(detect_brand("352799"), card_brand::unknown);
  EXPECT_EQ(detect_brand("352800"), card_brand::jcb);
  EXPECT_EQ(detect_brand("358999"), card_brand::jcb);
  EXPECT_EQ(detect_brand("359000"), card_brand::unknown);
  EXPECT_EQ(check_card_number("3528000000000007", kAll), card_number_check::ok);
  EXPECT_EQ(check_card_number("3589000000000000009", kAll), card_number_check::ok);
}

TEST(CardRules, UnionPayIs62And81) {
  EXPECT_EQ(detect_brand("620000"), card_brand::unionpay);
  EXPECT_EQ(detect_brand("629999"), card_brand::unionpay);
  EXPECT_EQ(detect_brand("799999"), card_brand::unknown);
  EXPECT_EQ(detect_brand("809999"), card_brand::unknown);
  EXPECT_EQ(detect_brand("810000"), card_brand::unionpay);
  EXPECT_EQ(detect_brand("819999"), card_brand::unionpay);
  EXPECT_EQ(detect_brand("820000"), card_brand::unknown);
  EXPECT_EQ(check_card_number("8100000000000002", kAll), card_number_check::ok);
}

TEST(CardRules, MaestroIs50And56To58AndTheRangesOf6NotClaimedByOthers) {
  EXPECT_EQ(detect_brand("50"), card_brand::maestro);
  EXPECT_EQ(detect_brand("56"), card_brand::maestro);
  EXPECT_EQ(detect_brand("58"), card_brand::maestro);
  EXPECT_EQ(detect_brand("59"), card_brand::unknown);
  EXPECT_EQ(detect_brand("6304"), card_brand::maestro);
  EXPECT_EQ(detect_brand("6759"), card_brand::maestro);
  EXPECT_EQ(detect_brand("676770"), card_brand::maestro);
  EXPECT_EQ(detect_brand("676774"), card_brand::maestro);
  EXPECT_EQ(detect_brand("600000"), card_brand::maestro);
  EXPECT_EQ(detect_brand("699999"), card_brand::maestro);
  EXPECT_EQ(check_card_number("675900000000", kAll), card_number_check::ok);
  EXPECT_EQ(check_card_number("5800000000000000008", kAll), card_number_check::ok);
  EXPECT_EQ(check_card_number("6767700000000005", kAll), card_number_check::ok);
}

TEST(CardRules, OtherLeadingDigitsAreUnknown) {
  for (const char* prefix : {"0", "1", "7", "9", "2220", "2200", "80", "82", "89"}) {
    EXPECT_EQ(detect_brand(luhn_number(prefix, 16)), card_brand::unknown) << prefix;
  }
}

TEST(CardRules, PartialPrefixIsUnknownUntilUnambiguous) {
  EXPECT_EQ(detect_brand(""), card_brand::unknown);
  EXPECT_EQ(detect_brand("4"), card_brand::visa);
  EXPECT_EQ(detect_brand("5"), card_brand::unknown);
  EXPECT_EQ(detect_brand("51"), card_brand::mastercard);
  EXPECT_EQ(detect_brand("2"), card_brand::unknown);
  EXPECT_EQ(detect_brand("22"), card_brand::unknown);
  EXPECT_EQ(detect_brand("222"), card_brand::unknown);
  EXPECT_EQ(detect_brand("2221"), card_brand::mastercard);
  EXPECT_EQ(detect_brand("23"), card_brand::mastercard);
  EXPECT_EQ(detect_brand("27"), card_brand::unknown);
  EXPECT_EQ(detect_brand("272"), card_brand::unknown);
  EXPECT_EQ(detect_brand("2720"), card_brand::mastercard);
  EXPECT_EQ(detect_brand("3"), card_brand::unknown);
  EXPECT_EQ(detect_brand("30"), card_brand::unknown);
  EXPECT_EQ(detect_brand("300"), card_brand::diners_club);
  EXPECT_EQ(detect_brand("309"), card_brand::unknown);
  EXPECT_EQ(detect_brand("3095"), card_brand::diners_club);
  EXPECT_EQ(detect_brand("35"), card_brand::unknown);
  EXPECT_EQ(detect_brand("352"), card_brand::unknown);
  EXPECT_EQ(detect_brand("353"), card_brand::jcb);
  EXPECT_EQ(detect_brand("6"), card_brand::unknown);
  EXPECT_EQ(detect_brand("60"), card_brand::unknown);
  EXPECT_EQ(detect_brand("601"), card_brand::unknown);
  EXPECT_EQ(detect_brand("6011"), card_brand::discover);
  EXPECT_EQ(detect_brand("62"), card_brand::unknown);
  EXPECT_EQ(detect_brand("621"), card_brand::unionpay);
  EXPECT_EQ(detect_brand("622"), card_brand::unknown);
  EXPECT_EQ(detect_brand("6221"), card_brand::unknown);
  EXPECT_EQ(detect_brand("62212"), card_brand::unknown);
  EXPECT_EQ(detect_brand("6223"), card_brand::discover);
  EXPECT_EQ(detect_brand("64"), card_brand::unknown);
  EXPECT_EQ(detect_brand("644"), card_brand::discover);
  EXPECT_EQ(detect_brand("65"), card_brand::discover);
  EXPECT_EQ(detect_brand("63"), card_brand::maestro);
  EXPECT_EQ(detect_brand("8"), card_brand::unknown);
  EXPECT_EQ(detect_brand("81"), card_brand::unionpay);
}

TEST(CardRules, NonDigitsGiveUnknown) {
  EXPECT_EQ(detect_brand("4111-1111"), card_brand::unknown);
  EXPECT_EQ(detect_brand("x"), card_brand::unknown);
  EXPECT_EQ(check_card_number("411111111111111a", kAll), card_number_check::unknown_brand);
}

TEST(CardRules, LengthsPerBrand) {
  EXPECT_EQ(card_number_lengths(card_brand::visa).min, 13);
  EXPECT_EQ(card_number_lengths(card_brand::visa).max, 19);
  EXPECT_EQ(card_number_lengths(card_brand::american_express).min, 15);
  EXPECT_EQ(card_number_lengths(card_brand::american_express).max, 15);
  EXPECT_EQ(card_number_lengths(card_brand::unknown).max, 0);
  EXPECT_TRUE(valid_card_number_length(card_brand::visa, 13));
  EXPECT_FALSE(valid_card_number_length(card_brand::visa, 14));
  EXPECT_FALSE(valid_card_number_length(card_brand::visa, 15));
  EXPECT_TRUE(valid_card_number_length(card_brand::visa, 16));
  EXPECT_FALSE(valid_card_number_length(card_brand::visa, 17));
  EXPECT_FALSE(valid_card_number_length(card_brand::visa, 18));
  EXPECT_TRUE(valid_card_number_length(card_brand::visa, 19));
  EXPECT_FALSE(valid_card_number_length(card_brand::mastercard, 15));
  EXPECT_TRUE(valid_card_number_length(card_brand::mastercard, 16));
  EXPECT_FALSE(valid_card_number_length(card_brand::mastercard, 17));
  EXPECT_TRUE(valid_card_number_length(card_brand::american_express, 15));
  EXPECT_FALSE(valid_card_number_length(card_brand::american_express, 16));
  for (const card_brand b : {card_brand::discover, card_brand::jcb, card_brand::unionpay}) {
    EXPECT_FALSE(valid_card_number_length(b, 15)) << brand_name(b);
    EXPECT_TRUE(valid_card_number_length(b, 16)) << brand_name(b);
    EXPECT_TRUE(valid_card_number_length(b, 19)) << brand_name(b);
    EXPECT_FALSE(valid_card_number_length(b, 20)) << brand_name(b);
  }
  EXPECT_FALSE(valid_card_number_length(card_brand::diners_club, 13));
  EXPECT_TRUE(valid_card_number_length(card_brand::diners_club, 14));
  EXPECT_TRUE(valid_card_number_length(card_brand::diners_club, 19));
  EXPECT_FALSE(valid_card_number_length(card_brand::maestro, 11));
  EXPECT_TRUE(valid_card_number_length(card_brand::maestro, 12));
  EXPECT_TRUE(valid_card_number_length(card_brand::maestro, 19));
  EXPECT_FALSE(valid_card_number_length(card_brand::maestro, 20));
  EXPECT_FALSE(valid_card_number_length(card_brand::unknown, 16));
}

TEST(CardRules, LuhnAcceptsValidAndRejectsAnySingleDigitChange) {
  EXPECT_TRUE(luhn_valid("4111111111111111"));
  EXPECT_TRUE(luhn_valid("79927398713"));
  EXPECT_TRUE(luhn_valid("00"));
  EXPECT_FALSE(luhn_valid("4111111111111112"));
  EXPECT_FALSE(luhn_valid("79927398710"));
  EXPECT_FALSE(luhn_valid("0"));
  EXPECT_FALSE(luhn_valid(""));
  EXPECT_FALSE(luhn_valid("4111 1111 1111 1111"));
  const std::string good = "378282246310005";
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string changed = good;
    changed[i] = static_cast<char>('0' + (changed[i] - '0' + 1) % 10);
    EXPECT_FALSE(luhn_valid(changed)) << i;
  }
}

TEST(CardRules, CvvIsFourDigitsForAmexAndThreeForOthersAndOptionalForMaestro) {
  EXPECT_EQ(cvv_length(card_brand::american_express), 4);
  for (const card_brand b : all_card_brands()) {
    if (b != card_brand::american_express) {
      EXPECT_EQ(cvv_length(b), 3) << brand_name(b);
    }
    EXPECT_EQ(cvv_optional(b), b == card_brand::maestro) << brand_name(b);
    EXPECT_EQ(expiry_optional(b), b == card_brand::maestro) << brand_name(b);
  }
}

TEST(CardRules, CheckOrderIsUnknownBrandThenNotAllowedThenLengthThenLuhn) {
  const std::array<card_brand, 2> visa_or_amex{card_brand::visa, card_brand::american_express};
  // Unknown brand first, even when nothing else would pass either.
  EXPECT_EQ(check_card_number("1234", visa_or_amex), card_number_check::unknown_brand);
  EXPECT_EQ(check_card_number("", kAll), card_number_check::unknown_brand);
  // Not allowed before length and Luhn.
  EXPECT_EQ(check_card_number("5555", visa_or_amex), card_number_check::brand_not_allowed);
  EXPECT_EQ(check_card_number("5555555555554444", visa_or_amex),
            card_number_check::brand_not_allowed);
  // Wrong length before Luhn.
  EXPECT_EQ(check_card_number("41111111111111", visa_or_amex), card_number_check::wrong_length);
  EXPECT_EQ(check_card_number("3782822463100050", visa_or_amex), card_number_check::wrong_length);
  EXPECT_EQ(check_card_number("40000000000000006", kAll), card_number_check::wrong_length);
  // Luhn last.
  EXPECT_EQ(check_card_number("4111111111111112", visa_or_amex), card_number_check::luhn_failed);
  EXPECT_EQ(check_card_number("4111111111111111", visa_or_amex), card_number_check::ok);
  EXPECT_EQ(check_card_number("378282246310005", visa_or_amex), card_number_check::ok);
  EXPECT_EQ(check_card_number("4000000000000000006", visa_or_amex), card_number_check::ok);
}

TEST(CardRules, EmptyAllowedListAllowsEveryBrand) {
  EXPECT_EQ(check_card_number("5555555555554444", kAll), card_number_check::ok);
  const std::array<card_brand, 1> only_maestro{card_brand::maestro};
  EXPECT_EQ(check_card_number("6759649826438453", only_maestro), card_number_check::ok);
  EXPECT_EQ(check_card_number("4111111111111111", only_maestro),
            card_number_check::brand_not_allowed);
}

TEST(CardRules, CheckNamesForEventsAndReports) {
  EXPECT_EQ(check_name(card_number_check::ok), "ok");
  EXPECT_EQ(check_name(card_number_check::unknown_brand), "unknown-brand");
  EXPECT_EQ(check_name(card_number_check::brand_not_allowed), "brand-not-allowed");
  EXPECT_EQ(check_name(card_number_check::wrong_length), "wrong-length");
  EXPECT_EQ(check_name(card_number_check::luhn_failed), "luhn-failed");
  EXPECT_EQ(check_name(expiry_check::ok), "ok");
  EXPECT_EQ(check_name(expiry_check::malformed), "malformed");
  EXPECT_EQ(check_name(expiry_check::bad_month), "bad-month");
  EXPECT_EQ(check_name(expiry_check::expired), "expired");
  EXPECT_EQ(check_name(expiry_check::too_far_ahead), "too-far-ahead");
}

constexpr year_month kJune2027{2027, 6};

TEST(CardRules, ExpiryInTheCurrentMonthIsValid) {
  year_month parsed;
  EXPECT_EQ(check_expiry("0627", kJune2027, 20, &parsed), expiry_check::ok);
  EXPECT_EQ(parsed, (year_month{2027, 6}));
}

TEST(CardRules, ExpiryBeforeTheCurrentMonthIsExpired) {
  EXPECT_EQ(check_expiry("0527", kJune2027, 20), expiry_check::expired);
  EXPECT_EQ(check_expiry("1226", kJune2027, 20), expiry_check::expired);
  EXPECT_EQ(check_expiry("0600", kJune2027, 20), expiry_check::expired);
  EXPECT_EQ(check_expiry("0727", kJune2027, 20), expiry_check::ok);
}

TEST(CardRules, ExpiryRollsOverBetweenDecemberAndJanuary) {
  EXPECT_EQ(check_expiry("1227", {2027, 12}, 20), expiry_check::ok);
  EXPECT_EQ(check_expiry("0128", {2027, 12}, 20), expiry_check::ok);
  EXPECT_EQ(check_expiry("1127", {2027, 12}, 20), expiry_check::expired);
  EXPECT_EQ(check_expiry("1227", {2028, 1}, 20), expiry_check::expired);
  EXPECT_EQ(check_expiry("0128", {2028, 1}, 20), expiry_check::ok);
}

TEST(CardRules, ExpiryMoreThanMaxYearsAheadIsTooFarAhead) {
  EXPECT_EQ(check_expiry("0637", kJune2027, 10), expiry_check::ok);
  EXPECT_EQ(check_expiry("0737", kJune2027, 10), expiry_check::too_far_ahead);
  EXPECT_EQ(check_expiry("1299", kJune2027, 20), expiry_check::too_far_ahead);
  EXPECT_EQ(check_expiry("0627", kJune2027, 0), expiry_check::ok);
  EXPECT_EQ(check_expiry("0727", kJune2027, 0), expiry_check::too_far_ahead);
  EXPECT_EQ(check_expiry("0727", kJune2027, -1), expiry_check::too_far_ahead);
}

TEST(CardRules, TwoDigitYearMeans20YY) {
  year_month parsed;
  ASSERT_EQ(check_expiry("0199", {2098, 1}, 5, &parsed), expiry_check::ok);
  EXPECT_EQ(parsed, (year_month{2099, 1}));
  ASSERT_EQ(check_expiry("1230", kJune2027, 20, &parsed), expiry_check::ok);
  EXPECT_EQ(parsed, (year_month{2030, 12}));
}

TEST(CardRules, ExpiryThatIsNotFourDigitsIsMalformed) {
  for (const char* bad : {"", "127", "12275", "12/7", "ab27", "12 7", "1227 "}) {
    EXPECT_EQ(check_expiry(bad, kJune2027, 20), expiry_check::malformed) << '"' << bad << '"';
  }
}

TEST(CardRules, ExpiryMonth00Or13AndAboveIsABadMonth) {
  EXPECT_EQ(check_expiry("0028", kJune2027, 20), expiry_check::bad_month);
  EXPECT_EQ(check_expiry("1328", kJune2027, 20), expiry_check::bad_month);
  EXPECT_EQ(check_expiry("9928", kJune2027, 20), expiry_check::bad_month);
  EXPECT_EQ(check_expiry("0128", kJune2027, 20), expiry_check::ok);
  EXPECT_EQ(check_expiry("1228", kJune2027, 20), expiry_check::ok);
}

TEST(CardRules, ExpiryOutIsUntouchedUnlessOk) {
  year_month parsed{1, 1};
  EXPECT_EQ(check_expiry("0527", kJune2027, 20, &parsed), expiry_check::expired);
  EXPECT_EQ(parsed, (year_month{1, 1}));
}

}  // namespace
}  // namespace toneguard::engine
