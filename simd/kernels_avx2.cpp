// Kernels for avx2: the shared vector source compiled with this target's flags (see
// CMakeLists.txt).
#define TONEGUARD_IMPL_NS avx2_impl
#define TONEGUARD_IMPL_ISA isa::avx2
#define TONEGUARD_LANES 8
#include "kernels_vector.inc"
