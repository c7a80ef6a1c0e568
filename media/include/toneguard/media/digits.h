#pragma once
/// Keys as media reports them to the payment engine: one report per press, whichever way the
/// key arrived (in-band tones, RFC 4733 telephone-events, or both). The daemon hands a
/// digit_sink to media; engine never sees media's types beyond this header's plain values.
///
/// A key is card data while a payment runs: never log digit_event::key in clear.

#include <cstdint>
#include <string_view>

namespace toneguard::media {

/// Which side of the call a stream comes from.
enum class leg : std::uint8_t { caller, agent };

/// How a key arrived.
enum class digit_source : std::uint8_t {
  in_band,          ///< DTMF tones in the audio
  telephone_event,  ///< RFC 4733 events
  both,             ///< the same press both ways (reported once)
};

/// The start or the end of one press. Times are the stream's time in ms (its RTP timestamp
/// in ms from the stream's first packet), so that both sources share one clock.
struct digit_event {
  enum class phase : std::uint8_t { start, end };
  phase what;
  char key;  ///< '0'-'9', '*', '#', 'A'-'D'
  digit_source source;
  std::int64_t start_ms;  ///< estimated start of the press
  std::int64_t end_ms;    ///< estimated end (phase::end); -1 at the start
};

/// Receives presses; called on the stream's worker thread.
class digit_sink {
 public:
  virtual void on_digit(std::string_view call_id, leg from, const digit_event& event) = 0;

 protected:
  ~digit_sink() = default;
};

/// Merges one stream's two sources of keys into one report per press. A press is the same
/// when the same key is on from the other source, or started from it at most `merge_window_ms`
/// after this source's press ended: the in-band receiver confirms a key ~27 ms after it starts
/// and ends it ~25 ms after it stops, while telephone-events start and end at once. A
/// different key ends the press that is on. One owner thread; no allocation.
class key_merger {
 public:
  /// `sink` receives the merged presses for `call_id`/`from` and must outlive the merger;
  /// `call_id` must stay valid as long as the merger.
  key_merger(digit_sink& sink, std::string_view call_id, leg from,
             int merge_window_ms = 60) noexcept
      : sink_(sink), call_id_(call_id), leg_(from), merge_window_ms_(merge_window_ms) {}

  /// A source saw `key` start at `start_ms`.
  void key_started(char key, digit_source from, std::int64_t start_ms) noexcept;
  /// A source saw `key` end at `end_ms`.
  void key_ended(char key, digit_source from, std::int64_t end_ms) noexcept;

  /// The key of the press that is on, or '\0'.
  [[nodiscard]] char current_key() const noexcept { return key_; }

 private:
  void end_press(std::int64_t end_ms) noexcept;
  [[nodiscard]] static digit_source joined(digit_source a, digit_source b) noexcept {
    return a == b ? a : digit_source::both;
  }

  digit_sink& sink_;
  std::string_view call_id_;
  leg leg_;
  int merge_window_ms_;

  char key_ = '\0';  // the press that is on
  digit_source source_ = digit_source::in_band;
  bool in_band_on_ = false, event_on_ = false;
  std::int64_t start_ms_ = 0, end_ms_ = -1;

  char last_key_ = '\0';  // the press that ended last, for a source that reports it late
  std::int64_t last_end_ms_ = -1;
  bool in_band_absorbed_ = false, event_absorbed_ = false;  // late reports being swallowed
};

}  // namespace toneguard::media
