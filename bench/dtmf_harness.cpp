#include "bench/dtmf_harness.h"

#include <algorithm>

#include "bench/spandsp_dtmf.h"
#include "toneguard/dsp/g711.h"

namespace toneguard::bench {

std::vector<std::uint8_t> ulaw_encode(std::span<const std::int16_t> audio) {
  std::vector<std::uint8_t> codes(audio.size());
  dsp::g711_encode(dsp::g711_law::ulaw, audio, codes);
  return codes;
}

void toneguard_digit_log::on_dtmf(const dsp::dtmf_event& event) {
  using kind = dsp::dtmf_event::kind;
  if (event.what == kind::digit_start) {
    digits_.push_back(detected_digit{
        .key = event.key, .detected_at = event.at_sample, .onset = event.onset_sample});
    ++started_;
  } else if (event.what == kind::digit_end && !digits_.empty() && digits_.back().ended_at < 0) {
    digits_.back().ended_at = event.at_sample;
    digits_.back().end = event.end_sample;
  }
}

std::vector<detected_digit> toneguard_digit_log::take_digits() {
  std::vector<detected_digit> out;
  out.swap(digits_);
  if (!out.empty() && out.back().ended_at < 0) {
    digits_.push_back(out.back());
    out.pop_back();
  }
  return out;
}

std::vector<detected_digit> detect_with_toneguard(std::span<const std::uint8_t> ulaw,
                                                  const dsp::dtmf_receiver_config& config) {
  const dsp::dtmf_receiver_settings settings(config);
  dsp::dtmf_receiver receiver(settings);
  toneguard_digit_log log;
  for (std::size_t at = 0; at < ulaw.size(); at += frame_samples) {
    receiver.process_g711(ulaw.subspan(at, std::min(frame_samples, ulaw.size() - at)),
                          /*alaw=*/false, log);
  }
  receiver.flush(log);
  return log.take_digits();
}

std::vector<detected_digit> detect_with_spandsp(std::span<const std::uint8_t> ulaw) {
  spandsp_dtmf_receiver receiver;
  for (std::size_t at = 0; at < ulaw.size(); at += frame_samples) {
    receiver.process_ulaw(ulaw.subspan(at, std::min(frame_samples, ulaw.size() - at)));
  }
  receiver.flush();
  return receiver.take_digits();
}

}  // namespace toneguard::bench
