// The scalar kernels: plain loops, compiled without auto-vectorization. They are the
// specification the other targets are tested against.

#include "g711_reference.h"
#include "kernels_internal.h"

namespace toneguard::simd::scalar_impl {
namespace {

void correlate_bank16(const float* x, std::size_t n, const float* basis, float* acc,
                      float* energy) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < bank_width; ++j) acc[j] += x[i] * basis[bank_width * i + j];
    *energy += x[i] * x[i];
  }
}

template <const std::array<float, 256>& table>
void correlate_bank16_g711(const std::uint8_t* codes, std::size_t n, const bank16_basis& basis,
                           std::size_t first, float* acc, float* energy,
                           float min_energy) noexcept {
  float run_energy = 0.0f;
  for (std::size_t i = 0; i < n; ++i) run_energy += table[codes[i]] * table[codes[i]];
  *energy += run_energy;
  if (run_energy < min_energy) return;
  const float* rows = basis.rows + bank_width * first;
  for (std::size_t i = 0; i < n; ++i) {
    const float x = table[codes[i]];
    for (std::size_t j = 0; j < bank_width; ++j) acc[j] += x * rows[bank_width * i + j];
  }
}

float sum_squares(const float* x, std::size_t n) noexcept {
  float sum = 0.0f;
  for (std::size_t i = 0; i < n; ++i) sum += x[i] * x[i];
  return sum;
}

void int16_to_float(const std::int16_t* in, float* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]);
}

void ulaw_decode(const std::uint8_t* in, std::int16_t* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = g711_reference::ulaw_decode(in[i]);
}
void alaw_decode(const std::uint8_t* in, std::int16_t* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = g711_reference::alaw_decode(in[i]);
}
void ulaw_to_float(const std::uint8_t* in, float* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = g711_reference::ulaw_decode(in[i]);
}
void alaw_to_float(const std::uint8_t* in, float* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = g711_reference::alaw_decode(in[i]);
}
void ulaw_encode(const std::int16_t* in, std::uint8_t* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = g711_reference::ulaw_encode(in[i]);
}
void alaw_encode(const std::int16_t* in, std::uint8_t* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = g711_reference::alaw_encode(in[i]);
}

}  // namespace

const kernel_table table{
    .target = isa::scalar,
    .correlate_bank16 = correlate_bank16,
    .correlate_bank16_ulaw = correlate_bank16_g711<g711_reference::ulaw_floats>,
    .correlate_bank16_alaw = correlate_bank16_g711<g711_reference::alaw_floats>,
    .sum_squares = sum_squares,
    .int16_to_float = int16_to_float,
    .ulaw_decode = ulaw_decode,
    .alaw_decode = alaw_decode,
    .ulaw_to_float = ulaw_to_float,
    .alaw_to_float = alaw_to_float,
    .ulaw_encode = ulaw_encode,
    .alaw_encode = alaw_encode,
};

}  // namespace toneguard::simd::scalar_impl
