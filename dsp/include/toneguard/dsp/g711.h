#pragma once
/// G.711 μ-law and A-law (ITU-T G.711, bit-exact with G.191's reference coder), using the
/// active SIMD kernels. All functions are thread-safe and never allocate.

#include <cstdint>
#include <span>

namespace toneguard::dsp {

enum class g711_law : std::uint8_t { ulaw, alaw };

/// Decodes codes to 16-bit linear PCM. `out.size()` must be >= `in.size()`.
void g711_decode(g711_law law, std::span<const std::uint8_t> in,
                 std::span<std::int16_t> out) noexcept;

/// Decodes codes to float samples in 16-bit linear units. `out.size()` must be >= `in.size()`.
void g711_decode(g711_law law, std::span<const std::uint8_t> in, std::span<float> out) noexcept;

/// Encodes 16-bit linear PCM. `out.size()` must be >= `in.size()`.
void g711_encode(g711_law law, std::span<const std::int16_t> in,
                 std::span<std::uint8_t> out) noexcept;

/// One sample; for code paths where a call per block is not worth it.
[[nodiscard]] std::int16_t g711_decode(g711_law law, std::uint8_t code) noexcept;
[[nodiscard]] std::uint8_t g711_encode(g711_law law, std::int16_t linear) noexcept;

}  // namespace toneguard::dsp
