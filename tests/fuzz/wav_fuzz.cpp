// libFuzzer target for parse_wav(): any input must parse or fail cleanly, inside its bounds
// (AddressSanitizer and UBSan watch), and whatever parses must survive a write and re-parse.

#include <cstddef>
#include <cstdint>
#include <span>

#include "toneguard/dsp/wav.h"

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using toneguard::dsp::wav_audio;
  const auto result = toneguard::dsp::parse_wav(std::span<const std::uint8_t>(data, size));
  if (!result.ok()) {
    require(!result.error().empty());
    return 0;
  }
  const wav_audio& audio = result.audio();
  require(audio.sample_rate_hz == 8000 || audio.sample_rate_hz == 16000);
  const std::size_t bytes_per_sample = audio.source_encoding == wav_audio::encoding::pcm16 ? 2 : 1;
  require(audio.samples.size() * bytes_per_sample <= size);

  // Decoded samples are exact values of their encoding, so writing them back is lossless.
  const auto again = toneguard::dsp::parse_wav(
      toneguard::dsp::encode_wav(audio.sample_rate_hz, audio.samples, audio.source_encoding));
  require(again.ok());
  require(again.audio().sample_rate_hz == audio.sample_rate_hz);
  require(again.audio().source_encoding == audio.source_encoding);
  require(again.audio().samples == audio.samples);
  return 0;
}
