#include "toneguard/dsp/g711.h"

#include <cassert>

#include "toneguard/simd/kernels.h"

namespace toneguard::dsp {

void g711_decode(g711_law law, std::span<const std::uint8_t> in,
                 std::span<std::int16_t> out) noexcept {
  assert(out.size() >= in.size());
  const auto& k = simd::kernels();
  (law == g711_law::ulaw ? k.ulaw_decode : k.alaw_decode)(in.data(), out.data(), in.size());
}

void g711_decode(g711_law law, std::span<const std::uint8_t> in, std::span<float> out) noexcept {
  assert(out.size() >= in.size());
  const auto& k = simd::kernels();
  (law == g711_law::ulaw ? k.ulaw_to_float : k.alaw_to_float)(in.data(), out.data(), in.size());
}

void g711_encode(g711_law law, std::span<const std::int16_t> in,
                 std::span<std::uint8_t> out) noexcept {
  assert(out.size() >= in.size());
  const auto& k = simd::kernels();
  (law == g711_law::ulaw ? k.ulaw_encode : k.alaw_encode)(in.data(), out.data(), in.size());
}

std::int16_t g711_decode(g711_law law, std::uint8_t code) noexcept {
  std::int16_t out;
  g711_decode(law, std::span(&code, 1), std::span(&out, 1));
  return out;
}

std::uint8_t g711_encode(g711_law law, std::int16_t linear) noexcept {
  std::uint8_t out;
  g711_encode(law, std::span(&linear, 1), std::span(&out, 1));
  return out;
}

}  // namespace toneguard::dsp
