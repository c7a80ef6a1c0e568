#pragma once
/// The Google Benchmark suites of toneguard_bench, registered at run time by bench_main.cpp
/// (names depend on the ISAs this machine runs). Call before benchmark::RunSpecifiedBenchmarks.

namespace toneguard::bench {

/// BM_<kernel>/<isa>/<n> for every kernel of simd::kernel_table, every available ISA and
/// n in {40, 160, 1024} samples. Items are samples; bytes are input bytes.
void register_simd_kernel_benchmarks();

/// BM_dtmf_receiver_ulaw/<active isa>/160 (the receiver always runs on the active ISA; set
/// TONEGUARD_ISA to measure another) and BM_spandsp_dtmf_rx/160: one receiver fed 20 ms μ-law
/// frames of speech-like noise with digits. Items are samples.
void register_dsp_benchmarks();

}  // namespace toneguard::bench
