// G.711 exact to the standard. Expected values come from the segment structure of ITU-T
// G.711 (Table 1 for A-law, Table 2 for μ-law), not from the coder under test: every code's
// decision interval and reconstruction value is built from the segment end points below.
// The encoder is held to G.191's reference coder and to the decision intervals, on every
// available ISA and through the public dsp::g711_* API.

#include "toneguard/dsp/g711.h"

#include <gtest/gtest.h>

#include <array>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <ostream>
#include <string>
#include <vector>

#include "../../simd/g711_reference.h"
#include "toneguard/simd/isa.h"
#include "toneguard/simd/kernels.h"

namespace toneguard::simd {
// Parameters print by name in gtest's output rather than as a byte.
static void PrintTo(isa target, std::ostream* out) {
  *out << isa_name(target);
}
}  // namespace toneguard::simd

namespace {

using toneguard::dsp::g711_law;
using toneguard::simd::isa;

// One quantization interval on the magnitude axis, in the law's own units (14-bit for μ-law,
// 13-bit for A-law): inputs in [lower, upper) map to it and decode to `value`.
struct interval {
  int lower;
  int upper;
  int value;
};

struct law_structure {
  // Decision value at the start of each of the 8 segments, and the end of the last one.
  std::array<int, 9> segment_start;
  // Factor from the law's units to 16-bit linear PCM.
  int to_linear16;
  // Truncation of a 16-bit magnitude to the law's units, as G.191 does.
  int truncation_shift;
};

// μ-law (G.711 Table 2, 14-bit units): steps of 2, 4, ..., 256 per segment. Segment 0's first
// interval is centred on zero (decision values ±1), hence its start at -1.
constexpr law_structure ulaw_structure{{-1, 31, 95, 223, 479, 991, 2015, 4063, 8159}, 4, 2};
// A-law (G.711 Table 1, 13-bit units): steps of 2, 2, 4, ..., 128 per segment.
constexpr law_structure alaw_structure{{0, 32, 64, 128, 256, 512, 1024, 2048, 4096}, 8, 3};

const law_structure& structure(g711_law law) {
  return law == g711_law::ulaw ? ulaw_structure : alaw_structure;
}

// Interval of segment `segment`, step `step_index` (both as in the standard's tables).
interval standard_interval(g711_law law, int segment, int step_index) {
  const auto& s = structure(law);
  const int step = (s.segment_start[segment + 1] - s.segment_start[segment]) / 16;
  const int lower = s.segment_start[segment] + step * step_index;
  return {lower, lower + step, lower + step / 2};
}

// The standard's character for a sign, segment and step: μ-law inverts all magnitude bits,
// A-law inverts the even bits (0x55); bit 7 set means positive in both.
std::uint8_t standard_code(g711_law law, bool positive, int segment, int step_index) {
  const int magnitude_bits = (segment << 4) | step_index;
  const int sign_bit = positive ? 0x80 : 0x00;
  if (law == g711_law::ulaw) return static_cast<std::uint8_t>(sign_bit | (0x7F - magnitude_bits));
  return static_cast<std::uint8_t>((sign_bit | magnitude_bits) ^ 0x55);
}

struct decoded_code {
  bool positive;
  int segment;
  int step_index;
};

decoded_code split_code(g711_law law, std::uint8_t code) {
  const int bits = law == g711_law::ulaw ? (code & 0x80) | (0x7F - (code & 0x7F)) : code ^ 0x55;
  return {(bits & 0x80) != 0, (bits >> 4) & 0x07, bits & 0x0F};
}

// Expected 16-bit linear output of decoding `code`.
int standard_decode(g711_law law, std::uint8_t code) {
  const auto parts = split_code(law, code);
  const int magnitude =
      standard_interval(law, parts.segment, parts.step_index).value * structure(law).to_linear16;
  return parts.positive ? magnitude : -magnitude;
}

// The code whose decision interval contains `linear` after G.191's truncation: negative
// inputs are one's-complemented, low bits below the law's unit dropped; magnitudes past the
// last decision value saturate into the last interval.
std::uint8_t standard_encode(g711_law law, std::int16_t linear) {
  const bool positive = linear >= 0;
  const int magnitude16 = positive ? linear : -(linear + 1);
  const int magnitude = magnitude16 >> structure(law).truncation_shift;
  for (int segment = 0; segment < 8; ++segment) {
    for (int step_index = 0; step_index < 16; ++step_index) {
      const interval i = standard_interval(law, segment, step_index);
      const bool last = segment == 7 && step_index == 15;
      if (magnitude >= i.lower && (magnitude < i.upper || last)) {
        return standard_code(law, positive, segment, step_index);
      }
    }
  }
  ADD_FAILURE() << "no interval contains magnitude " << magnitude;
  return 0;
}

const char* law_name(g711_law law) {
  return law == g711_law::ulaw ? "ulaw" : "alaw";
}

constexpr g711_law both_laws[] = {g711_law::ulaw, g711_law::alaw};

std::vector<std::int16_t> every_int16() {
  std::vector<std::int16_t> all;
  all.reserve(65536);
  for (int x = INT16_MIN; x <= INT16_MAX; ++x) all.push_back(static_cast<std::int16_t>(x));
  return all;
}

std::vector<std::uint8_t> every_code() {
  std::vector<std::uint8_t> all(256);
  for (int c = 0; c < 256; ++c) all[c] = static_cast<std::uint8_t>(c);
  return all;
}

// --- The expected tables themselves, anchored on values printed in the standard ---

TEST(g711_standard, ulaw_table_has_the_standard_end_points) {
  EXPECT_EQ(standard_decode(g711_law::ulaw, 0xFF), 0);
  EXPECT_EQ(standard_decode(g711_law::ulaw, 0x7F), 0);
  EXPECT_EQ(standard_decode(g711_law::ulaw, 0x80), 32124);
  EXPECT_EQ(standard_decode(g711_law::ulaw, 0x00), -32124);
  EXPECT_EQ(standard_decode(g711_law::ulaw, 0xFE), 2 * 4);   // segment 0, step 1
  EXPECT_EQ(standard_decode(g711_law::ulaw, 0xEF), 33 * 4);  // first value of segment 1
}

TEST(g711_standard, alaw_table_has_the_standard_end_points) {
  EXPECT_EQ(standard_decode(g711_law::alaw, 0xD5), 8);
  EXPECT_EQ(standard_decode(g711_law::alaw, 0x55), -8);
  EXPECT_EQ(standard_decode(g711_law::alaw, 0xAA), 32256);
  EXPECT_EQ(standard_decode(g711_law::alaw, 0x2A), -32256);
  EXPECT_EQ(standard_decode(g711_law::alaw, 0xD4), 24);      // segment 0, step 1
  EXPECT_EQ(standard_decode(g711_law::alaw, 0xC5), 33 * 8);  // first value of segment 1
}

// --- The reference coder (G.191) against the standard ---

TEST(g711_reference, decodes_every_code_to_the_standard_value) {
  namespace ref = toneguard::simd::g711_reference;
  for (int c = 0; c < 256; ++c) {
    const auto code = static_cast<std::uint8_t>(c);
    EXPECT_EQ(ref::ulaw_decode(code), standard_decode(g711_law::ulaw, code)) << "code " << c;
    EXPECT_EQ(ref::alaw_decode(code), standard_decode(g711_law::alaw, code)) << "code " << c;
  }
}

TEST(g711_reference, encodes_every_input_into_its_decision_interval) {
  namespace ref = toneguard::simd::g711_reference;
  for (int x = INT16_MIN; x <= INT16_MAX; ++x) {
    const auto linear = static_cast<std::int16_t>(x);
    ASSERT_EQ(ref::ulaw_encode(linear), standard_encode(g711_law::ulaw, linear)) << "input " << x;
    ASSERT_EQ(ref::alaw_encode(linear), standard_encode(g711_law::alaw, linear)) << "input " << x;
  }
}

// --- Every available ISA's kernels, exhaustively ---

std::vector<isa> every_available_isa() {
  const auto list = toneguard::simd::available_isas();
  return {list.begin(), list.end()};
}

class g711_kernels : public ::testing::TestWithParam<isa> {
 protected:
  const toneguard::simd::kernel_table& table() const {
    return *toneguard::simd::kernels_for(GetParam());
  }
};

TEST_P(g711_kernels, decode_every_code_to_the_standard_value) {
  const auto codes = every_code();
  std::vector<std::int16_t> ulaw(256), alaw(256);
  std::vector<float> ulaw_float(256), alaw_float(256);
  table().ulaw_decode(codes.data(), ulaw.data(), codes.size());
  table().alaw_decode(codes.data(), alaw.data(), codes.size());
  table().ulaw_to_float(codes.data(), ulaw_float.data(), codes.size());
  table().alaw_to_float(codes.data(), alaw_float.data(), codes.size());
  for (int c = 0; c < 256; ++c) {
    const auto code = static_cast<std::uint8_t>(c);
    EXPECT_EQ(ulaw[c], standard_decode(g711_law::ulaw, code)) << "code " << c;
    EXPECT_EQ(alaw[c], standard_decode(g711_law::alaw, code)) << "code " << c;
    EXPECT_EQ(ulaw_float[c], static_cast<float>(standard_decode(g711_law::ulaw, code)))
        << "code " << c;
    EXPECT_EQ(alaw_float[c], static_cast<float>(standard_decode(g711_law::alaw, code)))
        << "code " << c;
  }
}

TEST_P(g711_kernels, encode_every_input_as_the_reference_coder_and_the_standard) {
  namespace ref = toneguard::simd::g711_reference;
  const auto inputs = every_int16();
  std::vector<std::uint8_t> ulaw(inputs.size()), alaw(inputs.size());
  table().ulaw_encode(inputs.data(), ulaw.data(), inputs.size());
  table().alaw_encode(inputs.data(), alaw.data(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::int16_t x = inputs[i];
    ASSERT_EQ(ulaw[i], ref::ulaw_encode(x)) << "input " << x;
    ASSERT_EQ(alaw[i], ref::alaw_encode(x)) << "input " << x;
    ASSERT_EQ(ulaw[i], standard_encode(g711_law::ulaw, x)) << "input " << x;
    ASSERT_EQ(alaw[i], standard_encode(g711_law::alaw, x)) << "input " << x;
  }
}

std::string isa_test_name(const ::testing::TestParamInfo<isa>& param) {
  return std::string(toneguard::simd::isa_name(param.param));
}

INSTANTIATE_TEST_SUITE_P(, g711_kernels, ::testing::ValuesIn(every_available_isa()), isa_test_name);

// --- The public API (active ISA) ---

TEST(g711, decodes_every_code_to_the_standard_value) {
  const auto codes = every_code();
  for (g711_law law : both_laws) {
    std::vector<std::int16_t> block(codes.size());
    std::vector<float> block_float(codes.size());
    toneguard::dsp::g711_decode(law, codes, block);
    toneguard::dsp::g711_decode(law, codes, std::span<float>(block_float));
    for (int c = 0; c < 256; ++c) {
      const int expected = standard_decode(law, codes[c]);
      EXPECT_EQ(block[c], expected) << law_name(law) << " code " << c;
      EXPECT_EQ(block_float[c], static_cast<float>(expected)) << law_name(law) << " code " << c;
      EXPECT_EQ(toneguard::dsp::g711_decode(law, codes[c]), expected)
          << law_name(law) << " code " << c;
    }
  }
}

TEST(g711, encodes_every_input_into_the_standard_decision_interval) {
  const auto inputs = every_int16();
  for (g711_law law : both_laws) {
    std::vector<std::uint8_t> block(inputs.size());
    toneguard::dsp::g711_encode(law, inputs, block);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const std::uint8_t expected = standard_encode(law, inputs[i]);
      ASSERT_EQ(block[i], expected) << law_name(law) << " input " << inputs[i];
      ASSERT_EQ(toneguard::dsp::g711_encode(law, inputs[i]), expected)
          << law_name(law) << " input " << inputs[i];
    }
  }
}

TEST(g711, decoded_values_survive_reencoding) {
  for (g711_law law : both_laws) {
    for (int c = 0; c < 256; ++c) {
      const auto code = static_cast<std::uint8_t>(c);
      const std::int16_t decoded = toneguard::dsp::g711_decode(law, code);
      EXPECT_EQ(toneguard::dsp::g711_decode(law, toneguard::dsp::g711_encode(law, decoded)),
                decoded)
          << law_name(law) << " code " << c;
    }
  }
}

TEST(g711, every_code_but_ulaw_negative_zero_reencodes_to_itself) {
  for (g711_law law : both_laws) {
    for (int c = 0; c < 256; ++c) {
      const auto code = static_cast<std::uint8_t>(c);
      if (law == g711_law::ulaw && code == 0x7F) continue;  // -0 decodes to 0, which encodes as +0
      EXPECT_EQ(toneguard::dsp::g711_encode(law, toneguard::dsp::g711_decode(law, code)), code)
          << law_name(law) << " code " << c;
    }
  }
  EXPECT_EQ(toneguard::dsp::g711_encode(g711_law::ulaw,
                                        toneguard::dsp::g711_decode(g711_law::ulaw, 0x7F)),
            0xFF);
}

TEST(g711, quantization_is_monotonic_over_the_input_range) {
  const auto inputs = every_int16();
  for (g711_law law : both_laws) {
    std::vector<std::uint8_t> codes(inputs.size());
    std::vector<std::int16_t> quantized(inputs.size());
    toneguard::dsp::g711_encode(law, inputs, codes);
    toneguard::dsp::g711_decode(law, codes, quantized);
    for (std::size_t i = 1; i < inputs.size(); ++i) {
      ASSERT_LE(quantized[i - 1], quantized[i])
          << law_name(law) << " between inputs " << inputs[i - 1] << " and " << inputs[i];
    }
    EXPECT_EQ(quantized.front(), law == g711_law::ulaw ? -32124 : -32256);
    EXPECT_EQ(quantized.back(), law == g711_law::ulaw ? 32124 : 32256);
  }
}

// The API dispatches to the active ISA, chosen once per process; a child process per ISA
// (a threadsafe death test re-executes this binary) forces each one with TONEGUARD_ISA.
[[noreturn]] void check_public_api_and_exit(isa forced) {
  if (toneguard::simd::active_isa() != forced) {
    std::cerr << "TONEGUARD_ISA did not force " << toneguard::simd::isa_name(forced) << '\n';
    std::exit(2);
  }
  const auto inputs = every_int16();
  const auto codes = every_code();
  for (g711_law law : both_laws) {
    std::vector<std::uint8_t> encoded(inputs.size());
    std::vector<std::int16_t> decoded(codes.size());
    std::vector<float> decoded_float(codes.size());
    toneguard::dsp::g711_encode(law, inputs, encoded);
    toneguard::dsp::g711_decode(law, codes, decoded);
    toneguard::dsp::g711_decode(law, codes, std::span<float>(decoded_float));
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (encoded[i] != standard_encode(law, inputs[i])) {
        std::cerr << law_name(law) << " encode mismatch at input " << inputs[i] << '\n';
        std::exit(1);
      }
    }
    for (int c = 0; c < 256; ++c) {
      const int expected = standard_decode(law, codes[c]);
      if (decoded[c] != expected || decoded_float[c] != static_cast<float>(expected)) {
        std::cerr << law_name(law) << " decode mismatch at code " << c << '\n';
        std::exit(1);
      }
    }
  }
  std::exit(0);
}

TEST(g711, public_api_is_exact_with_every_available_isa_forced) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const char* previous = std::getenv("TONEGUARD_ISA");
  const std::string saved = previous != nullptr ? previous : "";
  for (isa target : toneguard::simd::available_isas()) {
    ::setenv("TONEGUARD_ISA", std::string(toneguard::simd::isa_name(target)).c_str(), 1);
    EXPECT_EXIT(check_public_api_and_exit(target), ::testing::ExitedWithCode(0), "")
        << "forced " << toneguard::simd::isa_name(target);
  }
  if (previous != nullptr) {
    ::setenv("TONEGUARD_ISA", saved.c_str(), 1);
  } else {
    ::unsetenv("TONEGUARD_ISA");
  }
}

}  // namespace
