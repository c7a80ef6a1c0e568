// Kernels for neon: the shared vector source compiled with this target's flags (see
// CMakeLists.txt).
#define TONEGUARD_IMPL_NS neon_impl
#define TONEGUARD_IMPL_ISA isa::neon
#define TONEGUARD_LANES 4
#include "kernels_vector.inc"
