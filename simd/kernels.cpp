#include "kernels_internal.h"

namespace toneguard::simd {

const kernel_table* kernels_for(isa target) noexcept {
  if (!is_available(target)) return nullptr;
  switch (target) {
    case isa::scalar:
      return &scalar_impl::table;
#if defined(__x86_64__)
    case isa::avx2:
      return &avx2_impl::table;
    case isa::avx512:
      return &avx512_impl::table;
#endif
#if defined(__aarch64__)
    case isa::neon:
      return &neon_impl::table;
#endif
    default:
      return nullptr;
  }
}

const kernel_table& kernels() noexcept {
  static const kernel_table* active = kernels_for(active_isa());
  return *active;
}

}  // namespace toneguard::simd
