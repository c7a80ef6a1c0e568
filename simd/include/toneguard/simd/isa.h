#pragma once
/// CPU instruction-set targets for toneguard's kernels and their detection.
/// All functions are thread-safe; detection runs once per process.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace toneguard::simd {

/// A kernel target. `scalar` is the reference every other target is tested against.
enum class isa : std::uint8_t { scalar, avx2, avx512, neon };

/// Lower-case name as accepted by TONEGUARD_ISA: "scalar", "avx2", "avx512", "neon".
[[nodiscard]] std::string_view isa_name(isa target) noexcept;

/// Parses a name as printed by isa_name(); nullopt for anything else.
[[nodiscard]] std::optional<isa> parse_isa(std::string_view name) noexcept;

/// Targets compiled into this binary and supported by this CPU (and OS), best first.
/// `scalar` is always last and always present.
[[nodiscard]] std::span<const isa> available_isas() noexcept;

/// True when `target` is in available_isas().
[[nodiscard]] bool is_available(isa target) noexcept;

/// The target chosen once per process: TONEGUARD_ISA if set and available, else the best.
[[nodiscard]] isa active_isa() noexcept;

/// Set when TONEGUARD_ISA names no target or one this machine cannot run; the message names
/// the value and the available targets. Programs report it and stop; the library then runs
/// on the best target rather than on a silently different one.
[[nodiscard]] std::optional<std::string> isa_environment_error();

}  // namespace toneguard::simd
