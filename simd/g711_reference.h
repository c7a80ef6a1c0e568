#pragma once
// G.711 per sample, as in ITU-T G.191's reference implementation (g711.c): the specification
// every vectorized G.711 kernel is tested against. Inputs and outputs are 16-bit linear PCM.

#include <array>
#include <cstdint>

namespace toneguard::simd::g711_reference {

constexpr std::uint8_t ulaw_encode(std::int16_t linear) noexcept {
  // One's complement of negative inputs makes the quantizer symmetric, as G.191 does.
  int absno = linear < 0 ? ((~linear) >> 2) + 33 : (linear >> 2) + 33;
  if (absno > 0x1FFF) absno = 0x1FFF;
  int i = absno >> 6;
  int segno = 1;
  while (i != 0) {
    ++segno;
    i >>= 1;
  }
  const int high_nibble = 0x0008 - segno;
  const int low_nibble = 0x000F - ((absno >> segno) & 0x000F);
  int code = (high_nibble << 4) | low_nibble;
  if (linear >= 0) code |= 0x0080;
  return static_cast<std::uint8_t>(code);
}

constexpr std::int16_t ulaw_decode(std::uint8_t code) noexcept {
  const int sign = code < 0x80 ? -1 : 1;
  const int inverted = ~code & 0xFF;
  const int exponent = (inverted >> 4) & 0x07;
  const int mantissa = inverted & 0x0F;
  const int step = 4 << (exponent + 1);
  return static_cast<std::int16_t>(sign *
                                   ((0x80 << exponent) + step * mantissa + step / 2 - 4 * 33));
}

constexpr std::uint8_t alaw_encode(std::int16_t linear) noexcept {
  int ix = linear < 0 ? (~linear) >> 4 : linear >> 4;
  if (ix > 15) {
    int iexp = 1;
    while (ix > 16 + 15) {
      ix >>= 1;
      ++iexp;
    }
    ix -= 16;
    ix += iexp << 4;
  }
  if (linear >= 0) ix |= 0x0080;
  return static_cast<std::uint8_t>(ix ^ 0x0055);
}

constexpr std::int16_t alaw_decode(std::uint8_t code) noexcept {
  const int ix = code ^ 0x0055;
  const int iexp = (ix & 0x7F) >> 4;
  int mant = ix & 0x0F;
  if (iexp > 0) mant += 16;
  mant = (mant << 4) + 0x0008;
  if (iexp > 1) mant <<= (iexp - 1);
  return static_cast<std::int16_t>(ix > 127 ? mant : -mant);
}

/// Every code's decoded value as a float, for kernels that decode by table look-up.
template <std::int16_t (*decode)(std::uint8_t)>
constexpr std::array<float, 256> float_table() noexcept {
  std::array<float, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[static_cast<std::size_t>(c)] = decode(static_cast<std::uint8_t>(c));
  return t;
}
inline constexpr std::array<float, 256> ulaw_floats = float_table<ulaw_decode>();
inline constexpr std::array<float, 256> alaw_floats = float_table<alaw_decode>();

}  // namespace toneguard::simd::g711_reference
