#pragma once
// A digit_sink for tests: keeps every report and spells them as a trace, "5+5-" for the
// start and end of one press of 5.

#include <string>
#include <string_view>
#include <vector>

#include "toneguard/media/digits.h"

namespace toneguard::testing {

struct digit_trace : media::digit_sink {
  void on_digit(std::string_view call_id, media::leg from, const media::digit_event& e) override {
    call_ids.emplace_back(call_id);
    legs.push_back(from);
    events.push_back(e);
  }
  [[nodiscard]] std::string trace() const {
    std::string s;
    for (const auto& e : events) {
      s += e.key;
      s += e.what == media::digit_event::phase::start ? '+' : '-';
    }
    return s;
  }
  std::vector<media::digit_event> events;
  std::vector<std::string> call_ids;  // per event
  std::vector<media::leg> legs;       // per event
};

}  // namespace toneguard::testing
