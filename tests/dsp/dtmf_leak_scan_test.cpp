// The leak scan is the attacker's view of masked audio: it must find short fragments of any
// key, name the key, and stay quiet on noise.

#include "toneguard/dsp/dtmf_leak_scan.h"

#include <gtest/gtest.h>

#include "toneguard/dsp/dtmf.h"
#include "toneguard/dsp/signal_builder.h"

namespace toneguard::dsp {
namespace {

TEST(dtmf_leak_scan, finds_a_4_ms_fragment_of_every_key_and_names_it) {
  for (char key : dtmf_all_keys) {
    for (float level : {-10.0f, -30.0f}) {
      signal_builder b;
      b.silence(20).dtmf(key, 4, {level}).silence(20);
      const auto leaks = scan_for_dtmf_leaks(b.audio());
      ASSERT_FALSE(leaks.empty()) << key << " at " << level << " dBm0";
      EXPECT_EQ(leaks.front().key, key);
      EXPECT_NEAR(static_cast<double>(leaks.front().position), 160.0, 16.0);
    }
  }
}

TEST(dtmf_leak_scan, stays_quiet_on_silence_noise_and_single_tones) {
  signal_builder b;
  b.silence(100).tone(500, 200, -10).tone(697, 200, -10).tone(1477, 200, -10).add_white_noise(-30, 4);
  EXPECT_TRUE(scan_for_dtmf_leaks(b.audio()).empty());
  signal_builder noise;
  noise.silence(20000).add_white_noise(-20, 5);
  EXPECT_TRUE(scan_for_dtmf_leaks(noise.audio()).empty());
}

TEST(dtmf_leak_scan, ignores_keys_below_its_level_floor) {
  signal_builder b;
  b.silence(20).dtmf('5', 40, {-60.0f}).silence(20);
  EXPECT_TRUE(scan_for_dtmf_leaks(b.audio()).empty());
}

}  // namespace
}  // namespace toneguard::dsp
