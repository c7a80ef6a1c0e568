#include "toneguard/dsp/dtmf_masker.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "toneguard/dsp/levels.h"

namespace toneguard::dsp {
namespace {

constexpr int samples_per_ms = dtmf_receiver::sample_rate_hz / 1000;

}  // namespace

std::optional<std::string> validate(const dtmf_masker_config& c) {
  auto bad = [](const char* field, double value, const char* rule) {
    return std::string("dtmf_masker_config.") + field + " = " + std::to_string(value) + ": " + rule;
  };
  if (c.lookahead_ms < 0 || c.lookahead_ms > dtmf_masker::max_lookahead_ms) {
    return bad("lookahead_ms", c.lookahead_ms, "must be in [0, 200] ms");
  }
  if (c.guard_ms < 0 || c.guard_ms > 50)
    return bad("guard_ms", c.guard_ms, "must be in [0, 50] ms");
  if (c.hangover_ms < 0 || c.hangover_ms > 200) {
    return bad("hangover_ms", c.hangover_ms, "must be in [0, 200] ms");
  }
  if (!(c.tone_hz > 50.0f && c.tone_hz < 3900.0f)) {
    return bad("tone_hz", c.tone_hz, "must be in (50, 3900) Hz");
  }
  if (!(c.tone_level_dbm0 <= 0.0f && c.tone_level_dbm0 >= -90.0f)) {
    return bad("tone_level_dbm0", c.tone_level_dbm0, "must be in [-90, 0] dBm0");
  }
  if (!(c.noise_level_dbm0 <= 0.0f && c.noise_level_dbm0 >= -90.0f)) {
    return bad("noise_level_dbm0", c.noise_level_dbm0, "must be in [-90, 0] dBm0");
  }
  return std::nullopt;
}

dtmf_masker::dtmf_masker(const dtmf_masker_config& config)
    : config_(config),
      delay_(config.lookahead_ms * samples_per_ms),
      guard_(config.guard_ms * samples_per_ms),
      hangover_(config.hangover_ms * samples_per_ms) {
  if (auto error = validate(config)) throw std::invalid_argument(*error);
  // Sized for the longest look-ahead, so that set_lookahead() never allocates.
  if (!config.g711_only) {
    line_.reserve(static_cast<std::size_t>(max_lookahead_ms * samples_per_ms));
    line_.assign(static_cast<std::size_t>(delay_), 0.0f);
  }
  code_line_.reserve(static_cast<std::size_t>(max_lookahead_ms * samples_per_ms));
  code_line_.assign(static_cast<std::size_t>(delay_), 0);
  const double step = 2 * std::numbers::pi * config.tone_hz / dtmf_receiver::sample_rate_hz;
  tone_step_re_ = static_cast<float>(std::cos(step));
  tone_step_im_ = static_cast<float>(std::sin(step));
  tone_peak_ = dbm0_to_peak(config.tone_level_dbm0);
  // Uniform noise in [-a, a) has power a^2 / 3.
  noise_scale_ = std::sqrt(3.0f * dbm0_to_power(config.noise_level_dbm0));
}

void dtmf_masker::on_dtmf(const dtmf_event& event) {
  switch (event.what) {
    case dtmf_event::kind::tone_suspected:
    case dtmf_event::kind::digit_start: {
      // The next sample to go out; whatever of the tone lies before it has been heard.
      const std::int64_t out_position = in_position_ - delay_;
      std::int64_t covered_from = out_position;
      for (std::size_t i = 0; i < span_count_; ++i) {
        if (spans_[i].end == open) covered_from = std::min(covered_from, spans_[i].begin);
      }
      if (event.onset_sample < covered_from) leaked_ += covered_from - event.onset_sample;
      open_span(event.onset_sample - guard_);
      // A suspicion that becomes a digit is that digit from now on.
      const bool digit = event.what == dtmf_event::kind::digit_start;
      digit_on_ = digit_on_ || digit;
      suspicion_on_ = !digit;
      break;
    }
    case dtmf_event::kind::tone_cleared:
    case dtmf_event::kind::digit_end:
      // The span closes when neither a digit nor a suspicion (of another key) is left on.
      (event.what == dtmf_event::kind::digit_end ? digit_on_ : suspicion_on_) = false;
      if (!digit_on_ && !suspicion_on_) close_span(event.end_sample + hangover_);
      break;
  }
}

void dtmf_masker::release() noexcept {
  close_span(in_position_);
  digit_on_ = suspicion_on_ = false;
}

void dtmf_masker::open_span(std::int64_t begin) noexcept {
  for (std::size_t i = 0; i < span_count_; ++i) {
    if (spans_[i].end == open) {
      spans_[i].begin = std::min(spans_[i].begin, begin);
      return;
    }
  }
  if (span_count_ == spans_.size()) {
    // Full of closed spans still ahead of the output: merge the two oldest, which can only
    // widen what is masked.
    spans_[1].begin = std::min(spans_[0].begin, spans_[1].begin);
    spans_[1].end = std::max(spans_[0].end, spans_[1].end);
    std::copy(spans_.begin() + 1, spans_.begin() + static_cast<long>(span_count_), spans_.begin());
    --span_count_;
  }
  spans_[span_count_++] = {begin, open};
}

void dtmf_masker::close_span(std::int64_t end) noexcept {
  for (std::size_t i = 0; i < span_count_; ++i) {
    if (spans_[i].end == open) spans_[i].end = std::max(end, spans_[i].begin);
  }
}

bool dtmf_masker::masked_at(std::int64_t position) noexcept {
  bool masked = false;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < span_count_; ++i) {
    if (spans_[i].end <= position) continue;  // passed: dropped
    masked = masked || spans_[i].begin <= position;
    spans_[kept++] = spans_[i];
  }
  span_count_ = kept;
  return masked;
}

float dtmf_masker::mask_sample() noexcept {
  switch (config_.mode) {
    case mask_mode::silence:
      return 0.0f;
    case mask_mode::flat_tone: {
      const float re = tone_re_ * tone_step_re_ - tone_im_ * tone_step_im_;
      const float im = tone_re_ * tone_step_im_ + tone_im_ * tone_step_re_;
      // Keep the phasor on the unit circle (one Newton step), or rounding drifts its level.
      const float fix = 1.5f - 0.5f * (re * re + im * im);
      tone_re_ = re * fix;
      tone_im_ = im * fix;
      return tone_peak_ * tone_re_;
    }
    case mask_mode::comfort_noise:
      noise_state_ = noise_state_ * 1664525u + 1013904223u;
      return noise_scale_ * (static_cast<float>(noise_state_ >> 8) * (2.0f / 16777216.0f) - 1.0f);
  }
  return 0.0f;
}

namespace {

// Re-lays a circular delay line (oldest sample at `at`) as `length` samples, oldest first at
// slot 0: silence before the oldest when it grows, the oldest dropped when it shrinks.
template <class Sample>
void relay_line(std::vector<Sample>& line, std::size_t at, std::size_t length,
                Sample silence) noexcept {
  const std::size_t old_length = line.size();
  if (old_length != 0) std::rotate(line.begin(), line.begin() + static_cast<long>(at), line.end());
  if (length > old_length) {
    line.insert(line.begin(), length - old_length, silence);  // within capacity: no allocation
  } else {
    line.erase(line.begin(), line.begin() + static_cast<long>(old_length - length));
  }
}

}  // namespace

void dtmf_masker::set_lookahead(int lookahead_ms) noexcept {
  const int delay = std::clamp(lookahead_ms, 0, max_lookahead_ms) * samples_per_ms;
  if (delay == delay_) return;
  const auto length = static_cast<std::size_t>(delay);
  if (!config_.g711_only) relay_line(line_, line_at_, length, 0.0f);
  const std::uint8_t silence_code = code_line_filled_ ? code_line_silence_ : std::uint8_t{0};
  relay_line(code_line_, line_at_, length, silence_code);
  line_at_ = 0;
  delay_ = delay;
  config_.lookahead_ms = lookahead_ms;
}

template <class Sample, class Mask>
void dtmf_masker::run(std::span<const Sample> in, std::span<Sample> out, std::vector<Sample>& line,
                      Mask mask) noexcept {
  const std::size_t length = line.size();
  for (std::size_t i = 0; i < in.size(); ++i) {
    Sample sample = in[i];
    if (length != 0) {
      std::swap(sample, line[line_at_]);
      if (++line_at_ == length) line_at_ = 0;
    }
    const std::int64_t out_position = in_position_ - delay_;
    ++in_position_;
    if (span_count_ != 0 && out_position >= 0 && masked_at(out_position)) {
      sample = mask();
      ++masked_;
    }
    out[i] = sample;
  }
}

void dtmf_masker::process(std::span<const float> in, std::span<float> out) noexcept {
  run<float>(in, out, line_, [this] { return mask_sample(); });
}

void dtmf_masker::process_g711(std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                               bool alaw) noexcept {
  const g711_law law = alaw ? g711_law::alaw : g711_law::ulaw;
  if (!code_line_filled_) {
    code_line_silence_ = g711_encode(law, std::int16_t{0});
    std::fill(code_line_.begin(), code_line_.end(), code_line_silence_);
    code_line_filled_ = true;
  }
  run<std::uint8_t>(in, out, code_line_, [this, law] {
    return g711_encode(law, static_cast<std::int16_t>(std::lrint(mask_sample())));
  });
}

}  // namespace toneguard::dsp
