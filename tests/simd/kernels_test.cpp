// Every kernel of every available ISA against the scalar table, the specification
// (simd/kernels.h): awkward lengths, misaligned inputs and outputs, and guard elements after
// the output that must stay untouched. Inputs are sized exactly, so an over-read shows up
// under AddressSanitizer.

#include "toneguard/simd/kernels.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "toneguard/simd/isa.h"

namespace toneguard::simd {
// Parameters print by name in gtest's output rather than as a byte.
static void PrintTo(isa target, std::ostream* out) {
  *out << isa_name(target);
}
}  // namespace toneguard::simd

namespace {

using toneguard::simd::bank_width;
using toneguard::simd::isa;
using toneguard::simd::kernel_table;

// Eleven kernels follow the target field; a new one must be tested here on every ISA.
static_assert(sizeof(kernel_table) == offsetof(kernel_table, correlate_bank16) + 11 * sizeof(void*),
              "kernel_table changed: add the new kernel's test to kernels_test.cpp");

constexpr std::size_t awkward_lengths[] = {0,  1,  2,  3,  7,  8,  15,  16,  17,  31,  33,
                                           39, 40, 41, 63, 64, 65, 159, 160, 161, 257, 1000};
constexpr std::size_t misalignments[] = {0, 1, 3};
constexpr std::size_t guard_elements = 19;

template <class T>
constexpr T guard_value() {
  if constexpr (std::is_floating_point_v<T>) {
    return T(-12345.5);
  } else {
    return T(0x5A);
  }
}

std::string where(std::size_t n, std::size_t in_offset, std::size_t out_offset) {
  return "n=" + std::to_string(n) + " input offset=" + std::to_string(in_offset) +
         " output offset=" + std::to_string(out_offset);
}

// Error bound of any summation order of terms whose magnitudes sum to `magnitude`: each of
// two orders is within n * epsilon * magnitude of the exact sum (Higham, recursive summation).
float summation_tolerance(std::size_t terms, double magnitude) {
  return static_cast<float>(2.0 * static_cast<double>(terms + 1) *
                            std::numeric_limits<float>::epsilon() * magnitude) +
         std::numeric_limits<float>::min();
}

class kernels : public ::testing::TestWithParam<isa> {
 protected:
  const kernel_table& target() const { return *toneguard::simd::kernels_for(GetParam()); }
  static const kernel_table& scalar() { return *toneguard::simd::kernels_for(isa::scalar); }

  std::vector<float> random_floats(std::size_t count, float magnitude) {
    std::uniform_real_distribution<float> dist(-magnitude, magnitude);
    std::vector<float> v(count);
    for (float& x : v) x = dist(rng_);
    return v;
  }

  template <class T>
  std::vector<T> random_integers(std::size_t count) {
    std::uniform_int_distribution<int> dist(std::numeric_limits<T>::min(),
                                            std::numeric_limits<T>::max());
    std::vector<T> v(count);
    for (T& x : v) x = static_cast<T>(dist(rng_));
    return v;
  }

  // For element-wise kernels whose results are exact: the target and the scalar table must
  // write identical outputs and nothing outside them.
  template <class In, class Out>
  void expect_elementwise_matches_scalar(void (*kernel_table::*kernel)(const In*, Out*,
                                                                       std::size_t) noexcept) {
    for (std::size_t n : awkward_lengths) {
      for (std::size_t in_offset : misalignments) {
        for (std::size_t out_offset : misalignments) {
          std::vector<In> input = random_integers<In>(in_offset + n);
          // The extremes of the input range come first where there is room.
          if (n >= 2) {
            input[in_offset] = std::numeric_limits<In>::min();
            input[in_offset + 1] = std::numeric_limits<In>::max();
          }
          std::vector<Out> expected(out_offset + n + guard_elements, guard_value<Out>());
          std::vector<Out> actual = expected;
          (scalar().*kernel)(input.data() + in_offset, expected.data() + out_offset, n);
          (target().*kernel)(input.data() + in_offset, actual.data() + out_offset, n);
          ASSERT_EQ(actual, expected) << where(n, in_offset, out_offset);
        }
      }
    }
  }

  // For the float correlator: acc (16 floats) and *energy are accumulated into, so both start
  // non-zero; results agree within the rounding of any summation order.
  using Sample = float;
  void expect_correlation_matches_scalar(void (*kernel_table::*kernel)(const Sample*, std::size_t,
                                                                       const float*, float*,
                                                                       float*) noexcept) {
    for (std::size_t n : awkward_lengths) {
      for (std::size_t x_offset : misalignments) {
        for (std::size_t acc_offset : misalignments) {
          const std::vector<float> x = random_floats(x_offset + n, 1000.0f);
          const std::vector<float>& values = x;
          const std::vector<float> basis =
              random_floats(x_offset * bank_width + n * bank_width, 1.0f);
          const Sample* x_start = x.data() + x_offset;
          const float* value_start = values.data() + x_offset;
          const float* basis_start = basis.data() + x_offset * bank_width;

          const std::vector<float> acc_start = random_floats(bank_width, 500.0f);
          std::vector<float> expected(acc_offset + bank_width + guard_elements,
                                      guard_value<float>());
          std::copy(acc_start.begin(), acc_start.end(),
                    expected.begin() + static_cast<std::ptrdiff_t>(acc_offset));
          std::vector<float> actual = expected;
          // The energy sits between guards too.
          const float energy_start = 250.0f;
          std::array<float, 3> expected_energy{guard_value<float>(), energy_start,
                                               guard_value<float>()};
          std::array<float, 3> actual_energy = expected_energy;

          (scalar().*kernel)(x_start, n, basis_start, expected.data() + acc_offset,
                             &expected_energy[1]);
          (target().*kernel)(x_start, n, basis_start, actual.data() + acc_offset,
                             &actual_energy[1]);

          for (std::size_t j = 0; j < bank_width; ++j) {
            double magnitude = std::fabs(acc_start[j]);
            for (std::size_t i = 0; i < n; ++i)
              magnitude += std::fabs(double(value_start[i]) * basis_start[bank_width * i + j]);
            EXPECT_NEAR(actual[acc_offset + j], expected[acc_offset + j],
                        summation_tolerance(n + 1, magnitude))
                << where(n, x_offset, acc_offset) << " j=" << j;
          }
          double energy_magnitude = energy_start;
          for (std::size_t i = 0; i < n; ++i)
            energy_magnitude += double(value_start[i]) * value_start[i];
          EXPECT_NEAR(actual_energy[1], expected_energy[1],
                      summation_tolerance(n + 1, energy_magnitude))
              << where(n, x_offset, acc_offset) << " energy";
          EXPECT_EQ(actual_energy[0], guard_value<float>());
          EXPECT_EQ(actual_energy[2], guard_value<float>());
          for (std::size_t k = 0; k < acc_offset; ++k) {
            ASSERT_EQ(actual[k], guard_value<float>())
                << where(n, x_offset, acc_offset) << " guard " << k;
          }
          for (std::size_t k = acc_offset + bank_width; k < actual.size(); ++k) {
            ASSERT_EQ(actual[k], guard_value<float>())
                << where(n, x_offset, acc_offset) << " guard " << k;
          }
        }
      }
    }
  }

 private:
  std::mt19937 rng_{20240611};
};

TEST_P(kernels, correlate_bank16_matches_scalar) {
  expect_correlation_matches_scalar(&kernel_table::correlate_bank16);
}
// The G.711 correlators take runs of at most bank16_max_run samples anywhere in a block, and may
// use the Q12 form of the basis: they must match the scalar float reference within float summation
// error plus the Q12 rounding (half a unit of 1/4096 per basis value).
void expect_g711_correlation_matches_scalar(
    const kernel_table& target, const kernel_table& scalar,
    void (*kernel_table::*kernel)(const std::uint8_t*, std::size_t,
                                  const toneguard::simd::bank16_basis&, std::size_t, float*, float*,
                                  float) noexcept,
    void (*kernel_table::*decode)(const std::uint8_t*, float*, std::size_t) noexcept,
    std::mt19937& rng) {
  constexpr std::size_t block = 2 * toneguard::simd::bank16_max_run;
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> rows(block * bank_width);
  for (float& v : rows) v = unit(rng);
  std::vector<std::int16_t> q12(block / 2 * 2 * bank_width);
  for (std::size_t i = 0; i < block; ++i) {
    for (std::size_t j = 0; j < bank_width; ++j) {
      q12[(i / 2) * 32 + 2 * j + i % 2] =
          static_cast<std::int16_t>(std::lrint(rows[i * bank_width + j] * 4096.0f));
    }
  }
  const toneguard::simd::bank16_basis basis{rows.data(), q12.data()};
  std::uniform_int_distribution<int> byte(0, 255);
  for (std::size_t first : {0u, 1u, 2u, 17u, 39u, 63u}) {
    for (std::size_t n : awkward_lengths) {
      if (n > toneguard::simd::bank16_max_run) continue;
      for (std::size_t offset : misalignments) {
        std::vector<std::uint8_t> codes(offset + n);  // exact size: an over-read trips ASan
        for (auto& c : codes) c = static_cast<std::uint8_t>(byte(rng));
        if (n >= 2) codes[offset] = 0x00, codes[offset + 1] = 0x80;  // both extremes
        const std::uint8_t* start = codes.data() + offset;
        std::vector<float> x(n);
        (scalar.*decode)(start, x.data(), n);

        std::array<float, bank_width + 2> expected{}, actual{};
        expected.front() = expected.back() = guard_value<float>();
        for (std::size_t j = 1; j <= bank_width; ++j) expected[j] = static_cast<float>(j) * 100.0f;
        actual = expected;
        float expected_energy = 250.0f, actual_energy = 250.0f;
        (scalar.*kernel)(start, n, basis, first, expected.data() + 1, &expected_energy, 0.0f);
        (target.*kernel)(start, n, basis, first, actual.data() + 1, &actual_energy, 0.0f);

        const std::string at = "first=" + std::to_string(first) + " " + where(n, offset, 0);
        for (std::size_t j = 0; j < bank_width; ++j) {
          double magnitude = std::fabs(expected[j + 1]), rounding = 0.0;
          for (std::size_t i = 0; i < n; ++i) {
            magnitude += std::fabs(double(x[i]) * rows[(first + i) * bank_width + j]);
            rounding += std::fabs(double(x[i])) * 0.5 / 4096.0;
          }
          EXPECT_NEAR(actual[j + 1], expected[j + 1],
                      summation_tolerance(n + 1, magnitude) + rounding)
              << at << " j=" << j;
        }
        double energy_magnitude = 250.0;
        for (float v : x) energy_magnitude += double(v) * v;
        EXPECT_NEAR(actual_energy, expected_energy, summation_tolerance(n + 1, energy_magnitude))
            << at;
        EXPECT_EQ(actual.front(), guard_value<float>()) << at;
        EXPECT_EQ(actual.back(), guard_value<float>()) << at;
      }
    }
  }
}

// Below min_energy a G.711 correlator adds the run's energy and leaves the sums; at or above
// it, it correlates as usual. The same on every target.
TEST_P(kernels, g711_correlation_skips_the_sums_of_a_quiet_run) {
  std::vector<float> rows(40 * bank_width, 0.5f);
  std::vector<std::int16_t> q12(20 * 2 * bank_width, 2048);
  const toneguard::simd::bank16_basis basis{rows.data(), q12.data()};
  std::vector<std::uint8_t> codes(40);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint8_t>(0x90 + i);
  for (auto kernel : {&kernel_table::correlate_bank16_ulaw, &kernel_table::correlate_bank16_alaw}) {
    float probe_acc[bank_width] = {}, run_energy = 0.0f;
    (scalar().*kernel)(codes.data(), codes.size(), basis, 0, probe_acc, &run_energy, 0.0f);
    ASSERT_GT(run_energy, 0.0f);
    for (float min_energy : {run_energy * 1.01f, run_energy * 0.99f}) {
      float acc[bank_width] = {}, energy = 1.0f;
      (target().*kernel)(codes.data(), codes.size(), basis, 0, acc, &energy, min_energy);
      EXPECT_NEAR(energy, 1.0f + run_energy, 1e-5f * run_energy);
      if (min_energy > run_energy) {
        for (float v : acc) EXPECT_EQ(v, 0.0f);
      } else {
        for (std::size_t j = 0; j < bank_width; ++j)
          EXPECT_NEAR(acc[j], probe_acc[j], 1e-3f * std::fabs(probe_acc[j]) + 1.0f);
      }
    }
  }
}

TEST_P(kernels, correlate_bank16_ulaw_matches_scalar) {
  std::mt19937 rng(11);
  expect_g711_correlation_matches_scalar(target(), scalar(), &kernel_table::correlate_bank16_ulaw,
                                         &kernel_table::ulaw_to_float, rng);
}
TEST_P(kernels, correlate_bank16_alaw_matches_scalar) {
  std::mt19937 rng(12);
  expect_g711_correlation_matches_scalar(target(), scalar(), &kernel_table::correlate_bank16_alaw,
                                         &kernel_table::alaw_to_float, rng);
}

TEST_P(kernels, correlate_bank16_of_no_samples_leaves_acc_and_energy_unchanged) {
  std::vector<float> acc = random_floats(bank_width, 10.0f);
  const std::vector<float> before = acc;
  float energy = 123.0f;
  const float unused_sample = 0.0f;
  const std::uint8_t unused_code = 0;
  target().correlate_bank16(&unused_sample, 0, &unused_sample, acc.data(), &energy);
  const std::int16_t unused_q12 = 0;
  const toneguard::simd::bank16_basis no_basis{&unused_sample, &unused_q12};
  target().correlate_bank16_ulaw(&unused_code, 0, no_basis, 0, acc.data(), &energy, 0.0f);
  target().correlate_bank16_alaw(&unused_code, 0, no_basis, 0, acc.data(), &energy, 0.0f);
  EXPECT_EQ(acc, before);
  EXPECT_EQ(energy, 123.0f);
}

TEST_P(kernels, sum_squares_matches_scalar) {
  for (std::size_t n : awkward_lengths) {
    for (std::size_t offset : misalignments) {
      const std::vector<float> x = random_floats(offset + n, 30000.0f);
      const float* start = x.data() + offset;
      double magnitude = 0.0;
      for (std::size_t i = 0; i < n; ++i) magnitude += double(start[i]) * start[i];
      EXPECT_NEAR(target().sum_squares(start, n), scalar().sum_squares(start, n),
                  summation_tolerance(n, magnitude))
          << where(n, offset, 0);
    }
  }
}

TEST_P(kernels, int16_to_float_matches_scalar) {
  expect_elementwise_matches_scalar(&kernel_table::int16_to_float);
}
TEST_P(kernels, ulaw_decode_matches_scalar) {
  expect_elementwise_matches_scalar(&kernel_table::ulaw_decode);
}
TEST_P(kernels, alaw_decode_matches_scalar) {
  expect_elementwise_matches_scalar(&kernel_table::alaw_decode);
}
TEST_P(kernels, ulaw_to_float_matches_scalar) {
  expect_elementwise_matches_scalar(&kernel_table::ulaw_to_float);
}
TEST_P(kernels, alaw_to_float_matches_scalar) {
  expect_elementwise_matches_scalar(&kernel_table::alaw_to_float);
}
TEST_P(kernels, ulaw_encode_matches_scalar) {
  expect_elementwise_matches_scalar(&kernel_table::ulaw_encode);
}
TEST_P(kernels, alaw_encode_matches_scalar) {
  expect_elementwise_matches_scalar(&kernel_table::alaw_encode);
}

std::vector<isa> available() {
  const auto list = toneguard::simd::available_isas();
  return {list.begin(), list.end()};
}

std::string isa_test_name(const ::testing::TestParamInfo<isa>& param) {
  return std::string(toneguard::simd::isa_name(param.param));
}

INSTANTIATE_TEST_SUITE_P(, kernels, ::testing::ValuesIn(available()), isa_test_name);

}  // namespace
