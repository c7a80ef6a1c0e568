// BM_<kernel>/<isa>/<n>: every kernel of every ISA this machine runs, at a few block sizes.

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/benchmark_suites.h"
#include "toneguard/simd/kernels.h"

namespace toneguard::bench {
namespace {

constexpr std::size_t sizes[] = {40, 160, 1024};

// Speech-range test input of n samples in every representation a kernel takes.
struct kernel_input {
  std::vector<float> floats;
  std::vector<std::int16_t> pcm;
  std::vector<std::uint8_t> codes;
  std::vector<float> basis;  // n rows of simd::bank_width
  // A 40-sample block's basis in both forms, for the G.711 correlators (block by block).
  std::vector<float> block_rows = std::vector<float>(40 * simd::bank_width);
  std::vector<std::int16_t> block_q12 = std::vector<std::int16_t>(20 * 2 * simd::bank_width);

  explicit kernel_input(std::size_t n) : floats(n), pcm(n), codes(n), basis(n * simd::bank_width) {
    for (std::size_t i = 0; i < 40; ++i) {
      for (std::size_t j = 0; j < simd::bank_width; ++j) {
        const float v = std::cos(0.05f * static_cast<float>(i * (j + 1)));
        block_rows[i * simd::bank_width + j] = v;
        block_q12[(i / 2) * 32 + 2 * j + i % 2] =
            static_cast<std::int16_t>(std::lrint(v * 4096.0f));
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      floats[i] = 8000.0f * std::sin(0.37f * static_cast<float>(i)) +
                  3000.0f * std::sin(1.9f * static_cast<float>(i));
      pcm[i] = static_cast<std::int16_t>(floats[i]);
      codes[i] = static_cast<std::uint8_t>(i * 37u + 11u);
    }
    for (std::size_t k = 0; k < basis.size(); ++k)
      basis[k] = std::cos(0.01f * static_cast<float>(k));
  }
};

void set_rates(benchmark::State& state, std::size_t n, std::size_t input_bytes_per_sample) {
  const auto items = static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n);
  state.SetItemsProcessed(items);
  state.SetBytesProcessed(items * static_cast<std::int64_t>(input_bytes_per_sample));
}

// A kernel of shape out[i] = f(in[i]).
template <typename In, typename Out>
void bench_elementwise(benchmark::State& state,
                       void (*kernel)(const In*, Out*, std::size_t) noexcept,
                       const std::vector<In>& in) {
  std::vector<Out> out(in.size());
  for (auto _ : state) {
    kernel(in.data(), out.data(), in.size());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_rates(state, in.size(), sizeof(In));
}

// A correlate_bank16 kernel over samples of type In.
template <typename In>
void bench_correlate(benchmark::State& state,
                     void (*kernel)(const In*, std::size_t, const float*, float*, float*) noexcept,
                     const std::vector<In>& in, const std::vector<float>& basis) {
  alignas(64) float acc[simd::bank_width] = {};
  float energy = 0.0f;
  for (auto _ : state) {
    kernel(in.data(), in.size(), basis.data(), acc, &energy);
    benchmark::DoNotOptimize(acc);
    benchmark::DoNotOptimize(energy);
    benchmark::ClobberMemory();
  }
  set_rates(state, in.size(), sizeof(In));
}

// A G.711 correlate_bank16 kernel, fed in 40-sample blocks as the receiver feeds it.
void bench_correlate_g711(benchmark::State& state,
                          void (*kernel)(const std::uint8_t*, std::size_t,
                                         const simd::bank16_basis&, std::size_t, float*, float*,
                                         float) noexcept,
                          const kernel_input& in) {
  float acc[simd::bank_width] = {};
  float energy = 0.0f;
  const simd::bank16_basis basis{in.block_rows.data(), in.block_q12.data()};
  for (auto _ : state) {
    for (std::size_t i = 0; i < in.codes.size(); i += 40) {
      kernel(in.codes.data() + i, std::min<std::size_t>(40, in.codes.size() - i), basis, 0, acc,
             &energy, 0.0f);
    }
    benchmark::DoNotOptimize(acc);
    benchmark::DoNotOptimize(energy);
    benchmark::ClobberMemory();
  }
  set_rates(state, in.codes.size(), 1);
}

template <typename Body>
void add(const char* kernel, simd::isa target, std::size_t n, Body body) {
  const std::string name = std::string("BM_") + kernel + "/" + std::string(simd::isa_name(target)) +
                           "/" + std::to_string(n);
  benchmark::RegisterBenchmark(
      name.c_str(), [body, n](benchmark::State& state) { body(state, kernel_input(n)); });
}

}  // namespace

void register_simd_kernel_benchmarks() {
  for (simd::isa target : simd::available_isas()) {
    const simd::kernel_table* table = simd::kernels_for(target);
    if (table == nullptr) continue;
    const simd::kernel_table& k = *table;
    for (std::size_t n : sizes) {
      add("correlate_bank16", target, n, [&k](benchmark::State& state, const kernel_input& in) {
        bench_correlate(state, k.correlate_bank16, in.floats, in.basis);
      });
      add("correlate_bank16_ulaw", target, n,
          [&k](benchmark::State& state, const kernel_input& in) {
            bench_correlate_g711(state, k.correlate_bank16_ulaw, in);
          });
      add("correlate_bank16_alaw", target, n,
          [&k](benchmark::State& state, const kernel_input& in) {
            bench_correlate_g711(state, k.correlate_bank16_alaw, in);
          });
      add("sum_squares", target, n, [&k](benchmark::State& state, const kernel_input& in) {
        for (auto _ : state) {
          float energy = k.sum_squares(in.floats.data(), in.floats.size());
          benchmark::DoNotOptimize(energy);
        }
        set_rates(state, in.floats.size(), sizeof(float));
      });
      add("int16_to_float", target, n, [&k](benchmark::State& state, const kernel_input& in) {
        bench_elementwise(state, k.int16_to_float, in.pcm);
      });
      add("ulaw_decode", target, n, [&k](benchmark::State& state, const kernel_input& in) {
        bench_elementwise(state, k.ulaw_decode, in.codes);
      });
      add("alaw_decode", target, n, [&k](benchmark::State& state, const kernel_input& in) {
        bench_elementwise(state, k.alaw_decode, in.codes);
      });
      add("ulaw_to_float", target, n, [&k](benchmark::State& state, const kernel_input& in) {
        bench_elementwise(state, k.ulaw_to_float, in.codes);
      });
      add("alaw_to_float", target, n, [&k](benchmark::State& state, const kernel_input& in) {
        bench_elementwise(state, k.alaw_to_float, in.codes);
      });
      add("ulaw_encode", target, n, [&k](benchmark::State& state, const kernel_input& in) {
        bench_elementwise(state, k.ulaw_encode, in.pcm);
      });
      add("alaw_encode", target, n, [&k](benchmark::State& state, const kernel_input& in) {
        bench_elementwise(state, k.alaw_encode, in.pcm);
      });
    }
  }
}

}  // namespace toneguard::bench
