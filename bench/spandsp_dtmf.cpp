#include "bench/spandsp_dtmf.h"

#include <spandsp.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "toneguard/dsp/g711.h"

namespace toneguard::bench {

struct spandsp_dtmf_receiver::state {
  dtmf_rx_state_t* rx = nullptr;
  std::int64_t position = 0;
  std::int64_t reported = 0;
  std::vector<detected_digit> digits;  // the last one may still be on

  state() : rx(dtmf_rx_init(nullptr, nullptr, nullptr)) {
    if (rx == nullptr) throw std::runtime_error("spandsp_dtmf_receiver: dtmf_rx_init failed");
    dtmf_rx_parms(rx, /*filter_dialtone=*/0, /*twist=*/8, /*reverse_twist=*/4, /*threshold=*/-99);
    dtmf_rx_set_realtime_callback(rx, &state::on_report, this);
  }
  ~state() { dtmf_rx_free(rx); }
  state(const state&) = delete;
  state& operator=(const state&) = delete;

  [[nodiscard]] bool digit_on() const noexcept {
    return !digits.empty() && digits.back().ended_at < 0;
  }

  // spandsp calls this from dtmf_rx at the end of the block that confirmed a change: `code` is
  // the new key, or 0 when the tone has gone. Every dtmf_rx call ends at or before a block
  // boundary, so `position` (already advanced past the call) is that block's end.
  static void on_report(void* user_data, int code, int /*level_dbm0*/, int /*delay*/) {
    auto& self = *static_cast<state*>(user_data);
    if (self.digit_on()) self.digits.back().ended_at = self.position;
    if (code != 0) {
      self.digits.push_back(
          detected_digit{.key = static_cast<char>(code), .detected_at = self.position});
      ++self.reported;
    }
  }

  void feed(std::span<const std::int16_t> audio) {
    while (!audio.empty()) {
      const auto to_boundary = static_cast<std::size_t>(block_samples - position % block_samples);
      const std::size_t n = std::min(audio.size(), to_boundary);
      position += static_cast<std::int64_t>(n);
      dtmf_rx(rx, audio.data(), static_cast<int>(n));
      audio = audio.subspan(n);
    }
  }
};

spandsp_dtmf_receiver::spandsp_dtmf_receiver() : state_(std::make_unique<state>()) {}
spandsp_dtmf_receiver::~spandsp_dtmf_receiver() = default;
spandsp_dtmf_receiver::spandsp_dtmf_receiver(spandsp_dtmf_receiver&&) noexcept = default;
spandsp_dtmf_receiver& spandsp_dtmf_receiver::operator=(spandsp_dtmf_receiver&&) noexcept = default;

void spandsp_dtmf_receiver::process(std::span<const std::int16_t> audio) {
  state_->feed(audio);
}

void spandsp_dtmf_receiver::process_ulaw(std::span<const std::uint8_t> codes) {
  std::array<std::int16_t, 160> linear;
  while (!codes.empty()) {
    const std::size_t n = std::min(codes.size(), linear.size());
    dsp::g711_decode(dsp::g711_law::ulaw, codes.first(n), std::span<std::int16_t>(linear));
    state_->feed(std::span<const std::int16_t>(linear.data(), n));
    codes = codes.subspan(n);
  }
}

void spandsp_dtmf_receiver::flush() {
  if (state_->digit_on()) state_->digits.back().ended_at = state_->position;
}

std::vector<detected_digit> spandsp_dtmf_receiver::take_digits() {
  std::vector<detected_digit> out;
  out.swap(state_->digits);
  if (!out.empty() && out.back().ended_at < 0) {
    state_->digits.push_back(out.back());
    out.pop_back();
  }
  return out;
}

std::int64_t spandsp_dtmf_receiver::digit_count() const noexcept {
  return state_->reported;
}

std::int64_t spandsp_dtmf_receiver::position() const noexcept {
  return state_->position;
}

}  // namespace toneguard::bench
