#pragma once
/// What the benchmark suites and the comparison program share: μ-law test material in 20 ms
/// frames, a listener that logs toneguard's digits as detected_digit, and one-call runs of
/// either receiver over a recording. Allocates; not for the packet path.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "bench/detected_digit.h"
#include "toneguard/dsp/dtmf_receiver.h"

namespace toneguard::bench {

/// Samples (and μ-law bytes) in one 20 ms RTP frame at 8 kHz.
inline constexpr std::size_t frame_samples = 160;

/// G.711 μ-law codes of 16-bit linear audio (the active SIMD encoder).
[[nodiscard]] std::vector<std::uint8_t> ulaw_encode(std::span<const std::int16_t> audio);

/// Logs toneguard's digit_start/digit_end events as detected_digit; ignores the early
/// tone_suspected/tone_cleared warnings.
class toneguard_digit_log final : public dsp::dtmf_listener {
 public:
  void on_dtmf(const dsp::dtmf_event& event) override;

  /// Removes and returns the finished digits, oldest first (a digit still on stays).
  [[nodiscard]] std::vector<detected_digit> take_digits();
  /// Digits started since construction (taken or not).
  [[nodiscard]] std::int64_t digit_count() const noexcept { return started_; }

 private:
  std::vector<detected_digit> digits_;  // the last one may still be on
  std::int64_t started_ = 0;
};

/// Runs a new toneguard receiver over μ-law codes fed in 20 ms frames, then flushes it.
[[nodiscard]] std::vector<detected_digit> detect_with_toneguard(
    std::span<const std::uint8_t> ulaw, const dsp::dtmf_receiver_config& config = {});

/// Runs a new spandsp receiver over the same frames (decoding each to int16), then flushes it.
[[nodiscard]] std::vector<detected_digit> detect_with_spandsp(std::span<const std::uint8_t> ulaw);

}  // namespace toneguard::bench
