#include "toneguard/simd/isa.h"

#include <array>
#include <cstdlib>

namespace toneguard::simd {
namespace {

bool cpu_supports(isa target) noexcept {
  switch (target) {
    case isa::scalar:
      return true;
#if defined(__x86_64__) || defined(__i386__)
    // __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0).
    case isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vnni");
#endif
#if defined(__aarch64__)
    case isa::neon:
      return true;  // Advanced SIMD is mandatory on AArch64.
#endif
    default:
      return false;
  }
}

bool compiled_in(isa target) noexcept {
  switch (target) {
    case isa::scalar:
      return true;
#if defined(__x86_64__)
    case isa::avx2:
    case isa::avx512:
      return true;
#endif
#if defined(__aarch64__)
    case isa::neon:
      return true;
#endif
    default:
      return false;
  }
}

struct isa_list {
  std::array<isa, 4> items{};
  std::size_t count = 0;
};

const isa_list& detected() noexcept {
  static const isa_list list = [] {
    isa_list l;
    for (isa t : {isa::avx512, isa::avx2, isa::neon, isa::scalar}) {
      if (compiled_in(t) && cpu_supports(t)) l.items[l.count++] = t;
    }
    return l;
  }();
  return list;
}

}  // namespace

std::string_view isa_name(isa target) noexcept {
  switch (target) {
    case isa::scalar:
      return "scalar";
    case isa::avx2:
      return "avx2";
    case isa::avx512:
      return "avx512";
    case isa::neon:
      return "neon";
  }
  return "unknown";
}

std::optional<isa> parse_isa(std::string_view name) noexcept {
  for (isa t : {isa::scalar, isa::avx2, isa::avx512, isa::neon}) {
    if (isa_name(t) == name) return t;
  }
  return std::nullopt;
}

std::span<const isa> available_isas() noexcept {
  const auto& l = detected();
  return {l.items.data(), l.count};
}

bool is_available(isa target) noexcept {
  for (isa t : available_isas()) {
    if (t == target) return true;
  }
  return false;
}

std::optional<std::string> isa_environment_error() {
  const char* forced = std::getenv("TONEGUARD_ISA");
  if (forced == nullptr || *forced == '\0') return std::nullopt;
  auto parsed = parse_isa(forced);
  if (parsed && is_available(*parsed)) return std::nullopt;
  std::string msg = "TONEGUARD_ISA=";
  msg += forced;
  msg += parsed ? ": not supported by this CPU or build" : ": unknown target";
  msg += " (available:";
  for (isa t : available_isas()) {
    msg += ' ';
    msg += isa_name(t);
  }
  msg += ')';
  return msg;
}

isa active_isa() noexcept {
  static const isa chosen = [] {
    if (const char* forced = std::getenv("TONEGUARD_ISA")) {
      if (auto parsed = parse_isa(forced); parsed && is_available(*parsed)) return *parsed;
    }
    return available_isas().front();
  }();
  return chosen;
}

}  // namespace toneguard::simd
