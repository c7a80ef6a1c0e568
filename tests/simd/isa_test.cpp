// Requirements on ISA naming, detection and the TONEGUARD_ISA override (simd/isa.h).

#include "toneguard/simd/isa.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>

#include "toneguard/simd/kernels.h"

namespace toneguard::simd {
namespace {

constexpr isa every_isa[] = {isa::scalar, isa::avx2, isa::avx512, isa::neon};

// Sets TONEGUARD_ISA for one scope and restores what was there before.
class scoped_isa_environment {
 public:
  explicit scoped_isa_environment(const char* value) {
    if (const char* old = std::getenv("TONEGUARD_ISA")) previous_ = old;
    if (value != nullptr) {
      ::setenv("TONEGUARD_ISA", value, 1);
    } else {
      ::unsetenv("TONEGUARD_ISA");
    }
  }
  ~scoped_isa_environment() {
    if (previous_) {
      ::setenv("TONEGUARD_ISA", previous_->c_str(), 1);
    } else {
      ::unsetenv("TONEGUARD_ISA");
    }
  }
  scoped_isa_environment(const scoped_isa_environment&) = delete;
  scoped_isa_environment& operator=(const scoped_isa_environment&) = delete;

 private:
  std::optional<std::string> previous_;
};

TEST(isa, every_name_parses_back_to_its_target) {
  for (isa target : every_isa) {
    const auto parsed = parse_isa(isa_name(target));
    ASSERT_TRUE(parsed.has_value()) << isa_name(target);
    EXPECT_EQ(*parsed, target);
  }
}

TEST(isa, names_are_the_lower_case_ones_documented) {
  EXPECT_EQ(isa_name(isa::scalar), "scalar");
  EXPECT_EQ(isa_name(isa::avx2), "avx2");
  EXPECT_EQ(isa_name(isa::avx512), "avx512");
  EXPECT_EQ(isa_name(isa::neon), "neon");
}

TEST(isa, unknown_or_differently_cased_names_do_not_parse) {
  EXPECT_FALSE(parse_isa(""));
  EXPECT_FALSE(parse_isa("AVX2"));
  EXPECT_FALSE(parse_isa("sse4"));
  EXPECT_FALSE(parse_isa("scalar "));
}

TEST(isa, available_targets_are_best_first_with_scalar_last) {
  const auto available = available_isas();
  ASSERT_FALSE(available.empty());
  EXPECT_EQ(available.back(), isa::scalar);
  EXPECT_EQ(std::count(available.begin(), available.end(), isa::scalar), 1);
  // Best first: avx512 before avx2, both before scalar.
  const auto position = [&](isa t) {
    return std::find(available.begin(), available.end(), t) - available.begin();
  };
  if (is_available(isa::avx512) && is_available(isa::avx2)) {
    EXPECT_LT(position(isa::avx512), position(isa::avx2));
  }
  for (isa target : available) {
    EXPECT_EQ(std::count(available.begin(), available.end(), target), 1) << isa_name(target);
  }
}

TEST(isa, is_available_agrees_with_the_available_list) {
  const auto available = available_isas();
  for (isa target : every_isa) {
    const bool listed = std::find(available.begin(), available.end(), target) != available.end();
    EXPECT_EQ(is_available(target), listed) << isa_name(target);
  }
}

TEST(isa, active_target_is_available) {
  EXPECT_TRUE(is_available(active_isa()));
}

TEST(isa, kernel_table_exists_exactly_for_available_targets) {
  for (isa target : every_isa) {
    const kernel_table* table = kernels_for(target);
    EXPECT_EQ(table != nullptr, is_available(target)) << isa_name(target);
    if (table != nullptr) {
      EXPECT_EQ(table->target, target) << isa_name(target);
    }
  }
  EXPECT_EQ(kernels().target, active_isa());
}

TEST(isa, environment_unset_or_empty_is_not_an_error) {
  {
    scoped_isa_environment env(nullptr);
    EXPECT_FALSE(isa_environment_error().has_value());
  }
  {
    scoped_isa_environment env("");
    EXPECT_FALSE(isa_environment_error().has_value());
  }
}

TEST(isa, environment_naming_an_available_target_is_not_an_error) {
  for (isa target : available_isas()) {
    scoped_isa_environment env(std::string(isa_name(target)).c_str());
    EXPECT_FALSE(isa_environment_error().has_value()) << isa_name(target);
  }
}

TEST(isa, environment_with_unknown_target_names_the_value_and_the_available_targets) {
  scoped_isa_environment env("sse9000");
  const auto error = isa_environment_error();
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("TONEGUARD_ISA=sse9000"), std::string::npos) << *error;
  EXPECT_NE(error->find("unknown target"), std::string::npos) << *error;
  for (isa target : available_isas()) {
    EXPECT_NE(error->find(std::string(isa_name(target))), std::string::npos) << *error;
  }
}

TEST(isa, environment_with_known_but_unavailable_target_says_so) {
  for (isa target : every_isa) {
    if (is_available(target)) continue;
    scoped_isa_environment env(std::string(isa_name(target)).c_str());
    const auto error = isa_environment_error();
    ASSERT_TRUE(error.has_value()) << isa_name(target);
    EXPECT_NE(error->find("not supported"), std::string::npos) << *error;
  }
}

}  // namespace
}  // namespace toneguard::simd
