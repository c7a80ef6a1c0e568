#pragma once
// Shared by the receiver tests: feeding audio and collecting what the receiver reports.

#include <span>
#include <string>
#include <vector>

#include "toneguard/dsp/dtmf_receiver.h"

namespace toneguard::dsp::testing {

/// A digit as reported: key, estimated onset and end, and when it was committed (samples).
struct reported_digit {
  char key;
  std::int64_t onset;
  std::int64_t end;
  std::int64_t detected;
};

class event_log : public dtmf_listener {
 public:
  void on_dtmf(const dtmf_event& e) override {
    events.push_back(e);
    if (e.what == dtmf_event::kind::digit_start)
      digits.push_back({e.key, e.onset_sample, -1, e.at_sample});
    if (e.what == dtmf_event::kind::digit_end && !digits.empty()) digits.back().end = e.end_sample;
  }
  [[nodiscard]] std::string keys() const {
    std::string s;
    for (const auto& d : digits) s += d.key;
    return s;
  }
  std::vector<dtmf_event> events;
  std::vector<reported_digit> digits;
};

/// Runs a fresh receiver over `audio` in chunks of `chunk` samples and flushes it.
inline event_log receive(std::span<const float> audio, std::size_t chunk = 160,
                         const dtmf_receiver_config& config = {}) {
  const dtmf_receiver_settings settings(config);
  dtmf_receiver rx(settings);
  event_log log;
  for (std::size_t i = 0; i < audio.size(); i += chunk) {
    rx.process(audio.subspan(i, std::min(chunk, audio.size() - i)), log);
  }
  rx.flush(log);
  return log;
}

}  // namespace toneguard::dsp::testing
