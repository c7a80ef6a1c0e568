#pragma once
/// spandsp's DTMF receiver (dtmf_rx, libspandsp 0.0.6) as the reference toneguard is measured
/// against. spandsp's headers stay in spandsp_dtmf.cpp; this header only declares a pimpl.
///
/// spandsp decides once per 102-sample block. The adapter feeds it so that every dtmf_rx call
/// ends at or before the next block boundary, which makes the position of each report exact
/// (the end of the block that decided it) at the cost of at most one extra call per block.
///
/// Thread ownership: one thread at a time per receiver; receivers share nothing.

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "bench/detected_digit.h"

namespace toneguard::bench {

class spandsp_dtmf_receiver {
 public:
  /// spandsp's samples per decision block.
  static constexpr int block_samples = 102;

  /// A receiver with spandsp's documented defaults, set explicitly with dtmf_rx_parms: no dial
  /// tone filter, normal twist 8 dB, reverse twist 4 dB, default threshold (−42 dBm0 per tone).
  /// Throws std::runtime_error if spandsp cannot allocate its state.
  spandsp_dtmf_receiver();
  ~spandsp_dtmf_receiver();
  spandsp_dtmf_receiver(spandsp_dtmf_receiver&&) noexcept;
  spandsp_dtmf_receiver& operator=(spandsp_dtmf_receiver&&) noexcept;

  /// Feeds 8 kHz 16-bit linear audio, any length.
  void process(std::span<const std::int16_t> audio);
  /// Decodes G.711 μ-law codes (dsp::g711_decode) in pieces of up to 160 and feeds them: the
  /// work spandsp has to do per frame in a proxy.
  void process_ulaw(std::span<const std::uint8_t> codes);

  /// Ends the stream: a digit still on ends at the current position.
  void flush();

  /// Removes and returns the finished digits, oldest first (a digit still on stays until it
  /// ends or flush()). spandsp estimates no onset or end: onset and end stay −1.
  [[nodiscard]] std::vector<detected_digit> take_digits();

  /// Digits reported since construction (taken or not).
  [[nodiscard]] std::int64_t digit_count() const noexcept;

  /// Samples fed so far.
  [[nodiscard]] std::int64_t position() const noexcept;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace toneguard::bench
