// The NEON kernels against the scalar ones, for a machine that has no NEON: cross-compiled for
// aarch64 and run under qemu-user by tests/cross/run_neon_check.sh (a CTest when the cross
// compiler and qemu are installed). No GoogleTest, so that it links statically with nothing
// but the simd sources. Prints "N passed, M failed" and exits non-zero on any failure.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "toneguard/simd/kernels.h"

namespace {

using namespace toneguard::simd;

int passed = 0, failed = 0;

void check(bool ok, const char* kernel, std::size_t n, std::size_t offset) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::printf("FAILED %s n=%zu offset=%zu\n", kernel, n, offset);
  }
}

constexpr std::size_t lengths[] = {0, 1, 3, 7, 15, 16, 17, 39, 40, 41, 63, 64, 159, 160, 161, 257};

}  // namespace

int main() {
  const kernel_table* neon = kernels_for(isa::neon);
  const kernel_table* scalar = kernels_for(isa::scalar);
  if (neon == nullptr) {
    std::printf("neon is not available on this CPU\n0 passed, 1 failed\n");
    return 1;
  }
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> any16(-32768, 32767), any8(0, 255);
  for (std::size_t n : lengths) {
    for (std::size_t offset : {0u, 1u, 3u}) {
      std::vector<float> x(offset + n), basis((offset + n) * bank_width);
      for (float& v : x) v = unit(rng) * 20000.0f;
      for (float& v : basis) v = unit(rng);
      std::vector<std::int16_t> pcm(offset + n);
      for (auto& v : pcm) v = static_cast<std::int16_t>(any16(rng));
      std::vector<std::uint8_t> codes(offset + n);
      for (auto& v : codes) v = static_cast<std::uint8_t>(any8(rng));

      float a[bank_width] = {}, b[bank_width] = {}, ea = 0, eb = 0;
      scalar->correlate_bank16(x.data() + offset, n, basis.data() + offset * bank_width, a, &ea);
      neon->correlate_bank16(x.data() + offset, n, basis.data() + offset * bank_width, b, &eb);
      bool ok = std::fabs(ea - eb) <= 1e-5f * (std::fabs(ea) + 1.0f);
      for (std::size_t j = 0; j < bank_width; ++j)
        ok = ok && std::fabs(a[j] - b[j]) <= 1e-3f * (20000.0f * float(n) + 1.0f) * 1e-2f;
      check(ok, "correlate_bank16", n, offset);

      if (offset + n <= 64 && n <= bank16_max_run) {
        std::vector<std::int16_t> q12(32 * 32, 0);
        for (std::size_t i = 0; i < offset + n; ++i)
          for (std::size_t j = 0; j < bank_width; ++j)
            q12[(i / 2) * 32 + 2 * j + i % 2] =
                static_cast<std::int16_t>(std::lrint(basis[i * bank_width + j] * 4096.0f));
        const bank16_basis both{basis.data(), q12.data()};
        for (int law = 0; law < 2; ++law) {
          float c[bank_width] = {}, d[bank_width] = {}, ec = 0, ed = 0;
          (law ? scalar->correlate_bank16_alaw : scalar->correlate_bank16_ulaw)(
              codes.data() + offset, n, both, offset, c, &ec, 0.0f);
          (law ? neon->correlate_bank16_alaw : neon->correlate_bank16_ulaw)(
              codes.data() + offset, n, both, offset, d, &ed, 0.0f);
          bool same = std::fabs(ec - ed) <= 1e-5f * (std::fabs(ec) + 1.0f);
          for (std::size_t j = 0; j < bank_width; ++j)
            same = same && std::fabs(c[j] - d[j]) <= 1e-5f * 32768.0f * float(n + 1);
          check(same, law ? "correlate_bank16_alaw" : "correlate_bank16_ulaw", n, offset);
        }
      }

      const float sa = scalar->sum_squares(x.data() + offset, n),
                  sb = neon->sum_squares(x.data() + offset, n);
      check(std::fabs(sa - sb) <= 1e-5f * (sa + 1.0f), "sum_squares", n, offset);

      std::vector<float> fa(n + 1, -1.0f), fb(n + 1, -1.0f);
      scalar->int16_to_float(pcm.data() + offset, fa.data(), n);
      neon->int16_to_float(pcm.data() + offset, fb.data(), n);
      check(fa == fb, "int16_to_float", n, offset);
      std::vector<std::int16_t> da(n + 1, 7), db(n + 1, 7);
      scalar->ulaw_decode(codes.data() + offset, da.data(), n);
      neon->ulaw_decode(codes.data() + offset, db.data(), n);
      check(da == db, "ulaw_decode", n, offset);
      scalar->alaw_decode(codes.data() + offset, da.data(), n);
      neon->alaw_decode(codes.data() + offset, db.data(), n);
      check(da == db, "alaw_decode", n, offset);
      scalar->ulaw_to_float(codes.data() + offset, fa.data(), n);
      neon->ulaw_to_float(codes.data() + offset, fb.data(), n);
      check(fa == fb, "ulaw_to_float", n, offset);
      scalar->alaw_to_float(codes.data() + offset, fa.data(), n);
      neon->alaw_to_float(codes.data() + offset, fb.data(), n);
      check(fa == fb, "alaw_to_float", n, offset);
      std::vector<std::uint8_t> ca(n + 1, 0x5A), cb(n + 1, 0x5A);
      scalar->ulaw_encode(pcm.data() + offset, ca.data(), n);
      neon->ulaw_encode(pcm.data() + offset, cb.data(), n);
      check(ca == cb, "ulaw_encode", n, offset);
      scalar->alaw_encode(pcm.data() + offset, ca.data(), n);
      neon->alaw_encode(pcm.data() + offset, cb.data(), n);
      check(ca == cb, "alaw_encode", n, offset);
    }
  }
  // Every 16-bit input through both encoders, every code through both decoders.
  std::vector<std::int16_t> all(65536);
  for (int i = 0; i < 65536; ++i)
    all[static_cast<std::size_t>(i)] = static_cast<std::int16_t>(i - 32768);
  std::vector<std::uint8_t> ea(65536), eb(65536);
  scalar->ulaw_encode(all.data(), ea.data(), all.size());
  neon->ulaw_encode(all.data(), eb.data(), all.size());
  check(ea == eb, "ulaw_encode all inputs", 65536, 0);
  scalar->alaw_encode(all.data(), ea.data(), all.size());
  neon->alaw_encode(all.data(), eb.data(), all.size());
  check(ea == eb, "alaw_encode all inputs", 65536, 0);
  std::printf("neon kernels against scalar: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
