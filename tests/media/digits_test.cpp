// One report per press, whichever way the key arrives.

#include "toneguard/media/digits.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/digit_trace.h"

namespace toneguard::media {
namespace {

// Every report, as a trace; each test also checks the call and leg it came from.
struct recorder : ::toneguard::testing::digit_trace {
  ~recorder() {
    for (std::size_t i = 0; i < events.size(); ++i) {
      EXPECT_EQ(call_ids[i], "call-1") << i;
      EXPECT_EQ(legs[i], leg::caller) << i;
    }
  }
};

constexpr auto in_band = digit_source::in_band;
constexpr auto event = digit_source::telephone_event;

TEST(key_merger, a_key_arriving_both_ways_counts_once) {
  recorder r;
  key_merger m(r, "call-1", leg::caller);
  m.key_started('5', event, 1000);    // RFC 4733 start, at once
  m.key_started('5', in_band, 1001);  // in-band, ~27 ms later, onset estimated at 1001
  m.key_ended('5', event, 1100);      // end bit
  m.key_ended('5', in_band, 1101);    // in-band end, ~25 ms later
  EXPECT_EQ(r.trace(), "5+5-");
  EXPECT_EQ(r.events.back().source, digit_source::both);
  EXPECT_EQ(r.events.back().start_ms, 1000);
  EXPECT_EQ(r.events.back().end_ms, 1101);
}

TEST(key_merger, in_band_that_confirms_after_the_event_ended_is_absorbed) {
  recorder r;
  key_merger m(r, "call-1", leg::caller);
  m.key_started('9', event, 500);
  m.key_ended('9', event, 540);  // a 40 ms press, ended before in-band confirms it
  m.key_started('9', in_band, 501);
  m.key_ended('9', in_band, 541);
  EXPECT_EQ(r.trace(), "9+9-");
  EXPECT_EQ(r.events.back().source, digit_source::telephone_event);
}

TEST(key_merger, keys_from_one_source_alone_are_reported_as_such) {
  recorder r;
  key_merger m(r, "call-1", leg::caller);
  m.key_started('1', in_band, 0);
  m.key_ended('1', in_band, 80);
  m.key_started('2', event, 300);
  m.key_ended('2', event, 380);
  EXPECT_EQ(r.trace(), "1+1-2+2-");
  EXPECT_EQ(r.events[0].source, digit_source::in_band);
  EXPECT_EQ(r.events[2].source, digit_source::telephone_event);
}

TEST(key_merger, the_same_key_pressed_again_after_the_window_is_a_new_press) {
  recorder r;
  key_merger m(r, "call-1", leg::caller);
  m.key_started('7', event, 0);
  m.key_ended('7', event, 80);
  m.key_started('7', event, 200);  // 120 ms later: pressed again
  m.key_ended('7', event, 280);
  EXPECT_EQ(r.trace(), "7+7-7+7-");
}

TEST(key_merger, another_key_ends_the_one_that_is_on) {
  recorder r;
  key_merger m(r, "call-1", leg::caller);
  m.key_started('3', event, 0);
  m.key_started('4', event, 90);  // lost end of '3'
  m.key_ended('3', event, 95);    // late end of '3': already ended
  m.key_ended('4', event, 170);
  EXPECT_EQ(r.trace(), "3+3-4+4-");
  EXPECT_EQ(r.events[1].end_ms, 90);
}

}  // namespace
}  // namespace toneguard::media
