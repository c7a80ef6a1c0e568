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

/// A filter-bank basis in the two forms the G.711 correlators use.
struct bank16_basis {
  /// Rows of bank_width floats, one per block position.
  const float* rows;
  /// The same values in Q12 (rounded * 4096), rows interleaved in pairs: element j of
  /// position 2p+k is q12_pairs[32*p + 2*j + k]; an odd-length block ends with a zero row.
  const std::int16_t* q12_pairs;
};

/// Most samples one call of a G.711 correlator accepts: keeps integer (Q12) sums exact.
inline constexpr std::size_t bank16_max_run = 64;

struct kernel_table {
  isa target;

  /// acc[j] += sum_{i<n} x[i] * basis[bank_width*i + j] for j < 16, and
  /// *energy += sum_{i<n} x[i]^2.
  /// One call correlates a run of samples with 16 basis functions at once (e.g. the cosine
  /// and sine of 8 tones) and measures its energy; the caller offsets `basis` to the run's
  /// position in its block.
  void (*correlate_bank16)(const float* x, std::size_t n, const float* basis, float* acc,
                           float* energy) noexcept;
  /// The same for G.711 codes: x[i] is the code's linear value; codes[0] sits at block
  /// position `first`, and n <= bank16_max_run. The run's energy is always added; when it is
  /// below `min_energy` the 16 sums are left as they are (a block too quiet to hold a tone
  /// costs its decoding only). Targets with integer dot products (AVX-512 VNNI) correlate
  /// exactly in integers with the Q12 basis, two samples per instruction; the others use the
  /// float rows. Results agree within the Q12 rounding.
  void (*correlate_bank16_ulaw)(const std::uint8_t* codes, std::size_t n, const bank16_basis& basis,
                                std::size_t first, float* acc, float* energy,
                                float min_energy) noexcept;
  void (*correlate_bank16_alaw)(const std::uint8_t* codes, std::size_t n, const bank16_basis& basis,
                                std::size_t first, float* acc, float* energy,
                                float min_energy) noexcept;

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
