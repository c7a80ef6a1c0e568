#include "toneguard/media/digits.h"

#include <algorithm>

namespace toneguard::media {

void key_merger::key_started(char key, digit_source from, std::int64_t start_ms) noexcept {
  bool& on = from == digit_source::in_band ? in_band_on_ : event_on_;
  if (key_ != '\0') {
    if (key == key_) {
      // The same press from the other source (or a repeat from this one): no new report.
      on = true;
      source_ = joined(source_, from);
      start_ms_ = std::min(start_ms_, start_ms);
      return;
    }
    end_press(start_ms);  // another key ends the one that is on
  } else if (key == last_key_ && start_ms <= last_end_ms_ + merge_window_ms_) {
    // A source reporting, late, the press that has already ended: absorbed, start and end.
    (from == digit_source::in_band ? in_band_absorbed_ : event_absorbed_) = true;
    return;
  }
  key_ = key;
  source_ = from;
  on = true;
  start_ms_ = start_ms;
  end_ms_ = -1;
  sink_.on_digit(call_id_, leg_, {digit_event::phase::start, key_, source_, start_ms_, -1});
}

void key_merger::key_ended(char key, digit_source from, std::int64_t end_ms) noexcept {
  bool& absorbed = from == digit_source::in_band ? in_band_absorbed_ : event_absorbed_;
  if (absorbed && key == last_key_) {
    absorbed = false;
    return;
  }
  if (key != key_) return;  // ended already, by another key
  (from == digit_source::in_band ? in_band_on_ : event_on_) = false;
  end_ms_ = std::max(end_ms_, end_ms);
  if (!in_band_on_ && !event_on_) end_press(end_ms_);
}

void key_merger::end_press(std::int64_t end_ms) noexcept {
  sink_.on_digit(call_id_, leg_, {digit_event::phase::end, key_, source_, start_ms_, end_ms});
  last_key_ = key_;
  last_end_ms_ = end_ms;
  key_ = '\0';
  in_band_on_ = event_on_ = false;
  in_band_absorbed_ = event_absorbed_ = false;
}

}  // namespace toneguard::media
