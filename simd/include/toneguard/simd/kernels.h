#pragma once
/// The kernel dispatch table: one set of function pointers per ISA, chosen once at start-up.
/// Every kernel is noexcept, never allocates, accepts any length (including 0) and any
/// alignment of its array arguments, and is safe to call from any thread.

#include <cstddef>
#include <cstdint>

#include "toneguard/simd/isa.h"

namespace toneguard::simd {

/// Width of one basis row for correlate_bank16 (floats).
inline constexpr std::size_t bank_width = 16;

struct kernel_table {
  isa target;

  /// acc[j] += sum_{i<n} x[i] * basis[bank_width*i + j] for j < 16, and
  /// *energy += sum_{i<n} x[i]^2.
  /// One call correlates a run of samples with 16 basis functions at once (e.g. the cosine
  /// and sine of 8 tones) and measures its energy; the caller offsets `basis` to the run's
  /// position in its block.
  void (*correlate_bank16)(const float* x, std::size_t n, const float* basis, float* acc, float* energy) noexcept;
  /// The same for G.711 codes, decoded on the fly (x[i] = the code's linear value).
  void (*correlate_bank16_ulaw)(const std::uint8_t* codes, std::size_t n, const float* basis, float* acc,
                                float* energy) noexcept;
  void (*correlate_bank16_alaw)(const std::uint8_t* codes, std::size_t n, const float* basis, float* acc,
                                float* energy) noexcept;

  /// Sum of x[i]^2 for i < n (energy of a block, in squared sample units).
  float (*sum_squares)(const float* x, std::size_t n) noexcept;

  /// out[i] = float(in[i]).
  void (*int16_to_float)(const std::int16_t* in, float* out, std::size_t n) noexcept;

  /// G.711 decoding (ITU-T G.711 tables, exact) to 16-bit linear PCM.
  void (*ulaw_decode)(const std::uint8_t* in, std::int16_t* out, std::size_t n) noexcept;
  void (*alaw_decode)(const std::uint8_t* in, std::int16_t* out, std::size_t n) noexcept;
  /// G.711 decoding straight to float (same values as the int16 decoders).
  void (*ulaw_to_float)(const std::uint8_t* in, float* out, std::size_t n) noexcept;
  void (*alaw_to_float)(const std::uint8_t* in, float* out, std::size_t n) noexcept;
  /// G.711 encoding of 16-bit linear PCM (ITU-T G.711, exact; as the reference encoder in
  /// G.191: the low bits below each segment's step are truncated).
  void (*ulaw_encode)(const std::int16_t* in, std::uint8_t* out, std::size_t n) noexcept;
  void (*alaw_encode)(const std::int16_t* in, std::uint8_t* out, std::size_t n) noexcept;
};

/// The table for the active ISA (see active_isa()). The first call selects it.
[[nodiscard]] const kernel_table& kernels() noexcept;

/// The table for a given ISA, or nullptr when it is not available here (tests, benchmarks).
[[nodiscard]] const kernel_table* kernels_for(isa target) noexcept;

}  // namespace toneguard::simd
