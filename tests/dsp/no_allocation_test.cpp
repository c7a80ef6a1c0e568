// process() runs on the packet path: it must never allocate. Counted by replacing the global
// allocation functions of this test binary.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "dtmf_test_support.h"
#include "toneguard/dsp/signal_builder.h"

namespace {
std::atomic<long> allocations{0};
}

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// The nothrow form too (std::stable_sort's temporary buffer uses it): otherwise its memory comes
// from the library's operator new and goes back through the free() below.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
// These replace the global operator new above, which allocates with malloc; GCC cannot see
// that pairing and warns.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

namespace toneguard::dsp {
namespace {

TEST(dtmf_receiver, process_never_allocates) {
  signal_builder b;
  b.silence(10);
  for (char key : std::string("0123456789*#ABCD")) b.dtmf(key, 45, {-10.0f}).silence(45);
  b.add_white_noise(-30.0f, 3);
  const auto pcm = b.pcm16();
  dtmf_receiver rx;
  testing::event_log log;
  log.events.reserve(1000);
  log.digits.reserve(100);
  const long before = allocations.load();
  rx.process(b.audio(), log);
  rx.process(std::span<const std::int16_t>(pcm), log);
  rx.flush(log);
  EXPECT_EQ(allocations.load() - before, 0);
  EXPECT_EQ(log.keys(), "0123456789*#ABCD0123456789*#ABCD");
}

}  // namespace
}  // namespace toneguard::dsp
