#include "toneguard/media/telephone_event.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace toneguard::media {
namespace {

std::array<std::uint8_t, 4> payload(std::uint8_t event, bool end, std::uint16_t duration,
                                    std::uint8_t volume = 10) {
  return {event, static_cast<std::uint8_t>((end ? 0x80 : 0) | volume),
          static_cast<std::uint8_t>(duration >> 8), static_cast<std::uint8_t>(duration)};
}

// Feeds packets and collects every report, so tests can assert on the whole sequence.
struct harness {
  telephone_event_receiver rx;
  std::vector<telephone_event_report> reports;
  std::uint16_t seq = 1000;

  void send(std::uint32_t ts, bool marker, std::uint8_t event, bool end, std::uint16_t dur) {
    const auto p = payload(event, end, dur);
    for (const auto& r : rx.feed(seq++, ts, marker, p)) reports.push_back(r);
  }
  void send_seq(std::uint16_t s, std::uint32_t ts, bool marker, std::uint8_t event, bool end,
                std::uint16_t dur) {
    const auto p = payload(event, end, dur);
    for (const auto& r : rx.feed(s, ts, marker, p)) reports.push_back(r);
  }
  // A whole key as RFC 4733 senders send it: start with marker, updates every 400 samples,
  // the end three times.
  void key(std::uint32_t ts, std::uint8_t event, int updates, std::uint16_t end_dur) {
    send(ts, true, event, false, 400);
    for (int i = 1; i <= updates; ++i)
      send(ts, false, event, false, static_cast<std::uint16_t>(400 + 400 * i));
    for (int i = 0; i < 3; ++i) send(ts, false, event, true, end_dur);
  }
};

TEST(telephone_event_payload, parses_event_end_reserved_volume_and_duration) {
  const std::array<std::uint8_t, 4> b = {11, 0xCA, 0x03, 0x20};
  const auto p = parse_telephone_event(b);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->event, 11);
  EXPECT_TRUE(p->end);
  EXPECT_TRUE(p->reserved);
  EXPECT_EQ(p->volume, 10);
  EXPECT_EQ(p->duration, 800);
  EXPECT_FALSE(parse_telephone_event(std::span<const std::uint8_t>(b.data(), 3)));
}

TEST(telephone_event_payload, events_0_to_15_are_keys_and_others_are_not) {
  const char* keys = "0123456789*#ABCD";
  for (std::uint8_t e = 0; e < 16; ++e) EXPECT_EQ(dtmf_key_of(e), keys[e]);
  EXPECT_FALSE(dtmf_key_of(16));  // flash
  EXPECT_FALSE(dtmf_key_of(255));
}

TEST(telephone_event_receiver, full_key_gives_one_start_and_one_end_with_the_duration) {
  harness h;
  h.key(160000, 5, 3, 1760);
  ASSERT_EQ(h.reports.size(), 2u);
  EXPECT_EQ(h.reports[0].kind, telephone_event_kind::key_start);
  EXPECT_EQ(h.reports[0].key, '5');
  EXPECT_EQ(h.reports[0].start_timestamp, 160000u);
  EXPECT_EQ(h.reports[0].start_sequence, 1000);
  EXPECT_TRUE(h.reports[0].start_seen);
  EXPECT_EQ(h.reports[1].kind, telephone_event_kind::key_end);
  EXPECT_EQ(h.reports[1].key, '5');
  EXPECT_EQ(h.reports[1].start_timestamp, 160000u);
  EXPECT_EQ(h.reports[1].duration, 1760u);
  EXPECT_FALSE(h.reports[1].end_synthesized);
  EXPECT_FALSE(h.rx.active());
  EXPECT_EQ(h.rx.stats().duplicates, 2u);  // the 2nd and 3rd end packets
}

TEST(telephone_event_receiver, lost_start_still_reports_a_start) {
  harness h;
  h.send(8000, false, 9, false, 1200);  // marker packet and first updates lost
  h.send(8000, false, 9, true, 1600);
  ASSERT_EQ(h.reports.size(), 2u);
  EXPECT_EQ(h.reports[0].kind, telephone_event_kind::key_start);
  EXPECT_EQ(h.reports[0].key, '9');
  EXPECT_FALSE(h.reports[0].start_seen);
  EXPECT_EQ(h.reports[1].duration, 1600u);
}

TEST(telephone_event_receiver, only_end_packets_seen_give_start_then_end) {
  harness h;
  h.send(8000, false, 10, true, 800);
  h.send(8000, false, 10, true, 800);
  ASSERT_EQ(h.reports.size(), 2u);
  EXPECT_EQ(h.reports[0].kind, telephone_event_kind::key_start);
  EXPECT_EQ(h.reports[1].kind, telephone_event_kind::key_end);
  EXPECT_EQ(h.reports[1].key, '*');
}

TEST(telephone_event_receiver, lost_end_is_synthesized_by_the_next_event) {
  harness h;
  h.send(8000, true, 1, false, 400);
  h.send(8000, false, 1, false, 800);  // end packets all lost
  h.send(12000, true, 2, false, 400);
  ASSERT_EQ(h.reports.size(), 3u);
  EXPECT_EQ(h.reports[1].kind, telephone_event_kind::key_end);
  EXPECT_EQ(h.reports[1].key, '1');
  EXPECT_TRUE(h.reports[1].end_synthesized);
  EXPECT_EQ(h.reports[1].duration, 800u);
  EXPECT_EQ(h.reports[2].kind, telephone_event_kind::key_start);
  EXPECT_EQ(h.reports[2].key, '2');
}

TEST(telephone_event_receiver, lost_end_is_synthesized_after_the_gap) {
  harness h;
  h.send(8000, true, 3, false, 400);
  h.send(8000, false, 3, false, 800);
  EXPECT_TRUE(h.rx.advance(8000 + 800 + 4000).empty());  // exactly the gap: still on
  const auto out = h.rx.advance(8000 + 800 + 4001);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, telephone_event_kind::key_end);
  EXPECT_TRUE(out[0].end_synthesized);
  EXPECT_EQ(out[0].duration, 800u);
  EXPECT_FALSE(h.rx.active());
  // The real end arriving late is a repeat, not a new key.
  h.send(8000, false, 3, true, 1200);
  EXPECT_EQ(h.reports.size(), 1u);
  EXPECT_TRUE(h.rx.advance(30000).empty());
}

TEST(telephone_event_receiver, long_event_segments_continue_the_same_key) {
  harness h;
  // RFC 4733 §2.5.1.3: a key held for more than 0xFFFF samples (8.2 s at 8 kHz).
  const std::uint32_t t0 = 0xFFFF0000u;  // also crosses the 32-bit timestamp wrap
  h.send(t0, true, 0, false, 400);
  h.send(t0, false, 0, false, 32000);
  h.send(t0, false, 0, false, 0xFFFF);
  h.send(t0 + 0xFFFF, false, 0, false, 400);  // new segment, same event, no marker
  h.send(t0 + 0xFFFF, false, 0, false, 8000);
  h.send(t0 + 0xFFFF, false, 0, true, 9000);
  h.send(t0 + 0xFFFF, false, 0, true, 9000);
  h.send(t0 + 0xFFFF, false, 0, true, 9000);
  ASSERT_EQ(h.reports.size(), 2u);
  EXPECT_EQ(h.reports[0].kind, telephone_event_kind::key_start);
  EXPECT_EQ(h.reports[1].kind, telephone_event_kind::key_end);
  EXPECT_EQ(h.reports[1].start_timestamp, t0);
  EXPECT_EQ(h.reports[1].duration, 0xFFFFu + 9000u);
  EXPECT_FALSE(h.reports[1].end_synthesized);
  EXPECT_EQ(h.rx.stats().segments, 1u);
}

TEST(telephone_event_receiver, long_event_continues_even_when_last_update_of_a_segment_is_lost) {
  harness h;
  h.send(1000, true, 4, false, 60000);  // the 0xFFFF update was lost
  h.send(1000 + 0xFFFF, false, 4, false, 800);
  h.send(1000 + 0xFFFF, false, 4, true, 1600);
  ASSERT_EQ(h.reports.size(), 2u);
  EXPECT_EQ(h.reports[1].duration, 0xFFFFu + 1600u);
}

TEST(telephone_event_receiver, duplicates_and_smaller_durations_change_nothing) {
  harness h;
  h.send_seq(10, 8000, true, 7, false, 400);
  h.send_seq(10, 8000, true, 7, false, 400);  // network duplicate
  h.send_seq(12, 8000, false, 7, false, 1200);
  h.send_seq(11, 8000, false, 7, false, 800);  // reordered, smaller
  h.send_seq(13, 8000, false, 7, true, 1280);
  ASSERT_EQ(h.reports.size(), 2u);
  EXPECT_EQ(h.reports[1].duration, 1280u);
  EXPECT_EQ(h.rx.stats().duplicates, 2u);
}

TEST(telephone_event_receiver, two_keys_back_to_back_give_two_starts_and_two_ends) {
  harness h;
  h.key(8000, 4, 2, 1200);
  h.key(8000 + 1200 + 800, 2, 2, 1200);
  ASSERT_EQ(h.reports.size(), 4u);
  EXPECT_EQ(h.reports[0].key, '4');
  EXPECT_EQ(h.reports[1].key, '4');
  EXPECT_EQ(h.reports[2].key, '2');
  EXPECT_EQ(h.reports[3].key, '2');
  EXPECT_EQ(h.reports[2].kind, telephone_event_kind::key_start);
  EXPECT_EQ(h.reports[3].kind, telephone_event_kind::key_end);
  for (const auto& r : h.reports) EXPECT_FALSE(r.end_synthesized);
}

TEST(telephone_event_receiver, same_key_pressed_twice_gives_two_keys) {
  harness h;
  h.key(8000, 1, 1, 800);
  h.key(8000 + 800 + 400, 1, 1, 800);
  ASSERT_EQ(h.reports.size(), 4u);
  EXPECT_EQ(h.reports[2].kind, telephone_event_kind::key_start);
  EXPECT_EQ(h.reports[2].start_timestamp, 9200u);
}

TEST(telephone_event_receiver, late_packet_of_an_earlier_event_is_ignored) {
  harness h;
  h.send_seq(100, 8000, true, 1, false, 400);
  h.send_seq(101, 8000, false, 1, false, 800);
  h.send_seq(103, 9600, true, 2, false, 400);  // '1' ended by loss; '2' started
  h.send_seq(102, 8000, false, 1, true, 800);  // late end of '1'
  h.send_seq(104, 9600, false, 2, true, 800);
  ASSERT_EQ(h.reports.size(), 4u);
  EXPECT_EQ(h.reports[1].key, '1');
  EXPECT_TRUE(h.reports[1].end_synthesized);
  EXPECT_EQ(h.reports[3].key, '2');
  EXPECT_FALSE(h.reports[3].end_synthesized);
  EXPECT_EQ(h.rx.stats().stale, 1u);
}

TEST(telephone_event_receiver, event_while_another_is_on_ends_the_first) {
  harness h;
  h.send(8000, true, 6, false, 400);
  h.send(8400, true, 8, false, 400);
  ASSERT_EQ(h.reports.size(), 3u);
  EXPECT_EQ(h.reports[1].kind, telephone_event_kind::key_end);
  EXPECT_EQ(h.reports[1].key, '6');
  EXPECT_TRUE(h.reports[1].end_synthesized);
  EXPECT_EQ(h.reports[2].key, '8');
}

TEST(telephone_event_receiver, non_key_events_are_tracked_but_have_no_key) {
  harness h;
  h.key(8000, 16, 1, 800);  // flash
  ASSERT_EQ(h.reports.size(), 2u);
  EXPECT_EQ(h.reports[0].event, 16);
  EXPECT_FALSE(h.reports[0].key);
}

TEST(telephone_event_receiver, short_payload_is_ignored_and_counted) {
  telephone_event_receiver rx;
  const std::array<std::uint8_t, 3> b = {1, 0, 0};
  EXPECT_TRUE(rx.feed(1, 8000, true, b).empty());
  EXPECT_EQ(rx.stats().malformed, 1u);
  EXPECT_FALSE(rx.active());
}

TEST(telephone_event_receiver, timestamp_jump_back_with_newer_sequence_is_a_new_event) {
  harness h;
  h.key(800000, 1, 1, 800);
  h.send(8000, true, 2, false, 400);  // sender restarted its timestamps
  ASSERT_EQ(h.reports.size(), 3u);
  EXPECT_EQ(h.reports[2].key, '2');
}

TEST(telephone_event_receiver, reset_forgets_the_event_on) {
  harness h;
  h.send(8000, true, 1, false, 400);
  h.rx.reset();
  EXPECT_FALSE(h.rx.active());
  h.send(8000, false, 1, true, 800);  // same timestamp after reset: a new (lost-start) key
  ASSERT_EQ(h.reports.size(), 3u);
  EXPECT_EQ(h.rx.stats().packets, 2u);
}

}  // namespace
}  // namespace toneguard::media
