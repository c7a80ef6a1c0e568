#include "toneguard/dsp/prompt_audio.h"

#include <liquid/liquid.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "toneguard/dsp/resampler.h"
#include "toneguard/dsp/wav.h"

namespace toneguard::dsp {
namespace {

std::uint32_t read_u32(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint32_t>(b[at]) | static_cast<std::uint32_t>(b[at + 1]) << 8 |
         static_cast<std::uint32_t>(b[at + 2]) << 16 | static_cast<std::uint32_t>(b[at + 3]) << 24;
}

void write_u32(std::span<std::uint8_t> b, std::size_t at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<std::uint8_t>(value >> (8 * i));
}

// Offset of the sample-rate field of the first complete "fmt " chunk, walking chunks the way
// parse_wav() does; 0 when there is none (parse_wav() then says what is wrong).
std::size_t fmt_rate_offset(std::span<const std::uint8_t> bytes) {
  constexpr std::size_t riff_header = 12;
  constexpr std::size_t chunk_header = 8;
  if (bytes.size() < riff_header || std::memcmp(bytes.data(), "RIFF", 4) != 0 ||
      std::memcmp(bytes.data() + 8, "WAVE", 4) != 0) {
    return 0;
  }
  std::size_t at = riff_header;
  while (bytes.size() - at >= chunk_header) {
    const std::uint64_t declared = read_u32(bytes, at + 4);
    const std::size_t body = at + chunk_header;
    if (std::memcmp(bytes.data() + at, "fmt ", 4) == 0) {
      return declared >= 16 && declared <= bytes.size() - body ? body + 4 : 0;
    }
    if (std::memcmp(bytes.data() + at, "data", 4) == 0) return 0;
    const std::uint64_t next = body + declared + (declared & 1);
    if (next >= bytes.size()) return 0;
    at = static_cast<std::size_t>(next);
  }
  return 0;
}

prompt_result<std::vector<std::uint8_t>> read_file_bytes(const std::string& path) {
  using result = prompt_result<std::vector<std::uint8_t>>;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return result::failure(path + ": cannot open: " + std::strerror(errno));
  const std::streamoff size = in.tellg();
  if (size < 0) return result::failure(path + ": cannot read");
  if (static_cast<std::uint64_t>(size) > max_wav_file_bytes) {
    return result::failure(path + ": file too large: " + std::to_string(size) +
                           " bytes (at most 1 GiB)");
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  if (!in) return result::failure(path + ": cannot read: " + std::strerror(errno));
  return bytes;
}

struct msresamp_handle {
  msresamp_rrrf q;
  explicit msresamp_handle(float rate) : q(msresamp_rrrf_create(rate, 60.0f)) {
    if (q == nullptr) throw std::runtime_error("resample_to_8k: msresamp_rrrf_create failed");
  }
  ~msresamp_handle() { msresamp_rrrf_destroy(q); }
  msresamp_handle(const msresamp_handle&) = delete;
  msresamp_handle& operator=(const msresamp_handle&) = delete;
};

// round(n * to / from) without floating point.
std::size_t scaled_length(std::size_t n, int from_hz, int to_hz) {
  return static_cast<std::size_t>(
      (static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(to_hz) +
       static_cast<std::uint64_t>(from_hz) / 2) /
      static_cast<std::uint64_t>(from_hz));
}

// Runs `in` through `q`, appending to `out`.
void run(msresamp_rrrf q, float ratio, std::vector<float>& in, std::vector<float>& out) {
  constexpr std::size_t block = 1024;
  std::vector<float> buffer(static_cast<std::size_t>(std::ceil(1 + 2 * ratio * block)) + 16);
  for (std::size_t at = 0; at < in.size(); at += block) {
    const auto n = static_cast<unsigned>(std::min(block, in.size() - at));
    unsigned produced = 0;
    msresamp_rrrf_execute(q, in.data() + at, n, buffer.data(), &produced);
    out.insert(out.end(), buffer.begin(), buffer.begin() + produced);
  }
}

// The resampler's delay in output samples, measured: msresamp_rrrf_get_delay() is off by up
// to tens of samples once half-band stages are involved (liquid-dsp 1.5). A Gaussian pulse
// 50 ms in comes out with its energy centred 50 ms + delay in.
std::size_t measured_delay(double from_hz, double to_hz) {
  const auto ratio = static_cast<float>(to_hz / from_hz);
  msresamp_handle probe(ratio);
  const auto length = static_cast<std::size_t>(from_hz / 5);
  const double centre = 0.05 * from_hz;
  const double sigma = 0.001 * from_hz;
  std::vector<float> pulse(length);
  for (std::size_t i = 0; i < length; ++i) {
    const double t = (static_cast<double>(i) - centre) / sigma;
    pulse[i] = static_cast<float>(std::exp(-0.5 * t * t));
  }
  std::vector<float> out;
  run(probe.q, ratio, pulse, out);
  double weighted = 0.0;
  double energy = 0.0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double e = static_cast<double>(out[i]) * out[i];
    weighted += e * static_cast<double>(i);
    energy += e;
  }
  const double delay = weighted / energy - 0.05 * to_hz;
  return delay > 0.0 ? static_cast<std::size_t>(std::lround(delay)) : 0;
}

// `in` at `from_hz` to `to_hz` with liquid-dsp's msresamp_rrrf, time-aligned, `wanted` samples
// out. Callers keep the ratio within 0.5..2: liquid-dsp 1.5 leaks memory on every resampler
// that needs its half-band stages (ratios beyond that).
std::vector<float> liquid_resample(std::vector<float> in, double from_hz, double to_hz,
                                   std::size_t wanted) {
  const auto ratio = static_cast<float>(to_hz / from_hz);
  const std::size_t delay = measured_delay(from_hz, to_hz);
  // Flush the filters with enough zeros to push the last input sample through.
  in.resize(in.size() + static_cast<std::size_t>(std::ceil((delay + 16) / ratio)) + 16, 0.0f);
  msresamp_handle resampler(ratio);
  std::vector<float> out;
  out.reserve(wanted + delay + 64);
  run(resampler.q, ratio, in, out);
  const std::size_t skip = std::min(delay, out.size());
  out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(skip));
  out.resize(wanted, 0.0f);
  return out;
}

// Halves the rate with resampler_16k_to_8k, whose low-pass sits at a quarter of any input
// rate; time-aligned, (size + 1) / 2 samples out.
std::vector<float> halve(std::vector<float> in) {
  constexpr std::size_t delay = resampler_16k_to_8k::delay_samples_8k;
  const std::size_t wanted = (in.size() + 1) / 2;
  in.resize(in.size() + 2 * delay + 2, 0.0f);
  resampler_16k_to_8k decimator;
  std::vector<float> out;
  out.reserve(decimator.output_size(in.size()));
  decimator.process(in, out);
  out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(delay));
  out.resize(wanted, 0.0f);
  return out;
}

// Above 8 kHz: halve down to 32 kHz or less, to 16 kHz with liquid-dsp, then halve to 8 kHz,
// so the last low-pass is always resampler_16k_to_8k's. Below 8 kHz there is nothing above
// 4 kHz to remove: liquid-dsp interpolates straight to 8 kHz.
std::vector<float> to_8k(std::span<const std::int16_t> samples, int rate_hz) {
  std::vector<float> x(samples.begin(), samples.end());
  if (rate_hz < 8000) {
    return liquid_resample(std::move(x), rate_hz, 8000.0,
                           scaled_length(samples.size(), rate_hz, 8000));
  }
  double rate = rate_hz;
  while (rate > 32000.0) {
    x = halve(std::move(x));
    rate /= 2.0;
  }
  if (rate != 16000.0) {
    x = liquid_resample(std::move(x), rate, 16000.0, scaled_length(samples.size(), rate_hz, 16000));
  }
  return halve(std::move(x));
}

std::int16_t to_pcm16(float v) {
  return static_cast<std::int16_t>(std::clamp(std::lround(v), -32768L, 32767L));
}

}  // namespace

std::vector<std::int16_t> resample_to_8k(std::span<const std::int16_t> samples, int rate_hz) {
  if (rate_hz < min_prompt_rate_hz || rate_hz > max_prompt_rate_hz) {
    throw std::invalid_argument(
        "resample_to_8k: rate_hz must be " + std::to_string(min_prompt_rate_hz) + ".." +
        std::to_string(max_prompt_rate_hz) + ", got " + std::to_string(rate_hz));
  }
  if (rate_hz == 8000) return {samples.begin(), samples.end()};
  const std::vector<float> y = to_8k(samples, rate_hz);
  std::vector<std::int16_t> out(scaled_length(samples.size(), rate_hz, 8000), 0);
  for (std::size_t i = 0; i < out.size() && i < y.size(); ++i) out[i] = to_pcm16(y[i]);
  return out;
}

prompt_result<std::vector<std::int16_t>> read_prompt_wav(const std::string& path) {
  using result = prompt_result<std::vector<std::int16_t>>;
  auto bytes = read_file_bytes(path);
  if (!bytes) return result::failure(bytes.error_message());
  std::vector<std::uint8_t> data = std::move(bytes).value();

  // wav.h reads only telephone rates; other rates are relabelled 8 kHz for decoding (the
  // sample format checks still apply) and resampled from their real rate afterwards.
  int rate_hz = 0;
  if (const std::size_t at = fmt_rate_offset(data); at != 0) {
    const std::uint32_t rate = read_u32(data, at);
    if (rate != 8000 && rate != 16000) {
      if (rate < static_cast<std::uint32_t>(min_prompt_rate_hz) ||
          rate > static_cast<std::uint32_t>(max_prompt_rate_hz)) {
        return result::failure(path + ": unusable sample rate " + std::to_string(rate) + " Hz (" +
                               std::to_string(min_prompt_rate_hz) + ".." +
                               std::to_string(max_prompt_rate_hz) + " Hz supported)");
      }
      rate_hz = static_cast<int>(rate);
      write_u32(data, at, 8000);
    }
  }
  wav_result parsed = parse_wav(data);
  if (!parsed) return result::failure(path + ": " + parsed.error());
  wav_audio audio = std::move(parsed).audio();
  if (audio.samples.empty()) return result::failure(path + ": no audio (empty data chunk)");
  if (rate_hz == 0) rate_hz = audio.sample_rate_hz;
  if (rate_hz == 8000) return std::move(audio.samples);
  return resample_to_8k(audio.samples, rate_hz);
}

prompt_result<prompt_audio> prompt_audio::load(std::span<const prompt_file> files) {
  using result = prompt_result<prompt_audio>;
  prompt_audio audio;
  // Several ids may share a recording; decode each file once.
  std::map<std::string, const std::vector<std::int16_t>*, std::less<>> decoded;
  for (const prompt_file& file : files) {
    if (audio.phrases_.contains(file.phrase_id)) {
      return result::failure("phrase '" + file.phrase_id + "' listed twice");
    }
    if (const auto it = decoded.find(file.path); it != decoded.end()) {
      audio.phrases_.emplace(file.phrase_id, *it->second);
      continue;
    }
    auto samples = read_prompt_wav(file.path);
    if (!samples) {
      return result::failure("phrase '" + file.phrase_id + "': " + samples.error_message());
    }
    const auto [it, inserted] = audio.phrases_.emplace(file.phrase_id, std::move(samples).value());
    decoded.emplace(file.path, &it->second);
  }
  return audio;
}

prompt_audio prompt_audio::from_samples(
    std::map<std::string, std::vector<std::int16_t>, std::less<>> phrases) {
  prompt_audio audio;
  audio.phrases_ = std::move(phrases);
  return audio;
}

std::span<const std::int16_t> prompt_audio::find(std::string_view phrase_id) const noexcept {
  const auto it = phrases_.find(phrase_id);
  if (it == phrases_.end()) return {};
  return it->second;
}

std::size_t prompt_audio::total_samples() const noexcept {
  std::size_t total = 0;
  for (const auto& [id, samples] : phrases_) total += samples.size();
  return total;
}

prompt_result<std::vector<std::int16_t>> prompt_audio::render(
    std::span<const std::string> phrase_ids, int gap_ms) const {
  using result = prompt_result<std::vector<std::int16_t>>;
  if (gap_ms < 0 || gap_ms > max_gap_ms) {
    return result::failure("gap " + std::to_string(gap_ms) + " ms out of range 0.." +
                           std::to_string(max_gap_ms) + " ms");
  }
  const std::size_t gap = static_cast<std::size_t>(gap_ms) * sample_rate_hz / 1000;
  std::vector<std::span<const std::int16_t>> parts;
  parts.reserve(phrase_ids.size());
  std::size_t total = 0;
  for (const std::string& id : phrase_ids) {
    const auto it = phrases_.find(id);
    if (it == phrases_.end()) {
      return result::failure("unknown phrase id '" + id + "' (not in the prompt set)");
    }
    parts.emplace_back(it->second);
    total += it->second.size() + (parts.size() > 1 ? gap : 0);
  }
  std::vector<std::int16_t> out;
  out.reserve(total);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i != 0) out.insert(out.end(), gap, 0);
    out.insert(out.end(), parts[i].begin(), parts[i].end());
  }
  return out;
}

prompt_result<std::vector<std::uint8_t>> prompt_audio::render_g711(
    g711_law law, std::span<const std::string> phrase_ids, int gap_ms) const {
  using result = prompt_result<std::vector<std::uint8_t>>;
  auto linear = render(phrase_ids, gap_ms);
  if (!linear) return result::failure(linear.error_message());
  std::vector<std::uint8_t> coded(linear.value().size());
  g711_encode(law, linear.value(), coded);
  return coded;
}

}  // namespace toneguard::dsp
