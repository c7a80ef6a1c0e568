// toneguard_bench: Google Benchmark suites for the SIMD kernels and the DTMF receivers.
// TONEGUARD_ISA=<isa> selects the ISA the receiver benchmarks run on.

#include <benchmark/benchmark.h>

#include <cstdio>

#include "bench/benchmark_suites.h"
#include "toneguard/simd/isa.h"

int main(int argc, char** argv) {
  if (auto error = toneguard::simd::isa_environment_error()) {
    std::fprintf(stderr, "toneguard_bench: %s\n", error->c_str());
    return 2;
  }
  toneguard::bench::register_simd_kernel_benchmarks();
  toneguard::bench::register_dsp_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext(
      "active_isa", std::string(toneguard::simd::isa_name(toneguard::simd::active_isa())));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
