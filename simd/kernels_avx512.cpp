// Kernels for avx512: the shared vector source compiled with this target's flags (see CMakeLists.txt).
#define TONEGUARD_IMPL_NS avx512_impl
#define TONEGUARD_IMPL_ISA isa::avx512
#define TONEGUARD_LANES 16
#include "kernels_vector.inc"
