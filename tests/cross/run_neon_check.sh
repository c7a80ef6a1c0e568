#!/usr/bin/env bash
# Cross-compiles the simd module and neon_kernels_check.cpp for aarch64 (static, with the same
# per-file flags as simd/CMakeLists.txt) and runs the check under qemu-user: the NEON target
# tested against scalar on a machine without NEON.
#   run_neon_check.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src=$1
work=$2
mkdir -p "$work"
cxx=(aarch64-linux-gnu-g++ -std=c++20 -O2 -I"$src/simd/include")
"${cxx[@]}" -c "$src/simd/isa.cpp" -o "$work/isa.o"
"${cxx[@]}" -c "$src/simd/kernels.cpp" -o "$work/kernels.o"
"${cxx[@]}" -fno-tree-vectorize -ffp-contract=off -c "$src/simd/kernels_scalar.cpp" -o "$work/kernels_scalar.o"
"${cxx[@]}" -ffp-contract=fast -c "$src/simd/kernels_neon.cpp" -o "$work/kernels_neon.o"
"${cxx[@]}" -c "$src/tests/cross/neon_kernels_check.cpp" -o "$work/check.o"
"${cxx[@]}" -static "$work"/*.o -o "$work/neon_kernels_check"
exec qemu-aarch64-static "$work/neon_kernels_check"
