// The goertzel_bank computes, by correlation, the complex values the Goertzel recurrence gives.

#include "toneguard/dsp/goertzel_bank.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "toneguard/dsp/g711.h"

namespace toneguard::dsp {
namespace {

// The classic Goertzel recurrence in double precision, with its complex output referred to
// the block's first sample: sum_i x[i] e^{-j w i}.
std::complex<double> goertzel(const std::vector<float>& x, double frequency_hz, double rate) {
  const double w = 2 * std::numbers::pi * frequency_hz / rate;
  const double coeff = 2 * std::cos(w);
  double s1 = 0, s2 = 0;
  for (float v : x) {
    const double s = v + coeff * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  // y[N-1] = s1 - e^{-jw} s2 equals sum_i x[i] e^{jw(N-1-i)}; refer it to sample 0.
  const std::complex<double> y = s1 - std::polar(1.0, -w) * s2;
  return y * std::polar(1.0, -w * static_cast<double>(x.size() - 1));
}

TEST(goertzel_bank, matches_the_goertzel_recurrence_for_every_bin) {
  const std::vector<float> freqs{697, 770, 852, 941, 1209, 1336, 1477, 1633};
  for (int block : {1, 7, 40, 102, 160, 205}) {
    goertzel_bank bank(freqs, block);
    std::mt19937 rng(static_cast<unsigned>(block));
    std::uniform_real_distribution<float> u(-20000, 20000);
    std::vector<float> x(static_cast<std::size_t>(block));
    for (float& v : x) v = u(rng);
    float acc[goertzel_bank::accumulator_size] = {};
    float energy = 0;
    bank.accumulate(x, 0, acc, &energy);
    double expected_energy = 0;
    for (float v : x) expected_energy += static_cast<double>(v) * v;
    EXPECT_NEAR(energy, expected_energy, 1e-5 * expected_energy);
    for (int b = 0; b < 8; ++b) {
      const auto expected = goertzel(x, freqs[static_cast<std::size_t>(b)], 8000);
      const auto got = goertzel_bank::bin(acc, b);
      const double scale = 20000.0 * block;
      EXPECT_NEAR(got.real(), expected.real(), 1e-5 * scale) << "block " << block << " bin " << b;
      EXPECT_NEAR(got.imag(), expected.imag(), 1e-5 * scale) << "block " << block << " bin " << b;
    }
  }
}

TEST(goertzel_bank, a_block_fed_in_pieces_equals_the_whole_block) {
  const std::vector<float> freqs{1000, 2000};
  goertzel_bank bank(freqs, 160);
  std::vector<float> x(160);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>(std::sin(0.3 * static_cast<double>(i)) * 1000);
  float whole[16] = {}, pieces[16] = {};
  float whole_energy = 0, pieces_energy = 0;
  bank.accumulate(x, 0, whole, &whole_energy);
  int offset = 0;
  for (int len : {1, 7, 32, 39, 81}) {
    bank.accumulate(std::span<const float>(x).subspan(static_cast<std::size_t>(offset),
                                                      static_cast<std::size_t>(len)),
                    offset, pieces, &pieces_energy);
    offset += len;
  }
  ASSERT_EQ(offset, 160);
  for (int j = 0; j < 16; ++j) EXPECT_NEAR(pieces[j], whole[j], 1e-2) << j;
  EXPECT_NEAR(pieces_energy, whole_energy, 1e-5 * whole_energy);
  // Unused bins stay zero.
  EXPECT_EQ(goertzel_bank::bin(whole, 5), std::complex<float>(0, 0));
}

TEST(goertzel_bank, g711_codes_give_the_same_bins_as_their_decoded_samples) {
  const std::vector<float> freqs{697, 1209, 1633};
  goertzel_bank bank(freqs, 40);
  for (bool alaw : {false, true}) {
    std::vector<std::uint8_t> codes(40);
    for (std::size_t i = 0; i < codes.size(); ++i)
      codes[i] = static_cast<std::uint8_t>(i * 37 + 11);
    std::vector<float> decoded(codes.size());
    g711_decode(alaw ? g711_law::alaw : g711_law::ulaw, codes, decoded);
    float from_codes[16] = {}, from_floats[16] = {};
    float e_codes = 0, e_floats = 0;
    bank.accumulate_g711(std::span(codes).first(13), alaw, 0, from_codes, &e_codes);
    bank.accumulate_g711(std::span(codes).subspan(13), alaw, 13, from_codes, &e_codes);
    bank.accumulate(decoded, 0, from_floats, &e_floats);
    // Integer targets use the basis rounded to Q12: each term within |x| / 8192.
    double rounding = 0;
    for (float v : decoded) rounding += std::fabs(v) / 8192.0;
    for (int j = 0; j < 16; ++j) EXPECT_NEAR(from_codes[j], from_floats[j], rounding + 1.0) << j;
    EXPECT_NEAR(e_codes, e_floats, 1e-5 * e_floats);
  }
}

TEST(goertzel_bank, rejects_bad_arguments_naming_them) {
  const std::vector<float> none;
  EXPECT_THROW(goertzel_bank(none, 40), std::invalid_argument);
  const std::vector<float> nyquist{4000};
  try {
    goertzel_bank b(nyquist, 40);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("4000"), std::string::npos) << e.what();
  }
  const std::vector<float> ok{1000};
  EXPECT_THROW(goertzel_bank(ok, 0), std::invalid_argument);
}

}  // namespace
}  // namespace toneguard::dsp
