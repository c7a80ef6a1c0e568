#pragma once
// Per-ISA kernel tables; each lives in its own translation unit compiled for its target.

#include "toneguard/simd/kernels.h"

namespace toneguard::simd {
namespace scalar_impl {
extern const kernel_table table;
}
#if defined(__x86_64__)
namespace avx2_impl {
extern const kernel_table table;
}
namespace avx512_impl {
extern const kernel_table table;
}
#endif
#if defined(__aarch64__)
namespace neon_impl {
extern const kernel_table table;
}
#endif
}  // namespace toneguard::simd
