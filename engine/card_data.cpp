#include "toneguard/engine/card_data.h"

#include <string.h>  // explicit_bzero
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <new>
#include <utility>

namespace toneguard::engine {
namespace {

constexpr std::size_t kFieldCount = 5;

// Capacities in card_field order: PAN, expiry (MMYY), CVV, postal code, verification.
constexpr std::array<std::size_t, kFieldCount> kCapacity{19, 4, 4, 10, 8};

constexpr std::array<std::size_t, kFieldCount> offsets() {
  std::array<std::size_t, kFieldCount> o{};
  std::size_t at = 0;
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    o[i] = at;
    at += kCapacity[i];
  }
  return o;
}
constexpr std::array<std::size_t, kFieldCount> kOffset = offsets();
constexpr std::size_t kTotalCapacity = kOffset.back() + kCapacity.back();

constexpr std::size_t index_of(card_field f) noexcept {
  return static_cast<std::size_t>(f);
}

// The UTF-8 encoding of U+2022 BULLET, shown for each hidden digit.
constexpr std::string_view kBullet = "\xE2\x80\xA2";

// At least this many PAN digits before any of them may be shown: first six and last four then
// never overlap (PCI DSS allows at most those ten).
constexpr std::size_t kMinDigitsToShow = 12;

// Straight to the kernel: AddressSanitizer replaces mlock/munlock with no-ops that report
// success, which would make locked() lie in sanitizer builds.
bool lock_pages(void* address, std::size_t bytes) noexcept {
  return syscall(SYS_mlock, address, bytes) == 0;
}
void unlock_pages(void* address, std::size_t bytes) noexcept {
  syscall(SYS_munlock, address, bytes);
}

std::size_t page_size() noexcept {
  const long size = sysconf(_SC_PAGESIZE);
  return size > 0 ? static_cast<std::size_t>(size) : 4096;
}

}  // namespace

// Lives at the start of its own anonymous mapping, so the lengths (which tell how long a secret
// is) share its protection too.
struct card_data::storage {
  std::array<char, kTotalCapacity> values{};
  std::array<std::uint8_t, kFieldCount> lengths{};
  std::size_t mapped_bytes = 0;
  bool locked = false;

  // Zeroizes, unlocks and unmaps `s`; nothing when null.
  static void release(storage* s) noexcept {
    if (s == nullptr) return;
    const std::size_t bytes = s->mapped_bytes;
    const bool was_locked = s->locked;
    explicit_bzero(s, bytes);
    if (was_locked) unlock_pages(s, bytes);
    munmap(s, bytes);
  }
};

std::size_t card_field_capacity(card_field f) noexcept {
  const std::size_t i = index_of(f);
  return i < kFieldCount ? kCapacity[i] : 0;
}

std::string masked_card::display() const {
  const std::size_t shown = first_six.size() + last_four.size();
  const std::size_t hidden = length > shown ? length - shown : 0;
  std::string out;
  out.reserve(shown + hidden * kBullet.size());
  out += first_six;
  for (std::size_t i = 0; i < hidden; ++i) out += kBullet;
  out += last_four;
  return out;
}

card_data::card_data() {
  const std::size_t page = page_size();
  const std::size_t bytes = (sizeof(storage) + page - 1) / page * page;
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  // Without its own page there is nowhere safe to keep card data: the object stays empty and
  // every append() refuses, rather than keeping digits in unprotected memory.
  if (mem == MAP_FAILED) return;
  // Exclusion from core dumps matters even when locking fails, so neither depends on the other.
  madvise(mem, bytes, MADV_DONTDUMP);
  const bool locked = lock_pages(mem, bytes);
  storage_ = new (mem) storage{};
  storage_->mapped_bytes = bytes;
  storage_->locked = locked;
}

card_data::~card_data() {
  storage::release(storage_);
}

card_data::card_data(card_data&& other) noexcept
    : storage_(std::exchange(other.storage_, nullptr)) {}

card_data& card_data::operator=(card_data&& other) noexcept {
  if (this != &other) {
    storage::release(storage_);
    storage_ = std::exchange(other.storage_, nullptr);
  }
  return *this;
}

bool card_data::append(card_field f, char c) noexcept {
  const std::size_t i = index_of(f);
  if (storage_ == nullptr || i >= kFieldCount) return false;
  if (f == card_field::postal_code && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  const bool digit = c >= '0' && c <= '9';
  const bool letter = f == card_field::postal_code && c >= 'A' && c <= 'Z';
  if (!digit && !letter) return false;
  std::uint8_t& length = storage_->lengths[i];
  if (length >= kCapacity[i]) return false;
  storage_->values[kOffset[i] + length] = c;
  ++length;
  return true;
}

void card_data::clear(card_field f) noexcept {
  const std::size_t i = index_of(f);
  if (storage_ == nullptr || i >= kFieldCount) return;
  explicit_bzero(storage_->values.data() + kOffset[i], kCapacity[i]);
  storage_->lengths[i] = 0;
}

void card_data::clear_all() noexcept {
  if (storage_ == nullptr) return;
  explicit_bzero(storage_->values.data(), storage_->values.size());
  storage_->lengths.fill(0);
}

std::size_t card_data::size(card_field f) const noexcept {
  const std::size_t i = index_of(f);
  if (storage_ == nullptr || i >= kFieldCount) return 0;
  return storage_->lengths[i];
}

card_brand card_data::brand() const noexcept {
  return detect_brand(reveal(card_field::pan));
}

masked_card card_data::masked() const {
  const std::string_view pan = reveal(card_field::pan);
  masked_card m;
  m.brand = detect_brand(pan);
  m.length = pan.size();
  if (pan.size() >= kMinDigitsToShow) {
    m.first_six = std::string(pan.substr(0, 6));
    m.last_four = std::string(pan.substr(pan.size() - 4));
  }
  return m;
}

std::string card_data::last_four() const {
  const std::string_view pan = reveal(card_field::pan);
  if (pan.size() < kMinDigitsToShow) return {};
  return std::string(pan.substr(pan.size() - 4));
}

std::string_view card_data::reveal(card_field f) const noexcept {
  const std::size_t i = index_of(f);
  if (storage_ == nullptr || i >= kFieldCount) return {};
  return {storage_->values.data() + kOffset[i], storage_->lengths[i]};
}

bool card_data::locked() const noexcept {
  return storage_ != nullptr && storage_->locked;
}

bool make_process_undumpable() noexcept {
  // Both, even when the first fails: each closes a different way out (core files; ptrace and
  // /proc/pid/mem by unprivileged users).
  const bool not_dumpable = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0;
  const rlimit no_core{0, 0};
  const bool no_core_files = setrlimit(RLIMIT_CORE, &no_core) == 0;
  return not_dumpable && no_core_files;
}

}  // namespace toneguard::engine
