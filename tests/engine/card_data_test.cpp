#include "toneguard/engine/card_data.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

namespace toneguard::engine {
namespace {

template <typename T>
concept streamable = requires(std::ostream& os, const T& t) {
  os << t;
};

static_assert(!std::is_copy_constructible_v<card_data>);
static_assert(!std::is_copy_assignable_v<card_data>);
static_assert(std::is_nothrow_move_constructible_v<card_data>);
static_assert(std::is_nothrow_move_assignable_v<card_data>);
static_assert(!streamable<card_data>);

constexpr std::array kFields{card_field::pan, card_field::expiry, card_field::cvv,
                             card_field::postal_code, card_field::verification};

void enter(card_data& card, card_field f, std::string_view text) {
  for (const char c : text) ASSERT_TRUE(card.append(f, c)) << c;
}

TEST(CardData, FieldCapacitiesAreThoseOfTheHeader) {
  EXPECT_EQ(card_field_capacity(card_field::pan), 19u);
  EXPECT_EQ(card_field_capacity(card_field::expiry), 4u);
  EXPECT_EQ(card_field_capacity(card_field::cvv), 4u);
  EXPECT_EQ(card_field_capacity(card_field::postal_code), 10u);
  EXPECT_EQ(card_field_capacity(card_field::verification), 8u);
}

TEST(CardData, StartsEmpty) {
  const card_data card;
  for (const card_field f : kFields) {
    EXPECT_EQ(card.size(f), 0u);
    EXPECT_TRUE(card.reveal(f).empty());
  }
  EXPECT_EQ(card.brand(), card_brand::unknown);
}

TEST(CardData, AppendStoresDigitsInTheirOwnField) {
  card_data card;
  enter(card, card_field::pan, "4111111111111111");
  enter(card, card_field::expiry, "1230");
  enter(card, card_field::cvv, "123");
  enter(card, card_field::verification, "19700101");
  EXPECT_EQ(card.reveal(card_field::pan), "4111111111111111");
  EXPECT_EQ(card.reveal(card_field::expiry), "1230");
  EXPECT_EQ(card.reveal(card_field::cvv), "123");
  EXPECT_EQ(card.reveal(card_field::verification), "19700101");
  EXPECT_EQ(card.size(card_field::pan), 16u);
  EXPECT_EQ(card.size(card_field::postal_code), 0u);
}

TEST(CardData, AppendRejectsWhenTheFieldIsFull) {
  card_data card;
  for (const card_field f : kFields) {
    for (std::size_t i = 0; i < card_field_capacity(f); ++i) EXPECT_TRUE(card.append(f, '7'));
    EXPECT_FALSE(card.append(f, '7'));
    EXPECT_EQ(card.size(f), card_field_capacity(f));
  }
  // Full fields do not spill into their neighbours.
  EXPECT_EQ(card.reveal(card_field::pan), std::string(19, '7'));
  EXPECT_EQ(card.reveal(card_field::expiry), "7777");
}

TEST(CardData, AppendRejectsLettersAndSymbolsInDigitFields) {
  card_data card;
  for (const card_field f :
       {card_field::pan, card_field::expiry, card_field::cvv, card_field::verification}) {
    for (const char c : {'A', 'z', '*', '#', ' ', '-', '\0', '/'}) {
      EXPECT_FALSE(card.append(f, c)) << static_cast<int>(c);
    }
    EXPECT_EQ(card.size(f), 0u);
  }
}

TEST(CardData, PostalCodeAcceptsUpperCaseLettersAndStoresLowerCaseAsUpper) {
  card_data card;
  enter(card, card_field::postal_code, "SW1A1aa");
  EXPECT_EQ(card.reveal(card_field::postal_code), "SW1A1AA");
  EXPECT_FALSE(card.append(card_field::postal_code, ' '));
  EXPECT_FALSE(card.append(card_field::postal_code, '-'));
  EXPECT_FALSE(card.append(card_field::postal_code, '*'));
  EXPECT_EQ(card.size(card_field::postal_code), 7u);
}

TEST(CardData, ClearZeroizesAndEmptiesOneField) {
  card_data card;
  enter(card, card_field::pan, "5555555555554444");
  enter(card, card_field::cvv, "737");
  const std::string_view pan = card.reveal(card_field::pan);
  ASSERT_EQ(pan, "5555555555554444");
  // The page stays mapped while `card` lives, so its old bytes may be read to prove the wipe.
  const char* const bytes = pan.data();
  const std::size_t n = pan.size();
  card.clear(card_field::pan);
  EXPECT_EQ(card.size(card_field::pan), 0u);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(bytes[i], '\0') << i;
  EXPECT_EQ(card.reveal(card_field::cvv), "737");
  // The field is usable again.
  enter(card, card_field::pan, "4111");
  EXPECT_EQ(card.reveal(card_field::pan), "4111");
}

TEST(CardData, ClearAllZeroizesAndEmptiesEveryField) {
  card_data card;
  enter(card, card_field::pan, "378282246310005");
  enter(card, card_field::expiry, "0130");
  enter(card, card_field::cvv, "1234");
  enter(card, card_field::postal_code, "90210");
  enter(card, card_field::verification, "1234");
  std::array<std::string_view, kFields.size()> views;
  for (std::size_t i = 0; i < kFields.size(); ++i) views[i] = card.reveal(kFields[i]);
  card.clear_all();
  for (std::size_t i = 0; i < kFields.size(); ++i) {
    EXPECT_EQ(card.size(kFields[i]), 0u);
    for (const char c : views[i]) EXPECT_EQ(c, '\0');
  }
}

TEST(CardData, MoveTransfersTheStorage) {
  card_data a;
  enter(a, card_field::pan, "6011111111111117");
  const char* const storage = a.reveal(card_field::pan).data();

  card_data b(std::move(a));
  EXPECT_EQ(b.reveal(card_field::pan), "6011111111111117");
  EXPECT_EQ(b.reveal(card_field::pan).data(), storage);
  EXPECT_EQ(a.size(card_field::pan), 0u);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(a.reveal(card_field::pan).empty());
  EXPECT_FALSE(a.append(card_field::pan, '4'));
  EXPECT_FALSE(a.locked());

  card_data c;
  enter(c, card_field::cvv, "999");
  c = std::move(b);
  EXPECT_EQ(c.reveal(card_field::pan).data(), storage);
  EXPECT_EQ(c.reveal(card_field::pan), "6011111111111117");
  EXPECT_EQ(c.size(card_field::cvv), 0u);
  EXPECT_EQ(b.size(card_field::pan), 0u);  // NOLINT(bugprone-use-after-move)

  // A moved-from object takes storage again when assigned to.
  a = std::move(c);
  EXPECT_EQ(a.reveal(card_field::pan), "6011111111111117");
  EXPECT_TRUE(a.append(card_field::cvv, '1'));

  card_data& same = a;
  a = std::move(same);  // self-move keeps the data
  EXPECT_EQ(a.reveal(card_field::pan), "6011111111111117");
}

TEST(CardData, MaskedShowsFirstSixAndLastFourOfA16DigitPan) {
  card_data card;
  enter(card, card_field::pan, "4111111111111111");
  const masked_card m = card.masked();
  EXPECT_EQ(m.brand, card_brand::visa);
  EXPECT_EQ(m.first_six, "411111");
  EXPECT_EQ(m.last_four, "1111");
  EXPECT_EQ(m.length, 16u);
  EXPECT_EQ(m.display(), "411111••••••1111");
  EXPECT_EQ(card.last_four(), "1111");
}

TEST(CardData, MaskedShowsFirstSixAndLastFourOfA15DigitPan) {
  card_data card;
  enter(card, card_field::pan, "378282246310005");
  const masked_card m = card.masked();
  EXPECT_EQ(m.brand, card_brand::american_express);
  EXPECT_EQ(m.first_six, "378282");
  EXPECT_EQ(m.last_four, "0005");
  EXPECT_EQ(m.length, 15u);
  EXPECT_EQ(m.display(), "378282•••••0005");
  EXPECT_EQ(card.last_four(), "0005");
}

TEST(CardData, MaskedShowsNoDigitsOfAnEntryShorterThan12) {
  card_data card;
  enter(card, card_field::pan, "41111");
  masked_card m = card.masked();
  EXPECT_EQ(m.brand, card_brand::visa);
  EXPECT_TRUE(m.first_six.empty());
  EXPECT_TRUE(m.last_four.empty());
  EXPECT_EQ(m.length, 5u);
  EXPECT_EQ(m.display(), "•••••");
  EXPECT_TRUE(card.last_four().empty());

  enter(card, card_field::pan, "111111");
  m = card.masked();
  EXPECT_EQ(m.length, 11u);
  EXPECT_TRUE(m.first_six.empty());
  EXPECT_EQ(m.display(), "•••••••••••");

  enter(card, card_field::pan, "1");
  m = card.masked();
  EXPECT_EQ(m.display(), "411111••1111");
  EXPECT_EQ(card.last_four(), "1111");

  EXPECT_EQ(card_data().masked().display(), "");
}

TEST(CardData, BrandFollowsThePanEnteredSoFar) {
  card_data card;
  enter(card, card_field::pan, "3");
  EXPECT_EQ(card.brand(), card_brand::unknown);
  enter(card, card_field::pan, "7");
  EXPECT_EQ(card.brand(), card_brand::american_express);
}

TEST(CardData, StorageIsLockedUnderNormalLimits) {
  // Root (CAP_IPC_LOCK) or the default 8 MiB RLIMIT_MEMLOCK both cover a page.
  const card_data card;
  EXPECT_TRUE(card.locked());
}

// The VmFlags line of /proc/self/smaps for the mapping that holds `address` ("" if none).
std::string vm_flags_of(const void* address) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t lo = 0;
    std::uintptr_t hi = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2) {
      inside = at >= lo && at < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line + ' ';
    }
  }
  return {};
}

TEST(CardData, StorageIsLockedAndExcludedFromCoreDumpsByTheKernel) {
  card_data card;
  enter(card, card_field::cvv, "1");
  const std::string flags = vm_flags_of(card.reveal(card_field::cvv).data());
  ASSERT_FALSE(flags.empty());
  EXPECT_NE(flags.find(" dd "), std::string::npos) << flags;  // MADV_DONTDUMP
  EXPECT_NE(flags.find(" lo "), std::string::npos) << flags;  // mlock
}

// Runs `body` in a forked child and returns its exit code (-1 when it did not exit normally), so
// that a test may change process-wide limits without touching the test binary.
template <typename Body>
int exit_code_in_child(Body body) {
  const pid_t child = fork();
  if (child == -1) return -1;
  if (child == 0) _exit(body());
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// Drops CAP_IPC_LOCK (which lets root lock beyond RLIMIT_MEMLOCK) from this process.
bool drop_ipc_lock_capability() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> data{};
  if (syscall(SYS_capget, &header, data.data()) != 0) return false;
  const unsigned bit = 1u << (CAP_IPC_LOCK % 32);
  data[CAP_IPC_LOCK / 32].effective &= ~bit;
  data[CAP_IPC_LOCK / 32].permitted &= ~bit;
  data[CAP_IPC_LOCK / 32].inheritable &= ~bit;
  return syscall(SYS_capset, &header, data.data()) == 0;
}

TEST(CardData, StaysUsableButReportsUnlockedWhenLockingIsRefused) {
  const int code = exit_code_in_child([] {
    const rlimit no_lock{0, 0};
    if (!drop_ipc_lock_capability() || setrlimit(RLIMIT_MEMLOCK, &no_lock) != 0) return 1;
    card_data card;
    if (card.locked()) return 2;
    if (!card.append(card_field::pan, '4') || card.reveal(card_field::pan) != "4") return 3;
    if (vm_flags_of(card.reveal(card_field::pan).data()).find(" dd ") == std::string::npos) {
      return 4;
    }
    return 0;
  });
  EXPECT_EQ(code, 0) << "1: setup failed, 2: reported locked, 3: unusable, 4: dumpable";
}

TEST(CardData, MakeProcessUndumpableTurnsOffDumpsInAForkedChild) {
  // In a child, so that the test binary itself stays dumpable for debugging.
  const int dumpable_before = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  const int code = exit_code_in_child([] {
    int failures = 0;
    if (!make_process_undumpable()) failures |= 1;
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) failures |= 2;
    rlimit core{};
    if (getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0 || core.rlim_max != 0) {
      failures |= 4;
    }
    return failures;
  });
  EXPECT_EQ(code, 0) << "1: call failed, 2: still dumpable, 4: core limit not 0";
  EXPECT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), dumpable_before);
}

}  // namespace
}  // namespace toneguard::engine
