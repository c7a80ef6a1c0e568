// Kernels for avx512: the shared vector source compiled with this target's flags (see
// CMakeLists.txt), with the G.711 correlation in integers (VNNI) instead of floats.
#define TONEGUARD_IMPL_NS avx512_impl
#define TONEGUARD_IMPL_ISA isa::avx512
#define TONEGUARD_LANES 16
#define TONEGUARD_INTEGER_G711_CORRELATION 1
#include "g711_correlate_vnni.inc"
#include "kernels_vector.inc"
