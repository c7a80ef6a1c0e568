#include "toneguard/dsp/resampler.h"

#include <liquid/liquid.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <stdexcept>

namespace toneguard::dsp {
namespace {

constexpr unsigned decimation = 2;
// Filter half-length in output samples: 4 * 12 + 1 = 49 taps, a delay of 12 output samples.
constexpr unsigned half_length_8k = resampler_16k_to_8k::delay_samples_8k;
constexpr unsigned taps = 2 * decimation * half_length_8k + 1;
// Cut-off at 4 kHz (a quarter of 16 kHz); 60 dB Kaiser design, measured in the header's terms.
constexpr float cutoff = 0.25f;
constexpr float stopband_db = 60.0f;

std::array<float, taps> lowpass_taps() {
  std::array<float, taps> h{};
  liquid_firdes_kaiser(taps, cutoff, stopband_db, 0.0f, h.data());
  // liquid's windowed sinc has a DC gain of about 1/(2*cutoff) = 2; unity keeps dBm0 levels.
  float sum = 0.0f;
  for (float t : h) sum += t;
  for (float& t : h) t /= sum;
  return h;
}

}  // namespace

struct resampler_16k_to_8k::liquid_decimator {
  firdecim_rrrf handle;
  explicit liquid_decimator(firdecim_rrrf h) : handle(h) {}
  ~liquid_decimator() { firdecim_rrrf_destroy(handle); }
  liquid_decimator(const liquid_decimator&) = delete;
  liquid_decimator& operator=(const liquid_decimator&) = delete;
};

resampler_16k_to_8k::resampler_16k_to_8k() {
  std::array<float, taps> h = lowpass_taps();
  firdecim_rrrf handle = firdecim_rrrf_create(decimation, h.data(), taps);
  if (handle == nullptr)
    throw std::runtime_error("resampler_16k_to_8k: firdecim_rrrf_create failed");
  decimator_ = std::make_unique<liquid_decimator>(handle);
}

resampler_16k_to_8k::~resampler_16k_to_8k() = default;
resampler_16k_to_8k::resampler_16k_to_8k(resampler_16k_to_8k&&) noexcept = default;
resampler_16k_to_8k& resampler_16k_to_8k::operator=(resampler_16k_to_8k&&) noexcept = default;

std::size_t resampler_16k_to_8k::output_size(std::size_t input_samples) const noexcept {
  return (input_samples + (has_carried_sample_ ? 1 : 0)) / decimation;
}

std::size_t resampler_16k_to_8k::process(std::span<const float> in16k,
                                         std::span<float> out8k) noexcept {
  assert(decimator_ != nullptr);
  assert(out8k.size() >= output_size(in16k.size()));
  if (in16k.empty()) return 0;
  std::size_t written = 0;
  std::size_t consumed = 0;
  if (has_carried_sample_) {
    std::array<float, decimation> pair{carried_sample_, in16k[0]};
    firdecim_rrrf_execute(decimator_->handle, pair.data(), &out8k[written++]);
    has_carried_sample_ = false;
    consumed = 1;
  }
  // liquid counts block lengths in unsigned int; huge spans go in slices.
  constexpr std::size_t max_pairs_per_block = std::size_t{1} << 20;
  while (in16k.size() - consumed >= decimation) {
    const std::size_t pairs = std::min((in16k.size() - consumed) / decimation, max_pairs_per_block);
    // liquid's C API takes a non-const input pointer but only reads it.
    firdecim_rrrf_execute_block(decimator_->handle, const_cast<float*>(in16k.data() + consumed),
                                static_cast<unsigned>(pairs), out8k.data() + written);
    written += pairs;
    consumed += pairs * decimation;
  }
  if (consumed < in16k.size()) {
    carried_sample_ = in16k[consumed];
    has_carried_sample_ = true;
  }
  return written;
}

void resampler_16k_to_8k::process(std::span<const float> in16k, std::vector<float>& out8k) {
  const std::size_t start = out8k.size();
  out8k.resize(start + output_size(in16k.size()));
  process(in16k, std::span<float>(out8k).subspan(start));
}

void resampler_16k_to_8k::reset() noexcept {
  firdecim_rrrf_reset(decimator_->handle);
  carried_sample_ = 0.0f;
  has_carried_sample_ = false;
}

}  // namespace toneguard::dsp
